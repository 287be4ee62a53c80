/**
 * `strata pull`, `strata inspect docker://` and `build --from docker://` against a real
 * docker-registry holding an image strata built and skopeo copied in: pulled to an OCI layout the
 * image keeps its ID and the registry's very blobs (skopeo inspect agrees; each blob re-hashed);
 * pulled to a docker-archive it keeps its ID and its layers match the diff_ids (re-validated);
 * a build on a registry base reuses the base's compressed blobs and says what the tag resolved
 * to; with htpasswd auth, --creds and --authfile work and no credentials is E_AUTH; podman loads
 * and runs a pulled image.
 */
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildImage } from "../src/build.js";
import type { ImageResult, ProgressEvent } from "../src/image/image-spec.js";
import { parsePullDestination } from "../src/pull.js";
import { removeTree, type FixtureStore } from "./helpers/fixture-store.js";
import { requireTool, validateArchive } from "./helpers/interop.js";
import { podmanSandbox } from "./helpers/podman.js";
import { haveRegistry, skopeo, startRegistry, type TestRegistry } from "./helpers/registry.js";
import { buildLayout, pullFixture, pushWithSkopeo, sha, type Pushed } from "./helpers/registry-image.js";

const CLI = path.join(import.meta.dirname, "../bin/strata.js");
const have = haveRegistry() && requireTool("skopeo");
const havePodman = have && requireTool("podman") && requireTool("runc") && requireTool("busybox");

function strata(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { encoding: "utf8", timeout: 120_000, env: { ...process.env, REGISTRY_AUTH_FILE: "/nonexistent-strata-test", XDG_RUNTIME_DIR: "/nonexistent-strata-test", DOCKER_CONFIG: "/nonexistent-strata-test" } }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === "number" ? err.code : 1, stdout, stderr });
    });
  });
}

interface SkopeoInspect {
  readonly Digest: string;
  readonly Layers: readonly string[];
}

let store: FixtureStore;
let tmp: string;
let built: ImageResult;

beforeAll(async () => {
  if (!have) return;
  store = pullFixture(havePodman);
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "strata-pull-test-"));
  built = await buildLayout(store, path.join(tmp, "layout"), "v1");
});
afterAll(() => {
  if (store !== undefined) removeTree(store.root);
  if (tmp !== undefined) fs.rmSync(tmp, { recursive: true, force: true });
});

describe("pull destinations", () => {
  it("parses skopeo's spellings", () => {
    expect(parsePullDestination("oci:/x/dir:v1")).toEqual({ format: "oci", path: "/x/dir", ref: "v1" });
    expect(parsePullDestination("oci:dir")).toEqual({ format: "oci", path: "dir", ref: undefined });
    expect(parsePullDestination("docker-archive:a.tar:me/app:1")).toEqual({ format: "docker-archive", path: "a.tar", ref: "me/app:1" });
    expect(parsePullDestination("plain.tar")).toEqual({ format: "docker-archive", path: "plain.tar", ref: undefined });
    expect(parsePullDestination("dir", "oci")).toEqual({ format: "oci", path: "dir", ref: undefined });
    expect(() => parsePullDestination("oci:")).toThrow(/path/);
    expect(() => parsePullDestination("docker://h/r:t")).toThrow(expect.objectContaining({ code: "E_UNSUPPORTED" }));
  });
});

describe.skipIf(!have)("strata pull (plain registry)", () => {
  let reg: TestRegistry;
  let pushed: Pushed;
  let ref: string;
  beforeAll(async () => {
    reg = await startRegistry("plain");
    pushed = await pushWithSkopeo(reg, `oci:${path.join(tmp, "layout")}:v1`, "base/app:v1");
    ref = pushed.ref;
  });
  afterAll(async () => {
    await reg?.stop();
  });

  it("to an OCI layout: the same image ID, the registry's blobs copied byte for byte", async () => {
    const dir = path.join(tmp, "pulled-oci");
    const r = await strata(["pull", ref, "-o", `oci:${dir}:pulled`, "--tls-verify=false"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`pulled ${ref}: ${pushed.digest}`);
    const info = JSON.parse((await skopeo(["inspect", `oci:${dir}:pulled`])).toString()) as SkopeoInspect;
    expect(info.Layers).toEqual(pushed.manifest.layers.map((l) => l.digest));
    const config = await skopeo(["inspect", "--config", "--raw", `oci:${dir}:pulled`]);
    expect(sha(config)).toBe(built.imageId);
    expect(config.equals(pushed.configBytes)).toBe(true);
    for (const l of pushed.manifest.layers) {
      expect(sha(fs.readFileSync(path.join(dir, "blobs/sha256", l.digest.slice(7))))).toBe(l.digest);
    }
    // skopeo copies it out again, verifying every digest on the way
    await skopeo(["copy", "--quiet", `oci:${dir}:pulled`, `oci:${path.join(tmp, "recopied")}:x`]);
  });

  it("to a docker-archive (and a bare path): the same image ID, layers matching the diff_ids", async () => {
    const file = path.join(tmp, "pulled.tar");
    const r = await strata(["pull", ref, "-o", `docker-archive:${file}`, "--tls-verify", "false", "-q"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe("");
    const archive = await validateArchive(file, { imageId: built.imageId, layers: built.layers });
    expect(archive.manifest[0]!.RepoTags).toEqual([`${reg.host}/base/app:v1`]);
    const info = JSON.parse((await skopeo(["inspect", `docker-archive:${file}`])).toString()) as SkopeoInspect;
    expect(info.Layers).toEqual(built.layers.map((l) => l.diffId));
    const bare = path.join(tmp, "bare.tar");
    const b = await strata(["pull", `${ref.replace(":v1", "")}@${pushed.digest}`, "-o", bare, "--tls-verify=false"]);
    expect(b.code, b.stderr).toBe(0);
    const again = await validateArchive(bare, { imageId: built.imageId });
    expect(again.manifest[0]!.RepoTags ?? []).toEqual([]);
  });

  it("inspect docker://REF shows the digest and the layers", async () => {
    const text = await strata(["inspect", ref, "--tls-verify=false"]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(new RegExp(`^digest\\s+${pushed.digest}$`, "m"));
    expect(text.stdout).toContain(store.pathOf("app"));
    const json = await strata(["inspect", ref, "--tls-verify=false", "--json"]);
    const r = JSON.parse(json.stdout) as { digest: string; imageId: string; layers: { digest: string }[] };
    expect(r.digest).toBe(pushed.digest);
    expect(r.imageId).toBe(built.imageId);
    expect(r.layers.map((l) => l.digest)).toEqual(pushed.manifest.layers.map((l) => l.digest));
    // without --tls-verify=false, a plain-HTTP registry is not spoken to
    const refused = await strata(["inspect", ref]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^strata: E_REGISTRY: /);
  });

  it("build --from docker://REF reuses the base's compressed blobs and says what the tag resolved to", async () => {
    const events: ProgressEvent[] = [];
    const out = path.join(tmp, "child");
    const child = await buildImage({
      graph: store.graph, contents: [store.pathOf("lib-1.0")], storeRoot: store.root, name: "child", tag: "v1",
      from: ref, registry: { tlsVerify: false }, format: "oci", output: out, workers: 2, cache: false, onProgress: (e) => events.push(e),
    });
    const n = pushed.manifest.layers.length;
    expect(child.layers.slice(0, n).map((l) => l.blob?.digest)).toEqual(pushed.manifest.layers.map((l) => l.digest));
    expect(child.layers.slice(0, n).map((l) => l.diffId)).toEqual(built.layers.map((l) => l.diffId));
    const warnings = events.filter((e): e is Extract<ProgressEvent, { type: "warning" }> => e.type === "warning").map((e) => e.message);
    expect(warnings).toContain(`base image ${ref} resolved to ${pushed.digest}; pin it with --from ${ref}@${pushed.digest}`);
    for (const l of pushed.manifest.layers) expect(fs.existsSync(path.join(out, "blobs/sha256", l.digest.slice(7)))).toBe(true);
    // pinned: no warning
    const pinnedEvents: ProgressEvent[] = [];
    await buildImage({
      graph: store.graph, contents: [store.pathOf("lib-1.0")], storeRoot: store.root, name: "child", tag: "v2",
      from: `${ref}@${pushed.digest}`, registry: { tlsVerify: false }, format: "oci", output: out, workers: 2, cache: false, onProgress: (e) => pinnedEvents.push(e),
    });
    expect(pinnedEvents.filter((e) => e.type === "warning")).toEqual([]);
  });

  it.skipIf(!havePodman)("podman loads and runs a pulled image", async () => {
    const file = path.join(tmp, "run.tar");
    const r = await strata(["pull", ref, "-o", `docker-archive:${file}:localhost/pulled:run`, "--tls-verify=false", "-q"]);
    expect(r.code, r.stderr).toBe(0);
    const sb = podmanSandbox();
    try {
      sb.podman(["load", "-i", file]);
      expect(sb.run("localhost/pulled:run", [`${store.pathOf("app")}/bin/sh`, "-c", "echo pulled-ok; for f in /nix/store/*-data-2.0/share/link; do read l < $f; echo $l; done"]).trim()).toBe("pulled-ok\nsome data");
    } finally {
      sb.cleanup();
    }
  });
});

describe.skipIf(!have)("strata pull (htpasswd registry)", () => {
  let reg: TestRegistry;
  let pushed: Pushed;
  beforeAll(async () => {
    reg = await startRegistry("basic");
    pushed = await pushWithSkopeo(reg, `oci:${path.join(tmp, "layout")}:v1`, "auth/app:v1");
  });
  afterAll(async () => {
    await reg?.stop();
  });

  it("pulls with --creds and with --authfile; without credentials, E_AUTH naming no secret", async () => {
    const a = await strata(["pull", pushed.ref, "-o", `oci:${path.join(tmp, "auth-a")}`, "--tls-verify=false", "--creds", `${reg.user}:${reg.password}`]);
    expect(a.code, a.stderr).toBe(0);
    const file = path.join(tmp, "auth.json");
    fs.writeFileSync(file, JSON.stringify({ auths: { [reg.host]: { auth: Buffer.from(`${reg.user}:${reg.password}`).toString("base64") } } }));
    const b = await strata(["pull", pushed.ref, "-o", `oci:${path.join(tmp, "auth-b")}`, "--tls-verify=false", "--authfile", file]);
    expect(b.code, b.stderr).toBe(0);
    for (const dir of ["auth-a", "auth-b"]) {
      const config = await skopeo(["inspect", "--config", "--raw", `oci:${path.join(tmp, dir)}`]);
      expect(sha(config)).toBe(built.imageId);
    }
    const c = await strata(["pull", pushed.ref, "-o", `oci:${path.join(tmp, "auth-c")}`, "--tls-verify=false"]);
    expect(c.code).toBe(1);
    expect(c.stderr).toMatch(/^strata: E_AUTH: /);
    const d = await strata(["inspect", pushed.ref, "--tls-verify=false", "--creds", `${reg.user}:not-${reg.password}`]);
    expect(d.code).toBe(1);
    expect(d.stderr).toMatch(/^strata: E_AUTH: /);
    expect(d.stderr).not.toContain(reg.password);
  });
});
