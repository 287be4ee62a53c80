/**
 * Copy a file of known size into an output, in 1 MiB reads into one reused buffer (`write`
 * resolves once the bytes may be reused, as ByteOutput.write does). The size is checked as the
 * bytes go: a file shorter or longer than announced fails with the caller's error, never as a
 * member cut short or run over (each caller knows what a wrong size means: a bug, a changed file).
 */
import fs from "node:fs";

const CHUNK = 1 << 20;

/**
 * Exactly `size` bytes of `file` to `write`. `wrongSize(found)` makes the error for a file of
 * `found` bytes (for a longer file, its size when that was seen).
 */
export async function copyFileBytes(file: string, size: number, write: (bytes: Buffer) => Promise<void>, wrongSize: (found: number) => Error): Promise<void> {
  // Never through a link: every file copied is strata's own temp file or an input already checked.
  const handle = await fs.promises.open(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  try {
    const buf = Buffer.allocUnsafe(Math.min(size + 1, CHUNK));
    let done = 0;
    for (;;) {
      // One byte more than is left: a longer file shows here instead of being cut silently.
      const { bytesRead } = await handle.read(buf, 0, Math.min(buf.length, size - done + 1), done);
      if (bytesRead === 0) break;
      if (done + bytesRead > size) throw wrongSize(Math.max((await handle.stat()).size, done + bytesRead));
      await write(buf.subarray(0, bytesRead));
      done += bytesRead;
    }
    if (done !== size) throw wrongSize(done);
  } finally {
    await handle.close();
  }
}
