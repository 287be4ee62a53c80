/**
 * Applies the layers to each other, one path at a time, from the sorted records: every version
 * of a path (from every layer) arrives together, parents before children, so the only state held
 * is the chain of ancestors of the current path (depth × layers numbers), plus, for hard links,
 * the first name each linked file was written under.
 *
 * Rules (OCI image-spec layer.md, as containerd and umoci apply them):
 * - a path's topmost version wins; a directory over a directory keeps the lower one's contents;
 * - a *kill* of a path at layer m removes what lower layers (< m) put at or below it: a whiteout
 *   `.wh.NAME` at m, a non-directory entry at m, or (for its children only) an opaque marker at
 *   m. A whiteout never removes what its own layer puts there;
 * - anything below a path whose final version is not a directory is dropped (a layer that puts
 *   `f/x` over a file `f` is malformed; runtimes fail on it);
 * - a directory that no layer names but whose contents are there is written as 0755 root:root,
 *   mtime 0;
 * - a hard link names the file at its target *when its layer is applied*: the last entry at the
 *   target before it, in its layer or a lower one, unless killed in between. That file lives on
 *   under the link's name even when a later layer deletes or replaces the target (as a real
 *   filesystem keeps an inode with another link to it).
 */
import { StrataError } from "../errors.js";
import { isAncestor, keyToPath, parentKey, SEP, type EntryMeta, type Rec } from "./records.js";

/** What the emit walk hands to the tar writer, in output order. */
export interface Emitted {
  /** Member name: `a/b`, directories with a trailing `/`. */
  readonly name: string;
  /** The header (a hard link's type "1" and linkname when the file was already written). */
  readonly meta: EntryMeta;
  /** The layer whose tar holds the content (at meta.offset), for a regular file written in full. */
  readonly layer?: number;
}

interface Level {
  readonly key: string;
  /** Layers (any) at which this path was killed, ascending: for resolving hard links as of a layer. */
  readonly kills: readonly number[];
  /** Lowest layer whose contents below this path are in the result; Infinity: none are. */
  readonly floor: number;
  /** A directory no layer names (or only whiteouts and opaque markers do), written only when something below it is. */
  pending: boolean;
}

const IMPLICIT_DIR: EntryMeta = { type: "5", mode: 0o755, uid: 0, gid: 0, uname: "", gname: "", mtime: 0, size: 0, linkname: "", devmajor: 0, devminor: 0, offset: 0 };

/** Consecutive records with the same key. */
async function* groups(recs: AsyncIterable<Rec>): AsyncGenerator<Rec[]> {
  let group: Rec[] = [];
  for await (const r of recs) {
    if (group.length > 0 && group[0]!.k !== r.k) {
      yield group;
      group = [];
    }
    group.push(r);
  }
  if (group.length > 0) yield group;
}

/**
 * The walk. `resolve`: answers every hard link's request (`r`) with its inode (`R` at the link,
 * `L` at the target), through `out`. `emit`: yields the result's entries in output order.
 */
export async function* applyLayers(recs: AsyncIterable<Rec>, mode: "resolve" | "emit", out?: (r: Rec) => Promise<void>): AsyncGenerator<Emitted> {
  const stack: Level[] = [{ key: "", kills: [], floor: 0, pending: false }];
  /** Inode (layer:seq) → the name it was first written under; only for inodes that hard links name. */
  const written = new Map<string, string>();
  for await (const group of groups(recs)) {
    const key = group[0]!.k;
    if (key === "") {
      // The root: its own records decide its floor (an opaque marker at the top level).
      const root = resolvePath(group, 0);
      stack.length = 0;
      stack.push({ key: "", kills: root.kills, floor: root.childFloor, pending: false });
      if (mode === "emit" && root.top !== undefined) yield { name: "./", meta: root.top };
      continue;
    }
    while (!isAncestor(stack[stack.length - 1]!.key, key)) stack.pop();
    // Directories between the nearest ancestor with records and this path: named by no layer.
    const parent = parentKey(key);
    while (stack[stack.length - 1]!.key !== parent) {
      const top = stack[stack.length - 1]!;
      const next = parent.slice(0, parent.indexOf(SEP, top.key.length + 1) < 0 ? parent.length : parent.indexOf(SEP, top.key.length + 1));
      stack.push({ key: next, kills: [], floor: top.floor, pending: true });
    }
    const floor = stack[stack.length - 1]!.floor;
    if (mode === "resolve") {
      for (const r of group) if (r.t === "r") await answerLink(r, group, stack, out!);
    }
    const p = resolvePath(group, floor);
    stack.push({ key, kills: p.kills, floor: p.childFloor, pending: p.top === undefined });
    if (mode !== "emit" || p.top === undefined) continue;
    // Something is written here: first the directories above it that no layer named.
    for (const level of stack) {
      if (!level.pending || level.key === key) continue;
      level.pending = false;
      yield { name: `${keyToPath(level.key)}/`, meta: IMPLICIT_DIR };
    }
    yield emitted(key, p.top, p.topRec!, group, written);
  }
}

interface Resolved {
  /** The version in the result (undefined: none, or a directory no layer names). */
  readonly top?: EntryMeta;
  readonly topRec?: Rec & { t: "e" };
  readonly kills: number[];
  readonly childFloor: number;
}

/** A path's version in the result, given the lowest layer its parent lets through. */
function resolvePath(group: readonly Rec[], floor: number): Resolved {
  const kills: number[] = [];
  const byLayer = new Map<number, { e?: Rec & { t: "e" }; w: boolean; o: boolean }>();
  for (const r of group) {
    if (r.t !== "e" && r.t !== "w" && r.t !== "o") continue;
    let at = byLayer.get(r.l);
    if (at === undefined) byLayer.set(r.l, (at = { w: false, o: false }));
    if (r.t === "e") at.e = r; // records come in tar order: the last entry in a layer wins
    else if (r.t === "w") at.w = true;
    else at.o = true;
  }
  for (const [l, at] of byLayer) if (at.w || at.o || (at.e !== undefined && at.e.m.type !== "5")) kills.push(l);
  kills.sort((a, b) => a - b);
  if (floor === Infinity) return { kills, childFloor: Infinity };
  let top: (Rec & { t: "e" }) | undefined;
  let dir = false;
  for (const l of [...byLayer.keys()].filter((x) => x >= floor).sort((a, b) => b - a)) {
    const at = byLayer.get(l)!;
    if (at.e !== undefined && at.e.m.type !== "5") {
      if (!dir) return { top: at.e.m, topRec: at.e, kills, childFloor: Infinity };
      break;
    }
    if (at.e !== undefined || at.o) {
      dir = true;
      top ??= at.e;
      if (at.w) break;
      continue;
    }
    if (at.w) break;
  }
  const childFloor = Math.max(floor, ...kills.filter((k) => k >= floor));
  return { ...(top === undefined ? {} : { top: top.m, topRec: top }), kills, childFloor };
}

/** The inode a hard link names: the last entry at its target before it, if nothing killed it in between. */
async function answerLink(r: Rec & { t: "r" }, group: readonly Rec[], stack: readonly Level[], out: (r: Rec) => Promise<void>): Promise<void> {
  let cand: (Rec & { t: "e" }) | undefined;
  for (const e of group) {
    if (e.t === "e" && (e.l < r.l || (e.l === r.l && e.s < r.s))) cand = e;
  }
  const where = `layer ${r.l + 1}: hard link ${keyToPath(r.from)} to ${keyToPath(r.k)}`;
  const killed = (kills: readonly number[], from: number): boolean => kills.some((m) => m > from && m <= r.l);
  const ownWhiteouts = group.filter((w) => w.t === "w").map((w) => w.l);
  if (cand === undefined || killed(ownWhiteouts, cand.l) || stack.some((lv) => killed(lv.kills, cand.l))) {
    throw new StrataError("E_CLOSURE_INPUT", `${where}: expected the target to exist when the layer is applied, found it missing or deleted`,
      "the image is malformed (runtimes fail to unpack it too); re-create it");
  }
  if (cand.m.type === "5") throw new StrataError("E_CLOSURE_INPUT", `${where}: expected a file as the target, found a directory`, "the image is malformed; re-create it");
  if (cand.m.type === "1") {
    throw new StrataError("E_UNSUPPORTED", `${where}: expected the target to be a file, found another hard link (layer ${cand.l + 1})`,
      "export resolves one level of hard links; re-create the layer so that links name the file itself");
  }
  await out({ k: r.from, l: r.l, s: r.s, t: "R", inode: { l: cand.l, s: cand.s, m: cand.m } });
  await out({ k: r.k, l: cand.l, s: cand.s, t: "L" });
}

/** The entry to write for a path's winning version, hard links folded onto the first name written. */
function emitted(key: string, top: EntryMeta, rec: Rec & { t: "e" }, group: readonly Rec[], written: Map<string, string>): Emitted {
  const name = keyToPath(key) + (top.type === "5" ? "/" : "");
  let inode: { l: number; s: number; m: EntryMeta } | undefined;
  if (top.type === "1") {
    const answer = group.find((r): r is Rec & { t: "R" } => r.t === "R" && r.l === rec.l && r.s === rec.s);
    if (answer === undefined) throw new StrataError("E_INTERNAL", `hard link ${name} was not resolved`, "this is a bug in strata; please report it");
    inode = answer.inode;
  } else if (group.some((r) => r.t === "L" && r.l === rec.l && r.s === rec.s)) {
    inode = { l: rec.l, s: rec.s, m: top };
  }
  if (inode === undefined) return { name, meta: top, ...(top.type === "0" ? { layer: rec.l } : {}) };
  const id = `${inode.l}:${inode.s}`;
  const first = written.get(id);
  if (first !== undefined) return { name, meta: { ...inode.m, type: "1", size: 0, linkname: first } };
  written.set(id, name);
  return { name, meta: inode.m, ...(inode.m.type === "0" ? { layer: inode.l } : {}) };
}
