/**
 * How much two layer plans share. A layer is shared when both plans have a layer with the same
 * path list, in the same order: the stream writes a layer's paths in list order, so only then are
 * the tars (and their digests) the same, and a registry or a host reuses the blob. Layers are
 * matched one to one (a multiset intersection), so two identical empty layers of a pipeline plan
 * count once per pair.
 */

import type { StoreLayers } from "./types.js";

export interface PlanTotals {
  readonly layers: number;
  /** Sum of `sizeOf` over the plan's paths. */
  readonly bytes: number;
}

export interface LayerPlanComparison {
  /** Layers both plans have, and their bytes (counted once). */
  readonly shared: PlanTotals;
  readonly a: PlanTotals;
  readonly b: PlanTotals;
  /** The shared layers as index pairs (0-based), in `a`'s order. */
  readonly pairs: readonly { readonly a: number; readonly b: number }[];
}

export function compareLayerPlans(a: StoreLayers, b: StoreLayers, sizeOf: (path: string) => number): LayerPlanComparison {
  const layerBytes = (layer: readonly string[]) => layer.reduce((sum, path) => sum + sizeOf(path), 0);
  // Store paths have no NUL, so this key is unambiguous.
  const key = (layer: readonly string[]) => layer.join("\0");
  const unmatched = new Map<string, number[]>();
  b.forEach((layer, i) => {
    const k = key(layer);
    const list = unmatched.get(k);
    if (list === undefined) unmatched.set(k, [i]);
    else list.push(i);
  });
  const pairs: { a: number; b: number }[] = [];
  let sharedBytes = 0;
  a.forEach((layer, i) => {
    const match = unmatched.get(key(layer))?.shift();
    if (match === undefined) return;
    pairs.push({ a: i, b: match });
    sharedBytes += layerBytes(layer);
  });
  const totals = (plan: StoreLayers): PlanTotals => ({ layers: plan.length, bytes: plan.reduce((sum, layer) => sum + layerBytes(layer), 0) });
  return { shared: { layers: pairs.length, bytes: sharedBytes }, a: totals(a), b: totals(b), pairs };
}
