import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StrataError } from "../../src/errors.js";
import { narHashOf, writeNar } from "../../src/nixdb/nar.js";
import { narHashStorePaths, NarPool } from "../../src/nixdb/nar-pool.js";
import { makeFixtureStore, narSize, removeTree, type FixtureStore } from "../helpers/fixture-store.js";
import { requireTool } from "../helpers/interop.js";

/** Names whose order differs between bytes, UTF-16 code units and any locale. */
const TRICKY_NAMES = ["B", "a", "_", "Z", "a-b", "a.b", "a0", "ä", "\u{1F600}", "\uFF5E", "~"];

const SPEC = [
  {
    name: "tree",
    entries: [
      { kind: "file", path: "bin/tool", content: "#!/bin/sh\necho hi\n", executable: true },
      { kind: "file", path: "lib/empty", content: "" },
      { kind: "file", path: "lib/eight", content: "12345678" },
      { kind: "file", path: "lib/group-exec-only", content: "x", mode: 0o454 },
      { kind: "file", path: "lib/big", content: Buffer.alloc((3 << 20) + 5, 7) },
      { kind: "symlink", path: "lib/rel", target: "../bin/tool" },
      { kind: "symlink", path: "lib/abs", target: "/nix/store/00000000000000000000000000000000-x/y" },
      { kind: "symlink", path: "lib/dangling-long", target: "d".repeat(200) },
      { kind: "dir", path: "share/empty" },
      { kind: "dir", path: "share/a/b/c/d" },
      ...TRICKY_NAMES.map((n) => ({ kind: "file" as const, path: `sort/${n}`, content: n })),
      ...TRICKY_NAMES.map((n) => ({ kind: "dir" as const, path: `sortdirs/${n}` })),
    ],
  },
  { name: "single-file", file: { content: "just a file\n" } },
  { name: "single-exec", file: { content: "#!/bin/sh\n", executable: true } },
  { name: "empty-dir", entries: [] },
  { name: "with-busybox", entries: [{ kind: "busybox" }] },
] as const;

describe("NAR serialisation", () => {
  let store: FixtureStore;
  beforeAll(() => {
    store = makeFixtureStore(SPEC as never);
  });
  afterAll(() => store.cleanup());

  it("sizes match the fixture helper's narSize, and the hash covers exactly the written bytes", () => {
    for (const p of store.paths) {
      const chunks: Buffer[] = [];
      const size = writeNar(store.fsPath(p), (c) => chunks.push(Buffer.from(c)));
      const bytes = Buffer.concat(chunks);
      expect(size).toBe(bytes.length);
      expect(size).toBe(narSize(store.fsPath(p)));
      expect(size % 8).toBe(0);
      const info = narHashOf(store.fsPath(p));
      expect(info.narSize).toBe(size);
      expect(info.narHash).toMatch(/^sha256:[0-9a-df-np-sv-z]{52}$/);
      expect(info.narHash).toBe(`sha256:${nixBase32Of(createHash("sha256").update(bytes).digest())}`);
    }
  });

  it("sorts directory entries by bytes", () => {
    const chunks: Buffer[] = [];
    writeNar(store.fsPath(store.pathOf("tree")) + "/sortdirs", (c) => chunks.push(Buffer.from(c)));
    const nar = Buffer.concat(chunks);
    // Each entry's name follows the token "name": 8-byte length 4, "name", 4 bytes of padding.
    const nameToken = Buffer.concat([Buffer.from([4, 0, 0, 0, 0, 0, 0, 0]), Buffer.from("name"), Buffer.alloc(4)]);
    const inNar: string[] = [];
    for (let at = nar.indexOf(nameToken); at >= 0; at = nar.indexOf(nameToken, at + 1)) {
      const len = Number(nar.readBigUInt64LE(at + nameToken.length));
      inNar.push(nar.subarray(at + nameToken.length + 8, at + nameToken.length + 8 + len).toString());
    }
    expect(inNar).toEqual([...TRICKY_NAMES].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))));
    // The check means something: byte order differs from JS's UTF-16 order for these names.
    expect(inNar).not.toEqual([...TRICKY_NAMES].sort());
  });

  it("names a missing store path with E_STORE_PATH, and refuses sockets and FIFOs", () => {
    expect(() => narHashOf(store.root + "/nix/store/missing", "/nix/store/missing")).toThrow(
      expect.objectContaining({ code: "E_STORE_PATH", message: "store path /nix/store/missing does not exist" }),
    );
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "strata-nar-fifo-"));
    try {
      spawnSync("mkfifo", [path.join(dir, "fifo")]);
      expect(() => narHashOf(dir, "/nix/store/x-fifo")).toThrow(expect.objectContaining({ code: "E_STORE_PATH", message: expect.stringContaining("/nix/store/x-fifo/fifo is neither") }));
    } finally {
      removeTree(dir);
    }
  });

  it("hashes on a worker pool, in input order, with an fsRoot, and errors keep their code", async () => {
    const expected = store.paths.map((p) => narHashOf(store.fsPath(p)));
    const reversed = [...store.paths].reverse();
    const got = await narHashStorePaths(reversed, { fsRoot: store.root, workers: 2 });
    expect(got).toEqual([...expected].reverse());
    const err = await narHashStorePaths([store.paths[0]!, "/nix/store/missing"], { fsRoot: store.root, workers: 2 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StrataError);
    expect(err).toMatchObject({ code: "E_STORE_PATH", message: "store path /nix/store/missing does not exist" });
    await expect(narHashStorePaths(["relative"], {})).rejects.toMatchObject({ code: "E_USAGE" });
    const pool = new NarPool(1);
    try {
      expect(await pool.hash(store.paths[1]!, store.root)).toEqual(expected[1]);
    } finally {
      await pool.destroy();
    }
  });

  describe.skipIf(!requireTool("nix-hash") || !requireTool("nix-store"))("against Nix", () => {
    it("hashes equal nix-hash --type sha256 --base32, sizes nix-store --dump | wc -c, bytes nix-store --dump", () => {
      for (const p of store.paths) {
        const fsPath = store.fsPath(p);
        const hash = nix("nix-hash", ["--type", "sha256", "--base32", fsPath]).toString().trim();
        const dump = nix("nix-store", ["--dump", fsPath]);
        const chunks: Buffer[] = [];
        writeNar(fsPath, (c) => chunks.push(Buffer.from(c)));
        expect(Buffer.concat(chunks).equals(dump), `NAR bytes of ${p}`).toBe(true);
        expect(narHashOf(fsPath)).toEqual({ narHash: `sha256:${hash}`, narSize: dump.length });
      }
    });
  });

  /** Runs a Nix tool against a throwaway store root, so nothing touches the host's /nix. */
  function nix(tool: string, args: string[]): Buffer {
    const r = spawnSync(tool, args, { env: { ...process.env, NIX_REMOTE: `local?root=${store.root}/nixroot` }, maxBuffer: 1 << 28 });
    if (r.status !== 0) throw new Error(`${tool} ${args.join(" ")} failed: ${r.stderr.toString()}`);
    return r.stdout;
  }
});

function nixBase32Of(bytes: Uint8Array): string {
  const alphabet = "0123456789abcdfghijklmnpqrsvwxyz";
  let out = "";
  for (let n = Math.ceil((bytes.length * 8) / 5) - 1; n >= 0; n--) {
    const b = n * 5;
    const i = b >> 3;
    const j = b % 8;
    out += alphabet[((bytes[i]! >> j) | ((bytes[i + 1] ?? 0) << (8 - j))) & 0x1f];
  }
  return out;
}
