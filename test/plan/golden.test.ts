/**
 * Golden plans for the fixture closure of fixture-closure.ts (300 paths, 612 references, the
 * closure of two apps), one per strategy, in golden/fixture-plans.json.
 *
 * Checked by hand before the file was first committed:
 *   - auto (limits 99, 9 and 3, the apps as one synthetic root of narSize 0) and popularity (11
 *     store layers, the same root group) are identical, path for path, to the output of
 *     independent Python restatements of auto-layer.py and closure-graph.py + the jq split, run
 *     with PYTHONHASHSEED=0 (no closureSize ties occur, so no tie-break was involved);
 *   - the pipeline plan's first layer is exactly glibc's closure (glibc: it references nothing),
 *     the next 7 are single paths of falling popularity in the rest, the last holds everything
 *     else; a Python restatement of subcomponent_out, popularity_contest and limit_layers agrees;
 *   - every plan lists each of the 300 paths exactly once, within its layer limit; auto's
 *     limit-3 plan has 2 layers (the synthetic root held the third slot, then vanished).
 * Regenerate (then re-check) with STRATA_UPDATE_GOLDEN=1 npx vitest run test/plan/golden.test.ts.
 */

import { readFileSync, writeFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { planLayers, type PlanLayersOptions } from "../../src/plan/plan-layers.js";
import { fixtureClosure } from "./fixture-closure.js";

const GOLDEN = new URL("golden/fixture-plans.json", import.meta.url);
const { graph, roots } = fixtureClosure();
const glibc = [...graph.paths.keys()].find((path) => path.endsWith("-glibc-2.40")) as string;

const CASES: Record<string, PlanLayersOptions> = {
  "auto maxLayers=100": { rootGroups: [roots] },
  "auto maxLayers=12 baseLayers=2": { maxLayers: 12, baseLayers: 2, rootGroups: [roots] },
  "auto maxLayers=4": { maxLayers: 4, rootGroups: [roots] },
  "popularity maxLayers=12": { strategy: "popularity", maxLayers: 12, rootGroups: [roots] },
  "pipeline glibc closure, popularity of the rest in 8": {
    strategy: {
      pipeline: [["subcomponent_out", [glibc]], ["over", "rest", ["pipe", [["popularity_contest"], ["limit_layers", 8]]]], ["flatten"]],
    },
  },
};

describe("golden plans of the fixture closure", () => {
  const plans = Object.fromEntries(Object.entries(CASES).map(([name, options]) => [name, planLayers(graph, options)]));
  if (process.env["STRATA_UPDATE_GOLDEN"] === "1") writeFileSync(GOLDEN, `${JSON.stringify(plans, null, 1)}\n`);
  const golden = JSON.parse(readFileSync(GOLDEN, "utf8")) as Record<string, string[][]>;

  it.each(Object.keys(CASES))("%s", (name) => {
    expect(plans[name]).toEqual(golden[name]);
  });

  it("covers the fixture: every path once in every plan", () => {
    for (const plan of Object.values(golden)) expect(plan.flat().sort()).toEqual([...graph.paths.keys()].sort());
    expect(golden["auto maxLayers=4"]).toHaveLength(2);
  });
});
