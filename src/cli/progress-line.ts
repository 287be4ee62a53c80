/**
 * What a progress report says, as text: the terminal's bar cut to its width, the periodic line of
 * a log, and the units both share. Pure functions of the counts, so that tests can check every
 * width without a terminal.
 */
import { human } from "../format-bytes.js";

export interface ProgressState {
  /** Layers of the image, and how many are complete. */
  readonly layers: number;
  readonly done: number;
  /** Uncompressed layer bytes made so far. */
  readonly bytes: number;
  /** The plan's estimate of all layers' uncompressed bytes; 0 when unknown (strata stream). */
  readonly total: number;
  /** Seconds since the first layer started. */
  readonly seconds: number;
}

export function duration(seconds: number): string {
  if (seconds < 60) return `${Math.ceil(seconds)} s`;
  const m = Math.floor(seconds / 60);
  return m < 60 ? `${m} min ${String(Math.round(seconds % 60)).padStart(2, "0")} s` : `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")} min`;
}

/** Fraction complete: bytes against the estimate (held below 1 until every layer is done), else layers. */
export function fraction(s: ProgressState): number {
  if (s.layers > 0 && s.done >= s.layers) return 1;
  if (s.total > 0) return Math.min(s.bytes / s.total, 0.99);
  return s.layers === 0 ? 0 : s.done / s.layers;
}

/** Seconds left at the average rate so far, once there is a rate to go by. */
export function secondsLeft(s: ProgressState): number | undefined {
  if (s.total <= 0 || s.seconds < 1 || s.bytes <= 0 || s.bytes >= s.total) return undefined;
  return (s.total - s.bytes) / (s.bytes / s.seconds);
}

/** The parts of a progress report, most important first: a narrow terminal drops the last ones. */
function fields(s: ProgressState): string[] {
  const rate = s.seconds > 0 ? `${human(s.bytes / s.seconds)}/s` : undefined;
  const left = secondsLeft(s);
  const out = s.total > 0
    ? [`${Math.floor(fraction(s) * 100)}%`, `${human(s.bytes)}/${human(s.total)}`, rate, left === undefined ? undefined : `${duration(left)} left`, `${s.done}/${s.layers} layers`]
    : [`${s.done}/${s.layers} layers`, human(s.bytes), rate];
  return out.filter((f): f is string => f !== undefined);
}

/**
 * One line of at most `columns - 1` characters (the last column would make some terminals wrap):
 * a bar of 8 to 30 cells and as many fields as fit beside it, or the first field alone.
 */
export function barLine(s: ProgressState, columns: number): string {
  const width = Math.max(columns - 1, 1);
  const f = fields(s);
  for (let n = f.length; n >= 1; n--) {
    const text = f.slice(0, n).join("  ");
    const cells = Math.min(30, width - text.length - 3);
    if (cells >= 8) {
      const filled = Math.round(fraction(s) * cells);
      return `[${"#".repeat(filled)}${".".repeat(cells - filled)}] ${text}`;
    }
  }
  return f[0]!.slice(0, width);
}

/** The periodic line of a log (no terminal): what is done, how fast, how long still. */
export function logLine(s: ProgressState): string {
  const left = secondsLeft(s);
  const rate = s.seconds > 0 ? `, ${human(s.bytes / s.seconds)}/s` : "";
  if (s.total > 0) {
    return `strata: ${Math.floor(fraction(s) * 100)}% (${human(s.bytes)} of ${human(s.total)}, ${s.done}/${s.layers} layers)${rate}${left === undefined ? "" : `, about ${duration(left)} left`}`;
  }
  return `strata: ${s.done}/${s.layers} layers, ${human(s.bytes)}${rate}`;
}
