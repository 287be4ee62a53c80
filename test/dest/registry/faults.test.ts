/**
 * Failures against a real docker-registry: a proxy answering 503, 429 + Retry-After and dropping
 * connections (the push completes, retries counted), a registry refusing chunked uploads (spooled
 * and sent whole), wrong or insufficient credentials (E_AUTH, one line, no secret anywhere in the
 * error), and a registry killed mid-upload (a clear E_REGISTRY).
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BlobUpload } from "../../../src/dest/blob-store.js";
import { CredentialResolver } from "../../../src/dest/registry/auth.js";
import { parseReference } from "../../../src/dest/registry/reference.js";
import { RegistryBlobStore } from "../../../src/dest/registry/registry-store.js";
import { StrataError } from "../../../src/errors.js";
import { type TestRegistry, deniedRepo, digestOf, haveRegistry, producer, startFaultyProxy, startRegistry, tinyImage } from "../../helpers/registry.js";

const FAST_RETRY = { baseMs: 20, maxDelayMs: 1500, budgetMs: 20_000, attempts: 8 };
const have = haveRegistry();

async function failure(p: Promise<unknown>): Promise<StrataError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(StrataError);
  return err as StrataError;
}

/** Everything an error could show a user or a log: message, hint, cause, wire form, stack. */
function everything(err: StrataError): string {
  const cause = err.cause instanceof Error ? `${err.cause.message} ${err.cause.stack ?? ""}` : String(err.cause);
  return [err.message, err.hint, cause, JSON.stringify(err.toWire()), err.stack ?? "", String(err)].join("\n");
}

function expectOneLineWithout(err: StrataError, secrets: readonly string[]): void {
  expect(err.message).not.toMatch(/\n/);
  expect(err.hint).not.toMatch(/\n/);
  const all = everything(err);
  for (const s of secrets) {
    expect(all).not.toContain(s);
    expect(all).not.toContain(Buffer.from(s).toString("base64"));
  }
}

describe.skipIf(!have)("registry faults (plain HTTP)", () => {
  let reg: TestRegistry;
  let tmp: string;
  beforeAll(async () => {
    reg = await startRegistry("plain");
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "strata-faults-"));
  });
  afterAll(async () => {
    await reg?.stop();
    if (tmp !== undefined) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("completes a push through 503s, 429s with Retry-After and dropped connections, counting retries", async () => {
    const proxy = await startFaultyProxy(reg.host, { e503: 0.15, e429: 0.04, reset: 0.1 });
    const store = new RegistryBlobStore(parseReference(`docker://${proxy.host}/flaky/app:v1`), { tlsVerify: false, retry: FAST_RETRY, chunkSize: 128 * 1024 });
    try {
      const img = tinyImage("through a flaky proxy\n");
      const big = randomBytes(1_000_000);
      const results = await Promise.all([store.pushStream(producer(big)), store.pushStream(producer(img.layer, 5)), store.putBlob(img.config, "application/vnd.oci.image.config.v1+json")]);
      expect(results[0]).toEqual({ digest: digestOf(big), size: big.length });
      await store.putManifest(img.manifest, "application/vnd.oci.image.manifest.v1+json", ["v1"]);
      const faults = proxy.faults.e503 + proxy.faults.e429 + proxy.faults.reset;
      expect(faults).toBeGreaterThan(3);
      expect(proxy.faults.e429).toBeGreaterThan(0);
      expect(store.stats().retries).toBeGreaterThanOrEqual(faults);
      expect(store.stats()).toMatchObject({ blobsUploaded: 3, bytesSent: big.length + img.layer.length + img.config.length });
      // What arrived is right: read back directly, verified by digest as it streams.
      const direct = new RegistryBlobStore(parseReference(`docker://${reg.host}/flaky/app:v1`), { tlsVerify: false });
      const chunks: Buffer[] = [];
      for await (const c of await direct.client.getBlob("flaky/app", digestOf(big), big.length)) chunks.push(c as Buffer);
      expect(Buffer.concat(chunks).equals(big)).toBe(true);
      expect((await direct.client.getManifest("flaky/app", "v1", ["application/vnd.oci.image.manifest.v1+json"])).bytes.equals(img.manifest)).toBe(true);
      await direct.close();
    } finally {
      await store.close();
      await proxy.stop();
    }
  });

  it("falls back to a spooled monolithic PUT when the registry refuses chunked PATCH", async () => {
    const proxy = await startFaultyProxy(reg.host, { refusePatch: true });
    const spoolParent = fs.mkdtempSync(path.join(tmp, "spool-"));
    const store = new RegistryBlobStore(parseReference(`docker://${proxy.host}/mono/app:v1`), { tlsVerify: false, retry: FAST_RETRY, chunkSize: 64 * 1024, tmpDir: spoolParent });
    try {
      const a = randomBytes(300_000);
      const b = randomBytes(50_000);
      expect(await store.pushStream(producer(a))).toEqual({ digest: digestOf(a), size: a.length });
      expect(store.chunked).toBe(false);
      expect(proxy.faults.patchRefused).toBe(1);
      expect(await store.pushStream(producer(b))).toEqual({ digest: digestOf(b), size: b.length });
      expect(proxy.faults.patchRefused).toBe(1); // the second blob spooled from the start
      expect(fs.readdirSync(spoolParent)).toEqual([]); // spool files removed
      expect(await store.client.headBlob("mono/app", digestOf(a))).toBe(a.length);
      expect(await store.client.headBlob("mono/app", digestOf(b))).toBe(b.length);
    } finally {
      await store.close();
      await proxy.stop();
    }
  });

  it("restarts an upload whose session the registry lost mid-blob, producing the bytes again", async () => {
    const proxy = await startFaultyProxy(reg.host, { losePatch: 3 });
    const store = new RegistryBlobStore(parseReference(`docker://${proxy.host}/lost/app:v1`), { tlsVerify: false, retry: FAST_RETRY, chunkSize: 64 * 1024 });
    try {
      const data = randomBytes(400_000);
      let produced = 0;
      const make = producer(data);
      const result = await store.pushStream(async (out) => {
        produced++;
        return make(out);
      });
      expect(result).toEqual({ digest: digestOf(data), size: data.length });
      expect([produced, proxy.faults.sessionsLost, store.stats().uploadRestarts, store.stats().blobsUploaded]).toEqual([2, 1, 1, 1]);
      expect(await store.client.headBlob("lost/app", digestOf(data))).toBe(data.length);
    } finally {
      await store.close();
      await proxy.stop();
    }
  });

  it("a lost session before any chunk was confirmed restarts inside the upload", async () => {
    const proxy = await startFaultyProxy(reg.host, { losePatch: 1 });
    const store = new RegistryBlobStore(parseReference(`docker://${proxy.host}/lost/first:v1`), { tlsVerify: false, retry: FAST_RETRY, chunkSize: 64 * 1024 });
    try {
      const data = randomBytes(200_000);
      let produced = 0;
      const make = producer(data);
      await store.pushStream(async (out) => {
        produced++;
        return make(out);
      });
      expect([produced, proxy.faults.sessionsLost, store.stats().uploadRestarts]).toEqual([1, 1, 1]);
      expect(await store.client.headBlob("lost/first", digestOf(data))).toBe(data.length);
    } finally {
      await store.close();
      await proxy.stop();
    }
  });

  it("a blob whose size differs from the one asked for is E_CHECKSUM", async () => {
    const store = new RegistryBlobStore(parseReference(`docker://${reg.host}/sum/app:v1`), { tlsVerify: false });
    try {
      const bytes = randomBytes(5000);
      await store.pushStream(producer(bytes));
      const err = await failure(store.client.getBlob("sum/app", digestOf(bytes), 4999));
      expect(err.code).toBe("E_CHECKSUM");
    } finally {
      await store.close();
    }
  });

  it("a registry killed mid-upload is one clear E_REGISTRY line", async () => {
    const victim = await startRegistry("plain");
    const store = new RegistryBlobStore(parseReference(`docker://${victim.host}/dies/app:v1`), { tlsVerify: false, retry: { ...FAST_RETRY, attempts: 3 }, chunkSize: 64 * 1024 });
    try {
      const data = randomBytes(1_000_000);
      const produce = async (out: BlobUpload): Promise<{ digest: `sha256:${string}`; size: number }> => {
        for (let at = 0; at < data.length; at += 50_000) {
          if (at === 300_000) victim.kill();
          await out.write(data.subarray(at, at + 50_000));
        }
        return { digest: digestOf(data), size: data.length };
      };
      const err = await failure(store.pushStream(produce));
      expect(err.code).toBe("E_REGISTRY");
      expect(err.message).toContain(victim.host);
      expect(err.message).toMatch(/connection refused|reset|closed/);
      expect(err.message).not.toMatch(/\n/);
    } finally {
      await store.close();
      await victim.stop();
    }
  });
});

describe.skipIf(!have)("registry credentials (Basic)", () => {
  let reg: TestRegistry;
  let tmp: string;
  beforeAll(async () => {
    reg = await startRegistry("basic");
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "strata-basic-"));
  });
  afterAll(async () => {
    await reg?.stop();
    if (tmp !== undefined) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("a wrong password from --creds is E_AUTH, one line, no secret", async () => {
    const wrong = "wrong-Pa55-must-not-leak";
    const store = new RegistryBlobStore(parseReference(`docker://${reg.host}/a/b:v1`), { tlsVerify: false, credentials: new CredentialResolver({ creds: `${reg.user}:${wrong}`, env: {} }) });
    try {
      const err = await failure(store.putBlob(Buffer.from("x"), "application/octet-stream"));
      expect(err.code).toBe("E_AUTH");
      expect(err.message).toContain("--creds");
      expectOneLineWithout(err, [wrong, `${reg.user}:${wrong}`, reg.password]);
    } finally {
      await store.close();
    }
  });

  it("a wrong password from an auth file names the files read; none at all says so", async () => {
    const wrong = "from-file-wrong-pw";
    const authfile = path.join(tmp, "auth.json");
    fs.writeFileSync(authfile, JSON.stringify({ auths: { [reg.host]: { auth: Buffer.from(`${reg.user}:${wrong}`).toString("base64") } } }));
    const creds = new CredentialResolver({ authFile: authfile, env: {}, home: tmp });
    const store = new RegistryBlobStore(parseReference(`docker://${reg.host}/a/b:v1`), { tlsVerify: false, credentials: creds });
    const none = new RegistryBlobStore(parseReference(`docker://${reg.host}/a/b:v1`), { tlsVerify: false, credentials: new CredentialResolver({ env: {}, home: tmp }) });
    try {
      const err = await failure(store.has({ mediaType: "x", digest: digestOf(Buffer.from("x")), size: 1 }));
      expect(err.code).toBe("E_AUTH");
      expect(err.hint).toContain(authfile);
      expect(err.hint).toContain("--creds");
      expectOneLineWithout(err, [wrong]);
      const err2 = await failure(none.has({ mediaType: "x", digest: digestOf(Buffer.from("x")), size: 1 }));
      expect(err2.code).toBe("E_AUTH");
      expect(err2.message).toContain("none were found");
    } finally {
      await store.close();
      await none.close();
    }
  });
});

describe.skipIf(!have)("registry credentials (token)", () => {
  let reg: TestRegistry;
  let tmp: string;
  beforeAll(async () => {
    reg = await startRegistry("token");
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "strata-token-"));
  });
  afterAll(async () => {
    await reg?.stop();
    if (tmp !== undefined) fs.rmSync(tmp, { recursive: true, force: true });
  });

  const creds = (pw: string): CredentialResolver => new CredentialResolver({ creds: `${reg.user}:${pw}`, env: {} });

  it("a wrong password is E_AUTH from the token server, no secret", async () => {
    const store = new RegistryBlobStore(parseReference(`docker://${reg.host}/t/app:v1`), { tlsVerify: false, credentials: creds("nope-not-this-one") });
    try {
      const err = await failure(store.putBlob(Buffer.from("y"), "application/octet-stream"));
      expect(err.code).toBe("E_AUTH");
      expect(err.message).toContain("token server");
      expectOneLineWithout(err, ["nope-not-this-one", reg.password]);
    } finally {
      await store.close();
    }
  });

  it("a repository the token server denies push to is E_AUTH, with no token in the error", async () => {
    const store = new RegistryBlobStore(parseReference(`docker://${reg.host}/${deniedRepo("app")}:v1`), { tlsVerify: false, credentials: creds(reg.password) });
    try {
      const err = await failure(store.pushStream(producer(randomBytes(1000))));
      expect(err.code).toBe("E_AUTH");
      expect(err.message).toContain("may not");
      expect(err.message).toContain(deniedRepo("app"));
      expect(reg.tokenServer!.issued.length).toBeGreaterThan(0);
      expectOneLineWithout(err, [reg.password, ...reg.tokenServer!.issued]);
    } finally {
      await store.close();
    }
  });

  it("an identity token from an auth file is exchanged by POST (refresh_token) and pushes", async () => {
    const authfile = path.join(tmp, "auth.json");
    fs.writeFileSync(authfile, JSON.stringify({ auths: { [reg.host]: { auth: Buffer.from(`${reg.user}:`).toString("base64"), identitytoken: reg.identityToken } } }));
    const store = new RegistryBlobStore(parseReference(`docker://${reg.host}/t/ident:v1`), { tlsVerify: false, credentials: new CredentialResolver({ authFile: authfile, env: {}, home: tmp }) });
    try {
      const before = reg.tokenServer!.requests;
      const bytes = randomBytes(3000);
      await Promise.all([store.pushStream(producer(bytes)), store.pushStream(producer(randomBytes(10)))]);
      expect(await store.has({ mediaType: "x", digest: digestOf(bytes), size: bytes.length })).toBe(true);
      // Concurrent uploads shared one token: one fetch for the push scope.
      expect(reg.tokenServer!.requests - before).toBe(1);
    } finally {
      await store.close();
    }
  });
});
