/**
 * `strata index` read back by skopeo: `skopeo inspect --raw` shows the index (or Docker manifest
 * list) with one entry per platform, and `skopeo copy --override-arch` picks the manifest of that
 * architecture (copying verifies every digest). Inputs: a docker-archive (amd64) and an OCI
 * layout with gzip layers (arm64/v8), layers shared between them.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeIndex } from "../../src/index-image/index.js";
import { requireTool, readTar } from "../helpers/interop.js";
import { haveRegistry, startRegistry } from "../helpers/registry.js";
import { configFor, failure, makeDockerArchive, makeLayer, makeOciLayout, run, sha256 } from "../source/fixtures.js";

const haveSkopeo = requireTool("skopeo");

interface Index {
  mediaType: string;
  manifests: { mediaType: string; digest: string; size: number; platform: { os: string; architecture: string; variant?: string } }[];
}

describe.skipIf(!haveSkopeo)("strata index", () => {
  let tmp: string;
  let amd64: string;
  let arm64: string;
  let zstdArm: string;
  let layers: Buffer[];
  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "strata-index-"));
    layers = [await makeLayer({ "etc/os-release": "shared\n" }), await makeLayer({ "bin/hello": "amd64\n" })];
    const armLayers = [layers[0]!, await makeLayer({ "bin/hello": "arm64\n" })];
    amd64 = path.join(tmp, "amd64.tar");
    fs.writeFileSync(amd64, await makeDockerArchive({ layers, config: configFor(layers, { architecture: "amd64" }) }));
    arm64 = path.join(tmp, "arm64");
    makeOciLayout(arm64, { layers: armLayers, layerCompression: "gzip" });
    // makeOciLayout writes an amd64 config: rewrite it as arm64/v8 through a docker-archive instead.
    arm64 = path.join(tmp, "arm64.tar");
    fs.writeFileSync(arm64, await makeDockerArchive({ layers: armLayers, layerCompression: "gzip", naming: "docker25", config: configFor(armLayers, { architecture: "arm64", variant: "v8" }) }));
    zstdArm = path.join(tmp, "arm64-zstd.tar");
    fs.writeFileSync(zstdArm, await makeDockerArchive({ layers: armLayers, layerCompression: "zstd", naming: "docker25", config: configFor(armLayers, { architecture: "arm64" }) }));
  });
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  const archOf = (transport: string): string => (JSON.parse(run("skopeo", ["inspect", "--config", transport])) as { architecture: string }).architecture;

  it("OCI index: skopeo lists both platforms and copies the one --override-arch names", async () => {
    const dir = path.join(tmp, "multi");
    const r = await writeIndex([amd64, arm64], `oci:${dir}:v1`, { tmpDir: tmp });
    const raw = run("skopeo", ["inspect", "--raw", `oci:${dir}:v1`]);
    expect(`sha256:${sha256(raw)}`).toBe(r.index.digest);
    const index = JSON.parse(raw) as Index;
    expect(index.mediaType).toBe("application/vnd.oci.image.index.v1+json");
    expect(index.manifests.map((m) => m.platform)).toEqual([{ architecture: "amd64", os: "linux" }, { architecture: "arm64", os: "linux", variant: "v8" }]);
    expect(index.manifests.every((m) => m.mediaType === "application/vnd.oci.image.manifest.v1+json")).toBe(true);
    for (const [arch, want] of [["arm64", "arm64\n"], ["amd64", "amd64\n"]] as const) {
      const out = path.join(tmp, `copy-${arch}`);
      run("skopeo", ["copy", "--quiet", "--override-arch", arch, `oci:${dir}:v1`, `oci:${out}:x`]);
      expect(archOf(`oci:${out}:x`)).toBe(arch);
      // The layer that differs holds the architecture's file: the right manifest was picked, not only its config.
      const manifest = JSON.parse(run("skopeo", ["inspect", "--raw", `oci:${out}:x`])) as { layers: { digest: string }[] };
      const top = fs.readFileSync(path.join(out, "blobs", "sha256", manifest.layers[1]!.digest.slice(7)));
      const files = await readTar(top.subarray(0, 2) .equals(Buffer.from([0x1f, 0x8b])) ? (await import("node:zlib")).gunzipSync(top) : top);
      expect(files.find((f) => f.header.name === "bin/hello")?.data.toString()).toBe(want);
    }
    // The shared bottom layer is stored once (uncompressed from the docker-archive, gzip from the other: two blobs of one diff_id).
    expect(fs.readdirSync(path.join(dir, "blobs", "sha256")).length).toBe(2 + 3 + 3 + 1);
  });

  it("Docker manifest list: media types converted, uncompressed layers gzipped, every digest and diff_id checks out", async () => {
    const dir = path.join(tmp, "multi-docker");
    const r = await writeIndex([amd64, arm64], dir, { tmpDir: tmp, manifestFormat: "docker" });
    // skopeo's oci: transport takes only OCI manifests and indexes from index.json, so a Docker
    // list in a layout is checked here by hand (skopeo reads it once it is pushed to a registry).
    const blob = (d: string): Buffer => fs.readFileSync(path.join(dir, "blobs", "sha256", d.slice(7)));
    for (const name of fs.readdirSync(path.join(dir, "blobs", "sha256"))) expect(sha256(blob(`sha256:${name}`))).toBe(name);
    const top = (JSON.parse(fs.readFileSync(path.join(dir, "index.json"), "utf8")) as { manifests: { mediaType: string; digest: string; annotations: Record<string, string> }[] }).manifests;
    expect(top).toHaveLength(1);
    expect(top[0]).toMatchObject({ mediaType: "application/vnd.docker.distribution.manifest.list.v2+json", digest: r.index.digest, annotations: { "org.opencontainers.image.ref.name": "latest" } });
    const index = JSON.parse(blob(r.index.digest).toString("utf8")) as Index;
    expect(index.mediaType).toBe("application/vnd.docker.distribution.manifest.list.v2+json");
    expect(index.manifests.map((m) => m.platform)).toEqual([{ architecture: "amd64", os: "linux" }, { architecture: "arm64", os: "linux", variant: "v8" }]);
    const zlib = await import("node:zlib");
    for (const d of index.manifests) {
      expect(d.mediaType).toBe("application/vnd.docker.distribution.manifest.v2+json");
      expect(blob(d.digest).length).toBe(d.size);
      const m = JSON.parse(blob(d.digest).toString("utf8")) as { mediaType: string; config: { mediaType: string; digest: string }; layers: { mediaType: string; digest: string; size: number }[] };
      expect(m.mediaType).toBe("application/vnd.docker.distribution.manifest.v2+json");
      expect(m.config.mediaType).toBe("application/vnd.docker.container.image.v1+json");
      const config = JSON.parse(blob(m.config.digest).toString("utf8")) as { architecture: string; rootfs: { diff_ids: string[] } };
      expect(config.architecture).toBe(d.platform.architecture);
      expect(m.layers.map((l) => l.mediaType)).toEqual(["application/vnd.docker.image.rootfs.diff.tar.gzip", "application/vnd.docker.image.rootfs.diff.tar.gzip"]);
      expect(m.layers.map((l) => `sha256:${sha256(zlib.gunzipSync(blob(l.digest)))}`)).toEqual(config.rootfs.diff_ids);
    }
  });

  it("oci-archive: skopeo reads the index from the tar", async () => {
    const file = path.join(tmp, "multi.tar");
    await writeIndex([amd64, arm64], `oci-archive:${file}:v2`, { tmpDir: tmp });
    const index = JSON.parse(run("skopeo", ["inspect", "--raw", `oci-archive:${file}:v2`])) as Index;
    expect(index.manifests.map((m) => m.platform.architecture)).toEqual(["amd64", "arm64"]);
    expect(archOf(`oci-archive:${file}:v2`)).toBe("amd64");
  });

  it("to a registry: the images first, then the index; skopeo picks each platform from it", async () => {
    if (!haveRegistry()) return;
    const reg = await startRegistry("basic");
    try {
      const dest = `docker://${reg.host}/multi:v3`;
      const r = await writeIndex([amd64, arm64], dest, { tmpDir: tmp, registry: { tlsVerify: false, creds: `${reg.user}:${reg.password}` } });
      const creds = ["--tls-verify=false", "--creds", `${reg.user}:${reg.password}`];
      const raw = run("skopeo", ["inspect", "--raw", ...creds, dest]);
      expect(`sha256:${sha256(raw)}`).toBe(r.index.digest);
      expect((JSON.parse(raw) as Index).manifests.map((m) => m.platform.architecture)).toEqual(["amd64", "arm64"]);
      const out = path.join(tmp, "from-registry-arm64");
      run("skopeo", ["copy", "--quiet", "--override-arch", "arm64", "--src-tls-verify=false", "--src-creds", `${reg.user}:${reg.password}`, dest, `oci:${out}:x`]);
      expect(archOf(`oci:${out}:x`)).toBe("arm64");
    } finally {
      await reg.stop();
    }
  });

  it("refuses two images of one platform, and zstd layers for a Docker list", async () => {
    expect((await failure(writeIndex([amd64, amd64], path.join(tmp, "dup"), { tmpDir: tmp }))).code).toBe("E_USAGE");
    const e = await failure(writeIndex([amd64, zstdArm], path.join(tmp, "zstd-docker"), { tmpDir: tmp, manifestFormat: "docker" }));
    expect(e.code).toBe("E_UNSUPPORTED");
    expect(e.message).toMatch(/zstd/);
  });
});
