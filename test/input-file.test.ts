/** readInputFile: a file the user named, or one error that names it (with the caller's code). */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { readInputFile } from "../src/input-file.js";
import { runCompare } from "../src/cli/plan-command.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "strata-input-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe("readInputFile", () => {
  it("returns the text of a file", () => {
    fs.writeFileSync(path.join(dir, "a.json"), "[1]");
    expect(readInputFile(path.join(dir, "a.json"), { code: "E_USAGE", what: "--config" })).toBe("[1]");
  });

  it("names a missing file, a directory, and what each was for, with the caller's code", () => {
    const missing = path.join(dir, "missing.json");
    expect(() => readInputFile(missing, { code: "E_CLOSURE_INPUT", what: "the references graph" }))
      .toThrow(expect.objectContaining({ code: "E_CLOSURE_INPUT", message: `cannot read the references graph ${missing}: no such file`, hint: "check the path" }));
    expect(() => readInputFile(dir, { code: "E_USAGE", what: "--config", hint: "give a file" }))
      .toThrow(expect.objectContaining({ code: "E_USAGE", message: `cannot read --config ${dir}: it is a directory`, hint: "give a file" }));
  });

  it("makes `plan --compare` report a missing plan file as a usage error naming it (it said E_STORE_PATH)", () => {
    const graph = path.join(dir, "graph.json");
    fs.writeFileSync(graph, JSON.stringify([{ path: "/nix/store/00000000000000000000000000000000-a", references: [], narSize: 1 }]));
    const missing = path.join(dir, "nope.json");
    expect(() => runCompare([missing, missing], { graph }, false))
      .toThrow(expect.objectContaining({ code: "E_USAGE", message: `cannot read --compare ${missing}: no such file` }));
  });
});
