// The API keys of a robot account or external app: the list (revoked ones
// on request), create — whose secret is shown once — and revoke.

import { useState } from "preact/hooks";
import { get, post, type Page } from "../../api";
import { Badge, DataTable, Dialog, ErrorBanner, Form, formatTime, lastSegment, Link, Secret, SubmitCancel, TextField, type Column } from "../../ui/components";
import { useAsync, usePager } from "../../ui/hooks";
import { CheckboxField, ConfirmDialog, type Confirmation } from "./common";
import { pageSize, requestId, type ApiKey } from "./model";

function KeyState({ k }: { k: ApiKey }) {
  if (k.revokeTime) return <Badge tone="bad">Revoked {formatTime(k.revokeTime)}</Badge>;
  if (k.expireTime && new Date(k.expireTime).getTime() <= Date.now()) return <Badge tone="warn">Expired</Badge>;
  return <Badge tone="ok">Active</Badge>;
}

/** CreateKeyForm asks for the key's name and expiry, then shows its secret once. */
function CreateKeyForm(props: { parent: string; onCreated: () => void; onClose: () => void }) {
  const [name, setName] = useState("");
  const [expires, setExpires] = useState("");
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const [secret, setSecret] = useState("");
  const [rid] = useState(requestId);
  const submit = async () => {
    setBusy(true);
    setError(undefined);
    try {
      const expireTime = expires ? new Date(expires).toISOString() : undefined;
      const r = await post<{ apiKey: ApiKey; secret: string }>(`${props.parent}/apiKeys`, { apiKey: { displayName: name.trim(), expireTime }, requestId: rid });
      setSecret(r.secret);
      props.onCreated();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  if (secret)
    return (
      <>
        <Secret label="The key's secret." value={secret} />
        <div class="dialog-actions">
          <button type="button" class="primary" onClick={props.onClose}>
            Done
          </button>
        </div>
      </>
    );
  return (
    <Form onSubmit={submit} label="Create API key">
      <ErrorBanner error={error} />
      <TextField label="Name" value={name} onInput={setName} field="api_key.display_name" error={error} required hint="What the key is for, to tell keys apart." />
      <TextField label="Expires" type="datetime-local" value={expires} onInput={setExpires} field="api_key.expire_time" error={error} hint="Leave empty for a key that lasts until revoked." />
      <SubmitCancel label={"Create key"} busy={busy} onCancel={props.onClose} />
    </Form>
  );
}

/** ApiKeys lists the API keys of parent (a robot account or external app), with create and revoke. */
export function ApiKeys({ parent, owner }: { parent: string; owner: string }) {
  const [showRevoked, setShowRevoked] = useState(false);
  const pager = usePager(parent + showRevoked);
  const list = useAsync(
    () => get<Page<"apiKeys", ApiKey>>(`${parent}/apiKeys`, { pageSize, pageToken: pager.token, showRevoked: showRevoked || undefined }),
    [parent, showRevoked, pager.token],
  );
  const [creating, setCreating] = useState(false);
  const [confirm, setConfirm] = useState<Confirmation | null>(null);
  const columns: Column<ApiKey>[] = [
    { title: "Name", render: (k) => k.displayName },
    { title: "Prefix", render: (k) => <code>{k.prefix}</code> },
    { title: "Status", render: (k) => <KeyState k={k} /> },
    { title: "Created", render: (k) => formatTime(k.createTime) },
    { title: "Expires", render: (k) => (k.expireTime ? formatTime(k.expireTime) : "Never") },
    { title: "Last used", render: (k) => (k.lastUsedTime ? formatTime(k.lastUsedTime) : "Never") },
    {
      title: "Created by",
      render: (k) =>
        k.creator?.includes("/users/") ? (
          <Link href={`/members/users/${lastSegment(k.creator)}`} title={k.creator}>
            {lastSegment(k.creator)}
          </Link>
        ) : (
          <span title={k.creator}>{lastSegment(k.creator)}</span>
        ),
    },
    {
      title: "Actions",
      render: (k) =>
        k.revokeTime ? null : (
          <button
            type="button"
            class="danger"
            aria-label={`Revoke ${k.displayName}`}
            onClick={() =>
              setConfirm({
                title: "Revoke API key",
                message: `${k.displayName} (${k.prefix}…) stops working at once. The record is kept for audit.`,
                action: "Revoke",
                run: () => post(`${k.name}:revoke`, {}),
                done: list.reload,
              })
            }
          >
            Revoke
          </button>
        ),
    },
  ];
  return (
    <section aria-labelledby="api-keys">
      <div class="section-head">
        <h3 id="api-keys">API keys</h3>
        <div class="actions">
          <button type="button" class="primary" onClick={() => setCreating(true)}>
            Create API key
          </button>
        </div>
      </div>
      <div class="filters">
        <CheckboxField label="Show revoked keys" checked={showRevoked} onChange={setShowRevoked} />
      </div>
      <DataTable caption={`API keys of ${owner}`} columns={columns} rows={list.data?.apiKeys} loading={list.loading} error={list.error} pager={pager} nextPageToken={list.data?.nextPageToken} rowKey={(k) => k.name} empty="No API keys." />
      <Dialog title={`New API key for ${owner}`} open={creating} onClose={() => setCreating(false)}>
        <CreateKeyForm parent={parent} onCreated={list.reload} onClose={() => setCreating(false)} />
      </Dialog>
      <ConfirmDialog c={confirm} onClose={() => setConfirm(null)} />
    </section>
  );
}
