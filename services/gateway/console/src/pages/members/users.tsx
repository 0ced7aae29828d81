// Users: the filtered, paged list (its filters in the URL's query), the
// create/edit dialog, activate/deactivate/delete behind a confirmation, and
// a user's own page with the groups they are in.

import type { ComponentChildren } from "preact";
import { useEffect, useState } from "preact/hooks";
import { del, get, patch, post, type Page } from "../../api";
import type { Location } from "../../router";
import { navigate, setQuery } from "../../router";
import { currentSession } from "../../session";
import { Badge, DataTable, Dialog, ErrorBanner, Form, formatTime, lastSegment, Link, SelectField, SubmitCancel, TextField, type Column } from "../../ui/components";
import { useAsync, usePager } from "../../ui/hooks";
import {
  CheckboxField,
  ConfirmDialog,
  DepartmentName,
  DepartmentPicker,
  Details,
  SearchBox,
  SearchPicker,
  SectionHead,
  type Confirmation,
} from "./common";
import { child, org, pageSize, requestId, rootDepartment, userLabel, type Group, type Membership, type User } from "./model";

/** UserFilter is what ListUsers is asked to filter by (resource names and enum values). */
export interface UserFilter {
  department?: string;
  group?: string;
  state?: string;
  provisioning?: string;
  query?: string;
}

const states: Record<string, string> = { active: "STATE_ACTIVE", inactive: "STATE_INACTIVE" };
const provisionings: Record<string, string> = { manual: "PROVISIONING_MANUAL", auto: "PROVISIONING_AUTO" };

/** StateBadge says whether a user may sign in. */
function StateBadge({ u }: { u: User }) {
  return u.state === "STATE_INACTIVE" ? <Badge tone="warn">Inactive</Badge> : <Badge tone="ok">Active</Badge>;
}

/** provisioningText says how an account came to exist. */
function provisioningText(u: User): string {
  const how = u.provisioning === "PROVISIONING_AUTO" ? "Auto-provisioned" : "Manual";
  return u.externalSubject ? how + " · external account" : how;
}

/**
 * useUserActions gives a user's Edit, Activate/Deactivate and Delete
 * buttons, with the dialogs they open; changed is called after a change.
 */
function useUserActions(changed: (deleted?: User) => void) {
  const [editing, setEditing] = useState<User | null>(null);
  const [confirm, setConfirm] = useState<Confirmation | null>(null);
  const buttons = (u: User): ComponentChildren => {
    const who = userLabel(u);
    const inactive = u.state === "STATE_INACTIVE";
    return (
      <div class="row-actions">
        <button type="button" aria-label={`Edit ${who}`} onClick={() => setEditing(u)}>
          Edit
        </button>
        <button
          type="button"
          aria-label={`${inactive ? "Activate" : "Deactivate"} ${who}`}
          onClick={() =>
            setConfirm(
              inactive
                ? {
                    title: "Activate user",
                    message: `${who} will be able to sign in again.`,
                    action: "Activate",
                    run: () => post(`${u.name}:activate`, { etag: u.etag }),
                    done: () => changed(),
                  }
                : {
                    title: "Deactivate user",
                    message: `${who} will no longer be able to sign in; their sessions end now. Their account, groups and licenses are kept.`,
                    action: "Deactivate",
                    run: () => post(`${u.name}:deactivate`, { etag: u.etag }),
                    done: () => changed(),
                  },
            )
          }
        >
          {inactive ? "Activate" : "Deactivate"}
        </button>
        <button
          type="button"
          class="danger"
          aria-label={`Delete ${who}`}
          onClick={() =>
            setConfirm({
              title: "Delete user",
              message: `${who} (${u.email}) will be deleted, with their group memberships. This cannot be undone.`,
              action: "Delete",
              run: () => del(u.name, { etag: u.etag }),
              done: () => changed(u),
            })
          }
        >
          Delete
        </button>
      </div>
    );
  };
  const dialogs = (
    <>
      <UserDialog
        open={!!editing}
        user={editing ?? undefined}
        onClose={() => setEditing(null)}
        onSaved={() => {
          setEditing(null);
          changed();
        }}
      />
      <ConfirmDialog c={confirm} onClose={() => setConfirm(null)} />
    </>
  );
  return { buttons, dialogs };
}

/**
 * UsersTable is one page of the users matching filter. actions replaces
 * the row actions (Edit, Activate/Deactivate, Delete); version reloads the
 * list when it changes.
 */
export function UsersTable(props: { filter: UserFilter; caption: string; actions?: (u: User) => ComponentChildren; version?: number; empty?: string }) {
  const f = props.filter;
  const key = JSON.stringify(f);
  const pager = usePager(key);
  const list = useAsync(
    () => get<Page<"users", User>>(`${org()}/users`, { ...f, pageSize, pageToken: pager.token }),
    [key, pager.token, props.version],
  );
  const manage = useUserActions(() => list.reload());
  const columns: Column<User>[] = [
    {
      title: "Name",
      render: (u) => (
        <>
          <Link href={`/members/users/${lastSegment(u.name)}`} class="nowrap">
            {userLabel(u)}
          </Link>
          {u.owner ? (
            <>
              {" "}
              <Badge>Owner</Badge>
            </>
          ) : null}
          <div class="muted small">{u.nickname}</div>
        </>
      ),
    },
    { title: "Email", render: (u) => u.email },
    { title: "Department", render: (u) => <DepartmentName name={u.department} /> },
    { title: "Status", render: (u) => <StateBadge u={u} /> },
    { title: "Provisioning", render: (u) => provisioningText(u) },
    { title: "Actions", render: (u) => (props.actions ? props.actions(u) : manage.buttons(u)) },
  ];
  return (
    <>
      <DataTable
        caption={props.caption}
        columns={columns}
        rows={list.data?.users}
        loading={list.loading}
        error={list.error}
        pager={pager}
        nextPageToken={list.data?.nextPageToken}
        rowKey={(u) => u.name}
        empty={props.empty ?? "No users match."}
      />
      {props.actions ? null : manage.dialogs}
    </>
  );
}

interface AccountSystem {
  kind?: string;
}

/**
 * UserDialog creates a user (no user given) or edits one: names, email,
 * department, sign-in settings; the initial password under the local
 * account system, the external subject under OIDC.
 */
export function UserDialog(props: { open: boolean; user?: User; department?: string; onClose: () => void; onSaved: (u: User) => void }) {
  return (
    <Dialog title={props.user ? "Edit user" : "Create user"} open={props.open} onClose={props.onClose}>
      <UserForm {...props} />
    </Dialog>
  );
}

function UserForm(props: { user?: User; department?: string; onClose: () => void; onSaved: (u: User) => void }) {
  const u = props.user;
  const [email, setEmail] = useState(u?.email ?? "");
  const [nickname, setNickname] = useState(u?.nickname ?? "");
  const [displayName, setDisplayName] = useState(u?.displayName ?? "");
  const [department, setDepartment] = useState(u?.department ?? props.department ?? rootDepartment());
  const [password, setPassword] = useState("");
  const [subject, setSubject] = useState(u?.externalSubject ?? "");
  const [mfa, setMfa] = useState(!!u?.mfaRequired);
  const [concurrent, setConcurrent] = useState(!!u?.concurrentExecutionAllowed);
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const [rid] = useState(requestId);
  // Which account system decides between a password and an external
  // subject; a caller who may not read it gets the local form.
  const system = useAsync(() => get<AccountSystem>(`${org()}/accountSystem`).catch(() => ({}) as AccountSystem), []);
  const oidc = system.data?.kind === "KIND_OIDC";

  const submit = async () => {
    setBusy(true);
    setError(undefined);
    const fields: Partial<User> = { email: email.trim(), nickname: nickname.trim(), displayName: displayName.trim(), department, mfaRequired: mfa, concurrentExecutionAllowed: concurrent };
    if (oidc) fields.externalSubject = subject.trim();
    try {
      let saved: User;
      if (!u) {
        saved = await post<User>(`${org()}/users`, { user: fields, initialPassword: !oidc && password ? password : undefined, requestId: rid });
      } else {
        const snake: Record<string, string> = {
          email: "email",
          nickname: "nickname",
          displayName: "display_name",
          department: "department",
          mfaRequired: "mfa_required",
          concurrentExecutionAllowed: "concurrent_execution_allowed",
          externalSubject: "external_subject",
        };
        const changed = (Object.keys(fields) as Array<keyof User>).filter((k) => (fields[k] ?? "") !== (u[k] ?? (typeof fields[k] === "boolean" ? false : "")));
        if (!changed.length) {
          props.onClose();
          return;
        }
        saved = await patch<User>(u.name, { ...fields, etag: u.etag }, { updateMask: changed.map((k) => snake[k]).join(",") });
      }
      props.onSaved(saved);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  const editingOwnerOfOthers = u?.owner && u.name !== currentSession()?.principal;
  return (
    <Form onSubmit={submit} label={u ? "Edit user" : "Create user"}>
      <ErrorBanner error={error} />
      {editingOwnerOfOthers ? <p class="hint">Only the owner can edit the owner's account.</p> : null}
      <TextField label="Email" type="email" value={email} onInput={setEmail} field="user.email" error={error} required autocomplete="off" />
      <TextField label="Nickname" value={nickname} onInput={setNickname} field="user.nickname" error={error} required hint="1–16 letters, digits and @ . - _" />
      <TextField label="Name" value={displayName} onInput={setDisplayName} field="user.display_name" error={error} hint="The full name shown in the console; the nickname when empty." />
      <DepartmentPicker label="Department" value={department} onChange={setDepartment} />
      {!u && !oidc ? (
        <TextField
          label="Initial password"
          type="password"
          value={password}
          onInput={setPassword}
          field="initial_password"
          error={error}
          autocomplete="new-password"
          hint="At least 8 characters. Leave it empty and the user cannot sign in with a password until one is set."
        />
      ) : null}
      {oidc ? <TextField label="External subject" value={subject} onInput={setSubject} field="user.external_subject" error={error} hint="The user's “sub” at the identity provider." /> : null}
      <CheckboxField label="Require an authenticator code at sign-in" checked={mfa} onChange={setMfa} />
      <CheckboxField label="Allow concurrent unattended executions" checked={concurrent} onChange={setConcurrent} />
      <SubmitCancel label={u ? "Save" : "Create user"} busy={busy} onCancel={props.onClose} />
    </Form>
  );
}

/** GroupFilter is the users list's group filter: the chosen group, or a search for one. */
function GroupFilter({ group }: { group: string }) {
  const g = useAsync(() => (group ? get<Group>(child("groups", group)) : Promise.resolve(undefined)), [group]);
  if (group)
    return (
      <div class="field" role="group" aria-labelledby="group-filter">
        <span class="label" id="group-filter">
          Group
        </span>
        <div class="chosen">
          <strong>{g.data?.displayName ?? group}</strong>
          <button type="button" aria-label="Clear the group filter" onClick={() => setQuery({ group: "" })}>
            Clear
          </button>
        </div>
      </div>
    );
  return (
    <SearchPicker<Group>
      label="Group"
      placeholder="Type a group's name"
      search={(query) => get<Page<"groups", Group>>(`${org()}/groups`, { query, pageSize: 8 }).then((r) => r.groups ?? [])}
      keyOf={(x) => x.name}
      render={(x) => x.displayName}
      action="Filter"
      actionLabel={(x) => `Show members of ${x.displayName}`}
      pick={(x) => setQuery({ group: lastSegment(x.name) })}
    />
  );
}

/** DepartmentFilter is the users list's department filter: the chosen one and a tree to choose from. */
function DepartmentFilter({ department }: { department: string }) {
  const [open, setOpen] = useState(false);
  const name = department ? child("departments", department) : "";
  return (
    <div class="field" role="group" aria-labelledby="department-filter">
      <span class="label" id="department-filter">
        Department
      </span>
      <div class="chosen">
        <strong>{name ? <DepartmentName name={name} /> : "Any"}</strong>
        <button type="button" onClick={() => setOpen(true)}>
          Choose…
        </button>
        {name ? (
          <button type="button" aria-label="Clear the department filter" onClick={() => setQuery({ department: "" })}>
            Clear
          </button>
        ) : null}
      </div>
      <Dialog title="Choose a department" open={open} onClose={() => setOpen(false)}>
        <p class="hint">Users of the chosen department and of every department below it are listed.</p>
        <DepartmentPicker
          label="Department"
          none="any"
          value={name}
          onChange={(d) => {
            setQuery({ department: lastSegment(d) });
            setOpen(false);
          }}
        />
      </Dialog>
    </div>
  );
}

/** filterOf reads the users list's filters from the URL's query. */
function filterOf(q: URLSearchParams): UserFilter {
  const department = q.get("department"),
    group = q.get("group");
  return {
    department: department ? child("departments", department) : undefined,
    group: group ? child("groups", group) : undefined,
    state: states[q.get("state") ?? ""],
    provisioning: provisionings[q.get("provisioning") ?? ""],
    query: q.get("q") || undefined,
  };
}

/** UsersPage is /members/users: filters, the list and Create user. */
export function UsersPage({ loc }: { loc: Location }) {
  const q = loc.query;
  const [creating, setCreating] = useState(false);
  const [version, setVersion] = useState(0);
  const filter = filterOf(q);
  return (
    <>
      <SectionHead title="Users">
        <button type="button" class="primary" onClick={() => setCreating(true)}>
          Create user
        </button>
      </SectionHead>
      <div class="filters">
        <SearchBox label="Search users" value={q.get("q") ?? ""} onApply={(v) => setQuery({ q: v })} placeholder="Name, nickname or email" />
        <SelectField
          label="Status"
          value={q.get("state") ?? ""}
          onInput={(v) => setQuery({ state: v })}
          options={[
            ["", "Any"],
            ["active", "Active"],
            ["inactive", "Inactive"],
          ]}
        />
        <SelectField
          label="Provisioning"
          value={q.get("provisioning") ?? ""}
          onInput={(v) => setQuery({ provisioning: v })}
          options={[
            ["", "Any"],
            ["manual", "Manual"],
            ["auto", "Auto-provisioned"],
          ]}
        />
        <DepartmentFilter department={q.get("department") ?? ""} />
        <GroupFilter group={q.get("group") ?? ""} />
      </div>
      <UsersTable filter={filter} caption="Users" version={version} />
      <UserDialog
        open={creating}
        department={filter.department}
        onClose={() => setCreating(false)}
        onSaved={() => {
          setCreating(false);
          setVersion((v) => v + 1);
        }}
      />
    </>
  );
}

/** UserGroups is one page of the groups a user is in, with add and remove. */
function UserGroups({ user }: { user: User }) {
  const pager = usePager(user.name);
  const [version, setVersion] = useState(0);
  const [adding, setAdding] = useState(false);
  const [added, setAdded] = useState("");
  const [addError, setAddError] = useState<unknown>();
  const [confirm, setConfirm] = useState<Confirmation | null>(null);
  const list = useAsync(async () => {
    const r = await get<Page<"memberships", Membership>>(`${user.name}:listGroups`, { pageSize, pageToken: pager.token });
    const groups = await Promise.all((r.memberships ?? []).map((m) => get<Group>(m.group).catch(() => ({ name: m.group }) as Group)));
    return { rows: (r.memberships ?? []).map((m, i) => ({ m, g: groups[i] })), next: r.nextPageToken };
  }, [user.name, pager.token, version]);
  const who = userLabel(user);
  const columns: Column<{ m: Membership; g: Group }>[] = [
    { title: "Group", render: ({ g }) => <Link href={`/members/groups/${lastSegment(g.name)}`}>{g.displayName || lastSegment(g.name)}</Link> },
    { title: "Kind", render: ({ g }) => (g.kind === "KIND_DEFAULT" ? <Badge>Default</Badge> : <Badge tone="info">Custom</Badge>) },
    { title: "Member since", render: ({ m }) => (m.implicit ? "Always (every user)" : formatTime(m.createTime)) },
    {
      title: "Actions",
      render: ({ m, g }) =>
        m.implicit ? null : (
          <div class="row-actions">
            <button
              type="button"
              aria-label={`Remove ${who} from ${g.displayName}`}
              onClick={() =>
                setConfirm({
                  title: "Remove from group",
                  message: `${who} will no longer be a member of ${g.displayName}, nor hold the roles given to it.`,
                  action: "Remove",
                  run: () => post(`${m.group}:removeMember`, { member: user.name }),
                  done: () => setVersion((v) => v + 1),
                })
              }
            >
              Remove
            </button>
          </div>
        ),
    },
  ];
  return (
    <section aria-labelledby="user-groups">
      <div class="section-head">
        <h3 id="user-groups">Groups</h3>
        <div class="actions">
          <button type="button" onClick={() => setAdding(true)}>
            Add to group
          </button>
        </div>
      </div>
      <DataTable caption={`Groups of ${who}`} columns={columns} rows={list.data?.rows} loading={list.loading} error={list.error} pager={pager} nextPageToken={list.data?.next} rowKey={(r) => r.m.group} />
      <ConfirmDialog c={confirm} onClose={() => setConfirm(null)} />
      <Dialog
        title="Add to group"
        open={adding}
        onClose={() => {
          setAdding(false);
          setAdded("");
          setAddError(undefined);
        }}
      >
        <ErrorBanner error={addError} />
        {added ? (
          <p class="notice" role="status">
            {who} was added to {added}.
          </p>
        ) : null}
        <SearchPicker<Group>
          label="Find a group"
          search={(query) => get<Page<"groups", Group>>(`${org()}/groups`, { query, pageSize: 8 }).then((r) => r.groups ?? [])}
          keyOf={(g) => g.name}
          render={(g) => g.displayName}
          action="Add"
          actionLabel={(g) => `Add ${who} to ${g.displayName}`}
          pick={async (g) => {
            setAddError(undefined);
            setAdded("");
            try {
              await post(`${g.name}:addMember`, { member: user.name });
              setAdded(g.displayName ?? lastSegment(g.name));
              setVersion((v) => v + 1);
            } catch (e) {
              setAddError(e);
            }
          }}
        />
      </Dialog>
    </section>
  );
}

/** UserPage is /members/users/<id>: the user's fields, actions and groups. */
export function UserPage({ id }: { id: string }) {
  const name = child("users", id);
  const [version, setVersion] = useState(0);
  const u = useAsync(() => get<User>(name), [name, version]);
  const actions = useUserActions((deleted) => (deleted ? navigate("/members/users") : setVersion((v) => v + 1)));
  useEffect(() => {
    if (u.data) document.title = userLabel(u.data) + " · Steward";
  }, [u.data]);
  return (
    <>
      <p>
        <Link href="/members/users">← Users</Link>
      </p>
      <ErrorBanner error={u.error} />
      {u.data ? (
        <>
          <SectionHead
            title={
              <>
                {userLabel(u.data)} <StateBadge u={u.data} />
                {u.data.owner ? (
                  <>
                    {" "}
                    <Badge>Owner</Badge>
                  </>
                ) : null}
              </>
            }
          >
            {actions.buttons(u.data)}
          </SectionHead>
          <Details
            rows={[
              ["Email", u.data.email],
              ["Nickname", u.data.nickname],
              ["Department", <DepartmentName name={u.data.department} />],
              ["Provisioning", provisioningText(u.data)],
              ["External subject", u.data.externalSubject],
              ["Authenticator code at sign-in", u.data.mfaRequired ? (u.data.totpEnrolled ? "Required, enrolled" : "Required, not enrolled yet") : u.data.totpEnrolled ? "Enrolled" : "Not required"],
              ["Concurrent unattended executions", u.data.concurrentExecutionAllowed ? "Allowed" : "Not allowed"],
              ["Last sign-in", u.data.lastSignInTime ? formatTime(u.data.lastSignInTime) : "Never"],
              ["Created", formatTime(u.data.createTime)],
              ["Resource name", <code>{u.data.name}</code>],
            ]}
          />
          <UserGroups user={u.data} />
          {actions.dialogs}
        </>
      ) : u.loading ? (
        <p class="muted">Loading…</p>
      ) : null}
    </>
  );
}
