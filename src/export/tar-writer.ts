/**
 * Tar headers for export: ustar blocks plus a PAX header whenever a value does not fit (long or
 * non-ASCII names and link targets, large ids, sizes or times, uname/gname over 32 bytes) or the
 * source carried PAX records worth keeping (xattrs, fractional mtimes). Unlike the store-layer
 * dialect (src/layer/tar-header.ts, Python tarfile's, types 0/2/5 only), export writes every
 * type an image holds, with device numbers, and keeps a mode of 0 as 0.
 */
import type { EntryMeta, EntryType } from "./records.js";

export const BLOCK = 512;
const MAX_OCTAL_8 = 8 ** 7;
const MAX_OCTAL_12 = 8 ** 11;

export interface HeaderFields extends Omit<EntryMeta, "offset" | "type"> {
  readonly name: string;
  readonly type: EntryType;
}

/** The header bytes of one entry (PAX header and ustar block). */
export function encodeHeader(f: HeaderFields): Buffer {
  const name = Buffer.from(f.name, "utf8");
  const link = Buffer.from(f.linkname, "utf8");
  const uname = Buffer.from(f.uname, "utf8");
  const gname = Buffer.from(f.gname, "utf8");
  const records: [string, string][] = [];
  if (!fits(name, 100)) records.push(["path", f.name]);
  if (!fits(link, 100)) records.push(["linkpath", f.linkname]);
  if (!fits(uname, 32)) records.push(["uname", f.uname]);
  if (!fits(gname, 32)) records.push(["gname", f.gname]);
  if (!(f.uid < MAX_OCTAL_8)) records.push(["uid", String(f.uid)]);
  if (!(f.gid < MAX_OCTAL_8)) records.push(["gid", String(f.gid)]);
  if (!(f.size < MAX_OCTAL_12)) records.push(["size", String(f.size)]);
  const pax = f.pax ?? {};
  if (pax["mtime"] === undefined && !(f.mtime >= 0 && f.mtime < MAX_OCTAL_12)) records.push(["mtime", String(f.mtime)]);
  // Source records in key order: the same image always gives the same bytes.
  for (const key of Object.keys(pax).sort()) records.push([key, pax[key]!]);
  const blocks: Buffer[] = [];
  if (records.length > 0) {
    const body = Buffer.concat(records.map(([k, v]) => paxRecord(k, v)));
    blocks.push(ustar({ name: Buffer.from("././@PaxHeader"), type: "x", mode: 0o644, uid: 0, gid: 0, size: body.length, mtime: 0, link: Buffer.alloc(0), uname: Buffer.alloc(0), gname: Buffer.alloc(0), devmajor: 0, devminor: 0 }));
    blocks.push(body, Buffer.alloc(padding(body.length)));
  }
  blocks.push(ustar({
    name: truncate(name, 100), type: f.type, mode: f.mode, uid: clamp(f.uid, MAX_OCTAL_8), gid: clamp(f.gid, MAX_OCTAL_8),
    size: clamp(f.size, MAX_OCTAL_12), mtime: clamp(f.mtime, MAX_OCTAL_12), link: truncate(link, 100), uname: truncate(uname, 32),
    gname: truncate(gname, 32), devmajor: clamp(f.devmajor, MAX_OCTAL_8), devminor: clamp(f.devminor, MAX_OCTAL_8),
  }));
  return Buffer.concat(blocks);
}

/** Zero bytes after `size` bytes of content, up to a whole block. */
export function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

/** "<len> <key>=<value>\n", where <len> counts the whole record, its own digits included. */
function paxRecord(key: string, value: string): Buffer {
  const bare = Buffer.byteLength(key) + Buffer.byteLength(value) + 3;
  let len = bare;
  while (bare + String(len).length !== len) len = bare + String(len).length;
  return Buffer.from(`${len} ${key}=${value}\n`, "utf8");
}

function fits(b: Buffer, limit: number): boolean {
  return b.length <= limit && b.every((c) => c < 0x80);
}

function truncate(b: Buffer, limit: number): Buffer {
  return b.subarray(0, limit);
}

function clamp(n: number, limit: number): number {
  return n >= 0 && n < limit ? n : 0;
}

interface Ustar {
  readonly name: Buffer; readonly type: string; readonly mode: number; readonly uid: number; readonly gid: number;
  readonly size: number; readonly mtime: number; readonly link: Buffer; readonly uname: Buffer; readonly gname: Buffer;
  readonly devmajor: number; readonly devminor: number;
}

function ustar(u: Ustar): Buffer {
  const b = Buffer.alloc(BLOCK);
  u.name.copy(b, 0);
  octal(b, 100, 8, u.mode & 0o7777);
  octal(b, 108, 8, u.uid);
  octal(b, 116, 8, u.gid);
  octal(b, 124, 12, u.size);
  octal(b, 136, 12, u.mtime);
  b.write(u.type, 156, "latin1");
  u.link.copy(b, 157);
  b.write("ustar\u000000", 257, "latin1");
  u.uname.copy(b, 265);
  u.gname.copy(b, 297);
  octal(b, 329, 8, u.devmajor);
  octal(b, 337, 8, u.devminor);
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const c of b) sum += c;
  b.write(sum.toString(8).padStart(6, "0") + "\u0000 ", 148, "latin1");
  return b;
}

function octal(b: Buffer, at: number, width: number, value: number): void {
  b.write(value.toString(8).padStart(width - 1, "0") + "\u0000", at, "latin1");
}
