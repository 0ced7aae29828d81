// The directory's resources as the JSON gateway returns them
// (proto/steward/directory/v1, lowerCamelCase, enums as strings), and the
// few calls the Members pages share.

import { ApiError, Code, get, post } from "../../api";
import { currentSession } from "../../session";

/** Department is a node of the department tree. */
export interface Department {
  name: string;
  displayName?: string;
  parentDepartment?: string;
  root?: boolean;
  createTime?: string;
  etag?: string;
}

/** User is a person's account. */
export interface User {
  name: string;
  nickname?: string;
  email?: string;
  displayName?: string;
  department?: string;
  externalSubject?: string;
  state?: string;
  provisioning?: string;
  mfaRequired?: boolean;
  concurrentExecutionAllowed?: boolean;
  owner?: boolean;
  totpEnrolled?: boolean;
  lastSignInTime?: string;
  createTime?: string;
  etag?: string;
}

/** Group is a set of users roles can be assigned to. */
export interface Group {
  name: string;
  displayName?: string;
  description?: string;
  kind?: string;
  defaultGroup?: string;
  createTime?: string;
  etag?: string;
}

/** Membership says a user is in a group. */
export interface Membership {
  group: string;
  member: string;
  implicit?: boolean;
  createTime?: string;
}

/** Robot is an on-premises machine running the robot client. */
export interface Robot {
  name: string;
  displayName?: string;
  machineName?: string;
  description?: string;
  robotAccount?: string;
  createTime?: string;
  etag?: string;
}

/** RobotAccount is a non-human principal robots run as. */
export interface RobotAccount {
  name: string;
  displayName?: string;
  description?: string;
  robot?: string;
  createTime?: string;
  etag?: string;
}

/** ExternalApp is a third-party application with API keys. */
export interface ExternalApp {
  name: string;
  displayName?: string;
  description?: string;
  createTime?: string;
  etag?: string;
}

/** ApiKey is a credential of a robot account or external app (no secret). */
export interface ApiKey {
  name: string;
  displayName?: string;
  prefix?: string;
  expireTime?: string;
  createTime?: string;
  lastUsedTime?: string;
  revokeTime?: string;
  creator?: string;
}

/** How many rows a list shows per page. */
export const pageSize = 25;

/** org is the signed-in organization's resource name. */
export function org(): string {
  return currentSession()!.organization;
}

/** child is the resource name of id in collection ("users") of the organization. */
export function child(collection: string, id: string): string {
  return `${org()}/${collection}/${id}`;
}

/** rootDepartment is the root department: sign-up gives it the ID "root". */
export function rootDepartment(): string {
  return child("departments", "root");
}

/** userLabel is how a user is named in the console. */
export function userLabel(u: User): string {
  return u.displayName || u.nickname || u.email || u.name;
}

/** requestId is a fresh idempotency key (AIP-155) for one create. */
export function requestId(): string {
  return crypto.randomUUID();
}

/**
 * slugId derives a resource ID from a display name ("Finance" → "finance"),
 * so that URLs read well and lists, ordered by name, come out alphabetical;
 * "" when the name gives none (the server then chooses).
 */
function slugId(displayName: string): string {
  const s = displayName
    .normalize("NFKD")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 63)
    .replace(/-+$/, "");
  return /^[a-z]/.test(s) ? s : "";
}

/**
 * createNamed creates a resource under path with the ID slugId(displayName)
 * (idField is the request's ID field); when that ID is taken it lets the
 * server choose one instead.
 */
export async function createNamed<T>(path: string, idField: string, displayName: string, body: unknown): Promise<T> {
  const id = slugId(displayName);
  if (id) {
    try {
      return await post<T>(path, body, { [idField]: id, requestId: requestId() });
    } catch (e) {
      if (!(e instanceof ApiError && e.code === Code.AlreadyExists && (e.reason === "ALREADY_EXISTS" || !e.reason))) throw e;
    }
  }
  return post<T>(path, body, { requestId: requestId() });
}

// Department names are shown next to many rows (a user's department): they
// are read once per session and page, not once per row.
const departmentCache = new Map<string, Promise<Department>>();

/** departmentOf reads a department, sharing reads of the same one. */
export function departmentOf(name: string): Promise<Department> {
  let p = departmentCache.get(name);
  if (!p) {
    if (departmentCache.size > 500) departmentCache.clear();
    p = get<Department>(name);
    departmentCache.set(name, p);
    p.catch(() => departmentCache.delete(name));
  }
  return p;
}

/** forgetDepartment drops a renamed or deleted department from the cache. */
export function forgetDepartment(name: string) {
  departmentCache.delete(name);
}
