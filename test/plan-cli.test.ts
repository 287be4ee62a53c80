/**
 * The reporting and multi-image commands as a user runs them (`node bin/strata.js`, a subprocess):
 * `strata plan` (table, `--json` in nixpkgs' store_layers form equal to planImage's, the runtime
 * layer-limit warning, `--previous` keeping a previous plan's layers and `--compare` counting what
 * two plans share), a malformed `--layering` pipeline, `strata merge` (shared layers once, every
 * image loads in podman) and `strata inspect` (store paths per layer, docker-archive and OCI layout).
 */
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import zlib from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { planImage, type BuildOptions } from "../src/build.js";
import { makeFixtureStore, removeTree, storePathOf, type FixtureStore } from "./helpers/fixture-store.js";
import { readTar, requireTool, validateArchive, type DockerArchive, type ImageConfigJson } from "./helpers/interop.js";

const CLI = path.join(import.meta.dirname, "../bin/strata.js");

let store: FixtureStore;
let dir: string;

function strata(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync("node", [CLI, ...args], { encoding: "utf8", maxBuffer: 1 << 28, timeout: 300_000 });
  if (r.error !== undefined) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Runs strata and expects exit 0; returns stdout. */
function ok(args: string[]): string {
  const r = strata(args);
  expect(r.code, `strata ${args.join(" ")}\n${r.stderr}`).toBe(0);
  return r.stdout;
}

const sha256 = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");

/** Deterministic bytes that do not compress to nothing. */
function bytes(seed: number, n: number): Buffer {
  const b = Buffer.alloc(n);
  let x = (seed * 2654435761) >>> 0;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

const lib = (name: string, seed: number, size: number, references: string[] = []): Parameters<typeof makeFixtureStore>[0][number] => ({
  name,
  references,
  entries: [{ kind: "file", path: `lib/${name}.so`, content: bytes(seed, size) }],
});

beforeAll(() => {
  store = makeFixtureStore([
    { name: "busybox-static-1.36", entries: [{ kind: "busybox" }] },
    { ...lib("glibc-2.40", 1, 200_000), selfReference: true },
    lib("zlib-1.3", 2, 60_000, ["glibc-2.40"]),
    lib("openssl-3.0", 3, 150_000, ["glibc-2.40", "zlib-1.3"]),
    lib("libfoo-1.0", 4, 30_000, ["glibc-2.40"]),
    lib("curl-8.0", 5, 80_000, ["openssl-3.0", "zlib-1.3", "glibc-2.40"]),
    lib("python-3.12", 6, 400_000, ["glibc-2.40", "zlib-1.3", "openssl-3.0", "libfoo-1.0"]),
    { name: "icons-1.0", entries: [{ kind: "file", path: "share/icons.bin", content: bytes(7, 100_000) }] },
    { name: "extra-leaf-1.0", entries: [{ kind: "file", path: "share/extra", content: bytes(8, 5_000) }] },
    {
      name: "app-x",
      references: ["curl-8.0", "python-3.12", "icons-1.0", "busybox-static-1.36"],
      entries: [{ kind: "file", path: "bin/x", content: "file-from-x\n" }],
    },
    {
      name: "app-y",
      references: ["curl-8.0", "busybox-static-1.36"],
      entries: [{ kind: "file", path: "bin/y", content: "file-from-y\n" }],
    },
  ]);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "strata-plan-cli-"));
});

afterAll(() => {
  store?.cleanup();
  if (dir !== undefined) removeTree(dir);
});

const appX = (): string => store.pathOf("app-x");
const closureArgs = (graph = store.graphFile): string[] => ["--graph", graph, "--contents", appX()];
const narSize = (p: string): number => store.graph.paths.get(p)!.narSize;
const shortName = (p: string): string => path.basename(p).slice(33);

/** Sizes as strata plan prints them: decimal kB / MB / GB. */
function human(n: number): string {
  return n >= 1e9 ? `${(n / 1e9).toFixed(2)} GB` : n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : `${(n / 1e3).toFixed(1)} kB`;
}

/** Expect exactly one error line with the code, then its hint, and nothing else. */
function expectOneLineError(stderr: string, code: string): string {
  const lines = stderr.trimEnd().split("\n");
  expect(lines.length, stderr).toBe(2);
  expect(lines[0]).toMatch(new RegExp(`^strata: ${code}: `));
  expect(lines[1]).toMatch(/^ {2}hint: \S/);
  return lines[0]!;
}

function writeJson(name: string, value: unknown): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, JSON.stringify(value));
  return file;
}

describe("strata plan", () => {
  const PIPELINE = [["popularity_contest"], ["limit_layers", 3]];
  const cases: { label: string; args: () => string[]; options: () => Partial<BuildOptions> }[] = [
    { label: "auto (the default)", args: () => [], options: () => ({}) },
    { label: "auto, 4 layers", args: () => ["--layering", "auto", "--max-layers", "4"], options: () => ({ layering: "auto", maxLayers: 4 }) },
    { label: "popularity", args: () => ["--layering", "popularity"], options: () => ({ layering: "popularity" }) },
    { label: "popularity, 5 layers", args: () => ["--layering", "popularity", "--max-layers", "5"], options: () => ({ layering: "popularity", maxLayers: 5 }) },
    { label: "a pipeline file", args: () => ["--layering", writeJson("pipeline.json", PIPELINE)], options: () => ({ layering: { pipeline: PIPELINE } }) },
  ];

  for (const c of cases) {
    it(`--json prints planImage's store layers, a list of lists of store paths (${c.label})`, () => {
      const printed = JSON.parse(ok(["plan", ...closureArgs(), ...c.args(), "--json"])) as unknown;
      const expected = planImage({ graph: store.graphFile, contents: [appX()], ...c.options() }).storeLayers;
      expect(printed).toEqual(expected);
      // Every path of the closure of app-x, in exactly one layer.
      const closure = ["busybox-static-1.36", "glibc-2.40", "zlib-1.3", "openssl-3.0", "libfoo-1.0", "curl-8.0", "python-3.12", "icons-1.0", "app-x"];
      expect((printed as string[][]).flat().sort()).toEqual(closure.map((n) => store.pathOf(n)).sort());
      if (c.label === "a pipeline file") expect((printed as string[][]).length).toBe(3);
      if (c.label.endsWith("4 layers")) expect((printed as string[][]).length).toBeLessThanOrEqual(3);
      if (c.label.endsWith("5 layers")) expect((printed as string[][]).length).toBe(4);
    });
  }

  it("the table names every layer: one row per layer, its number, path count, sizes and path names", () => {
    const out = ok(["plan", ...closureArgs(), "--layering", "popularity", "--max-layers", "5"]);
    const layers = planImage({ graph: store.graphFile, contents: [appX()], layering: "popularity", maxLayers: 5 }).storeLayers;
    const lines = out.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^layer\s+paths\s+size\s+closure\s+store paths$/);
    const rows = lines.slice(1, -1);
    expect(rows.length).toBe(layers.length);
    layers.forEach((paths, i) => {
      const cells = rows[i]!.trim().split(/\s{2,}/);
      expect(cells[0], rows[i]).toBe(String(i + 1));
      expect(cells[1], rows[i]).toBe(String(paths.length));
      // The first (up to) four path names, then "+N more".
      const names = paths.slice(0, 4).map(shortName).join(" ") + (paths.length > 4 ? ` +${paths.length - 4} more` : "");
      expect(rows[i]!.endsWith(names), `${rows[i]} should end with ${names}`).toBe(true);
      expect(cells[2], rows[i]).toBe(human(paths.reduce((n, p) => n + narSize(p), 0)));
    });
    expect(lines.at(-1)).toMatch(new RegExp(`^${layers.length} store layers, then the customisation layer; strata-image:[0-9a-z]{32}$`));
  });

  it("warns about runtimes' ~125-layer limit only when the image really has more layers, and still plans", () => {
    // A budget of 200 on a closure that makes a handful of layers: nothing to warn about (issue 18).
    const r = strata(["plan", ...closureArgs(), "--max-layers", "200", "--json"]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
    expect(JSON.parse(r.stdout)).toEqual(planImage({ graph: store.graphFile, contents: [appX()], maxLayers: 200 }).storeLayers);
    // 150 paths, one layer each under popularity: 151 layers with the customisation layer.
    const paths = Array.from({ length: 150 }, (_, i) => storePathOf(`p${i}`));
    const wide = writeJson("wide-graph.json", paths.map((p, i) => ({ path: p, references: i === 0 ? paths.slice(1) : [], narSize: 1000 })));
    const big = strata(["plan", "--graph", wide, "--contents", paths[0]!, "--layering", "popularity", "--max-layers", "200", "--json"]);
    expect(big.code, big.stderr).toBe(0);
    expect((JSON.parse(big.stdout) as string[][]).length).toBe(150);
    expect(big.stderr).toMatch(/^strata: warning: the image has 151 layers.*125/m);
  });

  it("with --from, numbers the store layers after the base's and counts them in the budget", async () => {
    const base = path.join(dir, "plan-base.tar");
    ok(["build", "--graph", store.graphFile, "--store-root", store.root, "--contents", store.pathOf("icons-1.0"), "--max-layers", "2", "-o", base, "-q"]);
    expect((await validateArchive(base)).layers.length).toBe(2);
    const layers = JSON.parse(ok(["plan", ...closureArgs(), "--from", base, "--max-layers", "5", "--json"])) as string[][];
    expect(layers.length).toBeLessThanOrEqual(2); // 5 - 2 base - 1 customisation
    expect(layers).toEqual(planImage({ graph: store.graphFile, contents: [appX()], maxLayers: 5 }, { layers: 2 }).storeLayers);
    const table = ok(["plan", ...closureArgs(), "--from", base, "--max-layers", "5"]).trimEnd().split("\n");
    expect(table.slice(1, -1).map((row) => row.trim().split(/\s+/)[0])).toEqual(layers.map((_, i) => String(i + 3)));
    expect(table.at(-1)).toMatch(new RegExp(`^${layers.length} store layers after 2 base layers, then the customisation layer`));
    const full = strata(["plan", ...closureArgs(), "--from", base, "--max-layers", "3"]);
    expect(full.code).toBe(1);
    expect(expectOneLineError(full.stderr, "E_LAYER_BUDGET")).toMatch(/--max-layers 3 leaves no layer/); // the flag, not the library's option name (issue 18)
  });

  it("refuses a budget below 2, and --compare without a graph", () => {
    const budget = strata(["plan", ...closureArgs(), "--max-layers", "1"]);
    expect(budget.code).toBe(2);
    expectOneLineError(budget.stderr, "E_USAGE");
    const a = writeJson("lonely.json", [[appX()]]);
    const noGraph = strata(["plan", "--compare", a, a]);
    expect(noGraph.code).toBe(2);
    expectOneLineError(noGraph.stderr, "E_USAGE");
  });
});

describe("strata plan --previous and --compare", () => {
  let graph2: string;
  let aFile: string;
  let bFile: string;
  let a: string[][];
  let b: string[][];

  beforeAll(() => {
    // Version 2 of the closure: app-x also references a new leaf path.
    const entries = JSON.parse(fs.readFileSync(store.graphFile, "utf8")) as { path: string; references: string[] }[];
    const x = entries.find((e) => e.path === appX())!;
    x.references = [...x.references, store.pathOf("extra-leaf-1.0")].sort();
    graph2 = writeJson("graph-v2.json", entries);
    aFile = path.join(dir, "plan-a.json");
    bFile = path.join(dir, "plan-b.json");
    fs.writeFileSync(aFile, ok(["plan", ...closureArgs(), "--json"]));
    fs.writeFileSync(bFile, ok(["plan", ...closureArgs(graph2), "--previous", aFile, "--json"]));
    a = JSON.parse(fs.readFileSync(aFile, "utf8")) as string[][];
    b = JSON.parse(fs.readFileSync(bFile, "utf8")) as string[][];
  });

  it("B keeps every layer of A unchanged, in order, and puts only the new path in new layers", () => {
    expect(a.length).toBeGreaterThan(1);
    expect(b.slice(0, a.length)).toEqual(a);
    expect(b.slice(a.length).flat()).toEqual([store.pathOf("extra-leaf-1.0")]);
    // The same as the library's plan with `previous`.
    expect(b).toEqual(planImage({ graph: graph2, contents: [appX()], previous: a }).storeLayers);
  });

  it("--compare reports A's layers as shared, with the bytes computed from the graph", () => {
    const sum = (layers: string[][]): number => layers.flat().reduce((n, p) => n + narSize(p), 0);
    const report = JSON.parse(ok(["plan", "--compare", aFile, bFile, "--graph", graph2, "--json"])) as {
      shared: { layers: number; bytes: number }; a: { layers: number; bytes: number }; b: { layers: number; bytes: number }; pairs: { a: number; b: number }[];
    };
    expect(report.shared).toEqual({ layers: a.length, bytes: sum(a) });
    expect(report.a).toEqual({ layers: a.length, bytes: sum(a) });
    expect(report.b).toEqual({ layers: b.length, bytes: sum(b) });
    expect(report.pairs).toEqual(a.map((_, i) => ({ a: i, b: i })));
    expect(sum(b) - sum(a)).toBe(narSize(store.pathOf("extra-leaf-1.0")));

    const text = ok(["plan", "--compare", aFile, bFile, "--graph", graph2]);
    const kB = human;
    const pct = `${((100 * sum(a)) / sum(b)).toFixed(1)}%`;
    expect(text).toBe(
      `${aFile}: ${a.length} layers, ${kB(sum(a))}\n${bFile}: ${b.length} layers, ${kB(sum(b))}\n` +
        `shared: ${a.length} layers, ${kB(sum(a))} (${pct} of the second plan's bytes need not be shipped again)\n`,
    );
    // A fresh plan of version 2 (no --previous) shares no more with A than B does.
    const fresh = path.join(dir, "plan-b-fresh.json");
    fs.writeFileSync(fresh, ok(["plan", ...closureArgs(graph2), "--json"]));
    const freshReport = JSON.parse(ok(["plan", "--compare", aFile, fresh, "--graph", graph2, "--json"])) as typeof report;
    expect(freshReport.shared.layers).toBeLessThanOrEqual(report.shared.layers);
  });

  it("images built from A and from B with --previous share A's store layers byte for byte", async () => {
    const imgA = path.join(dir, "prev-a.tar");
    const imgB = path.join(dir, "prev-b.tar");
    ok(["build", ...closureArgs(), "--store-root", store.root, "--name", "prev", "--tag", "a", "-o", imgA, "-q"]);
    ok(["build", ...closureArgs(graph2), "--store-root", store.root, "--previous", aFile, "--name", "prev", "--tag", "b", "-o", imgB, "-q"]);
    const ia = await validateArchive(imgA);
    const ib = await validateArchive(imgB);
    expect(ia.layers.length).toBe(a.length + 1);
    expect(ib.layers.length).toBe(b.length + 1);
    expect(ib.config.rootfs.diff_ids.slice(0, a.length)).toEqual(ia.config.rootfs.diff_ids.slice(0, a.length));
    expect(ib.config.history!.slice(0, a.length)).toEqual(ia.config.history!.slice(0, a.length));
  });
});

describe("strata build --layering with a malformed pipeline", () => {
  it.each([
    ["an unknown op", [["popularity_contest"], ["frobnicate", 3]], /pipeline step 2.*frobnicate/],
    ["a wrong arity", [["popularity_contest"], ["limit_layers"]], /pipeline step 2 \(limit_layers\)/],
    ["an unknown op inside over", [["split_paths", []], ["over", "rest", ["frobnicate"]]], /pipeline step 2 \(over "rest"\).*frobnicate/],
  ])("%s: exit 2, one E_USAGE line naming the step, no output", (_, pipeline, message) => {
    const file = writeJson(`bad-pipeline-${Math.random().toString(36).slice(2)}.json`, pipeline);
    const out = path.join(dir, "never.tar");
    for (const command of [["build", "-o", out, "-q"], ["plan"]]) {
      const r = strata([command[0]!, ...closureArgs(), "--store-root", store.root, "--layering", file, ...command.slice(1)]);
      expect(r.code, r.stderr).toBe(2);
      expect(expectOneLineError(r.stderr, "E_USAGE")).toMatch(message);
      expect(r.stdout).toBe("");
    }
    expect(fs.existsSync(out)).toBe(false);
    expect(fs.readdirSync(dir).filter((f) => f.includes(".strata-"))).toEqual([]);
  });
});

/** Checks a multi-image docker-archive member by member: every image's config and layer digests. */
async function validateMulti(file: string): Promise<{ manifest: { Config: string; RepoTags: string[] | null; Layers: string[] }[]; members: { name: string; data: Buffer }[] }> {
  const members = (await readTar(fs.readFileSync(file))).filter((m) => m.header.type === "file").map((m) => ({ name: m.header.name, data: m.data }));
  const byName = new Map<string, Buffer>();
  for (const m of members) {
    expect(byName.has(m.name), `${m.name} twice`).toBe(false);
    byName.set(m.name, m.data);
  }
  const manifest = JSON.parse(byName.get("manifest.json")!.toString()) as { Config: string; RepoTags: string[] | null; Layers: string[] }[];
  for (const image of manifest) {
    const configBytes = byName.get(image.Config)!;
    expect(path.basename(image.Config)).toBe(`${sha256(configBytes)}.json`);
    const config = JSON.parse(configBytes.toString()) as ImageConfigJson;
    expect(image.Layers.length).toBe(config.rootfs.diff_ids.length);
    for (const [i, name] of image.Layers.entries()) {
      const layer = byName.get(name);
      expect(layer, `${image.Config}: layer ${name}`).toBeDefined();
      expect(`sha256:${sha256(layer!)}`).toBe(config.rootfs.diff_ids[i]);
      await readTar(layer!);
    }
  }
  return { manifest, members };
}

describe("strata merge", () => {
  let xFile: string;
  let yFile: string;
  let yOwnedFile: string;
  let allFile: string;
  let x: DockerArchive;
  let y: DockerArchive;
  let yOwned: DockerArchive;

  beforeAll(async () => {
    xFile = path.join(dir, "merge-x.tar");
    yFile = path.join(dir, "merge-y.tar");
    yOwnedFile = path.join(dir, "merge-y-1000.tar");
    allFile = path.join(dir, "merge-all.tar");
    const configX = writeJson("config-x.json", { Cmd: ["/bin/sh", "-c", "cat /bin/x"] });
    const configY = writeJson("config-y.json", { Cmd: ["/bin/sh", "-c", "cat /bin/y"] });
    const common = ["--graph", store.graphFile, "--store-root", store.root, "--contents", store.pathOf("busybox-static-1.36"), "-q"];
    ok(["build", ...common, "--contents", appX(), "--config", configX, "--name", "merge-x", "--tag", "v1", "-o", xFile]);
    ok(["build", ...common, "--contents", store.pathOf("app-y"), "--config", configY, "--name", "merge-y", "--tag", "v1", "-o", yFile]);
    ok(["build", ...common, "--contents", store.pathOf("app-y"), "--config", configY, "--name", "merge-y", "--tag", "uid1000", "--uid", "1000", "--gid", "100", "-o", yOwnedFile]);
    x = await validateArchive(xFile);
    y = await validateArchive(yFile);
    yOwned = await validateArchive(yOwnedFile);
  });

  it("writes one archive of both images, each shared layer once", async () => {
    // x and y share the layers of busybox, glibc, curl...: the same paths, the same owners.
    const sharedIds = x.config.rootfs.diff_ids.filter((d) => y.config.rootfs.diff_ids.includes(d));
    expect(sharedIds.length).toBeGreaterThan(0);
    const union = new Set([...x.config.rootfs.diff_ids, ...y.config.rootfs.diff_ids]);
    expect(union.size).toBeLessThan(x.layers.length + y.layers.length);

    const r = strata(["merge", xFile, yFile, "-o", allFile]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe(`merged 2 images, ${union.size} distinct layers, ${fs.statSync(allFile).size} bytes\n`);
    const all = await validateMulti(allFile);
    expect(all.manifest.map((m) => m.RepoTags)).toEqual([["merge-x:v1"], ["merge-y:v1"]]);
    // Each distinct layer is one member; a shared layer appears once, and both images name it.
    const layerMembers = all.members.filter((m) => !m.name.endsWith(".json"));
    expect(layerMembers.length).toBe(union.size);
    for (const id of sharedIds) {
      const members = layerMembers.filter((m) => `sha256:${sha256(m.data)}` === id);
      expect(members.length, id).toBe(1);
      expect(all.manifest.every((m) => m.Layers.includes(members[0]!.name))).toBe(true);
    }
    // Configs byte for byte, so the image IDs stay.
    const configOf = (i: number): Buffer => all.members.find((m) => m.name === all.manifest[i]!.Config)!.data;
    expect(configOf(0).equals(x.configBytes)).toBe(true);
    expect(configOf(1).equals(y.configBytes)).toBe(true);
  });

  it("keeps the owners inside layers (a uid-1000 image merged with a root one)", async () => {
    // Owned by 1000, y's store layers differ from x's: nothing is shared.
    expect(x.config.rootfs.diff_ids.filter((d) => yOwned.config.rootfs.diff_ids.includes(d))).toEqual([]);
    const out = path.join(dir, "merge-owners.tar");
    ok(["merge", xFile, yOwnedFile, "-o", out, "-q"]);
    const all = await validateMulti(out);
    expect(all.manifest.map((m) => m.RepoTags)).toEqual([["merge-x:v1"], ["merge-y:uid1000"]]);
    expect(all.members.filter((m) => !m.name.endsWith(".json")).length).toBe(x.layers.length + yOwned.layers.length);
    const layer = (name: string): Buffer => all.members.find((m) => m.name === name)!.data;
    const owners = async (image: number, uid: number, gid: number): Promise<void> => {
      const storeLayers = all.manifest[image]!.Layers.slice(0, -1);
      for (const name of storeLayers) {
        const files = (await readTar(layer(name))).filter((e) => /^\/nix\/store\/[^/]+/.test(e.header.name));
        expect(files.length).toBeGreaterThan(0);
        for (const e of files) expect([e.header.uid, e.header.gid], e.header.name).toEqual([uid, gid]);
      }
    };
    await owners(0, 0, 0);
    await owners(1, 1000, 100);
  });

  describe.skipIf(!(requireTool("podman") && requireTool("runc") && requireTool("busybox")))("with podman", () => {
    let tmp: string;
    let env: NodeJS.ProcessEnv;
    let podmanBase: string[];

    beforeAll(() => {
      tmp = fs.mkdtempSync(path.join(os.tmpdir(), "strata-merge-podman-"));
      const conf = path.join(tmp, "containers.conf");
      fs.writeFileSync(conf, '[containers]\ndefault_ulimits = []\n[engine]\ncgroup_manager = "cgroupfs"\n');
      env = { ...process.env, CONTAINERS_CONF: conf };
      podmanBase = ["--storage-driver", "vfs", "--root", path.join(tmp, "storage"), "--runroot", path.join(tmp, "run")];
    });

    afterAll(() => {
      if (tmp !== undefined) removeTree(tmp);
    });

    const podman = (args: string[]): string =>
      execFileSync("podman", [...podmanBase, ...args], { env, encoding: "utf8", timeout: 300_000, maxBuffer: 64 << 20, stdio: ["ignore", "pipe", "pipe"] });

    it("podman load -i ALL.tar loads both images, and both run", () => {
      const loaded = podman(["load", "-i", allFile]);
      expect(loaded).toContain("localhost/merge-x:v1");
      expect(loaded).toContain("localhost/merge-y:v1");
      const images = podman(["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"]).trim().split("\n").sort();
      expect(images).toEqual([
        `localhost/merge-x:v1 ${sha256(x.configBytes).slice(0, 12)}`,
        `localhost/merge-y:v1 ${sha256(y.configBytes).slice(0, 12)}`,
      ]);
      const run = (image: string): string => podman(["--runtime", "runc", "run", "--rm", "--network", "none", image]);
      expect(run("localhost/merge-x:v1")).toBe("file-from-x\n");
      expect(run("localhost/merge-y:v1")).toBe("file-from-y\n");
    });
  });
});

describe("strata inspect", () => {
  interface Inspect {
    format: string;
    imageId: string;
    repoTags: string[];
    layers: { index: number; diffId: string; digest: string; size: number; compressedSize?: number; mediaType?: string; name: string; storePaths: string[]; entries: number }[];
  }
  let archiveFile: string;
  let layoutDir: string;
  let archive: DockerArchive;
  let expectedPaths: string[][];

  beforeAll(async () => {
    archiveFile = path.join(dir, "inspect.tar");
    layoutDir = path.join(dir, "inspect-oci");
    const common = [...closureArgs(), "--store-root", store.root, "--max-layers", "5", "--layering", "popularity", "--name", "inspect-me", "--tag", "v1", "-q"];
    ok(["build", ...common, "-o", archiveFile]);
    ok(["build", ...common, "--format", "oci", "-o", layoutDir]);
    archive = await validateArchive(archiveFile);
    expectedPaths = planImage({ graph: store.graphFile, contents: [appX()], layering: "popularity", maxLayers: 5 }).storeLayers.map((l) => [...l].sort());
  });

  it("--json lists the store paths of each layer of a docker-archive", () => {
    const r = JSON.parse(ok(["inspect", archiveFile, "--json"])) as Inspect;
    expect(r.format).toBe("docker-archive");
    expect(r.imageId).toBe(`sha256:${sha256(archive.configBytes)}`);
    expect(r.repoTags).toEqual(["inspect-me:v1"]);
    expect(r.layers.map((l) => l.diffId)).toEqual(archive.config.rootfs.diff_ids);
    expect(r.layers.map((l) => l.size)).toEqual(archive.layers.map((l) => l.length));
    // Store layers, then the customisation layer, which holds no /nix/store files (only symlinks into it).
    expect(r.layers.map((l) => l.storePaths)).toEqual([...expectedPaths, []]);
  });

  it("--json of the OCI layout of the same image gives the same layers and store paths", async () => {
    // The layout itself checked from scratch: blob digests and sizes, diff_ids of the gzip layers.
    const index = JSON.parse(fs.readFileSync(path.join(layoutDir, "index.json"), "utf8")) as { manifests: { digest: string; size: number }[] };
    const blob = (digest: string): Buffer => fs.readFileSync(path.join(layoutDir, "blobs/sha256", digest.slice("sha256:".length)));
    const manifestBytes = blob(index.manifests[0]!.digest);
    expect(`sha256:${sha256(manifestBytes)}`).toBe(index.manifests[0]!.digest);
    const manifest = JSON.parse(manifestBytes.toString()) as { config: { digest: string }; layers: { digest: string; size: number; mediaType: string }[] };
    const configBytes = blob(manifest.config.digest);
    expect(`sha256:${sha256(configBytes)}`).toBe(manifest.config.digest);
    const config = JSON.parse(configBytes.toString()) as ImageConfigJson;
    for (const [i, l] of manifest.layers.entries()) {
      const stored = blob(l.digest);
      expect(`sha256:${sha256(stored)}`).toBe(l.digest);
      expect(stored.length).toBe(l.size);
      expect(l.mediaType).toBe("application/vnd.oci.image.layer.v1.tar+gzip");
      const tar = zlib.gunzipSync(stored);
      expect(`sha256:${sha256(tar)}`).toBe(config.rootfs.diff_ids[i]);
      await readTar(tar);
    }
    expect(config.rootfs.diff_ids).toEqual(archive.config.rootfs.diff_ids);

    const r = JSON.parse(ok(["inspect", layoutDir, "--json"])) as Inspect;
    expect(r.format).toBe("oci");
    expect(r.imageId).toBe(manifest.config.digest);
    expect(r.layers.map((l) => l.diffId)).toEqual(archive.config.rootfs.diff_ids);
    expect(r.layers.map((l) => l.digest)).toEqual(manifest.layers.map((l) => l.digest));
    expect(r.layers.map((l) => l.compressedSize)).toEqual(manifest.layers.map((l) => l.size));
    expect(r.layers.map((l) => l.storePaths)).toEqual([...expectedPaths, []]);
  });

  it("the human table names each layer by its diff_id prefix, with its store paths", () => {
    for (const input of [archiveFile, layoutDir]) {
      const text = ok(["inspect", input]);
      for (const [i, id] of archive.config.rootfs.diff_ids.entries()) {
        const row = text.split("\n").find((l) => l.includes(id.slice(0, "sha256:".length + 12)));
        expect(row, `${input}: layer ${i + 1} (${id})`).toBeDefined();
        expect(row!.trimStart().startsWith(`${i + 1} `)).toBe(true);
      }
      for (const p of expectedPaths.flat()) expect(text, input).toContain(p);
    }
  });
});
