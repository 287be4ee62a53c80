/**
 * The customisation layer's join does not follow links out of the store (issue 15, item 6), is
 * bounded, keeps names and link targets that are not UTF-8 byte for byte, and counts only
 * symlinked directories as a possible loop (item 11).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ChunkedOutput, callbackTarget } from "../../src/layer/chunked-output.js";
import { JOIN_LIMITS, planCustomisationLayer, type CustomisationSpec } from "../../src/layer/customisation-layer.js";
import { writeLayer } from "../../src/layer/write-layer.js";
import { makeFixtureStore, storePathOf, type FixtureStore } from "../helpers/fixture-store.js";

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

function tempDir(prefix: string): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  cleanups.push(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

function fixture(spec: Parameters<typeof makeFixtureStore>[0]): FixtureStore {
  const s = makeFixtureStore(spec);
  cleanups.push(() => s.cleanup());
  return s;
}

function layerBytes(spec: CustomisationSpec, limits = JOIN_LIMITS): Buffer {
  const layer = planCustomisationLayer(spec, limits);
  const chunks: Buffer[] = [];
  const out = new ChunkedOutput(callbackTarget((c) => chunks.push(Buffer.from(c))));
  writeLayer(layer, out);
  out.end();
  const tar = Buffer.concat(chunks);
  expect(tar.length).toBe(layer.size);
  return tar;
}

interface RawEntry {
  readonly name: Buffer;
  readonly type: string;
  readonly linkname: Buffer;
}

/** The entries of a tar, names and link targets as raw bytes (PAX path/linkpath applied). */
function rawEntries(tar: Buffer): RawEntry[] {
  const field = (b: Buffer): Buffer => { const z = b.indexOf(0); return z < 0 ? b : b.subarray(0, z); };
  const out: RawEntry[] = [];
  let pax = new Map<string, Buffer>();
  for (let at = 0; at + 512 <= tar.length;) {
    const h = tar.subarray(at, at + 512);
    if (h.every((x) => x === 0)) break;
    const size = parseInt(field(h.subarray(124, 136)).toString("ascii").trim() || "0", 8);
    const type = String.fromCharCode(h[156]!);
    const data = tar.subarray(at + 512, at + 512 + size);
    at += 512 + Math.ceil(size / 512) * 512;
    if (type === "x") {
      pax = new Map();
      for (let p = 0; p < data.length;) {
        const sp = data.indexOf(0x20, p);
        const len = Number(data.subarray(p, sp).toString("ascii"));
        const rec = data.subarray(sp + 1, p + len - 1);
        const eq = rec.indexOf(0x3d);
        pax.set(rec.subarray(0, eq).toString("ascii"), Buffer.from(rec.subarray(eq + 1)));
        p += len;
      }
      continue;
    }
    const prefix = field(h.subarray(345, 500));
    const base = field(h.subarray(0, 100));
    const name = pax.get("path") ?? (prefix.length > 0 ? Buffer.concat([prefix, Buffer.from("/"), base]) : base);
    out.push({ name, type, linkname: pax.get("linkpath") ?? field(h.subarray(157, 257)) });
    pax = new Map();
  }
  return out;
}

const byName = (entries: RawEntry[], name: string | Buffer): RawEntry | undefined =>
  entries.find((e) => e.name.equals(typeof name === "string" ? Buffer.from(name) : name));

describe("links in the contents lead nowhere outside the store", () => {
  it("gives the same bytes whatever the host has at the targets, and keeps such links as they are", () => {
    const host = tempDir("strata-host-");
    const escape = `${"../".repeat(40)}${host.slice(1)}/planted`; // relative, climbs past the store root into the host
    const store = fixture([{ name: "env", entries: [
      { kind: "file", path: "bin/app", content: "app" },
      { kind: "symlink", path: "abs", target: "/planted" },
      { kind: "symlink", path: "rel", target: "../../../planted" },
      { kind: "symlink", path: "dotdot", target: "/nix/store/../../planted" },
      { kind: "symlink", path: "escape", target: escape },
      { kind: "symlink", path: "etc", target: "/etc" },
    ] }]);
    const env = store.pathOf("env");
    const spec: CustomisationSpec = { contents: [env], fsRoot: store.root, mtime: 1 };
    // Two "hosts": different directories planted where the links lead, in and out of the store root.
    const plant = (content: string, extra: boolean): void => {
      for (const at of [path.join(store.root, "planted"), path.join(host, "planted"), path.join(store.root, "etc")]) {
        fs.rmSync(at, { recursive: true, force: true });
        fs.mkdirSync(at, { recursive: true });
        fs.writeFileSync(path.join(at, "shadow"), content);
        if (extra) fs.mkdirSync(path.join(at, "more"));
      }
    };
    plant("host one", false);
    const one = layerBytes(spec);
    plant("host two, another secret", true);
    const two = layerBytes(spec);
    expect(two.equals(one)).toBe(true);

    const entries = rawEntries(one);
    expect(entries.map((e) => e.name.toString())).toEqual(["abs", "bin/", "bin/app", "dotdot", "escape", "etc", "rel"]);
    for (const [name, target] of [["abs", "/planted"], ["rel", "../../../planted"], ["dotdot", "/nix/store/../../planted"], ["escape", escape], ["etc", "/etc"]]) {
      expect(byName(entries, name!)).toMatchObject({ type: "2", linkname: Buffer.from(target!) });
    }
    expect(one.includes("host one")).toBe(false);
  });

  it("refuses a contents path that is itself a symlink out of the store (never lists the host's /etc)", () => {
    const store = fixture([{ name: "real", entries: [{ kind: "file", path: "x", content: "x" }] }]);
    const evil = storePathOf("evil");
    fs.symlinkSync("/etc", store.fsPath(evil));
    fs.mkdirSync(path.join(store.root, "etc"), { recursive: true });
    fs.writeFileSync(path.join(store.root, "etc", "shadow"), "root:secret");
    expect(() => planCustomisationLayer({ contents: [evil], fsRoot: store.root, mtime: 1 }))
      .toThrow(expect.objectContaining({ code: "E_STORE_PATH", message: expect.stringContaining("outside /nix/store") }));
  });

  it("still joins links to directories inside the store, through '..' and other store paths", () => {
    const lib = storePathOf("lib-1.0");
    const store = fixture([
      { name: "lib-1.0", entries: [{ kind: "file", path: "share/doc/README", content: "r" }] },
      { name: "env", entries: [
        { kind: "symlink", path: "share", target: `/nix/store/../../nix/store/${path.basename(lib)}/share` },
        { kind: "symlink", path: "doc", target: `../${path.basename(lib)}/share/./doc` },
      ] },
    ]);
    const entries = rawEntries(layerBytes({ contents: [store.pathOf("env")], fsRoot: store.root, mtime: 1 }));
    expect(entries.map((e) => e.name.toString())).toEqual(["doc/", "doc/README", "share/", "share/doc/", "share/doc/README"]);
    expect(byName(entries, "doc/README")!.linkname.toString()).toBe(`${store.pathOf("env")}/doc/README`);
  });

  it("stops a join that multiplies directories at the entry limit, and a symlink loop at the link limit", () => {
    // Each level links three times to the next: 3^8 = 6,561 entries at the bottom alone.
    const entries = [{ kind: "file" as const, path: "l8/f", content: "f" }];
    const links = [];
    for (let i = 0; i < 8; i++) for (const k of ["a", "b", "c"]) links.push({ kind: "symlink" as const, path: `l${i}/${k}`, target: `../l${i + 1}` });
    const store = fixture([
      { name: "bomb", entries: [...entries, ...links] },
      { name: "loop", entries: [{ kind: "symlink", path: "a/self", target: "." }] },
    ]);
    expect(() => planCustomisationLayer({ contents: [store.pathOf("bomb")], fsRoot: store.root, mtime: 1 }, { ...JOIN_LIMITS, entries: 1000 }))
      .toThrow(expect.objectContaining({ code: "E_STORE_PATH", message: expect.stringContaining("more than 1000 entries") }));
    expect(() => planCustomisationLayer({ contents: [store.pathOf("loop")], fsRoot: store.root, mtime: 1 }))
      .toThrow(expect.objectContaining({ code: "E_STORE_PATH", message: expect.stringMatching(/symlinks to directories nest deeper than 40 levels/) }));
  });
});

describe("names and depth in the customisation layer (item 11)", () => {
  it("keeps names and link targets that are not UTF-8 byte for byte", () => {
    const store = fixture([{ name: "latin", entries: [{ kind: "dir", path: "d" }] }]);
    const dir = store.fsPath(`${store.pathOf("latin")}/d`);
    const bad = Buffer.from([0x63, 0x61, 0x66, 0xe9, 0xff]); // "caf\xe9\xff": not UTF-8
    const badTarget = Buffer.concat([Buffer.from("./"), bad]);
    fs.chmodSync(dir, 0o755);
    fs.writeFileSync(Buffer.concat([Buffer.from(`${dir}/`), bad]), "x");
    fs.symlinkSync(badTarget, Buffer.concat([Buffer.from(`${dir}/link-`), bad]));
    const entries = rawEntries(layerBytes({ contents: [store.pathOf("latin")], fsRoot: store.root, mtime: 1 }));
    const file = byName(entries, Buffer.concat([Buffer.from("d/"), bad]));
    expect(file?.linkname).toEqual(Buffer.concat([Buffer.from(`${store.pathOf("latin")}/d/`), bad]));
    const link = byName(entries, Buffer.concat([Buffer.from("d/link-"), bad]));
    expect(link?.type).toBe("2");
    expect(link?.linkname).toEqual(badTarget);
    expect(entries.some((e) => e.name.includes(Buffer.from("\ufffd")))).toBe(false);
  });

  it("builds a 100-level plain tree (only symlinked directories count toward a loop)", () => {
    const deep = Array.from({ length: 100 }, (_, i) => `d${i}`).join("/");
    const store = fixture([{ name: "deep", entries: [{ kind: "file", path: `${deep}/leaf`, content: "x" }] }]);
    const entries = rawEntries(layerBytes({ contents: [store.pathOf("deep")], fsRoot: store.root, mtime: 1 }));
    expect(entries).toHaveLength(101);
    expect(byName(entries, `${deep}/leaf`)?.linkname.toString()).toBe(`${store.pathOf("deep")}/${deep}/leaf`);
  });
});
