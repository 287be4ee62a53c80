#!/usr/bin/env node
/**
 * Where strata's time goes: runs one `strata build` under `node --cpu-prof` (worker threads inherit
 * the flag and write their own profiles) and prints, per thread, the busy time and the functions
 * with the most self time, and the same grouped by source file.
 *
 *   node bench/profile.mjs [--size 1G | --closure DIR] [--compress none|gz|zstd] [-j N]
 *                          [--out PROFILE_DIR] [--top N] [--pipe] [--files N] [--timeline MS]
 *   node bench/profile.mjs [--top N] [--timeline MS] --summarize PROFILE_DIR   (an earlier run)
 *
 * --timeline MS adds, per thread, each MS of wall time: busy share and top functions.
 *
 * The closure is generated in /dev/shm (tmpfs) unless --closure names one made by make-closure.
 * Open the .cpuprofile files in Chrome DevTools or speedscope for the full picture.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { makeClosure, parseSize, removeTree } from "./make-closure.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, "..");

/** Self time per function and per file, and the thread's busy (non-idle) time, in ms. */
export function summarizeProfile(file) {
  const prof = JSON.parse(fs.readFileSync(file, "utf8"));
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const self = new Map();
  const dt = prof.timeDeltas;
  // sample i lasted until sample i+1
  for (let i = 0; i < prof.samples.length; i++) {
    const d = (dt[i + 1] ?? 0) / 1000;
    self.set(prof.samples[i], (self.get(prof.samples[i]) ?? 0) + d);
  }
  const fns = new Map();
  const files = new Map();
  let idle = 0;
  let total = 0;
  for (const [id, ms] of self) {
    const n = byId.get(id);
    const cf = n.callFrame;
    total += ms;
    if (cf.functionName === "(idle)") idle += ms;
    const where = cf.url ? `${shortUrl(cf.url)}:${cf.lineNumber + 1}` : "";
    const key = `${cf.functionName || "(anonymous)"} ${where}`.trim();
    fns.set(key, (fns.get(key) ?? 0) + ms);
    const fkey = cf.url ? shortUrl(cf.url) : cf.functionName;
    files.set(fkey, (files.get(fkey) ?? 0) + ms);
  }
  const wall = (prof.endTime - prof.startTime) / 1000;
  return { file, wall, total, idle, busy: total - idle, fns: sorted(fns), files: sorted(files), prof, byId };
}

/**
 * A thread's timeline: per `bucketMs` of wall time (from `t0`, µs on the profiles' shared clock),
 * the busy share and the two functions with the most self time. Shows the phases of a build
 * (startup, planning, small layers, the bulk layer) and which thread waits for which.
 */
function timeline(s, t0, bucketMs) {
  const { prof, byId } = s;
  const buckets = new Map();
  let t = prof.startTime;
  for (let i = 0; i < prof.samples.length; i++) {
    t += prof.timeDeltas[i];
    const d = (prof.timeDeltas[i + 1] ?? 0) / 1000;
    const b = Math.floor((t - t0) / 1000 / bucketMs);
    const cf = byId.get(prof.samples[i]).callFrame;
    const m = buckets.get(b) ?? new Map();
    m.set(cf.functionName || "(anonymous)", (m.get(cf.functionName || "(anonymous)") ?? 0) + d);
    buckets.set(b, m);
  }
  const rows = [];
  for (const [b, m] of [...buckets.entries()].sort((x, y) => x[0] - y[0])) {
    const idle = (m.get("(idle)") ?? 0) + (m.get("atomicsWaitLoop") ?? 0);
    const top = sorted(m).filter(([k]) => k !== "(idle)" && k !== "atomicsWaitLoop").slice(0, 3).map(([k, ms]) => `${k} ${ms.toFixed(0)}`).join(", ");
    rows.push(`    ${String(b * bucketMs).padStart(6)} ms  busy ${String(Math.max(0, Math.round(100 - (100 * idle) / bucketMs))).padStart(3)}%  ${top}`);
  }
  return rows.join("\n");
}

function shortUrl(u) {
  const p = u.startsWith("file://") ? fileURLToPath(u) : u;
  const rel = path.relative(REPO, p);
  return rel.startsWith("..") ? p.replace(/^.*node_modules\//, "node_modules/") : rel;
}

const sorted = (m) => [...m.entries()].sort((a, b) => b[1] - a[1]);

export function summarizeDir(dir, top = 15, bucketMs = 0) {
  const files = fs.readdirSync(dir).filter((f) => f.endsWith(".cpuprofile")).sort();
  const out = [];
  const summaries = files.map((f) => summarizeProfile(path.join(dir, f)));
  // CPU.<date>.<time>.<pid>.<tid>.<seq>.cpuprofile: tid 0 is the main thread
  const tidOf = (f) => Number(path.basename(f).split(".")[4]);
  summaries.sort((a, b) => tidOf(a.file) - tidOf(b.file));
  for (const s of summaries) {
    const tid = tidOf(s.file);
    const role = tid === 0 ? "main thread" : `worker thread ${tid}`;
    out.push(`== ${role}: ${path.basename(s.file)}: ${s.wall.toFixed(0)} ms profiled, ${s.busy.toFixed(0)} ms busy (${((100 * s.busy) / Math.max(1, s.wall)).toFixed(0)}%), idle ${s.idle.toFixed(0)} ms`);
    out.push("   self ms  function");
    for (const [k, ms] of s.fns.slice(0, top)) out.push(`  ${ms.toFixed(0).padStart(8)}  ${k}`);
    out.push("   self ms  by file");
    for (const [k, ms] of s.files.slice(0, 8)) out.push(`  ${ms.toFixed(0).padStart(8)}  ${k}`);
    if (bucketMs > 0) {
      out.push(`   timeline (idle = "(idle)" and piscina's atomicsWaitLoop):`);
      out.push(timeline(s, Math.min(...summaries.map((x) => x.prof.startTime)), bucketMs));
    }
  }
  return { text: out.join("\n"), summaries };
}

function main(argv) {
  const o = { compress: "none", j: undefined, top: 15, pipe: false, timeline: 0 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => argv[++i];
    switch (a) {
      case "--size": o.size = parseSize(v()); break;
      case "--files": o.files = Number(v()); break;
      case "--closure": o.closure = path.resolve(v()); break;
      case "--compress": o.compress = v(); break;
      case "-j": o.j = Number(v()); break;
      case "--out": o.out = path.resolve(v()); break;
      case "--top": o.top = Number(v()); break;
      case "--pipe": o.pipe = true; break;
      case "--timeline": o.timeline = Number(v()); break;
      case "--summarize": process.stdout.write(summarizeDir(path.resolve(v()), o.top, o.timeline).text + "\n"); return;
      case "-h": case "--help":
        process.stdout.write(fs.readFileSync(fileURLToPath(import.meta.url), "utf8").split("*/")[0] + "*/\n");
        return;
      default: throw new Error(`unknown option ${a}`);
    }
  }
  let dir = o.closure;
  let made = false;
  if (dir === undefined) {
    dir = path.join("/dev/shm", `strata-profile-${process.pid}`);
    process.stderr.write(`generating a closure in ${dir} ...\n`);
    makeClosure({ dir, ...(o.files ? { files: o.files, fileSize: 1024 } : { size: o.size ?? 1024 * 1024 * 1024 }) });
    made = true;
  }
  const graph = JSON.parse(fs.readFileSync(path.join(dir, "graph.json"), "utf8"));
  const root = graph.find((e) => /-bench-(closure|small-files)-env$/.test(e.path))?.path;
  if (root === undefined) throw new Error(`${dir}/graph.json has no bench-*-env root: was it made by make-closure?`);
  const out = o.out ?? path.join("/tmp", `strata-profile-${process.pid}`);
  fs.rmSync(out, { recursive: true, force: true });
  fs.mkdirSync(out, { recursive: true });
  const spool = path.join(dir, "spool");
  fs.mkdirSync(spool, { recursive: true });
  const args = ["--cpu-prof", "--cpu-prof-dir", out, path.join(REPO, "bin", "strata.js"), "build", "--graph", path.join(dir, "graph.json"), "--contents", root,
    "--store-root", path.join(dir, "root"), "-q", "--tmp-dir", spool, ...(o.compress !== "none" ? ["--compress", o.compress] : []), ...(o.j ? ["-j", String(o.j)] : [])];
  const cmd = `/usr/bin/time -f '%e s wall, %U s user, %S s sys, %M KiB max RSS' ${[process.execPath, ...args].map((x) => `'${x}'`).join(" ")}${o.pipe ? " | cat" : ""} > /dev/null`;
  process.stderr.write(`${cmd}\n`);
  const r = spawnSync("bash", ["-o", "pipefail", "-c", cmd], { stdio: ["ignore", "inherit", "inherit"] });
  if (r.status !== 0) throw new Error(`strata failed (exit ${r.status})`);
  process.stdout.write(summarizeDir(out, o.top, o.timeline).text + "\n");
  process.stdout.write(`profiles: ${out}\n`);
  if (made) removeTree(dir);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  try {
    main(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`profile: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
}
