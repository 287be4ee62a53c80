/**
 * The native helper (native/strata_native.c): built by `npm ci`, loaded, and doing its jobs.
 * No skip: on the Linux machines strata is tested on, a missing helper is a failed build step.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { descriptorSink } from "../src/dest/sink.js";
import { native, PIPE_BYTES, writableInPlaceAt } from "../src/native.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

describe("native helper", () => {
  it("is built and loads", () => {
    expect(native(), "build/Release/strata_native.node is missing: run `npm ci` (or `npm run install`)").toBeDefined();
  });

  it("widens the output pipe of `strata ... | cat` to 1 MiB, from the compiled module as installed", () => {
    // A real shell pipe (Node's own child stdio are sockets). The script widens its stdout the
    // way the sink does and reports the size fcntl(F_GETPIPE_SZ) would: setPipeSize's result.
    const script = `import { widenPipe } from ${JSON.stringify(path.join(ROOT, "dist/src/native.js"))}; process.stderr.write(String(widenPipe(1)));`;
    const r = spawnSync("bash", ["-c", `node --input-type=module -e '${script}' | cat > /dev/null`], { encoding: "utf8" });
    expect(r.status).toBe(0);
    expect(Number(r.stderr)).toBe(PIPE_BYTES);
  });

  it("leaves what is not a pipe alone", () => {
    const script = `import { widenPipe } from ${JSON.stringify(path.join(ROOT, "dist/src/native.js"))}; process.stderr.write(String(widenPipe(1)));`;
    const r = spawnSync("bash", ["-c", `node --input-type=module -e '${script}' > /dev/null`], { encoding: "utf8" });
    expect(r.stderr).toBe("undefined");
  });

  it("reports errors as -errno instead of throwing (a bad descriptor)", () => {
    expect(native()!.setPipeSize(987654, PIPE_BYTES)).toBe(-9); // EBADF
    expect(native()!.seekTo(987654, 0)).toBe(-9);
    expect(native()!.fileOffset(987654)).toBe(-1);
    expect(native()!.willNeed(987654)).toBe(9); // posix_fadvise returns the error number
  });

  it("announces a file to read ahead (posix_fadvise WILLNEED)", () => {
    const fd = fs.openSync(process.execPath, "r");
    try {
      expect(native()!.willNeed(fd)).toBe(0);
    } finally {
      fs.closeSync(fd);
    }
  });

  it("fixes glibc's mmap threshold (the CLI's memory bound), and refuses a non-integer", () => {
    // Debian's libc is glibc: mallopt answers 1. In a child, so this process keeps its malloc.
    const r = spawnSync(process.execPath, ["-e", `const n = require(${JSON.stringify(path.join(ROOT, "build/Release/strata_native.node"))}); console.log(n.fixMallocThreshold(131072)); try { n.fixMallocThreshold("x"); } catch (e) { console.log("refused"); }`], { encoding: "utf8" });
    expect(r.stdout.trim().split("\n")).toEqual(["1", "refused"]);
  });

  it("reads and moves a file offset, and refuses an appending descriptor (pwrite would ignore offsets)", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "strata-native-"));
    const file = path.join(dir, "f");
    const fd = fs.openSync(file, "w");
    const fa = fs.openSync(file, "a");
    try {
      fs.writeSync(fd, "abc");
      expect(native()!.fileOffset(fd)).toBe(3);
      expect(native()!.seekTo(fd, 10)).toBe(0);
      expect(native()!.fileOffset(fd)).toBe(10);
      expect(native()!.fileOffset(fa)).toBe(-1);
      expect(writableInPlaceAt(fd)).toBe(10);
      expect(writableInPlaceAt(fa)).toBeUndefined();
      // So stdout redirected to a file is written in place from there (the positional writer),
      // and `>>` is streamed.
      expect(descriptorSink(fd).randomAccess?.base).toBe(10);
      expect(descriptorSink(fa).randomAccess).toBeUndefined();
    } finally {
      fs.closeSync(fd);
      fs.closeSync(fa);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

});
