/**
 * An image from a real Nix store (nix-bin, `local?root=DIR`), end to end: `--from-store` reads the
 * closure Nix itself reports, `--nix-db` gives an image whose unpacked store passes
 * `nix-store --verify --check-contents` and answers references and requisites as the graph says,
 * and the image runs its static busybox under podman.
 */
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildImage } from "../src/build.js";
import { sha256Hex } from "../src/digest.js";
import { requireTool, validateArchive } from "./helpers/interop.js";
import { podmanSandbox } from "./helpers/podman.js";
import { lines, makeRealStore, nixEnv, type RealStore } from "./nixdb/real-store.js";

const haveNix = requireTool("nix-store") && requireTool("nix-build");
let store: RealStore;
let dir: string;

beforeAll(() => {
  if (!haveNix) return;
  store = makeRealStore();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "strata-real-image-"));
}, 300_000);

afterAll(() => {
  store?.cleanup();
  if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true });
});

/** Apply the image's layers in order into a directory, as a runtime would (no whiteouts here). */
async function unpack(image: string, into: string): Promise<void> {
  const archive = await validateArchive(image);
  fs.mkdirSync(into, { recursive: true });
  archive.layers.forEach((layer, i) => {
    const file = path.join(dir, `layer-${i}.tar`);
    fs.writeFileSync(file, layer);
    execFileSync("tar", ["-xf", file, "-C", into, "--no-same-owner"]);
  });
}

describe.skipIf(!haveNix)("an image from a real Nix store", () => {
  it("reads the closure Nix reports, and its Nix database passes nix-store --verify", async () => {
    const roots = [store.out.busybox, store.out.app];
    const image = path.join(dir, "app.tar");
    const result = await buildImage({
      fromStore: roots, storeRoot: store.root, nixDb: true, output: image, name: "app", tag: "v1",
      config: { Cmd: ["/bin/sh", "-c", "echo hello from a real store"] },
    });
    // --from-store: the store layers hold exactly what nix-store -qR prints for the roots.
    const requisites = new Set(roots.flatMap((r) => lines(store.nix("nix-store", ["-qR", r]))));
    const inLayers = new Set(result.layers.slice(0, -1).flatMap((l) => l.paths));
    expect([...inLayers].sort()).toEqual([...requisites].sort());

    const unpacked = path.join(dir, "unpacked");
    await unpack(image, unpacked);
    expect(fs.existsSync(path.join(unpacked, "nix/var/nix/db/db.sqlite"))).toBe(true);
    expect(fs.readlinkSync(path.join(unpacked, "nix/var/nix/gcroots/docker", path.basename(store.out.app)))).toBe(store.out.app);
    const env = nixEnv(unpacked);
    const verify = spawnSync("nix-store", ["--verify", "--check-contents"], { env, encoding: "utf8" });
    expect(verify.status, verify.stderr).toBe(0);
    expect(verify.stderr).not.toMatch(/modified|invalid|error/i);
    const q = (...args: string[]): string[] => lines(execFileSync("nix-store", ["-q", ...args], { env, encoding: "utf8" })).sort();
    expect(q("--references", store.out.app)).toEqual(lines(store.nix("nix-store", ["-q", "--references", store.out.app])).sort());
    expect(q("--requisites", store.out.app)).toEqual(lines(store.nix("nix-store", ["-qR", store.out.app])).sort());
  }, 300_000);

  it("gives the same bytes twice", async () => {
    const build = (out: string) => buildImage({ fromStore: [store.out.busybox, store.out.app], storeRoot: store.root, nixDb: true, output: out, name: "app", tag: "v1" });
    await build(path.join(dir, "one.tar"));
    await build(path.join(dir, "two.tar"));
    expect(sha256Hex(fs.readFileSync(path.join(dir, "one.tar")))).toBe(sha256Hex(fs.readFileSync(path.join(dir, "two.tar"))));
  }, 300_000);

  it("refuses a root that is not in the store's database", async () => {
    await expect(buildImage({ fromStore: ["/nix/store/00000000000000000000000000000000-nothing"], storeRoot: store.root, output: path.join(dir, "x.tar") }))
      .rejects.toMatchObject({ code: "E_STORE_PATH" });
    expect(fs.existsSync(path.join(dir, "x.tar"))).toBe(false);
  });

  it.skipIf(!requireTool("podman"))("runs its busybox under podman", async () => {
    const image = path.join(dir, "run.tar");
    await buildImage({
      fromStore: [store.out.busybox, store.out.app], storeRoot: store.root, nixDb: true, output: image, name: "realstore", tag: "v1",
      config: { Cmd: ["/bin/sh", "-c", "echo hello from a real store"] },
    });
    const sandbox = podmanSandbox();
    try {
      sandbox.podman(["load", "-i", image]);
      expect(sandbox.run("localhost/realstore:v1").trim()).toBe("hello from a real store");
    } finally {
      sandbox.cleanup();
    }
  }, 300_000);
});
