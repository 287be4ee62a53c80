/**
 * Whole-archive (or whole-blob) compression spread over the worker pool: bytes are cut into
 * COMPRESS_BLOCK blocks at fixed offsets, each block is compressed by a worker, and the results
 * are written in order. At most `inFlight` blocks are out at once (the backpressure knob of this
 * stage); the output bytes depend only on the input, the codec and the level.
 *
 * Memory is a fixed set of block pairs in shared memory (input block, output block) taken from a
 * CompressBlocks pool, which several stages may share (the OCI writer has one stage per layer
 * being written), and given back once written: the worker compresses straight from one into the
 * other, so no block is allocated, transferred or collected per block. (A fresh 4 MiB buffer per
 * block cost a page fault per 4 KiB and kept garbage alive until the next GC: measured, see
 * docs/benchmarks.md.)
 */
import type { Codec } from "./codecs.js";
import { COMPRESS_BLOCK, compressedBound } from "./codecs.js";
import type { ByteOutput } from "../dest/byte-output.js";

/** One reusable pair: the worker reads `input[0, length)` and writes the result to `output`. */
export interface CompressBlock {
  readonly input: SharedArrayBuffer;
  readonly output: SharedArrayBuffer;
}

/** Compress `input[0, length)` of `block` into its `output`; resolves with the compressed length. */
export type CompressFn = (codec: Codec, level: number, block: CompressBlock, length: number) => Promise<number>;

/**
 * Block pairs for one codec, made as needed up to `max` and reused. A stage holds at most one
 * pair it is filling plus those in flight; pairs in flight always come back (their results are
 * written, or dropped by discard()), so as long as `max` exceeds the number of stages filling at
 * once, every take() is served. fail() rejects whoever waits, for a build that stops.
 */
export class CompressBlocks {
  private readonly free: CompressBlock[] = [];
  private made = 0;
  private readonly waiting: { resolve: (b: CompressBlock) => void; reject: (err: unknown) => void }[] = [];
  private failure: unknown;

  constructor(private readonly codec: Codec, private readonly max: number) {}

  take(): Promise<CompressBlock> | CompressBlock {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    const b = this.free.pop();
    if (b !== undefined) return b;
    if (this.made < this.max) {
      this.made += 1;
      return { input: new SharedArrayBuffer(COMPRESS_BLOCK), output: new SharedArrayBuffer(compressedBound(this.codec, COMPRESS_BLOCK)) };
    }
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }

  give(block: CompressBlock): void {
    const w = this.waiting.shift();
    if (w !== undefined) w.resolve(block);
    else this.free.push(block);
  }

  fail(err: unknown): void {
    this.failure ??= err;
    for (const w of this.waiting.splice(0)) w.reject(err);
  }
}

export class CompressStage implements ByteOutput {
  private current: { block: CompressBlock; bytes: Uint8Array } | undefined;
  private pos = 0;
  private readonly queue: { block: CompressBlock; job: Promise<number> }[] = [];

  constructor(
    private readonly next: ByteOutput,
    private readonly compress: CompressFn,
    private readonly codec: Codec,
    private readonly level: number,
    private readonly inFlight: number,
    private readonly blocks: CompressBlocks = new CompressBlocks(codec, inFlight + 1),
  ) {}

  async write(bytes: Uint8Array): Promise<void> {
    let at = 0;
    while (at < bytes.length) {
      const cur = (this.current ??= await this.take());
      const n = Math.min(bytes.length - at, COMPRESS_BLOCK - this.pos);
      cur.bytes.set(bytes.subarray(at, at + n), this.pos);
      this.pos += n;
      at += n;
      if (this.pos === COMPRESS_BLOCK) await this.submit();
    }
  }

  /** Compress the last, partial block and write everything still in flight. */
  async finish(): Promise<void> {
    if (this.pos > 0) await this.submit();
    while (this.queue.length > 0) await this.writeOldest();
  }

  /**
   * Let go of blocks after a failure: results are ignored, and each pair goes back to the pool
   * once no worker writes into it any more.
   */
  discard(): void {
    if (this.current !== undefined) this.blocks.give(this.current.block);
    this.current = undefined;
    for (const { block, job } of this.queue.splice(0)) {
      job.then(() => this.blocks.give(block), () => this.blocks.give(block));
    }
  }

  private async take(): Promise<{ block: CompressBlock; bytes: Uint8Array }> {
    const block = await this.blocks.take();
    return { block, bytes: new Uint8Array(block.input) };
  }

  private async submit(): Promise<void> {
    const { block } = this.current!;
    const job = this.compress(this.codec, this.level, block, this.pos);
    job.catch(() => undefined); // handled when it is awaited in order
    this.queue.push({ block, job });
    this.current = undefined;
    this.pos = 0;
    while (this.queue.length >= this.inFlight) await this.writeOldest();
  }

  private async writeOldest(): Promise<void> {
    const { block, job } = this.queue.shift()!;
    const length = await job;
    // write() resolves once the bytes may be reused: then the pair is free again.
    await this.next.write(new Uint8Array(block.output, 0, length));
    this.blocks.give(block);
  }
}
