/**
 * `strata cache [show|prune|clear]`: where the local layer cache is, what it holds, and removing
 * what is old (or everything). `show` never creates a cache that is not there yet.
 */
import fs from "node:fs";
import path from "node:path";
import { cacheDir, DB_FILE } from "../cache/cache-dir.js";
import { DEFAULT_PRUNE_DAYS, LayerCache } from "../cache/layer-cache.js";
import type { CacheStats, PruneResult } from "../cache/types.js";
import { StrataError } from "../errors.js";
import { human } from "../format-bytes.js";

export interface CacheCommandOptions {
  readonly cacheDir?: string;
  /** --older-than, as given. */
  readonly olderThan?: string;
  readonly json: boolean;
}

const ACTIONS = ["show", "prune", "clear"] as const;

export function runCacheCommand(positionals: readonly string[], options: CacheCommandOptions, out: NodeJS.WritableStream, warn: (m: string) => void): number {
  if (positionals.length > 1) throw new StrataError("E_USAGE", `strata cache takes one action, got ${positionals.length}: ${positionals.join(" ")}`, "run `strata cache --help`");
  const action = positionals[0] ?? "show";
  if (!(ACTIONS as readonly string[]).includes(action)) {
    throw new StrataError("E_USAGE", `unknown cache action ${JSON.stringify(action)}, expected show, prune or clear`, "run `strata cache --help`");
  }
  if (options.olderThan !== undefined && action !== "prune") throw new StrataError("E_USAGE", `--older-than applies to prune, not ${action}`, "e.g. strata cache prune --older-than 30");
  const days = options.olderThan === undefined ? DEFAULT_PRUNE_DAYS : parseDays(options.olderThan);
  const dir = cacheDir(options.cacheDir);
  if (action === "show" && (dir === undefined || !fs.existsSync(path.join(dir, DB_FILE)))) {
    const stats: CacheStats = { path: dir === undefined ? "" : path.join(dir, DB_FILE), usable: dir !== undefined, layers: 0, blobs: 0, files: 0, bytes: 0 };
    out.write(options.json ? JSON.stringify(stats, null, 2) + "\n" : formatStats(stats, "not created yet"));
    return 0;
  }
  const cache = LayerCache.open({ ...(options.cacheDir === undefined ? {} : { dir: options.cacheDir }), warn });
  try {
    if (action === "show") {
      const stats = cache.stats();
      out.write(options.json ? JSON.stringify(stats, null, 2) + "\n" : formatStats(stats));
      return 0;
    }
    const r = cache.prune(action === "clear" ? { all: true } : { olderThanDays: days });
    out.write(options.json ? JSON.stringify(r) + "\n" : formatPrune(r, action === "clear" ? "" : ` not used for ${days} days or whose files are gone`));
    return 0;
  } finally {
    cache.close();
  }
}

function parseDays(s: string): number {
  if (!/^\d+(\.\d+)?$/.test(s)) throw new StrataError("E_USAGE", `--older-than must be a number of days, got ${JSON.stringify(s)}`, "e.g. strata cache prune --older-than 30");
  return Number(s);
}

function formatStats(s: CacheStats, note?: string): string {
  if (s.path === "") return `no layer cache: ${s.problem ?? "no cache directory (set XDG_CACHE_HOME or HOME, or pass --cache-dir)"}\n`;
  const lines = [`layer cache: ${s.path}${note === undefined ? "" : ` (${note})`}`];
  if (!s.usable) lines.push(`  unusable: ${s.problem ?? "unknown problem"}`, "  (strata cache clear removes it)");
  lines.push(
    `  layers: ${s.layers} (${s.blobs} compressed blobs)`,
    `  layout file stamps: ${s.files}`,
    `  size: ${human(s.bytes)}`,
  );
  if (s.oldest !== undefined && s.newest !== undefined) lines.push(`  last used: oldest ${s.oldest.toISOString()}, newest ${s.newest.toISOString()}`);
  return lines.join("\n") + "\n";
}

function formatPrune(r: PruneResult, why: string): string {
  return `removed ${r.layers} layer${r.layers === 1 ? "" : "s"} and ${r.files} layout file stamp${r.files === 1 ? "" : "s"}${why}\n`;
}
