/**
 * Where the layer cache lives: `--cache-dir DIR`, else `$XDG_CACHE_HOME/strata`, else
 * `~/.cache/strata` (the XDG Base Directory default).
 */
import os from "node:os";
import path from "node:path";

/** The database's file name inside the cache directory. */
export const DB_FILE = "cache.sqlite";

/**
 * The cache directory, or undefined when there is none to use (no --cache-dir, no absolute
 * XDG_CACHE_HOME, and no home directory). A relative XDG_CACHE_HOME is ignored, as the XDG spec
 * says; a relative --cache-dir is taken from the working directory.
 */
export function cacheDir(dir: string | undefined, env: NodeJS.ProcessEnv = process.env, home: () => string = os.homedir): string | undefined {
  if (dir !== undefined && dir !== "") return path.resolve(dir);
  const xdg = env["XDG_CACHE_HOME"];
  if (xdg !== undefined && path.isAbsolute(xdg)) return path.join(xdg, "strata");
  let h: string;
  try {
    h = home();
  } catch {
    return undefined; // no HOME and no passwd entry (a bare container's uid)
  }
  return h !== "" && path.isAbsolute(h) ? path.join(h, ".cache", "strata") : undefined;
}
