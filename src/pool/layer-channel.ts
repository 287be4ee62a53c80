/**
 * The worker's end of a layer's output channel: ships chunks to the main thread within the
 * window, spools to a temp file when the window is full and the layer is not the head yet, and
 * blocks (Atomics.wait; the worker has nothing else to do) when the head layer's window is full.
 * See protocol.ts for the whole scheme.
 */
import fs from "node:fs";
import type { MessagePort } from "node:worker_threads";
import { StrataError } from "../errors.js";
import { CTL_ABORT, CTL_CONSUMED, CTL_HEAD, type ChannelSpec, type LayerDigest, type LayerMessage } from "./protocol.js";

/** How long one Atomics.wait lasts before the abort flag is looked at again (ms). */
const WAIT_SLICE_MS = 100;

export class LayerChannel {
  private readonly ctl: Int32Array;
  private readonly port: MessagePort;
  private sent = 0;
  private spoolFd: number | undefined;
  private spooled = 0;

  constructor(private readonly spec: ChannelSpec) {
    this.ctl = new Int32Array(spec.control);
    this.port = spec.port;
  }

  announce(size: number): void {
    this.checkAbort();
    this.post({ t: "size", size });
  }

  send(chunk: Buffer): void {
    this.checkAbort();
    if (this.spoolFd !== undefined) {
      if (Atomics.load(this.ctl, CTL_HEAD) === 1) this.handOverSpool();
      else return this.spool(chunk);
    }
    while (this.sent - Atomics.load(this.ctl, CTL_CONSUMED) >= this.spec.window) {
      if (Atomics.load(this.ctl, CTL_HEAD) !== 1) return this.spool(chunk);
      Atomics.wait(this.ctl, CTL_CONSUMED, Atomics.load(this.ctl, CTL_CONSUMED), WAIT_SLICE_MS);
      this.checkAbort();
    }
    this.sent += 1;
    // The chunk owns its whole ArrayBuffer (allocUnsafeSlow), so it is moved, not copied.
    this.post({ t: "data", buf: chunk.buffer as ArrayBuffer, length: chunk.length }, [chunk.buffer as ArrayBuffer]);
  }

  finish(digest: LayerDigest): void {
    if (this.spoolFd !== undefined) this.handOverSpool();
    this.post({ t: "end", digest });
  }

  /** Remove a half-written spool file after a failure. */
  discard(): void {
    if (this.spoolFd === undefined) return;
    fs.closeSync(this.spoolFd);
    this.spoolFd = undefined;
    fs.rmSync(this.spec.spoolPath, { force: true });
  }

  private spool(chunk: Buffer): void {
    try {
      if (this.spoolFd === undefined) this.spoolFd = fs.openSync(this.spec.spoolPath, "wx", 0o600);
      let at = 0;
      while (at < chunk.length) at += fs.writeSync(this.spoolFd, chunk, at, chunk.length - at);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new StrataError("E_WRITE", `cannot spool a layer to ${this.spec.spoolPath}: ${code === "ENOSPC" ? "no space left on the device" : (err as Error).message}`,
        "strata spools layers it cannot send yet to its temp dir; free space there or point TMPDIR elsewhere", { cause: err });
    }
    this.spooled += chunk.length;
  }

  private handOverSpool(): void {
    fs.closeSync(this.spoolFd!);
    this.spoolFd = undefined;
    this.post({ t: "spool", path: this.spec.spoolPath, length: this.spooled });
    this.spooled = 0;
  }

  private checkAbort(): void {
    if (Atomics.load(this.ctl, CTL_ABORT) === 1) {
      throw new StrataError("E_ABORTED", "the build was cancelled", "nothing to do");
    }
  }

  private post(message: LayerMessage, transfer?: ArrayBuffer[]): void {
    this.port.postMessage(message, transfer);
  }
}
