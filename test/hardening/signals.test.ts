/**
 * Signals (issue 15 item 9): `inspect` and `plan --from` stop on the first SIGINT/SIGTERM; a
 * second signal (Ctrl-C twice, or `timeout`, which signals the process group after the child)
 * exits at once and still leaves no temp output file, no `.strata-XXXXXX` dir inside an OCI layout
 * and no spool dir. Real child processes, on inputs big enough to be caught mid-work.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { storePathOf } from "../helpers/fixture-store.js";

const CLI = path.join(import.meta.dirname, "../../bin/strata.js");
const GIB = 1024 ** 3;
let dir: string;
let root: string;
let graph: string;
let big: string;
/** A plain docker-archive of 1 GiB (mostly the zeros of one sparse file), made once. */
let bigImage: string;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "strata-signals-"));
  root = path.join(dir, "root");
  big = storePathOf("big-1.0");
  fs.mkdirSync(path.join(root, big), { recursive: true });
  fs.writeFileSync(path.join(root, big, "big.img"), "");
  fs.truncateSync(path.join(root, big, "big.img"), GIB);
  graph = path.join(dir, "graph.json");
  fs.writeFileSync(graph, JSON.stringify([{ path: big, references: [], narSize: GIB }]));
  bigImage = path.join(dir, "big.tar");
  const r = spawnSync("node", [CLI, ...buildArgs(), "-o", bigImage], { encoding: "utf8" });
  expect(r.status, r.stderr).toBe(0);
}, 120_000);

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const buildArgs = (): string[] => ["build", "--graph", graph, "--contents", big, "--store-root", root, "-q"];

interface Child {
  readonly child: ChildProcess;
  stderr(): string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function start(args: string[], tmp: string): Child {
  const child = spawn("node", [CLI, ...args], { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, TMPDIR: tmp } });
  let stderr = "";
  child.stderr!.on("data", (b: Buffer) => (stderr += b.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on("close", (code, signal) => resolve({ code, signal })));
  return { child, stderr: () => stderr, exit };
}

/** Resolves once the child has `file` open (it is reading it: the CLI's signal handlers are set by then). */
async function opened(pid: number, file: string): Promise<void> {
  for (let i = 0; i < 3000; i++) {
    const fds = (() => {
      try {
        return fs.readdirSync(`/proc/${pid}/fd`);
      } catch {
        return [];
      }
    })();
    for (const fd of fds) {
      try {
        if (fs.readlinkSync(`/proc/${pid}/fd/${fd}`) === file) return;
      } catch {
        // closed meanwhile
      }
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`process ${pid} never opened ${file}`);
}

/** Resolves once the child (started with --json) reports bytes written. */
async function writing(c: Child): Promise<void> {
  for (let i = 0; i < 3000 && !c.stderr().includes("\"type\":\"bytes\""); i++) await new Promise((r) => setTimeout(r, 10));
  expect(c.stderr()).toContain("\"type\":\"bytes\"");
}

const SIGNAL_NUMBERS = { SIGINT: 2, SIGTERM: 15 } as const;

/**
 * Two signals, as two deliveries: the second is sent once the first is no longer pending (two
 * sent back to back may merge into one, as standard signals are not queued).
 */
async function twice(c: Child, signal: keyof typeof SIGNAL_NUMBERS): Promise<void> {
  c.child.kill(signal);
  const bit = 1n << BigInt(SIGNAL_NUMBERS[signal] - 1);
  for (let i = 0; i < 1000; i++) {
    let status: string;
    try {
      status = fs.readFileSync(`/proc/${c.child.pid}/status`, "utf8");
    } catch {
      return; // gone already
    }
    const pending = [...status.matchAll(/^(?:SigPnd|ShdPnd):\s*([0-9a-f]+)$/gm)].some((m) => (BigInt(`0x${m[1]}`) & bit) !== 0n);
    if (!pending) break;
    await new Promise((r) => setTimeout(r, 1));
  }
  c.child.kill(signal);
}

function freshDir(name: string): string {
  return fs.mkdtempSync(path.join(dir, `${name}-`));
}

describe("the first signal stops inspect and plan --from (issue 15 item 9)", () => {
  it.each(["SIGINT", "SIGTERM"] as const)("inspect stops on %s with E_ABORTED", async (signal) => {
    const tmp = freshDir("tmp");
    const c = start(["inspect", bigImage], tmp);
    await opened(c.child.pid!, bigImage);
    c.child.kill(signal);
    const { code } = await c.exit;
    expect(code, c.stderr()).toBe(130);
    expect(c.stderr()).toMatch(new RegExp(`^strata: E_ABORTED: interrupted by ${signal}`));
  });

  it("plan --from stops on SIGINT, and removes the base image it was extracting", async () => {
    const tmp = freshDir("tmp");
    const c = start(["plan", "--graph", graph, "--contents", big, "--from", bigImage, "--tmp-dir", tmp], tmp);
    await opened(c.child.pid!, bigImage);
    c.child.kill("SIGINT");
    const { code } = await c.exit;
    expect(code, c.stderr()).toBe(130);
    expect(c.stderr()).toMatch(/^strata: E_ABORTED: interrupted by SIGINT/);
    expect(fs.readdirSync(tmp)).toEqual([]);
  });
});

describe("a second signal exits at once and leaves nothing behind (issue 15 item 9)", () => {
  it.each([["SIGINT", 130], ["SIGTERM", 143]] as const)("-o FILE: no temp output after %s twice", async (signal, exitCode) => {
    const out = freshDir("out");
    const tmp = freshDir("tmp");
    const c = start([...buildArgs().filter((a) => a !== "-q"), "--json", "-o", path.join(out, "image.tar")], tmp);
    await writing(c);
    expect(fs.readdirSync(out).some((f) => f.startsWith(".image.tar.strata-"))).toBe(true);
    await twice(c, signal);
    const { code } = await c.exit;
    expect(code, c.stderr()).toBe(exitCode);
    expect(fs.readdirSync(out)).toEqual([]);
    expect(fs.readdirSync(tmp)).toEqual([]);
  });

  it("a compressed stream: no spool dir after SIGTERM twice", async () => {
    const tmp = freshDir("tmp");
    const c = start([...buildArgs().filter((a) => a !== "-q"), "--json", "--compress", "gz", "--level", "1", "-o", "/dev/null"], tmp);
    await writing(c);
    expect(fs.readdirSync(tmp)).toHaveLength(1); // the spool dir, while it runs
    await twice(c, "SIGTERM");
    const { code } = await c.exit;
    expect(code, c.stderr()).toBe(143);
    expect(fs.readdirSync(tmp)).toEqual([]);
  });

  it("an OCI layout: no .strata- dir inside it after SIGINT twice", async () => {
    const layout = path.join(freshDir("layout"), "oci");
    const tmp = freshDir("tmp");
    const c = start([...buildArgs().filter((a) => a !== "-q"), "--json", "--format", "oci", "-o", layout], tmp);
    await writing(c);
    expect(fs.readdirSync(layout).some((f) => f.startsWith(".strata-"))).toBe(true);
    await twice(c, "SIGINT");
    const { code } = await c.exit;
    expect(code, c.stderr()).toBe(130);
    expect(fs.readdirSync(layout).filter((f) => f.startsWith(".strata-"))).toEqual([]);
    expect(fs.readdirSync(tmp)).toEqual([]);
  });
});
