// The Role assignments tab: the assignments at the scope, a page at a time;
// assigning one or more roles to a user, group or robot account found by
// search; removing an assignment after a confirmation. A tenant's Tenant
// Administrators listed at its services carry their platform-role label and
// no Remove button: they are changed at the tenant (R18). Refusals
// (ESCALATION, DELEGATION_DENIED, ROLE_LEVEL_MISMATCH, …) are said in words.

import { useState } from "preact/hooks";
import { del, get, post, type Page } from "../../api";
import { Badge, DataTable, Dialog, ErrorBanner, Form, Link, formatTime } from "../../ui/components";
import { useAsync, usePager } from "../../ui/hooks";
import { PrincipalPicker } from "../../ui/access-principal-picker";
import type { TabProps } from "./index";
import { PrincipalName, RoleName, ScopeName } from "./names";
import {
  accessHref,
  levelWord,
  listRoles,
  principalInfo,
  principalKindWord,
  roleInfo,
  rolesQueryAt,
  type PrincipalInfo,
  type Role,
  type RoleAssignment,
  type ScopeNode,
} from "./model";

const pageSize = 25;

/** AssignmentsTab lists, makes and removes the role assignments at the scope. */
export function AssignmentsTab({ org, node }: TabProps) {
  const pager = usePager(node.name);
  const list = useAsync(
    () => get<Page<"roleAssignments", RoleAssignment>>(`${org}/roleAssignments`, { scope: node.name, pageSize, pageToken: pager.token }),
    [org, node.name, pager.token],
  );
  const [assigning, setAssigning] = useState(false);
  const [removing, setRemoving] = useState<RoleAssignment | null>(null);
  const [notice, setNotice] = useState("");
  return (
    <section aria-labelledby="assign-h">
      <div class="section-head">
        <h2 id="assign-h">Role assignments at {node.displayName}</h2>
        <button
          type="button"
          class="primary"
          onClick={() => {
            setNotice("");
            setAssigning(true);
          }}
        >
          Assign roles
        </button>
      </div>
      {notice ? (
        <p class="notice" role="status">
          {notice}
        </p>
      ) : null}
      <DataTable<RoleAssignment>
        caption={`Role assignments at ${node.displayName}`}
        rows={list.data?.roleAssignments}
        loading={list.loading}
        error={list.error}
        pager={pager}
        nextPageToken={list.data?.nextPageToken}
        rowKey={(a) => a.name}
        empty="Nobody is assigned a role here yet."
        columns={[
          {
            title: "Member",
            render: (a) => (
              <Link href={accessHref("check", node.name, { principal: a.principal })} title={"Check the permissions of " + a.principal}>
                <PrincipalName name={a.principal} />
              </Link>
            ),
          },
          { title: "Kind", render: (a) => principalKindWord(a.principalKind, a.principal) },
          { title: "Role", render: (a) => <RoleName name={a.role} scope={node.name} /> },
          {
            title: "Assignment type",
            render: (a) =>
              a.platformRoleLabel ? (
                <>
                  <Badge tone="warn">{a.platformRoleLabel}</Badge>
                  <div class="small">
                    Managed at <ScopeName name={a.scope} tab="assignments" />
                  </div>
                </>
              ) : a.builtIn ? (
                <Badge>Built-in</Badge>
              ) : (
                <Badge tone="ok">Custom</Badge>
              ),
          },
          { title: "Assigned", render: (a) => formatTime(a.createTime) },
          { title: "Actions", render: (a) => <RemoveButton a={a} onRemove={() => setRemoving(a)} /> },
        ]}
      />
      <Dialog title="Assign roles" open={assigning} onClose={() => setAssigning(false)}>
        <AssignForm
          org={org}
          node={node}
          onCancel={() => setAssigning(false)}
          onDone={(msg) => {
            setAssigning(false);
            setNotice(msg);
            list.reload();
          }}
        />
      </Dialog>
      <Dialog title="Remove role assignment" open={!!removing} onClose={() => setRemoving(null)}>
        {removing ? (
          <RemoveConfirm
            a={removing}
            node={node}
            onCancel={() => setRemoving(null)}
            onDone={(msg) => {
              setRemoving(null);
              setNotice(msg);
              list.reload();
            }}
          />
        ) : null}
      </Dialog>
    </section>
  );
}

/**
 * RemoveButton is an assignment's Remove button; a platform role shown here
 * and the Owner role (never assigned, never removed) have none.
 */
function RemoveButton({ a, onRemove }: { a: RoleAssignment; onRemove: () => void }) {
  const role = useAsync(() => roleInfo(a.role), [a.role]);
  const who = useAsync(() => principalInfo(a.principal), [a.principal]);
  if (a.platformRoleLabel) return <span class="muted small">Change it at its own scope</span>;
  if (role.data?.assignable === false) return <span class="muted small">Cannot be removed</span>;
  return (
    <button type="button" class="danger" onClick={onRemove} aria-label={`Remove ${role.data?.displayName ?? a.role} from ${who.data?.displayName ?? a.principal}`}>
      Remove
    </button>
  );
}

function RemoveConfirm({ a, node, onCancel, onDone }: { a: RoleAssignment; node: ScopeNode; onCancel: () => void; onDone: (msg: string) => void }) {
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const words = useAsync(async () => {
    const [p, r] = await Promise.all([principalInfo(a.principal).catch(() => null), roleInfo(a.role).catch(() => null)]);
    return { who: p?.displayName ?? a.principal, role: r?.displayName ?? a.role };
  }, [a.name]);
  const who = words.data?.who ?? a.principal;
  const role = words.data?.role ?? a.role;
  const remove = async () => {
    setBusy(true);
    try {
      await del(a.name, { scope: node.name });
      onDone(`Removed ${role} from ${who} at ${node.displayName}.`);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <p>
        Remove the role <strong>{role}</strong> from <strong>{who}</strong> at {node.displayName}? They lose what it grants here and below,
        unless another assignment grants it too.
      </p>
      <ErrorBanner error={error} />
      <div class="actions-row">
        <button type="button" class="danger" disabled={busy} onClick={remove}>
          Remove
        </button>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </>
  );
}

/** AssignForm finds a principal and assigns it the roles ticked, in one request. */
function AssignForm({ org, node, onCancel, onDone }: { org: string; node: ScopeNode; onCancel: () => void; onDone: (msg: string) => void }) {
  const [who, setWho] = useState<PrincipalInfo | null>(null);
  const [picked, setPicked] = useState<string[]>([]);
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const roles = useRolePages(org, node);
  const submit = async () => {
    if (!who || picked.length === 0) return;
    setBusy(true);
    try {
      await post(`${org}/roleAssignments`, { principal: who.name, roles: picked, scope: node.name });
      const names = (roles.items ?? []).filter((r) => picked.includes(r.name)).map((r) => r.displayName);
      onDone(`Assigned ${names.join(", ")} to ${who.displayName} at ${node.displayName}.`);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Form onSubmit={submit} label="Assign roles">
      <p class="muted">At {node.displayName} and everything below it.</p>
      {who ? (
        <div class="chosen">
          <span>
            To <strong>{who.displayName}</strong> <span class="muted">({principalKindWord(who.kind)})</span>
          </span>
          <button type="button" class="link" onClick={() => setWho(null)}>
            Choose someone else
          </button>
        </div>
      ) : (
        <fieldset>
          <legend>Who</legend>
          <PrincipalPicker org={org} offer={["users", "groups", "robotAccounts"]} onPick={setWho} />
        </fieldset>
      )}
      <fieldset>
        <legend>Roles</legend>
        <ErrorBanner error={roles.error} />
        <ul class="checks">
          {(roles.items ?? [])
            .filter((r) => r.assignable !== false)
            .map((r) => (
              <li key={r.name}>
                <label>
                  <input
                    type="checkbox"
                    aria-label={r.displayName}
                    checked={picked.includes(r.name)}
                    onChange={(e) => {
                      const on = (e.currentTarget as HTMLInputElement).checked;
                      setPicked((old) => (on ? [...old, r.name] : old.filter((n) => n !== r.name)));
                    }}
                  />{" "}
                  {r.displayName} <span class="muted small">{levelWord(r.level)} role</span>
                </label>
              </li>
            ))}
        </ul>
        {roles.items && roles.items.length === 0 ? <p class="muted">No role can be assigned at this level.</p> : null}
        {roles.next ? (
          <button type="button" class="link" onClick={roles.more}>
            More roles
          </button>
        ) : null}
      </fieldset>
      <ErrorBanner error={error} />
      <div class="actions-row">
        <button type="submit" class="primary" disabled={busy || !who || picked.length === 0}>
          Assign
        </button>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </Form>
  );
}

/** useRolePages reads the roles that apply at node, a page at a time (more() reads the next). */
function useRolePages(org: string, node: ScopeNode) {
  const [token, setToken] = useState("");
  const [items, setItems] = useState<Role[] | undefined>(undefined);
  const page = useAsync(async () => {
    const r = await listRoles(org, rolesQueryAt(node), token);
    setItems((old) => (token ? [...(old ?? []), ...(r.roles ?? [])] : (r.roles ?? [])));
    return r;
  }, [org, node.name, token]);
  const next = page.data?.nextPageToken ?? "";
  return { items, error: page.error, next, more: () => next && setToken(next) };
}
