/**
 * piscina entry for compression tasks: one block of the outer archive (or of a layer blob) in,
 * one self-contained gzip member or zstd frame out, both in shared memory the stage reuses. Thin:
 * the codec choice is in src/write/codecs.ts.
 */
import { compressInto } from "../src/write/codecs.js";
import type { CompressTask } from "../src/pool/protocol.js";

export default function compressTask(task: CompressTask): number {
  return compressInto(task.codec, task.level, new Uint8Array(task.input, 0, task.length), new Uint8Array(task.output));
}
