/**
 * exportImage without umoci: the external sort's merge passes give the same bytes as one run,
 * directories no layer names, hostile and malformed layers, the CLI's stdout rule.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exportImage } from "../../src/export/index.js";
import { readTar } from "../helpers/interop.js";
import { failure } from "../source/fixtures.js";
import { layerTar, trickyLayers, writeImages, type Entry } from "./layer-tars.js";

let tmp: string;
beforeAll(() => void (tmp = fs.mkdtempSync(path.join(os.tmpdir(), "strata-export-"))));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function exported(layers: Entry[][], name: string, runRecords?: number): Promise<{ file: string; names: string[] }> {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir);
  const { archive } = await writeImages(dir, layers.map(layerTar));
  const file = path.join(dir, "rootfs.tar");
  await exportImage(archive, file, { tmpDir: dir, ...(runRecords === undefined ? {} : { runRecords }) });
  return { file, names: (await readTar(fs.readFileSync(file))).map((e) => e.header.name) };
}

describe("exportImage", () => {
  it("sorting in tiny runs (many merge passes) gives the same bytes as in one run, in tree order", async () => {
    const dir = path.join(tmp, "runs");
    fs.mkdirSync(dir);
    const { oci } = await writeImages(dir, trickyLayers());
    const one = path.join(dir, "one.tar");
    const many = path.join(dir, "many.tar");
    await exportImage(oci, one, { tmpDir: dir });
    await exportImage(oci, many, { tmpDir: dir, runRecords: 1 }); // 50 records: 50 runs, two merge passes
    expect(fs.readFileSync(many).equals(fs.readFileSync(one))).toBe(true);
    const names = (await readTar(fs.readFileSync(one))).map((e) => e.header.name);
    expect(names.indexOf("usr/")).toBeLessThan(names.indexOf("usr/bin/"));
    expect(fs.readdirSync(dir).filter((n) => n.startsWith("strata-"))).toEqual([]); // temp dirs removed
  });

  it("writes directories that no layer names as 0755 root, before their contents", async () => {
    const { file, names } = await exported([[{ name: "a/b/c", content: "c" }], [{ name: "a/b/.wh.c" }, { name: "a/b/d", content: "d" }]], "implicit");
    expect(names).toEqual(["a/", "a/b/", "a/b/d"]);
    const dir = (await readTar(fs.readFileSync(file)))[0]!.header;
    expect([dir.type, dir.mode, dir.uid]).toEqual(["directory", 0o755, 0]);
  });

  it("a whiteout does not remove what its own layer adds; an opaque marker keeps its own layer's files", async () => {
    const { names } = await exported([
      [{ name: "d", type: "d" }, { name: "d/old", content: "o" }, { name: "f", content: "1" }],
      [{ name: "d", type: "d" }, { name: "d/.wh..wh..opq" }, { name: "d/kept", content: "k" }, { name: ".wh.f" }, { name: "f", content: "2" }],
    ], "same-layer");
    expect(names).toEqual(["d/", "d/kept", "f"]);
  });

  it("refuses a hard link to a file a lower layer deleted, and a `..` name", async () => {
    const dir = path.join(tmp, "bad");
    fs.mkdirSync(dir);
    const dangling = await writeImages(dir, [layerTar([{ name: "t", content: "t" }]), layerTar([{ name: ".wh.t" }, { name: "l", type: "h", link: "t" }])]);
    expect((await failure(exportImage(dangling.archive, path.join(dir, "out.tar"), { tmpDir: dir }))).code).toBe("E_CLOSURE_INPUT");
    expect(fs.existsSync(path.join(dir, "out.tar"))).toBe(false);
    const dir2 = path.join(tmp, "bad2");
    fs.mkdirSync(dir2);
    const dotdot = await writeImages(dir2, [layerTar([{ name: "../escape", content: "x" }])]);
    const e = await failure(exportImage(dotdot.archive, path.join(dir2, "out.tar"), { tmpDir: dir2 }));
    expect([e.code, e.message]).toEqual(["E_CLOSURE_INPUT", expect.stringMatching(/\.\./)]);
  });

  it("CLI: -o - and a pipe get the tar on stdout, a summary on stderr", async () => {
    const dir = path.join(tmp, "cli");
    fs.mkdirSync(dir);
    const { archive } = await writeImages(dir, [layerTar([{ name: "hello", content: "hi\n" }])]);
    const bin = path.join(import.meta.dirname, "..", "..", "bin", "strata.js");
    const r = spawnSync(process.execPath, [bin, "export", archive, "-o", "-", "--tmp-dir", dir], { maxBuffer: 1 << 24 });
    expect(r.status, r.stderr.toString()).toBe(0);
    expect((await readTar(r.stdout)).map((e) => [e.header.name, e.data.toString()])).toEqual([["hello", "hi\n"]]);
    expect(r.stderr.toString()).toMatch(/^exported 1 entries from 1 layers, 10240 bytes\n$/);
  });
});
