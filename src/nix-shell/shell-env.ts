/**
 * What nixpkgs' dockerTools.streamNixShellImage puts into an image besides the store: the build
 * environment of a derivation as Nix's sandbox sets it up (its variables, /build as the build
 * dir, the build user), and the rcfile nix-shell writes (spec §1.11; nixpkgs' default.nix and
 * dev-shell-tools, Nix's nix-build.cc and derivation-builder.cc, read for this).
 *
 * Where nixpkgs writes a store path (the rcfile, the `buildDerivation` wrapper, passAsFile
 * contents), strata cannot make one: those files go into the customisation layer instead, under
 * /nix-shell, and passAsFile values where Nix's sandbox itself puts them: /build/.attr-HASH.
 */
import { sha256Hex } from "../digest.js";
import { nixBase32 } from "../nix-base32.js";
import type { Derivation } from "./derivation-json.js";

/** Nix's sandboxBuildDir: the build dir, HOME by default, and every temp dir variable. */
export const SANDBOX_BUILD_DIR = "/build";
/** Where the rcfile and the buildDerivation wrapper are in the image. */
export const SHELL_FILES_DIR = "/nix-shell";
export const RCFILE = `${SHELL_FILES_DIR}/rc`;
export const WRAPPER_BIN = `${SHELL_FILES_DIR}/bin`;

export interface ShellEnvOptions {
  /** The shell, a file in the store (nixpkgs: bashInteractive + "/bin/bash"). */
  readonly shell: string;
  readonly homeDirectory: string;
  readonly storeDir: string;
  /** A CA bundle file in the store (nixpkgs: cacert's etc/ssl/certs/ca-bundle.crt), or none. */
  readonly caBundle?: string;
  /** Shell commands the rcfile runs after the hook, then exits (nix-shell's --command or --run). */
  readonly command?: string;
  readonly run?: string;
}

/** A file the image gets in /build for each passAsFile attribute (Nix's `.attr-` + base32 sha256 of the name). */
export interface PassAsFile {
  readonly attr: string;
  readonly path: string;
  readonly content: string;
}

export interface ShellEnv {
  /** `NAME=value`, sorted by name as Nix's attribute sets are. */
  readonly env: readonly string[];
  readonly rcfile: string;
  readonly wrapper: string;
  readonly passAsFile: readonly PassAsFile[];
}

/** nixpkgs' lib.escapeShellArg: safe words as they are, anything else in single quotes. */
export function escapeShellArg(s: string): string {
  return /^[A-Za-z0-9,._+:@%/-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}

export function dirOf(p: string): string {
  const i = p.lastIndexOf("/");
  return i <= 0 ? "/" : p.slice(0, i);
}

export function shellEnv(drv: Derivation, o: ShellEnvOptions): ShellEnv {
  const staticPath = `${dirOf(o.shell)}:${WRAPPER_BIN}`;
  const vars = new Map<string, string>();
  if (o.caBundle !== undefined) {
    vars.set("SSL_CERT_FILE", o.caBundle);
    vars.set("NIX_SSL_CERT_FILE", o.caBundle);
  }
  vars.set("PATH", staticPath);
  vars.set("HOME", o.homeDirectory);
  vars.set("NIX_STORE", o.storeDir);
  vars.set("NIX_BUILD_CORES", "1");
  // The derivation's own variables (the .drv's env: every attribute but `args`, as strings, and
  // the output paths); a passAsFile attribute becomes NAMEPath naming a file with its value.
  const passAsFile = new Set((drv.env.get("passAsFile") ?? "").split(/\s+/).filter((x) => x !== ""));
  const files: PassAsFile[] = [];
  for (const [name, value] of drv.env) {
    if (!passAsFile.has(name)) {
      vars.set(name, value);
      continue;
    }
    const file = `${SANDBOX_BUILD_DIR}/.attr-${nixBase32(Buffer.from(sha256Hex(name), "hex"))}`;
    files.push({ attr: name, path: file, content: value });
    vars.set(`${name}Path`, file);
  }
  for (const [name, path] of drv.outputs) if (path !== undefined) vars.set(name, path);
  for (const name of ["NIX_BUILD_TOP", "TMPDIR", "TEMPDIR", "TMP", "TEMP", "PWD"]) vars.set(name, SANDBOX_BUILD_DIR);
  vars.set("TERM", "xterm-256color");
  const env = [...vars.keys()].sort(byteOrder).map((k) => `${k}=${vars.get(k)!}`);

  const wrapper = `#!${o.shell}\nexec ${[drv.builder, ...drv.args].map(escapeShellArg).join(" ")}\n`;
  const run = o.command !== undefined || o.run !== undefined ? `${o.command ?? ""}\n${o.run ?? ""}\nexit\n` : "";
  // Nix's nix-build.cc rcfile, as nixpkgs writes it for the image.
  const rcfile = [
    "unset PATH",
    "dontAddDisableDepTrack=1",
    "[ -e $stdenv/setup ] && source $stdenv/setup",
    `PATH=${staticPath}:"$PATH"`,
    `SHELL=${escapeShellArg(o.shell)}`,
    `BASH=${escapeShellArg(o.shell)}`,
    "set +e",
    `[ -n "$PS1" -a -z "$NIX_SHELL_PRESERVE_PROMPT" ] && PS1='\\n\\[\\033[1;32m\\][nix-shell:\\w]\\$\\[\\033[0m\\] '`,
    'if [ "$(type -t runHook)" = function ]; then',
    "  runHook shellHook",
    "fi",
    "unset NIX_ENFORCE_PURITY",
    "shopt -u nullglob",
    "shopt -s execfail",
    run,
  ].join("\n");
  return { env, rcfile, wrapper, passAsFile: files };
}

function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}
