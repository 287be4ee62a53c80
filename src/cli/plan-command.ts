/**
 * `strata plan`: the layers a build would make, as a table or as JSON in nixpkgs' `store_layers`
 * form (which `--previous` and conf.json take back); `--compare A.json B.json` reports how much
 * two plans share.
 */
import { closureOf } from "../closure/closure-of.js";
import { planImage, readBuildGraph, type BuildOptions } from "../build.js";
import { StrataError } from "../errors.js";
import { readInputFile } from "../input-file.js";
import { human } from "../format-bytes.js";
import { compareLayerPlans } from "../plan/compare.js";
import { parseLayerPlan } from "../plan/layer-plan-json.js";
import { baseImageInfo, openBaseImage } from "../image/base-image.js";

/** The plan as text (a table, or JSON); a base image (--from) is read and verified, and `options.signal` stops that. */
export async function runPlan(options: BuildOptions, json: boolean, warn: (m: string) => void): Promise<string> {
  const base = await openBaseImage(options.from, options);
  try {
    const plan = planImage(options, baseImageInfo(base));
    plan.warnings.forEach(warn);
    if (json) return JSON.stringify(plan.storeLayers, null, 2) + "\n";
    const size = (p: string): number => plan.graph.paths.get(p)?.narSize ?? 0;
    const rows = plan.storeLayers.map((paths, i) => {
      const closure = closureOf(plan.graph, paths);
      const closureSize = [...closure.paths.values()].reduce((n, x) => n + x.narSize, 0);
      return [String(i + 1 + plan.baseLayers), String(paths.length), human(paths.reduce((n, p) => n + size(p), 0)), human(closureSize), names(paths)];
    });
    return table(["layer", "paths", "size", "closure", "store paths"], rows) +
      `${plan.storeLayers.length} store layers${plan.baseLayers > 0 ? ` after ${plan.baseLayers} base layers` : ""}, then the customisation layer; ${plan.repoTag}\n`;
  } finally {
    await base?.cleanup();
  }
}

/** How much two plans share, as text (a summary, or JSON). */
export function runCompare(files: readonly string[], options: Pick<BuildOptions, "graph" | "fromStore" | "storeRoot">, json: boolean): string {
  if (files.length !== 2) throw new StrataError("E_USAGE", `--compare takes two plan files, got ${files.length}`, "strata plan --compare A.json B.json --graph GRAPH.json");
  if (options.graph === undefined && options.fromStore === undefined) {
    throw new StrataError("E_USAGE", "--compare needs the paths' sizes: give --graph or --from-store", "e.g. strata plan --compare A.json B.json --graph graph.json");
  }
  const graph = readBuildGraph(options);
  const [a, b] = files.map((f) => parseLayerPlan(readInputFile(f, { code: "E_USAGE", what: "--compare" }), f)) as [ReturnType<typeof parseLayerPlan>, ReturnType<typeof parseLayerPlan>];
  const r = compareLayerPlans(a, b, (p) => graph.paths.get(p)?.narSize ?? 0);
  if (json) return JSON.stringify(r, null, 2) + "\n";
  const pct = (x: number, of: number): string => (of === 0 ? "-" : `${((100 * x) / of).toFixed(1)}%`);
  return `${files[0]}: ${r.a.layers} layers, ${human(r.a.bytes)}\n${files[1]}: ${r.b.layers} layers, ${human(r.b.bytes)}\n` +
    `shared: ${r.shared.layers} layers, ${human(r.shared.bytes)} (${pct(r.shared.bytes, r.b.bytes)} of the second plan's bytes need not be shipped again)\n`;
}

function names(paths: readonly string[]): string {
  const short = paths.map((p) => p.replace(/^.*\/[0-9a-z]{32}-/, ""));
  const text = short.slice(0, 4).join(" ");
  return short.length > 4 ? `${text} +${short.length - 4} more` : text;
}

function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]): string => r.map((c, i) => (i === r.length - 1 ? c : i < 4 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join("  ").trimEnd() + "\n";
  return line(head) + rows.map(line).join("");
}
