/**
 * An oracle for src/plan/auto-layer.ts: auto-layer.py transliterated, sets and all (closures
 * recomputed per candidate, layers counted by distinct set), with the same documented tie-breaks.
 * Slow (cubic); small graphs only. Synthetic groups are nodes named `virtual-<g>`.
 */

import type { ClosureGraph } from "../../src/closure/types.js";
import { comparePathKeys } from "../../src/plan/auto-layer.js";

export function autoLayerOracle(
  graph: ClosureGraph,
  limit: number,
  rootGroups: readonly (readonly string[])[] = [],
  groupNarSize: readonly number[] = [],
  ignore: ReadonlySet<string> = new Set(),
): string[][] {
  // Input order: the synthetic nodes first, then the real paths in path order.
  const nodes: { path: string; refs: string[]; narSize: number; virtual: boolean }[] = [
    ...rootGroups.map((group, g) => ({ path: `virtual-${g}`, refs: [...new Set(group)], narSize: groupNarSize[g] ?? 0, virtual: true })),
    ...[...graph.paths.values()].map((info) => ({
      path: info.path,
      refs: info.selfReference ? [...info.references, info.path] : [...info.references],
      narSize: info.narSize,
      virtual: false,
    })),
  ];
  const byPath = new Map(nodes.map((n) => [n.path, n]));
  const users = new Map<string, Set<string>>(nodes.map((n) => [n.path, new Set()]));
  for (const n of nodes) for (const r of n.refs) users.get(r)!.add(n.path);
  const closure = (start: Iterable<string>, key: (p: string) => Iterable<string>): Set<string> => {
    const done = new Set<string>();
    const todo = [...start];
    while (todo.length > 0) {
      const x = todo.pop()!;
      if (done.has(x)) continue;
      done.add(x);
      todo.push(...key(x));
    }
    return done;
  };
  const dependencies = (p: string, key: (p: string) => Iterable<string>) => {
    const set = closure([p], key);
    set.delete(p);
    return set;
  };
  const refs = (p: string) => byPath.get(p)!.refs;
  const usersOf = (p: string) => users.get(p)!;
  const keyOf = (set: ReadonlySet<string>) => JSON.stringify([...set].sort());

  const bySize = nodes.map((n, i) => ({ n, i })).sort((a, b) => a.n.narSize - b.n.narSize || a.i - b.i).map((x) => x.n);
  let split = new Map(nodes.map((n) => [n.path, new Set<string>()]));
  while (bySize.length > 0) {
    const p = bySize.pop()!.path;
    const next = new Map(split);
    next.set(p, new Set([p]));
    const deps = dependencies(p, refs);
    const dependents = dependencies(p, usersOf);
    for (const d of deps) {
      const value = new Set([...next.get(d)!].filter((q) => !dependents.has(q)));
      if (![...value].some((q) => deps.has(q))) value.add(p);
      next.set(d, value);
    }
    if (new Set([...next.values()].map(keyOf)).size > limit) break;
    split = next;
  }
  const groups = new Map<string, string[]>();
  for (const [path, value] of split) groups.set(keyOf(value), [...(groups.get(keyOf(value)) ?? []), path]);
  const layers = [...groups.values()].map((paths) => {
    let size = 0n;
    for (const x of closure(paths, refs)) size += BigInt(byPath.get(x)!.narSize);
    const out = paths.filter((x) => !byPath.get(x)!.virtual && !ignore.has(x)).sort(comparePathKeys);
    return { out, size };
  });
  const compare = (a: string[], b: string[]) => {
    for (let i = 0; i < Math.min(a.length, b.length); i++) {
      const c = comparePathKeys(a[i]!, b[i]!);
      if (c !== 0) return c;
    }
    return a.length - b.length;
  };
  return layers
    .filter((l) => l.out.length > 0)
    .sort((a, b) => (a.size < b.size ? -1 : a.size > b.size ? 1 : compare(a.out, b.out)))
    .map((l) => l.out);
}
