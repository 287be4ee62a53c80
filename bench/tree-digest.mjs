#!/usr/bin/env node
/**
 * One sha256 over everything a generated closure is: every entry's relative path, type, mode,
 * mtime, size, content or link target, and which files are hard links of each other, walked in
 * sorted order. Given a make-closure DIR, the digest covers DIR/root/nix/store (not the store
 * directory's own metadata) and DIR/graph.json. Two runs of make-closure with the same flags and
 * seed must print the same digest:
 *
 *   node bench/tree-digest.mjs DIR [DIR...]
 */
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

export function treeDigest(root) {
  const h = createHash("sha256");
  const inodes = new Map();
  const buf = Buffer.allocUnsafe(1 << 20);
  const walk = (rel) => {
    const abs = rel === "" ? root : path.join(root, rel);
    const st = fs.lstatSync(abs);
    const mode = (st.mode & 0o7777).toString(8);
    const mtime = Math.floor(st.mtimeMs / 1000);
    if (st.isSymbolicLink()) {
      h.update(`L ${rel} ${mtime} -> ${fs.readlinkSync(abs)}\0`);
    } else if (st.isDirectory()) {
      // the top directory's own mode and mtime are the temp dir's, not the closure's
      if (rel !== "") h.update(`D ${rel} ${mode} ${mtime}\0`);
      for (const c of fs.readdirSync(abs).sort()) walk(rel === "" ? c : `${rel}/${c}`);
    } else {
      const key = `${st.dev}:${st.ino}`;
      const first = inodes.get(key);
      if (first !== undefined) {
        h.update(`H ${rel} => ${first}\0`);
        return;
      }
      inodes.set(key, rel);
      h.update(`F ${rel} ${mode} ${mtime} ${st.size}\0`);
      const fd = fs.openSync(abs, "r");
      try {
        for (let n; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0; ) h.update(buf.subarray(0, n));
      } finally {
        fs.closeSync(fd);
      }
    }
  };
  const store = path.join(root, "root", "nix", "store");
  const graph = path.join(root, "graph.json");
  if (fs.existsSync(store)) {
    const top = root;
    root = store;
    walk("");
    h.update("G\0").update(fs.readFileSync(graph));
    root = top;
  } else {
    walk("");
  }
  return h.digest("hex");
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const dirs = process.argv.slice(2);
  if (dirs.length === 0) {
    process.stderr.write("usage: node bench/tree-digest.mjs DIR [DIR...]\n");
    process.exit(2);
  }
  for (const d of dirs) process.stdout.write(`${treeDigest(d)}  ${d}\n`);
}
