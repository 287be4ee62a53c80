/**
 * Public options, in two stages: every option is optional and documented here with its default;
 * `resolveOutputOptions()` fills the defaults from one object and validates, naming the option in
 * every message.
 */
import fs from "node:fs";
import tty from "node:tty";
import type { Sink } from "./archive/byte-output.js";
import { DEFAULT_LEVEL, LEVEL_RANGE, type Codec } from "./archive/codecs.js";
import type { LayerCompression } from "./archive/oci-layout.js";
import { IMAGE_FORMATS, type ImageFormat } from "./archive/write-formats.js";
import type { ProgressEvent } from "./archive/write-image.js";
import { StrataError } from "./errors.js";
import { DEFAULT_WORKERS, workerCount } from "./pool/worker-count.js";

/** Options every image-writing call takes. */
export interface OutputOptions {
  /**
   * Where the image goes: a file path (written under a temp name, renamed when complete), an open
   * file descriptor (e.g. 1 for stdout), or a Sink. Default: stdout.
   */
  readonly output?: string | number | Sink;
  /**
   * Output format: "docker-archive" (default), "oci" (a layout directory: `output` must be its
   * path), "oci-archive", or "docker" (Docker 25's dual OCI + docker-archive layout).
   */
  readonly format?: ImageFormat;
  /** Per-layer compression for the OCI formats: "none", "gzip" (default for oci and oci-archive), "zstd". */
  readonly layerCompress?: "none" | "gzip" | "gz" | "zstd";
  /** Compress the whole archive: "none" (default), "gzip" (alias "gz") or "zstd". */
  readonly compress?: "none" | "gzip" | "gz" | "zstd";
  /** Compression level: gzip 1-9 (default 6), zstd 1-19 (default 3). */
  readonly level?: number;
  /** Worker threads per pool. Default: the number of cores. */
  readonly workers?: number;
  /** Directory for spool files. Default: the OS temp dir (TMPDIR). */
  readonly tmpDir?: string;
  /** Cancels the build; the output is removed. */
  readonly signal?: AbortSignal;
  /** Progress events, in order. */
  readonly onProgress?: (event: ProgressEvent) => void;
}

export interface ResolvedOutputOptions {
  readonly output: string | number | Sink;
  readonly format: ImageFormat;
  readonly layerCompress: LayerCompression;
  readonly layerLevel: number;
  readonly compress: Codec | "none";
  readonly level: number;
  readonly workers: number;
  readonly tmpDir: string | undefined;
  readonly signal: AbortSignal | undefined;
  readonly onProgress: ((event: ProgressEvent) => void) | undefined;
}

export const OUTPUT_DEFAULTS = {
  output: 1,
  compress: "none" as const,
  workers: DEFAULT_WORKERS,
} as const;

export function resolveOutputOptions(o: OutputOptions): ResolvedOutputOptions {
  const format = o.format ?? "docker-archive";
  if (!IMAGE_FORMATS.includes(format)) {
    throw usage(`format must be one of ${IMAGE_FORMATS.join(", ")}; got ${JSON.stringify(o.format)}`, "use --format docker-archive|oci|oci-archive|docker");
  }
  const compress = codec(o.compress, "compress") ?? OUTPUT_DEFAULTS.compress;
  const isOci = format !== "docker-archive";
  const layerCompress = codec(o.layerCompress, "layerCompress") ?? (format === "oci" || format === "oci-archive" ? "gzip" : "none");
  if (!isOci && o.layerCompress !== undefined && layerCompress !== "none") {
    throw usage(`layerCompress (${o.layerCompress}) needs an OCI format: a docker-archive's layers are uncompressed tars`, "add --format oci, oci-archive or docker, or use --compress for the whole archive");
  }
  if (format === "oci" && typeof o.output !== "string") {
    throw usage("format oci writes a layout directory: output must be its path", "give -o DIR");
  }
  if (format === "oci" && compress !== "none") {
    throw usage("compress applies to archive streams, not to an OCI layout directory", "use --layer-compress for the layout's layers");
  }
  if (o.level !== undefined && compress === "none" && layerCompress === "none") {
    throw usage(`level was given (${o.level}) but nothing is compressed`, "add --compress gz|zstd (or --layer-compress with an OCI format), or drop --level");
  }
  const level = levelFor(compress, o.level);
  const layerLevel = levelFor(layerCompress, o.level);
  const workers = workerCount(o.workers);
  if (o.tmpDir !== undefined && !isDirectory(o.tmpDir)) {
    // Checked here, whether or not this build ends up spooling: a wrong path is wrong either way.
    throw usage(`tmp-dir ${o.tmpDir} is not an existing directory`, "give a directory that exists, e.g. --tmp-dir /var/tmp");
  }
  const output = o.output ?? OUTPUT_DEFAULTS.output;
  // 25 MB of tar on a screen is never what was meant; the CLI refuses the same way.
  if (typeof output === "number" && tty.isatty(output)) {
    throw usage(`output is a terminal (file descriptor ${output}): an image archive would be written to it`, "give output a file path, or redirect or pipe the output (e.g. | podman load)");
  }
  return {
    output,
    format,
    layerCompress,
    layerLevel,
    compress,
    level,
    workers,
    tmpDir: o.tmpDir,
    signal: o.signal,
    onProgress: o.onProgress,
  };
}

function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function codec(value: string | undefined, what: string): LayerCompression | undefined {
  if (value === undefined) return undefined;
  const c = value === "gz" ? "gzip" : value;
  if (c !== "none" && c !== "gzip" && c !== "zstd") {
    throw usage(`${what} must be one of none, gz, zstd; got ${JSON.stringify(value)}`, `use --${what === "compress" ? "compress" : "layer-compress"} none|gz|zstd`);
  }
  return c;
}

/** The level for a codec: the given one (checked against the codec's range) or its default. */
function levelFor(c: LayerCompression, level: number | undefined): number {
  if (c === "none") return 0;
  const [lo, hi] = LEVEL_RANGE[c];
  const v = level ?? DEFAULT_LEVEL[c];
  if (!Number.isInteger(v) || v < lo || v > hi) {
    throw usage(`level must be an integer from ${lo} to ${hi} for ${c}, got ${level}`, `pick a level from ${lo} to ${hi}`);
  }
  return v;
}

export function usage(message: string, hint: string): StrataError {
  return new StrataError("E_USAGE", message, hint);
}
