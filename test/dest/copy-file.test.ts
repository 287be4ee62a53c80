/** copyFileBytes: exactly the announced bytes of a file, or the caller's error for a wrong size. */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { copyFileBytes } from "../../src/dest/copy-file.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "strata-copy-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function fileOf(bytes: number): { file: string; data: Buffer } {
  const data = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) data[i] = (i * 7 + 3) & 0xff;
  const file = path.join(dir, `f-${bytes}`);
  fs.writeFileSync(file, data);
  return { file, data };
}

async function copy(file: string, size: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  // The buffer is reused after write() resolves: keep a copy.
  await copyFileBytes(file, size, async (b) => void parts.push(Buffer.from(b)), (found) => new Error(`wrong size: ${found}`));
  return Buffer.concat(parts);
}

describe("copyFileBytes", () => {
  it("copies a file of the announced size, across 1 MiB reads, and an empty one", async () => {
    const { file, data } = fileOf((1 << 20) * 2 + 5);
    expect((await copy(file, data.length)).equals(data)).toBe(true);
    expect((await copy(fileOf(0).file, 0)).length).toBe(0);
  });

  it("fails with the caller's error when the file is shorter or longer than announced", async () => {
    const { file, data } = fileOf((1 << 20) + 10);
    await expect(copy(file, data.length + 1)).rejects.toThrow(`wrong size: ${data.length}`);
    await expect(copy(file, data.length - 1)).rejects.toThrow(`wrong size: ${data.length}`);
    await expect(copy(file, 1 << 20)).rejects.toThrow(`wrong size: ${data.length}`);
    await expect(copy(fileOf(3).file, 0)).rejects.toThrow("wrong size: 3");
  });
});
