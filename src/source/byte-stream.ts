/**
 * Small helpers over byte streams read with `for await`: peeking at a stream's head without
 * losing it, and reading a file's first bytes.
 */
import fs from "node:fs";

export interface Peeked {
  /** The first bytes (fewer when the stream is shorter). */
  readonly head: Buffer;
  /** The whole stream again, head included. */
  readonly body: AsyncIterable<Uint8Array>;
}

/** Read up to `n` head bytes of `source`, and give back a stream that replays them first. */
export async function peek(source: AsyncIterable<Uint8Array>, n: number): Promise<Peeked> {
  const it = source[Symbol.asyncIterator]();
  const buffered: Uint8Array[] = [];
  let have = 0;
  let done = false;
  while (have < n) {
    const r = await it.next();
    if (r.done === true) {
      done = true;
      break;
    }
    buffered.push(r.value);
    have += r.value.length;
  }
  const head = Buffer.concat(buffered).subarray(0, n);
  async function* replay(): AsyncGenerator<Uint8Array> {
    yield* buffered;
    if (done) return;
    for (;;) {
      const r = await it.next();
      if (r.done === true) return;
      yield r.value;
    }
  }
  return { head, body: replay() };
}

/** The first `n` bytes of a file (fewer if it is shorter). */
export async function readHead(file: string, n: number): Promise<Buffer> {
  const fh = await fs.promises.open(file, "r");
  try {
    const buf = Buffer.alloc(n);
    const { bytesRead } = await fh.read(buf, 0, n, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}
