/**
 * One layer task, run in a worker: plan the layer from metadata, announce its exact size, then
 * write its tar into chunks that are hashed here and streamed to the main thread. The digest is
 * the layer's diff_id: sha256 over exactly the uncompressed tar bytes that were sent.
 */
import fs from "node:fs";
import { asDigest, sha256 } from "../digest.js";
import { StrataError } from "../errors.js";
import { ChunkedOutput } from "../layer/chunked-output.js";
import { planStoreLayer, type LayerContents } from "../layer/store-layer.js";
import { planSymlinkJoin } from "../layer/symlink-join.js";
import { writeLayer } from "../layer/write-layer.js";
import { LayerChannel } from "./layer-channel.js";
import type { ChannelSpec, LayerDigest, LayerTask } from "./protocol.js";

export function buildLayer(task: LayerTask, channelSpec: ChannelSpec): LayerDigest {
  const channel = new LayerChannel(channelSpec);
  const hash = sha256();
  const out = new ChunkedOutput((chunk) => {
    hash.update(chunk);
    channel.send(chunk);
  });
  try {
    let size: number;
    if (task.kind === "file") {
      size = copyFile(task.path, channel, out);
    } else {
      const layer: LayerContents = task.kind === "store"
        ? planStoreLayer({ paths: task.paths, ownership: task.ownership, fsRoot: task.fsRoot })
        : planSymlinkJoin(task.contents, task.fsRoot, task.mtime);
      channel.announce(layer.size);
      writeLayer(layer, out);
      size = layer.size;
    }
    out.end();
    const hex = hash.hex();
    if (task.kind === "file" && task.expectedSha256 !== undefined && task.expectedSha256 !== hex) {
      throw new StrataError("E_CHECKSUM", `${task.path} has sha256 ${hex}, but its checksum file says ${task.expectedSha256}`,
        "the customisation layer was modified after it was built; rebuild it");
    }
    const digest = { diffId: asDigest(hex), size };
    channel.finish(digest);
    return digest;
  } catch (err) {
    channel.discard();
    throw err instanceof StrataError ? err.toWire() : err;
  }
}

function copyFile(path: string, channel: LayerChannel, out: ChunkedOutput): number {
  let size: number;
  try {
    size = fs.statSync(path).size;
  } catch (err) {
    throw new StrataError("E_CLOSURE_INPUT", `cannot read layer ${path}: ${(err as Error).message}`, "check the path in conf.json", { cause: err });
  }
  channel.announce(size);
  out.file(Buffer.from(path), size);
  return size;
}
