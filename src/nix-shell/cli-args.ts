/** `strata nix-shell-image` flags to NixShellImageOptions. */
import { int, str } from "../cli/args.js";
import { usage } from "../options.js";
import type { NixShellImageOptions } from "./nix-shell-image.js";

type Values = Record<string, unknown>;

const text = { type: "string" } as const;
const bool = { type: "boolean" } as const;
const num = { type: "string", number: true } as const;

export const NIX_SHELL_FLAGS = {
  shell: text, graph: text, "from-store": bool, drv: text, uid: num, gid: num, home: text, command: text, run: text,
  "ca-bundle": text, "usr-bin-env": text, name: text, tag: text, "max-layers": num, architecture: text, created: text, mtime: text, "nix-db": bool,
} as const;

export function nixShellOptionsFromArgs(derivation: string, v: Values): Omit<NixShellImageOptions, "output"> {
  const shell = str(v["shell"]);
  if (shell === undefined) {
    throw usage("a nix-shell image needs --shell: the shell in the store (nixpkgs uses bashInteractive)", `e.g. --shell "$(nix-build '<nixpkgs>' -A bashInteractive)/bin/bash"`);
  }
  const text = (flag: string, key: keyof NixShellImageOptions): Record<string, string> => (v[flag] === undefined ? {} : { [key]: str(v[flag])! });
  const num = (flag: string, key: keyof NixShellImageOptions): Record<string, number> => (v[flag] === undefined ? {} : { [key]: int(v[flag], `--${flag}`) });
  const root = str(v["store-root"]);
  return {
    derivation,
    shell,
    ...text("graph", "graph"), ...text("drv", "drvPath"), ...text("home", "homeDirectory"), ...text("command", "command"), ...text("run", "run"),
    ...text("ca-bundle", "caBundle"), ...text("usr-bin-env", "usrBinEnv"), ...text("name", "name"), ...text("tag", "tag"),
    ...text("architecture", "architecture"), ...text("created", "created"), ...text("mtime", "mtime"),
    ...num("uid", "uid"), ...num("gid", "gid"), ...num("max-layers", "maxLayers"),
    ...(v["from-store"] === true ? { fromStore: true } : {}),
    ...(v["nix-db"] === true ? { nixDb: true } : {}),
    ...(root === undefined ? {} : { storeRoot: root.replace(/\/+$/, "") }),
  };
}
