// The scope picker: the organization's scope tree (organization → tenants →
// services → folders and subfolders, or projects) as the directory lists
// it. A node's children are read when it is opened, a page at a time ("More
// …" reads the next page), so that a large organization is never read
// whole. The nodes on the way to the selected scope open by themselves.

import { useEffect, useState } from "preact/hooks";
import { get } from "../api";
import { ErrorBanner, Link } from "./components";
import type { ScopeKind, ScopeNode } from "../pages/access/model";
import { kindWord, serviceTypeWord } from "../pages/access/model";

const pageSize = 50;

/** Changed names a node whose children changed (n grows with every change). */
export interface Changed {
  scope: string;
  n: number;
}

interface ChildKind {
  /** What the children are, for "More tenants". */
  noun: string;
  path: (parent: string) => string;
  key: string;
  kind: ScopeKind;
}

const tenants: ChildKind = { noun: "tenants", path: (p) => `${p}/tenants`, key: "tenants", kind: "SCOPE_KIND_TENANT" };
const services: ChildKind = { noun: "services", path: (p) => `${p}/services`, key: "services", kind: "SCOPE_KIND_SERVICE" };
const folders: ChildKind = { noun: "folders", path: (p) => `${p}/folders`, key: "folders", kind: "SCOPE_KIND_FOLDER" };
const projects: ChildKind = { noun: "projects", path: (p) => `${p}/projects`, key: "projects", kind: "SCOPE_KIND_PROJECT" };

/** childKinds is what lies below a node: folders only in Orchestrator services and folders. */
function childKinds(node: ScopeNode): ChildKind[] {
  switch (node.kind) {
    case "SCOPE_KIND_ORGANIZATION":
      return [tenants];
    case "SCOPE_KIND_TENANT":
      return [services];
    case "SCOPE_KIND_SERVICE":
      return node.serviceType === "orchestrator" ? [folders, projects] : [projects];
    case "SCOPE_KIND_FOLDER":
      return [folders];
    default:
      return [];
  }
}

interface Listed {
  name: string;
  displayName?: string;
  type?: string;
}

/** ChildList is one kind of a node's children, read a page at a time. */
function ChildList(props: {
  parent: ScopeNode;
  of: ChildKind;
  selected: string;
  href: (scope: string) => string;
  changed: Changed;
  onEmpty: (empty: boolean) => void;
}) {
  const { parent, of } = props;
  const [items, setItems] = useState<ScopeNode[]>([]);
  const [next, setNext] = useState("");
  const [error, setError] = useState<unknown>();
  const [loading, setLoading] = useState(false);
  const version = props.changed.scope === parent.name ? props.changed.n : 0;

  const load = async (token: string, replace: boolean) => {
    setLoading(true);
    try {
      const r = await get<Record<string, Listed[] | string | undefined>>(of.path(parent.name), { pageSize, pageToken: token });
      const got = ((r[of.key] as Listed[] | undefined) ?? []).map(
        (x): ScopeNode => ({
          name: x.name,
          kind: of.kind,
          displayName: x.displayName || x.name.split("/").pop()!,
          serviceType: x.type ?? parent.serviceType,
        }),
      );
      setItems((old) => (replace ? got : [...old, ...got]));
      setNext((r.nextPageToken as string | undefined) ?? "");
      setError(undefined);
      if (replace) props.onEmpty(got.length === 0);
    } catch (e) {
      setError(e);
    } finally {
      setLoading(false);
    }
  };
  useEffect(() => {
    void load("", true);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [parent.name, version]);

  return (
    <>
      {error ? (
        <li>
          <ErrorBanner error={error} />
        </li>
      ) : null}
      {items.map((n) => (
        <TreeNode key={n.name} node={n} selected={props.selected} href={props.href} changed={props.changed} />
      ))}
      {next ? (
        <li>
          <button type="button" class="link" disabled={loading} onClick={() => void load(next, false)}>
            More {of.noun} of {parent.displayName}
          </button>
        </li>
      ) : null}
    </>
  );
}

/** kindTitle says what a node is ("Orchestrator service", "Project"). */
function kindTitle(node: ScopeNode): string {
  return node.kind === "SCOPE_KIND_SERVICE" && node.serviceType ? serviceTypeWord(node.serviceType) + " service" : kindWord(node.kind);
}

/** TreeNode is one node: a disclosure button, the link that selects it, and its children when open. */
function TreeNode(props: { node: ScopeNode; selected: string; href: (scope: string) => string; changed: Changed; root?: boolean }) {
  const { node, selected } = props;
  // The nodes on the way to the selected one are open, and so is the selected one.
  const onPath = selected.startsWith(node.name + "/") || selected === node.name;
  const [open, setOpen] = useState(!!props.root || onPath);
  const kinds = childKinds(node);
  const [empty, setEmpty] = useState<Record<string, boolean>>({});
  useEffect(() => {
    if (onPath) setOpen(true);
  }, [onPath]);
  // A node where something was just created opens to show it.
  useEffect(() => {
    if (props.changed.scope === node.name && props.changed.n > 0) setOpen(true);
  }, [props.changed, node.name]);
  const leaf = kinds.length === 0 || kinds.every((k) => empty[k.key]);
  return (
    <li>
      <div class="tree-row">
        {kinds.length > 0 && !leaf ? (
          <button
            type="button"
            class="tree-toggle"
            aria-expanded={open}
            aria-label={(open ? "Collapse " : "Expand ") + node.displayName}
            onClick={() => setOpen(!open)}
          >
            <span aria-hidden="true">{open ? "▾" : "▸"}</span>
          </button>
        ) : (
          <span class="tree-spacer" aria-hidden="true" />
        )}
        <Link href={props.href(node.name)} aria-current={node.name === selected ? "true" : undefined} title={kindTitle(node)}>
          {node.displayName}
        </Link>
      </div>
      {open && kinds.length > 0 ? (
        <ul>
          {kinds.map((k) => (
            <ChildList
              key={k.key}
              parent={node}
              of={k}
              selected={selected}
              href={props.href}
              changed={props.changed}
              onEmpty={(e) => setEmpty((old) => (old[k.key] === e ? old : { ...old, [k.key]: e }))}
            />
          ))}
        </ul>
      ) : null}
    </li>
  );
}

/**
 * ScopeTree is the scope picker under root (the organization): every node
 * links to href(its name); the selected one is marked. changed makes a
 * node read its children again (after one was created under it).
 */
export function ScopeTree(props: { root: ScopeNode; selected: string; href: (scope: string) => string; changed: Changed }) {
  return (
    <nav class="tree scope-tree" aria-label="Scopes">
      <ul>
        <TreeNode node={props.root} selected={props.selected} href={props.href} changed={props.changed} root />
      </ul>
    </nav>
  );
}
