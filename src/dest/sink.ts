/**
 * Sinks: a file written under a temp name and renamed into place on success (nothing is left
 * behind on failure or Ctrl-C), or an already open descriptor such as stdout. Which output paths
 * are written how, and why (docs/security.md), is in file-sink.ts.
 *
 * Small writes (tar headers) are copied into a gather buffer and sent with the next large write in
 * one writev, so the number of syscalls follows the number of 1 MiB chunks, not of files. Large
 * writes are not copied: write() resolves once they are written, and the caller may then reuse
 * the memory (a slot of a worker's ring).
 */
import fs from "node:fs";
import path from "node:path";
import { randomHex } from "../digest.js";
import { StrataError, toStrataError } from "../errors.js";
import { removeOnExit } from "../exit-cleanup.js";
import { native, widenPipe, writableInPlaceAt } from "../native.js";
import type { Sink } from "./byte-output.js";

/** Writes smaller than this are gathered (copied) and sent along with the next write. */
const SMALL_WRITE = 64 << 10;
const GATHER_BYTES = 256 << 10;

export class FdSink implements Sink {
  private readonly gather = Buffer.allocUnsafe(GATHER_BYTES);
  private gathered = 0;
  bytesWritten = 0;

  constructor(protected readonly fd: number, protected readonly what: string, private readonly owned = false) {
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
    native()?.seekTo(this.fd, this.randomAccess.base + this.bytesWritten);
  }
}

/**
 * The sink for `-o PATH`. Which paths are written how (docs/security.md):
 * - nothing there, or a regular file: a new file with a name nobody can predict, created with
 *   O_EXCL|O_NOFOLLOW beside the target and renamed over it by commit(), so the target never
 *   shows a partial image and a link planted under the temp name is never followed;
 * - a directory: refused;
 * - a link to one of our descriptors (/dev/stdout -> /proc/self/fd/1, /dev/fd/N): that descriptor,
 *   as if -o were not given (a file the shell redirected stdout to gets the image);
 * - any other link, a device, a FIFO: opened and written in place, never renamed over, as the
 *   shell's `>` and skopeo's docker-archive: would; a link to a regular file truncates that file.
 *   A link that someone else planted in a sticky world-writable directory (/tmp) is refused, as the
 *   kernel's fs.protected_symlinks would refuse it.
 */
export async function fileSink(target: string): Promise<Sink> {
  const st = lstatOrUndefined(target);
  if (st === undefined || st.isFile()) return newFileSink(target);
  if (st.isDirectory()) {
    throw new StrataError("E_WRITE", `the output ${target} is a directory`, "give a file name, e.g. -o image.tar");
  }
  if (st.isSymbolicLink()) {
    refusePlantedLink(target, st);
    const fd = descriptorBehind(target);
    if (fd !== undefined) return descriptorSink(fd, target);
  }
  return inPlaceSink(target);
}

function lstatOrUndefined(p: string): fs.Stats | undefined {
  try {
    return fs.lstatSync(p);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new StrataError("E_WRITE", `cannot use the output ${p}: ${(err as Error).message}`, "check the path and its permissions", { cause: err });
  }
}

/**
 * As fs.protected_symlinks (off on some hosts and in some containers): in a sticky directory
 * that others may write (/tmp), follow only a link owned by us or by the directory's owner.
 */
function refusePlantedLink(target: string, link: fs.Stats): void {
  const uid = process.geteuid?.();
  const dir = fs.statSync(path.dirname(path.resolve(target)));
  const shared = (dir.mode & 0o1002) === 0o1002;
  if (uid !== undefined && shared && link.uid !== uid && link.uid !== dir.uid) {
    throw new StrataError("E_WRITE", `the output ${target} is a symbolic link owned by uid ${link.uid} in a shared directory; expected a file, or a link of yours`,
      "remove the link, or write the image to a directory only you can write to");
  }
}

/** N when the link chain at `p` reaches /proc/self/fd/N or /dev/fd/N (this process's descriptor N). */
function descriptorBehind(p: string): number | undefined {
  const own = new RegExp(`^/(?:proc/(?:self|thread-self|${process.pid})|dev)/fd/(\\d+)$`);
  let at = path.resolve(p);
  for (let hops = 0; hops < 40; hops++) {
    const m = own.exec(at);
    if (m !== null) return Number(m[1]);
    let next: string;
    try {
      next = fs.readlinkSync(at);
    } catch {
      return undefined; // not a link (any more): opened as it is
    }
    at = path.resolve(path.dirname(at), next);
  }
  return undefined;
}

/** A device, FIFO or linked file, opened as the shell's `>` would (the kernel follows the links). */
async function inPlaceSink(target: string): Promise<Sink> {
  let fd: number;
  try {
    // No O_CREAT: a dangling link is not followed to make a file wherever it points. Opened
    // asynchronously: a FIFO blocks until a reader comes, and signals must still be handled.
    fd = await new Promise<number>((resolve, reject) => fs.open(target, fs.constants.O_WRONLY | fs.constants.O_NOCTTY, (err, n) => (err ? reject(err) : resolve(n))));
  } catch (err) {
    throw new StrataError("E_WRITE", `cannot open the output ${target}: ${(err as Error).message}`, "check the path and its permissions", { cause: err });
  }
  if (fs.fstatSync(fd).isFile()) {
    fs.ftruncateSync(fd);
    return new TruncatingSink(fd, target);
  }
  return new FdSink(fd, target, true);
}

/** A regular file reached through a link, written from its start; emptied again on failure. */
class TruncatingSink extends FdSink {
  constructor(fd: number, what: string) {
    super(fd, what, true);
  }

  override async abort(): Promise<void> {
    try {
      fs.ftruncateSync(this.fd);
    } finally {
      await super.abort();
    }
  }
}

/** Temp names: `.<name>.strata-<64 random bits>.tmp`, the name cut short so that it stays a legal file name. */
function tempName(target: string): string {
  return path.join(path.dirname(path.resolve(target)), `.${path.basename(target).slice(0, 128)}.strata-${randomHex(8)}.tmp`);
}

function newFileSink(target: string): Sink {
  const flags = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW;
  for (let attempt = 0; ; attempt++) {
    const temp = tempName(target);
    try {
      // 0600 while written; commit() gives it the mode a new file gets.
      const fd = fs.openSync(temp, flags, 0o600);
      return new FileSink(fd, temp, target);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EEXIST" && attempt < 8) continue;
      throw new StrataError("E_WRITE", `cannot create the output ${target}: ${(err as Error).message}`,
        "check that the directory exists and is writable", { cause: err });
    }
  }
}

class FileSink extends FdSink {
  private closed = false;
  /** A fresh temp file: writable at any offset (see Sink.randomAccess). */
  readonly randomAccess = this.inPlaceFrom(0);
  private readonly forget: () => void;

  constructor(fd: number, private readonly temp: string, private readonly target: string) {
    super(fd, target);
    this.forget = removeOnExit(temp);
  }

  override async commit(): Promise<void> {
    // No fsync: like tar or cp, strata leaves durability to the file system. What the rename
    // guarantees is that the target name never shows a partial image.
    await this.flush();
    try {
      // The mode `open(target, O_CREAT, 0644)` would have given (today's umask decides).
      fs.fchmodSync(this.fd, 0o644 & ~process.umask());
      this.close();
      // Only a regular file, or nothing, is replaced: whatever took its place meanwhile (a link, a device) stays.
      const now = lstatOrUndefined(this.target);
      if (now !== undefined && !now.isFile()) {
        throw new StrataError("E_WRITE", `expected ${this.target} to be a regular file or absent, as when the build started, found ${kindOf(now)}`,
          "something replaced the output while strata wrote it; remove it and build again");
      }
      fs.renameSync(this.temp, this.target);
    } catch (err) {
      this.close();
      fs.rmSync(this.temp, { force: true });
      if (err instanceof StrataError) throw err;
      throw new StrataError("E_WRITE", `cannot move the output into place at ${this.target}: ${(err as Error).message}`, "check the target path", { cause: err });
    } finally {
      this.forget();
    }
  }

  override async abort(): Promise<void> {
    await super.abort();
    this.close();
    fs.rmSync(this.temp, { force: true });
    this.forget();
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    fs.closeSync(this.fd);
  }
}

function kindOf(st: fs.Stats): string {
  if (st.isSymbolicLink()) return "a symbolic link";
  if (st.isDirectory()) return "a directory";
  if (st.isFIFO()) return "a FIFO";
  if (st.isSocket()) return "a socket";
  return "a device";
}
