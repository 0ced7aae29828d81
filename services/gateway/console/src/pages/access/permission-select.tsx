// Choosing a permission to ask about at a scope (Who can, and Check one
// permission): a resource, grouped by level as in the matrix, and an
// action, among the catalogue's permissions that apply there.

import { useMemo, useRef } from "preact/hooks";
import { ErrorBanner } from "../../ui/components";
import { useAsync } from "../../ui/hooks";
import { actionLabel, matrixActions, matrixSections } from "../../ui/access-matrix";
import { permissionCatalogue, permissionsAt, type ScopeNode } from "./model";

let seq = 0;

/**
 * PermissionSelect is the labelled Resource and Action selects of the
 * permissions that apply at node; value and onInput are the permission's
 * wire name ("orchestrator.jobs.create"), "" until both are chosen.
 */
export function PermissionSelect({ node, value, onInput }: { node: ScopeNode; value: string; onInput: (v: string) => void }) {
  const id = useRef("");
  if (!id.current) id.current = `perm-${++seq}`;
  const cat = useAsync(permissionCatalogue, []);
  const sections = useMemo(() => {
    if (!cat.data) return [];
    const here = new Set(permissionsAt(cat.data, node).map((p) => p.name));
    return matrixSections(cat.data, (p) => here.has(p.name));
  }, [cat.data, node]);
  const dot = value.lastIndexOf(".");
  const resource = dot > 0 ? value.slice(0, dot) : "";
  const action = dot > 0 ? value.slice(dot + 1) : "view";
  const choose = (r: string, a: string) => onInput(r ? `${r}.${a}` : "");
  return (
    <>
      <ErrorBanner error={cat.error} />
      <div class="field">
        <label for={id.current + "-r"}>Resource</label>
        <select id={id.current + "-r"} value={resource} onChange={(e) => choose((e.currentTarget as HTMLSelectElement).value, action)}>
          <option value="">Choose a resource…</option>
          {sections.map((s) => (
            <optgroup label={s.title}>
              {s.rows.map((row) => (
                <option value={row.resource}>{row.label}</option>
              ))}
            </optgroup>
          ))}
        </select>
      </div>
      <div class="field">
        <label for={id.current + "-a"}>Action</label>
        <select id={id.current + "-a"} value={action} onChange={(e) => choose(resource, (e.currentTarget as HTMLSelectElement).value)}>
          {matrixActions.map((a) => (
            <option value={a}>{actionLabel(a)}</option>
          ))}
        </select>
      </div>
    </>
  );
}
