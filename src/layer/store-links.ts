/**
 * Where a symlink in the store leads, as the Nix sandbox would see it, never the host: the
 * customisation layer follows links to learn which are directories (symlinkJoin's lndir joins
 * those), and must not be led out of the store by them (issue 15, item 6).
 *
 * Paths are image paths (`/nix/store/<name>/...`) as raw bytes (names need not be UTF-8), and the
 * image's root is the store root (`fsRoot`): an absolute target starts there, and `..` never
 * climbs above it. Only what is inside a store path (`<storeDir>/<valid name>/...`) is looked up
 * on disk; every other component is taken as the plain directory it is in the sandbox (`/nix`,
 * `/nix/store`, and `/etc` or `/root` are not read from the host). A path that ends outside every
 * store path is not followed: the join keeps the link as it is, dangling, as a builder would.
 * So the same store gives the same answer on any host.
 *
 * The work is bounded: a resolution follows at most MAX_LINK_HOPS links (Linux's MAXSYMLINKS,
 * beyond which stat() fails with ELOOP: the link counts as dangling), and the whole walk takes at most `maxSteps` path
 * components, so a link with a 4,000-component target repeated a million times cannot spin.
 */
import { StrataError } from "../errors.js";
import { storePathProblem } from "../closure/graph-checks.js";
import { fsError } from "./fs-errors.js";
import { lookUp, S_IFDIR, S_IFLNK, S_IFMT } from "./list-dir.js";

/** Links followed in one resolution, as Linux allows (MAXSYMLINKS = 40). */
export const MAX_LINK_HOPS = 40;

const SLASH = 0x2f;
const DOT = Buffer.from(".");
const DOTDOT = Buffer.from("..");

/** A resolved path: a directory or other file inside a store path, or why it was not followed (a loop is "missing"). */
export type Resolution =
  | { readonly kind: "dir" | "file"; readonly path: Buffer }
  | { readonly kind: "missing" | "outside" };

interface Looked {
  readonly mode: number;
  readonly link: Buffer;
  /** The lstat failed with ENOENT or ENOTDIR: nothing there. */
  readonly missing: boolean;
}

export class StoreLinks {
  private readonly root: Buffer;
  private readonly storeParts: Buffer[];
  private readonly cache = new Map<string, Looked>();
  private steps = 0;

  constructor(fsRoot: string, private readonly storeDir: string, private readonly maxSteps: number) {
    this.root = Buffer.from(fsRoot, "utf8");
    this.storeParts = components(Buffer.from(storeDir, "utf8"));
  }

  /** Where the image path `p` (absolute) leads, links inside store paths followed. */
  resolve(p: Buffer): Resolution {
    // Components still to walk, the next one last (pop); and the resolved path so far.
    const todo = components(p).reverse();
    const done: Buffer[] = [];
    let hops = 0;
    while (todo.length > 0) {
      const c = todo.pop()!;
      if (++this.steps > this.maxSteps) throw this.tooMuch(p);
      if (c.equals(DOT)) continue;
      if (c.equals(DOTDOT)) {
        // Lexical: what is in `done` was looked up and is no symlink. At the root, `..` is the root.
        done.pop();
        continue;
      }
      done.push(c);
      if (!this.inStorePath(done)) continue;
      const found = this.lookUp(done);
      if (found.missing) return { kind: "missing" };
      if ((found.mode & S_IFMT) === S_IFLNK) {
        // stat() fails with ELOOP there, and lndir copies such a link as it is: so does the join.
        if (++hops > MAX_LINK_HOPS) return { kind: "missing" };
        done.pop();
        if (found.link[0] === SLASH) done.length = 0;
        for (const t of components(found.link).reverse()) todo.push(t);
      }
    }
    if (!this.inStorePath(done)) return { kind: "outside" };
    const end = this.lookUp(done); // looked up already (cached), and no symlink
    if (end.missing) return { kind: "missing" };
    return { kind: (end.mode & S_IFMT) === S_IFDIR ? "dir" : "file", path: joinParts(done) };
  }

  /** Where image path `p` is on this machine. */
  fsPath(p: Buffer): Buffer {
    return this.root.length === 0 ? p : Buffer.concat([this.root, p]);
  }

  /** Whether `parts` is a store path or below one: `<storeDir>/<valid name>[/...]`. */
  private inStorePath(parts: readonly Buffer[]): boolean {
    const n = this.storeParts.length;
    if (parts.length <= n) return false;
    for (let i = 0; i < n; i++) if (!parts[i]!.equals(this.storeParts[i]!)) return false;
    // Not `.links` and the like: only names a store path can have (ASCII, so utf8 decodes them as they are).
    return storePathProblem(`${this.storeDir}/${parts[n]!.toString("latin1")}`, this.storeDir) === undefined;
  }

  private lookUp(parts: readonly Buffer[]): Looked {
    const imagePath = joinParts(parts);
    const key = imagePath.toString("latin1");
    let found = this.cache.get(key);
    if (found === undefined) {
      const p = this.fsPath(imagePath);
      const child = lookUp(imagePath, p);
      const code = child.err?.code;
      if (child.err !== undefined && code !== "ENOENT" && code !== "ENOTDIR") throw fsError(child.err, p);
      found = { mode: child.mode, link: child.link, missing: child.err !== undefined };
      this.cache.set(key, found);
    }
    return found;
  }

  private tooMuch(p: Buffer): StrataError {
    return new StrataError("E_STORE_PATH", `resolving the symlinks of the contents took more than ${this.maxSteps} path components (at ${p.toString("utf8")})`,
      "a contents path has symlinks with enormous or looping targets; fix the package");
  }
}

/** The non-empty components of a path. */
export function components(p: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let start = 0;
  while (start <= p.length) {
    let end = p.indexOf(SLASH, start);
    if (end < 0) end = p.length;
    if (end > start) out.push(p.subarray(start, end));
    start = end + 1;
  }
  return out;
}

/** `/a/b/c` from [a, b, c]. */
export function joinParts(parts: readonly Buffer[]): Buffer {
  const list: Buffer[] = [];
  for (const c of parts) list.push(SLASH_BUF, c);
  return list.length === 0 ? SLASH_BUF : Buffer.concat(list);
}

const SLASH_BUF = Buffer.from("/");
