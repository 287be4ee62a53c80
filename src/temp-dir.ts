/**
 * strata's private temp directories (spool files, layouts in progress, extracted base images):
 * created under --tmp-dir (or $TMPDIR), removed by whoever created them, and by the CLI if it has
 * to exit at once (a second Ctrl-C: see exit-cleanup.ts). A parent that does not exist or cannot
 * be written is the user's to fix, so it is an E_WRITE that names it.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { StrataError } from "./errors.js";
import { removeOnExit } from "./exit-cleanup.js";

export async function makeTempDir(parent: string | undefined, prefix: string): Promise<string> {
  const base = parent ?? os.tmpdir();
  let dir: string;
  try {
    dir = await fs.promises.mkdtemp(path.join(base, prefix));
  } catch (err) {
    throw new StrataError("E_WRITE", `cannot create a temp directory in ${base}: ${(err as Error).message}`,
      parent === undefined ? "set TMPDIR, or pass --tmp-dir DIR, to a writable directory" : "--tmp-dir must name an existing, writable directory",
      { cause: err });
  }
  removeOnExit(dir);
  return dir;
}
