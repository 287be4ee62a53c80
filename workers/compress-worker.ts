/**
 * piscina entry for compression tasks: one fixed-size block of the outer archive in, one
 * self-contained gzip member or zstd frame out. Thin: the codec choice is in src/archive/codecs.ts.
 */
import { move } from "piscina";
import { compressBlock } from "../src/archive/codecs.js";
import type { CompressTask } from "../src/pool/protocol.js";

export default function compressTask(task: CompressTask): ArrayBuffer {
  const out = compressBlock(task.codec, task.level, new Uint8Array(task.data, 0, task.length));
  // Hand back a fresh ArrayBuffer holding exactly the result. The codec's own buffer cannot be
  // moved: it may be a slice of Node's 8 KiB pool, or memory the codec allocated, which is not
  // transferable (posting it fails inside piscina and the task would never settle). The copy is of
  // compressed bytes, cheap next to compressing them.
  const owned = new ArrayBuffer(out.byteLength);
  new Uint8Array(owned).set(out);
  return move(owned) as unknown as ArrayBuffer;
}
