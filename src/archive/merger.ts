/**
 * The ordered merger: runs layer tasks on the pool and writes their bytes to the archive strictly
 * in plan order. Only the head layer is written; the layers after it (at most `lookahead` tasks
 * are submitted ahead of the head: the pool-queue knob) are produced at the same time, each into
 * a window of `window` chunks (the reorder-window knob) and beyond that into a spool file, so
 * memory stays bounded whatever the closure's size.
 */
import fs from "node:fs";
import path from "node:path";
import { StrataError } from "../errors.js";
import type { RunningLayer, WorkerPool } from "../pool/pool.js";
import type { LayerDigest, LayerTask } from "../pool/protocol.js";
import type { DockerArchiveWriter } from "./docker-archive.js";

export interface MergeOptions {
  /** Chunks (1 MiB) a layer that is not the head may hold in memory before it spools. */
  readonly window: number;
  /** Layer tasks submitted ahead of the head. */
  readonly lookahead: number;
  /** A private directory for spool files; removed by the caller. */
  readonly spoolDir: string;
  readonly signal?: AbortSignal | undefined;
  /** Member name of layer i in the archive. */
  readonly memberName: (index: number) => string;
  /** Called as each layer's bytes have all been written. */
  readonly onLayer?: ((index: number, digest: LayerDigest) => void) | undefined;
  /** Called as bytes are written, with the count just written. */
  readonly onBytes?: ((count: number) => void) | undefined;
}

export async function mergeLayers(
  tasks: readonly LayerTask[],
  pool: WorkerPool,
  archive: DockerArchiveWriter,
  opts: MergeOptions,
): Promise<LayerDigest[]> {
  const running: (RunningLayer | undefined)[] = [];
  let submitted = 0;
  const submit = (head: number): void => {
    while (submitted < tasks.length && submitted <= head + opts.lookahead) {
      const spool = path.join(opts.spoolDir, `layer-${submitted}.spool`);
      running[submitted] = pool.runLayer(tasks[submitted]!, opts.window, spool);
      submitted++;
    }
  };
  const abortAll = (): void => running.forEach((r) => r?.stream.abort());
  opts.signal?.addEventListener("abort", abortAll, { once: true });

  const digests: LayerDigest[] = [];
  try {
    for (let head = 0; head < tasks.length; head++) {
      opts.signal?.throwIfAborted();
      submit(head);
      const layer = running[head]!;
      layer.stream.makeHead();
      digests.push(await writeHead(head, layer, archive, opts));
      layer.stream.close();
      running[head] = undefined;
      opts.onLayer?.(head, digests[head]!);
    }
    return digests;
  } catch (err) {
    abortAll();
    // Wait for every submitted task to stop before the caller removes the spool directory.
    await Promise.allSettled(running.map((r) => r?.done));
    throw opts.signal?.aborted && !(err instanceof StrataError)
      ? new StrataError("E_ABORTED", "the build was cancelled", "nothing to do", { cause: err })
      : err;
  } finally {
    opts.signal?.removeEventListener("abort", abortAll);
    running.forEach((r) => r?.stream.close());
  }
}

async function writeHead(index: number, layer: RunningLayer, archive: DockerArchiveWriter, opts: MergeOptions): Promise<LayerDigest> {
  const first = await layer.stream.next();
  if (first.t !== "size") throw protocolError(index, first.t);
  const size = first.size;
  await archive.begin(opts.memberName(index), size);
  let written = 0;
  for (;;) {
    const m = await layer.stream.next();
    if (m.t === "data") {
      await archive.data(new Uint8Array(m.buf, 0, m.length));
      layer.stream.consumed();
      written += m.length;
      opts.onBytes?.(m.length);
    } else if (m.t === "spool") {
      await copySpool(m.path, m.length, archive, opts);
      written += m.length;
    } else if (m.t === "end") {
      if (written !== size || m.digest.size !== size) {
        throw new StrataError("E_INTERNAL", `layer ${index + 1} announced ${size} bytes but sent ${written}`, "this is a bug in strata; please report it");
      }
      await archive.end(size);
      await layer.done;
      return m.digest;
    } else {
      throw protocolError(index, m.t);
    }
  }
}

/** Write a spool file's bytes to the archive, then remove it. */
async function copySpool(file: string, length: number, archive: DockerArchiveWriter, opts: MergeOptions): Promise<void> {
  const handle = await fs.promises.open(file, "r");
  try {
    let left = length;
    while (left > 0) {
      // A fresh buffer per read: the archive (or a compression stage) may hold on to it.
      const buf = Buffer.allocUnsafeSlow(Math.min(left, 1 << 20));
      const { bytesRead } = await handle.read(buf, 0, buf.length, null);
      if (bytesRead === 0) throw new StrataError("E_INTERNAL", `spool file ${file} is shorter than announced`, "was the temp dir cleaned while strata ran?");
      await archive.data(buf.subarray(0, bytesRead));
      left -= bytesRead;
      opts.onBytes?.(bytesRead);
    }
  } finally {
    await handle.close();
    await fs.promises.rm(file, { force: true });
  }
}

function protocolError(index: number, got: string): StrataError {
  return new StrataError("E_INTERNAL", `layer ${index + 1}: unexpected '${got}' message from its worker`, "this is a bug in strata; please report it");
}
