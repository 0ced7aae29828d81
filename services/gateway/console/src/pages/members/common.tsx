// Pieces the Members pages share: the confirmation dialog every destructive
// action goes through, a checkbox, section headings with their actions, a
// search box and a search-as-you-type picker, and the department picker and
// name (departments are a tree, loaded a branch at a time).

import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { get } from "../../api";
import { Dialog, ErrorBanner, Form, lastSegment, SubmitCancel } from "../../ui/components";
import { useAsync } from "../../ui/hooks";
import { Tree, useTreeModel, type TreeModel } from "../../ui/tree";
import { departmentOf, org, rootDepartment, type Department } from "./model";

/** Confirmation is a destructive action waiting for a yes. */
export interface Confirmation {
  title: string;
  message: ComponentChildren;
  /** The confirming button's text ("Delete"). */
  action: string;
  run: () => Promise<unknown>;
  /** Called after run succeeded. */
  done?: () => void;
}

/**
 * ConfirmDialog asks before c runs; a refusal is shown in words inside the
 * dialog, which then stays open. null shows nothing.
 */
export function ConfirmDialog({ c, onClose }: { c: Confirmation | null; onClose: () => void }) {
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  useEffect(() => setError(undefined), [c]);
  const confirm = async () => {
    if (!c) return;
    setBusy(true);
    try {
      await c.run();
      onClose();
      c.done?.();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Dialog title={c?.title ?? ""} open={!!c} onClose={onClose}>
      <Form onSubmit={confirm} label={c?.title}>
        <p>{c?.message}</p>
        <ErrorBanner error={error} />
        <SubmitCancel label={c?.action} busy={busy} onCancel={onClose} danger />
      </Form>
    </Dialog>
  );
}

/** CheckboxField is a labelled checkbox with an optional hint. */
export function CheckboxField(props: { label: string; checked: boolean; onChange: (v: boolean) => void; hint?: string }) {
  return (
    <div class="field checkbox">
      <label>
        <input type="checkbox" checked={props.checked} onChange={(e) => props.onChange((e.currentTarget as HTMLInputElement).checked)} />
        {props.label}
      </label>
      {props.hint ? <div class="hint">{props.hint}</div> : null}
    </div>
  );
}

/** SectionHead is a section's heading (h2 or h3) with its actions on the right. */
export function SectionHead(props: { title: ComponentChildren; level?: 2 | 3; children?: ComponentChildren }) {
  return (
    <div class="section-head">
      {props.level === 3 ? <h3>{props.title}</h3> : <h2>{props.title}</h2>}
      <div class="actions">{props.children}</div>
    </div>
  );
}

/** Details is a definition list of a resource's fields; empty values are left out. */
export function Details({ rows }: { rows: Array<[string, ComponentChildren]> }) {
  return (
    <dl class="details">
      {rows
        .filter(([, v]) => v !== undefined && v !== null && v !== "")
        .map(([k, v]) => (
          <div>
            <dt>{k}</dt>
            <dd>{v}</dd>
          </div>
        ))}
    </dl>
  );
}

/**
 * SearchBox is a labelled search input applied on Enter or with its button
 * (value is what is applied; typing does not reload the list each key).
 */
export function SearchBox(props: { label: string; value: string; onApply: (v: string) => void; placeholder?: string }) {
  const [q, setQ] = useState(props.value);
  useEffect(() => setQ(props.value), [props.value]);
  const id = useRef("search-" + Math.random().toString(36).slice(2, 8)).current;
  return (
    <form
      class="field search-box"
      role="search"
      onSubmit={(e) => {
        e.preventDefault();
        props.onApply(q.trim());
      }}
    >
      <label for={id}>{props.label}</label>
      <div class="search-row">
        <input id={id} type="search" value={q} placeholder={props.placeholder} onInput={(e) => setQ((e.currentTarget as HTMLInputElement).value)} />
        <button type="submit">Search</button>
      </div>
    </form>
  );
}

/**
 * SearchPicker finds something by typing (search returns the first few
 * matches for the text) and offers each match as a button: pick is called
 * with the one chosen. Its results are a list under the input.
 */
export function SearchPicker<T>(props: {
  label: string;
  search: (q: string) => Promise<T[]>;
  keyOf: (t: T) => string;
  render: (t: T) => ComponentChildren;
  /** The text of each match's button (its accessible name adds the match). */
  action: string;
  actionLabel: (t: T) => string;
  pick: (t: T) => void;
  hint?: string;
  placeholder?: string;
}) {
  const [q, setQ] = useState("");
  const [debounced, setDebounced] = useState("");
  useEffect(() => {
    const t = setTimeout(() => setDebounced(q.trim()), 250);
    return () => clearTimeout(t);
  }, [q]);
  const found = useAsync(() => (debounced ? props.search(debounced) : Promise.resolve(undefined)), [debounced]);
  const id = useRef("pick-" + Math.random().toString(36).slice(2, 8)).current;
  return (
    <div class="picker">
      <div class="field">
        <label for={id}>{props.label}</label>
        <input
          id={id}
          type="search"
          value={q}
          autocomplete="off"
          placeholder={props.placeholder}
          aria-controls={id + "-r"}
          aria-describedby={props.hint ? id + "-h" : undefined}
          onInput={(e) => setQ((e.currentTarget as HTMLInputElement).value)}
        />
        {props.hint ? (
          <div id={id + "-h"} class="hint">
            {props.hint}
          </div>
        ) : null}
      </div>
      <ErrorBanner error={found.error} />
      <ul id={id + "-r"} class="picker-results" aria-live="polite" aria-busy={found.loading ? "true" : undefined}>
        {(found.data ?? []).map((t) => (
          <li key={props.keyOf(t)}>
            <span>{props.render(t)}</span>
            <button type="button" aria-label={props.actionLabel(t)} onClick={() => props.pick(t)}>
              {props.action}
            </button>
          </li>
        ))}
        {debounced && found.data && found.data.length === 0 ? <li class="muted">Nothing matches “{debounced}”.</li> : null}
      </ul>
    </div>
  );
}

/** DepartmentName shows a department's display name (its ID until read). */
export function DepartmentName({ name }: { name?: string }) {
  const d = useAsync(() => (name ? departmentOf(name) : Promise.resolve(undefined)), [name]);
  if (!name) return null;
  return <span title={name}>{d.data?.displayName || lastSegment(name)}</span>;
}

interface DepartmentsPage {
  departments?: Department[];
  nextPageToken?: string;
}

/**
 * useDepartmentTree is the department tree: the root at the top, open, and
 * each department's children read when it is opened (50 at a time).
 */
export function useDepartmentTree(): TreeModel<Department> {
  const root = rootDepartment();
  return useTreeModel<Department>(
    async (parent, pageToken) => {
      if (!parent) return { items: [await get<Department>(root)] };
      const r = await get<DepartmentsPage>(`${org()}/departments`, { parentDepartment: parent, pageSize: 50, pageToken });
      return { items: r.departments ?? [], nextPageToken: r.nextPageToken };
    },
    (d) => d.name,
    "",
    [root],
  );
}

/**
 * DepartmentPicker chooses a department in a form: the chosen one's name,
 * then the tree to choose another from.
 */
export function DepartmentPicker(props: { label: string; value: string; onChange: (name: string) => void; none?: string }) {
  const model = useDepartmentTree();
  return (
    <fieldset class="field department-picker">
      <legend>
        {props.label}: <strong>{props.value ? <DepartmentName name={props.value} /> : (props.none ?? "none")}</strong>
      </legend>
      <div class="picker-tree">
        <Tree model={model} label={props.label} selected={props.value} onSelect={(d) => props.onChange(d.name)} render={(d) => d.displayName || lastSegment(d.name)} />
      </div>
    </fieldset>
  );
}
