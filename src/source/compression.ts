/**
 * Compression of archives and layer blobs, told by magic bytes (never by a file name or a media
 * type, which may lie): gzip and zstd are read; bzip2 and xz, which docker load also takes, are
 * refused with a clear error. Plain tar is recognised by the `ustar` magic, or by an all-zero
 * first block (an empty tar).
 */
import { Duplex } from "node:stream";
import zlib from "node:zlib";
import binding from "zstd-napi/binding.js";
import { StrataError } from "../errors.js";
import type { Compression } from "./types.js";

/** What the first bytes of a blob say it is. */
export type Sniffed = Compression | "bzip2" | "xz" | "unknown";

/** How many head bytes `sniff` wants to see (a whole tar header block). */
export const SNIFF_BYTES = 512;

export function sniff(head: Uint8Array): Sniffed {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return "gzip";
  if (head.length >= 4 && head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return "zstd";
  if (head.length >= 3 && head[0] === 0x42 && head[1] === 0x5a && head[2] === 0x68) return "bzip2";
  if (head.length >= 6 && Buffer.from(head.subarray(0, 6)).equals(XZ_MAGIC)) return "xz";
  if (looksLikeTar(head)) return "none";
  return "unknown";
}

const XZ_MAGIC = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);

/** A ustar/PAX/GNU header block (magic `ustar` at 257), or the zero block an empty tar starts with. */
export function looksLikeTar(head: Uint8Array): boolean {
  if (head.length < SNIFF_BYTES) return false;
  if (Buffer.from(head.subarray(257, 262)).toString("latin1") === "ustar") return true;
  return head.subarray(0, SNIFF_BYTES).every((b) => b === 0);
}

/** A stream that decompresses `compression`, or undefined for "none". Both honour backpressure. */
export function decompressor(compression: Compression): Duplex | undefined {
  switch (compression) {
    case "none":
      return undefined;
    case "gzip":
      // 256 KiB output chunks instead of zlib's 16 KiB: fewer, larger writes downstream.
      return zlib.createGunzip({ chunkSize: 256 << 10 });
    case "zstd":
      return Duplex.from(zstdDecompress);
  }
}

/** zstd's recommended output buffer (ZSTD_DStreamOutSize, 128 KiB). */
const ZSTD_OUT = binding.dStreamOutSize();

/**
 * zstd decompression that stops when its reader does. zstd-napi's DecompressStream pushes all
 * the output of an input chunk at once, ignoring push()'s answer: a 1 MiB chunk of a zero-filled
 * layer is 30 GiB of output, and a 37 KB layer of 2 GiB reached 4.5 GB of memory. Here each
 * 128 KiB of output is yielded, and the next one made only when it has been taken. Memory: the
 * frame's window (at most 128 MiB, zstd's default windowLogMax of 27) plus a few buffers.
 */
async function* zstdDecompress(source: AsyncIterable<Uint8Array>): AsyncGenerator<Buffer> {
  const dctx = new binding.DCtx();
  let inFrame = false;
  for await (const chunk of source) {
    let src: Uint8Array = chunk;
    for (;;) {
      const dst = Buffer.allocUnsafe(ZSTD_OUT);
      const [ret, produced, consumed] = dctx.decompressStream(dst, src);
      src = src.subarray(consumed);
      if (produced > 0) yield dst.subarray(0, produced);
      // Input used up and the output buffer not filled: nothing more to flush for now.
      if (src.length === 0 && (produced < dst.length || ret === 0)) {
        inFrame = ret !== 0;
        break;
      }
    }
  }
  if (inFrame) throw new Error("the data ends in the middle of a zstd frame");
}

/**
 * The compression of a blob whose head is `head`, or an error naming `what` when it is none that
 * strata reads. `unknown` heads are taken as plain (a tar parser or digest check will judge them).
 */
export function compressionOf(head: Uint8Array, what: string): Compression {
  const s = sniff(head);
  if (s === "bzip2" || s === "xz") {
    throw new StrataError("E_UNSUPPORTED", `${what} is ${s}-compressed; strata reads plain, gzip and zstd tars`,
      `decompress it first (${s === "xz" ? "xz -d" : "bzip2 -d"}), or recompress with gzip or zstd`);
  }
  return s === "unknown" ? "none" : s;
}
