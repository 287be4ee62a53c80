/**
 * Progress without a real terminal (test/cli/terminal.test.ts has one): the bar at every width,
 * the log's few lines on a fake clock, the summary's content and width, --json's `done`.
 */
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import type { ProgressEvent } from "../../src/image/image-spec.js";
import type { Digest } from "../../src/digest.js";
import { progressReporter, summary, type Outcome } from "../../src/cli/progress.js";
import { barLine, logLine, type ProgressState } from "../../src/cli/progress-line.js";
import { human } from "../../src/format-bytes.js";

const D = (c: string): Digest => `sha256:${c.repeat(64)}` as Digest;

const outcome: Outcome = {
  repoTags: ["strata-image:0m6wd8i0ga3zcxjk1yd3l1pfjcv8xqc9"],
  destination: "/tmp/out/hello.tar.zst",
  format: "oci-archive",
  imageId: D("a"),
  manifestDigest: D("b"),
  layers: Array.from({ length: 62 }, (_, i) => ({ diffId: D(String(i % 10)), size: 22_580_645 })),
  bytes: 47_300_000,
  compress: "zstd",
};

/** A stream that records what is written, posing as a terminal of `columns` or as a pipe. */
function sink(columns?: number): { stream: NodeJS.WriteStream; text: () => string } {
  const s = new PassThrough() as unknown as NodeJS.WriteStream & PassThrough;
  let out = "";
  s.write = ((chunk: string) => ((out += chunk), true)) as typeof s.write;
  if (columns !== undefined) Object.assign(s, { isTTY: true, columns });
  return { stream: s, text: () => out };
}

describe("the bar", () => {
  const mid: ProgressState = { layers: 62, done: 60, bytes: 1_180_000_000, total: 1_400_000_000, seconds: 20 };

  it("never takes more than the terminal's width less one column, at any width", () => {
    for (let columns = 2; columns <= 200; columns++) {
      for (const s of [mid, { ...mid, total: 0 }, { ...mid, bytes: 0, seconds: 0, done: 0 }]) {
        const line = barLine(s, columns);
        expect(line.length, `${columns} columns: ${line}`).toBeLessThanOrEqual(columns - 1 || 1);
        expect(line).not.toMatch(/\n|\r/);
      }
    }
  });

  it("counts bytes, not layers: 60 of 62 layers done with a large layer left is 84%, with rate and time left", () => {
    const line = barLine(mid, 120);
    expect(line).toMatch(/^\[#{25}\.{5}\] 84% {2}1\.18 GB\/1\.40 GB {2}59\.0 MB\/s {2}4 s left {2}60\/62 layers$/);
    // 40 columns: the bar and the most important fields only.
    expect(barLine(mid, 40)).toBe("[#############...] 84%  1.18 GB/1.40 GB");
  });

  it("without an estimate (strata stream), counts layers and shows bytes and rate", () => {
    expect(barLine({ ...mid, total: 0 }, 80)).toMatch(/^\[#+\.*\] 60\/62 layers {2}1\.18 GB {2}59\.0 MB\/s$/);
  });

  it("stays below 100% until every layer is done, whatever the estimate said", () => {
    expect(barLine({ ...mid, bytes: 2e9 }, 80)).toMatch(/ 99% /);
    expect(barLine({ ...mid, bytes: 2e9, done: 62 }, 80)).toMatch(/ 100% /);
  });
});

describe("a log (no terminal)", () => {
  it("a start line, one progress line per interval, the summary: a few lines, not one per layer", () => {
    let t = 0;
    const { stream, text } = sink();
    const p = progressReporter("auto", { stream, env: {}, interval: 15_000, now: () => t });
    const events: ProgressEvent[] = [
      { type: "plan", repoTag: outcome.repoTags[0]!, layers: 62, estimatedBytes: 1_400_000_000 },
      { type: "start", layers: 62 },
    ];
    events.forEach(p.onProgress);
    for (let i = 0; i < 62; i++) {
      t += 1000; // 62 s in all: four progress lines at 15, 30, 45, 60 s
      p.onProgress({ type: "bytes", bytes: 22_580_645 });
      p.onProgress({ type: "layer", index: i, layers: 62, diffId: D("c"), size: 22_580_645 });
    }
    p.onProgress({ type: "done", imageId: outcome.imageId, bytes: outcome.bytes });
    p.finish(outcome);
    p.close();
    const lines = text().trimEnd().split("\n");
    expect(lines[0]).toBe(`strata: building ${outcome.repoTags[0]}: 62 layers, about 1.40 GB of layers`);
    const progress = lines.filter((l) => /^strata: \d+%/.test(l));
    expect(progress).toHaveLength(4);
    expect(progress[0]).toBe("strata: 24% (338.7 MB of 1.40 GB, 14/62 layers), 22.6 MB/s, about 48 s left");
    expect(text()).not.toMatch(/\r|\x1b/);
    expect(lines.slice(5).join("\n") + "\n").toBe(summary(outcome, 62));
  });

  it("TERM=dumb on a terminal is a log too: no escape sequences", () => {
    const { stream, text } = sink(40);
    const p = progressReporter("auto", { stream, env: { TERM: "dumb" }, now: () => 0 });
    p.onProgress({ type: "start", layers: 3 });
    p.onProgress({ type: "bytes", bytes: 10 });
    p.finish(outcome);
    p.close();
    expect(text()).not.toMatch(/\r|\x1b/);
    expect(text()).toMatch(/^strata: writing 3 layers\n/);
  });
});

describe("the summary", () => {
  it("names the image, where it went, its ID and manifest digest, sizes in one unit system; within 80 columns", () => {
    const text = summary(outcome, 43.82);
    expect(text).toBe([
      "strata: built strata-image:0m6wd8i0ga3zcxjk1yd3l1pfjcv8xqc9",
      ` image  ${D("a")}`,
      ` digest ${D("b")}`,
      " to     /tmp/out/hello.tar.zst (oci-archive)",
      " layers 62, 1.40 GB in 43.8 s (31.9 MB/s); 47.3 MB written (zstd)",
      "",
    ].join("\n"));
    for (const line of text.split("\n")) expect(line.length, line).toBeLessThanOrEqual(80);
    expect(human(1_400_000_000 / 43.82)).toBe("31.9 MB");
  });

  it("a registry push says how many layers were reused and how many built, within 80 columns", () => {
    const layers = outcome.layers.map((l, i) => ({ ...l, outcome: i < 50 ? "present" as const : i < 60 ? "mounted" as const : "written" as const }));
    const text = summary({ ...outcome, layers, destination: "docker://ghcr.io/me/app:1.0", format: "oci" }, 2);
    expect(text).toMatch(/\n reused 50 layers already there, 10 mounted from another repository; 2 built\n$/);
    for (const line of text.split("\n")) expect(line.length, line).toBeLessThanOrEqual(80);
    expect(summary(outcome, 1)).not.toMatch(/reused/);
  });

  it("a docker-archive has no manifest digest line", () => {
    expect(summary({ ...outcome, manifestDigest: undefined, format: "docker-archive" }, 1)).not.toMatch(/digest/);
  });
});

describe("--json", () => {
  it("holds the library's done back and sends it with the result; an error is an event", () => {
    const { stream, text } = sink();
    const p = progressReporter("json", { stream, now: () => 0 });
    p.onProgress({ type: "start", layers: 62 });
    p.onProgress({ type: "done", imageId: outcome.imageId, bytes: 47_300_000 });
    expect(text()).not.toMatch(/"done"/);
    p.finish(outcome);
    const events = text().trimEnd().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(events.at(-1)).toMatchObject({ type: "done", repoTags: outcome.repoTags, destination: outcome.destination, manifestDigest: D("b"), bytes: 47_300_000 });
    expect(logLine({ layers: 1, done: 0, bytes: 0, total: 0, seconds: 0 })).toBe("strata: 0/1 layers, 0.0 kB");
  });
});
