/**
 * The typed protocol between the main thread and the piscina workers.
 *
 * A layer task streams its tar to the main thread through a ring of fixed-size slots in shared
 * memory (no copies, no allocation, no message per chunk); the main thread's merger forwards the
 * slots of the head layer (the next one in plan order) to the output as they fill. Every layer's
 * size is known before its first byte (planning reads only metadata), so nothing waits for a
 * digest: the outer archive names layers by position and the digests go into the image config,
 * written after the last layer.
 *
 * Control words (Int32Array over `control`):
 * - `WRITTEN` counts slots the worker has filled, `READ` slots the main thread has written out;
 * - `HEAD` is 1 once the layer is the head of the output;
 * - `ABORT` is 1 when the build is cancelled;
 * - `WAITING` is 1 while the main thread has nothing to read and waits for a `wake` message
 *   (so a busy stream costs no message per chunk, and an idle one no polling);
 * - `POSTED` counts positional messages posted. A message can arrive after slots written later
 *   are visible (ring writes are instant, messages are not), so the main thread takes no slot
 *   while a positional message is on its way: it may have to come first.
 * - then one length word per slot.
 *
 * When the ring is full the worker blocks (head layer: the output is the bottleneck, waiting is
 * right). A layer that is not the head yet spools further chunks to a temp file, but only while
 * the output starves (the merger waits for the head's bytes: the pool-wide `output` word
 * OUT_STARVING, see below); while the output is busy, spooling would only burn CPU and temp space
 * the writer (or the compressor behind it) needs, so the worker sleeps until the layer becomes
 * the head or the output starves. Memory stays bounded either way. When a spooling layer becomes
 * the head, the worker hands the spool file over (a `spool` message) and goes back to the ring.
 *
 * Port messages carry the ring position they follow (`at`), so the main thread can put them in
 * order with the slots.
 */
import type { MessagePort } from "node:worker_threads";
import type { LayerDigest } from "../layer/layer-task.js";

/**
 * Slots per layer ring (of CHUNK_SIZE, 1 MiB each): what a layer holds in memory before it waits
 * or spools. Measured on a 1 GB closure: larger rings did not make builds faster, they only spool
 * less (`| cat` with 4, 8, 32 slots: 1.43, 1.32, 1.32 s).
 */
export const RING_SLOTS = 8;

export const CTL_WRITTEN = 0;
export const CTL_READ = 1;
export const CTL_HEAD = 2;
export const CTL_ABORT = 3;
/** 1 while the main thread waits for a slot: the worker then posts a `wake` after filling one. */
export const CTL_WAITING = 4;
/** Positional messages (`spool`, `end`) posted so far; bumped before the message is posted. */
export const CTL_POSTED = 5;
/** Pool-wide output state (Int32Array over ChannelSpec.output): 1 while the merger waits for bytes. */
export const OUT_STARVING = 0;
export const OUT_WORDS = 1;
/** Index of slot i's length word. */
export const ctlSlotLength = (slot: number): number => 6 + slot;
export const ctlWords = (slots: number): number => 6 + slots;

/** What the main thread tells a layer task about its output channel. */
export interface ChannelSpec {
  readonly port: MessagePort;
  readonly control: SharedArrayBuffer;
  /** `slots` slots of `slotSize` bytes. */
  readonly ring: SharedArrayBuffer;
  readonly slots: number;
  readonly slotSize: number;
  /** Temp file to spool to, if the ring fills before the layer is the head. */
  readonly spoolPath: string;
  /** Whether the worker may leave hashing a large head layer to the main thread. */
  readonly mainMayHash: boolean;
  /** Shared by every layer of the pool: OUT_WORDS words (OUT_STARVING). */
  readonly output: SharedArrayBuffer;
}

/**
 * Where a positional layer task writes (see build-layer.ts, writeLayerAt): `size` bytes into the
 * open file `fd` (the process's descriptor, shared by every thread) from `offset` on. `abort`
 * holds one Int32 word, 1 once the build is cancelled; `progress` one BigInt64 word that every
 * task adds its written bytes to (the main thread reports it).
 */
export interface WriteAtSpec {
  readonly fd: number;
  readonly offset: number;
  readonly size: number;
  readonly abort: SharedArrayBuffer;
  readonly progress: SharedArrayBuffer;
}

export type LayerMessage =
  /** First message: the layer's exact size; `mainHashes` when the worker leaves hashing to the
   * main thread (a large layer that is the head already: reading and hashing then run on two cores). */
  | { readonly t: "size"; readonly size: number; readonly mainHashes: boolean }
  /** The next `length` bytes are in a spool file, after ring slot `at`. */
  | { readonly t: "spool"; readonly at: number; readonly path: string; readonly length: number }
  /** The layer ends after ring slot `at`; `digest` unless the main thread hashes. */
  | { readonly t: "end"; readonly at: number; readonly digest: LayerDigest | undefined }
  /** A slot was filled while the main thread was waiting. */
  | { readonly t: "wake" };

/**
 * A block to compress: `input[0, length)` becomes one self-contained gzip member / zstd frame at
 * the start of `output`; the task returns its length. Both buffers are shared and reused.
 */
export interface CompressTask {
  readonly codec: "gzip" | "zstd";
  readonly level: number;
  readonly input: SharedArrayBuffer;
  readonly length: number;
  readonly output: SharedArrayBuffer;
}
