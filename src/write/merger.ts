/**
 * The ordered merger: runs layer tasks on the pool and writes their bytes to the archive strictly
 * in plan order. Only the head layer (the next in plan order) is written as it is produced; other
 * layers are produced at the same time into their ring (`ringSlots` MiB, the reorder-window knob)
 * and beyond that into a spool file, so memory stays bounded whatever the closure's size.
 *
 * Which layers run first: the head always; then any layer big enough to dominate the build (at
 * least 1/(2·workers) of the estimated total), largest first, so that a big layer at the end of the
 * plan (nixpkgs' popularity plan puts the bulk of a closure into its last layer) is read and hashed
 * while the small ones stream, instead of after them; then the rest in plan order, which keeps
 * what must be spooled small. When compressing, no long layer (one that may not fit its ring)
 * starts before its turn (`longAhead`): see layersToStart. At most `rings` layers are in flight
 * (the pool-queue knob); a ring is reused once its layer is written. The output never depends on
 * this order, only the speed.
 */
import path from "node:path";
import { CHUNK_SIZE } from "../layer/chunked-output.js";
import { StrataError } from "../errors.js";
import type { RunningLayer, WorkerPool } from "../pool/pool.js";
import type { LayerDigest, LayerTask } from "../layer/layer-task.js";
import type { OuterTarWriter } from "../dest/outer-tar.js";
import { drainLayer } from "./drain-layer.js";

export interface MergeOptions {
  /** Slots (1 MiB chunks) per layer ring: what a layer may hold in memory before it spools. */
  readonly ringSlots: number;
  /** Rings, so layers in flight at once. At least 2: the head and one more. */
  readonly rings: number;
  /** Worker threads: decides which layers are big enough to start early. */
  readonly workers: number;
  /**
   * Whether the main thread may hash a large layer that starts as the head (so that reading and
   * hashing it run on two cores). Worth it only when a core is left over for the main thread:
   * when the workers already fill every core, the main thread hashing bytes another core just
   * wrote costs more (cache misses) than it saves, measured 5% slower with -j 2 on 2 cores, and
   * 6% faster with -j 1 (docs/benchmarks.md).
   */
  readonly mainMayHash: boolean;
  /** A private directory for spool files; removed by the caller. */
  readonly spoolDir: string;
  readonly signal?: AbortSignal | undefined;
  /** Member name of layer i in the archive. */
  readonly memberName: (index: number) => string;
  /**
   * Whether layers that may not fit their ring start before their turn (and spool). Worth it
   * uncompressed: a big last layer read beside the small ones uses a core that would idle at the
   * end. Not when compressing: the compression blocks keep every core busy to the end anyway, and
   * spooling (writing a layer to the temp dir and reading it back) is only extra work; measured on
   * the 1 GB closure: zstd 3.87 -> 3.64 s (7.38 -> 6.92 core-s, 414 MB no longer spooled), gzip
   * 15.9 -> 15.3 s; uncompressed it is the other way round (1.15 -> 1.40 s).
   */
  readonly longAhead: boolean;
  /** Called as each layer's bytes have all been written. */
  readonly onLayer?: ((index: number, digest: LayerDigest) => void) | undefined;
  /** Called as bytes are written, with the count just written. */
  readonly onBytes?: ((count: number) => void) | undefined;
}

export interface MergeLayer {
  readonly task: LayerTask;
  /** Estimated size in bytes (the paths' narSize), to start the longest jobs first; 0 if unknown. */
  readonly estimate: number;
}

export async function mergeLayers(
  layers: readonly MergeLayer[],
  pool: WorkerPool,
  archive: OuterTarWriter,
  opts: MergeOptions,
): Promise<LayerDigest[]> {
  const running: (RunningLayer | undefined)[] = [];
  const ringOf: (SharedArrayBuffer | undefined)[] = [];
  const freeRings = Array.from({ length: Math.max(2, opts.rings) }, () => new SharedArrayBuffer(opts.ringSlots * CHUNK_SIZE));
  const estimates = layers.map((l) => l.estimate);
  const order = opts.longAhead ? startOrder(estimates, opts.workers) : estimates.map((_, i) => i);
  // A layer that may not fit its ring: started early, it would spool.
  const isLong = (i: number): boolean => estimates[i]! > (opts.ringSlots * CHUNK_SIZE) / 2;
  const started = new Set<number>();
  const start = (i: number): void => {
    const ring = freeRings.pop()!;
    ringOf[i] = ring;
    const r = pool.runLayer(layers[i]!.task, ring, path.join(opts.spoolDir, `layer-${i}.spool`), opts.mainMayHash);
    running[i] = r;
    started.add(i);
  };
  const schedule = (head: number): void => {
    for (const i of layersToStart(head, order, started, freeRings.length, opts.longAhead ? undefined : isLong)) start(i);
  };
  const abortAll = (): void => running.forEach((r) => r?.stream.abort());
  opts.signal?.addEventListener("abort", abortAll, { once: true });

  const digests: LayerDigest[] = [];
  let headNow = 0;
  const dump = process.env["STRATA_DEBUG_STATE"] === undefined ? undefined : setInterval(() => {
    process.stderr.write(`[state] head=${headNow} free rings=${freeRings.length}\n${running.map((r, i) => (r === undefined ? "" : `  layer ${i}: ${r.stream.debugState()}\n`)).join("")}`);
  }, 3000);
  dump?.unref();
  try {
    for (let head = 0; head < layers.length; head++) {
      headNow = head;
      opts.signal?.throwIfAborted();
      schedule(head);
      const layer = running[head]!;
      layer.stream.makeHead();
      digests.push(await writeHead(head, layer, archive, opts));
      layer.stream.close();
      running[head] = undefined;
      freeRings.push(ringOf[head]!);
      ringOf[head] = undefined;
      opts.onLayer?.(head, digests[head]!);
    }
    return digests;
  } catch (err) {
    abortAll();
    // Wait for every started task to stop before the caller removes the spool directory.
    await Promise.allSettled(running.map((r) => r?.done));
    throw opts.signal?.aborted && !(err instanceof StrataError)
      ? new StrataError("E_ABORTED", "the build was cancelled", "nothing to do", { cause: err })
      : err;
  } finally {
    if (dump !== undefined) clearInterval(dump);
    opts.signal?.removeEventListener("abort", abortAll);
    running.forEach((r) => r?.stream.close());
  }
}

/**
 * The layers to start now: the head if it has not started (a ring is always free for it: the
 * layers started before it are written, but for the few big ones startOrder puts first), then
 * along `order` while rings are free. With `isLong` given, `order` is the plan order and the list
 * ends at the first long layer: it starts when it is the head, and what is started stays a
 * prefix of the plan (which keeps a ring free for the head).
 */
export function layersToStart(head: number, order: readonly number[], started: ReadonlySet<number>, freeRings: number, isLong?: (i: number) => boolean): number[] {
  const start: number[] = [];
  let rings = freeRings;
  if (!started.has(head)) {
    if (rings === 0) throw new StrataError("E_INTERNAL", `no ring is free for layer ${head + 1}`, "this is a bug in strata; please report it");
    start.push(head);
    rings -= 1;
  }
  for (const i of order) {
    if (rings === 0) break;
    if (started.has(i) || i === head) continue;
    if (isLong?.(i) === true) break;
    start.push(i);
    rings -= 1;
  }
  return start;
}

/** The order layers are started in (after the head): dominant layers first, then plan order. */
export function startOrder(estimates: readonly number[], workers: number): number[] {
  const total = estimates.reduce((a, b) => a + b, 0);
  const big = (e: number): boolean => total > 0 && e >= total / (2 * workers);
  const early = estimates.map((e, i) => ({ e, i })).filter((x) => big(x.e)).sort((a, b) => b.e - a.e || a.i - b.i).map((x) => x.i);
  return [...early, ...estimates.map((_, i) => i).filter((i) => !big(estimates[i]!))];
}

async function writeHead(index: number, layer: RunningLayer, archive: OuterTarWriter, opts: MergeOptions): Promise<LayerDigest> {
  return drainLayer(`layer ${index + 1}`, layer, {
    begin: (size) => archive.begin(opts.memberName(index), size),
    data: (bytes) => archive.data(bytes),
    end: (size) => archive.end(size),
  }, opts.onBytes);
}

