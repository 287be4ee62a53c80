import { describe, expect, it } from "vitest";
import { availableStoreLayers, checkLayerBudget, exceedsRuntimeLayerLimit, RUNTIME_LAYER_LIMIT } from "../../src/plan/budget.js";
import { StrataError } from "../../src/errors.js";

function budgetError(maxLayers: number, baseLayers: number): StrataError {
  try {
    availableStoreLayers({ maxLayers, baseLayers });
  } catch (err) {
    expect(err).toBeInstanceOf(StrataError);
    expect((err as StrataError).hint.length).toBeGreaterThan(0);
    return err as StrataError;
  }
  throw new Error("expected availableStoreLayers to throw");
}

describe("availableStoreLayers", () => {
  it("takes one layer for the customisation layer and one per base layer", () => {
    expect(availableStoreLayers({ maxLayers: 100, baseLayers: 0 })).toBe(99);
    expect(availableStoreLayers({ maxLayers: 2, baseLayers: 0 })).toBe(1);
    // nixpkgs' layered-bulk-layer test: maxLayers 4 on a 2-layer base leaves 1 store layer.
    expect(availableStoreLayers({ maxLayers: 4, baseLayers: 2 })).toBe(1);
  });

  it("is an E_LAYER_BUDGET error when nothing is left for store paths", () => {
    const one = budgetError(2, 1);
    expect(one.code).toBe("E_LAYER_BUDGET");
    expect(one.message).toBe("maxLayers=2 leaves no layer for store paths: 1 base layer + 1 customisation layer use 2");
    expect(one.hint).toContain("at least 3");
    expect(budgetError(4, 5).message).toBe("maxLayers=4 leaves no layer for store paths: 5 base layers + 1 customisation layer use 6");
  });

  it.each([[1], [0], [-3], [2.5], [Number.NaN], [Number.POSITIVE_INFINITY]])("rejects maxLayers=%s with E_USAGE", (maxLayers) => {
    const e = budgetError(maxLayers, 0);
    expect(e.code).toBe("E_USAGE");
    expect(e.message).toBe(`maxLayers must be an integer >= 2, got ${String(maxLayers)}`);
  });

  it.each([[-1], [0.5]])("rejects baseLayers=%s with E_USAGE", (baseLayers) => {
    const e = budgetError(10, baseLayers);
    expect(e.code).toBe("E_USAGE");
    expect(e.message).toBe(`baseLayers must be an integer >= 0, got ${baseLayers}`);
  });

  it("keeps the runtime limit above nixpkgs' default of 100 layers and below overlay's ~128", () => {
    expect(RUNTIME_LAYER_LIMIT).toBeGreaterThan(100);
    expect(RUNTIME_LAYER_LIMIT).toBeLessThan(128);
  });
});

describe("exceedsRuntimeLayerLimit", () => {
  it("flags images of more layers than runtimes can mount (above 125)", () => {
    expect(exceedsRuntimeLayerLimit(100)).toBe(false);
    expect(exceedsRuntimeLayerLimit(RUNTIME_LAYER_LIMIT)).toBe(false);
    expect(exceedsRuntimeLayerLimit(RUNTIME_LAYER_LIMIT + 1)).toBe(true);
  });
});

describe("checkLayerBudget", () => {
  it("checks the numbers without spending them", () => {
    expect(() => checkLayerBudget({ maxLayers: 2, baseLayers: 5 })).not.toThrow();
    expect(() => checkLayerBudget({ maxLayers: 1, baseLayers: 0 })).toThrow(expect.objectContaining({ code: "E_USAGE" }));
    expect(() => checkLayerBudget({ maxLayers: 10, baseLayers: -1 })).toThrow(expect.objectContaining({ code: "E_USAGE" }));
  });
});
