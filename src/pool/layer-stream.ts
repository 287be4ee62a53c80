/**
 * The main thread's end of a layer's output channel (see protocol.ts): messages arrive in order on
 * the port and wait in a queue until the merger takes them. The merger tells the worker when the
 * layer becomes the head and when it has written each chunk out.
 */
import type { MessagePort } from "node:worker_threads";
import { toStrataError } from "../errors.js";
import { CTL_ABORT, CTL_CONSUMED, CTL_HEAD, type LayerMessage } from "./protocol.js";

export class LayerStream {
  private readonly ctl: Int32Array;
  private readonly queue: LayerMessage[] = [];
  private waiter: { resolve: (m: LayerMessage) => void; reject: (e: unknown) => void } | undefined;
  private failure: unknown;

  constructor(private readonly port: MessagePort, control: SharedArrayBuffer) {
    this.ctl = new Int32Array(control);
    port.on("message", (m: LayerMessage) => {
      if (this.waiter !== undefined) {
        const w = this.waiter;
        this.waiter = undefined;
        w.resolve(m);
      } else {
        this.queue.push(m);
      }
    });
  }

  /** The next message, in the order the worker sent them; rejects if the task failed. */
  next(): Promise<LayerMessage> {
    const m = this.queue.shift();
    if (m !== undefined) return Promise.resolve(m);
    if (this.failure !== undefined) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => (this.waiter = { resolve, reject }));
  }

  /** The task ended with an error: whoever waits, or waits next, gets it. Messages sent before
   * the failure are still delivered first, so the merger never writes past them. */
  fail(err: unknown): void {
    this.failure = toStrataError(err);
    if (this.waiter !== undefined && this.queue.length === 0) {
      const w = this.waiter;
      this.waiter = undefined;
      w.reject(this.failure);
    }
  }

  makeHead(): void {
    Atomics.store(this.ctl, CTL_HEAD, 1);
    Atomics.notify(this.ctl, CTL_CONSUMED);
  }

  consumed(): void {
    Atomics.add(this.ctl, CTL_CONSUMED, 1);
    Atomics.notify(this.ctl, CTL_CONSUMED);
  }

  abort(): void {
    Atomics.store(this.ctl, CTL_ABORT, 1);
    Atomics.notify(this.ctl, CTL_CONSUMED);
  }

  close(): void {
    this.port.close();
    this.queue.length = 0;
  }
}
