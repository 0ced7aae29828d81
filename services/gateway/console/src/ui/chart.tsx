// A line chart in SVG, drawn with Preact elements (no inline styles: the
// CSP forbids them; .chart, .line, .limit and .axis are in styles.css).
// The numbers it draws are always also given as a table by its caller.

/** Series is one line: its name and a value per x. */
export interface Series {
  name: string;
  values: number[];
}

/**
 * LineChart draws series over the x labels, with the y axis from 0 to the
 * largest value (or limit, drawn dashed when given).
 */
export function LineChart(props: { title: string; labels: string[]; series: Series[]; limit?: number }) {
  const w = 720, h = 220, left = 40, right = 10, top = 10, bottom = 28;
  const n = props.labels.length;
  const max = Math.max(1, props.limit ?? 0, ...props.series.flatMap((s) => s.values));
  const x = (i: number) => left + (n <= 1 ? 0 : (i * (w - left - right)) / (n - 1));
  const y = (v: number) => top + (h - top - bottom) * (1 - v / max);
  const ticks = [0, Math.round(max / 2), max];
  const every = Math.max(1, Math.ceil(n / 8));
  return (
    <svg class="chart" viewBox={`0 0 ${w} ${h}`} role="img" aria-label={props.title}>
      <title>{props.title}</title>
      {ticks.map((t) => (
        <g key={t}>
          <line class="axis" x1={left} x2={w - right} y1={y(t)} y2={y(t)} />
          <text x={left - 6} y={y(t) + 4} text-anchor="end">
            {t}
          </text>
        </g>
      ))}
      {props.labels.map((l, i) =>
        i % every === 0 ? (
          <text key={l + i} x={x(i)} y={h - 8} text-anchor="middle">
            {l}
          </text>
        ) : null,
      )}
      {props.limit !== undefined ? <line class="limit" x1={left} x2={w - right} y1={y(props.limit)} y2={y(props.limit)} /> : null}
      {props.series.map((s, k) => (
        <polyline key={s.name} class={"line series-" + (k % 4)} points={s.values.map((v, i) => `${x(i)},${y(v)}`).join(" ")}>
          <title>{s.name}</title>
        </polyline>
      ))}
    </svg>
  );
}
