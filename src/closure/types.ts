/**
 * The closure: the store paths an image holds and how they reference each other. Read-only nouns;
 * the readers in this folder make them, the planner in src/plan/ consumes them.
 */

/** One store path of the closure, as a references graph or `nix path-info` describes it. */
export interface StorePathInfo {
  /** Absolute store path, e.g. `/nix/store/<hash>-hello-2.12`. */
  readonly path: string;
  /** The paths it references, sorted, without itself (see `selfReference`). */
  readonly references: readonly string[];
  /** Whether the path references itself (most store paths with binaries do). */
  readonly selfReference: boolean;
  /** Size of the path's NAR serialisation in bytes, 0 when the input did not say. */
  readonly narSize: number;
  /** `sha256:<nix base32>` as Nix prints it, when the input had it. */
  readonly narHash?: string;
  /** The deriver (`/nix/store/...drv`), when the input had it. */
  readonly deriver?: string;
}

/** A closed set of store paths: every reference of every path is itself in `paths`. */
export interface ClosureGraph {
  /** The store directory, normally `/nix/store`. Every path starts with it. */
  readonly storeDir: string;
  /** Every path of the closure, keyed by path; iteration order is sorted by path. */
  readonly paths: ReadonlyMap<string, StorePathInfo>;
}
