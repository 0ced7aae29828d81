// The signed-in session: organization, principal and access token, kept in
// sessionStorage so that a reload keeps the person signed in and closing the
// tab forgets them. When a call finds the token expired, reauthenticate
// marks the session expired (the app then shows the sign-in dialog over the
// page, leaving it mounted) and waits until signIn succeeds again.

import { useEffect, useState } from "preact/hooks";

/** Session is one sign-in. */
export interface Session {
  /** "organizations/acme". */
  organization: string;
  /** The signed-in user's resource name. */
  principal: string;
  email: string;
  token: string;
  /** RFC 3339. */
  expireTime: string;
  /** The token is good only for TOTP enrollment until the person confirms a code. */
  totpEnrollmentRequired: boolean;
}

/** State is what the app shows: signed out, signed in, or expired (sign in again over the page). */
export interface State {
  session: Session | null;
  expired: string | null;
}

const storageKey = "steward.session";
let state: State = { session: load(), expired: null };
const listeners = new Set<(s: State) => void>();
let waiting: Array<() => void> = [];

function load(): Session | null {
  try {
    const raw = sessionStorage.getItem(storageKey);
    return raw ? (JSON.parse(raw) as Session) : null;
  } catch {
    return null;
  }
}

function set(next: State) {
  state = next;
  if (next.session) sessionStorage.setItem(storageKey, JSON.stringify(next.session));
  else sessionStorage.removeItem(storageKey);
  listeners.forEach((l) => l(state));
}

/** currentToken is the bearer token calls carry, "" when signed out. */
export function currentToken(): string {
  return state.session?.token ?? "";
}

/** currentSession is the session, or null. */
export function currentSession(): Session | null {
  return state.session;
}

/** useSession re-renders its component whenever the session changes. */
export function useSession(): State {
  const [s, setS] = useState(state);
  useEffect(() => {
    listeners.add(setS);
    setS(state);
    return () => void listeners.delete(setS);
  }, []);
  return s;
}

/** setSession records a new sign-in and releases the calls waiting for one. */
export function setSession(session: Session) {
  set({ session, expired: null });
  const w = waiting;
  waiting = [];
  w.forEach((resume) => resume());
}

/** signOut forgets the session. Calls waiting for a new sign-in stay waiting. */
export function signOut() {
  set({ session: null, expired: null });
}

/**
 * reauthenticate is called by the API client when the server refused the
 * session's token: it marks the session expired, keeping organization and
 * email for the dialog, and resolves once setSession is called again.
 */
export function reauthenticate(why: string): Promise<void> {
  if (state.session && !state.expired) {
    state = { session: state.session, expired: why || "Your session has ended." };
    listeners.forEach((l) => l(state));
  }
  return new Promise((resolve) => waiting.push(resolve));
}

/** organizationId is "acme" for the session's "organizations/acme". */
export function organizationId(): string {
  return (state.session?.organization ?? "").replace(/^organizations\//, "");
}
