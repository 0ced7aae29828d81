// Licensing's resources as the JSON gateway returns them, and how to say
// them (issue 16 point 5).

import { currentSession } from "../../session";

/** Pool is a LicensePool: seats of one product and edition. */
export interface Pool {
  name: string;
  displayName?: string;
  product?: string;
  edition?: string;
  model?: string;
  quantity?: number;
  trial?: boolean;
  validFrom?: string;
  validUntil?: string;
}

/** Assignment is a LicenseAssignment: a named seat held by a member. */
export interface Assignment {
  name: string;
  pool?: string;
  member?: string;
  product?: string;
  createTime?: string;
  etag?: string;
}

/** PoolUsage is one pool's seats now. */
export interface PoolUsage {
  pool: string;
  product?: string;
  edition?: string;
  model?: string;
  quantity?: number;
  assigned?: number;
  leased?: number;
  free?: number;
  expired?: boolean;
}

/** ServiceUsage is one service's leases now. */
export interface ServiceUsage {
  service: string;
  product?: string;
  leased?: number;
}

/** UsagePoint is one interval of the usage trend. */
export interface UsagePoint {
  startTime: string;
  pool?: string;
  service?: string;
  product?: string;
  peak?: number;
  average?: number;
}

/** LicenseRequest is the organization asking the operator for licenses. */
export interface LicenseRequest {
  name: string;
  kind?: string;
  state?: string;
  pool?: string;
  product?: string;
  edition?: string;
  model?: string;
  quantity?: number;
  note?: string;
  decisionNote?: string;
  requester?: string;
  createTime?: string;
  decideTime?: string;
}

/** Lease is a client's hold on a seat while it runs. */
export interface Lease {
  name: string;
  pool?: string;
  principal?: string;
  client?: string;
  machine?: string;
  service?: string;
  createTime?: string;
  expireTime?: string;
}

/** orgName is the signed-in organization's resource name. */
export function orgName(): string {
  return currentSession()!.organization;
}

/** productWord says a Product enum value. */
export function productWord(p?: string): string {
  return p === "PRODUCT_ROBOT" ? "Robot" : p === "PRODUCT_EDITOR" ? "Editor" : "";
}

/** modelWord says a LicenseModel enum value. */
export function modelWord(m?: string): string {
  return m === "LICENSE_MODEL_NAMED" ? "Named user" : m === "LICENSE_MODEL_CONCURRENT" ? "Concurrent" : "";
}

/** editionWord capitalises an edition ("professional" → "Professional"). */
export function editionWord(e?: string): string {
  return e ? e.charAt(0).toUpperCase() + e.slice(1) : "";
}

/** poolLabel is a pool's name for people: its display name, else its kind. */
export function poolLabel(p: Pool): string {
  return p.displayName || `${productWord(p.product)} ${editionWord(p.edition)} (${p.name.split("/").pop()})`;
}

/** enumTail is the last word of an enum value ("STATE_PENDING" → "Pending"). */
export function enumTail(v?: string): string {
  if (!v) return "";
  const w = v.split("_").pop()!.toLowerCase();
  return w.charAt(0).toUpperCase() + w.slice(1);
}
