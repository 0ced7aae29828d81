// The console's building blocks: every page is made of these, so that every
// list pages the same way, every form labels and reports its fields the same
// way, and every refusal is said in words.

import type { AnchorHTMLAttributes, ComponentChildren } from "preact";
import { useEffect, useRef } from "preact/hooks";
import { ApiError } from "../api";
import { describe } from "../errors";
import { linkHandler } from "../router";
import type { Pager } from "./hooks";

/** Link navigates within the console. */
export function Link(props: AnchorHTMLAttributes<HTMLAnchorElement> & { href: string }) {
  return <a {...props} onClick={linkHandler} />;
}

/** ErrorBanner says why a call failed: the reason in words, then the server's message. */
export function ErrorBanner({ error }: { error: unknown }) {
  if (!error) return null;
  const { headline, detail } = describe(error);
  const reason = error instanceof ApiError ? error.reason : "";
  return (
    <div class="error" role="alert" data-reason={reason || undefined}>
      <strong>{headline}</strong>
      {detail && detail !== headline ? <span class="error-detail"> {detail}</span> : null}
    </div>
  );
}

/** PageHeader is a page's title, with its actions on the right. */
export function PageHeader({ title, children }: { title: string; children?: ComponentChildren }) {
  useEffect(() => {
    document.title = title + " · Steward";
  }, [title]);
  return (
    <header class="page-header">
      <h1>{title}</h1>
      <div class="actions">{children}</div>
    </header>
  );
}

let fieldSeq = 0;
function useId(prefix: string): string {
  const id = useRef("");
  if (!id.current) id.current = `${prefix}-${++fieldSeq}`;
  return id.current;
}

/** FieldProps are a form field's label, value and the server's violation of it. */
interface FieldProps {
  label: string;
  value: string;
  onInput: (v: string) => void;
  /** The request field this input feeds ("user.email"), to show its violation. */
  field?: string;
  error?: unknown;
  hint?: string;
  required?: boolean;
  name?: string;
}

function violationOf(error: unknown, field?: string): string | undefined {
  return field && error instanceof ApiError ? error.violation(field) : undefined;
}

/** TextField is a labelled input; a field violation from the server is shown under it. */
export function TextField(props: FieldProps & { type?: string; autocomplete?: string; placeholder?: string; inputMode?: string }) {
  const id = useId("f");
  const v = violationOf(props.error, props.field);
  return (
    <div class="field">
      <label for={id}>
        {props.label}
        {props.required ? <span aria-hidden="true"> *</span> : null}
      </label>
      <input
        id={id}
        name={props.name ?? props.field}
        type={(props.type ?? "text") as "text"}
        value={props.value}
        required={props.required}
        placeholder={props.placeholder}
        autocomplete={props.autocomplete}
        inputMode={props.inputMode}
        aria-invalid={v ? true : undefined}
        aria-describedby={v || props.hint ? id + "-d" : undefined}
        onInput={(e) => props.onInput((e.currentTarget as HTMLInputElement).value)}
      />
      {v ? (
        <div id={id + "-d"} class="violation">
          {v}
        </div>
      ) : props.hint ? (
        <div id={id + "-d"} class="hint">
          {props.hint}
        </div>
      ) : null}
    </div>
  );
}

/** SelectField is a labelled select over options [value, label]. */
export function SelectField(props: FieldProps & { options: Array<[string, string]> }) {
  const id = useId("s");
  const v = violationOf(props.error, props.field);
  return (
    <div class="field">
      <label for={id}>{props.label}</label>
      <select
        id={id}
        name={props.name ?? props.field}
        value={props.value}
        aria-invalid={v ? true : undefined}
        onChange={(e) => props.onInput((e.currentTarget as HTMLSelectElement).value)}
      >
        {props.options.map(([value, label]) => (
          <option value={value}>{label}</option>
        ))}
      </select>
      {v ? <div class="violation">{v}</div> : null}
    </div>
  );
}

/** Form wraps fields: submit runs onSubmit (Enter works), busy disables the buttons. */
export function Form(props: { onSubmit: () => void; children: ComponentChildren; label?: string; class?: string }) {
  return (
    <form
      class={props.class ?? "form"}
      aria-label={props.label}
      onSubmit={(e) => {
        e.preventDefault();
        props.onSubmit();
      }}
    >
      {props.children}
    </form>
  );
}

/** Dialog is a modal <dialog>: focus stays inside, Escape closes it. */
export function Dialog(props: { title: string; open: boolean; onClose: () => void; children: ComponentChildren }) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (props.open && !d.open) d.showModal();
    if (!props.open && d.open) d.close();
  }, [props.open]);
  return (
    <dialog ref={ref} aria-label={props.title} onClose={props.onClose} onCancel={props.onClose}>
      <div class="dialog-head">
        <h2>{props.title}</h2>
        <button type="button" class="icon" aria-label="Close" onClick={props.onClose}>
          ×
        </button>
      </div>
      {props.open ? props.children : null}
    </dialog>
  );
}

/** Tabs are links to the sub-pages of a page; the current one is marked. */
export function Tabs({ tabs, current, label }: { tabs: Array<[string, string]>; current: string; label: string }) {
  return (
    <nav class="tabs" aria-label={label}>
      {tabs.map(([href, text]) => (
        <Link href={href} aria-current={current === href ? "page" : undefined}>
          {text}
        </Link>
      ))}
    </nav>
  );
}

/** Column is one column of a DataTable. */
export interface Column<T> {
  title: string;
  render: (row: T) => ComponentChildren;
  /** Right-aligned numbers. */
  numeric?: boolean;
}

/**
 * DataTable shows one page of rows, with the pager's Previous/Next under it
 * (Next when the server gave a next page token). It never loads more than a
 * page.
 */
export function DataTable<T>(props: {
  caption: string;
  columns: Column<T>[];
  rows: T[] | undefined;
  loading?: boolean;
  error?: unknown;
  pager?: Pager;
  nextPageToken?: string;
  empty?: string;
  rowKey?: (row: T) => string;
}) {
  const { rows, pager } = props;
  return (
    <div class="table-wrap">
      <ErrorBanner error={props.error} />
      <table aria-busy={props.loading ? "true" : undefined}>
        <caption class="visually-hidden">{props.caption}</caption>
        <thead>
          <tr>
            {props.columns.map((c) => (
              <th scope="col" class={c.numeric ? "num" : undefined}>
                {c.title}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {(rows ?? []).map((r) => (
            <tr key={props.rowKey?.(r)}>
              {props.columns.map((c) => (
                <td class={c.numeric ? "num" : undefined}>{c.render(r)}</td>
              ))}
            </tr>
          ))}
          {rows && rows.length === 0 ? (
            <tr>
              <td colSpan={props.columns.length} class="empty">
                {props.empty ?? "Nothing here yet."}
              </td>
            </tr>
          ) : null}
          {!rows && props.loading ? (
            <tr>
              <td colSpan={props.columns.length} class="empty">
                Loading…
              </td>
            </tr>
          ) : null}
        </tbody>
      </table>
      {pager && (pager.page > 1 || props.nextPageToken) ? (
        <div class="pager">
          <button type="button" disabled={pager.page <= 1} onClick={pager.back}>
            Previous
          </button>
          <span>Page {pager.page}</span>
          <button type="button" disabled={!props.nextPageToken} onClick={() => props.nextPageToken && pager.next(props.nextPageToken)}>
            Next
          </button>
        </div>
      ) : null}
    </div>
  );
}

/** Badge is a short status word (Active, Inactive, …). */
export function Badge({ tone, children }: { tone?: "ok" | "warn" | "bad" | "info"; children: ComponentChildren }) {
  return <span class={"badge " + (tone ?? "info")}>{children}</span>;
}

/** Secret shows a value once, with a button that copies it. */
export function Secret({ label, value }: { label: string; value: string }) {
  return (
    <div class="secret">
      <p>
        <strong>{label}</strong> It is shown only now: copy it and keep it safe.
      </p>
      <code data-testid="secret">{value}</code>
      <button type="button" onClick={() => navigator.clipboard?.writeText(value)}>
        Copy
      </button>
    </div>
  );
}

/** formatTime shows an RFC 3339 time in the person's locale. */
export function formatTime(t?: string): string {
  if (!t) return "";
  const d = new Date(t);
  return isNaN(d.getTime()) ? t : d.toLocaleString();
}

/** lastSegment is "ann" for "organizations/acme/users/ann". */
export function lastSegment(name?: string): string {
  return (name ?? "").split("/").pop() ?? "";
}

/** SubmitCancel is a dialog form's buttons: submit (disabled while busy) and Cancel. */
export function SubmitCancel(props: { label: ComponentChildren; busy?: boolean; onCancel: () => void; danger?: boolean }) {
  return (
    <div class="dialog-actions">
      <button type="submit" class={props.danger ? "danger" : "primary"} disabled={props.busy}>
        {props.label}
      </button>
      <button type="button" onClick={props.onCancel}>
        Cancel
      </button>
    </div>
  );
}
