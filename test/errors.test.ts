/** Errors: every code is documented, and errors survive the trip through a worker thread. */
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ERROR_CODES, StrataError, isStrataErrorWire, toStrataError } from "../src/errors.js";

describe("errors", () => {
  it("documents every code in docs/errors.md, and no other", () => {
    const doc = fs.readFileSync(path.join(import.meta.dirname, "../docs/errors.md"), "utf8");
    const documented = [...doc.matchAll(/^\| `(E_[A-Z_]+)` \|/gm)].map((m) => m[1]);
    expect(documented).toEqual([...ERROR_CODES]);
  });

  it("keeps code, message and hint through the wire form (structured clone)", () => {
    const e = new StrataError("E_FILE_CHANGED", "x changed", "do y", { cause: new Error("because") });
    const cloned = structuredClone(e.toWire());
    expect(isStrataErrorWire(cloned)).toBe(true);
    const back = toStrataError(cloned);
    expect(back).toBeInstanceOf(StrataError);
    expect([back.code, back.message, back.hint, (back.cause as Error).message]).toEqual(["E_FILE_CHANGED", "x changed", "do y", "because"]);
  });

  it("maps system errors by errno", () => {
    const enospc = Object.assign(new Error("write ENOSPC"), { code: "ENOSPC" });
    expect(toStrataError(enospc).code).toBe("E_WRITE");
    expect(toStrataError(Object.assign(new Error("EPIPE"), { code: "EPIPE" })).code).toBe("E_OUTPUT_CLOSED");
    expect(toStrataError(new Error("something odd")).code).toBe("E_INTERNAL");
  });
});
