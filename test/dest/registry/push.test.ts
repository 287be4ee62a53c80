/**
 * RegistryBlobStore against a real docker-registry, in its four setups (plain HTTP, TLS with a
 * CA made here, htpasswd Basic auth, token auth): blobs pushed in chunks (one in many), skipped
 * when present, mounted across repositories, a manifest put and read back; and an image pushed by
 * hand read back by skopeo (inspect --raw, and copy to an OCI layout, which verifies every digest).
 */
import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BlobUpload } from "../../../src/dest/blob-store.js";
import { CredentialResolver } from "../../../src/dest/registry/auth.js";
import { RegistryClient } from "../../../src/dest/registry/client.js";
import { parseReference } from "../../../src/dest/registry/reference.js";
import { RegistryBlobStore, type RegistryStoreOptions } from "../../../src/dest/registry/registry-store.js";
import type { Digest } from "../../../src/digest.js";
import { requireTool } from "../../helpers/interop.js";
import { type RegistryMode, type TestRegistry, haveRegistry, startRegistry } from "../../helpers/registry.js";

const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const OCI_CONFIG = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER_GZ = "application/vnd.oci.image.layer.v1.tar+gzip";
const FAST_RETRY = { baseMs: 50, maxDelayMs: 2000, budgetMs: 20_000 };

export function digestOf(bytes: Uint8Array): Digest {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

/** Write `bytes` in uneven pieces, hashing as a producer does. */
export function producer(bytes: Buffer, piece = 100_003) {
  return async (out: BlobUpload): Promise<{ digest: Digest; size: number }> => {
    for (let at = 0; at < bytes.length; at += piece) await out.write(bytes.subarray(at, at + piece));
    return { digest: digestOf(bytes), size: bytes.length };
  };
}

/** A tar with one file (ustar, made by hand: 512-byte header, data, padding, two zero blocks). */
export function tinyTar(name: string, content: string): Buffer {
  const data = Buffer.from(content);
  const h = Buffer.alloc(512);
  h.write(name, 0);
  h.write("0000644\0", 100);
  h.write("0000000\0", 108);
  h.write("0000000\0", 116);
  h.write(`${data.length.toString(8).padStart(11, "0")}\0`, 124);
  h.write("00000000000\0", 136);
  h.write("        ", 148);
  h.write("0", 156);
  h.write("ustar\0", 257);
  h.write("00", 263);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148);
  const pad = Buffer.alloc((512 - (data.length % 512)) % 512);
  return Buffer.concat([h, data, pad, Buffer.alloc(1024)]);
}

/** A tiny valid OCI image: one gzip layer, its config and manifest. */
export function tinyImage(text: string): { layer: Buffer; config: Buffer; manifest: Buffer } {
  const tar = tinyTar("hello.txt", text);
  const layer = gzipSync(tar);
  const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", config: { Cmd: ["/hello"] }, rootfs: { type: "layers", diff_ids: [digestOf(tar)] } }));
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, digest: digestOf(config), size: config.length },
    layers: [{ mediaType: OCI_LAYER_GZ, digest: digestOf(layer), size: layer.length }],
  }));
  return { layer, config, manifest };
}

export function storeOptions(reg: TestRegistry, extra: Partial<RegistryStoreOptions> = {}): RegistryStoreOptions {
  const base = { retry: FAST_RETRY, chunkSize: 256 * 1024 };
  switch (reg.mode) {
    case "plain": return { ...base, tlsVerify: false, ...extra };
    case "tls": return { ...base, certDir: reg.certDir, ...extra };
    default: return { ...base, tlsVerify: false, credentials: new CredentialResolver({ creds: `${reg.user}:${reg.password}`, env: {} }), ...extra };
  }
}

/** skopeo, asynchronously: the token server runs in this process and must keep answering. */
export function skopeo(args: string[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    execFile("skopeo", args, { encoding: "buffer", maxBuffer: 1 << 24, timeout: 60_000 }, (err, stdout, stderr) => {
      if (err !== null) reject(new Error(`skopeo ${args.join(" ")} failed: ${stderr.toString()}`));
      else resolve(stdout);
    });
  });
}

export function skopeoArgs(reg: TestRegistry): string[] {
  const tls = reg.mode === "tls" ? [`--cert-dir=${reg.certDir!}`] : ["--tls-verify=false"];
  const creds = reg.mode === "basic" || reg.mode === "token" ? [`--creds=${reg.user}:${reg.password}`] : [];
  return [...tls, ...creds];
}

const have = haveRegistry();
const haveSkopeo = have && requireTool("skopeo");
const MODES: RegistryMode[] = ["plain", "tls", "basic", "token"];

describe.skipIf(!have).each(MODES)("registry push (%s)", (mode) => {
  let reg: TestRegistry;
  let tmp: string;
  beforeAll(async () => {
    reg = await startRegistry(mode);
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "strata-push-test-"));
  });
  afterAll(async () => {
    await reg?.stop();
    if (tmp !== undefined) fs.rmSync(tmp, { recursive: true, force: true });
  });

  const small = randomBytes(1000);
  const large = randomBytes(1_300_000 + 17); // 4 full 256 KiB chunks and a tail

  it("pushes blobs in chunks, skips them when present, and reads them back verified", async () => {
    const store = new RegistryBlobStore(parseReference(`docker://${reg.host}/one/app:v1`), storeOptions(reg));
    try {
      expect(await store.has({ mediaType: "x", digest: digestOf(small), size: small.length })).toBe(false);
      const a = await store.pushStream(producer(small));
      const b = await store.pushStream(producer(large));
      expect([a, b]).toEqual([{ digest: digestOf(small), size: 1000 }, { digest: digestOf(large), size: large.length }]);
      expect(await store.has({ mediaType: "x", digest: b.digest, size: b.size })).toBe(true);
      expect(await store.has({ mediaType: "x", digest: a.digest, size: a.size })).toBe(true);
      // a size the registry does not have is not a hit
      expect(await store.has({ mediaType: "x", digest: a.digest, size: a.size + 1 })).toBe(false);
      expect(store.stats()).toMatchObject({ blobsUploaded: 2, blobsSkipped: 2, blobsMounted: 0, bytesSent: small.length + large.length, uploadRestarts: 0 });
      const patches = reg.log().split("\n").filter((l) => /"PATCH \/v2\/one\/app\/blobs\/uploads\//.test(l)).length;
      expect(patches).toBe(1 + 5);
      const stream = await store.client.getBlob("one/app", b.digest, b.size);
      const chunks: Buffer[] = [];
      for await (const c of stream) chunks.push(c as Buffer);
      expect(Buffer.concat(chunks).equals(large)).toBe(true);
    } finally {
      await store.close();
    }
  });

  it("mounts a blob from another repository of the same registry", async () => {
    const store = new RegistryBlobStore(parseReference(`docker://${reg.host}/two/app:v1`), storeOptions(reg));
    try {
      const blob = { mediaType: "x", digest: digestOf(large), size: large.length };
      expect(await store.mount(blob, { registry: "elsewhere.io", repository: "one/app" })).toBe(false);
      expect(await store.mount(blob, { registry: reg.host, repository: "one/app" })).toBe(true);
      expect(await store.has(blob)).toBe(true);
      const unknown = { mediaType: "x", digest: digestOf(Buffer.from("never pushed")), size: 12 };
      expect(await store.mount(unknown, { registry: reg.host, repository: "one/app" })).toBe(false);
      expect(store.stats()).toMatchObject({ blobsMounted: 1, blobsUploaded: 0, bytesSent: 0 });
    } finally {
      await store.close();
    }
  });

  it.skipIf(!haveSkopeo)("pushes an image that the registry and skopeo accept and read back", async () => {
    const img = tinyImage(`hello from ${mode}\n`);
    const store = new RegistryBlobStore(parseReference(`docker://${reg.host}/img/hello:v1`), storeOptions(reg));
    try {
      await store.pushStream(producer(img.layer, 7));
      const config = await store.putBlob(img.config, OCI_CONFIG);
      expect(config).toEqual({ mediaType: OCI_CONFIG, digest: digestOf(img.config), size: img.config.length });
      expect((await store.putBlob(img.config, OCI_CONFIG)).digest).toBe(config.digest); // second time: HEAD, skipped
      expect(store.stats()).toMatchObject({ blobsUploaded: 2, blobsSkipped: 1 });
      const desc = await store.putManifest(img.manifest, OCI_MANIFEST, ["v1", "latest"]);
      expect(desc.digest).toBe(digestOf(img.manifest));
      for (const ref of ["v1", "latest", desc.digest]) {
        const got = await store.client.getManifest("img/hello", ref, [OCI_MANIFEST]);
        expect([got.bytes.equals(img.manifest), got.mediaType, got.digest]).toEqual([true, OCI_MANIFEST, desc.digest]);
      }
    } finally {
      await store.close();
    }
    const raw = await skopeo(["inspect", "--raw", ...skopeoArgs(reg), `docker://${reg.host}/img/hello:v1`]);
    expect(raw.equals(img.manifest)).toBe(true);
    const layout = path.join(tmp, `oci-${mode}`);
    await skopeo(["copy", "--quiet", ...skopeoArgs(reg).map((a) => a.replace(/^--/, "--src-")), `docker://${reg.host}/img/hello:latest`, `oci:${layout}:hello`]);
    const index = JSON.parse(fs.readFileSync(path.join(layout, "index.json"), "utf8")) as { manifests: { digest: string }[] };
    expect(index.manifests[0]?.digest).toBe(digestOf(img.manifest));
    const layerFile = path.join(layout, "blobs", "sha256", digestOf(img.layer).slice(7));
    expect(fs.readFileSync(layerFile).equals(img.layer)).toBe(true);
  });

  it("a read-only client pings and pulls with pull scope only", async () => {
    const opts = storeOptions(reg);
    const client = new RegistryClient(reg.host, reg.host, opts);
    try {
      await client.ping("img/hello");
      expect(await client.headBlob("img/hello", digestOf(large))).toBeUndefined();
      if (mode === "token") expect(reg.tokenServer!.issued.length).toBeGreaterThan(0);
    } finally {
      client.close();
    }
  });
});
