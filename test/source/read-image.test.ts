/**
 * openImage reads one strata-built image in every form it meets (strata's docker-archive, plain,
 * gzip and zstd; skopeo's oci, oci-archive and docker-archive copies; archives written in code
 * with compressed layers, legacy symlinks and Docker 25's layout) and gets the same layers, each an
 * uncompressed tar whose sha256 is its diff_id; a layer that does not match its diff_id is
 * refused.
 */
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ImageResult } from "../../src/image/image-spec.js";
import { openImage } from "../../src/source/read-image.js";
import type { SourceImage } from "../../src/source/types.js";
import type { FixtureStore } from "../helpers/fixture-store.js";
import { readTar, requireTool } from "../helpers/interop.js";
import {
  buildTestImage, configFor, failure, makeDockerArchive, makeLayer, makeOciLayout, makeSourceStore, makeTar, run, sha256, tempArea,
} from "./fixtures.js";

const haveSkopeo = requireTool("skopeo");

describe("openImage", () => {
  let store: FixtureStore;
  let area: ReturnType<typeof tempArea>;
  let built: ImageResult;
  let plain: string;
  const opened: SourceImage[] = [];

  beforeAll(async () => {
    store = makeSourceStore();
    area = tempArea("strata-read-image-");
    plain = path.join(area.root, "a.tar");
    built = await buildTestImage(store, plain, ["app-a-1.0"]);
  });

  afterAll(async () => {
    for (const o of opened) await o.cleanup();
    store?.cleanup();
    area?.cleanup();
  });

  async function open(input: string, ref?: string): Promise<SourceImage> {
    const image = await openImage(input, { tmpDir: area.work, ...(ref === undefined ? {} : { ref }) });
    opened.push(image);
    return image;
  }

  /** Every layer is an uncompressed tar file whose sha256 and size are what the image says. */
  function expectVerifiedLayers(image: SourceImage, diffIds: readonly string[]): void {
    expect(image.layers.map((l) => l.diffId)).toEqual(diffIds);
    expect(image.config.rootfs.diff_ids).toEqual(diffIds);
    for (const l of image.layers) {
      const bytes = fs.readFileSync(l.path);
      expect(`sha256:${sha256(bytes)}`).toBe(l.diffId);
      expect(bytes.length).toBe(l.size);
      expect(bytes.subarray(257, 262).toString("latin1")).toBe("ustar");
      expect(l.path.startsWith(area.work + path.sep)).toBe(true);
    }
  }

  it("reads strata's docker-archive", async () => {
    const image = await open(plain);
    expect(image.format).toBe("docker-archive");
    expect(image.repoTags).toEqual(["strata-source-test:v1"]);
    expect(image.imageId).toBe(built.imageId);
    expect(`sha256:${sha256(image.configBytes)}`).toBe(built.imageId);
    expect(image.config.config?.["Env"]).toEqual(["FROM_PARENT=true", "LAST_LAYER=parent"]);
    expect(image.layers.map((l) => l.name)).toEqual(["001/layer.tar", "002/layer.tar", "003/layer.tar"]);
    expect(image.layers.map((l) => l.size)).toEqual(built.layers.map((l) => l.size));
    expectVerifiedLayers(image, built.layers.map((l) => l.diffId));
  });

  it("reads gzip- and zstd-compressed archives, detected by magic whatever the name", async () => {
    for (const compress of ["gzip", "zstd"] as const) {
      const file = path.join(area.root, `a-${compress}.tar`); // no .gz/.zst suffix on purpose
      const r = await buildTestImage(store, file, ["app-a-1.0"], { compress });
      expect(r.imageId).toBe(built.imageId);
      const image = await open(file);
      expect(image.imageId).toBe(built.imageId);
      expectVerifiedLayers(image, built.layers.map((l) => l.diffId));
    }
  });

  it("cleanup() removes its private dir and nothing else", async () => {
    const before = fs.readdirSync(area.work);
    const image = await openImage(plain, { tmpDir: area.work });
    const after = fs.readdirSync(area.work);
    expect(after.length).toBe(before.length + 1);
    await image.cleanup();
    expect(fs.readdirSync(area.work)).toEqual(before);
  });

  it("reads an archive whose layers are gzip- and zstd-compressed (old <n>/layer.tar naming)", async () => {
    const layers = [await makeLayer({ "etc/one": "1\n" }), await makeLayer({ "etc/two": "2\n" })];
    for (const layerCompression of ["gzip", "zstd"] as const) {
      const file = path.join(area.root, `layers-${layerCompression}.tar`);
      fs.writeFileSync(file, await makeDockerArchive({ layers, layerCompression }));
      const image = await open(file);
      expect(image.layers.map((l) => l.name)).toEqual([`001/layer.tar.${layerCompression === "gzip" ? "gz" : "zst"}`, `002/layer.tar.${layerCompression === "gzip" ? "gz" : "zst"}`]);
      expectVerifiedLayers(image, layers.map((l) => `sha256:${sha256(l)}`));
      expect(image.layers.map((l) => fs.readFileSync(l.path))).toEqual(layers);
    }
  });

  it("reads Docker 25's layout (blobs/sha256/<hex>, OCI index beside manifest.json) through manifest.json", async () => {
    const layers = [await makeLayer({ "a/file": "a\n" }), await makeLayer({ "b/file": "b\n" })];
    for (const layerCompression of ["none", "gzip"] as const) {
      const file = path.join(area.root, `docker25-${layerCompression}.tar`);
      fs.writeFileSync(file, await makeDockerArchive({ layers, naming: "docker25", layerCompression }));
      const image = await open(file);
      expect(image.format).toBe("docker");
      expect(image.repoTags).toEqual(["made/in-code:v1"]);
      expect(image.layers.every((l) => /^blobs\/sha256\/[0-9a-f]{64}$/.test(l.name))).toBe(true);
      expectVerifiedLayers(image, layers.map((l) => `sha256:${sha256(l)}`));
    }
  });

  it("resolves a manifest entry that is a symlink or hard link to another member, inside the archive", async () => {
    const layer = await makeLayer({ "x/y": "z\n" });
    const config = configFor([layer, layer]);
    const file = path.join(area.root, "links.tar");
    fs.writeFileSync(file, await makeTar([
      { name: "blobs/layer.tar", content: layer },
      { name: "0001/layer.tar", type: "symlink", linkname: "../blobs/layer.tar" },
      { name: "0002/layer.tar", type: "link", linkname: "0001/layer.tar" },
      { name: "c.json", content: config },
      { name: "manifest.json", content: JSON.stringify([{ Config: "c.json", RepoTags: null, Layers: ["0001/layer.tar", "0002/layer.tar"] }]) },
    ]));
    const image = await open(file);
    expect(image.repoTags).toEqual([]);
    expect(image.layers.map((l) => l.name)).toEqual(["0001/layer.tar", "0002/layer.tar"]);
    expectVerifiedLayers(image, [`sha256:${sha256(layer)}`, `sha256:${sha256(layer)}`]);
    // Links are resolved, never created: both layers are the one extracted file.
    expect(image.layers[0]!.path).toBe(image.layers[1]!.path);
    expect(fs.lstatSync(image.layers[0]!.path).isFile()).toBe(true);
  });

  it("takes the first image of a multi-image archive, or the one `ref` names", async () => {
    const l1 = await makeLayer({ one: "1" });
    const l2 = await makeLayer({ two: "2" });
    const c1 = configFor([l1]);
    const c2 = configFor([l2]);
    const file = path.join(area.root, "multi.tar");
    fs.writeFileSync(file, await makeTar([
      { name: "l1.tar", content: l1 },
      { name: "l2.tar", content: l2 },
      { name: `${sha256(c1)}.json`, content: c1 },
      { name: `${sha256(c2)}.json`, content: c2 },
      { name: "manifest.json", content: JSON.stringify([
        { Config: `${sha256(c1)}.json`, RepoTags: ["one:1"], Layers: ["l1.tar"] },
        { Config: `${sha256(c2)}.json`, RepoTags: ["two:2"], Layers: ["l2.tar"] },
      ]) },
    ]));
    expect((await open(file)).repoTags).toEqual(["one:1"]);
    const second = await open(file, "two:2");
    expect(second.repoTags).toEqual(["two:2"]);
    expectVerifiedLayers(second, [`sha256:${sha256(l2)}`]);
    const err = await failure(openImage(file, { tmpDir: area.work, ref: "three:3" }));
    expect(err.code).toBe("E_USAGE");
    expect(err.message).toBe(`expected an image named "three:3" in ${file}, found "one:1", "two:2"`);
  });

  it("refuses a layer that does not match its diff_id (E_CHECKSUM naming the layer and both digests)", async () => {
    const good = await makeLayer({ ok: "ok\n" });
    const other = await makeLayer({ tampered: "yes\n" });
    for (const layerCompression of ["none", "gzip"] as const) {
      const file = path.join(area.root, `mismatch-${layerCompression}.tar`);
      // The config claims `good` as layer 2, but the archive holds `other` there.
      fs.writeFileSync(file, await makeDockerArchive({ layers: [good, other], config: configFor([good, good]), layerCompression }));
      const before = fs.readdirSync(area.work);
      const err = await failure(openImage(file, { tmpDir: area.work }));
      expect(err.code).toBe("E_CHECKSUM");
      expect(err.message).toContain(`layer 2 of 2 (002/layer.tar${layerCompression === "gzip" ? ".gz" : ""}) of ${file}`);
      expect(err.message).toContain(`expected diff_id sha256:${sha256(good)} (the image config), found sha256:${sha256(other)}`);
      expect(fs.readdirSync(area.work)).toEqual(before);
    }
  });

  it("refuses a config whose name is a digest its bytes do not have", async () => {
    const layer = await makeLayer({ a: "a" });
    const config = configFor([layer]);
    const file = path.join(area.root, "config-name.tar");
    const wrong = "0".repeat(64);
    fs.writeFileSync(file, await makeTar([
      { name: "l.tar", content: layer },
      { name: `${wrong}.json`, content: config },
      { name: "manifest.json", content: JSON.stringify([{ Config: `${wrong}.json`, RepoTags: [], Layers: ["l.tar"] }]) },
    ]));
    const err = await failure(openImage(file, { tmpDir: area.work }));
    expect(err.code).toBe("E_CHECKSUM");
    expect(err.message).toContain(`named by digest ${wrong}, but its bytes hash to ${sha256(config)}`);
  });

  it("refuses a manifest whose layers and diff_ids differ in number", async () => {
    const layer = await makeLayer({ a: "a" });
    const file = path.join(area.root, "count.tar");
    fs.writeFileSync(file, await makeDockerArchive({ layers: [layer], config: configFor([layer, layer]) }));
    const err = await failure(openImage(file, { tmpDir: area.work }));
    expect(err.code).toBe("E_CLOSURE_INPUT");
    expect(err.message).toContain("to list as many layers as its config has diff_ids (2), found 1 layers");
  });

  it("says what it expected for a missing path, a file that is no image and an empty directory", async () => {
    expect((await failure(openImage(path.join(area.root, "nope.tar"), { tmpDir: area.work }))).code).toBe("E_USAGE");
    const json = path.join(area.root, "not-an-image.json");
    fs.writeFileSync(json, JSON.stringify({ hello: "world" }));
    const err = await failure(openImage(json, { tmpDir: area.work }));
    expect(err.code).toBe("E_CLOSURE_INPUT");
    expect(err.message).toMatch(/expected a docker-archive, an OCI layout or an oci-archive, found a file that is neither a tar nor gzip or zstd/);
    const dir = path.join(area.root, "empty-dir");
    fs.mkdirSync(dir);
    expect((await failure(openImage(dir, { tmpDir: area.work }))).message).toMatch(/expected an OCI image layout directory, found a directory without an oci-layout file/);
    const truncated = path.join(area.root, "truncated.tar");
    fs.writeFileSync(truncated, fs.readFileSync(plain).subarray(0, 5000));
    const t = await failure(openImage(truncated, { tmpDir: area.work }));
    expect(t.code).toBe("E_CLOSURE_INPUT");
    expect(t.message).toMatch(/expected a tar archive, found unreadable tar data \(Unexpected end of data\)/);
    // Failed opens leave nothing: every dir in tmpDir belongs to an image still open.
    const live = new Set(opened.flatMap((o) => o.layers.map((l) => path.relative(area.work, l.path).split(path.sep)[0])));
    expect(fs.readdirSync(area.work).filter((n) => !live.has(n))).toEqual([]);
  });

  it("reads an OCI layout with zstd layer blobs, through a nested index, taking this machine's platform", async () => {
    const layers = [await makeLayer({ "nix/store/abc-x/f": "x" }), await makeLayer({ "etc/y": "y" })];
    const dir = path.join(area.root, "oci-nested");
    makeOciLayout(dir, { layers, layerCompression: "zstd", nested: true, annotations: { "io.containerd.image.name": "docker.io/library/n:1", "org.opencontainers.image.ref.name": "1" } });
    const image = await open(dir);
    expect(image.format).toBe("oci");
    expect(image.repoTags).toEqual(["docker.io/library/n:1"]);
    if (process.arch === "x64") expectVerifiedLayers(image, layers.map((l) => `sha256:${sha256(l)}`));
    else if (process.arch === "arm64") expect(image.layers).toEqual([]);
    expect((await open(dir, "1")).imageId).toBe(image.imageId);
    expect((await open(dir, "docker.io/library/n:1")).imageId).toBe(image.imageId);
  });

  it("takes an OCI ref.name that is a full name:tag as the image's name, and a bare tag as none", async () => {
    const layers = [await makeLayer({ a: "a" })];
    for (const [refName, tags] of [["localhost:5000/team/app:1.0", ["localhost:5000/team/app:1.0"]], ["latest", []], ["localhost:5000/app", []]] as const) {
      const dir = fs.mkdtempSync(path.join(area.root, "oci-ref-"));
      makeOciLayout(dir, { layers, annotations: { "org.opencontainers.image.ref.name": refName } });
      const image = await open(dir, refName);
      expect(image.repoTags).toEqual(tags);
    }
  });

  it("refuses an OCI layer blob whose digest is not its descriptor's, and an index with manifests: null", async () => {
    const layers = [await makeLayer({ a: "a" })];
    for (const layerCompression of ["none", "gzip"] as const) {
      const dir = path.join(area.root, `oci-corrupt-${layerCompression}`);
      makeOciLayout(dir, { layers, layerCompression, corruptLastBlob: true });
      const err = await failure(openImage(dir, { tmpDir: area.work }));
      expect(err.code).toBe("E_CHECKSUM");
      expect(err.message).toMatch(/^.*layer 1 of 1 \(blobs\/sha256\/[0-9a-f]{64}\) of .*: expected blob digest sha256:[0-9a-f]{64}( of \d+ bytes)? \(its descriptor\), found (sha256:[0-9a-f]{64}|a blob of \d+ bytes)$/);
    }
    const dir = path.join(area.root, "oci-null");
    makeOciLayout(dir, { layers });
    fs.writeFileSync(path.join(dir, "index.json"), JSON.stringify({ schemaVersion: 2, manifests: null }));
    const err = await failure(openImage(dir, { tmpDir: area.work }));
    expect(err.code).toBe("E_CLOSURE_INPUT");
    expect(err.message).toContain('expected index.json to have a list of manifests, found "manifests": null');
  });

  it("stops when its signal is aborted, and leaves nothing behind", async () => {
    const controller = new AbortController();
    controller.abort();
    const before = fs.readdirSync(area.work);
    const err = await failure(openImage(plain, { tmpDir: area.work, signal: controller.signal }));
    expect(err.code).toBe("E_ABORTED");
    expect(fs.readdirSync(area.work)).toEqual(before);
  });

  describe.skipIf(!haveSkopeo)("copies made by skopeo", () => {
    it("reads skopeo's OCI layout (gzip layer blobs), and picks it by ref name", async () => {
      const dir = path.join(area.root, "oci-dir");
      run("skopeo", ["copy", "-q", `docker-archive:${plain}`, `oci:${dir}:t1`]);
      const image = await open(dir);
      expect(image.format).toBe("oci");
      expect(image.repoTags).toEqual([]); // ref.name "t1" is a tag, not a name:tag
      expect(image.layers.every((l) => /^blobs\/sha256\/[0-9a-f]{64}$/.test(l.name))).toBe(true);
      expectVerifiedLayers(image, built.layers.map((l) => l.diffId));
      // The layout is read in place and left as it was.
      const blobs = fs.readdirSync(path.join(dir, "blobs", "sha256")).sort();
      expect((await open(dir, "t1")).layers.map((l) => l.diffId)).toEqual(built.layers.map((l) => l.diffId));
      expect(fs.readdirSync(path.join(dir, "blobs", "sha256")).sort()).toEqual(blobs);
      expect((await failure(openImage(dir, { tmpDir: area.work, ref: "t2" }))).message).toContain('found "t1"');
    });

    it("reads skopeo's oci-archive", async () => {
      const file = path.join(area.root, "a.oci.tar");
      run("skopeo", ["copy", "-q", `docker-archive:${plain}`, `oci-archive:${file}:t1`]);
      const image = await open(file);
      expect(image.format).toBe("oci-archive");
      expectVerifiedLayers(image, built.layers.map((l) => l.diffId));
    });

    it("reads skopeo's docker-archive (<digest>.tar layers, legacy <id>/layer.tar symlinks), also through the symlinks", async () => {
      const file = path.join(area.root, "skopeo.tar");
      run("skopeo", ["copy", "-q", `docker-archive:${plain}`, `docker-archive:${file}:sk/img:t1`]);
      const image = await open(file);
      expect(image.format).toBe("docker-archive");
      expect(image.repoTags).toEqual(["docker.io/sk/img:t1"]);
      expect(image.imageId).toBe(built.imageId);
      expect(image.layers.map((l) => l.name)).toEqual(built.layers.map((l) => `${l.diffId.slice(7)}.tar`));
      expectVerifiedLayers(image, built.layers.map((l) => l.diffId));

      // The same archive with manifest.json pointing at the legacy symlinks, as docker save's did.
      const members = await readTar(fs.readFileSync(file));
      const symlinks = members.filter((m) => m.header.type === "symlink").map((m) => m.header.name);
      expect(symlinks).toHaveLength(3);
      const manifest = JSON.parse(members.find((m) => m.header.name === "manifest.json")!.data.toString()) as { Layers: string[] }[];
      manifest[0]!.Layers = manifest[0]!.Layers.map((l) => symlinks.find((s) => members.find((m) => m.header.name === s)!.header.linkname === `../${l}`)!);
      const relinked = path.join(area.root, "skopeo-symlinks.tar");
      fs.writeFileSync(relinked, await makeTar(members.map((m) => ({
        name: m.header.name,
        type: m.header.type,
        ...(m.header.type === "symlink" ? { linkname: m.header.linkname } : { content: m.header.name === "manifest.json" ? JSON.stringify(manifest) : m.data }),
      }))));
      const viaLinks = await open(relinked);
      expect(viaLinks.layers.map((l) => l.name)).toEqual(symlinks);
      expectVerifiedLayers(viaLinks, built.layers.map((l) => l.diffId));
    });
  });
});
