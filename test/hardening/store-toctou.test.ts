/**
 * Time of check, time of use (issue 15, item 8): a store file swapped, between planning a layer
 * and writing it, for a symlink to a host file of the same size, or for a FIFO, is an
 * E_FILE_CHANGED naming the file: never the host file's bytes in the image, never a hang.
 *
 * Each case runs plan, swap, write in a child process (the built dist/), so that a build that
 * would block in open() on the FIFO is killed by the timeout and fails the test instead of
 * hanging the test runner: a blocked open() cannot be interrupted from inside the process.
 * /tmp is on a disk here, so writeLayer opens files ahead (the posix_fadvise read-ahead path);
 * the direct ChunkedOutput.file cases cover the open at the file's turn.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeFixtureStore, type FixtureStore } from "../helpers/fixture-store.js";

const DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../dist/src/layer");
const SECRET = "host secret, 32 bytes long!!!!!\n";

let store: FixtureStore;
let host: string;

beforeAll(() => {
  store = makeFixtureStore([{ name: "victim-1.0", entries: [
    { kind: "file", path: "etc/before", content: "x".repeat(100) },
    { kind: "file", path: "etc/target", content: "y".repeat(SECRET.length) },
    { kind: "file", path: "etc/z-after", content: "z".repeat(100) },
  ] }]);
  host = fs.mkdtempSync(path.join(os.tmpdir(), "strata-toctou-"));
  fs.writeFileSync(path.join(host, "secret"), SECRET);
});

afterAll(() => {
  store.cleanup();
  fs.rmSync(host, { recursive: true, force: true });
});

interface Outcome {
  readonly code?: string;
  readonly message?: string;
  readonly tar?: string;
}

/** Run `body` (an async function body with `fs`, `store`, `target`, `secret` in scope) in a child; its JSON result. */
function inChild(body: string): Outcome {
  const target = store.fsPath(`${store.pathOf("victim-1.0")}/etc/target`);
  const script = `
    import fs from "node:fs";
    import { execFileSync } from "node:child_process";
    import { planStoreLayer } from ${JSON.stringify(`${DIST}/store-layer.js`)};
    import { writeLayer } from ${JSON.stringify(`${DIST}/write-layer.js`)};
    import { ChunkedOutput, callbackTarget } from ${JSON.stringify(`${DIST}/chunked-output.js`)};
    const target = ${JSON.stringify(target)};
    const secret = ${JSON.stringify(path.join(host, "secret"))};
    const swap = (kind) => {
      fs.chmodSync(${JSON.stringify(path.dirname(target))}, 0o755);
      fs.rmSync(target);
      if (kind === "symlink") fs.symlinkSync(secret, target);
      else execFileSync("mkfifo", [target]);
    };
    const chunks = [];
    const out = new ChunkedOutput(callbackTarget((c) => chunks.push(Buffer.from(c))));
    try {
      ${body}
      out.end();
      console.log(JSON.stringify({ tar: Buffer.concat(chunks).toString("latin1") }));
    } catch (err) {
      console.log(JSON.stringify({ code: err.code, message: err.message }));
    }`;
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", timeout: 20_000, killSignal: "SIGKILL" });
  if (r.error !== undefined || r.signal !== null) throw new Error(`the child did not finish within 20 s (${r.signal ?? r.error?.message}): it hung`);
  expect(r.stderr).toBe("");
  return JSON.parse(r.stdout) as Outcome;
}

const restore = (): void => {
  const target = store.fsPath(`${store.pathOf("victim-1.0")}/etc/target`);
  fs.rmSync(target, { force: true });
  fs.writeFileSync(target, "y".repeat(SECRET.length), { mode: 0o444 });
};

describe("a store file swapped between planning and writing", () => {
  const planned = (): string => `const layer = planStoreLayer({ paths: [${JSON.stringify(store.pathOf("victim-1.0"))}], ownership: { uid: 0, gid: 0, uname: "root", gname: "root", mtime: 1 }, fsRoot: ${JSON.stringify(store.root)} });`;

  it("is written as planned when nothing is swapped (the harness itself works)", () => {
    const r = inChild(`${planned()} writeLayer(layer, out);`);
    expect(r.code).toBeUndefined();
    expect(r.tar).toContain("y".repeat(SECRET.length));
  });

  for (const kind of ["symlink", "fifo"] as const) {
    it(`for a ${kind}: E_FILE_CHANGED naming the file, the host file's bytes nowhere (read-ahead path)`, () => {
      try {
        const r = inChild(`${planned()} swap(${JSON.stringify(kind)}); writeLayer(layer, out);`);
        expect(r.tar).toBeUndefined();
        expect(r.code).toBe("E_FILE_CHANGED");
        expect(r.message).toContain("victim-1.0/etc/target");
        expect(r.message).toContain(kind === "fifo" ? "a FIFO" : "a symlink");
      } finally {
        restore();
      }
    }, 30_000);

    it(`for a ${kind}: E_FILE_CHANGED when the file is opened at its turn (ChunkedOutput.file)`, () => {
      try {
        const r = inChild(`swap(${JSON.stringify(kind)}); out.file(Buffer.from(target), ${SECRET.length});`);
        expect(r.tar).toBeUndefined();
        expect(r.code).toBe("E_FILE_CHANGED");
        expect(r.message).toContain("victim-1.0/etc/target");
      } finally {
        restore();
      }
    }, 30_000);
  }

  it("for a directory of the store path swapped for a symlink to a host directory with same-size files: E_FILE_CHANGED (native openBeneath)", () => {
    const etc = path.dirname(store.fsPath(`${store.pathOf("victim-1.0")}/etc/target`));
    const hostEtc = path.join(host, "etc");
    fs.mkdirSync(hostEtc, { recursive: true });
    fs.writeFileSync(path.join(hostEtc, "before"), "S".repeat(100));
    fs.writeFileSync(path.join(hostEtc, "target"), SECRET);
    fs.writeFileSync(path.join(hostEtc, "z-after"), "S".repeat(100));
    const moved = `${etc}.moved`;
    try {
      const r = inChild(`${planned()} fs.renameSync(${JSON.stringify(etc)}, ${JSON.stringify(moved)}); fs.symlinkSync(${JSON.stringify(hostEtc)}, ${JSON.stringify(etc)}); writeLayer(layer, out);`);
      expect(r.tar).toBeUndefined();
      expect(r.code).toBe("E_FILE_CHANGED");
      expect(r.message).toContain("victim-1.0/etc/");
    } finally {
      fs.rmSync(etc, { force: true });
      if (fs.existsSync(moved)) fs.renameSync(moved, etc);
    }
  }, 30_000);

  it("a regular file of another size is refused before a byte of it is read", () => {
    const r = inChild(`${planned()} fs.chmodSync(${JSON.stringify(store.fsPath(`${store.pathOf("victim-1.0")}/etc`))}, 0o755); fs.rmSync(target); fs.writeFileSync(target, "short"); writeLayer(layer, out);`);
    restore();
    expect(r.code).toBe("E_FILE_CHANGED");
    expect(r.message).toMatch(/planned a regular file of 32 bytes, found one of 5 bytes/);
  }, 30_000);
});
