/**
 * Reading `nix derivation show` JSON in every format version, and the environment nixpkgs'
 * streamNixShellImage gives: the derivation's variables, the sandbox overrides, passAsFile as
 * files named the way Nix's sandbox names them (checked against nix-bin 2.8 in
 * nix-shell-image.test.ts; the constant below is what it printed).
 */
import { describe, expect, it } from "vitest";
import { readDerivation } from "../../src/nix-shell/derivation-json.js";
import { nixShellBuildOptions } from "../../src/nix-shell/nix-shell-image.js";
import { escapeShellArg, shellEnv } from "../../src/nix-shell/shell-env.js";

const H = (c: string): string => c.repeat(32);
const OUT = `/nix/store/${H("a")}-hello`;
const STDENV = `/nix/store/${H("b")}-stdenv`;
const TOOL_DEV = `/nix/store/${H("c")}-tool-dev`;
const SRC = `/nix/store/${H("d")}-builder.sh`;
const BASH = `/nix/store/${H("f")}-bash-interactive-5.2`;

const v1 = {
  [`/nix/store/${H("9")}-hello.drv`]: {
    outputs: { out: { path: OUT } },
    inputSrcs: [SRC],
    inputDrvs: { [`/nix/store/${H("8")}-stdenv.drv`]: ["out"], [`/nix/store/${H("7")}-tool.drv`]: ["dev"] },
    system: "x86_64-linux",
    builder: `${STDENV}/bin/sh`,
    args: ["-e", SRC, "it's"],
    env: { name: "hello", out: OUT, stdenv: STDENV, buildInputs: TOOL_DEV, passAsFile: "big", big: "a big value", builder: `${STDENV}/bin/sh`, PATH: "/nope", HOME: "/x", other: `/nix/store/${H("6")}-not-an-input` },
  },
};

describe("readDerivation", () => {
  it("reads versions 1-2 (full paths), 3 (base names) and 4 (nested inputs) to the same derivation", () => {
    const a = readDerivation(v1);
    const drv = Object.values(v1)[0]!;
    const strip = (p: string): string => p.replace("/nix/store/", "");
    const v3 = { [strip(Object.keys(v1)[0]!)]: { ...drv, name: "hello", version: 3, outputs: { out: { path: strip(OUT) } }, inputSrcs: drv.inputSrcs.map(strip), inputDrvs: Object.fromEntries(Object.entries(drv.inputDrvs).map(([k, v]) => [strip(k), v])) } };
    const { inputSrcs: _s, inputDrvs: _d, ...rest } = v3[strip(Object.keys(v1)[0]!)]!;
    const v4 = { [strip(Object.keys(v1)[0]!)]: { ...rest, version: 4, inputs: { srcs: drv.inputSrcs.map(strip), drvs: Object.fromEntries(Object.entries(drv.inputDrvs).map(([k, v]) => [strip(k), { outputs: v, dynamicOutputs: {} }])) } } };
    for (const other of [readDerivation(v3), readDerivation(v4)]) {
      expect(other.path).toBe(a.path);
      expect([...other.outputs]).toEqual([...a.outputs]);
      expect(other.inputSrcs).toEqual([SRC]);
      expect([...other.inputDrvs]).toEqual([...a.inputDrvs]);
      expect(other.name).toBe("hello");
    }
    expect(a.structuredAttrs).toBe(false);
    expect(readDerivation({ x: { ...drv, env: { ...drv.env, __json: "{}" } } }).structuredAttrs).toBe(true);
  });

  it("picks the root of a `-r` graph, or the one named, and refuses what is not a derivation", () => {
    const dep = { outputs: { out: { path: STDENV } }, inputSrcs: [], inputDrvs: {}, system: "x", builder: "/b", args: [], env: { name: "stdenv" } };
    const graph = { ...v1, [`/nix/store/${H("8")}-stdenv.drv`]: dep };
    expect(readDerivation(graph).name).toBe("hello");
    expect(readDerivation(graph, { drvPath: `/nix/store/${H("8")}-stdenv.drv` }).name).toBe("stdenv");
    expect(() => readDerivation({ a: dep, b: dep })).toThrow(expect.objectContaining({ code: "E_USAGE" }));
    expect(() => readDerivation([1])).toThrow(expect.objectContaining({ code: "E_CLOSURE_INPUT" }));
    expect(() => readDerivation({ x: { ...dep, env: { a: 1 } } })).toThrow(/env must map names to strings/);
  });
});

describe("the nix-shell environment", () => {
  const drv = readDerivation(v1);
  const env = shellEnv(drv, { shell: `${BASH}/bin/bash`, homeDirectory: "/build", storeDir: "/nix/store", caBundle: `/nix/store/${H("g")}-cacert/ca-bundle.crt` });

  it("has the derivation's variables, sorted, with the sandbox's values winning over them", () => {
    const vars = new Map(env.env.map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
    expect([...vars.keys()]).toEqual([...vars.keys()].sort());
    expect(vars.get("stdenv")).toBe(STDENV);
    expect(vars.get("out")).toBe(OUT);
    // The derivation's own PATH and HOME win over the image's defaults, as nixpkgs merges them
    // (defaults // drvEnv // sandbox overrides); without them, the defaults.
    expect(vars.get("PATH")).toBe("/nope");
    expect(vars.get("HOME")).toBe("/x");
    const plain = new Map(shellEnv({ ...drv, env: new Map([["name", "x"]]) }, { shell: `${BASH}/bin/bash`, homeDirectory: "/build", storeDir: "/nix/store" }).env.map((l) => l.split("=") as [string, string]));
    expect(plain.get("PATH")).toBe(`${BASH}/bin:/nix-shell/bin`);
    expect(plain.get("HOME")).toBe("/build");
    expect(plain.has("SSL_CERT_FILE")).toBe(false);
    for (const k of ["NIX_BUILD_TOP", "TMPDIR", "TEMPDIR", "TMP", "TEMP", "PWD"]) expect(vars.get(k)).toBe("/build");
    expect(vars.get("TERM")).toBe("xterm-256color");
    expect(vars.get("NIX_BUILD_CORES")).toBe("1");
    expect(vars.get("SSL_CERT_FILE")).toBe(vars.get("NIX_SSL_CERT_FILE"));
    // passAsFile: the value in a file, NAMEPath naming it, as Nix 2.8's sandbox does.
    expect(vars.has("big")).toBe(false);
    expect(vars.get("bigPath")).toBe("/build/.attr-1lak0mvllw8rv9i9ygkglvhqsq19qi9ynl4bi7gbf69ab5nzw89a");
    expect(env.passAsFile).toEqual([{ attr: "big", path: vars.get("bigPath"), content: "a big value" }]);
  });

  it("wraps the builder and args, quoted, and writes nix-shell's rcfile", () => {
    expect(env.wrapper).toBe(`#!${BASH}/bin/bash\nexec ${STDENV}/bin/sh -e ${SRC} 'it'\\''s'\n`);
    expect(env.rcfile).toMatch(/^unset PATH\n/);
    expect(env.rcfile).toContain("[ -e $stdenv/setup ] && source $stdenv/setup\n");
    expect(env.rcfile).toContain(`PATH=${BASH}/bin:/nix-shell/bin:"$PATH"\n`);
    expect(env.rcfile).toContain("runHook shellHook");
    expect(env.rcfile).not.toContain("exit");
    const run = shellEnv(drv, { shell: `${BASH}/bin/bash`, homeDirectory: "/build", storeDir: "/nix/store", run: "make check" });
    expect(run.rcfile.trimEnd().endsWith("make check\nexit")).toBe(true);
    expect(escapeShellArg("a-b/c:d")).toBe("a-b/c:d");
    expect(escapeShellArg("$x y")).toBe("'$x y'");
  });

  it("puts the inputs in the closure, not the outputs nor paths without context", () => {
    const o = nixShellBuildOptions({ derivation: drv, shell: `${BASH}/bin/bash`, graph: "unused.json" });
    expect(o.roots).toEqual([BASH, STDENV, TOOL_DEV, SRC].sort());
    expect(o.configPaths).toEqual(o.roots);
    expect(o.name).toBe("hello-env");
    expect(o.contents).toEqual([]);
    expect(o.config).toMatchObject({ Cmd: [`${BASH}/bin/bash`, "--rcfile", "/nix-shell/rc"], User: "1000:1000", WorkingDir: "/build" });
    expect(o.chown).toContainEqual({ path: "/build", uid: 1000, gid: 1000 });
    expect(o.extras).toContainEqual({ type: "file", path: "etc/passwd", mode: 0o644, content: Buffer.from("root:x:0:0:root user:/var/empty:/bin/sh\nnixbld:x:1000:1000:Build user:/build:/noshell\nnobody:x:65534:65534:nobody:/var/empty:/bin/sh\n") });
    const run = nixShellBuildOptions({ derivation: drv, shell: `${BASH}/bin/bash`, graph: "g", run: "true", uid: 0, gid: 0 });
    expect(run.config).toMatchObject({ Cmd: [`${BASH}/bin/bash`, "/nix-shell/rc"], User: "0:0" });
  });

  it("refuses structured attrs, command with run, a shell outside the store, and no closure", () => {
    const shell = `${BASH}/bin/bash`;
    expect(() => nixShellBuildOptions({ derivation: { ...drv, structuredAttrs: true }, shell, graph: "g" })).toThrow(expect.objectContaining({ code: "E_UNSUPPORTED" }));
    expect(() => nixShellBuildOptions({ derivation: drv, shell, graph: "g", command: "a", run: "b" })).toThrow(expect.objectContaining({ code: "E_USAGE" }));
    expect(() => nixShellBuildOptions({ derivation: drv, shell: "/bin/bash", graph: "g" })).toThrow(/must be a file in \/nix\/store/);
    expect(() => nixShellBuildOptions({ derivation: drv, shell })).toThrow(/graph or fromStore/);
  });
});
