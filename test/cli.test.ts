/**
 * The command line as a user meets it: one-line errors with a code and a hint, exit codes, no
 * partial output, and faults (reader gone, Ctrl-C, full disk, unreadable file, a file changing
 * under us) that lose nothing and leave nothing behind.
 */
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildImage } from "../src/build.js";
import { parseCommandLine } from "../src/cli/args.js";
import { COMMANDS } from "../src/cli.js";
import { makeFixtureStore, storePathOf, type FixtureStore } from "./helpers/fixture-store.js";
import { requireTool } from "./helpers/interop.js";

const CLI = path.join(import.meta.dirname, "../bin/strata.js");
let store: FixtureStore;
let dir: string;
let big: string;
let bigGraph: string;

function strata(args: string[], opts: { input?: string } = {}): { code: number | null; stdout: Buffer; stderr: string } {
  const r = spawnSync("node", [CLI, ...args], { input: opts.input ?? "", maxBuffer: 1 << 28 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr.toString() };
}

/** Temp files strata left in a directory: spool dirs and partial outputs. */
function leftovers(d: string): string[] {
  return fs.readdirSync(d).filter((f) => /^strata-[A-Za-z0-9]{6}$/.test(f) || f.includes(".strata-"));
}

beforeAll(() => {
  store = makeFixtureStore([
    { name: "lib-1.0", entries: [{ kind: "file", path: "lib/lib.so", content: "lib" }] },
    { name: "app-1.0", references: ["lib-1.0"], entries: [{ kind: "file", path: "bin/app", content: "app", executable: true }] },
  ]);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "strata-cli-"));
  // A 3 GiB sparse file: slow enough to interrupt, free to create.
  big = storePathOf("big-1.0");
  fs.mkdirSync(path.join(dir, "root", big), { recursive: true });
  fs.writeFileSync(path.join(dir, "root", big, "big.img"), "");
  fs.truncateSync(path.join(dir, "root", big, "big.img"), 3 * 1024 ** 3);
  bigGraph = path.join(dir, "big-graph.json");
  fs.writeFileSync(bigGraph, JSON.stringify([{ path: big, references: [], narSize: 3 * 1024 ** 3 }]));
});

afterAll(() => {
  store.cleanup();
  fs.rmSync(dir, { recursive: true, force: true });
});

const bigArgs = (): string[] => ["build", "--graph", bigGraph, "--contents", big, "--store-root", path.join(dir, "root"), "-q"];

/** Expect exactly one error line with the code, then its hint, and nothing else. */
function expectOneLineError(stderr: string, code: string): void {
  const lines = stderr.trimEnd().split("\n");
  expect(lines.length, stderr).toBe(2);
  expect(lines[0]).toMatch(new RegExp(`^strata: ${code}: `));
  expect(lines[1]).toMatch(/^ {2}hint: \S/);
}

describe("strata CLI", () => {
  it("--help tells the truth: every flag it lists is accepted", () => {
    const main = strata(["--help"]);
    expect(main.code).toBe(0);
    expect(main.stdout.toString()).toMatch(/strata stream CONF\.json/);
    for (const cmd of Object.keys(COMMANDS)) {
      const help = strata([cmd, "--help"]).stdout.toString();
      const flags = [...help.matchAll(/^\s+(?:-\w, )?(--[a-z-]+)(?:[ ,=]|$)/gm)].map((m) => m[1]!);
      expect(flags.length).toBeGreaterThan(3);
      // and every flag the command accepts is listed (nixpkgs' --repo_tag spelling is an alias)
      for (const flag of Object.keys(COMMANDS[cmd]!).filter((f) => f !== "repo_tag")) {
        expect(help, `${cmd} --help lists --${flag}`).toMatch(new RegExp(`--${flag}\\b`));
      }
      // Parsed in this process (a child per flag took minutes on a loaded machine): a flag the
      // help lists is one the parser knows.
      for (const flag of flags) {
        let message = "";
        try {
          parseCommandLine(cmd, [flag, "1"], COMMANDS[cmd]!, COMMANDS);
        } catch (err) {
          message = (err as Error).message;
        }
        expect(message, `${cmd} ${flag}`).not.toMatch(/unknown option/i);
      }
    }
  });

  it("rejects an unknown option and a missing argument with exit 2 and one line", () => {
    const r = strata(["build", "--frobnicate"]);
    expect(r.code).toBe(2);
    expectOneLineError(r.stderr, "E_USAGE");
    const s = strata(["stream"]);
    expect(s.code).toBe(2);
    expectOneLineError(s.stderr, "E_USAGE");
  });

  it.each([
    ["malformed JSON", "[{\"path\": ", "E_CLOSURE_INPUT"],
    ["a path outside the store", JSON.stringify([{ path: "/usr/lib/x", references: [], narSize: 1 }]), "E_CLOSURE_INPUT"],
    ["a reference missing from the graph", JSON.stringify([{ path: storePathOf("a"), references: [storePathOf("gone")], narSize: 1 }]), "E_CLOSURE_INPUT"],
    ["a cycle", JSON.stringify([
      { path: storePathOf("a"), references: [storePathOf("b")], narSize: 1 },
      { path: storePathOf("b"), references: [storePathOf("a")], narSize: 1 },
    ]), "E_CLOSURE_INPUT"],
    ["a store path that does not exist", JSON.stringify([{ path: storePathOf("nowhere"), references: [], narSize: 1 }]), "E_STORE_PATH"],
  ])("refuses %s: one line, exit 1, no output file", (_, graph, code) => {
    const file = path.join(dir, `graph-${Math.random()}.json`);
    fs.writeFileSync(file, graph);
    const out = path.join(dir, "never.tar");
    const contents = JSON.parse(graph.endsWith("]") ? graph : "[]")[0]?.path ?? storePathOf("a");
    const r = strata(["build", "--graph", file, "--contents", contents, "--store-root", store.root, "-o", out]);
    expect(r.code).toBe(1);
    expectOneLineError(r.stderr, code);
    expect(fs.existsSync(out)).toBe(false);
    expect(leftovers(dir)).toEqual([]);
  });

  it("exits at once, cleanly, when the reader goes away (strata ... | head -c 100)", async () => {
    // Its own temp dir (TMPDIR), so that other tests' builds running meanwhile are not counted.
    const tmp = fs.mkdtempSync(path.join(dir, "tmp-"));
    const child = spawn("node", [CLI, ...bigArgs()], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, TMPDIR: tmp } });
    let stderr = "";
    child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
    const first = await new Promise<Buffer>((resolve) => child.stdout.once("data", resolve));
    expect(first.length).toBeGreaterThan(0);
    expect(leftovers(tmp)).toHaveLength(1); // its spool dir, while it runs
    child.stdout.destroy(); // the reader is gone
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    expect(code).toBe(141);
    expectOneLineError(stderr, "E_OUTPUT_CLOSED");
    expect(fs.readdirSync(tmp)).toEqual([]);
  });

  it("leaves nothing behind on Ctrl-C", async () => {
    const out = path.join(dir, "interrupted.tar");
    const child = spawn("node", [CLI, ...bigArgs().filter((a) => a !== "-q"), "--json", "-o", out], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    // Interrupt once bytes are flowing: the output file exists under its temp name by then.
    await new Promise<void>((resolve) => child.stderr.on("data", (b: Buffer) => {
      stderr += b.toString();
      if (stderr.includes("\"type\":\"bytes\"")) resolve();
    }));
    expect(fs.readdirSync(dir).some((f) => f.startsWith(".interrupted.tar.strata-"))).toBe(true);
    child.kill("SIGINT");
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    expect(code).toBe(130);
    // With --json, the failure is an event too (issue 18), not a text line.
    expect(stderr.trimEnd().split("\n").map((l) => JSON.parse(l) as { type: string; code?: string }).at(-1)).toMatchObject({ type: "error", code: "E_ABORTED" });
    expect(fs.existsSync(out)).toBe(false);
    expect(leftovers(dir)).toEqual([]);
  });

  it("writes -o /dev/null in place, leaving the device node alone", () => {
    const r = strata(["build", "--graph", store.graphFile, "--contents", store.pathOf("app-1.0"), "--store-root", store.root, "-q", "-o", "/dev/null"]);
    expect(r.code, r.stderr).toBe(0);
    expect(fs.statSync("/dev/null").isCharacterDevice()).toBe(true);
    expect(fs.readdirSync("/dev").filter((f) => f.includes(".strata-"))).toEqual([]);
  });

  it("a --tmp-dir that does not exist is E_USAGE naming it, one that cannot be written E_WRITE; no output either way", () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), "strata-tmpdir-"));
    const notDir = path.join(out, "a-file");
    try {
      for (const format of ["docker-archive", "oci-archive", "docker"]) {
        for (const [tmp, code, exit] of [[path.join(out, "missing"), "E_USAGE", 2], [notDir, "E_USAGE", 2]] as const) {
          fs.writeFileSync(notDir, "");
          const r = strata(["build", "--graph", store.graphFile, "--contents", store.pathOf("app-1.0"), "--store-root", store.root, "-q",
            "--format", format, "--tmp-dir", tmp, "-o", path.join(out, "image.tar"), "--compress", "gz"]);
          expect(r.code, `${format} ${tmp}`).toBe(exit);
          expectOneLineError(r.stderr, code);
          expect(r.stderr).toContain(tmp);
          fs.rmSync(notDir);
          expect(fs.readdirSync(out), format).toEqual([]);
        }
      }
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });

  it("a --tmp-dir where no directory can be made is E_WRITE naming it, and leaves no output", () => {
    // /proc exists, and not even root may create anything in it.
    const out = fs.mkdtempSync(path.join(os.tmpdir(), "strata-tmpdir-"));
    try {
      // --compress gz: the streaming writer, which spools into the temp dir.
      const r = strata(["build", "--graph", store.graphFile, "--contents", store.pathOf("app-1.0"), "--store-root", store.root, "-q",
        "--compress", "gz", "--tmp-dir", "/proc", "-o", path.join(out, "image.tar")]);
      expect(r.code, r.stderr).toBe(1);
      expectOneLineError(r.stderr, "E_WRITE");
      expect(r.stderr).toContain("/proc");
      expect(fs.readdirSync(out)).toEqual([]);
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });

  it("writes stdout redirected to a file in place, from the shell's offset, leaving the offset after it; >> streams", () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), "strata-redirect-"));
    const q = (p: string): string => `'${p.replace(/'/g, "'\\''")}'`;
    const cmd = ["node", CLI, "build", "--graph", store.graphFile, "--contents", store.pathOf("app-1.0"), "--store-root", store.root, "-q", "--max-layers", "4"].map(q).join(" ");
    try {
      const ref = path.join(out, "ref.tar");
      expect(strata(["build", "--graph", store.graphFile, "--contents", store.pathOf("app-1.0"), "--store-root", store.root, "-q", "--max-layers", "4", "-o", ref]).code).toBe(0);
      const archive = fs.readFileSync(ref);
      const around = path.join(out, "around.tar");
      const appended = path.join(out, "appended.tar");
      fs.writeFileSync(appended, "OLD");
      const r = spawnSync("bash", ["-c", `{ printf PREFIX; ${cmd}; printf SUFFIX; } > ${q(around)} && ${cmd} >> ${q(appended)}`], { encoding: "utf8" });
      expect(r.status, r.stderr).toBe(0);
      expect(fs.readFileSync(around).equals(Buffer.concat([Buffer.from("PREFIX"), archive, Buffer.from("SUFFIX")]))).toBe(true);
      expect(fs.readFileSync(appended).equals(Buffer.concat([Buffer.from("OLD"), archive]))).toBe(true);
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });

  it("reports a full disk on stdout (/dev/full)", () => {
    const fd = fs.openSync("/dev/full", "w");
    try {
      const r = spawnSync("node", [CLI, ...bigArgs()], { stdio: ["ignore", fd, "pipe"] });
      expect(r.status).toBe(1);
      expectOneLineError(r.stderr.toString(), "E_WRITE");
    } finally {
      fs.closeSync(fd);
    }
  });

  it.skipIf(!requireTool("mount"))("reports a full disk for -o and removes the partial file", () => {
    const mnt = fs.mkdtempSync(path.join(os.tmpdir(), "strata-full-"));
    const mounted = spawnSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", mnt]);
    if (mounted.status !== 0) {
      const why = `cannot mount a small tmpfs here: ${mounted.stderr.toString().trim()}`;
      if (process.env["STRATA_REQUIRE_INTEROP"] === "1") throw new Error(why);
      console.warn(`SKIPPING the full-disk -o test: ${why}`);
      return;
    }
    try {
      const r = strata([...bigArgs(), "-o", path.join(mnt, "image.tar")]);
      expect(r.code).toBe(1);
      expectOneLineError(r.stderr, "E_WRITE");
      expect(fs.readdirSync(mnt)).toEqual([]);
    } finally {
      spawnSync("umount", [mnt]);
      fs.rmSync(mnt, { recursive: true, force: true });
    }
  });

  it.skipIf(!requireTool("setpriv"))("reports an unreadable file (run as nobody)", () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "strata-unreadable-"));
    const p = storePathOf("secret-1.0");
    fs.mkdirSync(path.join(root, p), { recursive: true });
    fs.writeFileSync(path.join(root, p, "secret"), "s");
    fs.writeFileSync(path.join(root, "graph.json"), JSON.stringify([{ path: p, references: [], narSize: 1 }]));
    spawnSync("chmod", ["-R", "a+rX", root]);
    fs.chmodSync(path.join(root, p, "secret"), 0o000);
    fs.chmodSync(root, 0o777);
    try {
      const r = spawnSync("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "node", CLI, "build", "--graph", path.join(root, "graph.json"),
        "--contents", p, "--store-root", root, "-q", "-o", path.join(root, "out.tar")]);
      if (process.getuid?.() !== 0) throw new Error("this test drops privileges and must run as root");
      expect(r.status).toBe(1);
      expectOneLineError(r.stderr.toString(), "E_READ");
      expect(fs.existsSync(path.join(root, "out.tar"))).toBe(false);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it("fails with E_FILE_CHANGED when a file shrinks between planning and reading", async () => {
    const file = path.join(dir, "root", big, "big.img");
    const out = path.join(dir, "changed.tar");
    let truncated = false;
    await expect(buildImage({
      graph: bigGraph, contents: [big], storeRoot: path.join(dir, "root"), output: out,
      onProgress: (e) => {
        if (e.type === "bytes" && !truncated) {
          truncated = true;
          fs.truncateSync(file, 1 << 20);
        }
      },
    })).rejects.toMatchObject({ code: "E_FILE_CHANGED" });
    expect(truncated).toBe(true);
    expect(fs.existsSync(out)).toBe(false);
    fs.truncateSync(file, 3 * 1024 ** 3);
  });
});
