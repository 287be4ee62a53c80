/**
 * Whole-archive compression spread over the worker pool: bytes are cut into COMPRESS_BLOCK blocks
 * at fixed offsets, each block is compressed by a worker, and the results are written in order.
 * At most `inFlight` blocks are out at once (the backpressure knob of this stage), so memory stays
 * bounded; the output bytes depend only on the input, the codec and the level.
 */
import type { Codec } from "./codecs.js";
import { COMPRESS_BLOCK } from "./codecs.js";
import type { ByteOutput } from "./byte-output.js";

export type CompressFn = (codec: Codec, level: number, block: ArrayBuffer, length: number) => Promise<ArrayBuffer>;

export class CompressStage implements ByteOutput {
  private block: Buffer = Buffer.allocUnsafeSlow(COMPRESS_BLOCK);
  private pos = 0;
  private readonly queue: Promise<ArrayBuffer>[] = [];

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
      const n = Math.min(bytes.length - at, COMPRESS_BLOCK - this.pos);
      this.block.set(bytes.subarray(at, at + n), this.pos);
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
    for (const p of this.queue.splice(0)) p.catch(() => undefined);
  }

  private async submit(): Promise<void> {
    const job = this.compress(this.codec, this.level, this.block.buffer as ArrayBuffer, this.pos);
    job.catch(() => undefined); // handled when it is awaited in order
    this.queue.push(job);
    this.block = Buffer.allocUnsafeSlow(COMPRESS_BLOCK);
    this.pos = 0;
    while (this.queue.length >= this.inFlight) await this.writeOldest();
  }

  private async writeOldest(): Promise<void> {
    const out = await this.queue.shift()!;
    await this.next.write(new Uint8Array(out));
  }
}
