/**
 * How many worker threads a build runs: its own module, light enough for the CLI to read before
 * it loads the build (see prestartLayerPool).
 */
import os from "node:os";
import { StrataError } from "../errors.js";

/** The default: one worker per core the process may use. */
export const DEFAULT_WORKERS = os.availableParallelism();

/** The worker count to use: `workers` if given and valid (1-256), else DEFAULT_WORKERS. */
export function workerCount(workers: number | undefined): number {
  const n = workers ?? DEFAULT_WORKERS;
  if (!Number.isInteger(n) || n < 1 || n > 256) {
    throw new StrataError("E_USAGE", `workers must be an integer from 1 to 256, got ${workers}`, `the default is the number of cores (${DEFAULT_WORKERS})`);
  }
  return n;
}
