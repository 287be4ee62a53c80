/**
 * Issue 15, items 4 and 5: decompressing a layer or an archive keeps memory bounded whatever it
 * expands to (zstd honours backpressure, as gzip does), a layer stops as soon as its bytes cannot
 * be the layer (not a tar, endless padding past its end, bigger than LIMITS.maxLayerBytes, an OCI
 * blob not of its descriptor's size), and a full temp dir is an E_WRITE naming it. Memory is
 * measured in a child process (peak RSS); full disks are a real tmpfs.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mergeImages } from "../../src/merge.js";
import { openImage } from "../../src/source/read-image.js";
import { buildTestImage, configFor, failure, makeSourceStore, makeDockerArchive, makeLayer, makeOciLayout, makeTar, sha256, tempArea } from "../source/fixtures.js";
import { packTo, withLimit, zeroTar, zstdTo } from "./readers-helpers.js";

let area: ReturnType<typeof tempArea>;
beforeAll(() => {
  area = tempArea("strata-harden-streams-");
});
afterAll(() => area?.cleanup());

const GiB = 2 ** 30;
const MiB = 2 ** 20;

/** Peak RSS growth of `inspectImage(input)` in a fresh node process, and what it found. */
function inspectInChild(input: string): { growth: number; size: number; diffId: string } {
  const inspect = path.resolve("dist/src/inspect.js");
  const script = `
    import { inspectImage } from ${JSON.stringify(inspect)};
    const start = process.memoryUsage().rss;
    const r = await inspectImage(process.argv[1]);
    const peak = process.resourceUsage().maxRSS * 1024;
    console.log(JSON.stringify({ growth: peak - start, size: r.layers[0].size, diffId: r.layers[0].diffId }));`;
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", script, input], { encoding: "utf8", timeout: 240_000 });
  if (r.status !== 0) throw new Error(`inspect child failed (${r.status ?? r.signal}): ${r.stderr}`);
  return JSON.parse(r.stdout) as { growth: number; size: number; diffId: string };
}

describe.skipIf(spawnSync("zstd", ["--version"]).status !== 0)("item 4: zstd decompression honours backpressure", () => {
  const size = GiB;
  let layerTar: { sha256: string; size: number };

  it("a 1 GiB zero-filled layer, zstd-compressed to a few KB: inspect stays under 150 MB of growth", async () => {
    const zst = path.join(area.root, "layer.tar.zst");
    layerTar = await zstdTo(zst, (write) => zeroTar(size, write));
    const blob = fs.readFileSync(zst);
    expect(blob.length).toBeLessThan(MiB);
    const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [`sha256:${layerTar.sha256}`] } }));
    const input = path.join(area.root, "zstd-layer.tar");
    fs.writeFileSync(input, await makeTar([
      { name: "001/layer.tar.zst", content: blob },
      { name: "c.json", content: config },
      { name: "manifest.json", content: JSON.stringify([{ Config: "c.json", RepoTags: null, Layers: ["001/layer.tar.zst"] }]) },
    ]));
    const r = inspectInChild(input);
    expect(r.size).toBe(layerTar.size);
    expect(r.diffId).toBe(`sha256:${layerTar.sha256}`);
    expect(r.growth).toBeLessThan(150 * MiB);
  });

  it("an outer .tar.zst holding a 1 GiB member: the same bound", async () => {
    const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [`sha256:${layerTar.sha256}`] } }));
    const input = path.join(area.root, "outer.tar.zst");
    await zstdTo(input, (write) => packTo(write, [
      { name: "001/layer.tar", size: layerTar.size, produce: (w) => zeroTar(size, w) },
      { name: "c.json", size: config.length, content: config },
      { name: "manifest.json", size: 0, content: Buffer.from(JSON.stringify([{ Config: "c.json", RepoTags: null, Layers: ["001/layer.tar"] }])) },
    ]));
    expect(fs.statSync(input).size).toBeLessThan(MiB);
    const r = inspectInChild(input);
    expect(r.size).toBe(layerTar.size);
    expect(r.growth).toBeLessThan(150 * MiB);
  });
});

/** A tmpfs of `size` at a fresh dir, unmounted (and removed) after `fn`. */
async function onTmpfs<T>(size: string, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = fs.mkdtempSync(path.join(area.root, "tmpfs-"));
  const mount = spawnSync("mount", ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir], { encoding: "utf8" });
  if (mount.status !== 0) throw new Error(`mount tmpfs failed (this test needs root): ${mount.stderr}`);
  try {
    return await fn(dir);
  } finally {
    spawnSync("umount", [dir]);
    fs.rmdirSync(dir);
  }
}

const canMount = process.getuid?.() === 0;

describe.skipIf(!canMount)("item 5: a layer stops as soon as it cannot be the layer; a full temp dir is E_WRITE", () => {
  /** A docker-archive (legacy naming) of one gzip-compressed layer `tar`, its config naming `diffId`. */
  async function gzipArchive(name: string, tar: Buffer, diffId = sha256(tar)): Promise<string> {
    const input = path.join(area.root, `${name}.tar`);
    const config = configFor([], { rootfs: { type: "layers", diff_ids: [`sha256:${diffId}`] } });
    fs.writeFileSync(input, await makeTar([
      { name: "001/layer.tar.gz", content: zlib.gzipSync(tar) },
      { name: "c.json", content: config },
      { name: "manifest.json", content: JSON.stringify([{ Config: "c.json", RepoTags: ["x:1"], Layers: ["001/layer.tar.gz"] }]) },
    ]));
    return input;
  }

  it("a layer bigger than the temp dir: E_WRITE naming the dir, for openImage and merge; nothing left", async () => {
    const tar = await makeLayer({ big: "x".repeat(8 * MiB) });
    const input = await gzipArchive("big", tar);
    await onTmpfs("2m", async (tmp) => {
      const store = makeSourceStore();
      try {
        const err = await failure(buildTestImage(store, path.join(area.root, "built.tar"), ["app-a-1.0"], { from: input, tmpDir: tmp }));
        expect(err.code).toBe("E_WRITE");
        expect(err.message).toContain(`expected room for it in the temp dir ${tmp}, found the disk full (ENOSPC)`);
      } finally {
        store.cleanup();
      }
      for (const run of [() => openImage(input, { tmpDir: tmp }), () => mergeImages([input], path.join(area.root, "merged.tar"), { tmpDir: tmp })]) {
        const err = await failure(run);
        expect(err.code).toBe("E_WRITE");
        expect(err.message).toContain(`expected room for it in the temp dir ${tmp}, found the disk full (ENOSPC)`);
        expect(err.message).toMatch(/layer 001\/layer\.tar\.gz of /);
        expect(fs.readdirSync(tmp)).toEqual([]);
      }
    });
  });

  it("a layer that runs on with zeros past its last entry stops after about a MiB", async () => {
    const tar = Buffer.concat([await makeLayer({ a: "a" }), Buffer.alloc(24 * MiB)]);
    const input = await gzipArchive("trailer", tar);
    await onTmpfs("8m", async (tmp) => {
      const err = await failure(openImage(input, { tmpDir: tmp }));
      expect(err.code).toBe("E_CLOSURE_INPUT");
      expect(err.message).toMatch(/expected a tar, found unreadable tar data \(more than 1048576 bytes after the tar's last entry\)$/);
      expect(fs.readdirSync(tmp)).toEqual([]);
    });
  });

  it("a layer that is not a tar stops at its first block", async () => {
    const junk = Buffer.alloc(24 * MiB, "not a tar at all. ");
    const input = await gzipArchive("junk", junk);
    await onTmpfs("8m", async (tmp) => {
      const err = await failure(openImage(input, { tmpDir: tmp }));
      expect(err.code).toBe("E_CLOSURE_INPUT");
      expect(err.message).toMatch(/layer 001\/layer\.tar\.gz of .*: expected a tar, found unreadable tar data/);
    });
  });

  it("a layer over LIMITS.maxLayerBytes (lowered to 4 MiB here) stops there", async () => {
    const tar = await makeLayer({ big: "x".repeat(8 * MiB) });
    const input = await gzipArchive("over-limit", tar);
    await onTmpfs("16m", (tmp) => withLimit("maxLayerBytes", 4 * MiB, async () => {
      const err = await failure(openImage(input, { tmpDir: tmp }));
      expect(err.code).toBe("E_CLOSURE_INPUT");
      expect(err.message).toMatch(/expected an uncompressed layer of at most 4194304 bytes, found more$/);
    }));
  });

  it("an OCI blob of another size than its descriptor's is not decompressed at all", async () => {
    const small = await makeLayer({ a: "a" });
    const dir = path.join(area.root, "oci-swapped");
    makeOciLayout(dir, { layers: [small], layerCompression: "gzip" });
    const blob = path.join(dir, "blobs", "sha256", sha256(zlib.gzipSync(small)));
    fs.writeFileSync(blob, zlib.gzipSync(await makeLayer({ big: "x".repeat(8 * MiB) })));
    await onTmpfs("2m", async (tmp) => {
      const err = await failure(openImage(dir, { tmpDir: tmp }));
      expect(err.code).toBe("E_CHECKSUM");
      expect(err.message).toMatch(/expected blob digest sha256:[0-9a-f]{64} of \d+ bytes \(its descriptor\), found a blob of \d+ bytes$/);
    });
  });

  it("a legitimate archive still opens from a small temp dir it fits in", async () => {
    const input = path.join(area.root, "fits.tar");
    fs.writeFileSync(input, await makeDockerArchive({ layers: [await makeLayer({ a: "a" })], layerCompression: "zstd" }));
    await onTmpfs("2m", async (tmp) => {
      const image = await openImage(input, { tmpDir: tmp });
      expect(image.layers).toHaveLength(1);
      await image.cleanup();
      expect(fs.readdirSync(tmp)).toEqual([]);
    });
  });
});
