/**
 * Images in a test registry for the pull side: built by strata as an OCI layout from a fixture
 * store, then copied into the registry by skopeo (`--preserve-digests`: the blobs arrive byte for
 * byte, so the registry's digests are the layout's), plus what the registry then says about them.
 */
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { buildImage } from "../../src/build.js";
import type { ImageResult } from "../../src/image/image-spec.js";
import { makeFixtureStore, type FixtureStore } from "./fixture-store.js";
import { skopeo, skopeoArgs, type TestRegistry } from "./registry.js";

/** A small closure: app -> lib, data. With `busybox`, app also holds a static busybox (bin/busybox, bin/sh) to run. */
export function pullFixture(busybox = false): FixtureStore {
  return makeFixtureStore([
    { name: "lib-1.0", entries: [{ kind: "file", path: "lib/libx.so", content: "\x7fELF not really\n".repeat(300), executable: true }] },
    { name: "data-2.0", entries: [{ kind: "file", path: "share/data.txt", content: "some data\n".repeat(4000) }, { kind: "symlink", path: "share/link", target: "data.txt" }] },
    { name: "app", references: ["lib-1.0", "data-2.0"], entries: [{ kind: "file", path: "bin/app", content: "#!/bin/sh\necho app\n", executable: true }, ...(busybox ? [{ kind: "busybox" as const }] : [])] },
  ]);
}

export const sha = (b: Uint8Array): string => `sha256:${createHash("sha256").update(b).digest("hex")}`;

/** A strata-built OCI layout at `dir` (ref name `tag`), gzip level 1 unless said otherwise. */
export async function buildLayout(store: FixtureStore, dir: string, tag: string, extra: { architecture?: string; layerCompress?: "gzip" | "zstd" | "none"; text?: string } = {}): Promise<ImageResult> {
  return buildImage({
    graph: store.graph,
    contents: [store.pathOf("app")],
    config: { Cmd: [`${store.pathOf("app")}/bin/app`], Env: [`TEXT=${extra.text ?? tag}`] },
    storeRoot: store.root,
    name: "pull-test",
    tag,
    format: "oci",
    layerCompress: extra.layerCompress ?? "gzip",
    // Not strata's default level: a reader that recompressed the blobs (level 6) would change their digests.
    ...(extra.layerCompress === "none" ? {} : { level: 1 }),
    output: dir,
    workers: 2,
    cache: false,
    ...(extra.architecture === undefined ? {} : { architecture: extra.architecture }),
  });
}

export interface Pushed {
  /** `docker://HOST/REPO:TAG`. */
  readonly ref: string;
  /** sha256 of the manifest as the registry serves it. */
  readonly digest: string;
  readonly manifest: { config: { digest: string }; layers: { digest: string; size: number; mediaType: string }[] };
  readonly configBytes: Buffer;
}

/** skopeo copy `src` (any transport) to `repo:tag` in `reg`, and read back what the registry holds. */
export async function pushWithSkopeo(reg: TestRegistry, src: string, repoTag: string, all = false, extra: readonly string[] = ["--preserve-digests"]): Promise<Pushed> {
  const ref = `docker://${reg.host}/${repoTag}`;
  const tls = skopeoArgs(reg).map((a) => a.replace("--tls-verify", "--dest-tls-verify").replace("--cert-dir", "--dest-cert-dir").replace("--creds", "--dest-creds"));
  await skopeo(["copy", "--quiet", ...extra, ...(all ? ["--all"] : []), ...tls, src, ref]);
  const raw = await skopeo(["inspect", "--raw", ...skopeoArgs(reg), ref]);
  const manifest = JSON.parse(raw.toString("utf8")) as Pushed["manifest"];
  const configBytes = all ? Buffer.alloc(0) : await skopeo(["inspect", "--config", "--raw", ...skopeoArgs(reg), ref]);
  return { ref, digest: sha(raw), manifest, configBytes };
}

export function rm(p: string): void {
  fs.rmSync(p, { recursive: true, force: true });
}

export function tmpIn(root: string, name: string): string {
  return path.join(root, name);
}
