/**
 * Every test run gets a layer cache of its own (XDG_CACHE_HOME in a temp dir, inherited by the
 * CLI children tests start), so that tests neither read nor fill the cache of whoever runs them.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

export default function setup(): () => void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "strata-test-cache-"));
  process.env["XDG_CACHE_HOME"] = dir;
  return () => fs.rmSync(dir, { recursive: true, force: true });
}
