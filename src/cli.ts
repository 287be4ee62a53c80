/**
 * The strata command line: argument parsing, progress, exit codes. A thin layer over the library,
 * which it imports lazily so `--help` is instant. One top-level catch turns every failure into one
 * line (code, message) plus a hint on stderr and a non-zero exit; --debug adds the stack.
 */
import { StrataError, toStrataError } from "./errors.js";
import { HELP, VERSION } from "./cli/help.js";
import { progressReporter, type ProgressMode, type ProgressReporter } from "./cli/progress.js";
import { closest, int, oneLine, parseCommandLine, str, type Values } from "./cli/args.js";
import { COMMAND_TABLE, COMMANDS } from "./cli/commands.js";
import { withFlagNames } from "./cli/flag-names.js";
import type { ImageResult, ProgressEvent } from "./image/image-spec.js";
import type { OutputOptions, RegistryOptions } from "./options.js";
import { fixMallocThreshold } from "./native.js";
import { removeRegisteredNow } from "./exit-cleanup.js";

export { COMMANDS, int, str };

export async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  let debug = argv.includes("--debug");
  // Known before parsing, so that a usage error is an event too.
  // (For the reports, inspect, plan and cache, --json is the report's form on stdout: their
  // failures stay one line of text.)
  const json = argv.includes("--json") && !REPORTS.has(command ?? "");
  let reporter: ProgressReporter | undefined;
  // Write errors on stdout reach the callers of writeReport(); without a listener, the 'error'
  // event that follows them would crash with a stack trace.
  if (process.stdout.listenerCount("error") === 0) process.stdout.on("error", () => undefined);
  try {
    if (command === undefined) {
      // Not a request for help: a usage error, on stderr, where it does not mix with data.
      process.stderr.write(HELP.main);
      return 2;
    }
    if (command === "help" || command === "--help" || command === "-h") {
      const topic = rest[0];
      if (topic !== undefined && !(topic in HELP && topic !== "main")) throw unknownCommand(topic);
      return (await writeReport(HELP[(topic ?? "main") as keyof typeof HELP])) ? 0 : READER_GONE;
    }
    if (command === "--version" || command === "-V") {
      return (await writeReport(`strata ${VERSION}\n`)) ? 0 : READER_GONE;
    }
    const spec = COMMAND_TABLE[command];
    if (spec === undefined) throw unknownCommand(command);
    const parsed = parseCommandLine(command, rest, spec.flags, COMMANDS);
    const v = parsed.values;
    debug = v["debug"] === true;
    if (v["help"] === true) return (await writeReport(HELP[command as keyof typeof HELP])) ? 0 : READER_GONE;
    if (v["quiet"] === true && v["json"] === true) {
      throw new StrataError("E_USAGE", "-q and --json exclude each other: --json reports every event, -q none", "drop one: -q for silence, --json for a machine to read");
    }
    const { name, min, max } = spec.positionals;
    if (parsed.positionals.length < min || parsed.positionals.length > max) {
      throw new StrataError("E_USAGE", max === 0
        ? `strata ${command} takes no positional arguments, got ${JSON.stringify(parsed.positionals[0])}`
        : `strata ${command} takes ${min === max ? "one" : min === 0 ? `at most ${max}` : "at least one"} ${name}, got ${parsed.positionals.length}`, `run \`strata ${command} --help\``);
    }
    const mode: ProgressMode = json ? "json" : v["quiet"] === true ? "quiet" : "auto";
    reporter = progressReporter(mode);
    return await run(command, v, parsed.positionals, reporter);
  } catch (err) {
    return report(err, debug, reporter ?? (json ? progressReporter("json") : undefined));
  }
}

/** Commands whose --json is the form of a report on stdout, not progress events. */
const REPORTS = new Set(["inspect", "plan", "cache"]);

function unknownCommand(command: string): StrataError {
  const near = closest(command, Object.keys(COMMAND_TABLE));
  return new StrataError("E_USAGE", `unknown command ${JSON.stringify(command)}${near === undefined ? "" : ` (did you mean ${near}?)`}`, "run `strata --help` for the commands");
}

async function run(command: string, v: Values, positionals: string[], progress: ProgressReporter): Promise<number> {
  fixMallocThreshold();
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => {
    if (controller.signal.aborted) {
      // Second Ctrl-C (or `timeout`, which signals the child and then its whole process group):
      // leave now, without waiting for the build to unwind, but remove what it had begun.
      removeRegisteredNow();
      process.exit(signal === "SIGINT" ? 130 : 143);
    }
    controller.abort(new StrataError("E_ABORTED", `interrupted by ${signal}`, "nothing to do"));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  let pool: typeof import("./pool/pool.js") | undefined;
  try {
    if (command === "plan" || command === "inspect") return await runReport(command, v, positionals, controller.signal);
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
    const common = await commonOptions(v, controller.signal, progress.onProgress, command === "demo");
    pool = await prestartPool(common.workers);
    let result: ImageResult;
    let destination = typeof common.output === "string" ? common.output : Array.isArray(common.output) ? common.output.join(", ") : "stdout";
    if (command === "stream") {
      const conf = positionals[0]!;
      const { streamImage } = await import("./stream.js");
      const tag = str(v["repo-tag"]) ?? str(v["repo_tag"]);
      result = await streamImage(conf, { ...common, ...(tag === undefined ? {} : { repoTag: tag }), ...storeRoot(v) });
    } else if (command === "nix-shell-image") {
      const drv = positionals[0]!;
      const [{ nixShellOptionsFromArgs }, { buildNixShellImage }] = await Promise.all([import("./nix-shell/cli-args.js"), import("./nix-shell/nix-shell-image.js")]);
      result = await buildNixShellImage({ ...common, ...nixShellOptionsFromArgs(drv, v) });
    } else if (command === "push") {
      const { pushImage } = await import("./push.js");
      destination = positionals[1]!;
      result = await pushImage(positionals[0]!, { ...common, output: destination, ...(v["ref"] === undefined ? {} : { ref: str(v["ref"])! }) });
    } else if (command === "pull") {
      const { runPull } = await import("./cli/pull-command.js");
      ({ result, destination } = await runPull(v, positionals, common));
    } else if (command === "build") {
      const [{ buildOptionsFromArgs, explainGraphError }, { buildImage }] = await Promise.all([import("./cli/build-args.js"), import("./build.js")]);
      result = await buildImage({ ...common, ...buildOptionsFromArgs(v) }).catch((err: unknown) => {
        throw explainGraphError(err, str(v["graph"]));
      });
    } else {
      const { runDemo } = await import("./cli/demo.js");
      ({ result, destination } = await runDemo(common, v["quiet"] !== true && v["json"] !== true));
    }
    if (v["digestfile"] !== undefined) await writeDigestFile(str(v["digestfile"])!, result);
    progress.finish({
      repoTags: result.repoTags, destination, format: str(v["format"]) ?? (result.manifest === undefined ? "docker-archive" : "oci"), imageId: result.imageId,
      manifestDigest: result.manifest?.digest, layers: result.layers, bytes: result.bytes, compress: str(v["compress"]),
    });
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

async function commonOptions(v: Values, signal: AbortSignal, onProgress: (e: ProgressEvent) => void, demo: boolean): Promise<OutputOptions & { output: string | number | readonly string[] }> {
  const outputs = (v["output"] as string[] | undefined) ?? [];
  if (outputs.length === 0 && v["format"] === "oci") {
    throw new StrataError("E_USAGE", "--format oci writes a layout directory, not a stream", "give the directory with -o DIR");
  }
  // demo writes to a temp file it names instead.
  if (outputs.length === 0 && process.stdout.isTTY && !demo) throw ttyError();
  const manifestFormat = str(v["manifest-format"]);
  if (v["no-cache"] === true && v["cache-dir"] !== undefined) {
    throw new StrataError("E_USAGE", "--no-cache and --cache-dir exclude each other", "drop one");
  }
  const registry = registryOptions(v);
  return {
    output: outputs.length === 0 ? 1 : outputs.length === 1 ? outputs[0]! : outputs,
    registry,
    ...(manifestFormat === undefined ? {} : { manifestFormat: manifestFormat as "oci" }),
    ...(v["no-cache"] === true ? { cache: false as const } : v["cache-dir"] === undefined ? {} : { cache: str(v["cache-dir"])! }),
    ...(v["verify"] === true ? { verify: true } : {}),
    ...(v["cache-from"] === undefined ? {} : { cacheFrom: v["cache-from"] as string[] }),
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

/** --authfile, --creds, --cert-dir, --tls-verify, --jobs: how to reach registries. */
function registryOptions(v: Values): RegistryOptions {
  const tlsVerify = str(v["tls-verify"]);
  if (tlsVerify !== undefined && tlsVerify !== "true" && tlsVerify !== "false") {
    throw new StrataError("E_USAGE", `--tls-verify takes true or false, got ${JSON.stringify(tlsVerify)}`, "e.g. --tls-verify=false for a registry on plain HTTP");
  }
  return {
    ...(v["authfile"] === undefined ? {} : { authfile: str(v["authfile"])! }),
    ...(v["creds"] === undefined ? {} : { creds: str(v["creds"])! }),
    ...(v["cert-dir"] === undefined ? {} : { certDir: str(v["cert-dir"])! }),
    ...(tlsVerify === undefined ? {} : { tlsVerify: tlsVerify === "true" }),
    ...(v["jobs"] === undefined ? {} : { jobs: int(v["jobs"], "--jobs") }),
  };
}

/** `--digestfile FILE`: the manifest digest, as podman and skopeo write it (no newline). */
async function writeDigestFile(file: string, result: ImageResult): Promise<void> {
  const digest = result.manifest?.digest;
  if (digest === undefined) throw new StrataError("E_USAGE", "--digestfile needs a registry or OCI destination: a docker-archive has no manifest digest", "push with -o docker://... or write -o oci:DIR");
  const fs = await import("node:fs");
  try {
    fs.writeFileSync(file, digest);
  } catch (err) {
    throw new StrataError("E_WRITE", `cannot write the digest file ${file}: ${(err as Error).message}`, "check the path", { cause: err });
  }
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
    const r = await exportImage(positionals[0]!, toStdout ? 1 : output, { ...tmp, signal, ...(v["ref"] === undefined ? {} : { ref: str(v["ref"])! }) });
    if (v["quiet"] !== true) process.stderr.write(`exported ${r.entries} entries from ${r.layers} layers, ${r.bytes} bytes\n`);
    return 0;
  }
  if (output === undefined) throw new StrataError("E_USAGE", "strata index needs -o DEST", "e.g. -o oci:DIR:TAG, -o DIR or -o oci-archive:FILE");
  const format = str(v["manifest-format"]) ?? "oci";
  if (format !== "oci" && format !== "docker") throw new StrataError("E_USAGE", `--manifest-format must be oci or docker, got ${JSON.stringify(format)}`, "e.g. --manifest-format docker");
  const { writeIndex } = await import("./index-image/index.js");
  const r = await writeIndex(positionals, output, { ...tmp, signal, manifestFormat: format, registry: registryOptions(v) });
  if (v["quiet"] !== true) process.stderr.write(`wrote ${r.manifests.length} platforms (${r.manifests.map((m) => m.platform).join(", ")}) to ${output}: ${r.index.digest}\n`);
  return 0;
}

/** plan and inspect: reports on stdout, no image written. */
async function runReport(command: "plan" | "inspect", v: Values, positionals: string[], signal: AbortSignal): Promise<number> {
  const json = v["json"] === true;
  let text: string;
  if (command === "inspect") {
    const { inspectImage, formatInspect } = await import("./inspect.js");
    const { registryOptionsFromArgs } = await import("./cli/registry-args.js");
    const r = await inspectImage(positionals[0]!, { ...(v["ref"] === undefined ? {} : { ref: str(v["ref"])! }), ...(v["platform"] === undefined ? {} : { platform: str(v["platform"])! }), registry: registryOptionsFromArgs(v), signal });
    text = json ? JSON.stringify(r, null, 2) + "\n" : formatInspect(r);
  } else {
    const { runCompare } = await import("./cli/plan-command.js");
    const root = str(v["store-root"]);
    if (v["compare"] === true) {
      const closure = { ...(str(v["graph"]) === undefined ? {} : { graph: str(v["graph"])! }), ...(v["from-store"] === undefined ? {} : { fromStore: v["from-store"] as string[] }), ...(root === undefined ? {} : { storeRoot: root }) };
      text = runCompare(positionals, closure, json);
    } else {
      noPositionals(positionals, "plan");
      text = await runPlanExplained(v, json, signal);
    }
  }
  return (await writeReport(text)) ? 0 : READER_GONE;
}

/**
 * Exit code when the reader of a report went away (`strata inspect X | head`): 141, what a shell
 * shows for git or skopeo killed by SIGPIPE there, and quietly, as they are: the reader had what
 * it wanted. (An image stream cut short is different: its reader failed, and strata says so.)
 */
const READER_GONE = 141;

/** Writes a report to stdout; false when its reader went away (EPIPE). */
function writeReport(text: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    process.stdout.write(text, (err) => {
      if (err === null || err === undefined) resolve(true);
      else if ((err as NodeJS.ErrnoException).code === "EPIPE") resolve(false);
      else reject(toStrataError(err, "writing stdout"));
    });
  });
}

async function runPlanExplained(v: Values, json: boolean, signal: AbortSignal): Promise<string> {
  const [{ buildOptionsFromArgs, explainGraphError }, { runPlan }] = await Promise.all([import("./cli/build-args.js"), import("./cli/plan-command.js")]);
  return runPlan({ ...buildOptionsFromArgs(v), ...(v["tmp-dir"] === undefined ? {} : { tmpDir: str(v["tmp-dir"])! }), signal }, json, (m) => process.stderr.write(`strata: warning: ${m}\n`))
    .catch((err: unknown) => {
      throw explainGraphError(err, str(v["graph"]));
    });
}

export type CommonCliOptions = OutputOptions & { output: string | number | readonly string[] };

function storeRoot(v: Values): { storeRoot?: string } {
  const root = str(v["store-root"]);
  return root === undefined ? {} : { storeRoot: root.replace(/\/+$/, "") };
}

function noPositionals(positionals: string[], command: string): void {
  if (positionals.length > 0) {
    throw new StrataError("E_USAGE", `strata ${command} takes no positional arguments, got ${JSON.stringify(positionals[0])}`, `run \`strata ${command} --help\``);
  }
}

/**
 * The one place a failure is reported: one line (code, message; option names as the flags the
 * user typed; never a raw newline), the hint, and with --json an `error` event instead.
 */
function report(err: unknown, debug: boolean, reporter: ProgressReporter | undefined): number {
  const raw = withFlagNames(toStrataError(err));
  const e = new StrataError(raw.code, oneLine(raw.message), oneLine(raw.hint), { cause: raw.cause });
  if (reporter?.fail(e) !== true) process.stderr.write(`strata: ${e.code}: ${e.message}\n  hint: ${e.hint}\n`);
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
