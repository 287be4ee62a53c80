/**
 * Paths to remove if the process has to exit at once: a second Ctrl-C (or `timeout`, which
 * signals the whole process group) does not wait for the build to unwind, so the temp output
 * file, the spool and layout temp dirs and an OCI layout's `.strata-XXXXXX` dir would otherwise
 * stay behind, full size. Whoever creates such a path registers it and unregisters it once it
 * has removed or renamed it (a path must exist when it is registered); the CLI's second-signal handler calls removeRegisteredNow() right
 * before process.exit(). Removal is synchronous: nothing asynchronous runs after process.exit().
 */
import fs from "node:fs";

const registered = new Set<string>();

/** Remove `p` (a file or a whole directory) if the process exits at once; call the result when it is gone or moved into place. */
export function removeOnExit(p: string): () => void {
  if (registered.size >= PRUNE_AT) prune();
  registered.add(p);
  return () => void registered.delete(p);
}

/**
 * Temp dirs are removed by their owners with fs.promises.rm and not unregistered one by one: a
 * long-running program (the library in a server) drops the entries that are gone now and then.
 */
const PRUNE_AT = 64;

function prune(): void {
  for (const p of registered) if (!fs.existsSync(p)) registered.delete(p);
}

/** The paths registered now (for tests). */
export function registeredPaths(): readonly string[] {
  return [...registered];
}

/**
 * Removes every registered path, synchronously, ignoring errors (exiting anyway). Workers may
 * still be writing into a spool dir while it is removed; rmSync retries a directory that a file
 * appeared in meanwhile.
 */
export function removeRegisteredNow(): void {
  for (const p of registered) {
    try {
      fs.rmSync(p, { recursive: true, force: true, maxRetries: 3 });
    } catch {
      // Nothing more can be done on the way out.
    }
  }
  registered.clear();
}
