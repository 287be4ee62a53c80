/**
 * What went wrong with the cache database, in words for the one warning a build prints when its
 * cache is disabled. SQLite reports through result codes (better-sqlite3's SqliteError.code, e.g.
 * SQLITE_CORRUPT, SQLITE_IOERR_SHORT_READ), the file system through errno codes.
 */

/** How long a build waits for another build's write lock before giving up on one write (ms). */
export const BUSY_TIMEOUT_MS = 5000;

export function errorCode(err: unknown): string {
  return String((err as { code?: unknown } | null)?.code ?? "");
}

/** SQLITE_BUSY / SQLITE_LOCKED: another process held the lock longer than the busy timeout. */
export function isBusy(err: unknown): boolean {
  const code = errorCode(err);
  return code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED");
}

/** A sentence fragment: "<db> is corrupt (SQLITE_CORRUPT: database disk image is malformed)". */
export function describeProblem(err: unknown, dbPath: string): string {
  const code = errorCode(err);
  const message = err instanceof Error ? err.message : String(err);
  const detail = code === "" || message.includes(code) ? message : `${code}: ${message}`;
  if (code.startsWith("SQLITE_NOTADB")) return `${dbPath} is not a SQLite database (${detail})`;
  if (code.startsWith("SQLITE_CORRUPT") || code === "SQLITE_IOERR_SHORT_READ") return `${dbPath} is corrupt (${detail})`;
  if (code === "EACCES" || code === "EPERM" || code.startsWith("SQLITE_READONLY") || code.startsWith("SQLITE_PERM") || code.startsWith("SQLITE_CANTOPEN")) {
    return `${dbPath} cannot be opened for writing (${detail})`;
  }
  if (code === "EISDIR") return `${dbPath} is a directory, not a database file`;
  if (code === "ENOSPC" || code === "EDQUOT" || code.startsWith("SQLITE_FULL")) return `no space left to write ${dbPath} (${detail})`;
  return `${dbPath} could not be used (${detail})`;
}

/** What to do about it, after the problem. */
export function problemHint(err: unknown): string {
  const code = errorCode(err);
  if (code === "EACCES" || code === "EPERM" || code.startsWith("SQLITE_READONLY") || code.startsWith("SQLITE_PERM") || code.startsWith("SQLITE_CANTOPEN")) {
    return "check the permissions of the cache directory, or choose another with --cache-dir";
  }
  return "remove it with `strata cache clear`, or choose another with --cache-dir";
}
