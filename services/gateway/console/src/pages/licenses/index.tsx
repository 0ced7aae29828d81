// Licenses (issue 16 point 5): the organization's pools, usage now and its
// trend, seat assignments (one or a batch), license requests to the
// operator, and the leases in use with force release.

import { useState } from "preact/hooks";
import type { PageProps } from "../../app";
import { get, post } from "../../api";
import { Badge, DataTable, Dialog, ErrorBanner, Form, PageHeader, SelectField, Tabs, TextField, formatTime, lastSegment } from "../../ui/components";
import { useAsync, usePager } from "../../ui/hooks";
import { editionWord, enumTail, modelWord, orgName, productWord, type LicenseRequest, type Pool } from "./model";
import { AssignmentsTab, LeasesTab } from "./seats";
import { UsageTab } from "./usage";
import "./licenses.css";

const tabs: Array<[string, string]> = [
  ["/licenses", "Pools"],
  ["/licenses/usage", "Usage"],
  ["/licenses/assignments", "Assignments"],
  ["/licenses/requests", "License requests"],
  ["/licenses/leases", "Leases in use"],
];

/** LicensesPage is the Licenses section; its tabs are sub-paths. */
export function LicensesPage({ loc }: PageProps) {
  const current = tabs.find(([href]) => href === loc.path)?.[0] ?? "/licenses";
  return (
    <>
      <PageHeader title="Licenses" />
      <Tabs label="Licenses" tabs={tabs} current={current} />
      {current === "/licenses/usage" ? (
        <UsageTab loc={loc} />
      ) : current === "/licenses/assignments" ? (
        <AssignmentsTab loc={loc} />
      ) : current === "/licenses/requests" ? (
        <RequestsTab />
      ) : current === "/licenses/leases" ? (
        <LeasesTab />
      ) : (
        <PoolsTab />
      )}
    </>
  );
}

/** PoolsTab lists the organization's license pools. */
function PoolsTab() {
  const pager = usePager("pools");
  const pools = useAsync(() => get<{ licensePools?: Pool[]; nextPageToken?: string }>(`${orgName()}/licensePools`, { pageSize: 25, pageToken: pager.token }), [pager.token]);
  const now = Date.now();
  return (
    <section aria-labelledby="pools-h">
      <h2 id="pools-h">Pools</h2>
      <p class="muted">Pools are granted by Steward's operator; ask for more under License requests.</p>
      <DataTable
        caption="License pools"
        rows={pools.data?.licensePools}
        loading={pools.loading}
        error={pools.error}
        pager={pager}
        nextPageToken={pools.data?.nextPageToken}
        empty="No licenses yet."
        rowKey={(p) => p.name}
        columns={[
          { title: "Pool", render: (p) => <>{p.displayName || lastSegment(p.name)}{p.trial ? <> <Badge>Trial</Badge></> : null}</> },
          { title: "Product", render: (p) => productWord(p.product) },
          { title: "Edition", render: (p) => editionWord(p.edition) },
          { title: "Model", render: (p) => modelWord(p.model) },
          { title: "Seats", numeric: true, render: (p) => p.quantity ?? 0 },
          { title: "Valid from", render: (p) => formatTime(p.validFrom) },
          {
            title: "Valid until",
            render: (p) =>
              p.validUntil && Date.parse(p.validUntil) < now ? <Badge tone="bad">Expired {formatTime(p.validUntil)}</Badge> : formatTime(p.validUntil),
          },
        ]}
      />
    </section>
  );
}

/** RequestsTab lists the organization's license requests and makes new ones. */
function RequestsTab() {
  const [state, setState] = useState("");
  const [creating, setCreating] = useState(false);
  const pager = usePager(state);
  const reqs = useAsync(
    () => get<{ licenseRequests?: LicenseRequest[]; nextPageToken?: string }>(`${orgName()}/licenseRequests`, { state, pageSize: 25, pageToken: pager.token }),
    [state, pager.token],
  );
  return (
    <section aria-labelledby="requests-h">
      <div class="section-head">
        <h2 id="requests-h">License requests</h2>
        <button type="button" class="primary" onClick={() => setCreating(true)}>
          Request licenses
        </button>
      </div>
      <p class="muted">Steward's operator fulfils or rejects each request; its answer shows here.</p>
      <div class="filters">
        <SelectField
          label="State"
          value={state}
          onInput={setState}
          options={[["", "Any"], ["STATE_PENDING", "Pending"], ["STATE_FULFILLED", "Fulfilled"], ["STATE_REJECTED", "Rejected"]]}
        />
      </div>
      <DataTable
        caption="License requests"
        rows={reqs.data?.licenseRequests}
        loading={reqs.loading}
        error={reqs.error}
        pager={pager}
        nextPageToken={reqs.data?.nextPageToken}
        empty="No requests."
        rowKey={(r) => r.name}
        columns={[
          { title: "Asked", render: (r) => formatTime(r.createTime) },
          { title: "Kind", render: (r) => (r.kind === "KIND_ADD_SEATS" ? "More seats" : r.kind === "KIND_RENEWAL" ? "Renewal" : "New pool") },
          { title: "What", render: (r) => (r.pool ? lastSegment(r.pool) : `${productWord(r.product)} ${editionWord(r.edition)} ${modelWord(r.model)}`) },
          { title: "Seats", numeric: true, render: (r) => r.quantity ?? "" },
          { title: "Note", render: (r) => r.note },
          {
            title: "State",
            render: (r) => (
              <>
                <Badge tone={r.state === "STATE_FULFILLED" ? "ok" : r.state === "STATE_REJECTED" ? "bad" : "info"}>{enumTail(r.state)}</Badge>
                {r.decisionNote ? <div class="muted">{r.decisionNote}</div> : null}
              </>
            ),
          },
        ]}
      />
      <Dialog title="Request licenses" open={creating} onClose={() => setCreating(false)}>
        <RequestForm
          onDone={() => {
            setCreating(false);
            reqs.reload();
          }}
        />
      </Dialog>
    </section>
  );
}

/** RequestForm asks the operator for a new pool or for more seats in one. */
function RequestForm({ onDone }: { onDone: () => void }) {
  const [kind, setKind] = useState("KIND_NEW_POOL");
  const [pool, setPool] = useState("");
  const [product, setProduct] = useState("PRODUCT_ROBOT");
  const [edition, setEdition] = useState("professional");
  const [model, setModel] = useState("LICENSE_MODEL_NAMED");
  const [quantity, setQuantity] = useState("5");
  const [note, setNote] = useState("");
  const [error, setError] = useState<unknown>();
  const pools = useAsync(() => get<{ licensePools?: Pool[] }>(`${orgName()}/licensePools`, { pageSize: 100 }), []);
  const submit = async () => {
    const body: Record<string, unknown> = { kind, quantity: Number(quantity), note };
    if (kind === "KIND_NEW_POOL") Object.assign(body, { product, edition, model });
    else body.pool = pool;
    try {
      await post(`${orgName()}/licenseRequests`, body);
      onDone();
    } catch (e) {
      setError(e);
    }
  };
  return (
    <Form onSubmit={submit} label="Request licenses">
      <ErrorBanner error={error} />
      <SelectField label="Kind" value={kind} onInput={setKind} field="license_request.kind" error={error} options={[["KIND_NEW_POOL", "A new pool"], ["KIND_ADD_SEATS", "More seats in a pool"], ["KIND_RENEWAL", "Renew a pool"]]} />
      {kind === "KIND_NEW_POOL" ? (
        <>
          <SelectField label="Product" value={product} onInput={setProduct} field="license_request.product" error={error} options={[["PRODUCT_ROBOT", "Robot"], ["PRODUCT_EDITOR", "Editor"]]} />
          <TextField label="Edition" value={edition} onInput={setEdition} field="license_request.edition" error={error} hint="For example professional or basic." />
          <SelectField label="Model" value={model} onInput={setModel} field="license_request.model" error={error} options={[["LICENSE_MODEL_NAMED", "Named user"], ["LICENSE_MODEL_CONCURRENT", "Concurrent"]]} />
        </>
      ) : (
        <SelectField
          label="Pool"
          value={pool}
          onInput={setPool}
          field="license_request.pool"
          error={error}
          options={[["", "Choose a pool…"], ...(pools.data?.licensePools ?? []).map((p): [string, string] => [p.name, p.displayName || lastSegment(p.name)])]}
        />
      )}
      <TextField label="Seats" type="number" value={quantity} onInput={setQuantity} field="license_request.quantity" error={error} />
      <TextField label="Note" value={note} onInput={setNote} field="license_request.note" error={error} hint="Why, for the operator." />
      <button type="submit" class="primary">
        Send request
      </button>
    </Form>
  );
}
