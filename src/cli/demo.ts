/**
 * `strata demo` (what `npm start` runs): generate a small closure in a temp dir, build an image
 * from it with the same code path as `strata build`, and print its layers.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { buildImage } from "../build.js";
import { sha256Hex } from "../digest.js";
import { nixBase32 } from "../nix-base32.js";
import type { ImageResult } from "../image/image-spec.js";
import type { CommonCliOptions } from "../cli.js";

interface DemoPath {
  readonly name: string;
  readonly refs: readonly string[];
  readonly files: Readonly<Record<string, string | { link: string }>>;
}

const DEMO: readonly DemoPath[] = [
  { name: "glibc-2.40", refs: [], files: { "lib/libc.so.6": "libc ".repeat(40_000), "lib/ld-linux-x86-64.so.2": "ld ".repeat(20_000) } },
  { name: "zlib-1.3.1", refs: ["glibc-2.40"], files: { "lib/libz.so.1.3.1": "zlib ".repeat(10_000), "lib/libz.so.1": { link: "libz.so.1.3.1" } } },
  { name: "hello-2.12.1", refs: ["glibc-2.40"], files: { "bin/hello": "#!hello\n".repeat(1000), "share/man/man1/hello.1": ".TH HELLO 1\n" } },
  { name: "demo-app-1.0", refs: ["hello-2.12.1", "zlib-1.3.1"], files: { "bin/demo-app": "#!app\n".repeat(500), "etc/demo.conf": "greeting=hello\n" } },
];

/**
 * The image goes to -o FILE, else to stdout when it is not a terminal (`strata demo | podman
 * load`), else to a temp file it names. The table of layers goes to stderr unless `table` is false
 * (-q, --json).
 */
export async function runDemo(common: CommonCliOptions, table: boolean): Promise<{ result: ImageResult; destination: string }> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "strata-demo-"));
  try {
    const storePath = (name: string): string => `/nix/store/${nixBase32(Buffer.from(sha256Hex(name), "hex").subarray(0, 20))}-${name}`;
    const graph = DEMO.map((p) => {
      const dir = path.join(root, storePath(p.name));
      for (const [rel, content] of Object.entries(p.files)) {
        const file = path.join(dir, rel);
        fs.mkdirSync(path.dirname(file), { recursive: true });
        if (typeof content === "string") fs.writeFileSync(file, content, { mode: 0o444 });
        else fs.symlinkSync(content.link, file);
      }
      const narSize = Object.values(p.files).reduce((n, c) => n + (typeof c === "string" ? c.length : 0), 0);
      return { path: storePath(p.name), references: [storePath(p.name), ...p.refs.map(storePath)], narSize };
    });
    const output = typeof common.output === "string" || !process.stdout.isTTY ? common.output : path.join(os.tmpdir(), `strata-demo-${process.pid}.tar`);
    const destination = typeof output === "string" ? output : "stdout";
    const app = storePath("demo-app-1.0");
    const result = await buildImage({
      ...common,
      output,
      graph: { storeDir: "/nix/store", paths: new Map(graph.map((g) => [g.path, { ...g, references: g.references.slice(1).sort(), selfReference: true }])) },
      contents: [app],
      config: { Cmd: [`${app}/bin/demo-app`] },
      name: "strata-demo",
      maxLayers: 4,
      storeRoot: root,
    });
    if (!table) return { result, destination };
    const lines = ["layer     bytes  diff_id                  store paths"];
    result.layers.forEach((l, i) => {
      const paths = l.paths.map((p) => p.replace(/^\/nix\/store\/[^-]+-/, "")).join(" ") || "(customisation: symlinks to the contents)";
      lines.push(`${String(i + 1).padStart(5)}  ${String(l.size).padStart(8)}  ${l.diffId.slice(0, 23)}  ${i === result.layers.length - 1 ? "customisation layer: " : ""}${paths}`);
    });
    if (typeof output === "string") lines.push(`try: skopeo inspect docker-archive:${output}`);
    process.stderr.write(lines.join("\n") + "\n");
    return { result, destination };
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}
