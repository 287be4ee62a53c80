/**
 * One layer task, run in a worker: plan the layer from metadata, announce its exact size, then
 * write its tar into the shared ring (see protocol.ts). The digest is the layer's diff_id: sha256
 * over exactly the uncompressed tar bytes. The worker computes it, except for a large layer that
 * is already the head when it starts: then the main thread hashes the bytes as it writes them
 * out, so reading (here) and hashing (there) run on two cores at once.
 */
import fs from "node:fs";
import { asDigest, sha256 } from "../digest.js";
import { StrataError } from "../errors.js";
import { ChunkedOutput } from "../layer/chunked-output.js";
import { planStoreLayer, type LayerContents } from "../layer/store-layer.js";
import { planCustomisationLayer } from "../layer/customisation-layer.js";
import { writeLayer } from "../layer/write-layer.js";
import { LayerChannel } from "./layer-channel.js";
import type { ChannelSpec, LayerDigest, LayerTask } from "./protocol.js";

/**
 * Layers at least this large that start as the head are hashed by the main thread, when the
 * merger allows it (a core to spare, see MergeOptions.mainMayHash). Below it the hand-off is not
 * worth it. (Hashing runs at ~1.7 GB/s here, reading a tmpfs store at ~3 GB/s.)
 */
export const MAIN_HASH_MIN_BYTES = 16 << 20;

export function buildLayer(task: LayerTask, channelSpec: ChannelSpec): LayerDigest | undefined {
  const channel = new LayerChannel(channelSpec);
  const out = new ChunkedOutput(channel);
  try {
    let size: number;
    let source: LayerContents | undefined;
    if (task.kind === "file") {
      size = fileSize(task.path);
    } else {
      source = task.kind === "store"
        ? planStoreLayer({ paths: task.paths, ownership: task.ownership, fsRoot: task.fsRoot })
        : planCustomisationLayer(task);
      size = source.size;
    }
    // A prebuilt layer's checksum is checked here, so its worker always hashes it.
    const mainHashes = task.kind !== "file" && channelSpec.mainMayHash && channel.isHead && size >= MAIN_HASH_MIN_BYTES;
    const hash = mainHashes ? undefined : sha256();
    channel.announce(size, mainHashes, hash === undefined ? undefined : (bytes) => hash.update(bytes));
    if (source === undefined) out.file(Buffer.from((task as { path: string }).path), size);
    else writeLayer(source, out);
    out.end();
    let digest: LayerDigest | undefined;
    if (hash !== undefined) {
      const hex = hash.hex();
      if (task.kind === "file" && task.expectedSha256 !== undefined && task.expectedSha256 !== hex) {
        throw new StrataError("E_CHECKSUM", `${task.path} has sha256 ${hex}, but its checksum file says ${task.expectedSha256}`,
          "the customisation layer was modified after it was built; rebuild it");
      }
      digest = { diffId: asDigest(hex), size };
    }
    channel.finish(digest);
    return digest;
  } catch (err) {
    channel.discard();
    throw err instanceof StrataError ? err.toWire() : err;
  }
}

function fileSize(path: string): number {
  try {
    return fs.statSync(path).size;
  } catch (err) {
    throw new StrataError("E_CLOSURE_INPUT", `cannot read layer ${path}: ${(err as Error).message}`, "check the path in conf.json", { cause: err });
  }
}
