/**
 * Drain one running layer task into an output, in order: its ring slots, spool segments and end,
 * hashing on this thread when the worker left that to us. Used by the docker-archive merger (one
 * layer at a time, in plan order) and by the OCI writer (several layers at once, each to its blob).
 */
import fs from "node:fs";
import { asDigest, sha256, type Sha256 } from "../digest.js";
import { StrataError } from "../errors.js";
import { copyFileBytes } from "../dest/copy-file.js";
import type { RunningLayer } from "../pool/pool.js";
import type { LayerDigest } from "../layer/layer-task.js";

/** Where a layer's bytes go: `begin` with the exact size, the bytes, then `end`. */
export interface LayerOutput {
  begin(size: number): Promise<void>;
  /** Resolves once `bytes` may be reused (they are a slot of the worker's ring). */
  data(bytes: Uint8Array): Promise<void>;
  end(size: number): Promise<void>;
}

export async function drainLayer(label: string, layer: RunningLayer, out: LayerOutput, onBytes?: (count: number) => void): Promise<LayerDigest> {
  const first = await layer.stream.next();
  if (first.t !== "size") throw protocolError(label, first.t);
  const size = first.size;
  // The worker left hashing to us: hash the bytes as they go out (reading and hashing in parallel).
  const hash = first.mainHashes ? sha256() : undefined;
  await out.begin(size);
  let written = 0;
  for (;;) {
    const m = await layer.stream.next();
    if (m.t === "data") {
      hash?.update(m.bytes);
      await out.data(m.bytes);
      layer.stream.release();
      written += m.bytes.length;
      onBytes?.(m.bytes.length);
    } else if (m.t === "spool") {
      written += await copySpool(m.path, m.length, out, hash, onBytes);
    } else if (m.t === "end") {
      const digest = m.digest ?? (hash === undefined ? undefined : { diffId: asDigest(hash.hex()), size: written });
      if (written !== size || digest === undefined || digest.size !== size) {
        throw new StrataError("E_INTERNAL", `${label} announced ${size} bytes but sent ${written}`, "this is a bug in strata; please report it");
      }
      await out.end(size);
      await layer.done;
      return digest;
    } else {
      throw protocolError(label, m.t);
    }
  }
}

/** Write a spool file's bytes to the output, then remove it. */
async function copySpool(file: string, length: number, out: LayerOutput, hash: Sha256 | undefined, onBytes?: (count: number) => void): Promise<number> {
  try {
    await copyFileBytes(file, length, async (bytes) => {
      hash?.update(bytes);
      await out.data(bytes);
      onBytes?.(bytes.length);
    }, (found) => new StrataError("E_INTERNAL", `spool file ${file} holds ${found} bytes, ${length} were announced`, "was the temp dir cleaned while strata ran?"));
    return length;
  } finally {
    await fs.promises.rm(file, { force: true });
  }
}

function protocolError(label: string, got: string): StrataError {
  return new StrataError("E_INTERNAL", `${label}: unexpected '${got}' message from its worker`, "this is a bug in strata; please report it");
}
