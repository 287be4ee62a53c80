/**
 * NAR hashing on a piscina pool: many store paths hashed in parallel, one task per path, results
 * in input order. Its own pool (not the layer pool): NAR hashes are needed while planning, before
 * any layer task starts, and a hashing task never waits on anything but the disk.
 */
import os from "node:os";
import { Piscina } from "piscina";
import { poolWorker } from "../pool/worker-file.js";
import { StrataError, toStrataError } from "../errors.js";
import type { NarInfo } from "./nar.js";

/** One task: the store path `storePath` (named `/nix/store/...`), read at `fsRoot + storePath`. */
export interface NarTask {
  readonly storePath: string;
  /** Prefix of the store on this machine (`--store-root`): `""` for the real /nix/store. */
  readonly fsRoot: string;
}

export interface NarHashOptions {
  /** Read the store under this directory, as Nix's `local?root=DIR` (default: `""`, the real store). */
  readonly fsRoot?: string;
  /** Worker threads (default: the machine's available parallelism). */
  readonly workers?: number;
  readonly signal?: AbortSignal;
}

export class NarPool {
  private readonly pool: Piscina;

  constructor(workers: number = os.availableParallelism()) {
    if (!Number.isInteger(workers) || workers < 1) {
      throw new StrataError("E_USAGE", `workers must be an integer >= 1, got ${workers}`, "pass a positive number of worker threads");
    }
    this.pool = new Piscina({ ...poolWorker("nar-worker"), minThreads: workers, maxThreads: workers, idleTimeout: 1000 });
  }

  /** The NAR hash and size of one store path; errors arrive as StrataErrors, code intact. */
  async hash(storePath: string, fsRoot = "", signal?: AbortSignal): Promise<NarInfo> {
    checkArgs(storePath, fsRoot);
    const task: NarTask = { storePath, fsRoot };
    try {
      return (await this.pool.run(task, signal === undefined ? {} : { signal })) as NarInfo;
    } catch (err) {
      throw toStrataError(err, `NAR hash of ${storePath}`);
    }
  }

  async destroy(): Promise<void> {
    await this.pool.destroy();
  }
}

/**
 * NAR hash and size of every path, in input order, computed on a pool of its own that is torn
 * down afterwards. The first failure aborts the rest and is thrown.
 */
export async function narHashStorePaths(paths: readonly string[], options: NarHashOptions = {}): Promise<NarInfo[]> {
  const fsRoot = options.fsRoot ?? "";
  for (const p of paths) checkArgs(p, fsRoot);
  if (paths.length === 0) return [];
  const workers = Math.min(options.workers ?? os.availableParallelism(), paths.length);
  const pool = new NarPool(workers);
  // A signal per task, and one listener on the caller's: piscina listens on the signal of every
  // task queued, and one signal shared by all of them collected a listener per store path
  // (MaxListenersExceededWarning past ten). A task's signal is dropped when the task ends.
  const running = new Set<AbortController>();
  const abortAll = (): void => running.forEach((c) => c.abort(options.signal?.reason));
  options.signal?.addEventListener("abort", abortAll, { once: true });
  const hash = async (p: string): Promise<NarInfo> => {
    const task = new AbortController();
    running.add(task);
    try {
      options.signal?.throwIfAborted();
      return await pool.hash(p, fsRoot, task.signal);
    } finally {
      running.delete(task);
    }
  };
  try {
    return await Promise.all(paths.map(hash));
  } catch (err) {
    abortAll();
    throw toStrataError(err);
  } finally {
    options.signal?.removeEventListener("abort", abortAll);
    await pool.destroy();
  }
}

function checkArgs(storePath: string, fsRoot: string): void {
  if (!storePath.startsWith("/")) {
    throw new StrataError("E_USAGE", `a store path must be absolute, got ${JSON.stringify(storePath)}`, "pass store paths as Nix prints them, e.g. /nix/store/<hash>-<name>");
  }
  if (fsRoot !== "" && (!fsRoot.startsWith("/") || fsRoot.endsWith("/"))) {
    throw new StrataError("E_USAGE", `fsRoot must be "" or an absolute directory without a trailing slash, got ${JSON.stringify(fsRoot)}`,
      "pass the directory that holds nix/store, as for Nix's local?root=DIR");
  }
}

