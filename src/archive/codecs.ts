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
import zlib from "node:zlib";
import { Compressor } from "zstd-napi";

export type Codec = "gzip" | "zstd";

/** Block size of the outer stream: large enough that per-block headers and lost context cost
 * well under 0.1% of ratio, small enough that a few blocks per worker keep memory low. */
export const COMPRESS_BLOCK = 4 << 20;

export const DEFAULT_LEVEL: Record<Codec, number> = { gzip: 6, zstd: 3 };
export const LEVEL_RANGE: Record<Codec, readonly [number, number]> = { gzip: [1, 9], zstd: [1, 19] };

let zstdCompressor: Compressor | undefined;
let zstdLevel = -1;

export function compressBlock(codec: Codec, level: number, data: Uint8Array): Buffer {
  if (codec === "gzip") {
    // Node's gzip header has mtime 0 and no file name: deterministic.
    return zlib.gzipSync(data, { level });
  }
  if (zstdCompressor === undefined || zstdLevel !== level) {
    zstdCompressor = new Compressor();
    zstdCompressor.setParameters({ compressionLevel: level, checksumFlag: true });
    zstdLevel = level;
  }
  return zstdCompressor.compress(data);
}
