/**
 * The ustar block's numeric fields: octal digits written in place (tar-header.ts `octal`, which
 * takes small integers and larger numbers by different paths), and the checksum summed from the
 * fields as they are written rather than read back. The oracle tests (store-layer.test.ts) check
 * whole layers against Python's tarfile; this checks every number a field can hold, across the
 * boundaries of those paths (2^30, 2^31, 2^32).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BLOCK, writeHeader, type TarHeaderFields } from "../../src/layer/tar-header.js";

const EMPTY = new Uint8Array(0);

function header(size: number, mtime: number, uid = 0): Buffer {
  const f: TarHeaderFields = {
    name: Buffer.from("nix/store/x"), type: "0", mode: 0o444, uid, gid: 0, size, mtime,
    linkname: EMPTY, uname: EMPTY, gname: EMPTY,
  };
  const t = Buffer.alloc(BLOCK);
  expect(writeHeader(t, 0, f, undefined)).toBe(BLOCK);
  return t;
}

const field = (t: Buffer, at: number, width: number): string => t.subarray(at, at + width).toString("latin1");
const octalField = (n: number, width: number): string => n.toString(8).padStart(width - 1, "0") + "\0";

/** What a tar reader computes: the block's bytes summed with the checksum field as 8 spaces. */
function checksumOf(t: Buffer): number {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : t[i]!;
  return sum;
}

// Around the limits where the digits change path, and the largest 11-digit number.
const edges = [0, 1, 7, 8, 2 ** 30 - 1, 2 ** 30, 2 ** 30 + 1, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 9, 8 ** 11 - 1];
const number11 = fc.oneof(fc.constantFrom(...edges), fc.integer({ min: 0, max: 2 ** 31 }), fc.integer({ min: 0, max: 8 ** 11 - 1 }));

describe("ustar numeric fields", () => {
  it("size and mtime as 11 octal digits and a NUL, for every value up to 8^11 - 1", () => {
    fc.assert(fc.property(number11, number11, (size, mtime) => {
      const t = header(size, mtime);
      expect(field(t, 124, 12)).toBe(octalField(size, 12));
      expect(field(t, 136, 12)).toBe(octalField(mtime, 12));
    }), { numRuns: 2000 });
  });

  it("uid as 7 digits; the checksum (6 digits, NUL, space) is what a reader computes", () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 8 ** 7 - 1 }), number11, (uid, size) => {
      const t = header(size, 1, uid);
      expect(field(t, 108, 8)).toBe(octalField(uid, 8));
      expect(field(t, 148, 8)).toBe(checksumOf(t).toString(8).padStart(6, "0") + "\0 ");
    }), { numRuns: 2000 });
  });
});
