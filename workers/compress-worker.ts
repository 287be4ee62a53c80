/**
 * piscina entry for compression tasks: one fixed-size block of the outer archive in, one
 * self-contained gzip member or zstd frame out. Thin: the codec choice is in src/archive/codecs.ts.
 */
import { move } from "piscina";
import { compressBlock } from "../src/archive/codecs.js";
import type { CompressTask } from "../src/pool/protocol.js";

export default function compressTask(task: CompressTask): ArrayBuffer {
  const out = compressBlock(task.codec, task.level, new Uint8Array(task.data, 0, task.length));
  // Hand the result back without a copy: a fresh buffer that owns its whole ArrayBuffer.
  const owned = out.byteOffset === 0 && out.byteLength === out.buffer.byteLength ? out : Buffer.from(out);
  return move(owned.buffer as ArrayBuffer) as unknown as ArrayBuffer;
}
