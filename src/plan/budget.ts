/**
 * The layer budget (spec §1.5): an image may have at most `maxLayers` layers in all, and the
 * base image's layers and the customisation layer come out of that budget before any store path
 * gets a layer. nixpkgs fails with "usedLayers N layers to store 'fromImage' and 'extraCommands'";
 * strata says the same thing in terms of what the user controls.
 */

import { StrataError } from "../errors.js";

/**
 * How many layers a container runtime can actually stack. overlayfs takes every lower layer in one
 * mount option string, which must fit in a page: Docker fails from about 125-128 layers
 * (docker/docs#8230, moby#26380; podman stores more but cannot mount them, containers/storage#489).
 * nixpkgs' default `maxLayers = 100` stays clear of it.
 */
export const RUNTIME_LAYER_LIMIT = 125;

/** The customisation layer (contents, extraCommands, fakeRootCommands) always takes one layer. */
const CUSTOMISATION_LAYERS = 1;

export interface LayerBudget {
  /** Total layers the image may have, base layers and customisation layer included (>= 2). */
  readonly maxLayers: number;
  /** Layers of the base image (`fromImage`), 0 without one. */
  readonly baseLayers: number;
}

/**
 * Checks the budget's numbers without spending it (a layering pipeline has no budget, but nixpkgs
 * still asserts maxLayers > 1 for every image).
 */
export function checkLayerBudget({ maxLayers, baseLayers }: LayerBudget): void {
  // The same floor nixpkgs asserts ("maxLayers must be greather than 1"): one store layer plus the
  // customisation layer is the smallest image that holds a closure.
  if (!Number.isSafeInteger(maxLayers) || maxLayers < 2) {
    throw new StrataError("E_USAGE", `maxLayers must be an integer >= 2, got ${String(maxLayers)}`, "set maxLayers to 2 or more (nixpkgs' default is 100)");
  }
  if (!Number.isSafeInteger(baseLayers) || baseLayers < 0) {
    throw new StrataError("E_USAGE", `baseLayers must be an integer >= 0, got ${String(baseLayers)}`, "count the layers of the base image's manifest");
  }
}

/** The number of layers left for store paths, at least 1; throws when nothing is left. */
export function availableStoreLayers({ maxLayers, baseLayers }: LayerBudget): number {
  checkLayerBudget({ maxLayers, baseLayers });
  const used = baseLayers + CUSTOMISATION_LAYERS;
  if (used >= maxLayers) {
    const base = `${baseLayers} base ${baseLayers === 1 ? "layer" : "layers"}`;
    throw new StrataError(
      "E_LAYER_BUDGET",
      `maxLayers=${maxLayers} leaves no layer for store paths: ${base} + 1 customisation layer use ${used}`,
      `raise maxLayers to at least ${used + 1}, or build on a base image with fewer layers`,
    );
  }
  return maxLayers - used;
}

/**
 * Whether an image of `totalLayers` layers (base, store and customisation layers together) is past
 * what container runtimes can mount (RUNTIME_LAYER_LIMIT), so the CLI can warn. For the budgeted
 * strategies pass the requested maxLayers; for a pipeline, which has no budget, pass the plan's
 * length + baseLayers + 1.
 */
export function exceedsRuntimeLayerLimit(totalLayers: number): boolean {
  return totalLayers > RUNTIME_LAYER_LIMIT;
}
