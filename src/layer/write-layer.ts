/**
 * Write a planned layer's tar: each entry's header and, for regular files, the content padded to
 * 512 bytes; then the two zero end blocks and zero padding up to the 10240-byte record, as
 * Python's tarfile does on close. The caller's `ChunkedOutput` hashes and ships the bytes.
 *
 * Files are opened a little ahead (PREFETCH_FILES / PREFETCH_BYTES) and the kernel is told they
 * will be needed (posix_fadvise WILLNEED, through the native helper): on a cold disk the next
 * files' reads are then in flight while this one is copied and hashed, instead of one small read
 * at a time (1G closure on disk, page cache dropped: 2.28 -> 1.79 s). A file that cannot be
 * opened ahead is opened again at its turn, so errors are reported where they were before. On a
 * store in memory (tmpfs, ramfs) there is nothing to read ahead, and the extra calls cost ~5%:
 * no prefetch there.
 */
import fs from "node:fs";
import { StrataError } from "../errors.js";
import { native } from "../native.js";
import { openPlanned, type ChunkedOutput } from "./chunked-output.js";
import type { LayerEntry, LayerContents } from "./store-layer.js";
import { BLOCK, padded } from "./tar-header.js";

/** How far ahead files are opened and announced: at most this many files, and this many bytes. */
const PREFETCH_FILES = 32;
const PREFETCH_BYTES = 8 << 20;
/** statfs f_type of file systems whose files are always in memory. */
const IN_MEMORY_FS = new Set([0x01021994 /* tmpfs */, 0x858458f6 /* ramfs */]);

export function writeLayer(layer: LayerContents, out: ChunkedOutput): void {
  const start = out.written;
  const ahead = new Prefetch(layer.entries[Symbol.iterator]());
  try {
    for (let next = ahead.shift(); next !== undefined; next = ahead.shift()) {
      const { entry } = next;
      try {
        out.header(entry.header, entry.pax);
        if (entry.source !== undefined || entry.content !== undefined) {
          if (entry.content !== undefined) out.bytes(entry.content);
          else {
            const fd = next.fd;
            next.fd = undefined; // file() closes it
            out.file(entry.source!, entry.header.size, fd, entry.sourceBase);
          }
          out.zeros(padded(entry.header.size) - entry.header.size);
        }
      } finally {
        if (next.fd !== undefined) fs.closeSync(next.fd);
      }
    }
  } finally {
    ahead.close();
  }
  const end = layer.size - (out.written - start);
  if (end < 2 * BLOCK) {
    throw new StrataError("E_INTERNAL", `layer size was planned as ${layer.size} bytes but its entries took ${out.written - start}`,
      "this is a bug in strata; please report it");
  }
  out.zeros(end);
}

interface Pending {
  readonly entry: LayerEntry;
  /** Open descriptor of a regular file opened ahead, until it is handed over. */
  fd: number | undefined;
}

/** A window over the entries, with the regular files in it opened and announced to the kernel. */
class Prefetch {
  private readonly window: Pending[] = [];
  private files = 0;
  private bytes = 0;
  private done = false;
  /** The helper's willNeed, once the first file shows the store is on a disk; null: no prefetch. */
  private willNeed: ((fd: number) => number) | null | undefined;

  constructor(private readonly entries: Iterator<LayerEntry>) {}

  shift(): Pending | undefined {
    this.fill();
    const p = this.window.shift();
    if (p?.entry.source !== undefined) {
      this.files -= 1;
      this.bytes -= p.entry.header.size;
    }
    return p;
  }

  close(): void {
    for (const p of this.window) if (p.fd !== undefined) fs.closeSync(p.fd);
    this.window.length = 0;
  }

  private fill(): void {
    // Without prefetch there is nothing to announce: keep one entry, open files at their turn.
    const maxFiles = this.willNeed === null ? 0 : PREFETCH_FILES;
    while (!this.done && (this.window.length === 0 || (this.files < maxFiles && this.bytes < PREFETCH_BYTES))) {
      const r = this.entries.next();
      if (r.done === true) {
        this.done = true;
        break;
      }
      const pending: Pending = { entry: r.value, fd: undefined };
      if (r.value.source !== undefined) {
        this.files += 1;
        this.bytes += r.value.header.size;
        // Decided once per layer, on its first file (not `??=`: null, "no prefetch", is a decision too).
        if (this.willNeed === undefined) this.willNeed = onDisk(r.value.source) ? (native()?.willNeed ?? null) : null;
        if (this.willNeed !== null && r.value.header.size > 0) pending.fd = this.openAhead(r.value, this.willNeed);
      }
      this.window.push(pending);
    }
  }

  /** Opened and checked like at its turn (openPlanned: no symlink, no FIFO, the planned size). */
  private openAhead(entry: LayerEntry, willNeed: (fd: number) => number): number | undefined {
    try {
      const fd = openPlanned(entry.source!, entry.header.size, entry.sourceBase);
      willNeed(fd);
      return fd;
    } catch {
      return undefined; // opened again at its turn, which reports the error
    }
  }
}

/** Whether the file is on a file system that reads from a device (not tmpfs or ramfs). */
function onDisk(path: Buffer): boolean {
  try {
    return !IN_MEMORY_FS.has(fs.statfsSync(path.toString("utf8")).type);
  } catch {
    return false;
  }
}
