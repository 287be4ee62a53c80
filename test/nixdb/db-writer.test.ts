import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readHostClosure } from "../../src/closure/host-store.js";
import type { ClosureGraph, StorePathInfo } from "../../src/closure/types.js";
import { nixDbFiles, nixDbSqlite, type NixDbFile } from "../../src/nixdb/db-writer.js";
import { sha256Base16, parseSha256 } from "../../src/nixdb/hash-format.js";
import { withNarHashes } from "../../src/nixdb/fill-nar-hashes.js";
import { makeFixtureStore, removeTree, type FixtureStore } from "../helpers/fixture-store.js";
import { requireTool } from "../helpers/interop.js";
import { copyStorePaths, lines, makeRealStore, nixEnv, type RealStore } from "./real-store.js";

const TIME = 315532800; // 1980-01-01, SOURCE_DATE_EPOCH in Nix builds

describe("nixDbSqlite / nixDbFiles", () => {
  let fixture: FixtureStore;
  let graph: ClosureGraph;
  beforeAll(async () => {
    fixture = makeFixtureStore([
      { name: "libc", selfReference: true, entries: [{ kind: "file", path: "lib/libc.so", content: "elf" }] },
      { name: "bash", references: ["libc"], selfReference: true, entries: [{ kind: "file", path: "bin/bash", content: "#!", executable: true }] },
      { name: "hello", references: ["bash", "libc"], entries: [{ kind: "symlink", path: "bin/sh", target: "/nix/store/x-bash/bin/bash" }] },
      { name: "data", file: { content: "just data" } },
    ]);
    graph = await withNarHashes(fixture.graph, { fsRoot: fixture.root, workers: 2 });
  });
  afterAll(() => fixture.cleanup());

  it("is byte-identical between runs and whatever the order of the graph", () => {
    const a = nixDbSqlite(graph, { registrationTime: TIME });
    const b = nixDbSqlite(graph, { registrationTime: TIME });
    expect(a.equals(b)).toBe(true);
    const shuffled: ClosureGraph = { storeDir: graph.storeDir, paths: new Map([...graph.paths].reverse()) };
    expect(nixDbSqlite(shuffled, { registrationTime: TIME }).equals(a)).toBe(true);
    // The bytes do depend on the content.
    expect(nixDbSqlite(graph, { registrationTime: TIME + 1 }).equals(a)).toBe(false);
    // A whole SQLite file: 4096-byte pages, rollback-journal mode (no -wal needed), no change counter.
    expect(a.subarray(0, 16).toString("latin1")).toBe("SQLite format 3\0");
    expect(a.readUInt16BE(16)).toBe(4096);
    expect([a[18], a[19]]).toEqual([1, 1]);
    expect(a.length % 4096).toBe(0);
    expect(a.readUInt32BE(28) * 4096).toBe(a.length);
  });

  it("registers every path as nix-store --load-db does: sorted ids, base16 hashes, self-references, NULLs", () => {
    const db = new Database(nixDbSqlite(graph, { registrationTime: TIME }));
    try {
      const rows = db.prepare("select * from ValidPaths order by id").all() as Record<string, unknown>[];
      const infos = [...graph.paths.values()].sort((x, y) => (x.path < y.path ? -1 : 1));
      expect(rows).toEqual(infos.map((info, i) => ({
        id: i + 1,
        path: info.path,
        hash: sha256Base16(parseSha256(info.narHash!)!),
        registrationTime: TIME,
        deriver: null,
        narSize: info.narSize,
        ultimate: null,
        sigs: null,
        ca: null,
      })));
      const idOf = new Map(rows.map((r) => [r["path"] as string, r["id"] as number]));
      const refs = db.prepare("select referrer, reference from Refs order by rowid").all() as { referrer: number; reference: number }[];
      const want = infos.flatMap((info) =>
        [...info.references, ...(info.selfReference ? [info.path] : [])].sort().map((r) => ({ referrer: idOf.get(info.path)!, reference: idOf.get(r)! })));
      expect(refs).toEqual(want);
      expect(refs.some((r) => r.referrer === r.reference)).toBe(true);
      expect(db.prepare("select * from DerivationOutputs").all()).toEqual([]);
      expect(db.prepare("select * from sqlite_sequence").all()).toEqual([{ name: "ValidPaths", seq: infos.length }]);
      expect(db.pragma("integrity_check", { simple: true })).toBe("ok");
      expect(db.pragma("foreign_key_check")).toEqual([]);
      expect(db.pragma("freelist_count", { simple: true })).toBe(0);
    } finally {
      db.close();
    }
  });

  it("writes the deriver when the graph has one, and narSize 0 as NULL", () => {
    const info = [...graph.paths.values()][0]!;
    const one: ClosureGraph = { storeDir: "/nix/store", paths: new Map([[info.path, { ...info, references: [], selfReference: false, narSize: 0, deriver: "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-x.drv" }]]) };
    const db = new Database(nixDbSqlite(one, { registrationTime: 0 }));
    expect(db.prepare("select deriver, narSize, registrationTime from ValidPaths").get()).toEqual({ deriver: "/nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-x.drv", narSize: null, registrationTime: 0 });
    db.close();
  });

  it("lists the files, directories and gcroots links of the customisation layer", () => {
    const hello = fixture.pathOf("hello");
    const data = fixture.pathOf("data");
    const files = nixDbFiles(graph, { registrationTime: TIME, gcRoots: [hello, data, hello] });
    const summary = files.map((f) => [f.path, f.type, f.mode.toString(8), f.type === "symlink" ? f.symlinkTarget : f.type === "file" ? f.content.length : "-"]);
    const base = (p: string): string => p.slice("/nix/store/".length);
    expect(summary).toEqual([
      ["nix", "directory", "755", "-"],
      ["nix/var", "directory", "755", "-"],
      ["nix/var/nix", "directory", "755", "-"],
      ["nix/var/nix/db", "directory", "755", "-"],
      ["nix/var/nix/db/big-lock", "file", "600", 0],
      ["nix/var/nix/db/db.sqlite", "file", "644", nixDbSqlite(graph, { registrationTime: TIME }).length],
      ["nix/var/nix/db/schema", "file", "644", 2],
      ["nix/var/nix/gcroots", "directory", "755", "-"],
      ["nix/var/nix/gcroots/docker", "directory", "755", "-"],
      ...[hello, data].sort((x, y) => (base(x) < base(y) ? -1 : 1)).map((p) => [`nix/var/nix/gcroots/docker/${base(p)}`, "symlink", "777", p]),
    ]);
    expect(fileContent(files, "nix/var/nix/db/schema").toString()).toBe("10");
    expect(fileContent(files, "nix/var/nix/db/db.sqlite").equals(nixDbSqlite(graph, { registrationTime: TIME }))).toBe(true);
  });

  it("refuses what it cannot register", () => {
    const [first, second] = [...graph.paths.values()] as [StorePathInfo, StorePathInfo];
    const noHash: ClosureGraph = { storeDir: "/nix/store", paths: new Map([[first.path, { path: first.path, references: [], selfReference: false, narSize: 1 }]]) };
    expect(() => nixDbSqlite(noHash, { registrationTime: TIME })).toThrow(expect.objectContaining({ code: "E_CLOSURE_INPUT", message: `${first.path} has no narHash, which its registration in the Nix database needs` }));
    const badHash: ClosureGraph = { storeDir: "/nix/store", paths: new Map([[first.path, { ...first, references: [], selfReference: false, narHash: "md5:abc" }]]) };
    expect(() => nixDbSqlite(badHash, { registrationTime: TIME })).toThrow(expect.objectContaining({ code: "E_CLOSURE_INPUT" }));
    const dangling: ClosureGraph = { storeDir: "/nix/store", paths: new Map([[first.path, { ...first, references: [second.path] }]]) };
    expect(() => nixDbSqlite(dangling, { registrationTime: TIME })).toThrow(expect.objectContaining({ code: "E_CLOSURE_INPUT", message: `${first.path} references ${second.path}, which is not in the closure` }));
    const drvPath = "/nix/store/00000000000000000000000000000000-gone.drv";
    const drv: ClosureGraph = { storeDir: "/nix/store", paths: new Map([[drvPath, { ...first, path: drvPath, references: [], selfReference: false }]]) };
    expect(() => nixDbSqlite(drv, { registrationTime: TIME, fsRoot: fixture.root })).toThrow(expect.objectContaining({
      code: "E_STORE_PATH",
      message: expect.stringContaining(`reading derivation ${drvPath} for the Nix database`),
      hint: expect.stringContaining("leave .drv files out of the closure"),
    }));
    expect(() => nixDbSqlite(graph, { registrationTime: -1 })).toThrow(expect.objectContaining({ code: "E_USAGE" }));
    expect(() => nixDbSqlite(graph, { registrationTime: 1.5 })).toThrow(expect.objectContaining({ code: "E_USAGE" }));
    expect(() => nixDbFiles(graph, { registrationTime: TIME, gcRoots: ["/nix/store/00000000000000000000000000000000-other"] })).toThrow(expect.objectContaining({ code: "E_USAGE" }));
  });

  it("withNarHashes fills missing hashes, normalises given ones, and checks what it computed", async () => {
    for (const info of graph.paths.values()) expect(info.narHash).toMatch(/^sha256:[0-9a-df-np-sv-z]{52}$/);
    const first = [...graph.paths.values()][0]!;
    const sri = `sha256-${Buffer.from(parseSha256(first.narHash!)!).toString("base64")}`;
    const withSri: ClosureGraph = { storeDir: "/nix/store", paths: new Map([...graph.paths].map(([p, i]) => [p, p === first.path ? { ...i, narHash: sri } : i])) };
    expect((await withNarHashes(withSri)).paths.get(first.path)?.narHash).toBe(first.narHash);
    const wrong: ClosureGraph = { storeDir: "/nix/store", paths: new Map([...graph.paths].map(([p, i]) => [p, p === first.path ? { ...i, narHash: `sha256:${"1".repeat(52)}` } : i])) };
    await expect(withNarHashes(wrong, { fsRoot: fixture.root, verify: true, workers: 1 })).rejects.toMatchObject({ code: "E_CHECKSUM", message: expect.stringContaining(first.path) });
    const wrongSize: ClosureGraph = { storeDir: "/nix/store", paths: new Map([...graph.paths].map(([p, i]) => [p, p === first.path ? { ...i, narSize: i.narSize + 8 } : i])) };
    await expect(withNarHashes(wrongSize, { fsRoot: fixture.root, verify: true, workers: 1 })).rejects.toMatchObject({ code: "E_CHECKSUM" });
    await expect(withNarHashes(wrongSize, { fsRoot: fixture.root, workers: 1 })).resolves.toBeDefined();
  });
});

describe.skipIf(!requireTool("nix-store") || !requireTool("nix-build"))("the written database, read by Nix", () => {
  let store: RealStore;
  let graph: ClosureGraph;
  let roots: string[];
  const scratch: string[] = [];
  const tmp = (name: string): string => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `strata-nixdb-${name}-`));
    scratch.push(dir);
    return dir;
  };
  beforeAll(() => {
    store = makeRealStore();
    roots = [store.out.app, store.out.single, store.addedDir, store.addedFile, store.drv.app];
    graph = readHostClosure(roots, { storeRoot: store.root });
  });
  afterAll(() => {
    for (const d of scratch) removeTree(d);
    store?.cleanup();
  });

  it("has the schema Nix 2.8 creates, statement for statement", () => {
    const mine = new Database(nixDbSqlite(graph, { registrationTime: TIME, fsRoot: store.root }));
    const copy = path.join(tmp("schema"), "db.sqlite");
    fs.copyFileSync(store.dbPath, copy);
    const nixs = new Database(copy, { readonly: true });
    const schema = (db: Database.Database): unknown[] => db.prepare("select type, name, tbl_name, sql from sqlite_master order by rowid").all();
    expect(schema(mine)).toEqual(schema(nixs));
    expect(schema(mine).length).toBe(11);
    mine.close();
    nixs.close();
  });

  it("holds exactly the rows nix-store --load-db writes for the same registration (derivations included)", () => {
    // nixpkgs' closureInfo registration, with derivers: path, hash, size, deriver, count, references.
    const registration = [...graph.paths.values()].map((i) => {
      const refs = [...i.references, ...(i.selfReference ? [i.path] : [])].sort();
      return [i.path, i.narHash, i.narSize, i.deriver ?? "", refs.length, ...refs].join("\n") + "\n";
    }).join("");
    const loaded = tmp("load-db");
    copyStorePaths(store.root, loaded, graph.paths.keys()); // --load-db reads the .drv files
    const r = spawnSync("nix-store", ["--load-db"], { env: nixEnv(loaded), input: registration });
    expect(r.status, r.stderr.toString()).toBe(0);

    const nixs = new Database(path.join(loaded, "nix/var/nix/db/db.sqlite"), { readonly: true });
    const mine = new Database(nixDbSqlite(graph, { registrationTime: TIME, fsRoot: store.root }));
    const tables = [
      "select id, path, hash, deriver, narSize, ultimate, sigs, ca from ValidPaths order by id",
      "select rowid, referrer, reference from Refs order by rowid",
      "select rowid, drv, id, path from DerivationOutputs order by rowid",
      "select name, seq from sqlite_sequence",
    ];
    for (const sql of tables) expect(mine.prepare(sql).all(), sql).toEqual(nixs.prepare(sql).all());
    expect(mine.prepare("select distinct registrationTime from ValidPaths").all()).toEqual([{ registrationTime: TIME }]);
    // The comparison covers every column Nix fills: derivers, self-references, derivation outputs.
    expect(mine.prepare("select count(*) n from ValidPaths where deriver is not null").get()).toEqual({ n: 4 });
    expect(mine.prepare("select count(*) n from Refs where referrer = reference").get()).toEqual({ n: 1 });
    expect(mine.prepare("select id, path from DerivationOutputs order by path").all()).toEqual(
      [store.out.app, store.out.busybox, store.out.lib].sort().map((p) => ({ id: "out", path: p })));
    nixs.close();
    mine.close();
  });

  it("placed into a copy of the store, passes nix-store --verify --check-contents and answers queries as the graph says", () => {
    const root = tmp("verify");
    copyStorePaths(store.root, root, graph.paths.keys());
    writeFiles(root, nixDbFiles(graph, { registrationTime: TIME, gcRoots: roots, fsRoot: store.root }));
    const env = nixEnv(root);
    const verify = spawnSync("nix-store", ["--verify", "--check-contents"], { env });
    expect(verify.status, verify.stderr.toString()).toBe(0);
    expect(verify.stderr.toString()).not.toMatch(/error|modified|invalid|warning/i);
    for (const [p, info] of graph.paths) {
      const q = (flag: string): string => run("nix-store", ["-q", flag, p], env);
      expect(lines(q("--references")), p).toEqual([...info.references, ...(info.selfReference ? [p] : [])].sort());
      expect(lines(q("--requisites")), p).toEqual(closureOf(graph, p));
      expect(q("--hash").trim(), p).toBe(info.narHash);
      expect(Number(q("--size")), p).toBe(info.narSize);
      expect(q("--deriver").trim(), p).toBe(info.deriver ?? "unknown-deriver");
    }
    // The gcroots links keep the whole closure alive.
    const printRoots = run("nix-store", ["--gc", "--print-roots"], env);
    for (const r of roots) expect(printRoots).toContain(`${root}/nix/var/nix/gcroots/docker/${r.slice("/nix/store/".length)} -> ${r}`);
    const dead = lines(run("nix-store", ["--gc", "--print-dead"], env));
    expect(dead.filter((p) => graph.paths.has(p))).toEqual([]);
  });

  it("the check can fail: nix-store --verify --check-contents reports a wrong hash", () => {
    const root = tmp("verify-bad");
    copyStorePaths(store.root, root, graph.paths.keys());
    const victim = store.out.lib;
    const bad: ClosureGraph = { storeDir: graph.storeDir, paths: new Map([...graph.paths].map(([p, i]) => [p, p === victim ? { ...i, narHash: `sha256:${"1".repeat(52)}` } : i])) };
    writeFiles(root, nixDbFiles(bad, { registrationTime: TIME, fsRoot: store.root }));
    const verify = spawnSync("nix-store", ["--verify", "--check-contents"], { env: nixEnv(root) });
    expect(verify.stderr.toString()).toContain(`path '${victim}' was modified!`);
    expect(verify.status).not.toBe(0);

  });
});

function fileContent(files: readonly NixDbFile[], p: string): Buffer {
  const f = files.find((x) => x.path === p);
  if (f?.type !== "file") throw new Error(`no file ${p}`);
  return f.content;
}

/** Writes the entries under `root`, as a layer tar would put them into the image. */
function writeFiles(root: string, files: readonly NixDbFile[]): void {
  for (const f of files) {
    const at = path.join(root, f.path);
    if (f.type === "directory") fs.mkdirSync(at, { recursive: true, mode: f.mode });
    else if (f.type === "file") fs.writeFileSync(at, f.content, { mode: f.mode });
    else fs.symlinkSync(f.symlinkTarget, at);
  }
}

function closureOf(graph: ClosureGraph, root: string): string[] {
  const seen = new Set<string>([root]);
  const todo = [root];
  while (todo.length > 0) for (const r of graph.paths.get(todo.pop()!)!.references) if (!seen.has(r)) (seen.add(r), todo.push(r));
  return [...seen].sort();
}

function run(tool: string, args: readonly string[], env: NodeJS.ProcessEnv): string {
  const r = spawnSync(tool, args, { env, maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${tool} ${args.join(" ")} failed: ${r.stderr.toString()}`);
  return r.stdout.toString();
}
