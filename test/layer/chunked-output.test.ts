/**
 * ChunkedOutput.file: exactly the planned bytes of a file, whatever the chunk boundaries, and
 * E_FILE_CHANGED when the file on disk is shorter or longer than planned (the last read asks for
 * one byte more than is left when the chunk has room; a probe read finds the end otherwise).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChunkedOutput, callbackTarget } from "../../src/layer/chunked-output.js";

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "strata-chunked-"));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function fileOf(size: number): { path: Buffer; bytes: Buffer } {
  const bytes = Buffer.alloc(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 7 + 3) & 0xff;
  const p = path.join(dir, `f-${size}-${Math.random().toString(36).slice(2)}`);
  fs.writeFileSync(p, bytes);
  return { path: Buffer.from(p), bytes };
}

/**
 * Copy `planned` bytes of the file after `lead` bytes of other output, in chunks of `chunkSize`.
 * `preOpened`: hand file() a descriptor opened here, as the prefetch window does, so that the
 * read loop's own checks are what is tested (opening checks the size with fstat first).
 */
function copy(file: Buffer, planned: number, chunkSize: number, lead = 0, preOpened = false): Buffer {
  const chunks: Buffer[] = [];
  const out = new ChunkedOutput(callbackTarget((c) => chunks.push(Buffer.from(c)), chunkSize));
  out.zeros(lead);
  out.file(file, planned, preOpened ? fs.openSync(file, "r") : undefined);
  out.end();
  return Buffer.concat(chunks).subarray(lead);
}

describe("ChunkedOutput.file", () => {
  // Sizes around the chunk size: the file ends inside a chunk, one byte before its end, on it, after it.
  const cases = [0, 1, 15, 16, 17, 31, 32, 33, 100];
  for (const size of cases) {
    for (const lead of [0, 1, 15]) {
      it(`copies a ${size}-byte file after ${lead} bytes, in 16-byte chunks`, () => {
        const { path: p, bytes } = fileOf(size);
        expect(copy(p, size, 16, lead).equals(bytes)).toBe(true);
      });
    }
  }

  for (const size of [1, 15, 16, 17, 40]) {
    it(`refuses a ${size}-byte file planned one byte shorter (it grew): E_FILE_CHANGED`, () => {
      const { path: p } = fileOf(size);
      expect(() => copy(p, size - 1, 16, 0, true)).toThrow(expect.objectContaining({ code: "E_FILE_CHANGED", message: expect.stringContaining("more than that") }));
    });
    it(`refuses a ${size}-byte file planned one byte longer (it shrank): E_FILE_CHANGED`, () => {
      const { path: p } = fileOf(size);
      expect(() => copy(p, size + 1, 16, 0, true)).toThrow(expect.objectContaining({ code: "E_FILE_CHANGED", message: expect.stringContaining(`only ${size}`) }));
    });
  }

  it("refuses a file that grew by much more than a chunk", () => {
    const { path: p } = fileOf(100);
    expect(() => copy(p, 10, 16, 3, true)).toThrow(expect.objectContaining({ code: "E_FILE_CHANGED" }));
  });

  it("refuses, when it opens the file itself, one whose size is not the planned one before reading it", () => {
    const { path: p } = fileOf(40);
    expect(() => copy(p, 41, 16)).toThrow(expect.objectContaining({ code: "E_FILE_CHANGED", message: expect.stringContaining("planned a regular file of 41 bytes, found one of 40 bytes") }));
    expect(() => copy(p, 39, 16)).toThrow(expect.objectContaining({ code: "E_FILE_CHANGED", message: expect.stringContaining("found one of 40 bytes") }));
  });
});
