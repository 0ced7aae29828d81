// A tree that loads each node's children when the node is opened, a page at
// a time, so that a large hierarchy (an organization's departments) is never
// loaded whole. It follows the WAI-ARIA tree view pattern: one tab stop, the
// arrow keys move and open/close, Home/End jump, Enter or Space selects.
// Items are <a role="treeitem"> (with an href when selecting one navigates),
// so that they are found by their text like any link.

import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { ErrorBanner } from "./components";
import "./tree.css";

/** TreePage is one page of a node's children. */
export interface TreePage<N> {
  items: N[];
  nextPageToken?: string;
}

/** Branch is what is loaded of one node's children. */
export interface Branch<N> {
  items: N[];
  /** The token of the next page, when there is one. */
  next?: string;
  loading: boolean;
  error?: unknown;
}

/** TreeModel is the loaded part of a tree and which nodes are open. */
export interface TreeModel<N> {
  idOf: (n: N) => string;
  /** The loaded children of id; "" is the top level. */
  branch: (id: string) => Branch<N> | undefined;
  isOpen: (id: string) => boolean;
  /** setOpen opens (loading its first page of children once) or closes id. */
  setOpen: (id: string, open: boolean) => void;
  /** more loads the next page of id's children. */
  more: (id: string) => void;
  /** reload loads id's children again from the first page (after a change). */
  reload: (id: string) => void;
}

/**
 * useTreeModel keeps a lazily loaded tree: load(parent, pageToken) returns a
 * page of parent's children ("" for the top level). The top level and the
 * nodes in open are loaded at first and again whenever resetKey changes.
 */
export function useTreeModel<N>(
  load: (parent: string, pageToken: string) => Promise<TreePage<N>>,
  idOf: (n: N) => string,
  resetKey: string,
  open: string[] = [],
): TreeModel<N> {
  const [branches, setBranches] = useState<Record<string, Branch<N>>>({});
  const [opened, setOpened] = useState<Set<string>>(() => new Set(open));
  const loadRef = useRef(load);
  loadRef.current = load;
  // The latest request per node: an answer to an older one is dropped.
  const seq = useRef<Record<string, number>>({});

  const fetch = (id: string, token: string) => {
    const mine = (seq.current[id] = (seq.current[id] ?? 0) + 1);
    setBranches((b) => ({ ...b, [id]: { items: token ? (b[id]?.items ?? []) : [], next: b[id]?.next, loading: true } }));
    loadRef.current(id, token).then(
      (p) => {
        if (seq.current[id] !== mine) return;
        setBranches((b) => ({
          ...b,
          [id]: { items: token ? [...(b[id]?.items ?? []), ...p.items] : p.items, next: p.nextPageToken || undefined, loading: false },
        }));
      },
      (error) => {
        if (seq.current[id] !== mine) return;
        setBranches((b) => ({ ...b, [id]: { items: b[id]?.items ?? [], next: b[id]?.next, loading: false, error } }));
      },
    );
  };

  useEffect(() => {
    setBranches({});
    const o = new Set(open);
    setOpened(o);
    fetch("", "");
    o.forEach((id) => fetch(id, ""));
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [resetKey]);

  return {
    idOf,
    branch: (id) => branches[id],
    isOpen: (id) => opened.has(id),
    setOpen: (id, on) => {
      if (on === opened.has(id)) return;
      setOpened((s) => {
        const n = new Set(s);
        if (on) n.add(id);
        else n.delete(id);
        return n;
      });
      if (on && !branches[id]) fetch(id, "");
    },
    more: (id) => {
      const b = branches[id];
      if (b?.next && !b.loading) fetch(id, b.next);
    },
    reload: (id) => fetch(id, ""),
  };
}

interface Visible<N> {
  id: string;
  node: N;
  level: number;
  parent: string;
}

/**
 * Tree shows a TreeModel. selected is the id of the selected node; onSelect
 * is called when a node is clicked or chosen with Enter/Space; hrefOf, when
 * given, makes each item a real link (open in a new tab works).
 */
export function Tree<N>(props: {
  model: TreeModel<N>;
  label: string;
  selected?: string;
  onSelect: (n: N) => void;
  render: (n: N) => ComponentChildren;
  hrefOf?: (n: N) => string;
}) {
  const { model } = props;
  const [focusId, setFocusId] = useState<string>("");
  const refs = useRef(new Map<string, HTMLAnchorElement>());

  const visible: Visible<N>[] = [];
  const walk = (parent: string, level: number) => {
    for (const node of model.branch(parent)?.items ?? []) {
      const id = model.idOf(node);
      visible.push({ id, node, level, parent });
      if (model.isOpen(id)) walk(id, level + 1);
    }
  };
  walk("", 1);
  const tabStop = visible.find((v) => v.id === focusId)?.id ?? visible.find((v) => v.id === props.selected)?.id ?? visible[0]?.id;

  const isLeaf = (id: string) => {
    const b = model.branch(id);
    return !!b && !b.loading && !b.error && b.items.length === 0 && !b.next;
  };
  const focus = (id: string) => {
    setFocusId(id);
    refs.current.get(id)?.focus();
  };

  const onKeyDown = (e: KeyboardEvent) => {
    const i = visible.findIndex((v) => v.id === tabStop);
    const cur = visible[i];
    if (!cur) return;
    const open = model.isOpen(cur.id);
    switch (e.key) {
      case "ArrowDown":
        if (i + 1 < visible.length) focus(visible[i + 1].id);
        break;
      case "ArrowUp":
        if (i > 0) focus(visible[i - 1].id);
        break;
      case "ArrowRight":
        if (!open && !isLeaf(cur.id)) model.setOpen(cur.id, true);
        else if (open && visible[i + 1]?.parent === cur.id) focus(visible[i + 1].id);
        break;
      case "ArrowLeft":
        if (open) model.setOpen(cur.id, false);
        else if (cur.parent) focus(cur.parent);
        break;
      case "Home":
        if (visible.length) focus(visible[0].id);
        break;
      case "End":
        if (visible.length) focus(visible[visible.length - 1].id);
        break;
      case "Enter":
      case " ":
        props.onSelect(cur.node);
        break;
      default:
        return;
    }
    e.preventDefault();
  };

  const item = (v: Visible<N>): ComponentChildren => {
    const open = model.isOpen(v.id);
    const leaf = isLeaf(v.id);
    return (
      <li role="none" key={v.id}>
        <a
          role="treeitem"
          ref={(el) => {
            if (el) refs.current.set(v.id, el);
            else refs.current.delete(v.id);
          }}
          href={props.hrefOf?.(v.node)}
          tabIndex={v.id === tabStop ? 0 : -1}
          aria-level={v.level}
          aria-expanded={leaf ? undefined : open}
          aria-selected={v.id === props.selected}
          onClick={(e) => {
            if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
            e.preventDefault();
            setFocusId(v.id);
            if ((e.target as HTMLElement).classList.contains("tree-toggle")) {
              model.setOpen(v.id, !open);
              return;
            }
            if (!open && !leaf) model.setOpen(v.id, true);
            props.onSelect(v.node);
          }}
        >
          <span class={"tree-toggle" + (leaf ? " leaf" : open ? " open" : "")} aria-hidden="true" />
          {props.render(v.node)}
        </a>
        {open ? children(v.id, v.level + 1) : null}
      </li>
    );
  };

  const children = (parent: string, level: number): ComponentChildren => {
    const b = model.branch(parent);
    const kids = (b?.items ?? []).map((node) => ({ id: model.idOf(node), node, level, parent }));
    const extra = status(parent, b);
    if (!kids.length && !extra) return null;
    return level === 1 ? (
      <>
        {kids.map(item)}
        {extra}
      </>
    ) : (
      <ul role="group">
        {kids.map(item)}
        {extra}
      </ul>
    );
  };

  const status = (id: string, b: Branch<N> | undefined): ComponentChildren => {
    if (!b) return null;
    if (b.loading)
      return (
        <li role="none" class="tree-status muted">
          Loading…
        </li>
      );
    if (b.error)
      return (
        <li role="none" class="tree-status">
          <ErrorBanner error={b.error} />
          <button type="button" class="link" onClick={() => model.reload(id)}>
            Try again
          </button>
        </li>
      );
    if (b.next)
      return (
        <li role="none" class="tree-status">
          <button type="button" class="link" onClick={() => model.more(id)}>
            Show more
          </button>
        </li>
      );
    return null;
  };

  return (
    <div class="tree">
      <ul role="tree" aria-label={props.label} onKeyDown={onKeyDown}>
        {children("", 1)}
      </ul>
    </div>
  );
}
