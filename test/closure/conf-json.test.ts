/**
 * conf.json's paths are checked like a graph's (issue 15, item 7): every store_layers entry is a
 * store path directly under store_dir, and customisation_layer / from_image, when under store_dir,
 * are store paths (from_image: or a file inside one); nothing with `..`.
 */
import { describe, expect, it } from "vitest";
import { parseStreamConf } from "../../src/closure/conf-json.js";

const H = "0123456789abcdfghijklmnpqrsvwxyz";
const good = {
  store_dir: "/nix/store",
  from_image: null,
  store_layers: [[`/nix/store/${H}-glibc-2.40`], [`/nix/store/${H}-hello-2.12`]],
  customisation_layer: `/nix/store/${H}-hello-customisation-layer`,
  repo_tag: "hello:latest",
  created: "1970-01-01T00:00:01+00:00",
  config: {},
};
const parse = (change: object): unknown => parseStreamConf(JSON.stringify({ ...good, ...change }), "conf.json");

describe("parseStreamConf path checks", () => {
  it("accepts what nixpkgs writes, and from_image as a store path, a file in one, or a host file", () => {
    expect(() => parse({})).not.toThrow();
    expect(() => parse({ from_image: `/nix/store/${H}-base.tar.gz` })).not.toThrow();
    expect(() => parse({ from_image: `/nix/store/${H}-base/image.tar` })).not.toThrow();
    expect(() => parse({ from_image: "/tmp/work/base.tar", customisation_layer: "/tmp/work/cust" })).not.toThrow();
  });

  it.each([
    ["a path that climbs out of the store", "/nix/store/../../tmp/x"],
    ["the store itself (it would pack the whole store)", "/nix/store"],
    ["the store with a slash", "/nix/store/"],
    ["a store path with a trailing slash", `/nix/store/${H}-hello-2.12/`],
    ["a file inside a store path", `/nix/store/${H}-hello-2.12/bin`],
    ["a '..' right under the store", "/nix/store/.."],
    ["a name without a Nix hash", "/nix/store/hello"],
    ["a hash with letters Nix never uses", `/nix/store/${"e".repeat(32)}-x`],
    ["a path outside store_dir", "/usr/lib"],
  ])("refuses in store_layers %s: E_STORE_PATH naming it", (_, p) => {
    expect(() => parse({ store_layers: [[`/nix/store/${H}-ok`, p]] }))
      .toThrow(expect.objectContaining({ code: "E_STORE_PATH", message: expect.stringContaining(JSON.stringify(p)) }));
  });

  it.each([
    ["customisation_layer", "/nix/store/../../etc"],
    ["customisation_layer", "/nix/store"],
    ["customisation_layer", `/nix/store/${H}-cust/..`],
    ["customisation_layer", `/nix/store/${H}-cust/layer`],
    ["customisation_layer", "/tmp/../etc"],
    ["customisation_layer", ""],
    ["from_image", `/nix/store/${H}-base/../../../etc/shadow`],
    ["from_image", "/nix/store"],
    ["from_image", `/nix/store/${H}-base//image.tar`],
    ["from_image", "/nix/store/base.tar"],
    ["from_image", "/tmp/./x/../../etc/shadow"],
  ])("refuses %s %s: E_STORE_PATH", (key, p) => {
    expect(() => parse({ [key]: p })).toThrow(expect.objectContaining({ code: "E_STORE_PATH", message: expect.stringContaining(key) }));
  });

  it("refuses a store_dir with '..' in it (it would make /nix/store/../x a store path)", () => {
    expect(() => parse({ store_dir: "/nix/store/..", store_layers: [[`/nix/store/../${H}-x`]] }))
      .toThrow(expect.objectContaining({ code: "E_CLOSURE_INPUT", message: expect.stringContaining("store_dir") }));
    expect(() => parse({ store_dir: "/nix/store/" })).toThrow(expect.objectContaining({ code: "E_CLOSURE_INPUT" }));
  });
});
