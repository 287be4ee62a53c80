/**
 * The docker-archive written in place, for an uncompressed output file (`-o image.tar`): the same
 * bytes as the streaming writer (write-image.ts), made differently. Every layer's exact size is
 * measured first (the workers walk the layers in parallel), which fixes where every member of the
 * archive lies. Then each worker writes whole layers straight into the file at their offsets
 * (pwrite), largest first and in any order, hashing each as it goes; the main thread writes the
 * member headers, and the config, manifest and end of the archive once the digests are known.
 * No ring, no spool, no byte of a layer through the main thread (docs/benchmarks.md has what
 * that measured).
 *
 * A stream (stdout, a pipe) cannot be written out of order: it keeps the streaming writer.
 * Files on tmpfs are written in place too: streaming into them measured more CPU, and the slow
 * 4 GB `-o` on tmpfs came from the VM's memory, not this writer (docs/benchmarks.md, tmpfs).
 */
import fs from "node:fs";
import type { Digest } from "../../digest.js";
import { toStrataError } from "../../errors.js";
import { padded } from "../../layer/tar-header.js";
import { runWrite } from "../../write/run-write.js";
import type { LayerDigest } from "../../layer/layer-task.js";
import type { ByteOutput, Sink } from "../byte-output.js";
import { OuterTarWriter, layerMemberName, memberHeader } from "../outer-tar.js";
import { finishArchive } from "./write-stream.js";
import type { ImageResult, ImageSpec, WriteOptions } from "../../image/image-spec.js";

export type RandomAccessSink = Sink & { readonly randomAccess: NonNullable<Sink["randomAccess"]> };

export async function writePositionalDockerArchive(spec: ImageSpec, sink: RandomAccessSink, opts: WriteOptions): Promise<ImageResult> {
  const { fd, base } = sink.randomAccess;
  const abortWord = new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT);
  const progress = new SharedArrayBuffer(BigInt64Array.BYTES_PER_ELEMENT);
  const abort = (): void => {
    Atomics.store(new Int32Array(abortWord), 0, 1);
  };
  const writeAt = async (bytes: Uint8Array, position: number): Promise<void> => {
    let at = 0;
    while (at < bytes.length) {
      const bytesWritten = await pwrite(fd, bytes, at, bytes.length - at, base + position + at).catch((err: unknown) => {
        throw toStrataError(err, "writing the output");
      });
      at += bytesWritten;
    }
    sink.randomAccess.wrote(bytes.length);
  };
  return runWrite(spec, opts, async (run) => {
    const { pool, emit } = run;
    run.signal.addEventListener("abort", abort, { once: true });
    const sizes = await allOrAbort(spec.layers.map((l) => pool.measureLayer(l.task)), abort);
    run.signal.throwIfAborted();

    // Where everything goes: per layer its member header, its bytes, then padding to 512.
    let offset = 0;
    const dataAt: number[] = [];
    const small: Promise<void>[] = [];
    for (const [i, size] of sizes.entries()) {
      const header = memberHeader(layerMemberName(i), size, spec.mtime);
      small.push(writeAt(header, offset));
      dataAt.push(offset + header.length);
      offset += header.length + padded(size);
      if (padded(size) > size) small.push(writeAt(Buffer.alloc(padded(size) - size), offset - (padded(size) - size)));
    }
    // Every write settles before a failure is thrown: the sink then closes the descriptor.
    await allOrAbort(small, abort);

    // Largest first: the longest jobs start at once, and the small ones fill in around them.
    const order = sizes.map((size, i) => ({ size, i })).sort((a, b) => b.size - a.size || a.i - b.i).map((x) => x.i);
    const digests: LayerDigest[] = new Array<LayerDigest>(sizes.length);
    // Progress: the workers add up what they wrote in shared memory; report it every 100 ms.
    let reported = 0n;
    const report = (): void => {
      const now = Atomics.load(new BigInt64Array(progress), 0);
      if (now > reported) emit({ type: "bytes", bytes: Number(now - reported) });
      reported = now;
    };
    const ticker = setInterval(report, 100);
    try {
      await allOrAbort(order.map((i) => pool.writeLayerAt(spec.layers[i]!.task, { fd, offset: base + dataAt[i]!, size: sizes[i]!, abort: abortWord, progress }).then((d) => {
        digests[i] = d;
        sink.randomAccess.wrote(d.size);
        report();
        emit({ type: "layer", index: i, layers: sizes.length, diffId: d.diffId as Digest, size: d.size });
      })), abort);
    } finally {
      clearInterval(ticker);
    }
    run.signal.throwIfAborted();

    // The rest, in order, after the last layer.
    let tail = offset;
    const out: ByteOutput = {
      write: async (bytes) => {
        await writeAt(bytes, tail);
        tail += bytes.length;
      },
    };
    const imageId = await finishArchive(new OuterTarWriter(out, spec.mtime, offset), spec, digests);
    await sink.commit();
    return { imageId, layers: digests.map((d, i) => ({ ...d, paths: spec.layers[i]!.paths })), repoTags: spec.repoTags, bytes: sink.bytesWritten };
  }, async () => {
    abort();
    await sink.abort();
  });
}

/**
 * Every promise's value, in order; on the first failure, tell the rest to stop (`abort`) and wait
 * for all of them before throwing it, so that no worker still writes into a file being removed.
 */
async function allOrAbort<T>(jobs: Promise<T>[], abort: () => void): Promise<T[]> {
  let first: { err: unknown } | undefined;
  const settled = await Promise.allSettled(jobs.map((j) => j.catch((err: unknown) => {
    first ??= { err }; // the cause; the others then fail as cancelled
    abort();
    throw err;
  })));
  if (first !== undefined) throw first.err;
  return settled.map((s) => (s as PromiseFulfilledResult<T>).value);
}

function pwrite(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => fs.write(fd, buffer, offset, length, position, (err, n) => (err ? reject(err) : resolve(n))));
}
