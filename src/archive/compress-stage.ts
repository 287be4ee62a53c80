/**
 * Whole-archive (or whole-blob) compression spread over the worker pool: bytes are cut into
 * COMPRESS_BLOCK blocks at fixed offsets, each block is compressed by a worker, and the results
 * are written in order. At most `inFlight` blocks are out at once (the backpressure knob of this
 * stage); the output bytes depend only on the input, the codec and the level.
 *
 * Memory is a fixed set of block pairs in shared memory (input block, output block), allocated as
 * needed up to `inFlight + 1` and reused: the worker compresses straight from one into the other,
 * so no block is allocated, transferred or collected per block. (A fresh 4 MiB buffer per block
 * cost a page fault per 4 KiB and kept garbage alive until the next GC: measured, see
 * docs/benchmarks.md.)
 */
import type { Codec } from "./codecs.js";
import { COMPRESS_BLOCK, compressedBound } from "./codecs.js";
import type { ByteOutput } from "./byte-output.js";

/** One reusable pair: the worker reads `input[0, length)` and writes the result to `output`. */
export interface CompressBlock {
  readonly input: SharedArrayBuffer;
  readonly output: SharedArrayBuffer;
}

/** Compress `input[0, length)` of `block` into its `output`; resolves with the compressed length. */
export type CompressFn = (codec: Codec, level: number, block: CompressBlock, length: number) => Promise<number>;

export class CompressStage implements ByteOutput {
  private readonly free: CompressBlock[] = [];
  private allocated = 0;
  private current: { block: CompressBlock; bytes: Uint8Array } | undefined;
  private pos = 0;
  private readonly queue: { block: CompressBlock; job: Promise<number> }[] = [];

  constructor(
    private readonly next: ByteOutput,
    private readonly compress: CompressFn,
    private readonly codec: Codec,
    private readonly level: number,
    private readonly inFlight: number,
  ) {}

  async write(bytes: Uint8Array): Promise<void> {
    let at = 0;
    while (at < bytes.length) {
      const cur = (this.current ??= this.take());
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

  /** Let go of blocks in flight after a failure (their results are ignored). */
  discard(): void {
    for (const { job } of this.queue.splice(0)) job.catch(() => undefined);
  }

  private take(): { block: CompressBlock; bytes: Uint8Array } {
    let block = this.free.pop();
    if (block === undefined) {
      block = { input: new SharedArrayBuffer(COMPRESS_BLOCK), output: new SharedArrayBuffer(compressedBound(this.codec, COMPRESS_BLOCK)) };
      this.allocated += 1;
    }
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
    this.free.push(block);
  }
}
