/**
 * The native helper (native/strata_native.c): built by `npm ci`, loaded, and doing its one job.
 * No skip: on the Linux machines strata is tested on, a missing helper is a failed build step.
 */
import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { native, PIPE_BYTES } from "../src/native.js";

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
  });
});
