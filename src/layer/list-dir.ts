/**
 * A directory's children with what lstat (and readlink, for symlinks) says of each: what the
 * store-layer walk needs of every file, without following symlinks.
 *
 * Two ways, the same answers: the native helper's listDir (one call per directory; each child is
 * looked up relative to the open directory, not along its whole path again), and Node's fs
 * (readdir, then lstat and readlink per child) where the helper was not built. The walk of a
 * small-files closure spends most of its time here: with the helper, planning the 114,000 entries
 * of the bench's 100,000-file closure takes 370 ms on one thread instead of 540 (docs/benchmarks.md).
 *
 * A child that cannot be looked up carries its error, reported when the walk reaches it, so that
 * everything before it in the layer comes out as before.
 */
import fs from "node:fs";
import os from "node:os";
import util from "node:util";
import { native } from "../native.js";

export interface Child {
  /** The name's bytes, as the directory holds them (not necessarily UTF-8). */
  readonly name: Buffer;
  /** st_mode: file type and permission bits. */
  readonly mode: number;
  /** st_size. */
  readonly size: number;
  /** The symlink's target bytes; empty for other files. */
  readonly link: Buffer;
  /** Why lstat or readlink failed; the other fields are then meaningless. */
  readonly err: NodeJS.ErrnoException | undefined;
}

/** The file types in Child.mode (st_mode & S_IFMT). */
export const S_IFMT = 0o170000;
export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;

/** The children of directory `dir` in no particular order; throws (an ErrnoException) if it cannot be read. */
export type DirLister = (dir: Buffer) => Child[];

const EMPTY = Buffer.alloc(0);
const SLASH = Buffer.from("/");

/**
 * Node's fs: readdir, then lstat (and readlink) per child. readdir follows a symlink, so the
 * directory is first opened without following one (like the native listDir, which then lists that
 * very descriptor): a directory swapped for a symlink since lstat saw it fails with ELOOP here.
 * Node cannot list a descriptor, so a swap between this check and readdir is still possible: the
 * native helper is the guard that holds (docs/security.md, Store side).
 */
export const nodeLister: DirLister = (dir) => {
  fs.closeSync(fs.openSync(dir, NO_FOLLOW_DIR));
  return fs.readdirSync(dir, { encoding: "buffer" }).map((name) => lookUp(name, Buffer.concat([dir, SLASH, name])));
};

const NO_FOLLOW_DIR = fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK;

/** What lstat (and readlink, for a symlink) says of the file at `p`, named `name`; a failure goes into `err`. */
export function lookUp(name: Buffer, p: Buffer): Child {
  try {
    const st = fs.lstatSync(p);
    return { name, mode: st.mode, size: st.size, link: st.isSymbolicLink() ? fs.readlinkSync(p, { encoding: "buffer" }) : EMPTY, err: undefined };
  } catch (err) {
    return { name, mode: 0, size: 0, link: EMPTY, err: err as NodeJS.ErrnoException };
  }
}

/** Layout of a native listDir record (record_t in native/strata_native.c), then the name and target. */
const RECORD = 24;

/** The native helper's listDir, if the helper was built (its records are in the CPU's byte order: read as little-endian). */
export function nativeLister(): DirLister | undefined {
  const listDir = native()?.listDir;
  if (listDir === undefined || os.endianness() !== "LE") return undefined;
  return (dir) => {
    const packed = listDir(dir);
    if (typeof packed === "number") throw errnoError(packed, "scandir", dir);
    const children: Child[] = [];
    for (let at = 0; at < packed.length;) {
      const size = packed.readDoubleLE(at);
      const mode = packed.readUInt32LE(at + 8);
      const nameLength = packed.readUInt32LE(at + 12);
      const linkLength = packed.readUInt32LE(at + 16);
      const errno = packed.readInt32LE(at + 20);
      const name = packed.subarray(at + RECORD, at + RECORD + nameLength);
      // A copy: a held layer entry keeps its target, and a view would keep the whole listing.
      const link = linkLength === 0 ? EMPTY : Buffer.from(packed.subarray(at + RECORD + nameLength, at + RECORD + nameLength + linkLength));
      const err = errno === 0 ? undefined : errnoError(-errno, "lstat", Buffer.concat([dir, SLASH, name]));
      children.push({ name, mode, size, link, err });
      at += RECORD + nameLength + linkLength;
    }
    return children;
  };
}

/** The lister strata uses: the native one when the helper was built. */
export function defaultLister(): DirLister {
  return (cached ??= nativeLister() ?? nodeLister);
}

let cached: DirLister | undefined;

/** An error like the one Node's fs would throw for this errno (`code`, `errno`, `syscall`, `path`). */
export function errnoError(negErrno: number, syscall: string, p: Buffer): NodeJS.ErrnoException {
  const [code, description] = util.getSystemErrorMap().get(negErrno) ?? [`E${-negErrno}`, "unknown error"];
  const err: NodeJS.ErrnoException = new Error(`${code}: ${description}, ${syscall} '${p.toString("utf8")}'`);
  err.code = code;
  err.errno = negErrno;
  err.syscall = syscall;
  err.path = p.toString("utf8");
  return err;
}
