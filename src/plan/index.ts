export type { StoreLayers } from "./types.js";
export {
  availableStoreLayers,
  checkLayerBudget,
  exceedsRuntimeLayerLimit,
  runtimeLayerLimitWarning,
  RUNTIME_LAYER_LIMIT,
  type LayerBudget,
} from "./budget.js";
export { packageNameKey, popularityCounts, popularityOrder, type RootGroups } from "./popularity.js";
export { headTailSplit, planPopularity, type PopularityPlanOptions } from "./split.js";
export { autoLayer, comparePathKeys, pathKey, type AutoLayerOptions } from "./auto-layer.js";
export { runPipeline, compilePipeline, PIPELINE_OPS, type RunPipelineOptions } from "./pipeline/index.js";
export { planLayers, PLAN_DEFAULTS, type LayeringStrategy, type PlanLayersOptions } from "./plan-layers.js";
export { planWithPrevious } from "./previous.js";
export { compareLayerPlans, type LayerPlanComparison, type PlanTotals } from "./compare.js";
export { parseLayerPlan, checkLayerPlan } from "./layer-plan-json.js";
