/**
 * A lock file for read-modify-write of a shared file (a layout's index.json): created with
 * O_EXCL, holding the owner's pid; a lock whose owner is gone is taken over. Node has no flock(),
 * and two builds into one layout must not lose each other's tags (before: 1 run in 5 did).
 */
import fs from "node:fs";
import { StrataError } from "../../errors.js";

/** How long to wait for another strata to finish with the file: index updates take milliseconds. */
const WAIT_MS = 60_000;

export async function withLockFile<T>(lock: string, fn: () => T): Promise<T> {
  const start = Date.now();
  for (let delay = 2; ; delay = Math.min(delay * 2, 100)) {
    try {
      const fd = fs.openSync(lock, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o644);
      fs.writeSync(fd, `${process.pid}\n`);
      fs.closeSync(fd);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") {
        throw new StrataError("E_WRITE", `cannot lock ${lock}: ${(err as Error).message}`, "check that the directory is writable", { cause: err });
      }
      if (ownerGone(lock)) {
        fs.rmSync(lock, { force: true });
        continue;
      }
      if (Date.now() - start > WAIT_MS) {
        throw new StrataError("E_WRITE", `${lock} has been held for over ${WAIT_MS / 1000} s`, "another strata is writing this layout; if none is, remove the lock file");
      }
      await new Promise((r) => setTimeout(r, delay));
    }
  }
  try {
    return fn();
  } finally {
    fs.rmSync(lock, { force: true });
  }
}

function ownerGone(lock: string): boolean {
  let pid: number;
  try {
    pid = Number.parseInt(fs.readFileSync(lock, "utf8"), 10);
  } catch {
    return false; // being written or just removed: look again
  }
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "ESRCH";
  }
}
