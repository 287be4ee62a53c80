/**
 * The cache database's schema, its version, and what happens to a database of another version.
 *
 * A cache is disposable, so there are no long-lived migrations to keep: a database of an older
 * schema is migrated where a step is written below and otherwise reset (its tables dropped and
 * made anew, inside one transaction, so a build that has it open meanwhile sees either the old
 * tables or the new ones). A database of a newer schema (written by a newer strata sharing the
 * cache directory) is left alone and this strata runs without a cache: resetting it would make two
 * strata versions sharing one cache (two CI jobs during an upgrade) wipe each other's on every run.
 */
import type Database from "better-sqlite3";

export const SCHEMA_VERSION = 1;

/** PRAGMA application_id: "stra", so a strata cache is told from another SQLite file. */
export const APPLICATION_ID = 0x73747261;

/**
 * Times are milliseconds since the epoch. mtime_ns is a 64-bit integer (read back as a bigint);
 * blobs of a layer go with it (ON DELETE CASCADE, foreign_keys is on). row_check covers the
 * row's values except last_used (row-check.ts).
 */
const SCHEMA = `
CREATE TABLE layers (
  key TEXT PRIMARY KEY,
  diff_id TEXT NOT NULL,
  size INTEGER NOT NULL,
  last_used INTEGER NOT NULL,
  row_check TEXT NOT NULL
);
CREATE INDEX layers_last_used ON layers(last_used);
CREATE TABLE blobs (
  key TEXT NOT NULL REFERENCES layers(key) ON DELETE CASCADE,
  compression TEXT NOT NULL,
  level INTEGER NOT NULL,
  impl TEXT NOT NULL,
  digest TEXT NOT NULL,
  size INTEGER NOT NULL,
  row_check TEXT NOT NULL,
  PRIMARY KEY (key, compression, level, impl)
);
CREATE TABLE files (
  path TEXT PRIMARY KEY,
  digest TEXT NOT NULL,
  dev INTEGER NOT NULL,
  ino INTEGER NOT NULL,
  size INTEGER NOT NULL,
  mtime_ns INTEGER NOT NULL,
  last_used INTEGER NOT NULL,
  row_check TEXT NOT NULL
);
CREATE INDEX files_last_used ON files(last_used);
`;

/** Steps from version N to N+1, for when a step is cheaper than losing the cache. None yet. */
const MIGRATIONS: Readonly<Record<number, string>> = {};

export type SchemaOutcome =
  | { readonly kind: "ok" }
  | { readonly kind: "created" }
  | { readonly kind: "migrated"; readonly from: number }
  | { readonly kind: "reset"; readonly why: string }
  | { readonly kind: "newer"; readonly version: number };

/**
 * Makes the database's schema the current one. The usual case (already current) only reads;
 * anything else happens in an IMMEDIATE transaction that checks again, so two processes opening a
 * new cache at once create it once.
 */
export function prepareSchema(db: Database.Database): SchemaOutcome {
  const first = inspect(db);
  if (first === "ok") return { kind: "ok" };
  return db.transaction((): SchemaOutcome => {
    const state = inspect(db);
    if (state === "ok") return { kind: "ok" };
    if (state === "empty") {
      create(db);
      return { kind: "created" };
    }
    if (state.kind === "newer") return state;
    if (state.kind === "older") {
      for (let v = state.version; v < SCHEMA_VERSION; v++) {
        const step = MIGRATIONS[v];
        if (step === undefined) return reset(db, `schema version ${state.version} is older than ${SCHEMA_VERSION}`);
        db.exec(step);
      }
      db.pragma(`user_version = ${SCHEMA_VERSION}`);
      return { kind: "migrated", from: state.version };
    }
    return reset(db, state.why);
  }).immediate();
}

type State = "ok" | "empty" | { kind: "newer"; version: number } | { kind: "older"; version: number } | { kind: "foreign"; why: string };

function inspect(db: Database.Database): State {
  const version = db.pragma("user_version", { simple: true }) as number;
  const app = db.pragma("application_id", { simple: true }) as number;
  if (app === APPLICATION_ID && version === SCHEMA_VERSION) return "ok";
  if (app === APPLICATION_ID && version > SCHEMA_VERSION) return { kind: "newer", version };
  if (app === APPLICATION_ID && version > 0) return { kind: "older", version };
  const objects = db.prepare("SELECT count(*) AS n FROM sqlite_master").get() as { n: number };
  if (objects.n === 0) return "empty";
  return { kind: "foreign", why: app === 0 || app === APPLICATION_ID ? `unknown schema version ${version}` : `not a strata cache (application_id ${app})` };
}

function create(db: Database.Database): void {
  db.exec(SCHEMA);
  db.pragma(`application_id = ${APPLICATION_ID}`);
  db.pragma(`user_version = ${SCHEMA_VERSION}`);
}

/** Drops every table, index, view and trigger, then creates the schema: all in the caller's transaction. */
function reset(db: Database.Database, why: string): SchemaOutcome {
  const objects = db.prepare("SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'").all() as { type: string; name: string }[];
  // foreign_keys is still off here (the caller turns it on after this), so no drop is refused or cascades.
  for (const kind of ["trigger", "view", "index", "table"]) {
    for (const o of objects.filter((x) => x.type === kind)) db.exec(`DROP ${kind.toUpperCase()} IF EXISTS "${o.name.replace(/"/g, '""')}"`);
  }
  create(db);
  return { kind: "reset", why };
}
