/**
 * Write a planned layer's tar: each entry's header and, for regular files, the content padded to
 * 512 bytes; then the two zero end blocks and zero padding up to the 10240-byte record, as
 * Python's tarfile does on close. The caller's `ChunkedOutput` hashes and ships the bytes.
 */
import { StrataError } from "../errors.js";
import type { ChunkedOutput } from "./chunked-output.js";
import type { LayerContents } from "./store-layer.js";
import { BLOCK, padded } from "./tar-header.js";

export function writeLayer(layer: LayerContents, out: ChunkedOutput): void {
  const start = out.written;
  for (const entry of layer.entries) {
    out.header(entry.header, entry.pax);
    if (entry.source !== undefined || entry.content !== undefined) {
      if (entry.content !== undefined) out.bytes(entry.content);
      else out.file(entry.source!, entry.header.size);
      out.zeros(padded(entry.header.size) - entry.header.size);
    }
  }
  const end = layer.size - (out.written - start);
  if (end < 2 * BLOCK) {
    throw new StrataError("E_INTERNAL", `layer size was planned as ${layer.size} bytes but its entries took ${out.written - start}`,
      "this is a bug in strata; please report it");
  }
  out.zeros(end);
}
