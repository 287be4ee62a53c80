/**
 * Progress on stderr, in one of four forms (data never goes to stderr):
 * - a terminal: a byte-based bar redrawn in place, cut to the terminal's width and redrawn when
 *   it changes (SIGWINCH), then a summary;
 * - a log (no terminal, or TERM=dumb, which has no erase sequence): a line when the build starts,
 *   one every `interval` ms on a long build, warnings, and the summary;
 * - --json: every event as one JSON object a line; `done` waits for the call's result, so it
 *   carries the tags, destination and digests; a failure is an `error` event (docs/events.md);
 * - --quiet: warnings only.
 */
import type { ProgressEvent } from "../image/image-spec.js";
import type { Digest } from "../digest.js";
import type { StrataError } from "../errors.js";
import { barLine, logLine, type ProgressState } from "./progress-line.js";
import { human } from "../format-bytes.js";

export type ProgressMode = "auto" | "quiet" | "json";

/** What the CLI knows once an image is written, for the summary and the `done` event. */
export interface Outcome {
  readonly repoTags: readonly string[];
  /** The -o path, or "stdout". */
  readonly destination: string;
  readonly format: string;
  readonly imageId: Digest;
  /** The OCI manifest's digest (the OCI formats). */
  readonly manifestDigest?: Digest | undefined;
  readonly layers: readonly { readonly diffId: string; readonly size: number; readonly outcome?: "written" | "present" | "mounted" | undefined }[];
  /** Bytes written (compressed size when compressing). */
  readonly bytes: number;
  /** The whole-archive compression, if any. */
  readonly compress?: string | undefined;
}

export interface ProgressReporter {
  readonly onProgress: (e: ProgressEvent) => void;
  /** The image is written: the summary, or the `done` event. */
  readonly finish: (o: Outcome) => void;
  /** The command failed: with --json, the `error` event; true if it was reported so. */
  readonly fail: (e: StrataError) => boolean;
  readonly close: () => void;
}

export interface ReporterOptions {
  readonly stream?: NodeJS.WriteStream;
  readonly env?: NodeJS.ProcessEnv;
  /** Milliseconds between a log's progress lines. */
  readonly interval?: number;
  readonly now?: () => number;
}

export function progressReporter(mode: ProgressMode, o: ReporterOptions = {}): ProgressReporter {
  const stream = o.stream ?? process.stderr;
  const now = o.now ?? (() => performance.now());
  const write = (s: string): void => void stream.write(s);
  if (mode === "json") {
    const emit = (e: ProgressEvent): void => write(JSON.stringify(e) + "\n");
    let done: Extract<ProgressEvent, { type: "done" }> | undefined;
    let started = 0;
    return {
      onProgress: (e) => {
        if (e.type === "start") started = now();
        if (e.type === "done") done = e; // sent with the result, in finish
        else emit(e);
      },
      finish: (r) => emit({
        type: "done", imageId: r.imageId, bytes: done?.bytes ?? r.bytes, repoTags: r.repoTags, destination: r.destination, format: r.format,
        ...(r.manifestDigest === undefined ? {} : { manifestDigest: r.manifestDigest }),
        diffIds: r.layers.map((l) => l.diffId as Digest), layerBytes: r.layers.reduce((n, l) => n + l.size, 0),
        seconds: Math.round(now() - started) / 1000,
      }),
      fail: (e) => (emit({ type: "error", code: e.code, message: e.message, hint: e.hint }), true),
      close: () => undefined,
    };
  }
  const warn = (message: string): void => write(`strata: warning: ${message}\n`);
  if (mode === "quiet") {
    return { onProgress: (e) => void (e.type === "warning" && warn(e.message)), finish: () => undefined, fail: () => false, close: () => undefined };
  }
  const env = o.env ?? process.env;
  const tty = stream.isTTY === true && env["TERM"] !== "dumb";
  const interval = o.interval ?? 15_000;
  let start: number | undefined;
  let layers = 0;
  let done = 0;
  let bytes = 0;
  let total = 0;
  let drawn = false;
  let lastDraw = -Infinity;
  let lastLine = 0;
  const state = (): ProgressState => ({ layers, done, bytes, total, seconds: start === undefined ? 0 : (now() - start) / 1000 });
  const draw = (force: boolean): void => {
    const t = now();
    if (!force && t - lastDraw < 100) return;
    lastDraw = t;
    write(`\r${barLine(state(), stream.columns ?? 80)}\x1b[K`);
    drawn = true;
  };
  const erase = (): void => {
    if (drawn) write("\r\x1b[K");
    drawn = false;
  };
  const onResize = (): void => {
    if (drawn) draw(true);
  };
  if (tty) stream.on("resize", onResize);
  return {
    onProgress: (e) => {
      switch (e.type) {
        case "warning":
          erase();
          warn(e.message);
          break;
        case "plan":
          total = e.estimatedBytes;
          if (!tty) write(`strata: building ${e.repoTag}: ${e.layers} layers, about ${human(e.estimatedBytes)} of layers\n`);
          break;
        case "start":
          layers = e.layers;
          start = now();
          lastLine = start;
          if (tty) draw(true);
          else if (total === 0) write(`strata: writing ${e.layers} layers\n`);
          break;
        case "bytes":
          bytes += e.bytes;
          if (tty) draw(false);
          else if (now() - lastLine >= interval) {
            lastLine = now();
            write(logLine(state()) + "\n");
          }
          break;
        case "layer":
          done += 1; // layers may finish in any order (an output file is written in parallel)
          if (tty) draw(true);
          break;
        default:
          break;
      }
    },
    finish: (r) => {
      erase();
      write(summary(r, start === undefined ? 0 : (now() - start) / 1000));
    },
    fail: () => (erase(), false),
    close: () => {
      erase();
      if (tty) stream.off("resize", onResize);
    },
  };
}

/**
 * What CI needs from a build, each line within 80 columns (a sha256 digest is 71): the name:tag
 * (a hash by default, not guessable), where the image went, its ID and manifest digest, and the
 * sizes, uncompressed layer bytes and the rate over them, then the bytes written.
 */
export function summary(r: Outcome, seconds: number): string {
  const layerBytes = r.layers.reduce((n, l) => n + l.size, 0);
  const rate = seconds > 0 ? ` (${human(layerBytes / seconds)}/s)` : "";
  const written = `${human(r.bytes)} written${r.compress === undefined || r.compress === "none" ? "" : ` (${r.compress})`}`;
  return [
    `strata: built ${r.repoTags.join(", ")}`,
    ` image  ${r.imageId}`,
    ...(r.manifestDigest === undefined ? [] : [` digest ${r.manifestDigest}`]),
    ` to     ${r.destination} (${r.format})`,
    ` layers ${r.layers.length}, ${human(layerBytes)} in ${seconds.toFixed(1)} s${rate}; ${written}`,
    ...(skipped(r.layers) === undefined ? [] : [` reused ${skipped(r.layers)}`]),
  ].join("\n") + "\n";
}

/** For registries and layouts: how many layers were not built because the destination had them. */
function skipped(layers: Outcome["layers"]): string | undefined {
  const count = (o: string): number => layers.filter((l) => l.outcome === o).length;
  const present = count("present");
  const mounted = count("mounted");
  if (present + mounted === 0) return undefined;
  return `${present} layers already there${mounted > 0 ? `, ${mounted} mounted from another repository` : ""}; ${count("written")} built`;
}
