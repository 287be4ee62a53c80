/**
 * `strata cache` as a user meets it: show (text and --json), prune by age, clear (also of a
 * corrupt database), usage errors with exit 2, and the default location from XDG_CACHE_HOME.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DB_FILE } from "../../src/cache/cache-dir.js";
import { LayerCache } from "../../src/cache/layer-cache.js";
import type { Digest } from "../../src/digest.js";

const CLI = path.join(import.meta.dirname, "../../bin/strata.js");
const DAY = 86_400_000;
const dg = (c: string): Digest => `sha256:${c.repeat(64)}`;
let dir: string;

function strata(args: string[], env: NodeJS.ProcessEnv = process.env): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync("node", [CLI, ...args], { encoding: "utf8", env });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Layers last used `ages` days ago. */
function populate(ages: readonly number[]): void {
  for (const [i, age] of ages.entries()) {
    const c = LayerCache.open({ dir, warn: (m) => expect.fail(m), now: () => Date.now() - age * DAY });
    c.put(`k${i}`, { diffId: dg("a"), size: 1 }, { compression: "gzip", level: 6, impl: "zlib", digest: dg("b"), size: 1 });
    c.stampFile(path.join(dir, `gone-${i}`), dg("b"), { dev: 1, ino: i, size: 1, mtimeNs: 1n });
    c.close();
  }
}

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "strata-cache-cli-"));
});

afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe("strata cache", () => {
  it("shows where the cache is and what it holds, as text and as JSON", () => {
    populate([40, 10, 0]);
    const text = strata(["cache", "--cache-dir", dir]);
    expect(text.code).toBe(0);
    expect(text.stderr).toBe("");
    expect(text.stdout).toContain(`layer cache: ${path.join(dir, DB_FILE)}\n`);
    expect(text.stdout).toContain("  layers: 3 (3 compressed blobs)\n");
    expect(text.stdout).toContain("  layout file stamps: 3\n");
    expect(text.stdout).toMatch(/ {2}last used: oldest \d{4}-\d\d-\d\dT.*, newest \d{4}-/);
    const json = strata(["cache", "show", "--cache-dir", dir, "--json"]);
    expect(json.code).toBe(0);
    const s = JSON.parse(json.stdout) as Record<string, unknown>;
    expect(s).toMatchObject({ path: path.join(dir, DB_FILE), usable: true, layers: 3, blobs: 3, files: 3 });
    expect(s["bytes"]).toBe(fs.statSync(path.join(dir, DB_FILE)).size + (fs.statSync(`${path.join(dir, DB_FILE)}-wal`, { throwIfNoEntry: false })?.size ?? 0));
    const age = (Date.now() - Date.parse(s["oldest"] as string)) / DAY;
    expect(age).toBeGreaterThan(39.9);
    expect(age).toBeLessThan(40.1);
    expect(Date.now() - Date.parse(s["newest"] as string)).toBeLessThan(60_000);
  });

  it("shows a cache that does not exist yet without creating it", () => {
    const where = path.join(dir, "none");
    const r = strata(["cache", "show", "--cache-dir", where, "--json"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ path: path.join(where, DB_FILE), layers: 0 });
    expect(fs.existsSync(where)).toBe(false);
  });

  it("prunes what was not used for --older-than days (default 30), and stamps of files that are gone", () => {
    populate([40, 31, 10, 0]);
    const r = strata(["cache", "prune", "--cache-dir", dir, "--json"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ layers: 2, files: 4 }); // every stamped file is gone
    const t = strata(["cache", "prune", "--older-than", "5", "--cache-dir", dir]);
    expect(t.stdout).toBe("removed 1 layer and 0 layout file stamps not used for 5 days or whose files are gone\n");
    expect(JSON.parse(strata(["cache", "--json", "--cache-dir", dir]).stdout)).toMatchObject({ layers: 1 });
  });

  it("clears everything, also a corrupt database, which a build only warns about", () => {
    populate([1, 2]);
    expect(strata(["cache", "clear", "--cache-dir", dir]).stdout).toBe("removed 2 layers and 2 layout file stamps\n");
    fs.rmSync(path.join(dir, DB_FILE));
    fs.writeFileSync(path.join(dir, DB_FILE), "this is not a database, and it is long enough to have a header...".repeat(100));
    const show = strata(["cache", "--cache-dir", dir]);
    expect(show.code).toBe(0);
    expect(show.stdout).toContain("  unusable: ");
    expect(show.stderr).toMatch(/^strata: warning: layer cache disabled: .* is not a SQLite database/);
    expect(strata(["cache", "prune", "--cache-dir", dir]).code).toBe(1); // nothing to prune in garbage: say so
    const clear = strata(["cache", "clear", "--cache-dir", dir, "--json"]);
    expect(clear.code).toBe(0);
    expect(JSON.parse(clear.stdout)).toEqual({ layers: 0, files: 0 });
    const after = strata(["cache", "--cache-dir", dir, "--json"]);
    expect(after.stderr).toBe("");
    expect(JSON.parse(after.stdout)).toMatchObject({ usable: true, layers: 0 });
  });

  it("finds the cache in $XDG_CACHE_HOME/strata", () => {
    const r = strata(["cache", "--json"], { ...process.env, XDG_CACHE_HOME: dir });
    expect(JSON.parse(r.stdout)).toMatchObject({ path: path.join(dir, "strata", DB_FILE) });
    const h = strata(["cache", "--json"], { ...process.env, XDG_CACHE_HOME: "", HOME: dir });
    expect(JSON.parse(h.stdout)).toMatchObject({ path: path.join(dir, ".cache", "strata", DB_FILE) });
  });

  it.each([
    [["cache", "frob"], /unknown cache action "frob"/],
    [["cache", "show", "prune"], /strata cache takes one action/],
    [["cache", "show", "--older-than", "3"], /--older-than applies to prune/],
    [["cache", "prune", "--older-than", "a week"], /--older-than must be a number of days/],
  ])("refuses %j with exit 2 and one line", (args, message) => {
    const r = strata([...args, "--cache-dir", dir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`^strata: E_USAGE: ${message.source}`));
    expect(r.stderr.trimEnd().split("\n")).toHaveLength(2);
  });
});
