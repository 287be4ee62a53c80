/**
 * The search of auto-layer.py (spec §3.2 steps 3-5) over an integer-indexed graph: which primary
 * paths to take, and so which set of primaries each path maps to. See auto-layer.ts for the
 * algorithm, the tie-breaks and the measurements.
 */

/** The graph with integer ids: real paths 0..realCount-1 in path order, then one node per group. */
export interface IndexedGraph {
  readonly names: readonly string[];
  readonly realCount: number;
  readonly size: number;
  readonly narSize: Float64Array;
  /** References (no self) as CSR: the refs of v are targets[offsets[v]] .. targets[offsets[v + 1] - 1]. */
  readonly offsets: Int32Array;
  readonly targets: Int32Array;
}

/**
 * The search of auto-layer.py, steps 3-5. Returns each node's layer id (ids are arbitrary; equal
 * ids mean the same set of primaries).
 *
 * A layer id stands for a set of primaries, held as the sorted list of their ordinals (the order
 * they became primaries) and interned by its text. `refcount[id]` counts the nodes mapped to it, so
 * the number of layers is the number of ids with a non-zero count, kept up to date as nodes move.
 * A round's moves are logged so that a round that exceeds the limit can be undone.
 */
export function chooseLayers(dag: IndexedGraph, limit: number, bitsetBudgetBytes: number): Int32Array {
  const { size, offsets, targets } = dag;
  const split = new Int32Array(size); // every node starts in id 0, the empty set
  const members: (readonly number[])[] = [[]];
  const ids = new Map<string, number>([["", 0]]);
  let refcount = new Int32Array(16);
  refcount[0] = size;
  let live = size > 0 ? 1 : 0;
  const intern = (set: readonly number[]): number => {
    const key = set.join(",");
    let id = ids.get(key);
    if (id === undefined) {
      id = members.length;
      members.push(set);
      ids.set(key, id);
      if (id >= refcount.length) {
        const grown = new Int32Array(refcount.length * 2);
        grown.set(refcount);
        refcount = grown;
      }
    }
    return id;
  };
  const move = (node: number, id: number): void => {
    const old = split[node] as number;
    if (--refcount[old]! === 0) live--;
    if (refcount[id]!++ === 0) live++;
    split[node] = id;
  };

  // Candidates: Python's stable sort by narSize over the input order (groups first, see the module
  // comment), taken from the end.
  const inputRank = (v: number) => (v >= dag.realCount ? v - dag.realCount : v + (size - dag.realCount));
  const candidates = Int32Array.from({ length: size }, (_, v) => v).sort((a, b) => (dag.narSize[a] as number) - (dag.narSize[b] as number) || inputRank(a) - inputRank(b));

  const words = (size + 31) >>> 5;
  const maxBitsets = Math.floor(bitsetBudgetBytes / Math.max(4, words * 4));
  const primaries: number[] = []; // ordinal -> node
  const depBits: Uint32Array[] = []; // ordinal -> its dependencies, while within the budget
  const inDeps = new Int32Array(size).fill(-1); // = round: a dependency of this round's candidate
  const isUser = new Int32Array(size).fill(-1); // = round: a dependent (reverse traversal fallback)
  let users: Csr | undefined; // built when the bitsets run out of budget, if ever
  const deps: number[] = [];
  const stack: number[] = [];
  const movedNodes: number[] = [];
  const movedFrom: number[] = [];

  for (let round = 0, next = size - 1; next >= 0; round++, next--) {
    const p = candidates[next] as number;
    const ordinal = primaries.length;
    // deps(P): everything P reaches, P excluded.
    deps.length = 0;
    inDeps[p] = round;
    for (let i = offsets[p] as number; i < (offsets[p + 1] as number); i++) stack.push(targets[i] as number);
    while (stack.length > 0) {
      const x = stack.pop() as number;
      if (inDeps[x] === round) continue;
      inDeps[x] = round;
      deps.push(x);
      for (let i = offsets[x] as number; i < (offsets[x + 1] as number); i++) stack.push(targets[i] as number);
    }
    inDeps[p] = -1;
    // Is primary q a dependent of P? Only primaries are ever in a set, so that is all that is asked.
    let dependsOnP: (q: number) => boolean;
    if (ordinal < maxBitsets) {
      dependsOnP = (q) => (((depBits[q] as Uint32Array)[p >>> 5] as number) & (1 << (p & 31))) !== 0;
    } else {
      users ??= reverseEdges(dag);
      markUsers(users, p, round, isUser, stack);
      dependsOnP = (q) => isUser[primaries[q] as number] === round;
    }

    movedNodes.length = 0;
    movedFrom.length = 0;
    const record = (node: number, id: number) => {
      movedNodes.push(node);
      movedFrom.push(split[node] as number);
      move(node, id);
    };
    record(p, intern([ordinal]));
    const newId = new Map<number, number>();
    for (const d of deps) {
      const old = split[d] as number;
      let id = newId.get(old);
      if (id === undefined) {
        // new[d] = old - dependents(P); then add P unless a remaining primary is itself a dependency of P.
        const kept = (members[old] as readonly number[]).filter((q) => !dependsOnP(q));
        if (!kept.some((q) => inDeps[primaries[q] as number] === round)) kept.push(ordinal);
        id = intern(kept);
        newId.set(old, id);
      }
      if (id !== old) record(d, id);
    }
    if (live > limit) {
      for (let i = movedNodes.length - 1; i >= 0; i--) move(movedNodes[i] as number, movedFrom[i] as number);
      break;
    }
    primaries.push(p);
    if (ordinal < maxBitsets) {
      const bits = new Uint32Array(words);
      for (const d of deps) bits[d >>> 5]! |= 1 << (d & 31);
      depBits.push(bits);
    }
  }
  return split;
}

interface Csr {
  readonly offsets: Int32Array;
  readonly targets: Int32Array;
}

function reverseEdges(dag: IndexedGraph): Csr {
  const { size, offsets, targets } = dag;
  const count = new Int32Array(size + 1);
  for (const t of targets) count[t + 1]!++;
  for (let v = 0; v < size; v++) count[v + 1]! += count[v] as number;
  const fill = count.slice(0, size);
  const sources = new Int32Array(targets.length);
  for (let v = 0; v < size; v++) {
    for (let i = offsets[v] as number; i < (offsets[v + 1] as number); i++) sources[fill[targets[i] as number]!++] = v;
  }
  return { offsets: count, targets: sources };
}

/** Marks every node that reaches `p` (p excluded) with `round` in `mark`. */
function markUsers(users: Csr, p: number, round: number, mark: Int32Array, stack: number[]): void {
  const { offsets, targets } = users;
  for (let i = offsets[p] as number; i < (offsets[p + 1] as number); i++) stack.push(targets[i] as number);
  while (stack.length > 0) {
    const x = stack.pop() as number;
    if (mark[x] === round || x === p) continue;
    mark[x] = round;
    for (let i = offsets[x] as number; i < (offsets[x + 1] as number); i++) stack.push(targets[i] as number);
  }
}
