import { describe, expect, it } from "vitest";
import { parseLayerPlan } from "../../src/plan/layer-plan-json.js";

describe("parseLayerPlan", () => {
  it("reads nixpkgs' store_layers format (what `strata plan --json` writes)", () => {
    expect(parseLayerPlan('[["/nix/store/a-x"], ["/nix/store/b-y", "/nix/store/c-z"], []]', "plan.json")).toEqual([
      ["/nix/store/a-x"],
      ["/nix/store/b-y", "/nix/store/c-z"],
      [],
    ]);
  });

  it.each([
    ["[", /^plan\.json: malformed JSON \(/],
    ['{"layers": []}', /^plan\.json: expected a list of layers, found an object$/],
    ['["/nix/store/a-x"]', /^plan\.json: layer 1 should be a list of store paths, found the string "\/nix\/store\/a-x"$/],
    ['[["/nix/store/a-x", 3]]', /^plan\.json: layer 1, item 2 should be a store path, found number 3$/],
    ['[["/nix/store/a-x"], ["/nix/store/a-x"]]', /^plan\.json: \/nix\/store\/a-x is listed in layers 1 and 2$/],
    ['[["/nix/store/a-x", "/nix/store/a-x"]]', /^plan\.json: \/nix\/store\/a-x is listed twice in layer 1$/],
  ])("rejects %s", (text, message) => {
    expect(() => parseLayerPlan(text, "plan.json")).toThrow(expect.objectContaining({ code: "E_USAGE", message: expect.stringMatching(message) }));
  });
});
