/**
 * `strata export`: the flattened filesystem of an image as one tar (nixpkgs' exportImage,
 * without a VM), for any image strata reads.
 *
 * Why sorted records and not a temp dir: unpacking bottom-up into a directory would need root
 * (owners, devices) or a side table of them, and disk for the whole image; walking layers
 * top-down with a set of shadowed paths needs memory for every path. Instead each layer is read
 * once for its entries' metadata (not their bytes), the records are sorted by path on disk
 * (external sort, bounded memory), and one walk over the sorted records applies the layers path
 * by path; a second walk (only when there are hard links) first resolves what each link names.
 * Contents are then copied from the layer tars by offset, in output order.
 *
 * Output order, fixed: paths in tree order (a directory, then its contents, names compared by
 * UTF-16 code unit, i.e. bytewise for ASCII), the root `./` first if a layer names it.
 */
import fs from "node:fs";
import os from "node:os";
import type { Sink } from "../dest/byte-output.js";
import { openSink } from "../dest/open-sink.js";
import { StrataError, toStrataError } from "../errors.js";
import { openImage } from "../source/read-image.js";
import type { SourceImage } from "../source/types.js";
import { makeTempDir } from "../temp-dir.js";
import { applyLayers } from "./apply-layers.js";
import { mergeRuns, RunWriter } from "./external-sort.js";
import { scanLayerEntries } from "./scan-layers.js";
import { BLOCK, encodeHeader, padding } from "./tar-writer.js";

export interface ExportOptions {
  /** Where the image is unpacked and records are sorted. Default: the OS temp dir. */
  readonly tmpDir?: string;
  /** Which image of a multi-image input (a tag or OCI ref name); default the first. */
  readonly ref?: string;
  readonly signal?: AbortSignal;
  /** Opens the input; default openImage (docker-archive, OCI layout or archive). The seam for registries. */
  /** Records sorted in memory before a run goes to disk (default 65,536); small values test the merge. */
  readonly runRecords?: number;
  readonly open?: (input: string, opts: { tmpDir: string; ref?: string; signal?: AbortSignal }) => Promise<SourceImage>;
}

export interface ExportResult {
  /** Entries written. */
  readonly entries: number;
  /** Bytes of the tar written. */
  readonly bytes: number;
  readonly layers: number;
}

const CHUNK = 1 << 20;
const RECORD = 10240;

export async function exportImage(input: string, output: string | number | Sink, options: ExportOptions = {}): Promise<ExportResult> {
  const tmpDir = options.tmpDir ?? os.tmpdir();
  const signal = options.signal;
  const open = options.open ?? openImage;
  const image = await open(input, { tmpDir, ...(options.ref === undefined ? {} : { ref: options.ref }), ...(signal === undefined ? {} : { signal }) });
  const work = await makeTempDir(tmpDir, "strata-export-").catch(async (err: unknown) => {
    await image.cleanup();
    throw err;
  });
  let sink: Sink | undefined;
  const files: fs.promises.FileHandle[] = [];
  try {
    const runs = new RunWriter(work, "entries", options.runRecords);
    let hardLinks = 0;
    for (const [i, layer] of image.layers.entries()) {
      signal?.throwIfAborted();
      const r = await scanLayerEntries(layer.path, i, `layer ${i + 1} of ${image.layers.length} of ${input}`, runs, signal);
      hardLinks += r.hardLinks;
    }
    const entryRuns = await runs.finish();
    let allRuns = entryRuns;
    if (hardLinks > 0) {
      const answers = new RunWriter(work, "links", options.runRecords);
      for await (const _ of applyLayers(mergeRuns(entryRuns, work), "resolve", (r) => answers.add(r))) void _;
      allRuns = [...entryRuns, ...(await answers.finish())];
    }
    for (const layer of image.layers) files.push(await fs.promises.open(layer.path, "r"));
    sink = await openSink(output);
    const out = sink;
    let entries = 0;
    let offset = 0;
    const write = async (b: Uint8Array): Promise<void> => {
      offset += b.length;
      await out.write(b);
    };
    const buf = Buffer.allocUnsafe(CHUNK);
    for await (const e of applyLayers(mergeRuns(allRuns, work), "emit")) {
      signal?.throwIfAborted();
      const m = e.meta;
      const size = e.layer === undefined ? 0 : m.size;
      await write(encodeHeader({ ...m, name: e.name, size }));
      if (e.layer !== undefined) {
        await copyRange(files[e.layer]!, m.offset, size, buf, write, `${e.name} in layer ${e.layer + 1} of ${input}`);
        const pad = padding(size);
        if (pad > 0) await write(Buffer.alloc(pad));
      }
      entries++;
    }
    await write(Buffer.alloc(Math.ceil((offset + 2 * BLOCK) / RECORD) * RECORD - offset));
    signal?.throwIfAborted();
    await sink.commit();
    return { entries, bytes: sink.bytesWritten, layers: image.layers.length };
  } catch (err) {
    await sink?.abort().catch(() => undefined);
    throw toStrataError(err, input);
  } finally {
    await Promise.all(files.map((f) => f.close().catch(() => undefined)));
    await fs.promises.rm(work, { recursive: true, force: true });
    await image.cleanup();
  }
}

/**
 * `size` bytes at `offset` of a layer tar. The layer was verified against its diff_id and lives
 * in strata's private temp dir; a short read means it changed under us.
 */
async function copyRange(fh: fs.promises.FileHandle, offset: number, size: number, buf: Buffer, write: (b: Uint8Array) => Promise<void>, what: string): Promise<void> {
  let done = 0;
  while (done < size) {
    // A new buffer each time would be garbage; a sink's write() resolves once the bytes may be reused.
    const { bytesRead } = await fh.read(buf, 0, Math.min(CHUNK, size - done), offset + done);
    if (bytesRead === 0) {
      throw new StrataError("E_FILE_CHANGED", `${what}: expected ${size} bytes, the layer tar ended after ${done}`, "something else writes to strata's temp dir; run again");
    }
    await write(buf.subarray(0, bytesRead));
    done += bytesRead;
  }
}
