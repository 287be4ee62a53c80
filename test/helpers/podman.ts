/**
 * podman as /work/shared/interop.md runs it on these machines: vfs storage in a private root and
 * runroot, the runc runtime, and a containers.conf without default ulimits (the sandbox forbids
 * raising them) and with cgroupfs. One sandbox per test file; cleanup() removes it all.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { removeTree } from "./fixture-store.js";

export interface PodmanSandbox {
  readonly dir: string;
  readonly env: NodeJS.ProcessEnv;
  /** The storage flags every podman call of this sandbox needs (for spawning podman yourself). */
  readonly flags: readonly string[];
  /** Runs podman with the sandbox's storage flags; returns stdout, throws with stderr on failure. */
  podman(args: readonly string[], input?: Buffer): string;
  /** `podman run --rm --network none IMAGE CMD...` with runc. */
  run(image: string, cmd?: readonly string[]): string;
  cleanup(): void;
}

export function podmanSandbox(prefix = "strata-podman-"): PodmanSandbox {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const conf = path.join(dir, "containers.conf");
  fs.writeFileSync(conf, '[containers]\ndefault_ulimits = []\n[engine]\ncgroup_manager = "cgroupfs"\n');
  const env = { ...process.env, CONTAINERS_CONF: conf };
  const base = ["--storage-driver", "vfs", "--root", path.join(dir, "storage"), "--runroot", path.join(dir, "run")];
  const podman = (args: readonly string[], input?: Buffer): string =>
    execFileSync("podman", [...base, ...args], { env, input, encoding: "utf8", timeout: 300_000, maxBuffer: 64 << 20, stdio: ["pipe", "pipe", "pipe"] });
  return {
    dir,
    env,
    flags: base,
    podman,
    run: (image, cmd = []) => podman(["--runtime", "runc", "run", "--rm", "--network", "none", image, ...cmd]),
    // vfs copies the images' read-only store directories: removeTree makes them writable first.
    cleanup: () => removeTree(dir),
  };
}
