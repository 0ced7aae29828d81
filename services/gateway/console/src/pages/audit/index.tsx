// Audit log (issue 16 point 6): search the organization's audit events with
// filters and paging, open one, download the matching events as CSV or JSON
// lines, and see whether the log verifies against its latest signed
// checkpoint.

import { useEffect, useState } from "preact/hooks";
import type { PageProps } from "../../app";
import { download, get, post } from "../../api";
import { currentSession } from "../../session";
import { setQuery } from "../../router";
import { Badge, DataTable, Dialog, ErrorBanner, Form, PageHeader, SelectField, TextField, formatTime, lastSegment } from "../../ui/components";
import { useAsync, usePager } from "../../ui/hooks";
import "./audit.css";

/** AuditEvent is one recorded event. */
interface AuditEvent {
  name: string;
  index?: string;
  time?: string;
  actor?: string;
  actorDisplayName?: string;
  action?: string;
  target?: string;
  tenant?: string;
  outcome?: string;
  source?: string;
  message?: string;
}

/** The equality filters of the search, in the order of the form. */
const fields = ["actor", "action", "target", "tenant"] as const;

/** quote makes a filter string value (the filter's escapes are JSON's). */
function quote(v: string): string {
  return JSON.stringify(v);
}

/** localToRFC3339 turns a datetime-local value into an RFC 3339 instant. */
function localToRFC3339(v: string): string {
  const d = new Date(v);
  return isNaN(d.getTime()) ? "" : d.toISOString();
}

/** filterOf builds the AIP-160 filter of the search from the page's query. */
export function filterOf(q: URLSearchParams): string {
  const parts: string[] = [];
  for (const f of fields) {
    const v = q.get(f)?.trim();
    if (v) parts.push(`${f} = ${quote(v)}`);
  }
  if (q.get("outcome")) parts.push(`outcome = ${q.get("outcome")}`);
  if (q.get("source")) parts.push(`source = ${quote(q.get("source")!)}`);
  const from = localToRFC3339(q.get("from") ?? "");
  const to = localToRFC3339(q.get("to") ?? "");
  if (from) parts.push(`time >= ${quote(from)}`);
  if (to) parts.push(`time < ${quote(to)}`);
  return parts.join(" AND ");
}

/** AuditPage is the Audit log section. */
export function AuditPage({ loc }: PageProps) {
  const org = currentSession()!.organization;
  const filter = filterOf(loc.query);
  const order = loc.query.get("order") === "asc" ? "time asc" : "time desc";
  const pager = usePager(filter + order);
  const events = useAsync(
    () => get<{ auditEvents?: AuditEvent[]; nextPageToken?: string }>(`${org}/auditEvents`, { filter, orderBy: order, pageSize: 50, pageToken: pager.token }),
    [filter, order, pager.token],
  );
  const [open, setOpen] = useState<AuditEvent | null>(null);
  const [downloadError, setDownloadError] = useState<unknown>();
  const save = async (format: "FORMAT_CSV" | "FORMAT_JSONL") => {
    setDownloadError(undefined);
    try {
      await download(`${org}/auditEvents:export`, `audit-${lastSegment(org)}.${format === "FORMAT_CSV" ? "csv" : "jsonl"}`, { filter, format });
    } catch (e) {
      setDownloadError(e);
    }
  };
  return (
    <>
      <PageHeader title="Audit log">
        <button type="button" onClick={() => save("FORMAT_CSV")}>
          Download CSV
        </button>
        <button type="button" onClick={() => save("FORMAT_JSONL")}>
          Download JSON lines
        </button>
      </PageHeader>
      <Verification org={org} />
      <ErrorBanner error={downloadError} />
      <SearchForm loc={loc} onSearch={events.reload} />
      <DataTable
        caption="Audit events"
        rows={events.data?.auditEvents}
        loading={events.loading}
        error={events.error}
        pager={pager}
        nextPageToken={events.data?.nextPageToken}
        empty="No event matches."
        rowKey={(e) => e.name}
        columns={[
          { title: "Time", render: (e) => formatTime(e.time) },
          { title: "Actor", render: (e) => <span title={e.actor}>{e.actorDisplayName || lastSegment(e.actor)}</span> },
          {
            title: "Action",
            render: (e) => (
              <button type="button" class="link" aria-label={`Details of ${e.action} at ${formatTime(e.time)}`} onClick={() => setOpen(e)}>
                {e.action}
              </button>
            ),
          },
          { title: "Target", render: (e) => <span class="wrap">{e.target}</span> },
          {
            title: "Outcome",
            render: (e) => <Badge tone={e.outcome === "OUTCOME_SUCCESS" ? "ok" : e.outcome === "OUTCOME_DENIED" ? "warn" : "bad"}>{(e.outcome ?? "").replace(/^OUTCOME_/, "").toLowerCase()}</Badge>,
          },
          { title: "Source", render: (e) => e.source },
        ]}
      />
      <Dialog title="Audit event" open={!!open} onClose={() => setOpen(null)}>
        <pre class="event-json">{JSON.stringify(open, null, 2)}</pre>
      </Dialog>
    </>
  );
}

/**
 * SearchForm edits the search's filters, kept in the page's query; Search
 * with the filters unchanged asks again (new events keep arriving).
 */
function SearchForm({ loc, onSearch }: PageProps & { onSearch: () => void }) {
  const q = loc.query;
  const [f, setF] = useState<Record<string, string>>(() =>
    Object.fromEntries(["actor", "action", "target", "tenant", "outcome", "source", "from", "to", "order"].map((k) => [k, q.get(k) ?? ""])),
  );
  const set = (k: string) => (v: string) => setF({ ...f, [k]: v });
  return (
    <Form
      class="form inline filters"
      label="Search the audit log"
      onSubmit={() => {
        setQuery(f);
        onSearch();
      }}
    >
      <TextField label="Actor" value={f.actor} onInput={set("actor")} placeholder="organizations/…/users/…" />
      <TextField label="Action" value={f.action} onInput={set("action")} placeholder="user.created" />
      <TextField label="Target" value={f.target} onInput={set("target")} />
      <TextField label="Tenant" value={f.tenant} onInput={set("tenant")} />
      <SelectField label="Outcome" value={f.outcome} onInput={set("outcome")} options={[["", "Any"], ["SUCCESS", "Success"], ["DENIED", "Denied"], ["FAILURE", "Failure"]]} />
      <SelectField label="Source" value={f.source} onInput={set("source")} options={[["", "Any"], ["directory", "Directory"], ["access", "Access"], ["licensing", "Licensing"], ["audit", "Audit"]]} />
      <TextField label="From" type="datetime-local" value={f.from} onInput={set("from")} />
      <TextField label="Until" type="datetime-local" value={f.to} onInput={set("to")} />
      <SelectField label="Order" value={f.order} onInput={set("order")} options={[["", "Newest first"], ["asc", "Oldest first"]]} />
      <button type="submit" class="primary">
        Search
      </button>
      <button
        type="button"
        onClick={() => {
          const empty = Object.fromEntries(Object.keys(f).map((k) => [k, ""]));
          setF(empty);
          setQuery(empty);
        }}
      >
        Clear
      </button>
    </Form>
  );
}

/**
 * Verification shows the latest signed checkpoint and whether the log
 * verifies against it: checked when the page opens (about 3 s per million
 * events, BENCHMARKS.md) and again on demand.
 */
function Verification({ org }: { org: string }) {
  const checkpoint = useAsync(() => get<{ treeSize?: string; rootHash?: string; origin?: string }>(`${org}/auditCheckpoint`), [org]);
  const [result, setResult] = useState<{ ok?: boolean; eventsChecked?: string; failure?: string; firstFailedIndex?: string; checkpoint?: { treeSize?: string } } | null>(null);
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const verify = async () => {
    setBusy(true);
    setError(undefined);
    try {
      setResult(await post(`${org}/auditEvents:verify`, {}));
      checkpoint.reload();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  useEffect(() => {
    void verify();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [org]);
  return (
    <section class="verification" aria-labelledby="verify-h">
      <h2 id="verify-h">Integrity</h2>
      <ErrorBanner error={checkpoint.error ?? error} />
      <p>
        {checkpoint.data ? (
          <>
            Latest signed checkpoint: <strong>{checkpoint.data.treeSize ?? "0"} events</strong>, root <code class="hash">{checkpoint.data.rootHash}</code>.{" "}
          </>
        ) : null}
        {result ? (
          result.ok ? (
            <Badge tone="ok">Verified</Badge>
          ) : (
            <Badge tone="bad">Not verified</Badge>
          )
        ) : null}{" "}
        {result ? (
          result.ok ? (
            <span>{result.eventsChecked ?? "0"} events match the checkpoint of {result.checkpoint?.treeSize ?? "0"}.</span>
          ) : (
            <span>
              {result.failure}
              {result.firstFailedIndex ? ` (first at event ${result.firstFailedIndex})` : ""}
            </span>
          )
        ) : null}
      </p>
      <button type="button" onClick={verify} disabled={busy}>
        {busy ? "Verifying…" : "Verify again"}
      </button>
    </section>
  );
}
