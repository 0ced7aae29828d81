// Manage access (issue 16 point 4): the same page at every scope of the tree
// (seed 002) — organization, tenant, service, folder, project. The scope
// picker on the left selects the scope (?scope=organizations/acme/…), the
// tabs on the right are its Roles, Role assignments, Check permissions
// (seed 003) and Who can (the access review). /access alone is the
// organization's role assignments.

import "./access.css";
import { useState } from "preact/hooks";
import type { PageProps } from "../../app";
import { currentSession } from "../../session";
import { navigate } from "../../router";
import { Badge, ErrorBanner, Link, PageHeader, Tabs } from "../../ui/components";
import { useAsync } from "../../ui/hooks";
import { ScopeTree, type Changed } from "../../ui/access-scope-tree";
import { accessHref, kindWord, scopeAncestors, serviceTypeWord, type ScopeNode } from "./model";
import { NewScopeButtons } from "./scopes";
import { RolesTab } from "./roles";
import { AssignmentsTab } from "./assignments";
import { CheckTab } from "./check";
import { WhoCanTab } from "./who";

/** TabProps are what every tab gets: the organization, the scope and the location. */
export interface TabProps extends PageProps {
  org: string;
  node: ScopeNode;
}

const tabs: Array<[string, string]> = [
  ["roles", "Roles"],
  ["assignments", "Role assignments"],
  ["check", "Check permissions"],
  ["who", "Who can"],
];

/** Breadcrumb is the way from the organization down to the scope, each step a link. */
function Breadcrumb({ nodes, tab }: { nodes: ScopeNode[]; tab: string }) {
  return (
    <nav aria-label="Scope path" class="breadcrumb">
      <ol>
        {nodes.map((n, i) => (
          <li>
            {i === nodes.length - 1 ? (
              <span aria-current="location">{n.displayName}</span>
            ) : (
              <Link href={accessHref(tab, n.name)}>{n.displayName}</Link>
            )}
          </li>
        ))}
      </ol>
    </nav>
  );
}

/** AccessPage is the Manage access section. */
export function AccessPage({ loc }: PageProps) {
  const org = currentSession()!.organization;
  const asked = loc.query.get("scope") ?? "";
  const scope = asked === org || asked.startsWith(org + "/") ? asked : org;
  const sub = loc.path.split("/")[2] ?? "";
  const tab = tabs.some(([t]) => t === sub) ? sub : "assignments";
  const [changed, setChanged] = useState<Changed>({ scope: "", n: 0 });
  const chain = useAsync(() => scopeAncestors(scope), [scope]);
  const rootNode = useAsync(() => scopeAncestors(org).then((n) => n[0]), [org]);
  const nodes = chain.data ?? [];
  // While another scope's chain loads, the last one's is not shown as this one's.
  const node = nodes[nodes.length - 1]?.name === scope ? nodes[nodes.length - 1] : undefined;

  const props: TabProps | null = node ? { loc, org, node } : null;
  return (
    <div class="access-page">
      <PageHeader title="Manage access">
        {node ? (
          <NewScopeButtons
            node={node}
            onCreated={(created) => {
              setChanged((c) => ({ scope: node.name, n: c.n + 1 }));
              navigate(accessHref(tab, created));
            }}
          />
        ) : null}
      </PageHeader>
      <div class="split access">
        <div class="access-tree">
          <ErrorBanner error={rootNode.error} />
          {rootNode.data ? <ScopeTree root={rootNode.data} selected={scope} href={(s) => accessHref(tab, s)} changed={changed} /> : null}
        </div>
        <div class="access-main">
          <ErrorBanner error={chain.error} />
          {node ? (
            <div class="scope-head">
              <Breadcrumb nodes={nodes} tab={tab} />
              <Badge tone="info">
                {kindWord(node.kind)}
                {node.serviceType ? " · " + serviceTypeWord(node.serviceType) : ""}
              </Badge>
            </div>
          ) : null}
          <Tabs label="Manage access" tabs={tabs.map(([t, text]) => [accessHref(t, scope), text])} current={accessHref(tab, scope)} />
          {props ? (
            tab === "roles" ? (
              <RolesTab {...props} />
            ) : tab === "check" ? (
              <CheckTab {...props} />
            ) : tab === "who" ? (
              <WhoCanTab {...props} />
            ) : (
              <AssignmentsTab {...props} />
            )
          ) : chain.loading ? (
            <p class="muted">Loading…</p>
          ) : null}
        </div>
      </div>
    </div>
  );
}
