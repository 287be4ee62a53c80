#!/usr/bin/env node
/**
 * Single-thread gzip block compressors compared on the same data (docs/benchmarks-gzip.md):
 * `node bench/gzip-blocks.mjs [--rounds N] FILE...` cuts each FILE (a layer tar) into the 4 MiB
 * blocks strata compresses and times every implementation over all blocks, interleaved (round r
 * runs every case once, in an order rotated by r), then prints medians: MB/s of input by wall
 * clock and by the process's CPU time (the machine is shared: CPU time is what another process
 * stealing the cores does not inflate), and the ratio (input / output).
 *
 * Cases: Node's zlib.gzipSync at levels 1, 3, 6 (what codecs.ts did: the member copied into the
 * caller's block), libdeflate through the native helper's gzipInto at levels 1, 4, 6, 9, zstd -3
 * (zstd-napi's compress2, strata's zstd path) for reference. Plus each gzip path's fixed cost per
 * call, from a 100-byte input.
 */
import { createRequire } from "node:module";
import fs from "node:fs";
import zlib from "node:zlib";

const require = createRequire(import.meta.url);
const helper = require("../build/Release/strata_native.node");
const zstd = require("zstd-napi/binding.js");
const BLOCK = 4 << 20;

const args = process.argv.slice(2);
let rounds = 5;
const ri = args.indexOf("--rounds");
if (ri >= 0) rounds = Number(args.splice(ri, 2)[1]);
if (args.length === 0) {
  console.error("usage: node bench/gzip-blocks.mjs [--rounds N] LAYER.tar...");
  process.exit(2);
}

const out = new Uint8Array(BLOCK + (BLOCK >> 3) + 4096);
const cases = {};
for (const level of [1, 3, 6]) {
  cases[`zlib-${level}`] = (b) => {
    const m = zlib.gzipSync(b, { level });
    out.set(m);
    return m.length;
  };
}
if (helper.gzipInto !== undefined) {
  for (const level of [1, 4, 6, 9]) cases[`libdeflate-${level}`] = (b) => helper.gzipInto(level, b, out);
}
const cctx = new zstd.CCtx();
cctx.setParameter(zstd.CParameter.compressionLevel, 3);
cctx.setParameter(zstd.CParameter.checksumFlag, 1);
cases["zstd-3"] = (b) => cctx.compress2(out, b);

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

const names = Object.keys(cases);
console.log(`node ${process.version}, zlib ${process.versions.zlib}, libdeflate ${helper.libdeflateVersion ?? "absent"}, zstd ${zstd.versionString()}; load ${fs.readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")}`);
for (const file of args) {
  const data = fs.readFileSync(file);
  const blocks = [];
  for (let at = 0; at < data.length; at += BLOCK) blocks.push(new Uint8Array(data.buffer, data.byteOffset + at, Math.min(BLOCK, data.length - at)));
  const res = Object.fromEntries(names.map((n) => [n, { wall: [], cpu: [], bytes: 0 }]));
  for (const n of names) for (const b of blocks.slice(0, 2)) cases[n](b); // warm-up
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < names.length; i++) {
      const n = names[(i + r) % names.length];
      const c0 = process.cpuUsage();
      const t0 = process.hrtime.bigint();
      let bytes = 0;
      for (const b of blocks) bytes += cases[n](b);
      const wall = Number(process.hrtime.bigint() - t0) / 1e9;
      const c = process.cpuUsage(c0);
      res[n].wall.push(wall);
      res[n].cpu.push((c.user + c.system) / 1e6);
      res[n].bytes = bytes;
    }
  }
  console.log(`\n${file}: ${(data.length / 1e6).toFixed(1)} MB, ${blocks.length} blocks, ${rounds} rounds`);
  console.log("case            MB/s wall  MB/s cpu   ratio   wall s (min-max)");
  for (const n of names) {
    const { wall, cpu, bytes } = res[n];
    const mbw = data.length / 1e6 / median(wall);
    const mbc = data.length / 1e6 / median(cpu);
    console.log(`${n.padEnd(14)} ${mbw.toFixed(1).padStart(10)} ${mbc.toFixed(1).padStart(9)} ${(data.length / bytes).toFixed(3).padStart(7)}   ${Math.min(...wall).toFixed(2)}-${Math.max(...wall).toFixed(2)}`);
  }
}

// Fixed cost per call: a 100-byte input, many calls.
const tiny = new Uint8Array(100).fill(65);
const calls = 5000;
console.log(`\nper-call cost (100-byte input, ${calls} calls, median of 5):`);
for (const [n, f] of [
  ["zlib.gzipSync", () => zlib.gzipSync(tiny, { level: 6 })],
  ["libdeflate gzipInto", () => helper.gzipInto?.(6, tiny, out)],
]) {
  const ts = [];
  for (let r = 0; r < 5; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < calls; i++) f();
    ts.push(Number(process.hrtime.bigint() - t0) / 1e3 / calls);
  }
  console.log(`${n.padEnd(22)} ${median(ts).toFixed(1)} us/call`);
}
