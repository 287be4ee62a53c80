/**
 * nixpkgs' classic layer split (spec §3.3, the jq step of the `conf` builder): the most popular
 * paths get a layer each, and everything else shares one final layer. Together with the
 * popularity order this is the pre-2024 `streamLayeredImage` layering, kept for parity with
 * images built then (and for users who prefer its few, predictable layers); `planLayers`
 * (plan-layers.ts) composes the two under the budget.
 */

import { StrataError } from "../errors.js";
import type { StoreLayers } from "./types.js";

/**
 * The first `available - 1` paths one per layer, then one layer with all the remaining paths in
 * order; empty layers are dropped, so there are at most `available` layers and an empty order
 * gives `[]`. Every path lands in exactly one layer: nixpkgs once dropped the paths past the budget
 * (issue #78744), which is why the tail layer takes all of them.
 */
export function headTailSplit(order: readonly string[], available: number): StoreLayers {
  if (!Number.isSafeInteger(available) || available < 1) {
    throw new StrataError(
      "E_USAGE",
      `the number of store layers must be an integer >= 1, got ${String(available)}`,
      "compute it with availableStoreLayers()",
    );
  }
  const head = order.slice(0, available - 1).map((path) => [path]);
  const tail = order.slice(available - 1);
  return tail.length > 0 ? [...head, tail] : head;
}
