// Names in words: a principal, a role or a scope shown by its display name
// (read once and cached, see model.ts), its ID until then or if it cannot
// be read (a principal deleted meanwhile).

import { Link, lastSegment } from "../../ui/components";
import { useAsync } from "../../ui/hooks";
import { accessHref, kindWord, principalInfo, principalKindWord, roleInfo, scopeNode } from "./model";

/** PrincipalName is a user's, group's, robot account's or external app's display name. */
export function PrincipalName({ name, withKind }: { name: string; withKind?: boolean }) {
  const p = useAsync(() => principalInfo(name), [name]);
  return (
    <span title={name}>
      {p.data?.displayName ?? lastSegment(name)}
      {withKind ? <span class="muted"> · {principalKindWord(undefined, name)}</span> : null}
    </span>
  );
}

/** RoleName is a role's display name, linked to its permissions at scope when given. */
export function RoleName({ name, scope, tab }: { name: string; scope?: string; tab?: string }) {
  const r = useAsync(() => roleInfo(name), [name]);
  const text = r.data?.displayName ?? lastSegment(name);
  return scope ? (
    <Link href={accessHref(tab ?? "roles", scope, { role: name })} title={name}>
      {text}
    </Link>
  ) : (
    <span title={name}>{text}</span>
  );
}

/** ScopeName is a scope's display name and kind, linked to Manage access at it in tab. */
export function ScopeName({ name, tab }: { name: string; tab: string }) {
  const n = useAsync(() => scopeNode(name), [name]);
  return (
    <Link href={accessHref(tab, name)} title={name}>
      {n.data?.displayName ?? lastSegment(name)}
      {n.data ? <span class="muted"> ({kindWord(n.data.kind)})</span> : null}
    </Link>
  );
}
