// Robots, robot accounts and external apps: each a paged list with create
// and delete; a robot account's or external app's page holds its API keys.
// The three lists differ only in their fields, so one component shows them.

import type { ComponentChildren } from "preact";
import { useEffect, useState } from "preact/hooks";
import { del, get, post, type Page } from "../../api";
import type { Location } from "../../router";
import { navigate, setQuery } from "../../router";
import { Badge, DataTable, Dialog, ErrorBanner, Form, formatTime, lastSegment, Link, SubmitCancel, TextField, type Column } from "../../ui/components";
import { useAsync, usePager } from "../../ui/hooks";
import { ApiKeys } from "./apikeys";
import { ConfirmDialog, Details, SearchBox, SectionHead, type Confirmation } from "./common";
import { child, org, pageSize, requestId, type ExternalApp, type Robot, type RobotAccount } from "./model";

/** Principal is what the three kinds have in common. */
interface Principal {
  name: string;
  displayName?: string;
  description?: string;
  createTime?: string;
  etag?: string;
}

/** Field is one input of a create form: the resource's field and its label. */
interface Field {
  key: string;
  label: string;
  /** The request field its violation names ("robot.machine_name"). */
  proto: string;
  required?: boolean;
  hint?: string;
}

/** Kind describes one of the three lists. */
interface Kind<T extends Principal> {
  title: string;
  /** "robot": "Create robot", "Delete robot". */
  singular: string;
  /** The collection ("robots") and the list response's key ("robots"). */
  collection: string;
  listKey: string;
  /** The list takes a query (ListRobots and ListRobotAccounts do). */
  searchable: boolean;
  fields: Field[];
  columns: Column<T>[];
  /** The page of one, when it has one. */
  href?: (t: T) => string;
  deleteMessage: (t: T) => string;
}

const robotsKind: Kind<Robot> = {
  title: "Robots",
  singular: "robot",
  collection: "robots",
  listKey: "robots",
  searchable: true,
  fields: [
    { key: "displayName", label: "Name", proto: "robot.display_name", required: true },
    { key: "machineName", label: "Machine name", proto: "robot.machine_name", required: true, hint: "The host name of the machine the robot runs on." },
    { key: "description", label: "Description", proto: "robot.description" },
  ],
  columns: [
    { title: "Machine", render: (r) => r.machineName },
    {
      title: "Robot account",
      render: (r) =>
        r.robotAccount ? (
          <Link href={`/members/robots/accounts/${lastSegment(r.robotAccount)}`} aria-label={`API keys of ${r.displayName}`}>
            API keys
          </Link>
        ) : null,
    },
  ],
  deleteMessage: (r) => `${r.displayName} will be deleted, with its robot account and that account's API keys.`,
};

const robotAccountsKind: Kind<RobotAccount> = {
  title: "Robot accounts",
  singular: "robot account",
  collection: "robotAccounts",
  listKey: "robotAccounts",
  searchable: true,
  fields: [
    { key: "displayName", label: "Name", proto: "robot_account.display_name", required: true },
    { key: "description", label: "Description", proto: "robot_account.description" },
  ],
  columns: [{ title: "Robot", render: (a) => (a.robot ? <Badge>A robot's account</Badge> : <span class="muted">Stand-alone</span>) }],
  href: (a) => `/members/robots/accounts/${lastSegment(a.name)}`,
  deleteMessage: (a) => `${a.displayName} will be deleted with its API keys.`,
};

const externalAppsKind: Kind<ExternalApp> = {
  title: "External apps",
  singular: "external app",
  collection: "externalApps",
  listKey: "externalApps",
  searchable: false,
  fields: [
    { key: "displayName", label: "Name", proto: "external_app.display_name", required: true },
    { key: "description", label: "Description", proto: "external_app.description" },
  ],
  columns: [],
  href: (e) => `/members/external-apps/${lastSegment(e.name)}`,
  deleteMessage: (e) => `${e.displayName} will be deleted with its API keys; software using them stops working.`,
};

/** CreateForm creates one of kind from its fields. */
function CreateForm<T extends Principal>(props: { kind: Kind<T>; onClose: () => void; onSaved: (t: T) => void }) {
  const { kind } = props;
  const [values, setValues] = useState<Record<string, string>>({});
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const [rid] = useState(requestId);
  const submit = async () => {
    setBusy(true);
    setError(undefined);
    try {
      const body: Record<string, string> = {};
      for (const f of kind.fields) if (values[f.key]?.trim()) body[f.key] = values[f.key].trim();
      props.onSaved(await post<T>(`${org()}/${kind.collection}`, body, { requestId: rid }));
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  const title = "Create " + kind.singular;
  return (
    <Form onSubmit={submit} label={title}>
      <ErrorBanner error={error} />
      {kind.fields.map((f) => (
        <TextField
          label={f.label}
          value={values[f.key] ?? ""}
          onInput={(v) => setValues((x) => ({ ...x, [f.key]: v }))}
          field={f.proto}
          error={error}
          required={f.required}
          hint={f.hint}
        />
      ))}
      <SubmitCancel label={title} busy={busy} onCancel={props.onClose} />
    </Form>
  );
}

/** deleteOne is the confirmation of deleting t. */
function deleteOne<T extends Principal>(kind: Kind<T>, t: T, done: () => void): Confirmation {
  return {
    title: "Delete " + kind.singular,
    message: kind.deleteMessage(t),
    action: "Delete",
    run: () => del(t.name, { etag: t.etag }),
    done,
  };
}

/** PrincipalList is the paged list of one kind, with search, create and delete. */
function PrincipalList<T extends Principal>({ kind, loc, heading }: { kind: Kind<T>; loc: Location; heading: ComponentChildren }) {
  const query = kind.searchable ? loc.query.get("q") || undefined : undefined;
  const pager = usePager(kind.collection + (query ?? ""));
  const list = useAsync(
    () => get<Page<string, T>>(`${org()}/${kind.collection}`, { query, pageSize, pageToken: pager.token }),
    [kind.collection, query, pager.token],
  );
  const [creating, setCreating] = useState(false);
  const [confirm, setConfirm] = useState<Confirmation | null>(null);
  const columns: Column<T>[] = [
    { title: "Name", render: (t) => (kind.href ? <Link href={kind.href(t)}>{t.displayName}</Link> : t.displayName) },
    ...kind.columns,
    { title: "Description", render: (t) => t.description },
    { title: "Created", render: (t) => formatTime(t.createTime) },
    {
      title: "Actions",
      render: (t) => (
        <button type="button" class="danger" aria-label={`Delete ${t.displayName}`} onClick={() => setConfirm(deleteOne(kind, t, list.reload))}>
          Delete
        </button>
      ),
    },
  ];
  return (
    <>
      <SectionHead title={heading}>
        <button type="button" class="primary" onClick={() => setCreating(true)}>
          {"Create " + kind.singular}
        </button>
      </SectionHead>
      {kind.searchable ? (
        <div class="filters">
          <SearchBox label={"Search " + kind.title.toLowerCase()} value={query ?? ""} onApply={(v) => setQuery({ q: v })} />
        </div>
      ) : null}
      <DataTable
        caption={kind.title}
        columns={columns}
        rows={(list.data as Record<string, T[] | undefined> | undefined)?.[kind.listKey] ?? (list.data ? [] : undefined)}
        loading={list.loading}
        error={list.error}
        pager={pager}
        nextPageToken={list.data?.nextPageToken}
        rowKey={(t) => t.name}
        empty={`No ${kind.title.toLowerCase()} yet.`}
      />
      <Dialog title={"Create " + kind.singular} open={creating} onClose={() => setCreating(false)}>
        <CreateForm
          kind={kind}
          onClose={() => setCreating(false)}
          onSaved={() => {
            setCreating(false);
            list.reload();
          }}
        />
      </Dialog>
      <ConfirmDialog c={confirm} onClose={() => setConfirm(null)} />
    </>
  );
}

/** PrincipalPage is the page of one robot account or external app: its fields, Delete and its API keys. */
function PrincipalPage<T extends Principal>(props: { kind: Kind<T>; id: string; back: string; details: (t: T) => Array<[string, ComponentChildren]> }) {
  const { kind } = props;
  const name = child(kind.collection, props.id);
  const [confirm, setConfirm] = useState<Confirmation | null>(null);
  const p = useAsync(() => get<T>(name), [name]);
  useEffect(() => {
    if (p.data) document.title = (p.data.displayName ?? props.id) + " · Steward";
  }, [p.data]);
  return (
    <>
      <p>
        <Link href={props.back}>← {kind.title}</Link>
      </p>
      <ErrorBanner error={p.error} />
      {p.data ? (
        <>
          <SectionHead title={p.data.displayName}>
            <button type="button" class="danger" onClick={() => setConfirm(deleteOne(kind, p.data!, () => navigate(props.back)))}>
              {"Delete " + kind.singular}
            </button>
          </SectionHead>
          <Details
            rows={[
              ...props.details(p.data),
              ["Description", p.data.description],
              ["Created", formatTime(p.data.createTime)],
              ["Resource name", <code>{p.data.name}</code>],
            ]}
          />
          <ApiKeys parent={p.data.name} owner={p.data.displayName ?? props.id} />
        </>
      ) : p.loading ? (
        <p class="muted">Loading…</p>
      ) : null}
      <ConfirmDialog c={confirm} onClose={() => setConfirm(null)} />
    </>
  );
}

/** RobotName shows a robot's display name and machine (its ID until read). */
function RobotName({ name }: { name: string }) {
  const r = useAsync(() => get<Robot>(name), [name]);
  return <span title={name}>{r.data ? `${r.data.displayName} (${r.data.machineName})` : lastSegment(name)}</span>;
}

/** RobotsPage is /members/robots. */
export function RobotsPage({ loc }: { loc: Location }) {
  return <PrincipalList kind={robotsKind} loc={loc} heading="Robots" />;
}

/** RobotAccountsPage is /members/robots/accounts. */
export function RobotAccountsPage({ loc }: { loc: Location }) {
  return <PrincipalList kind={robotAccountsKind} loc={loc} heading="Robot accounts" />;
}

/** RobotAccountPage is /members/robots/accounts/<id>: the account and its API keys. */
export function RobotAccountPage({ id }: { id: string }) {
  return (
    <PrincipalPage
      kind={robotAccountsKind}
      id={id}
      back="/members/robots/accounts"
      details={(a) => [["Robot", a.robot ? <RobotName name={a.robot} /> : "None: a stand-alone account"]]}
    />
  );
}

/** ExternalAppsPage is /members/external-apps. */
export function ExternalAppsPage({ loc }: { loc: Location }) {
  return <PrincipalList kind={externalAppsKind} loc={loc} heading="External apps" />;
}

/** ExternalAppPage is /members/external-apps/<id>: the app and its API keys. */
export function ExternalAppPage({ id }: { id: string }) {
  return <PrincipalPage kind={externalAppsKind} id={id} back="/members/external-apps" details={() => []} />;
}
