/**
 * Whole-archive compression, block by block. The outer archive is cut at fixed offsets into
 * blocks that are compressed independently, each into a complete gzip member or zstd frame; the
 * concatenation is a valid .gz / .zst stream (RFC 1952 multi-member; zstd concatenated frames)
 * that gzip, zstd, docker, podman and skopeo read. Because block boundaries depend only on the
 * offset, the bytes do not depend on how many workers compressed them.
 *
 * zstd comes from zstd-napi: it builds from bundled sources with node-gyp (no download at install),
 * has a synchronous API (what a worker thread wants) and measured faster here than
 * @mongodb-js/zstd 1.x (see docs/benchmarks.md).
 */
import { createRequire } from "node:module";
import zlib from "node:zlib";
import type * as ZstdBinding from "zstd-napi/binding.js";

/** zstd-napi's low-level binding (ZSTD_compress2 into a caller's buffer; it has no ESM entry), loaded when first used. */
let binding: typeof ZstdBinding | undefined;
function zstd(): typeof ZstdBinding {
  return (binding ??= createRequire(import.meta.url)("zstd-napi/binding.js") as typeof ZstdBinding);
}

export type Codec = "gzip" | "zstd";

/** Block size of the outer stream: large enough that per-block headers and lost context cost
 * well under 0.1% of ratio, small enough that a few blocks per worker keep memory low. */
export const COMPRESS_BLOCK = 4 << 20;

export const DEFAULT_LEVEL: Record<Codec, number> = { gzip: 6, zstd: 3 };
export const LEVEL_RANGE: Record<Codec, readonly [number, number]> = { gzip: [1, 9], zstd: [1, 19] };

/**
 * Room for one compressed block: zstd's own bound, and zlib's bound for deflate with unknown
 * parameters (n + n/8 + n/64 + 5) plus the gzip wrapper, which covers Node's defaults with room.
 */
export function compressedBound(codec: Codec, n: number): number {
  return codec === "zstd" ? zstd().compressBound(n) : n + (n >> 3) + (n >> 6) + 5 + 18;
}

let zstdContext: ZstdBinding.CCtx | undefined;
let zstdLevel = -1;

/** Compress `input` into `output` (at least compressedBound bytes) as one gzip member or zstd frame; returns its length. */
export function compressInto(codec: Codec, level: number, input: Uint8Array, output: Uint8Array): number {
  if (codec === "gzip") {
    // Node's gzip header has mtime 0 and no file name: deterministic.
    const out = zlib.gzipSync(input, { level });
    output.set(out); // throws a RangeError if the bound were ever wrong: never truncates
    return out.length;
  }
  if (zstdContext === undefined || zstdLevel !== level) {
    const { CCtx, CParameter } = zstd();
    zstdContext = new CCtx();
    zstdContext.setParameter(CParameter.compressionLevel, level);
    zstdContext.setParameter(CParameter.checksumFlag, 1);
    zstdLevel = level;
  }
  return zstdContext.compress2(output, input);
}
