// The scope picker: the organization's scope tree (organization → tenants →
// services → folders and subfolders, or projects) as the directory lists
// it, shown with the console's lazily loaded tree (tree.tsx): a node's
// children are read when it is opened, a page at a time, so that a large
// organization is never read whole. The nodes on the way to the selected
// scope open by themselves.

import { useEffect, useRef } from "preact/hooks";
import { get } from "../api";
import { navigate } from "../router";
import { Tree, useTreeModel, type TreePage } from "./tree";
import type { ScopeKind, ScopeNode } from "../pages/access/model";
import { kindWord, scopeNode, serviceTypeWord } from "../pages/access/model";

const pageSize = 50;

/** Changed names a node whose children changed (n grows with every change). */
export interface Changed {
  scope: string;
  n: number;
}

interface Listed {
  name: string;
  displayName?: string;
  type?: string;
}

/** listChildren reads one page of a collection below parent as scope nodes. */
async function listChildren(parent: ScopeNode, collection: string, kind: ScopeKind, token: string): Promise<TreePage<ScopeNode>> {
  const r = await get<Record<string, Listed[] | string | undefined>>(`${parent.name}/${collection}`, { pageSize, pageToken: token });
  const items = ((r[collection] as Listed[] | undefined) ?? []).map(
    (x): ScopeNode => ({
      name: x.name,
      kind,
      displayName: x.displayName || x.name.split("/").pop()!,
      serviceType: x.type ?? parent.serviceType,
    }),
  );
  return { items, nextPageToken: (r.nextPageToken as string | undefined) || undefined };
}

// An Orchestrator service holds folders and projects: its children are its
// folders, page after page, then its projects. The page token says which
// ("f:…" or "p:…"); the last page of folders comes with the first of projects.
const folderToken = "f:";
const projectToken = "p:";

async function serviceChildren(service: ScopeNode, token: string): Promise<TreePage<ScopeNode>> {
  if (service.serviceType !== "orchestrator" || token.startsWith(projectToken)) {
    const p = await listChildren(service, "projects", "SCOPE_KIND_PROJECT", token.slice(projectToken.length));
    return { items: p.items, nextPageToken: p.nextPageToken && projectToken + p.nextPageToken };
  }
  const f = await listChildren(service, "folders", "SCOPE_KIND_FOLDER", token.slice(folderToken.length));
  if (f.nextPageToken) return { items: f.items, nextPageToken: folderToken + f.nextPageToken };
  const p = await listChildren(service, "projects", "SCOPE_KIND_PROJECT", "");
  return { items: [...f.items, ...p.items], nextPageToken: p.nextPageToken && projectToken + p.nextPageToken };
}

/** children reads a page of what lies below a node. */
function children(node: ScopeNode, token: string): Promise<TreePage<ScopeNode>> {
  switch (node.kind) {
    case "SCOPE_KIND_ORGANIZATION":
      return listChildren(node, "tenants", "SCOPE_KIND_TENANT", token);
    case "SCOPE_KIND_TENANT":
      return listChildren(node, "services", "SCOPE_KIND_SERVICE", token);
    case "SCOPE_KIND_SERVICE":
      return serviceChildren(node, token);
    case "SCOPE_KIND_FOLDER":
      return listChildren(node, "folders", "SCOPE_KIND_FOLDER", token);
    default:
      return Promise.resolve({ items: [] });
  }
}

/** kindTitle says what a node is ("Orchestrator service", "Project"). */
function kindTitle(node: ScopeNode): string {
  return node.kind === "SCOPE_KIND_SERVICE" && node.serviceType ? serviceTypeWord(node.serviceType) + " service" : kindWord(node.kind);
}

/** pathTo is the names of the nodes from the organization down to scope. */
function pathTo(scope: string): string[] {
  const parts = scope.split("/");
  const out: string[] = [];
  for (let i = 2; i <= parts.length; i += 2) out.push(parts.slice(0, i).join("/"));
  return out;
}

/**
 * ScopeTree is the scope picker under root (the organization): every node
 * links to href(its name); the selected one is marked and open, and so
 * are the nodes above it. changed makes a node read its children again (after one
 * was created under it).
 */
export function ScopeTree(props: { root: ScopeNode; selected: string; href: (scope: string) => string; changed: Changed }) {
  // The nodes loaded so far, for their kind and service type.
  const known = useRef(new Map<string, ScopeNode>([[props.root.name, props.root]]));
  const model = useTreeModel<ScopeNode>(
    async (parent, token) => {
      if (!parent) return { items: [props.root] };
      // A node opened before its parent's children are read (the way to
      // the selected scope) is read with its ancestors.
      const node = known.current.get(parent) ?? (await scopeNode(parent));
      const page = await children(node, token);
      page.items.forEach((n) => known.current.set(n.name, n));
      return page;
    },
    (n) => n.name,
    props.root.name,
    pathTo(props.selected),
  );
  // Selecting a node elsewhere (a link, the breadcrumb) opens the way to it, and it.
  useEffect(() => {
    for (const a of pathTo(props.selected)) model.setOpen(a, true);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [props.selected]);
  useEffect(() => {
    if (props.changed.n === 0) return;
    model.reload(props.changed.scope);
    model.setOpen(props.changed.scope, true);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [props.changed]);
  return (
    <nav class="scope-tree" aria-label="Scope picker">
      <Tree
        model={model}
        label="Scopes"
        selected={props.selected}
        hrefOf={(n) => props.href(n.name)}
        onSelect={(n) => navigate(props.href(n.name))}
        render={(n) => <span title={kindTitle(n)}>{n.displayName}</span>}
      />
    </nav>
  );
}
