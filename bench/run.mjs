#!/usr/bin/env node
/**
 * strata's benchmark (issue 5): throughput, scaling and memory against the floors, in one run on
 * the same data. `npm run bench [-- --quick | --full]`; `--help` lists the options.
 *
 * - The closures live in tmpfs (/dev/shm, or --dir): the page cache is dropped aggressively on
 *   these machines, and a closure on disk is re-read from disk on every run (times swing threefold).
 *   strata spools to the same tmpfs (--tmp-dir). A separate, labelled cold run on disk shows the
 *   I/O-bound behaviour.
 * - Cases run interleaved (round r runs every case once, in an order rotated by r) after one
 *   untimed warm-up of each, which also measures the output sizes (the slow gzip pair skips it and
 *   writes to a tmpfs file instead of /dev/null); the table shows medians. Before each timed run
 *   the harness waits (briefly) for the shared machine's CPUs to be idle, and records how idle.
 * - Peak RSS: GNU time's "maximum resident set size" of the strata process (workers are threads
 *   of it); for the floors, the sum over the pipeline's processes.
 * - Results: bench/results/<date>-<host>.json (and .md, the table as in docs/benchmarks.md).
 */
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { makeClosure, parseSize, removeTree } from "./make-closure.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, "..");
/** The CLI under test; STRATA_BENCH_BIN points the harness at another build (a JS file run by node). */
const STRATA = process.env.STRATA_BENCH_BIN ?? path.join(REPO, "bin", "strata.js");
/** The tests' restatement of nixpkgs' store-layer writer (Python tarfile): the reference row. */
const TARFILE = path.join(REPO, "test", "oracle", "store_layer.py");
const MB = 1e6;
const MiB = 1024 * 1024;
const TMPFS_MAGIC = 0x01021994;

const USAGE = `Usage: npm run bench -- [options]   (or: node bench/run.mjs [options])

  --quick            smaller and faster: 128M closure, 20,000 small files, 3 rounds
  --full             also a 4G closure (peak RSS must not grow with closure size)
  --size SIZE        main closure size (default 1G; --quick 128M)
  --small-files N    files in the small-files closure (default 100000; --quick 20000)
  --rounds N         rounds of the cheap cases (default 5; --quick 3); gz and pigz run 3
  --workers N        strata's worker count for the main cases (default: cores)
  --dir DIR          tmpfs directory for closures and outputs (default /dev/shm/strata-bench-PID)
  --cold-dir DIR     disk directory for the cold run (default /var/tmp/strata-bench-PID)
  --no-cold          skip the cold run on disk
  --no-wait          start every run at once, without waiting for idle CPUs (smoke tests:
                     the numbers are then only as good as the machine is quiet)
  --seed S           closure seed (default 1)
  --keep             keep the generated closures
  --out FILE         results JSON (default bench/results/<date>-<host>[-quick].json)
  --report FILE      print the tables of an earlier results JSON again (and rewrite its .md)
`;

// ---------------------------------------------------------------------------------------------
// Options

function parseArgs(argv) {
  const o = { quick: false, full: false, cold: true, wait: true, keep: false, seed: "1" };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    const int = () => {
      const v = val();
      const n = Number(v);
      if (!Number.isSafeInteger(n) || n < 1) throw new Error(`${a} must be a positive integer, got ${JSON.stringify(v)}`);
      return n;
    };
    switch (a) {
      case "--quick": o.quick = true; break;
      case "--full": o.full = true; break;
      case "--size": o.size = parseSize(val()); break;
      case "--small-files": o.smallFiles = int(); break;
      case "--rounds": o.rounds = int(); break;
      case "--workers": o.workers = int(); break;
      case "--dir": o.dir = path.resolve(val()); break;
      case "--cold-dir": o.coldDir = path.resolve(val()); break;
      case "--no-cold": o.cold = false; break;
      case "--no-wait": o.wait = false; break;
      case "--seed": o.seed = val(); break;
      case "--keep": o.keep = true; break;
      case "--out": o.out = path.resolve(val()); break;
      case "--report": o.report = path.resolve(val()); break;
      case "-h": case "--help": process.stdout.write(USAGE); process.exit(0); break;
      default: throw new Error(`unknown option ${a}\n${USAGE}`);
    }
  }
  o.size ??= o.quick ? 128 * MiB : 1024 * MiB;
  o.smallFiles ??= o.quick ? 20000 : 100000;
  o.rounds ??= o.quick ? 3 : 5;
  o.heavyRounds = Math.min(o.rounds, 3);
  if (o.rounds < 3) log(`note: --rounds ${o.rounds} is below 3; medians of fewer than 3 runs are not the issue's method`);
  return o;
}

// ---------------------------------------------------------------------------------------------
// Running things

function log(msg) {
  process.stderr.write(msg + "\n");
}

const sq = (s) => `'${String(s).replace(/'/g, `'\\''`)}'`;

function have(cmd) {
  return spawnSync("bash", ["-c", `command -v ${cmd}`], { stdio: "ignore" }).status === 0;
}

/** Median wall ms of `node -e 0`, with the environment as it is and without NODE_EXTRA_CA_CERTS. */
function nodeStartMs() {
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  const time = (e) => {
    const runs = [];
    for (let i = 0; i < 7; i++) {
      const t = process.hrtime.bigint();
      spawnSync(process.execPath, ["-e", "0"], { env: e });
      runs.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
    return Math.round(runs.sort((a, b) => a - b)[3]);
  };
  return { withCerts: time(process.env), without: time(env) };
}

function versionOf(cmd, args = ["--version"]) {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  return ((r.stdout || "") + (r.stderr || "")).split("\n").find((l) => l.trim() !== "")?.trim() ?? "?";
}

/**
 * Runs a bash script file in its own process group; resolves with wall seconds, exit status,
 * stdout (when asked) and stderr. After `timeoutMs` the group gets SIGTERM, then SIGKILL 3 s later
 * (strata ignores a first SIGTERM while it waits for its tasks to stop), and `timedOut` is set.
 */
function runScript(file, timeoutMs, captureStdout = false) {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    const child = spawn("bash", [file], { stdio: ["ignore", captureStdout ? "pipe" : "ignore", "pipe"], detached: true });
    let err = "";
    let out = "";
    let timedOut = false;
    child.stderr.on("data", (d) => {
      if (err.length < 8192) err += d;
    });
    child.stdout?.on("data", (d) => (out += d));
    const kill = (sig) => {
      try {
        process.kill(-child.pid, sig);
      } catch {
        // already gone
      }
    };
    running.add(child.pid);
    const timer = setTimeout(() => {
      timedOut = true;
      kill("SIGTERM");
      setTimeout(() => kill("SIGKILL"), 3000).unref();
    }, timeoutMs);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      running.delete(child.pid);
      resolve({ seconds: Number(process.hrtime.bigint() - t0) / 1e9, code: code ?? 128, signal, stderr: err, stdout: out, timedOut });
    });
  });
}

/** Process groups of runs in progress, killed if the bench itself is interrupted. */
const running = new Set();
function killRunning() {
  for (const pid of running) {
    try {
      process.kill(-pid, "SIGKILL");
    } catch {
      // gone
    }
  }
}

/** GNU time's `%M %U %S`: peak RSS in bytes and user + system CPU seconds, each or undefined. */
function readTime(file) {
  try {
    const [kb, user, sys] = fs.readFileSync(file, "utf8").trim().split("\n").at(-1).split(" ").map(Number);
    return { rss: Number.isFinite(kb) ? kb * 1024 : undefined, cpu: Number.isFinite(user) && Number.isFinite(sys) ? user + sys : undefined };
  } catch {
    return { rss: undefined, cpu: undefined };
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? NaN : s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/**
 * A case is a shell pipeline. Every stage runs under GNU time, writing its peak RSS and CPU time
 * to its `timeFiles` entry; `strataStage` says which stage is strata (its RSS is reported alone,
 * the floors' summed). Scripts are written to files so that long path lists never hit the
 * 128 KiB limit of one argument, and so that a reader can re-run them.
 */
class Bench {
  constructor(workDir) {
    this.workDir = workDir;
    this.scriptDir = path.join(workDir, "scripts");
    fs.mkdirSync(this.scriptDir, { recursive: true });
    this.cases = new Map();
  }

  add(c) {
    const timeFiles = c.stages.map((_, i) => path.join(this.scriptDir, `${c.id}.time${i}`));
    const wrapped = c.stages.map((s, i) => `/usr/bin/time -f '%M %U %S' -o ${sq(timeFiles[i])} ${s}`);
    const body = `${wrapped.join(" | ")}${c.sink ?? ""}`;
    const script = path.join(this.scriptDir, `${c.id}.sh`);
    const warm = path.join(this.scriptDir, `${c.id}.warm.sh`);
    const pre = `set -eo pipefail\n${c.cwd ? `cd ${sq(c.cwd)}\n` : ""}`;
    fs.writeFileSync(script, `${pre}${body}\n`);
    // The warm-up counts the bytes the timed runs throw away.
    fs.writeFileSync(warm, `${pre}${c.warmBody ?? c.stages.join(" | ") + (c.countSink ?? " | wc -c")}\n`);
    const entry = { ...c, script, warm, timeFiles, samples: [], idle: [], rss: [], cpu: [], failures: [], strataRss: [], outputBytes: undefined };
    this.cases.set(c.id, entry);
    return entry;
  }

  /** A run's time limit: 5x the longest seen for the case, at least 60 s; before any, by size. */
  timeoutMs(c) {
    const seen = Math.max(c.warmSeconds ?? 0, ...c.samples);
    if (seen > 0) return Math.max(60_000, 5000 * seen);
    return 60_000 + (c.closure?.bytes ?? 0) / 4e3; // 4 MB/s: far below anything strata does
  }

  fail(c, what, r) {
    const msg = r.timedOut
      ? `${what}: no result after ${(r.seconds - 0).toFixed(0)} s: killed (strata hung?)`
      : `${what}: exit ${r.code}${r.signal ? ` (${r.signal})` : ""}: ${r.stderr.trim().split("\n").slice(-3).join(" / ").slice(0, 600)}`;
    c.failures.push(msg);
    log(`  FAILED ${c.label}: ${msg}`);
  }

  async warm(c) {
    if (c.outFile !== undefined) return; // sized by its timed runs
    const r = await runScript(c.warm, this.timeoutMs(c), true);
    if (c.cleanup) spawnSync("bash", ["-c", c.cleanup]);
    if (r.code !== 0 || r.timedOut) {
      this.fail(c, "warm-up", r);
      return;
    }
    c.warmSeconds = r.seconds;
    const n = Number(r.stdout.trim().split("\n").at(-1));
    if (Number.isFinite(n)) c.outputBytes = n;
  }

  async once(c) {
    for (const f of c.timeFiles) fs.rmSync(f, { force: true });
    if (c.before) c.before();
    const idle = await waitQuiet();
    const r = await runScript(c.script, this.timeoutMs(c));
    if (c.outFile !== undefined) {
      try {
        c.outputBytes = fs.statSync(c.outFile).size;
      } catch {
        // reported by the exit status below
      }
    }
    // outside the timed script: unlinking a 1 GB tmpfs file takes a while
    if (c.cleanup) spawnSync("bash", ["-c", c.cleanup]);
    if (r.code !== 0 || r.timedOut) {
      this.fail(c, `run ${c.samples.length + c.failures.length + 1}`, r);
      return undefined;
    }
    const times = c.timeFiles.map(readTime);
    const rss = times.map((x) => x.rss);
    c.samples.push(r.seconds);
    c.idle.push(idle === undefined ? null : Math.round(idle * 100) / 100);
    c.rss.push(rss.reduce((a, b) => a + (b ?? 0), 0));
    c.cpu.push(times.every((x) => x.cpu !== undefined) ? Math.round(times.reduce((a, x) => a + x.cpu, 0) * 100) / 100 : null);
    if (c.strataStage !== undefined) c.strataRss.push(rss[c.strataStage] ?? NaN);
    return r.seconds;
  }

  /** Interleaved rounds: round r runs every case that still needs runs, rotated by r. */
  async rounds(ids, roundsOf, label) {
    const list = ids.map((id) => this.cases.get(id));
    for (const c of list) {
      if (c.outFile !== undefined) continue;
      log(`  warm-up: ${c.label}`);
      await this.warm(c);
    }
    const maxRounds = Math.max(...list.map(roundsOf));
    for (let r = 0; r < maxRounds; r++) {
      const todo = list.filter((c) => roundsOf(c) > r);
      const rot = r % todo.length;
      const order = [...todo.slice(rot), ...todo.slice(0, rot)];
      const parts = [];
      for (const c of order) {
        const s = await this.once(c);
        if (s === undefined) {
          parts.push(`${c.short ?? c.id} FAILED`);
          continue;
        }
        parts.push(`${c.short ?? c.id} ${s.toFixed(2)}s${c.idle.at(-1) !== null && c.idle.at(-1) < 0.8 ? ` (busy: ${Math.round(100 - 100 * c.idle.at(-1))}% CPU used before)` : ""}`);
      }
      log(`  ${label} round ${r + 1}/${maxRounds} (load ${os.loadavg()[0].toFixed(1)}): ${parts.join(", ")}`);
    }
  }
}

/** Fraction of CPU time idle over `ms` (from /proc/stat), or undefined off Linux. */
async function idleFraction(ms) {
  const read = () => {
    try {
      const f = fs.readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
      return { idle: f[3] + (f[4] ?? 0), total: f.reduce((a, b) => a + b, 0) };
    } catch {
      return undefined;
    }
  };
  const a = read();
  await new Promise((r) => setTimeout(r, ms));
  const b = read();
  if (a === undefined || b === undefined || b.total === a.total) return undefined;
  return (b.idle - a.idle) / (b.total - a.total);
}

/**
 * The machines are shared: before a timed run, wait (up to `maxMs`) for the CPUs to be mostly
 * idle, so that a neighbour's test suite does not land in one sample only. Returns the idle
 * fraction seen last, which goes into the results next to the sample.
 */
let waitBudgetMs = 120_000;
/** Off with --no-wait. */
let waitForQuiet = true;
async function waitQuiet(maxMs = 8000, want = 0.8) {
  if (!waitForQuiet) return undefined;
  const t0 = Date.now();
  let idle = await idleFraction(300);
  while (idle !== undefined && idle < want && Date.now() - t0 < maxMs && waitBudgetMs > 0) {
    idle = await idleFraction(1000);
    waitBudgetMs -= 1000;
  }
  return idle;
}

/** Drop the page cache: the kernel's knob if allowed, else posix_fadvise(DONTNEED) on each file. */
function dropCaches(tree) {
  spawnSync("sync");
  try {
    fs.writeFileSync("/proc/sys/vm/drop_caches", "3\n");
    return "echo 3 > /proc/sys/vm/drop_caches (worked)";
  } catch (err) {
    const why = err instanceof Error ? err.message.split("\n")[0] : String(err);
    if (have("python3")) {
      const py = `import os,sys\nfor d,_,fs in os.walk(sys.argv[1]):\n  for f in fs:\n    p=os.path.join(d,f)\n    if os.path.islink(p): continue\n    fd=os.open(p,os.O_RDONLY)\n    os.posix_fadvise(fd,0,0,os.POSIX_FADV_DONTNEED)\n    os.close(fd)\n`;
      const r = spawnSync("python3", ["-c", py, tree], { stdio: "ignore" });
      if (r.status === 0) return `drop_caches refused (${why}); evicted the closure's files with posix_fadvise(DONTNEED) instead`;
    }
    return `drop_caches refused (${why}) and no fallback worked: the cold run is only as cold as the machine left it`;
  }
}

// ---------------------------------------------------------------------------------------------
// Main

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.report !== undefined) {
    const r = JSON.parse(fs.readFileSync(opts.report, "utf8"));
    for (const c of Object.values(r.cases)) {
      c.bestSeconds ??= c.seconds.length > 0 ? Math.min(...c.seconds) : null;
      c.failures ??= [];
    }
    r.problems ??= [];
    process.stdout.write(renderText(r) + "\n");
    fs.writeFileSync(opts.report.replace(/\.json$/, ".md"), renderMarkdown(r, r.options));
    return;
  }
  const cores = os.availableParallelism();
  const N = opts.workers ?? cores;
  const started = new Date();
  const notes = [];

  if (!opts.wait) {
    waitForQuiet = false;
    notes.push("--no-wait: runs started without waiting for idle CPUs; a smoke test, not a measurement");
  }
  if (opts.quick) notes.push("--quick: closures too small to judge the goals by (strata's ~0.2 s start-up weighs on every case); use the full run");
  if (!fs.existsSync(path.join(REPO, "build", "Release", "strata_native.node"))) {
    notes.push("strata's native helper is not built (build/Release/strata_native.node): no 1 MiB output pipe, no read-ahead; run `npm run install`");
  }
  if (!fs.existsSync(path.join(REPO, "dist", "src", "cli.js"))) {
    throw new Error("dist/ is missing: build first (npm run build); `npm run bench` does it for you");
  }
  if (process.env.NODE_EXTRA_CA_CERTS) {
    const { withCerts, without } = nodeStartMs();
    notes.push(`NODE_EXTRA_CA_CERTS is set here: Node parses that CA bundle as it starts, before any script runs (\`node -e 0\`: ${withCerts} ms with it, ${without} ms without; medians of 7). Every strata run pays it, though strata makes no TLS connections; \`env -u NODE_EXTRA_CA_CERTS\` saves it`);
  }
  for (const tool of ["tar", "openssl", "zstd", "pigz", "/usr/bin/time"]) {
    if (!have(tool)) throw new Error(`${tool} is missing: the floors need GNU tar, openssl, zstd, pigz and GNU time (apt-get install tar openssl zstd pigz time)`);
  }
  if (!/GNU tar/.test(versionOf("tar"))) throw new Error("tar is not GNU tar");

  const workDir = opts.dir ?? path.join("/dev/shm", `strata-bench-${process.pid}`);
  fs.mkdirSync(workDir, { recursive: true });
  const fsType = fs.statfsSync(workDir);
  const onTmpfs = fsType.type === TMPFS_MAGIC;
  if (!onTmpfs) notes.push(`${workDir} is not tmpfs: the "warm" numbers include disk reads`);
  const free = fsType.bavail * fsType.bsize;
  const need = opts.size * 2.6 + (opts.full ? 4096 * MiB * 2.6 : 0) + opts.smallFiles * 8192;
  if (free < need) throw new Error(`${workDir} has ${(free / 2 ** 30).toFixed(1)} GiB free, the bench needs about ${(need / 2 ** 30).toFixed(1)} GiB`);
  const spool = path.join(workDir, "spool");
  fs.mkdirSync(spool, { recursive: true });
  log(`strata bench: ${cores} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}; working in ${workDir} (${onTmpfs ? "tmpfs" : "NOT tmpfs"}), strata --tmp-dir ${spool}`);

  const cleanups = [];
  const cleanup = () => {
    if (opts.keep) return;
    for (const f of cleanups.reverse()) {
      try {
        f();
      } catch {
        // best effort
      }
    }
  };
  for (const [sig, code] of [["SIGINT", 130], ["SIGTERM", 143]]) {
    process.on(sig, () => {
      killRunning();
      cleanup();
      process.exit(code);
    });
  }
  cleanups.push(() => removeTree(workDir));

  const gen = (label, dir, o) => {
    log(`generating ${label} in ${dir} ...`);
    const c = makeClosure({ dir, seed: opts.seed, ...o });
    log(`  ${c.paths} paths, ${c.files} files, ${(c.bytes / MiB).toFixed(0)} MiB, ${c.symlinks} symlinks, ${c.hardlinks} hard links, in ${c.seconds.toFixed(1)} s`);
    const graph = JSON.parse(fs.readFileSync(c.graphFile, "utf8"));
    const listFile = path.join(dir, "paths.txt");
    fs.writeFileSync(listFile, graph.map((e) => e.path.slice(1)).join("\n") + "\n");
    return { ...c, relPaths: graph.map((e) => e.path.slice(1)), listFile };
  };

  const bench = new Bench(workDir);
  const canPin = have("taskset");
  if (!canPin) notes.push("taskset (util-linux) is missing: scaling per core not measured, only per -j");
  const strataCmd = (c, j, extra = "", tmpDir = spool) =>
    `node ${sq(STRATA)} build --graph ${sq(c.graphFile)} --contents ${c.root} --store-root ${sq(c.storeRoot)} -q --tmp-dir ${sq(tmpDir)} -j ${j}${extra}`;
  const tarCmd = (c) => `tar -cf - ${c.relPaths.join(" ")}`;

  /** The cases for one closure; prefix distinguishes closures. */
  const mainCases = (c, prefix, { scaling, compressed, file, labelPrefix = "" }) => {
    const ids = [];
    const add = (x) => {
      bench.add({ ...x, id: prefix + x.id, label: labelPrefix + x.label, closure: c });
      ids.push(prefix + x.id);
    };
    add({ id: "none-pipe", short: "pipe", label: "strata, uncompressed | cat > /dev/null", stages: [strataCmd(c, N), "cat"], sink: " > /dev/null", strataStage: 0, workers: N, kind: "strata" });
    add({ id: "none-null", short: "null", label: "strata, uncompressed > /dev/null", stages: [strataCmd(c, N)], sink: " > /dev/null", strataStage: 0, workers: N, kind: "strata" });
    if (file) {
      const out = path.join(workDir, `${prefix}out.tar`);
      add({ id: "none-file", short: "file", label: "strata, uncompressed -o FILE (tmpfs)", stages: [strataCmd(c, N, ` -o ${sq(out)}`)], sink: "", countSink: `; stat -c %s ${sq(out)}`, cleanup: `rm -f ${sq(out)}`, strataStage: 0, workers: N, kind: "strata" });
    }
    if (file && have("python3")) {
      // What nixpkgs' stream script does per pass: Python's tarfile over the paths (here all of
      // them in one layer), hashed. The script makes two such passes (one to hash, one to write).
      const spec = path.join(workDir, `${prefix}tarfile-spec.json`);
      fs.writeFileSync(spec, JSON.stringify({ uid: 0, gid: 0, uname: "root", gname: "root", mtime: 1, paths: c.relPaths.map((p) => `/${p}`), root: c.storeRoot }));
      add({ id: "ref-tarfile", short: "py-tarfile", label: "reference: Python tarfile, all paths, one pass | openssl dgst -sha256 (nixpkgs' script makes two)", stages: [`python3 ${sq(TARFILE)} ${sq(spec)}`, "openssl dgst -sha256"], sink: " > /dev/null", kind: "reference" });
    }
    // warm-up: the floor's byte count is tar's
    add({ id: "floor-sha", short: "tar|sha", label: "floor: tar -cf - PATHS | openssl dgst -sha256", stages: [tarCmd(c), "openssl dgst -sha256"], sink: " > /dev/null", warmBody: `${tarCmd(c)} | wc -c`, cwd: c.storeRoot, kind: "floor" });
    if (compressed) {
      add({ id: "zstd", short: "zstd", label: "strata --compress zstd > /dev/null", stages: [strataCmd(c, N, " --compress zstd")], sink: " > /dev/null", strataStage: 0, workers: N, kind: "strata", heavy: false });
      // OCI with zstd layers (issue 6): every layer compressed in blocks on the workers, as an archive.
      add({ id: "oci-zstd", short: "oci-zstd", label: "strata --format oci-archive --layer-compress zstd > /dev/null", stages: [strataCmd(c, N, " --format oci-archive --layer-compress zstd")], sink: " > /dev/null", strataStage: 0, workers: N, kind: "strata", heavy: false });
      add({ id: "floor-zstd", short: "tar|zstd", label: `floor: tar | zstd -3 -T${cores}`, stages: [tarCmd(c), `zstd -3 -T${cores} -q`], sink: " > /dev/null", cwd: c.storeRoot, kind: "floor" });
      // The slow pair: no warm-up run; the output goes to a tmpfs file (sized, then removed).
      const gzOut = path.join(workDir, `${prefix}out.tar.gz`);
      const pigzOut = path.join(workDir, `${prefix}floor.tar.gz`);
      add({ id: "gz", short: "gz", label: "strata --compress gz > FILE (tmpfs)", stages: [strataCmd(c, N, " --compress gz")], sink: ` > ${sq(gzOut)}`, outFile: gzOut, cleanup: `rm -f ${sq(gzOut)}`, strataStage: 0, workers: N, kind: "strata", heavy: true });
      add({ id: "floor-pigz", short: "tar|pigz", label: `floor: tar | pigz -p${cores} > FILE (tmpfs)`, stages: [tarCmd(c), `pigz -p${cores}`], sink: ` > ${sq(pigzOut)}`, outFile: pigzOut, cleanup: `rm -f ${sq(pigzOut)}`, cwd: c.storeRoot, kind: "floor", heavy: true });
    }
    if (scaling) {
      for (let j = 1; j < N; j++) {
        add({ id: `none-null-j${j}`, short: `null-j${j}`, label: `strata -j ${j}, uncompressed > /dev/null`, stages: [strataCmd(c, j)], sink: " > /dev/null", strataStage: 0, workers: j, kind: "strata" });
        add({ id: `zstd-j${j}`, short: `zstd-j${j}`, label: `strata -j ${j} --compress zstd > /dev/null`, stages: [strataCmd(c, j, " --compress zstd")], sink: " > /dev/null", strataStage: 0, workers: j, kind: "strata" });
        // -j counts threads per pool (layers, compression) plus the main thread, so an unpinned
        // -j 1 still spreads over every core. What a core buys is measured by pinning: -j j on
        // the first j cores (taskset); the unpinned -j N main cases are the N-core point.
        if (canPin) {
          const pin = `taskset -c 0-${j - 1} `;
          add({ id: `none-null-c${j}`, short: `null-c${j}`, label: `strata -j ${j} on ${j} core${j > 1 ? "s" : ""} (taskset), uncompressed > /dev/null`, stages: [pin + strataCmd(c, j)], sink: " > /dev/null", strataStage: 0, workers: j, kind: "strata" });
          add({ id: `zstd-c${j}`, short: `zstd-c${j}`, label: `strata -j ${j} on ${j} core${j > 1 ? "s" : ""} (taskset) --compress zstd > /dev/null`, stages: [pin + strataCmd(c, j, " --compress zstd")], sink: " > /dev/null", strataStage: 0, workers: j, kind: "strata" });
        }
      }
    }
    return ids;
  };

  const roundsOf = (c) => (c.heavy ? opts.heavyRounds : opts.rounds);
  const result = {
    date: started.toISOString(),
    host: os.hostname(),
    machine: {
      cores,
      cpu: os.cpus()[0]?.model ?? "?",
      memGiB: Math.round(os.totalmem() / 2 ** 30),
      kernel: os.release(),
      node: process.version,
      tools: { tar: versionOf("tar"), openssl: versionOf("openssl", ["version"]), zstd: versionOf("zstd", ["-V"]), pigz: versionOf("pigz") },
    },
    options: { quick: opts.quick, full: opts.full, wait: opts.wait, size: opts.size, smallFiles: opts.smallFiles, rounds: opts.rounds, heavyRounds: opts.heavyRounds, workers: N, seed: opts.seed },
    strata: {
      commit: spawnSync("git", ["-C", REPO, "rev-parse", "HEAD"], { encoding: "utf8" }).stdout.trim(),
      dirty: spawnSync("git", ["-C", REPO, "status", "--porcelain", "--", "src", "workers", "native"], { encoding: "utf8" }).stdout.trim() !== "",
      // The native helper changes speed (pipe size, read-ahead), never bytes: say whether it was there.
      nativeHelper: fs.existsSync(path.join(REPO, "build", "Release", "strata_native.node")),
    },
    setup: { workDir, tmpfs: onTmpfs, spool },
    closures: {},
    cases: {},
    notes,
  };

  // -- main closure, warm, in tmpfs
  const mainC = gen(`the main closure (${fmtSize(opts.size)})`, path.join(workDir, "main"), { size: opts.size });
  const mainIds = mainCases(mainC, "", { scaling: true, compressed: true, file: true });
  log(`main closure: ${mainIds.length} cases, ${opts.rounds} rounds (${opts.heavyRounds} for gz/pigz)`);
  await bench.rounds(mainIds, roundsOf, "main");
  result.closures.main = closureInfo(mainC, bench, "");

  // -- small files
  const smallC = gen(`the small-files closure (${opts.smallFiles} files of ~1 KiB)`, path.join(workDir, "small"), { files: opts.smallFiles, fileSize: 1024 });
  const smallIds = mainCases(smallC, "small-", { scaling: false, compressed: false, file: false, labelPrefix: "small files: " });
  await bench.rounds(smallIds, () => opts.rounds, "small files");
  result.closures.small = closureInfo(smallC, bench, "small-");
  removeTree(smallC.dir);

  // -- 4G (--full): peak RSS must not grow with closure size
  if (opts.full) {
    removeTree(path.join(workDir, "main", "root"));
    const bigC = gen("the 4G closure", path.join(workDir, "big"), { size: 4096 * MiB });
    const ids = [];
    for (const [id, extra, label] of [["none-null", "", "uncompressed > /dev/null"], ["zstd", " --compress zstd", "--compress zstd > /dev/null"]]) {
      bench.add({ id: `big-${id}`, short: `4G-${id}`, label: `strata 4G, ${label}`, stages: [strataCmd(bigC, N, extra)], sink: " > /dev/null", strataStage: 0, workers: N, kind: "strata", closure: bigC });
      ids.push(`big-${id}`);
    }
    await bench.rounds(ids, () => 3, "4G");
    result.closures.big = closureInfo(bigC, bench, "big-");
    removeTree(bigC.dir);
  } else {
    notes.push("1G vs 4G peak RSS not measured: run with --full (adds a 4G closure, ~3 minutes)");
  }

  // -- cold, on disk
  if (opts.cold) {
    const coldDir = opts.coldDir ?? path.join("/var/tmp", `strata-bench-${process.pid}`);
    fs.mkdirSync(coldDir, { recursive: true });
    cleanups.push(() => removeTree(coldDir));
    if (fs.statfsSync(coldDir).type === TMPFS_MAGIC) {
      notes.push(`cold run skipped: ${coldDir} is tmpfs; pass --cold-dir on a disk`);
    } else {
      const coldC = gen(`the cold closure on disk (same seed and size as the main one)`, path.join(coldDir, "main"), { size: opts.size });
      const coldSpool = path.join(coldDir, "spool");
      fs.mkdirSync(coldSpool, { recursive: true });
      let how = "";
      const before = () => {
        how = dropCaches(coldC.storeRoot);
      };
      bench.add({ id: "cold-none-null", short: "cold-null", label: "COLD (disk): strata, uncompressed > /dev/null", stages: [strataCmd(coldC, N, "", coldSpool)], sink: " > /dev/null", strataStage: 0, workers: N, kind: "strata", closure: coldC, before });
      bench.add({ id: "cold-floor-sha", short: "cold-tar|sha", label: "COLD (disk): tar | openssl dgst -sha256", stages: [tarCmd(coldC), "openssl dgst -sha256"], sink: " > /dev/null", warmBody: `${tarCmd(coldC)} | wc -c`, cwd: coldC.storeRoot, kind: "floor", closure: coldC, before });
      log(`cold run on disk (${coldDir}), page cache dropped before every run`);
      await bench.rounds(["cold-none-null", "cold-floor-sha"], () => 3, "cold");
      result.cold = { dir: coldDir, dropCaches: how, spool: coldSpool };
      result.closures.cold = closureInfo(coldC, bench, "cold-");
      removeTree(coldDir);
    }
  } else {
    notes.push("cold run skipped (--no-cold)");
  }

  // -- planning cost
  const planScript = path.join(HERE, "plan-scale.mjs");
  if (fs.existsSync(planScript)) {
    log("planning cost: node bench/plan-scale.mjs");
    const r = spawnSync(process.execPath, [planScript, ...(opts.quick ? ["--sizes", "1000,10000"] : [])], { encoding: "utf8", timeout: 600_000, cwd: REPO });
    let parsed;
    try {
      parsed = JSON.parse(r.stdout);
    } catch {
      parsed = undefined;
    }
    result.planning = { command: `node bench/plan-scale.mjs${opts.quick ? " --sizes 1000,10000" : ""}`, status: r.status, output: parsed ?? r.stdout, table: r.stderr.slice(-4000) };
    if (r.status !== 0) notes.push(`bench/plan-scale.mjs failed (exit ${r.status}): ${r.stderr.trim().split("\n").at(-1)}`);
  } else {
    result.planning = { skipped: "bench/plan-scale.mjs does not exist yet (being written in another change)" };
    notes.push("planning cost skipped: bench/plan-scale.mjs does not exist yet");
  }

  // -- summarise
  for (const c of bench.cases.values()) {
    result.cases[c.id] = {
      label: c.label,
      closure: c.closure === mainC ? "main" : c.closure === smallC ? "small" : c.id.startsWith("big-") ? "big" : "cold",
      kind: c.kind,
      workers: c.workers,
      seconds: c.samples,
      idleBefore: c.idle,
      medianSeconds: c.samples.length > 0 ? median(c.samples) : null,
      // user + system time of every stage of the pipeline (GNU time), per run: less noisy than
      // wall time on a shared machine, and it shows work that parallelism hides.
      cpuSeconds: c.cpu,
      medianCpuSeconds: c.cpu.length > 0 && c.cpu.every((x) => x !== null) ? median(c.cpu) : null,
      bestSeconds: c.samples.length > 0 ? Math.min(...c.samples) : null,
      failures: c.failures,
      peakRssBytes: c.samples.length === 0 ? null : c.kind === "strata" ? Math.max(...c.strataRss) : Math.max(...c.rss),
      rssOf: c.kind === "strata" ? "strata process (workers are its threads)" : "sum over the pipeline's processes",
      outputBytes: c.outputBytes,
      script: path.relative(workDir, c.script),
      command: fs.readFileSync(c.script, "utf8").replace(/tar -cf - (nix\/store\/\S+ ?)+/g, "tar -cf - PATHS... ").trim(),
    };
  }
  const idles = [...bench.cases.values()].flatMap((c) => c.idle).filter((x) => x !== null);
  const busy = idles.filter((x) => x < 0.8).length;
  if (busy > 0) notes.push(`the machine was shared: ${busy} of ${idles.length} runs started while other processes used more than 20% of the CPUs (the harness waits up to 8 s per run, 2 minutes in all, for quiet); their times are in the JSON with the idle fraction seen before each`);
  computeDerived(result, cores, N);
  const md = renderMarkdown(result, opts);
  const text = renderText(result);
  process.stdout.write(text + "\n");

  const day = started.toISOString().slice(0, 10);
  const outFile = opts.out ?? path.join(HERE, "results", `${day}-${os.hostname()}${opts.quick ? "-quick" : ""}.json`);
  fs.mkdirSync(path.dirname(outFile), { recursive: true });
  fs.writeFileSync(outFile, JSON.stringify(result, null, 2) + "\n");
  fs.writeFileSync(outFile.replace(/\.json$/, ".md"), md);
  log(`results: ${path.relative(process.cwd(), outFile)} (and .md)`);
  cleanup();
}

function fmtSize(n) {
  return n >= 2 ** 30 ? `${(n / 2 ** 30).toFixed(n % 2 ** 30 ? 1 : 0)}G` : `${Math.round(n / MiB)}M`;
}

function closureInfo(c, bench, prefix) {
  const info = { paths: c.paths, files: c.files, symlinks: c.symlinks, hardlinks: c.hardlinks, dirs: c.dirs, fileBytes: c.bytes, narBytes: c.narBytes, generateSeconds: c.seconds };
  const get = (id) => bench.cases.get(prefix + id)?.outputBytes;
  info.tarBytes = get("floor-sha");
  info.archiveBytes = get("none-null");
  info.zstdBytes = get("zstd");
  info.gzBytes = get("gz");
  info.tarZstdBytes = get("floor-zstd");
  info.tarPigzBytes = get("floor-pigz");
  return info;
}

/** Throughputs, ratios, scaling and the goals. */
function computeDerived(r, cores, N) {
  const cs = r.cases;
  const t = (id) => cs[id]?.medianSeconds ?? undefined;
  const bytesOf = (id) => {
    const c = cs[id];
    if (c === undefined) return undefined;
    const cl = r.closures[c.closure];
    return c.kind === "strata" ? cl.archiveBytes : cl.tarBytes;
  };
  const floorOf = {
    "none-pipe": "floor-sha", "none-null": "floor-sha", "none-file": "floor-sha", "ref-tarfile": "floor-sha", zstd: "floor-zstd", "oci-zstd": "floor-zstd", gz: "floor-pigz",
    "small-none-pipe": "small-floor-sha", "small-none-null": "small-floor-sha", "cold-none-null": "cold-floor-sha",
  };
  for (const [id, c] of Object.entries(cs)) {
    if (c.medianSeconds === null) continue;
    const b = bytesOf(id);
    if (b !== undefined) c.mbPerSecond = b / MB / c.medianSeconds;
    const f = floorOf[id];
    if (f !== undefined && t(f) !== undefined && t(f) !== null) {
      c.floor = f;
      c.ratioToFloor = c.medianSeconds / t(f);
      const cpuFloor = cs[f]?.medianCpuSeconds;
      if (typeof c.medianCpuSeconds === "number" && cpuFloor) c.cpuRatioToFloor = c.medianCpuSeconds / cpuFloor;
    }
    if (r.closures[c.closure]?.files && c.kind === "strata") c.filesPerSecond = r.closures[c.closure].files / c.medianSeconds;
  }
  // Per -j (unpinned), and per core: -j j pinned to j cores, the last point being the unpinned
  // main case on all N cores.
  const scaling = [];
  for (let j = 1; j <= N; j++) {
    const none = j === N ? "none-null" : `none-null-j${j}`;
    const z = j === N ? "zstd" : `zstd-j${j}`;
    const noneC = j === N ? "none-null" : `none-null-c${j}`;
    const zC = j === N ? "zstd" : `zstd-c${j}`;
    const speedup = (base, id) => (t(base) !== undefined && t(id) !== undefined ? t(base) / t(id) : undefined);
    scaling.push({
      workers: j,
      uncompressedSeconds: t(none), uncompressedSpeedup: j === 1 ? 1 : speedup("none-null-j1", none),
      zstdSeconds: t(z), zstdSpeedup: j === 1 ? 1 : speedup("zstd-j1", z),
      pinnedUncompressedSeconds: t(noneC), pinnedUncompressedSpeedup: speedup("none-null-c1", noneC),
      pinnedZstdSeconds: t(zC), pinnedZstdSpeedup: speedup("zstd-c1", zC),
    });
  }
  r.scaling = scaling;

  const strataRss = Object.values(cs).filter((c) => c.kind === "strata" && c.closure !== "cold" && c.peakRssBytes !== null).map((c) => c.peakRssBytes);
  const maxRss = Math.max(...strataRss);
  const goals = [];
  const failed = Object.entries(cs).filter(([, c]) => c.failures.length > 0);
  r.problems = failed.map(([id, c]) => `${c.label} [${id}]: ${c.failures.length} of ${c.failures.length + c.seconds.length} runs failed: ${c.failures[0]}`);
  const goal = (name, target, value, met, detail) => {
    if ((value === undefined || Number.isNaN(value)) && met !== null) {
      goals.push({ name, target, value: null, met: false, detail: "no successful run to measure (see problems)" });
    } else {
      goals.push({ name, target, value, met, detail });
    }
  };
  const ratio = (id) => cs[id]?.ratioToFloor;
  goal("uncompressed to a pipe vs tar | openssl dgst -sha256", "ratio <= 1.0", ratio("none-pipe"), ratio("none-pipe") <= 1.0);
  goal("uncompressed to a file (-o) vs the same floor", "ratio <= 0.9", ratio("none-file"), ratio("none-file") <= 0.9);
  goal(`zstd vs tar | zstd -3 -T${cores}`, "ratio <= 1.1", ratio("zstd"), ratio("zstd") <= 1.1);
  goal(`OCI zstd layers vs tar | zstd -3 -T${cores}`, "ratio <= 1.1", ratio("oci-zstd"), ratio("oci-zstd") <= 1.1);
  goal(`gzip vs tar | pigz -p${cores}`, "ratio <= 1.1", ratio("gz"), ratio("gz") <= 1.1);
  goal("peak RSS (every strata run on tmpfs)", "< 300 MB", maxRss / MB, maxRss < 300 * MB, Object.fromEntries(Object.entries(cs).filter(([, c]) => c.kind === "strata" && c.peakRssBytes !== null).map(([id, c]) => [id, Math.round(c.peakRssBytes / MB)])));
  if (cs["big-none-null"] !== undefined) {
    const pairs = [["none-null", "big-none-null"], ["zstd", "big-zstd"]].map(([a, b]) => cs[b].peakRssBytes / cs[a].peakRssBytes);
    const worst = Math.max(...pairs);
    goal("peak RSS 4G vs 1G closure", "within 20% (ratio <= 1.2)", worst, worst <= 1.2, { uncompressed: pairs[0], zstd: pairs[1] });
  } else {
    goal("peak RSS 4G vs 1G closure", "within 20% (ratio <= 1.2)", null, null, "not measured: run with --full");
  }
  const z2 = scaling.find((s) => s.workers === 2);
  if (z2 === undefined) goal("zstd scaling 1 -> 2 workers on 1 -> 2 cores", "speedup >= 1.7", null, null, `not measured: ${N} worker(s)`);
  else if (z2.pinnedZstdSpeedup === undefined) goal("zstd scaling 1 -> 2 workers on 1 -> 2 cores", "speedup >= 1.7", null, null, "not measured: no taskset");
  else goal("zstd scaling 1 -> 2 workers on 1 -> 2 cores", "speedup >= 1.7", z2.pinnedZstdSpeedup, z2.pinnedZstdSpeedup >= 1.7, `-j 1 pinned to one core (taskset) vs -j 2 on two; unpinned -j 1 -> -j 2: ${z2.zstdSpeedup?.toFixed(2)} (-j 1 already uses both cores: its layer and compression threads run side by side)`);
  const fps = cs["small-none-pipe"]?.filesPerSecond;
  // (a goal whose case failed every run is reported as not met, with the failure under problems)
  goal(`small files (${r.closures.small?.files} files of ~1 KiB), strata | cat`, ">= 50,000 files/s", fps, fps >= 50000);
  r.goals = goals;
}

function renderText(r) {
  const lines = [];
  const m = r.closures.main;
  lines.push("");
  lines.push(`strata bench ${r.date.slice(0, 10)} on ${r.host}: ${r.machine.cores} cores (${r.machine.cpu}), node ${r.machine.node}, strata ${r.strata.commit.slice(0, 10)}${r.strata.dirty ? " (src/ or workers/ modified)" : ""}`);
  lines.push(`warm: closures and outputs on ${r.setup.tmpfs ? "tmpfs" : "a NON-tmpfs dir"} ${r.setup.workDir}, strata --tmp-dir ${r.setup.spool} (same tmpfs: spooling never touches the disk)`);
  const n = (x, d = 0) => (x === undefined || x === null || Number.isNaN(x) ? "?" : x.toFixed(d));
  lines.push(`main closure: ${m.paths} paths, ${m.files} files, ${n(m.fileBytes / MiB)} MiB of files; archive ${n(m.archiveBytes / MB)} MB (tar ${n(m.tarBytes / MB)} MB); compression ratio zstd ${n(m.archiveBytes / m.zstdBytes, 2)} (tar|zstd ${n(m.tarBytes / m.tarZstdBytes, 2)}), gz ${n(m.archiveBytes / m.gzBytes, 2)} (tar|pigz ${n(m.tarBytes / m.tarPigzBytes, 2)})`);
  lines.push(`medians of ${r.options.rounds} interleaved runs (gz and pigz: ${r.options.heavyRounds}), best = fastest run; MB/s (of the median) = 10^6 bytes of uncompressed archive (tar stream for the floors) per second; ratio = time / floor's time; CPU s = user + system time of the whole pipeline (median), CPU ratio = that / the floor's`);
  lines.push("");
  lines.push(table(["case", "median s", "best s", "MB/s", "ratio", "CPU s", "CPU ratio", "peak RSS MB", "runs (s)"], Object.values(r.cases).map((c) => [
    c.label, c.medianSeconds?.toFixed(2) ?? "FAILED", c.bestSeconds?.toFixed(2) ?? "", c.mbPerSecond?.toFixed(0) ?? "", c.ratioToFloor?.toFixed(2) ?? "", c.medianCpuSeconds?.toFixed(2) ?? "", c.cpuRatioToFloor?.toFixed(2) ?? "", c.peakRssBytes === null ? "" : (c.peakRssBytes / MB).toFixed(0),
    c.seconds.map((s) => s.toFixed(2)).join(" ") + (c.failures.length > 0 ? ` (+${c.failures.length} failed)` : ""),
  ])));
  lines.push("");
  lines.push(`scaling (main closure, > /dev/null): -j N unpinned, and -j N pinned to N cores (taskset; the last row is the unpinned run on all cores):`);
  lines.push(table(["workers", "uncompressed s", "speedup", "zstd s", "speedup", "pinned uncompressed s", "speedup", "pinned zstd s", "speedup"], r.scaling.map((s) => [String(s.workers), s.uncompressedSeconds?.toFixed(2), s.uncompressedSpeedup?.toFixed(2), s.zstdSeconds?.toFixed(2), s.zstdSpeedup?.toFixed(2), s.pinnedUncompressedSeconds?.toFixed(2), s.pinnedUncompressedSpeedup?.toFixed(2), s.pinnedZstdSeconds?.toFixed(2), s.pinnedZstdSpeedup?.toFixed(2)])));
  const sm = r.closures.small;
  const sp = r.cases["small-none-pipe"];
  const sn = r.cases["small-none-null"];
  const sf = r.cases["small-floor-sha"];
  lines.push("");
  lines.push(`small files: ${sm.files} files in ${sm.paths} paths: strata | cat ${sp.filesPerSecond?.toFixed(0) ?? "-"} files/s, > /dev/null ${sn.filesPerSecond?.toFixed(0) ?? "-"} files/s; tar | sha256 ${sf.medianSeconds ? (sm.files / sf.medianSeconds).toFixed(0) : "-"} files/s`);
  if (r.cold !== undefined) {
    const a = r.cases["cold-none-null"];
    const b = r.cases["cold-floor-sha"];
    lines.push(`COLD run on disk (${r.cold.dir}; page cache: ${r.cold.dropCaches}): strata ${a.medianSeconds?.toFixed(2)} s (${a.mbPerSecond?.toFixed(0)} MB/s), tar|sha ${b.medianSeconds?.toFixed(2)} s (${b.mbPerSecond?.toFixed(0)} MB/s), ratio ${a.ratioToFloor?.toFixed(2)}`);
  }
  if (r.planning?.skipped) lines.push(`planning cost: skipped: ${r.planning.skipped}`);
  else if (r.planning) lines.push(`planning cost (${r.planning.command}):\n${(r.planning.table || (typeof r.planning.output === "string" ? r.planning.output : JSON.stringify(r.planning.output))).trimEnd()}`);
  lines.push("");
  lines.push("goals:");
  for (const g of r.goals) {
    const verdict = g.met === null ? "NOT MEASURED" : g.met ? "MET" : "NOT MET";
    const v = g.value === null || g.value === undefined ? "-" : g.value.toFixed(g.value > 100 ? 0 : 2);
    lines.push(`  ${verdict.padEnd(12)} ${g.name}: ${v} (goal ${g.target})${typeof g.detail === "string" ? ` — ${g.detail}` : ""}`);
  }
  for (const p of r.problems) lines.push(`PROBLEM: ${p}`);
  for (const n of r.notes) lines.push(`note: ${n}`);
  return lines.join("\n");
}

function renderMarkdown(r, opts) {
  const m = r.closures.main;
  const cs = r.cases;
  const row = (id) => {
    const c = cs[id];
    if (c === undefined) return "";
    return `| ${c.label.replace(/\|/g, "\\|")} | ${c.medianSeconds?.toFixed(2) ?? "failed"} | ${c.bestSeconds?.toFixed(2) ?? ""} | ${c.mbPerSecond?.toFixed(0) ?? ""} | ${c.ratioToFloor?.toFixed(2) ?? ""} | ${c.medianCpuSeconds?.toFixed(2) ?? ""} | ${c.cpuRatioToFloor?.toFixed(2) ?? ""} | ${c.peakRssBytes === null ? "" : (c.peakRssBytes / MB).toFixed(0)} |\n`;
  };
  let s = `Run ${r.date.slice(0, 10)} on \`${r.host}\` (${r.machine.cores} cores, ${r.machine.cpu}, node ${r.machine.node}), strata ${r.strata.commit.slice(0, 10)}${opts.quick ? ", --quick" : ""}. `;
  s += `Main closure ${fmtSize(r.options.size)}: ${m.paths} paths, ${m.files} files, archive ${Math.round(m.archiveBytes / MB)} MB, in tmpfs; medians of ${r.options.rounds} interleaved runs (gz, pigz: ${r.options.heavyRounds}).\n\n`;
  s += "| case | median s | best s | MB/s | ratio to floor | CPU s | CPU ratio | peak RSS MB |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n";
  for (const id of ["floor-sha", "none-pipe", "none-null", "none-file", "ref-tarfile", "floor-zstd", "zstd", "oci-zstd", "floor-pigz", "gz", "small-floor-sha", "small-none-pipe", "cold-floor-sha", "cold-none-null", "big-none-null", "big-zstd"]) s += row(id);
  s += "\nScaling: `-j N` unpinned, and `-j N` pinned to N cores with taskset (the last row is the unpinned run on all cores).\n\n";
  s += "| workers | uncompressed s | speedup | zstd s | speedup | pinned uncompressed s | speedup | pinned zstd s | speedup |\n| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n";
  const f2 = (x) => x?.toFixed(2) ?? "—";
  for (const x of r.scaling) s += `| ${x.workers} | ${f2(x.uncompressedSeconds)} | ${f2(x.uncompressedSpeedup)} | ${f2(x.zstdSeconds)} | ${f2(x.zstdSpeedup)} | ${f2(x.pinnedUncompressedSeconds)} | ${f2(x.pinnedUncompressedSpeedup)} | ${f2(x.pinnedZstdSeconds)} | ${f2(x.pinnedZstdSpeedup)} |\n`;
  s += "\n| goal | target | measured | |\n| --- | --- | ---: | --- |\n";
  for (const g of r.goals) {
    const v = g.value === null || g.value === undefined ? "—" : g.value.toFixed(g.value > 100 ? 0 : 2);
    s += `| ${g.name.replace(/\|/g, "\\|")} | ${g.target} | ${v} | ${g.met === null ? "not measured" : g.met ? "met" : "**not met**"} |\n`;
  }
  const plan = r.planning?.output?.results;
  if (Array.isArray(plan)) {
    const sizes = [...new Set(plan.map((x) => x.paths))];
    const strategies = [...new Set(plan.map((x) => x.strategy))];
    s += `\nPlanning (\`${r.planning.command}\`), median wall ms:\n\n| paths | ${strategies.join(" | ")} |\n| ---: |${strategies.map(() => " ---: |").join("")}\n`;
    for (const n of sizes) s += `| ${n} | ${strategies.map((st) => plan.find((x) => x.paths === n && x.strategy === st)?.medianMs ?? "").join(" | ")} |\n`;
  } else if (r.planning?.skipped) {
    s += `\nPlanning cost: skipped (${r.planning.skipped}).\n`;
  }
  if (r.cold !== undefined) s += `\nCold run: closure on disk, page cache dropped before every run (${r.cold.dropCaches}).\n`;
  for (const p of r.problems) s += `\n**Problem:** ${p.replace(/\|/g, "\\|")}\n`;
  return s;
}

function table(head, rows) {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i] ?? "").length)));
  const fmt = (r) => r.map((x, i) => (i === 0 ? String(x ?? "").padEnd(w[i]) : String(x ?? "").padStart(w[i]))).join("  ");
  return [fmt(head), w.map((n) => "-".repeat(n)).join("  "), ...rows.map(fmt)].join("\n");
}

main().catch((err) => {
  log(`bench: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
