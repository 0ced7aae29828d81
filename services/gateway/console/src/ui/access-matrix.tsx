// The permission matrix of seed 001: one row per resource, one column per
// action (View, Edit, Create, Delete), grouped in sections by level and
// service type (Organization, Tenant, Orchestrator service, Orchestrator
// folders…). What a cell shows is the caller's: a check mark where a role
// holds the permission, a checkbox when a role is being made, the sources of
// a right in the Check permissions view.

import type { ComponentChildren } from "preact";
import type { Level, Permission } from "../pages/access/model";
import { levels, serviceTypeWord } from "../pages/access/model";

/** The four actions of the catalogue, in the matrix's column order. */
export const matrixActions = ["view", "edit", "create", "delete"] as const;

/** MatrixRow is one resource and its permission per action. */
export interface MatrixRow {
  resource: string;
  label: string;
  perms: Partial<Record<string, Permission>>;
}

/** MatrixSection is the resources of one level (and service type). */
export interface MatrixSection {
  key: string;
  title: string;
  level: Level;
  serviceType: string;
  rows: MatrixRow[];
}

const acronyms: Record<string, string> = { api: "API" };

function words(part: string): string {
  return part
    .split("_")
    .map((w) => acronyms[w] ?? w.charAt(0).toUpperCase() + w.slice(1))
    .join(" ");
}

/**
 * resourceLabel says a resource as seed 001 does: "services.usage_trend" is
 * "Services > Usage Trend", "orchestrator.storage_buckets" is "Storage
 * Buckets" (the section names the service type), "tenant.users" is "Users".
 */
export function resourceLabel(p: Pick<Permission, "resource" | "level" | "serviceType">): string {
  let r = p.resource;
  if (p.serviceType && r.startsWith(p.serviceType + ".")) r = r.slice(p.serviceType.length + 1);
  else if (p.level === "LEVEL_TENANT" && r.startsWith("tenant.")) r = r.slice("tenant.".length);
  return r.split(".").map(words).join(" > ");
}

/** actionLabel is an action in words ("Create"). */
export function actionLabel(action: string): string {
  return action.charAt(0).toUpperCase() + action.slice(1);
}

/** permissionLabel says a permission in words: "Jobs: Create". */
export function permissionLabel(p: Permission): string {
  return `${resourceLabel(p)}: ${actionLabel(p.action)}`;
}

function sectionTitle(level: Level, serviceType: string): string {
  switch (level) {
    case "LEVEL_ORGANIZATION":
      return "Organization";
    case "LEVEL_TENANT":
      return "Tenant";
    case "LEVEL_SERVICE": {
      const w = serviceTypeWord(serviceType);
      return w.endsWith(" Service") ? w : w + " service";
    }
    default:
      return serviceTypeWord(serviceType) + " folders";
  }
}

/**
 * matrixSections groups the permissions keep accepts into sections and rows,
 * in catalogue order (organization, tenant, then per service type its
 * service and folder resources).
 */
export function matrixSections(catalogue: Permission[], keep: (p: Permission) => boolean): MatrixSection[] {
  const sections: MatrixSection[] = [];
  const byKey = new Map<string, MatrixSection>();
  const rows = new Map<string, MatrixRow>();
  for (const p of catalogue) {
    if (!keep(p)) continue;
    const st = p.serviceType ?? "";
    const key = p.level + "/" + st;
    let s = byKey.get(key);
    if (!s) {
      s = { key, title: sectionTitle(p.level, st), level: p.level, serviceType: st, rows: [] };
      byKey.set(key, s);
      sections.push(s);
    }
    let row = rows.get(p.resource);
    if (!row) {
      row = { resource: p.resource, label: resourceLabel(p), perms: {} };
      rows.set(p.resource, row);
      s.rows.push(row);
    }
    row.perms[p.action] = p;
  }
  return sections;
}

/**
 * permissionsBelow keeps the permissions a role of level (and service type)
 * may hold: those of its level and the levels below, of its service type
 * when it has one.
 */
export function permissionsBelow(level: Level, serviceType: string | undefined) {
  const top = levels.indexOf(level);
  return (p: Permission) => levels.indexOf(p.level) >= top && (!serviceType || !p.serviceType || p.serviceType === serviceType);
}

/** Check is a check mark that says "Yes" to a screen reader. */
export function Check() {
  return (
    <>
      <span aria-hidden="true" class="held">
        ✓
      </span>
      <span class="visually-hidden">Yes</span>
    </>
  );
}

/** NotHeld is the empty cell, "No" to a screen reader. */
export function NotHeld() {
  return (
    <>
      <span aria-hidden="true" class="not-held">
        –
      </span>
      <span class="visually-hidden">No</span>
    </>
  );
}

/**
 * PermissionMatrix shows sections as seed 001's tables. cell renders one
 * permission's cell. With collapsible, each section is a disclosure, open
 * when open(section) says so.
 */
export function PermissionMatrix(props: {
  caption: string;
  sections: MatrixSection[];
  cell: (p: Permission, row: MatrixRow, section: MatrixSection) => ComponentChildren;
  collapsible?: boolean;
  open?: (s: MatrixSection) => boolean;
  /** The sections' heading level (3 unless the matrix sits under an h3). */
  headingLevel?: 3 | 4;
}) {
  const H = props.headingLevel === 4 ? "h4" : "h3";
  return (
    <div class="matrix-sections">
      {props.sections.map((s) => {
        const table = (
          <div class="table-wrap">
            <table class="matrix">
              <caption class="visually-hidden">
                {props.caption}: {s.title}
              </caption>
              <thead>
                <tr>
                  <th scope="col">Resource</th>
                  {matrixActions.map((a) => (
                    <th scope="col">{actionLabel(a)}</th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {s.rows.map((row) => (
                  <tr key={row.resource}>
                    <th scope="row">{row.label}</th>
                    {matrixActions.map((a) => {
                      const p = row.perms[a];
                      return <td>{p ? props.cell(p, row, s) : <span class="muted">n/a</span>}</td>;
                    })}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        );
        return props.collapsible ? (
          <details key={s.key} open={props.open?.(s)}>
            <summary>{s.title}</summary>
            {table}
          </details>
        ) : (
          <section key={s.key} aria-label={s.title}>
            <H>{s.title}</H>
            {table}
          </section>
        );
      })}
    </div>
  );
}
