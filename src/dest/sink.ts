/**
 * Sinks: a file written under a temp name and renamed into place on success (nothing is left
 * behind on failure or Ctrl-C), or an already open descriptor such as stdout.
 *
 * Small writes (tar headers) are copied into a gather buffer and sent with the next large write in
 * one writev, so the number of syscalls follows the number of 1 MiB chunks, not of files. Large
 * writes are not copied: write() resolves once they are written, and the caller may then reuse
 * the memory (a slot of a worker's ring).
 */
import fs from "node:fs";
import path from "node:path";
import { StrataError, toStrataError } from "../errors.js";
import { native, widenPipe, writableInPlaceAt } from "../native.js";
import type { Sink } from "./byte-output.js";

/** Writes smaller than this are gathered (copied) and sent along with the next write. */
const SMALL_WRITE = 64 << 10;
const GATHER_BYTES = 256 << 10;

class FdSink implements Sink {
  private readonly gather = Buffer.allocUnsafe(GATHER_BYTES);
  private gathered = 0;
  bytesWritten = 0;

  constructor(protected readonly fd: number, private readonly what: string, private readonly owned = false) {
    widenPipe(fd);
  }

  /** Sink.randomAccess for a descriptor that may be written in place from `base` on. */
  protected inPlaceFrom(base: number): NonNullable<Sink["randomAccess"]> {
    return { fd: this.fd, base, wrote: (bytes) => void (this.bytesWritten += bytes) };
  }

  async write(bytes: Uint8Array): Promise<void> {
    if (bytes.length === 0) return;
    if (bytes.length < SMALL_WRITE && this.gathered + bytes.length <= GATHER_BYTES) {
      this.gather.set(bytes, this.gathered);
      this.gathered += bytes.length;
      return;
    }
    const buffers = this.gathered > 0 ? [this.gather.subarray(0, this.gathered), bytes] : [bytes];
    this.gathered = 0;
    await this.writeAll(buffers);
  }

  async commit(): Promise<void> {
    await this.flush();
    if (this.owned) fs.closeSync(this.fd);
  }

  async abort(): Promise<void> {
    this.gathered = 0;
    if (this.owned) fs.closeSync(this.fd);
  }

  protected async flush(): Promise<void> {
    if (this.gathered === 0) return;
    const buffers = [this.gather.subarray(0, this.gathered)];
    this.gathered = 0;
    await this.writeAll(buffers);
  }

  private async writeAll(pending: Uint8Array[]): Promise<void> {
    let buffers = pending;
    while (buffers.length > 0) {
      let n: number;
      try {
        n = (await writev(this.fd, buffers)).bytesWritten;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "EAGAIN") {
          // stdout left non-blocking by whoever started us: wait for the reader and try again.
          await new Promise((r) => setTimeout(r, 2));
          continue;
        }
        throw toStrataError(err, `writing ${this.what}`);
      }
      this.bytesWritten += n;
      buffers = dropWritten(buffers, n);
    }
  }
}

function statOrUndefined(p: string): fs.Stats | undefined {
  try {
    return fs.statSync(p);
  } catch {
    return undefined;
  }
}

function writev(fd: number, buffers: Uint8Array[]): Promise<{ bytesWritten: number }> {
  return new Promise((resolve, reject) => {
    fs.writev(fd, buffers as NodeJS.ArrayBufferView[], (err, bytesWritten) => (err ? reject(err) : resolve({ bytesWritten })));
  });
}

/** The buffers still to write after `n` bytes of them were written (a short write). */
function dropWritten(buffers: Uint8Array[], n: number): Uint8Array[] {
  let left = n;
  let i = 0;
  while (i < buffers.length && left >= buffers[i]!.length) left -= buffers[i++]!.length;
  const rest = buffers.slice(i);
  if (left > 0 && rest.length > 0) rest[0] = rest[0]!.subarray(left);
  return rest;
}

/**
 * An open descriptor the caller owns (stdout): written, never closed or removed. A regular file
 * (`strata build > image.tar`) is written in place from its current offset, which is left after
 * the archive, as sequential writes would leave it.
 */
export function descriptorSink(fd: number, what = "the output"): Sink {
  const at = writableInPlaceAt(fd);
  return at === undefined ? new FdSink(fd, what) : new InPlaceFdSink(fd, what, at);
}

class InPlaceFdSink extends FdSink {
  readonly randomAccess: NonNullable<Sink["randomAccess"]>;

  constructor(fd: number, what: string, base: number) {
    super(fd, what);
    this.randomAccess = this.inPlaceFrom(base);
  }

  override async commit(): Promise<void> {
    await super.commit();
    // Streamed writes moved the offset already; positional ones did not.
    native()?.seekTo?.(this.fd, this.randomAccess.base + this.bytesWritten);
  }
}

/**
 * A file: written as `.<name>.strata-<pid>.tmp` beside it, renamed into place by commit().
 * A target that exists and is not a regular file (/dev/null, /dev/stdout, a FIFO) is written in
 * place: renaming over it would replace a device node with a file.
 */
export async function fileSink(target: string): Promise<Sink> {
  const existing = statOrUndefined(target);
  if (existing !== undefined && !existing.isFile()) {
    if (existing.isDirectory()) {
      throw new StrataError("E_WRITE", `the output ${target} is a directory`, "give a file name, e.g. -o image.tar");
    }
    try {
      return new FdSink(fs.openSync(target, "w"), target, true);
    } catch (err) {
      throw new StrataError("E_WRITE", `cannot open the output ${target}: ${(err as Error).message}`, "check the path and its permissions", { cause: err });
    }
  }
  const dir = path.dirname(path.resolve(target));
  const temp = path.join(dir, `.${path.basename(target)}.strata-${process.pid}.tmp`);
  let fd: number;
  try {
    fd = fs.openSync(temp, "w", 0o644);
  } catch (err) {
    throw new StrataError("E_WRITE", `cannot create the output ${target}: ${(err as Error).message}`,
      "check that the directory exists and is writable", { cause: err });
  }
  return new FileSink(fd, temp, target);
}

class FileSink extends FdSink {
  private closed = false;
  /** A fresh temp file: writable at any offset (see Sink.randomAccess). */
  readonly randomAccess = this.inPlaceFrom(0);

  constructor(fd: number, private readonly temp: string, private readonly target: string) {
    super(fd, target);
  }

  override async commit(): Promise<void> {
    // No fsync: like tar or cp, strata leaves durability to the file system. What the rename
    // guarantees is that the target name never shows a partial image.
    await this.flush();
    this.close();
    try {
      fs.renameSync(this.temp, this.target);
    } catch (err) {
      fs.rmSync(this.temp, { force: true });
      throw new StrataError("E_WRITE", `cannot move the output into place at ${this.target}: ${(err as Error).message}`, "check the target path", { cause: err });
    }
  }

  override async abort(): Promise<void> {
    await super.abort();
    this.close();
    fs.rmSync(this.temp, { force: true });
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    fs.closeSync(this.fd);
  }
}
