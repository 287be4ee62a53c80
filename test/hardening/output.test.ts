/**
 * Where `-o` writes (issue 15, items 1 and 2; docs/security.md): a temp name nobody can predict,
 * never following a link planted under it; a rename only over a regular file or nothing; links,
 * devices and FIFOs written in place. Real processes where the hole was: user nobody planting
 * links in a 1777 directory, and `unshare -m` with a private /dev for `-o /dev/stdout`.
 */
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fileSink } from "../../src/dest/sink.js";
import { registeredPaths } from "../../src/exit-cleanup.js";
import { makeFixtureStore, type FixtureStore } from "../helpers/fixture-store.js";

const CLI = path.join(import.meta.dirname, "../../bin/strata.js");
const NOBODY = ["--reuid=65534", "--regid=65534", "--clear-groups"];
let store: FixtureStore;
let dir: string;
let reference: Buffer;

const buildArgs = (): string[] => ["build", "--graph", store.graphFile, "--contents", store.pathOf("app-1.0"), "--store-root", store.root, "-q"];

function asNobody(cmd: string[]): void {
  const r = spawnSync("setpriv", [...NOBODY, ...cmd], { encoding: "utf8" });
  expect(r.status, r.stderr).toBe(0);
}

/** Files strata may have left: temp outputs. */
function temps(d: string): string[] {
  return fs.readdirSync(d).filter((f) => f.includes(".strata-"));
}

beforeAll(() => {
  store = makeFixtureStore([
    { name: "lib-1.0", entries: [{ kind: "file", path: "lib/lib.so", content: "lib" }] },
    { name: "app-1.0", references: ["lib-1.0"], entries: [{ kind: "file", path: "bin/app", content: "app", executable: true }] },
  ]);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "strata-output-"));
  fs.chmodSync(dir, 0o755); // user nobody plants links in a directory below it
  const ref = path.join(dir, "reference.tar");
  const r = spawnSync("node", [CLI, ...buildArgs(), "-o", ref], { encoding: "utf8" });
  expect(r.status, r.stderr).toBe(0);
  reference = fs.readFileSync(ref);
});

afterAll(() => {
  store.cleanup();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A 1777 directory like /tmp, and a root-owned 0600 file elsewhere that nobody must get strata to overwrite. */
function sharedDirAndSecret(): { shared: string; secret: string } {
  const shared = fs.mkdtempSync(path.join(dir, "shared-"));
  fs.chmodSync(shared, 0o1777);
  const vault = fs.mkdtempSync(path.join(dir, "vault-"));
  fs.chmodSync(vault, 0o755);
  const secret = path.join(vault, "secret");
  fs.writeFileSync(secret, "SECRET\n", { mode: 0o600 });
  return { shared, secret };
}

function expectIntact(secret: string): void {
  expect(fs.readFileSync(secret, "utf8")).toBe("SECRET\n");
  expect(fs.statSync(secret).mode & 0o777).toBe(0o600);
}

describe("-o into a shared directory (issue 15 item 1)", () => {
  it("never follows a link user nobody planted under the temp name", async () => {
    const { shared, secret } = sharedDirAndSecret();
    const out = path.join(shared, "image.tar");
    const child = spawn("sh", ["-c", `umask 022 && exec node "$@"`, "sh", CLI, ...buildArgs(), "-o", out], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
    // The name today's code would use is known as soon as the process exists; plant it (and its
    // neighbours) before strata, still loading its modules, gets to open it.
    for (const pid of [child.pid!, child.pid! + 1, child.pid! + 2]) asNobody(["ln", "-s", secret, path.join(shared, `.image.tar.strata-${pid}.tmp`)]);
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    expect(code, stderr).toBe(0);
    expectIntact(secret);
    expect(fs.lstatSync(out).isFile()).toBe(true);
    expect(fs.readFileSync(out).equals(reference)).toBe(true);
    expect(fs.statSync(out).mode & 0o777).toBe(0o644); // 0600 while written, then what umask 022 gives a new file
    // The planted links are nobody's business of ours: left as they were.
    const planted = temps(shared);
    expect(planted).toHaveLength(3);
    for (const f of planted) expect(fs.readlinkSync(path.join(shared, f))).toBe(secret);
  });

  it("refuses a link nobody planted under the output name itself", () => {
    const { shared, secret } = sharedDirAndSecret();
    const out = path.join(shared, "image.tar");
    asNobody(["ln", "-s", secret, out]);
    const r = spawnSync("node", [CLI, ...buildArgs(), "-o", out], { encoding: "utf8" });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^strata: E_WRITE: the output .*image\.tar is a symbolic link owned by uid 65534/);
    expectIntact(secret);
    expect(fs.readlinkSync(out)).toBe(secret);
    expect(temps(shared)).toEqual([]);
  });

  it("writes through a link of the user's own, in place: the link stays, the file it names gets the image", () => {
    const d = fs.mkdtempSync(path.join(dir, "own-link-"));
    const file = path.join(d, "images", "v1.tar");
    fs.mkdirSync(path.dirname(file));
    fs.writeFileSync(file, "an older and longer image ".repeat(10_000));
    fs.symlinkSync("images/v1.tar", path.join(d, "image.tar"));
    const r = spawnSync("node", [CLI, ...buildArgs(), "-o", path.join(d, "image.tar")], { encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    expect(fs.readlinkSync(path.join(d, "image.tar"))).toBe("images/v1.tar");
    expect(fs.readFileSync(file).equals(reference)).toBe(true);
    expect([...temps(d), ...temps(path.dirname(file))]).toEqual([]);
  });

  it("does not rename over what replaced the output while it was written, and leaves no temp file", async () => {
    const d = fs.mkdtempSync(path.join(dir, "swapped-"));
    const out = path.join(d, "image.tar");
    const sink = await fileSink(out);
    await sink.write(Buffer.alloc(1 << 20, 1));
    expect(registeredPaths().some((p) => p.startsWith(path.join(d, ".image.tar.strata-")))).toBe(true);
    fs.symlinkSync("/dev/null", out);
    await expect(sink.commit()).rejects.toMatchObject({ code: "E_WRITE", message: expect.stringMatching(/found a symbolic link/) });
    expect(fs.readlinkSync(out)).toBe("/dev/null");
    expect(temps(d)).toEqual([]);
    expect(registeredPaths().filter((p) => p.startsWith(d))).toEqual([]);
  });

  it("names its temp file unpredictably, and creates it 0600", async () => {
    const d = fs.mkdtempSync(path.join(dir, "names-"));
    const sinks = await Promise.all([1, 2, 3].map(() => fileSink(path.join(d, "image.tar"))));
    const names = temps(d);
    expect(new Set(names).size).toBe(3);
    for (const n of names) {
      expect(n).toMatch(/^\.image\.tar\.strata-[0-9a-f]{16}\.tmp$/);
      expect(n).not.toContain(String(process.pid));
      expect(fs.statSync(path.join(d, n)).mode & 0o777).toBe(0o600);
    }
    await Promise.all(sinks.map((s) => s.abort()));
    expect(temps(d)).toEqual([]);
  });
});

describe("-o /dev/stdout and other non-files (issue 15 item 2)", () => {
  it("writes -o /dev/stdout to where stdout goes, leaving /dev/stdout a link (in a private /dev, unshare -m)", () => {
    const probe = spawnSync("unshare", ["-m", "true"]);
    if (probe.status !== 0) {
      if (process.env["STRATA_REQUIRE_INTEROP"] === "1") throw new Error("unshare -m is needed for this test");
      console.warn("SKIPPED: unshare -m is not permitted here");
      return;
    }
    const d = fs.mkdtempSync(path.join(dir, "devstdout-"));
    const out = path.join(d, "redirected.tar");
    const listing = path.join(d, "dev-listing");
    const q = (p: string): string => `'${p.replace(/'/g, "'\\''")}'`;
    // A private tmpfs over /dev, with the links a real /dev has: whatever strata does to it stays in this namespace.
    const script = [
      "mount -t tmpfs tmpfs /dev",
      "ln -s /proc/self/fd /dev/fd && ln -s /proc/self/fd/1 /dev/stdout && mknod -m 666 /dev/null c 1 3",
      `node ${[CLI, ...buildArgs(), "-o", "/dev/stdout"].map(q).join(" ")} > ${q(out)}`,
      "rc=$?",
      `ls -la /dev > ${q(listing)}`,
      `test -L /dev/stdout && echo "stdout is a link" >> ${q(listing)}`,
      "exit $rc",
    ].join("\n");
    const r = spawnSync("unshare", ["-m", "sh", "-c", script], { encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    expect(fs.readFileSync(out).equals(reference)).toBe(true);
    const dev = fs.readFileSync(listing, "utf8");
    expect(dev).toContain("stdout is a link");
    expect(dev).not.toContain(".strata-");
  });

  it("writes a FIFO in place: the reader gets the image, the FIFO stays a FIFO", async () => {
    const d = fs.mkdtempSync(path.join(dir, "fifo-"));
    const fifo = path.join(d, "pipe");
    expect(spawnSync("mkfifo", [fifo]).status).toBe(0);
    const reader = spawn("cat", [fifo], { stdio: ["ignore", "pipe", "inherit"] });
    const chunks: Buffer[] = [];
    reader.stdout.on("data", (b: Buffer) => chunks.push(b));
    const r = spawnSync("node", [CLI, ...buildArgs(), "-o", fifo], { encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    await new Promise((resolve) => reader.on("close", resolve));
    expect(Buffer.concat(chunks).equals(reference)).toBe(true);
    expect(fs.lstatSync(fifo).isFIFO()).toBe(true);
    expect(temps(d)).toEqual([]);
  });
});
