/**
 * NAR serialisation (Nix's archive format) and NAR hashing, streamed: nothing holds more than one
 * chunk of the archive, whatever the size of the store path.
 *
 * The format, as Nix's `dumpPath` writes it: every token is a string, written as its length in 8
 * bytes little-endian, the bytes, and zero padding to a multiple of 8.
 *
 *   nar   = "nix-archive-1" node
 *   node  = "(" "type" ( "regular" ["executable" ""] "contents" <bytes>
 *                      | "symlink" "target" <target>
 *                      | "directory" { "entry" "(" "name" <name> "node" node ")" } ) ")"
 *
 * Directory entries are sorted by the bytes of their names; a file is executable when its owner
 * has the x bit (S_IXUSR); mtimes, owners and other mode bits are not part of a NAR.
 *
 * Synchronous file I/O on purpose: it runs in piscina workers (see src/nixdb/nar-pool.ts).
 */
import fs from "node:fs";
import { sha256 } from "../digest.js";
import { StrataError, toStrataError } from "../errors.js";
import { sha256Base32 } from "./hash-format.js";

/** A store path's NAR hash, `sha256:<nix base32>`, and the size of its NAR in bytes. */
export interface NarInfo {
  readonly narHash: string;
  readonly narSize: number;
}

/**
 * Staging buffer size: tokens and file contents go through one buffer, so the hash sees one
 * update per chunk instead of one per token (a store path of many small files has thousands).
 */
const CHUNK = 1 << 20;

const token = (s: string): Buffer => Buffer.from(s, "latin1");
const T = {
  magic: token("nix-archive-1"),
  open: token("("),
  close: token(")"),
  type: token("type"),
  regular: token("regular"),
  executable: token("executable"),
  empty: token(""),
  contents: token("contents"),
  symlink: token("symlink"),
  target: token("target"),
  directory: token("directory"),
  entry: token("entry"),
  name: token("name"),
  node: token("node"),
};
const SLASH = Buffer.from("/");
/** Where a read past a file's planned end lands. */
const PROBE = Buffer.alloc(1);

/** Writes a NAR into fixed-size chunks handed to `out`; a chunk is only valid during the call. */
class NarWriter {
  private readonly buf = Buffer.allocUnsafe(CHUNK);
  private pos = 0;
  /** Bytes written so far. */
  size = 0;

  constructor(private readonly out: (chunk: Uint8Array) => void) {}

  /** A string token: 8-byte little-endian length, the bytes, zero padding to 8. */
  str(bytes: Uint8Array): void {
    this.u64(bytes.length);
    this.bytes(bytes);
    this.pad(bytes.length);
  }

  /** A file's contents as one string token, read straight into the staging buffer. */
  file(fd: number, size: number, onChanged: (detail: string) => never): void {
    this.u64(size);
    let left = size;
    while (left > 0) {
      if (this.pos === CHUNK) this.flush();
      const n = fs.readSync(fd, this.buf, this.pos, Math.min(CHUNK - this.pos, left), null);
      if (n === 0) onChanged(`it shrank while being read (${size - left} of ${size} bytes)`);
      this.pos += n;
      this.size += n;
      left -= n;
    }
    // One byte more would mean the file grew after lstat: its NAR would not match its size.
    if (fs.readSync(fd, PROBE, 0, 1, null) !== 0) onChanged(`it grew beyond ${size} bytes while being read`);
    this.pad(size);
  }

  end(): number {
    this.flush();
    return this.size;
  }

  private u64(n: number): void {
    if (CHUNK - this.pos < 8) this.flush();
    this.buf.writeUInt32LE(n % 0x1_0000_0000, this.pos);
    this.buf.writeUInt32LE(Math.floor(n / 0x1_0000_0000), this.pos + 4);
    this.pos += 8;
    this.size += 8;
  }

  private pad(length: number): void {
    const n = (8 - (length % 8)) % 8;
    if (n === 0) return;
    if (CHUNK - this.pos < n) this.flush();
    this.buf.fill(0, this.pos, this.pos + n);
    this.pos += n;
    this.size += n;
  }

  private bytes(bytes: Uint8Array): void {
    let off = 0;
    while (off < bytes.length) {
      if (this.pos === CHUNK) this.flush();
      const n = Math.min(CHUNK - this.pos, bytes.length - off);
      this.buf.set(bytes.subarray(off, off + n), this.pos);
      this.pos += n;
      off += n;
    }
    this.size += bytes.length;
  }

  private flush(): void {
    if (this.pos > 0) this.out(this.buf.subarray(0, this.pos));
    this.pos = 0;
  }
}

/**
 * Serialise the file, symlink or directory at `fsPath` as a NAR, handing it to `out` in chunks (a
 * chunk is only valid during the call). Returns the NAR's size. `label` names the path in errors
 * (the store path, when `fsPath` is under a store root).
 */
export function writeNar(fsPath: string, out: (chunk: Uint8Array) => void, label: string = fsPath): number {
  const w = new NarWriter(out);
  w.str(T.magic);
  dumpNode(Buffer.from(fsPath), w, fsPath, label, true);
  return w.end();
}

/** The NAR hash and size of the file, symlink or directory at `fsPath`, as Nix computes them. */
export function narHashOf(fsPath: string, label: string = fsPath): NarInfo {
  const hash = sha256();
  const narSize = writeNar(fsPath, (chunk) => hash.update(chunk), label);
  return { narHash: sha256Base32(Buffer.from(hash.hex(), "hex")), narSize };
}

function dumpNode(p: Buffer, w: NarWriter, root: string, label: string, isRoot: boolean): void {
  const shown = (): string => label + p.subarray(Buffer.byteLength(root)).toString();
  let st: fs.Stats;
  try {
    st = fs.lstatSync(p);
  } catch (err) {
    throw ioError(err, shown(), isRoot);
  }
  w.str(T.open);
  w.str(T.type);
  if (st.isFile()) {
    w.str(T.regular);
    // Nix: executable iff the owner may execute it (S_IXUSR), whatever the other bits say.
    if ((st.mode & 0o100) !== 0) {
      w.str(T.executable);
      w.str(T.empty);
    }
    w.str(T.contents);
    let fd: number;
    try {
      fd = fs.openSync(p, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    } catch (err) {
      throw ioError(err, shown(), isRoot);
    }
    try {
      w.file(fd, st.size, (detail) => {
        throw new StrataError("E_FILE_CHANGED", `${shown()} changed while its NAR hash was computed: ${detail}`,
          "nothing may modify the store while strata reads it; run again");
      });
    } catch (err) {
      throw err instanceof StrataError ? err : ioError(err, shown(), isRoot);
    } finally {
      fs.closeSync(fd);
    }
  } else if (st.isSymbolicLink()) {
    w.str(T.symlink);
    w.str(T.target);
    try {
      w.str(fs.readlinkSync(p, { encoding: "buffer" }));
    } catch (err) {
      throw ioError(err, shown(), isRoot);
    }
  } else if (st.isDirectory()) {
    w.str(T.directory);
    let names: Buffer[];
    try {
      names = fs.readdirSync(p, { encoding: "buffer" });
    } catch (err) {
      throw ioError(err, shown(), isRoot);
    }
    // Sorted by bytes (Nix uses a std::map<std::string, ...>), not by UTF-16 or locale order.
    names.sort(Buffer.compare);
    for (const name of names) {
      w.str(T.entry);
      w.str(T.open);
      w.str(T.name);
      w.str(name);
      w.str(T.node);
      dumpNode(Buffer.concat([p, SLASH, name]), w, root, label, false);
      w.str(T.close);
    }
  } else {
    throw new StrataError("E_STORE_PATH", `${shown()} is neither a regular file, a directory nor a symlink (mode ${(st.mode >>> 12).toString(8)}xxxx)`,
      "a NAR (and a store path) can only hold files, directories and symlinks");
  }
  w.str(T.close);
}

function ioError(err: unknown, shown: string, isRoot: boolean): StrataError {
  const code = (err as { code?: unknown } | null)?.code;
  if (code === "ENOENT" || code === "ENOTDIR") {
    return isRoot
      ? new StrataError("E_STORE_PATH", `store path ${shown} does not exist`, "build or fetch it first (nix-store --realise), or fix the closure input", { cause: err })
      : new StrataError("E_FILE_CHANGED", `${shown} vanished while its NAR hash was computed`, "nothing may modify the store while strata reads it; run again", { cause: err });
  }
  if (code === "ELOOP") {
    return new StrataError("E_FILE_CHANGED", `${shown} became a symlink while its NAR hash was computed`, "nothing may modify the store while strata reads it; run again", { cause: err });
  }
  return toStrataError(err, `NAR of ${shown}`);
}
