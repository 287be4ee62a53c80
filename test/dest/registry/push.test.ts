/**
 * RegistryBlobStore against a real docker-registry, in its four setups (plain HTTP, TLS with a
 * CA made here, htpasswd Basic auth, token auth): blobs pushed in chunks (one in many), skipped
 * when present, mounted across repositories, a manifest put and read back; and an image pushed by
 * hand read back by skopeo (inspect --raw, and copy to an OCI layout, which verifies every digest).
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RegistryClient } from "../../../src/dest/registry/client.js";
import { parseReference } from "../../../src/dest/registry/reference.js";
import { RegistryBlobStore } from "../../../src/dest/registry/registry-store.js";
import { requireTool } from "../../helpers/interop.js";
import { OCI_CONFIG, OCI_MANIFEST, type RegistryMode, type TestRegistry, digestOf, haveRegistry, producer, skopeo, skopeoArgs, startRegistry, storeOptions, tinyImage } from "../../helpers/registry.js";

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
