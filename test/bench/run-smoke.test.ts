/**
 * `npm run bench` (bench/run.mjs, issue 5) end to end on a tiny closure: every case runs, the
 * harness's arithmetic (MB/s, ratios to the floors, scaling, goals) is consistent with the samples
 * it recorded, and it writes its JSON and markdown where told, leaving bench/results/ and its
 * scratch directory as they were. The numbers themselves mean nothing at this size; this guards
 * the harness, so that the real run (~10 min) does not break unnoticed.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { requireTool } from "../helpers/interop.js";

const REPO = path.resolve(import.meta.dirname, "../..");
const TOOLS = ["tar", "openssl", "zstd", "pigz", "time", "taskset", "python3"];

interface BenchCase {
  kind: "strata" | "floor" | "reference";
  seconds: number[];
  failures: string[];
  medianSeconds: number | null;
  mbPerSecond?: number;
  floor?: string;
  ratioToFloor?: number;
  outputBytes?: number;
  peakRssBytes: number | null;
  filesPerSecond?: number;
  closure: string;
}

interface BenchResult {
  options: { wait: boolean; rounds: number };
  machine: { cores: number };
  closures: Record<string, { files: number; archiveBytes: number; tarBytes: number; narBytes: number; zstdBytes: number }>;
  cases: Record<string, BenchCase>;
  scaling: { workers: number; uncompressedSeconds?: number; zstdSeconds?: number }[];
  problems: string[];
  notes: string[];
  goals: { name: string; target: string; value: number | null; met: boolean | null }[];
}

const haveTools = TOOLS.map((t) => requireTool(t)).every(Boolean);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "strata-bench-smoke-"));

afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe.skipIf(!haveTools)("npm run bench, on a tiny closure", () => {
  it("runs every case and reports consistent numbers", () => {
    const resultsDir = path.join(REPO, "bench", "results");
    const before = fs.readdirSync(resultsDir).sort();
    const scratch = path.join(tmp, "scratch");
    const out = path.join(tmp, "r.json");
    const r = spawnSync(process.execPath, [
      "bench/run.mjs", "--quick", "--size", "6M", "--small-files", "300", "--rounds", "1", "--no-cold", "--no-wait", "--dir", scratch, "--out", out,
    ], { cwd: REPO, encoding: "utf8", timeout: 300_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/FAILED/);

    const res = JSON.parse(fs.readFileSync(out, "utf8")) as BenchResult;
    expect(res.options.wait).toBe(false);
    expect(res.problems).toEqual([]);
    expect(res.notes.some((n) => n.includes("--no-wait"))).toBe(true);

    const cores = res.machine.cores;
    const expected = [
      "none-pipe", "none-null", "none-file", "ref-tarfile", "floor-sha", "zstd", "oci-zstd", "floor-zstd", "gz", "floor-pigz",
      "small-none-pipe", "small-none-null", "small-floor-sha",
      ...Array.from({ length: cores - 1 }, (_, i) => [`none-null-j${i + 1}`, `zstd-j${i + 1}`, `none-null-c${i + 1}`, `zstd-c${i + 1}`]).flat(),
    ];
    expect(Object.keys(res.cases).sort()).toEqual([...expected].sort());
    for (const [id, c] of Object.entries(res.cases)) {
      expect(c.failures, id).toEqual([]);
      expect(c.seconds.length, id).toBe(1);
      expect(c.medianSeconds, id).toBe(c.seconds[0]);
      expect(c.peakRssBytes, id).toBeGreaterThan(0);
    }

    // Bytes: the archive holds the closure's files plus headers; compression shrinks it.
    const main = res.closures["main"]!;
    expect(main.archiveBytes).toBeGreaterThan(main.narBytes);
    expect(main.tarBytes).toBeGreaterThan(0);
    expect(main.zstdBytes).toBeLessThan(main.archiveBytes);

    // The derived numbers are the samples' arithmetic.
    const t = (id: string): number => res.cases[id]!.medianSeconds!;
    expect(res.cases["none-null"]!.mbPerSecond).toBeCloseTo(main.archiveBytes / 1e6 / t("none-null"), 6);
    expect(res.cases["floor-sha"]!.mbPerSecond).toBeCloseTo(main.tarBytes / 1e6 / t("floor-sha"), 6);
    for (const [id, floor] of [["none-pipe", "floor-sha"], ["none-file", "floor-sha"], ["zstd", "floor-zstd"], ["oci-zstd", "floor-zstd"], ["gz", "floor-pigz"], ["small-none-pipe", "small-floor-sha"]] as const) {
      expect(res.cases[id]!.floor, id).toBe(floor);
      expect(res.cases[id]!.ratioToFloor, id).toBeCloseTo(t(id) / t(floor), 9);
    }
    expect(res.cases["small-none-pipe"]!.filesPerSecond).toBeCloseTo(res.closures["small"]!.files / t("small-none-pipe"), 6);
    expect(res.scaling.map((s) => s.workers)).toEqual(Array.from({ length: cores }, (_, i) => i + 1));
    expect(res.scaling.at(-1)!.zstdSeconds).toBe(t("zstd"));

    // Every goal is judged, from those numbers; the 4G comparison only with --full.
    const goal = (prefix: string) => res.goals.find((g) => g.name.startsWith(prefix))!;
    expect(goal("uncompressed to a pipe").value).toBe(res.cases["none-pipe"]!.ratioToFloor);
    expect(goal("uncompressed to a pipe").met).toBe(res.cases["none-pipe"]!.ratioToFloor! <= 1.0);
    expect(goal("zstd vs").value).toBe(res.cases["zstd"]!.ratioToFloor);
    expect(goal("peak RSS 4G").value).toBeNull();
    for (const g of res.goals.filter((x) => !x.name.startsWith("peak RSS 4G"))) {
      expect(Number.isFinite(g.value), g.name).toBe(true);
      expect(typeof g.met, g.name).toBe("boolean");
    }

    const md = fs.readFileSync(out.replace(/\.json$/, ".md"), "utf8");
    expect(md).toContain("| goal | target | measured |");
    expect(md).toContain("strata, uncompressed | cat > /dev/null".replace(/\|/g, "\\|"));

    // Its scratch directory (closures, outputs, spool) is gone, and bench/results/ untouched.
    expect(fs.existsSync(scratch)).toBe(false);
    expect(fs.readdirSync(resultsDir).sort()).toEqual(before);
  });
});
