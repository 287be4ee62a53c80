/**
 * strata's native helper (native/strata_native.c, built by `npm ci` through node-gyp): the few
 * system calls Node has no API for, and libdeflate's gzip. Only speed depends on it, and gzip
 * blobs' bytes: without it (a platform where it did not build), strata works the same, more
 * slowly, with zlib's gzip (codecs.ts names which).
 */
import fs from "node:fs";
import { createRequire } from "node:module";

export interface Native {
  /** fcntl(fd, F_SETPIPE_SZ, bytes): the pipe's new size, or -errno. */
  setPipeSize(fd: number, bytes: number): number;
  /** The descriptor's file offset, or -1 if it appends (O_APPEND) or cannot seek. */
  fileOffset(fd: number): number;
  /** lseek(fd, offset, SEEK_SET): 0, or -errno. */
  seekTo(fd: number, offset: number): number;
  /** posix_fadvise(fd, 0, 0, POSIX_FADV_WILLNEED): 0, or the error number. */
  willNeed(fd: number): number;
  /** A directory's children with their lstat (and readlink) results, packed (see list-dir.ts), or -errno. */
  listDir(dir: Buffer): Buffer | number;
  /**
   * Open the regular file `path` (O_RDONLY | O_NOFOLLOW | O_NONBLOCK) with no symlink followed
   * below its first `base` bytes: the descriptor, or -errno.
   */
  openBeneath(path: Buffer, base: number): number;
  /**
   * One gzip member of `input` written into `output` by libdeflate at `level` (1-12): its length,
   * or -ENOSPC if it did not fit. Present when the helper was built with libdeflate (binding.gyp),
   * with libdeflateVersion naming the version linked in.
   */
  gzipInto?: (level: number, input: Uint8Array, output: Uint8Array) => number;
  libdeflateVersion?: string;
  /** mallopt(M_MMAP_THRESHOLD, bytes) with glibc: 1 if set. */
  fixMallocThreshold(bytes: number): number;
}

let loaded: Native | null | undefined;

/** The helper, or undefined if it was not built. */
export function native(): Native | undefined {
  if (loaded === undefined) {
    loaded = null;
    const require = createRequire(import.meta.url);
    // dist/src/native.js when installed, src/native.ts under the tests: build/ is at the root.
    for (const rel of ["../../build/Release/strata_native.node", "../build/Release/strata_native.node"]) {
      try {
        loaded = require(rel) as Native;
        break;
      } catch {
        // not there: try the next place
      }
    }
  }
  return loaded ?? undefined;
}

/** The pipe size strata asks for: one chunk of the ring, so one wake-up per chunk. */
export const PIPE_BYTES = 1 << 20;

/**
 * If `fd` is a pipe, make it PIPE_BYTES large, so that strata and its reader (`| docker load`)
 * hand over a chunk per wake-up instead of 64 KiB (measured: `strata build | cat` 1.9 s -> 1.6 s
 * on a 1 GB closure). Best effort: an unprivileged user may be over the kernel's pipe-buffer
 * quota (fs.pipe-user-pages-soft); the pipe then keeps its size. Returns the new size, or
 * undefined when nothing changed.
 */
export function widenPipe(fd: number): number | undefined {
  if (fstatOf(fd)?.isFIFO() !== true) return undefined;
  const r = native()?.setPipeSize(fd, PIPE_BYTES);
  return r !== undefined && r > 0 ? r : undefined;
}

/**
 * Where an output descriptor that is a regular file may be written in place (pwrite) from: its
 * current offset, unless it appends (`>>`: pwrite would ignore the offset) or the helper is
 * missing. Undefined means: write it as a stream.
 */
export function writableInPlaceAt(fd: number): number | undefined {
  const at = fstatOf(fd)?.isFile() === true ? native()?.fileOffset(fd) : undefined;
  return at !== undefined && at >= 0 ? at : undefined;
}

/** fstat, or undefined for a descriptor that cannot be looked at (closed, say). */
function fstatOf(fd: number): fs.Stats | undefined {
  try {
    return fs.fstatSync(fd);
  } catch {
    return undefined;
  }
}

/**
 * Keep large allocations (128 KiB and up, glibc's default threshold) mapped on their own and
 * returned whole when freed, instead of glibc raising the threshold as blocks are freed and then
 * keeping their pages: without it, peak memory grew with how long a build ran (4 GB closure
 * 185-198 -> 178-187 MB; strata_native.c has the why). Process-wide malloc behaviour, so the CLI
 * calls it for its own process; the library leaves its host's malloc alone.
 */
export function fixMallocThreshold(): void {
  native()?.fixMallocThreshold(128 << 10);
}
