// The JSON gateway's client: every call goes to /v1/… with the session's
// bearer token. A failed call rejects with an ApiError carrying what the
// server said: the gRPC code, its message, and the ErrorInfo reason and the
// field violations from the google.rpc.Status details. A call that fails
// because the session expired (UNAUTHENTICATED) waits for the person to sign
// in again (see session.ts) and is then retried once, so that nothing on the
// page — what they typed included — is lost.

import { currentToken, reauthenticate } from "./session";

/** A field the server refused, from google.rpc.BadRequest. */
export interface FieldViolation {
  field: string;
  description: string;
}

/** gRPC status codes the console tells apart. */
export const Code = {
  InvalidArgument: 3,
  NotFound: 5,
  AlreadyExists: 6,
  PermissionDenied: 7,
  ResourceExhausted: 8,
  FailedPrecondition: 9,
  Aborted: 10,
  OutOfRange: 11,
  Unavailable: 14,
  Unauthenticated: 16,
} as const;

/** ApiError is a refused or failed call, in the server's words. */
export class ApiError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly httpStatus: number,
    readonly reason = "",
    readonly domain = "",
    readonly metadata: Record<string, string> = {},
    readonly fieldViolations: FieldViolation[] = [],
  ) {
    super(message);
    this.name = "ApiError";
  }

  /** The violation of one request field ("user.email"), if any. */
  violation(field: string): string | undefined {
    return this.fieldViolations.find((v) => v.field === field || v.field.endsWith("." + field))?.description;
  }
}

interface StatusDetail {
  "@type"?: string;
  reason?: string;
  domain?: string;
  metadata?: Record<string, string>;
  fieldViolations?: FieldViolation[];
}

async function toError(res: Response): Promise<ApiError> {
  let body: { code?: number; message?: string; details?: StatusDetail[] } = {};
  try {
    body = await res.json();
  } catch {
    // Not a google.rpc.Status (a proxy in between, say): keep the HTTP status.
  }
  let reason = "", domain = "", metadata: Record<string, string> = {};
  const violations: FieldViolation[] = [];
  for (const d of body.details ?? []) {
    const t = d["@type"] ?? "";
    if (t.endsWith("google.rpc.ErrorInfo")) {
      reason = d.reason ?? "";
      domain = d.domain ?? "";
      metadata = d.metadata ?? {};
    } else if (t.endsWith("google.rpc.BadRequest")) {
      violations.push(...(d.fieldViolations ?? []));
    }
  }
  const code = body.code ?? (res.status === 401 ? Code.Unauthenticated : res.status === 403 ? Code.PermissionDenied : 2);
  return new ApiError(code, body.message || res.statusText || `HTTP ${res.status}`, res.status, reason, domain, metadata, violations);
}

/** Query parameters; undefined and "" values are left out, arrays repeat. */
export type Query = Record<string, string | number | boolean | undefined | null | string[]>;

function url(path: string, query?: Query): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) {
    if (v === undefined || v === null || v === "") continue;
    if (Array.isArray(v)) v.forEach((x) => q.append(k, x));
    else q.set(k, String(v));
  }
  const s = q.toString();
  return "/v1/" + path.replace(/^\/+/, "") + (s ? "?" + s : "");
}

async function send(method: string, path: string, query?: Query, body?: unknown, retried = false, anonymous = false): Promise<Response> {
  const headers: Record<string, string> = { Accept: "application/json" };
  const token = anonymous ? "" : currentToken();
  if (token) headers.Authorization = "Bearer " + token;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let res: Response;
  try {
    res = await fetch(url(path, query), { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new ApiError(Code.Unavailable, "Steward cannot be reached: " + String(e), 0, "UNREACHABLE");
  }
  if (res.ok) return res;
  const err = await toError(res);
  if (err.code === Code.Unauthenticated && token && !retried) {
    await reauthenticate(err.message);
    return send(method, path, query, body, true);
  }
  throw err;
}

async function json<T>(res: Response): Promise<T> {
  const text = await res.text();
  return (text ? JSON.parse(text) : {}) as T;
}

/** GET /v1/path?query. */
export async function get<T>(path: string, query?: Query): Promise<T> {
  return json<T>(await send("GET", path, query));
}

/** POST /v1/path with a JSON body. */
export async function post<T>(path: string, body: unknown = {}, query?: Query): Promise<T> {
  return json<T>(await send("POST", path, query, body));
}

/**
 * publicPost calls a public RPC (sign-up, sign-in) without the session's
 * token: its refusal is the answer, never a reason to sign in again.
 */
export async function publicPost<T>(path: string, body: unknown): Promise<T> {
  return json<T>(await send("POST", path, undefined, body, true, true));
}

/** PATCH /v1/path with a JSON body (updateMask in the query, when given). */
export async function patch<T>(path: string, body: unknown, query?: Query): Promise<T> {
  return json<T>(await send("PATCH", path, query, body));
}

/** DELETE /v1/path. */
export async function del<T = unknown>(path: string, query?: Query): Promise<T> {
  return json<T>(await send("DELETE", path, query));
}

/**
 * download fetches /v1/path (a CSV or JSON-lines export) with the session's
 * token and hands it to the browser as a file named filename.
 */
export async function download(path: string, filename: string, query?: Query): Promise<void> {
  const res = await send("GET", path, query);
  const blob = await res.blob();
  const href = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = href;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(href), 60_000);
}

/** A list response's page: its items under key K and the next page token. */
export type Page<K extends string, T> = { [P in K]?: T[] } & { nextPageToken?: string; totalSize?: number };
