/**
 * `strata stream CONF.json` against a Python restatement of nixpkgs' stream script
 * (test/oracle/stream_image.py): same layer bytes, same image config bytes, so the same diff_ids
 * and the same image ID as nixpkgs for the same conf.json.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { streamImage } from "../src/stream.js";
import { makeFixtureStore, type FixtureStore } from "./helpers/fixture-store.js";
import { readDockerArchive, validateArchive } from "./helpers/interop.js";

const ORACLE = path.join(import.meta.dirname, "oracle/stream_image.py");

let store: FixtureStore;
let dir: string;
let confPath: string;
let conf: Record<string, unknown>;

beforeAll(() => {
  store = makeFixtureStore([
    { name: "glibc-2.40", selfReference: true, entries: [{ kind: "file", path: "lib/libc.so.6", content: Buffer.alloc(200_000, 1) }, { kind: "symlink", path: "lib/libc.so", target: "libc.so.6" }] },
    { name: "hello-2.12.1", references: ["glibc-2.40"], entries: [{ kind: "file", path: "bin/hello", content: "#!hello\n", executable: true }, { kind: "dir", path: "share/empty" }] },
    { name: "unused-but-fine", entries: [{ kind: "file", path: "data", content: "x" }] },
  ]);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "strata-stream-"));
  const cust = path.join(dir, "customisation");
  fs.mkdirSync(path.join(cust, "root/bin"), { recursive: true });
  fs.symlinkSync(`${store.pathOf("hello-2.12.1")}/bin/hello`, path.join(cust, "root/bin/hello"));
  execFileSync("tar", ["--sort=name", "--numeric-owner", "--mtime=@315532800", "-C", path.join(cust, "root"), "-cf", path.join(cust, "layer.tar"), "."]);
  const sum = execFileSync("sha256sum", [path.join(cust, "layer.tar")]).toString().split(" ")[0];
  fs.writeFileSync(path.join(cust, "checksum"), `${sum}\n`);
  conf = {
    architecture: "amd64",
    config: { Cmd: [`${store.pathOf("hello-2.12.1")}/bin/hello`], Env: ["LANG=C.UTF-8", "GREETING=héllo \"wörld\""], Labels: { "org.example": "it's" } },
    os: "linux",
    store_dir: "/nix/store",
    from_image: null,
    store_layers: [[store.pathOf("glibc-2.40")], [store.pathOf("hello-2.12.1"), store.pathOf("unused-but-fine")]],
    customisation_layer: cust,
    repo_tag: "hello:0123456789abcdfghijklmnpqrsvwxy",
    created: "2024-05-06T07:08:09+02:00",
    mtime: "1970-01-01T00:00:01+00:00",
    uid: "1000",
    gid: "100",
    uname: "user",
    gname: "users",
  };
  confPath = path.join(dir, "conf.json");
  fs.writeFileSync(confPath, JSON.stringify(conf, null, 2));
});

afterAll(() => {
  store.cleanup();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe("strata stream: the nixpkgs drop-in", () => {
  it("writes the layers and the image config nixpkgs writes for the same conf.json", async () => {
    const ours = path.join(dir, "ours.tar");
    const theirs = path.join(dir, "theirs.tar");
    const result = await streamImage(confPath, { output: ours, storeRoot: store.root, workers: 2 });
    fs.writeFileSync(theirs, execFileSync("python3", [ORACLE, confPath, store.root], { maxBuffer: 1 << 28 }));
    const a = await validateArchive(ours, result);
    const b = await validateArchive(theirs);
    expect(a.configBytes.toString("utf8")).toBe(b.configBytes.toString("utf8"));
    expect(result.imageId).toBe(`sha256:${path.basename(b.manifest[0]!.Config, ".json")}`);
    expect(a.layers.length).toBe(3);
    a.layers.forEach((layer, i) => expect(layer.equals(b.layers[i]!)).toBe(true));
    expect(a.manifest[0]!.RepoTags).toEqual(["hello:0123456789abcdfghijklmnpqrsvwxy"]);
    // created keeps its offset, as Python's isoformat does
    expect(a.config.created).toBe("2024-05-06T07:08:09+02:00");
  });

  it("replaces the repo tag with repoTag (nixpkgs' --repo_tag), changing nothing else", async () => {
    const out = path.join(dir, "tagged.tar");
    const result = await streamImage(confPath, { output: out, storeRoot: store.root, repoTag: "other:tag" });
    const a = await readDockerArchive(out);
    expect(a.manifest[0]!.RepoTags).toEqual(["other:tag"]);
    const plain = await streamImage(confPath, { output: path.join(dir, "plain.tar"), storeRoot: store.root });
    expect(result.imageId).toBe(plain.imageId);
  });

  it("accepts numbers for uid/gid and a classic conf without mtime and owners", async () => {
    const classic = { ...conf, uid: undefined, gid: undefined, uname: undefined, gname: undefined, mtime: undefined, created: "1970-01-01T00:00:01+00:00" };
    const file = path.join(dir, "classic.json");
    fs.writeFileSync(file, JSON.stringify(classic));
    const result = await streamImage(file, { output: path.join(dir, "classic.tar"), storeRoot: store.root });
    const numeric = path.join(dir, "numeric.json");
    fs.writeFileSync(numeric, JSON.stringify({ ...classic, uid: 0, gid: 0, uname: "root", gname: "root", mtime: "1970-01-01T00:00:01Z" }));
    const again = await streamImage(numeric, { output: path.join(dir, "numeric.tar"), storeRoot: store.root });
    expect(again.layers.map((l) => l.diffId)).toEqual(result.layers.map((l) => l.diffId));
  });

  it("refuses a customisation layer whose checksum does not match, leaving no output", async () => {
    const cust = path.join(dir, "bad-customisation");
    fs.mkdirSync(cust);
    fs.copyFileSync(path.join(conf["customisation_layer"] as string, "layer.tar"), path.join(cust, "layer.tar"));
    fs.writeFileSync(path.join(cust, "checksum"), `${"0".repeat(64)}\n`);
    const file = path.join(dir, "bad.json");
    fs.writeFileSync(file, JSON.stringify({ ...conf, customisation_layer: cust }));
    const out = path.join(dir, "bad.tar");
    await expect(streamImage(file, { output: out, storeRoot: store.root })).rejects.toMatchObject({ code: "E_CHECKSUM" });
    expect(fs.existsSync(out)).toBe(false);
    expect(fs.readdirSync(dir).filter((f) => f.includes(".strata-"))).toEqual([]);
  });

  it.each([
    ["a from_image that does not exist", { from_image: "/nix/store/00000000000000000000000000000000-base.tar" }, "E_USAGE"],
    ["a path outside store_dir", { store_layers: [["/usr/lib"]] }, "E_STORE_PATH"],
    ["a store path that does not exist", { store_layers: [["/nix/store/00000000000000000000000000000000-missing"]] }, "E_STORE_PATH"],
    ["store_layers not a list of lists", { store_layers: ["/nix/store/x"] }, "E_CLOSURE_INPUT"],
    ["a bad mtime", { mtime: "yesterday" }, "E_USAGE"],
    ["a negative uid", { uid: "-1" }, "E_CLOSURE_INPUT"],
  ])("refuses %s with a clear error", async (_, change, code) => {
    const file = path.join(dir, `case-${code}-${Math.random()}.json`);
    fs.writeFileSync(file, JSON.stringify({ ...conf, ...change }));
    const out = path.join(dir, "never.tar");
    await expect(streamImage(file, { output: out, storeRoot: store.root })).rejects.toMatchObject({ code });
    expect(fs.existsSync(out)).toBe(false);
  });

  it("refuses malformed JSON", async () => {
    const file = path.join(dir, "broken.json");
    fs.writeFileSync(file, "{ \"store_layers\": [");
    await expect(streamImage(file, { output: path.join(dir, "x.tar") })).rejects.toMatchObject({ code: "E_CLOSURE_INPUT" });
  });
});
