/**
 * Layer tars for the export tests, written by Python's tarfile (an independent tar writer, which
 * keeps a mode of 0, hard links, FIFOs and PAX names exactly as given), and the images made of
 * them: a docker-archive and an OCI layout.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { configFor, makeDockerArchive, makeOciLayout } from "../source/fixtures.js";

export interface Entry {
  readonly name: string;
  /** f file (default), d dir, l symlink, h hard link, p FIFO. */
  readonly type?: "f" | "d" | "l" | "h" | "p";
  readonly content?: string;
  readonly link?: string;
  readonly mode?: number;
  readonly uid?: number;
  readonly gid?: number;
  readonly mtime?: number;
}

const SCRIPT = `
import io, json, sys, tarfile
spec = json.load(sys.stdin)
out = io.BytesIO()
with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as t:
    for e in spec:
        ti = tarfile.TarInfo(e["name"])
        kind = e.get("type", "f")
        ti.type = {"f": tarfile.REGTYPE, "d": tarfile.DIRTYPE, "l": tarfile.SYMTYPE, "h": tarfile.LNKTYPE, "p": tarfile.FIFOTYPE}[kind]
        ti.mode = e.get("mode", 0o755 if kind == "d" else 0o644)
        ti.uid = e.get("uid", 0); ti.gid = e.get("gid", 0)
        ti.uname = ""; ti.gname = ""
        ti.mtime = e.get("mtime", 1700000000)
        if kind in ("l", "h"): ti.linkname = e["link"]
        data = e.get("content", "").encode() if kind == "f" else b""
        ti.size = len(data)
        t.addfile(ti, io.BytesIO(data) if data else None)
sys.stdout.buffer.write(out.getvalue())
`;

export function layerTar(entries: readonly Entry[]): Buffer {
  const r = spawnSync("python3", ["-c", SCRIPT], { input: JSON.stringify(entries), maxBuffer: 256 << 20 });
  if (r.status !== 0) throw new Error(`python3 tarfile failed: ${r.stderr.toString()}`);
  return r.stdout;
}

/** The image as a docker-archive file and as an OCI layout dir (gzip layers), in `dir`. */
export async function writeImages(dir: string, layers: readonly Buffer[]): Promise<{ archive: string; oci: string }> {
  const archive = path.join(dir, "image.tar");
  fs.writeFileSync(archive, await makeDockerArchive({ layers, config: configFor(layers) }));
  const oci = path.join(dir, "oci");
  makeOciLayout(oci, { layers, layerCompression: "gzip" });
  return { archive, oci };
}

/**
 * Layers that delete and replace files, make a directory opaque, replace a directory by a file
 * and a file by a directory, re-create a deleted directory, and hold hard links whose targets a
 * later layer deletes or replaces, plus one to a lower layer's file.
 */
export function trickyLayers(): Buffer[] {
  const long = `deep/${"d".repeat(60)}/${"n".repeat(70)}.txt`;
  const l1 = layerTar([
    { name: "etc", type: "d" },
    { name: "etc/passwd", content: "root:x:0:0\n" },
    { name: "etc/shadow", content: "root:!:1::::::\n", mode: 0o000 },
    { name: "usr", type: "d" },
    { name: "usr/bin", type: "d", mode: 0o750, mtime: 1600000000 },
    { name: "usr/bin/tool", content: "#!/bin/sh\necho tool\n", mode: 0o755 },
    { name: "usr/bin/tool-link", type: "h", link: "usr/bin/tool" },
    { name: "data", type: "d" },
    { name: "data/a", content: "a" },
    { name: "data/sub", type: "d" },
    { name: "data/sub/c", content: "c" },
    { name: "lib", type: "d" },
    { name: "lib/libx.so.1", content: "ELF" },
    { name: "lib/libx.so", type: "l", link: "libx.so.1" },
    { name: "gone", type: "d" },
    { name: "gone/x", content: "x" },
    { name: "d2f", type: "d" },
    { name: "d2f/inner", content: "inner" },
    { name: "f2d", content: "was a file" },
    { name: "keep-target", content: "kept through a link\n", mode: 0o600, mtime: 1500000000 },
    { name: "keep-link", type: "h", link: "keep-target" },
    { name: "repl-target", content: "old\n" },
    { name: "repl-link", type: "h", link: "repl-target" },
    { name: "owned", content: "o", uid: 1000, gid: 100, mode: 0o640, mtime: 123456789 },
    { name: "setuid", content: "s", mode: 0o4755 },
    { name: "fifo", type: "p", mode: 0o600 },
    { name: "deep", type: "d" },
    { name: `deep/${"d".repeat(60)}`, type: "d" },
    { name: long, content: "long name" },
    { name: "caf\u00e9.txt", content: "unicode" },
  ]);
  const l2 = layerTar([
    { name: ".wh.gone" },
    { name: "data", type: "d", mode: 0o700 },
    { name: "data/.wh..wh..opq" },
    { name: "data/new", content: "new" },
    { name: "d2f", content: "now a file" },
    { name: "f2d", type: "d" },
    { name: "f2d/child", content: "child" },
    { name: "etc/passwd", content: "root:x:0:0:replaced\n" },
    { name: ".wh.keep-target" },
    { name: "repl-target", content: "new\n" },
    { name: "lib/.wh.libx.so" },
    { name: "usr/bin/tool2", type: "h", link: "usr/bin/tool" },
  ]);
  const l3 = layerTar([
    { name: "gone", type: "d", mode: 0o711 },
    { name: "gone/y", content: "y" },
    { name: "data/sub", type: "d" },
    { name: "data/sub/z", content: "z" },
  ]);
  return [l1, l2, l3];
}
