/**
 * The positional mode's layer task (src/layer/build-layer.ts, writeLayerAt), run in this thread:
 * it writes exactly the measured bytes at the given offset, and refuses a layer that changed
 * since it was measured, or a cancelled build, instead of writing a corrupt file.
 */
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { measureLayer, writeLayerAt } from "../../src/layer/build-layer.js";
import type { WriteAtSpec } from "../../src/pool/protocol.js";
import type { LayerTask } from "../../src/layer/layer-task.js";
import { makeFixtureStore, type FixtureStore } from "../helpers/fixture-store.js";

let store: FixtureStore;
let dir: string;
const OWN = { uid: 0, gid: 0, uname: "root", gname: "root", mtime: 1 };

beforeAll(() => {
  store = makeFixtureStore([
    { name: "data-1.0", entries: [{ kind: "file", path: "share/a.bin", content: Buffer.alloc(3 << 20, 7) }, { kind: "file", path: "share/b.txt", content: Buffer.from("b") }] },
  ]);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "strata-positional-"));
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
  store.cleanup();
});

const task = (): LayerTask => ({ kind: "store", paths: [store.pathOf("data-1.0")], ownership: OWN, fsRoot: store.root });

function spec(fd: number, offset: number, size: number, abort = 0): WriteAtSpec {
  const a = new SharedArrayBuffer(4);
  new Int32Array(a)[0] = abort;
  return { fd, offset, size, abort: a, progress: new SharedArrayBuffer(8) };
}

describe("writeLayerAt", () => {
  it("writes the measured bytes at the offset, hashes exactly them, and counts them as progress", () => {
    const size = measureLayer(task());
    const file = path.join(dir, "at.bin");
    const fd = fs.openSync(file, "w+");
    try {
      const s = spec(fd, 1000, size);
      const d = writeLayerAt(task(), s);
      const bytes = fs.readFileSync(file);
      expect(bytes.length).toBe(1000 + size);
      expect(bytes.subarray(0, 1000).every((b) => b === 0)).toBe(true);
      expect(d).toEqual({ diffId: `sha256:${createHash("sha256").update(bytes.subarray(1000)).digest("hex")}`, size });
      expect(new BigInt64Array(s.progress)[0]).toBe(BigInt(size));
    } finally {
      fs.closeSync(fd);
    }
  });

  it("refuses a layer whose size changed since it was measured (E_FILE_CHANGED), writing nothing", () => {
    const size = measureLayer(task());
    const fd = fs.openSync(path.join(dir, "changed.bin"), "w+");
    try {
      expect(() => writeLayerAt(task(), spec(fd, 0, size + 512))).toThrow(expect.objectContaining({ code: "E_FILE_CHANGED" }));
      expect(fs.fstatSync(fd).size).toBe(0);
    } finally {
      fs.closeSync(fd);
    }
  });

  it("stops at the first chunk of a cancelled build (E_ABORTED)", () => {
    const fd = fs.openSync(path.join(dir, "aborted.bin"), "w+");
    try {
      expect(() => writeLayerAt(task(), spec(fd, 0, measureLayer(task()), 1))).toThrow(expect.objectContaining({ code: "E_ABORTED" }));
    } finally {
      fs.closeSync(fd);
    }
  });
});
