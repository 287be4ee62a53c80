/**
 * piscina entry for compression tasks: one fixed-size block of the outer archive in, one
 * self-contained gzip member or zstd frame out. Thin: the codec choice is in src/archive/codecs.ts.
 */
import { move } from "piscina";
import { compressBlock } from "../src/archive/codecs.js";
import type { CompressTask } from "../src/pool/protocol.js";

export default function compressTask(task: CompressTask): ArrayBuffer {
  const out = compressBlock(task.codec, task.level, new Uint8Array(task.data, 0, task.length));
  // Hand back an ArrayBuffer that holds exactly the result. The codec's buffer may be a slice of a
  // larger allocation (Node's 8 KiB pool for small ones): moving that would send the whole slab.
  let owned: ArrayBuffer;
  if (out.byteOffset === 0 && out.byteLength === out.buffer.byteLength && out.buffer instanceof ArrayBuffer) {
    owned = out.buffer;
  } else {
    owned = new ArrayBuffer(out.byteLength);
    new Uint8Array(owned).set(out);
  }
  return move(owned) as unknown as ArrayBuffer;
}
