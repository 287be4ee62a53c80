/**
 * Every command, the flags it accepts and the positionals it takes: the one table the parser
 * (args.ts), the help test and the dispatcher read. A new flag or command is one entry here, one
 * line in help.ts, and its handling.
 */
import type { Flags } from "./args.js";
import { NIX_SHELL_FLAGS } from "../nix-shell/cli-args.js";
import { REGISTRY_FLAGS } from "./registry-args.js";

const bool = { type: "boolean" } as const;
const text = { type: "string" } as const;
const num = { type: "string", number: true } as const;

/** What every image-writing command takes about the output. */
export const OUTPUT_FLAGS = {
  output: { type: "string", short: "o", multiple: true },
  format: { type: "string", short: "f" },
  "layer-compress": text,
  compress: text,
  level: num,
  workers: { type: "string", short: "j", number: true },
  "tmp-dir": text,
  "store-root": text,
  quiet: { type: "boolean", short: "q" },
  json: bool,
  debug: bool,
  help: { type: "boolean", short: "h" },
  // Registries and layouts (blob stores): docs/registry.md, docs/cache.md.
  "manifest-format": text,
  authfile: text,
  creds: text,
  "cert-dir": text,
  "tls-verify": text,
  jobs: num,
  "cache-dir": text,
  "no-cache": bool,
  verify: bool,
  "cache-from": { type: "string", multiple: true },
  digestfile: text,
} as const satisfies Flags;

/** The flags that decide what goes into the image (shared by build and plan). */
export const IMAGE_FLAGS = {
  graph: text,
  "from-store": { type: "string", variadic: true },
  contents: { type: "string", variadic: true },
  name: text,
  tag: text,
  "repo-tag": { type: "string", short: "t" },
  "max-layers": num,
  layering: text,
  previous: text,
  created: text,
  mtime: text,
  uid: num,
  gid: num,
  uname: text,
  gname: text,
  config: text,
  architecture: text,
  from: text,
  "inherit-config": bool,
  "include-store-paths": text,
  "nix-db": bool,
  "verify-nar": bool,
  add: { type: "string", multiple: true },
  chown: { type: "string", multiple: true },
  chmod: { type: "string", multiple: true },
  "fake-nss": bool,
} as const satisfies Flags;

export interface CommandSpec {
  readonly flags: Flags;
  /** What the positionals are called in messages, and how many are allowed. */
  readonly positionals: { readonly name: string; readonly min: number; readonly max: number };
}

const none = { name: "", min: 0, max: 0 };
const help = { debug: bool, help: { type: "boolean", short: "h" } } as const;

export const COMMAND_TABLE: Readonly<Record<string, CommandSpec>> = {
  stream: { flags: { ...OUTPUT_FLAGS, "repo-tag": { type: "string", short: "t" }, repo_tag: text }, positionals: { name: "CONF.json", min: 1, max: 1 } },
  build: { flags: { ...OUTPUT_FLAGS, ...IMAGE_FLAGS }, positionals: none },
  // Positionals: the two plan files of --compare (checked there).
  plan: { flags: { ...IMAGE_FLAGS, "store-root": text, "tmp-dir": text, compare: bool, json: bool, ...help }, positionals: { name: "plan file", min: 0, max: 2 } },
  merge: { flags: { output: { type: "string", short: "o" }, "tmp-dir": text, quiet: OUTPUT_FLAGS.quiet, ...help }, positionals: { name: "IMAGE", min: 1, max: Infinity } },
  inspect: { flags: { ref: text, platform: text, ...REGISTRY_FLAGS, json: bool, ...help }, positionals: { name: "IMAGE", min: 1, max: 1 } },
  pull: {
    flags: { output: OUTPUT_FLAGS.output, format: OUTPUT_FLAGS.format, platform: text, ...REGISTRY_FLAGS, workers: OUTPUT_FLAGS.workers, "tmp-dir": text, quiet: OUTPUT_FLAGS.quiet, json: bool, ...help },
    positionals: { name: "docker://REF", min: 1, max: 1 },
  },
  demo: { flags: { ...OUTPUT_FLAGS }, positionals: none },
  // Positionals: the action (checked by the cache command, which names them).
  push: { flags: { ...OUTPUT_FLAGS, ref: text }, positionals: { name: "SOURCE and DESTINATION", min: 2, max: 2 } },
  cache: { flags: { "cache-dir": text, "older-than": text, json: bool, ...help }, positionals: { name: "action", min: 0, max: Infinity } },
  export: { flags: { output: { type: "string", short: "o" }, ref: text, "tmp-dir": text, quiet: OUTPUT_FLAGS.quiet, ...help }, positionals: { name: "IMAGE", min: 1, max: 1 } },
  index: { flags: { output: { type: "string", short: "o" }, "manifest-format": text, "tmp-dir": text, quiet: OUTPUT_FLAGS.quiet, authfile: text, creds: text, "cert-dir": text, "tls-verify": text, ...help }, positionals: { name: "IMAGE", min: 1, max: Infinity } },
  "nix-shell-image": { flags: { ...OUTPUT_FLAGS, ...NIX_SHELL_FLAGS }, positionals: { name: "DRV.json", min: 1, max: 1 } },
};

/** Every command and the flags it accepts (the --help texts must list exactly these: tested). */
export const COMMANDS: Readonly<Record<string, Flags>> = Object.fromEntries(Object.entries(COMMAND_TABLE).map(([c, s]) => [c, s.flags]));
