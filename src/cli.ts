/**
 * The strata command line: argument parsing, progress, exit codes. A thin layer over the library,
 * which it imports lazily so `--help` is instant. One top-level catch turns every failure into one
 * line (code, message) plus a hint on stderr and a non-zero exit; --debug adds the stack.
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { StrataError, toStrataError } from "./errors.js";
import { HELP, VERSION } from "./cli/help.js";
import { progressReporter, type ProgressMode } from "./cli/progress.js";
import { IMAGE_FLAGS } from "./cli/build-args.js";
import { NIX_SHELL_FLAGS } from "./nix-shell/cli-args.js";
import { REGISTRY_FLAGS } from "./cli/registry-args.js";
import type { ProgressEvent } from "./image/image-spec.js";
import type { OutputOptions } from "./options.js";
import { fixMallocThreshold } from "./native.js";

type Values = Record<string, string | boolean | string[] | undefined>;

const COMMON: NonNullable<ParseArgsConfig["options"]> = {
  output: { type: "string", short: "o" },
  format: { type: "string", short: "f" },
  "layer-compress": { type: "string" },
  compress: { type: "string" },
  level: { type: "string" },
  workers: { type: "string", short: "j" },
  "tmp-dir": { type: "string" },
  "store-root": { type: "string" },
  quiet: { type: "boolean", short: "q" },
  json: { type: "boolean" },
  debug: { type: "boolean" },
  help: { type: "boolean", short: "h" },
};

/** Every command and the flags it accepts (the --help texts must list exactly these: tested). */
export const COMMANDS: Record<string, NonNullable<ParseArgsConfig["options"]>> = {
  stream: { ...COMMON, "repo-tag": { type: "string", short: "t" }, repo_tag: { type: "string" } },
  build: { ...COMMON, ...IMAGE_FLAGS },
  plan: { ...IMAGE_FLAGS, "store-root": COMMON["store-root"]!, "tmp-dir": COMMON["tmp-dir"]!, compare: { type: "boolean" }, json: { type: "boolean" }, debug: { type: "boolean" }, help: { type: "boolean", short: "h" } },
  merge: { output: COMMON["output"]!, "tmp-dir": COMMON["tmp-dir"]!, quiet: COMMON["quiet"]!, debug: { type: "boolean" }, help: { type: "boolean", short: "h" } },
  inspect: { ref: { type: "string" }, platform: { type: "string" }, ...REGISTRY_FLAGS, json: { type: "boolean" }, debug: { type: "boolean" }, help: { type: "boolean", short: "h" } },
  pull: { output: COMMON["output"]!, format: COMMON["format"]!, platform: { type: "string" }, ...REGISTRY_FLAGS, workers: COMMON["workers"]!, "tmp-dir": COMMON["tmp-dir"]!, quiet: COMMON["quiet"]!, json: COMMON["json"]!, debug: { type: "boolean" }, help: { type: "boolean", short: "h" } },
  demo: { ...COMMON },
  cache: { "cache-dir": { type: "string" }, "older-than": { type: "string" }, json: { type: "boolean" }, debug: { type: "boolean" }, help: { type: "boolean", short: "h" } },
  export: { output: COMMON["output"]!, ref: { type: "string" }, "tmp-dir": COMMON["tmp-dir"]!, quiet: COMMON["quiet"]!, debug: { type: "boolean" }, help: { type: "boolean", short: "h" } },
  index: { output: COMMON["output"]!, "manifest-format": { type: "string" }, "tmp-dir": COMMON["tmp-dir"]!, quiet: COMMON["quiet"]!, debug: { type: "boolean" }, help: { type: "boolean", short: "h" } },
  "nix-shell-image": { ...COMMON, ...NIX_SHELL_FLAGS },
};

export async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  let debug = argv.includes("--debug");
  try {
    if (command === undefined || command === "help" || command === "--help" || command === "-h") {
      process.stdout.write(HELP.main);
      return command === undefined ? 2 : 0;
    }
    if (command === "--version" || command === "-V") {
      process.stdout.write(`strata ${VERSION}\n`);
      return 0;
    }
    const spec = COMMANDS[command];
    if (spec === undefined) {
      throw new StrataError("E_USAGE", `unknown command ${JSON.stringify(command)}`, "run `strata --help` for the commands");
    }
    let parsed: { values: Values; positionals: string[] };
    try {
      parsed = parseArgs({ args: [...rest], options: spec, allowPositionals: true, strict: true }) as typeof parsed;
    } catch (err) {
      throw new StrataError("E_USAGE", (err as Error).message.split("\n")[0]!, `run \`strata ${command} --help\``);
    }
    const v = parsed.values;
    debug = v["debug"] === true;
    if (v["help"] === true) {
      process.stdout.write(HELP[command as keyof typeof HELP]);
      return 0;
    }
    return await run(command, v, parsed.positionals);
  } catch (err) {
    return report(err, debug);
  }
}

async function run(command: string, v: Values, positionals: string[]): Promise<number> {
  fixMallocThreshold();
  const mode: ProgressMode = v["json"] === true ? "json" : v["quiet"] === true ? "quiet" : "auto";
  const progress = progressReporter(mode);
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => {
    if (controller.signal.aborted) process.exit(signal === "SIGINT" ? 130 : 143); // second Ctrl-C: leave now
    controller.abort(new StrataError("E_ABORTED", `interrupted by ${signal}`, "nothing to do"));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  let pool: typeof import("./pool/pool.js") | undefined;
  try {
    if (command === "plan" || command === "inspect") return await runReport(command, v, positionals);
    if (command === "cache") {
      const { runCacheCommand } = await import("./cli/cache-command.js");
      const options = { ...(v["cache-dir"] === undefined ? {} : { cacheDir: str(v["cache-dir"])! }), ...(v["older-than"] === undefined ? {} : { olderThan: str(v["older-than"])! }), json: v["json"] === true };
      return runCacheCommand(positionals, options, process.stdout, (m) => process.stderr.write(`strata: warning: ${m}\n`));
    }
    if (command === "merge") {
      if (v["output"] === undefined && process.stdout.isTTY) throw ttyError();
      const { mergeImages } = await import("./merge.js");
      const r = await mergeImages(positionals, str(v["output"]) ?? 1, { ...(v["tmp-dir"] === undefined ? {} : { tmpDir: str(v["tmp-dir"])! }), signal: controller.signal });
      if (v["quiet"] !== true) process.stderr.write(`merged ${r.images.length} images, ${r.layers} distinct layers, ${r.bytes} bytes\n`);
      return 0;
    }
    if (command === "export" || command === "index") return await runImageTool(command, v, positionals, controller.signal);
    if (command === "pull") return await (await import("./cli/pull-command.js")).runPull(v, positionals, controller.signal, progress.onProgress, process.stderr);
    const common = await commonOptions(v, controller.signal, progress.onProgress);
    pool = await prestartPool(common.workers);
    if (command === "stream") {
      const conf = single(positionals, "CONF.json", "stream");
      const { streamImage } = await import("./stream.js");
      const tag = str(v["repo-tag"]) ?? str(v["repo_tag"]);
      await streamImage(conf, { ...common, ...(tag === undefined ? {} : { repoTag: tag }), ...storeRoot(v) });
    } else if (command === "nix-shell-image") {
      const drv = single(positionals, "DRV.json", "nix-shell-image");
      const [{ nixShellOptionsFromArgs }, { buildNixShellImage }] = await Promise.all([import("./nix-shell/cli-args.js"), import("./nix-shell/nix-shell-image.js")]);
      await buildNixShellImage({ ...common, ...nixShellOptionsFromArgs(drv, v) });
    } else if (command === "build") {
      noPositionals(positionals, "build");
      const [{ buildOptionsFromArgs }, { buildImage }] = await Promise.all([import("./cli/build-args.js"), import("./build.js")]);
      await buildImage({ ...common, ...buildOptionsFromArgs(v) });
    } else {
      noPositionals(positionals, "demo");
      const { runDemo } = await import("./cli/demo.js");
      await runDemo(common);
    }
    return 0;
  } finally {
    await pool?.discardSparePool();
    progress.close();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

/** Start the layer workers now, while the build's modules load and it plans (see prestartLayerPool). */
async function prestartPool(workers: number | undefined): Promise<typeof import("./pool/pool.js")> {
  const [pool, { workerCount }] = await Promise.all([import("./pool/pool.js"), import("./pool/worker-count.js")]);
  pool.prestartLayerPool(workerCount(workers));
  return pool;
}

async function commonOptions(v: Values, signal: AbortSignal, onProgress: (e: ProgressEvent) => void): Promise<OutputOptions & { output: string | number }> {
  const output = str(v["output"]);
  if (output === undefined && v["format"] === "oci") {
    throw new StrataError("E_USAGE", "--format oci writes a layout directory, not a stream", "give the directory with -o DIR");
  }
  if (output === undefined && process.stdout.isTTY) throw ttyError();
  return {
    output: output ?? 1,
    ...(v["format"] === undefined ? {} : { format: str(v["format"]) as OutputOptions["format"] & string }),
    ...(v["layer-compress"] === undefined ? {} : { layerCompress: str(v["layer-compress"]) as OutputOptions["layerCompress"] & string }),
    ...(v["compress"] === undefined ? {} : { compress: str(v["compress"]) as OutputOptions["compress"] & string }),
    ...(v["level"] === undefined ? {} : { level: int(v["level"], "--level") }),
    ...(v["workers"] === undefined ? {} : { workers: int(v["workers"], "--workers") }),
    ...(v["tmp-dir"] === undefined ? {} : { tmpDir: str(v["tmp-dir"])! }),
    signal,
    onProgress,
  };
}

function ttyError(): StrataError {
  return new StrataError("E_USAGE", "stdout is a terminal: an image archive would be written to it",
    "write to a file with -o FILE, or pipe the output (e.g. | podman load)");
}

/** export (an image's filesystem as a tar) and index (a multi-platform image from several images). */
async function runImageTool(command: "export" | "index", v: Values, positionals: string[], signal: AbortSignal): Promise<number> {
  const tmp = v["tmp-dir"] === undefined ? {} : { tmpDir: str(v["tmp-dir"])! };
  const output = str(v["output"]);
  if (command === "export") {
    const toStdout = output === undefined || output === "-";
    if (toStdout && process.stdout.isTTY) {
      throw new StrataError("E_USAGE", "stdout is a terminal: a tar of the image's files would be written to it", "write to a file with -o FILE, or pipe the output (e.g. | tar -t)");
    }
    const { exportImage } = await import("./export/index.js");
    const r = await exportImage(single(positionals, "IMAGE", "export"), toStdout ? 1 : output, { ...tmp, signal, ...(v["ref"] === undefined ? {} : { ref: str(v["ref"])! }) });
    if (v["quiet"] !== true) process.stderr.write(`exported ${r.entries} entries from ${r.layers} layers, ${r.bytes} bytes\n`);
    return 0;
  }
  if (output === undefined) throw new StrataError("E_USAGE", "strata index needs -o DEST", "e.g. -o oci:DIR:TAG, -o DIR or -o oci-archive:FILE");
  const format = str(v["manifest-format"]) ?? "oci";
  if (format !== "oci" && format !== "docker") throw new StrataError("E_USAGE", `--manifest-format must be oci or docker, got ${JSON.stringify(format)}`, "e.g. --manifest-format docker");
  const { writeIndex } = await import("./index-image/index.js");
  const r = await writeIndex(positionals, output, { ...tmp, signal, manifestFormat: format });
  if (v["quiet"] !== true) process.stderr.write(`wrote ${r.manifests.length} platforms (${r.manifests.map((m) => m.platform).join(", ")}) to ${output}: ${r.index.digest}\n`);
  return 0;
}

/** plan and inspect: reports on stdout, no image written. */
async function runReport(command: "plan" | "inspect", v: Values, positionals: string[]): Promise<number> {
  const json = v["json"] === true;
  if (command === "inspect") {
    const { inspectImage, formatInspect } = await import("./inspect.js");
    const { registryOptionsFromArgs } = await import("./cli/registry-args.js");
    const r = await inspectImage(single(positionals, "IMAGE", "inspect"), { ...(v["ref"] === undefined ? {} : { ref: str(v["ref"])! }), ...(v["platform"] === undefined ? {} : { platform: str(v["platform"])! }), registry: registryOptionsFromArgs(v) });
    process.stdout.write(json ? JSON.stringify(r, null, 2) + "\n" : formatInspect(r));
    return 0;
  }
  const [{ buildOptionsFromArgs }, { runPlan, runCompare }] = await Promise.all([import("./cli/build-args.js"), import("./cli/plan-command.js")]);
  const root = str(v["store-root"]);
  if (v["compare"] === true) {
    const closure = { ...(str(v["graph"]) === undefined ? {} : { graph: str(v["graph"])! }), ...(v["from-store"] === undefined ? {} : { fromStore: v["from-store"] as string[] }), ...(root === undefined ? {} : { storeRoot: root }) };
    runCompare(positionals, closure, json, process.stdout);
    return 0;
  }
  noPositionals(positionals, "plan");
  await runPlan({ ...buildOptionsFromArgs(v), ...(v["tmp-dir"] === undefined ? {} : { tmpDir: str(v["tmp-dir"])! }) }, json, process.stdout, (m) => process.stderr.write(`strata: warning: ${m}\n`));
  return 0;
}

export type CommonCliOptions = OutputOptions & { output: string | number };

function storeRoot(v: Values): { storeRoot?: string } {
  const root = str(v["store-root"]);
  return root === undefined ? {} : { storeRoot: root.replace(/\/+$/, "") };
}

export function str(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

export function int(value: unknown, flag: string): number {
  const s = str(value) ?? "";
  if (!/^-?\d+$/.test(s)) throw new StrataError("E_USAGE", `${flag} must be an integer, got ${JSON.stringify(s)}`, `e.g. ${flag} 4`);
  return Number(s);
}

function single(positionals: string[], what: string, command: string): string {
  if (positionals.length !== 1) {
    throw new StrataError("E_USAGE", `strata ${command} takes one ${what}, got ${positionals.length}`, `run \`strata ${command} --help\``);
  }
  return positionals[0]!;
}

function noPositionals(positionals: string[], command: string): void {
  if (positionals.length > 0) {
    throw new StrataError("E_USAGE", `strata ${command} takes no positional arguments, got ${JSON.stringify(positionals[0])}`, `run \`strata ${command} --help\``);
  }
}

function report(err: unknown, debug: boolean): number {
  const e = toStrataError(err);
  process.stderr.write(`strata: ${e.code}: ${e.message}\n  hint: ${e.hint}\n`);
  if (debug) process.stderr.write(`${(err as Error)?.stack ?? String(err)}\n`);
  switch (e.code) {
    case "E_USAGE":
      return 2;
    case "E_OUTPUT_CLOSED":
      return 141; // as if killed by SIGPIPE, like other tools in a pipeline
    case "E_ABORTED":
      return 130;
    default:
      return 1;
  }
}
