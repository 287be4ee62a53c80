/**
 * One pass over a layer blob: its digest and size as stored, decompression (gzip or zstd, told by
 * magic), the digest and size of the uncompressed tar (its diff_id), and optionally a copy of the
 * uncompressed tar in a file and a listing (entry count, the /nix/store paths it holds). Bytes
 * stream through; a layer is never held in memory.
 *
 * The uncompressed bytes are parsed as a tar while they stream, whatever the caller asked for, so
 * that a blob that cannot be the layer its diff_id names stops at once instead of after it has
 * been written out in full: data that is not a tar stops at its first header, and a layer is
 * refused once it is bigger than LIMITS.maxLayerBytes or runs on more than LIMITS.maxTarTrailer
 * bytes past its last entry (a gzip of zeros, 1000:1).
 */
import fs from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { extract as tarExtract, type Extract } from "tar-stream";
import { asDigest, sha256, type Digest } from "../digest.js";
import { StrataError } from "../errors.js";
import { peek } from "./byte-stream.js";
import { compressionOf, decompressor, SNIFF_BYTES } from "./compression.js";
import { LIMITS } from "./limits.js";
import { tempWriteError } from "./temp-write.js";
import type { Compression } from "./types.js";

export interface LayerScan {
  /** How the blob is stored. */
  readonly compression: Compression;
  /** sha256 of the blob as stored (the OCI descriptor digest; the diff_id when uncompressed). */
  readonly blobDigest: Digest;
  readonly blobSize: number;
  /** sha256 of the uncompressed tar. */
  readonly diffId: Digest;
  /** Bytes of the uncompressed tar. */
  readonly size: number;
  /** With `list`: entries in the tar (PAX and GNU long-name headers not counted). */
  readonly entries?: number;
  /** With `list`: `/nix/store/<name>` of every entry at or below one, sorted, once each. */
  readonly storePaths?: readonly string[];
}

export interface ScanOptions {
  /** Names the blob in messages: `layer 2 (blobs/sha256/ab…) of base.tar`. */
  readonly what: string;
  /** Write the uncompressed tar here (created, never overwritten). */
  readonly toFile?: string;
  /** The temp dir `toFile` is in, named when the disk is full. */
  readonly tempDir?: string;
  /** Parse the tar: count entries and collect store paths. */
  readonly list?: boolean;
  readonly signal?: AbortSignal;
}

export async function scanLayer(source: AsyncIterable<Uint8Array>, opts: ScanOptions): Promise<LayerScan> {
  const { head, body } = await peek(source, SNIFF_BYTES);
  const compression = compressionOf(head, opts.what);
  const blob = sha256();
  let blobSize = 0;
  async function* counted(): AsyncGenerator<Uint8Array> {
    for await (const chunk of body) {
      blob.update(chunk);
      blobSize += chunk.length;
      yield chunk;
    }
  }
  const tar = sha256();
  let size = 0;
  let out: fs.promises.FileHandle | undefined;
  try {
    out = opts.toFile === undefined ? undefined : await fs.promises.open(opts.toFile, "wx", 0o600);
  } catch (err) {
    throw tempWriteError(err, opts.tempDir ?? path.dirname(opts.toFile!), opts.what);
  }
  const lister = new TarLister();
  /**
   * What made the consumer stop. pipeline() rejects with an AbortError when its last stage throws
   * (it destroys the stages before it, and reports that), which would pass for a cancelled build.
   */
  let stopped: unknown;
  const consume = async (stream: AsyncIterable<Uint8Array>): Promise<void> => {
    try {
      await consumeAll(stream);
    } catch (err) {
      stopped ??= err;
      throw err;
    }
  };
  const consumeAll = async (stream: AsyncIterable<Uint8Array>): Promise<void> => {
    for await (const chunk of stream) {
      tar.update(chunk);
      size += chunk.length;
      if (size > LIMITS.maxLayerBytes) {
        throw new StrataError("E_CLOSURE_INPUT", `${opts.what}: expected an uncompressed layer of at most ${LIMITS.maxLayerBytes} bytes, found more`,
          "this is not a layer strata takes; check where the image comes from");
      }
      // Checked before the bytes are written: they are written only while they may be a layer.
      await lister.write(chunk);
      if (out !== undefined) {
        try {
          await out.write(chunk);
        } catch (err) {
          throw tempWriteError(err, opts.tempDir ?? path.dirname(opts.toFile!), opts.what);
        }
      }
    }
    await lister.end();
  };
  try {
    const input = Readable.from(counted(), { objectMode: false });
    const inflate = decompressor(compression);
    const signal = opts.signal === undefined ? {} : { signal: opts.signal };
    if (inflate === undefined) await pipeline(input, consume, signal);
    else await pipeline(input, inflate, consume, signal);
  } catch (err) {
    throw describeError(opts.signal?.aborted === true ? err : stopped ?? err, opts.what, compression);
  } finally {
    await out?.close();
  }
  return {
    compression,
    blobDigest: asDigest(blob.hex()),
    blobSize,
    diffId: asDigest(tar.hex()),
    size,
    ...(opts.list === true ? { entries: lister.entries, storePaths: [...lister.storePaths].sort() } : {}),
  };
}

function describeError(err: unknown, what: string, compression: Compression): unknown {
  if (err instanceof StrataError || (err as { name?: unknown } | null)?.name === "AbortError") return err;
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof TarListError) {
    return new StrataError("E_CLOSURE_INPUT", `${what}: expected a tar, found unreadable tar data (${message})`,
      "the layer is corrupt; re-create the image", { cause: err });
  }
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === "string" && /^(E[A-Z]+)$/.test(code) && code !== "EPIPE") {
    // A system error (ENOSPC, EIO, ...) writing the temp copy or reading the source.
    return err;
  }
  if (compression === "none") return err;
  return new StrataError("E_CLOSURE_INPUT", `${what}: expected ${compression} data, found it corrupt or truncated (${message})`,
    "the blob is damaged; re-create or re-download the image", { cause: err });
}

class TarListError extends Error {}

/**
 * What the parser may not have looked at yet when a write returns: the chunk just written (at
 * most 1 MiB from a file, 256 KiB from gunzip) and tar-stream's 16 KiB write buffer. The trailer
 * is only refused when it is longer than LIMITS.maxTarTrailer whatever the parser's lag.
 */
const PARSE_LAG = (1 << 20) + (64 << 10);

/**
 * Parses a tar fed in chunks with tar-stream, counting entries and collecting store paths, and
 * refuses a stream that goes on long after its last entry (tar-stream skips zero blocks, so an
 * endless run of them would otherwise be read to its end).
 */
class TarLister {
  entries = 0;
  readonly storePaths = new Set<string>();
  private readonly extract: Extract = tarExtract();
  private error: Error | undefined;
  /** Bytes written. */
  private fed = 0;
  /** Where the last entry seen ends (its header, data and padding). */
  private lastEnd = 0;

  constructor() {
    this.extract.on("error", (err: Error) => {
      this.error ??= err;
    });
    this.extract.on("entry", (header, stream, next) => {
      this.entries++;
      const data = header.type === "directory" ? 0 : Math.max(0, header.size ?? 0);
      this.lastEnd = (header as { byteOffset?: number }).byteOffset ?? this.lastEnd;
      this.lastEnd += Math.ceil(data / 512) * 512;
      const storePath = storePathOf(header.name);
      if (storePath !== undefined) this.storePaths.add(storePath);
      stream.on("end", () => next());
      stream.resume();
    });
  }

  async write(chunk: Uint8Array): Promise<void> {
    this.check();
    this.fed += chunk.length;
    if (this.fed - this.lastEnd > LIMITS.maxTarTrailer + PARSE_LAG) {
      throw new TarListError(`more than ${LIMITS.maxTarTrailer} bytes after the tar's last entry`);
    }
    if (this.extract.write(chunk)) return;
    await this.until("drain");
  }

  async end(): Promise<void> {
    this.check();
    // Typed as a Node Writable; tar-stream's streamx end() takes no argument.
    await this.until("finish", () => (this.extract as unknown as { end(): void }).end());
  }

  /** Resolves on `event`, rejects on an error (also one already seen); runs `action` once listening. */
  private until(event: "drain" | "finish", action?: () => void): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => {
        this.extract.off(event, onEvent);
        reject(new TarListError(err.message));
      };
      const onEvent = (): void => {
        this.extract.off("error", onError);
        resolve();
      };
      this.extract.once(event, onEvent);
      this.extract.once("error", onError);
      action?.();
      if (this.error !== undefined) onError(this.error);
    });
  }

  private check(): void {
    if (this.error !== undefined) throw new TarListError(this.error.message);
  }
}

/**
 * `/nix/store/<name>` when a layer entry is at or below a store path: its name, with a leading
 * `/` or `./` stripped, is `nix/store/<name>` or below.
 */
export function storePathOf(entryName: string): string | undefined {
  let name = entryName;
  if (name.startsWith("./")) name = name.slice(2);
  else if (name.startsWith("/")) name = name.slice(1);
  if (!name.startsWith("nix/store/")) return undefined;
  const first = name.slice("nix/store/".length).split("/")[0];
  return first === undefined || first === "" || first === "." || first === ".." ? undefined : `/nix/store/${first}`;
}
