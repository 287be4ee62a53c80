/**
 * Whole-archive compression, block by block. The outer archive is cut at fixed offsets into
 * blocks that are compressed independently, each into a complete gzip member or zstd frame; the
 * concatenation is a valid .gz / .zst stream (RFC 1952 multi-member; zstd concatenated frames)
 * that gzip, zstd, docker, podman and skopeo read. Because block boundaries depend only on the
 * offset, the bytes do not depend on how many workers compressed them.
 *
 * gzip comes from libdeflate through strata's native helper when it was built with it (2-3x
 * zlib's speed at the same level, a slightly better ratio: docs/benchmarks-gzip.md), else from
 * Node's zlib. The two make different (equally valid) bytes, so which one ran is part of the
 * blob's identity: codecImpl names it, and every thread of a process picks the same one (the
 * same helper file, the same environment). STRATA_GZIP=zlib forces zlib, to reproduce blobs made
 * where the helper has no libdeflate.
 *
 * zstd comes from zstd-napi: it builds from bundled sources with node-gyp (no download at install),
 * has a synchronous API (what a worker thread wants) and measured faster here than
 * @mongodb-js/zstd 1.x (see docs/benchmarks.md).
 */
import { createRequire } from "node:module";
import zlib from "node:zlib";
import { StrataError } from "../errors.js";
import { native, type Native } from "../native.js";
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
 * Room for one compressed block: zstd's own bound; for gzip, zlib's bound for deflate with unknown
 * parameters (n + n/8 + n/64 + 5) with the slack libdeflate wants on small inputs (its bound is
 * n + 5 per 5000 bytes + 9), plus the gzip wrapper (18).
 */
export function compressedBound(codec: Codec, n: number): number {
  return codec === "zstd" ? zstd().compressBound(n) : n + (n >> 3) + (n >> 6) + 64 + 18;
}

/** A gzip implementation: its name for codecImpl and one member of `input` into `output`. */
export interface GzipImpl {
  readonly name: string;
  readonly into: (level: number, input: Uint8Array, output: Uint8Array) => number;
}

function zlibInto(level: number, input: Uint8Array, output: Uint8Array): number {
  // Node's gzip header has mtime 0 and no file name: deterministic.
  const out = zlib.gzipSync(input, { level });
  output.set(out); // throws a RangeError if the bound were ever wrong: never truncates
  return out.length;
}

/**
 * The gzip implementation for a helper and environment: libdeflate when the helper has gzipInto
 * (levels 1-9 mean libdeflate's 1-9) and STRATA_GZIP is not "zlib", else Node's zlib. Parameters
 * for the tests; strata calls it with the real helper and process.env.
 */
export function gzipImplFor(helper: Native | undefined, env: NodeJS.ProcessEnv): GzipImpl {
  const into = helper?.gzipInto;
  if (into === undefined || helper?.libdeflateVersion === undefined || env["STRATA_GZIP"] === "zlib") {
    return { name: `zlib-${process.versions.zlib}-blocks`, into: zlibInto };
  }
  return {
    name: `libdeflate-${helper.libdeflateVersion}-blocks`,
    into: (level, input, output) => {
      const n = into(level, input, output);
      if (n < 0) throw new StrataError("E_INTERNAL", `a gzip block of ${input.length} bytes did not fit its ${output.length}-byte buffer`, "this is a bug in strata (compressedBound); please report it");
      return n;
    },
  };
}

let gzipChosen: GzipImpl | undefined;
/** This process's gzip implementation, chosen once. */
export function gzipImpl(): GzipImpl {
  return (gzipChosen ??= gzipImplFor(native(), process.env));
}

let zstdContext: ZstdBinding.CCtx | undefined;
let zstdLevel = -1;

/** Compress `input` into `output` (at least compressedBound bytes) as one gzip member or zstd frame; returns its length. */
export function compressInto(codec: Codec, level: number, input: Uint8Array, output: Uint8Array): number {
  if (codec === "gzip") return gzipImpl().into(level, input, output);
  if (zstdContext === undefined || zstdLevel !== level) {
    const { CCtx, CParameter } = zstd();
    zstdContext = new CCtx();
    zstdContext.setParameter(CParameter.compressionLevel, level);
    zstdContext.setParameter(CParameter.checksumFlag, 1);
    zstdLevel = level;
  }
  return zstdContext.compress2(output, input);
}

/**
 * Which implementation (and version) compresses: blobs made by another zlib or zstd may differ
 * byte for byte, so a cached blob digest counts only for the same one.
 */
export function codecImpl(compression: Codec | "none"): string {
  if (compression === "none") return "none";
  if (compression === "gzip") return gzipImpl().name;
  return `zstd-${zstd().versionString()}-blocks`;
}
