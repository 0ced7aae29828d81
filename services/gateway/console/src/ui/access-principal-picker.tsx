// Finding a principal to assign roles to or to check: users, groups and
// robot accounts, searched with the directory's list calls and their text
// filter (a substring of the name, nickname or email), a page at a time.

import { useEffect, useState } from "preact/hooks";
import { get } from "../api";
import { Badge, ErrorBanner, SelectField, TextField } from "./components";
import { usePager, useAsync } from "./hooks";
import type { PrincipalInfo, PrincipalKind } from "../pages/access/model";
import { rememberPrincipal } from "../pages/access/model";

/** PickKind is a directory collection the picker searches. */
export type PickKind = "users" | "groups" | "robotAccounts";

const kinds: Record<PickKind, { label: string; kind: PrincipalKind; key: string }> = {
  users: { label: "Users", kind: "PRINCIPAL_KIND_USER", key: "users" },
  groups: { label: "Groups", kind: "PRINCIPAL_KIND_GROUP", key: "groups" },
  robotAccounts: { label: "Robot accounts", kind: "PRINCIPAL_KIND_ROBOT_ACCOUNT", key: "robotAccounts" },
};

interface Found {
  name: string;
  displayName?: string;
  nickname?: string;
  email?: string;
  state?: string;
}

const pageSize = 8;

/**
 * PrincipalPicker searches the organization's principals of the kinds
 * offered and calls onPick with the one chosen.
 */
export function PrincipalPicker(props: { org: string; offer: PickKind[]; onPick: (p: PrincipalInfo) => void }) {
  const [kind, setKind] = useState<PickKind>(props.offer[0]);
  const [text, setText] = useState("");
  const [query, setQuery] = useState("");
  // Ask once the typing pauses, not at every key.
  useEffect(() => {
    const t = setTimeout(() => setQuery(text.trim()), 250);
    return () => clearTimeout(t);
  }, [text]);
  const pager = usePager(kind + "\n" + query);
  const found = useAsync(
    () => get<Record<string, Found[] | string | undefined>>(`${props.org}/${kind}`, { pageSize, pageToken: pager.token, query }),
    [kind, query, pager.token],
  );
  const items = (found.data?.[kinds[kind].key] as Found[] | undefined) ?? [];
  const next = (found.data?.nextPageToken as string | undefined) ?? "";
  return (
    <div class="picker">
      <div class="filters">
        {props.offer.length > 1 ? (
          <SelectField label="Kind" value={kind} onInput={(v) => setKind(v as PickKind)} options={props.offer.map((k) => [k, kinds[k].label])} />
        ) : null}
        <TextField label="Search" value={text} onInput={setText} placeholder="Name or email" hint="Part of a name, nickname or email." />
      </div>
      <ErrorBanner error={found.error} />
      <ul class="pick-list" aria-label={"Matching " + kinds[kind].label.toLowerCase()} aria-busy={found.loading ? "true" : undefined}>
        {items.map((p) => {
          const info: PrincipalInfo = {
            name: p.name,
            kind: kinds[kind].kind,
            displayName: p.displayName || p.nickname || p.name,
            email: p.email,
          };
          return (
            <li key={p.name}>
              <button
                type="button"
                class="pick"
                onClick={() => {
                  rememberPrincipal(info);
                  props.onPick(info);
                }}
              >
                {info.displayName}
                {p.email ? <span class="muted"> {p.email}</span> : null}
                {p.state === "STATE_INACTIVE" ? (
                  <>
                    {" "}
                    <Badge tone="warn">Inactive</Badge>
                  </>
                ) : null}
              </button>
            </li>
          );
        })}
        {!found.loading && items.length === 0 && !found.error ? <li class="muted">No {kinds[kind].label.toLowerCase()} match.</li> : null}
      </ul>
      {pager.page > 1 || next ? (
        <div class="pager">
          <button type="button" disabled={pager.page <= 1} onClick={pager.back}>
            Previous
          </button>
          <span>Page {pager.page}</span>
          <button type="button" disabled={!next} onClick={() => next && pager.next(next)}>
            Next
          </button>
        </div>
      ) : null}
    </div>
  );
}
