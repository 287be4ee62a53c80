/**
 * The customisation layer's root filesystem. First the symlink join of the image's `contents`, as
 * nixpkgs' `symlinkJoin` builds it with `lndir -silent` for each path in order (spec §1.6.1):
 * directories become real directories, every other file a symlink to its path in the store,
 * a symlink in a content path is copied as it is (unless it leads to a directory, which is joined
 * like one), and on a conflict the first content path wins. Links are resolved as the build
 * sandbox would see them, inside the store only (store-links.ts), and the walk is bounded
 * (JoinLimits): the host's files never enter the layer through a link. Then the extras, declaratively, what
 * users otherwise script in extraCommands/fakeRootCommands: files (--add, the Nix database,
 * fake NSS), then owner and mode overrides (--chown, --chmod). No fakeroot: owners are fields.
 *
 * The tar is deterministic: entries sorted by name per directory (GNU tar's --sort=name), names
 * relative as `docker save` writes them, owners numeric with empty names (nixpkgs'
 * --numeric-owner), directories 0755 unless told otherwise, every mtime the image's mtime.
 */
import fs from "node:fs";
import { StrataError } from "../errors.js";
import { fsError } from "./fs-errors.js";
import { defaultLister, S_IFDIR, S_IFLNK, S_IFMT, type Child } from "./list-dir.js";
import { MAX_LINK_HOPS, StoreLinks } from "./store-links.js";
import type { LayerContents, LayerEntry } from "./store-layer.js";
import { headerLength, padded, paxRecords, tarSize, type TarHeaderFields } from "./tar-header.js";

interface Owned {
  uid: number;
  gid: number;
  mode: number;
}
/**
 * Names are kept as raw bytes (a store may hold names that are not UTF-8, and the layer must
 * name them, and point links at them, byte for byte): a directory's children are keyed by the
 * name's bytes read as latin1, one code unit per byte, so that comparing keys compares bytes.
 */
type Children = Map<string, Node>;
type Node =
  | ({ readonly kind: "dir"; readonly children: Children } & Owned)
  | ({ readonly kind: "link"; readonly target: Buffer } & Owned)
  | ({ readonly kind: "file"; readonly size: number; readonly content: Uint8Array | undefined; readonly source: Buffer | undefined } & Owned);

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
  /** The store directory links are resolved in; default /nix/store. */
  readonly storeDir?: string;
  readonly mtime: number;
  readonly extras?: readonly ExtraEntry[];
  readonly chown?: readonly { readonly path: string; readonly uid: number; readonly gid: number }[];
  readonly chmod?: readonly { readonly path: string; readonly mode: number }[];
}

const dirNode = (): Node => ({ kind: "dir", children: new Map(), uid: 0, gid: 0, mode: 0o755 });

/**
 * Bounds of the join's walk, so that a hostile or broken store cannot make it run for ever or fill
 * memory (issue 15, item 6). The defaults are far above real images: a NixOS system-path joins
 * ~60,000 entries, the largest environments a few hundred thousand; a node takes ~300 bytes.
 */
export interface JoinLimits {
  /** Entries of the layer (directories, links, files). */
  readonly entries: number;
  /** Symlinks to directories followed along one path of the join (each one a level deeper): a loop. */
  readonly linkedDirs: number;
  /** Nesting of directories, plain or linked (PATH_MAX allows ~2,000 one-letter levels). */
  readonly depth: number;
  /** Path components walked resolving links, over the whole layer (see store-links.ts). */
  readonly steps: number;
}

export const JOIN_LIMITS: JoinLimits = { entries: 1_000_000, linkedDirs: MAX_LINK_HOPS, depth: 1024, steps: 20_000_000 };

export function planCustomisationLayer(spec: CustomisationSpec, limits: JoinLimits = JOIN_LIMITS): LayerContents {
  const { contents, fsRoot, mtime } = spec;
  const root: Children = new Map();
  const walk: Walk = { links: new StoreLinks(fsRoot, spec.storeDir ?? "/nix/store", limits.steps), limits, entries: 0 };
  for (const storePath of contents) {
    const name = Buffer.from(storePath, "utf8");
    // A contents path is resolved like any link: one that is a symlink out of the store is refused,
    // never read from the host.
    const r = walk.links.resolve(name);
    if (r.kind === "missing") {
      throw new StrataError("E_STORE_PATH", `contents path ${storePath} does not exist${fsRoot ? ` under ${fsRoot}` : ""} (or is a dangling symlink)`, "build it first, or fix the --contents argument");
    }
    if (r.kind === "outside") {
      throw new StrataError("E_STORE_PATH", `contents path ${storePath} is not inside a store path: it is, or is a symlink that leads, outside ${spec.storeDir ?? "/nix/store"}`,
        "contents must be store paths whose symlinks stay in the store; strata does not read the host's files through them");
    }
    if (r.kind !== "dir") {
      throw new StrataError("E_UNSUPPORTED", `contents path ${storePath} is not a directory`,
        "the customisation layer joins directories (like nixpkgs' symlinkJoin); wrap a single file in a directory, e.g. with pkgs.writeTextDir");
    }
    join(walk, root, name, r.path, 0, 0);
  }
  for (const extra of spec.extras ?? []) addExtra(root, extra);
  for (const c of spec.chown ?? []) {
    const node = find(root, c.path, "--chown");
    node.uid = c.uid;
    node.gid = c.gid;
  }
  for (const c of spec.chmod ?? []) find(root, c.path, "--chmod").mode = c.mode;
  const entries: LayerEntry[] = [];
  emit(root, Buffer.alloc(0), mtime, entries);
  let size = 0;
  for (const e of entries) size += headerLength(e.pax) + padded(e.header.size);
  return { entries, size: tarSize(size) };
}

/** The parts of a relative image path (as Children keys), refusing anything that could leave the root. */
function parts(p: string, what: string): string[] {
  const list = p.split("/").filter((x) => x !== "" && x !== ".");
  if (list.length === 0 || list.includes("..")) {
    throw new StrataError("E_USAGE", `${what} path ${JSON.stringify(p)} must name something inside the image (no "..", not the root)`, "e.g. etc/app.conf or /etc/app.conf");
  }
  return list.map((x) => Buffer.from(x, "utf8").toString("latin1"));
}

function find(root: Children, p: string, what: string): Node {
  let dir: Children | undefined = root;
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
function place(root: Children, p: string, node: Node, what: string): void {
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

function addExtra(root: Children, extra: ExtraEntry): void {
  switch (extra.type) {
    case "directory":
      return place(root, extra.path, { ...dirNode(), mode: extra.mode } as Node, "extra");
    case "file":
      return place(root, extra.path, { kind: "file", size: extra.content.length, content: extra.content, source: undefined, uid: 0, gid: 0, mode: extra.mode }, "extra");
    case "symlink":
      return place(root, extra.path, { kind: "link", target: Buffer.from(extra.target, "utf8"), uid: 0, gid: 0, mode: 0o777 }, "extra");
    case "copy":
      return place(root, extra.path, copyTree(Buffer.from(extra.source, "utf8"), 0), "--add");
  }
}

/** A host file or directory as layer nodes: contents read later by the writer, sizes checked. */
function copyTree(source: Buffer, depth: number): Node {
  if (depth > JOIN_LIMITS.depth) throw new StrataError("E_USAGE", `--add ${source.toString("utf8")}: directories nest deeper than ${JOIN_LIMITS.depth} levels`, "add a smaller tree");
  const st = lstat(source);
  if (st.isSymbolicLink()) return { kind: "link", target: readlink(source), uid: 0, gid: 0, mode: 0o777 };
  if (st.isFile()) return { kind: "file", size: st.size, content: undefined, source, uid: 0, gid: 0, mode: st.mode & 0o7777 };
  if (!st.isDirectory()) throw new StrataError("E_USAGE", `--add ${source.toString("utf8")} is neither a file, a directory nor a symlink`, "add regular files and directories");
  const node = { ...dirNode(), mode: st.mode & 0o7777 } as Extract<Node, { kind: "dir" }>;
  let names: Buffer[];
  try {
    names = fs.readdirSync(source, { encoding: "buffer" });
  } catch (err) {
    throw fsError(err, source);
  }
  for (const name of names) node.children.set(name.toString("latin1"), copyTree(Buffer.concat([source, SLASH, name]), depth + 1));
  return node;
}

/** The state of one join: the link resolver and the bounds. */
interface Walk {
  readonly links: StoreLinks;
  readonly limits: JoinLimits;
  entries: number;
}

/**
 * lndir of the store directory `real` (an image path without symlinks, see store-links.ts) into
 * `into`; `logical` is the path the join reached it by (links in the layer point there, as lndir's
 * do). Contents are usually environments of thousands of symlinks: each directory is listed with
 * the store walk's lister (one call brings every child's lstat and link target), and a symlink is
 * followed, inside the store only, to learn whether it leads to a directory. `linked`: symlinks to
 * directories followed on the way here, the only way a join can loop.
 */
function join(walk: Walk, into: Children, logical: Buffer, real: Buffer, depth: number, linked: number): void {
  const { limits } = walk;
  if (linked > limits.linkedDirs) {
    throw new StrataError("E_STORE_PATH", `symlinks to directories nest deeper than ${limits.linkedDirs} levels at ${logical.toString("utf8")}`, "a contents path has a symlink loop; fix the package");
  }
  if (depth > limits.depth) {
    throw new StrataError("E_STORE_PATH", `directories nest deeper than ${limits.depth} levels at ${logical.toString("utf8").slice(0, 200)}...`, "no real package nests this deep; check the contents path");
  }
  const fsDir = walk.links.fsPath(real);
  let children: Child[];
  try {
    children = defaultLister()(fsDir);
  } catch (err) {
    throw fsError(err, fsDir);
  }
  for (const child of children) {
    const key = child.name.toString("latin1");
    const logicalChild = Buffer.concat([logical, SLASH, child.name]);
    const realChild = Buffer.concat([real, SLASH, child.name]);
    if (child.err !== undefined) throw fsError(child.err, walk.links.fsPath(realChild));
    const type = child.mode & S_IFMT;
    const target = type === S_IFLNK ? child.link : undefined;
    // Where a link leads, resolved in the store as the sandbox sees it (never the host).
    const r = target === undefined ? undefined : walk.links.resolve(target[0] === SLASH[0] ? target : Buffer.concat([real, SLASH, target]));
    const next = type === S_IFDIR ? realChild : r?.kind === "dir" ? r.path : undefined;
    const existing = into.get(key);
    if (next !== undefined) {
      const more = type === S_IFDIR ? 0 : 1;
      if (existing === undefined) {
        const node = dirNode();
        count(walk, logicalChild);
        into.set(key, node);
        join(walk, (node as Extract<Node, { kind: "dir" }>).children, logicalChild, next, depth + 1, linked + more);
      } else if (existing.kind === "dir") {
        join(walk, existing.children, logicalChild, next, depth + 1, linked + more);
      } // else: a file came first and wins
    } else if (existing === undefined) {
      count(walk, logicalChild);
      into.set(key, { kind: "link", target: target ?? logicalChild, uid: 0, gid: 0, mode: 0o777 });
    }
  }
}

function count(walk: Walk, at: Buffer): void {
  if (++walk.entries > walk.limits.entries) {
    throw new StrataError("E_STORE_PATH", `the contents join into more than ${walk.limits.entries} entries (at ${at.toString("utf8")})`,
      "no real environment is this large: a contents path probably has symlinks that multiply its directories; fix the package");
  }
}

function emit(dir: Children, prefix: Buffer, mtime: number, out: LayerEntry[]): void {
  // latin1 keys: one code unit per byte, so this is the bytes' order (GNU tar's --sort=name).
  const names = [...dir.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const empty = Buffer.alloc(0);
  for (const key of names) {
    const node = dir.get(key)!;
    const rel = Buffer.concat([prefix, Buffer.from(key, "latin1")]);
    const header: TarHeaderFields = {
      name: node.kind === "dir" ? Buffer.concat([rel, SLASH]) : rel,
      type: node.kind === "dir" ? "5" : node.kind === "link" ? "2" : "0",
      mode: node.mode,
      size: node.kind === "file" ? node.size : 0,
      mtime,
      uid: node.uid,
      gid: node.gid,
      linkname: node.kind === "link" ? node.target : empty,
      uname: empty,
      gname: empty,
    };
    out.push({
      header,
      pax: paxRecords(header),
      source: node.kind === "file" ? node.source : undefined,
      content: node.kind === "file" ? node.content : undefined,
    });
    if (node.kind === "dir") emit(node.children, Buffer.concat([rel, SLASH]), mtime, out);
  }
}

const SLASH = Buffer.from("/");

function lstat(p: Buffer): fs.Stats {
  try {
    return fs.lstatSync(p);
  } catch (err) {
    throw fsError(err, p);
  }
}

function readlink(p: Buffer): Buffer {
  try {
    return fs.readlinkSync(p, { encoding: "buffer" });
  } catch (err) {
    throw fsError(err, p);
  }
}
