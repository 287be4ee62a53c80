/**
 * The CLI starts the layer pool before it has planned (src/pool/pool.ts, prestartLayerPool): the
 * first WorkerPool of that size takes it and runs its layers on it; a pool of another size does
 * not; an untaken one is stopped by discardSparePool.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { discardSparePool, prestartLayerPool, sparePoolWorkers, WorkerPool } from "../../src/pool/pool.js";
import { measureLayer } from "../../src/layer/build-layer.js";
import type { LayerTask } from "../../src/layer/layer-task.js";
import { makeFixtureStore, type FixtureStore } from "../helpers/fixture-store.js";

let store: FixtureStore;
const OWN = { uid: 0, gid: 0, uname: "root", gname: "root", mtime: 1 };

beforeAll(() => {
  store = makeFixtureStore([{ name: "data-1.0", entries: [{ kind: "file", path: "share/a.txt", content: Buffer.from("hello\n") }] }]);
});

afterAll(async () => {
  await discardSparePool();
  store.cleanup();
});

const task = (): LayerTask => ({ kind: "store", paths: [store.pathOf("data-1.0")], ownership: OWN, fsRoot: store.root });

describe("prestarted layer pool", () => {
  it("is taken by the first pool of its size, which runs layers on it", async () => {
    prestartLayerPool(2);
    expect(sparePoolWorkers()).toBe(2);
    prestartLayerPool(3); // one at a time: the first stays
    expect(sparePoolWorkers()).toBe(2);
    const pool = new WorkerPool(2);
    try {
      expect(await pool.measureLayer(task())).toBe(measureLayer(task()));
      expect(sparePoolWorkers()).toBeUndefined();
    } finally {
      await pool.destroy();
    }
  });

  it("is left alone by a pool of another size, and stopped by discardSparePool", async () => {
    prestartLayerPool(1);
    const pool = new WorkerPool(2);
    try {
      expect(await pool.measureLayer(task())).toBe(measureLayer(task()));
      expect(sparePoolWorkers()).toBe(1);
    } finally {
      await pool.destroy();
    }
    await discardSparePool();
    expect(sparePoolWorkers()).toBeUndefined();
  });
});
