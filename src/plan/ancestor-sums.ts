/**
 * The exact "sum of weights over each node's ancestors" that popularity.ts reduces nixpkgs'
 * popularity contest to, and the topological order it is computed in. Ancestor sets are bitsets
 * over topological positions; see `ancestorSums` for the tricks that keep them cheap.
 */

/** The most memory the ancestor bitsets, and the subset-sum tables, of one column chunk may take
 * (a 10,000-path graph fits in one chunk: 12.5 MB of bitsets). */
const CHUNK_BYTES = 64 * 1024 * 1024;

/**
 * A node's ancestors are walked instead of OR-ed from its parents' bitsets when the OR would touch
 * this many times more words than the walk visits nodes and edges. On the 100,000-path closure of
 * bench/plan-scale.mjs, factors 0.5 to 4 all cut ancestorSums from 0.88 s to 0.77-0.79 s of CPU.
 */
const HEAVY_FACTOR = 2;

/**
 * A topological order (referrers first) that keeps each node's ancestors close before it: the
 * post-order of a depth-first search along reversed edges, so the ancestors first found through a
 * node come right before it. ancestorSums only touches the span of positions between a node's
 * lowest ancestor and itself; on a 100,000-path synthetic closure this order makes those spans
 * 2.5 times shorter in total than Kahn's breadth-first order, which puts every root first.
 */
export function ancestorsFirstOrder(children: readonly (readonly number[])[]): number[] {
  const size = children.length;
  const parents: number[][] = Array.from({ length: size }, () => []);
  children.forEach((list, v) => {
    for (const c of list) (parents[c] as number[]).push(v);
  });
  const done = new Uint8Array(size);
  const order: number[] = [];
  const stackNode: number[] = [];
  const stackNext: number[] = [];
  for (let start = 0; start < size; start++) {
    if (done[start] === 1) continue;
    done[start] = 1;
    stackNode.push(start);
    stackNext.push(0);
    while (stackNode.length > 0) {
      const top = stackNode.length - 1;
      const v = stackNode[top] as number;
      const ps = parents[v] as number[];
      const i = stackNext[top] as number;
      if (i < ps.length) {
        stackNext[top] = i + 1;
        const p = ps[i] as number;
        if (done[p] === 0) {
          done[p] = 1;
          stackNode.push(p);
          stackNext.push(0);
        }
      } else {
        order.push(v);
        stackNode.pop();
        stackNext.pop();
      }
    }
  }
  return order;
}

/**
 * For every node x (in topological positions), the sum of `weights` over the ancestors of x, x
 * included, exactly. Ancestor sets are bitsets over positions, OR-ed from the parents' sets in
 * topological order, built one column chunk (a range of ancestor positions) at a time so memory
 * stays under CHUNK_BYTES. Weights are split into limbs of `bits` bits held in doubles, `bits`
 * chosen so that a limb times the node count stays below 2^53: the sums are exact.
 *
 * Summing goes a byte of the bitset at a time through a table of the 256 subset sums of each
 * group of 8 ancestors (the "four Russians" trick): dense ancestor sets, as in long chains or
 * around glibc, cost an eighth of a bit-by-bit walk, and sparse ones cost no more.
 *
 * Only a row's span, from its lowest ancestor's position to its own, is ever cleared, OR-ed or
 * summed; positions from `ancestorsFirstOrder` keep spans short. A node with many parents is walked
 * instead (HEAVY_FACTOR).
 *
 * `parents[x]` must all be < x. A weight of 0 must mean "no ancestor weighs anything either" (as
 * for path counts: 0 only for unreached nodes); such nodes are skipped. Exported for its tests,
 * which pass a small `chunkBytes` to exercise the chunking.
 */
export function ancestorSums(weights: readonly bigint[], parents: readonly (readonly number[])[], chunkBytes = CHUNK_BYTES): bigint[] {
  const n = weights.length;
  const reached = Uint8Array.from(weights, (w) => (w === 0n ? 0 : 1));
  const bits = Math.min(32, 53 - Math.ceil(Math.log2(n + 1)));
  let max = 0n;
  for (const w of weights) if (w > max) max = w;
  const k = Math.max(1, Math.ceil(max.toString(2).length / bits));
  const limbs = new Float64Array(n * k);
  const bigBits = BigInt(bits);
  weights.forEach((w, a) => {
    for (let j = 0; j < k; j++, w >>= bigBits) limbs[a * k + j] = Number(BigInt.asUintN(bits, w));
  });

  // first[x]: the lowest position of an ancestor of x (x included). A row only has bits in
  // [first[x], x], so only those words are OR-ed and summed.
  const first = new Int32Array(n);
  for (let x = 0; x < n; x++) {
    let low = x;
    for (const p of parents[x] as number[]) if (reached[p] === 1 && (first[p] as number) < low) low = first[p] as number;
    first[x] = low;
  }

  // Heavy nodes: for a node with many parents (glibc's thousands), OR-ing every parent's span costs
  // far more than finding its ancestors by a walk against the edges. The walk's cost is bounded by
  // the nodes and in-edges in [first[x], x]; where the OR would cost HEAVY_FACTOR times more (in
  // words against visits), the ancestors are walked once and kept as a bitset over that span, from
  // which every chunk copies its slice. Bitsets are kept up to chunkBytes in all.
  const inPrefix = new Float64Array(n + 1);
  for (let x = 0; x < n; x++) inPrefix[x + 1] = (inPrefix[x] as number) + (parents[x] as number[]).length;
  const heavy: (Uint32Array | undefined)[] = new Array<Uint32Array | undefined>(n);
  let heavyBytes = 0;
  const walked = new Int32Array(n).fill(-1);
  const stack: number[] = [];
  for (let x = 0; x < n; x++) {
    if (reached[x] === 0) continue;
    const low = first[x] as number;
    let orWords = 0;
    for (const p of parents[x] as number[]) if (reached[p] === 1) orWords += (p >>> 5) - ((first[p] as number) >>> 5) + 1;
    const walk = x - low + 1 + (inPrefix[x + 1] as number) - (inPrefix[low] as number);
    const span = (x >>> 5) - (low >>> 5) + 1;
    if (orWords <= HEAVY_FACTOR * walk || heavyBytes + span * 4 > chunkBytes) continue;
    heavyBytes += span * 4;
    const set = new Uint32Array(span);
    const base = low >>> 5;
    walked[x] = x;
    stack.push(x);
    while (stack.length > 0) {
      const y = stack.pop() as number;
      set[(y >>> 5) - base]! |= 1 << (y & 31);
      for (const p of parents[y] as number[]) {
        if (reached[p] === 1 && walked[p] !== x) {
          walked[p] = x;
          stack.push(p);
        }
      }
    }
    heavy[x] = set;
  }

  const acc = new Float64Array(n * k);
  // Rows take n * width / 8 bytes, the subset-sum table 256 * width * k bytes. Both are allocated
  // once and reused by every chunk (allocating them per chunk cost more in GC than the sums).
  const width = Math.max(32, Math.floor(Math.min((chunkBytes * 8) / Math.max(1, n), chunkBytes / (256 * k)) / 32) * 32);
  const rowWords = (Math.min(width, n) + 31) >>> 5;
  const rows = new Uint32Array(n * rowWords);
  const table = new Float64Array(rowWords * 4 * 256 * k);
  for (let lo = 0; lo < n; lo += width) {
    const hi = Math.min(n, lo + width);
    const words = (hi - lo + 31) >>> 5;
    for (let group = 0; group < words * 4; group++) {
      for (let subset = 1; subset < 256; subset++) {
        const lowest = subset & -subset;
        const a = lo + group * 8 + (31 - Math.clz32(lowest));
        const to = (group * 256 + subset) * k;
        const from = (group * 256 + (subset ^ lowest)) * k;
        for (let j = 0; j < k; j++) table[to + j] = (table[from + j] as number) + (a < hi ? (limbs[a * k + j] as number) : 0);
      }
    }
    // Nodes before `lo` have no ancestor in this chunk (ancestors come earlier): no row for them.
    // A row is only ever read within its span [first[x], x], which is cleared before it is built.
    for (let x = lo; x < n; x++) {
      // Unreached: so are all its ancestors, which weigh 0. Or no ancestor in this chunk.
      if (reached[x] === 0 || (first[x] as number) >= hi) continue;
      const row = (x - lo) * words;
      const start = Math.max(0, (first[x] as number) - lo) >>> 5;
      const upto = Math.min(words, ((x - lo) >>> 5) + 1);
      const walkedSet = heavy[x];
      if (walkedSet !== undefined) {
        // Chunks start at multiples of 32, so chunk word w is global word (lo >>> 5) + w.
        const from = (lo >>> 5) + start - ((first[x] as number) >>> 5);
        rows.set(walkedSet.subarray(from, from + upto - start), row + start);
      } else {
        rows.fill(0, row + start, row + upto);
        if (x < hi) rows[row + ((x - lo) >>> 5)]! |= 1 << ((x - lo) & 31);
        for (const p of parents[x] as number[]) {
          if (p < lo || reached[p] === 0 || (first[p] as number) >= hi) continue;
          const from = (p - lo) * words;
          const pUpto = Math.min(words, ((p - lo) >>> 5) + 1);
          for (let w = Math.max(0, (first[p] as number) - lo) >>> 5; w < pUpto; w++) rows[row + w]! |= rows[from + w] as number;
        }
      }
      for (let w = start; w < upto; w++) {
        const set = rows[row + w] as number;
        if (set === 0) continue;
        for (let byte = 0; byte < 4; byte++) {
          const subset = (set >>> (byte * 8)) & 255;
          if (subset === 0) continue;
          const at = ((w * 4 + byte) * 256 + subset) * k;
          for (let j = 0; j < k; j++) acc[x * k + j]! += table[at + j] as number;
        }
      }
    }
  }

  const sums: bigint[] = [];
  for (let x = 0; x < n; x++) {
    let sum = 0n;
    for (let j = k - 1; j >= 0; j--) sum = (sum << bigBits) + BigInt(acc[x * k + j] as number);
    sums.push(sum);
  }
  return sums;
}
