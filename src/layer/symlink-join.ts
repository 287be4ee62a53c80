/**
 * The customisation layer's root filesystem: the symlink join of the image's `contents`, as
 * nixpkgs' `symlinkJoin` builds it with `lndir -silent` for each path in order (spec §1.6.1):
 * directories become real directories, every other file a symlink to its path in the store,
 * a symlink in a content path is copied as it is (unless it leads to a directory, which is joined
 * like one), and on a conflict the first content path wins.
 *
 * The tar is deterministic: entries sorted by name per directory (GNU tar's --sort=name), names
 * relative as `docker save` writes them, owner 0:0 with empty names (nixpkgs' --numeric-owner),
 * directories 0755, and every mtime the image's mtime.
 */
import fs from "node:fs";
import path from "node:path";
import { StrataError } from "../errors.js";
import { fsError } from "./fs-errors.js";
import type { LayerContents, LayerEntry } from "./store-layer.js";
import { BLOCK, RECORD, headerLength, paxRecords, type TarHeaderFields } from "./tar-header.js";

type Node = { readonly kind: "dir"; readonly children: Map<string, Node> } | { readonly kind: "link"; readonly target: string };

/** Symlinks to directories are followed this deep at most (a loop would never end). */
const MAX_DEPTH = 64;

export function planSymlinkJoin(contents: readonly string[], fsRoot: string, mtime: number): LayerContents {
  const root: Map<string, Node> = new Map();
  for (const storePath of contents) {
    const fsPath = fsRoot + storePath;
    const st = statFollow(fsPath, storePath);
    if (!st.isDirectory()) {
      throw new StrataError("E_UNSUPPORTED", `contents path ${storePath} is not a directory`,
        "the customisation layer joins directories (like nixpkgs' symlinkJoin); wrap a single file in a directory, e.g. with pkgs.writeTextDir");
    }
    join(root, storePath, fsPath, fsRoot, 0);
  }
  const entries: LayerEntry[] = [];
  emit(root, "", mtime, entries);
  let size = 2 * BLOCK;
  for (const e of entries) size += headerLength(e.pax);
  return { entries, size: Math.ceil(size / RECORD) * RECORD };
}

function join(into: Map<string, Node>, storeDir: string, fsDir: string, fsRoot: string, depth: number): void {
  if (depth > MAX_DEPTH) {
    throw new StrataError("E_STORE_PATH", `symlinks to directories nest deeper than ${MAX_DEPTH} levels under ${storeDir}`, "a contents path has a symlink loop; fix the package");
  }
  let names: string[];
  try {
    names = fs.readdirSync(fsDir);
  } catch (err) {
    throw fsError(err, Buffer.from(fsDir));
  }
  for (const name of names) {
    const storeChild = `${storeDir}/${name}`;
    const fsChild = `${fsDir}/${name}`;
    const lst = lstat(fsChild);
    const target = lst.isSymbolicLink() ? readlink(fsChild) : undefined;
    // Read a symlinked directory where it really is: inside the store root, not the host's /nix.
    const fsNext = target === undefined ? fsChild : resolveLink(fsChild, target, fsRoot);
    const isDir = lst.isDirectory() || (target !== undefined && isDirectory(fsNext));
    const existing = into.get(name);
    if (isDir) {
      if (existing === undefined) {
        const node: Node = { kind: "dir", children: new Map() };
        into.set(name, node);
        join(node.children, storeChild, fsNext, fsRoot, depth + 1);
      } else if (existing.kind === "dir") {
        join(existing.children, storeChild, fsNext, fsRoot, depth + 1);
      } // else: a file came first and wins
    } else if (existing === undefined) {
      into.set(name, { kind: "link", target: target ?? storeChild });
    }
  }
}

function emit(dir: Map<string, Node>, prefix: string, mtime: number, out: LayerEntry[]): void {
  const names = [...dir.keys()].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  for (const name of names) {
    const node = dir.get(name)!;
    const rel = prefix + name;
    const header: TarHeaderFields = node.kind === "dir"
      ? fields(`${rel}/`, "5", 0o755, "", mtime)
      : fields(rel, "2", 0o777, node.target, mtime);
    out.push({ header, pax: paxRecords(header), source: undefined });
    if (node.kind === "dir") emit(node.children, `${rel}/`, mtime, out);
  }
}

function fields(name: string, type: "2" | "5", mode: number, target: string, mtime: number): TarHeaderFields {
  const empty = Buffer.alloc(0);
  return { name: Buffer.from(name), type, mode, size: 0, mtime, uid: 0, gid: 0, linkname: Buffer.from(target), uname: empty, gname: empty };
}

/** Where a symlink leads on this machine: absolute targets are inside the store root. */
function resolveLink(fsLink: string, target: string, fsRoot: string): string {
  return target.startsWith("/") ? fsRoot + target : path.join(path.dirname(fsLink), target);
}

function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false; // a dangling symlink is copied as a symlink
  }
}

function statFollow(fsPath: string, storePath: string): fs.Stats {
  try {
    return fs.statSync(fsPath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") {
      throw new StrataError("E_STORE_PATH", `contents path ${storePath} does not exist`, "build it first, or fix the --contents argument", { cause: err });
    }
    throw fsError(err, Buffer.from(fsPath));
  }
}

function lstat(p: string): fs.Stats {
  try {
    return fs.lstatSync(p);
  } catch (err) {
    throw fsError(err, Buffer.from(p));
  }
}

function readlink(p: string): string {
  try {
    return fs.readlinkSync(p);
  } catch (err) {
    throw fsError(err, Buffer.from(p));
  }
}
