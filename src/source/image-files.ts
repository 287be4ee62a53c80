/**
 * The files of an image input by name, whatever holds them: the member table of an archive, or
 * an OCI layout directory on disk. Plus reading a JSON document from one of them, once, capped.
 *
 * A layout directory is someone else's: every file of it is opened with O_NOFOLLOW (and
 * O_NONBLOCK, so a FIFO cannot hang the open), checked with fstat on the open descriptor to be a
 * regular file, and every directory on the way to it is checked not to be a link, so nothing
 * outside the layout (an index.json linked to /etc/shadow, blobs/ linked to /) is ever read.
 */
import fs from "node:fs";
import path from "node:path";
import { sha256Hex } from "../digest.js";
import { StrataError } from "../errors.js";
import { parseJsonInput } from "./json-input.js";
import { LIMITS } from "./limits.js";
import type { FileMember, MemberTable } from "./member-table.js";
import { normaliseMemberName } from "./member-name.js";

/** A regular file of an image input. */
export interface ImageFile {
  /** Its name in the input (`manifest.json`, `blobs/sha256/<hex>`, ...), links resolved. */
  readonly name: string;
  readonly size: number;
  /** Where its bytes are on disk (an extracted member, or a file of a layout directory). */
  readonly file?: string;
  /** sha256 hex of its bytes, when already computed while reading the archive. */
  readonly sha256?: string;
  /** Its first bytes (up to 512), when already read. */
  readonly head?: Buffer;
  /** Its bytes, when kept in memory (scan mode). */
  readonly bytes?: Buffer;
  /** Scan mode: the member was not kept, because LIMITS.maxJsonTotal bytes of members were. */
  readonly dropped?: boolean;
  /** Scan mode: what the member holds as a layer, or why it is not one. */
  readonly layer?: FileMember["layer"];
}

export interface ImageFiles {
  /** Names the input in messages. */
  readonly what: string;
  has(name: string): boolean;
  /** The regular file at `name`; `role` says what it should be, for the message when it is not there. */
  file(name: string, role: string): ImageFile;
}

export function archiveFiles(members: MemberTable): ImageFiles {
  return { what: members.what, has: (name) => members.has(name), file: (name, role) => members.file(name, role) };
}

/** An OCI layout directory: read in place, never written, no link followed. */
export function directoryFiles(dir: string, what: string): ImageFiles {
  return {
    what,
    has: (name) => lstatInside(dir, name, what, name) !== undefined,
    file: (name, role) => {
      const st = lstatInside(dir, name, what, role);
      if (st === undefined) {
        throw new StrataError("E_CLOSURE_INPUT", `${what}: expected ${role} at ${name}, found no such file`,
          "the layout is incomplete; copy the image again (skopeo copy)");
      }
      if (!st.isFile()) throw notRegular(what, name, role, st);
      const rel = normaliseMemberName(name, what);
      return { name: rel, size: st.size, file: path.join(dir, ...rel.split("/")) };
    },
  };
}

/**
 * lstat of `name` inside `dir`, or undefined when it (or a directory on the way) is missing.
 * A symbolic link anywhere on the way, or a non-directory where a directory should be, is refused.
 */
function lstatInside(dir: string, name: string, what: string, role: string): fs.Stats | undefined {
  const parts = normaliseMemberName(name, what).split("/");
  let at = dir;
  for (const [i, part] of parts.entries()) {
    at = path.join(at, part);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(at);
    } catch {
      return undefined;
    }
    const rel = parts.slice(0, i + 1).join("/");
    if (st.isSymbolicLink()) {
      throw new StrataError("E_CLOSURE_INPUT", `${what}: expected ${role} at ${name} to be a regular file inside the layout, found ${rel} a symbolic link`,
        "strata follows no link in an OCI layout; copy the image with skopeo copy, which writes none");
    }
    if (i < parts.length - 1 && !st.isDirectory()) return undefined;
    if (i === parts.length - 1) return st;
  }
  return undefined;
}

function notRegular(what: string, name: string, role: string, st: fs.Stats): StrataError {
  const kind = st.isDirectory() ? "a directory" : st.isSymbolicLink() ? "a symbolic link" : st.isFIFO() ? "a FIFO" : st.isSocket() ? "a socket" : "a device";
  return new StrataError("E_CLOSURE_INPUT", `${what}: expected ${role} at ${name} to be a regular file, found ${kind}`, "the layout is damaged; copy the image again");
}

const NO_FOLLOW = fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK;

/**
 * `file` of an image input opened for reading: never through a symbolic link, never a FIFO or a
 * device (checked on the open descriptor, so a swap after the lstat changes nothing).
 */
export async function openRegular(file: ImageFile & { file: string }, what: string): Promise<fs.promises.FileHandle> {
  let fh: fs.promises.FileHandle;
  try {
    fh = await fs.promises.open(file.file, NO_FOLLOW);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ELOOP") {
      throw new StrataError("E_CLOSURE_INPUT", `${what}: expected ${file.name} to be a regular file, found a symbolic link`, "strata follows no link in an image input; copy the image again", { cause: err });
    }
    if (code === "ENOENT") {
      throw new StrataError("E_FILE_CHANGED", `${what}: expected ${file.name}, found it gone`, "something changes the image while strata reads it; run again", { cause: err });
    }
    throw err;
  }
  const st = await fh.stat();
  if (!st.isFile()) {
    await fh.close();
    throw notRegular(what, file.name, "a file", st);
  }
  return fh;
}

/** The bytes of `file` as a stream of 1 MiB chunks, opened as openRegular does. */
export async function* fileChunks(file: ImageFile & { file: string }, what: string): AsyncGenerator<Uint8Array> {
  const fh = await openRegular(file, what);
  try {
    yield* fh.createReadStream({ highWaterMark: 1 << 20, autoClose: false }) as AsyncIterable<Uint8Array>;
  } finally {
    await fh.close();
  }
}

export interface JsonDocument {
  readonly value: unknown;
  readonly bytes: Buffer;
  /** sha256 hex of the bytes. */
  readonly sha256: string;
  readonly file: ImageFile;
}

/** Per input: the documents read so far (by resolved name), and how many bytes they hold. */
interface JsonCache {
  readonly documents: Map<string, Promise<JsonDocument>>;
  bytes: number;
}

const caches = new WeakMap<ImageFiles, JsonCache>();

/**
 * A JSON document of at most LIMITS.maxJson bytes, parsed, with its bytes and sha256 hex. Each
 * file is read and parsed once per input, however many entries name it; the distinct documents
 * of one input may hold LIMITS.maxJsonTotal bytes in all.
 */
export function readJson(files: ImageFiles, name: string, role: string): Promise<JsonDocument> {
  const file = files.file(name, role);
  let cache = caches.get(files);
  if (cache === undefined) caches.set(files, (cache = { documents: new Map(), bytes: 0 }));
  let doc = cache.documents.get(file.name);
  if (doc === undefined) {
    doc = load(files, file, name, role, cache);
    cache.documents.set(file.name, doc);
  }
  return doc;
}

async function load(files: ImageFiles, file: ImageFile, name: string, role: string, cache: JsonCache): Promise<JsonDocument> {
  const where = `${files.what}: ${role} (${name})`;
  if (file.size > LIMITS.maxJson) {
    throw new StrataError("E_CLOSURE_INPUT", `${where}: expected at most ${LIMITS.maxJson} bytes, found ${file.size}`,
      "this is not an image strata can read; check what the archive holds");
  }
  cache.bytes += file.size;
  if (cache.bytes > LIMITS.maxJsonTotal || file.dropped === true) {
    throw new StrataError("E_CLOSURE_INPUT", `${files.what}: expected at most ${LIMITS.maxJsonTotal} bytes of JSON documents in all, found more (at ${role} ${name})`,
      "this is not an image strata can read; check what the archive holds");
  }
  let bytes: Buffer;
  if (file.bytes !== undefined) bytes = file.bytes;
  else if (file.file !== undefined) bytes = await readCapped(file as ImageFile & { file: string }, files.what);
  else throw new StrataError("E_CLOSURE_INPUT", `${where}: expected JSON, found tar data`, "check what the archive holds");
  const value = parseJsonInput(bytes, where);
  return { value, bytes, sha256: file.sha256 ?? sha256Hex(bytes), file };
}

/** The bytes of a file that was `file.size` bytes when listed; a file that grew since is refused. */
async function readCapped(file: ImageFile & { file: string }, what: string): Promise<Buffer> {
  const fh = await openRegular(file, what);
  try {
    const buf = Buffer.alloc(file.size + 1);
    let n = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, n, buf.length - n, n);
      if (bytesRead === 0) break;
      n += bytesRead;
      if (n === buf.length) break;
    }
    if (n !== file.size) {
      throw new StrataError("E_FILE_CHANGED", `${what}: expected ${file.name} to hold ${file.size} bytes, found ${n === buf.length ? "more" : n}`,
        "something changes the image while strata reads it; run again");
    }
    return buf.subarray(0, n);
  } finally {
    await fh.close();
  }
}
