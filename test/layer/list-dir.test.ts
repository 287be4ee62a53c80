/**
 * Directory listings for the store-layer walk: the native helper's listDir and Node's fs give the
 * same children (names as raw bytes, modes, sizes, symlink targets) and the same errors.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defaultLister, nativeLister, nodeLister, type Child, type DirLister } from "../../src/layer/list-dir.js";

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "strata-list-"));
  fs.writeFileSync(path.join(dir, "file"), "12345");
  fs.chmodSync(path.join(dir, "file"), 0o751);
  fs.writeFileSync(path.join(dir, "empty"), "");
  fs.mkdirSync(path.join(dir, "sub"));
  fs.symlinkSync("file", path.join(dir, "link"));
  fs.symlinkSync("/nowhere/" + "x".repeat(3000), path.join(dir, "dangling-long"));
  fs.linkSync(path.join(dir, "file"), path.join(dir, "hard"));
  // A name that is not UTF-8: raw bytes must survive.
  fs.writeFileSync(Buffer.concat([Buffer.from(dir + "/"), Buffer.from([0x62, 0xff, 0xfe])]), "x");
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const sorted = (children: Child[]): Child[] => [...children].sort((a, b) => Buffer.compare(a.name, b.name));
const view = (c: Child): unknown => ({ name: c.name.toString("hex"), mode: c.mode, size: c.size, link: c.link.toString("latin1"), err: c.err?.code });

describe("directory listings", () => {
  it("the native helper lists directories (built by npm ci)", () => {
    expect(nativeLister()).toBeDefined();
    expect(defaultLister()).not.toBe(nodeLister);
  });

  it("native and Node's fs agree on every kind of child", () => {
    const native = nativeLister()!;
    const ours = sorted(native(Buffer.from(dir))).map(view);
    expect(ours).toEqual(sorted(nodeLister(Buffer.from(dir))).map(view));
    expect(ours).toHaveLength(7);
    const byName = new Map(sorted(native(Buffer.from(dir))).map((c) => [c.name.toString("latin1"), c]));
    expect(byName.get("file")).toMatchObject({ size: 5, mode: 0o100751 });
    expect(byName.get("link")!.link.toString()).toBe("file");
    expect(byName.get("dangling-long")!.link.length).toBe(3009);
    expect(byName.get("sub")!.mode & 0o170000).toBe(0o040000);
    expect(byName.has(Buffer.from([0x62, 0xff, 0xfe]).toString("latin1"))).toBe(true);
  });

  it("reads symlink targets on a file system that gives them no size (/proc: st_size 0)", () => {
    // /proc/<pid>, not /proc/self: that is a symlink, which listDir does not follow.
    const proc = new Map(nativeLister()!(Buffer.from(`/proc/${process.pid}`)).map((c) => [c.name.toString(), c]));
    expect(proc.get("cwd")!.size).toBe(0);
    expect(proc.get("cwd")!.link.toString()).toBe(process.cwd());
    expect(proc.get("exe")!.link.toString()).toBe(fs.readlinkSync("/proc/self/exe"));
  });

  it("an empty directory has no children", () => {
    const empty = path.join(dir, "sub");
    for (const list of [nativeLister()!, nodeLister]) expect(list(Buffer.from(empty))).toEqual([]);
  });

  const listers: [string, () => DirLister][] = [["native", () => nativeLister()!], ["node", () => nodeLister]];
  for (const [name, lister] of listers) {
    it(`${name}: a directory that cannot be listed throws an ErrnoException (ENOENT, ENOTDIR)`, () => {
      expect(() => lister()(Buffer.from(path.join(dir, "missing")))).toThrow(expect.objectContaining({ code: "ENOENT" }));
      expect(() => lister()(Buffer.from(path.join(dir, "file")))).toThrow(expect.objectContaining({ code: "ENOTDIR" }));
    });

    it(`${name}: a symlink to a directory is not listed (ELOOP or ENOTDIR): a directory swapped for one after lstat saw it`, () => {
      fs.symlinkSync("sub", path.join(dir, `to-sub-${name}`));
      expect(() => lister()(Buffer.from(path.join(dir, `to-sub-${name}`)))).toThrow(expect.objectContaining({ code: expect.stringMatching(/^(ELOOP|ENOTDIR)$/) }));
      fs.rmSync(path.join(dir, `to-sub-${name}`));
    });
  }
});
