/**
 * `strata export` against `umoci unpack` of the same images, entry by entry: names, types, modes,
 * link targets, contents, mtimes of files, hard-link groups, and owners (umoci unpacks as root
 * here, keeping them; with --rootless it cannot, and only the rest is compared). The images'
 * layers delete and replace files, make a directory opaque, swap a directory and a file, and hold
 * hard links whose targets later layers delete or replace.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exportImage } from "../../src/export/index.js";
import { requireTool, readTar } from "../helpers/interop.js";
import { run } from "../source/fixtures.js";
import { trickyLayers, writeImages } from "./layer-tars.js";

interface Node {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  mtime?: number;
  link?: string;
  content?: string;
}

const haveUmoci = requireTool("umoci");

/** The export tar as path → node, plus hard-link groups (sorted lists of names). */
async function fromTar(file: string): Promise<{ nodes: Map<string, Node>; groups: string[][] }> {
  const nodes = new Map<string, Node>();
  const group = new Map<string, string[]>();
  for (const { header: h, data } of await readTar(fs.readFileSync(file))) {
    const name = h.name.replace(/\/$/, "");
    if (name === "." || name === "") continue;
    if (h.type === "link") {
      const target = nodes.get(h.linkname!)!;
      expect(target, `hard link ${name} to ${h.linkname} written after its target`).toBeDefined();
      nodes.set(name, target);
      const g = group.get(h.linkname!) ?? [h.linkname!];
      g.push(name);
      group.set(h.linkname!, g);
      continue;
    }
    const type = { file: "file", directory: "dir", symlink: "symlink", fifo: "fifo" }[h.type as string] ?? h.type;
    nodes.set(name, {
      type, mode: h.mode! & 0o7777, uid: h.uid!, gid: h.gid!,
      ...(type === "dir" ? {} : { mtime: Math.floor(h.mtime!.getTime() / 1000) }),
      ...(type === "symlink" ? { link: h.linkname! } : {}),
      ...(type === "file" ? { content: data.toString("utf8") } : {}),
    });
  }
  return { nodes, groups: [...group.values()].map((g) => g.sort()).sort() };
}

/** umoci's rootfs the same way. */
function fromDir(root: string): { nodes: Map<string, Node>; groups: string[][] } {
  const nodes = new Map<string, Node>();
  const byIno = new Map<number, string[]>();
  const walk = (rel: string): void => {
    for (const name of fs.readdirSync(path.join(root, rel)).sort()) {
      const r = rel === "" ? name : `${rel}/${name}`;
      const p = path.join(root, r);
      const st = fs.lstatSync(p);
      const type = st.isDirectory() ? "dir" : st.isSymbolicLink() ? "symlink" : st.isFIFO() ? "fifo" : st.isFile() ? "file" : "other";
      nodes.set(r, {
        type, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid,
        ...(type === "dir" ? {} : { mtime: Math.floor(st.mtimeMs / 1000) }),
        ...(type === "symlink" ? { link: fs.readlinkSync(p) } : {}),
        ...(type === "file" ? { content: fs.readFileSync(p, "utf8") } : {}),
      });
      if (type === "file" && st.nlink > 1) byIno.set(st.ino, [...(byIno.get(st.ino) ?? []), r]);
      if (type === "dir") walk(r);
    }
  };
  walk("");
  return { nodes, groups: [...byIno.values()].map((g) => g.sort()).sort() };
}

describe.skipIf(!haveUmoci)("strata export equals umoci unpack", () => {
  let tmp: string;
  let images: { archive: string; oci: string };
  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "strata-export-umoci-"));
    images = await writeImages(tmp, trickyLayers());
  });
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  const unpack = (rootless: boolean): string => {
    const out = path.join(tmp, rootless ? "bundle-rootless" : "bundle");
    if (!fs.existsSync(out)) run("umoci", ["unpack", ...(rootless ? ["--rootless"] : []), "--image", `${images.oci}:latest`, out]);
    return path.join(out, "rootfs");
  };

  for (const input of ["archive", "oci"] as const) {
    it(`from the ${input === "archive" ? "docker-archive" : "OCI layout"}: every entry as umoci unpacks it (as root, owners kept)`, async () => {
      const file = path.join(tmp, `export-${input}.tar`);
      const r = await exportImage(images[input], file, { tmpDir: tmp });
      const got = await fromTar(file);
      const want = fromDir(unpack(false));
      expect([...got.nodes.keys()].sort()).toEqual([...want.nodes.keys()].sort());
      for (const [name, node] of want.nodes) expect(got.nodes.get(name), name).toEqual(node);
      expect(got.groups).toEqual(want.groups);
      expect(r.entries).toBe(want.nodes.size);
      // The cases the layers were made for, so that a walk that agrees with umoci by accident cannot pass.
      expect(got.nodes.has("gone/x")).toBe(false);
      expect(got.nodes.get("gone/y")?.content).toBe("y");
      expect(got.nodes.has("data/a") || got.nodes.has("data/sub/c")).toBe(false);
      expect(got.nodes.get("d2f")?.type).toBe("file");
      expect(got.nodes.get("f2d/child")?.content).toBe("child");
      expect(got.nodes.has("keep-target")).toBe(false);
      expect(got.nodes.get("keep-link")).toMatchObject({ type: "file", mode: 0o600, content: "kept through a link\n", mtime: 1500000000 });
      expect(got.nodes.get("repl-link")?.content).toBe("old\n");
      expect(got.nodes.get("repl-target")?.content).toBe("new\n");
      expect(got.nodes.get("etc/shadow")?.mode).toBe(0);
      expect(got.groups).toEqual([["usr/bin/tool", "usr/bin/tool-link", "usr/bin/tool2"]]);
    });
  }

  it("umoci --rootless: the same names, types, modes, links, contents and mtimes (owners not kept by umoci)", async () => {
    const file = path.join(tmp, "export-rootless.tar");
    await exportImage(images.oci, file, { tmpDir: tmp });
    const got = await fromTar(file);
    const want = fromDir(unpack(true));
    expect([...got.nodes.keys()].sort()).toEqual([...want.nodes.keys()].sort());
    const strip = (n: Node | undefined): Omit<Node, "uid" | "gid"> | undefined => {
      if (n === undefined) return undefined;
      const { uid: _u, gid: _g, ...rest } = n;
      return rest;
    };
    for (const [name, node] of want.nodes) {
      // rootless umoci makes every directory owner-writable and searchable (u+rwx) so that it can fill it.
      const expected = node.type === "dir" ? { ...strip(node)!, mode: node.mode } : strip(node);
      const actual = node.type === "dir" ? { ...strip(got.nodes.get(name))!, mode: got.nodes.get(name)!.mode | 0o700 } : strip(got.nodes.get(name));
      expect(actual, name).toEqual(expected);
    }
    expect(got.groups).toEqual(want.groups);
  });
});
