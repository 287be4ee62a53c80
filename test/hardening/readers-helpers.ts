/**
 * Helpers of the reader hardening tests: lowering one of LIMITS for a test (so inputs need not be
 * built at the real size), and writing big zero-filled layers through the zstd CLI without
 * holding them in memory or on disk.
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { once } from "node:events";
import { pack as tarPack } from "tar-stream";
import { LIMITS } from "../../src/source/limits.js";

/** Runs `fn` with one of LIMITS set to `value`, restored after. */
export async function withLimit<T>(key: keyof typeof LIMITS, value: number, fn: () => Promise<T>): Promise<T> {
  const limits = LIMITS as { -readonly [K in keyof typeof LIMITS]: number };
  const before = limits[key];
  limits[key] = value;
  try {
    return await fn();
  } finally {
    limits[key] = before;
  }
}

export type Write = (chunk: Buffer) => Promise<void>;

/** A tar holding one file `name` of `size` zero bytes, written to `write` in 1 MiB chunks. */
export async function zeroTar(size: number, write: Write, name = "zeros"): Promise<void> {
  await packTo(write, [{ name, size, zeros: true }]);
}

interface PackEntry {
  readonly name: string;
  readonly size: number;
  /** `size` zero bytes, or the bytes `produce` writes (exactly `size` of them). */
  readonly zeros?: boolean;
  readonly produce?: (write: Write) => Promise<void>;
  readonly content?: Buffer;
}

/** A tar of `entries` streamed to `write`, with backpressure all the way. */
export async function packTo(write: Write, entries: readonly PackEntry[]): Promise<void> {
  const pack = tarPack();
  const drained = (async () => {
    for await (const chunk of pack) await write(chunk as Buffer);
  })();
  const zero = Buffer.alloc(1 << 20);
  for (const e of entries) {
    const header = { name: e.name, size: e.size, mode: 0o644, mtime: new Date(1000), uid: 0, gid: 0 };
    if (e.content !== undefined) {
      await new Promise<void>((resolve, reject) => pack.entry(header, e.content, (err) => (err ? reject(err) : resolve())));
      continue;
    }
    let done: Promise<void> = Promise.resolve();
    const entry = pack.entry(header, (err) => {
      if (err) done = Promise.reject(err);
    });
    const put: Write = async (chunk) => {
      if (!entry.write(chunk)) await once(entry, "drain");
    };
    if (e.zeros === true) for (let left = e.size; left > 0; left -= zero.length) await put(zero.subarray(0, Math.min(left, zero.length)));
    else await e.produce!(put);
    entry.end();
    await once(entry, "finish");
    await done;
  }
  pack.finalize();
  await drained;
}

/** Runs `produce` into `zstd -3` writing `file`; returns the sha256 hex and size of what was produced. */
export async function zstdTo(file: string, produce: (write: Write) => Promise<void>): Promise<{ sha256: string; size: number }> {
  const child = spawn("zstd", ["-q", "-3", "-T1", "-f", "-o", file], { stdio: ["pipe", "inherit", "inherit"] });
  const exited = once(child, "exit");
  const hash = createHash("sha256");
  let size = 0;
  await produce(async (chunk) => {
    hash.update(chunk);
    size += chunk.length;
    if (!child.stdin.write(chunk)) await once(child.stdin, "drain");
  });
  child.stdin.end();
  const [code] = await exited;
  if (code !== 0) throw new Error(`zstd exited ${String(code)}`);
  return { sha256: hash.digest("hex"), size };
}
