/**
 * Two builds sharing one cache (two CI jobs on one runner): two real processes open a new cache
 * at the same moment and write and read it interleaved. Both must succeed without a warning, and
 * every row either wrote must be there afterwards.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { LayerCache } from "../../src/cache/layer-cache.js";

const DIST = path.join(import.meta.dirname, "../../dist/src/cache/layer-cache.js");
const PUTS = 200;
let dir: string;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "strata-cache-shared-"));
});

afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/**
 * One writer: says "ready", waits for the go file, then opens the cache (so both create it at
 * once) and puts PUTS layers of its own, each followed by a read of the other writer's latest
 * key and an update of a key both write; a 1 ms pause now and then keeps the two interleaved.
 */
const WRITER = `
  import fs from "node:fs";
  import { LayerCache } from ${JSON.stringify(DIST)};
  const [dir, me, other, go] = process.argv.slice(1);
  const digest = (s) => "sha256:" + s.padStart(64, "0");
  const sleep = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
  process.stdout.write("ready\\n");
  while (!fs.existsSync(go)) sleep(1);
  const warnings = [];
  const c = LayerCache.open({ dir, warn: (m) => warnings.push(m) });
  let seen = 0, wrong = 0;
  for (let i = 0; i < ${PUTS}; i++) {
    c.put(me + "-" + i, { diffId: digest(me + i.toString(16)), size: i }, { compression: "gzip", level: 6, impl: me, digest: digest("b" + i.toString(16)), size: i });
    c.put("shared", { diffId: digest("5"), size: 5 }, { compression: "zstd", level: i % 3, impl: me, digest: digest("c" + i.toString(16)), size: i });
    c.stampFile("/blobs/" + me + "/" + i, digest("d"), { dev: 1, ino: i, size: i, mtimeNs: BigInt(i) * 1000000007n });
    for (let j = i; j >= 0 && j > i - 3; j--) {
      const hit = c.get(other + "-" + j);
      if (hit === undefined) continue;
      seen++;
      if (hit.diffId !== digest(other + j.toString(16)) || hit.size !== j || hit.blobs.length !== 1) wrong++;
    }
    if (i % 20 === 0) sleep(1);
  }
  c.close();
  process.stdout.write(JSON.stringify({ warnings, seen, wrong }) + "\\n");
`;

interface WriterResult {
  readonly code: number | null;
  readonly stderr: string;
  readonly out: { warnings: string[]; seen: number; wrong: number } | undefined;
}

function writer(cacheDir: string, me: string, other: string, go: string, onReady: () => void): Promise<WriterResult> {
  const child = spawn("node", ["--input-type=module", "-e", WRITER, cacheDir, me, other, go], { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  let ready = false;
  child.stdout.on("data", (b: Buffer) => {
    stdout += b.toString();
    if (!ready && stdout.startsWith("ready\n")) {
      ready = true;
      onReady();
    }
  });
  child.stderr.on("data", (b: Buffer) => void (stderr += b.toString()));
  return new Promise((resolve) => {
    child.on("close", (code) => {
      const last = stdout.trim().split("\n").pop() ?? "";
      resolve({ code, stderr, out: last.startsWith("{") ? (JSON.parse(last) as WriterResult["out"]) : undefined });
    });
  });
}

describe("two processes sharing one cache", () => {
  it("both write and read it at once; nothing is lost, nothing warns", async () => {
    const go = path.join(dir, "go");
    let readyCount = 0;
    const onReady = (): void => {
      if (++readyCount === 2) fs.writeFileSync(go, "");
    };
    const cacheDir = path.join(dir, "cache");
    const [a, b] = await Promise.all([writer(cacheDir, "a", "b", go, onReady), writer(cacheDir, "b", "a", go, onReady)]);
    for (const r of [a, b]) {
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect(r.out).toMatchObject({ warnings: [], wrong: 0 });
    }
    // They ran interleaved: each saw some of the other's layers while both were writing.
    expect(a.out!.seen + b.out!.seen).toBeGreaterThan(0);

    const warnings: string[] = [];
    const c = LayerCache.open({ dir: cacheDir, warn: (m) => warnings.push(m) });
    const stats = c.stats();
    expect(stats).toMatchObject({ usable: true, layers: 2 * PUTS + 1, files: 2 * PUTS });
    // 2 x 200 own blobs, plus the shared key's blobs: (zstd, level 0..2) x (impl a, b)
    expect(stats.blobs).toBe(2 * PUTS + 6);
    for (const me of ["a", "b"]) {
      for (let i = 0; i < PUTS; i++) {
        const hit = c.get(`${me}-${i}`);
        expect(hit?.diffId).toBe(`sha256:${(me + i.toString(16)).padStart(64, "0")}`);
        expect(c.fileStamp(`/blobs/${me}/${i}`)?.stamp.mtimeNs).toBe(BigInt(i) * 1000000007n);
      }
    }
    expect(c.get("shared")?.blobs).toHaveLength(6);
    c.close();
    expect(warnings).toEqual([]);
  });
});
