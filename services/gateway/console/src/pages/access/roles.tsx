// The Roles tab: the roles that apply at the scope's level (built-in and
// custom), a role's permissions as seed 001's View / Edit / Create / Delete
// matrix, and custom roles made, changed and deleted with the matrix as
// checkboxes. ?role=<name> shows one role, ?role=new makes one, &edit=1
// changes a custom one.

import { useMemo, useState } from "preact/hooks";
import { del, patch, post } from "../../api";
import { navigate } from "../../router";
import { Badge, DataTable, Dialog, ErrorBanner, Form, Link, SelectField, TextField, formatTime } from "../../ui/components";
import { useAsync, usePager } from "../../ui/hooks";
import { Check, NotHeld, PermissionMatrix, matrixSections, permissionLabel, permissionsBelow } from "../../ui/access-matrix";
import type { TabProps } from "./index";
import {
  accessHref,
  forgetRole,
  levelOfKind,
  levelWord,
  listRoles,
  permissionCatalogue,
  rememberRoles,
  roleInfo,
  rolesQueryAt,
  serviceTypeWord,
  type Level,
  type Role,
} from "./model";

/** RolesTab shows the list, one role, or the role form, as the query says. */
export function RolesTab(props: TabProps) {
  const role = props.loc.query.get("role");
  if (role === "new") return <RoleForm {...props} />;
  if (role && props.loc.query.get("edit")) return <RoleForm {...props} editing={role} />;
  if (role) return <RoleView {...props} name={role} />;
  return <RoleList {...props} />;
}

function roleLevelWord(r: Pick<Role, "level" | "serviceType">): string {
  return levelWord(r.level) + (r.serviceType ? " · " + serviceTypeWord(r.serviceType) : "");
}

function RoleList({ org, node }: TabProps) {
  const q = rolesQueryAt(node);
  const pager = usePager(node.name);
  const roles = useAsync(() => listRoles(org, q, pager.token), [org, node.name, pager.token]);
  return (
    <section aria-labelledby="roles-h">
      <div class="section-head">
        <h2 id="roles-h">Roles at {node.displayName}</h2>
        <Link class="button primary" href={accessHref("roles", node.name, { role: "new" })}>
          Create role
        </Link>
      </div>
      <p class="muted">
        {levelOfKind(node.kind) === "LEVEL_SERVICE"
          ? "Service roles of this service's type, and its folder roles, which hold in every folder when assigned here."
          : `Roles of the ${levelWord(levelOfKind(node.kind)).toLowerCase()} level${node.serviceType ? " for " + serviceTypeWord(node.serviceType) : ""}.`}
      </p>
      <DataTable<Role>
        caption={`Roles at ${node.displayName}`}
        rows={roles.data?.roles}
        loading={roles.loading}
        error={roles.error}
        pager={pager}
        nextPageToken={roles.data?.nextPageToken}
        rowKey={(r) => r.name}
        empty="No roles apply at this level yet."
        columns={[
          {
            title: "Role",
            render: (r) => (
              <>
                <Link href={accessHref("roles", node.name, { role: r.name })}>{r.displayName}</Link>
                {r.description ? <div class="muted small">{r.description}</div> : null}
              </>
            ),
          },
          { title: "Level", render: roleLevelWord },
          { title: "Type", render: (r) => (r.builtIn ? <Badge>Built-in</Badge> : <Badge tone="ok">Custom</Badge>) },
          { title: "Permissions", numeric: true, render: (r) => r.permissions?.length ?? 0 },
          {
            title: "Actions",
            render: (r) => (
              <Link href={accessHref("roles", node.name, { role: r.name })} aria-label={"View " + r.displayName}>
                View
              </Link>
            ),
          },
        ]}
      />
    </section>
  );
}

function RoleView({ node, name }: TabProps & { name: string }) {
  const role = useAsync(() => roleInfo(name), [name]);
  const cat = useAsync(permissionCatalogue, []);
  const [confirm, setConfirm] = useState(false);
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const r = role.data;
  const held = useMemo(() => new Set(r?.permissions ?? []), [r]);
  const sections = useMemo(() => {
    if (!r || !cat.data) return [];
    // The role's own level always; a level below only where it holds something.
    return matrixSections(cat.data, permissionsBelow(r.level, r.serviceType)).filter(
      (s) => s.level === r.level || s.rows.some((row) => Object.values(row.perms).some((p) => p && held.has(p.name))),
    );
  }, [r, cat.data, held]);
  const back = accessHref("roles", node.name);
  const remove = async () => {
    if (!r) return;
    setBusy(true);
    try {
      await del(r.name, { etag: r.etag });
      forgetRole(r.name);
      navigate(back);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section aria-labelledby="role-h">
      <p>
        <Link href={back}>← All roles at {node.displayName}</Link>
      </p>
      <ErrorBanner error={role.error || cat.error} />
      {r ? (
        <>
          <div class="section-head">
            <h2 id="role-h">{r.displayName}</h2>
            <Badge>{roleLevelWord(r)}</Badge>
            {r.builtIn ? <Badge>Built-in</Badge> : <Badge tone="ok">Custom</Badge>}
            {!r.builtIn ? (
              <span class="actions">
                <Link class="button" href={accessHref("roles", node.name, { role: r.name, edit: "1" })}>
                  Edit role
                </Link>
                <button type="button" class="danger" onClick={() => setConfirm(true)}>
                  Delete role
                </button>
              </span>
            ) : null}
          </div>
          {r.description ? <p>{r.description}</p> : null}
          <p class="muted">
            {r.builtIn ? "It has the following rights, which cannot be changed. " : `Changed ${formatTime(r.updateTime || r.createTime)}. `}
            {r.assignable === false ? "It is bound at sign-up and never assigned. " : ""}
            {held.size} permissions.
          </p>
          <PermissionMatrix caption={`Permissions of ${r.displayName}`} sections={sections} cell={(p) => (held.has(p.name) ? <Check /> : <NotHeld />)} />
          <Dialog title="Delete role" open={confirm} onClose={() => setConfirm(false)}>
            <p>
              Delete the custom role <strong>{r.displayName}</strong>? Every assignment of it, anywhere in the organization, is removed
              with it.
            </p>
            <ErrorBanner error={error} />
            <div class="actions-row">
              <button type="button" class="danger" disabled={busy} onClick={remove}>
                Delete
              </button>
              <button type="button" onClick={() => setConfirm(false)}>
                Cancel
              </button>
            </div>
          </Dialog>
        </>
      ) : role.loading ? (
        <p class="muted">Loading…</p>
      ) : null}
    </section>
  );
}

/**
 * RoleForm makes a custom role of the scope's level (at a service: a service
 * or a folder role of its type), or changes one (editing names it).
 */
function RoleForm({ org, node, editing }: TabProps & { editing?: string }) {
  const scopeLevel = levelOfKind(node.kind);
  const existing = useAsync(async () => (editing ? roleInfo(editing) : undefined), [editing]);
  const cat = useAsync(permissionCatalogue, []);
  const [displayName, setDisplayName] = useState<string | null>(null);
  const [description, setDescription] = useState<string | null>(null);
  const [roleId, setRoleId] = useState("");
  const [level, setLevel] = useState<Level>(scopeLevel);
  const [chosen, setChosen] = useState<Set<string> | null>(null);
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const e = existing.data;
  // Until the person changes a field, it shows the role being edited.
  const name = displayName ?? e?.displayName ?? "";
  const desc = description ?? e?.description ?? "";
  const lvl = e?.level ?? level;
  const serviceType = e ? e.serviceType : lvl === "LEVEL_ORGANIZATION" || lvl === "LEVEL_TENANT" ? "" : node.serviceType;
  const perms = chosen ?? new Set(e?.permissions ?? []);
  const sections = useMemo(() => (cat.data ? matrixSections(cat.data, permissionsBelow(lvl, serviceType)) : []), [cat.data, lvl, serviceType]);
  const back = editing ? accessHref("roles", node.name, { role: editing }) : accessHref("roles", node.name);

  const toggle = (p: string, on: boolean) => {
    const next = new Set(perms);
    if (on) next.add(p);
    else next.delete(p);
    setChosen(next);
  };
  const submit = async () => {
    setBusy(true);
    // Only permissions the level may hold are sent (a level change drops the others).
    const allowed = new Set(sections.flatMap((s) => s.rows.flatMap((row) => Object.values(row.perms).map((p) => p!.name))));
    const permissions = (cat.data ?? []).map((p) => p.name).filter((p) => perms.has(p) && allowed.has(p));
    try {
      let saved: Role;
      if (e) {
        saved = await patch<Role>(
          e.name,
          { name: e.name, displayName: name, description: desc, permissions, etag: e.etag },
          { updateMask: "display_name,description,permissions" },
        );
      } else {
        saved = await post<Role>(`${org}/roles`, { displayName: name, description: desc, level: lvl, serviceType, permissions }, { roleId: roleId.trim() });
      }
      rememberRoles([saved]);
      navigate(accessHref("roles", node.name, { role: saved.name }));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  if (editing && !e) {
    return (
      <>
        <ErrorBanner error={existing.error} />
        {existing.loading ? <p class="muted">Loading…</p> : null}
      </>
    );
  }
  if (e?.builtIn) {
    return (
      <p class="error" role="alert">
        Built-in roles cannot be edited or deleted.
      </p>
    );
  }
  return (
    <section aria-labelledby="role-form-h">
      <p>
        <Link href={back}>← {e ? e.displayName : "All roles at " + node.displayName}</Link>
      </p>
      <h2 id="role-form-h">{e ? "Edit " + e.displayName : "Create a custom role"}</h2>
      <Form onSubmit={submit} label={e ? "Edit role" : "Create role"} class="form wide">
        <ErrorBanner error={error} />
        <TextField label="Role name" value={name} onInput={setDisplayName} field="role.display_name" error={error} required />
        {!e ? (
          <TextField
            label="Role ID"
            value={roleId}
            onInput={setRoleId}
            field="role_id"
            error={error}
            hint="Optional: lowercase letters, digits and dashes. Empty lets Steward choose."
          />
        ) : null}
        <TextField label="Description" value={desc} onInput={setDescription} field="role.description" error={error} />
        {!e && scopeLevel === "LEVEL_SERVICE" ? (
          <SelectField
            label="Level"
            value={level}
            onInput={(v) => setLevel(v as Level)}
            field="role.level"
            error={error}
            options={[
              ["LEVEL_SERVICE", `Service (${serviceTypeWord(node.serviceType ?? "")})`],
              ["LEVEL_FOLDER", `Folder (${serviceTypeWord(node.serviceType ?? "")})`],
            ]}
          />
        ) : (
          <p class="muted">
            Level: {roleLevelWord({ level: lvl, serviceType })}. A role holds permissions of its level and of the levels below it.
          </p>
        )}
        <fieldset class="matrix-field">
          <legend>Permissions ({[...perms].length} chosen)</legend>
          <PermissionMatrix
            caption="Permissions of the role"
            sections={sections}
            collapsible
            open={(s) => s.level === lvl || s.rows.some((row) => Object.values(row.perms).some((p) => p && perms.has(p.name)))}
            cell={(p, _row, s) => (
              <input
                type="checkbox"
                aria-label={`${s.title}: ${permissionLabel(p)}`}
                checked={perms.has(p.name)}
                onChange={(ev) => toggle(p.name, (ev.currentTarget as HTMLInputElement).checked)}
              />
            )}
          />
        </fieldset>
        <div class="actions-row">
          <button type="submit" class="primary" disabled={busy || !name.trim()}>
            {e ? "Save role" : "Create role"}
          </button>
          <Link class="button" href={back}>
            Cancel
          </Link>
        </div>
      </Form>
    </section>
  );
}
