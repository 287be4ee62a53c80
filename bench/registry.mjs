#!/usr/bin/env node
/**
 * strata's registry benchmark (issues 16 and 17): pushing to a local docker-registry whose storage
 * is in tmpfs, against building the same OCI layout alone and against `skopeo copy` of a prebuilt
 * docker-archive; and the incremental cases (re-push with a warm and an empty cache, one store
 * path changed, rebuild of an unchanged layout). `node bench/registry.mjs [--size 1G] [--rounds 3]`.
 *
 * - Closure, registry storage, layouts, caches and spools all live in tmpfs (/dev/shm).
 * - Cases run interleaved: round r runs every case once, in an order rotated by r; the table
 *   shows medians, and the ratios are taken within this one session.
 * - Peak RSS: GNU time's maximum resident set size of the strata process (workers are threads).
 * - The load average is recorded with every sample: the machine is shared.
 * - Results: bench/results/registry-<date>-<size>.json and .md.
 */
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { makeClosure, parseSize, removeTree } from "./make-closure.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, "..");
const STRATA = process.env.STRATA_BENCH_BIN ?? path.join(REPO, "bin", "strata.js");

function parseArgs(argv) {
  const o = { size: parseSize("1G"), rounds: 3, seed: "1", keep: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--size") o.size = parseSize(argv[++i]);
    else if (a === "--rounds") o.rounds = Number(argv[++i]);
    else if (a === "--seed") o.seed = argv[++i];
    else if (a === "--dir") o.dir = path.resolve(argv[++i]);
    else if (a === "--out") o.out = path.resolve(argv[++i]);
    else if (a === "--keep") o.keep = true;
    else throw new Error(`unknown option ${a}; see the header of bench/registry.mjs`);
  }
  return o;
}

const log = (m) => process.stderr.write(`${m}\n`);
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? NaN : s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

function freePort() {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

async function startRegistry(dir) {
  const port = await freePort();
  const config = path.join(dir, `config-${port}.yml`);
  // Log level warn, access log off: the registry's own logging is not what is measured.
  fs.writeFileSync(config, ["version: 0.1", "log:", "  level: warn", "  accesslog:", "    disabled: true", "storage:", "  filesystem:", `    rootdirectory: ${path.join(dir, "data")}`, "http:", `  addr: 127.0.0.1:${port}`, "  secret: bench"].join("\n") + "\n");
  const logFd = fs.openSync(path.join(dir, "registry.log"), "a");
  const proc = spawn("docker-registry", ["serve", config], { stdio: ["ignore", logFd, logFd] });
  fs.closeSync(logFd);
  for (let i = 0; i < 200; i++) {
    const ok = await fetch(`http://127.0.0.1:${port}/v2/`).then((r) => r.ok, () => false);
    if (ok) return { host: `127.0.0.1:${port}`, stop: () => proc.kill("SIGTERM") };
    await new Promise((r) => setTimeout(r, 100));
  }
  proc.kill("SIGKILL");
  throw new Error("docker-registry did not start");
}

/** Runs argv under GNU time; wall seconds, peak RSS (bytes), and the --json events when asked. */
function timed(argv, env = {}) {
  return new Promise((resolve, reject) => {
    const timeFile = path.join(os.tmpdir(), `strata-bench-time-${process.pid}`);
    const t0 = process.hrtime.bigint();
    const child = spawn("/usr/bin/time", ["-f", "%M %U %S", "-o", timeFile, ...argv], { env: { ...process.env, ...env }, stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr.on("data", (d) => (err += d));
    child.on("error", reject);
    child.on("close", (code) => {
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      const [kb, user, sys] = fs.readFileSync(timeFile, "utf8").trim().split("\n").at(-1).split(" ").map(Number);
      const rss = kb * 1024;
      const cpu = user + sys;
      fs.rmSync(timeFile, { force: true });
      if (code !== 0) return reject(new Error(`${argv.join(" ")} exited ${code}:\n${err.slice(-3000)}`));
      const events = err.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
      resolve({ seconds, rss, cpu, events });
    });
  });
}

const outcomes = (events) => {
  const o = { written: 0, present: 0, mounted: 0 };
  for (const e of events) if (e.type === "layer" && e.outcome !== undefined) o[e.outcome]++;
  return o;
};

/**
 * A copy of the closure where one store path (a mid-sized one: a library that would get a layer
 * of its own) is a new version: a new name, one byte of one file changed; the graph names it
 * instead of the old one everywhere. `variant` makes each round's change different, so the
 * registry never holds the new layer already.
 */
function changedGraph(closure, victim, variant, dir) {
  const entries = JSON.parse(fs.readFileSync(closure.graphFile, "utf8"));
  const base = path.basename(victim);
  const renamed = `/nix/store/${base.slice(0, 32 - String(variant).length)}${variant}${base.slice(32)}`;
  const from = path.join(closure.storeRoot, victim);
  const to = path.join(closure.storeRoot, renamed);
  spawnSync("cp", ["-a", from, to], { stdio: "inherit" });
  spawnSync("chmod", ["-R", "u+w", to]);
  const file = findFile(to);
  const b = fs.readFileSync(file);
  b[0] ^= 1 + variant;
  fs.writeFileSync(file, b);
  for (const e of entries) {
    if (e.path === victim) e.path = renamed;
    e.references = e.references.map((r) => (r === victim ? renamed : r)).sort();
  }
  const graph = path.join(dir, `graph-changed-${variant}.json`);
  fs.writeFileSync(graph, JSON.stringify(entries));
  return graph;
}

function findFile(dir) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isFile() && fs.statSync(p).size > 0) return p;
    if (e.isDirectory()) {
      const f = findFile(p);
      if (f !== undefined) return f;
    }
  }
  return undefined;
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  for (const tool of ["docker-registry", "skopeo", "/usr/bin/time"]) {
    if (spawnSync("bash", ["-c", `command -v ${tool}`]).status !== 0) throw new Error(`${tool} is needed`);
  }
  const dir = o.dir ?? `/dev/shm/strata-bench-registry-${process.pid}`;
  fs.mkdirSync(dir, { recursive: true });
  const cleanups = [];
  const env = { TMPDIR: dir, XDG_CACHE_HOME: path.join(dir, "xdg-unused") };
  try {
    log(`closure: ${o.size} bytes in ${dir} ...`);
    const closure = makeClosure({ dir: path.join(dir, "closure"), size: o.size, seed: o.seed });
    log(`  ${closure.paths} paths, ${closure.files} files, ${(closure.narBytes / 1e6).toFixed(0)} MB of NARs, made in ${closure.seconds.toFixed(1)} s`);
    const regDir = fs.mkdtempSync(path.join(dir, "registry-"));
    const reg = await startRegistry(regDir);
    cleanups.push(reg.stop);
    const R = `docker://${reg.host}`;
    const build = (graph, extra) => ["node", STRATA, "build", "--graph", graph, "--contents", closure.root, "--store-root", closure.storeRoot, "--name", "bench", "--tag", "1", "--tmp-dir", dir, "--json", ...extra];
    const push = (graph, dest, extra = []) => build(graph, ["-o", dest, "--tls-verify=false", ...extra]);

    // Prepared once: a prebuilt docker-archive for skopeo, the pushed image and its warm cache,
    // a built OCI layout with its cache, the changed closures (one per round).
    log("preparing: docker-archive, first push (warm cache), OCI layout ...");
    const archive = path.join(dir, "image.tar");
    await timed(build(closure.graphFile, ["-o", archive, "--no-cache"]), env);
    const warm = path.join(dir, "cache-warm");
    const first = await timed(push(closure.graphFile, `${R}/base:1`, ["--cache-dir", warm]), env);
    const layers = first.events.filter((e) => e.type === "layer").length;
    const layoutCache = path.join(dir, "cache-layout");
    const layout = path.join(dir, "layout-base");
    await timed(build(closure.graphFile, ["--format", "oci", "-o", layout, "--cache-dir", layoutCache]), env);
    // The changed path: one with a layer of its own, of middling size.
    const single = first.events.filter((e) => e.type === "layer" && e.blob?.annotations?.["dev.strata.layer.key"] !== undefined);
    const plan = JSON.parse(spawnSync("node", [STRATA, "plan", "--graph", closure.graphFile, "--contents", closure.root, "--store-root", closure.storeRoot, "--json"], { encoding: "utf8", maxBuffer: 1 << 26 }).stdout);
    const victim = pickVictim(plan, JSON.parse(fs.readFileSync(closure.graphFile, "utf8")));
    log(`  ${layers} layers (${single.length} with a key); the changed path: ${victim}`);
    const changed = Array.from({ length: o.rounds }, (_, r) => changedGraph(closure, victim, r + 1, dir));

    let n = 0;
    const fresh = (what) => path.join(dir, `${what}-${++n}`);
    const cases = [
      { id: "version", what: "`strata --version` (the floor: Node's start and the CLI's)", run: () => ({ argv: ["node", STRATA, "--version"] }) },
      { id: "oci-zstd", what: "build the OCI layout alone, zstd layers (no cache)", run: () => { const out = fresh("layout"); return { argv: build(closure.graphFile, ["--format", "oci", "--layer-compress", "zstd", "-o", out, "--no-cache"]), after: () => removeTree(out) }; } },
      { id: "push-zstd", what: "fresh push, zstd layers, to a new repository (no cache)", run: () => ({ argv: push(closure.graphFile, `${R}/zstd-${++n}:1`, ["--layer-compress", "zstd", "--no-cache"]) }) },
      { id: "push-gzip", what: "fresh push, gzip layers, to a new repository (no cache)", run: () => ({ argv: push(closure.graphFile, `${R}/gzip-${++n}:1`, ["--no-cache"]) }) },
      // skopeo remembers where it pushed a layer (its blob info cache, /var/lib/containers/cache
      // for root) and mounts it from there next time: each sample pushes to the same storage
      // through a registry on a new port, which that cache has never seen.
      { id: "skopeo-gzip", what: "skopeo copy docker-archive: (prebuilt) to a new repository", run: async () => {
        const other = await startRegistry(regDir);
        return { argv: ["skopeo", "copy", "--quiet", "--dest-tls-verify=false", `docker-archive:${archive}`, `docker://${other.host}/skopeo-${++n}:1`], after: () => other.stop() };
      } },
      { id: "repush-warm", what: "re-push unchanged, warm local cache", run: () => ({ argv: push(closure.graphFile, `${R}/base:1`, ["--cache-dir", warm]) }) },
      { id: "repush-empty", what: "re-push unchanged, empty local cache (learned from the tag)", run: () => { const c = fresh("cache"); return { argv: push(closure.graphFile, `${R}/base:1`, ["--cache-dir", c]), after: () => removeTree(c) }; } },
      { id: "push-changed", what: "one store path changed, gzip, warm cache (copied), new tag", run: (r) => { const c = fresh("cache"); fs.cpSync(warm, c, { recursive: true }); return { argv: push(changed[r], `${R}/base:changed-${r}`, ["--cache-dir", c]), after: () => removeTree(c) }; } },
      { id: "oci-rebuild", what: "rebuild of an unchanged OCI layout, gzip, warm cache", run: () => ({ argv: build(closure.graphFile, ["--format", "oci", "-o", layout, "--cache-dir", layoutCache]) }) },
    ];
    for (const c of cases) c.samples = [];
    for (let r = 0; r < o.rounds; r++) {
      const order = cases.map((_, i) => cases[(i + r) % cases.length]);
      const parts = [];
      for (const c of order) {
        const { argv, after } = await c.run(r);
        const load = os.loadavg()[0];
        const s = await timed(argv, env);
        after?.();
        c.samples.push({ seconds: s.seconds, cpu: s.cpu, rss: s.rss, load, outcomes: argv[0] === "node" ? outcomes(s.events) : undefined });
        parts.push(`${c.id} ${s.seconds.toFixed(2)}s`);
      }
      log(`round ${r + 1}/${o.rounds} (load ${os.loadavg()[0].toFixed(1)}): ${parts.join(", ")}`);
    }
    const med = Object.fromEntries(cases.map((c) => [c.id, median(c.samples.map((s) => s.seconds))]));
    const rssMax = Math.max(...cases.filter((c) => c.id !== "skopeo-gzip").flatMap((c) => c.samples.map((s) => s.rss)));
    const goals = [
      { goal: "fresh push zstd <= 1.15x the OCI layout alone", value: med["push-zstd"] / med["oci-zstd"], unit: "x", met: med["push-zstd"] / med["oci-zstd"] <= 1.15 },
      { goal: "fresh push gzip no slower than skopeo copy of a prebuilt archive", value: med["push-gzip"] / med["skopeo-gzip"], unit: "x", met: med["push-gzip"] <= med["skopeo-gzip"] },
      { goal: `re-push unchanged, warm cache <= 1 s (${layers} layers)`, value: med["repush-warm"], unit: "s", met: med["repush-warm"] <= 1 },
      { goal: "re-push unchanged, empty cache <= 2 s", value: med["repush-empty"], unit: "s", met: med["repush-empty"] <= 2 },
      { goal: "one store path changed <= 15% of the full (gzip) push", value: med["push-changed"] / med["push-gzip"], unit: "x", met: med["push-changed"] / med["push-gzip"] <= 0.15 },
      { goal: "rebuild of an unchanged OCI layout <= 1 s", value: med["oci-rebuild"], unit: "s", met: med["oci-rebuild"] <= 1 },
      { goal: "peak RSS <= 300 MB (any strata run above)", value: rssMax / 1e6, unit: "MB", met: rssMax <= 300e6 },
    ];
    const result = {
      date: new Date().toISOString(), host: os.hostname(), cores: os.cpus().length, node: process.version, commit: spawnSync("git", ["-C", REPO, "rev-parse", "--short", "HEAD"], { encoding: "utf8" }).stdout.trim(),
      closure: { size: o.size, paths: closure.paths, files: closure.files, narBytes: closure.narBytes, layers, changedPath: victim }, rounds: o.rounds,
      cases: cases.map((c) => ({ id: c.id, what: c.what, median: med[c.id], samples: c.samples })), goals,
    };
    const stamp = result.date.slice(0, 10);
    const out = o.out ?? path.join(REPO, "bench", "results", `registry-${stamp}-${(o.size / 2 ** 30).toFixed(0)}G.json`);
    fs.writeFileSync(out, JSON.stringify(result, null, 2) + "\n");
    const md = render(result);
    fs.writeFileSync(out.replace(/\.json$/, ".md"), md);
    process.stdout.write(md);
  } finally {
    for (const c of cleanups) c();
    if (!o.keep) removeTree(dir);
  }
}

/** A store path alone in its layer (`strata plan --json`: the layers' paths), of the median size among those. */
function pickVictim(plan, graph) {
  const size = new Map(graph.map((e) => [e.path, e.narSize]));
  const singles = plan.filter((l) => l.length === 1).map((l) => l[0]).sort((a, b) => size.get(a) - size.get(b));
  if (singles.length === 0) throw new Error("no store path has a layer of its own in the plan");
  return singles[singles.length >> 1];
}

function render(r) {
  const lines = [
    `# strata registry benchmark, ${r.date.slice(0, 16)}, ${r.host} (${r.cores} cores), commit ${r.commit}`,
    "",
    `Closure: ${(r.closure.size / 2 ** 30).toFixed(0)}G generated (${r.closure.paths} paths, ${r.closure.files} files, ${(r.closure.narBytes / 1e6).toFixed(0)} MB NAR), ${r.closure.layers} layers; tmpfs; local docker-registry (storage in tmpfs); ${r.rounds} interleaved rounds, medians.`,
    "",
    "| case | median s | samples s | CPU s (user+sys) | load 1m | peak RSS MB | layers written/present/mounted |",
    "| --- | ---: | --- | --- | --- | ---: | --- |",
    ...r.cases.map((c) => `| ${c.what} | ${c.median.toFixed(2)} | ${c.samples.map((s) => s.seconds.toFixed(2)).join(", ")} | ${c.samples.map((s) => s.cpu.toFixed(2)).join(", ")} | ${c.samples.map((s) => s.load.toFixed(1)).join(", ")} | ${Math.max(...c.samples.map((s) => s.rss / 1e6)).toFixed(0)} | ${c.samples[0].outcomes === undefined ? "" : c.samples.map((s) => `${s.outcomes.written}/${s.outcomes.present}/${s.outcomes.mounted}`).join(", ")} |`),
    "",
    "| goal | measured | met? |",
    "| --- | ---: | --- |",
    ...r.goals.map((g) => `| ${g.goal} | ${g.value.toFixed(2)} ${g.unit} | ${g.met ? "met" : "NOT met"} |`),
    "",
  ];
  return lines.join("\n");
}

main().catch((err) => {
  log(err instanceof Error ? err.stack ?? err.message : String(err));
  process.exit(1);
});
