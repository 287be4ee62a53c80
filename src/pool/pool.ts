/**
 * The worker pools: one for layer tasks, one for compression blocks. Two pools, not one, because a
 * head layer task may block until the output drains, and with compression on, draining needs a
 * compression task to run: on a shared pool of one thread that would deadlock. The OS shares the
 * cores between the two; each pool has `workers` threads.
 */
import { MessageChannel } from "node:worker_threads";
import { Piscina } from "piscina";
import { poolWorker } from "./worker-file.js";
import type { Codec } from "../write/codecs.js";
import type { CompressBlock } from "../write/compress-stage.js";
import { LayerStream } from "./layer-stream.js";
import { CHUNK_SIZE } from "../layer/chunked-output.js";
import { ctlWords, OUT_WORDS, type ChannelSpec, type CompressTask, type WriteAtSpec } from "./protocol.js";
import type { LayerDigest, LayerTask } from "../layer/layer-task.js";

/**
 * A small young generation for the workers. Their garbage is short-lived (walk entries, headers),
 * and V8 otherwise grows each isolate's young generation towards 48 MiB as the allocation rate
 * stays high, so peak memory grew with the closure's size. 8 MiB: on a 4 GiB closure, peak RSS
 * 255 -> 211 MB, and no change in speed measured (docs/benchmarks.md).
 */
const WORKER_LIMITS = { maxYoungGenerationSizeMb: 8 };

export interface RunningLayer {
  readonly stream: LayerStream;
  /** The task's end; its digest unless the main thread hashed the layer. */
  readonly done: Promise<LayerDigest | undefined>;
}

function newPool(worker: string, workers: number): Piscina {
  return new Piscina({ ...poolWorker(worker), minThreads: workers, maxThreads: workers, resourceLimits: WORKER_LIMITS });
}

/**
 * A layer pool started before anything needs it (prestartLayerPool), taken by the first
 * WorkerPool of its size. Worker threads take ~50 ms to boot and load their modules; started as
 * soon as the CLI knows the worker count, they boot while the main thread still loads the build's
 * modules and plans, instead of after (docs/benchmarks.md: start-up).
 */
let spare: { readonly workers: number; readonly pool: Piscina } | undefined;

/** Start the layer pool of the build about to run, ahead of need. */
export function prestartLayerPool(workers: number): void {
  spare ??= { workers, pool: newPool("layer-worker", workers) };
}

/** Stop a prestarted pool that no build took (one that failed before its first layer). */
export async function discardSparePool(): Promise<void> {
  const unused = spare;
  spare = undefined;
  await unused?.pool.destroy();
}

/** The worker count of the prestarted pool waiting to be taken, if any (for tests). */
export function sparePoolWorkers(): number | undefined {
  return spare?.workers;
}

function takeSpare(workers: number): Piscina | undefined {
  if (spare?.workers !== workers) return undefined;
  const { pool } = spare;
  spare = undefined;
  return pool;
}

export class WorkerPool {
  /** Started on first use: a pool that only compresses (write-formats.ts) never starts it. */
  private layerPool: Piscina | undefined;
  private compressPool: Piscina | undefined;
  /** The output state every layer channel shares (protocol.ts, OUT_STARVING). */
  private readonly output = new SharedArrayBuffer(OUT_WORDS * Int32Array.BYTES_PER_ELEMENT);

  constructor(private readonly workers: number) {}

  private get layers(): Piscina {
    return (this.layerPool ??= takeSpare(this.workers) ?? newPool("layer-worker", this.workers));
  }

  /**
   * Start a layer task writing into `ring` (`slots` chunks of CHUNK_SIZE; rings are reused from
   * layer to layer, so the task must not start before the ring's previous layer was consumed).
   */
  runLayer(task: LayerTask, ring: SharedArrayBuffer, spoolPath: string, mainMayHash: boolean): RunningLayer {
    const { port1, port2 } = new MessageChannel();
    const slots = ring.byteLength / CHUNK_SIZE;
    const spec = {
      control: new SharedArrayBuffer(ctlWords(slots) * Int32Array.BYTES_PER_ELEMENT),
      ring,
      slots,
      slotSize: CHUNK_SIZE,
      spoolPath,
      mainMayHash,
      output: this.output,
    };
    const stream = new LayerStream(port1, spec);
    const channel: ChannelSpec = { port: port2, ...spec };
    const done = this.layers.run({ ...task, channel }, { transferList: [port2] }) as Promise<LayerDigest | undefined>;
    done.catch((err: unknown) => stream.fail(err));
    return { stream, done };
  }

  /** Positional mode: a layer's exact tar size (see build-layer.ts). */
  measureLayer(task: LayerTask): Promise<number> {
    return this.layers.run(task, { name: "measure" }) as Promise<number>;
  }

  /** Positional mode: write a layer into an open file at a known offset; resolves with its digest. */
  writeLayerAt(task: LayerTask, at: WriteAtSpec): Promise<LayerDigest> {
    return this.layers.run({ ...task, at }, { name: "writeAt" }) as Promise<LayerDigest>;
  }

  /** Compress one block (see CompressTask); resolves with the compressed length. */
  compress(codec: Codec, level: number, block: CompressBlock, length: number): Promise<number> {
    this.compressPool ??= newPool("compress-worker", this.workers);
    const task: CompressTask = { codec, level, input: block.input, length, output: block.output };
    return this.compressPool.run(task) as Promise<number>;
  }

  async destroy(): Promise<void> {
    await Promise.all([this.layerPool?.destroy(), this.compressPool?.destroy()]);
  }
}
