// A small history-API router: the path is the page ("/members/users"), the
// query its state (filters, the page token), so that a reload or a shared
// link shows the same thing. The gateway answers every path that is not an
// asset or an API with index.html.

import { useEffect, useState } from "preact/hooks";

const listeners = new Set<() => void>();
window.addEventListener("popstate", () => listeners.forEach((l) => l()));

/** Location is the current path and query. */
export interface Location {
  path: string;
  query: URLSearchParams;
}

function current(): Location {
  return { path: window.location.pathname, query: new URLSearchParams(window.location.search) };
}

/** useLocation re-renders its component on every navigation. */
export function useLocation(): Location {
  const [loc, setLoc] = useState(current);
  useEffect(() => {
    const l = () => setLoc(current());
    listeners.add(l);
    return () => void listeners.delete(l);
  }, []);
  return loc;
}

/** navigate goes to path (with its query); replace keeps the history entry. */
export function navigate(to: string, replace = false) {
  if (to === window.location.pathname + window.location.search) return;
  if (replace) history.replaceState(null, "", to);
  else history.pushState(null, "", to);
  listeners.forEach((l) => l());
}

/** setQuery changes some query parameters of the current page ("" removes one). */
export function setQuery(changes: Record<string, string | undefined>, replace = true) {
  const q = new URLSearchParams(window.location.search);
  for (const [k, v] of Object.entries(changes)) {
    if (v) q.set(k, v);
    else q.delete(k);
  }
  const s = q.toString();
  navigate(window.location.pathname + (s ? "?" + s : ""), replace);
}

/** linkHandler makes an <a href> navigate within the app (plain clicks only). */
export function linkHandler(e: MouseEvent) {
  const a = (e.currentTarget as HTMLAnchorElement | null);
  if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  e.preventDefault();
  navigate(a.getAttribute("href") ?? "/");
}
