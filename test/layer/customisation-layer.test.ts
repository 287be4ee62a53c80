/** The customisation layer: symlink join of the contents, then extras, owners and modes. */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChunkedOutput, callbackTarget } from "../../src/layer/chunked-output.js";
import { planCustomisationLayer, type CustomisationSpec } from "../../src/layer/customisation-layer.js";
import { writeLayer } from "../../src/layer/write-layer.js";
import { makeFixtureStore, type FixtureStore } from "../helpers/fixture-store.js";
import { readTar } from "../helpers/interop.js";

let store: FixtureStore;
let host: string;

beforeAll(() => {
  store = makeFixtureStore([
    { name: "a-1.0", entries: [{ kind: "file", path: "bin/a", content: "a", executable: true }, { kind: "file", path: "etc/shared.conf", content: "from a" }] },
    { name: "b-1.0", entries: [{ kind: "file", path: "bin/b", content: "b" }, { kind: "file", path: "etc/shared.conf", content: "from b" }, { kind: "symlink", path: "lib", target: "../x/lib" }] },
  ]);
  host = fs.mkdtempSync(path.join(os.tmpdir(), "strata-custom-"));
  fs.writeFileSync(path.join(host, "app.conf"), "setting=1\n", { mode: 0o600 });
  fs.mkdirSync(path.join(host, "tree/sub"), { recursive: true });
  fs.writeFileSync(path.join(host, "tree/sub/x"), "x");
  fs.symlinkSync("sub/x", path.join(host, "tree/link"));
});

afterAll(() => {
  store.cleanup();
  fs.rmSync(host, { recursive: true, force: true });
});

async function entries(spec: Partial<CustomisationSpec>): Promise<Map<string, { type: string; mode: number; uid: number; gid: number; link?: string; data: string }>> {
  const layer = planCustomisationLayer({ contents: [store.pathOf("a-1.0"), store.pathOf("b-1.0")], fsRoot: store.root, mtime: 5, ...spec });
  const chunks: Buffer[] = [];
  const out = new ChunkedOutput(callbackTarget((c) => chunks.push(Buffer.from(c))));
  writeLayer(layer, out);
  out.end();
  const tar = Buffer.concat(chunks);
  expect(tar.length).toBe(layer.size);
  const map = new Map();
  for (const e of await readTar(tar)) {
    expect(e.header.mtime?.getTime()).toBe(5000);
    map.set(e.header.name, { type: e.header.type, mode: e.header.mode, uid: e.header.uid, gid: e.header.gid, link: e.header.linkname ?? undefined, data: e.data.toString() });
  }
  return map;
}

describe("customisation layer", () => {
  it("joins the contents, first path wins, sorted, owner 0:0", async () => {
    const m = await entries({});
    expect([...m.keys()]).toEqual(["bin/", "bin/a", "bin/b", "etc/", "etc/shared.conf", "lib"]);
    expect(m.get("etc/shared.conf")!.link).toBe(`${store.pathOf("a-1.0")}/etc/shared.conf`);
    expect(m.get("lib")!.link).toBe("../x/lib"); // a symlink in a content path is copied as it is
    expect(m.get("bin/")!.mode).toBe(0o755);
    expect([...m.values()].every((e) => e.uid === 0 && e.gid === 0)).toBe(true);
  });

  it("adds files and trees, replacing what the join put there, and applies owners and modes", async () => {
    const m = await entries({
      extras: [
        { type: "copy", path: "/etc/shared.conf", source: path.join(host, "app.conf") },
        { type: "copy", path: "opt/tree", source: path.join(host, "tree") },
        { type: "file", path: "etc/passwd", mode: 0o644, content: Buffer.from("root:x:0:0::/:/bin/sh\n") },
        { type: "directory", path: "home/alice", mode: 0o700 },
      ],
      chown: [{ path: "/home/alice", uid: 1000, gid: 100 }],
      chmod: [{ path: "etc/passwd", mode: 0o600 }],
    });
    expect(m.get("etc/shared.conf")).toMatchObject({ type: "file", mode: 0o600, data: "setting=1\n" });
    expect(m.get("opt/tree/sub/x")).toMatchObject({ type: "file", data: "x" });
    expect(m.get("opt/tree/link")).toMatchObject({ type: "symlink", link: "sub/x" });
    expect(m.get("opt/")).toMatchObject({ type: "directory", mode: 0o755 });
    expect(m.get("home/alice/")).toMatchObject({ type: "directory", mode: 0o700, uid: 1000, gid: 100 });
    expect(m.get("etc/passwd")).toMatchObject({ mode: 0o600, data: "root:x:0:0::/:/bin/sh\n" });
  });

  it("joins a symlink that leads to a directory in the store like a directory; others are copied as they are", async () => {
    const a = store.pathOf("a-1.0");
    const env = makeFixtureStore([{ name: "env", entries: [
      { kind: "symlink", path: "share", target: `${a}/etc` },
      { kind: "symlink", path: "doc", target: "../env-doc" },
      { kind: "symlink", path: "broken", target: "/nix/store/nothing-here" },
      { kind: "symlink", path: "conf", target: `${a}/etc/shared.conf` },
    ] }]);
    // The env's links name the other store's paths: read both under one root.
    fs.cpSync(path.join(env.root, "nix/store"), path.join(store.root, "nix/store"), { recursive: true, verbatimSymlinks: true });
    const e = env.pathOf("env");
    env.cleanup();
    // A relative link to a real directory beside the env.
    fs.mkdirSync(store.root + path.dirname(e) + "/env-doc");
    fs.writeFileSync(store.root + path.dirname(e) + "/env-doc/README", "read me");
    try {
      const m = await entries({ contents: [e] });
      expect([...m.keys()]).toEqual(["broken", "conf", "doc/", "doc/README", "share/", "share/shared.conf"]);
      expect(m.get("share/")).toMatchObject({ type: "directory", mode: 0o755 });
      expect(m.get("share/shared.conf")).toMatchObject({ type: "symlink", link: `${e}/share/shared.conf` });
      expect(m.get("doc/README")).toMatchObject({ type: "symlink", link: `${e}/doc/README` });
      expect(m.get("broken")).toMatchObject({ type: "symlink", link: "/nix/store/nothing-here" });
      expect(m.get("conf")).toMatchObject({ type: "symlink", link: `${a}/etc/shared.conf` });
    } finally {
      fs.rmSync(store.root + e, { recursive: true, force: true });
      fs.rmSync(store.root + path.dirname(e) + "/env-doc", { recursive: true, force: true });
    }
  });

  it("refuses --chown of a path the layer does not have, and paths that leave the root", () => {
    expect(() => planCustomisationLayer({ contents: [], fsRoot: store.root, mtime: 1, chown: [{ path: "/nope", uid: 1, gid: 1 }] }))
      .toThrow(expect.objectContaining({ code: "E_USAGE", message: expect.stringMatching(/not in the customisation layer/) }));
    expect(() => planCustomisationLayer({ contents: [], fsRoot: store.root, mtime: 1, extras: [{ type: "file", path: "../escape", mode: 0o644, content: Buffer.from("x") }] }))
      .toThrow(expect.objectContaining({ code: "E_USAGE" }));
  });
});
