import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readHostClosure } from "../../src/closure/host-store.js";
import { narHashOf } from "../../src/nixdb/nar.js";
import { removeTree } from "../helpers/fixture-store.js";
import { requireTool } from "../helpers/interop.js";
import { lines, makeRealStore, type RealStore } from "../nixdb/real-store.js";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const haveNix = requireTool("nix-store") && requireTool("nix-build");

describe.skipIf(!haveNix)("readHostClosure on a real Nix store", () => {
  let store: RealStore;
  beforeAll(() => {
    store = makeRealStore();
  });
  afterAll(() => store?.cleanup());

  it("reads the closure nix-store -qR prints, with Nix's hash, size, deriver and references", () => {
    const graph = readHostClosure([store.out.app, store.addedDir], { storeRoot: store.root });
    expect(graph.storeDir).toBe("/nix/store");
    const expected = lines(store.nix("nix-store", ["-qR", store.out.app, store.addedDir]));
    expect([...graph.paths.keys()]).toEqual(expected);
    for (const [p, info] of graph.paths) {
      expect(info.narHash, p).toBe(store.nix("nix-store", ["-q", "--hash", p]).trim());
      expect(info.narSize, p).toBe(Number(store.nix("nix-store", ["-q", "--size", p])));
      const deriver = store.nix("nix-store", ["-q", "--deriver", p]).trim();
      expect(info.deriver ?? "unknown-deriver", p).toBe(deriver);
      const refs = lines(store.nix("nix-store", ["-q", "--references", p]));
      expect(info.selfReference, p).toBe(refs.includes(p));
      expect(info.references, p).toEqual(refs.filter((r) => r !== p));
    }
    // The fixture means something: self-references, references between outputs, no deriver.
    expect(graph.paths.get(store.out.lib)?.selfReference).toBe(true);
    expect(graph.paths.get(store.out.app)?.references).toEqual([store.out.busybox, store.out.lib].sort());
    expect(graph.paths.get(store.addedDir)?.deriver).toBeUndefined();
    expect(graph.paths.get(store.out.app)?.deriver).toBe(store.drv.app);
  });

  it("normalises the database's base16 hashes to Nix base-32, equal to strata's own NAR hashes", () => {
    const copy = copyDb(store.dbPath);
    let raw: { path: string; hash: string }[];
    try {
      const db = new Database(path.join(copy, "nix/var/nix/db/db.sqlite"), { readonly: true });
      raw = db.prepare<[], { path: string; hash: string }>("select path, hash from ValidPaths").all();
      db.close();
    } finally {
      removeTree(copy);
    }
    expect(raw.length).toBeGreaterThan(0);
    expect(raw.every((r) => /^sha256:[0-9a-f]{64}$/.test(r.hash))).toBe(true);
    const graph = readHostClosure([store.out.app, store.out.single, store.addedFile], { storeRoot: store.root });
    expect(graph.paths.size).toBe(5);
    for (const [p, info] of graph.paths) {
      expect(narHashOf(store.root + p, p), p).toEqual({ narHash: info.narHash, narSize: info.narSize });
    }
  });

  it("takes roots as store paths, paths inside them, paths under the store root, and symlinks into the store", () => {
    const link = path.join(store.root, "result");
    fs.symlinkSync(store.out.app, link);
    try {
      const want = [...readHostClosure([store.out.app], { storeRoot: store.root }).paths.keys()];
      for (const root of [`${store.out.app}/bin/sh`, `${store.root}${store.out.app}`, `${store.out.app}/`, link]) {
        expect([...readHostClosure([root], { storeRoot: store.root }).paths.keys()], root).toEqual(want);
      }
    } finally {
      fs.unlinkSync(link);
    }
  });

  it("reads a .drv closure too (input derivations are references of a .drv)", () => {
    const graph = readHostClosure([store.drv.app], { storeRoot: store.root });
    expect([...graph.paths.keys()]).toEqual(lines(store.nix("nix-store", ["-qR", store.drv.app])));
  });

  it("names a root that is not in the database (E_STORE_PATH, hint nix-store --realise)", () => {
    const missing = "/nix/store/00000000000000000000000000000000-missing";
    expect(() => readHostClosure([store.out.app, missing], { storeRoot: store.root })).toThrow(expect.objectContaining({
      code: "E_STORE_PATH",
      message: `${missing} is not a valid path in the Nix database ${store.dbPath}`,
      hint: expect.stringContaining(`nix-store --realise ${missing}`),
    }));
    expect(() => readHostClosure(["/etc/passwd"], { storeRoot: store.root })).toThrow(expect.objectContaining({ code: "E_STORE_PATH", message: "/etc/passwd is not in /nix/store, nor a symlink into it" }));
    expect(() => readHostClosure([], { storeRoot: store.root })).toThrow(expect.objectContaining({ code: "E_USAGE" }));
  });

  it("leaves no -wal or -shm file behind when no Nix process has the database open", () => {
    const dbDir = path.dirname(store.dbPath);
    const before = fs.readdirSync(dbDir).sort();
    expect(before).not.toContain("db.sqlite-wal");
    readHostClosure([store.out.app], { storeRoot: store.root });
    expect(fs.readdirSync(dbDir).sort()).toEqual(before);
  });

  describe("errors", () => {
    let dir: string;
    beforeAll(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), "strata-host-store-errors-"));
    });
    afterAll(() => removeTree(dir));

    it("a missing database is E_CLOSURE_INPUT naming where it was looked for", () => {
      expect(() => readHostClosure([store.out.app], { storeRoot: dir })).toThrow(expect.objectContaining({
        code: "E_CLOSURE_INPUT",
        message: `no Nix database at ${dir}/nix/var/nix/db/db.sqlite`,
        hint: expect.stringContaining("--store-root"),
      }));
    });

    it("a file that is not SQLite, and a SQLite file with corrupt pages, are E_CLOSURE_INPUT", () => {
      const root = path.join(dir, "corrupt");
      fs.mkdirSync(path.join(root, "nix/var/nix/db"), { recursive: true });
      const db = path.join(root, "nix/var/nix/db/db.sqlite");
      fs.writeFileSync(db, "this is not a database, just some text that is long enough ".repeat(10));
      expect(() => readHostClosure([store.out.app], { storeRoot: root })).toThrow(expect.objectContaining({
        code: "E_CLOSURE_INPUT",
        message: `${db} is not a SQLite database (it starts with "this is not a da")`,
      }));
      // A real header, then garbage where the schema and the tables should be.
      const good = fs.readFileSync(store.dbPath);
      const bad = Buffer.concat([good.subarray(0, 100), Buffer.alloc(good.length - 100, 0xa5)]);
      fs.writeFileSync(db, bad);
      expect(() => readHostClosure([store.out.app], { storeRoot: root })).toThrow(expect.objectContaining({
        code: "E_CLOSURE_INPUT",
        message: expect.stringMatching(new RegExp(`^${db} is corrupt \\(`)),
      }));
    });

    it("a SQLite database without Nix's tables is E_CLOSURE_INPUT", () => {
      const root = path.join(dir, "other");
      fs.mkdirSync(path.join(root, "nix/var/nix/db"), { recursive: true });
      const db = path.join(root, "nix/var/nix/db/db.sqlite");
      const other = new Database(db);
      other.exec("create table t (x); insert into t values (1);");
      other.close();
      expect(() => readHostClosure([store.out.app], { storeRoot: root })).toThrow(expect.objectContaining({
        code: "E_CLOSURE_INPUT",
        message: expect.stringMatching(/is not a Nix database \(no such table: ValidPaths\)$/),
      }));
    });

    it.skipIf(process.getuid?.() !== 0 || !requireTool("runuser"))("as a user who cannot write Nix's directory: reads a copy; an unreadable database is E_READ", () => {
      // A copy of the store's database in directories only root may write, as on a multi-user install.
      const root = fs.mkdtempSync(path.join(os.tmpdir(), "strata-host-store-nobody-"));
      try {
        const dbDir = path.join(root, "nix/var/nix/db");
        fs.mkdirSync(dbDir, { recursive: true });
        fs.copyFileSync(store.dbPath, path.join(dbDir, "db.sqlite"));
        for (const d of [root, path.join(root, "nix"), path.join(root, "nix/var"), path.join(root, "nix/var/nix"), dbDir]) fs.chmodSync(d, 0o755);
        fs.chmodSync(path.join(dbDir, "db.sqlite"), 0o644);
        const asNobody = (): { ok: boolean; paths?: string[]; code?: string; message?: string } => {
          const script = `
            import { readHostClosure } from ${JSON.stringify(path.join(REPO, "dist/src/closure/host-store.js"))};
            try { console.log(JSON.stringify({ ok: true, paths: [...readHostClosure([${JSON.stringify(store.out.app)}], { storeRoot: ${JSON.stringify(root)} }).paths.keys()] })); }
            catch (e) { console.log(JSON.stringify({ ok: false, code: e.code, message: e.message })); }`;
          const r = spawnSync("runuser", ["-u", "nobody", "--", process.execPath, "--input-type=module", "-e", script], { cwd: "/" });
          if (r.status !== 0) throw new Error(`runuser failed: ${r.stderr.toString()}`);
          return JSON.parse(r.stdout.toString()) as { ok: boolean };
        };
        const ok = asNobody();
        expect(ok).toEqual({ ok: true, paths: lines(store.nix("nix-store", ["-qR", store.out.app])) });
        expect(fs.readdirSync(dbDir)).toEqual(["db.sqlite"]);
        fs.chmodSync(path.join(dbDir, "db.sqlite"), 0o600);
        expect(asNobody()).toEqual({ ok: false, code: "E_READ", message: `cannot read the Nix database ${dbDir}/db.sqlite: permission denied` });
      } finally {
        removeTree(root);
      }
    });
  });

  describe("while another process holds the database", () => {
    let holder: Holder | undefined;
    afterAll(() => holder?.stop());

    it("WAL mode (Nix's default), a writer in the middle of a transaction: reads work, and see what it committed", async () => {
      // The holder commits a registration (it stays in the -wal: nothing checkpoints), then
      // opens a write transaction and registers another path without committing.
      const committed = "/nix/store/11111111111111111111111111111111-committed";
      const pending = "/nix/store/22222222222222222222222222222222-pending";
      const hash = `sha256:${"0".repeat(64)}`;
      const copy = copyDb(store.dbPath);
      const dbPath = path.join(copy, "nix/var/nix/db/db.sqlite");
      holder = await hold(dbPath, [
        "pragma journal_mode = wal",
        "pragma wal_autocheckpoint = 0",
        `insert into ValidPaths (path, hash, registrationTime, narSize) values ('${committed}', '${hash}', 1, 8)`,
        "begin immediate",
        `insert into ValidPaths (path, hash, registrationTime, narSize) values ('${pending}', '${hash}', 1, 8)`,
      ]);
      try {
        expect(fs.existsSync(`${dbPath}-wal`)).toBe(true);
        const graph = readHostClosure([store.out.app, committed], { storeRoot: copy, lockTimeoutMs: 200 });
        expect(graph.paths.size).toBe(4);
        expect(graph.paths.get(committed)).toEqual({ path: committed, references: [], selfReference: false, narSize: 8, narHash: `sha256:${"0".repeat(52)}` });
        expect(() => readHostClosure([pending], { storeRoot: copy, lockTimeoutMs: 200 })).toThrow(expect.objectContaining({ code: "E_STORE_PATH" }));
        await holder.stop();
        holder = undefined;
      } finally {
        removeTree(copy);
      }
    });

    it("a process holding an exclusive lock: a clear E_READ after lockTimeoutMs, and reads work once it lets go", async () => {
      const rollback = makeRealStore({ wal: false });
      try {
        expect(fs.readFileSync(rollback.dbPath)[18]).toBe(1); // rollback journal, as Nix with use-sqlite-wal = false
        holder = await hold(rollback.dbPath, ["begin exclusive", "update ValidPaths set registrationTime = 2"]);
        const started = Date.now();
        expect(() => readHostClosure([rollback.out.app], { storeRoot: rollback.root, lockTimeoutMs: 300 })).toThrow(expect.objectContaining({
          code: "E_READ",
          message: expect.stringMatching(new RegExp(`^the Nix database ${rollback.dbPath} is locked by another process`)),
          hint: "wait for the running Nix operation to finish and try again",
        }));
        expect(Date.now() - started).toBeGreaterThanOrEqual(250);
        await holder.stop();
        holder = undefined;
        expect(readHostClosure([rollback.out.app], { storeRoot: rollback.root }).paths.size).toBe(3);
      } finally {
        rollback.cleanup();
      }
    });

    it("WAL mode with a writer in exclusive locking mode: E_READ locked", async () => {
      const copy = copyDb(store.dbPath);
      try {
        const db = path.join(copy, "nix/var/nix/db/db.sqlite");
        holder = await hold(db, ["pragma locking_mode = exclusive", "begin exclusive", "update ValidPaths set registrationTime = 2", "commit", "begin exclusive"]);
        expect(() => readHostClosure([store.out.app], { storeRoot: copy, lockTimeoutMs: 200 })).toThrow(expect.objectContaining({ code: "E_READ", message: expect.stringContaining("is locked by another process") }));
        await holder.stop();
        holder = undefined;
      } finally {
        removeTree(copy);
      }
    });
  });
});

/** A child process that runs `statements` on a database and keeps its connection (and locks) until stopped. */
interface Holder {
  stop(): Promise<void>;
}

async function hold(dbPath: string, statements: readonly string[]): Promise<Holder> {
  const script = `
    const Database = require(${JSON.stringify(path.join(REPO, "node_modules/better-sqlite3"))});
    const db = new Database(${JSON.stringify(dbPath)});
    for (const s of ${JSON.stringify(statements)}) db.exec(s);
    process.stdout.write("ready\\n");
    process.stdin.on("data", () => {});
    process.stdin.on("end", () => { db.close(); process.exit(0); });`;
  const child: ChildProcess = spawn(process.execPath, ["-e", script], { stdio: ["pipe", "pipe", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on("data", (d: Buffer) => d.toString().includes("ready") && resolve());
    child.on("exit", (code) => reject(new Error(`lock holder exited (${code}): ${stderr}`)));
  });
  return {
    stop: () => new Promise<void>((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.on("exit", () => resolve());
      child.stdin!.end();
    }),
  };
}

/** A new store root holding a copy of the database only. */
function copyDb(dbPath: string): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "strata-host-store-copy-"));
  fs.mkdirSync(path.join(root, "nix/var/nix/db"), { recursive: true });
  fs.copyFileSync(dbPath, path.join(root, "nix/var/nix/db/db.sqlite"));
  return root;
}
