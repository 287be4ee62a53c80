/**
 * The host's Nix store as closure input: the closure of some store paths, with narHash, narSize
 * and deriver, read straight from Nix's database (`/nix/var/nix/db/db.sqlite`, or
 * `DIR/nix/var/nix/db/db.sqlite` for a chroot store `local?root=DIR`) without running Nix.
 *
 * How the database is opened, so that a running nix-daemon is never disturbed:
 *
 * - Always read-only, never with Nix's big-lock: reading takes no lock Nix waits for.
 * - A `db.sqlite-wal` file exists (some Nix process has the database open; Nix uses WAL mode):
 *   open it in place, read-only. WAL readers never block the writer and see every committed
 *   transaction, including those not yet checkpointed into db.sqlite (Nix checkpoints only every
 *   40000 pages, so recent registrations often live in the WAL). The whole closure is read in one
 *   read transaction: one consistent snapshot. SQLite's `immutable` mode is not used: it would
 *   ignore the WAL (missing recent paths) and could read pages torn by a concurrent checkpoint;
 *   better-sqlite3 is also built without URI filenames, so it could not be asked for.
 * - The file is in rollback-journal mode (Nix with `use-sqlite-wal = false`): open it in place,
 *   read-only; that takes SQLite's shared lock for the read, as any Nix reader does, and creates
 *   no file. If a writer holds the lock longer than `lockTimeoutMs`, the read fails with E_READ.
 * - WAL mode but no `-wal` file (no process has the database open, the usual state): opening it
 *   in place would create `-wal`/`-shm` files in Nix's directory (owned by whoever runs strata;
 *   a root-owned `-shm` in a single-user store breaks its owner's Nix), or fail for a user who
 *   cannot write there. So the file is copied to a temp dir and read there; if it changed during
 *   the copy (mtime, size, inode) or a `-wal` appeared, it is tried again, and after three tries
 *   read in place.
 */
import fs from "node:fs";
import os from "node:os";
import { createRequire } from "node:module";
import path from "node:path";
import type Database from "better-sqlite3";
import { StrataError, toStrataError } from "../errors.js";
import { normaliseNarHash } from "../nixdb/hash-format.js";
import { storePathProblem } from "./graph-checks.js";
import type { ClosureGraph, StorePathInfo } from "./types.js";

const STORE_DIR = "/nix/store";
const DB_PATH = "/nix/var/nix/db/db.sqlite";
const SQLITE_MAGIC = Buffer.from("SQLite format 3\0", "latin1");

export interface HostStoreOptions {
  /** A chroot store (Nix's `local?root=DIR`): DB at `DIR/nix/var/nix/db/db.sqlite`. Default: the host's. */
  readonly storeRoot?: string;
  /** How long to wait for another process's lock on a rollback-journal database (default 5000 ms). */
  readonly lockTimeoutMs?: number;
}

interface Row {
  readonly id: number;
  readonly path: string;
  readonly hash: string;
  readonly deriver: string | null;
  readonly narSize: number | null;
}

/**
 * The closure of `roots` in the Nix store's database. A root may be a store path, a path inside
 * one, the same under `storeRoot`, or a symlink into the store (such as nix-build's `./result`).
 */
export function readHostClosure(roots: readonly string[], options: HostStoreOptions = {}): ClosureGraph {
  const storeRoot = options.storeRoot === undefined ? "" : path.resolve(options.storeRoot);
  if (roots.length === 0) throw new StrataError("E_USAGE", "no store paths given to read the closure of", "name at least one store path");
  const dbPath = storeRoot + DB_PATH;
  const rootPaths = roots.map((r) => resolveRoot(r, storeRoot));
  const opened = openHostDb(dbPath, options.lockTimeoutMs ?? 5000, storeRoot);
  try {
    return sqlite(dbPath, () => readClosure(opened.db, rootPaths, dbPath));
  } finally {
    opened.close();
  }
}

function readClosure(db: Database.Database, roots: readonly string[], dbPath: string): ClosureGraph {
  const byPath = db.prepare<[string], Row>("select id, path, hash, deriver, narSize from ValidPaths where path = ?");
  const refsOf = db.prepare<[number], Row>(
    "select v.id, v.path, v.hash, v.deriver, v.narSize from Refs r join ValidPaths v on v.id = r.reference where r.referrer = ?");
  return db.transaction(() => {
    const infos = new Map<string, StorePathInfo>();
    const queue: Row[] = [];
    for (const root of roots) {
      const row = byPath.get(root);
      if (row === undefined) {
        throw new StrataError("E_STORE_PATH", `${root} is not a valid path in the Nix database ${dbPath}`,
          `build or fetch it first (nix-store --realise ${root}), or check the path${dbPath === DB_PATH ? "" : " and --store-root"}`);
      }
      queue.push(row);
    }
    const seen = new Set(queue.map((r) => r.path));
    while (queue.length > 0) {
      const row = queue.pop()!;
      const refs = refsOf.all(row.id);
      for (const ref of refs) {
        if (seen.has(ref.path)) continue;
        seen.add(ref.path);
        queue.push(ref);
      }
      infos.set(row.path, toInfo(row, refs, dbPath));
    }
    const paths = new Map([...infos.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    return { storeDir: STORE_DIR, paths };
  })();
}

function toInfo(row: Row, refs: readonly Row[], dbPath: string): StorePathInfo {
  const problem = storePathProblem(row.path, STORE_DIR);
  if (problem !== undefined) {
    throw new StrataError("E_CLOSURE_INPUT", `${dbPath} registers ${JSON.stringify(row.path)}, which is not a store path: ${problem}`,
      "only stores with the store directory /nix/store can be read");
  }
  const narHash = normaliseNarHash(row.hash);
  if (narHash === undefined) {
    throw new StrataError("E_CLOSURE_INPUT", `${dbPath} registers ${row.path} with hash ${JSON.stringify(row.hash)}, expected sha256:<base16 or base32>`,
      "check the database with nix-store --verify");
  }
  const references = [...new Set(refs.map((r) => r.path).filter((p) => p !== row.path))].sort();
  return {
    path: row.path,
    references,
    selfReference: refs.some((r) => r.path === row.path),
    narSize: row.narSize ?? 0,
    narHash,
    ...(row.deriver === null || row.deriver === "" ? {} : { deriver: row.deriver }),
  };
}

/** A root as a store path `/nix/store/<name>`, following symlinks that lead into the store. */
function resolveRoot(root: string, storeRoot: string): string {
  let p = root;
  for (let hops = 0; hops < 40; hops++) {
    if (storeRoot !== "" && p.startsWith(storeRoot + STORE_DIR + "/")) p = p.slice(storeRoot.length);
    if (p.startsWith(STORE_DIR + "/")) {
      const storePath = `${STORE_DIR}/${p.slice(STORE_DIR.length + 1).split("/")[0]}`;
      const problem = storePathProblem(storePath, STORE_DIR);
      if (problem !== undefined) throw new StrataError("E_STORE_PATH", `${root} is not a store path: ${problem}`, "name a store path, e.g. /nix/store/<hash>-hello");
      return storePath;
    }
    let target: string;
    try {
      target = fs.readlinkSync(p);
    } catch {
      break;
    }
    p = path.resolve(path.dirname(path.resolve(p)), target);
  }
  throw new StrataError("E_STORE_PATH", `${root} is not in ${STORE_DIR}, nor a symlink into it`,
    "name a store path (/nix/store/<hash>-<name>) or a nix-build result link");
}

/**
 * better-sqlite3, loaded when a store database is first opened: a build from a graph file never
 * needs it, and loading it is ~10 ms of every start-up otherwise.
 */
function sqlite3(): typeof Database {
  return createRequire(import.meta.url)("better-sqlite3") as typeof Database;
}

interface OpenDb {
  readonly db: Database.Database;
  close(): void;
}

/** Opens the database read-only, in place or as a copy (see the file comment). */
function openHostDb(dbPath: string, timeout: number, storeRoot: string): OpenDb {
  for (let attempt = 1; ; attempt++) {
    const walMode = readHeader(dbPath, storeRoot)[18] === 2;
    if (!walMode || fs.existsSync(`${dbPath}-wal`) || attempt > 3) {
      const db = sqlite(dbPath, () => new (sqlite3())(dbPath, { readonly: true, fileMustExist: true, timeout }));
      return { db, close: () => db.close() };
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "strata-nixdb-"));
    try {
      const before = fs.statSync(dbPath, { bigint: true });
      fs.copyFileSync(dbPath, path.join(dir, "db.sqlite"));
      const after = fs.statSync(dbPath, { bigint: true });
      const unchanged = before.mtimeNs === after.mtimeNs && before.ctimeNs === after.ctimeNs && before.size === after.size && before.ino === after.ino;
      if (unchanged && !fs.existsSync(`${dbPath}-wal`)) {
        const db = sqlite(dbPath, () => new (sqlite3())(path.join(dir, "db.sqlite"), { readonly: true, fileMustExist: true, timeout }));
        return {
          db,
          close: () => {
            db.close();
            fs.rmSync(dir, { recursive: true, force: true });
          },
        };
      }
    } catch (err) {
      fs.rmSync(dir, { recursive: true, force: true });
      throw err instanceof StrataError ? err : readError(err, dbPath);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The database header; a missing, unreadable or non-SQLite file is reported here. */
function readHeader(dbPath: string, storeRoot: string): Buffer {
  let fd: number;
  try {
    fd = fs.openSync(dbPath, "r");
  } catch (err) {
    if ((err as { code?: unknown }).code === "ENOENT") {
      throw new StrataError("E_CLOSURE_INPUT", `no Nix database at ${dbPath}`,
        storeRoot === ""
          ? "is Nix installed here? For a chroot store (local?root=DIR) pass --store-root DIR; or give the closure as a references graph"
          : "--store-root must be the DIR of a Nix store local?root=DIR (holding nix/store and nix/var/nix/db)",
        { cause: err });
    }
    throw readError(err, dbPath);
  }
  try {
    const header = Buffer.alloc(100);
    const n = fs.readSync(fd, header, 0, 100, 0);
    if (n < 100 || !header.subarray(0, 16).equals(SQLITE_MAGIC)) {
      throw new StrataError("E_CLOSURE_INPUT", `${dbPath} is not a SQLite database (it starts with ${JSON.stringify(header.subarray(0, Math.min(n, 16)).toString("latin1"))})`,
        "the Nix database is corrupt: check it with nix-store --verify, or give the closure as a references graph");
    }
    return header;
  } catch (err) {
    throw err instanceof StrataError ? err : readError(err, dbPath);
  } finally {
    fs.closeSync(fd);
  }
}

function readError(err: unknown, dbPath: string): StrataError {
  const code = (err as { code?: unknown } | null)?.code;
  if (code === "EACCES" || code === "EPERM") {
    return new StrataError("E_READ", `cannot read the Nix database ${dbPath}: permission denied`,
      "run as a user who may read it (root on a multi-user install), or give the closure as a references graph", { cause: err });
  }
  return toStrataError(err, `reading the Nix database ${dbPath}`);
}

/** Runs `fn`, turning SQLite's errors into StrataErrors that say what was wrong with the database. */
function sqlite<T>(dbPath: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof StrataError) throw err;
    const code = String((err as { code?: unknown } | null)?.code ?? "");
    const message = err instanceof Error ? err.message : String(err);
    if (code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED")) {
      throw new StrataError("E_READ", `the Nix database ${dbPath} is locked by another process (${message})`,
        "wait for the running Nix operation to finish and try again", { cause: err });
    }
    if (code.startsWith("SQLITE_NOTADB") || code.startsWith("SQLITE_CORRUPT")) {
      throw new StrataError("E_CLOSURE_INPUT", `${dbPath} is corrupt (${message})`,
        "check the Nix database with nix-store --verify, or give the closure as a references graph", { cause: err });
    }
    if (code === "SQLITE_ERROR" && /no such (table|column)/.test(message)) {
      throw new StrataError("E_CLOSURE_INPUT", `${dbPath} is not a Nix database (${message})`,
        "point --store-root at a Nix store (schema version 10, Nix 2.0 or later)", { cause: err });
    }
    if (code.startsWith("SQLITE_CANTOPEN") || code.startsWith("SQLITE_READONLY") || code.startsWith("SQLITE_PERM") || code.startsWith("SQLITE_AUTH")) {
      throw new StrataError("E_READ", `cannot read the Nix database ${dbPath} (${message})`,
        "run as a user who may read it and its -wal and -shm files (root on a multi-user install)", { cause: err });
    }
    throw readError(err, dbPath);
  }
}
