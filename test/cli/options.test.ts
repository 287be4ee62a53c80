/**
 * The command line's errors and options as issue 18 lists them: each mistake gets an error that
 * names the flag and the conflict in one line (or the behaviour a user expects), and each form
 * the usage text promises is accepted.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeFixtureStore, type FixtureStore } from "../helpers/fixture-store.js";
import { readTar, validateArchive } from "../helpers/interop.js";

const CLI = path.join(import.meta.dirname, "../../bin/strata.js");

function strata(args: string[], input = ""): { code: number | null; stdout: Buffer; stderr: string } {
  const r = spawnSync("node", [CLI, ...args], { input, maxBuffer: 1 << 26 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr.toString() };
}

/** Exit 2, exactly one error line with the code, then its hint; returns the message. */
function usageError(args: string[], input = ""): string {
  const r = strata(args, input);
  expect(r.code, r.stderr).toBe(2);
  const lines = r.stderr.trimEnd().split("\n");
  expect(lines.length, r.stderr).toBe(2);
  expect(lines[0]).toMatch(/^strata: E_USAGE: /);
  expect(lines[1]).toMatch(/^ {2}hint: \S/);
  // Library option names never reach a CLI user.
  expect(r.stderr).not.toMatch(/\b(maxLayers|fromStore|layerCompress|tmpDir|storeRoot|includeStorePaths|inheritConfig|nixDb)\b/);
  return lines[0]!.slice("strata: E_USAGE: ".length) + "\n" + lines[1]!;
}

let store: FixtureStore;
let dir: string;
const app = (): string => store.pathOf("app-1.0");
const lib = (): string => store.pathOf("lib-1.0");
const closure = (): string[] => ["--graph", store.graphFile, "--store-root", store.root];

beforeAll(() => {
  store = makeFixtureStore([
    { name: "lib-1.0", entries: [{ kind: "file", path: "lib/lib.so", content: "lib" }] },
    { name: "app-1.0", references: ["lib-1.0"], entries: [{ kind: "file", path: "bin/app", content: "app", executable: true }] },
    { name: "tool-1.0", entries: [{ kind: "file", path: "bin/tool", content: "tool", executable: true }] },
  ]);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "strata-options-"));
});

afterAll(() => {
  store.cleanup();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe("mistakes get errors that name the flag and the conflict", () => {
  it("a typo'd flag: did you mean; a flag of another command says so", () => {
    expect(usageError(["build", "--contnets", app()])).toMatch(/^unknown option --contnets \(did you mean --contents\?\)/);
    expect(usageError(["build", "--max-layer", "4"])).toMatch(/did you mean --max-layers\?/);
    expect(usageError(["inspect", "x.tar", "--compare"])).toMatch(/^unknown option --compare for strata inspect\n.*--compare is an option of strata plan/);
    expect(usageError(["buidl"])).toMatch(/^unknown command "buidl" \(did you mean build\?\)/);
  });

  it("a flag without its value: --max-layers needs a number", () => {
    expect(usageError(["build", ...closure(), "--max-layers", "-o", "x"])).toMatch(/^--max-layers needs a number, found the option -o/);
    expect(usageError(["build", ...closure(), "--max-layers"])).toMatch(/^--max-layers needs a number, found nothing after it/);
    expect(usageError(["build", ...closure(), "--contents", app(), "--max-layers", "ten"])).toMatch(/^--max-layers needs a whole number, got "ten"/);
    expect(usageError(["build", "--graph", "--contents", app()])).toMatch(/^--graph needs a value, found the option --contents/);
  });

  it("library checks come out naming the flags", () => {
    expect(usageError(["plan", ...closure(), "--contents", app(), "--max-layers", "1"])).toMatch(/^--max-layers must be an integer >= 2, got 1/);
    expect(usageError(["plan", ...closure(), "--from-store", app()])).toMatch(/^give either --graph or --from-store, not both/);
    expect(usageError(["build", ...closure(), "--contents", app(), "-j", "0", "-o", path.join(dir, "x.tar")])).toMatch(/^--workers must be/);
    expect(usageError(["build", ...closure(), "--contents", app(), "--level", "3", "-o", path.join(dir, "x.tar")])).toMatch(/^--level was given/);
  });

  it("a conf.json given as --graph points at strata stream", () => {
    const conf = path.join(dir, "conf.json");
    fs.writeFileSync(conf, JSON.stringify({ architecture: "amd64", config: {}, customisation_layer: app(), store_layers: [[lib()]], repo_tag: "x:y" }));
    expect(usageError(["build", "--graph", conf, "--contents", app(), "-o", path.join(dir, "x.tar")])).toMatch(/is a streamLayeredImage conf\.json.*\n.*strata stream /);
  });

  it("a bad --config JSON is one line, whatever newlines the file has", () => {
    const config = path.join(dir, "bad-config.json");
    fs.writeFileSync(config, '{\n  "Cmd": [\n}\n');
    expect(usageError(["build", ...closure(), "--contents", app(), "--config", config, "-o", path.join(dir, "x.tar")])).toMatch(/^--config .* is not valid JSON/);
  });

  it("conflicts and missing companions are refused, naming both sides", () => {
    const out = ["-o", path.join(dir, "never.tar")];
    expect(usageError(["build", ...closure(), ...out])).toMatch(/^--graph without --contents: no store path would go into the image/);
    expect(usageError(["build", ...closure(), "--contents", app(), "--nix-db", "--include-store-paths=false", ...out])).toMatch(/--nix-db.*--include-store-paths=false/);
    expect(usageError(["build", ...closure(), "--contents", app(), "--inherit-config", ...out])).toMatch(/^--inherit-config needs --from IMAGE/);
    expect(usageError(["build", ...closure(), "--contents", app(), "-t", "a:1", "--name", "b", ...out])).toMatch(/^-t NAME:TAG names the image, and so do --name\/--tag/);
    expect(usageError(["build", ...closure(), "--contents", app(), "--architecture", "aarch64", ...out])).toMatch(/GOARCH.*"aarch64"\n.*--architecture arm64/);
    expect(fs.existsSync(path.join(dir, "never.tar"))).toBe(false);
  });

  it("-q with --json is refused (as an error event: --json was asked for)", () => {
    const r = strata(["build", ...closure(), "--contents", app(), "-q", "--json"]);
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stderr)).toMatchObject({ type: "error", code: "E_USAGE", message: expect.stringMatching(/^-q and --json exclude each other/) });
  });
});

describe("what the usage text promises is accepted", () => {
  const planJson = (args: string[], input = ""): string[][] => {
    const r = strata(["plan", ...args, "--json"], input);
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout.toString()) as string[][];
  };

  it("--contents A B: both, as --contents A --contents B", () => {
    const both = planJson([...closure(), "--contents", app(), store.pathOf("tool-1.0")]);
    expect(both.flat().sort()).toEqual([app(), lib(), store.pathOf("tool-1.0")].sort());
    expect(both).toEqual(planJson([...closure(), "--contents", app(), "--contents", store.pathOf("tool-1.0")]));
  });

  it("--graph - reads the graph from stdin", () => {
    const fromFile = planJson([...closure(), "--contents", app()]);
    expect(planJson(["--graph", "-", "--contents", app()], fs.readFileSync(store.graphFile, "utf8"))).toEqual(fromFile);
  });

  it("build -t NAME:TAG names the image (a registry port is not a tag)", async () => {
    const out = path.join(dir, "tagged.tar");
    const r = strata(["build", ...closure(), "--contents", app(), "-t", "localhost:5000/team/hello:1.0", "-o", out, "-q"]);
    expect(r.code, r.stderr).toBe(0);
    expect((await validateArchive(out)).manifest[0]!.RepoTags).toEqual(["localhost:5000/team/hello:1.0"]);
  });

  it("strata help build is strata build --help; bare strata is a usage error on stderr", () => {
    const help = strata(["help", "build"]);
    expect(help.code).toBe(0);
    expect(help.stdout.toString()).toBe(strata(["build", "--help"]).stdout.toString());
    expect(help.stdout.toString()).toMatch(/^Usage: strata build/);
    expect(usageError(["help", "biuld"])).toMatch(/did you mean build/);
    const bare = strata([]);
    expect(bare.code).toBe(2);
    expect(bare.stdout.length).toBe(0);
    expect(bare.stderr).toMatch(/^strata: build layered container images/);
  });

  it("the --verify-nar help is a whole sentence, set apart from the Output section", () => {
    const help = strata(["build", "--help"]).stdout.toString();
    expect(help).toMatch(/--verify-nar {11}compute every NAR hash from the files and check it against the one\n {25}the graph gives \(nixpkgs trusts the graph's hashes\)\n\nOutput:/);
  });

  it("strata demo -q writes the image to stdout when it is not a terminal, and nothing on stderr", async () => {
    const r = strata(["demo", "-q"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe("");
    const file = path.join(dir, "demo.tar");
    fs.writeFileSync(file, r.stdout);
    expect((await validateArchive(file)).manifest[0]!.RepoTags[0]).toMatch(/^strata-demo:/);
  });

  it("inspect --ref names the image it shows: image 2 of 2", () => {
    const a = path.join(dir, "a.tar");
    const b = path.join(dir, "b.tar");
    const all = path.join(dir, "all.tar");
    for (const [file, tag, what] of [[a, "a:1", app()], [b, "b:2", store.pathOf("tool-1.0")]] as const) {
      expect(strata(["build", ...closure(), "--contents", what, "-t", tag, "-o", file, "-q"]).code).toBe(0);
    }
    expect(strata(["merge", a, b, "-o", all, "-q"]).code).toBe(0);
    const second = strata(["inspect", all, "--ref", "b:2"]).stdout.toString();
    expect(second).toMatch(/^format +docker-archive, image 2 of 2$/m);
    expect(second).toMatch(/^tags +b:2$/m);
    expect(strata(["inspect", all]).stdout.toString()).toMatch(/image 1 of 2$/m);
  });

  it("--add of a relative symlink adds the symlink, whether or not its target exists here", async () => {
    const link = path.join(dir, "rel-link");
    fs.symlinkSync("../nowhere/target", link);
    const out = path.join(dir, "link.tar");
    const r = strata(["build", ...closure(), "--contents", app(), "--add", `${link}:/etc/link`, "-o", out, "-q"]);
    expect(r.code, r.stderr).toBe(0);
    const archive = await validateArchive(out);
    const entries = await readTar(archive.layers.at(-1)!);
    const entry = entries.find((e) => e.header.name.replace(/^\.?\//, "") === "etc/link");
    expect(entry?.header.type).toBe("symlink");
    expect(entry?.header.linkname).toBe("../nowhere/target");
  });
});
