/**
 * Progress on stderr: a bar that redraws in place on a TTY, one plain line per layer otherwise,
 * JSON events (one object a line) with --json, nothing with --quiet. Data never goes to stderr.
 */
import type { ProgressEvent } from "../image/image-spec.js";

export type ProgressMode = "auto" | "quiet" | "json";

export function progressReporter(mode: ProgressMode, stream: NodeJS.WriteStream = process.stderr): {
  onProgress: (e: ProgressEvent) => void;
  close: () => void;
} {
  if (mode === "quiet") {
    return { onProgress: (e) => void (e.type === "warning" && stream.write(`strata: warning: ${e.message}\n`)), close: () => undefined };
  }
  if (mode === "json") {
    return { onProgress: (e) => void stream.write(JSON.stringify(e) + "\n"), close: () => undefined };
  }
  const tty = stream.isTTY === true;
  const start = performance.now();
  let layers = 0;
  let done = 0;
  let bytes = 0;
  let lastDraw = 0;
  const rate = (): string => `${mb(bytes / Math.max((performance.now() - start) / 1000, 1e-3))}/s`;
  const draw = (force: boolean): void => {
    const now = performance.now();
    if (!force && now - lastDraw < 100) return;
    lastDraw = now;
    const width = 24;
    const filled = layers === 0 ? 0 : Math.round((done / layers) * width);
    stream.write(`\r\x1b[K[${"#".repeat(filled)}${".".repeat(width - filled)}] layers ${done}/${layers}  ${mb(bytes)}  ${rate()}`);
  };
  return {
    onProgress: (e) => {
      switch (e.type) {
        case "warning":
          if (tty) stream.write("\r\x1b[K");
          stream.write(`strata: warning: ${e.message}\n`);
          break;
        case "start":
          layers = e.layers;
          if (tty) draw(true);
          break;
        case "bytes":
          bytes += e.bytes;
          if (tty) draw(false);
          break;
        case "layer":
          // Layers may finish in any order (an output file is written in parallel): count them.
          done += 1;
          if (tty) draw(true);
          else stream.write(`layer ${e.index + 1}/${layers} ${e.diffId} ${mb(e.size)}\n`);
          break;
        case "done":
          if (tty) stream.write("\r\x1b[K");
          stream.write(`image ${e.imageId}: ${layers} layers, ${mb(e.bytes)} written in ${((performance.now() - start) / 1000).toFixed(2)} s (${rate()})\n`);
          break;
      }
    },
    close: () => {
      if (tty) stream.write("\r\x1b[K");
    },
  };
}

function mb(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} GB`;
  return n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : `${(n / 1e3).toFixed(1)} kB`;
}
