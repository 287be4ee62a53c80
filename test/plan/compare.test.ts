import { describe, expect, it } from "vitest";
import { compareLayerPlans } from "../../src/plan/compare.js";

const size = (path: string) => Number(path.slice(path.lastIndexOf("-") + 1));

describe("compareLayerPlans", () => {
  it("counts layers with the same path list, and their bytes once", () => {
    const a = [["/s/a-10"], ["/s/b-20", "/s/c-5"], ["/s/d-7"]];
    const b = [["/s/b-20", "/s/c-5"], ["/s/a-10"], ["/s/e-1", "/s/d-7"]];
    expect(compareLayerPlans(a, b, size)).toEqual({
      shared: { layers: 2, bytes: 35 },
      a: { layers: 3, bytes: 42 },
      b: { layers: 3, bytes: 43 },
      pairs: [
        { a: 0, b: 1 },
        { a: 1, b: 0 },
      ],
    });
  });

  it("needs the same order within a layer (the tar lists paths in plan order)", () => {
    expect(compareLayerPlans([["/s/a-1", "/s/b-2"]], [["/s/b-2", "/s/a-1"]], size).shared).toEqual({ layers: 0, bytes: 0 });
  });

  it("matches identical layers one to one (empty pipeline layers included)", () => {
    const result = compareLayerPlans([[], [], ["/s/a-3"]], [[], ["/s/a-3"]], size);
    expect(result.shared).toEqual({ layers: 2, bytes: 3 });
    expect(result.pairs).toEqual([
      { a: 0, b: 0 },
      { a: 2, b: 1 },
    ]);
  });

  it("handles empty plans", () => {
    expect(compareLayerPlans([], [], size)).toEqual({ shared: { layers: 0, bytes: 0 }, a: { layers: 0, bytes: 0 }, b: { layers: 0, bytes: 0 }, pairs: [] });
  });
});
