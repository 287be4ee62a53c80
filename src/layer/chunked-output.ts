/**
 * Layer bytes are produced into fixed-size chunks that are handed off whole (transferred to the
 * main thread, never copied): headers are encoded and file contents are read straight into the
 * chunk. The consumer gets every byte in order and hashes nothing itself.
 */
import fs from "node:fs";
import { StrataError } from "../errors.js";
import { fsError } from "./fs-errors.js";
import { headerLength, writeHeader, type TarHeaderFields } from "./tar-header.js";

/**
 * 1 MiB chunks: large enough that per-chunk costs (a postMessage, a hash update call, a write
 * syscall in the sink) vanish next to the bytes, small enough that a window of a few of them per
 * layer keeps memory low.
 */
export const CHUNK_SIZE = 1 << 20;

export class ChunkedOutput {
  private chunk: Buffer;
  private pos = 0;
  private total = 0;

  constructor(
    private readonly emit: (chunk: Buffer) => void,
    private readonly chunkSize = CHUNK_SIZE,
  ) {
    this.chunk = Buffer.allocUnsafeSlow(chunkSize);
  }

  /** Bytes written so far. */
  get written(): number {
    return this.total + this.pos;
  }

  header(fields: TarHeaderFields, pax: Uint8Array | undefined): void {
    const len = headerLength(pax);
    if (len <= this.chunk.length - this.pos) {
      this.pos += writeHeader(this.chunk, this.pos, fields, pax);
      if (this.pos === this.chunk.length) this.flush();
    } else {
      const scratch = Buffer.alloc(len);
      writeHeader(scratch, 0, fields, pax);
      this.bytes(scratch);
    }
  }

  bytes(src: Uint8Array): void {
    let at = 0;
    while (at < src.length) {
      const n = Math.min(src.length - at, this.chunk.length - this.pos);
      this.chunk.set(src.subarray(at, at + n), this.pos);
      this.pos += n;
      at += n;
      if (this.pos === this.chunk.length) this.flush();
    }
  }

  zeros(count: number): void {
    let left = count;
    while (left > 0) {
      const n = Math.min(left, this.chunk.length - this.pos);
      this.chunk.fill(0, this.pos, this.pos + n);
      this.pos += n;
      left -= n;
      if (this.pos === this.chunk.length) this.flush();
    }
  }

  /**
   * Copy exactly `size` bytes of the regular file `path` (as planned), and fail with E_FILE_CHANGED
   * if the file now holds fewer or more bytes.
   */
  file(path: Buffer, size: number): void {
    let fd: number;
    try {
      fd = fs.openSync(path, "r");
    } catch (err) {
      throw fsError(err, path);
    }
    try {
      let left = size;
      while (left > 0) {
        const n = fs.readSync(fd, this.chunk, this.pos, Math.min(left, this.chunk.length - this.pos), null);
        if (n === 0) throw changed(path, size, size - left);
        this.pos += n;
        left -= n;
        if (this.pos === this.chunk.length) this.flush();
      }
      // One more read must find the end of the file: a file that grew is as wrong as one that shrank.
      const probe = this.pos < this.chunk.length ? this.chunk : Buffer.allocUnsafe(1);
      const at = probe === this.chunk ? this.pos : 0;
      if (fs.readSync(fd, probe, at, 1, null) !== 0) throw changed(path, size, undefined);
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

  private flush(): void {
    const full = this.pos === this.chunk.length ? this.chunk : this.chunk.subarray(0, this.pos);
    this.total += this.pos;
    this.chunk = Buffer.allocUnsafeSlow(this.chunkSize);
    this.pos = 0;
    this.emit(full);
  }
}

function changed(path: Buffer, planned: number, found: number | undefined): StrataError {
  const now = found === undefined ? "more than that" : `only ${found}`;
  return new StrataError("E_FILE_CHANGED", `${path.toString("utf8")} changed while the image was being built: planned ${planned} bytes, read ${now}`,
    "store paths must not change while strata reads them; run the build again once the store is quiet");
}
