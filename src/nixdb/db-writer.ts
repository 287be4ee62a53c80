/**
 * The image's Nix database: what nixpkgs' `includeNixDB` puts into the customisation layer
 * (`nix-store --load-db < registration`, then every registrationTime reset to SOURCE_DATE_EPOCH,
 * then gcroots symlinks for the contents; spec §1.6.3), written by strata itself with
 * better-sqlite3, on the main thread.
 *
 * The rows are those `nix-store --load-db` writes for the same registration (Nix's
 * LocalStore::registerValidPaths): ids assigned in path order; hash as `sha256:<base16>`;
 * deriver, narSize (when 0), ultimate, sigs and ca NULL unless set; every reference (self
 * included) in Refs, referrers and references in path order; for a `.drv` path, its outputs in
 * DerivationOutputs. test/nixdb/db-writer.test.ts compares every table with what Nix 2.8 writes.
 *
 * Every narHash must be in the graph. Where the closure input lacked them (a references graph
 * without narHash, or `--verify-nar`), compute them first with `withNarHashes` (fill-nar-hashes.ts),
 * which NAR-hashes the store paths on a worker pool.
 *
 * Byte-identical output: the database is built in memory (no -journal or -wal file can exist),
 * with a fixed page size and encoding, the schema and then the rows inserted in sorted order in one
 * transaction, and serialised. A fresh database that only ever had rows inserted has no free
 * pages, so no VACUUM is needed (VACUUM would also reorder sqlite_master: tables, then indexes,
 * then triggers, unlike the database Nix creates). An in-memory
 * database keeps no change counter and no "last written by SQLite version" number in its header
 * (both are 0), so the bytes do not even depend on the SQLite version, only on its b-tree layout.
 * The header says rollback-journal mode; Nix switches the file to WAL itself when it first opens it.
 */
import fs from "node:fs";
import Database from "better-sqlite3";
import { StrataError, toStrataError } from "../errors.js";
import type { ClosureGraph, StorePathInfo } from "../closure/types.js";
import { parseDerivationOutputs } from "./derivation-outputs.js";
import { parseSha256, sha256Base16 } from "./hash-format.js";
import { ADD_DERIVATION_OUTPUT, ADD_REFERENCE, NIX_SCHEMA_SQL, NIX_SCHEMA_VERSION, REGISTER_VALID_PATH } from "./schema.js";

/** Page size of the written database: SQLite's and Nix's default. */
const PAGE_SIZE = 4096;

/** Where the database lives, relative to the image root (Nix's `local?root=/`). */
export const NIX_DB_DIR = "nix/var/nix/db";
export const GCROOTS_DIR = "nix/var/nix/gcroots/docker";

export interface NixDbOptions {
  /**
   * registrationTime of every path, in seconds since the epoch: the image's mtime
   * (SOURCE_DATE_EPOCH when set), as nixpkgs resets it after `nix-store --load-db`.
   */
  readonly registrationTime: number;
  /**
   * Where the graph's `.drv` files are read, to fill DerivationOutputs: `fsRoot + drvPath`.
   * Default `""` (the real /nix/store). Only read when the graph holds `.drv` paths.
   */
  readonly fsRoot?: string;
}

export interface NixDbFilesOptions extends NixDbOptions {
  /**
   * The content paths (nixpkgs' `contents`): each gets `nix/var/nix/gcroots/docker/<basename>`
   * pointing at it, so a garbage collection inside the image keeps them. Must be paths of the graph.
   */
  readonly gcRoots?: readonly string[];
}

/** One entry for the customisation layer; `path` is relative to the image root, without a trailing slash. */
export type NixDbFile =
  | { readonly type: "directory"; readonly path: string; readonly mode: number }
  | { readonly type: "file"; readonly path: string; readonly mode: number; readonly content: Buffer }
  | { readonly type: "symlink"; readonly path: string; readonly mode: number; readonly symlinkTarget: string };

/**
 * The files the image needs for a valid Nix database, sorted by path (parents first):
 *
 * - `nix/var/nix/db/db.sqlite` (0644): the registration of every path of `graph`;
 * - `nix/var/nix/db/schema` (0644): `10`, no newline. Nix reads the store's schema version from
 *   it; without it Nix takes the store for a new one and has to write it (a read-only store, Nix
 *   2.17's `local?read-only=true`, then refuses to open);
 * - `nix/var/nix/db/big-lock` (0600, empty): Nix's global lock file, as `--load-db` leaves it;
 * - `nix/var/nix/gcroots/docker/<basename>` → each of `gcRoots` (spec §1.6.3), and the directories.
 *
 * Left out on purpose: `db/reserved` (8 MiB that Nix allocates to free before a garbage collection;
 * it recreates it when missing), `gcroots/profiles` (`--load-db` makes it an absolute link to the
 * build directory, which dangles in any image), `profiles/per-user/<build user>`, and `temproots`:
 * Nix creates all of them on first use.
 */
export function nixDbFiles(graph: ClosureGraph, options: NixDbFilesOptions): NixDbFile[] {
  const gcRoots = [...new Set(options.gcRoots ?? [])];
  for (const root of gcRoots) {
    if (!graph.paths.has(root)) {
      throw new StrataError("E_USAGE", `gcRoots: ${root} is not a path of the closure`,
        "give the content paths (the roots of the closure) as gcRoots");
    }
  }
  const dir = (path: string): NixDbFile => ({ type: "directory", path, mode: 0o755 });
  const files: NixDbFile[] = [
    dir("nix"),
    dir("nix/var"),
    dir("nix/var/nix"),
    dir(NIX_DB_DIR),
    { type: "file", path: `${NIX_DB_DIR}/big-lock`, mode: 0o600, content: Buffer.alloc(0) },
    { type: "file", path: `${NIX_DB_DIR}/db.sqlite`, mode: 0o644, content: nixDbSqlite(graph, options) },
    { type: "file", path: `${NIX_DB_DIR}/schema`, mode: 0o644, content: Buffer.from(String(NIX_SCHEMA_VERSION)) },
    dir("nix/var/nix/gcroots"),
    dir(GCROOTS_DIR),
    ...gcRoots.map((root): NixDbFile => ({ type: "symlink", path: `${GCROOTS_DIR}/${root.slice(root.lastIndexOf("/") + 1)}`, mode: 0o777, symlinkTarget: root })),
  ];
  return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** The bytes of `db.sqlite` registering every path of `graph` (see the file comment). */
export function nixDbSqlite(graph: ClosureGraph, options: NixDbOptions): Buffer {
  const time = options.registrationTime;
  if (!Number.isSafeInteger(time) || time < 0) {
    throw new StrataError("E_USAGE", `registrationTime must be a whole number of seconds >= 0, got ${time}`,
      "pass the image's mtime in seconds since the epoch (SOURCE_DATE_EPOCH)");
  }
  const fsRoot = options.fsRoot ?? "";
  const infos = [...graph.paths.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const rows = infos.map((info) => ({ info, hash: dbHash(info), outputs: info.path.endsWith(".drv") ? derivationOutputs(info.path, fsRoot) : [] }));

  const db = new Database(":memory:");
  try {
    db.pragma(`page_size = ${PAGE_SIZE}`);
    db.pragma("encoding = 'UTF-8'");
    db.pragma("auto_vacuum = NONE");
    db.exec(NIX_SCHEMA_SQL);
    const register = db.prepare(REGISTER_VALID_PATH);
    const addReference = db.prepare(ADD_REFERENCE);
    const addOutput = db.prepare(ADD_DERIVATION_OUTPUT);
    db.transaction(() => {
      const ids = new Map<string, number | bigint>();
      for (const { info, hash } of rows) {
        const result = register.run(info.path, hash, time, info.deriver ?? null, info.narSize === 0 ? null : info.narSize, null, null, null);
        ids.set(info.path, result.lastInsertRowid);
      }
      for (const { info, outputs } of rows) {
        const referrer = ids.get(info.path)!;
        for (const ref of referencesWithSelf(info)) {
          const reference = ids.get(ref);
          if (reference === undefined) {
            throw new StrataError("E_CLOSURE_INPUT", `${info.path} references ${ref}, which is not in the closure`,
              "register a closed set of paths: compute the closure of the roots first");
          }
          addReference.run(referrer, reference);
        }
        for (const out of outputs) addOutput.run(referrer, out.id, out.path);
      }
    })();
    return db.serialize();
  } finally {
    db.close();
  }
}

/** The references as Nix registers them: a sorted set, the path itself included when it refers to itself. */
function referencesWithSelf(info: StorePathInfo): string[] {
  const refs = info.selfReference ? [...info.references, info.path] : [...info.references];
  return [...new Set(refs)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

function dbHash(info: StorePathInfo): string {
  if (info.narHash === undefined) {
    throw new StrataError("E_CLOSURE_INPUT", `${info.path} has no narHash, which its registration in the Nix database needs`,
      "compute the missing NAR hashes first (withNarHashes), or give a closure input with narHash");
  }
  const digest = parseSha256(info.narHash);
  if (digest === undefined) {
    throw new StrataError("E_CLOSURE_INPUT", `${info.path} has narHash ${JSON.stringify(info.narHash)}, expected a sha256 hash (sha256:<base32 or base16>, or sha256-<base64>)`,
      "fix the closure input, or let strata compute the NAR hashes");
  }
  return sha256Base16(digest);
}

function derivationOutputs(drvPath: string, fsRoot: string): ReturnType<typeof parseDerivationOutputs> {
  let text: string;
  try {
    text = fs.readFileSync(fsRoot + drvPath, "utf8");
  } catch (err) {
    const e = toStrataError(err, `reading derivation ${drvPath} for the Nix database`);
    throw new StrataError(e.code, e.message, "registering a .drv path needs its file: check the store root, or leave .drv files out of the closure", { cause: err });
  }
  return parseDerivationOutputs(text, drvPath);
}
