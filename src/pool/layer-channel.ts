/**
 * The worker's end of a layer's output channel, a ChunkTarget: chunks are written straight into
 * the slots of the shared ring; when the ring is full the worker waits (head layer) or spools to
 * a temp file (a layer still waiting its turn). See protocol.ts for the whole scheme.
 */
import fs from "node:fs";
import type { MessagePort } from "node:worker_threads";
import { StrataError } from "../errors.js";
import type { ChunkTarget } from "../layer/chunked-output.js";
import { CTL_ABORT, CTL_HEAD, CTL_POSTED, CTL_READ, CTL_WAITING, CTL_WRITTEN, ctlSlotLength, OUT_STARVING, type ChannelSpec, type LayerMessage } from "./protocol.js";
import type { LayerDigest } from "../layer/layer-task.js";

/** How long one Atomics.wait lasts before the abort flag is looked at again (ms). */
const WAIT_SLICE_MS = 100;
/** How often a layer that waits its turn looks whether the output starves (ms). */
const STARVING_POLL_MS = 2;

export class LayerChannel implements ChunkTarget {
  private readonly ctl: Int32Array;
  private readonly out: Int32Array;
  private readonly ring: Buffer;
  private readonly port: MessagePort;
  private written = 0;
  private spoolFd: number | undefined;
  private spooled = 0;
  private scratch: Buffer | undefined;
  /** Where the chunk being filled lives: a ring slot, or the scratch buffer (spooling). */
  private current: Buffer | undefined;
  private onCommit: ((bytes: Buffer) => void) | undefined;

  constructor(private readonly spec: ChannelSpec) {
    this.ctl = new Int32Array(spec.control);
    this.out = new Int32Array(spec.output);
    this.ring = Buffer.from(spec.ring);
    this.port = spec.port;
  }

  get isHead(): boolean {
    return Atomics.load(this.ctl, CTL_HEAD) === 1;
  }

  /**
   * Announce the layer's size; `hash` sees every committed chunk, unless the main thread hashes
   * the whole layer (`mainHashes`).
   */
  announce(size: number, mainHashes: boolean, hash: ((bytes: Buffer) => void) | undefined): void {
    this.checkAbort();
    this.onCommit = hash;
    this.post({ t: "size", size, mainHashes });
  }

  /**
   * The buffer for the next chunk: a ring slot, or the scratch buffer when the chunk goes to the
   * spool. A layer that is not the head and has no room sleeps while the output is busy, and
   * spools only while it starves (see protocol.ts).
   */
  acquire(): Buffer {
    this.checkAbort();
    for (;;) {
      if (this.isHead) {
        if (this.spoolFd !== undefined) this.handOverSpool();
        if (this.hasRoom()) return this.takeSlot();
        Atomics.wait(this.ctl, CTL_READ, Atomics.load(this.ctl, CTL_READ), WAIT_SLICE_MS);
      } else if (this.spoolFd === undefined && this.hasRoom()) {
        return this.takeSlot();
      } else if (Atomics.load(this.out, OUT_STARVING) === 1) {
        if (this.spoolFd === undefined) this.openSpool();
        return (this.current = this.scratchBuffer());
      } else {
        // makeHead() and abort() notify CTL_READ; the output starving is polled.
        Atomics.wait(this.ctl, CTL_READ, Atomics.load(this.ctl, CTL_READ), STARVING_POLL_MS);
      }
      this.checkAbort();
    }
  }

  private hasRoom(): boolean {
    return this.written - Atomics.load(this.ctl, CTL_READ) < this.spec.slots;
  }

  private takeSlot(): Buffer {
    const slot = this.written % this.spec.slots;
    return (this.current = this.ring.subarray(slot * this.spec.slotSize, (slot + 1) * this.spec.slotSize));
  }

  commit(length: number): void {
    const bytes = this.current!.subarray(0, length);
    if (this.current === this.scratch) {
      this.onCommit?.(bytes);
      this.spool(bytes);
    } else {
      this.onCommit?.(bytes);
      Atomics.store(this.ctl, ctlSlotLength(this.written % this.spec.slots), length);
      this.written += 1;
      Atomics.store(this.ctl, CTL_WRITTEN, this.written);
      // Dekker-style hand-shake with LayerStream.next(): it sets WAITING, then looks at WRITTEN.
      if (Atomics.compareExchange(this.ctl, CTL_WAITING, 1, 0) === 1) this.post({ t: "wake" });
    }
    this.current = undefined;
  }

  finish(digest: LayerDigest | undefined): void {
    if (this.spoolFd !== undefined) this.handOverSpool();
    this.postPositional({ t: "end", at: this.written, digest });
  }

  /** Remove a half-written spool file after a failure. */
  discard(): void {
    if (this.spoolFd === undefined) return;
    fs.closeSync(this.spoolFd);
    this.spoolFd = undefined;
    fs.rmSync(this.spec.spoolPath, { force: true });
  }

  private scratchBuffer(): Buffer {
    return (this.scratch ??= Buffer.allocUnsafe(this.spec.slotSize));
  }

  private openSpool(): void {
    try {
      this.spoolFd = fs.openSync(this.spec.spoolPath, "wx", 0o600);
    } catch (err) {
      throw spoolError(this.spec.spoolPath, err);
    }
  }

  private spool(bytes: Buffer): void {
    try {
      let at = 0;
      while (at < bytes.length) at += fs.writeSync(this.spoolFd!, bytes, at, bytes.length - at);
    } catch (err) {
      throw spoolError(this.spec.spoolPath, err);
    }
    this.spooled += bytes.length;
  }

  private handOverSpool(): void {
    fs.closeSync(this.spoolFd!);
    this.spoolFd = undefined;
    this.postPositional({ t: "spool", at: this.written, path: this.spec.spoolPath, length: this.spooled });
    this.spooled = 0;
  }

  private checkAbort(): void {
    if (Atomics.load(this.ctl, CTL_ABORT) === 1) {
      throw new StrataError("E_ABORTED", "the build was cancelled", "nothing to do");
    }
  }

  /** A message that sits between ring slots: counted first, so the main thread waits for it. */
  private postPositional(message: LayerMessage): void {
    Atomics.add(this.ctl, CTL_POSTED, 1);
    this.post(message);
  }

  private post(message: LayerMessage): void {
    this.port.postMessage(message);
  }
}

function spoolError(file: string, err: unknown): StrataError {
  const code = (err as NodeJS.ErrnoException).code;
  return new StrataError("E_WRITE", `cannot spool a layer to ${file}: ${code === "ENOSPC" ? "no space left on the device" : (err as Error).message}`,
    "strata spools layers that wait their turn to its temp dir; free space there, or pick another with --tmp-dir", { cause: err });
}
