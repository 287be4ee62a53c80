/**
 * Interop with podman: an image whose store holds a static busybox is loaded by `podman load`
 * (from a file, and from strata's CLI streaming into podman's stdin) and really runs under runc.
 * Recipe from /work/shared/interop.md: vfs storage, a private --root/--runroot, the runc runtime,
 * and a containers.conf without default ulimits and with cgroupfs.
 */
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildImage } from "../../src/build.js";
import { podmanSandbox, type PodmanSandbox } from "../helpers/podman.js";
import { makeFixtureStore, type FixtureStore } from "../helpers/fixture-store.js";
import { requireTool, validateArchive } from "../helpers/interop.js";

// busybox: the fixture copies /bin/busybox, which Debian's busybox-static installs (statically linked).
const haveTools = requireTool("podman") && requireTool("runc") && requireTool("busybox");

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const STRATA_CLI = path.join(REPO_ROOT, "bin", "strata.js");
const CMD = ["/bin/sh", "-c", "echo hello-from-strata"];

describe.skipIf(!haveTools)("podman loads and runs strata images", () => {
  let store: FixtureStore;
  let tmp: string;
  let sandbox: PodmanSandbox;

  beforeAll(() => {
    store = makeFixtureStore([
      { name: "greeting-1.0", entries: [{ kind: "file", path: "share/greeting", content: "hello from the store\n" }] },
      { name: "busybox-static-1.36", references: ["greeting-1.0"], entries: [{ kind: "busybox" }, { kind: "file", path: "etc/motd", content: "motd\n" }] },
    ]);
    sandbox = podmanSandbox("strata-interop-podman-");
    tmp = sandbox.dir;
  });

  afterAll(() => {
    store?.cleanup();
    sandbox?.cleanup();
  });

  const podman = (args: string[], input?: Buffer): string => sandbox.podman(args, input);
  const podmanRun = (image: string, cmd: string[] = []): string => sandbox.run(image, cmd);

  it("podman load -i, then run a command and the image's default Cmd", async () => {
    const busybox = store.pathOf("busybox-static-1.36");
    const file = path.join(tmp, "busybox.tar");
    const result = await buildImage({
      graph: store.graph,
      contents: [busybox],
      config: { Cmd: CMD },
      storeRoot: store.root,
      name: "strata-busybox",
      tag: "v1",
      output: file,
      workers: 2,
    });
    const archive = await validateArchive(file, result);
    expect(archive.config.config?.["Cmd"]).toEqual(CMD);

    const loaded = podman(["load", "-i", file]);
    expect(loaded).toContain("Loaded image: localhost/strata-busybox:v1");
    // podman's image ID is the config digest strata reported.
    const id = podman(["image", "inspect", "--format", "{{.Id}}", "localhost/strata-busybox:v1"]).trim();
    expect(`sha256:${id}`).toBe(result.imageId);

    const out = podmanRun("localhost/strata-busybox:v1", ["/bin/sh", "-c", "echo ok; ls /nix/store"]);
    expect(out.split("\n").filter((l) => l !== "")).toEqual(["ok", ...[store.pathOf("busybox-static-1.36"), store.pathOf("greeting-1.0")].map((p) => path.basename(p)).sort()]);

    // /bin/busybox at the root is the customisation layer's symlink into the store; /bin/sh is the
    // store path's own relative symlink `sh -> busybox`, copied as it is (as lndir does), so it
    // resolves through /bin/busybox. The referenced path's files are there and readable.
    const probe = podmanRun("localhost/strata-busybox:v1", [
      "/bin/sh", "-c", `readlink /bin/sh; readlink /bin/busybox; readlink -f /bin/sh; cat ${store.pathOf("greeting-1.0")}/share/greeting; cat /etc/motd; stat -c %a ${busybox}/bin/busybox ${busybox}`,
    ]);
    expect(probe).toBe(`busybox\n${busybox}/bin/busybox\n${busybox}/bin/busybox\nhello from the store\nmotd\n555\n555\n`);

    expect(podmanRun("localhost/strata-busybox:v1")).toBe("hello-from-strata\n");
  });

  it("strata build streams into podman load on stdin", async () => {
    const busybox = store.pathOf("busybox-static-1.36");
    const configFile = path.join(tmp, "config.json");
    fs.writeFileSync(configFile, JSON.stringify({ Cmd: ["/bin/sh", "-c", "echo streamed-into-podman"] }));
    const copy = path.join(tmp, "streamed.tar");

    const strata = spawn(process.execPath, [
      STRATA_CLI, "build", "--graph", store.graphFile, "--contents", busybox, "--config", configFile,
      "--store-root", store.root, "--name", "strata-streamed", "--tag", "s1", "--quiet", "-j", "2",
    ], { stdio: ["ignore", "pipe", "pipe"] });
    const load = spawn("podman", [...sandbox.flags, "load"], { env: sandbox.env, stdio: ["pipe", "pipe", "pipe"] });
    // The same bytes go to podman and to a file, which is re-validated below.
    const file = fs.createWriteStream(copy);
    strata.stdout.pipe(load.stdin);
    strata.stdout.pipe(file);
    const collect = (s: NodeJS.ReadableStream): Promise<string> => new Promise((resolve) => {
      let text = "";
      s.setEncoding("utf8");
      s.on("data", (c: string) => (text += c));
      s.on("end", () => resolve(text));
    });
    const exited = (p: ReturnType<typeof spawn>): Promise<number | null> => new Promise((resolve, reject) => {
      p.on("error", reject);
      p.on("close", (code) => resolve(code));
    });
    const [strataErr, loadOut, loadErr, strataCode, loadCode] = await Promise.all([
      collect(strata.stderr), collect(load.stdout), collect(load.stderr), exited(strata), exited(load),
      new Promise<void>((resolve) => file.on("close", () => resolve())),
    ]);
    expect(strataErr).toBe("");
    expect(strataCode).toBe(0);
    expect(loadCode, loadErr).toBe(0);
    expect(loadOut).toContain("Loaded image: localhost/strata-streamed:s1");

    const archive = await validateArchive(copy);
    const id = podman(["image", "inspect", "--format", "{{.Id}}", "localhost/strata-streamed:s1"]).trim();
    expect(id).toBe(path.basename(archive.manifest[0]!.Config, ".json"));
    expect(podmanRun("localhost/strata-streamed:s1")).toBe("streamed-into-podman\n");
    // The streamed image has the same layers as the library builds for the same input.
    const viaLibrary = path.join(tmp, "library.tar");
    const result = await buildImage({
      graph: store.graphFile, contents: [busybox], config: { Cmd: ["/bin/sh", "-c", "echo streamed-into-podman"] },
      storeRoot: store.root, name: "strata-streamed", tag: "s1", output: viaLibrary, workers: 2,
    });
    await validateArchive(viaLibrary, result);
    expect(fs.readFileSync(copy).equals(fs.readFileSync(viaLibrary))).toBe(true);
  });

  it("podman refuses a truncated stream (so the loads above prove something)", async () => {
    const file = path.join(tmp, "to-truncate.tar");
    const result = await buildImage({
      graph: store.graph, contents: [store.pathOf("busybox-static-1.36")], config: { Cmd: CMD },
      storeRoot: store.root, name: "strata-truncated", tag: "t", output: file, workers: 2,
    });
    await validateArchive(file, result);
    const whole = fs.readFileSync(file);
    const r = spawnSync("podman", [...sandbox.flags, "load"], { env: sandbox.env, input: whole.subarray(0, Math.floor(whole.length / 2)), encoding: "utf8", timeout: 300_000 });
    expect(r.status).not.toBe(0);
    expect(podman(["images", "--format", "{{.Repository}}:{{.Tag}}"])).not.toContain("strata-truncated");
  });
});
