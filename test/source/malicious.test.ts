/**
 * Hostile image archives, built in code with tar-stream: each is refused with a one-line
 * E_CLOSURE_INPUT that says what was found, and nothing is written outside the temp dir (the
 * parent dir's listing is unchanged, no stray file appears where the names point, and the
 * private extraction dir is gone after the failure). inspectImage, which streams without
 * extracting, refuses the same archives.
 */
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inspectImage } from "../../src/inspect.js";
import { LIMITS } from "../../src/source/limits.js";
import { openImage } from "../../src/source/read-image.js";
import { configFor, failure, listTree, makeLayer, makeTar, sha256, tempArea, type TarMember } from "./fixtures.js";

describe("hostile archives are refused, and nothing lands outside the temp dir", () => {
  let area: ReturnType<typeof tempArea>;
  let layer: Buffer;
  let config: Buffer;
  let configName: string;
  const passwd = fs.existsSync("/etc/passwd") ? sha256(fs.readFileSync("/etc/passwd")) : undefined;

  beforeAll(async () => {
    area = tempArea("strata-malicious-");
    layer = await makeLayer({ "bin/hello": "hello\n" });
    config = configFor([layer]);
    configName = `${sha256(config)}.json`;
  });

  afterAll(() => area?.cleanup());

  /** An otherwise valid one-layer archive: `extra` members first, then the layer, config and manifest. */
  function archive(extra: readonly TarMember[], layers: readonly string[] = ["001/layer.tar"], withLayer = true): Promise<Buffer> {
    return makeTar([
      ...extra,
      ...(withLayer ? [{ name: "001/layer.tar", content: layer }] : []),
      { name: configName, content: config },
      { name: "manifest.json", content: JSON.stringify([{ Config: configName, RepoTags: ["evil:1"], Layers: layers }]) },
    ]);
  }

  async function expectRefused(name: string, bytes: Buffer, message: RegExp): Promise<void> {
    const input = path.join(area.root, `${name}.tar`);
    fs.writeFileSync(input, bytes);
    const before = listTree(area.root);
    const err = await failure(openImage(input, { tmpDir: area.work }));
    expect(err.code).toBe("E_CLOSURE_INPUT");
    expect(err.message).toMatch(message);
    expect(err.message).not.toContain("\n");
    expect(err.message.startsWith(`${input}: expected`)).toBe(true);
    expect(err.hint).not.toBe("");
    // Nothing new anywhere under the parent, and the private dir is gone.
    expect(listTree(area.root)).toEqual(before);
    expect(fs.readdirSync(area.work)).toEqual([]);
    // inspect streams the archive without extracting: it refuses the same archive.
    const inspected = await failure(inspectImage(input));
    expect(inspected.code).toBe("E_CLOSURE_INPUT");
    expect(inspected.message).toMatch(message);
    fs.rmSync(input);
  }

  it("a member named ../evil", async () => {
    await expectRefused("dotdot", await archive([{ name: "../evil", content: "pwned" }]), /found a member name with "\.\.": "\.\.\/evil"$/);
    expect(fs.existsSync(path.join(area.root, "evil"))).toBe(false);
    expect(fs.existsSync(path.join(path.dirname(area.root), "evil"))).toBe(false);
  });

  it("a member named a/../../evil, and one whose PAX path is ../evil", async () => {
    await expectRefused("dotdot-inner", await archive([{ name: "a/../../evil", content: "pwned" }]), /found a member name with "\.\.": "a\/\.\.\/\.\.\/evil"$/);
    await expectRefused("dotdot-pax", await archive([{ name: "harmless", content: "pwned", pax: { path: "../evil-pax" } }]), /"\.\.\/evil-pax"/);
    expect(fs.existsSync(path.join(area.root, "evil-pax"))).toBe(false);
  });

  it("an absolute member name /etc/x", async () => {
    const target = `/tmp/strata-evil-${process.pid}`;
    await expectRefused("absolute", await archive([{ name: target, content: "pwned" }]), new RegExp(`found an absolute member name "${target}"$`));
    expect(fs.existsSync(target)).toBe(false);
    await expectRefused("absolute-etc", await archive([{ name: "/etc/x", content: "pwned" }]), /found an absolute member name "\/etc\/x"$/);
  });

  it("a layer member that is a symlink to /etc/passwd", async () => {
    const bytes = await archive([{ name: "001/layer.tar", type: "symlink", linkname: "/etc/passwd" }], ["001/layer.tar"], false);
    await expectRefused("symlink-abs", bytes, /found member 001\/layer\.tar, a symlink to the absolute path "\/etc\/passwd"$/);
    if (passwd !== undefined) expect(sha256(fs.readFileSync("/etc/passwd"))).toBe(passwd);
  });

  it("a layer member that is a symlink climbing out, a hard link to an absolute path, or a link loop", async () => {
    await expectRefused("symlink-rel", await archive([{ name: "001/layer.tar", type: "symlink", linkname: "../../../../etc/passwd" }], ["001/layer.tar"], false),
      /found member 001\/layer\.tar, a symlink to "\.\.\/\.\.\/\.\.\/\.\.\/etc\/passwd", which is outside the archive$/);
    await expectRefused("hardlink-abs", await archive([{ name: "001/layer.tar", type: "link", linkname: "/etc/passwd" }], ["001/layer.tar"], false),
      /found an absolute member name "\/etc\/passwd"$/);
    await expectRefused("loop", await archive([
      { name: "a", type: "symlink", linkname: "b" },
      { name: "b", type: "symlink", linkname: "a" },
    ], ["a"]), new RegExp(`found a layer "a" behind more than ${LIMITS.maxLinkHops} links$`));
  });

  it("a manifest pointing at a missing member, or at a directory", async () => {
    await expectRefused("missing", await archive([], ["002/layer.tar"]), /expected a layer at member "002\/layer\.tar", found no such member$/);
    await expectRefused("dir", await archive([{ name: "d", type: "directory" }], ["d"]), /found a directory where the manifest names a layer "d"$/);
  });

  it("duplicate members, also when they only collide once normalised", async () => {
    await expectRefused("duplicate", await archive([{ name: "001/layer.tar", content: "first" }]), /found member "001\/layer\.tar" twice$/);
    await expectRefused("duplicate-normalised", await archive([{ name: "./manifest.json", content: "[]" }]), /found member "manifest\.json" twice$/);
  });

  it("a gigantic PAX header", async () => {
    const bytes = await archive([{ name: "big", content: "x", pax: { comment: "A".repeat(2 << 20) } }]);
    await expectRefused("pax", bytes, /found a PAX extended header of \d+ bytes for "big" \(at most 1048576\)$/);
    // Beyond tar-stream's own 4 MiB cap it is refused by the parser.
    await expectRefused("pax-huge", await archive([{ name: "huge", content: "x", pax: { comment: "A".repeat(5 << 20) } }]), /Header exceeds max size/);
  });

  it("a name longer than PATH_MAX", async () => {
    await expectRefused("long", await archive([{ name: `${"d/".repeat(2100)}f`, content: "x" }]), /found a member name of 4201 bytes \(at most 4096\)$/);
  });

  it(`more than ${LIMITS.maxMembers} members`, async () => {
    // Header blocks only (empty files), written directly: tar-stream's packer would take a while.
    const headers = Array.from({ length: LIMITS.maxMembers + 1 }, (_, i) => ustarHeader(`m${i}`));
    const bytes = Buffer.concat([...headers, Buffer.alloc(1024)]);
    await expectRefused("many", bytes, new RegExp(`found more than ${LIMITS.maxMembers} members$`));
  });
});

/** A ustar header for an empty regular file. */
function ustarHeader(name: string): Buffer {
  const b = Buffer.alloc(512);
  b.write(name, 0, "utf8");
  b.write("0000644\0", 100);
  b.write("0000000\0", 108);
  b.write("0000000\0", 116);
  b.write("00000000000\0", 124);
  b.write("00000000000\0", 136);
  b.write("        ", 148);
  b.write("0", 156);
  b.write("ustar\0" + "00", 257, "latin1");
  let sum = 0;
  for (const x of b) sum += x;
  b.write(sum.toString(8).padStart(6, "0") + "\0 ", 148);
  return b;
}
