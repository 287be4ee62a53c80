/**
 * Tar headers in the exact dialect Python's `tarfile` writes with its default PAX format, which is
 * what nixpkgs' stream_layered_image.py uses for store layers and for the outer docker-archive
 * (spec §2.3). Matching it byte for byte is what makes strata's layer digests equal nixpkgs' ones,
 * so images built by either share layers in a registry.
 *
 * The rules, as tarfile applies them:
 * - every header is a ustar block (magic "ustar\0", version "00"); the `prefix` field is never used;
 * - numbers are zero-padded octal with a trailing NUL; the checksum is 6 octal digits, NUL, space;
 * - devmajor/devminor are NUL-filled (no device files in a store);
 * - a value that does not fit goes into a PAX `x` header named `././@PaxHeader` placed before the
 *   entry, records in the order path, linkpath, uname, gname, uid, gid, size, mtime; the ustar
 *   field then holds the value ASCII-replaced and truncated (strings) or 0 (numbers);
 * - `hdrcharset=BINARY` leads the records when a value is not valid UTF-8.
 */
import { isUtf8 } from "node:buffer";
import { asciiReplace, isAscii } from "./py-str.js";

export const BLOCK = 512;
/** tarfile's RECORDSIZE: an archive is padded to a multiple of 20 blocks. */
export const RECORD = 10240;

export type EntryType = "0" | "2" | "5";

/** The fields of one tar entry as they go into its header. */
export interface TarHeaderFields {
  /** Name bytes; directories carry their trailing `/` already. */
  readonly name: Uint8Array;
  readonly type: EntryType;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
  readonly mtime: number;
  /** Symlink target bytes; empty for other types. */
  readonly linkname: Uint8Array;
  readonly uname: Uint8Array;
  readonly gname: Uint8Array;
}

const EMPTY = new Uint8Array(0);
const OCTAL_LIMIT_8 = 8 ** 7; // uid, gid: 7 octal digits
const OCTAL_LIMIT_12 = 8 ** 11; // size, mtime: 11 octal digits

/**
 * The PAX extended-header records this entry needs, or undefined when the ustar block holds
 * everything. Computed once per entry at planning time: the records' length decides the layer size.
 */
export function paxRecords(f: TarHeaderFields): Buffer | undefined {
  // The common case, with nothing to record, allocates nothing: it runs once per entry. The rare
  // one is a function of its own, so that the hot one is small for V8's optimizing compiler: as
  // one function, the two took 18 ms to compile in each worker (--trace-opt, 1 GB closure).
  if (fitsUstar(f.name, 100) && fitsUstar(f.linkname, 100) && fitsUstar(f.uname, 32) && fitsUstar(f.gname, 32) &&
    f.uid >= 0 && f.uid < OCTAL_LIMIT_8 && f.gid >= 0 && f.gid < OCTAL_LIMIT_8 &&
    f.size >= 0 && f.size < OCTAL_LIMIT_12 && f.mtime >= 0 && f.mtime < OCTAL_LIMIT_12) {
    return undefined;
  }
  return buildPaxRecords(f);
}

function buildPaxRecords(f: TarHeaderFields): Buffer {
  const records: [string, Uint8Array][] = [];
  const text = (key: string, value: Uint8Array, limit: number): void => {
    if (!fitsUstar(value, limit)) records.push([key, value]);
  };
  text("path", f.name, 100);
  text("linkpath", f.linkname, 100);
  text("uname", f.uname, 32);
  text("gname", f.gname, 32);
  const num = (key: string, value: number, limit: number): void => {
    if (!(value >= 0 && value < limit)) records.push([key, Buffer.from(String(value), "ascii")]);
  };
  num("uid", f.uid, OCTAL_LIMIT_8);
  num("gid", f.gid, OCTAL_LIMIT_8);
  num("size", f.size, OCTAL_LIMIT_12);
  num("mtime", f.mtime, OCTAL_LIMIT_12);

  const parts: Buffer[] = [];
  if (records.some(([, value]) => !isUtf8(value))) parts.push(Buffer.from("21 hdrcharset=BINARY\n", "ascii"));
  for (const [key, value] of records) {
    // "<len> <key>=<value>\n" where <len> counts the whole record, its own digits included.
    const bare = key.length + value.length + 3;
    let len = bare;
    for (;;) {
      const next = bare + String(len).length;
      if (next === len) break;
      len = next;
    }
    parts.push(Buffer.from(`${len} ${key}=`, "ascii"), Buffer.from(value), Buffer.from("\n", "ascii"));
  }
  return Buffer.concat(parts);
}

/** Whether a ustar text field holds the value as is: all ASCII (bytes are characters) and short enough. */
function fitsUstar(value: Uint8Array, limit: number): boolean {
  return value.length <= limit && isAscii(value);
}

/** Bytes the header of an entry takes: its ustar block plus the PAX header and records, if any. */
export function headerLength(pax: Uint8Array | undefined): number {
  return pax === undefined ? BLOCK : 2 * BLOCK + padded(pax.length);
}

/**
 * Size of a tar whose entries (headers and padded contents) take `entriesSize` bytes: plus the
 * two zero end blocks, padded to a whole record, as tarfile closes an archive.
 */
export function tarSize(entriesSize: number): number {
  return Math.ceil((entriesSize + 2 * BLOCK) / RECORD) * RECORD;
}

/** `n` rounded up to a whole number of 512-byte blocks. */
export function padded(n: number): number {
  return Math.ceil(n / BLOCK) * BLOCK;
}

/** Write the header of `f` (with its PAX records `pax`, from `paxRecords`) at `target[offset]`. */
export function writeHeader(target: Uint8Array, offset: number, f: TarHeaderFields, pax: Uint8Array | undefined): number {
  let at = offset;
  if (pax !== undefined) {
    writeUstar(target, at, {
      name: PAX_NAME, type: "x", mode: 0, uid: 0, gid: 0, size: pax.length, mtime: 0,
      linkname: EMPTY, uname: EMPTY, gname: EMPTY,
    });
    at += BLOCK;
    target.set(pax, at);
    const end = at + padded(pax.length);
    target.fill(0, at + pax.length, end);
    at = end;
  }
  writeUstar(target, at, f);
  return at + BLOCK - offset;
}

const PAX_NAME = Buffer.from("././@PaxHeader", "ascii");
const MAGIC = Buffer.from("ustar\x0000", "latin1");
/**
 * One ustar block. It runs once per entry (a hundred thousand times for a large closure), so it
 * writes every field in place, without strings or buffers, and sums the checksum from the
 * fields it writes instead of reading the block back.
 */
function writeUstar(
  t: Uint8Array,
  o: number,
  f: Omit<TarHeaderFields, "type"> & { readonly type: EntryType | "x" },
): void {
  t.fill(0, o, o + BLOCK);
  const type = f.type.charCodeAt(0);
  t[o + 156] = type;
  const sum = CONSTANT_SUM + type +
    text(t, o, f.name, 100) +
    octal(t, o + 100, 8, f.mode & 0o7777) +
    octal(t, o + 108, 8, fits(f.uid, OCTAL_LIMIT_8)) +
    octal(t, o + 116, 8, fits(f.gid, OCTAL_LIMIT_8)) +
    octal(t, o + 124, 12, fits(f.size, OCTAL_LIMIT_12)) +
    octal(t, o + 136, 12, fits(f.mtime, OCTAL_LIMIT_12)) +
    text(t, o + 157, f.linkname, 100) +
    text(t, o + 265, f.uname, 32) +
    text(t, o + 297, f.gname, 32);
  for (let i = 0; i < MAGIC.length; i++) t[o + 257 + i] = MAGIC[i]!;
  octal(t, o + 148, 7, sum); // 6 digits and a NUL, then a space
  t[o + 155] = 0x20;
}

/** What the checksum counts besides the fields written one by one: its own 8 bytes as spaces, the magic. */
const CONSTANT_SUM = 8 * 0x20 + MAGIC.reduce((a, b) => a + b, 0);

/**
 * A text field: the bytes when all ASCII, else tarfile's ASCII-replaced characters; truncated to
 * `limit`. Returns the sum of the bytes written.
 */
function text(t: Uint8Array, at: number, value: Uint8Array, limit: number): number {
  let sum = 0;
  const n = Math.min(value.length, limit);
  for (let i = 0; i < n; i++) {
    const b = value[i]!;
    if (b >= 0x80) return replaced(t, at, value, limit);
    t[at + i] = b;
    sum += b;
  }
  // ASCII up to the limit: those bytes are the first characters, whatever follows.
  return sum;
}

function replaced(t: Uint8Array, at: number, value: Uint8Array, limit: number): number {
  const field = asciiReplace(value, limit);
  t.set(field, at);
  return field.reduce((a, b) => a + b, 0);
}

function fits(value: number, limit: number): number {
  return value >= 0 && value < limit ? value : 0;
}

/**
 * `value` as `width - 1` zero-padded octal digits and a NUL (`value` fits: callers check).
 * Returns the sum of the bytes written.
 */
function octal(t: Uint8Array, at: number, width: number, value: number): number {
  // One plain loop: bit operations for small values were within the noise on whole builds; toString(8) would allocate.
  let v = value;
  let sum = 0;
  for (let i = width - 2; i >= 0; i--) {
    const digit = v % 8;
    t[at + i] = 0x30 + digit;
    sum += 0x30 + digit;
    v = (v - digit) / 8;
  }
  t[at + width - 1] = 0;
  return sum;
}
