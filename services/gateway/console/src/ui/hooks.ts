// Data loading for pages: useAsync runs a load when its inputs change and
// keeps the last answer, the error and whether it is loading; usePager keeps
// the page tokens already seen so that a list can go back.

import { useCallback, useEffect, useRef, useState } from "preact/hooks";

/** Async is the state of one load. */
export interface Async<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload: () => void;
}

/** useAsync calls load whenever deps change; a late answer to old deps is dropped. */
export function useAsync<T>(load: () => Promise<T>, deps: unknown[]): Async<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  const seq = useRef(0);
  useEffect(() => {
    const mine = ++seq.current;
    setLoading(true);
    load().then(
      (d) => {
        if (mine !== seq.current) return;
        setData(d);
        setError(undefined);
        setLoading(false);
      },
      (e) => {
        if (mine !== seq.current) return;
        setError(e);
        setLoading(false);
      },
    );
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data, error, loading, reload };
}

/** Pager is a list's position: the token of the page shown and the way back. */
export interface Pager {
  token: string;
  /** 1-based number of the page shown. */
  page: number;
  next: (token: string) => void;
  back: () => void;
  reset: () => void;
}

/** usePager starts at the first page and again whenever resetKey changes. */
export function usePager(resetKey: string): Pager {
  const [stack, setStack] = useState<string[]>([""]);
  useEffect(() => setStack([""]), [resetKey]);
  return {
    token: stack[stack.length - 1],
    page: stack.length,
    next: (t) => setStack((s) => [...s, t]),
    back: () => setStack((s) => (s.length > 1 ? s.slice(0, -1) : s)),
    reset: () => setStack([""]),
  };
}
