/**
 * A store derivation as `nix derivation show` prints it (and nix 2.8's `nix show-derivation`, the
 * same JSON): an object from `.drv` path to derivation. Every published version of that format is
 * read: 1 and 2 (full store paths, `inputSrcs`/`inputDrvs`), 3 (`version: 3`, base names without
 * the store dir) and 4 (`inputs: {srcs, drvs}`, `structuredAttrs`). `-r` output holds the whole
 * graph; the derivation meant is then the one no other derivation in the file depends on.
 */
import { StrataError } from "../errors.js";
import { readInputFile } from "../input-file.js";

export interface Derivation {
  /** The `.drv` store path. */
  readonly path: string;
  readonly name: string;
  /** Output name to store path (undefined for a floating content-addressed output). */
  readonly outputs: ReadonlyMap<string, string | undefined>;
  readonly inputSrcs: readonly string[];
  /** Input derivation to the outputs of it this one uses. */
  readonly inputDrvs: ReadonlyMap<string, readonly string[]>;
  readonly system: string;
  readonly builder: string;
  readonly args: readonly string[];
  readonly env: ReadonlyMap<string, string>;
  /** `__structuredAttrs = true` (`__json` in env, or version 4's `structuredAttrs`). */
  readonly structuredAttrs: boolean;
}

type Obj = { readonly [key: string]: unknown };

function bad(file: string, what: string): StrataError {
  return new StrataError("E_CLOSURE_INPUT", `${file}: not a derivation as \`nix derivation show\` prints it: ${what}`,
    "give the JSON of `nix derivation show DRV` (or nix 2.8's `nix show-derivation DRV`)");
}

const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

/** Reads the JSON file (or parsed value) and picks the derivation: `drvPath` if given, else the root. */
export function readDerivation(input: string | unknown, options: { drvPath?: string; storeDir?: string; file?: string } = {}): Derivation {
  const file = options.file ?? (typeof input === "string" ? input : "derivation JSON");
  let value: unknown = input;
  if (typeof input === "string") {
    const text = readInputFile(input, { code: "E_USAGE", what: "the derivation JSON", hint: "give the file `nix derivation show DRV > drv.json` wrote" });
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw bad(file, (err as Error).message);
    }
  }
  if (!isObj(value) || Object.keys(value).length === 0) throw bad(file, "expected an object from .drv path to derivation");
  const storeDir = options.storeDir ?? "/nix/store";
  const all = Object.entries(value).map(([key, drv]) => parseOne(file, full(key, storeDir), drv, storeDir));
  if (options.drvPath !== undefined) {
    const want = full(options.drvPath, storeDir);
    const found = all.find((d) => d.path === want);
    if (found === undefined) throw new StrataError("E_USAGE", `${file} has no derivation ${want} (it has ${all.length})`, "give one of the .drv paths the file holds");
    return found;
  }
  if (all.length === 1) return all[0]!;
  const inputs = new Set(all.flatMap((d) => [...d.inputDrvs.keys()]));
  const roots = all.filter((d) => !inputs.has(d.path));
  if (roots.length !== 1) {
    throw new StrataError("E_USAGE", `${file} holds ${all.length} derivations, ${roots.length} of them not an input of another`, "name the one meant with --drv /nix/store/...drv");
  }
  return roots[0]!;
}

/** Version 3 and later drop the store dir from store paths. */
function full(p: string, storeDir: string): string {
  return p.startsWith("/") ? p : `${storeDir}/${p}`;
}

function strings(file: string, v: unknown, what: string): string[] {
  if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) throw bad(file, `${what} must be a list of strings`);
  return v as string[];
}

function parseOne(file: string, drvPath: string, v: unknown, storeDir: string): Derivation {
  if (!isObj(v)) throw bad(file, `${drvPath} is not an object`);
  const where = (field: string): string => `${drvPath}: ${field}`;
  if (!isObj(v["env"]) || !Object.values(v["env"]).every((x) => typeof x === "string")) throw bad(file, where("env must map names to strings"));
  if (typeof v["builder"] !== "string" || typeof v["system"] !== "string") throw bad(file, where("builder and system must be strings"));
  if (!isObj(v["outputs"])) throw bad(file, where("outputs must be an object"));
  const env = new Map(Object.entries(v["env"] as Record<string, string>));
  const outputs = new Map<string, string | undefined>();
  for (const [name, out] of Object.entries(v["outputs"])) {
    const p = isObj(out) ? out["path"] : undefined;
    // Version 3 may leave the path out of fixed outputs; env holds it for every input-addressed one.
    outputs.set(name, typeof p === "string" ? full(p, storeDir) : env.get(name));
  }
  // Version 4 nests the inputs; earlier versions have them at the top.
  const inputs = isObj(v["inputs"]) ? v["inputs"] : { srcs: v["inputSrcs"], drvs: v["inputDrvs"] };
  const inputSrcs = strings(file, inputs["srcs"] ?? [], where("input sources")).map((p) => full(p, storeDir));
  const drvsValue = inputs["drvs"] ?? {};
  if (!isObj(drvsValue)) throw bad(file, where("input derivations must be an object"));
  const inputDrvs = new Map<string, string[]>();
  for (const [p, o] of Object.entries(drvsValue)) {
    // Version 4 has {outputs: [...], dynamicOutputs: {...}}; earlier ones the list itself.
    const list = isObj(o) ? o["outputs"] : o;
    inputDrvs.set(full(p, storeDir), strings(file, list, where(`the outputs of input ${p}`)));
  }
  const name = typeof v["name"] === "string" ? v["name"] : env.get("name") ?? drvPath.replace(/^.*\/[0-9a-z]{32}-/, "").replace(/\.drv$/, "");
  return {
    path: drvPath,
    name,
    outputs,
    inputSrcs,
    inputDrvs,
    system: v["system"],
    builder: v["builder"],
    args: strings(file, v["args"] ?? [], where("args")),
    env,
    structuredAttrs: env.has("__json") || v["structuredAttrs"] !== undefined && v["structuredAttrs"] !== null,
  };
}
