/**
 * Incremental builds into an OCI layout: a layer whose key the cache knows, and whose blob the
 * layout holds (checked), is not built at all; everything else is. A build from cache hits is
 * byte-identical to one without the cache.
 */
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildImage, type BuildOptions } from "../../src/build.js";
import { sha256Hex } from "../../src/digest.js";
import type { ImageResult, ProgressEvent } from "../../src/image/image-spec.js";
import { makeFixtureStore, type FixtureStore } from "../helpers/fixture-store.js";

let store: FixtureStore;
let dir: string;
let n = 0;
const CLI = path.join(import.meta.dirname, "../../bin/strata.js");

function bytes(seed: number, size: number): Buffer {
  const b = Buffer.alloc(size);
  let x = seed >>> 0;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = (x >>> 24) & 0x3f;
  }
  return b;
}

beforeAll(() => {
  store = makeFixtureStore([
    ...Array.from({ length: 6 }, (_, i) => ({
      name: `lib${i}-1.0`,
      references: i === 0 ? [] : [`lib${i - 1}-1.0`],
      entries: [{ kind: "file" as const, path: `lib/lib${i}.so`, content: bytes(i + 1, 40_000 + i * 10_000) }],
    })),
    { name: "app-1.0", references: ["lib5-1.0"], entries: [{ kind: "file", path: "bin/app", content: "#!app\n", executable: true }] },
  ]);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "strata-incremental-"));
});

afterAll(() => {
  store.cleanup();
  fs.rmSync(dir, { recursive: true, force: true });
});

const fresh = (what: string): string => path.join(dir, `${what}-${++n}`);

function options(extra: Partial<BuildOptions> = {}): BuildOptions {
  return {
    graph: store.graphFile,
    contents: [store.pathOf("app-1.0")],
    name: "app",
    tag: "1",
    maxLayers: 6,
    storeRoot: store.root,
    format: "oci",
    layerCompress: "gzip",
    ...extra,
  };
}

async function build(extra: Partial<BuildOptions>): Promise<{ result: ImageResult; events: ProgressEvent[] }> {
  const events: ProgressEvent[] = [];
  const result = await buildImage({ ...options(extra), onProgress: (e) => events.push(e) });
  return { result, events };
}

const outcomes = (r: ImageResult): string[] => r.layers.map((l) => l.outcome ?? "?");

/** Every file of a layout, by relative name, as sha256 (the layout's private temp dir excluded). */
function layoutFiles(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      if (e.name.startsWith(".strata-")) continue;
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.set(path.relative(root, p), sha256Hex(fs.readFileSync(p)));
    }
  };
  walk(root);
  return out;
}

describe("incremental builds into an OCI layout", () => {
  it("a rebuild skips every store layer (not even read: their files are gone) and gives the same layout", async () => {
    const cache = fresh("cache");
    const out = fresh("layout");
    const first = await build({ output: out, cache });
    expect(outcomes(first.result).every((o) => o === "written")).toBe(true);
    const before = layoutFiles(out);
    // Make the store unreadable where the store layers are: a layer that were built would fail.
    const lib = store.fsPath(`${store.pathOf("lib2-1.0")}/lib/lib2.so`);
    const saved = fs.readFileSync(lib);
    fs.chmodSync(path.dirname(lib), 0o755);
    fs.rmSync(lib);
    try {
      const second = await build({ output: out, cache });
      // Every layer, the customisation layer too (its key: the contents, extras, owners, mtime).
      expect(outcomes(second.result).every((o) => o === "present")).toBe(true);
      expect(second.result.manifest).toEqual(first.result.manifest);
      expect(layoutFiles(out)).toEqual(before);
    } finally {
      fs.writeFileSync(lib, saved);
    }
  });

  it("cache hits give exactly the bytes of a build without the cache (config, manifest, blobs)", async () => {
    const cache = fresh("cache");
    const warm = fresh("layout");
    await build({ output: warm, cache });
    const hit = fresh("layout");
    // A new layout: the cache knows every layer, the layout holds none, so all are written again.
    const r = await build({ output: hit, cache });
    expect(outcomes(r.result).every((o) => o === "written")).toBe(true);
    const none = fresh("layout");
    await build({ output: none, cache: false });
    expect(layoutFiles(hit)).toEqual(layoutFiles(none));
    expect(layoutFiles(warm)).toEqual(layoutFiles(none));
  });

  it("a shuffled graph still hits", async () => {
    const cache = fresh("cache");
    const out = fresh("layout");
    await build({ output: out, cache });
    const entries = JSON.parse(fs.readFileSync(store.graphFile, "utf8")) as { references: string[] }[];
    const shuffled = path.join(dir, "graph-reversed.json");
    fs.writeFileSync(shuffled, JSON.stringify(entries.reverse().map((e) => ({ ...e, references: [...e.references].reverse() }))));
    const r = await build({ output: out, cache, graph: shuffled });
    expect(outcomes(r.result).slice(0, -1).every((o) => o === "present")).toBe(true);
  });

  for (const [field, change] of [["mtime", { mtime: "2001-01-01T00:00:00Z" }], ["uid", { uid: 1000 }], ["gid", { gid: 100 }], ["uname", { uname: "app" }], ["gname", { gname: "app" }]] as const) {
    it(`a different ${field} misses every store layer`, async () => {
      const cache = fresh("cache");
      const out = fresh("layout");
      await build({ output: out, cache });
      const r = await build({ output: out, cache, ...change });
      const o = outcomes(r.result);
      expect(o.slice(0, -1).every((x) => x === "written")).toBe(true);
      // The customisation layer's owner is not the store layers' (its own --chown): only the mtime changes it.
      expect(o.at(-1)).toBe(field === "mtime" ? "written" : "present");
    });
  }

  it("a changed narHash misses only the layer that holds the path", async () => {
    const cache = fresh("cache");
    const out = fresh("layout");
    const graph = (hash: string): string => {
      const entries = JSON.parse(fs.readFileSync(store.graphFile, "utf8")) as { path: string; narHash?: string }[];
      for (const e of entries) e.narHash = e.path === store.pathOf("lib3-1.0") ? hash : `sha256:${"0".repeat(52)}`;
      const f = path.join(dir, `graph-${hash.slice(-4)}.json`);
      fs.writeFileSync(f, JSON.stringify(entries));
      return f;
    };
    const first = await build({ output: out, cache, graph: graph(`sha256:${"1".repeat(52)}`) });
    const second = await build({ output: out, cache, graph: graph(`sha256:${"2".repeat(52)}`) });
    const changed = first.result.layers.findIndex((l) => l.paths.includes(store.pathOf("lib3-1.0")));
    expect(changed).toBeGreaterThanOrEqual(0);
    const o = outcomes(second.result);
    // The layer of lib3 is built again (to the same bytes: its files did not change), the others skipped.
    expect(o[changed]).toBe("written");
    expect(o.filter((x, i) => i !== changed && i !== o.length - 1).every((x) => x === "present")).toBe(true);
    // Same bytes (its files did not change); only the key annotation tells the two builds apart.
    expect(second.result.layers.map((l) => l.blob?.digest)).toEqual(first.result.layers.map((l) => l.blob?.digest));
  });

  it("a layer whose store paths change is built, the others are skipped", async () => {
    const cache = fresh("cache");
    const out = fresh("layout");
    const first = await build({ output: out, cache });
    // Keep lib0..lib4's layers, put app in with lib5 by planning from a previous plan that joins them.
    const plan = first.result.layers.slice(0, -1).map((l) => [...l.paths]);
    const last = plan.length - 1;
    const merged = [...plan.slice(0, last - 1), [...plan[last - 1]!, ...plan[last]!]];
    const r = await build({ output: out, cache, previous: merged, maxLayers: 5 });
    const o = outcomes(r.result);
    expect(o.slice(0, last - 1).every((x) => x === "present")).toBe(true);
    expect(o[last - 1]).toBe("written");
  });

  it("a layout blob corrupted under its own name is found and written again", async () => {
    const cache = fresh("cache");
    const out = fresh("layout");
    const first = await build({ output: out, cache });
    const blob = first.result.layers[1]!.blob!;
    const file = path.join(out, "blobs", "sha256", blob.digest.slice(7));
    const b = fs.readFileSync(file);
    b[b.length >> 1] ^= 0xff;
    fs.writeFileSync(file, b); // same size, other bytes, other mtime
    const second = await build({ output: out, cache });
    expect(outcomes(second.result)[1]).toBe("written");
    expect(sha256Hex(fs.readFileSync(file))).toBe(blob.digest.slice(7));
  });

  it("a corrupt cache database is one warning and a full, correct build", async () => {
    const cache = fresh("cache");
    fs.mkdirSync(cache, { recursive: true });
    fs.writeFileSync(path.join(cache, "cache.sqlite"), Buffer.alloc(8192, 0x5a));
    const out = fresh("layout");
    const r = await build({ output: out, cache });
    expect(outcomes(r.result).every((o) => o === "written")).toBe(true);
    expect(r.events.filter((e) => e.type === "warning")).toHaveLength(1);
    const ref = fresh("layout");
    await build({ output: ref, cache: false });
    expect(layoutFiles(out)).toEqual(layoutFiles(ref));
  });

  it("--verify builds every layer and fails when the cache disagrees with the bytes", async () => {
    const cache = fresh("cache");
    const out = fresh("layout");
    await build({ output: out, cache });
    const ok = await build({ output: out, cache, verify: true });
    expect(outcomes(ok.result).every((o) => o === "written")).toBe(true);
    // Make the cache lie: the same key, another (valid-looking) blob digest.
    const { LayerCache } = await import("../../src/cache/layer-cache.js");
    const c = LayerCache.open({ dir: cache, warn: () => undefined });
    const key = ok.result.layers[0]!;
    const spec = await import("../../src/layer/layer-key.js");
    const planned = (await import("../../src/build.js")).planImage(options({ cache }));
    const task = { kind: "store" as const, paths: planned.storeLayers[0]!, ownership: { uid: 0, gid: 0, uname: "root", gname: "root", mtime: 1 }, fsRoot: store.root };
    const k = spec.layerKey(task)!;
    const impl = (await import("../../src/write/codecs.js")).codecImpl("gzip");
    c.put(k, { diffId: key.diffId as `sha256:${string}`, size: key.size }, { compression: "gzip", level: 6, impl, digest: `sha256:${"e".repeat(64)}`, size: 123 });
    c.close();
    await expect(build({ output: out, cache, verify: true })).rejects.toMatchObject({ code: "E_CHECKSUM" });
    // Without --verify the same lie is a warning, and the layer as built is used.
    const r = await build({ output: fresh("layout"), cache });
    expect(r.events.some((e) => e.type === "warning" && e.message.includes("the cache said"))).toBe(true);
  });

  it("a layout named by a relative path (the CLI from its directory) is stamped and skipped the same way", () => {
    const cwd = fresh("cwd");
    fs.mkdirSync(cwd);
    const cache = fresh("cache");
    const run = (): { status: number | null; stderr: string } => spawnSync(process.execPath, [CLI, "build", "--graph", store.graphFile, "--contents", store.pathOf("app-1.0"), "--store-root", store.root,
      "--name", "app", "--tag", "1", "--max-layers", "6", "-o", "oci:layout", "--cache-dir", cache, "--json"], { cwd, encoding: "utf8" });
    const first = run();
    expect(first.status, first.stderr).toBe(0);
    const second = run();
    expect(second.status, second.stderr).toBe(0);
    const layers = second.stderr.split("\n").filter((l) => l.includes('"type":"layer"'));
    expect(layers.length).toBeGreaterThan(0);
    expect(layers.every((l) => l.includes('"outcome":"present"'))).toBe(true);
  });

  it("two builds into one layout at once keep both tags (five rounds)", async () => {
    for (let round = 0; round < 5; round++) {
      const out = fresh("layout");
      const run = (tag: string): Promise<number> => new Promise((resolve) => {
        const child = spawn(process.execPath, [CLI, "build", "--graph", store.graphFile, "--contents", store.pathOf("app-1.0"), "--store-root", store.root,
          "--name", "app", "--tag", tag, "--max-layers", "6", "--format", "oci", "-o", out, "-q"], { stdio: ["ignore", "ignore", "inherit"] });
        child.on("exit", (code) => resolve(code ?? 1));
      });
      const codes = await Promise.all([run(`a${round}`), run(`b${round}`)]);
      expect(codes).toEqual([0, 0]);
      const index = JSON.parse(fs.readFileSync(path.join(out, "index.json"), "utf8")) as { manifests: { annotations: Record<string, string> }[] };
      const refs = index.manifests.map((m) => m.annotations["org.opencontainers.image.ref.name"]).sort();
      expect(refs).toEqual([`a${round}`, `b${round}`]);
      expect(fs.readdirSync(out).filter((f) => f.startsWith(".strata-") || f.endsWith(".lock"))).toEqual([]);
    }
  });
});
