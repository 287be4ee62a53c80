/**
 * A worker pool destroyed while its threads are still starting must not take the process down.
 * A build that fails early (bad input found right after the pool was created, Ctrl-C) does
 * exactly that. On Node >= 20.19, piscina loading the worker file through require(esm) and a
 * termination in the middle of it end in a Node assertion and abort() (exit 134); strata's pools
 * start their workers without require(esm) (src/pool/worker-file.ts). Run in a child process:
 * an abort here would otherwise kill the test runner's own worker.
 */
import { spawnSync } from "node:child_process";
import path from "node:path";
import { describe, expect, it } from "vitest";

const POOL = path.join(import.meta.dirname, "../../dist/src/pool/pool.js");
const NAR_POOL = path.join(import.meta.dirname, "../../dist/src/nixdb/nar-pool.js");

// Destroying 10-30 ms after creation lands in the workers' module loading. Without the fix, 300
// such cycles of the NAR pool aborted in two runs of three (after 200 and 254 cycles); the layer
// pool's workers (with resource limits) start differently and were not seen to abort.
const SCRIPT = `
import { WorkerPool } from ${JSON.stringify(POOL)};
import { NarPool } from ${JSON.stringify(NAR_POOL)};
const pause = () => new Promise((r) => setTimeout(r, 10 + Math.random() * 20));
for (let i = 0; i < 600; i++) {
  const pool = i % 3 === 2 ? new WorkerPool(2) : new NarPool(2);
  await pause();
  await pool.destroy();
}
process.stdout.write("done");
`;

describe("worker pool lifecycle", () => {
  it("survives being destroyed while its workers start, again and again (no abort)", { timeout: 120_000 }, () => {
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", SCRIPT], { encoding: "utf8", timeout: 110_000 });
    expect(r.stderr).not.toContain("Assertion failed");
    expect(r.signal).toBeNull();
    expect(r.status).toBe(0);
    expect(r.stdout).toBe("done");
  });
});
