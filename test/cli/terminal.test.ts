/**
 * Progress in a real terminal: tmux panes of 40 and 120 columns (new-session -x, send-keys,
 * capture-pane), a resize while the bar runs (SIGWINCH), TERM=dumb, and the library refusing to
 * write an image to a terminal. The raw bytes the programs write to the pane are kept with
 * pipe-pane, to see escape sequences that capture-pane has already interpreted.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { storePathOf } from "../helpers/fixture-store.js";
import { requireTool } from "../helpers/interop.js";

const ROOT = path.join(import.meta.dirname, "../..");
const CLI = path.join(ROOT, "bin/strata.js");
const hasTmux = requireTool("tmux");
// A private server: nothing here touches the user's tmux sessions.
const SOCKET = `strata-test-${process.pid}`;

function tmux(...args: string[]): string {
  const r = spawnSync("tmux", ["-L", SOCKET, ...args], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`tmux ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

let dir: string;
let session = 0;

/** A shell in a new detached pane of `columns`, its raw output appended to a file. */
function pane(columns: number): { name: string; raw: string } {
  const name = `s${++session}`;
  const raw = path.join(dir, `${name}.raw`);
  tmux("new-session", "-d", "-s", name, "-x", String(columns), "-y", "50", "env", "PS1=$ ", "sh");
  tmux("pipe-pane", "-t", name, "-o", `cat >> ${raw}`);
  return { name, raw };
}

/** The pane's text, wrapped lines joined (-J) unless `rows`, trailing blanks dropped. */
function capture(name: string, rows = false): string[] {
  return tmux("capture-pane", "-p", ...(rows ? [] : ["-J"]), "-t", name).split("\n").map((l) => l.trimEnd()).filter((l, i, all) => l !== "" || all.slice(i).some((x) => x !== ""));
}

async function until<T>(what: string, probe: () => T | undefined, ms = 120_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

let runs = 0;

/** Runs `command` in the pane and waits for its exit code (a marker of its own: EXIT<n>=). */
async function run(name: string, command: string, onTheWay?: () => Promise<void>): Promise<number> {
  const marker = `EXIT${++runs}=`;
  tmux("send-keys", "-t", name, `${command}; echo ${marker}$?`, "Enter");
  await onTheWay?.();
  return Number(await until("the command's end", () => capture(name).map((l) => (l.startsWith(marker) ? l.slice(marker.length) : undefined)).find((x) => x !== undefined)));
}

const bar = /^\[[#.]{8,30}\] /;
let buildCmd: string;

beforeAll(() => {
  if (!hasTmux) return;
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "strata-terminal-"));
  // A 900 MB sparse file: a few seconds of bar, nothing on disk.
  const big = storePathOf("big-1.0");
  fs.mkdirSync(path.join(dir, "root", big), { recursive: true });
  fs.writeFileSync(path.join(dir, "root", big, "big.img"), "");
  fs.truncateSync(path.join(dir, "root", big, "big.img"), 900e6);
  const graph = path.join(dir, "graph.json");
  fs.writeFileSync(graph, JSON.stringify([{ path: big, references: [], narSize: 900e6 }]));
  buildCmd = `node ${CLI} build --graph ${graph} --contents ${big} --store-root ${path.join(dir, "root")} -t big:1 -j 1 -o /dev/null`;
});

afterAll(() => {
  if (!hasTmux) return;
  spawnSync("tmux", ["-L", SOCKET, "kill-server"]);
  fs.rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!hasTmux)("progress in a real terminal (tmux)", () => {
  it("at 40 columns: one bar line redrawn in place, cut to the width; then the summary", async () => {
    const { name } = pane(40);
    const seen: string[] = [];
    const code = await run(name, buildCmd, async () => {
      seen.push(await until("the bar", () => capture(name).find((l) => bar.test(l))));
    });
    expect(code).toBe(0);
    expect(seen[0]!.length).toBeLessThanOrEqual(39);
    const screen = capture(name);
    // Redraws did not pile up as new lines: no bar is left, nor any wrapped piece of one.
    expect(screen.filter((l) => bar.test(l) || /MB\/s|layers$/.test(l) && !l.startsWith(" layers"))).toEqual([]);
    const summary = screen.slice(screen.findIndex((l) => l.startsWith("strata: built")));
    expect(summary[0]).toBe("strata: built big:1");
    expect(summary[1]).toMatch(/^ image {2}sha256:[0-9a-f]{64}$/);
    expect(summary[2]).toBe(" to     /dev/null (docker-archive)");
    expect(summary[3]).toMatch(/^ layers 2, 900\.\d MB in [\d.]+ s \([\d.]+ MB\/s\); 900\.\d MB written$/);
    for (const line of summary) expect(line.length, line).toBeLessThanOrEqual(80);
  });

  it("at 120 columns: rate, time left and layers beside the bar; a resize to 40 redraws it narrower (SIGWINCH)", async () => {
    const { name } = pane(120);
    let wide = "";
    let narrow = "";
    // The image goes to a reader that waits 8 s first: the bar stays up, stalled, long enough to
    // resize the window under it whatever the machine's speed.
    const code = await run(name, `${buildCmd.replace(" -o /dev/null", "")} | (sleep 8; cat > /dev/null)`, async () => {
      wide = await until("a bar with the time left", () => capture(name).find((l) => bar.test(l) && / left {2}\d+\/2 layers$/.test(l)));
      tmux("resize-window", "-t", name, "-x", "40");
      // The last row: the terminal reflows the old, longer line into rows above it when it
      // narrows (a one-time remnant no program can safely erase); the bar is redrawn below.
      narrow = await until("a bar redrawn at 40 columns", () => {
        const rows = capture(name, true);
        if (rows.some((l) => l.startsWith("strata: built"))) throw new Error(`the build ended before the bar was redrawn:\n${rows.join("\n")}`);
        const last = rows.at(-1) ?? "";
        return bar.test(last) && last.length <= 39 && !last.includes("left") ? last : undefined;
      });
    });
    expect(code).toBe(0);
    expect(wide.length).toBeGreaterThan(60);
    expect(wide.length).toBeLessThanOrEqual(119);
    expect(wide).toMatch(/^\[[#.]{30}\] \d+% {2}[\d.]+ [kM]B\/900\.0 MB {2}[\d.]+ [kM]B\/s {2}[\da-z ]+ left {2}[01]\/2 layers$/);
    expect(narrow).toMatch(/^\[[#.]+\] \d+% {2}[\d.]+ [kM]B\/900\.0 MB$/);
  });

  it("TERM=dumb: no escape sequences and no carriage returns, a few log lines instead", async () => {
    const { name, raw } = pane(40);
    expect(await run(name, `env TERM=dumb ${buildCmd}`)).toBe(0);
    const bytes = fs.readFileSync(raw, "latin1");
    const output = bytes.slice(bytes.indexOf("strata: building"), bytes.lastIndexOf(`EXIT${runs}=`));
    expect(output).toMatch(/^strata: building big:1: 2 layers, about 900\.0 MB of layers\r?\n/);
    expect(output).not.toMatch(/\x1b/);
    // The pane turns \n into \r\n; no \r of strata's own.
    expect(output.replace(/\r\n/g, "\n")).not.toMatch(/\r/);
    expect(output.split("\n").length).toBeLessThan(12);
  });

  it("buildImage without an output refuses a terminal stdout, as the CLI does", async () => {
    const { name } = pane(120);
    const index = path.join(ROOT, "dist/src/index.js");
    const graph = path.join(dir, "graph.json");
    const script = path.join(dir, "lib.mjs");
    fs.writeFileSync(script, `import { buildImage } from ${JSON.stringify(index)};
try { await buildImage({ graph: ${JSON.stringify(graph)}, contents: [${JSON.stringify(storePathOf("big-1.0"))}], storeRoot: ${JSON.stringify(path.join(dir, "root"))} }); console.log("WROTE"); }
catch (e) { console.log("REFUSED " + e.code + ": " + e.message); }
`);
    expect(await run(name, `node ${script}`)).toBe(0);
    const screen = capture(name).join("\n");
    expect(screen).toMatch(/REFUSED E_USAGE: output is a terminal \(file descriptor 1\)/);
    expect(screen).not.toMatch(/WROTE/);
    // And the CLI the same way.
    expect(await run(name, buildCmd.replace(" -o /dev/null", ""))).toBe(2);
    expect(capture(name).join("\n")).toMatch(/strata: E_USAGE: stdout is a terminal/);
  });
});
