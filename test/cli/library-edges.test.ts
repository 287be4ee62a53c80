/**
 * The library's edges a newcomer met (issue 18): the published declarations compile for a strict
 * consumer and every package they need is a dependency; `layering` is accepted by planLayers as
 * by buildImage; planImage gives the layers a build makes. (buildImage refusing a terminal is
 * tested in a real one: terminal.test.ts.)
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { planImage } from "../../src/build.js";
import { planLayers } from "../../src/plan/plan-layers.js";
import { makeFixtureStore, type FixtureStore } from "../helpers/fixture-store.js";

const ROOT = path.join(import.meta.dirname, "../..");

function declarationFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith(".d.ts"))
    .map((e) => path.join(e.parentPath, e.name));
}

describe("the published declarations", () => {
  it("need only packages that are dependencies: Node's types come from @types/node, declared in dependencies", () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
    const needed = new Set<string>();
    for (const file of declarationFiles(path.join(ROOT, "dist/src"))) {
      const text = fs.readFileSync(file, "utf8");
      for (const m of text.matchAll(/(?:from |import\()"([^".][^"]*)"|reference types="([^"]+)"/g)) {
        const spec = m[1] ?? m[2]!;
        if (spec === "strata") continue; // the doc comment's example
        const name = spec.startsWith("node:") || spec === "node" ? "@types/node" : spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : spec.split("/")[0]!;
        needed.add(name);
      }
    }
    expect(needed.has("@types/node")).toBe(true);
    for (const name of needed) expect(pkg.dependencies, `${name} is a dependency`).toHaveProperty([name]);
    expect(pkg.devDependencies["@types/node"]).toBeUndefined();
    // The entry point says so itself: a consumer's compiler loads Node's types from it.
    expect(fs.readFileSync(path.join(ROOT, "dist/src/index.d.ts"), "utf8")).toMatch(/^\/\/\/ <reference types="node" preserve="true" \/>/);
  });

  it("compile for a strict consumer with skipLibCheck false and no ambient types of its own", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "strata-consumer-"));
    try {
      fs.writeFileSync(path.join(dir, "consumer.ts"), [
        'import { buildImage, planImage, planLayers, inspectImage, type ImageResult, type ProgressEvent, type InspectResult } from "strata";',
        'const r: Promise<ImageResult> = buildImage({ graph: "g.json", layering: "auto", onProgress: (e: ProgressEvent) => void e });',
        'const i: Promise<InspectResult> = inspectImage("x.tar");',
        "void r; void i; void planImage; void planLayers;",
        "",
      ].join("\n"));
      fs.writeFileSync(path.join(dir, "tsconfig.json"), JSON.stringify({
        compilerOptions: {
          strict: true, module: "nodenext", moduleResolution: "nodenext", skipLibCheck: false, noEmit: true, types: [],
          typeRoots: [path.join(ROOT, "node_modules/@types")], paths: { strata: [path.join(ROOT, "dist/src/index.d.ts")] },
        },
        files: ["consumer.ts"],
      }));
      const r = spawnSync(process.execPath, [path.join(ROOT, "node_modules/typescript/bin/tsc"), "-p", dir], { encoding: "utf8" });
      expect(r.stdout + r.stderr).toBe("");
      expect(r.status).toBe(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe("names and counts that line up", () => {
  let store: FixtureStore;
  beforeAll(() => {
    store = makeFixtureStore([
      { name: "a-1", entries: [{ kind: "file", path: "a", content: "a".repeat(3000) }] },
      { name: "b-1", references: ["a-1"], entries: [{ kind: "file", path: "b", content: "b".repeat(2000) }] },
      { name: "c-1", references: ["a-1"], entries: [{ kind: "file", path: "c", content: "c".repeat(1000) }] },
      { name: "app-1", references: ["b-1", "c-1"], entries: [{ kind: "file", path: "app", content: "app" }] },
    ]);
  });
  afterAll(() => store.cleanup());

  it("planLayers takes `layering`, buildImage's name; `strategy` still works", () => {
    const byLayering = planLayers(store.graph, { layering: "popularity", maxLayers: 3 });
    expect(byLayering).toEqual(planLayers(store.graph, { strategy: "popularity", maxLayers: 3 }));
    expect(byLayering).toHaveLength(2); // 3 - the customisation layer
  });

  it("planImage gives the store layers a build (and strata plan) makes: the README's way to see them", () => {
    const plan = planImage({ graph: store.graph, contents: [store.pathOf("app-1")], maxLayers: 3 });
    expect(plan.storeLayers.flat().sort()).toEqual(["a-1", "b-1", "c-1", "app-1"].map((n) => store.pathOf(n)).sort());
    expect(plan.storeLayers.length).toBeLessThanOrEqual(2);
  });
});
