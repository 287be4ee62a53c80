/**
 * Image timestamps as nixpkgs handles them: `created` and `mtime` are ISO 8601 strings (conf.json
 * carries `date -Iseconds` output such as `1970-01-01T00:00:01+00:00`) or the word `now`.
 * The script parses them with Python's datetime.fromisoformat; the config shows `created` with
 * datetime.isoformat(), and file mtimes are int(timestamp()).
 *
 * One deliberate difference: a time without a UTC offset is read as UTC, where Python would use
 * the machine's time zone. Reproducible builds must not depend on TZ.
 */
import { StrataError } from "./errors.js";

export interface ImageTime {
  /** Seconds since the epoch, truncated toward zero (Python's int(timestamp())). */
  readonly epoch: number;
  /** As datetime.isoformat() prints it: `YYYY-MM-DDTHH:MM:SS[.ffffff]+HH:MM`. */
  readonly iso: string;
}

const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/i;

/** `now` is taken once per process, as the stream script does, so created and mtime agree. */
let nowMicros: number | undefined;

export function parseImageTime(value: string | number, what: string): ImageTime {
  if (typeof value === "number" || /^-?\d+$/.test(value) || /^@-?\d+$/.test(value)) {
    const epoch = Number(typeof value === "number" ? value : value.replace(/^@/, ""));
    if (!Number.isSafeInteger(epoch)) throw bad(what, String(value));
    return { epoch, iso: isoformat(epoch * 1e6, 0) };
  }
  if (value === "now") {
    nowMicros ??= Date.now() * 1000;
    return { epoch: Math.trunc(nowMicros / 1e6), iso: isoformat(nowMicros, 0) };
  }
  const m = ISO.exec(value.trim());
  if (m === null) throw bad(what, value);
  const [, y, mo, d, h = "00", mi = "00", s = "00", frac = "", tz = "Z"] = m;
  const offsetMin = tz.toUpperCase() === "Z" ? 0 : parseOffset(tz);
  const micros = Number((frac + "000000").slice(0, 6));
  const localMs = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s));
  const check = new Date(localMs);
  if (Number.isNaN(localMs) || check.getUTCDate() !== Number(d) || Number(h) > 23 || Number(mi) > 59 || Number(s) > 59) throw bad(what, value);
  const utcMicros = (localMs - offsetMin * 60_000) * 1000 + micros;
  return { epoch: Math.trunc(utcMicros / 1e6), iso: isoformat(utcMicros, offsetMin) };
}

function parseOffset(tz: string): number {
  const sign = tz.startsWith("-") ? -1 : 1;
  const digits = tz.slice(1).replace(":", "");
  return sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4) || "0"));
}

/** datetime.isoformat() of the instant in the given UTC offset (minutes). */
function isoformat(utcMicros: number, offsetMin: number): string {
  const micros = ((utcMicros % 1e6) + 1e6) % 1e6;
  const local = new Date((utcMicros - micros) / 1000 + offsetMin * 60_000);
  const p = (n: number, w = 2): string => String(n).padStart(w, "0");
  const date = `${p(local.getUTCFullYear(), 4)}-${p(local.getUTCMonth() + 1)}-${p(local.getUTCDate())}`;
  const time = `${p(local.getUTCHours())}:${p(local.getUTCMinutes())}:${p(local.getUTCSeconds())}${micros ? "." + p(micros, 6) : ""}`;
  const sign = offsetMin < 0 ? "-" : "+";
  const off = Math.abs(offsetMin);
  return `${date}T${time}${sign}${p(Math.floor(off / 60))}:${p(off % 60)}`;
}

function bad(what: string, value: string): StrataError {
  return new StrataError("E_USAGE", `${what} must be an ISO 8601 time, seconds since the epoch, or "now"; got ${JSON.stringify(value)}`,
    `for example ${what}=1970-01-01T00:00:01Z (the nixpkgs default)`);
}
