#!/usr/bin/env node
/**
 * How long each layering strategy takes on synthetic closures of 1k, 10k and 100k store paths.
 *
 *   npx tsc -p tsconfig.json && node bench/plan-scale.mjs [--seed N] [--sizes 1000,10000] [--runs 3]
 *
 * The closures are DAGs generated from a seed (mulberry32), shaped like real ones: a core of very
 * popular paths (glibc, zlib, openssl...) that most paths reference, many leaves, a few deep
 * chains, heavy-tailed narSizes (Pareto, alpha 1.2, so a few paths hold most of the bytes) and
 * self-references on most paths. Each strategy runs through `planLayers` with the default budget
 * (maxLayers 100) and one synthetic root group (the roots, as the customisation layer of an image
 * whose contents are the roots); the times are the median of `--runs` runs, wall clock and CPU
 * (user + system: the one to compare when other work shares the machine; GC threads can make it
 * exceed the wall time). A table goes to stderr, the results as JSON to stdout.
 */

import { performance } from "node:perf_hooks";
import { planLayers } from "../dist/src/plan/plan-layers.js";

const args = new Map();
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i], process.argv[i + 1]);
const seed = Number(args.get("--seed") ?? 1);
const sizes = (args.get("--sizes") ?? "1000,10000,100000").split(",").map(Number);
const runs = Number(args.get("--runs") ?? 3);

const STRATEGIES = {
  auto: { strategy: "auto" },
  popularity: { strategy: "popularity" },
  // nixpkgs' intermediate default pipeline, and the split example of its PR discussion.
  "pipeline:popularity": { strategy: { pipeline: [["popularity_contest"], ["limit_layers", 99]] } },
  "pipeline:split": {
    strategy: {
      pipeline: [
        ["subcomponent_out", ["@TOP@"]],
        ["over", "rest", ["pipe", [["popularity_contest"], ["limit_layers", 90]]]],
        ["over", "main", ["split_every", 5000]],
      ],
    },
  },
};

/** mulberry32: a small, fast, seedable PRNG. */
function prng(s) {
  let a = s >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const BASE32 = "0123456789abcdfghijklmnpqrsvwxyz";
const NAMES = ["glibc", "zlib", "openssl", "bash", "python3", "perl", "libffi", "ncurses", "gcc-lib", "app", "lib", "share", "doc", "locale"];

/** A closure graph of `n` paths (node i references only nodes after it), as the readers make it. */
export function syntheticClosure(n, seedValue) {
  const random = prng(seedValue);
  const core = Math.max(5, Math.floor(n / 1000));
  const names = [];
  for (let i = 0; i < n; i++) {
    let hash = "";
    for (let c = 0; c < 32; c++) hash += BASE32[Math.floor(random() * 32)];
    const name = i >= n - core ? NAMES[(n - 1 - i) % 9] : NAMES[Math.floor(random() * NAMES.length)];
    names.push(`/nix/store/${hash}-${name}-${i}`);
  }
  const refs = [];
  const referenced = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const set = new Set();
    const inCore = i >= n - core;
    const leafy = random() < 0.4;
    const count = inCore ? Math.floor(random() * 3) : leafy ? Math.floor(random() * 2) : 1 + Math.min(30, Math.floor(-Math.log(random() + 1e-12) * 3));
    for (let k = 0; k < count; k++) {
      let j;
      if (inCore || leafy || random() < 0.35) {
        // A core path, the most popular ones most often (core paths reference later core paths).
        const lo = Math.max(i + 1, n - core);
        if (lo >= n) break;
        j = n - 1 - Math.floor((n - lo) * random() ** 2);
      } else {
        // A nearby non-core path: most references point close by, a few far down.
        const span = n - core - i - 1;
        if (span <= 0) continue;
        j = i + 1 + Math.floor(span * random() ** 3);
      }
      set.add(j);
    }
    for (const j of set) referenced[j] = 1;
    refs.push([...set]);
  }
  const infos = names.map((path, i) => {
    const bytes = Math.min(2 ** 31, Math.floor(4096 / (random() + 1e-9) ** (1 / 1.2))) * (i >= n - core ? 10 : 1);
    return { path, references: refs[i].map((j) => names[j]).sort(), selfReference: random() < 0.6, narSize: bytes };
  });
  infos.sort((a, b) => (a.path < b.path ? -1 : 1));
  const roots = names.filter((_, i) => referenced[i] === 0);
  return { graph: { storeDir: "/nix/store", paths: new Map(infos.map((info) => [info.path, info])) }, roots, top: names[0] };
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

const results = [];
process.stderr.write(`   size  strategy                 median wall       median cpu  (store layers)\n`);
for (const n of sizes) {
  const { graph, roots, top } = syntheticClosure(n, seed);
  const edges = [...graph.paths.values()].reduce((sum, info) => sum + info.references.length, 0);
  for (const [name, options] of Object.entries(STRATEGIES)) {
    const strategy = JSON.parse(JSON.stringify(options.strategy).replaceAll("@TOP@", top));
    const times = [];
    const cpuTimes = [];
    let layers;
    for (let r = 0; r < runs; r++) {
      const cpu = process.cpuUsage();
      const start = performance.now();
      layers = planLayers(graph, { strategy, rootGroups: [roots] });
      times.push(performance.now() - start);
      const used = process.cpuUsage(cpu);
      cpuTimes.push((used.user + used.system) / 1000);
    }
    const result = {
      paths: n,
      references: edges,
      roots: roots.length,
      strategy: name,
      medianMs: Math.round(median(times)),
      medianCpuMs: Math.round(median(cpuTimes)),
      runsMs: times.map(Math.round),
      layers: layers.length,
    };
    results.push(result);
    process.stderr.write(`${String(n).padStart(7)} paths  ${name.padEnd(20)} ${String(result.medianMs).padStart(7)} ms wall ${String(result.medianCpuMs).padStart(7)} ms cpu  (${result.layers} layers)\n`);
  }
}
process.stdout.write(`${JSON.stringify({ seed, runs, node: process.version, results }, null, 2)}\n`);
