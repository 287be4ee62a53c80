/**
 * The one lifecycle every writer runs in: it owns the worker pool, fans an abort out (the
 * caller's signal, or the first failure) to everything in flight, emits the `start` and `done`
 * events, and on failure lets the destination throw away what it wrote before the error is
 * re-thrown. The docker-archive writers (streamed and in place) and the blob-store writer
 * (OCI layouts, registries) differ only in the body they run inside it.
 */
import { StrataError, toStrataError } from "../errors.js";
import type { ImageResult, ImageSpec, ProgressEvent } from "../image/image-spec.js";
import { WorkerPool } from "../pool/pool.js";

export interface WriteRun {
  readonly pool: WorkerPool;
  /** Aborted when the caller's signal is, or by the first failure: stop everything in flight. */
  readonly signal: AbortSignal;
  readonly emit: (event: ProgressEvent) => void;
  /** Stop the whole run because of `err` (the first one wins; later ones are its consequences). */
  fail(err: unknown): void;
}

export interface RunOptions {
  readonly workers: number;
  readonly signal?: AbortSignal | undefined;
  readonly onProgress?: ((event: ProgressEvent) => void) | undefined;
}

/**
 * Layers in flight at once (rings taken by the merger, lanes of the blob writer): two per worker,
 * so a worker always has its next layer queued, plus the head. Measured on a 1 GB closure: more
 * did not make builds faster, fewer left workers idle (docs/benchmarks.md).
 */
export function layersInFlight(workers: number): number {
  return 2 * workers + 1;
}

export async function runWrite(spec: ImageSpec, opts: RunOptions, body: (run: WriteRun) => Promise<ImageResult>, discard: () => Promise<void>): Promise<ImageResult> {
  const controller = new AbortController();
  const onAbort = (): void => controller.abort(opts.signal?.reason ?? new StrataError("E_ABORTED", "the build was cancelled", "nothing to do"));
  if (opts.signal?.aborted === true) onAbort();
  opts.signal?.addEventListener("abort", onAbort, { once: true });
  const emit = opts.onProgress ?? (() => undefined);
  const pool = new WorkerPool(opts.workers);
  const run: WriteRun = { pool, signal: controller.signal, emit, fail: (err) => controller.abort(err) };
  try {
    controller.signal.throwIfAborted();
    emit({ type: "start", layers: spec.layers.length });
    const result = await body(run);
    controller.signal.throwIfAborted();
    emit({ type: "done", imageId: result.imageId, bytes: result.bytes });
    return result;
  } catch (err) {
    // The first failure is the cause; whatever failed after it failed because of it.
    const cause = controller.signal.aborted ? (controller.signal.reason ?? err) : err;
    controller.abort(cause);
    await discard().catch(() => undefined);
    throw toStrataError(cause);
  } finally {
    opts.signal?.removeEventListener("abort", onAbort);
    await pool.destroy().catch(() => undefined);
  }
}
