// Groups: the list (search and kind in the URL's query), create, edit and
// delete, and a group's page with its members (paged) to add and remove.

import { useEffect, useState } from "preact/hooks";
import { del, get, patch, post, type Page } from "../../api";
import type { Location } from "../../router";
import { navigate, setQuery } from "../../router";
import { Badge, DataTable, Dialog, ErrorBanner, Form, formatTime, lastSegment, Link, SelectField, SubmitCancel, TextField, type Column } from "../../ui/components";
import { useAsync, usePager } from "../../ui/hooks";
import { ConfirmDialog, Details, SearchBox, SearchPicker, SectionHead, type Confirmation } from "./common";
import { child, createNamed, org, pageSize, userLabel, type Group, type User } from "./model";
import { UsersTable } from "./users";

const kinds: Record<string, string> = { default: "KIND_DEFAULT", custom: "KIND_CUSTOM" };

/** isEveryone is the default group every user is in, whose members nobody adds or removes. */
function isEveryone(g: Group): boolean {
  return g.defaultGroup === "DEFAULT_GROUP_EVERYONE";
}

function KindBadge({ g }: { g: Group }) {
  return g.kind === "KIND_DEFAULT" ? <Badge>Default</Badge> : <Badge tone="info">Custom</Badge>;
}

/** GroupDialog creates a group (no group given) or edits one's name and description. */
function GroupDialog(props: { open: boolean; group?: Group; onClose: () => void; onSaved: (g: Group) => void }) {
  return (
    <Dialog title={props.group ? "Edit group" : "Create group"} open={props.open} onClose={props.onClose}>
      <GroupForm {...props} />
    </Dialog>
  );
}

function GroupForm(props: { group?: Group; onClose: () => void; onSaved: (g: Group) => void }) {
  const g = props.group;
  const [name, setName] = useState(g?.displayName ?? "");
  const [description, setDescription] = useState(g?.description ?? "");
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const submit = async () => {
    setBusy(true);
    setError(undefined);
    try {
      const fields = { displayName: name.trim(), description: description.trim() };
      let saved: Group;
      if (g) {
        // Only what changed: a default group keeps its name but may get a description.
        const mask = [fields.displayName !== g.displayName ? "display_name" : "", fields.description !== (g.description ?? "") ? "description" : ""].filter(Boolean);
        if (!mask.length) {
          props.onClose();
          return;
        }
        saved = await patch<Group>(g.name, { ...fields, etag: g.etag }, { updateMask: mask.join(",") });
      } else {
        saved = await createNamed<Group>(`${org()}/groups`, "groupId", fields.displayName, fields);
      }
      props.onSaved(saved);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Form onSubmit={submit} label={g ? "Edit group" : "Create group"}>
      <ErrorBanner error={error} />
      <TextField label="Name" value={name} onInput={setName} field="group.display_name" error={error} required />
      <TextField label="Description" value={description} onInput={setDescription} field="group.description" error={error} />
      <SubmitCancel label={g ? "Save" : "Create group"} busy={busy} onCancel={props.onClose} />
    </Form>
  );
}

/** deleteGroup is the confirmation of deleting g. */
function deleteGroup(g: Group, done: () => void): Confirmation {
  return {
    title: "Delete group",
    message: `${g.displayName} will be deleted with its memberships; its members lose the roles given to it.`,
    action: "Delete",
    run: () => del(g.name, { etag: g.etag }),
    done,
  };
}

/** GroupsPage is /members/groups: search, kind filter, the list and Create group. */
export function GroupsPage({ loc }: { loc: Location }) {
  const q = loc.query;
  const filter = { query: q.get("q") || undefined, kind: kinds[q.get("kind") ?? ""] };
  const key = JSON.stringify(filter);
  const pager = usePager(key);
  const list = useAsync(() => get<Page<"groups", Group>>(`${org()}/groups`, { ...filter, pageSize, pageToken: pager.token }), [key, pager.token]);
  const [creating, setCreating] = useState(false);
  const [editing, setEditing] = useState<Group | null>(null);
  const [confirm, setConfirm] = useState<Confirmation | null>(null);
  const columns: Column<Group>[] = [
    { title: "Name", render: (g) => <Link href={`/members/groups/${lastSegment(g.name)}`}>{g.displayName}</Link> },
    { title: "Description", render: (g) => g.description },
    { title: "Kind", render: (g) => <KindBadge g={g} /> },
    {
      title: "Actions",
      render: (g) => (
        <div class="row-actions">
          <button type="button" aria-label={`Edit ${g.displayName}`} onClick={() => setEditing(g)}>
            Edit
          </button>
          <button type="button" class="danger" aria-label={`Delete ${g.displayName}`} onClick={() => setConfirm(deleteGroup(g, list.reload))}>
            Delete
          </button>
        </div>
      ),
    },
  ];
  return (
    <>
      <SectionHead title="Groups">
        <button type="button" class="primary" onClick={() => setCreating(true)}>
          Create group
        </button>
      </SectionHead>
      <div class="filters">
        <SearchBox label="Search groups" value={q.get("q") ?? ""} onApply={(v) => setQuery({ q: v })} />
        <SelectField
          label="Kind"
          value={q.get("kind") ?? ""}
          onInput={(v) => setQuery({ kind: v })}
          options={[
            ["", "Any"],
            ["default", "Default"],
            ["custom", "Custom"],
          ]}
        />
      </div>
      <DataTable caption="Groups" columns={columns} rows={list.data?.groups} loading={list.loading} error={list.error} pager={pager} nextPageToken={list.data?.nextPageToken} rowKey={(g) => g.name} empty="No groups match." />
      <GroupDialog
        open={creating}
        onClose={() => setCreating(false)}
        onSaved={() => {
          setCreating(false);
          list.reload();
        }}
      />
      <GroupDialog
        open={!!editing}
        group={editing ?? undefined}
        onClose={() => setEditing(null)}
        onSaved={() => {
          setEditing(null);
          list.reload();
        }}
      />
      <ConfirmDialog c={confirm} onClose={() => setConfirm(null)} />
    </>
  );
}

/** AddMembersDialog finds users by name or email and adds them to g, one click each. */
function AddMembersDialog(props: { group: Group; open: boolean; onClose: () => void; onAdded: () => void }) {
  const [added, setAdded] = useState("");
  const [error, setError] = useState<unknown>();
  useEffect(() => {
    setAdded("");
    setError(undefined);
  }, [props.open]);
  const g = props.group;
  return (
    <Dialog title={`Add members to ${g.displayName}`} open={props.open} onClose={props.onClose}>
      <ErrorBanner error={error} />
      {added ? (
        <p class="notice" role="status">
          {added} was added.
        </p>
      ) : null}
      <SearchPicker<User>
        label="Find a user"
        hint="Type part of a name, nickname or email."
        search={(query) => get<Page<"users", User>>(`${org()}/users`, { query, pageSize: 8 }).then((r) => r.users ?? [])}
        keyOf={(u) => u.name}
        render={(u) => (
          <>
            {userLabel(u)} <span class="muted">{u.email}</span>
          </>
        )}
        action="Add"
        actionLabel={(u) => `Add ${u.email}`}
        pick={async (u) => {
          setError(undefined);
          setAdded("");
          try {
            await post(`${g.name}:addMember`, { member: u.name });
            setAdded(userLabel(u));
            props.onAdded();
          } catch (e) {
            setError(e);
          }
        }}
      />
      <div class="dialog-actions">
        <button type="button" onClick={props.onClose}>
          Done
        </button>
      </div>
    </Dialog>
  );
}

/** GroupPage is /members/groups/<id>: the group, Edit/Delete, and its members. */
export function GroupPage({ id }: { id: string }) {
  const name = child("groups", id);
  const [version, setVersion] = useState(0);
  const [members, setMembers] = useState(0);
  const [editing, setEditing] = useState(false);
  const [adding, setAdding] = useState(false);
  const [confirm, setConfirm] = useState<Confirmation | null>(null);
  const g = useAsync(() => get<Group>(name), [name, version]);
  useEffect(() => {
    if (g.data) document.title = (g.data.displayName ?? id) + " · Steward";
  }, [g.data]);
  const group = g.data;
  return (
    <>
      <p>
        <Link href="/members/groups">← Groups</Link>
      </p>
      <ErrorBanner error={g.error} />
      {group ? (
        <>
          <SectionHead
            title={
              <>
                {group.displayName} <KindBadge g={group} />
              </>
            }
          >
            <button type="button" onClick={() => setEditing(true)}>
              Edit
            </button>
            <button type="button" class="danger" onClick={() => setConfirm(deleteGroup(group, () => navigate("/members/groups")))}>
              Delete
            </button>
          </SectionHead>
          <Details
            rows={[
              ["Description", group.description],
              ["Created", formatTime(group.createTime)],
              ["Resource name", <code>{group.name}</code>],
            ]}
          />
          <SectionHead level={3} title="Members">
            {isEveryone(group) ? null : (
              <button type="button" class="primary" onClick={() => setAdding(true)}>
                Add member
              </button>
            )}
          </SectionHead>
          {isEveryone(group) ? <p class="hint">Every user of the organization is a member of Everyone; members cannot be added or removed.</p> : null}
          <UsersTable
            filter={{ group: group.name }}
            caption={`Members of ${group.displayName}`}
            version={members}
            empty="This group has no members yet."
            actions={
              isEveryone(group)
                ? () => null
                : (u) => (
                    <div class="row-actions">
                      <button
                        type="button"
                        aria-label={`Remove ${u.email} from ${group.displayName}`}
                        onClick={() =>
                          setConfirm({
                            title: "Remove member",
                            message: `${userLabel(u)} will no longer be a member of ${group.displayName}, nor hold the roles given to it.`,
                            action: "Remove",
                            run: () => post(`${group.name}:removeMember`, { member: u.name }),
                            done: () => setMembers((v) => v + 1),
                          })
                        }
                      >
                        Remove
                      </button>
                    </div>
                  )
            }
          />
          <GroupDialog
            open={editing}
            group={group}
            onClose={() => setEditing(false)}
            onSaved={() => {
              setEditing(false);
              setVersion((v) => v + 1);
            }}
          />
          <AddMembersDialog group={group} open={adding} onClose={() => setAdding(false)} onAdded={() => setMembers((v) => v + 1)} />
        </>
      ) : g.loading ? (
        <p class="muted">Loading…</p>
      ) : null}
      <ConfirmDialog c={confirm} onClose={() => setConfirm(null)} />
    </>
  );
}
