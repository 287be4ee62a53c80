/**
 * Layer bytes are produced into fixed-size chunks handed out by a ChunkTarget (a slot of a shared
 * ring, or a scratch buffer when spooling): headers are encoded and file contents are read straight
 * into the chunk, and the filled chunk is committed whole. Nothing is copied or allocated per chunk.
 */
import fs from "node:fs";
import { StrataError } from "../errors.js";
import { native } from "../native.js";
import { fsError } from "./fs-errors.js";
import { errnoError } from "./list-dir.js";
import { headerLength, writeHeader, type TarHeaderFields } from "./tar-header.js";

/**
 * 1 MiB chunks: large enough that per-chunk costs (a hash update call, a ring handshake, a write
 * syscall in the sink) vanish next to the bytes, small enough that a ring of a few of them per
 * layer keeps memory low.
 */
export const CHUNK_SIZE = 1 << 20;

export interface ChunkTarget {
  /** A region to fill with the next chunk; may block until one is free. */
  acquire(): Buffer;
  /** The region from the last acquire() holds `length` bytes (its start): pass them on. */
  commit(length: number): void;
}

/** A ChunkTarget over a callback, for tests and single-threaded use: each chunk is a fresh buffer. */
export function callbackTarget(emit: (chunk: Buffer) => void, chunkSize = CHUNK_SIZE): ChunkTarget {
  let current = Buffer.alloc(0);
  return {
    acquire: () => (current = Buffer.allocUnsafe(chunkSize)),
    commit: (length) => emit(current.subarray(0, length)),
  };
}

export class ChunkedOutput {
  private chunk: Buffer | undefined;
  private pos = 0;
  private total = 0;

  constructor(private readonly target: ChunkTarget) {}

  /** Bytes written so far. */
  get written(): number {
    return this.total + this.pos;
  }

  header(fields: TarHeaderFields, pax: Uint8Array | undefined): void {
    const len = headerLength(pax);
    const chunk = this.ensure();
    if (len <= chunk.length - this.pos) {
      this.pos += writeHeader(chunk, this.pos, fields, pax);
      if (this.pos === chunk.length) this.flush();
    } else {
      const scratch = Buffer.alloc(len);
      writeHeader(scratch, 0, fields, pax);
      this.bytes(scratch);
    }
  }

  bytes(src: Uint8Array): void {
    let at = 0;
    while (at < src.length) {
      const chunk = this.ensure();
      const n = Math.min(src.length - at, chunk.length - this.pos);
      chunk.set(src.subarray(at, at + n), this.pos);
      this.pos += n;
      at += n;
      if (this.pos === chunk.length) this.flush();
    }
  }

  zeros(count: number): void {
    let left = count;
    while (left > 0) {
      const chunk = this.ensure();
      const n = Math.min(left, chunk.length - this.pos);
      chunk.fill(0, this.pos, this.pos + n);
      this.pos += n;
      left -= n;
      if (this.pos === chunk.length) this.flush();
    }
  }

  /**
   * Copy exactly `size` bytes of the regular file `path` (as planned), and fail with E_FILE_CHANGED
   * if the file now holds fewer or more bytes. `opened`: a descriptor of it already open (the
   * prefetch window's), closed here like one opened here. `base`: see openPlanned.
   */
  file(path: Buffer, size: number, opened?: number, base?: number): void {
    const fd = opened ?? openPlanned(path, size, base);
    try {
      // The end of the file must be where it was planned: a file that grew is as wrong as one that
      // shrank. When the chunk has room, the last read asks for one byte more than is left (it
      // lands in the free part of the chunk, overwritten later): getting exactly what is left is a
      // short read, which on a regular file means its end. Otherwise one more read must find it.
      let left = size;
      let endSeen = false;
      while (left > 0) {
        const chunk = this.ensure();
        const room = chunk.length - this.pos;
        const n = fs.readSync(fd, chunk, this.pos, room > left ? left + 1 : room, null);
        if (n === 0) throw changed(path, size, size - left);
        if (n > left) throw changed(path, size, undefined);
        endSeen = room > left && n === left;
        this.pos += n;
        left -= n;
        if (this.pos === chunk.length) this.flush();
      }
      if (!endSeen) {
        const free = this.chunk !== undefined && this.pos < this.chunk.length;
        if (fs.readSync(fd, free ? this.chunk! : PROBE, free ? this.pos : 0, 1, null) !== 0) throw changed(path, size, undefined);
      }
    } catch (err) {
      throw err instanceof StrataError ? err : fsError(err, path);
    } finally {
      fs.closeSync(fd);
    }
  }

  /** Hand off the last, partial chunk. */
  end(): void {
    if (this.pos > 0) this.flush();
  }

  /** The chunk being filled, acquired only when a byte is about to be written. */
  private ensure(): Buffer {
    return (this.chunk ??= this.target.acquire());
  }

  private flush(): void {
    this.total += this.pos;
    const length = this.pos;
    this.chunk = undefined;
    this.pos = 0;
    this.target.commit(length);
  }
}

const PROBE = Buffer.alloc(1);

/**
 * Open the regular file of `size` bytes that planning saw at `path`, refusing anything else it may
 * have become since (time of check, time of use): O_NOFOLLOW, so a file swapped for a symlink to a
 * host file is not followed out of the store (ELOOP); O_NONBLOCK, so one swapped for a FIFO does
 * not hang in open() waiting for a writer (a regular file ignores the flag, so it need not be
 * cleared); then fstat on the open descriptor, which is the file that will be read, whatever the
 * name points to afterwards. With `base` (a store file: the length of the store directory's part
 * of `path`) and the native helper, no component below the store directory may be a symlink
 * either (openBeneath): a directory of the store path swapped for a symlink to the host is not
 * followed. Without the helper only the last component is protected (docs/security.md, Store side).
 */
export function openPlanned(path: Buffer, size: number, base?: number): number {
  let fd: number;
  try {
    const beneath = base === undefined ? undefined : native()?.openBeneath;
    if (beneath === undefined) fd = fs.openSync(path, OPEN_FLAGS);
    else {
      fd = beneath(path, base!);
      if (fd < 0) throw errnoError(fd, "open", path);
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ELOOP") throw notPlanned(path, size, base === undefined ? "a symlink" : "a symlink on its way from the store directory", err);
    if (code === "ENOTDIR" || code === "EXDEV") throw notPlanned(path, size, "something other than a directory on its way from the store directory (a symlink?)", err);
    throw fsError(err, path);
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw notPlanned(path, size, st.isFIFO() ? "a FIFO" : st.isDirectory() ? "a directory" : "not a regular file", undefined);
    if (st.size !== size) throw notPlanned(path, size, `one of ${st.size} bytes`, undefined);
    return fd;
  } catch (err) {
    fs.closeSync(fd);
    throw err instanceof StrataError ? err : fsError(err, path);
  }
}

const OPEN_FLAGS = fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK;

function notPlanned(path: Buffer, size: number, found: string, cause: unknown): StrataError {
  return new StrataError("E_FILE_CHANGED", `${path.toString("utf8")} changed while the image was being built: planned a regular file of ${size} bytes, found ${found}`,
    "store paths must not change while strata reads them; find out what replaced the file, then run the build again", cause === undefined ? undefined : { cause });
}

function changed(path: Buffer, planned: number, found: number | undefined): StrataError {
  const now = found === undefined ? "more than that" : `only ${found}`;
  return new StrataError("E_FILE_CHANGED", `${path.toString("utf8")} changed while the image was being built: planned ${planned} bytes, read ${now}`,
    "store paths must not change while strata reads them; run the build again once the store is quiet");
}
