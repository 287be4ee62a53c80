import { describe, expect, it } from "vitest";
import { parseDerivationOutputs } from "../../src/nixdb/derivation-outputs.js";

describe("parseDerivationOutputs", () => {
  it("reads the outputs with a path, skipping floating content-addressed ones", () => {
    const drv = 'Derive([("dev","/nix/store/aaaa-x-dev","",""),("out","/nix/store/bbbb-x","",""),("lib","","r:sha256","")],[("/nix/store/cccc-y.drv",["out"])],[],"x86_64-linux","/bin/sh",["-c","echo \\"hi\\""],[("out","/nix/store/bbbb-x")])';
    expect(parseDerivationOutputs(drv, "/nix/store/dddd-x.drv")).toEqual([
      { id: "dev", path: "/nix/store/aaaa-x-dev" },
      { id: "out", path: "/nix/store/bbbb-x" },
    ]);
  });

  it("reads fixed-output derivations and escapes", () => {
    const drv = 'Derive([("out","/nix/store/eeee-src\\"q","sha256","0123")],[],[],"x","b",[],[])';
    expect(parseDerivationOutputs(drv, "/nix/store/ffff-src.drv")).toEqual([{ id: "out", path: '/nix/store/eeee-src"q' }]);
    expect(parseDerivationOutputs("Derive([],[],[],\"x\",\"b\",[],[])", "/nix/store/g.drv")).toEqual([]);
  });

  it("refuses what is not a derivation, naming it", () => {
    expect(() => parseDerivationOutputs("hello", "/nix/store/h.drv")).toThrow(expect.objectContaining({
      code: "E_STORE_PATH",
      message: '/nix/store/h.drv is not a derivation Nix can register: expected it to start with "Derive([", found "hello"',
    }));
    expect(() => parseDerivationOutputs('Derive([("out","/nix/st', "/nix/store/i.drv")).toThrow(expect.objectContaining({ code: "E_STORE_PATH" }));
    expect(() => parseDerivationOutputs('DrvWithVersion("xp-dyn-drv",[])', "/nix/store/j.drv")).toThrow(expect.objectContaining({ message: expect.stringContaining("dynamic") }));
  });
});
