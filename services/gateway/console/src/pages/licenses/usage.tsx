// Usage: seats assigned, leased and free per pool and leases per service
// now, and the trend of the peak in use over a window, as a chart and as
// the table of its numbers.

import { get } from "../../api";
import type { PageProps } from "../../app";
import { setQuery } from "../../router";
import { Badge, DataTable, ErrorBanner, SelectField, formatTime, lastSegment } from "../../ui/components";
import { useAsync } from "../../ui/hooks";
import { LineChart, type Series } from "../../ui/chart";
import { editionWord, modelWord, orgName, productWord, type PoolUsage, type ServiceUsage, type UsagePoint } from "./model";

const windows: Record<string, { hours: number; granularity: string; label: string }> = {
  "24h": { hours: 24, granularity: "GRANULARITY_HOUR", label: "Last 24 hours" },
  "7d": { hours: 7 * 24, granularity: "GRANULARITY_HOUR", label: "Last 7 days" },
  "30d": { hours: 30 * 24, granularity: "GRANULARITY_DAY", label: "Last 30 days" },
};

/** UsageTab is usage now and its trend. */
export function UsageTab({ loc }: PageProps) {
  const win = windows[loc.query.get("window") ?? ""] ? loc.query.get("window")! : "7d";
  const pool = loc.query.get("pool") ?? "";
  const now = useAsync(() => get<{ pools?: PoolUsage[]; services?: ServiceUsage[]; asOf?: string }>(`${orgName()}/licenseUsage`), []);
  const w = windows[win];
  const trend = useAsync(() => {
    const start = new Date(Date.now() - w.hours * 3600_000);
    start.setMinutes(0, 0, 0);
    return get<{ points?: UsagePoint[] }>(`${orgName()}/usageTrend`, { startTime: start.toISOString(), granularity: w.granularity, pool });
  }, [win, pool]);
  const pools = now.data?.pools ?? [];
  return (
    <>
      <section aria-labelledby="now-h">
        <h2 id="now-h">Usage now</h2>
        {now.data?.asOf ? <p class="muted">As of {formatTime(now.data.asOf)}.</p> : null}
        <DataTable
          caption="Seats per pool"
          rows={now.data ? pools : undefined}
          loading={now.loading}
          error={now.error}
          empty="No licenses yet."
          rowKey={(p) => p.pool}
          columns={[
            { title: "Pool", render: (p) => <>{lastSegment(p.pool)}{p.expired ? <> <Badge tone="bad">Expired</Badge></> : null}</> },
            { title: "Product", render: (p) => `${productWord(p.product)} ${editionWord(p.edition)}` },
            { title: "Model", render: (p) => modelWord(p.model) },
            { title: "Seats", numeric: true, render: (p) => p.quantity ?? 0 },
            { title: "Assigned", numeric: true, render: (p) => p.assigned ?? 0 },
            { title: "Leased", numeric: true, render: (p) => p.leased ?? 0 },
            { title: "Free", numeric: true, render: (p) => p.free ?? 0 },
          ]}
        />
        {now.data?.services?.length ? (
          <DataTable
            caption="Leases per service"
            rows={now.data.services}
            rowKey={(s) => s.service + s.product}
            columns={[
              { title: "Service", render: (s) => lastSegment(s.service) },
              { title: "Product", render: (s) => productWord(s.product) },
              { title: "Leased", numeric: true, render: (s) => s.leased ?? 0 },
            ]}
          />
        ) : null}
      </section>
      <section aria-labelledby="trend-h">
        <h2 id="trend-h">Trend</h2>
        <div class="filters">
          <SelectField label="Window" value={win} onInput={(v) => setQuery({ window: v })} options={Object.entries(windows).map(([k, v]): [string, string] => [k, v.label])} />
          <SelectField label="Pool" value={pool} onInput={(v) => setQuery({ pool: v })} options={[["", "All pools"], ...pools.map((p): [string, string] => [p.pool, lastSegment(p.pool)])]} />
        </div>
        <ErrorBanner error={trend.error} />
        <Trend points={trend.data?.points ?? []} hourly={w.granularity === "GRANULARITY_HOUR"} limit={pool ? pools.find((p) => p.pool === pool)?.quantity : undefined} />
      </section>
    </>
  );
}

/** Trend draws the peak in use per interval, a line per pool, and lists the numbers. */
function Trend({ points, hourly, limit }: { points: UsagePoint[]; hourly: boolean; limit?: number }) {
  if (points.length === 0) return <p class="muted">No use in this window.</p>;
  const times = [...new Set(points.map((p) => p.startTime))].sort();
  const byPool = new Map<string, Map<string, number>>();
  for (const p of points) {
    const key = lastSegment(p.pool) || lastSegment(p.service) || productWord(p.product);
    if (!byPool.has(key)) byPool.set(key, new Map());
    const m = byPool.get(key)!;
    m.set(p.startTime, Math.max(m.get(p.startTime) ?? 0, p.peak ?? 0));
  }
  const series: Series[] = [...byPool].map(([name, m]) => ({ name, values: times.map((t) => m.get(t) ?? 0) }));
  const fmt = (t: string) => {
    const d = new Date(t);
    return hourly ? `${d.getMonth() + 1}/${d.getDate()} ${String(d.getHours()).padStart(2, "0")}h` : `${d.getMonth() + 1}/${d.getDate()}`;
  };
  return (
    <>
      <LineChart title="Peak seats in use per interval" labels={times.map(fmt)} series={series} limit={limit} />
      <p class="legend">
        {series.map((s, k) => (
          <span key={s.name} class={"key series-" + (k % 4)}>
            {s.name}
          </span>
        ))}
      </p>
      <details>
        <summary>The numbers</summary>
        <DataTable
          caption="Peak and average seats in use per interval"
          rows={[...points].sort((a, b) => b.startTime.localeCompare(a.startTime))}
          rowKey={(p) => p.startTime + p.pool + p.service}
          columns={[
            { title: "From", render: (p) => formatTime(p.startTime) },
            { title: "Pool", render: (p) => lastSegment(p.pool) || lastSegment(p.service) },
            { title: "Peak", numeric: true, render: (p) => p.peak ?? 0 },
            { title: "Average", numeric: true, render: (p) => (p.average ?? 0).toFixed(2) },
          ]}
        />
      </details>
    </>
  );
}
