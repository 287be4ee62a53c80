/**
 * The library names its options in its messages (`maxLayers=3 leaves no layer ...`, `give either
 * graph or fromStore`), which is right for a library caller and wrong for a CLI user, who typed
 * --max-layers. The CLI rewrites the option names in usage and budget errors to the flags; the
 * library's messages stay as they are. Plain English words that are also option names (graph,
 * name, level) are rewritten only where a message starts with them or names them as options.
 */
import { StrataError } from "../errors.js";

const CAMEL: readonly (readonly [RegExp, string])[] = [
  [/\bmaxLayers=(\d+)/g, "--max-layers $1"],
  [/\bmaxLayers\b/g, "--max-layers"],
  [/\bgraph or fromStore\b/g, "--graph or --from-store"],
  [/\bfromStore\b/g, "--from-store"],
  [/\blayerCompress\b/g, "--layer-compress"],
  [/\btmpDir\b/g, "--tmp-dir"],
  [/\bstoreRoot\b/g, "--store-root"],
  [/\bincludeStorePaths\b/g, "--include-store-paths"],
  [/\binheritConfig\b/g, "--inherit-config"],
  [/\bnixDb\b/g, "--nix-db"],
  [/\bverifyNar\b/g, "--verify-nar"],
  [/\bfakeNss\b/g, "--fake-nss"],
  [/\bbaseLayers\b/g, "the base image's layer count"],
  [/\bstrategy must be\b/g, "--layering must be"],
  [/^format oci writes a layout directory: output must be its path/, "--format oci writes a layout directory: -o must give its path"],
];

/** Options whose name is an ordinary word: rewritten at the start of a message ("workers must be ..."). */
const LEADING = /^(workers|level|format|compress|tag|name|uid|gid|created|mtime|tmp-dir|architecture) (must|was|given|\()/;

export function withFlagNames(e: StrataError): StrataError {
  if (e.code !== "E_USAGE" && e.code !== "E_LAYER_BUDGET") return e;
  const rewrite = (s: string): string => CAMEL.reduce((t, [re, to]) => t.replace(re, to), s.replace(LEADING, "--$1 $2"));
  const message = rewrite(e.message);
  const hint = rewrite(e.hint);
  if (message === e.message && hint === e.hint) return e;
  return new StrataError(e.code, message, hint, { cause: e.cause ?? e });
}
