/**
 * The block codecs (src/write/codecs.ts), gzip above all: libdeflate through the native helper
 * when it was built with it, Node's zlib otherwise. Every member must decompress (zlib and the
 * gzip program) to exactly its input, the bytes must not depend on the thread or on what the
 * thread compressed before, and codecImpl must name the implementation that made them.
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import { Worker } from "node:worker_threads";
import zlib from "node:zlib";
import { describe, expect, it } from "vitest";
import { codecImpl, COMPRESS_BLOCK, compressedBound, compressInto, gzipImplFor } from "../../src/write/codecs.js";
import { native } from "../../src/native.js";

const HAS_LIBDEFLATE = fs.existsSync("/usr/include/libdeflate.h");

/** Text-like, zeros, random (incompressible), and a mix: what layer tars are made of. */
function samples(n: number): Uint8Array[] {
  const words = Buffer.alloc(n, "export function store path nix lib share bin\n");
  const mixed = Buffer.alloc(n);
  for (let at = 0; at < n; at += 8192) {
    const end = Math.min(at + 8192, n);
    if ((at / 8192) % 3 === 0) randomBytes(end - at).copy(mixed, at);
    else words.copy(mixed, at, at, end);
  }
  return [words, Buffer.alloc(n), randomBytes(n), mixed];
}

const SIZES = [0, 1, 55, 56, 57, 100, 1000, 4999, 5000, 5001, 65536, 1_000_003];

function gzip(level: number, input: Uint8Array): Buffer {
  const out = new Uint8Array(compressedBound("gzip", input.length)); // exactly the bound: a wrong bound throws
  return Buffer.from(out.subarray(0, compressInto("gzip", level, input, out)));
}

describe("gzip blocks", () => {
  it("come from libdeflate when the helper has it, and codecImpl says so", () => {
    const helper = native();
    if (HAS_LIBDEFLATE) {
      // libdeflate-dev is installed: binding.gyp must have built gzipInto in.
      expect(typeof helper?.gzipInto).toBe("function");
      expect(helper?.libdeflateVersion).toMatch(/^\d+\.\d+$/);
      expect(codecImpl("gzip")).toBe(`libdeflate-${helper!.libdeflateVersion}-blocks`);
    } else {
      console.warn("SKIP (partly): /usr/include/libdeflate.h is missing: the helper has no libdeflate, zlib compresses");
      expect(codecImpl("gzip")).toBe(`zlib-${process.versions.zlib}-blocks`);
    }
    expect(codecImpl("none")).toBe("none");
  });

  it("fall back to zlib when the helper lacks gzipInto, or when STRATA_GZIP=zlib", () => {
    const zlibName = `zlib-${process.versions.zlib}-blocks`;
    const input = samples(300_000)[3]!;
    const out = new Uint8Array(compressedBound("gzip", input.length));
    for (const impl of [gzipImplFor(undefined, {}), gzipImplFor({ ...native()!, gzipInto: undefined }, {}), gzipImplFor(native(), { STRATA_GZIP: "zlib" })]) {
      expect(impl.name).toBe(zlibName);
      const n = impl.into(6, input, out);
      expect(Buffer.from(out.subarray(0, n)).equals(zlib.gzipSync(input, { level: 6 }))).toBe(true);
    }
    if (native()?.gzipInto !== undefined) expect(gzipImplFor(native(), {}).name).toMatch(/^libdeflate-/);
  });

  it("decompress to exactly their input with zlib, at every size and level, within compressedBound", () => {
    for (const level of [1, 6, 9]) {
      for (const n of SIZES) {
        for (const input of samples(n)) {
          const member = gzip(level, input);
          expect(member.length).toBeLessThanOrEqual(compressedBound("gzip", n));
          expect(zlib.gunzipSync(member).equals(input), `level ${level}, ${n} bytes`).toBe(true);
        }
      }
    }
  });

  it("concatenate into a stream that `gzip -d` reads back whole (a full 4 MiB block included)", () => {
    const inputs = [...samples(COMPRESS_BLOCK), ...samples(777)];
    const stream = Buffer.concat(inputs.map((b) => gzip(6, b)));
    const r = spawnSync("gzip", ["-dc"], { input: stream, maxBuffer: 64 << 20 });
    expect(r.status).toBe(0);
    expect(Buffer.compare(r.stdout, Buffer.concat(inputs))).toBe(0);
  });

  it("have a fixed header (no name, mtime 0, OS 3) and the same bytes in every thread, whatever came before", async () => {
    const input = samples(2_000_000)[3]!;
    const first = gzip(6, input);
    expect(first.subarray(0, 10).toString("hex")).toBe("1f8b0800000000000003");
    expect(gzip(1, input)[8]).toBe(4); // XFL "fastest", as zlib writes it
    expect(gzip(9, input)[8]).toBe(2); // XFL "slowest"
    // Another level in between (the thread's compressor is remade), then level 6 again.
    gzip(1, samples(100_000)[0]!);
    expect(gzip(6, input).equals(first)).toBe(true);
    // A worker thread: its own compressor (per Node-API environment), the same bytes.
    const code = `
      const { parentPort, workerData } = require("node:worker_threads");
      const n = require(workerData.helper);
      const out = new Uint8Array(workerData.input.length * 2 + 1024);
      parentPort.postMessage(n.gzipInto ? Buffer.from(out.subarray(0, n.gzipInto(6, workerData.input, out))) : null);`;
    const helperPath = new URL("../../build/Release/strata_native.node", import.meta.url).pathname;
    const fromWorker = await new Promise<Uint8Array | null>((resolve, reject) => {
      const w = new Worker(code, { eval: true, workerData: { helper: helperPath, input } });
      w.once("message", (m: Uint8Array | null) => { resolve(m); void w.terminate(); });
      w.once("error", reject);
    });
    if (native()?.gzipInto !== undefined) expect(Buffer.from(fromWorker!).equals(first)).toBe(true);
  });

  it("report a buffer too small as -ENOSPC rather than a truncated member", () => {
    const into = native()?.gzipInto;
    if (into === undefined) return void console.warn("SKIP: the helper has no gzipInto (no libdeflate)");
    const input = randomBytes(10_000);
    expect(into(6, input, new Uint8Array(5_000))).toBe(-28);
    expect(into(6, input, new Uint8Array(10))).toBe(-28);
    expect(() => into(13, input, new Uint8Array(20_000))).toThrow(TypeError);
    expect(() => into(0, input, new Uint8Array(20_000))).toThrow(TypeError);
  });
});
