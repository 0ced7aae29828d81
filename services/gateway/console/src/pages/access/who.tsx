// The Who can tab (the access review): who holds a permission at the scope
// (ListPermissionHolders), each with every way it holds it — its own
// assignment or a group's, here or above — a page at a time, and the whole
// answer as a CSV file (ExportPermissionHolders). Principals that would hold
// it but are not active are listed apart.

import { useState } from "preact/hooks";
import { download, get } from "../../api";
import { navigate } from "../../router";
import { DataTable, ErrorBanner, Link, type Column } from "../../ui/components";
import { useAsync, usePager } from "../../ui/hooks";
import type { TabProps } from "./index";
import { RoleName, ScopeName } from "./names";
import { PermissionSelect } from "./permission-select";
import { accessHref, principalKindWord, type PermissionHolder, type ScopeNode } from "./model";

const pageSize = 25;

interface HoldersPage {
  holders?: PermissionHolder[];
  inactive?: PermissionHolder[];
  nextPageToken?: string;
}

function columns(node: ScopeNode): Column<PermissionHolder>[] {
  return [
    {
      title: "Member",
      render: (h) => (
        <Link href={accessHref("check", node.name, { principal: h.principal })} title={h.principal}>
          {h.displayName || h.principal}
        </Link>
      ),
    },
    { title: "Kind", render: (h) => principalKindWord(h.principalKind, h.principal) },
    { title: "Email", render: (h) => h.email ?? "" },
    {
      title: "How",
      render: (h) => (
        <ul class="plain">
          {(h.sources ?? []).map((s) => (
            <li key={s.assignment + s.group}>
              <RoleName name={s.role} scope={s.scope} /> at <ScopeName name={s.scope} tab="assignments" />
              {s.group ? <span class="muted">, through group {s.groupDisplayName || s.group}</span> : <span class="muted">, own assignment</span>}
            </li>
          ))}
        </ul>
      ),
    },
  ];
}

/** WhoCanTab answers "who can do P here" for a permission chosen from the catalogue. */
export function WhoCanTab({ node, loc }: TabProps) {
  const permission = loc.query.get("permission") ?? "";
  const pager = usePager(node.name + "\n" + permission);
  const holders = useAsync(
    async () =>
      permission
        ? get<HoldersPage>(`${node.name}:listPermissionHolders`, { permission, pageSize, pageToken: pager.token })
        : undefined,
    [node.name, permission, pager.token],
  );
  const [exportError, setExportError] = useState<unknown>();
  const [exporting, setExporting] = useState(false);
  const exportCsv = async () => {
    setExporting(true);
    try {
      await download(`${node.name}:exportPermissionHolders`, `who-can-${permission}-${node.name.split("/").slice(-1)[0]}.csv`, { permission });
      setExportError(undefined);
    } catch (e) {
      setExportError(e);
    } finally {
      setExporting(false);
    }
  };
  const inactive = holders.data?.inactive ?? [];
  return (
    <section aria-labelledby="who-h">
      <h2 id="who-h">Who can do it at {node.displayName}</h2>
      <p class="muted">Everyone who holds a permission here, through their own roles or their groups', at this scope or above.</p>
      <div class="filters">
        <PermissionSelect node={node} value={permission} onInput={(v) => navigate(accessHref("who", node.name, { permission: v || undefined }), true)} />
        {permission ? (
          <button type="button" onClick={exportCsv} disabled={exporting}>
            Download CSV
          </button>
        ) : null}
      </div>
      <ErrorBanner error={exportError} />
      {permission ? (
        <>
          <DataTable<PermissionHolder>
            caption={`Who holds ${permission} at ${node.displayName}`}
            rows={holders.data?.holders}
            loading={holders.loading}
            error={holders.error}
            pager={pager}
            nextPageToken={holders.data?.nextPageToken}
            rowKey={(h) => h.principal}
            empty="Nobody holds it here."
            columns={columns(node)}
          />
          {inactive.length > 0 ? (
            <>
              <h3>Not active</h3>
              <p class="muted">Their roles would grant it, but they are deactivated: they do not hold it.</p>
              <DataTable<PermissionHolder>
                caption={`Inactive principals whose roles would grant ${permission}`}
                rows={inactive}
                rowKey={(h) => h.principal}
                columns={columns(node)}
              />
            </>
          ) : null}
        </>
      ) : (
        <p class="muted">Choose a permission to see who holds it here.</p>
      )}
    </section>
  );
}
