/**
 * A closure graph with every narHash and narSize filled in, computed on a worker pool where the
 * input lacked them (exportReferencesGraph without narHash, a hand-made graph), or for every path
 * with `verify` (strata's `--verify-nar`), which then also checks the given values.
 */
import { StrataError } from "../errors.js";
import type { ClosureGraph, StorePathInfo } from "../closure/types.js";
import { narHashStorePaths, type NarHashOptions } from "./nar-pool.js";
import { normaliseNarHash } from "./hash-format.js";

export interface FillNarHashesOptions extends NarHashOptions {
  /**
   * Hash every path, and fail with E_CHECKSUM where a given narHash or (non-zero) narSize differs
   * from the store's contents. Default false: only paths without a narHash or with narSize 0.
   */
  readonly verify?: boolean;
}

/**
 * `graph` with every narHash as `sha256:<nix base32>` and every narSize set. Paths that need
 * hashing are read at `fsRoot + path`; given hashes in another spelling (base16, SRI) are
 * normalised, and an unreadable one is an E_CLOSURE_INPUT error.
 */
export async function withNarHashes(graph: ClosureGraph, options: FillNarHashesOptions = {}): Promise<ClosureGraph> {
  const infos = [...graph.paths.values()];
  const given = infos.map((info) => {
    if (info.narHash === undefined) return undefined;
    const hash = normaliseNarHash(info.narHash);
    if (hash === undefined) {
      throw new StrataError("E_CLOSURE_INPUT", `${info.path} has narHash ${JSON.stringify(info.narHash)}, expected a sha256 hash (sha256:<base32 or base16>, or sha256-<base64>)`,
        "fix the closure input, or drop its narHash fields to have strata compute them");
    }
    return hash;
  });
  const todo = infos.filter((info, i) => options.verify === true || given[i] === undefined || info.narSize === 0);
  const computed = await narHashStorePaths(todo.map((info) => info.path), options);
  const byPath = new Map(todo.map((info, i) => [info.path, computed[i]!]));

  const paths = new Map<string, StorePathInfo>();
  infos.forEach((info, i) => {
    const nar = byPath.get(info.path);
    const hash = given[i];
    // Whatever was computed is checked against what was given: a mismatch is never silently kept.
    if (nar !== undefined) {
      if (hash !== undefined && hash !== nar.narHash) {
        throw new StrataError("E_CHECKSUM", `${info.path} has NAR hash ${nar.narHash}, but the closure input says ${hash}`,
          "the store path was modified after it was registered; repair it (nix-store --verify --check-contents --repair) or rebuild it");
      }
      if (info.narSize !== 0 && info.narSize !== nar.narSize) {
        throw new StrataError("E_CHECKSUM", `${info.path} has a NAR of ${nar.narSize} bytes, but the closure input says ${info.narSize}`,
          "the store path was modified after it was registered; repair it (nix-store --verify --check-contents --repair) or rebuild it");
      }
    }
    paths.set(info.path, {
      ...info,
      narHash: hash ?? nar!.narHash,
      narSize: info.narSize !== 0 ? info.narSize : nar!.narSize,
    });
  });
  return { storeDir: graph.storeDir, paths };
}
