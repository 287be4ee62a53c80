/**
 * `--nix-db` on a closure of more than ten paths (issue 15 item 15) printed
 * "MaxListenersExceededWarning: Possible EventTarget memory leak detected. 11 abort listeners
 * added to [AbortSignal]": one listener per NAR-hash task on one signal. Now each task has its
 * own signal, and the caller's signal one listener per pool.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { narHashStorePaths } from "../../src/nixdb/nar-pool.js";
import { makeFixtureStore, type FixtureStore } from "../helpers/fixture-store.js";

const CLI = path.join(import.meta.dirname, "../../bin/strata.js");
let store: FixtureStore;
let dir: string;

beforeAll(() => {
  const libs = Array.from({ length: 70 }, (_, i) => ({ name: `lib${i}-1.0`, entries: [{ kind: "file" as const, path: "lib/x", content: `library ${i}\n` }] }));
  store = makeFixtureStore([...libs, { name: "app-1.0", references: libs.map((l) => l.name), entries: [{ kind: "file", path: "bin/app", content: "app" }] }]);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "strata-listeners-"));
});

afterAll(() => {
  store?.cleanup();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe("abort listeners (issue 15 item 15)", () => {
  it("build --nix-db on a 71-path closure prints no MaxListenersExceededWarning", () => {
    const out = path.join(dir, "image.tar");
    const r = spawnSync("node", [CLI, "build", "--graph", store.graphFile, "--contents", store.pathOf("app-1.0"), "--store-root", store.root, "--nix-db", "-q", "-o", out], { encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toBe("");
  });

  it("hashes 71 paths under a caller's signal without a warning, and leaves no listener on it", async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => void warnings.push(w);
    process.on("warning", onWarning);
    try {
      const controller = new AbortController();
      let added = 0;
      let removed = 0;
      const add = controller.signal.addEventListener.bind(controller.signal);
      const remove = controller.signal.removeEventListener.bind(controller.signal);
      controller.signal.addEventListener = ((...a: Parameters<typeof add>) => (added++, add(...a))) as typeof add;
      controller.signal.removeEventListener = ((...a: Parameters<typeof remove>) => (removed++, remove(...a))) as typeof remove;
      const infos = await narHashStorePaths(store.paths, { fsRoot: store.root, workers: 2, signal: controller.signal });
      expect(infos).toHaveLength(71);
      expect(added).toBeLessThanOrEqual(1);
      expect(removed).toBe(added);
      await new Promise((r) => setImmediate(r)); // warnings are emitted on the next tick
      expect(warnings.map((w) => w.name)).not.toContain("MaxListenersExceededWarning");
    } finally {
      process.off("warning", onWarning);
    }
  });

  it("still stops every task when the caller's signal aborts", async () => {
    const controller = new AbortController();
    const run = narHashStorePaths(store.paths, { fsRoot: store.root, workers: 1, signal: controller.signal });
    controller.abort(new Error("stop"));
    await expect(run).rejects.toBeDefined();
  });
});
