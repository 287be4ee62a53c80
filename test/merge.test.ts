/**
 * mergeImages (nixpkgs' mergeImages): strata images sharing a layer, in different compressions,
 * one with files owned by uid 1000, and an untagged image with gzip layers, merged into one
 * docker-archive: the shared layer is written once, layer bytes and configs are unchanged, owners
 * inside layers are kept, the bytes are deterministic, and podman and skopeo load every image.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ImageResult } from "../src/image/image-spec.js";
import { storePathOf } from "../src/source/layer-scan.js";
import { mergeImages, type MergeResult } from "../src/merge.js";
import { removeTree, type FixtureStore } from "./helpers/fixture-store.js";
import { readDockerArchive, readTar, requireTool } from "./helpers/interop.js";
import { buildTestImage, configFor, failure, makeDockerArchive, makeLayer, makeSourceStore, run, sha256, tempArea } from "./source/fixtures.js";

const haveSkopeo = requireTool("skopeo");
const havePodman = requireTool("podman");

describe("mergeImages", () => {
  let store: FixtureStore;
  let area: ReturnType<typeof tempArea>;
  const inputs: string[] = [];
  let a: ImageResult;
  let b: ImageResult;
  let owned: ImageResult;
  let untaggedLayers: Buffer[];
  let all: string;
  let merged: MergeResult;

  beforeAll(async () => {
    store = makeSourceStore();
    area = tempArea("strata-merge-");
    inputs.push(path.join(area.root, "a.tar"), path.join(area.root, "b.tar.gz"), path.join(area.root, "owned.tar.zst"), path.join(area.root, "untagged.tar"));
    a = await buildTestImage(store, inputs[0]!, ["app-a-1.0"], { name: "merge-a" });
    b = await buildTestImage(store, inputs[1]!, ["app-b-1.0"], { name: "merge-b", compress: "gzip", config: { Cmd: ["/bin/b"] } });
    owned = await buildTestImage(store, inputs[2]!, ["app-a-1.0"], { name: "owned", compress: "zstd", uid: 1000, gid: 1000, uname: "alice", gname: "users" });
    untaggedLayers = [await makeLayer({ "etc/untagged": "1\n" }, 1000)];
    fs.writeFileSync(inputs[3]!, await makeDockerArchive({ layers: untaggedLayers, layerCompression: "gzip", repoTags: null }));
    all = path.join(area.root, "all.tar");
    merged = await mergeImages(inputs, all, { tmpDir: area.work });
  });

  afterAll(() => {
    store?.cleanup();
    area?.cleanup();
  });

  it("writes each layer once, named by its diff_id, and every config byte for byte", async () => {
    // a and b share the libshared layer (same store path, same owner and mtime).
    expect(a.layers[0]!.diffId).toBe(b.layers[0]!.diffId);
    const members = await readTar(fs.readFileSync(all));
    const names = members.map((m) => m.header.name);
    const layerMembers = members.filter((m) => m.header.name.endsWith("/layer.tar"));
    const distinct = new Set([...a.layers, ...b.layers, ...owned.layers].map((l) => l.diffId));
    distinct.add(`sha256:${sha256(untaggedLayers[0]!)}`);
    expect(layerMembers).toHaveLength(distinct.size);
    expect(merged.layers).toBe(distinct.size);
    expect(names.filter((n) => n === `${a.layers[0]!.diffId.slice(7)}/layer.tar`)).toHaveLength(1);
    for (const m of layerMembers) expect(`${sha256(m.data)}/layer.tar`).toBe(m.header.name);
    expect(names.at(-1)).toBe("manifest.json");

    // Configs are the inputs' configs, byte for byte, named by their digest.
    for (const input of inputs) {
      const original = await readDockerArchive(input).catch(() => undefined);
      if (original === undefined) continue; // the in-code archive's gzip layers are not for this helper
      const member = members.find((m) => m.header.name === `${sha256(original.configBytes)}.json`);
      expect(member?.data.equals(original.configBytes)).toBe(true);
    }

    // The outer tar: regular files only, 0644, root, mtime 1, padded to 10240.
    for (const m of members) expect([m.header.type, m.header.mode, m.header.uid, m.header.gid, m.header.mtime?.getTime()]).toEqual(["file", 0o644, 0, 0, 1000]);
    expect(fs.statSync(all).size % 10240).toBe(0);
    expect(merged.bytes).toBe(fs.statSync(all).size);
  });

  it("writes manifest.json as the inputs' entries in order, RepoTags kept (null for the untagged image)", async () => {
    const archive = (await readTar(fs.readFileSync(all))).find((m) => m.header.name === "manifest.json")!;
    const manifest = JSON.parse(archive.data.toString()) as { Config: string; RepoTags: string[] | null; Layers: string[] }[];
    expect(manifest.map((e) => e.RepoTags)).toEqual([["merge-a:v1"], ["merge-b:v1"], ["owned:v1"], null]);
    expect(manifest.map((e) => e.Config)).toEqual([a.imageId, b.imageId, owned.imageId, merged.images[3]!.imageId].map((id) => `${id.slice(7)}.json`));
    expect(manifest[0]!.Layers).toEqual(a.layers.map((l) => `${l.diffId.slice(7)}/layer.tar`));
    expect(manifest[1]!.Layers).toEqual(b.layers.map((l) => `${l.diffId.slice(7)}/layer.tar`));
    expect(manifest[3]!.Layers).toEqual([`${sha256(untaggedLayers[0]!)}/layer.tar`]);
    expect(merged.images.map((i) => i.repoTags)).toEqual([["merge-a:v1"], ["merge-b:v1"], ["owned:v1"], []]);
  });

  it("keeps owners inside layers untouched (uid 1000 stays 1000)", async () => {
    const members = await readTar(fs.readFileSync(all));
    for (const layer of owned.layers.slice(0, -1)) {
      const member = members.find((m) => m.header.name === `${layer.diffId.slice(7)}/layer.tar`)!;
      const entries = await readTar(member.data);
      const inStore = entries.filter((e) => storePathOf(e.header.name) !== undefined);
      expect(inStore.length).toBeGreaterThan(0);
      for (const e of inStore) expect([e.header.uid, e.header.gid, e.header.uname, e.header.gname]).toEqual([1000, 1000, "alice", "users"]);
    }
    const untagged = members.find((m) => m.header.name === `${sha256(untaggedLayers[0]!)}/layer.tar`)!;
    expect((await readTar(untagged.data)).map((e) => e.header.uid)).toEqual([1000]);
  });

  it("is deterministic: the same inputs give the same bytes", async () => {
    const again = path.join(area.root, "all-again.tar");
    await mergeImages(inputs, again, { tmpDir: area.work });
    expect(sha256(fs.readFileSync(again))).toBe(sha256(fs.readFileSync(all)));
    expect(fs.readdirSync(area.work)).toEqual([]);
  });

  it("leaves no output and no temp file when an input is bad", async () => {
    const bad = path.join(area.root, "bad.tar");
    const good = await makeLayer({ ok: "1" });
    fs.writeFileSync(bad, await makeDockerArchive({ layers: [await makeLayer({ other: "2" })], config: configFor([good]) }));
    const out = path.join(area.root, "out", "merged.tar");
    fs.mkdirSync(path.dirname(out));
    const err = await failure(mergeImages([inputs[0]!, bad], out, { tmpDir: area.work }));
    expect(err.code).toBe("E_CHECKSUM");
    expect(fs.readdirSync(path.dirname(out))).toEqual([]);
    expect(fs.readdirSync(area.work)).toEqual([]);
    expect((await failure(mergeImages([], out, { tmpDir: area.work }))).code).toBe("E_USAGE");
    expect((await failure(mergeImages([path.join(area.root, "nope.tar")], out, { tmpDir: area.work }))).code).toBe("E_USAGE");
    expect(fs.readdirSync(path.dirname(out))).toEqual([]);
  });

  it.skipIf(!haveSkopeo)("skopeo inspect docker-archive:ALL.tar:NAME:TAG works for each image", () => {
    for (const [ref, image] of [["merge-a:v1", a], ["merge-b:v1", b], ["owned:v1", owned]] as const) {
      const info = JSON.parse(run("skopeo", ["inspect", `docker-archive:${all}:${ref}`])) as { Layers: string[]; Digest: string };
      expect(info.Layers).toEqual(image.layers.map((l) => l.diffId));
      const config = JSON.parse(run("skopeo", ["inspect", "--config", `docker-archive:${all}:${ref}`])) as { rootfs: { diff_ids: string[] } };
      expect(config.rootfs.diff_ids).toEqual(image.layers.map((l) => l.diffId));
    }
    // The untagged image, by its index in manifest.json.
    const info = JSON.parse(run("skopeo", ["inspect", `docker-archive:${all}:@3`])) as { Layers: string[] };
    expect(info.Layers).toEqual([`sha256:${sha256(untaggedLayers[0]!)}`]);
  });

  describe.skipIf(!havePodman)("podman", () => {
    let tmp: string;
    let env: NodeJS.ProcessEnv;
    let base: string[];

    beforeAll(() => {
      tmp = fs.mkdtempSync(path.join(area.root, "podman-"));
      const conf = path.join(tmp, "containers.conf");
      fs.writeFileSync(conf, '[containers]\ndefault_ulimits = []\n[engine]\ncgroup_manager = "cgroupfs"\n');
      env = { ...process.env, CONTAINERS_CONF: conf };
      base = ["--storage-driver", "vfs", "--root", path.join(tmp, "storage"), "--runroot", path.join(tmp, "run")];
    });

    afterAll(() => {
      if (tmp !== undefined) removeTree(tmp);
    });

    const podman = (args: string[]): string =>
      execFileSync("podman", [...base, ...args], { env, encoding: "utf8", timeout: 300_000, maxBuffer: 64 << 20, stdio: ["ignore", "pipe", "pipe"] });

    it("podman load loads every image of the merged archive, with its ID and layers", () => {
      const out = podman(["load", "-i", all]);
      for (const name of ["merge-a:v1", "merge-b:v1", "owned:v1"]) expect(out).toContain(`localhost/${name}`);
      for (const [name, image] of [["merge-a:v1", a], ["merge-b:v1", b], ["owned:v1", owned]] as const) {
        const info = JSON.parse(podman(["image", "inspect", `localhost/${name}`])) as { Id: string; RootFS: { Layers: string[] } }[];
        expect(`sha256:${info[0]!.Id}`).toBe(image.imageId);
        expect(info[0]!.RootFS.Layers).toEqual(image.layers.map((l) => l.diffId));
      }
      // The untagged image is loaded too, by its config digest.
      const ids = podman(["images", "--no-trunc", "--quiet"]).split("\n").filter((l) => l !== "");
      expect(ids).toContain(merged.images[3]!.imageId);
    });
  });
});
