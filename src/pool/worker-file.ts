/**
 * The built worker file of a piscina pool. Workers must be plain JavaScript on Node 20, so they
 * always come from dist/ (built by `npm ci` through `prepare`), also when the library itself runs
 * from sources under vitest.
 */
import path from "node:path";
import { fileURLToPath } from "node:url";

export function workerFile(name: string): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const inDist = here.split(path.sep).includes("dist");
  const root = inDist ? path.resolve(here, "../..") : path.resolve(here, "../../dist");
  return path.join(root, "workers", `${name}.js`);
}

/** Switches require(esm) off; a Node without require(esm) does not know it. */
const NO_REQUIRE_ESM = "--no-experimental-require-module";

/**
 * What every strata pool gives piscina for worker file `name`: the file, and the parent's Node
 * options plus NO_REQUIRE_ESM. piscina loads a worker file with require() first, and on Node >=
 * 20.19 that is require(esm); a worker terminated while it is still loading that way aborts the
 * whole process (a Node assertion in ModuleWrap::CreateRequiredModuleFacade, exit 134). A build
 * that fails in its first ~60 ms destroys its pool in that window: seen as an aborted test run;
 * 300 create/destroy cycles of the NAR pool aborted in 2 runs of 3. Without require(esm) the
 * require() throws at once and piscina falls back to import(), which a termination merely
 * rejects (0 runs of 3 aborted; test/pool/pool-lifecycle.test.ts).
 */
export function poolWorker(name: string): { filename: string; execArgv: string[] } {
  const execArgv = process.allowedNodeEnvironmentFlags.has(NO_REQUIRE_ESM) ? [...process.execArgv, NO_REQUIRE_ESM] : [...process.execArgv];
  return { filename: workerFile(name), execArgv };
}
