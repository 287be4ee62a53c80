/**
 * Layer tasks, run in a worker. The digest is always the layer's diff_id: sha256 over exactly the
 * uncompressed tar bytes.
 *
 * - buildLayer (streaming): plan the layer from metadata, announce its exact size, then write its
 *   tar into the shared ring (see protocol.ts). The worker hashes it, except for a large layer
 *   that is already the head when it starts, with a core to spare: then the main thread hashes the
 *   bytes as it writes them out, so reading (here) and hashing (there) run on two cores at once.
 * - measureLayer + writeLayerAt (positional, for an output file): the sizes of every layer first,
 *   so that every layer's place in the archive is known; then each worker writes its layers
 *   straight into the output file at their offsets, in any order, hashing as it goes. Nothing is
 *   buffered, spooled or passed through the main thread.
 */
import fs from "node:fs";
import { asDigest, sha256, type Sha256 } from "../digest.js";
import { StrataError, toStrataError } from "../errors.js";
import { CHUNK_SIZE, ChunkedOutput, type ChunkTarget } from "./chunked-output.js";
import { planStoreLayer, type LayerContents } from "./store-layer.js";
import { planCustomisationLayer } from "./customisation-layer.js";
import { writeLayer } from "./write-layer.js";
import { LayerChannel } from "../pool/layer-channel.js";
import type { ChannelSpec, WriteAtSpec } from "../pool/protocol.js";
import type { LayerDigest, LayerTask } from "./layer-task.js";

/**
 * Layers at least this large that start as the head are hashed by the main thread, when the
 * merger allows it (a core to spare, see MergeOptions.mainMayHash). Below it the hand-off is not
 * worth it. (Hashing runs at ~1.7 GB/s here, reading a tmpfs store at ~3 GB/s.)
 */
export const MAIN_HASH_MIN_BYTES = 16 << 20;

/** A planned layer: its exact tar size, and its entries (none for a prebuilt layer file). */
interface PlannedLayer {
  readonly size: number;
  readonly source: LayerContents | undefined;
}

function planLayer(task: LayerTask): PlannedLayer {
  if (task.kind === "file") return { size: fileSize(task.path), source: undefined };
  const source = task.kind === "store"
    ? planStoreLayer({ paths: task.paths, ownership: task.ownership, fsRoot: task.fsRoot })
    : planCustomisationLayer(task);
  return { size: source.size, source };
}

/** Write a planned layer's tar to `out` and end it. */
function emitLayer(task: LayerTask, layer: PlannedLayer, out: ChunkedOutput): void {
  if (layer.source === undefined) out.file(Buffer.from((task as { path: string }).path), layer.size);
  else writeLayer(layer.source, out);
  out.end();
}

/** The digest from the worker's hash; a prebuilt layer's checksum is checked here. */
function digestOf(task: LayerTask, hash: Sha256, size: number): LayerDigest {
  const hex = hash.hex();
  if (task.kind === "file" && task.expectedSha256 !== undefined && task.expectedSha256 !== hex) {
    throw new StrataError("E_CHECKSUM", `${task.path} has sha256 ${hex}, but its checksum file says ${task.expectedSha256}`,
      "the customisation layer was modified after it was built; rebuild it");
  }
  return { diffId: asDigest(hex), size };
}

export function buildLayer(task: LayerTask, channelSpec: ChannelSpec): LayerDigest | undefined {
  const channel = new LayerChannel(channelSpec);
  const out = new ChunkedOutput(channel);
  try {
    const layer = planLayer(task);
    // A prebuilt layer's checksum is checked here, so its worker always hashes it.
    const mainHashes = task.kind !== "file" && channelSpec.mainMayHash && channel.isHead && layer.size >= MAIN_HASH_MIN_BYTES;
    const hash = mainHashes ? undefined : sha256();
    channel.announce(layer.size, mainHashes, hash === undefined ? undefined : (bytes) => hash.update(bytes));
    emitLayer(task, layer, out);
    const digest = hash === undefined ? undefined : digestOf(task, hash, layer.size);
    channel.finish(digest);
    return digest;
  } catch (err) {
    channel.discard();
    throw err instanceof StrataError ? err.toWire() : err;
  }
}

/** Positional mode, first phase: the layer's exact tar size. */
export function measureLayer(task: LayerTask): number {
  try {
    return planLayer(task).size;
  } catch (err) {
    throw err instanceof StrataError ? err.toWire() : err;
  }
}

/**
 * Positional mode, second phase: write the layer's tar into `spec.fd` from `spec.offset` on,
 * exactly `spec.size` bytes (what measureLayer found: a layer that changed since is
 * E_FILE_CHANGED), hashing it. The layer is planned again rather than kept from the first phase:
 * a metadata walk costs far less than holding every layer's entries at once.
 */
export function writeLayerAt(task: LayerTask, spec: WriteAtSpec): LayerDigest {
  try {
    const layer = planLayer(task);
    if (layer.size !== spec.size) {
      throw new StrataError("E_FILE_CHANGED", `a layer of ${describe(task)} changed while the image was being built: ${spec.size} bytes when measured, ${layer.size} now`,
        "store paths must not change while strata reads them; run the build again once the store is quiet");
    }
    const hash = sha256();
    const target = new PositionalTarget(spec, hash);
    emitLayer(task, layer, new ChunkedOutput(target));
    if (target.written !== spec.size) {
      throw new StrataError("E_INTERNAL", `a layer of ${describe(task)} was measured at ${spec.size} bytes but wrote ${target.written}`, "this is a bug in strata; please report it");
    }
    return digestOf(task, hash, spec.size);
  } catch (err) {
    throw err instanceof StrataError ? err.toWire() : err;
  }
}

/** The chunk buffer of positional writes: one per worker, which runs one task at a time. */
let writeBuffer: Buffer | undefined;

/** Chunks written with pwrite at consecutive offsets of the output file, hashed on the way. */
class PositionalTarget implements ChunkTarget {
  private readonly buffer = (writeBuffer ??= Buffer.allocUnsafe(CHUNK_SIZE));
  private readonly abort: Int32Array;
  private readonly progress: BigInt64Array;
  written = 0;

  constructor(private readonly spec: WriteAtSpec, private readonly hash: Sha256) {
    this.abort = new Int32Array(spec.abort);
    this.progress = new BigInt64Array(spec.progress);
  }

  acquire(): Buffer {
    if (Atomics.load(this.abort, 0) === 1) throw new StrataError("E_ABORTED", "the build was cancelled", "nothing to do");
    return this.buffer;
  }

  commit(length: number): void {
    const bytes = this.buffer.subarray(0, length);
    this.hash.update(bytes);
    try {
      let at = 0;
      while (at < length) at += fs.writeSync(this.spec.fd, bytes, at, length - at, this.spec.offset + this.written + at);
    } catch (err) {
      throw toStrataError(err, "writing the output");
    }
    this.written += length;
    Atomics.add(this.progress, 0, BigInt(length));
  }
}

function describe(task: LayerTask): string {
  return task.kind === "file" ? task.path : task.kind === "store" ? `${task.paths.length} store path(s) (${task.paths[0] ?? ""}...)` : "the customisation layer";
}

function fileSize(path: string): number {
  try {
    return fs.statSync(path).size;
  } catch (err) {
    throw new StrataError("E_CLOSURE_INPUT", `cannot read layer ${path}: ${(err as Error).message}`, "check the path in conf.json", { cause: err });
  }
}
