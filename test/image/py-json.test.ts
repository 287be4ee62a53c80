/**
 * The image config's strings as Python writes them (py-json.ts): json.dumps with ensure_ascii,
 * and repr() for the history comments. Checked against python3 itself on random strings, plain
 * (the fast path: copied whole) and not (quotes, backslashes, control characters, non-ASCII,
 * an astral character and a lone surrogate).
 */
import { execFileSync } from "node:child_process";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { pythonJsonString, pythonReprList, pythonReprString } from "../../src/image/py-json.js";

/** Python's json.dumps(s) and repr(s) for each string (sent and received as ASCII JSON). */
function python(strings: string[]): { json: string; repr: string }[] {
  const script = "import json,sys\nxs=json.load(sys.stdin)\nprint(json.dumps([{'json': json.dumps(x), 'repr': repr(x)} for x in xs]))";
  return JSON.parse(execFileSync("python3", ["-c", script], { input: JSON.stringify(strings), maxBuffer: 1 << 26 }).toString());
}

const tricky = fc.constantFrom("'", '"', "\\", "\n", "\t", "\x7f", "\x00", "é", "\u00a0", "\u2028", "\u{1f600}", "\ud800", "/nix/store/", "it's", 'say "hi"', "both ' and \"");
const strings = fc.array(fc.oneof(
  fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)) }),
  // Code points below U+0800 only: Python's idea of printable follows its Unicode version (3.11
  // here: Unicode 14), Node's its ICU's (15.1), and they differ on characters added since.
  fc.string({ unit: fc.integer({ min: 0, max: 0x7ff }).map((c) => String.fromCharCode(c)) }),
  fc.array(tricky, { maxLength: 6 }).map((a) => a.join("")),
), { minLength: 200, maxLength: 200 });

describe("Python's JSON and repr of strings", () => {
  it("match python3 on random strings", () => {
    fc.assert(fc.property(strings, (xs) => {
      const theirs = python(xs);
      xs.forEach((x, i) => {
        expect(pythonJsonString(x)).toBe(theirs[i]!.json);
        expect(pythonReprString(x)).toBe(theirs[i]!.repr);
      });
    }), { numRuns: 10 });
  });

  it("a list of store paths as a history comment names them", () => {
    expect(pythonReprList(["/nix/store/abc-x", "/nix/store/def-it's"])).toBe(`['/nix/store/abc-x', "/nix/store/def-it's"]`);
  });
});
