/**
 * The customisation layer's root filesystem. First the symlink join of the image's `contents`, as
 * nixpkgs' `symlinkJoin` builds it with `lndir -silent` for each path in order (spec §1.6.1):
 * directories become real directories, every other file a symlink to its path in the store,
 * a symlink in a content path is copied as it is (unless it leads to a directory, which is joined
 * like one), and on a conflict the first content path wins. Then the extras, declaratively, what
 * users otherwise script in extraCommands/fakeRootCommands: files (--add, the Nix database,
 * fake NSS), then owner and mode overrides (--chown, --chmod). No fakeroot: owners are fields.
 *
 * The tar is deterministic: entries sorted by name per directory (GNU tar's --sort=name), names
 * relative as `docker save` writes them, owners numeric with empty names (nixpkgs'
 * --numeric-owner), directories 0755 unless told otherwise, every mtime the image's mtime.
 */
import fs from "node:fs";
import path from "node:path";
import { StrataError } from "../errors.js";
import { fsError } from "./fs-errors.js";
import { defaultLister, S_IFDIR, S_IFLNK, S_IFMT, type Child } from "./list-dir.js";
import type { LayerContents, LayerEntry } from "./store-layer.js";
import { headerLength, padded, paxRecords, tarSize, type TarHeaderFields } from "./tar-header.js";

interface Owned {
  uid: number;
  gid: number;
  mode: number;
}
type Node =
  | ({ readonly kind: "dir"; readonly children: Map<string, Node> } & Owned)
  | ({ readonly kind: "link"; readonly target: string } & Owned)
  | ({ readonly kind: "file"; readonly size: number; readonly content: Uint8Array | undefined; readonly source: string | undefined } & Owned);

/** An entry added after the join; `path` is relative to the image root. It replaces what is there. */
export type ExtraEntry =
  | { readonly type: "directory"; readonly path: string; readonly mode: number }
  | { readonly type: "file"; readonly path: string; readonly mode: number; readonly content: Uint8Array }
  /** A host file or directory tree copied in (--add): regular files, symlinks and directories. */
  | { readonly type: "copy"; readonly path: string; readonly source: string }
  | { readonly type: "symlink"; readonly path: string; readonly target: string };

export interface CustomisationSpec {
  readonly contents: readonly string[];
  readonly fsRoot: string;
  readonly mtime: number;
  readonly extras?: readonly ExtraEntry[];
  readonly chown?: readonly { readonly path: string; readonly uid: number; readonly gid: number }[];
  readonly chmod?: readonly { readonly path: string; readonly mode: number }[];
}

const dirNode = (): Node => ({ kind: "dir", children: new Map(), uid: 0, gid: 0, mode: 0o755 });

/** Symlinks to directories are followed this deep at most (a loop would never end). */
const MAX_DEPTH = 64;

export function planCustomisationLayer(spec: CustomisationSpec): LayerContents {
  const { contents, fsRoot, mtime } = spec;
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
  for (const extra of spec.extras ?? []) addExtra(root, extra);
  for (const c of spec.chown ?? []) {
    const node = find(root, c.path, "--chown");
    node.uid = c.uid;
    node.gid = c.gid;
  }
  for (const c of spec.chmod ?? []) find(root, c.path, "--chmod").mode = c.mode;
  const entries: LayerEntry[] = [];
  emit(root, "", mtime, entries);
  let size = 0;
  for (const e of entries) size += headerLength(e.pax) + padded(e.header.size);
  return { entries, size: tarSize(size) };
}

/** The parts of a relative image path, refusing anything that could leave the root. */
function parts(p: string, what: string): string[] {
  const list = p.split("/").filter((x) => x !== "" && x !== ".");
  if (list.length === 0 || list.includes("..")) {
    throw new StrataError("E_USAGE", `${what} path ${JSON.stringify(p)} must name something inside the image (no "..", not the root)`, "e.g. etc/app.conf or /etc/app.conf");
  }
  return list;
}

function find(root: Map<string, Node>, p: string, what: string): Node {
  let dir: Map<string, Node> | undefined = root;
  let node: Node | undefined;
  for (const name of parts(p, what)) {
    node = dir?.get(name);
    if (node === undefined) break;
    dir = node.kind === "dir" ? node.children : undefined;
  }
  if (node === undefined) {
    throw new StrataError("E_USAGE", `${what} names ${p}, which is not in the customisation layer`, "give a path the layer has: one from --contents, --add, --fake-nss or --nix-db");
  }
  return node;
}

/** Put `node` at `p`, creating parent directories (0755) and replacing what was there. */
function place(root: Map<string, Node>, p: string, node: Node, what: string): void {
  const list = parts(p, what);
  let dir = root;
  for (const name of list.slice(0, -1)) {
    let next = dir.get(name);
    if (next === undefined || next.kind !== "dir") {
      next = dirNode();
      dir.set(name, next);
    }
    dir = (next as Extract<Node, { kind: "dir" }>).children;
  }
  const last = list.at(-1)!;
  const old = dir.get(last);
  // A directory added over a directory keeps what is in it (like mkdir -p).
  if (node.kind === "dir" && old?.kind === "dir") {
    old.mode = node.mode;
    return;
  }
  dir.set(last, node);
}

function addExtra(root: Map<string, Node>, extra: ExtraEntry): void {
  switch (extra.type) {
    case "directory":
      return place(root, extra.path, { ...dirNode(), mode: extra.mode } as Node, "extra");
    case "file":
      return place(root, extra.path, { kind: "file", size: extra.content.length, content: extra.content, source: undefined, uid: 0, gid: 0, mode: extra.mode }, "extra");
    case "symlink":
      return place(root, extra.path, { kind: "link", target: extra.target, uid: 0, gid: 0, mode: 0o777 }, "extra");
    case "copy":
      return place(root, extra.path, copyTree(extra.source, 0), "--add");
  }
}

/** A host file or directory as layer nodes: contents read later by the writer, sizes checked. */
function copyTree(source: string, depth: number): Node {
  if (depth > MAX_DEPTH) throw new StrataError("E_USAGE", `--add ${source}: directories nest deeper than ${MAX_DEPTH} levels`, "add a smaller tree");
  const st = lstat(source);
  if (st.isSymbolicLink()) return { kind: "link", target: readlink(source), uid: 0, gid: 0, mode: 0o777 };
  if (st.isFile()) return { kind: "file", size: st.size, content: undefined, source, uid: 0, gid: 0, mode: st.mode & 0o7777 };
  if (!st.isDirectory()) throw new StrataError("E_USAGE", `--add ${source} is neither a file, a directory nor a symlink`, "add regular files and directories");
  const node = { ...dirNode(), mode: st.mode & 0o7777 } as Extract<Node, { kind: "dir" }>;
  let names: string[];
  try {
    names = fs.readdirSync(source);
  } catch (err) {
    throw fsError(err, Buffer.from(source));
  }
  for (const name of names) node.children.set(name, copyTree(path.join(source, name), depth + 1));
  return node;
}

/**
 * lndir of `fsDir` into `into`. Contents are usually environments of thousands of symlinks: each
 * directory is listed with the store walk's lister (one call brings every child's lstat and link
 * target), and a symlink is followed only to learn whether it leads to a directory.
 */
function join(into: Map<string, Node>, storeDir: string, fsDir: string, fsRoot: string, depth: number): void {
  if (depth > MAX_DEPTH) {
    throw new StrataError("E_STORE_PATH", `symlinks to directories nest deeper than ${MAX_DEPTH} levels under ${storeDir}`, "a contents path has a symlink loop; fix the package");
  }
  let children: Child[];
  try {
    children = defaultLister()(Buffer.from(fsDir));
  } catch (err) {
    throw fsError(err, Buffer.from(fsDir));
  }
  for (const child of children) {
    // Names and targets as strings, decoded as Node's readdir and readlink decode them.
    const name = child.name.toString("utf8");
    const storeChild = `${storeDir}/${name}`;
    const fsChild = `${fsDir}/${name}`;
    if (child.err !== undefined) throw fsError(child.err, Buffer.from(fsChild));
    const type = child.mode & S_IFMT;
    const target = type === S_IFLNK ? child.link.toString("utf8") : undefined;
    // Read a symlinked directory where it really is: inside the store root, not the host's /nix.
    const fsNext = target === undefined ? fsChild : resolveLink(fsChild, target, fsRoot);
    const isDir = type === S_IFDIR || (target !== undefined && isDirectory(fsNext));
    const existing = into.get(name);
    if (isDir) {
      if (existing === undefined) {
        const node = dirNode();
        into.set(name, node);
        join((node as Extract<Node, { kind: "dir" }>).children, storeChild, fsNext, fsRoot, depth + 1);
      } else if (existing.kind === "dir") {
        join(existing.children, storeChild, fsNext, fsRoot, depth + 1);
      } // else: a file came first and wins
    } else if (existing === undefined) {
      into.set(name, { kind: "link", target: target ?? storeChild, uid: 0, gid: 0, mode: 0o777 });
    }
  }
}

function emit(dir: Map<string, Node>, prefix: string, mtime: number, out: LayerEntry[]): void {
  const names = [...dir.keys()].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  for (const name of names) {
    const node = dir.get(name)!;
    const rel = prefix + name;
    const empty = Buffer.alloc(0);
    const header: TarHeaderFields = {
      name: Buffer.from(node.kind === "dir" ? `${rel}/` : rel),
      type: node.kind === "dir" ? "5" : node.kind === "link" ? "2" : "0",
      mode: node.mode,
      size: node.kind === "file" ? node.size : 0,
      mtime,
      uid: node.uid,
      gid: node.gid,
      linkname: node.kind === "link" ? Buffer.from(node.target) : empty,
      uname: empty,
      gname: empty,
    };
    out.push({
      header,
      pax: paxRecords(header),
      source: node.kind === "file" && node.source !== undefined ? Buffer.from(node.source) : undefined,
      content: node.kind === "file" ? node.content : undefined,
    });
    if (node.kind === "dir") emit(node.children, `${rel}/`, mtime, out);
  }
}

/** Where a symlink leads on this machine: absolute targets are inside the store root. */
function resolveLink(fsLink: string, target: string, fsRoot: string): string {
  return target.startsWith("/") ? fsRoot + target : path.join(path.dirname(fsLink), target);
}

/**
 * Whether `p`, symlinks followed, is a directory. A path with a trailing slash exists only if
 * it leads to a directory, so one access() answers, without the fs.Stats object statSync would
 * build for each of an environment's thousands of links. A dangling symlink is no directory (it is
 * copied as a symlink).
 */
function isDirectory(p: string): boolean {
  return fs.existsSync(`${p}/`);
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
