/**
 * The Nix expressions (nix/package.nix, nix/lib.nix, flake.nix), tested as far as nix-bin 2.8
 * without nixpkgs allows (docs/nix.md says what is not run):
 *   - every .nix file parses (nix-instantiate --parse);
 *   - they evaluate against test/nix/stub-pkgs.nix, a stand-in for the few nixpkgs functions used
 *     (nix-instantiate --eval --strict), and the results say what they should;
 *   - nix-build builds an image's conf, customisation layer and strata stream script with
 *     builtins.derivation and a static busybox, and the command that script runs streams an image
 *     podman runs.
 */
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requireTool, validateArchive } from "../helpers/interop.js";
import { podmanSandbox } from "../helpers/podman.js";
import { removeTree } from "../helpers/fixture-store.js";
import { nixEnv, runNix } from "../nixdb/real-store.js";

const REPO = path.resolve(import.meta.dirname, "../..");
const STUB = path.join(REPO, "test/nix/stub-pkgs.nix");
const LIB = path.join(REPO, "nix/lib.nix");
const FILES = ["flake.nix", "nix/package.nix", "nix/lib.nix", "test/nix/stub-pkgs.nix"];

const haveNix = requireTool("nix-instantiate") && requireTool("nix-build");
let root: string;
let work: string;
let env: NodeJS.ProcessEnv;

beforeAll(() => {
  if (!haveNix) return;
  root = fs.mkdtempSync(path.join(os.tmpdir(), "strata-nix-expr-store-"));
  work = fs.mkdtempSync(path.join(os.tmpdir(), "strata-nix-expr-"));
  env = nixEnv(root);
});

afterAll(() => {
  if (root !== undefined) removeTree(root);
  if (work !== undefined) fs.rmSync(work, { recursive: true, force: true });
});

/** Evaluates a Nix expression strictly; returns its JSON value. */
function evalJson(expr: string): unknown {
  const file = path.join(work, `e-${Math.random().toString(36).slice(2)}.nix`);
  fs.writeFileSync(file, expr);
  return JSON.parse(runNix("nix-instantiate", ["--eval", "--strict", "--json", file], env));
}

const PRELUDE = `
  stub = import ${STUB} { };
  s = import ${LIB} { pkgs = stub; strata = "/opt/strata"; };
`;

describe.skipIf(!haveNix)("the Nix expressions", () => {
  it("all parse", () => {
    for (const f of FILES) {
      const r = spawnSync("nix-instantiate", ["--parse", path.join(REPO, f)], { env, encoding: "utf8" });
      expect(r.status, `${f}: ${r.stderr}`).toBe(0);
    }
  });

  it("package.nix: buildNpmPackage with the native parts, a placeholder hash, and only files that exist", () => {
    const v = evalJson(`let ${PRELUDE} p = stub.callPackage ${REPO}/nix/package.nix { }; in {
      inherit (p) pname version npmDepsHash nativeBuildInputs postBuild postInstall npmBuildScript env;
      nodejs = p.nodejs; main = p.meta.mainProgram;
      files = map (f: { name = baseNameOf f; exists = builtins.pathExists f; }) p.src.fileset; }`) as Record<string, unknown>;
    const pkg = JSON.parse(fs.readFileSync(path.join(REPO, "package.json"), "utf8")) as { version: string };
    expect(v).toMatchObject({ pname: "strata", version: pkg.version, npmDepsHash: "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", nativeBuildInputs: ["python3-stub"], npmBuildScript: "build", nodejs: "/stub/nodejs-20", main: "strata", env: { npm_config_build_from_source: "true" } });
    expect(v["postBuild"]).toMatch(/node-gyp\.js rebuild/);
    expect(v["postInstall"]).toContain("build/Release/strata_native.node");
    const files = v["files"] as { name: string; exists: boolean }[];
    expect(files.map((f) => f.name).sort()).toEqual(["bin", "binding.gyp", "native", "package-lock.json", "package.json", "src", "tsconfig.json", "workers"]);
    expect(files.every((f) => f.exists)).toBe(true);
  });

  it("lib.nix: nixpkgs' arguments and conf kept, a strata stream script, the apps and compressors", () => {
    const v = evalJson(`let ${PRELUDE}
      args = { name = "Registry.example:5000/Team/Hello"; contents = [ stub.busybox ]; config.Cmd = [ "/bin/sh" ]; maxLayers = 7; extraCommands = "mkdir tmp"; };
      img = s.streamLayeredImage args;
      gz = s.buildLayeredImage (args // { meta.description = "d"; });
    in {
      inherit (img) name imageName imageTag isExe buildScript;
      received = img.nixpkgsStream.receivedArgs == args;
      sameConf = img.conf.outPath == img.nixpkgsStream.conf.outPath;
      apps = map (a: { name = img.\${a}.meta.mainProgram; text = img.\${a}.text; }) [ "copyToRegistry" "copyToPodman" "copyToDockerDaemon" ];
      conf = "\${img.conf}";
      overridden = (img.override { maxLayers = 9; }).nixpkgsStream.receivedArgs.maxLayers;
      gz = { inherit (gz) name buildScript imageTag meta; stream = gz.stream.name; };
      zst = (s.buildLayeredImage (args // { compressor = "zstd"; })).name;
      none = (s.buildLayeredImage (args // { compressor = "none"; })).buildScript;
      shell = (s.buildNixShellImage { drv = { name = "hello"; }; }).name;
    }`) as Record<string, any>;
    expect(v["name"]).toBe("stream-Hello");
    expect(v["imageName"]).toBe("registry.example:5000/team/hello");
    expect(v["imageTag"]).toMatch(/^[0-9a-z]{32}$/);
    expect(v["conf"]).toMatch(new RegExp(`^/nix/store/${v["imageTag"]}-Hello-conf\\.json$`));
    expect(v["isExe"]).toBe(true);
    expect(v["received"]).toBe(true);
    expect(v["sameConf"]).toBe(true);
    expect(v["overridden"]).toBe(9);
    expect(v["buildScript"]).toContain(`/opt/strata/bin/strata ${v["conf"]} > $out`);
    const ref = `${v["imageName"]}:${v["imageTag"]}`;
    expect(v["apps"]).toEqual([
      { name: "copy-to-registry", text: `exec /opt/strata/bin/strata stream ${v["conf"]} -o "docker://${ref}" "$@"` },
      { name: "copy-to-podman", text: `/opt/strata/bin/strata stream ${v["conf"]} "$@" | podman load` },
      { name: "copy-to-docker-daemon", text: `/opt/strata/bin/strata stream ${v["conf"]} "$@" | docker load` },
    ]);
    expect(v["gz"]).toMatchObject({ name: "Hello.tar.gz", imageTag: v["imageTag"], meta: { description: "d" }, stream: "stream-Hello" });
    expect(v["gz"].buildScript).toMatch(/^\/nix\/store\/[0-9a-z]{32}-stream-Hello '--compress' 'gz' --quiet -o \$out\n$/);
    expect(v["zst"]).toBe("Hello.tar.zst");
    expect(v["none"]).toMatch(/-stream-Hello {2}--quiet -o \$out/);
    expect(v["shell"]).toBe("hello-env.tar.gz");

    const bad = spawnSync("nix-instantiate", ["--eval", "--strict", "-E", `let ${PRELUDE} in (s.buildLayeredImage { name = "x"; compressor = "xz"; }).name`], { env, encoding: "utf8" });
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toContain("in docker image x: compressor must be one of: [gz none zstd]");
  });

  it("flake.nix: its outputs evaluate against the stand-in", () => {
    const v = evalJson(`let
      stub = import ${STUB} { };
      flake = import ${REPO}/flake.nix;
      nixpkgs = { lib = stub.lib; legacyPackages = stub.lib.genAttrs [ "x86_64-linux" "aarch64-linux" ] (_: stub); };
      self = flake.outputs { inherit self nixpkgs; };
      p = self.packages.x86_64-linux;
    in { example = p.example.name; default = p.default.pname; app = self.apps.x86_64-linux.default.program;
         lib = builtins.attrNames self.lib.aarch64-linux; push = p.example.copyToRegistry.meta.mainProgram;
         overlay = (self.overlays.default stub stub).strataTools ? streamLayeredImage; }`) as Record<string, unknown>;
    expect(v).toMatchObject({ example: "stream-hello", default: "strata", app: "/stub/strata/bin/strata", push: "copy-to-registry", overlay: true });
    expect(v["lib"]).toEqual(expect.arrayContaining(["streamLayeredImage", "buildLayeredImage", "streamNixShellImage", "buildNixShellImage", "restream"]));
  });

  it("nix-build makes the conf, customisation layer and stream script; the script's command streams an image that runs", async () => {
    const expr = path.join(work, "image.nix");
    fs.writeFileSync(expr, `let
      stub = import ${STUB} { };
      s = import ${LIB} { pkgs = stub; strata = ${JSON.stringify(REPO)}; };
    in s.streamLayeredImage {
      name = "nixbuilt"; tag = "v1"; contents = [ stub.busybox ];
      config.Cmd = [ "/bin/sh" "-c" "cat /tmp/by-extra" ];
      extraCommands = "mkdir -p tmp; echo made by extraCommands > tmp/by-extra";
    }`);
    const script = runNix("nix-build", ["--no-out-link", expr], env).trim();
    const text = fs.readFileSync(root + script, "utf8");
    const m = /^#!(\/nix\/store\/\S+-busybox\/bin\/sh)\nexec (\S+) stream (\/nix\/store\/\S+-nixbuilt-conf\.json) "\$@"\n$/.exec(text);
    expect(m, text).not.toBeNull();
    expect(m![2]).toBe(`${REPO}/bin/strata`);
    const conf = JSON.parse(fs.readFileSync(root + m![3]!, "utf8")) as { customisation_layer: string; repo_tag: string };
    expect(conf.repo_tag).toBe("nixbuilt:v1");
    // What the script runs, with the store where this test keeps it.
    const image = path.join(work, "nixbuilt.tar");
    execFileSync(process.execPath, [path.join(REPO, "bin/strata.js"), "stream", root + m![3]!, "--store-root", root, "-q", "-o", image]);
    const archive = await validateArchive(image);
    const checksum = fs.readFileSync(root + conf.customisation_layer + "/checksum", "utf8").trim();
    expect(archive.config.rootfs.diff_ids.at(-1)).toBe(`sha256:${checksum}`);
    if (!requireTool("podman")) return;
    const sandbox = podmanSandbox();
    try {
      sandbox.podman(["load", "-i", image]);
      expect(sandbox.run("localhost/nixbuilt:v1").trim()).toBe("made by extraCommands");
    } finally {
      sandbox.cleanup();
    }
  }, 300_000);
});
