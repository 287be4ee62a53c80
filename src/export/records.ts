/**
 * The records export sorts: one per layer tar entry (or whiteout, or opaque marker), keyed by
 * the entry's path so that every version of a path, from every layer, arrives together, and
 * paths arrive in tree order (a directory right before its contents). They are metadata only:
 * a file's bytes stay in its layer tar and are found again by offset when the file is written.
 */

/** Tar entry types export keeps: file, hard link, symlink, char/block device, directory, FIFO. */
export type EntryType = "0" | "1" | "2" | "3" | "4" | "5" | "6";

/** What a layer says about one path; enough to write its tar header and find its bytes again. */
export interface EntryMeta {
  readonly type: EntryType;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly uname: string;
  readonly gname: string;
  /** Seconds (the ustar field, or the PAX record's integer part; `pax.mtime` keeps a fraction). */
  readonly mtime: number;
  readonly size: number;
  /** Symlink target as written; for a hard link, the normalised path of its target. */
  readonly linkname: string;
  readonly devmajor: number;
  readonly devminor: number;
  /** Where the content starts in the uncompressed layer tar. */
  readonly offset: number;
  /** PAX records kept as they are (xattrs, fractional times); not path, linkpath, size. */
  readonly pax?: Readonly<Record<string, string>>;
}

/**
 * - `e` an entry; `w` a whiteout (`.wh.NAME` deletes NAME from lower layers); `o` an opaque
 *   marker (`.wh..wh..opq`: the directory's lower contents are gone);
 * - `r` a hard link asking for its target: keyed at the target, (l, s) of the link, `from` = the
 *   link's path key;
 * - `R` the answer, keyed at the link: the inode (layer, seq, meta of the entry that made it);
 * - `L` the target entry (l, s) is the inode of some hard link.
 */
export type Rec =
  | { readonly k: string; readonly l: number; readonly s: number; readonly t: "e"; readonly m: EntryMeta }
  | { readonly k: string; readonly l: number; readonly s: number; readonly t: "w" | "o" | "L" }
  | { readonly k: string; readonly l: number; readonly s: number; readonly t: "r"; readonly from: string }
  | { readonly k: string; readonly l: number; readonly s: number; readonly t: "R"; readonly inode: { readonly l: number; readonly s: number; readonly m: EntryMeta } };

/** Separates path components in a key: below every other character, so `a/b` sorts before `a.b`. */
export const SEP = "\u0000";

/**
 * Order: path key (tree pre-order, children by UTF-16 code unit, which is byte order for ASCII
 * names), then layer bottom first, then position in the layer, then kind.
 */
export function compareRecs(a: Rec, b: Rec): number {
  if (a.k !== b.k) return a.k < b.k ? -1 : 1;
  if (a.l !== b.l) return a.l - b.l;
  if (a.s !== b.s) return a.s - b.s;
  return a.t < b.t ? -1 : a.t > b.t ? 1 : 0;
}

/** The key's path as a tar member name (`a/b`); the root is `./`. */
export function keyToPath(key: string): string {
  return key === "" ? "." : key.split(SEP).join("/");
}

/** Whether `ancestor` is a proper ancestor of `key` (the root `""` is everyone's). */
export function isAncestor(ancestor: string, key: string): boolean {
  return ancestor === "" ? key !== "" : key.length > ancestor.length && key.startsWith(ancestor) && key[ancestor.length] === SEP;
}

export function parentKey(key: string): string {
  const i = key.lastIndexOf(SEP);
  return i < 0 ? "" : key.slice(0, i);
}
