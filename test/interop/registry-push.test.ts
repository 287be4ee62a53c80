/**
 * End to end against a real docker-registry (no mocks), through the CLI in child processes:
 * builds pushed straight to the registry in its four setups (plain HTTP, TLS with --cert-dir,
 * htpasswd with --creds and --authfile, token auth), read back by skopeo (the raw manifest's
 * sha256 is the digest strata printed and wrote; `skopeo copy` to a layout verifies every digest),
 * pulled and run by podman; the registry as the shared cache (re-push with a warm and an empty
 * cache, --cache-from into a new repository, one store path changed, several destinations at
 * once); `strata push` of archives, layouts and stdin; and faults: a registry killed mid-push, a
 * proxy answering 503/429/resets, a wrong password, a repository the token server denies.
 * Uploads are counted in the registry's access log.
 */
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeFixtureStore, type FixturePathSpec, type FixtureStore } from "../helpers/fixture-store.js";
import { requireTool } from "../helpers/interop.js";
import { podmanSandbox } from "../helpers/podman.js";
import { type RegistryMode, type TestRegistry, deniedRepo, haveRegistry, skopeo, skopeoArgs, startFaultyProxy, startRegistry } from "../helpers/registry.js";

const haveTools = haveRegistry() && requireTool("skopeo") && requireTool("busybox") && requireTool("zstd");
const havePodman = haveTools && requireTool("podman") && requireTool("runc");

const CLI = path.join(path.dirname(fileURLToPath(import.meta.url)), "../../bin/strata.js");

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** stderr parsed as --json events (empty without --json). */
  readonly events: Record<string, unknown>[];
}

/** The CLI in a child process (asynchronous: the token server answers from this process). */
function strata(args: readonly string[], opts: { env?: NodeJS.ProcessEnv; input?: string; onSpawn?: (kill: () => void) => void } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...opts.env }, stdio: [opts.input === undefined ? "ignore" : "pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (c: string) => (stdout += c));
    child.stderr.setEncoding("utf8").on("data", (c: string) => (stderr += c));
    if (opts.input !== undefined) fs.createReadStream(opts.input).pipe(child.stdin!);
    opts.onSpawn?.(() => child.kill("SIGKILL"));
    child.on("error", reject);
    child.on("close", (code) => {
      const events = args.includes("--json") ? stderr.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Record<string, unknown>) : [];
      resolve({ code, stdout, stderr, events });
    });
  });
}

const done = (r: Run): Record<string, unknown> => {
  const d = r.events.find((e) => e["type"] === "done");
  if (d === undefined) throw new Error(`no done event (exit ${r.code}):\n${r.stderr}`);
  return d;
};
const outcomes = (r: Run): string[] => r.events.filter((e) => e["type"] === "layer").sort((a, b) => (a["index"] as number) - (b["index"] as number)).map((e) => e["outcome"] as string);
const blobs = (r: Run): string[] => r.events.filter((e) => e["type"] === "layer").sort((a, b) => (a["index"] as number) - (b["index"] as number)).map((e) => (e["blob"] as { digest: string }).digest);
const ok = (r: Run): Run => {
  if (r.code !== 0) throw new Error(`strata exited ${r.code}:\n${r.stderr}`);
  return r;
};

/** Blob uploads in the registry's access log since `from` (its length before): PATCH chunks and PUT ?digest= ends. */
function uploads(reg: TestRegistry, from: number): { patch: number; put: number; mount: number; manifestPut: number; digests: string[] } {
  const log = reg.log().slice(from);
  const count = (re: RegExp): number => log.split("\n").filter((l) => re.test(l)).length;
  const puts = log.split("\n").filter((l) => /"PUT \/v2\/[^ ]+\/blobs\/uploads\/[^ ]* HTTP[^"]*" 201/.test(l));
  return {
    digests: puts.map((l) => decodeURIComponent(/[?&]digest=([^ &]+)/.exec(l)?.[1] ?? "?")),
    patch: count(/"PATCH \/v2\/[^ ]+\/blobs\/uploads\//),
    put: count(/"PUT \/v2\/[^ ]+\/blobs\/uploads\//),
    mount: count(/"POST \/v2\/[^ ]+\/blobs\/uploads\/\?[^ ]*mount=[^ ]* HTTP[^"]*" 201/),
    manifestPut: count(/"PUT \/v2\/[^ ]+\/manifests\//),
  };
}

/** Digests of the blobs the registry's storage holds. */
function heldBlobs(reg: TestRegistry): Set<string> {
  const root = path.join(reg.dir, "data", "docker", "registry", "v2", "blobs", "sha256");
  const out = new Set<string>();
  for (const a of fs.existsSync(root) ? fs.readdirSync(root) : []) {
    for (const hex of fs.readdirSync(path.join(root, a))) if (fs.existsSync(path.join(root, a, hex, "data"))) out.add(`sha256:${hex}`);
  }
  return out;
}

function pseudo(seed: number, size: number): Buffer {
  const b = Buffer.alloc(size);
  let x = seed >>> 0;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = (x >>> 24) & 0x7f;
  }
  return b;
}

/** A closure that runs (a static busybox) with two libraries; `zVersion` picks which libz. */
function closure(zVersion: string, extra: FixturePathSpec[] = []): FixturePathSpec[] {
  return [
    { name: "greeting-1.0", entries: [{ kind: "file", path: "share/greeting", content: "hello from the registry\n" }] },
    { name: "libssl-3.0", entries: [{ kind: "file", path: "lib/libssl.so", content: pseudo(1, 60_000) }] },
    { name: `libz-${zVersion}`, entries: [{ kind: "file", path: "lib/libz.so", content: pseudo(zVersion === "1.0" ? 2 : 3, 30_000) }] },
    { name: "busybox-static-1.36", references: ["greeting-1.0"], entries: [{ kind: "busybox" }] },
    ...extra,
    { name: "app-1.0", references: ["libssl-3.0", `libz-${zVersion}`, "busybox-static-1.36", ...extra.map((e) => e.name)], entries: [{ kind: "file", path: "bin/app", content: "#!/bin/sh\necho app\n", executable: true }] },
  ];
}

let tmp: string;
let storeA: FixtureStore;
let configFile: string;
let n = 0;
const fresh = (what: string): string => path.join(tmp, `${what}-${++n}`);

/** `strata build` of a store's app, with --json, to the -o destinations given. */
function buildArgs(store: FixtureStore, outputs: readonly string[], extra: readonly string[] = []): string[] {
  return [
    "build", "--graph", store.graphFile, "--contents", store.pathOf("busybox-static-1.36"), store.pathOf("app-1.0"),
    "--store-root", store.root, "--config", configFile, "--name", "app", "--tag", "1", "-j", "2", "--json",
    ...outputs.flatMap((o) => ["-o", o]), ...extra,
  ];
}

function registryFlags(reg: TestRegistry): string[] {
  if (reg.mode === "tls") return ["--cert-dir", reg.certDir!];
  if (reg.mode === "plain") return ["--tls-verify=false"];
  return ["--tls-verify=false", "--creds", `${reg.user}:${reg.password}`];
}

const sha256 = (b: Buffer): string => `sha256:${createHash("sha256").update(b).digest("hex")}`;

/** skopeo reads the image back: the raw manifest's digest, and a copy to a layout (every digest verified). */
async function readBack(reg: TestRegistry, ref: string, oci = true): Promise<{ digest: string; manifest: { mediaType?: string; config: { mediaType: string }; layers: { mediaType: string; digest: string; annotations?: Record<string, string> }[] } }> {
  const raw = await skopeo(["inspect", "--raw", ...skopeoArgs(reg), `docker://${reg.host}/${ref}`]);
  const copy = fresh("skopeo-copy");
  const src = reg.mode === "tls" ? [`--src-cert-dir=${reg.certDir!}`] : ["--src-tls-verify=false"];
  const creds = reg.mode === "basic" || reg.mode === "token" ? [`--src-creds=${reg.user}:${reg.password}`] : [];
  await skopeo(["copy", "--quiet", ...src, ...creds, `docker://${reg.host}/${ref}`, `oci:${copy}:x`]);
  const index = JSON.parse(fs.readFileSync(path.join(copy, "index.json"), "utf8")) as { manifests: { digest: string }[] };
  // (skopeo converts a Docker manifest to OCI when it writes a layout: another digest.)
  if (oci) expect(index.manifests[0]!.digest).toBe(sha256(raw));
  fs.rmSync(copy, { recursive: true, force: true });
  return { digest: sha256(raw), manifest: JSON.parse(raw.toString("utf8")) };
}

beforeAll(() => {
  if (!haveTools) return;
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "strata-registry-push-"));
  storeA = makeFixtureStore(closure("1.0"));
  configFile = path.join(tmp, "config.json");
  fs.writeFileSync(configFile, JSON.stringify({ Cmd: ["/bin/sh", "-c", "echo hello-from-the-registry"] }));
});

afterAll(() => {
  storeA?.cleanup();
  if (tmp !== undefined) fs.rmSync(tmp, { recursive: true, force: true });
});

describe.skipIf(!haveTools)("strata build -o docker://, in each registry setup", () => {
  const setups: [RegistryMode, string][] = [["plain", "--tls-verify=false"], ["tls", "--cert-dir"], ["basic", "--creds"], ["basic", "--authfile"], ["token", "--creds"]];
  for (const [mode, how] of setups) {
    it(`${mode} (${how}): pushed, read back by skopeo with the digest strata printed and wrote`, async () => {
      const reg = await startRegistry(mode);
      try {
        const digestFile = fresh("digest");
        let flags = registryFlags(reg);
        if (how === "--authfile") {
          const authfile = fresh("auth.json");
          fs.writeFileSync(authfile, JSON.stringify({ auths: { [reg.host]: { auth: Buffer.from(`${reg.user}:${reg.password}`).toString("base64") } } }));
          flags = ["--tls-verify=false", "--authfile", authfile];
        }
        const r = ok(await strata([...buildArgs(storeA, [`docker://${reg.host}/app:1`], [...flags, "--digestfile", digestFile])], { env: { XDG_CACHE_HOME: fresh("cache") } }));
        const printed = done(r)["manifestDigest"];
        expect(printed).toMatch(/^sha256:[0-9a-f]{64}$/);
        expect(fs.readFileSync(digestFile, "utf8")).toBe(printed);
        expect(outcomes(r).every((o) => o === "written")).toBe(true);
        const back = await readBack(reg, "app:1");
        expect(back.digest).toBe(printed);
        expect(back.manifest.mediaType).toBe("application/vnd.oci.image.manifest.v1+json");
        expect(back.manifest.layers).toHaveLength(outcomes(r).length);
        // Every layer carries its key (what lets an empty cache learn from the registry), the
        // customisation layer too (its contents, extras, owners and mtime decide it).
        expect(back.manifest.layers.every((l) => typeof l.annotations?.["dev.strata.layer.key"] === "string")).toBe(true);
        // No secret in anything strata printed.
        expect(r.stderr).not.toContain(reg.password);
        for (const t of reg.tokenServer?.issued ?? []) expect(r.stderr).not.toContain(t);
      } finally {
        await reg.stop();
      }
    }, 60_000);
  }
});

describe.skipIf(!haveTools)("the registry as the shared cache (plain HTTP)", () => {
  let reg: TestRegistry;
  let cache: string;
  let first: Run;
  const flags = ["--tls-verify=false"];

  beforeAll(async () => {
    reg = await startRegistry("plain");
    cache = fresh("cache");
    first = ok(await strata(buildArgs(storeA, [`docker://${reg.host}/app:1`], flags), { env: { XDG_CACHE_HOME: cache } }));
  }, 60_000);
  afterAll(async () => {
    await reg?.stop();
  });

  it.skipIf(!havePodman)("podman pulls the pushed image and runs it", async () => {
    const sandbox = podmanSandbox("strata-registry-podman-");
    try {
      sandbox.podman(["pull", "--quiet", "--tls-verify=false", `docker://${reg.host}/app:1`]);
      expect(sandbox.run(`${reg.host}/app:1`)).toBe("hello-from-the-registry\n");
      expect(sandbox.run(`${reg.host}/app:1`, ["/bin/sh", "-c", "cat /nix/store/*-greeting-1.0/share/greeting"])).toBe("hello from the registry\n");
    } finally {
      sandbox.cleanup();
    }
  }, 120_000);

  it("a re-push by a new process with a warm cache builds and uploads nothing", async () => {
    const from = reg.log().length;
    const r = ok(await strata(buildArgs(storeA, [`docker://${reg.host}/app:1`], flags), { env: { XDG_CACHE_HOME: cache } }));
    const o = outcomes(r);
    expect(o.every((x) => x === "present"), o.join(",")).toBe(true);
    expect(done(r)["manifestDigest"]).toBe(done(first)["manifestDigest"]);
    // No blob is sent, not even the customisation layer's (it has a key too).
    const u = uploads(reg, from);
    expect(u.digests, JSON.stringify(u)).toEqual([]);
    expect(u.put, JSON.stringify(u)).toBe(0);
  }, 60_000);

  it("with an empty cache: every store layer learned from the destination tag, nothing uploaded", async () => {
    const from = reg.log().length;
    const r = ok(await strata(buildArgs(storeA, [`docker://${reg.host}/app:1`], flags), { env: { XDG_CACHE_HOME: fresh("empty-cache") } }));
    const o = outcomes(r);
    expect(o.every((x) => x === "present"), o.join(",")).toBe(true);
    expect(done(r)["manifestDigest"]).toBe(done(first)["manifestDigest"]);
    // No blob is sent, not even the customisation layer's (it has a key too).
    const u = uploads(reg, from);
    expect(u.digests, JSON.stringify(u)).toEqual([]);
    expect(u.put, JSON.stringify(u)).toBe(0);
  }, 60_000);

  it("a new repository with --cache-from the first: the layers are mounted, not uploaded", async () => {
    const from = reg.log().length;
    const r = ok(await strata(buildArgs(storeA, [`docker://${reg.host}/other:1`], [...flags, "--cache-from", `docker://${reg.host}/app:1`]), { env: { XDG_CACHE_HOME: fresh("empty-cache") } }));
    const o = outcomes(r);
    expect(o.every((x) => x === "mounted"), o.join(",")).toBe(true);
    expect(done(r)["manifestDigest"]).toBe(done(first)["manifestDigest"]);
    const u = uploads(reg, from);
    expect(u.mount).toBeGreaterThanOrEqual(o.length);
    // Only the config (tiny; configs are not mounted) is uploaded.
    expect(u.digests.filter((d) => d !== done(r)["imageId"]), JSON.stringify(u)).toEqual([]);
    expect((await readBack(reg, "other:1")).digest).toBe(done(first)["manifestDigest"]);
  }, 60_000);

  it("one store path changed: only its layer written (the customisation layer's contents did not change)", async () => {
    const storeB = makeFixtureStore(closure("1.1"));
    try {
      const from = reg.log().length;
      const r = ok(await strata(buildArgs(storeB, [`docker://${reg.host}/app:2`], flags), { env: { XDG_CACHE_HOME: cache } }));
      const layers = r.events.filter((e) => e["type"] === "layer");
      const written = layers.filter((e) => e["outcome"] === "written").map((e) => e["index"]);
      expect(written, outcomes(r).join(",")).toHaveLength(1);
      const u = uploads(reg, from);
      // libz-1.1's layer and the config: nothing else.
      const libz = blobs(r)[written[0] as number];
      expect(u.digests.filter((d) => d !== libz && d !== done(r)["imageId"]), JSON.stringify(u)).toEqual([]);
      expect((await readBack(reg, "app:2")).digest).toBe(done(r)["manifestDigest"]);
    } finally {
      storeB.cleanup();
    }
  }, 60_000);

  it("two tags and a layout in one build: each layer built once, one manifest digest everywhere", async () => {
    const layout = fresh("layout");
    const r = ok(await strata(buildArgs(storeA, [`docker://${reg.host}/a:1`, `docker://${reg.host}/b:1`, `oci:${layout}`], flags), { env: { XDG_CACHE_HOME: fresh("empty-cache") } }));
    const layers = r.events.filter((e) => e["type"] === "layer");
    const indexes = layers.map((e) => e["index"] as number);
    expect(new Set(indexes).size).toBe(indexes.length); // one event (one build) per layer
    const digest = done(r)["manifestDigest"];
    expect(digest).toBe(done(first)["manifestDigest"]);
    expect((await readBack(reg, "a:1")).digest).toBe(digest);
    expect((await readBack(reg, "b:1")).digest).toBe(digest);
    const index = JSON.parse(fs.readFileSync(path.join(layout, "index.json"), "utf8")) as { manifests: { digest: string }[] };
    expect(index.manifests.map((m) => m.digest)).toEqual([digest]);
  }, 60_000);

  it("--manifest-format docker: Docker v2 schema 2 media types", async () => {
    ok(await strata(buildArgs(storeA, [`docker://${reg.host}/dockerfmt:1`], [...flags, "--manifest-format", "docker"]), { env: { XDG_CACHE_HOME: fresh("empty-cache") } }));
    const back = await readBack(reg, "dockerfmt:1", false);
    expect(back.manifest.mediaType).toBe("application/vnd.docker.distribution.manifest.v2+json");
    expect(back.manifest.config.mediaType).toBe("application/vnd.docker.container.image.v1+json");
    expect(back.manifest.layers.every((l) => l.mediaType === "application/vnd.docker.image.rootfs.diff.tar.gzip")).toBe(true);
  }, 60_000);
});

describe.skipIf(!haveTools)("strata push SOURCE docker://", () => {
  let reg: TestRegistry;
  let archive: string;
  let imageId: string;
  const flags = ["--tls-verify=false", "--json"];

  beforeAll(async () => {
    reg = await startRegistry("plain");
    archive = fresh("image.tar");
    imageId = done(ok(await strata(buildArgs(storeA, [archive])))) ["imageId"] as string;
  }, 60_000);
  afterAll(async () => {
    await reg?.stop();
  });

  const pushed = async (ref: string, r: Run): Promise<void> => {
    ok(r);
    expect(done(r)["imageId"]).toBe(imageId);
    const back = await readBack(reg, ref);
    expect(back.digest).toBe(done(r)["manifestDigest"]);
    // The config byte for byte: the same image ID.
    expect(sha256(await skopeo(["inspect", "--config", "--raw", "--tls-verify=false", `docker://${reg.host}/${ref}`]))).toBe(imageId);
  };

  it("a docker-archive file", async () => {
    await pushed("pushed:file", await strata(["push", archive, `docker://${reg.host}/pushed:file`, ...flags], { env: { XDG_CACHE_HOME: fresh("cache") } }));
  }, 60_000);

  it("a docker-archive on stdin", async () => {
    await pushed("pushed:stdin", await strata(["push", "-", `docker://${reg.host}/pushed:stdin`, ...flags], { input: archive, env: { XDG_CACHE_HOME: fresh("cache") } }));
  }, 60_000);

  it("a zstd-compressed docker-archive on stdin", async () => {
    const zst = fresh("image.tar.zst");
    ok(await strata([...buildArgs(storeA, [zst]), "--compress", "zstd"]));
    await pushed("pushed:zstd", await strata(["push", "-", `docker://${reg.host}/pushed:zstd`, ...flags], { input: zst, env: { XDG_CACHE_HOME: fresh("cache") } }));
  }, 60_000);

  it("an OCI layout directory and an oci-archive", async () => {
    const layout = fresh("layout");
    ok(await strata(buildArgs(storeA, [`oci:${layout}`])));
    await pushed("pushed:dir", await strata(["push", layout, `docker://${reg.host}/pushed:dir`, ...flags]));
    // (`oci:DIR` is not a push source: strata push takes the layout's path, see src/push.ts.)
    const ociArchive = fresh("image.oci.tar");
    ok(await strata([...buildArgs(storeA, [ociArchive]), "--format", "oci-archive"]));
    await pushed("pushed:ocitar", await strata(["push", ociArchive, `docker://${reg.host}/pushed:ocitar`, ...flags]));
  }, 90_000);
});

describe.skipIf(!haveTools)("faults", () => {
  it("the registry killed mid-push: one line with a code, exit 1; after a restart the re-run uploads only what is missing", async () => {
    const big = makeFixtureStore(closure("1.0", [{ name: "big-1.0", entries: [{ kind: "file", path: "share/blob", content: randomBytes(96 << 20) }] }]));
    const reg = await startRegistry("plain");
    const cache = fresh("cache");
    try {
      const args = [...buildArgs(big, [`docker://${reg.host}/big:1`], ["--tls-verify=false", "--layer-compress", "zstd"])];
      const uploadsDir = path.join(reg.dir, "data", "docker", "registry", "v2", "repositories", "big", "_uploads");
      let killedAt = 0;
      const r = await strata(args, {
        env: { XDG_CACHE_HOME: cache },
        onSpawn: () => {
          // Kill the registry once some MiB of the big layer have arrived: mid-upload.
          const poll = setInterval(() => {
            let size = 0;
            try {
              for (const u of fs.readdirSync(uploadsDir)) size = Math.max(size, fs.statSync(path.join(uploadsDir, u, "data")).size);
            } catch {
              // not there yet
            }
            if (size >= 16 << 20) {
              killedAt = size;
              reg.kill();
              clearInterval(poll);
            }
          }, 20);
          setTimeout(() => clearInterval(poll), 120_000).unref();
        },
      });
      expect(killedAt).toBeGreaterThan(0);
      expect(r.code).toBe(1);
      const err = r.events.find((e) => e["type"] === "error");
      expect(err?.["code"], r.stderr).toBe("E_REGISTRY");
      expect(String(err?.["message"]), r.stderr).toContain(reg.host);
      expect(String(err?.["message"])).not.toContain("\n");

      await reg.restart();
      const held = heldBlobs(reg);
      const from = reg.log().length;
      const again = ok(await strata(args, { env: { XDG_CACHE_HOME: cache } }));
      const o = outcomes(again);
      const u = uploads(reg, from);
      // Only what the registry lacked is sent: the big layer (its upload was cut), what was in flight with it.
      expect(u.digests.filter((d) => held.has(d)), `${o.join(",")} ${JSON.stringify(u)}`).toEqual([]);
      expect(u.digests).toContain(blobs(again)[o.length - 3]); // big-1.0's layer (before app-1.0 and the customisation layer)
      expect(o.filter((x) => x === "present").length).toBeGreaterThan(0);
      expect((await readBack(reg, "big:1")).digest).toBe(done(again)["manifestDigest"]);
    } finally {
      await reg.stop();
      big.cleanup();
    }
  }, 150_000);

  it("a proxy answering 503, 429 with Retry-After and resetting connections: the push completes", async () => {
    const reg = await startRegistry("plain");
    const proxy = await startFaultyProxy(reg.host, { e503: 0.08, e429: 0.04, reset: 0.04 }, 7);
    try {
      const r = ok(await strata([...buildArgs(storeA, [`docker://${proxy.host}/app:1`], ["--tls-verify=false"])], { env: { XDG_CACHE_HOME: fresh("cache") } }));
      const failed = proxy.faults.e503 + proxy.faults.e429 + proxy.faults.reset;
      expect(failed, JSON.stringify(proxy.faults)).toBeGreaterThan(0);
      expect((await readBack(reg, "app:1")).digest).toBe(done(r)["manifestDigest"]);
      // The retries are reported (a warning naming the destination and the count).
      const retried = r.events.filter((e) => e["type"] === "warning" && /retried/.test(String(e["message"])));
      expect(retried, r.stderr).toHaveLength(1);
      const count = Number(/(\d+) registry requests? retried/.exec(String(retried[0]!["message"]))?.[1]);
      expect(count, JSON.stringify(proxy.faults)).toBeGreaterThanOrEqual(failed);
    } finally {
      await proxy.stop();
      await reg.stop();
    }
  }, 120_000);

  it("a wrong password: one line, E_AUTH, a hint naming the auth files, no secret", async () => {
    const reg = await startRegistry("basic");
    try {
      const wrong = "Wr0ng-pa55-never-shown";
      const authfile = fresh("auth.json");
      fs.writeFileSync(authfile, JSON.stringify({ auths: { [reg.host]: { auth: Buffer.from(`${reg.user}:${wrong}`).toString("base64") } } }));
      const cases: [string, string[], RegExp][] = [
        ["--creds", ["--creds", `${reg.user}:${wrong}`], /--creds/],
        ["--authfile", ["--authfile", authfile], new RegExp(authfile.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))],
      ];
      for (const [what, creds, named] of cases) {
        for (const json of [false, true]) {
          const r = await strata([...buildArgs(storeA, [`docker://${reg.host}/app:1`], ["--tls-verify=false", ...creds]).filter((a) => json || a !== "--json")], { env: { XDG_CACHE_HOME: fresh("cache") } });
          expect(r.code, what).toBe(1);
          expect(r.stderr).not.toContain(wrong);
          expect(r.stderr).not.toContain(reg.password);
          expect(r.stderr).not.toContain(Buffer.from(`${reg.user}:${wrong}`).toString("base64"));
          if (json) {
            const err = r.events.find((e) => e["type"] === "error");
            expect(err?.["code"]).toBe("E_AUTH");
            expect(`${String(err?.["message"])} ${String(err?.["hint"])}`, what).toMatch(named);
          } else {
            // The progress line (stderr is no terminal), then the error: one line and its hint.
            const lines = r.stderr.trim().split("\n").filter((l) => !l.startsWith("strata: building "));
            expect(lines, r.stderr).toHaveLength(2);
            expect(lines[0]).toMatch(/^strata: E_AUTH: /);
            expect(lines[1]).toMatch(/^ {2}hint: /);
            expect(lines.join(" "), what).toMatch(named);
          }
        }
      }
    } finally {
      await reg.stop();
    }
  }, 60_000);

  it("a repository the token server will not let us push to: E_AUTH, no token printed", async () => {
    const reg = await startRegistry("token");
    try {
      const r = await strata(buildArgs(storeA, [`docker://${reg.host}/${deniedRepo("app")}:1`], registryFlags(reg)), { env: { XDG_CACHE_HOME: fresh("cache") } });
      expect(r.code).toBe(1);
      const err = r.events.find((e) => e["type"] === "error");
      expect(err?.["code"], r.stderr).toBe("E_AUTH");
      for (const t of reg.tokenServer!.issued) expect(r.stderr).not.toContain(t);
      expect(r.stderr).not.toContain(reg.password);
    } finally {
      await reg.stop();
    }
  }, 60_000);
});
