/**
 * The outputs of a `.drv` file, for the DerivationOutputs table. When Nix registers a derivation
 * as valid it reads the file and records each output whose path is known (input-addressed and
 * fixed-output derivations; floating content-addressed outputs have an empty path and are
 * skipped). Only the first field of the ATerm is needed:
 *
 *   Derive([("out","/nix/store/...-hello","",""),("dev","/nix/store/...-hello-dev","","")],...)
 */
import { StrataError } from "../errors.js";

export interface DerivationOutput {
  /** The output name, usually "out". */
  readonly id: string;
  readonly path: string;
}

/** The outputs with a known path, in the order of the file (Nix sorts them by name). */
export function parseDerivationOutputs(text: string, drvPath: string): DerivationOutput[] {
  const fail = (what: string): never => {
    throw new StrataError("E_STORE_PATH", `${drvPath} is not a derivation Nix can register: ${what}`,
      "leave .drv files out of the closure, or rebuild the derivation");
  };
  if (!text.startsWith("Derive([")) {
    const head = JSON.stringify(text.slice(0, 24));
    return fail(text.startsWith("DrvWithVersion(") ? "a versioned (dynamic) derivation, which strata does not read" : `expected it to start with "Derive([", found ${head}`);
  }
  let i = "Derive([".length;
  const expect = (s: string): void => {
    if (!text.startsWith(s, i)) fail(`expected ${JSON.stringify(s)} at offset ${i}, found ${JSON.stringify(text.slice(i, i + 12))}`);
    i += s.length;
  };
  const str = (): string => {
    expect('"');
    let out = "";
    for (;;) {
      const c = text[i++];
      if (c === undefined) return fail("a string runs to the end of the file");
      if (c === '"') return out;
      if (c !== "\\") {
        out += c;
        continue;
      }
      const e = text[i++];
      out += e === "n" ? "\n" : e === "r" ? "\r" : e === "t" ? "\t" : (e ?? "");
    }
  };
  const outputs: DerivationOutput[] = [];
  if (text[i] === "]") return outputs;
  for (;;) {
    expect("(");
    const id = str();
    expect(",");
    const path = str();
    expect(",");
    str(); // hash algorithm ("" unless fixed-output or content-addressed)
    expect(",");
    str(); // hash
    expect(")");
    if (path !== "") outputs.push({ id, path });
    if (text[i] === "]") return outputs;
    expect(",");
  }
}
