// Seats: the named-user assignments of the organization's pools (assign one
// member, or a batch at once on Professional pools), and the leases that
// running clients hold, which an administrator can force to end.

import { useState } from "preact/hooks";
import { get, post } from "../../api";
import type { PageProps } from "../../app";
import { setQuery } from "../../router";
import { DataTable, Dialog, ErrorBanner, Form, SelectField, formatTime, lastSegment } from "../../ui/components";
import { useAsync, usePager } from "../../ui/hooks";
import { PrincipalPicker } from "../../ui/access-principal-picker";
import type { PrincipalInfo } from "../access/model";
import { ConfirmDialog, type Confirmation } from "../members/common";
import { editionWord, orgName, poolLabel, productWord, type Assignment, type Lease, type Pool } from "./model";

/** usePools loads the organization's pools (the first hundred) for choosers. */
function usePools() {
  return useAsync(() => get<{ licensePools?: Pool[] }>(`${orgName()}/licensePools`, { pageSize: 100 }), []);
}

/** requestId is a fresh idempotency key for one submission. */
function requestId(): string {
  return crypto.randomUUID();
}

/** AssignmentsTab lists seat assignments and assigns and takes back seats. */
export function AssignmentsTab({ loc }: PageProps) {
  const pool = loc.query.get("pool") ?? "";
  const pager = usePager(pool);
  const pools = usePools();
  const list = useAsync(
    () => get<{ licenseAssignments?: Assignment[]; nextPageToken?: string }>(`${orgName()}/licenseAssignments`, { pool, pageSize: 25, pageToken: pager.token }),
    [pool, pager.token],
  );
  const [dialog, setDialog] = useState<"" | "one" | "batch">("");
  const [confirm, setConfirm] = useState<Confirmation | null>(null);
  const [notice, setNotice] = useState("");
  const named = (pools.data?.licensePools ?? []).filter((p) => p.model !== "LICENSE_MODEL_CONCURRENT");
  const label = (name?: string) => {
    const p = pools.data?.licensePools?.find((x) => x.name === name);
    return p ? poolLabel(p) : lastSegment(name);
  };
  const done = (msg: string) => {
    setDialog("");
    setNotice(msg);
    list.reload();
  };
  return (
    <section aria-labelledby="assign-h">
      <div class="section-head">
        <h2 id="assign-h">Seat assignments</h2>
        <div class="actions">
          <button type="button" class="primary" onClick={() => setDialog("one")}>
            Assign license
          </button>
          <button type="button" onClick={() => setDialog("batch")}>
            Batch assign
          </button>
        </div>
      </div>
      {notice ? (
        <div class="notice" role="status">
          {notice}
        </div>
      ) : null}
      <div class="filters">
        <SelectField label="Pool" value={pool} onInput={(v) => setQuery({ pool: v })} options={[["", "All pools"], ...named.map((p): [string, string] => [p.name, poolLabel(p)])]} />
      </div>
      <DataTable
        caption="Seat assignments"
        rows={list.data?.licenseAssignments}
        loading={list.loading}
        error={list.error}
        pager={pager}
        nextPageToken={list.data?.nextPageToken}
        empty="No seat is assigned."
        rowKey={(a) => a.name}
        columns={[
          { title: "Member", render: (a) => <MemberName name={a.member} /> },
          { title: "Pool", render: (a) => label(a.pool) },
          { title: "Product", render: (a) => productWord(a.product) },
          { title: "Since", render: (a) => formatTime(a.createTime) },
          {
            title: "Actions",
            render: (a) => (
              <button
                type="button"
                class="danger"
                aria-label={`Unassign ${lastSegment(a.member)} from ${label(a.pool)}`}
                onClick={() =>
                  setConfirm({
                    title: "Unassign license",
                    message: `Take back ${label(a.pool)} from ${lastSegment(a.member)}? Their running leases end.`,
                    action: "Unassign",
                    run: () => post(`${a.name}:unassign`, { etag: a.etag }),
                    done: () => done(`The seat of ${label(a.pool)} was taken back.`),
                  })
                }
              >
                Unassign
              </button>
            ),
          },
        ]}
      />
      <Dialog title="Assign license" open={dialog === "one"} onClose={() => setDialog("")}>
        <AssignForm pools={named} batch={false} onDone={done} />
      </Dialog>
      <Dialog title="Batch assign" open={dialog === "batch"} onClose={() => setDialog("")}>
        <AssignForm pools={named} batch={true} onDone={done} />
      </Dialog>
      <ConfirmDialog c={confirm} onClose={() => setConfirm(null)} />
    </section>
  );
}

/** MemberName shows a member's display name, looked up once. */
function MemberName({ name }: { name?: string }) {
  const m = useAsync(() => (name ? get<{ displayName?: string; nickname?: string; email?: string }>(name) : Promise.resolve(undefined)), [name]);
  const d = m.data;
  return (
    <span title={name}>
      {d?.displayName || d?.nickname || lastSegment(name)}
      {d?.email ? <span class="muted"> {d.email}</span> : null}
    </span>
  );
}

/**
 * AssignForm assigns a pool's seat to one member, or (batch) to every
 * member picked, in one all-or-nothing call that only Professional pools
 * take: the server's refusal says so in words.
 */
function AssignForm({ pools, batch, onDone }: { pools: Pool[]; batch: boolean; onDone: (msg: string) => void }) {
  const [pool, setPool] = useState(pools[0]?.name ?? "");
  const [members, setMembers] = useState<PrincipalInfo[]>([]);
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const chosen = pools.find((p) => p.name === pool);
  const pick = (p: PrincipalInfo) => setMembers((ms) => (batch ? (ms.some((m) => m.name === p.name) ? ms : [...ms, p]) : [p]));
  const submit = async () => {
    setBusy(true);
    try {
      if (batch) {
        await post(`${orgName()}/licenseAssignments:batchAssign`, { pool, members: members.map((m) => m.name), requestId: requestId() });
      } else {
        await post(`${orgName()}/licenseAssignments:assign`, { licenseAssignment: { pool, member: members[0]?.name }, requestId: requestId() });
      }
      onDone(`Assigned ${chosen ? poolLabel(chosen) : lastSegment(pool)} to ${members.map((m) => m.displayName).join(", ")}.`);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Form onSubmit={submit} label={batch ? "Batch assign" : "Assign license"}>
      <ErrorBanner error={error} />
      <SelectField
        label="Pool"
        value={pool}
        onInput={setPool}
        field={batch ? "pool" : "license_assignment.pool"}
        error={error}
        options={pools.map((p): [string, string] => [p.name, `${poolLabel(p)} · ${p.quantity ?? 0} seats`])}
      />
      {batch ? <p class="hint">Batches take Professional pools only{chosen && chosen.edition !== "professional" ? `; this one is ${editionWord(chosen.edition)}` : ""}.</p> : null}
      <PrincipalPicker org={orgName()} offer={["users", "robotAccounts"]} onPick={pick} />
      <div class="chosen" aria-live="polite">
        {members.length === 0 ? (
          <span class="muted">Nobody chosen yet.</span>
        ) : (
          <ul aria-label="Chosen members">
            {members.map((m) => (
              <li key={m.name}>
                {m.displayName}
                {m.email ? <span class="muted"> {m.email}</span> : null}{" "}
                <button type="button" class="link" aria-label={`Leave out ${m.displayName}`} onClick={() => setMembers((ms) => ms.filter((x) => x.name !== m.name))}>
                  Leave out
                </button>
              </li>
            ))}
          </ul>
        )}
      </div>
      <button type="submit" class="primary" disabled={busy || !pool || members.length === 0}>
        {batch ? "Assign to all" : "Assign"}
      </button>
    </Form>
  );
}

/** LeasesTab lists the live leases, which an administrator may force to end. */
export function LeasesTab() {
  const pager = usePager("leases");
  const leases = useAsync(() => get<{ leases?: Lease[]; nextPageToken?: string }>(`${orgName()}/leases`, { pageSize: 25, pageToken: pager.token }), [pager.token]);
  const [confirm, setConfirm] = useState<Confirmation | null>(null);
  return (
    <section aria-labelledby="leases-h">
      <h2 id="leases-h">Leases in use</h2>
      <p class="muted">A running robot or editor holds a lease on a seat and renews it; force release frees the seat now.</p>
      <DataTable
        caption="Leases in use"
        rows={leases.data?.leases}
        loading={leases.loading}
        error={leases.error}
        pager={pager}
        nextPageToken={leases.data?.nextPageToken}
        empty="No lease is held."
        rowKey={(l) => l.name}
        columns={[
          { title: "Held by", render: (l) => <MemberName name={l.principal} /> },
          { title: "Pool", render: (l) => lastSegment(l.pool) },
          { title: "Client", render: (l) => productWord(l.client) },
          { title: "Machine", render: (l) => l.machine },
          { title: "Since", render: (l) => formatTime(l.createTime) },
          { title: "Expires", render: (l) => formatTime(l.expireTime) },
          {
            title: "Actions",
            render: (l) => (
              <button
                type="button"
                class="danger"
                aria-label={`Force release the lease of ${lastSegment(l.principal)}`}
                onClick={() =>
                  setConfirm({
                    title: "Force release",
                    message: `End the lease of ${lastSegment(l.principal)} on ${l.machine || "its machine"} now? Its client learns at its next renewal.`,
                    action: "Force release",
                    run: () => post(`${l.name}:forceRelease`, {}),
                    done: leases.reload,
                  })
                }
              >
                Force release
              </button>
            ),
          },
        ]}
      />
      <ConfirmDialog c={confirm} onClose={() => setConfirm(null)} />
    </section>
  );
}
