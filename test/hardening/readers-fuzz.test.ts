/**
 * Issue 15, the property test of every archive reader: random edits of valid docker-archives
 * (old and Docker 25 naming), OCI layouts and oci-archives, their layers plain, gzip or zstd, the
 * outer archive plain, gzip or zstd. Edits: a member's bytes replaced by random JSON, bytes
 * flipped, inserted or cut, the archive truncated, before or after the outer compression. Every
 * outcome of openImage and inspectImage is a success or a StrataError (never another error, never
 * a hang), within a time bound per case and a memory bound overall, and the temp dir is left empty.
 *
 * Fixed seed and a moderate number of runs, so CI time stays well under a minute.
 */
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import fc from "fast-check";
import { extract as tarExtract } from "tar-stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compress as zstdCompress } from "zstd-napi";
import { StrataError } from "../../src/errors.js";
import { inspectImage } from "../../src/inspect.js";
import { openImage } from "../../src/source/read-image.js";
import { makeDockerArchive, makeLayer, makeOciLayout, makeTar, tempArea, type TarMember } from "../source/fixtures.js";

const SEED = 0x15eade;
const RUNS = 300;
/** Per case, both readers: far above what a case takes (tens of ms), far below a hang. */
const CASE_MS = 15_000;
/** RSS growth over the whole run: a case that let memory follow what an input claims would pass it. */
const RSS_GROWTH = 400 << 20;

type Compression = "none" | "gzip" | "zstd";

interface Base {
  readonly label: string;
  /** The members of the (outer) tar, or of the layout directory. */
  readonly members: readonly TarMember[];
  readonly directory: boolean;
}

/** The members of a tar, in order (regular files and directories). */
async function untar(bytes: Buffer): Promise<TarMember[]> {
  const out: TarMember[] = [];
  const ex = tarExtract();
  ex.on("entry", (header, stream, next) => {
    const chunks: Buffer[] = [];
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("end", () => {
      out.push({ name: header.name, type: header.type ?? "file", ...(header.type === "file" ? { content: Buffer.concat(chunks) } : {}) });
      next();
    });
  });
  const done = new Promise<void>((resolve, reject) => {
    ex.on("finish", resolve);
    ex.on("error", reject);
  });
  ex.end(bytes);
  await done;
  return out;
}

/** The files of a directory as members, relative names, sorted. */
function readDir(dir: string, rel = ""): TarMember[] {
  const out: TarMember[] = [];
  for (const name of fs.readdirSync(path.join(dir, rel)).sort()) {
    const r = rel === "" ? name : `${rel}/${name}`;
    if (fs.statSync(path.join(dir, r)).isDirectory()) out.push({ name: r, type: "directory" }, ...readDir(dir, r));
    else out.push({ name: r, content: fs.readFileSync(path.join(dir, r)) });
  }
  return out;
}

function compress(b: Buffer, c: Compression): Buffer {
  return c === "gzip" ? zlib.gzipSync(b) : c === "zstd" ? zstdCompress(b) : b;
}

type Edit =
  | { readonly kind: "json"; readonly member: number; readonly text: string }
  | { readonly kind: "flip"; readonly at: number; readonly byte: number }
  | { readonly kind: "insert"; readonly at: number; readonly bytes: Uint8Array }
  | { readonly kind: "cut"; readonly at: number; readonly length: number }
  | { readonly kind: "truncate"; readonly at: number };

/** `edit` applied to `bytes`; positions are fractions of the length, so they fit any input. */
function applyBytes(bytes: Buffer, edit: Edit): Buffer {
  const at = Math.min(bytes.length, Math.floor(("at" in edit ? edit.at : 0) * bytes.length));
  switch (edit.kind) {
    case "flip": {
      if (bytes.length === 0) return bytes;
      const out = Buffer.from(bytes);
      const i = Math.min(at, out.length - 1);
      out[i] = out[i]! ^ (edit.byte || 1);
      return out;
    }
    case "insert":
      return Buffer.concat([bytes.subarray(0, at), edit.bytes, bytes.subarray(at)]);
    case "cut":
      return Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + edit.length)]);
    case "truncate":
      return bytes.subarray(0, at);
    case "json":
      return bytes;
  }
}

const byteEdit: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ kind: fc.constant("flip" as const), at: fc.double({ min: 0, max: 1, noNaN: true }), byte: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ kind: fc.constant("insert" as const), at: fc.double({ min: 0, max: 1, noNaN: true }), bytes: fc.uint8Array({ minLength: 1, maxLength: 600 }) }),
  fc.record({ kind: fc.constant("cut" as const), at: fc.double({ min: 0, max: 1, noNaN: true }), length: fc.integer({ min: 1, max: 2048 }) }),
  fc.record({ kind: fc.constant("truncate" as const), at: fc.double({ min: 0, max: 1, noNaN: true }) }),
);

const memberEdit: fc.Arbitrary<Edit> = fc.record({
  kind: fc.constant("json" as const),
  member: fc.nat(),
  text: fc.oneof(fc.json({ maxDepth: 4 }), fc.constantFrom("null", '{"manifests":{}}', "1e400", "[".repeat(5000), "[".repeat(20_000) + "]".repeat(20_000), '{"rootfs":{"type":"layers","diff_ids":{}}}', "[{}]")),
});

interface Case {
  readonly base: number;
  readonly outer: Compression;
  /** Edits of one member's bytes (by index), or of a member's content as random JSON. */
  readonly memberEdits: readonly { readonly member: number; readonly edit: Edit }[];
  /** Edits of the tar before the outer compression, and of the bytes after it. */
  readonly tarEdits: readonly Edit[];
  readonly rawEdits: readonly Edit[];
}

describe("every reader, on random edits of valid inputs: a success or a StrataError, bounded", () => {
  let area: ReturnType<typeof tempArea>;
  const bases: Base[] = [];

  beforeAll(async () => {
    area = tempArea("strata-fuzz-readers-");
    const layers = [await makeLayer({ "bin/a": "a\n", "etc/x": "x".repeat(3000) }), await makeLayer({ "nix/store/abc-b/b": "b\n" })];
    for (const layerCompression of ["none", "gzip", "zstd"] as const) {
      for (const naming of ["legacy", "docker25"] as const) {
        bases.push({ label: `docker-archive ${naming} ${layerCompression}`, directory: false, members: await untar(await makeDockerArchive({ layers, layerCompression, naming })) });
      }
      const dir = path.join(area.root, `oci-${layerCompression}`);
      makeOciLayout(dir, { layers, layerCompression, nested: layerCompression === "gzip" });
      const members = readDir(dir);
      fs.rmSync(dir, { recursive: true });
      bases.push({ label: `oci-archive ${layerCompression}`, directory: false, members });
      bases.push({ label: `oci layout ${layerCompression}`, directory: true, members });
    }
  });

  afterAll(() => area?.cleanup());

  /** Writes the case's input; returns its path. */
  async function materialise(c: Case, n: number): Promise<{ input: string; label: string }> {
    const base = bases[c.base % bases.length]!;
    const members = base.members.map((m) => ({ ...m }));
    const files = members.map((m, i) => i).filter((i) => members[i]!.content !== undefined);
    for (const { member, edit } of c.memberEdits) {
      const i = files[member % files.length]!;
      const m = members[i]!;
      members[i] = { ...m, content: edit.kind === "json" ? Buffer.from(edit.text) : applyBytes(Buffer.from(m.content!), edit) };
    }
    if (base.directory) {
      const dir = path.join(area.root, `case-${n}`);
      for (const m of members) {
        const file = path.join(dir, ...m.name.split("/"));
        if (m.type === "directory") fs.mkdirSync(file, { recursive: true });
        else {
          fs.mkdirSync(path.dirname(file), { recursive: true });
          fs.writeFileSync(file, m.content!);
        }
      }
      return { input: dir, label: base.label };
    }
    let tar = await makeTar(members);
    for (const e of c.tarEdits) tar = applyBytes(tar, e);
    let raw = compress(tar, c.outer);
    for (const e of c.rawEdits) raw = applyBytes(raw, e);
    const input = path.join(area.root, `case-${n}.tar`);
    fs.writeFileSync(input, raw);
    return { input, label: `${base.label}, outer ${c.outer}` };
  }

  /** `run` settles within CASE_MS as a success or a StrataError; anything else is a finding. */
  async function outcome(what: string, run: () => Promise<unknown>): Promise<string> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer within ${CASE_MS} ms`)), CASE_MS);
    });
    try {
      await Promise.race([run(), timeout]);
      return "ok";
    } catch (err) {
      if (err instanceof StrataError) {
        expect(err.code, `${what}: ${err.message}`).not.toBe("E_INTERNAL");
        expect(err.message).not.toContain("\n");
        return err.code;
      }
      throw new Error(`${what}: expected success or a StrataError, got ${String(err)}`, { cause: err });
    } finally {
      clearTimeout(timer);
    }
  }

  it(`${RUNS} cases, seed ${SEED}`, async () => {
    const rss0 = process.memoryUsage().rss;
    let n = 0;
    const seen = new Map<string, number>();
    const arbitrary = fc.record({
      base: fc.nat(),
      outer: fc.constantFrom<Compression>("none", "gzip", "zstd"),
      memberEdits: fc.array(fc.record({ member: fc.nat(), edit: fc.oneof(memberEdit, byteEdit) }), { maxLength: 2 }),
      tarEdits: fc.array(byteEdit, { maxLength: 2 }),
      rawEdits: fc.array(byteEdit, { maxLength: 1 }),
    });
    await fc.assert(
      fc.asyncProperty(arbitrary, async (c) => {
        const { input, label } = await materialise(c, ++n);
        const work = path.join(area.root, `work-${n}`);
        fs.mkdirSync(work);
        try {
          const opened = await outcome(`openImage of ${label}`, async () => {
            const image = await openImage(input, { tmpDir: work });
            await image.cleanup();
          });
          const inspected = await outcome(`inspectImage of ${label}`, () => inspectImage(input));
          seen.set(opened, (seen.get(opened) ?? 0) + 1);
          // Whatever happened, nothing is left in the temp dir.
          expect(fs.readdirSync(work)).toEqual([]);
          // The two readers agree on whether the input is an image.
          expect(inspected === "ok", `${label}: openImage ${opened}, inspect ${inspected}`).toBe(opened === "ok");
          expect(process.memoryUsage().rss - rss0).toBeLessThan(RSS_GROWTH);
        } finally {
          fs.rmSync(input, { recursive: true, force: true });
          fs.rmSync(work, { recursive: true, force: true });
        }
      }),
      { seed: SEED, numRuns: RUNS, endOnFailure: true },
    );
    // The edits reach past the outer tar: some inputs still open, and several kinds of refusal happen.
    expect(seen.get("ok") ?? 0).toBeGreaterThan(0);
    expect([...seen.keys()].filter((k) => k !== "ok").length).toBeGreaterThan(1);
  });
});
