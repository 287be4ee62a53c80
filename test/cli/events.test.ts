/**
 * `--json`: every event a real build emits is one documented in docs/events.md, with exactly the
 * documented fields, of their types; every event type of ProgressEvent is documented; `done`
 * carries the tags, destination and digests, and a failure is an `error` event.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeFixtureStore, storePathOf, type FixtureStore } from "../helpers/fixture-store.js";
import { validateArchive } from "../helpers/interop.js";

const ROOT = path.join(import.meta.dirname, "../..");
const CLI = path.join(ROOT, "bin/strata.js");

interface Field {
  readonly type: string;
  readonly required: boolean;
}

/** docs/events.md's tables: `### type` then `| field | type | required | meaning |` rows. */
function documentedEvents(): Map<string, Map<string, Field>> {
  const events = new Map<string, Map<string, Field>>();
  let current: Map<string, Field> | undefined;
  for (const line of fs.readFileSync(path.join(ROOT, "docs/events.md"), "utf8").split("\n")) {
    const heading = /^### (\w+)$/.exec(line);
    if (heading !== null) events.set(heading[1]!, (current = new Map()));
    const row = /^\| `(\w+)` \| ([\w[\]]+) \| ([^|]+) \|/.exec(line);
    if (row !== null && current !== undefined) current.set(row[1]!, { type: row[2]!, required: row[3]!.trim() === "yes" });
  }
  return events;
}

function typeOf(v: unknown): string {
  if (Array.isArray(v)) return v.every((x) => typeof x === "string") ? "string[]" : "array";
  return typeof v;
}

/** Every event against the tables: known type, only documented fields, required ones present, types right. */
function checkSchema(events: readonly Record<string, unknown>[], docs: Map<string, Map<string, Field>>): void {
  for (const e of events) {
    const fields = docs.get(String(e["type"]));
    expect(fields, `documented event type ${String(e["type"])}`).toBeDefined();
    for (const [k, v] of Object.entries(e)) {
      expect(fields!.has(k), `${String(e["type"])}.${k} is documented`).toBe(true);
      expect(typeOf(v), `${String(e["type"])}.${k}`).toBe(fields!.get(k)!.type);
    }
    for (const [k, f] of fields!) if (f.required) expect(e, `${String(e["type"])} has ${k}`).toHaveProperty(k);
  }
}

function strataJson(args: string[]): { code: number | null; events: Record<string, unknown>[]; stderr: string } {
  const r = spawnSync("node", [CLI, ...args, "--json"], { encoding: "utf8" });
  // Nothing but JSON on stderr.
  const events = r.stderr.trimEnd().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
  return { code: r.status, events, stderr: r.stderr };
}

let store: FixtureStore;
let dir: string;

beforeAll(() => {
  store = makeFixtureStore([
    { name: "lib-1.0", entries: [{ kind: "file", path: "lib/lib.so", content: "lib".repeat(5000) }] },
    { name: "app-1.0", references: ["lib-1.0"], entries: [{ kind: "file", path: "bin/app", content: "app", executable: true }] },
  ]);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "strata-events-"));
});

afterAll(() => {
  store.cleanup();
  fs.rmSync(dir, { recursive: true, force: true });
});

const build = (): string[] => ["build", "--graph", store.graphFile, "--contents", store.pathOf("app-1.0"), "--store-root", store.root, "-t", "events:1"];

describe("--json events (docs/events.md)", () => {
  it("documents every event type of ProgressEvent", () => {
    const source = fs.readFileSync(path.join(ROOT, "src/image/image-spec.ts"), "utf8");
    const union = source.slice(source.indexOf("export type ProgressEvent"), source.indexOf("export interface WriteOptions"));
    const types = [...union.matchAll(/readonly type: "(\w+)"/g)].map((m) => m[1]).sort();
    expect(types.length).toBeGreaterThanOrEqual(7);
    expect([...documentedEvents().keys()].sort()).toEqual(types);
  });

  it("a docker-archive build: plan, start, bytes, layer, done, in that order, as documented; done names the image", async () => {
    const out = path.join(dir, "image.tar");
    const r = strataJson([...build(), "-o", out]);
    expect(r.code, r.stderr).toBe(0);
    checkSchema(r.events, documentedEvents());
    const types = r.events.map((e) => e["type"]);
    expect(types[0]).toBe("plan");
    expect(types[1]).toBe("start");
    expect(types.at(-1)).toBe("done");
    expect(types.filter((t) => t === "layer")).toHaveLength(r.events[0]!["layers"] as number);
    const archive = await validateArchive(out);
    const done = r.events.at(-1)!;
    expect(done).toMatchObject({ repoTags: ["events:1"], destination: out, format: "docker-archive", bytes: fs.statSync(out).size });
    expect(done["imageId"]).toBe(`sha256:${createHash("sha256").update(archive.configBytes).digest("hex")}`);
    expect(done["diffIds"]).toEqual(archive.config.rootfs?.diff_ids);
    expect(done["layerBytes"]).toBe(archive.layers.reduce((n, l) => n + l.length, 0));
    expect(r.events[0]).toMatchObject({ repoTag: "events:1", layers: archive.layers.length });
    // The bytes events add up to the layers' uncompressed bytes.
    expect(r.events.filter((e) => e["type"] === "bytes").reduce((n, e) => n + (e["bytes"] as number), 0)).toBe(done["layerBytes"]);
  });

  it("an OCI layout: done carries the manifest digest, which the layout's index names", () => {
    const out = path.join(dir, "layout");
    const r = strataJson([...build(), "-f", "oci", "-o", out]);
    expect(r.code, r.stderr).toBe(0);
    checkSchema(r.events, documentedEvents());
    const done = r.events.at(-1)!;
    const index = JSON.parse(fs.readFileSync(path.join(out, "index.json"), "utf8")) as { manifests: { digest: string }[] };
    expect(done["manifestDigest"]).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(index.manifests.map((m) => m.digest)).toContain(done["manifestDigest"]);
    expect(done).toMatchObject({ format: "oci", destination: out, repoTags: ["events:1"] });
  });

  it("a failure is one error event, the last line, with code, message and hint; nothing else on stderr", () => {
    const graph = path.join(dir, "missing.json");
    fs.writeFileSync(graph, JSON.stringify([{ path: storePathOf("nowhere"), references: [], narSize: 1 }]));
    const r = strataJson(["build", "--graph", graph, "--contents", storePathOf("nowhere"), "-o", path.join(dir, "never.tar")]);
    expect(r.code).toBe(1);
    checkSchema(r.events, documentedEvents());
    expect(r.events.at(-1)).toMatchObject({ type: "error", code: "E_STORE_PATH" });
    expect(r.events.at(-1)!["message"]).toMatch(/nowhere/);
    // A usage error too, even one found while parsing the command line.
    const u = strataJson(["build", "--contnets", "x"]);
    expect(u.code).toBe(2);
    expect(u.events).toEqual([{ type: "error", code: "E_USAGE", message: "unknown option --contnets (did you mean --contents?)", hint: expect.any(String) }]);
  });
});
