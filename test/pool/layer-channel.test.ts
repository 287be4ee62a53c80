/**
 * The ring protocol between a layer worker (LayerChannel) and the merger (LayerStream), both ends
 * driven from this thread so the interleavings are chosen, not left to chance.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { MessageChannel } from "node:worker_threads";
import { afterEach, describe, expect, it } from "vitest";
import { LayerChannel } from "../../src/pool/layer-channel.js";
import { LayerStream, type LayerItem } from "../../src/pool/layer-stream.js";
import { Worker } from "node:worker_threads";
import { ctlWords, OUT_STARVING, OUT_WORDS, type ChannelSpec } from "../../src/pool/protocol.js";

const SLOT = 16;
let dir: string | undefined;

function pair(slots: number): { channel: LayerChannel; stream: LayerStream; output: Int32Array } {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "strata-ring-"));
  const { port1, port2 } = new MessageChannel();
  const spec = {
    control: new SharedArrayBuffer(ctlWords(slots) * 4),
    ring: new SharedArrayBuffer(slots * SLOT),
    slots,
    slotSize: SLOT,
    spoolPath: path.join(dir, "layer.spool"),
    mainMayHash: false,
    output: new SharedArrayBuffer(OUT_WORDS * 4),
  };
  const channel = new LayerChannel({ ...spec, port: port2 } as ChannelSpec);
  return { channel, stream: new LayerStream(port1, spec), output: new Int32Array(spec.output) };
}

function chunk(channel: LayerChannel, byte: number): void {
  channel.acquire().fill(byte, 0, SLOT);
  channel.commit(SLOT);
}

/** Take the next item, releasing data slots, and describe it. */
async function take(stream: LayerStream): Promise<string> {
  const item: LayerItem = await stream.next();
  if (item.t === "data") {
    const s = `data:${item.bytes[0]}`;
    stream.release();
    return s;
  }
  if (item.t === "spool") return `spool:${[...fs.readFileSync(item.path)].filter((_, i) => i % SLOT === 0).join(",")}`;
  return item.t;
}

afterEach(() => {
  if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true });
});

describe("layer channel and stream", () => {
  it("puts a spool hand-over before ring slots written after it, even when the message lags", async () => {
    const { channel, stream, output } = pair(2);
    channel.announce(6 * SLOT, false, undefined);
    expect(await take(stream)).toBe("size");
    Atomics.store(output, OUT_STARVING, 1); // the merger waits for another layer's bytes
    chunk(channel, 1);
    chunk(channel, 2); // the ring (2 slots) is full and the layer is not the head: spool
    chunk(channel, 3);
    chunk(channel, 4);
    expect(await take(stream)).toBe("data:1");
    expect(await take(stream)).toBe("data:2");
    stream.makeHead();
    // Hand-over and the next slot happen now, in this tick; the spool message is delivered only
    // when this thread yields, after slot 5 is already visible in shared memory.
    chunk(channel, 5);
    chunk(channel, 6);
    channel.finish(undefined);
    expect(await take(stream)).toBe("spool:3,4");
    expect(await take(stream)).toBe("data:5");
    expect(await take(stream)).toBe("data:6");
    expect(await take(stream)).toBe("end");
    stream.close();
  });

  it("a layer waiting its turn sleeps while the output is busy, and spools once it starves", async () => {
    const { channel, stream, output } = pair(1);
    channel.announce(2 * SLOT, false, undefined);
    expect(await take(stream)).toBe("size");
    chunk(channel, 1); // the ring is full now
    // Another thread plays the merger running out of work 150 ms from now; until then this
    // thread, the worker, must sleep instead of spooling.
    const t0 = performance.now();
    const merger = new Worker("const { workerData } = require('node:worker_threads'); setTimeout(() => Atomics.store(new Int32Array(workerData), 0, 1), 150);", { eval: true, workerData: output.buffer });
    chunk(channel, 2);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(140);
    expect(Atomics.load(output, OUT_STARVING)).toBe(1);
    await merger.terminate();
    channel.finish(undefined);
    expect(await take(stream)).toBe("data:1");
    expect(await take(stream)).toBe("spool:2");
    expect(await take(stream)).toBe("end");
    // The stream waited in next() above only if it had to; either way, it no longer starves.
    expect(Atomics.load(output, OUT_STARVING)).toBe(0);
    stream.close();
  });

  it("delivers slots in order without a message per slot when the reader keeps up", async () => {
    const { channel, stream } = pair(4);
    channel.announce(3 * SLOT, false, undefined);
    stream.makeHead();
    chunk(channel, 7);
    chunk(channel, 8);
    chunk(channel, 9);
    channel.finish(undefined);
    const seen = [];
    for (let i = 0; i < 5; i++) seen.push(await take(stream));
    expect(seen).toEqual(["size", "data:7", "data:8", "data:9", "end"]);
    stream.close();
  });
});
