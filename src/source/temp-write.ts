/**
 * Errors writing strata's own temp copies of an input (extracted members, uncompressed layers):
 * a full disk is the user's to fix, so it is an E_WRITE that names the directory, not a stray
 * errno that the caller would report as something else (it once surfaced as "the build was
 * cancelled").
 */
import { StrataError } from "../errors.js";

/** `err` from writing into the temp dir `dir` (for `what`) as a StrataError when it is a disk error; else `err`. */
export function tempWriteError(err: unknown, dir: string, what: string): unknown {
  const code = (err as { code?: unknown } | null)?.code;
  switch (code) {
    case "ENOSPC":
    case "EDQUOT":
      return new StrataError("E_WRITE", `${what}: expected room for it in the temp dir ${dir}, found the disk full (${code})`,
        "free space there, or give strata a larger temp dir with --tmp-dir (or TMPDIR)", { cause: err });
    case "EIO":
    case "EFBIG":
    case "EROFS":
      return new StrataError("E_WRITE", `${what}: could not write to the temp dir ${dir} (${code})`, "check the disk, or use another --tmp-dir", { cause: err });
    default:
      return err;
  }
}
