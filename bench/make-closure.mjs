#!/usr/bin/env node
/**
 * Synthetic Nix store closure for benchmarks: `DIR/root/nix/store/<hash>-<name>` for every path,
 * `DIR/graph.json` (an exportReferencesGraph list with each path's real narSize), and a root path
 * that references the whole closure (print it, pass it as `--contents`).
 *
 *   node bench/make-closure.mjs [--dir DIR] [--size 100M|1G|4G] [--paths N] [--seed S]
 *                               [--files N] [--file-size SIZE] [--json] [-q]
 *
 * Shaped like a real closure (measured against Debian's /usr, see docs/benchmarks.md):
 * - a DAG in topological order: path 0 is libc-like (referenced by ~90% of paths), references
 *   are drawn with a bias to low indices (a few very popular paths), so most paths are leaves;
 *   many paths reference themselves (rpaths), as real ones do;
 * - path sizes Pareto-distributed; about 20 files per MiB, file sizes log-normal (median 2.5 KiB,
 *   sigma 2.45: ~60% of files under 4 KiB, the largest shared libraries tens of MiB);
 * - `lib/libX.so -> libX.so.1.2.3` symlinks, absolute symlinks into referenced paths, a few
 *   empty files and directories, single-file store paths, hard links inside and across paths
 *   (as `nix-store --optimise` makes them), modes 0444/0555 and mtime 1 like a real store;
 * - content cut from two generated pools: "binary" (instruction-like byte sequences drawn from a
 *   Zipf-distributed dictionary, pointer tables, symbol strings, zero padding, incompressible
 *   runs) and "text" (Zipf-distributed words, code-like lines); zstd -3 compresses the result
 *   about 3x and gzip -6 about 2.7x, close to Debian's /usr/lib and /usr/bin.
 *
 * `--files N --file-size SIZE` makes a small-files closure instead: N files of about SIZE each.
 * The same flags and seed always give the same bytes (same names, contents, modes, links).
 */
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
// strata's own encoder, from the build (npm ci and npm run bench build dist/).
import { nixBase32 } from "../dist/src/nix-base32.js";

const MiB = 1024 * 1024;
/** mtime Nix gives everything in the store. */
const STORE_MTIME = 1;

// ---------------------------------------------------------------------------------------------
// Deterministic randomness

/** sfc32 seeded from sha256(seed): fast, 32-bit, good enough for shapes and bytes. */
export function makeRng(seed) {
  const h = createHash("sha256").update(`strata-bench-rng:${seed}`).digest();
  let a = h.readUInt32LE(0) | 0;
  let b = h.readUInt32LE(4) | 0;
  let c = h.readUInt32LE(8) | 0;
  let d = h.readUInt32LE(12) | 0;
  const u32 = () => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return t >>> 0;
  };
  for (let i = 0; i < 16; i++) u32();
  const float = () => u32() / 4294967296;
  let spare;
  const normal = () => {
    if (spare !== undefined) {
      const s = spare;
      spare = undefined;
      return s;
    }
    let u = 0;
    while (u === 0) u = float();
    const r = Math.sqrt(-2 * Math.log(u));
    const th = 2 * Math.PI * float();
    spare = r * Math.sin(th);
    return r * Math.cos(th);
  };
  return {
    u32,
    float,
    normal,
    /** Integer in [0, n). */
    int: (n) => Math.floor(float() * n),
    chance: (p) => float() < p,
    pick: (list) => list[Math.floor(float() * list.length)],
    logNormal: (median, sigma) => median * Math.exp(sigma * normal()),
  };
}

/** A table mapping 16 random bits to a rank 0..n-1 with P(rank) ~ 1/(rank+1)^s. */
function zipfTable(n, s) {
  const w = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += w[i] = 1 / Math.pow(i + 1, s);
  const table = new Uint16Array(65536);
  let acc = 0;
  let rank = 0;
  for (let i = 0; i < n; i++) {
    acc += w[i] / sum;
    const end = Math.min(65536, Math.round(acc * 65536));
    while (rank < end) table[rank++] = i;
  }
  while (rank < 65536) table[rank++] = n - 1;
  return table;
}

// ---------------------------------------------------------------------------------------------
// Content pools

const SYLLABLES = (() => {
  const out = [];
  for (const c of ["", "b", "c", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "st", "tr", "ch", "sh"]) {
    for (const v of ["a", "e", "i", "o", "u", "io", "ea"]) out.push(c + v);
  }
  return out;
})();
const KEYWORDS = ["the", "of", "and", "to", "in", "is", "for", "return", "if", "int", "const", "struct", "static", "void", "self", "def", "char", "size_t", "NULL", "else", "unsigned", "include", "define", "import", "from", "with", "this", "that", "be", "are", "on", "not", "or", "as", "by"];

export function vocabulary(rng, n) {
  const words = [...KEYWORDS];
  const seen = new Set(words);
  while (words.length < n) {
    let w = "";
    const syl = 1 + Math.min(3, Math.floor(-Math.log(1 - rng.float()) * 1.3));
    for (let i = 0; i < syl; i++) w += rng.pick(SYLLABLES);
    if (rng.chance(0.08)) w = w.toUpperCase();
    if (!seen.has(w)) {
      seen.add(w);
      words.push(w);
    }
  }
  return words;
}

/** Concatenated encoded strings plus offsets, for fast copying. */
function packStrings(list) {
  const bufs = list.map((s) => (typeof s === "string" ? Buffer.from(s, "latin1") : s));
  const data = Buffer.concat(bufs);
  const off = new Uint32Array(bufs.length + 1);
  for (let i = 0; i < bufs.length; i++) off[i + 1] = off[i] + bufs[i].length;
  return { data, off };
}

/**
 * Text: lines of Zipf-distributed words, prose-like and code-like. Like real files, each stretch
 * (a "file" of 2-34 KiB) draws most words from a small local vocabulary and repeats some lines.
 */
export function textPool(rng, size, words) {
  const buf = Buffer.allocUnsafe(size);
  const z = zipfTable(words.length, 1.05);
  const zl = zipfTable(64, 1.0);
  const { data, off } = packStrings(words);
  const SEPS = [" ", " ", " ", " ", " ", "_", ".", ", ", "(", ") ", " = ", "; ", "->", ": ", "/"];
  const seps = packStrings(SEPS);
  let p = 0;
  const put = (d, o, e) => {
    for (let i = o; i < e && p < size; i++) buf[p++] = d[i];
  };
  const local = new Uint16Array(64);
  const lines = [];
  while (p < size) {
    const stretchEnd = Math.min(size, p + 2048 + rng.int(32768));
    for (let i = 0; i < local.length; i++) local[i] = z[rng.u32() & 0xffff];
    lines.length = 0;
    const code = rng.chance(0.5);
    while (p < stretchEnd) {
      // A repeated line (closing braces, imports, boilerplate), sometimes with a changed tail.
      if (lines.length > 4 && rng.chance(0.26)) {
        const [a, b] = lines[lines.length - 1 - rng.int(Math.min(lines.length, 40))];
        put(buf, a, rng.chance(0.7) ? b : a + ((b - a) >> 1));
        if (p < size) buf[p++] = 0x0a;
        continue;
      }
      const start = p;
      const indent = code ? 4 * rng.int(4) : rng.chance(0.1) ? 2 : 0;
      for (let i = 0; i < indent && p < size; i++) buf[p++] = 0x20;
      const len = 12 + rng.int(60);
      while (p - start < len && p < size) {
        const w = rng.chance(0.6) ? local[zl[rng.u32() & 0xffff]] : z[rng.u32() & 0xffff];
        put(data, off[w], off[w + 1]);
        if (rng.chance(0.02)) {
          const num = rng.chance(0.5) ? String(rng.int(1000)) : "0x" + rng.u32().toString(16);
          put(Buffer.from(num), 0, num.length);
        }
        const s = code ? rng.int(SEPS.length) : rng.chance(0.9) ? 0 : rng.int(SEPS.length);
        put(seps.data, seps.off[s], seps.off[s + 1]);
      }
      lines.push([start, p]);
      if (p < size) buf[p++] = 0x0a;
    }
  }
  return buf;
}

const OPCODES = [0x48, 0x48, 0x48, 0x89, 0x8b, 0xe8, 0x0f, 0x83, 0xc3, 0x31, 0x85, 0x74, 0x75, 0xeb, 0x4c, 0x41, 0x45, 0x66, 0xff, 0x8d, 0x39, 0x01, 0x29, 0xc7, 0xb8, 0x5d, 0x55, 0x53, 0x5b, 0x90];

/** Binary: instruction-like code, pointer tables, symbol strings, padding, incompressible runs. */
export function binaryPool(rng, size, words) {
  const buf = Buffer.allocUnsafe(size);
  // An "instruction set": 4096 byte sequences of 1-7 bytes, used with Zipf frequencies.
  const insns = [];
  for (let i = 0; i < 4096; i++) {
    const len = 1 + Math.min(6, Math.floor(rng.float() * rng.float() * 8));
    const b = Buffer.allocUnsafe(len);
    b[0] = rng.pick(OPCODES);
    for (let j = 1; j < len; j++) b[j] = rng.chance(0.5) ? rng.pick(OPCODES) : rng.int(256);
    insns.push(b);
  }
  const code = packStrings(insns);
  const zc = zipfTable(insns.length, 1.2);
  const zw = zipfTable(words.length, 0.9);
  const wp = packStrings(words);
  let p = 0;
  while (p < size) {
    const kind = rng.float();
    const len = Math.min(size - p, 512 + rng.int(16384));
    const end = p + len;
    if (kind < 0.58) {
      // code: Zipf-frequent instructions, immediates, and repeated sequences (prologues,
      // epilogues, call patterns) as back-references within the stretch
      const start = p;
      while (p < end) {
        if (p > 2 * MiB && rng.chance(0.008)) {
          // a longer repeat from far back (beyond gzip's 32 KiB window, within zstd's)
          const n = Math.min(end - p, 64 + rng.int(448));
          const from = p - 32768 - rng.int(MiB);
          buf.copyWithin(p, from, from + n);
          p += n;
          continue;
        }
        if (p - start > 256 && rng.chance(0.2)) {
          const n = Math.min(end - p, 6 + rng.int(40));
          const from = p - 16 - rng.int(Math.min(8192, p - start - 64));
          buf.copyWithin(p, from, from + n);
          p += n;
          continue;
        }
        const k = zc[rng.u32() & 0xffff];
        for (let i = code.off[k]; i < code.off[k + 1] && p < end; i++) buf[p++] = code.data[i];
        if (rng.chance(0.12) && p + 4 <= end) {
          const r = rng.u32();
          const wide = rng.chance(0.3);
          buf[p++] = r & 0xff;
          buf[p++] = wide ? (r >>> 8) & 0xff : 0;
          buf[p++] = 0;
          buf[p++] = wide && rng.chance(0.5) ? 0xff : 0;
        }
      }
    } else if (kind < 0.70) {
      // pointer / offset tables: base + i*stride + noise, little-endian 64-bit
      const base = rng.u32() & 0xfffff000;
      const stride = 8 << rng.int(4);
      let i = 0;
      while (p + 8 <= end) {
        const v = (base + i++ * stride + (rng.chance(0.2) ? rng.int(4096) : 0)) >>> 0;
        buf.writeUInt32LE(v, p);
        buf.writeUInt32LE(rng.chance(0.9) ? 0 : 0x7f, p + 4);
        p += 8;
      }
      while (p < end) buf[p++] = 0;
    } else if (kind < 0.84) {
      // symbol strings: words joined with '_', NUL-terminated, some C++-mangled-looking
      while (p < end) {
        if (rng.chance(0.3)) for (const c of [0x5f, 0x5a, 0x4e]) if (p < end) buf[p++] = c;
        const n = 1 + rng.int(4);
        for (let j = 0; j < n && p < end; j++) {
          const w = zw[rng.u32() & 0xffff];
          for (let i = wp.off[w]; i < wp.off[w + 1] && p < end; i++) buf[p++] = wp.data[i];
          if (j + 1 < n && p < end) buf[p++] = 0x5f;
        }
        if (p < end) buf[p++] = 0;
      }
    } else if (kind < 0.92) {
      // padding
      buf.fill(0, p, end);
      p = end;
    } else {
      // already-compressed or hashed data: incompressible
      while (p + 4 <= end) {
        buf.writeUInt32LE(rng.u32(), p);
        p += 4;
      }
      while (p < end) buf[p++] = rng.int(256);
    }
  }
  return buf;
}

const ELF_HEADER = Buffer.from(
  "7f454c4602010100000000000000000003003e0001000000" + "0".repeat(80),
  "hex",
);

// ---------------------------------------------------------------------------------------------
// Store path names and hashes


const POPULAR = ["glibc-2.39-52", "gcc-13.3.0-lib", "zlib-1.3.1", "openssl-3.0.14", "bash-5.2p32", "ncurses-6.4.20221231", "xz-5.6.2", "libffi-3.4.6", "bzip2-1.0.8", "readline-8.2p13", "coreutils-9.5", "sqlite-3.46.0", "expat-2.6.2", "libxml2-2.13.3", "gmp-with-cxx-6.3.0", "pcre2-10.44", "attr-2.5.2", "acl-2.3.2", "libunistring-1.2", "libidn2-2.3.7"];
const OUTPUTS = ["", "", "", "-lib", "-bin", "-dev", "-man", "-doc", "-out"];

function pathNames(rng, n, words) {
  const names = [];
  const seen = new Set();
  const add = (name) => {
    let x = name;
    for (let i = 2; seen.has(x); i++) x = `${name}-${i}`;
    seen.add(x);
    names.push(x);
  };
  for (let i = 0; i < n; i++) {
    if (i < POPULAR.length && i < n / 4) {
      add(POPULAR[i]);
      continue;
    }
    const w = rng.pick(words).toLowerCase();
    const prefix = rng.chance(0.15) ? "python3.12-" : rng.chance(0.05) ? "perl5.40.0-" : "";
    const second = rng.chance(0.3) ? `-${rng.pick(words).toLowerCase()}` : "";
    const version = `${rng.int(12)}.${rng.int(30)}${rng.chance(0.6) ? "." + rng.int(20) : ""}`;
    add(`${prefix}${w}${second}-${version}${rng.pick(OUTPUTS)}`);
  }
  return names;
}

function storeHash(seed, name) {
  return nixBase32(createHash("sha256").update(`strata-bench:${seed}:${name}`).digest().subarray(0, 20));
}

// ---------------------------------------------------------------------------------------------
// The closure

/** "100M", "1G", "512K", "123" (bytes); binary units. */
export function parseSize(s) {
  const m = /^(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?$/i.exec(String(s).trim());
  if (m === null) throw new Error(`size should look like 100M, 1G or 4G, got ${JSON.stringify(s)}`);
  const mult = { "": 1, K: 1024, M: MiB, G: 1024 * MiB, T: 1024 * 1024 * MiB }[m[2].toUpperCase()];
  return Math.round(Number(m[1]) * mult);
}

/**
 * Generate a closure. Returns {dir, storeRoot, graphFile, root, paths, files, symlinks,
 * hardlinks, dirs, bytes, narBytes, seconds}.
 */
export function makeClosure(options = {}) {
  const t0 = process.hrtime.bigint();
  const seed = String(options.seed ?? "1");
  const smallFiles = options.files !== undefined;
  const fileSize = options.fileSize ?? 1024;
  const targetBytes = smallFiles ? undefined : (options.size ?? 100 * MiB);
  const rng = makeRng(`${seed}`);

  // File sizes.
  let sizes;
  if (smallFiles) {
    sizes = new Float64Array(options.files);
    for (let i = 0; i < sizes.length; i++) sizes[i] = Math.max(16, Math.min(16 * fileSize, Math.round(rng.logNormal(fileSize, 0.5))));
  } else {
    const count = Math.max(8, options.files ?? Math.round((20 * targetBytes) / MiB));
    sizes = new Float64Array(count);
    for (let i = 0; i < count; i++) sizes[i] = Math.round(rng.logNormal(2560, 2.45));
    fitTotal(sizes, targetBytes, Math.min(96 * MiB, Math.max(MiB, targetBytes / 4)));
  }
  const fileCount = sizes.length;
  const sizeMiB = sizes.reduce((a, b) => a + b, 0) / MiB;

  const words = vocabulary(rng, 6000);
  const nPaths = Math.max(2, Math.min(fileCount, options.paths ?? Math.round(40 + (smallFiles ? fileCount / 500 : sizeMiB * 0.5))));
  const names = pathNames(rng, nPaths, words);

  // References: a DAG in index order, biased to low indices (popular paths), most paths leaves.
  const refs = names.map(() => new Set());
  for (let i = 1; i < nPaths; i++) {
    if (rng.chance(0.9)) refs[i].add(0);
    const k = Math.floor(-Math.log(1 - rng.float()) * 3);
    for (let j = 0; j < k; j++) refs[i].add(Math.floor(i * Math.pow(rng.float(), 2.5)));
  }
  const referenced = new Uint8Array(nPaths);
  for (const r of refs) for (const j of r) referenced[j] = 1;

  // Path weights (Pareto) and file assignment: every path gets at least one file.
  const weights = names.map(() => Math.pow(1 - rng.float(), -1 / 1.1));
  const cum = new Float64Array(nPaths);
  let acc = 0;
  for (let i = 0; i < nPaths; i++) cum[i] = acc += weights[i];
  const order = shuffled(rng, fileCount);
  const owner = new Uint32Array(fileCount);
  for (let k = 0; k < fileCount; k++) {
    const f = order[k];
    if (k < nPaths) owner[f] = k;
    else owner[f] = bisect(cum, rng.float() * acc);
  }
  const filesOf = names.map(() => []);
  for (let f = 0; f < fileCount; f++) filesOf[owner[f]].push(f);

  // Pools.
  const text = textPool(rng, 16 * MiB, words);
  const binary = binaryPool(rng, 48 * MiB, words);

  const dir = options.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), "strata-bench-closure-"));
  const storeRoot = path.join(dir, "root");
  const store = path.join(storeRoot, "nix", "store");
  if (fs.existsSync(store) && fs.readdirSync(store).length > 0) {
    throw new Error(`${store} is not empty: pass a new --dir (or remove it: node bench/make-closure.mjs --remove DIR)`);
  }
  fs.mkdirSync(store, { recursive: true });
  const storePaths = names.map((n) => `/nix/store/${storeHash(seed, n)}-${n}`);
  const fsOf = (p) => storeRoot + p;

  const stats = { files: 0, symlinks: 0, hardlinks: 0, dirs: 0, bytes: 0 };
  const dirsToSeal = [];
  const symlink = (target, at) => {
    fs.symlinkSync(target, at);
    fs.lutimesSync(at, STORE_MTIME, STORE_MTIME);
    stats.symlinks++;
  };
  const libsOf = names.map(() => []);
  const binsOf = names.map(() => []);
  const filesWritten = names.map(() => []); // [relPath, size] for hard-link candidates
  const selfRef = new Uint8Array(nPaths);

  const writeContent = (file, size, binaryKind, exec) => {
    const fd = fs.openSync(file, "wx", exec ? 0o755 : 0o644);
    try {
      const pool = binaryKind ? binary : text;
      const iov = [];
      let left = size;
      if (binaryKind && size >= ELF_HEADER.length && rng.chance(0.8)) {
        iov.push(ELF_HEADER);
        left -= ELF_HEADER.length;
      }
      while (left > 0) {
        const n = Math.min(left, Math.round(4096 + rng.float() * rng.float() * 512 * 1024));
        const at = rng.int(pool.length - n);
        iov.push(pool.subarray(at, at + n));
        left -= n;
        if (iov.length === 512) {
          writevAll(fd, iov);
          iov.length = 0;
        }
      }
      if (iov.length > 0) writevAll(fd, iov);
      fs.fchmodSync(fd, exec ? 0o555 : 0o444);
      fs.futimesSync(fd, STORE_MTIME, STORE_MTIME);
    } finally {
      fs.closeSync(fd);
    }
    stats.files++;
    stats.bytes += size;
  };

  for (let i = 0; i < nPaths; i++) {
    const base = fsOf(storePaths[i]);
    const pname = names[i].replace(/-[0-9].*$/, "").replace(/^python3\.12-|^perl5\.40\.0-/, "");
    const own = filesOf[i];
    // A few single-file store paths (scripts, hooks, setup files).
    if (own.length === 1 && !smallFiles && i > 0 && sizes[own[0]] <= 64 * 1024 && rng.chance(0.5)) {
      writeContent(base, sizes[own[0]], false, rng.chance(0.5));
      continue;
    }
    fs.mkdirSync(base);
    dirsToSeal.push(base);
    const made = new Set([""]);
    const mkdir = (rel) => {
      if (made.has(rel)) return;
      mkdir(path.posix.dirname(rel) === "." ? "" : path.posix.dirname(rel));
      fs.mkdirSync(path.join(base, rel));
      dirsToSeal.push(path.join(base, rel));
      made.add(rel);
      stats.dirs++;
    };
    const used = new Set();
    const unique = (rel) => {
      let r = rel;
      for (let k = 2; used.has(r); k++) r = rel.replace(/(\.[a-z0-9]+)?$/, `-${k}$1`);
      used.add(r);
      return r;
    };
    // Subdirectories for small files: about one per 25 files.
    const subdirs = [];
    const nSub = Math.max(1, Math.round(own.length / 25));
    const TOPS = ["share/doc/" + pname, "share/man/man1", "include/" + pname, "lib/python3.12/site-packages/" + pname, "share/" + pname, "share/locale/de/LC_MESSAGES", "lib/" + pname, "etc/" + pname];
    for (let s = 0; s < nSub; s++) {
      let d = rng.pick(TOPS);
      if (s >= TOPS.length / 2) d += "/" + rng.pick(words).toLowerCase() + (rng.chance(0.3) ? "/" + rng.pick(words).toLowerCase() : "");
      subdirs.push(d);
    }
    for (const f of own) {
      const size = sizes[f];
      const big = size >= 128 * 1024;
      const isBinary = big ? rng.chance(0.9) : rng.chance(0.3);
      let rel;
      let exec = false;
      if (isBinary && big && rng.chance(0.7)) {
        const v = `${rng.int(10)}.${rng.int(40)}.${rng.int(10)}`;
        const lib = rng.pick(words).toLowerCase();
        rel = unique(`lib/lib${lib}.so.${v}`);
        exec = true;
        libsOf[i].push(rel);
      } else if ((isBinary && (big || rng.chance(0.3))) || (!isBinary && rng.chance(0.03))) {
        rel = unique(`bin/${rng.pick(words).toLowerCase()}${rng.chance(0.3) ? "-" + rng.pick(words).toLowerCase() : ""}`);
        exec = true;
        binsOf[i].push(rel);
      } else {
        const ext = isBinary ? rng.pick([".so", ".mo", ".pyc", ".a", ".bin"]) : rng.pick([".h", ".py", ".txt", ".html", ".1", ".pc", ".conf", ".json", ""]);
        rel = unique(`${rng.pick(subdirs)}/${rng.pick(words).toLowerCase()}${rng.chance(0.4) ? "_" + rng.pick(words).toLowerCase() : ""}${ext}`);
      }
      mkdir(path.posix.dirname(rel));
      writeContent(path.join(base, rel), size, isBinary, exec);
      if (size < 256 * 1024) filesWritten[i].push(rel);
    }
    // lib/libX.so.1 and lib/libX.so -> libX.so.1.2.3
    for (const lib of libsOf[i]) {
      const full = path.posix.basename(lib);
      const m = /^(.*\.so)\.(\d+)\./.exec(full);
      for (const alias of [`${m[1]}.${m[2]}`, m[1]]) {
        const rel = `lib/${alias}`;
        if (used.has(rel)) continue;
        used.add(rel);
        symlink(full, path.join(base, rel));
      }
      selfRef[i] = 1;
    }
    // Absolute symlinks into referenced paths' libraries (dev outputs, wrappers).
    for (const j of refs[i]) {
      if (libsOf[j].length === 0 || !rng.chance(0.15)) continue;
      const target = `${storePaths[j]}/${rng.pick(libsOf[j])}`;
      const rel = unique(`lib/${path.posix.basename(target).replace(/\.so.*$/, "")}-${names[j].slice(0, 8)}.so`);
      mkdir("lib");
      symlink(target, path.join(base, rel));
    }
    // bin aliases, an empty file, an empty directory.
    if (binsOf[i].length > 0 && rng.chance(0.3)) {
      const rel = unique(`bin/${rng.pick(words).toLowerCase()}`);
      symlink(path.posix.basename(rng.pick(binsOf[i])), path.join(base, rel));
      binsOf[i].push(rel);
    }
    if (rng.chance(0.1)) {
      mkdir("nix-support");
      const rel = unique("nix-support/propagated-build-inputs");
      writeContent(path.join(base, rel), 0, false, false);
    }
    if (rng.chance(0.05)) mkdir(`share/${pname}/empty`);
    if (rng.chance(0.3)) selfRef[i] = 1;
  }

  const sealSet = new Set(dirsToSeal);
  // Hard links, as `nix-store --optimise` leaves them: ~1% of small files get a twin in another
  // path, ~0.3% within their own path.
  for (let i = 0; i < nPaths; i++) {
    const base = fsOf(storePaths[i]);
    if (!fs.lstatSync(base).isDirectory()) continue;
    for (const rel of filesWritten[i]) {
      const cross = rng.chance(0.01);
      const inner = !cross && rng.chance(0.003);
      if (!cross && !inner) continue;
      const j = cross ? rng.int(nPaths) : i;
      const tbase = fsOf(storePaths[j]);
      if (!fs.lstatSync(tbase).isDirectory()) continue;
      const trel = cross ? `share/licenses/${names[i].slice(0, 24)}/${path.posix.basename(rel)}` : `${rel}.orig`;
      const at = path.join(tbase, trel);
      if (fs.existsSync(at)) continue;
      fs.mkdirSync(path.dirname(at), { recursive: true });
      for (let d = path.dirname(at); d !== tbase && !sealSet.has(d); d = path.dirname(d)) {
        dirsToSeal.push(d);
        sealSet.add(d);
      }
      fs.linkSync(path.join(base, rel), at);
      stats.hardlinks++;
    }
  }

  // The root: an environment with bin/ symlinks into every top-level path, referencing them all.
  const rootName = smallFiles ? `bench-small-files-env` : `bench-closure-env`;
  const rootPath = `/nix/store/${storeHash(seed, rootName)}-${rootName}`;
  const tops = [];
  for (let i = 0; i < nPaths; i++) if (!referenced[i]) tops.push(i);
  {
    const base = fsOf(rootPath);
    fs.mkdirSync(path.join(base, "bin"), { recursive: true });
    fs.mkdirSync(path.join(base, "share"));
    dirsToSeal.push(base, path.join(base, "bin"), path.join(base, "share"));
    const seen = new Set();
    for (const i of tops) {
      for (const b of binsOf[i]) {
        const n = path.posix.basename(b);
        if (seen.has(n)) continue;
        seen.add(n);
        symlink(`${storePaths[i]}/${b}`, path.join(base, "bin", n));
      }
      if (binsOf[i].length === 0) {
        symlink(storePaths[i], path.join(base, "share", names[i]));
      }
    }
  }

  // Seal: directories 0555 and mtime 1, deepest first (symlinks got theirs when made).
  dirsToSeal.sort((a, b) => b.length - a.length);
  for (const d of dirsToSeal) {
    fs.chmodSync(d, 0o555);
    fs.utimesSync(d, STORE_MTIME, STORE_MTIME);
  }

  // The graph, with narSize computed from the files.
  const entries = storePaths.map((p, i) => ({
    path: p,
    references: [...[...refs[i]].map((j) => storePaths[j]), ...(selfRef[i] ? [p] : [])].sort(),
    narSize: narSize(fsOf(p)),
  }));
  entries.push({ path: rootPath, references: tops.map((i) => storePaths[i]).sort(), narSize: narSize(fsOf(rootPath)) });
  entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const graphFile = path.join(dir, "graph.json");
  fs.writeFileSync(graphFile, JSON.stringify(entries, null, 1) + "\n");

  return {
    dir,
    storeRoot,
    graphFile,
    root: rootPath,
    seed,
    paths: entries.length,
    files: stats.files,
    symlinks: stats.symlinks,
    hardlinks: stats.hardlinks,
    dirs: stats.dirs,
    bytes: stats.bytes,
    narBytes: entries.reduce((n, e) => n + e.narSize, 0),
    seconds: Number(process.hrtime.bigint() - t0) / 1e9,
  };
}

/** Scale the files above 64 KiB so the sizes add up to `total`, none above `max`. */
function fitTotal(sizes, total, max) {
  const SMALL = 64 * 1024;
  for (let round = 0; round < 8; round++) {
    let small = 0;
    let big = 0;
    for (const s of sizes) (s <= SMALL ? (small += s) : (big += s));
    if (big === 0 || small >= total) break;
    const f = (total - small) / big;
    for (let i = 0; i < sizes.length; i++) if (sizes[i] > SMALL) sizes[i] = Math.min(max, Math.max(SMALL + 1, Math.round(sizes[i] * f)));
  }
  // Put the rounding remainder on the largest file.
  let sum = 0;
  let largest = 0;
  for (let i = 0; i < sizes.length; i++) {
    sum += sizes[i];
    if (sizes[i] > sizes[largest]) largest = i;
  }
  sizes[largest] = Math.max(0, sizes[largest] + total - sum);
}

function shuffled(rng, n) {
  const a = new Uint32Array(n);
  for (let i = 0; i < n; i++) a[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = a[i];
    a[i] = a[j];
    a[j] = t;
  }
  return a;
}

function bisect(cum, x) {
  let lo = 0;
  let hi = cum.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cum[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function writevAll(fd, iov) {
  let list = iov;
  while (list.length > 0) {
    let n = fs.writevSync(fd, list);
    let k = 0;
    while (k < list.length && n >= list[k].length) n -= list[k++].length;
    list = list.slice(k);
    if (n > 0) list[0] = list[0].subarray(n);
  }
}

/**
 * Size of the path's NAR serialisation, as `nix path-info` reports narSize: every string is a
 * 64-bit length and its bytes padded to 8; directory entries sorted by name bytes.
 */
export function narSize(p) {
  const str = (n) => 8 + Math.ceil(n / 8) * 8;
  const tok = (s) => str(Buffer.byteLength(s));
  const node = (q) => {
    const st = fs.lstatSync(q);
    let n = tok("(") + tok("type");
    if (st.isSymbolicLink()) {
      n += tok("symlink") + tok("target") + str(fs.readlinkSync(q, { encoding: "buffer" }).length);
    } else if (st.isDirectory()) {
      n += tok("directory");
      for (const c of fs.readdirSync(q, { encoding: "buffer" }).sort(Buffer.compare)) {
        n += tok("entry") + tok("(") + tok("name") + str(c.length) + tok("node") + node(path.join(q, c.toString())) + tok(")");
      }
    } else {
      n += tok("regular") + ((st.mode & 0o100) !== 0 ? tok("executable") + tok("") : 0) + tok("contents") + str(st.size);
    }
    return n + tok(")");
  };
  return tok("nix-archive-1") + node(p);
}

/** rm -rf that gives read-only directories their write bit back first (needed when not root). */
export function removeTree(root) {
  const unseal = (p) => {
    let st;
    try {
      st = fs.lstatSync(p);
    } catch {
      return;
    }
    if (!st.isDirectory()) return;
    fs.chmodSync(p, 0o755);
    for (const name of fs.readdirSync(p)) unseal(path.join(p, name));
  };
  unseal(root);
  fs.rmSync(root, { recursive: true, force: true });
}

// ---------------------------------------------------------------------------------------------
// CLI

const USAGE = `Usage: node bench/make-closure.mjs [options]
Generates a synthetic Nix store closure; prints the root store path (pass it as --contents).

  --dir DIR          where to write (DIR/root/nix/store, DIR/graph.json); default: a new temp dir
  --size SIZE        total file bytes: 100M (default), 1G, 4G, ... (binary units)
  --paths N          store paths (default: 40 + 0.5 per MiB)
  --seed S           seed (default 1); the same flags and seed give the same bytes
  --files N          small-files closure: N files of about --file-size each (ignores --size)
  --file-size SIZE   median file size with --files (default 1K)
  --json             print a JSON summary on stdout instead of the root path
  -q, --quiet        no summary on stderr
  --remove DIR       remove a generated dir (read-only directories included) and exit
`;

function main(argv) {
  const opts = {};
  let json = false;
  let quiet = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    switch (a) {
      case "--dir": opts.dir = path.resolve(val()); break;
      case "--size": opts.size = parseSize(val()); break;
      case "--paths": opts.paths = positiveInt(a, val()); break;
      case "--seed": opts.seed = val(); break;
      case "--files": opts.files = positiveInt(a, val()); break;
      case "--file-size": opts.fileSize = parseSize(val()); break;
      case "--json": json = true; break;
      case "-q": case "--quiet": quiet = true; break;
      case "--remove": removeTree(path.resolve(val())); return;
      case "-h": case "--help": process.stdout.write(USAGE); return;
      default: throw new Error(`unknown option ${a}\n${USAGE}`);
    }
  }
  const r = makeClosure(opts);
  if (!quiet) {
    process.stderr.write(
      `make-closure: ${r.paths} paths, ${r.files} files (${(r.bytes / MiB).toFixed(1)} MiB), ${r.symlinks} symlinks, ` +
        `${r.hardlinks} hard links, ${r.dirs} dirs in ${r.seconds.toFixed(1)} s\n` +
        `  --graph ${r.graphFile} --store-root ${r.storeRoot} --contents ${r.root}\n`,
    );
  }
  process.stdout.write(json ? JSON.stringify(r) + "\n" : r.root + "\n");
}

function positiveInt(name, v) {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got ${JSON.stringify(v)}`);
  return n;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  try {
    main(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`make-closure: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
}
