/**
 * The first pass of export: every layer tar is read once with tar-stream, and each entry becomes
 * a sort record (its metadata and where its bytes start), a whiteout, an opaque marker, or, for
 * a hard link, also a request keyed at its target. Contents are skipped, not held.
 */
import fs from "node:fs";
import { pipeline } from "node:stream/promises";
import { extract as tarExtract, type Header } from "tar-stream";
import { StrataError } from "../errors.js";
import { LIMITS } from "../source/limits.js";
import type { RunWriter } from "./external-sort.js";
import { SEP, type EntryMeta, type EntryType } from "./records.js";

const TYPES: Record<string, EntryType> = {
  file: "0", "contiguous-file": "0", link: "1", symlink: "2", "character-device": "3", "block-device": "4", directory: "5", fifo: "6",
};
const WHITEOUT = ".wh.";
const OPAQUE = ".wh..wh..opq";
/** PAX records the header fields already carry, or that describe this tar and not the file. */
const PAX_DROPPED = new Set(["path", "linkpath", "size", "uid", "gid", "uname", "gname"]);

export interface LayerScanResult {
  readonly entries: number;
  readonly hardLinks: number;
}

/** Records of layer `layer` (0 = bottom) of the uncompressed tar `file`, added to `runs`. */
export async function scanLayerEntries(file: string, layer: number, what: string, runs: RunWriter, signal?: AbortSignal): Promise<LayerScanResult> {
  const extract = tarExtract();
  let seq = 0;
  let hardLinks = 0;
  // The file feeds the parser while the loop below takes its entries (backpressure both ways).
  const feeding = pipeline(fs.createReadStream(file, { highWaterMark: 1 << 20 }), extract, ...(signal === undefined ? [] : [{ signal }]));
  try {
    for await (const entry of extract) {
      signal?.throwIfAborted();
      const h = entry.header;
      const s = seq++;
      const key = normalise(h.name, `${what}: entry ${JSON.stringify(h.name)}`);
      const last = key.lastIndexOf(SEP);
      const base = key.slice(last + 1);
      const dir = last < 0 ? "" : key.slice(0, last);
      if (base === OPAQUE) {
        await runs.add({ k: dir, l: layer, s, t: "o" });
      } else if (base.startsWith(WHITEOUT + WHITEOUT)) {
        // aufs bookkeeping (.wh..wh.plnk, .wh..wh.aufs): not part of the filesystem; Docker skips it too.
      } else if (base.startsWith(WHITEOUT)) {
        const name = base.slice(WHITEOUT.length);
        if (name === "") throw hostile(what, `a whiteout naming a file, found ${JSON.stringify(h.name)}`);
        await runs.add({ k: dir === "" ? name : dir + SEP + name, l: layer, s, t: "w" });
      } else {
        const m = meta(h, what);
        if (key === "" && m.type !== "5") throw hostile(what, `the root to be a directory, found ${JSON.stringify(h.name)} of type ${h.type}`);
        if (m.type === "1" && m.linkname === "") throw hostile(what, `hard link ${JSON.stringify(h.name)} to name a file, found ${JSON.stringify(h.linkname)}`);
        if (m.type === "1") {
          hardLinks++;
          await runs.add({ k: m.linkname, l: layer, s, t: "r", from: key });
        }
        await runs.add({ k: key, l: layer, s, t: "e", m });
      }
      for await (const chunk of entry) void chunk; // skip the bytes: they are read again by offset
    }
    await feeding;
  } catch (err) {
    extract.destroy();
    await feeding.catch(() => undefined);
    throw wrap(err, what);
  }
  return { entries: seq, hardLinks };
}

function wrap(err: unknown, what: string): StrataError {
  if (err instanceof StrataError) return err;
  if ((err as { name?: unknown } | null)?.name === "AbortError") return new StrataError("E_ABORTED", `${what}: cancelled`, "nothing to do", { cause: err });
  return new StrataError("E_CLOSURE_INPUT", `${what}: expected a tar layer, found ${(err as Error).message}`, "the image is corrupt; re-create it", { cause: err });
}

function meta(h: Header, what: string): EntryMeta {
  const type = TYPES[h.type];
  if (type === undefined) {
    throw new StrataError("E_UNSUPPORTED", `${what}: expected files, links, directories, devices or FIFOs, found ${h.name} of tar type ${h.type}`,
      "export keeps what an unpacked image holds; re-create the layer without sparse or vendor entries");
  }
  const pax = (h.pax ?? {}) as Record<string, string>;
  const offset = (h as { byteOffset?: unknown }).byteOffset;
  if (typeof offset !== "number") throw new StrataError("E_INTERNAL", "tar-stream did not report where an entry's bytes start", "this is a bug in strata (tar-stream >= 3.2 is needed); please report it");
  const kept: Record<string, string> = {};
  for (const [k, v] of Object.entries(pax)) if (!PAX_DROPPED.has(k)) kept[k] = v;
  const num = (key: string, fallback: number | undefined): number => {
    const v = pax[key];
    if (v !== undefined && /^\d+$/.test(v)) return Number(v);
    return fallback ?? 0;
  };
  const mtimeRecord = pax["mtime"];
  const mtime = mtimeRecord !== undefined && /^-?\d+(\.\d+)?$/.test(mtimeRecord) ? Math.floor(Number(mtimeRecord)) : Math.floor((h.mtime?.getTime() ?? 0) / 1000);
  return {
    type,
    mode: (h.mode ?? 0) & 0o7777,
    uid: num("uid", h.uid),
    gid: num("gid", h.gid),
    uname: pax["uname"] ?? h.uname ?? "",
    gname: pax["gname"] ?? h.gname ?? "",
    mtime,
    size: type === "0" ? (h.size ?? 0) : 0,
    linkname: type === "1" ? normalise(h.linkname ?? "", `${what}: the target of hard link ${JSON.stringify(h.name)}`) : type === "2" ? (h.linkname ?? "") : "",
    devmajor: h.devmajor ?? 0,
    devminor: h.devminor ?? 0,
    offset,
    ...(Object.keys(kept).length === 0 ? {} : { pax: kept }),
  };
}

/**
 * A member name as a key: leading `/` and `./` dropped, `.` and empty components dropped, the
 * components joined by SEP; the root is `""`. A `..` component is hostile: refused.
 */
export function normalise(name: string, what: string): string {
  if (name.length > LIMITS.maxName || name.includes("\u0000")) throw hostile(what, "a name of at most 4096 bytes without NUL");
  const parts: string[] = [];
  for (const c of name.split("/")) {
    if (c === "" || c === ".") continue;
    if (c === "..") throw hostile(what, "a name without `..`");
    parts.push(c);
  }
  return parts.join(SEP);
}

function hostile(what: string, expected: string): StrataError {
  return new StrataError("E_CLOSURE_INPUT", `${what}: expected ${expected}`, "the image is malformed or hostile; re-create it");
}
