/**
 * `strata inspect ... | head` and `strata plan ... | head` (issue 15 item 12): the reader of a
 * report going away ends strata quietly with 141, as git and skopeo end there (killed by SIGPIPE,
 * which a shell reports as 141), not with an EPIPE stack trace. Real pipes into `head -c 1`, with
 * reports larger than a pipe holds (64 KiB), so that the write cannot complete.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeFixtureStore, type FixtureStore } from "../helpers/fixture-store.js";

const CLI = path.join(import.meta.dirname, "../../bin/strata.js");
const PATHS = 1500;
let store: FixtureStore;
let dir: string;
let image: string;

const closureArgs = (): string[] => ["--graph", store.graphFile, "--contents", store.pathOf("app-1.0"), "--store-root", store.root];

beforeAll(() => {
  // Enough store paths that the reports are well over 64 KiB: every path is named in them.
  const libs = Array.from({ length: PATHS }, (_, i) => ({ name: `library-number-${i}-1.0`, entries: [{ kind: "file" as const, path: "lib/x", content: String(i) }] }));
  store = makeFixtureStore([...libs, { name: "app-1.0", references: libs.map((l) => l.name), entries: [{ kind: "file", path: "bin/app", content: "app" }] }]);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "strata-epipe-"));
  image = path.join(dir, "image.tar");
  const r = spawnSync("node", [CLI, "build", ...closureArgs(), "-q", "-o", image], { encoding: "utf8" });
  expect(r.status, r.stderr).toBe(0);
}, 120_000);

afterAll(() => {
  store?.cleanup();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** `strata ARGS | head -c 1`: strata's exit code and stderr, and the size of the whole report. */
function intoHead(args: string[]): { code: number; stderr: string; full: number } {
  const q = (s: string): string => `'${s.replace(/'/g, "'\\''")}'`;
  const errFile = path.join(dir, `stderr-${Math.random()}`);
  const cmd = `node ${[CLI, ...args].map(q).join(" ")} 2> ${q(errFile)} | head -c 1 > /dev/null; exit \${PIPESTATUS[0]}`;
  const r = spawnSync("bash", ["-c", cmd], { encoding: "utf8" });
  const full = spawnSync("node", [CLI, ...args], { maxBuffer: 1 << 26 });
  expect(full.status, full.stderr?.toString()).toBe(0);
  return { code: r.status!, stderr: fs.readFileSync(errFile, "utf8"), full: full.stdout.length };
}

describe("a report's reader going away (issue 15 item 12)", () => {
  it.each([
    ["inspect", () => ["inspect", image]],
    ["inspect --json", () => ["inspect", image, "--json"]],
    ["plan --json", () => ["plan", ...closureArgs(), "--json"]],
  ])("%s | head -c 1: exit 141, nothing on stderr", (_, args) => {
    const r = intoHead(args());
    expect(r.full).toBeGreaterThan(64 << 10);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(141);
  });
});
