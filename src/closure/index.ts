export type { ClosureGraph, StorePathInfo } from "./types.js";
export { parseReferencesGraph } from "./references-graph.js";
export { closureOf } from "./closure-of.js";
export {
  assertAcyclic,
  assertNoDanglingReferences,
  checkStoreDir,
  danglingReferences,
  findCycle,
  storePathProblem,
} from "./graph-checks.js";
