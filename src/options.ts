/**
 * Public options, in two stages: every option is optional and documented here with its default;
 * `resolveOutputOptions()` fills the defaults from one object and validates, naming the option in
 * every message.
 */
import fs from "node:fs";
import tty from "node:tty";
import type { Sink } from "./dest/byte-output.js";
import { DEFAULT_LEVEL, LEVEL_RANGE, type Codec } from "./write/codecs.js";
import type { LayerCompression } from "./image/media-types.js";
import { OUTPUT_FORMATS, type OutputFormat } from "./write/write-image.js";
import type { ProgressEvent } from "./image/image-spec.js";
import { isBlobStore, parseDestination, type Destination } from "./dest/destination.js";
import { StrataError } from "./errors.js";
import { DEFAULT_WORKERS, workerCount } from "./pool/worker-count.js";

/** Options every image-writing call takes. */
export interface OutputOptions {
  /**
   * Where the image goes: a file path (written under a temp name, renamed when complete), an open
   * file descriptor (e.g. 1 for stdout), a Sink, or a destination as skopeo spells it
   * (`docker://HOST/REPO:TAG`, `oci:DIR[:REF]`, `oci-archive:FILE`, `docker-archive:FILE`).
   * Several registries and layouts at once: a list; each layer is built once. Default: stdout.
   */
  readonly output?: string | number | Sink | readonly string[];
  /**
   * Output format: "docker-archive" (default), "oci" (a layout directory: `output` must be its
   * path), "oci-archive", or "docker" (Docker 25's dual OCI + docker-archive layout).
   */
  readonly format?: OutputFormat;
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
  /**
   * The local layer cache (OCI layouts and registries): its directory, or false for none.
   * Default: $XDG_CACHE_HOME/strata (~/.cache/strata). docs/cache.md says what a hit trusts.
   */
  readonly cache?: string | false;
  /** Build every layer, even those the destination holds, and fail on any difference with the cache. */
  readonly verify?: boolean;
  /** Manifests and media types for OCI layouts and registries: "oci" (default) or "docker" (v2 schema 2, gzip layers). */
  readonly manifestFormat?: "oci" | "docker";
  /** How to reach registries (`docker://` outputs and base images). */
  readonly registry?: RegistryOptions;
  /**
   * Images whose layers a registry build may reuse (`--cache-from`), besides the image already at
   * each registry destination's tag: layers whose key they record are not built again.
   */
  readonly cacheFrom?: readonly string[];
}

/** Registry access, as skopeo and podman spell it (docs/registry.md). */
export interface RegistryOptions {
  /** `--authfile`; default: $REGISTRY_AUTH_FILE, then podman's and Docker's usual files. */
  readonly authfile?: string;
  /** `--creds USER:PASS`. */
  readonly creds?: string;
  /** `--cert-dir DIR`: CA certificates (`*.crt`) and client pairs (`*.cert`/`*.key`). */
  readonly certDir?: string;
  /** `--tls-verify=false`: plain HTTP, or a certificate nobody vouches for. Default true. */
  readonly tlsVerify?: boolean;
  /** Blobs uploaded at once (`--jobs`). Default 8. */
  readonly jobs?: number;
}

export interface ResolvedOutputOptions {
  readonly output: string | number | Sink;
  /** Registries and layouts to write to (blob stores), when the output names them; else empty. */
  readonly stores: readonly BlobStoreDestination[];
  readonly format: OutputFormat;
  readonly layerCompress: LayerCompression;
  readonly layerLevel: number;
  readonly compress: Codec | "none";
  readonly level: number;
  readonly workers: number;
  readonly tmpDir: string | undefined;
  readonly signal: AbortSignal | undefined;
  readonly onProgress: ((event: ProgressEvent) => void) | undefined;
  readonly cache: string | false | undefined;
  readonly verify: boolean;
  readonly manifestFormat: "oci" | "docker";
  readonly registry: RegistryOptions;
  readonly cacheFrom: readonly string[];
}

export const OUTPUT_DEFAULTS = {
  output: 1,
  compress: "none" as const,
  workers: DEFAULT_WORKERS,
} as const;

export function resolveOutputOptions(options: OutputOptions): ResolvedOutputOptions {
  const { o, stores } = resolveDestinations(options);
  const format = o.format ?? "docker-archive";
  if (!OUTPUT_FORMATS.includes(format)) {
    throw usage(`format must be one of ${OUTPUT_FORMATS.join(", ")}; got ${JSON.stringify(o.format)}`, "use --format docker-archive|oci|oci-archive|docker");
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
  const manifestFormat = o.manifestFormat ?? "oci";
  if (manifestFormat !== "oci" && manifestFormat !== "docker") {
    throw usage(`manifestFormat must be oci or docker, got ${JSON.stringify(o.manifestFormat)}`, "use --manifest-format oci|docker");
  }
  if (manifestFormat === "docker" && layerCompress === "zstd") {
    throw usage("Docker v2 schema 2 manifests have no zstd layers", "use --layer-compress gz with --manifest-format docker, or OCI manifests");
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
    output: output as string | number | Sink,
    stores,
    format,
    layerCompress,
    layerLevel,
    compress,
    level,
    workers,
    tmpDir: o.tmpDir,
    signal: o.signal,
    onProgress: o.onProgress,
    cache: o.cache,
    verify: o.verify ?? false,
    manifestFormat,
    registry: o.registry ?? {},
    cacheFrom: o.cacheFrom ?? [],
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

/**
 * Outputs named with a transport: registries and layouts become blob stores (format oci: layers
 * compressed, gzip by default), an archive transport sets the format. A plain path keeps --format.
 */
function resolveDestinations(options: OutputOptions): { o: OutputOptions; stores: BlobStoreDestination[] } {
  const list = Array.isArray(options.output) ? (options.output as readonly string[]) : typeof options.output === "string" ? [options.output] : undefined;
  if (list === undefined) return { o: options, stores: [] };
  if (list.length === 0) throw usage("output is an empty list", "give at least one destination");
  const parsed = list.map((s) => ({ s, d: parseDestination(s) }));
  if (list.length === 1 && parsed[0]!.d === undefined) return { o: { ...options, output: list[0]! }, stores: [] };
  const bare = parsed.find((p) => p.d === undefined);
  if (bare !== undefined) throw usage(`with several outputs, each needs its transport; ${JSON.stringify(bare.s)} has none`, "write oci:DIR, docker://HOST/REPO:TAG, oci-archive:FILE or docker-archive:FILE");
  const dests = parsed.map((p) => p.d!);
  const stores = dests.filter(isBlobStore);
  if (stores.length === dests.length) {
    if (options.format !== undefined && options.format !== "oci") {
      throw usage(`format ${options.format} does not apply to ${list.join(", ")}`, "registries and oci: layouts take OCI manifests; drop --format");
    }
    return { o: { ...options, format: "oci", output: stores[0]!.kind === "oci" ? stores[0]!.dir : list[0]! }, stores };
  }
  if (dests.length > 1) throw usage(`${list.join(", ")}: an archive can only be the one output`, "write archives in separate runs, or push to registries and layouts together");
  const d = dests[0] as Extract<Destination, { kind: "oci-archive" | "docker-archive" }>;
  if (options.format !== undefined && options.format !== d.kind) {
    throw usage(`format ${options.format} contradicts ${list[0]}`, `drop --format, or write ${options.format}:FILE`);
  }
  return { o: { ...options, format: d.kind, output: d.file }, stores: [] };
}

export type BlobStoreDestination = Extract<Destination, { kind: "registry" | "oci" }>;
