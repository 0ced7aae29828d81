// The Check permissions tab (seed 003's User Permissions window): pick a
// user, robot account or group, and see every permission it holds at the
// scope with where each comes from — its own assignment or a group's, at
// this scope or above (ExplainPermissions). "Check one permission" asks
// CheckPermission with explain: allowed with the granting role, or denied
// with the grants that would allow it and who may make them ("why not").

import { useMemo, useState } from "preact/hooks";
import { get, post } from "../../api";
import { navigate } from "../../router";
import { Badge, ErrorBanner, Form, Link } from "../../ui/components";
import { useAsync } from "../../ui/hooks";
import { PrincipalPicker } from "../../ui/access-principal-picker";
import { Check, NotHeld, PermissionMatrix, matrixSections } from "../../ui/access-matrix";
import type { TabProps } from "./index";
import { PrincipalName, RoleName, ScopeName } from "./names";
import { PermissionSelect } from "./permission-select";
import { accessHref, permissionCatalogue, principalKindWord, type CheckResult, type Explanation, type ScopeNode, type Source } from "./model";

/** CheckTab asks whose permissions to check, then explains them at the scope. */
export function CheckTab({ org, node, loc }: TabProps) {
  const principal = loc.query.get("principal") ?? "";
  if (!principal) {
    return (
      <section aria-labelledby="check-h">
        <h2 id="check-h">Check permissions at {node.displayName}</h2>
        <p class="muted">Choose a user, robot account or group to see every permission it holds here, and where each one comes from.</p>
        <PrincipalPicker
          org={org}
          offer={["users", "robotAccounts", "groups"]}
          onPick={(p) => navigate(accessHref("check", node.name, { principal: p.name }))}
        />
      </section>
    );
  }
  return <Explained node={node} principal={principal} below={loc.query.get("below") === "1"} permission={loc.query.get("permission") ?? ""} />;
}

const positionWords: Record<string, string> = {
  at: "Here",
  above: "Above: holds here",
  below: "Below: holds only there",
};

function Through({ s, node }: { s: Source; node: ScopeNode }) {
  if (!s.group) return <>Own assignment</>;
  return (
    <>
      Group{" "}
      <Link href={accessHref("check", node.name, { principal: s.group })} title={s.group}>
        {s.groupDisplayName || s.group}
      </Link>
    </>
  );
}

function Explained({ node, principal, below, permission }: { node: ScopeNode; principal: string; below: boolean; permission: string }) {
  const ex = useAsync(
    () => get<Explanation>(`${principal}:explainPermissions`, { scope: node.name, subtree: below || undefined }),
    [principal, node.name, below],
  );
  const cat = useAsync(permissionCatalogue, []);
  const sourcesOf = useMemo(() => new Map((ex.data?.permissions ?? []).map((p) => [p.permission, p.sources ?? []])), [ex.data]);
  // Rows are the resources of which anything is held, with all four
  // actions; inside a service, other service types' resources are left out
  // (an Owner holds them everywhere, but they mean nothing here).
  const sections = useMemo(() => {
    if (!cat.data) return [];
    const here = cat.data.filter((p) => !node.serviceType || !p.serviceType || p.serviceType === node.serviceType);
    const resources = new Set(here.filter((p) => sourcesOf.has(p.name)).map((p) => p.resource));
    return matrixSections(here, (p) => resources.has(p.resource));
  }, [cat.data, sourcesOf, node.serviceType]);
  const sources = ex.data?.sources ?? [];
  return (
    <section aria-labelledby="explained-h">
      <div class="section-head">
        <h2 id="explained-h">
          Permissions of <PrincipalName name={principal} /> at {node.displayName}
        </h2>
        <span class="muted">{principalKindWord(undefined, principal)}</span>
        <Link class="button" href={accessHref("check", node.name)}>
          Check someone else
        </Link>
      </div>
      <label class="inline-check">
        <input
          type="checkbox"
          checked={below}
          onChange={(e) =>
            navigate(
              accessHref("check", node.name, {
                principal,
                permission: permission || undefined,
                below: (e.currentTarget as HTMLInputElement).checked ? "1" : undefined,
              }),
              true,
            )
          }
        />{" "}
        Also list roles held below this scope
      </label>
      <ErrorBanner error={ex.error || cat.error} />
      {ex.data?.status ? (
        <p class="warning" role="status">
          {ex.data.status}
        </p>
      ) : null}
      {ex.data ? (
        <>
          <h3>Where the rights come from</h3>
          <div class="table-wrap">
            <table>
              <caption class="visually-hidden">Roles that give the rights</caption>
              <thead>
                <tr>
                  <th scope="col" class="num">
                    #
                  </th>
                  <th scope="col">Role</th>
                  <th scope="col">Assigned at</th>
                  <th scope="col">Through</th>
                  <th scope="col">Position</th>
                </tr>
              </thead>
              <tbody>
                {sources.map((s, i) => (
                  <tr key={s.assignment + s.group}>
                    <td class="num">{i + 1}</td>
                    <td>
                      <RoleName name={s.role} scope={s.scope} />
                      {s.builtIn ? (
                        <>
                          {" "}
                          <Badge>Built-in</Badge>
                        </>
                      ) : null}
                    </td>
                    <td>
                      <ScopeName name={s.scope} tab="assignments" />
                    </td>
                    <td>
                      <Through s={s} node={node} />
                    </td>
                    <td>{positionWords[s.position ?? ""] ?? s.position}</td>
                  </tr>
                ))}
                {sources.length === 0 ? (
                  <tr>
                    <td colSpan={5} class="empty">
                      No role is held here.
                    </td>
                  </tr>
                ) : null}
              </tbody>
            </table>
          </div>
          <CheckOne node={node} principal={principal} below={below} permission={permission} />
          <h3>Permissions held here</h3>
          <p class="muted">The numbers in a cell are the roles above that grant it.</p>
          {sections.length > 0 ? (
            <PermissionMatrix
              caption="Permissions held here"
              sections={sections}
              headingLevel={4}
              cell={(p) => {
                const from = sourcesOf.get(p.name);
                return from ? (
                  <>
                    <Check />{" "}
                    <span class="refs">
                      <span class="visually-hidden">from roles </span>
                      {from.map((i) => i + 1).join(", ")}
                    </span>
                  </>
                ) : (
                  <NotHeld />
                );
              }}
            />
          ) : (
            <p class="muted">No permission is held here.</p>
          )}
        </>
      ) : ex.loading ? (
        <p class="muted">Loading…</p>
      ) : null}
    </section>
  );
}

/** CheckOne asks about one permission and, when it is denied, says what would grant it. */
function CheckOne({ node, principal, below, permission }: { node: ScopeNode; principal: string; below: boolean; permission: string }) {
  const [result, setResult] = useState<{ permission: string; r: CheckResult } | null>(null);
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const check = async () => {
    if (!permission) return;
    setBusy(true);
    try {
      const r = await post<CheckResult>(`${principal}:checkPermission`, { permission, scope: node.name, explain: true });
      setResult({ permission, r });
      setError(undefined);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  const shown = result && result.permission === permission ? result.r : null;
  return (
    <section aria-labelledby="check-one-h">
      <h3 id="check-one-h">Check one permission</h3>
      <Form onSubmit={check} label="Check one permission" class="form inline">
        <PermissionSelect
          node={node}
          value={permission}
          onInput={(v) => navigate(accessHref("check", node.name, { principal, below: below ? "1" : undefined, permission: v || undefined }), true)}
        />
        <button type="submit" class="primary" disabled={busy || !permission}>
          Check
        </button>
      </Form>
      <ErrorBanner error={error} />
      {shown ? (
        shown.allowed ? (
          <p class="notice" role="status">
            <strong>Allowed.</strong> {shown.reason}
          </p>
        ) : (
          <>
            <p class="warning" role="status">
              <strong>Not allowed.</strong> {shown.reason}
            </p>
            <WhyNot grants={shown.possibleGrants ?? []} />
          </>
        )
      ) : null}
    </section>
  );
}

/** WhyNot lists the grants that would allow a denied check: where, which role, and who may make it. */
function WhyNot({ grants }: { grants: NonNullable<CheckResult["possibleGrants"]> }) {
  const rows = grants.flatMap((g) => (g.roles ?? []).map((r) => ({ scope: g.scope, r })));
  if (rows.length === 0) return <p class="muted">No role assignable here or above would grant it.</p>;
  return (
    <>
      <h4>What would allow it</h4>
      <div class="table-wrap">
        <table>
          <caption class="visually-hidden">Grants that would allow it</caption>
          <thead>
            <tr>
              <th scope="col">Assign at</th>
              <th scope="col">Role</th>
              <th scope="col" class="num">
                Permissions in the role
              </th>
              <th scope="col">Who may grant it</th>
            </tr>
          </thead>
          <tbody>
            {rows.map(({ scope, r }) => (
              <tr key={scope + r.role}>
                <td>
                  <ScopeName name={scope} tab="assignments" />
                </td>
                <td>
                  <RoleName name={r.role} scope={scope} />
                  {r.builtIn ? (
                    <>
                      {" "}
                      <Badge>Built-in</Badge>
                    </>
                  ) : null}
                </td>
                <td class="num">{r.permissionCount ?? 0}</td>
                <td>
                  {(r.grantors ?? []).length === 0 ? <span class="muted">Nobody</span> : null}
                  <ul class="plain">
                    {(r.grantors ?? []).map((g) => (
                      <li key={g}>
                        <PrincipalName name={g} />
                      </li>
                    ))}
                  </ul>
                  {(r.grantorCount ?? 0) > (r.grantors ?? []).length ? (
                    <span class="muted small">and {(r.grantorCount ?? 0) - (r.grantors ?? []).length} more</span>
                  ) : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}
