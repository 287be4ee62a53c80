/** File-system errors met while planning or writing a layer, as StrataErrors naming the file. */
import { StrataError } from "../errors.js";

/** A file-system error met while planning or reading a layer, as a StrataError. */
export function fsError(err: unknown, p: Buffer, storePath?: string): StrataError {
  const code = (err as NodeJS.ErrnoException).code;
  const where = p.toString("utf8");
  if (code === "ENOENT") {
    return new StrataError("E_FILE_CHANGED", `${where} disappeared while the layer was being built${storePath ? ` (store path ${storePath})` : ""}`,
      "something is modifying the store; store paths must not change while strata reads them", { cause: err });
  }
  // Directories are opened without following a symlink (list-dir.ts): ENOTDIR or ELOOP there means
  // what was planned as a directory is now something else, a symlink out of the store perhaps.
  if (code === "ENOTDIR" || code === "ELOOP") {
    return new StrataError("E_FILE_CHANGED", `${where} is no longer the directory it was when the layer was planned (${code})${storePath ? ` (store path ${storePath})` : ""}`,
      "something is modifying the store; store paths must not change while strata reads them", { cause: err });
  }
  if (code === "EACCES" || code === "EPERM") {
    return new StrataError("E_READ", `cannot read ${where}: permission denied`,
      "run strata as a user that can read the whole store path", { cause: err });
  }
  return new StrataError("E_READ", `cannot read ${where}: ${(err as Error).message}`, "check the file system", { cause: err });
}
