/**
 * A pre-flight check in the main thread, before any output is opened: every store path of the
 * plan exists. One lstat per store path (not per file), so a missing path fails at once with a
 * clear error instead of after part of the image was written.
 */
import fs from "node:fs";
import { StrataError } from "../errors.js";

export function checkPresent(paths: readonly string[], fsRoot: string): void {
  for (const p of paths) {
    try {
      fs.lstatSync(fsRoot + p);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOENT" || code === "ENOTDIR") {
        throw new StrataError("E_STORE_PATH", `store path ${p} does not exist${fsRoot ? ` under ${fsRoot}` : ""}`,
          fsRoot ? "check --store-root, or build the path into that store first" : "build or fetch it first (nix-store --realise), or fix the closure input", { cause: err });
      }
      throw new StrataError("E_READ", `cannot look at store path ${p}: ${(err as Error).message}`, "check the store's permissions", { cause: err });
    }
  }
}
