import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeNixBase32, normaliseNarHash, parseSha256, sha256Base16, sha256Base32 } from "../../src/nixdb/hash-format.js";
import { nixBase32 } from "../../src/nix-base32.js";

describe("NAR hash spellings", () => {
  // `nix-hash --type sha256 --flat --base32` of a file holding "hello\n" (nix-bin 2.8).
  const hex = createHash("sha256").update("hello\n").digest("hex");
  const base32 = "00xyyr3fi8l6hb839bv3f7yb86yjv7xi1cgh1xnhipym4asvb4aq";

  it("reads base16, Nix base-32, SRI base64 and sha256:base64 alike", () => {
    const digest = Buffer.from(hex, "hex");
    for (const s of [`sha256:${hex}`, `sha256:${hex.toUpperCase()}`, `sha256:${base32}`, `sha256-${digest.toString("base64")}`, `sha256:${digest.toString("base64")}`]) {
      expect(Buffer.from(parseSha256(s)!).toString("hex"), s).toBe(hex);
      expect(normaliseNarHash(s), s).toBe(`sha256:${base32}`);
    }
    expect(sha256Base16(digest)).toBe(`sha256:${hex}`);
    expect(sha256Base32(digest)).toBe(`sha256:${base32}`);
  });

  it("refuses other algorithms, lengths, alphabets and overflowing base-32", () => {
    for (const s of [hex, `md5:${hex}`, `sha256:${hex.slice(1)}`, `sha256:${base32.replace("1", "e")}`, `sha256:z${base32.slice(1)}`, `sha512:${hex}`, "sha256-abc", ""]) {
      expect(parseSha256(s), s).toBeUndefined();
    }
  });

  it("decodeNixBase32 inverts nixBase32", () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 1, maxLength: 64 }), (bytes) => {
      expect(Buffer.from(decodeNixBase32(nixBase32(bytes), bytes.length)!).equals(Buffer.from(bytes))).toBe(true);
    }));
  });
});
