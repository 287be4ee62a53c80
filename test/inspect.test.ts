/**
 * inspectImage: the layers of an image with digests, sizes, entry counts and the store paths in
 * each, for strata's docker-archive (plain and compressed), skopeo's OCI layout and oci-archive,
 * and archives with compressed layers; the digests are checked as openImage checks them.
 */
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ImageResult } from "../src/image/image-spec.js";
import { formatInspect, inspectImage, type InspectResult } from "../src/inspect.js";
import { humanSize } from "../src/format-bytes.js";
import { storePathOf } from "../src/source/layer-scan.js";
import type { FixtureStore } from "./helpers/fixture-store.js";
import { readTar, requireTool } from "./helpers/interop.js";
import { buildTestImage, configFor, failure, makeDockerArchive, makeLayer, makeSourceStore, makeTar, run, sha256, tempArea } from "./source/fixtures.js";

const haveSkopeo = requireTool("skopeo");

describe("inspectImage", () => {
  let store: FixtureStore;
  let area: ReturnType<typeof tempArea>;
  let built: ImageResult;
  let plain: string;

  beforeAll(async () => {
    store = makeSourceStore();
    area = tempArea("strata-inspect-");
    plain = path.join(area.root, "a.tar");
    built = await buildTestImage(store, plain, ["app-a-1.0"]);
  });

  afterAll(() => {
    store?.cleanup();
    area?.cleanup();
  });

  /** What the layers of `built` must show, whatever the format. */
  async function expectLayers(r: InspectResult): Promise<void> {
    expect(r.layers.map((l) => l.diffId)).toEqual(built.layers.map((l) => l.diffId));
    expect(r.layers.map((l) => l.size)).toEqual(built.layers.map((l) => l.size));
    expect(r.layers.map((l) => l.index)).toEqual([0, 1, 2]);
    // Store layers hold the store paths strata put in them; the customisation layer holds the
    // symlink join at the root (bin/a -> /nix/store/...), no store path.
    expect(r.layers.map((l) => l.storePaths)).toEqual([[store.pathOf("libshared-1.0")], [store.pathOf("app-a-1.0")], []]);
    const archive = (await readTar(fs.readFileSync(plain))).filter((m) => m.header.name.endsWith("/layer.tar"));
    for (const [i, l] of r.layers.entries()) {
      const entries = await readTar(archive[i]!.data);
      expect(l.entries).toBe(entries.length);
    }
    expect(r.config).toMatchObject({ architecture: "amd64", os: "linux", Cmd: ["/bin/a"], Env: ["FROM_PARENT=true", "LAST_LAYER=parent"] });
  }

  it("lists strata's docker-archive: digests, sizes, entries and store paths per layer", async () => {
    const r = await inspectImage(plain);
    expect(r.format).toBe("docker-archive");
    expect(r.compression).toBe("none");
    expect(r.images).toBe(1);
    expect(r.repoTags).toEqual(["strata-source-test:v1"]);
    expect(r.imageId).toBe(built.imageId);
    expect(r.config.created).toBe("1970-01-01T00:00:01+00:00");
    await expectLayers(r);
    for (const l of r.layers) {
      expect(l.digest).toBe(l.diffId);
      expect(l.compressedSize).toBeUndefined();
      expect(l.mediaType).toBeUndefined();
    }
    expect(r.layers.map((l) => l.name)).toEqual(["001/layer.tar", "002/layer.tar", "003/layer.tar"]);
  });

  it("reads a zstd-compressed archive in one stream", async () => {
    const file = path.join(area.root, "a.tar.zst");
    await buildTestImage(store, file, ["app-a-1.0"], { compress: "zstd" });
    const r = await inspectImage(file);
    expect(r.compression).toBe("zstd");
    await expectLayers(r);
  });

  it("reports the stored digest and size of compressed layer members", async () => {
    const layers = [await makeLayer({ "nix/store/aaaa-x/bin/x": "x", "./nix/store/bbbb-y/lib/y": "y", "/nix/store/cccc-z": "z", "etc/passwd": "p" })];
    const file = path.join(area.root, "gz-layers.tar");
    fs.writeFileSync(file, await makeDockerArchive({ layers, layerCompression: "gzip" }));
    const r = await inspectImage(file);
    const l = r.layers[0]!;
    expect(l.diffId).toBe(`sha256:${sha256(layers[0]!)}`);
    expect(l.digest).not.toBe(l.diffId);
    expect(l.compressedSize).toBeGreaterThan(0);
    expect(l.compressedSize).toBeLessThan(l.size);
    expect(l.storePaths).toEqual(["/nix/store/aaaa-x", "/nix/store/bbbb-y", "/nix/store/cccc-z"]);
    expect(l.entries).toBe(4);
  });

  it("refuses a layer that does not match its diff_id", async () => {
    const good = await makeLayer({ ok: "ok" });
    const bad = await makeLayer({ bad: "bad" });
    const file = path.join(area.root, "mismatch.tar");
    fs.writeFileSync(file, await makeDockerArchive({ layers: [bad], config: configFor([good]) }));
    const err = await failure(inspectImage(file));
    expect(err.code).toBe("E_CHECKSUM");
    expect(err.message).toContain(`layer 1 of 1 (001/layer.tar) of ${file}: expected diff_id sha256:${sha256(good)} (the image config), found sha256:${sha256(bad)}`);
  });

  it("refuses a layer member that is not a tar", async () => {
    const layer = Buffer.from("this is not a tar at all");
    const config = configFor([layer]);
    const file = path.join(area.root, "not-tar.tar");
    fs.writeFileSync(file, await makeTar([
      { name: "l", content: layer },
      { name: "c.json", content: config },
      { name: "manifest.json", content: JSON.stringify([{ Config: "c.json", RepoTags: [], Layers: ["l"] }]) },
    ]));
    const err = await failure(inspectImage(file));
    expect(err.code).toBe("E_CLOSURE_INPUT");
    expect(err.message).toMatch(/expected a tar \(plain, gzip or zstd\), found data that is none of them/);
  });

  it("formatInspect renders a table with short digests, sizes and every store path", async () => {
    const r = await inspectImage(plain);
    const text = formatInspect(r);
    expect(text).toContain(`image      ${built.imageId}`);
    expect(text).toContain("tags       strata-source-test:v1");
    expect(text).toContain("platform   linux/amd64");
    expect(text).toContain('cmd        ["/bin/a"]');
    expect(text).toContain("env        FROM_PARENT=true\n           LAST_LAYER=parent");
    const rows = text.split("\n");
    const header = rows.findIndex((l) => l.startsWith("#"));
    expect(rows[header]).toMatch(/^#  diff_id\s+size\s+stored\s+entries  store paths$/);
    for (const [i, l] of r.layers.entries()) {
      const row = rows[header + 1 + i]!;
      expect(row).toContain(l.diffId.slice(0, 19));
      expect(row).toContain(humanSize(l.size));
      expect(row.endsWith(l.storePaths[0] ?? "-")).toBe(true);
    }
  });

  it("storePathOf: entries at or below /nix/store/<name>, with / or ./ or nothing before", () => {
    expect(storePathOf("nix/store/abc-x")).toBe("/nix/store/abc-x");
    expect(storePathOf("nix/store/abc-x/")).toBe("/nix/store/abc-x");
    expect(storePathOf("./nix/store/abc-x/bin/x")).toBe("/nix/store/abc-x");
    expect(storePathOf("/nix/store/abc-x/bin")).toBe("/nix/store/abc-x");
    expect(storePathOf("nix/store/")).toBeUndefined();
    expect(storePathOf("nix/")).toBeUndefined();
    expect(storePathOf("bin/nix/store/abc-x")).toBeUndefined();
    expect(humanSize(1536)).toBe("1.5 KiB");
    expect(humanSize(10 << 20)).toBe("10 MiB");
  });

  describe.skipIf(!haveSkopeo)("copies made by skopeo", () => {
    it("lists skopeo's OCI layout: gzip media types, blob digests and compressed sizes", async () => {
      const dir = path.join(area.root, "oci");
      run("skopeo", ["copy", "-q", `docker-archive:${plain}`, `oci:${dir}:t1`]);
      const r = await inspectImage(dir);
      expect(r.format).toBe("oci");
      await expectLayers(r);
      for (const l of r.layers) {
        expect(l.mediaType).toBe("application/vnd.oci.image.layer.v1.tar+gzip");
        expect(l.digest).not.toBe(l.diffId);
        expect(fs.statSync(path.join(dir, "blobs", "sha256", l.digest.slice(7))).size).toBe(l.compressedSize);
      }
      const manifest = JSON.parse(run("skopeo", ["inspect", "--raw", `oci:${dir}:t1`])) as { layers: { digest: string }[] };
      expect(r.layers.map((l) => l.digest)).toEqual(manifest.layers.map((l) => l.digest));
    });

    it("lists skopeo's oci-archive", async () => {
      const file = path.join(area.root, "a.oci.tar");
      run("skopeo", ["copy", "-q", `docker-archive:${plain}`, `oci-archive:${file}:t1`]);
      const r = await inspectImage(file, { ref: "t1" });
      expect(r.format).toBe("oci-archive");
      await expectLayers(r);
    });
  });
});
