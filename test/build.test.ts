/**
 * `strata build`: the same inputs give the same bytes for any worker count, graph entry order,
 * compression setting, time zone and umask; every image re-validates; layers that wait their
 * turn spool to disk and still come out identical.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Sink } from "../src/dest/byte-output.js";
import { buildImage, planImage, type BuildOptions } from "../src/build.js";
import { sha256Hex } from "../src/digest.js";
import { makeFixtureStore, type FixtureStore } from "./helpers/fixture-store.js";
import { readTar, validateArchive } from "./helpers/interop.js";

let store: FixtureStore;
let dir: string;
const CLI = path.join(import.meta.dirname, "../bin/strata.js");

/** Deterministic pseudo-random bytes that compress somewhat, like binaries do. */
function bytes(seed: number, n: number): Buffer {
  const b = Buffer.alloc(n);
  let x = seed * 2654435761 >>> 0;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = (x >>> 24) & (i % 7 === 0 ? 0xff : 0x0f);
  }
  return b;
}

beforeAll(() => {
  const libs = Array.from({ length: 12 }, (_, i) => ({
    name: `lib${i}-1.0`,
    references: i === 0 ? [] : [`lib${Math.floor(i / 2)}-1.0`],
    selfReference: i % 3 === 0,
    entries: [
      { kind: "file" as const, path: `lib/lib${i}.so`, content: bytes(i, 50_000 + i * 30_000) },
      { kind: "symlink" as const, path: `lib/lib${i}.so.1`, target: `lib${i}.so` },
    ],
  }));
  store = makeFixtureStore([
    ...libs,
    { name: "big-data-1.0", entries: [{ kind: "file", path: "share/big.bin", content: bytes(99, 12 << 20) }] },
    { name: "big-data-2.0", entries: [{ kind: "file", path: "share/big.bin", content: bytes(98, 12 << 20) }] },
    {
      name: "app-1.0",
      references: ["lib11-1.0", "lib7-1.0", "big-data-1.0"],
      entries: [
        { kind: "file", path: "bin/app", content: "#!app\n", executable: true },
        { kind: "file", path: "etc/app.conf", content: "x=1\n" },
        { kind: "dir", path: "var/empty" },
      ],
    },
  ]);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "strata-build-"));
});

afterAll(() => {
  store.cleanup();
  fs.rmSync(dir, { recursive: true, force: true });
});

const base = (): BuildOptions => ({
  graph: store.graphFile,
  contents: [store.pathOf("app-1.0")],
  config: { Cmd: [`${store.pathOf("app-1.0")}/bin/app`], Env: ["A=1"] },
  name: "App",
  maxLayers: 8,
  storeRoot: store.root,
});

/** A graph file with the entries and each reference list shuffled (seeded). */
function shuffledGraph(seed: number): string {
  const entries = JSON.parse(fs.readFileSync(store.graphFile, "utf8")) as { references: string[] }[];
  let x = seed;
  const rand = (n: number): number => ((x = (x * 1103515245 + 12345) >>> 0) % n);
  const shuffle = <T>(a: T[]): T[] => {
    for (let i = a.length - 1; i > 0; i--) {
      const j = rand(i + 1);
      [a[i], a[j]] = [a[j]!, a[i]!];
    }
    return a;
  };
  const file = path.join(dir, `graph-shuffled-${seed}.json`);
  fs.writeFileSync(file, JSON.stringify(shuffle(entries.map((e) => ({ ...e, references: shuffle([...e.references]) })))));
  return file;
}

const digestOf = (file: string): string => sha256Hex(fs.readFileSync(file));

describe("strata build", () => {
  it("plans nixpkgs' classic layers: one path per layer, then the rest, within the budget", () => {
    const plan = planImage({ ...base(), layering: "popularity" });
    expect(plan.storeLayers.length).toBe(7); // 8 minus the customisation layer
    expect(plan.storeLayers.slice(0, 6).every((l) => l.length === 1)).toBe(true);
    // the closure of the contents: app, big-data, and the libs app reaches through lib11 and lib7
    const closure = ["app-1.0", "big-data-1.0", "lib11-1.0", "lib5-1.0", "lib2-1.0", "lib1-1.0", "lib0-1.0", "lib7-1.0", "lib3-1.0"];
    expect(plan.storeLayers.flat().sort()).toEqual(closure.map((n) => store.pathOf(n)).sort());
    // lib0 is referenced, directly or not, by everything: it is the most popular path
    expect(plan.storeLayers[0]).toEqual([store.pathOf("lib0-1.0")]);
    expect(plan.repoTag).toMatch(/^app:[0-9a-df-np-sv-z]{32}$/);
  });

  for (const compress of ["none", "gzip", "zstd"] as const) {
    it(`gives the same bytes for 1 or 4 workers and a shuffled graph (compress ${compress})`, async () => {
      const outs = [
        { file: path.join(dir, `w1-${compress}.tar`), workers: 1, graph: store.graphFile },
        { file: path.join(dir, `w4-${compress}.tar`), workers: 4, graph: shuffledGraph(7) },
        { file: path.join(dir, `w2-${compress}.tar`), workers: 2, graph: shuffledGraph(13) },
      ];
      const results = [];
      for (const o of outs) results.push(await buildImage({ ...base(), graph: o.graph, workers: o.workers, compress, output: o.file }));
      const digests = outs.map((o) => digestOf(o.file));
      // A stream (no random access) takes the streaming writer; an uncompressed file is written
      // in place by the positional one: the same bytes either way.
      const chunks: Buffer[] = [];
      const stream: Sink = {
        bytesWritten: 0,
        async write(b) {
          chunks.push(Buffer.from(b));
        },
        async commit() {},
        async abort() {},
      };
      results.push(await buildImage({ ...base(), graph: shuffledGraph(5), workers: 3, compress, output: stream }));
      digests.push(sha256Hex(Buffer.concat(chunks)));
      expect(new Set(digests).size).toBe(1);
      expect(new Set(results.map((r) => r.imageId)).size).toBe(1);
      const archive = await validateArchive(outs[0]!.file, results[0]!);
      expect(archive.compression).toBe(compress);
      expect(archive.layers.length).toBe(8);
    });
  }

  it("gives the same bytes under another time zone and umask (CLI)", () => {
    const run = (env: NodeJS.ProcessEnv, umask: string, out: string): void => {
      execFileSync("sh", ["-c", `umask ${umask} && exec node "$@"`, "sh", CLI, "build", "--graph", store.graphFile, "--contents", store.pathOf("app-1.0"),
        "--store-root", store.root, "--max-layers", "8", "-o", out, "-q"], { env: { ...process.env, ...env } });
    };
    const a = path.join(dir, "tz-a.tar");
    const b = path.join(dir, "tz-b.tar");
    run({ TZ: "UTC" }, "022", a);
    run({ TZ: "Pacific/Chatham" }, "077", b);
    expect(digestOf(a)).toBe(digestOf(b));
    expect(fs.statSync(b).mode & 0o777).toBe(0o600); // the file itself follows the umask, its bytes do not
  });

  it("changes the tag, and only the config, when created changes; layers when mtime changes", async () => {
    const a = await buildImage({ ...base(), output: path.join(dir, "t-a.tar") });
    const b = await buildImage({ ...base(), created: "2024-01-01T00:00:00Z", output: path.join(dir, "t-b.tar") });
    const c = await buildImage({ ...base(), mtime: 1_000_000, output: path.join(dir, "t-c.tar") });
    expect(b.layers.map((l) => l.diffId)).toEqual(a.layers.map((l) => l.diffId));
    expect(b.imageId).not.toBe(a.imageId);
    expect(b.repoTags[0]).not.toBe(a.repoTags[0]);
    expect(c.layers[0]!.diffId).not.toBe(a.layers[0]!.diffId);
  });

  it("puts the symlink join of the contents in the customisation layer", async () => {
    const out = path.join(dir, "custom.tar");
    await buildImage({ ...base(), output: out });
    const archive = await validateArchive(out);
    const entries = await readTar(archive.layers.at(-1)!);
    const app = store.pathOf("app-1.0");
    expect(entries.map((e) => [e.header.name, e.header.type, e.header.linkname ?? null])).toEqual([
      ["bin/", "directory", null],
      ["bin/app", "symlink", `${app}/bin/app`],
      ["etc/", "directory", null],
      ["etc/app.conf", "symlink", `${app}/etc/app.conf`],
      ["var/", "directory", null],
      ["var/empty/", "directory", null],
    ]);
  });

  // Whether a layer waiting its turn spools or sleeps depends on timing (it spools only while the
  // merger starves; test/pool/layer-channel.test.ts drives both cases deterministically). Here:
  // whatever happens, the bytes are the same and no spool file is left.
  for (const [what, delayMs] of [["a slow sink (waiting layers sleep)", 10], ["a fast sink (the merger may starve: waiting layers may spool)", 0]] as const) {
    it(`gives the same bytes with ${what}, and leaves no spool file`, async () => {
      const tmpDir = fs.mkdtempSync(path.join(dir, "spool-"));
      const reference = path.join(dir, "ref.tar");
      const twoBig = { ...base(), contents: [store.pathOf("big-data-1.0"), store.pathOf("big-data-2.0")], config: {}, maxLayers: 3, workers: 2 };
      await buildImage({ ...twoBig, output: reference });
      const chunks: Buffer[] = [];
      const sink: Sink = {
        bytesWritten: 0,
        async write(b) {
          chunks.push(Buffer.from(b));
          (this as { bytesWritten: number }).bytesWritten += b.length;
          if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
        },
        async commit() {},
        async abort() {},
      };
      await buildImage({ ...twoBig, output: sink, tmpDir });
      expect(sha256Hex(Buffer.concat(chunks))).toBe(digestOf(reference));
      expect(fs.readdirSync(tmpDir)).toEqual([]); // spool dir removed
    });
  }
});
