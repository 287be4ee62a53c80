/**
 * `strata nix-shell-image`: nixpkgs' dockerTools.streamNixShellImage / buildNixShellImage from a
 * derivation's JSON. The image drops the user into the derivation's build environment: its
 * variables, nix-shell's rcfile (sources $stdenv/setup, runs shellHook), /build as the working
 * dir, HOME and the temp dirs, the user nixbld in /etc/passwd and /etc/group, the given shell as
 * /bin/sh and Cmd. The store layers hold the closure of the derivation's inputs and the shell.
 *
 * Built on buildImage: what nixpkgs puts in `contents` and `fakeRootCommands` (binSh, usrBinEnv,
 * fakeNss with nixbld, a Nix store and /build owned by the build user) becomes customisation-layer
 * entries, so no fakeroot is needed.
 */
import { buildImage, type BuildOptions } from "../build.js";
import type { ExtraEntry } from "../layer/customisation-layer.js";
import type { ImageResult } from "../image/image-spec.js";
import { StrataError } from "../errors.js";
import { usage } from "../options.js";
import { readDerivation, type Derivation } from "./derivation-json.js";
import { RCFILE, SANDBOX_BUILD_DIR, shellEnv, WRAPPER_BIN } from "./shell-env.js";

type Passed = "output" | "format" | "layerCompress" | "compress" | "level" | "workers" | "tmpDir" | "signal" | "onProgress"
  | "graph" | "storeRoot" | "name" | "tag" | "maxLayers" | "layering" | "architecture" | "created" | "mtime" | "nixDb";

export interface NixShellImageOptions extends Pick<BuildOptions, Passed> {
  /** The derivation: a `nix derivation show` JSON file, its parsed value, or a parsed Derivation. */
  readonly derivation: string | Derivation | object;
  /** With a file holding several derivations (`nix derivation show -r`): which one. Default: the one no other depends on. */
  readonly drvPath?: string;
  /** The shell, a file in the store (nixpkgs: `${bashInteractive}/bin/bash`); also /bin/sh. Required. */
  readonly shell: string;
  /** Read the closure of the inputs from the host's Nix database (under storeRoot) instead of `graph`. */
  readonly fromStore?: boolean;
  /** The build user. Defaults: 1000, 1000 (nixpkgs'). */
  readonly uid?: number;
  readonly gid?: number;
  /** The build user's home. Default: /build (nixpkgs'; Nix's sandbox says /homeless-shelter). */
  readonly homeDirectory?: string;
  /** Run this in the shell after the hook, then exit (nixpkgs' `command`: Cmd stays interactive). */
  readonly command?: string;
  /** Run this non-interactively, then exit (nixpkgs' `run`: Cmd runs the rcfile as a script). */
  readonly run?: string;
  /** A CA bundle file in the store for SSL_CERT_FILE and NIX_SSL_CERT_FILE (nixpkgs: cacert's). Default: none. */
  readonly caBundle?: string;
  /** An `env` program in the store for /usr/bin/env (nixpkgs: coreutils'). Default: none. */
  readonly usrBinEnv?: string;
}

const STORE_PATH = /\/nix\/store\/[0-9a-df-np-sv-z]{32}-[A-Za-z0-9+\-._?=]+/g;

/** The store path a file in the store is in: /nix/store/HASH-name/bin/bash -> /nix/store/HASH-name. */
export function storePathOf(file: string, what: string): string {
  const m = /^\/nix\/store\/[0-9a-df-np-sv-z]{32}-[A-Za-z0-9+\-._?=]+/.exec(file);
  if (m === null) throw usage(`${what} must be a file in /nix/store, got ${JSON.stringify(file)}`, `e.g. --shell "$(nix-build '<nixpkgs>' -A bashInteractive)/bin/bash"`);
  return m[0];
}

/** The BuildOptions of the image: also what tests and `strata plan`-like tools can look at. */
export function nixShellBuildOptions(o: NixShellImageOptions): BuildOptions & { readonly derivation: Derivation; readonly roots: readonly string[]; readonly warnings: readonly string[] } {
  const drv = typeof o.derivation === "object" && "env" in o.derivation && o.derivation.env instanceof Map
    ? (o.derivation as Derivation)
    : readDerivation(o.derivation, o.drvPath === undefined ? {} : { drvPath: o.drvPath });
  if (drv.structuredAttrs) {
    throw new StrataError("E_UNSUPPORTED", `${drv.path} uses __structuredAttrs, which nix-shell images do not support (as in nixpkgs' streamNixShellImage)`,
      "build the shell image for a derivation without __structuredAttrs");
  }
  if (o.command !== undefined && o.run !== undefined) throw usage("give command or run, not both (as nixpkgs' streamNixShellImage)", "use --command for an interactive shell, --run for a script");
  if ((o.graph === undefined) === (o.fromStore !== true)) throw usage("a nix-shell image needs the closure of the inputs: graph or fromStore, one of them", "use --graph GRAPH.json or --from-store");
  const uid = o.uid ?? 1000;
  const gid = o.gid ?? 1000;
  for (const [what, id] of [["uid", uid], ["gid", gid]] as const) {
    if (!Number.isSafeInteger(id) || id < 0) throw usage(`${what} must be a non-negative integer, got ${id}`, `e.g. --${what} 1000`);
  }
  const home = o.homeDirectory ?? SANDBOX_BUILD_DIR;
  const shell = o.shell;
  const env = shellEnv(drv, { shell, homeDirectory: home, storeDir: "/nix/store", ...(o.caBundle === undefined ? {} : { caBundle: o.caBundle }), ...(o.command === undefined ? {} : { command: o.command }), ...(o.run === undefined ? {} : { run: o.run }) });

  // The inputs: sources, and the outputs of input derivations, found where Nix put them (in the
  // env, builder and args; nixpkgs' image closure comes from the same strings' context).
  const own = new Set([...drv.outputs.values()].filter((p): p is string => p !== undefined));
  const named = new Set([drv.builder, ...drv.args, ...drv.env.values()].flatMap((s) => [...s.matchAll(STORE_PATH)].map((m) => m[0])));
  const wanted = new Set([...drv.inputDrvs].flatMap(([p, outs]) => {
    const base = p.replace(/^.*\/[0-9a-z]{32}-/, "").replace(/\.drv$/, "");
    return outs.map((out) => (out === "out" ? base : `${base}-${out}`));
  }));
  const inputs = [...named].filter((p) => !own.has(p) && wanted.has(p.replace(/^\/nix\/store\/[0-9a-z]{32}-/, "")));
  const warnings: string[] = [];
  const found = new Set(inputs.map((p) => p.replace(/^\/nix\/store\/[0-9a-z]{32}-/, "")));
  const missing = [...wanted].filter((n) => !found.has(n));
  if (missing.length > 0) warnings.push(`input derivation outputs named nowhere in ${drv.path}'s env, builder or args are not in the image: ${missing.join(", ")}`);
  const roots = [...new Set([...drv.inputSrcs, ...inputs, storePathOf(shell, "shell"),
    ...(o.caBundle === undefined ? [] : [storePathOf(o.caBundle, "the CA bundle")]),
    ...(o.usrBinEnv === undefined ? [] : [storePathOf(o.usrBinEnv, "usrBinEnv")])])].sort();

  const file = (path: string, text: string, mode = 0o644): ExtraEntry => ({ type: "file", path, mode, content: Buffer.from(text) });
  const extras: ExtraEntry[] = [
    // binSh, usrBinEnv
    { type: "symlink", path: "bin/sh", target: shell },
    ...(o.usrBinEnv === undefined ? [] : [{ type: "symlink", path: "usr/bin/env", target: o.usrBinEnv } as const]),
    // fakeNss with the build user, as nixpkgs overrides it
    file("etc/passwd", `root:x:0:0:root user:/var/empty:/bin/sh\nnixbld:x:${uid}:${gid}:Build user:${home}:/noshell\nnobody:x:65534:65534:nobody:/var/empty:/bin/sh\n`),
    file("etc/group", `root:x:0:\nnixbld:!:${gid}:\nnobody:x:65534:\n`),
    file("etc/nsswitch.conf", "hosts: files dns\n"),
    { type: "directory", path: "var/empty", mode: 0o555 },
    // fakeRootCommands: a single-user Nix store and the build dir, owned by the build user
    { type: "directory", path: "nix/store", mode: 0o755 },
    { type: "directory", path: "nix/var/nix", mode: 0o755 },
    { type: "directory", path: "etc/nix", mode: 0o755 },
    { type: "directory", path: SANDBOX_BUILD_DIR, mode: 0o755 },
    ...env.passAsFile.map((f) => file(f.path, f.content)),
    // What nixpkgs writes to the store (writeText, writeShellScriptBin)
    file(RCFILE, env.rcfile),
    file(`${WRAPPER_BIN}/buildDerivation`, env.wrapper, 0o755),
  ];
  const owned = ["nix", "nix/store", "nix/var", "nix/var/nix", "etc/nix", SANDBOX_BUILD_DIR, ...env.passAsFile.map((f) => f.path)];
  const { derivation: _d, drvPath: _p, shell: _s, fromStore, uid: _u, gid: _g, homeDirectory: _h, command: _c, run: _r, caBundle: _b, usrBinEnv: _e, ...passed } = o;
  return {
    ...passed,
    ...(fromStore === true ? { fromStore: roots } : {}),
    name: o.name ?? `${drv.name}-env`,
    contents: [],
    configPaths: roots,
    config: {
      Cmd: o.run === undefined ? [shell, "--rcfile", RCFILE] : [shell, RCFILE],
      Env: [...env.env],
      User: `${uid}:${gid}`,
      WorkingDir: SANDBOX_BUILD_DIR,
    },
    extras,
    chown: owned.map((path) => ({ path, uid, gid })),
    derivation: drv,
    roots,
    warnings,
  };
}

/** Writes the image (to `output`, as buildImage does); nixpkgs' streamNixShellImage and buildNixShellImage in one. */
export async function buildNixShellImage(options: NixShellImageOptions): Promise<ImageResult> {
  const { derivation: _d, roots: _r, warnings, ...build } = nixShellBuildOptions(options);
  for (const message of warnings) options.onProgress?.({ type: "warning", message });
  return buildImage(build);
}
