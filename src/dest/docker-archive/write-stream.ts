/**
 * Write one image as a docker-archive: layers through the worker pool and the ordered merger,
 * then the image config and manifest.json, through an optional compression stage, into a sink.
 * On any failure the sink is aborted (a file output is removed), spool files are removed, and
 * the error is re-thrown.
 */
import fs from "node:fs";
import os from "node:os";
import { asDigest, sha256Hex, type Digest } from "../../digest.js";
import { layersInFlight, runWrite } from "../../write/run-write.js";
import type { LayerDigest } from "../../layer/layer-task.js";
import type { ImageResult, ImageSpec, WriteOptions } from "../../image/image-spec.js";
import type { ByteOutput, Sink } from "../byte-output.js";
import { CompressStage } from "../../write/compress-stage.js";
import { OuterTarWriter, layerMemberName } from "../outer-tar.js";
import { manifestBytes, specConfigBytes } from "../../image/image-config.js";
import { mergeLayers } from "../../write/merger.js";
import { makeTempDir } from "../../temp-dir.js";
import { RING_SLOTS } from "../../pool/protocol.js";

export async function writeDockerArchive(spec: ImageSpec, sink: Sink, opts: WriteOptions): Promise<ImageResult> {
  let tmp: string | undefined;
  let stage: CompressStage | undefined;
  return runWrite(spec, opts, async (run) => {
    tmp = await makeTempDir(opts.tmpDir, "strata-");
    let out: ByteOutput = sink;
    if (opts.compress !== "none") {
      stage = new CompressStage(sink, (c, l, b, n) => run.pool.compress(c, l, b, n), opts.compress, opts.level, layersInFlight(opts.workers));
      out = stage;
    }
    const archive = new OuterTarWriter(out, spec.mtime);
    const digests = await mergeLayers(spec.layers.map((l) => ({ task: l.task, estimate: l.estimate ?? 0 })), run.pool, archive, {
      ringSlots: RING_SLOTS,
      rings: layersInFlight(opts.workers),
      workers: opts.workers,
      mainMayHash: opts.workers < os.availableParallelism(),
      longAhead: opts.compress === "none",
      spoolDir: tmp,
      signal: run.signal,
      memberName: layerMemberName,
      onLayer: (index, d) => run.emit({ type: "layer", index, layers: spec.layers.length, diffId: d.diffId as Digest, size: d.size }),
      onBytes: (bytes) => run.emit({ type: "bytes", bytes }),
    });
    const imageId = await finishArchive(archive, spec, digests);
    await stage?.finish();
    run.signal.throwIfAborted();
    await sink.commit();
    await removeTemp(tmp);
    return { imageId, layers: digests.map((d, i) => ({ ...d, paths: spec.layers[i]!.paths })), repoTags: spec.repoTags, bytes: sink.bytesWritten };
  }, async () => {
    stage?.discard();
    await sink.abort().catch(() => undefined);
    await removeTemp(tmp);
  });
}

async function removeTemp(dir: string | undefined): Promise<void> {
  if (dir !== undefined) await fs.promises.rm(dir, { recursive: true, force: true });
}

/**
 * The end of a docker-archive, after its layers: the image config (its digest is the image ID,
 * returned), manifest.json, and the end blocks.
 */
export async function finishArchive(archive: OuterTarWriter, spec: ImageSpec, digests: readonly LayerDigest[]): Promise<Digest> {
  const config = specConfigBytes(spec, digests.map((d) => d.diffId as Digest));
  const configHex = sha256Hex(config);
  const configName = `${configHex}.json`;
  await archive.member(configName, config);
  await archive.member("manifest.json", manifestBytes(configName, spec.repoTags, spec.layers.map((_, i) => layerMemberName(i))));
  await archive.finish();
  return asDigest(configHex);
}
