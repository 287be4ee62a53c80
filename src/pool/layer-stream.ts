/**
 * The main thread's end of a layer's output channel (see protocol.ts): yields, in order, the
 * filled ring slots and the worker's messages. A slot's bytes stay valid until `release()`;
 * the merger releases a slot once the bytes are written out, which frees it for the worker.
 */
import type { MessagePort } from "node:worker_threads";
import { toStrataError } from "../errors.js";
import { CTL_ABORT, CTL_HEAD, CTL_POSTED, CTL_READ, CTL_WAITING, CTL_WRITTEN, ctlSlotLength, OUT_STARVING, type ChannelSpec, type LayerMessage } from "./protocol.js";

/** A ring slot's bytes, or a message. */
export type LayerItem = { readonly t: "data"; readonly bytes: Buffer } | Exclude<LayerMessage, { t: "wake" }>;

export class LayerStream {
  private readonly ctl: Int32Array;
  private readonly out: Int32Array;
  private readonly ring: Buffer;
  private readonly queue: LayerMessage[] = [];
  private read = 0;
  /** The `size` message comes first; slots may be visible before it arrives. */
  private sized = false;
  /** Positional messages (spool, end) received so far; see CTL_POSTED. */
  private positional = 0;
  private wakeUp: (() => void) | undefined;
  private failure: unknown;

  constructor(private readonly port: MessagePort, private readonly spec: Omit<ChannelSpec, "port">) {
    this.ctl = new Int32Array(spec.control);
    this.out = new Int32Array(spec.output);
    this.ring = Buffer.from(spec.ring);
    port.on("message", (m: LayerMessage) => {
      if (m.t === "spool" || m.t === "end") this.positional += 1;
      if (m.t !== "wake") this.queue.push(m);
      this.wake();
    });
  }

  /**
   * The next slot or message, in the order the worker wrote them; rejects if the task failed.
   * While it waits, the output counts as starving (OUT_STARVING): layers that are not the head
   * then spool instead of sleeping.
   */
  async next(): Promise<LayerItem> {
    try {
      return await this.nextItem();
    } finally {
      Atomics.store(this.out, OUT_STARVING, 0);
    }
  }

  private async nextItem(): Promise<LayerItem> {
    for (;;) {
      const m = this.queue[0];
      if (m !== undefined && m.t !== "wake" && (m.t === "size" || m.at === this.read)) {
        this.queue.shift();
        if (m.t === "size") this.sized = true;
        return m;
      }
      if (this.slotReady()) return { t: "data", bytes: this.slot() };
      if (this.failure !== undefined) throw this.failure;
      // Say we wait, then look again: a slot filled in between is seen now, or wakes us.
      const woken = new Promise<void>((resolve) => (this.wakeUp = resolve));
      Atomics.store(this.out, OUT_STARVING, 1);
      Atomics.store(this.ctl, CTL_WAITING, 1);
      if (this.slotReady()) {
        Atomics.store(this.ctl, CTL_WAITING, 0);
        continue;
      }
      await woken;
    }
  }

  /** For --debug dumps: where the stream stands. */
  debugState(): string {
    return `read=${this.read} written=${Atomics.load(this.ctl, CTL_WRITTEN)} sized=${this.sized} queue=${this.queue.map((m) => m.t).join(",")} waiting=${Atomics.load(this.ctl, CTL_WAITING)} head=${Atomics.load(this.ctl, CTL_HEAD)} failed=${this.failure !== undefined}`;
  }

  /** The slot returned last may be reused by the worker. */
  release(): void {
    this.read += 1;
    Atomics.store(this.ctl, CTL_READ, this.read);
    Atomics.notify(this.ctl, CTL_READ);
  }

  /** The task ended with an error: after the bytes it did send, whoever waits gets it. */
  fail(err: unknown): void {
    this.failure = toStrataError(err);
    this.wake();
  }

  makeHead(): void {
    Atomics.store(this.ctl, CTL_HEAD, 1);
    Atomics.notify(this.ctl, CTL_READ);
  }

  abort(): void {
    Atomics.store(this.ctl, CTL_ABORT, 1);
    Atomics.notify(this.ctl, CTL_READ);
  }

  close(): void {
    this.port.close();
    this.queue.length = 0;
  }

  /**
   * The next slot may be taken: it is written, the size came, and no positional message is on its
   * way (it could belong before this slot). WRITTEN is read before POSTED: the worker bumps POSTED
   * before it writes any later slot, so a slot seen here implies its POSTED is seen too.
   */
  private slotReady(): boolean {
    return this.sized && Atomics.load(this.ctl, CTL_WRITTEN) > this.read && Atomics.load(this.ctl, CTL_POSTED) === this.positional;
  }

  private slot(): Buffer {
    const i = this.read % this.spec.slots;
    const length = Atomics.load(this.ctl, ctlSlotLength(i));
    return this.ring.subarray(i * this.spec.slotSize, i * this.spec.slotSize + length);
  }

  private wake(): void {
    const w = this.wakeUp;
    this.wakeUp = undefined;
    w?.();
  }
}
