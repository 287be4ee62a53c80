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
