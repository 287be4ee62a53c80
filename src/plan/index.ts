export type { StoreLayers } from "./types.js";
export { availableStoreLayers, RUNTIME_LAYER_LIMIT, type LayerBudget } from "./budget.js";
export { packageNameKey, popularityCounts, popularityOrder, type RootGroups } from "./popularity.js";
export { headTailSplit, planPopularity, type PopularityPlanOptions } from "./split.js";
