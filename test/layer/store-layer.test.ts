/**
 * Differential test: strata's store layers must be byte-identical to what Python's tarfile writes
 * the way nixpkgs' stream_layered_image.py does (test/oracle/store_layer.py), over fixture trees
 * with every case the format has corners for.
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChunkedOutput, callbackTarget } from "../../src/layer/chunked-output.js";
import { nodeLister, type DirLister } from "../../src/layer/list-dir.js";
import { planStoreLayer, type LayerOwnership } from "../../src/layer/store-layer.js";
import { writeLayer } from "../../src/layer/write-layer.js";

const ORACLE = path.join(import.meta.dirname, "../oracle/store_layer.py");

/** sha256 and length of what the oracle writes for these paths. */
function oracle(root: string, paths: string[], own: LayerOwnership): Promise<{ hex: string; size: number; head: Buffer }> {
  const spec = path.join(os.tmpdir(), `strata-oracle-spec-${process.pid}-${Math.random().toString(36).slice(2)}.json`);
  fs.writeFileSync(spec, JSON.stringify({ ...own, paths, root }));
  return new Promise((resolve, reject) => {
    const child = spawn("python3", [ORACLE, spec], { stdio: ["ignore", "pipe", "pipe"] });
    const hash = createHash("sha256");
    let size = 0;
    const head: Buffer[] = [];
    let err = "";
    child.stdout.on("data", (b: Buffer) => {
      hash.update(b);
      if (size < 1 << 20) head.push(b);
      size += b.length;
    });
    child.stderr.on("data", (b: Buffer) => (err += b.toString()));
    child.on("close", (code) => {
      fs.rmSync(spec, { force: true });
      if (code === 0) resolve({ hex: hash.digest("hex"), size, head: Buffer.concat(head) });
      else reject(new Error(`oracle failed: ${err}`));
    });
  });
}

/** sha256 and length of strata's layer for these paths, and its planned size. */
function strata(root: string, paths: string[], own: LayerOwnership, chunk = 1 << 20, entriesHeld?: number, lister?: DirLister): { hex: string; size: number; planned: number; head: Buffer } {
  const layer = planStoreLayer({ paths, ownership: own, fsRoot: root, lister }, entriesHeld);
  const hash = createHash("sha256");
  let size = 0;
  const head: Buffer[] = [];
  const out = new ChunkedOutput(callbackTarget((c) => {
    hash.update(c);
    if (size < 1 << 20) head.push(Buffer.from(c));
    size += c.length;
  }, chunk));
  writeLayer(layer, out);
  out.end();
  return { hex: hash.digest("hex"), size, planned: layer.size, head: Buffer.concat(head) };
}

const ROOT_OWNER: LayerOwnership = { uid: 0, gid: 0, uname: "root", gname: "root", mtime: 1 };

let root: string;
const store = (name: string): string => `/nix/store/${name}`;
const at = (...parts: string[]): string => path.join(root, "nix/store", ...parts);

beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), "strata-layer-"));
  fs.mkdirSync(at(), { recursive: true });
  // A package with every corner of the format.
  const pkg = "0a1b2c3d4e5f6g7h8i9j0k1l2m3n4p5q-corner-1.0";
  fs.mkdirSync(at(pkg, "bin"), { recursive: true });
  fs.writeFileSync(at(pkg, "bin/hello"), "#!/bin/sh\necho hello\n", { mode: 0o555 });
  fs.mkdirSync(at(pkg, "b"));
  fs.mkdirSync(at(pkg, "b-c"));
  fs.writeFileSync(at(pkg, "b/c"), "c", { mode: 0o444 });
  fs.writeFileSync(at(pkg, "b-c/d"), "d", { mode: 0o444 });
  fs.symlinkSync("../bin/hello", at(pkg, "b/rel-link"));
  fs.symlinkSync(`/nix/store/${pkg}/bin/hello`, at(pkg, "abs-link"));
  fs.symlinkSync("x".repeat(150), at(pkg, "long-target-link"));
  fs.symlinkSync("ünï", at(pkg, "unicode-target-link"));
  fs.mkdirSync(at(pkg, "empty-dir"));
  fs.writeFileSync(at(pkg, ".dotfile"), "hidden");
  fs.mkdirSync(at(pkg, ".dotdir"));
  fs.writeFileSync(at(pkg, ".dotdir/inside"), "inside");
  fs.linkSync(at(pkg, "bin/hello"), at(pkg, "hardlink-to-hello"));
  fs.writeFileSync(at(pkg, "n".repeat(99)), "99"); // 99 + no slash: fits ustar
  fs.writeFileSync(at(pkg, "L".repeat(120)), "long name");
  fs.mkdirSync(at(pkg, "D".repeat(98))); // 98 + "/" fits, but the full path does not
  fs.writeFileSync(at(pkg, "ünïcödé-€-😀.txt"), "unicode");
  fs.writeFileSync(at(pkg, Buffer.from("latin1-\xe9-\xff", "latin1").toString("latin1")), "x");
  fs.writeFileSync(path.join(Buffer.from(at(pkg)).toString(), "Upper"), "uppercase sorts first");
  fs.writeFileSync(at(pkg, "empty-file"), "");
  fs.writeFileSync(at(pkg, "block-sized"), Buffer.alloc(512, 7));
  fs.writeFileSync(at(pkg, "big"), Buffer.alloc(3 * (1 << 20) + 17, 0x5a));
  fs.mkdirSync(at(pkg, "ro-dir"));
  fs.writeFileSync(at(pkg, "ro-dir/file"), "f", { mode: 0o444 });
  fs.chmodSync(at(pkg, "ro-dir"), 0o555);
  // A name that is not valid UTF-8 at all (Python: surrogateescape, PAX hdrcharset=BINARY).
  fs.writeFileSync(Buffer.concat([Buffer.from(at(pkg) + "/"), Buffer.from([0x62, 0x61, 0x64, 0xff, 0xfe, 0xed, 0xa0, 0x80])]), "bad");
  // A store path that is itself a symlink, a plain-file store path, a deep path.
  fs.symlinkSync(pkg, at("1a1b2c3d4e5f6g7h8i9j0k1l2m3n4p5q-link"));
  fs.writeFileSync(at("2a1b2c3d4e5f6g7h8i9j0k1l2m3n4p5q-file.txt"), "a store path that is a file\n", { mode: 0o444 });
  const deep = at("3a1b2c3d4e5f6g7h8i9j0k1l2m3n4p5q-deep", ...Array.from({ length: 12 }, (_, i) => `level-${i}-${"z".repeat(10)}`));
  fs.mkdirSync(deep, { recursive: true });
  fs.writeFileSync(path.join(deep, "leaf"), "deep");
});

afterAll(() => {
  fs.chmodSync(at("0a1b2c3d4e5f6g7h8i9j0k1l2m3n4p5q-corner-1.0", "ro-dir"), 0o755);
  fs.rmSync(root, { recursive: true, force: true });
});

const ALL = [
  store("0a1b2c3d4e5f6g7h8i9j0k1l2m3n4p5q-corner-1.0"),
  store("1a1b2c3d4e5f6g7h8i9j0k1l2m3n4p5q-link"),
  store("2a1b2c3d4e5f6g7h8i9j0k1l2m3n4p5q-file.txt"),
  store("3a1b2c3d4e5f6g7h8i9j0k1l2m3n4p5q-deep"),
];

describe("store layer bytes equal nixpkgs' (Python tarfile oracle)", () => {
  it("for every corner case, in one layer", async () => {
    const ours = strata(root, ALL, ROOT_OWNER);
    const theirs = await oracle(root, ALL, ROOT_OWNER);
    expect(ours.size).toBe(ours.planned);
    if (ours.hex !== theirs.hex) expect(firstDifference(ours.head, theirs.head)).toBe("no difference");
    expect(ours.hex).toBe(theirs.hex);
    expect(ours.size).toBe(theirs.size);
    expect(ours.size % 10240).toBe(0);
  });

  it("with directories listed by Node's fs, as where the native helper is not built (same bytes)", async () => {
    const ours = strata(root, ALL, ROOT_OWNER, 1 << 20, undefined, nodeLister);
    expect(ours.hex).toBe((await oracle(root, ALL, ROOT_OWNER)).hex);
    expect(strata(root, ALL, ROOT_OWNER, 1 << 20, 3, nodeLister).hex).toBe(ours.hex);
  });

  it("without a store root (paths read where they are named, as from a real /nix/store)", async () => {
    // The fixture's store paths named by their absolute location on this machine.
    const absolute = ALL.map((p) => root + p);
    const ours = strata("", absolute, ROOT_OWNER);
    expect(ours.size).toBe(ours.planned);
    expect(ours.hex).toBe((await oracle("", absolute, ROOT_OWNER)).hex);
    expect(strata("", absolute, ROOT_OWNER, 1 << 20, undefined, nodeLister).hex).toBe(ours.hex);
  });

  it("for the paths in another order (the layer keeps the plan's order)", async () => {
    const reversed = [...ALL].reverse();
    const ours = strata(root, reversed, ROOT_OWNER);
    expect(ours.hex).toBe((await oracle(root, reversed, ROOT_OWNER)).hex);
    expect(ours.hex).not.toBe(strata(root, ALL, ROOT_OWNER).hex);
  });

  it("with owners that need PAX records (big uid, long and non-ASCII names) and another mtime", async () => {
    const own: LayerOwnership = { uid: 3_000_000, gid: 1000, uname: "ü".repeat(3), gname: "g".repeat(40), mtime: 1_700_000_000 };
    const ours = strata(root, ALL, own);
    expect(ours.hex).toBe((await oracle(root, ALL, own)).hex);
  });

  it("does not depend on the chunk size", () => {
    expect(strata(root, ALL, ROOT_OWNER, 512).hex).toBe(strata(root, ALL, ROOT_OWNER).hex);
    expect(strata(root, ALL, ROOT_OWNER, 1000).hex).toBe(strata(root, ALL, ROOT_OWNER).hex);
  });

  it("when the layer is too large to hold and is walked twice (same bytes, checked)", async () => {
    const twice = strata(root, ALL, ROOT_OWNER, 1 << 20, 3);
    expect(twice.size).toBe(twice.planned);
    expect(twice.hex).toBe((await oracle(root, ALL, ROOT_OWNER)).hex);
    expect(strata(root, ALL, ROOT_OWNER, 1 << 20, 0).hex).toBe(twice.hex);
  });

  it("an entry added between the two walks of a large layer is E_FILE_CHANGED, not a corrupt layer", () => {
    for (const change of ["add", "remove"] as const) {
      const dir = at("3a1b2c3d4e5f6g7h8i9j0k1l2m3n4p5q-deep");
      const extra = path.join(dir, "zz-appeared");
      if (change === "remove") fs.writeFileSync(extra, "x");
      const layer = planStoreLayer({ paths: ALL, ownership: ROOT_OWNER, fsRoot: root }, 2);
      if (change === "add") fs.writeFileSync(extra, "x");
      else fs.rmSync(extra);
      const out = new ChunkedOutput(callbackTarget(() => undefined, 1 << 20));
      try {
        expect(() => writeLayer(layer, out)).toThrow(expect.objectContaining({ code: "E_FILE_CHANGED" }));
      } finally {
        fs.rmSync(extra, { force: true });
      }
    }
  });

  it("closes every file it opened ahead when a layer fails midway (no descriptor leaks)", () => {
    const open = (): number => fs.readdirSync("/proc/self/fd").length;
    const victim = at("0a1b2c3d4e5f6g7h8i9j0k1l2m3n4p5q-corner-1.0", "shrinks.bin");
    fs.writeFileSync(victim, Buffer.alloc(64 << 10, 1));
    try {
      const layer = planStoreLayer({ paths: ALL, ownership: ROOT_OWNER, fsRoot: root });
      fs.truncateSync(victim, 10); // after planning: its turn finds fewer bytes
      const before = open();
      const out = new ChunkedOutput(callbackTarget(() => undefined, 1 << 20));
      expect(() => writeLayer(layer, out)).toThrow(expect.objectContaining({ code: "E_FILE_CHANGED" }));
      expect(open()).toBe(before);
    } finally {
      fs.rmSync(victim, { force: true });
    }
  });

  it("for an empty layer (only /nix/ and /nix/store/)", async () => {
    expect(strata(root, [], ROOT_OWNER).hex).toBe((await oracle(root, [], ROOT_OWNER)).hex);
  });

  it("for a file larger than 8 GiB (sparse): the size goes into a PAX record", { timeout: 300_000 }, async () => {
    const name = "4a1b2c3d4e5f6g7h8i9j0k1l2m3n4p5q-huge";
    fs.mkdirSync(at(name));
    const fd = fs.openSync(at(name, "sparse.img"), "w");
    fs.ftruncateSync(fd, 8 * 1024 ** 3 + 4097);
    fs.writeSync(fd, "the end", 8 * 1024 ** 3 + 4000);
    fs.closeSync(fd);
    try {
      const paths = [store(name)];
      const ours = strata(root, paths, ROOT_OWNER);
      const theirs = await oracle(root, paths, ROOT_OWNER);
      // entries: /nix/, /nix/store/, the store path, then the PAX header and records of the file
      expect(ours.head.subarray(1536 + 512, 1536 + 1024).toString("latin1")).toContain("size=8589938689");
      expect(ours.hex).toBe(theirs.hex);
      expect(ours.size).toBe(theirs.size);
    } finally {
      fs.rmSync(at(name), { recursive: true });
    }
  });
});

function firstDifference(a: Buffer, b: Buffer): string {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) {
      const block = Math.floor(i / 512) * 512;
      return `byte ${i} (block at ${block}): ours ${JSON.stringify(a.subarray(block, block + 160).toString("latin1"))} theirs ${JSON.stringify(b.subarray(block, block + 160).toString("latin1"))}`;
    }
  }
  return a.length === b.length ? "no difference" : `lengths ${a.length} vs ${b.length}`;
}
