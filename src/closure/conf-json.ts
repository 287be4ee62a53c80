/**
 * The conf.json nixpkgs' streamLayeredImage passes to its stream script (spec §1.3), read and
 * checked. Every field the script uses is accepted in the forms nixpkgs has produced over time:
 * uid/gid as strings (jq --arg) or numbers, and the classic confs without mtime/uid/gid/uname/gname
 * (then `created` was the mtime and owners were root).
 */
import type { JsonValue } from "../image/py-json.js";
import { StrataError } from "../errors.js";
import { parseImageTime, type ImageTime } from "../image-time.js";
import { storeDirProblem, storePathProblem } from "./graph-checks.js";

export interface StreamConf {
  readonly storeDir: string;
  readonly fromImage: string | null;
  readonly storeLayers: readonly (readonly string[])[];
  readonly customisationLayer: string;
  readonly repoTag: string;
  readonly created: ImageTime;
  readonly mtime: ImageTime;
  readonly uid: number;
  readonly gid: number;
  readonly uname: string;
  readonly gname: string;
  readonly architecture: string;
  readonly config: { readonly [key: string]: JsonValue };
}

export function parseStreamConf(text: string, source: string): StreamConf {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new StrataError("E_CLOSURE_INPUT", `${source} is not valid JSON: ${(err as Error).message}`,
      "pass the conf.json that nixpkgs' streamLayeredImage wrote (the `conf` attribute of the stream)", { cause: err });
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw bad(source, "the top level", "an object", raw);
  }
  const o = raw as Record<string, unknown>;
  const str = (key: string, fallback?: string): string => {
    const v = o[key] ?? fallback;
    if (typeof v !== "string") throw bad(source, key, "a string", v);
    return v;
  };
  const int = (key: string, fallback: number): number => {
    const v = o[key] ?? fallback;
    const n = typeof v === "string" && /^\s*[+-]?\d+\s*$/.test(v) ? Number(v) : v;
    if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 0) throw bad(source, key, "a non-negative integer (number or string)", v);
    return n;
  };

  const storeDir = str("store_dir", "/nix/store");
  const dirProblem = storeDirProblem(storeDir);
  if (dirProblem !== undefined) throw bad(source, "store_dir", `a store directory (${dirProblem})`, storeDir);
  const layersRaw = o["store_layers"];
  if (!Array.isArray(layersRaw) || !layersRaw.every((l) => Array.isArray(l) && l.every((p) => typeof p === "string"))) {
    throw bad(source, "store_layers", "a list of lists of store paths", layersRaw);
  }
  const storeLayers = layersRaw as string[][];
  // nixpkgs' script only asserts a string prefix; strata reads these paths as root, so each must be
  // a store path itself: not the store (which would pack every path in it), not a file inside one,
  // no `..` that climbs out of it.
  for (const layer of storeLayers) {
    for (const p of layer) {
      const problem = storePathProblem(p, storeDir, { hashed: true });
      if (problem !== undefined) {
        throw new StrataError("E_STORE_PATH", `${source}: store_layers names ${JSON.stringify(p)}, which is not a store path directly under store_dir ${storeDir}: ${problem}`,
          "store_layers lists store paths as nixpkgs writes them (<store_dir>/<hash>-<name>); pass the conf.json it wrote, unmodified");
      }
    }
  }
  const fromImage = o["from_image"] ?? null;
  if (fromImage !== null && typeof fromImage !== "string") throw bad(source, "from_image", "null or a path", fromImage);
  if (fromImage !== null) checkNamedPath(fromImage, "from_image", storeDir, source, true);
  const customisationLayer = str("customisation_layer");
  checkNamedPath(customisationLayer, "customisation_layer", storeDir, source, false);
  const config = o["config"] ?? {};
  if (typeof config !== "object" || config === null || Array.isArray(config)) throw bad(source, "config", "an object", config);

  const created = parseImageTime(str("created", "1970-01-01T00:00:01+00:00"), "created");
  return {
    storeDir,
    fromImage,
    storeLayers,
    customisationLayer,
    repoTag: str("repo_tag"),
    created,
    // Classic confs had no mtime: `created` was the mtime of every file then.
    mtime: o["mtime"] === undefined ? created : parseImageTime(str("mtime"), "mtime"),
    uid: int("uid", 0),
    gid: int("gid", 0),
    uname: str("uname", "root"),
    gname: str("gname", "root"),
    architecture: str("architecture", "amd64"),
    config: config as { [key: string]: JsonValue },
  };
}

/**
 * customisation_layer and from_image: nixpkgs writes store paths there, and a path under store_dir
 * must be one (it is read under --store-root): customisation_layer the output of its derivation,
 * from_image a store path or a file inside one (`"${drv}/image.tar"` is a valid fromImage). A path
 * elsewhere is read where it is, as nixpkgs' script reads it (hand-written confs and tests name
 * files outside the store). Either way no `..` or `.` component, which would only disguise where
 * the path leads.
 */
function checkNamedPath(p: string, key: string, storeDir: string, source: string, inside: boolean): void {
  const inStore = p === storeDir || p.startsWith(`${storeDir}/`);
  const below = inStore ? p.slice(storeDir.length + 1).split("/") : [];
  const storePath = inStore ? `${storeDir}/${below[0] ?? ""}` : p;
  const dots = p.split("/").some((c) => c === ".." || c === ".");
  const problem = p === "" ? "it is empty"
    : dots ? "it has a '.' or '..' component"
    : !inStore ? undefined
    : storePathProblem(inside ? storePath : p, storeDir, { hashed: true }) ?? (below.slice(1).includes("") ? "it has an empty component or a trailing slash" : undefined);
  if (problem !== undefined) {
    throw new StrataError("E_STORE_PATH", `${source}: ${key} names ${JSON.stringify(p)}, which is not ${inStore ? `a store path ${inside ? "(or a file in one) " : ""}directly under store_dir ${storeDir}` : "a plain path"}: ${problem}`,
      `${key} names a store path as nixpkgs writes it (<store_dir>/<hash>-<name>); pass the conf.json it wrote, unmodified`);
  }
}

function bad(source: string, key: string, expected: string, got: unknown): StrataError {
  const found = got === undefined ? "nothing" : JSON.stringify(got)?.slice(0, 80) ?? String(got);
  return new StrataError("E_CLOSURE_INPUT", `${source}: ${key} must be ${expected}, got ${found}`,
    "pass the conf.json that nixpkgs' streamLayeredImage wrote, unmodified");
}
