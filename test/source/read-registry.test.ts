/**
 * openRegistryImage against a real docker-registry (plain, TLS, htpasswd, token): an image built
 * by strata and copied in by skopeo reads back by tag and by digest with the same config bytes,
 * layer digests and diff_ids (each downloaded blob and tar re-hashed here); an index of two
 * platforms gives the platform asked for; a blob altered on the way (a proxy flipping a byte) and
 * a config whose diff_id is wrong fail with E_CHECKSUM; credentials are needed where the registry
 * wants them; inspect streams the same layers without storing them.
 */
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseReference } from "../../src/dest/registry/reference.js";
import { RegistryBlobStore } from "../../src/dest/registry/registry-store.js";
import { CredentialResolver } from "../../src/dest/registry/auth.js";
import type { RegistryOptions } from "../../src/options.js";
import { openRegistryImage } from "../../src/source/read-registry.js";
import { RegistryConnections } from "../../src/dest/registry/connect.js";
import { baseImageLayers } from "../../src/image/base-image.js";
import { writeToBlobStores } from "../../src/write/write-blobs.js";
import { inspectImage } from "../../src/inspect.js";
import { writeIndex } from "../../src/index-image/index.js";
import type { ImageResult } from "../../src/image/image-spec.js";
import type { FixtureStore } from "../helpers/fixture-store.js";
import { removeTree } from "../helpers/fixture-store.js";
import { requireTool } from "../helpers/interop.js";
import { OCI_CONFIG, OCI_MANIFEST, type RegistryMode, type TestRegistry, digestOf, haveRegistry, producer, startRegistry, storeOptions, tinyTar } from "../helpers/registry.js";
import { buildLayout, pullFixture, pushWithSkopeo, sha, type Pushed } from "../helpers/registry-image.js";
import { gzipSync } from "node:zlib";

const have = haveRegistry() && requireTool("skopeo");

function registryOptions(reg: TestRegistry): RegistryOptions {
  switch (reg.mode) {
    case "plain": return { tlsVerify: false };
    case "tls": return { certDir: reg.certDir! };
    default: return { tlsVerify: false, creds: `${reg.user}:${reg.password}` };
  }
}

let store: FixtureStore;
let tmp: string;
let built: ImageResult;
let layout: string;

beforeAll(async () => {
  if (!have) return;
  store = pullFixture();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "strata-read-registry-"));
  layout = path.join(tmp, "layout");
  built = await buildLayout(store, layout, "v1");
});
afterAll(() => {
  if (store !== undefined) removeTree(store.root);
  if (tmp !== undefined) fs.rmSync(tmp, { recursive: true, force: true });
});

describe.skipIf(!have).each<RegistryMode>(["plain", "tls", "basic", "token"])("openRegistryImage (%s)", (mode) => {
  let reg: TestRegistry;
  let pushed: Pushed;
  beforeAll(async () => {
    reg = await startRegistry(mode);
    pushed = await pushWithSkopeo(reg, `oci:${layout}:v1`, "base/app:v1");
  });
  afterAll(async () => {
    await reg?.stop();
  });

  it("reads an image by tag and by digest: the same config bytes, blobs and layers, all verified", async () => {
    const byTag = await openRegistryImage(`docker://${reg.host}/base/app:v1`, { tmpDir: tmp, registry: registryOptions(reg) });
    try {
      expect(byTag.format).toBe("registry");
      expect(byTag.manifest.digest).toBe(pushed.digest);
      expect(byTag.manifest.resolvedFromTag).toBe(true);
      expect(byTag.imageId).toBe(built.imageId);
      expect(byTag.configBytes.equals(pushed.configBytes)).toBe(true);
      expect(sha(byTag.configBytes)).toBe(pushed.manifest.config.digest);
      expect(byTag.repoTags).toEqual([`${reg.host}/base/app:v1`]);
      expect(byTag.layers.map((l) => l.blob?.digest)).toEqual(pushed.manifest.layers.map((l) => l.digest));
      expect(byTag.layers.map((l) => l.diffId)).toEqual(built.layers.map((l) => l.diffId));
      for (const l of byTag.layers) {
        // what is on disk is what the names say
        expect(sha(fs.readFileSync(l.path))).toBe(l.diffId);
        expect(fs.statSync(l.path).size).toBe(l.size);
        expect(sha(fs.readFileSync(l.blob!.file!))).toBe(l.blob!.digest);
        expect(l.blob).toMatchObject({ compression: "gzip", origin: { registry: reg.host, repository: "base/app" } });
      }
      const byDigest = await openRegistryImage(`docker://${reg.host}/base/app@${pushed.digest}`, { tmpDir: tmp, registry: registryOptions(reg) });
      try {
        expect(byDigest.manifest.resolvedFromTag).toBe(false);
        expect(byDigest.manifest.digest).toBe(pushed.digest);
        expect(byDigest.configBytes.equals(byTag.configBytes)).toBe(true);
        expect(byDigest.layers.map((l) => [l.diffId, l.size, l.blob?.digest])).toEqual(byTag.layers.map((l) => [l.diffId, l.size, l.blob?.digest]));
        expect(byDigest.repoTags).toEqual([]);
      } finally {
        await byDigest.cleanup();
      }
    } finally {
      await byTag.cleanup();
    }
    // nothing left behind
    expect(fs.readdirSync(tmp).filter((f) => f.startsWith("strata-pull-"))).toEqual([]);
  });

  it("pushed back to the same registry, the pulled blobs are mounted, not uploaded, and the image keeps its ID", async () => {
    const img = await openRegistryImage(`docker://${reg.host}/base/app:v1`, { tmpDir: tmp, registry: registryOptions(reg) });
    const connections = new RegistryConnections(registryOptions(reg), tmp);
    const target = connections.store(`docker://${reg.host}/copy/app:v1`);
    try {
      const spec = { layers: baseImageLayers(img), created: "1970-01-01T00:00:01+00:00", architecture: "amd64", config: {}, repoTags: [], mtime: 1, configBytes: img.configBytes };
      const r = await writeToBlobStores(spec, [{ store: target, tags: ["v1"] }], { workers: 1, layerCompress: "gzip", level: 6, tmpDir: tmp });
      expect(r.imageId).toBe(built.imageId);
      expect(r.layers.map((l) => l.outcome)).toEqual(img.layers.map(() => "mounted"));
      // only the config goes up (putBlob does not mount)
      expect(target.stats()).toMatchObject({ blobsMounted: img.layers.length, blobsUploaded: 1, bytesSent: img.configBytes.length });
    } finally {
      await img.cleanup();
      await target.close();
      connections.close();
    }
    const copy = await inspectImage(`docker://${reg.host}/copy/app:v1`, { registry: registryOptions(reg) });
    expect(copy.imageId).toBe(built.imageId);
    expect(copy.layers.map((l) => l.digest)).toEqual(pushed.manifest.layers.map((l) => l.digest));
  });

  it("inspect streams the layers (digests, store paths) and shows the digest", async () => {
    const r = await inspectImage(`docker://${reg.host}/base/app:v1`, { registry: registryOptions(reg) });
    expect(r).toMatchObject({ format: "registry", imageId: built.imageId, digest: pushed.digest, manifestDigest: pushed.digest });
    expect(r.layers.map((l) => l.digest)).toEqual(pushed.manifest.layers.map((l) => l.digest));
    expect(r.layers.map((l) => l.diffId)).toEqual(built.layers.map((l) => l.diffId));
    expect(r.layers.flatMap((l) => l.storePaths)).toEqual(expect.arrayContaining([store.pathOf("app"), store.pathOf("lib-1.0")]));
  });

  // Only the setups with auth have credentials to need (defined there only: nothing skips).
  if (mode === "basic" || mode === "token") it("needs the credentials: without them, E_AUTH and no secret in the message", async () => {
    const err = await openRegistryImage(`docker://${reg.host}/base/app:v1`, { tmpDir: tmp, registry: { tlsVerify: false, creds: `${reg.user}:wrong-password` } }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "E_AUTH" });
    expect(String((err as Error).message)).not.toContain("wrong-password");
    const file = path.join(tmp, `auth-${mode}.json`);
    fs.writeFileSync(file, JSON.stringify({ auths: { [reg.host]: { auth: Buffer.from(`${reg.user}:${reg.password}`).toString("base64") } } }));
    const img = await openRegistryImage(`docker://${reg.host}/base/app:v1`, { tmpDir: tmp, registry: { tlsVerify: false, authfile: file } });
    await img.cleanup();
    expect(img.imageId).toBe(built.imageId);
  });
});

describe.skipIf(!have)("openRegistryImage: indexes and faults", () => {
  let reg: TestRegistry;
  let amd: ImageResult;
  let arm: ImageResult;
  beforeAll(async () => {
    reg = await startRegistry("plain");
    amd = await buildLayout(store, path.join(tmp, "amd"), "amd", { architecture: "amd64" });
    arm = await buildLayout(store, path.join(tmp, "arm"), "arm", { architecture: "arm64" });
    await writeIndex([path.join(tmp, "amd"), path.join(tmp, "arm")], `oci:${path.join(tmp, "multi")}:multi`, { tmpDir: tmp });
    await pushWithSkopeo(reg, `oci:${path.join(tmp, "multi")}:multi`, "multi/app:v1", true);
  });
  afterAll(async () => {
    await reg?.stop();
  });

  it("picks the platform of an index: linux/amd64 by default, another when asked, none that is missing", async () => {
    const opts = { tmpDir: tmp, registry: { tlsVerify: false } };
    expect(amd.imageId).not.toBe(arm.imageId);
    const a = await openRegistryImage(`docker://${reg.host}/multi/app:v1`, opts);
    await a.cleanup();
    expect(a.imageId).toBe(amd.imageId);
    expect(a.manifest.platform).toBe("linux/amd64");
    expect(a.manifest.manifestDigest).not.toBe(a.manifest.digest);
    const b = await openRegistryImage(`docker://${reg.host}/multi/app:v1`, { ...opts, platform: "linux/arm64" });
    await b.cleanup();
    expect(b.imageId).toBe(arm.imageId);
    expect(b.manifest.digest).toBe(a.manifest.digest);
    await expect(openRegistryImage(`docker://${reg.host}/multi/app:v1`, { ...opts, platform: "linux/s390x" })).rejects.toMatchObject({ code: "E_UNSUPPORTED", message: expect.stringMatching(/linux\/amd64, linux\/arm64/) });
  });

  it("reads a Docker v2 schema 2 image (skopeo --format v2s2) as the same image", async () => {
    const pushed = await pushWithSkopeo(reg, `oci:${layout}:v1`, "v2s2/app:v1", false, ["--format", "v2s2"]);
    expect((pushed.manifest as { mediaType?: string }).mediaType).toBe("application/vnd.docker.distribution.manifest.v2+json");
    const img = await openRegistryImage(`docker://${reg.host}/v2s2/app:v1`, { tmpDir: tmp, registry: { tlsVerify: false } });
    await img.cleanup();
    expect(img.manifest.manifestMediaType).toBe("application/vnd.docker.distribution.manifest.v2+json");
    expect(img.manifest.digest).toBe(pushed.digest);
    expect(img.imageId).toBe(sha(pushed.configBytes));
    expect(img.layers.map((l) => l.diffId)).toEqual(built.layers.map((l) => l.diffId));
    expect(img.layers.map((l) => l.blob?.digest)).toEqual(pushed.manifest.layers.map((l) => l.digest));
  });

  it("refuses a blob changed on the way (E_CHECKSUM), and keeps nothing", async () => {
    const pushed = await pushWithSkopeo(reg, `oci:${layout}:v1`, "flip/app:v1");
    const proxy = await flippingProxy(reg.host, pushed.manifest.layers[0]!.digest);
    try {
      const dir = fs.mkdtempSync(path.join(tmp, "flip-"));
      await expect(openRegistryImage(`docker://${proxy.host}/flip/app:v1`, { tmpDir: dir, registry: { tlsVerify: false } })).rejects.toMatchObject({ code: "E_CHECKSUM" });
      expect(proxy.flipped()).toBeGreaterThan(0);
      expect(fs.readdirSync(dir)).toEqual([]);
    } finally {
      await proxy.stop();
    }
  });

  it("refuses a layer whose bytes are not the config's diff_id (E_CHECKSUM)", async () => {
    const tar = tinyTar("hello.txt", "hello\n");
    const layer = gzipSync(tar);
    const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [digestOf(Buffer.from("not the tar"))] } }));
    const s = new RegistryBlobStore(parseReference(`docker://${reg.host}/bad/app:v1`), storeOptions(reg, { credentials: new CredentialResolver({ env: {} }) }));
    try {
      await s.pushStream(producer(layer));
      const c = await s.putBlob(config, OCI_CONFIG);
      const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: OCI_CONFIG, digest: c.digest, size: c.size }, layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: digestOf(layer), size: layer.length }] }));
      await s.putManifest(manifest, OCI_MANIFEST, ["v1"]);
    } finally {
      await s.close();
    }
    await expect(openRegistryImage(`docker://${reg.host}/bad/app:v1`, { tmpDir: tmp, registry: { tlsVerify: false } })).rejects.toMatchObject({ code: "E_CHECKSUM", message: expect.stringMatching(/diff_id/) });
    await expect(inspectImage(`docker://${reg.host}/bad/app:v1`, { registry: { tlsVerify: false } })).rejects.toMatchObject({ code: "E_CHECKSUM" });
  });

  it("says a missing tag is missing", async () => {
    await expect(openRegistryImage(`docker://${reg.host}/multi/app:nope`, { tmpDir: tmp, registry: { tlsVerify: false } })).rejects.toMatchObject({ code: "E_REGISTRY", message: expect.stringMatching(/404/) });
  });
});

/** A proxy to `target` that flips one byte in the middle of the GET of blob `digest`. */
async function flippingProxy(target: string, digest: string): Promise<{ host: string; flipped(): number; stop(): Promise<void> }> {
  const [thost, tport] = [target.split(":")[0]!, Number(target.split(":")[1])];
  let flipped = 0;
  const server = http.createServer((req, res) => {
    const up = http.request({ host: thost, port: tport, method: req.method, path: req.url, headers: req.headers }, (ures) => {
      const flip = req.method === "GET" && (req.url ?? "").endsWith(`/blobs/${digest}`) && ures.statusCode === 200;
      if (!flip) {
        res.writeHead(ures.statusCode ?? 502, ures.headers);
        ures.pipe(res);
        return;
      }
      const chunks: Buffer[] = [];
      ures.on("data", (c: Buffer) => chunks.push(c));
      ures.on("end", () => {
        const body = Buffer.concat(chunks);
        body[body.length >> 1] ^= 0x01;
        flipped++;
        res.writeHead(200, ures.headers);
        res.end(body);
      });
    });
    up.on("error", () => req.socket.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as net.AddressInfo).port;
  return { host: `127.0.0.1:${port}`, flipped: () => flipped, stop: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }) };
}
