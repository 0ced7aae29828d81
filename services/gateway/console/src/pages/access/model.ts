// Manage access's data: the shapes of the access and directory answers it
// reads, the scope tree's levels, and small caches of the names it shows
// (a principal's, a role's and a scope's display names), so that a page of
// assignments costs one read per principal it has not seen before.

import { get, type Page } from "../../api";

/** Level is a level of the scope tree, as access's roles and permissions carry it. */
export type Level = "LEVEL_ORGANIZATION" | "LEVEL_TENANT" | "LEVEL_SERVICE" | "LEVEL_FOLDER";

/** ScopeKind is a scope-tree node's kind, as the directory names it. */
export type ScopeKind =
  | "SCOPE_KIND_ORGANIZATION"
  | "SCOPE_KIND_TENANT"
  | "SCOPE_KIND_SERVICE"
  | "SCOPE_KIND_FOLDER"
  | "SCOPE_KIND_PROJECT";

/** ScopeNode is one node of the scope tree (ListScopeAncestors). */
export interface ScopeNode {
  name: string;
  kind: ScopeKind;
  displayName: string;
  serviceType?: string;
}

/** Permission is one (resource, action) pair of the catalogue. */
export interface Permission {
  name: string;
  resource: string;
  action: string;
  level: Level;
  serviceType?: string;
}

/** Role is a built-in or custom role. */
export interface Role {
  name: string;
  displayName: string;
  description?: string;
  level: Level;
  serviceType?: string;
  permissions?: string[];
  builtIn?: boolean;
  assignable?: boolean;
  createTime?: string;
  updateTime?: string;
  etag?: string;
}

/** PrincipalKind is the kind of principal an assignment or a holder names. */
export type PrincipalKind =
  | "PRINCIPAL_KIND_USER"
  | "PRINCIPAL_KIND_GROUP"
  | "PRINCIPAL_KIND_ROBOT_ACCOUNT"
  | "PRINCIPAL_KIND_EXTERNAL_APP";

/** RoleAssignment gives a principal a role at a scope. */
export interface RoleAssignment {
  name: string;
  principal: string;
  principalKind?: PrincipalKind;
  role: string;
  scope: string;
  builtIn?: boolean;
  /** Set when the assignment lives above and is only shown here (a tenant's platform role at a service). */
  platformRoleLabel?: string;
  creator?: string;
  createTime?: string;
}

/** Source is one way a principal holds a role at a scope (Explanation.sources). */
export interface Source {
  assignment: string;
  role: string;
  roleDisplayName?: string;
  scope: string;
  group?: string;
  groupDisplayName?: string;
  /** "at", "above" or "below" the explained scope. */
  position?: string;
  builtIn?: boolean;
}

/** Explanation is the Check permissions view of a principal at a scope. */
export interface Explanation {
  principal: string;
  scope: string;
  sources?: Source[];
  permissions?: Array<{ permission: string; sources?: number[] }>;
  status?: string;
}

/** HoldingSource is one way a holder holds a permission. */
export interface HoldingSource {
  assignment: string;
  role: string;
  roleDisplayName?: string;
  scope: string;
  group?: string;
  groupDisplayName?: string;
}

/** PermissionHolder is a principal holding a permission at a scope. */
export interface PermissionHolder {
  principal: string;
  principalKind?: PrincipalKind;
  displayName?: string;
  email?: string;
  sources?: HoldingSource[];
}

/** GrantableRole is a role that would allow a denied check, and who may grant it. */
export interface GrantableRole {
  role: string;
  displayName?: string;
  permissionCount?: number;
  builtIn?: boolean;
  grantors?: string[];
  grantorCount?: number;
}

/** PossibleGrant is a scope where granting one of roles would allow a denied check. */
export interface PossibleGrant {
  scope: string;
  roles?: GrantableRole[];
}

/** CheckResult is CheckPermission's answer. */
export interface CheckResult {
  allowed?: boolean;
  reason?: string;
  explanation?: Explanation;
  possibleGrants?: PossibleGrant[];
}

/** levelOfKind is the role level assigned at a node of that kind (projects are folder level). */
export function levelOfKind(kind: ScopeKind): Level {
  switch (kind) {
    case "SCOPE_KIND_ORGANIZATION":
      return "LEVEL_ORGANIZATION";
    case "SCOPE_KIND_TENANT":
      return "LEVEL_TENANT";
    case "SCOPE_KIND_SERVICE":
      return "LEVEL_SERVICE";
    default:
      return "LEVEL_FOLDER";
  }
}

const kindWords: Record<ScopeKind, string> = {
  SCOPE_KIND_ORGANIZATION: "Organization",
  SCOPE_KIND_TENANT: "Tenant",
  SCOPE_KIND_SERVICE: "Service",
  SCOPE_KIND_FOLDER: "Folder",
  SCOPE_KIND_PROJECT: "Project",
};

/** kindWord is a node kind in words ("Folder"). */
export function kindWord(kind: ScopeKind): string {
  return kindWords[kind] ?? "Scope";
}

const levelWords: Record<Level, string> = {
  LEVEL_ORGANIZATION: "Organization",
  LEVEL_TENANT: "Tenant",
  LEVEL_SERVICE: "Service",
  LEVEL_FOLDER: "Folder",
};

/** levelWord is a role level in words ("Folder"). */
export function levelWord(level: Level): string {
  return levelWords[level] ?? level;
}

/** Levels from the top of the tree down. */
export const levels: Level[] = ["LEVEL_ORGANIZATION", "LEVEL_TENANT", "LEVEL_SERVICE", "LEVEL_FOLDER"];

const principalKindWords: Record<PrincipalKind, string> = {
  PRINCIPAL_KIND_USER: "User",
  PRINCIPAL_KIND_GROUP: "Group",
  PRINCIPAL_KIND_ROBOT_ACCOUNT: "Robot account",
  PRINCIPAL_KIND_EXTERNAL_APP: "External app",
};

/** principalKindOfName reads a principal's kind from its resource name. */
export function principalKindOfName(name: string): PrincipalKind {
  const collection = name.split("/")[2];
  return collection === "groups"
    ? "PRINCIPAL_KIND_GROUP"
    : collection === "robotAccounts"
      ? "PRINCIPAL_KIND_ROBOT_ACCOUNT"
      : collection === "externalApps"
        ? "PRINCIPAL_KIND_EXTERNAL_APP"
        : "PRINCIPAL_KIND_USER";
}

/** principalKindWord is a principal kind in words ("Robot account"). */
export function principalKindWord(kind: PrincipalKind | undefined, name = ""): string {
  return principalKindWords[kind ?? principalKindOfName(name)] ?? "Principal";
}

/** serviceTypeWord spells a service type ("document-understanding" → "Document Understanding"). */
export function serviceTypeWord(type: string): string {
  return type
    .split("-")
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join(" ");
}

// The caches: a promise per name, forgotten when it fails so that a later
// render asks again.
function cached<T>(cache: Map<string, Promise<T>>, key: string, load: () => Promise<T>): Promise<T> {
  let p = cache.get(key);
  if (!p) {
    p = load();
    cache.set(key, p);
    p.catch(() => cache.delete(key));
  }
  return p;
}

let catalogue: Promise<Permission[]> | null = null;

/** permissionCatalogue is access's permission catalogue (ListPermissions), read once. */
export function permissionCatalogue(): Promise<Permission[]> {
  if (!catalogue) {
    catalogue = get<{ permissions?: Permission[] }>("permissions").then((r) => r.permissions ?? []);
    catalogue.catch(() => (catalogue = null));
  }
  return catalogue;
}

const ancestorCache = new Map<string, Promise<ScopeNode[]>>();
const nodeCache = new Map<string, ScopeNode>();

/** scopeAncestors is a node's chain from the organization down to itself. */
export function scopeAncestors(scope: string): Promise<ScopeNode[]> {
  return cached(ancestorCache, scope, async () => {
    const r = await get<{ nodes?: ScopeNode[] }>(`${scope}:listAncestors`);
    const nodes = r.nodes ?? [];
    nodes.forEach((n) => nodeCache.set(n.name, n));
    return nodes;
  });
}

/** scopeNode is one node with its display name (read with its ancestors). */
export async function scopeNode(scope: string): Promise<ScopeNode> {
  const known = nodeCache.get(scope);
  if (known) return known;
  const nodes = await scopeAncestors(scope);
  return nodes[nodes.length - 1];
}

/** PrincipalInfo is what the console shows of a principal. */
export interface PrincipalInfo {
  name: string;
  kind: PrincipalKind;
  displayName: string;
  email?: string;
}

const principalCache = new Map<string, Promise<PrincipalInfo>>();

/** principalInfo reads a user, group, robot account or external app once. */
export function principalInfo(name: string): Promise<PrincipalInfo> {
  return cached(principalCache, name, async () => {
    const p = await get<{ name: string; displayName?: string; nickname?: string; email?: string }>(name);
    return { name, kind: principalKindOfName(name), displayName: p.displayName || p.nickname || name, email: p.email };
  });
}

/** rememberPrincipal caches a principal the console already read (from a search). */
export function rememberPrincipal(info: PrincipalInfo) {
  principalCache.set(info.name, Promise.resolve(info));
}

const roleCache = new Map<string, Promise<Role>>();

/** roleInfo reads a role once. */
export function roleInfo(name: string): Promise<Role> {
  return cached(roleCache, name, () => get<Role>(name));
}

/** rememberRoles caches roles the console already read (from a list). */
export function rememberRoles(roles: Role[]) {
  roles.forEach((r) => roleCache.set(r.name, Promise.resolve(r)));
}

/** forgetRole drops a cached role (after it changed or was deleted). */
export function forgetRole(name: string) {
  roleCache.delete(name);
}

/** RoleQuery is the ListRoles filter of the roles that apply at a scope. */
export interface RoleQuery {
  level?: Level;
  serviceType?: string;
}

/**
 * rolesQueryAt is which roles apply at a node: the roles of its level, of
 * its service type below tenants; at a service also the folder roles of its
 * type, which may be assigned there and then hold in every folder.
 */
export function rolesQueryAt(node: ScopeNode): RoleQuery {
  const level = levelOfKind(node.kind);
  if (level === "LEVEL_SERVICE") return { serviceType: node.serviceType };
  if (level === "LEVEL_FOLDER") return { level, serviceType: node.serviceType };
  return { level };
}

/** listRoles reads one page of roles (built-in first, then custom by name). */
export async function listRoles(org: string, q: RoleQuery, pageToken: string, pageSize = 50): Promise<Page<"roles", Role>> {
  const r = await get<Page<"roles", Role>>(`${org}/roles`, { ...q, pageSize, pageToken });
  rememberRoles(r.roles ?? []);
  return r;
}

/** accessHref is the address of a Manage access tab at a scope, with more query parameters. */
export function accessHref(tab: string, scope: string, extra: Record<string, string | undefined> = {}): string {
  // Slashes are kept readable in the query (?scope=organizations/acme/tenants/t1).
  const enc = (v: string) => encodeURIComponent(v).replace(/%2F/g, "/");
  const q = Object.entries({ scope, ...extra })
    .filter(([, v]) => v)
    .map(([k, v]) => `${k}=${enc(v!)}`)
    .join("&");
  return `/access${tab ? "/" + tab : ""}${q ? "?" + q : ""}`;
}

/**
 * permissionsAt is the permissions worth asking about at a node: those of
 * the organization at the organization, of tenants at a tenant, and below
 * tenants those of the node's service type (service and folder levels),
 * which hold in the whole subtree where granted.
 */
export function permissionsAt(catalogue: Permission[], node: ScopeNode): Permission[] {
  const level = levelOfKind(node.kind);
  if (level === "LEVEL_ORGANIZATION" || level === "LEVEL_TENANT") return catalogue.filter((p) => p.level === level);
  return catalogue.filter((p) => p.serviceType === node.serviceType);
}
