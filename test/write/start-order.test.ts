/**
 * Which layer tasks the docker-archive merger starts, and when (merger.ts layersToStart): a
 * simulation of a whole build, head by head, with rings taken by started layers and given back as
 * each head is written. Whatever the sizes, the head always gets a ring and starts; when
 * compressing (long layers not ahead), a long layer starts only as the head and what is started
 * is a prefix of the plan.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { layersToStart, startOrder } from "../../src/write/merger.js";

const MiB = 1 << 20;
const RING = 8 * MiB;
const isLongFor = (estimates: number[]) => (i: number): boolean => estimates[i]! > RING / 2;

/** Runs the build; returns, per layer, the head at the time it was started. */
function simulate(estimates: number[], workers: number, longAhead: boolean): number[] {
  const order = longAhead ? startOrder(estimates, workers) : estimates.map((_, i) => i);
  const isLong = longAhead ? undefined : isLongFor(estimates);
  const started = new Set<number>();
  const startedAt: number[] = [];
  let free = 2 * workers + 1;
  for (let head = 0; head < estimates.length; head++) {
    for (const i of layersToStart(head, order, started, free, isLong)) {
      expect(free).toBeGreaterThan(0);
      expect(started.has(i)).toBe(false);
      started.add(i);
      startedAt[i] = head;
      free -= 1;
    }
    expect(started.has(head)).toBe(true);
    if (!longAhead) expect([...started].every((i) => i < started.size)).toBe(true); // a prefix of the plan
    free += 1; // the head is written: its ring is free again
  }
  return startedAt;
}

const sizes = fc.array(fc.oneof(fc.integer({ min: 0, max: 2 * MiB }), fc.integer({ min: 0, max: 600 * MiB })), { minLength: 1, maxLength: 60 });

describe("layer start order", () => {
  it("the head always has a ring and starts, with long layers ahead or not", () => {
    fc.assert(fc.property(sizes, fc.integer({ min: 1, max: 8 }), fc.boolean(), (estimates, workers, longAhead) => {
      const at = simulate(estimates, workers, longAhead);
      expect(at).toHaveLength(estimates.length);
    }), { numRuns: 500 });
  });

  it("when compressing, a long layer starts only as the head; short ones run ahead", () => {
    fc.assert(fc.property(sizes, fc.integer({ min: 1, max: 8 }), (estimates, workers) => {
      const at = simulate(estimates, workers, false);
      estimates.forEach((e, i) => {
        if (e > RING / 2) expect(at[i]).toBe(i);
      });
    }), { numRuns: 500 });
    // Short layers after the head start with it, up to the rings: 2 workers, 5 rings.
    const small = Array.from({ length: 8 }, () => MiB);
    expect(simulate(small, 2, false).slice(0, 6)).toEqual([0, 0, 0, 0, 0, 1]);
  });

  it("uncompressed, a layer that dominates the build starts with the first one", () => {
    const estimates = [MiB, MiB, MiB, MiB, 300 * MiB, MiB, 200 * MiB];
    const at = simulate(estimates, 2, true);
    expect(at[4]).toBe(0); // 300 MiB of 507: started at once
    expect(simulate(estimates, 2, false)[4]).toBe(4); // compressing: in its turn
  });
});
