/**
 * A real Nix store made by nix-bin in a temp dir (`local?root=DIR`), for tests that check strata
 * against Nix itself: two files added with `nix-store --add`, and derivations built with a static
 * busybox as the builder (no nixpkgs), so that outputs reference each other and themselves:
 *
 *   busybox  bin/busybox (static), bin/sh -> busybox
 *   lib      references busybox (a script's #! line) and itself; nested and empty directories,
 *            an executable, relative symlinks, names whose byte order differs from other orders
 *   app      references busybox (absolute symlink) and lib (a text file); no self-reference
 *   single   a single-file output that references lib
 *
 * Every Nix command runs with NIX_REMOTE=local?root=DIR, so nothing touches the host's /nix.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { removeTree } from "../helpers/fixture-store.js";

const EXPRESSION = `
let
  mk = name: script: derivation {
    inherit name;
    system = builtins.currentSystem;
    builder = "/bin/busybox";
    args = [ "sh" "-c" ("set -e; " + script) ];
  };
  busybox = mk "busybox" "mkdir -p $out/bin; cp /bin/busybox $out/bin/busybox; ln -s busybox $out/bin/sh";
  lib = mk "lib" ''
    mkdir -p $out/lib/nested/deeper $out/share/empty $out/sort
    echo "self: $out" > $out/lib/self.txt
    for n in B a _ Z a-b a.b a0 '~' 'ä'; do printf "%s" "$n" > "$out/sort/$n"; done
    printf '#!\${busybox}/bin/sh\necho run\n' > $out/lib/nested/deeper/run
    chmod 555 $out/lib/nested/deeper/run
    ln -s ../self.txt $out/lib/nested/link
    ln -s nested/deeper/run $out/lib/run
  '';
  app = mk "app" ''
    mkdir -p $out/bin $out/etc
    ln -s \${busybox}/bin/sh $out/bin/sh
    echo \${lib} > $out/etc/uses-lib
  '';
  single = mk "single" "echo \${lib} > $out";
in { inherit busybox lib app single; }
`;

export const BUILT = ["busybox", "lib", "app", "single"] as const;
export type Built = (typeof BUILT)[number];

export interface RealStore {
  /** The temp dir: the store is `root/nix/store`, its database `root/nix/var/nix/db/db.sqlite`. */
  readonly root: string;
  /** Environment for Nix commands against this store. */
  readonly env: NodeJS.ProcessEnv;
  /** Output paths of the derivations. */
  readonly out: Readonly<Record<Built, string>>;
  /** The `.drv` path of each derivation. */
  readonly drv: Readonly<Record<Built, string>>;
  /** `nix-store --add` of a single file, and of a directory. */
  readonly addedFile: string;
  readonly addedDir: string;
  /** Runs a Nix tool against this store (or `storeRoot`); returns stdout, throws with stderr on failure. */
  nix(tool: string, args: readonly string[], storeRoot?: string): string;
  readonly dbPath: string;
  cleanup(): void;
}

export interface RealStoreOptions {
  /** Nix's use-sqlite-wal (default true, Nix's default): false makes a rollback-journal database. */
  readonly wal?: boolean;
}

export function nixEnv(storeRoot: string, wal = true): NodeJS.ProcessEnv {
  return {
    ...process.env,
    NIX_REMOTE: `local?root=${storeRoot}`,
    NIX_CONFIG: ["substituters =", "sandbox-paths = /bin/busybox", "build-users-group =", `use-sqlite-wal = ${wal}`].join("\n"),
  };
}

export function runNix(tool: string, args: readonly string[], env: NodeJS.ProcessEnv, input?: string): string {
  const r = spawnSync(tool, args, { env, input, maxBuffer: 1 << 26, timeout: 120_000 });
  if (r.status !== 0) {
    throw new Error(`${tool} ${args.join(" ")} failed (exit ${r.status}): ${r.error?.message ?? r.stderr.toString()}`);
  }
  return r.stdout.toString();
}

export function makeRealStore(options: RealStoreOptions = {}): RealStore {
  const wal = options.wal ?? true;
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "strata-real-store-"));
  const env = nixEnv(root, wal);
  const nix = (tool: string, args: readonly string[], storeRoot?: string): string =>
    runNix(tool, args, storeRoot === undefined ? env : nixEnv(storeRoot, wal));
  try {
    const work = fs.mkdtempSync(path.join(os.tmpdir(), "strata-real-store-src-"));
    let addedFile: string;
    let addedDir: string;
    try {
      fs.writeFileSync(path.join(work, "d.nix"), EXPRESSION);
      fs.writeFileSync(path.join(work, "hello.txt"), "hello\n");
      fs.mkdirSync(path.join(work, "tree", "sub"), { recursive: true });
      fs.writeFileSync(path.join(work, "tree", "sub", "x"), "x");
      fs.symlinkSync("sub/x", path.join(work, "tree", "link"));
      addedFile = nix("nix-store", ["--add", path.join(work, "hello.txt")]).trim();
      addedDir = nix("nix-store", ["--add", path.join(work, "tree")]).trim();
      nix("nix-build", ["--no-out-link", path.join(work, "d.nix")]);
      const out = {} as Record<Built, string>;
      const drv = {} as Record<Built, string>;
      for (const name of BUILT) {
        out[name] = nix("nix-build", ["--no-out-link", path.join(work, "d.nix"), "-A", name]).trim();
        drv[name] = nix("nix-store", ["-q", "--deriver", out[name]]).trim();
      }
      return {
        root,
        env,
        out,
        drv,
        addedFile,
        addedDir,
        nix,
        dbPath: path.join(root, "nix/var/nix/db/db.sqlite"),
        cleanup: () => removeTree(root),
      };
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
    }
  } catch (err) {
    removeTree(root);
    throw err;
  }
}

/** Copies store paths (as they are: modes, symlinks) from one store root to another. */
export function copyStorePaths(fromRoot: string, toRoot: string, paths: Iterable<string>): void {
  fs.mkdirSync(path.join(toRoot, "nix/store"), { recursive: true });
  for (const p of paths) {
    const r = spawnSync("cp", ["-a", fromRoot + p, toRoot + p]);
    if (r.status !== 0) throw new Error(`cp -a ${fromRoot + p} failed: ${r.stderr.toString()}`);
  }
}

/** Lines of a Nix query, sorted. */
export function lines(text: string): string[] {
  return text.split("\n").filter((l) => l !== "").sort();
}
