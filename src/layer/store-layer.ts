/**
 * What goes into a store layer, in order, exactly as nixpkgs' `archive_paths_to` lays it out
 * (spec §2.3): the directories `/nix/` and `/nix/store/` first, then for each store path (in the
 * order the plan lists them) the path and everything below it, in pathlib order (component-wise,
 * by code point: `b/`, `b/c`, then `b-c/`), symlinked directories not followed, hard links stored
 * as regular files, owners and mtime overridden.
 *
 * Planning a layer only reads metadata (readdir, lstat, readlink), never file contents; the sizes it
 * records are checked against the bytes actually read when the layer is written, so a file that
 * changes in between is an error, never a silently corrupt layer.
 *
 * Memory: the plan holds the entries of a layer only up to ENTRIES_HELD of them (~1 KB each). A
 * larger layer is walked twice instead: once to learn its exact size (which the archive needs
 * before the layer's first byte), and again while it is written, checked to come out the same.
 * So a worker's memory does not grow with the size of the closure; a second metadata walk costs
 * far less than the contents it describes.
 */
import { StrataError } from "../errors.js";
import { fsError } from "./fs-errors.js";
import { defaultLister, lookUp, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG, type Child, type DirLister } from "./list-dir.js";
import { comparePythonNames } from "./py-str.js";
import { headerLength, padded, paxRecords, tarSize, type EntryType, type TarHeaderFields } from "./tar-header.js";

/** Owner and time fields that every store-layer entry gets (conf.json's uid, gid, uname, gname, mtime). */
export interface LayerOwnership {
  readonly uid: number;
  readonly gid: number;
  readonly uname: string;
  readonly gname: string;
  readonly mtime: number;
}

/** One entry of a layer: its header, and for regular files where to read the content. */
export interface LayerEntry {
  readonly header: TarHeaderFields;
  readonly pax: Buffer | undefined;
  /** Path to read the content from, for regular files. */
  readonly source: Buffer | undefined;
  /** The content itself, for regular files made in memory (the customisation layer's extras). */
  readonly content?: Uint8Array | undefined;
  /**
   * For a store file: the bytes of `source` that name the store directory on this machine. Below
   * them the file is opened without following any symlink (openPlanned): the walk reached it
   * through real directories, and one swapped for a symlink since must not lead elsewhere.
   */
  readonly sourceBase?: number | undefined;
}

/** The content list of a layer (iterated once, by the writer) and the exact byte size of its tar. */
export interface LayerContents {
  readonly entries: Iterable<LayerEntry>;
  /** Size of the layer tar in bytes, end blocks and record padding included. */
  readonly size: number;
}

export interface StoreLayerInput {
  readonly paths: readonly string[];
  readonly ownership: LayerOwnership;
  /** Where the store is on this machine: files of `/nix/store/x` are read at `fsRoot + /nix/store/x`. */
  readonly fsRoot: string;
  /** How directories are listed (tests pick one); default: the native helper's if built, else Node's. */
  readonly lister?: DirLister | undefined;
}

const SLASH = 0x2f;
const EMPTY = Buffer.alloc(0);

/** Layers with more entries than this are walked twice rather than held (see above). */
export const ENTRIES_HELD = 16384;

export function planStoreLayer(input: StoreLayerInput, entriesHeld = ENTRIES_HELD): LayerContents {
  let held: LayerEntry[] | undefined = [];
  let entriesSize = 0;
  for (const e of walkStoreLayer(input)) {
    entriesSize += entryLength(e);
    if (held !== undefined && held.length < entriesHeld) held.push(e);
    else held = undefined;
  }
  return { entries: held ?? walkAgain(input, entriesSize), size: tarSize(entriesSize) };
}

function entryLength(e: LayerEntry): number {
  return headerLength(e.pax) + padded(e.header.size);
}

/** The second walk of a large layer: the same entries as the first, or E_FILE_CHANGED. */
function* walkAgain(input: StoreLayerInput, planned: number): Generator<LayerEntry> {
  let size = 0;
  for (const e of walkStoreLayer(input)) {
    size += entryLength(e);
    if (size > planned) break;
    yield e;
  }
  if (size !== planned) {
    throw new StrataError("E_FILE_CHANGED", `the files of store paths ${input.paths.join(", ").slice(0, 300)} changed while the image was being built: their entries took ${planned} bytes when planned, ${size > planned ? "more" : `${size}`} when written`,
      "a Nix store path must not change; rebuild it, or stop whatever is writing to it");
  }
}

/** The layer's entries, walked from the file system in nixpkgs' order. */
function* walkStoreLayer(input: StoreLayerInput): Generator<LayerEntry> {
  const own = input.ownership;
  const uname = Buffer.from(own.uname, "utf8");
  const gname = Buffer.from(own.gname, "utf8");
  const root = Buffer.from(input.fsRoot, "utf8");
  const entry = (name: Buffer, type: EntryType, mode: number, size: number, linkname: Buffer, source: Buffer | undefined, sourceBase?: number): LayerEntry => {
    const header: TarHeaderFields = {
      name: type === "5" ? Buffer.concat([name, Buffer.of(SLASH)]) : name,
      type, mode, size, linkname, uid: own.uid, gid: own.gid, uname, gname, mtime: own.mtime,
    };
    return { header, pax: paxRecords(header), source, sourceBase };
  };
  yield entry(Buffer.from("/nix"), "5", 0o755, 0, EMPTY, undefined);
  yield entry(Buffer.from("/nix/store"), "5", 0o755, 0, EMPTY, undefined);

  const list = input.lister ?? defaultLister();
  for (const storePath of input.paths) {
    const name = Buffer.from(storePath, "utf8");
    const fsPath = root.length === 0 ? name : Buffer.concat([root, name]);
    // The store directory on this machine (fsRoot + /nix/store): files are opened below it without following symlinks.
    const base = root.length + name.lastIndexOf(SLASH);
    // Depth-first, pre-order, siblings sorted: the order pathlib's sorted(rglob) gives. Each
    // directory's listing brings its children's lstat; only the store path itself is looked up alone.
    const stack: Pending[] = [top(name, fsPath, storePath)];
    while (stack.length > 0) {
      const { name: entryName, path: entryPath, child } = stack.pop()!;
      if (child.err !== undefined) throw fsError(child.err, entryPath, storePath);
      const type = child.mode & S_IFMT;
      if (type === S_IFLNK) {
        yield entry(entryName, "2", child.mode, 0, child.link, undefined);
      } else if (type === S_IFDIR) {
        yield entry(entryName, "5", child.mode, 0, EMPTY, undefined);
        const children = listChildren(list, entryPath).sort((a, b) => comparePythonNames(a.name, b.name));
        for (let k = children.length - 1; k >= 0; k--) {
          const c = children[k]!;
          const childName = join(entryName, c.name);
          // Without a store root (a real /nix/store) the name is the path: one buffer for both.
          stack.push({ name: childName, path: root.length === 0 ? childName : join(entryPath, c.name), child: c });
        }
      } else if (type === S_IFREG) {
        yield entry(entryName, "0", child.mode, child.size, EMPTY, entryPath, base);
      } else {
        throw new StrataError("E_STORE_PATH", `${display(entryPath)} is neither a file, a directory nor a symlink`,
          "a Nix store holds only those three kinds of files; check the path");
      }
    }
  }
}

/** An entry to visit: its name in the layer, its path on this machine, and what lstat said of it. */
interface Pending {
  readonly name: Buffer;
  readonly path: Buffer;
  readonly child: Child;
}

/**
 * The store path itself, looked up alone: a missing one is E_STORE_PATH, not a changed file. Any
 * other failure is reported at its turn in the walk, like a child's.
 */
function top(name: Buffer, p: Buffer, storePath: string): Pending {
  const child = lookUp(name, p);
  if (child.err?.code === "ENOENT") {
    throw new StrataError("E_STORE_PATH", `store path ${storePath} does not exist (looked at ${display(p)})`,
      "build or fetch it first (nix-store --realise), or fix the closure input", { cause: child.err });
  }
  return { name, path: p, child };
}

function listChildren(list: DirLister, p: Buffer): Child[] {
  try {
    return list(p);
  } catch (err) {
    throw fsError(err, p);
  }
}

function join(dir: Buffer, name: Buffer): Buffer {
  return Buffer.concat([dir, Buffer.of(SLASH), name]);
}

function display(p: Buffer): string {
  return p.toString("utf8");
}
