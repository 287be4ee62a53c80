/**
 * Member names of an image archive, normalised so that one name means one member: leading `./`
 * and repeated or trailing slashes dropped. Names that climb out with `..`, absolute names, NUL
 * bytes and names longer than PATH_MAX are refused: whatever a member is called, it is never used
 * as a path on disk (extracted members are numbered), but a tool that would trust such a name is
 * what a malicious archive is made for, and no image writer produces one.
 */
import path from "node:path";
import { StrataError } from "../errors.js";
import { LIMITS } from "./limits.js";

export const MALICIOUS_HINT =
  "the archive is malformed or crafted to escape extraction; strata used nothing from it. Re-create it with docker save, podman save or skopeo copy";

/** The normalised name (`""` for the archive root `./`), or a StrataError naming `what`. */
export function normaliseMemberName(raw: string, what: string): string {
  if (Buffer.byteLength(raw) > LIMITS.maxName) {
    throw refuse(what, `a member name of ${Buffer.byteLength(raw)} bytes (at most ${LIMITS.maxName})`);
  }
  if (raw.includes("\0")) throw refuse(what, `a member name with a NUL byte: ${JSON.stringify(raw)}`);
  if (raw.startsWith("/")) throw refuse(what, `an absolute member name ${JSON.stringify(raw)}`);
  const parts = raw.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.includes("..")) throw refuse(what, `a member name with "..": ${JSON.stringify(raw)}`);
  return parts.join("/");
}

/**
 * Where a symlink member named `linkName` points, as a member name, or a StrataError when the
 * target is absolute or climbs out of the archive.
 */
export function resolveSymlinkTarget(linkName: string, target: string, what: string): string {
  if (target.startsWith("/")) {
    throw refuse(what, `member ${linkName}, a symlink to the absolute path ${JSON.stringify(target)}`);
  }
  const joined = path.posix.normalize(path.posix.join(path.posix.dirname(linkName), target));
  if (joined === ".." || joined.startsWith("../")) {
    throw refuse(what, `member ${linkName}, a symlink to ${JSON.stringify(target)}, which is outside the archive`);
  }
  return normaliseMemberName(joined, what);
}

/** "expected a well-formed image archive, found <found>". */
export function refuse(what: string, found: string): StrataError {
  return new StrataError("E_CLOSURE_INPUT", `${what}: expected a well-formed image archive, found ${found}`, MALICIOUS_HINT);
}
