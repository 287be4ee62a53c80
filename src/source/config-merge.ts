/**
 * The runtime config of an image built on a base image. `Env` merges exactly as nixpkgs' stream
 * script does (spec §2.7): base Env then the image's Env, de-duplicated by variable name (the text
 * before the first `=`; an entry without `=` is its own name), the last value winning at the
 * position where the name first appeared (Python dict semantics, which a Map keeps too); the
 * result replaces `Env` where it was, or is appended last when the config had no `Env`, and only
 * when the merged list is non-empty. nixpkgs drops the rest of the base config; with `inherit`
 * (`--inherit-config`) Cmd, Entrypoint, WorkingDir, User, Labels, ExposedPorts and Volumes carry
 * over unless the image's config sets them (Labels merge, the image's values winning;
 * ExposedPorts and Volumes are the union).
 */
import type { JsonValue } from "../image/py-json.js";
import { StrataError } from "../errors.js";
import type { RuntimeConfig } from "./types.js";

/** Kept from the base as they are, unless the image's config has the key. */
const INHERITED = ["Cmd", "Entrypoint", "WorkingDir", "User"] as const;
/** Objects merged key by key: Labels (the image's values win), ExposedPorts and Volumes (sets). */
const MERGED = ["Labels", "ExposedPorts", "Volumes"] as const;

export interface MergeConfigOptions {
  /** Carry over Cmd, Entrypoint, WorkingDir, User, Labels, ExposedPorts and Volumes from the base. */
  readonly inherit: boolean;
}

/**
 * `config` (the image's runtime config, key order kept) merged onto `baseConfig` (the base
 * image config's `config` object; null or undefined when it has none). Returns a new object.
 */
export function mergeBaseConfig(
  baseConfig: RuntimeConfig | null | undefined,
  config: RuntimeConfig,
  options: MergeConfigOptions,
): RuntimeConfig {
  const base = baseConfig ?? {};
  const out: { [key: string]: JsonValue } = { ...config };
  if (options.inherit) {
    for (const key of MERGED) {
      const b = base[key];
      if (!isObject(b)) continue;
      const own = config[key];
      if (own === undefined) out[key] = sortedObject({ ...b });
      else if (isObject(own)) out[key] = sortedObject({ ...b, ...own });
    }
    // Keys new to the config come after its own, in the base's order.
    // As Docker does: an image that sets its own Entrypoint does not inherit the base's Cmd (it
    // would become arguments to an entrypoint it was never written for).
    const resetsCmd = config["Entrypoint"] !== undefined;
    for (const key of Object.keys(base)) {
      const inheritable = (INHERITED as readonly string[]).includes(key) || (MERGED as readonly string[]).includes(key);
      if (key === "Cmd" && resetsCmd) continue;
      if (inheritable && !(key in out) && base[key] !== undefined) out[key] = base[key]!;
    }
  }
  const env = [...envList(base["Env"], "the base image's Env"), ...envList(config["Env"], "the image's Env")];
  if (env.length > 0) {
    const byName = new Map<string, string>();
    for (const entry of env) {
      const eq = entry.indexOf("=");
      byName.set(eq === -1 ? entry : entry.slice(0, eq), entry);
    }
    // Replaces Env in place when the key exists; a new key is appended last, as in a Python dict.
    out["Env"] = [...byName.values()];
  }
  return out;
}

function envList(value: JsonValue | undefined, what: string): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) {
    throw new StrataError("E_CLOSURE_INPUT", `expected ${what} to be a list of "NAME=value" strings, found ${JSON.stringify(value).slice(0, 200)}`,
      "fix the Env of the config");
  }
  return value as string[];
}

function isObject(v: JsonValue | undefined): v is { readonly [key: string]: JsonValue } {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Keys sorted as Nix's builtins.toJSON (and Go's encoding/json) write them: by code unit. */
function sortedObject(o: { readonly [key: string]: JsonValue }): { [key: string]: JsonValue } {
  const out: { [key: string]: JsonValue } = {};
  for (const k of Object.keys(o).sort()) out[k] = o[k]!;
  return out;
}
