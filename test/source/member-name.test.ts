/** Member names: normalised so that one name means one member; escaping names refused. */
import { describe, expect, it } from "vitest";
import { normaliseMemberName, resolveSymlinkTarget } from "../../src/source/member-name.js";
import { failure } from "./fixtures.js";

describe("member names", () => {
  it("drops ./, repeated and trailing slashes", () => {
    expect(normaliseMemberName("./manifest.json", "x")).toBe("manifest.json");
    expect(normaliseMemberName("blobs//sha256/./ab/", "x")).toBe("blobs/sha256/ab");
    expect(normaliseMemberName("./", "x")).toBe("");
    expect(normaliseMemberName("..foo/bar..", "x")).toBe("..foo/bar..");
  });

  it("refuses .., absolute names, NUL bytes and names over 4096 bytes", async () => {
    for (const [name, found] of [
      ["../x", 'a member name with "..": "../x"'],
      ["a/../../x", 'a member name with "..": "a/../../x"'],
      ["a/..", 'a member name with "..": "a/.."'],
      ["/etc/x", 'an absolute member name "/etc/x"'],
      ["a\0b", 'a member name with a NUL byte: "a\\u0000b"'],
      ["x".repeat(4097), "a member name of 4097 bytes (at most 4096)"],
    ] as const) {
      const err = await failure(() => normaliseMemberName(name, "in.tar"));
      expect(err.code).toBe("E_CLOSURE_INPUT");
      expect(err.message).toBe(`in.tar: expected a well-formed image archive, found ${found}`);
    }
  });

  it("resolves symlink targets relative to the link, inside the archive only", async () => {
    expect(resolveSymlinkTarget("abc/layer.tar", "../def.tar", "x")).toBe("def.tar");
    expect(resolveSymlinkTarget("a/b/layer.tar", "./c/../l.tar", "x")).toBe("a/b/l.tar");
    expect((await failure(() => resolveSymlinkTarget("abc/layer.tar", "../../def.tar", "x"))).message).toMatch(/which is outside the archive$/);
    expect((await failure(() => resolveSymlinkTarget("layer.tar", "/etc/passwd", "x"))).message).toMatch(/a symlink to the absolute path "\/etc\/passwd"$/);
  });
});
