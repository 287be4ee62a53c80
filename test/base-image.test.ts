/**
 * Base images end to end (issue 6 §3, spec §1.5, §2.6, §2.7, and the nixpkgs scenarios of §5.1):
 * an image built on top of a strata image keeps the base's diff_ids first and really runs with
 * the files of both (podman); Env merges as nixpkgs merges it (`LAST_LAYER` once, the child's
 * value at the parent's position) and `inheritConfig` carries the rest of the base config; base
 * layers count against maxLayers ("layered-bulk-layer": exactly 4 layers); a base given as a
 * gzip or zstd docker-archive, an OCI layout or an oci-archive gives the same layers; a base
 * whose layer bytes were edited is refused; and `strata stream` honours conf.json's from_image.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import zlib from "node:zlib";
import { pack as tarPack, type Header as TarHeaders } from "tar-stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ImageResult } from "../src/image/image-spec.js";
import { buildImage, type BuildOptions } from "../src/build.js";
import { makeFixtureStore, removeTree, type FixtureStore } from "./helpers/fixture-store.js";
import { readTar, requireTool, validateArchive, type DockerArchive, type ImageConfigJson } from "./helpers/interop.js";
import { podmanSandbox, type PodmanSandbox } from "./helpers/podman.js";

const CLI = path.join(import.meta.dirname, "../bin/strata.js");

const PARENT_CONFIG = {
  Cmd: ["/bin/sh", "-c", "echo parent"],
  Env: ["FROM_PARENT=true", "LAST_LAYER=parent"],
  Labels: { "org.example.parent": "yes", "org.example.shared": "parent" },
  WorkingDir: "/parent",
};
const CHILD_ENV = ["FROM_CHILD=true", "LAST_LAYER=child"];
/** nixpkgs' merge of PARENT_CONFIG.Env ++ CHILD_ENV: de-duplicated by name, last value at the first position. */
const MERGED_ENV = ["FROM_PARENT=true", "LAST_LAYER=child", "FROM_CHILD=true"];

let store: FixtureStore;
let dir: string;
/** Image A: busybox and bin/a, with PARENT_CONFIG. */
let aFile: string;
let aResult: ImageResult;
let aArchive: DockerArchive;

const sha256 = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");

/** Deterministic bytes that do not compress to nothing. */
function bytes(seed: number, n: number): Buffer {
  const b = Buffer.alloc(n);
  let x = (seed * 2654435761) >>> 0;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

const common = (): Pick<BuildOptions, "graph" | "storeRoot" | "workers"> => ({ graph: store.graphFile, storeRoot: store.root, workers: 2 });

/** Member names of `d` that look like strata's partial outputs or spool dirs. */
function leftovers(d: string): string[] {
  return fs.readdirSync(d).filter((f) => f.includes(".strata-") || /^strata-[A-Za-z0-9]{6}$/.test(f));
}

function countOccurrences(text: string, needle: string): number {
  return text.split(needle).length - 1;
}

/** A tar of `members` written with tar-stream, headers as given (sizes from the data). */
async function repack(members: readonly { header: TarHeaders; data: Buffer }[]): Promise<Buffer> {
  const p = tarPack();
  const chunks: Buffer[] = [];
  const collected = (async () => {
    for await (const c of p) chunks.push(c as Buffer);
  })();
  for (const m of members) {
    await new Promise<void>((resolve, reject) => p.entry({ ...m.header, size: m.data.length }, m.data, (err) => (err ? reject(err) : resolve())));
  }
  p.finalize();
  await collected;
  return Buffer.concat(chunks);
}

// podman as /work/shared/interop.md runs it (test/helpers/podman.ts); the image's static busybox
// makes it runnable.
const haveRunner = requireTool("podman") && requireTool("runc") && requireTool("busybox");
let sandbox: PodmanSandbox | undefined;

function podman(args: string[]): string {
  sandbox ??= podmanSandbox("strata-base-podman-");
  return sandbox.podman(args);
}

function podmanRun(image: string, cmd: string[]): string {
  sandbox ??= podmanSandbox("strata-base-podman-");
  return sandbox.run(image, cmd);
}

beforeAll(async () => {
  store = makeFixtureStore([
    { name: "busybox-static-1.36", entries: [{ kind: "busybox" }] },
    { name: "a-files-1.0", entries: [{ kind: "file", path: "bin/a", content: "file-from-A\n" }, { kind: "file", path: "share/a.bin", content: bytes(1, 40_000) }] },
    { name: "b-lib-1.0", entries: [{ kind: "file", path: "lib/libb.so", content: bytes(2, 30_000) }] },
    { name: "b-files-1.0", references: ["b-lib-1.0"], entries: [{ kind: "file", path: "bin/b", content: "file-from-B\n" }] },
    // A closure of six paths for the bulk-layer case: more paths than layers.
    { name: "bulk-0", entries: [{ kind: "file", path: "share/bulk-0", content: bytes(10, 20_000) }] },
    { name: "bulk-1", references: ["bulk-0"], entries: [{ kind: "file", path: "share/bulk-1", content: bytes(11, 21_000) }] },
    { name: "bulk-2", references: ["bulk-0"], entries: [{ kind: "file", path: "share/bulk-2", content: bytes(12, 22_000) }] },
    { name: "bulk-3", references: ["bulk-1", "bulk-2"], entries: [{ kind: "file", path: "share/bulk-3", content: bytes(13, 23_000) }] },
    { name: "bulk-4", references: ["bulk-3"], entries: [{ kind: "file", path: "share/bulk-4", content: bytes(14, 24_000) }] },
    { name: "bulk-app", references: ["bulk-4", "bulk-1"], entries: [{ kind: "file", path: "bin/bulk", content: "bulk\n" }] },
    { name: "small-base", entries: [{ kind: "file", path: "etc/base-release", content: "base 1\n" }] },
  ]);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "strata-base-image-"));
  aFile = path.join(dir, "a.tar");
  aResult = await buildImage({
    ...common(),
    contents: [store.pathOf("busybox-static-1.36"), store.pathOf("a-files-1.0")],
    config: PARENT_CONFIG,
    name: "layered-image-a",
    tag: "v1",
    output: aFile,
  });
  aArchive = await validateArchive(aFile, aResult);
});

afterAll(() => {
  store?.cleanup();
  if (dir !== undefined) removeTree(dir);
  // vfs copies the images' read-only store directories: removeTree makes them writable first.
  sandbox?.cleanup();
});

describe("layered on top of layered (nixpkgs' layered-on-top-layered)", () => {
  let bFile: string;
  let bResult: ImageResult;
  let b: DockerArchive;

  beforeAll(async () => {
    bFile = path.join(dir, "b.tar");
    bResult = await buildImage({
      ...common(),
      from: aFile,
      contents: [store.pathOf("b-files-1.0")],
      config: { Env: CHILD_ENV },
      name: "layered-on-top-layered",
      tag: "v1",
      output: bFile,
    });
    b = await validateArchive(bFile, bResult);
  });

  it("puts A's layers first, byte for byte, then B's own store layers and customisation layer", () => {
    const aIds = aArchive.config.rootfs.diff_ids;
    const bIds = b.config.rootfs.diff_ids;
    expect(aIds.length).toBeGreaterThanOrEqual(2);
    expect(bIds.slice(0, aIds.length)).toEqual(aIds);
    expect(bIds.length).toBeGreaterThan(aIds.length + 1); // at least one store layer of B, and its customisation layer
    aArchive.layers.forEach((layer, i) => expect(b.layers[i]!.equals(layer), `base layer ${i}`).toBe(true));
    // B's store layers hold B's closure only: A's store paths are not shipped again.
    const own = bResult.layers.slice(aIds.length, -1).flatMap((l) => l.paths);
    expect(own.sort()).toEqual([store.pathOf("b-files-1.0"), store.pathOf("b-lib-1.0")].sort());
    // One history entry per layer; the base layers' comments name the member in A (spec §2.6/§2.7).
    expect(b.config.history?.length).toBe(bIds.length);
    aArchive.manifest[0]!.Layers.forEach((member, i) => expect(b.config.history?.[i]?.comment).toBe(`store paths: ['${member}']`));
  });

  describe.skipIf(!haveRunner)("with podman", () => {
    it("podman loads B and a container of B sees the files of A and of B, and the merged Env", () => {
      expect(podman(["load", "-i", bFile])).toContain("Loaded image: localhost/layered-on-top-layered:v1");
      const id = podman(["image", "inspect", "--format", "{{.Id}}", "localhost/layered-on-top-layered:v1"]).trim();
      expect(`sha256:${id}`).toBe(bResult.imageId);
      const out = podmanRun("localhost/layered-on-top-layered:v1", ["/bin/sh", "-c", "cat /bin/a /bin/b; echo \"$FROM_PARENT $FROM_CHILD $LAST_LAYER\"; ls /nix/store"]);
      const storeNames = ["busybox-static-1.36", "a-files-1.0", "b-files-1.0", "b-lib-1.0"].map((n) => path.basename(store.pathOf(n))).sort();
      expect(out.split("\n").filter((l) => l !== "")).toEqual(["file-from-A", "file-from-B", "true true child", ...storeNames]);
    });
  });
});

describe("repeated layers", () => {
  const onRepeated = (): string => path.join(dir, "on-repeated.tar");
  const aOnA = (): string => path.join(dir, "a-on-a.tar");

  it("a base whose manifest lists the same layer member twice (nixpkgs #214434) is used as it is", async () => {
    const members = await readTar(fs.readFileSync(aFile));
    const image = aArchive.manifest[0]!;
    const config = JSON.parse(aArchive.configBytes.toString("utf8")) as { rootfs: { diff_ids: string[] }; history: unknown[] };
    config.rootfs.diff_ids = [config.rootfs.diff_ids[0]!, ...config.rootfs.diff_ids];
    config.history = [config.history[0], ...config.history];
    const configBytes = Buffer.from(JSON.stringify(config));
    const configName = `${sha256(configBytes)}.json`;
    const layers = [image.Layers[0]!, ...image.Layers];
    const rewritten = members
      .filter((m) => m.header.name !== image.Config && m.header.name !== "manifest.json")
      .concat([
        { header: { ...members[0]!.header, name: configName, type: "file" }, data: configBytes },
        { header: { ...members[0]!.header, name: "manifest.json", type: "file" }, data: Buffer.from(JSON.stringify([{ Config: configName, RepoTags: ["repeated:v1"], Layers: layers }])) },
      ]);
    const base = path.join(dir, "repeated-base.tar");
    fs.writeFileSync(base, await repack(rewritten));
    const out = onRepeated();
    const r = await buildImage({ ...common(), from: base, contents: [store.pathOf("b-files-1.0")], name: "on-repeated", tag: "v1", output: out });
    const b = await validateArchive(out, r);
    expect(b.config.rootfs.diff_ids.slice(0, layers.length)).toEqual(config.rootfs.diff_ids);
    expect(b.layers[0]!.equals(b.layers[1]!)).toBe(true);
    expect(b.config.history!.slice(0, layers.length).map((h) => h.comment)).toEqual(layers.map((m) => `store paths: ['${m}']`));
  });

  it("B with A's own contents on top of A repeats A's store layers, under distinct member names", async () => {
    const out = aOnA();
    const r = await buildImage({
      ...common(),
      from: aFile,
      contents: [store.pathOf("busybox-static-1.36"), store.pathOf("a-files-1.0")],
      name: "a-on-a",
      tag: "v1",
      output: out,
    });
    const b = await validateArchive(out, r);
    const aIds = aArchive.config.rootfs.diff_ids;
    // Same paths, same owners and times: the same store layer tars again.
    expect(b.config.rootfs.diff_ids.slice(aIds.length, 2 * aIds.length - 1)).toEqual(aIds.slice(0, -1));
    expect(new Set(b.manifest[0]!.Layers).size).toBe(b.manifest[0]!.Layers.length);
  });

  it.skipIf(!haveRunner)("both load in podman and run", () => {
    expect(podman(["load", "-i", onRepeated()])).toContain("Loaded image: localhost/on-repeated:v1");
    expect(podmanRun("localhost/on-repeated:v1", ["/bin/sh", "-c", "cat /bin/a /bin/b"])).toBe("file-from-A\nfile-from-B\n");
    expect(podman(["load", "-i", aOnA()])).toContain("Loaded image: localhost/a-on-a:v1");
    expect(podmanRun("localhost/a-on-a:v1", ["/bin/sh", "-c", "cat /bin/a"])).toBe("file-from-A\n");
  });
});

describe("the default tag", () => {
  // The default tag hashes which base image it is (its image ID), as nixpkgs' tag is the hash of
  // the conf derivation, which includes fromImage: two different bases never give one name:tag.
  it("differs for two different base images with as many layers", async () => {
    const build = async (contents: string, label: string): Promise<{ base: ImageResult; child: ImageResult }> => {
      const baseFile = path.join(dir, `tag-base-${label}.tar`);
      const base = await buildImage({ ...common(), contents: [store.pathOf(contents)], maxLayers: 2, name: "tag-base", tag: label, output: baseFile });
      await validateArchive(baseFile, base);
      const childFile = path.join(dir, `tag-child-${label}.tar`);
      const child = await buildImage({ ...common(), from: baseFile, contents: [store.pathOf("b-files-1.0")], name: "tag-child", output: childFile });
      await validateArchive(childFile, child);
      return { base, child };
    };
    const one = await build("small-base", "one");
    const two = await build("bulk-0", "two");
    expect(one.base.layers.length).toBe(two.base.layers.length);
    expect(one.child.imageId).not.toBe(two.child.imageId);
    expect(one.child.repoTags[0]).not.toBe(two.child.repoTags[0]);
  });
});

describe("Env inheritance and inheritConfig", () => {
  const child = async (file: string, extra: Partial<BuildOptions>): Promise<DockerArchive> => {
    const out = path.join(dir, file);
    const r = await buildImage({ ...common(), from: aFile, contents: [store.pathOf("b-files-1.0")], name: "env-child", tag: "v1", output: out, ...extra });
    return validateArchive(out, r);
  };

  it("keeps FROM_PARENT and FROM_CHILD, LAST_LAYER=child exactly once at the parent's position; drops the rest of A's config", async () => {
    const b = await child("env.tar", { config: { Env: CHILD_ENV } });
    const config = b.config.config!;
    expect(config["Env"]).toEqual(MERGED_ENV);
    expect(countOccurrences(b.configBytes.toString("utf8"), "LAST_LAYER")).toBe(1);
    // nixpkgs inherits nothing but Env.
    expect(config).toEqual({ Env: MERGED_ENV });
  });

  it("appends the parent's Env after the child's own keys when the child has no Env, as nixpkgs' dict does", async () => {
    const b = await child("env-none.tar", { config: { Cmd: ["/bin/sh"], User: "nobody" } });
    expect(Object.keys(b.config.config!)).toEqual(["Cmd", "User", "Env"]);
    expect(b.config.config!["Env"]).toEqual(PARENT_CONFIG.Env);
  });

  it("with inheritConfig, carries A's Cmd, WorkingDir and Labels over when B does not set them", async () => {
    const b = await child("inherit-all.tar", { config: { Env: CHILD_ENV }, inheritConfig: true });
    const config = b.config.config!;
    expect(config["Env"]).toEqual(MERGED_ENV);
    expect(config["Cmd"]).toEqual(PARENT_CONFIG.Cmd);
    expect(config["WorkingDir"]).toBe(PARENT_CONFIG.WorkingDir);
    expect(config["Labels"]).toEqual(PARENT_CONFIG.Labels);
    expect(countOccurrences(b.configBytes.toString("utf8"), "LAST_LAYER")).toBe(1);
  });

  it("with inheritConfig, B's own Cmd, WorkingDir and label values win", async () => {
    const b = await child("inherit-some.tar", {
      config: { Cmd: ["/bin/b"], Env: CHILD_ENV, Labels: { "org.example.shared": "child" }, WorkingDir: "/child" },
      inheritConfig: true,
    });
    const config = b.config.config!;
    expect(config["Cmd"]).toEqual(["/bin/b"]);
    expect(config["WorkingDir"]).toBe("/child");
    // Labels merge key by key (config-merge.ts), the child's values winning.
    expect(config["Labels"]).toEqual({ "org.example.parent": "yes", "org.example.shared": "child" });
    expect(config["Env"]).toEqual(MERGED_ENV);
  });

  it("the CLI's --from and --inherit-config do the same", async () => {
    const configFile = path.join(dir, "child-config.json");
    fs.writeFileSync(configFile, JSON.stringify({ Env: CHILD_ENV, WorkingDir: "/child" }));
    const run = (extra: string[], file: string): DockerArchive | Promise<DockerArchive> => {
      const out = path.join(dir, file);
      const r = spawnSync("node", [CLI, "build", "--graph", store.graphFile, "--store-root", store.root, "--contents", store.pathOf("b-files-1.0"),
        "--from", aFile, "--config", configFile, "--name", "env-child", "--tag", "v1", "-o", out, "-q", ...extra], { encoding: "utf8" });
      expect(r.status, r.stderr).toBe(0);
      return validateArchive(out);
    };
    const inherit = (await run(["--inherit-config"], "cli-inherit.tar")).config.config!;
    expect(inherit["Env"]).toEqual(MERGED_ENV);
    expect(inherit["Cmd"]).toEqual(PARENT_CONFIG.Cmd);
    expect(inherit["WorkingDir"]).toBe("/child");
    expect(inherit["Labels"]).toEqual(PARENT_CONFIG.Labels);
    expect((await run([], "cli-no-inherit.tar")).config.config).toEqual({ Env: MERGED_ENV, WorkingDir: "/child" });
  });

  it("without inheritConfig, A's Cmd, WorkingDir and Labels do not carry over, whatever B sets", async () => {
    const b = await child("no-inherit.tar", { config: { Cmd: ["/bin/b"], Env: CHILD_ENV } });
    expect(b.config.config).toEqual({ Cmd: ["/bin/b"], Env: MERGED_ENV });
  });
});

describe("bulk layer with a base image (nixpkgs' layered-bulk-layer)", () => {
  let baseFile: string;
  let baseArchive: DockerArchive;
  const bulkContents = (): string[] => [store.pathOf("bulk-app")];
  const bulkClosure = (): string[] => ["bulk-0", "bulk-1", "bulk-2", "bulk-3", "bulk-4", "bulk-app"].map((n) => store.pathOf(n)).sort();

  beforeAll(async () => {
    baseFile = path.join(dir, "two-layer-base.tar");
    const r = await buildImage({ ...common(), contents: [store.pathOf("small-base")], maxLayers: 2, name: "two-layer-base", tag: "v1", output: baseFile });
    baseArchive = await validateArchive(baseFile, r);
    expect(baseArchive.layers.length).toBe(2);
  });

  for (const layering of ["auto", "popularity"] as const) {
    it(`maxLayers 4 on a 2-layer base gives exactly 4 layers: 2 base + 1 store + 1 customisation (${layering})`, async () => {
      const out = path.join(dir, `bulk-${layering}.tar`);
      const r = await buildImage({ ...common(), from: baseFile, contents: bulkContents(), maxLayers: 4, layering, name: "layered-bulk-layer", tag: "v1", output: out });
      const b = await validateArchive(out, r);
      expect(b.layers.length).toBe(4);
      expect(b.config.rootfs.diff_ids.slice(0, 2)).toEqual(baseArchive.config.rootfs.diff_ids);
      // The one store layer holds the whole closure of the contents (the bulk layer).
      expect([...r.layers[2]!.paths].sort()).toEqual(bulkClosure());
      expect(r.layers[3]!.paths).toEqual(bulkContents());
      // Without the base the same budget gives 3 store layers: the base's 2 layers were counted.
      const alone = path.join(dir, `bulk-alone-${layering}.tar`);
      const r2 = await buildImage({ ...common(), contents: bulkContents(), maxLayers: 4, layering, name: "bulk-alone", tag: "v1", output: alone });
      expect((await validateArchive(alone, r2)).layers.length).toBe(4);
      expect(r2.layers.slice(0, -1).flatMap((l) => l.paths).sort()).toEqual(bulkClosure());
    });
  }

  it("de-duplicates the child's Env even when the base has none, as nixpkgs does whenever fromImage is set", async () => {
    expect(baseArchive.config.config?.["Env"]).toBeUndefined();
    const out = path.join(dir, "env-on-bare-base.tar");
    const r = await buildImage({ ...common(), from: baseFile, contents: bulkContents(), config: { Env: ["X=1", "Y=2", "X=3"] }, name: "env-bare", tag: "v1", output: out });
    expect((await validateArchive(out, r)).config.config).toEqual({ Env: ["X=3", "Y=2"] });
  });

  it("maxLayers 3 on a 2-layer base leaves no layer for store paths: E_LAYER_BUDGET, no output", async () => {
    const out = path.join(dir, "bulk-3.tar");
    const p = buildImage({ ...common(), from: baseFile, contents: bulkContents(), maxLayers: 3, name: "bulk-3", tag: "v1", output: out });
    await expect(p).rejects.toMatchObject({ code: "E_LAYER_BUDGET" });
    await expect(p).rejects.toThrow(/maxLayers=3 leaves no layer for store paths: 2 base layers \+ 1 customisation layer use 3/);
    expect(fs.existsSync(out)).toBe(false);
    expect(leftovers(dir)).toEqual([]);
  });
});

/** An OCI layout (files by relative name) checked from scratch: every digest, size and diff_id. */
async function validateOci(files: Map<string, Buffer>, what: string): Promise<{ config: ImageConfigJson; diffIds: string[] }> {
  const get = (name: string): Buffer => {
    const b = files.get(name);
    if (b === undefined) throw new Error(`${what}: no ${name} (has ${[...files.keys()].join(", ")})`);
    return b;
  };
  const blob = (d: { digest: string; size: number }): Buffer => {
    const b = get(`blobs/sha256/${d.digest.slice("sha256:".length)}`);
    expect(`sha256:${sha256(b)}`, `${what}: blob ${d.digest}`).toBe(d.digest);
    expect(b.length, `${what}: size of ${d.digest}`).toBe(d.size);
    return b;
  };
  expect(JSON.parse(get("oci-layout").toString())).toEqual({ imageLayoutVersion: "1.0.0" });
  const index = JSON.parse(get("index.json").toString()) as { manifests: { digest: string; size: number; annotations?: Record<string, string> }[] };
  expect(index.manifests.length).toBe(1);
  const manifest = JSON.parse(blob(index.manifests[0]!).toString()) as { config: { digest: string; size: number }; layers: { mediaType: string; digest: string; size: number }[] };
  const config = JSON.parse(blob(manifest.config).toString()) as ImageConfigJson;
  expect(manifest.layers.length).toBe(config.rootfs.diff_ids.length);
  for (const [i, d] of manifest.layers.entries()) {
    const stored = blob(d);
    const tar = d.mediaType.endsWith("+gzip") ? zlib.gunzipSync(stored)
      : d.mediaType.endsWith("+zstd") ? execFileSync("zstd", ["-d", "-c"], { input: stored, maxBuffer: 1 << 28 })
      : stored;
    expect(`sha256:${sha256(tar)}`, `${what}: diff_id of layer ${i}`).toBe(config.rootfs.diff_ids[i]);
    await readTar(tar);
  }
  return { config, diffIds: [...config.rootfs.diff_ids] };
}

function readDirFiles(root: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (rel: string): void => {
    for (const name of fs.readdirSync(path.join(root, rel))) {
      const r = rel === "" ? name : `${rel}/${name}`;
      if (fs.statSync(path.join(root, r)).isDirectory()) walk(r);
      else out.set(r, fs.readFileSync(path.join(root, r)));
    }
  };
  walk("");
  return out;
}

async function readArchiveFiles(file: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for (const e of await readTar(fs.readFileSync(file))) if (e.header.type === "file") out.set(e.header.name.replace(/^\.\//, ""), e.data);
  return out;
}

describe("base image formats", () => {
  const baseOptions = (): BuildOptions => ({
    ...common(),
    contents: [store.pathOf("busybox-static-1.36"), store.pathOf("a-files-1.0")],
    config: PARENT_CONFIG,
    name: "layered-image-a",
    tag: "v1",
  });
  const childOf = async (from: string, label: string): Promise<DockerArchive> => {
    const out = path.join(dir, `child-of-${label}.tar`);
    const r = await buildImage({ ...common(), from, contents: [store.pathOf("b-files-1.0")], config: { Env: CHILD_ENV }, name: "child", tag: "v1", output: out });
    return validateArchive(out, r);
  };

  it("a gzip and a zstd docker-archive, an OCI layout and an oci-archive give the same base layers", async () => {
    const aIds = aArchive.config.rootfs.diff_ids;
    const bases: { label: string; file: string }[] = [{ label: "plain", file: aFile }];

    for (const compress of ["gzip", "zstd"] as const) {
      const file = path.join(dir, `a.tar.${compress === "gzip" ? "gz" : "zst"}`);
      const r = await buildImage({ ...baseOptions(), compress, output: file });
      const archive = await validateArchive(file, r);
      expect(archive.compression).toBe(compress);
      expect(archive.config.rootfs.diff_ids).toEqual(aIds);
      bases.push({ label: `docker-archive-${compress}`, file });
    }
    const layout = path.join(dir, "a-oci");
    await buildImage({ ...baseOptions(), format: "oci", output: layout });
    expect((await validateOci(readDirFiles(layout), layout)).diffIds).toEqual(aIds);
    bases.push({ label: "oci", file: layout });
    const ociArchive = path.join(dir, "a-oci.tar");
    await buildImage({ ...baseOptions(), format: "oci-archive", output: ociArchive });
    expect((await validateOci(await readArchiveFiles(ociArchive), ociArchive)).diffIds).toEqual(aIds);
    bases.push({ label: "oci-archive", file: ociArchive });

    const children = [];
    for (const base of bases) children.push({ ...base, archive: await childOf(base.file, base.label) });
    const reference = children[0]!.archive;
    expect(reference.config.rootfs.diff_ids.slice(0, aIds.length)).toEqual(aIds);
    for (const c of children) {
      // The whole layer list is the same: the base layers (decompressed where they were stored
      // compressed) and B's own layers.
      expect(c.archive.config.rootfs.diff_ids, c.label).toEqual(reference.config.rootfs.diff_ids);
      expect(c.archive.config.config, c.label).toEqual({ Env: MERGED_ENV });
    }
  });

  it("refuses a base whose layer bytes were edited (config kept): E_CHECKSUM, no output left", async () => {
    // Rewrite A with one byte of a layer member changed: bin/a's content in the store layer that
    // holds a-files (same length, so the tar stays well-formed; only the digest is wrong).
    const members = await readTar(fs.readFileSync(aFile));
    const layerNames = new Set(aArchive.manifest[0]!.Layers);
    let edited = 0;
    const rewritten = members.map((m) => {
      const at = layerNames.has(m.header.name) ? m.data.indexOf("file-from-A\n") : -1;
      if (at < 0) return m;
      const data = Buffer.from(m.data);
      data[at] = "F".charCodeAt(0);
      edited++;
      return { header: m.header, data };
    });
    expect(edited).toBe(1);
    const tampered = path.join(dir, "tampered-base.tar");
    fs.writeFileSync(tampered, await repack(rewritten));
    // The archive is still a well-formed docker-archive, the config untouched.
    const t = await readTar(fs.readFileSync(tampered));
    expect(t.map((m) => m.header.name)).toEqual(members.map((m) => m.header.name));
    expect(t.find((m) => m.header.name === aArchive.manifest[0]!.Config)!.data.equals(aArchive.configBytes)).toBe(true);

    const outDir = fs.mkdtempSync(path.join(dir, "tampered-out-"));
    const out = path.join(outDir, "child.tar");
    const build = buildImage({ ...common(), from: tampered, contents: [store.pathOf("b-files-1.0")], name: "child", tag: "v1", output: out, tmpDir: outDir });
    await expect(build).rejects.toMatchObject({ code: "E_CHECKSUM" });
    expect(fs.readdirSync(outDir)).toEqual([]);

    // The CLI says so in one line with a hint, and exits 1.
    const cli = spawnSync("node", [CLI, "build", "--graph", store.graphFile, "--store-root", store.root, "--contents", store.pathOf("b-files-1.0"),
      "--from", tampered, "--tmp-dir", outDir, "-o", out, "-q"], { encoding: "utf8" });
    expect(cli.status).toBe(1);
    const lines = cli.stderr.trimEnd().split("\n");
    expect(lines.length, cli.stderr).toBe(2);
    expect(lines[0]).toMatch(/^strata: E_CHECKSUM: /);
    expect(fs.readdirSync(outDir)).toEqual([]);

    // inspect and merge check the digests too.
    const inspect = spawnSync("node", [CLI, "inspect", tampered, "--json"], { encoding: "utf8" });
    expect(inspect.status).toBe(1);
    expect(inspect.stderr).toMatch(/^strata: E_CHECKSUM: /);
    expect(inspect.stdout).toBe("");
    const merged = path.join(outDir, "merged.tar");
    const merge = spawnSync("node", [CLI, "merge", aFile, tampered, "-o", merged, "--tmp-dir", outDir], { encoding: "utf8" });
    expect(merge.status).toBe(1);
    expect(merge.stderr).toMatch(/^strata: E_CHECKSUM: /);
    expect(fs.readdirSync(outDir)).toEqual([]);
  });
});

describe("strata stream with conf.json from_image", () => {
  let custDir: string;
  let baseConf: Record<string, unknown>;

  beforeAll(() => {
    custDir = path.join(dir, "customisation");
    fs.mkdirSync(path.join(custDir, "root/bin"), { recursive: true });
    fs.symlinkSync(`${store.pathOf("b-files-1.0")}/bin/b`, path.join(custDir, "root/bin/b"));
    execFileSync("tar", ["--sort=name", "--numeric-owner", "--mtime=@1", "-C", path.join(custDir, "root"), "-cf", path.join(custDir, "layer.tar"), "."]);
    fs.writeFileSync(path.join(custDir, "checksum"), `${sha256(fs.readFileSync(path.join(custDir, "layer.tar")))}\n`);
    baseConf = {
      architecture: "amd64",
      config: { Cmd: [`${store.pathOf("b-files-1.0")}/bin/b`], Env: CHILD_ENV },
      os: "linux",
      store_dir: "/nix/store",
      from_image: aFile,
      store_layers: [[store.pathOf("b-lib-1.0")], [store.pathOf("b-files-1.0")]],
      customisation_layer: custDir,
      repo_tag: "streamed-on-base:v1",
      created: "1970-01-01T00:00:01+00:00",
      mtime: "1970-01-01T00:00:01+00:00",
      uid: "0",
      gid: "0",
      uname: "root",
      gname: "root",
    };
  });

  const stream = (conf: Record<string, unknown>, label: string): { out: string; status: number | null; stderr: string } => {
    const confFile = path.join(dir, `conf-${label}.json`);
    fs.writeFileSync(confFile, JSON.stringify(conf, null, 2));
    const out = path.join(dir, `streamed-${label}.tar`);
    const r = spawnSync("node", [CLI, "stream", confFile, "--store-root", store.root, "-o", out, "-q"], { encoding: "utf8" });
    return { out, status: r.status, stderr: r.stderr };
  };

  it("puts the base layers first, names their members in history, and merges Env as nixpkgs", async () => {
    const r = stream(baseConf, "from-image");
    expect(r.status, r.stderr).toBe(0);
    const s = await validateArchive(r.out);
    const aIds = aArchive.config.rootfs.diff_ids;
    expect(s.config.rootfs.diff_ids.length).toBe(aIds.length + 3);
    expect(s.config.rootfs.diff_ids.slice(0, aIds.length)).toEqual(aIds);
    aArchive.layers.forEach((layer, i) => expect(s.layers[i]!.equals(layer), `base layer ${i}`).toBe(true));
    expect(s.layers.at(-1)!.equals(fs.readFileSync(path.join(custDir, "layer.tar")))).toBe(true);
    const comments = s.config.history!.map((h) => h.comment);
    expect(comments).toEqual([
      ...aArchive.manifest[0]!.Layers.map((member) => `store paths: ['${member}']`),
      `store paths: ['${store.pathOf("b-lib-1.0")}']`,
      `store paths: ['${store.pathOf("b-files-1.0")}']`,
      `store paths: ['${custDir}']`,
    ]);
    // Env merged (LAST_LAYER once, the child's value at the parent's position); nothing else of
    // the base config (its Cmd, WorkingDir, Labels) is inherited by the stream script.
    expect(s.config.config).toEqual({ Cmd: [`${store.pathOf("b-files-1.0")}/bin/b`], Env: MERGED_ENV });
    expect(countOccurrences(s.configBytes.toString("utf8"), "LAST_LAYER")).toBe(1);
    expect(s.manifest[0]!.RepoTags).toEqual(["streamed-on-base:v1"]);
  });

  it("appends the base's Env last when the conf's config has none, and keeps duplicates without a base", async () => {
    const noEnv = stream({ ...baseConf, config: { Cmd: ["/bin/b"], WorkingDir: "/w" } }, "no-env");
    expect(noEnv.status, noEnv.stderr).toBe(0);
    const a = await validateArchive(noEnv.out);
    expect(Object.keys(a.config.config!)).toEqual(["Cmd", "WorkingDir", "Env"]);
    expect(a.config.config!["Env"]).toEqual(PARENT_CONFIG.Env);
    // Without from_image nixpkgs writes the config verbatim, duplicates included.
    const dup = stream({ ...baseConf, from_image: null, config: { Env: ["X=1", "X=2"] } }, "no-base");
    expect(dup.status, dup.stderr).toBe(0);
    const d = await validateArchive(dup.out);
    expect(d.config.config!["Env"]).toEqual(["X=1", "X=2"]);
    expect(d.config.rootfs.diff_ids.length).toBe(3);
  });

  it("reads a from_image that is a store path (as nixpkgs writes it) under --store-root", async () => {
    // nixpkgs' conf.json names the base image by its store path, e.g. a buildImage's .tar.gz.
    const gz = path.join(dir, "a-for-store.tar.gz");
    const built = await buildImage({
      ...common(),
      contents: [store.pathOf("busybox-static-1.36"), store.pathOf("a-files-1.0")],
      config: PARENT_CONFIG,
      name: "layered-image-a",
      tag: "v1",
      compress: "gzip",
      output: gz,
    });
    await validateArchive(gz, built);
    const storePath = `/nix/store/${"0".repeat(31)}1-docker-image-layered-image-a.tar.gz`;
    const storeDir = path.join(store.root, "nix/store");
    fs.chmodSync(storeDir, 0o755);
    try {
      fs.copyFileSync(gz, store.fsPath(storePath));
    } finally {
      fs.chmodSync(storeDir, 0o555);
    }
    const s = stream({ ...baseConf, from_image: storePath }, "from-store-path");
    expect(s.status, s.stderr).toBe(0);
    const a = await validateArchive(s.out);
    expect(a.config.rootfs.diff_ids.slice(0, built.layers.length)).toEqual(built.layers.map((l) => l.diffId));
    expect(a.config.config!["Env"]).toEqual(MERGED_ENV);
  });

  it("takes a compressed docker-archive as from_image too", async () => {
    const zst = path.join(dir, "a-for-stream.tar.zst");
    const r = await buildImage({
      ...common(),
      contents: [store.pathOf("busybox-static-1.36"), store.pathOf("a-files-1.0")],
      config: PARENT_CONFIG,
      name: "layered-image-a",
      tag: "v1",
      compress: "zstd",
      output: zst,
    });
    await validateArchive(zst, r);
    const s = stream({ ...baseConf, from_image: zst }, "from-zstd");
    expect(s.status, s.stderr).toBe(0);
    const a = await validateArchive(s.out);
    expect(a.config.rootfs.diff_ids.slice(0, aResult.layers.length)).toEqual(aResult.layers.map((l) => l.diffId));
  });
});
