/**
 * A nix-shell image for a real derivation made by nix-bin in a temp store (`local?root=DIR`, a
 * static busybox as every builder, no nixpkgs): a toy stdenv whose setup puts buildInputs on PATH,
 * a tool, and a derivation using both with a shellHook and a passAsFile attribute. Its JSON is
 * what `nix show-derivation` prints. The image runs under podman with busybox's sh standing in
 * for bashInteractive (Debian's bash does not run from a store path), and the environment inside
 * is checked: the outputs, /build, the user nixbld, $stdenv/setup sourced, passAsFile where Nix's
 * own sandbox puts it (compared with a build by Nix), and buildDerivation builds the output.
 */
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildNixShellImage } from "../../src/nix-shell/nix-shell-image.js";
import { sha256Hex } from "../../src/digest.js";
import { requireTool, validateArchive } from "../helpers/interop.js";
import { podmanSandbox } from "../helpers/podman.js";
import { removeTree } from "../helpers/fixture-store.js";
import { lines, nixEnv, runNix } from "../nixdb/real-store.js";

const EXPRESSION = `
let
  mk = name: script: derivation {
    inherit name;
    system = builtins.currentSystem;
    builder = "/bin/busybox";
    args = [ "sh" "-c" ("set -e; " + script) ];
  };
  busybox = mk "busybox" "mkdir -p $out/bin; cp /bin/busybox $out/bin/busybox; ln -s busybox $out/bin/sh";
  stdenv = mk "stdenv" ''
    mkdir $out
    printf 'export FROM_SETUP=yes\\nfor p in $buildInputs; do PATH=$p/bin:$PATH; done\\n' > $out/setup
  '';
  tool = mk "tool" "mkdir -p $out/bin; printf '#!\${busybox}/bin/sh\\necho tool ran\\n' > $out/bin/tool; chmod +x $out/bin/tool";
  # what Nix's sandbox does with passAsFile, to compare with the image
  probe = derivation {
    name = "probe"; system = builtins.currentSystem; builder = "/bin/busybox";
    passAsFile = [ "big" ]; big = "a big value";
    args = [ "sh" "-c" "echo $bigPath > $out" ];
  };
in {
  inherit busybox stdenv tool probe;
  hello = derivation {
    name = "hello";
    system = builtins.currentSystem;
    builder = "\${busybox}/bin/sh";
    args = [ "-c" "echo hi > $out" ];
    inherit stdenv;
    buildInputs = [ tool ];
    shellHook = "echo hook ran";
    passAsFile = [ "big" ];
    big = "a big value";
    outputs = [ "out" "dev" ];
  };
}
`;

const haveNix = requireTool("nix-build") && requireTool("nix");
let root: string;
let work: string;
let env: NodeJS.ProcessEnv;
const out: Record<string, string> = {};
let drvJson: string;

beforeAll(() => {
  if (!haveNix) return;
  root = fs.mkdtempSync(path.join(os.tmpdir(), "strata-nix-shell-store-"));
  work = fs.mkdtempSync(path.join(os.tmpdir(), "strata-nix-shell-"));
  env = nixEnv(root);
  const expr = path.join(work, "d.nix");
  fs.writeFileSync(expr, EXPRESSION);
  for (const a of ["busybox", "stdenv", "tool", "probe"]) out[a] = runNix("nix-build", ["--no-out-link", expr, "-A", a], env).trim();
  const drv = runNix("nix-instantiate", [expr, "-A", "hello"], env).trim();
  drvJson = path.join(work, "drv.json");
  fs.writeFileSync(drvJson, runNix("nix", ["--extra-experimental-features", "nix-command", "show-derivation", drv], env));
}, 300_000);

afterAll(() => {
  if (root !== undefined) removeTree(root);
  if (work !== undefined) fs.rmSync(work, { recursive: true, force: true });
});

describe.skipIf(!haveNix)("a nix-shell image of a real derivation", () => {
  it("holds the closure of the inputs and the shell, as Nix reports it, and the CLI with --graph gives the same bytes", async () => {
    const shell = `${out["busybox"]}/bin/sh`;
    const image = path.join(work, "lib.tar");
    const result = await buildNixShellImage({ derivation: drvJson, shell, fromStore: true, storeRoot: root, output: image, run: "true" });
    const roots = [out["busybox"]!, out["stdenv"]!, out["tool"]!];
    const requisites = new Set(roots.flatMap((r) => lines(runNix("nix-store", ["-qR", r], env))));
    expect(result.layers.slice(0, -1).flatMap((l) => l.paths).sort()).toEqual([...requisites].sort());
    const archive = await validateArchive(image);
    expect(archive.manifest[0]!.RepoTags![0]).toMatch(/^hello-env:/);

    // The same image from a references graph, through the command line.
    const graph = path.join(work, "graph.json");
    fs.writeFileSync(graph, runNix("nix", ["--extra-experimental-features", "nix-command", "path-info", "--json", "--recursive", ...roots], env));
    const cli = path.join(work, "cli.tar");
    const r = spawnSync(process.execPath, ["bin/strata.js", "nix-shell-image", drvJson, "--shell", shell, "--graph", graph, "--store-root", root, "--run", "true", "-q", "-o", cli], { encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    expect(sha256Hex(fs.readFileSync(cli))).toBe(sha256Hex(fs.readFileSync(image)));
  }, 300_000);

  it.skipIf(!requireTool("podman"))("runs under podman: the build environment is there", async () => {
    const shell = `${out["busybox"]}/bin/sh`;
    const image = path.join(work, "run.tar");
    await buildNixShellImage({
      derivation: drvJson, shell, fromStore: true, storeRoot: root, output: image, tag: "t1",
      run: 'echo "out=$out"; echo "dev=$dev"; echo "pwd=$(pwd)"; echo "user=$(id -un):$(id -gn)"; echo "setup=$FROM_SETUP"; echo "big=$(cat $bigPath)"; echo "bigPath=$bigPath"; tool; buildDerivation && cat $out',
    });
    const drv = Object.values(JSON.parse(fs.readFileSync(drvJson, "utf8")) as Record<string, { outputs: Record<string, { path: string }> }>)[0]!;
    const sandbox = podmanSandbox();
    try {
      sandbox.podman(["load", "-i", image]);
      // Cmd: the shell runs nix-shell's rcfile, which sources $stdenv/setup and then --run.
      const got = sandbox.run("localhost/hello-env:t1").trim().split("\n");
      const nixBigPath = fs.readFileSync(root + out["probe"], "utf8").trim();
      expect(got).toEqual([
        `out=${drv.outputs["out"]!.path}`, `dev=${drv.outputs["dev"]!.path}`, "pwd=/build", "user=nixbld:nixbld", "setup=yes",
        "big=a big value", `bigPath=${nixBigPath}`, "tool ran", "hi",
      ]);
      // The image's environment without the rcfile: variables, working dir, user, /bin/sh.
      const plain = sandbox.run("localhost/hello-env:t1", ["/bin/sh", "-c", 'echo $out; pwd; id -un; echo $HOME $TMPDIR $NIX_BUILD_TOP $NIX_STORE; stat -c "%U %a" /build /nix/store; echo $shellHook']).trim().split("\n");
      expect(plain).toEqual([drv.outputs["out"]!.path, "/build", "nixbld", "/build /build /build /nix/store", "nixbld 755", "nixbld 755", "echo hook ran"]);
    } finally {
      sandbox.cleanup();
    }
  }, 300_000);

  it("refuses --from-store when an input is not built", async () => {
    const expr = path.join(work, "unbuilt.nix");
    fs.writeFileSync(expr, `let b = derivation { name = "never-built"; system = builtins.currentSystem; builder = "/bin/busybox"; args = ["true"]; }; in derivation { name = "u"; system = builtins.currentSystem; builder = "/bin/busybox"; dep = b; }`);
    const drv = runNix("nix-instantiate", [expr], env).trim();
    const json = path.join(work, "unbuilt.json");
    fs.writeFileSync(json, execFileSync("nix", ["--extra-experimental-features", "nix-command", "show-derivation", drv], { env }));
    await expect(buildNixShellImage({ derivation: json, shell: `${out["busybox"]}/bin/sh`, fromStore: true, storeRoot: root, output: path.join(work, "x.tar") }))
      .rejects.toMatchObject({ code: "E_STORE_PATH" });
    expect(fs.existsSync(path.join(work, "x.tar"))).toBe(false);
  });
});
