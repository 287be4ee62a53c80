/**
 * Public options, in two stages: every option is optional and documented here with its default;
 * `resolveOutputOptions()` fills the defaults from one object and validates, naming the option in
 * every message.
 */
import os from "node:os";
import type { Sink } from "./archive/byte-output.js";
import { DEFAULT_LEVEL, LEVEL_RANGE, type Codec } from "./archive/codecs.js";
import type { ProgressEvent } from "./archive/write-image.js";
import { StrataError } from "./errors.js";

/** Options every image-writing call takes. */
export interface OutputOptions {
  /**
   * Where the image goes: a file path (written under a temp name, renamed when complete), an open
   * file descriptor (e.g. 1 for stdout), or a Sink. Default: stdout.
   */
  readonly output?: string | number | Sink;
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
  readonly compress: Codec | "none";
  readonly level: number;
  readonly workers: number;
  readonly tmpDir: string | undefined;
  readonly signal: AbortSignal | undefined;
  readonly onProgress: ((event: ProgressEvent) => void) | undefined;
}

export const OUTPUT_DEFAULTS = {
  output: 1,
  compress: "none",
  workers: os.availableParallelism(),
} as const;

export function resolveOutputOptions(o: OutputOptions): ResolvedOutputOptions {
  const compress = o.compress === "gz" ? "gzip" : (o.compress ?? OUTPUT_DEFAULTS.compress);
  if (!["none", "gzip", "zstd"].includes(compress)) {
    throw usage(`compress must be one of none, gz, zstd; got ${JSON.stringify(o.compress)}`, "use --compress none|gz|zstd");
  }
  let level = 0;
  if (compress !== "none") {
    const [lo, hi] = LEVEL_RANGE[compress as Codec];
    level = o.level ?? DEFAULT_LEVEL[compress as Codec];
    if (!Number.isInteger(level) || level < lo || level > hi) {
      throw usage(`level must be an integer from ${lo} to ${hi} for ${compress}, got ${o.level}`, `pick a level from ${lo} to ${hi}`);
    }
  } else if (o.level !== undefined) {
    throw usage(`level was given (${o.level}) but nothing is compressed`, "add --compress gz or --compress zstd, or drop --level");
  }
  const workers = o.workers ?? OUTPUT_DEFAULTS.workers;
  if (!Number.isInteger(workers) || workers < 1 || workers > 256) {
    throw usage(`workers must be an integer from 1 to 256, got ${o.workers}`, `the default is the number of cores (${OUTPUT_DEFAULTS.workers})`);
  }
  return {
    output: o.output ?? OUTPUT_DEFAULTS.output,
    compress: compress as Codec | "none",
    level,
    workers,
    tmpDir: o.tmpDir,
    signal: o.signal,
    onProgress: o.onProgress,
  };
}

export function usage(message: string, hint: string): StrataError {
  return new StrataError("E_USAGE", message, hint);
}
