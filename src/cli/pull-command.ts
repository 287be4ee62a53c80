/** `strata pull docker://REF -o DEST`: the command line over pullImage (src/pull.ts). */
import { StrataError } from "../errors.js";
import type { ProgressEvent } from "../image/image-spec.js";
import { registryOptionsFromArgs } from "./registry-args.js";

type Values = Record<string, string | boolean | string[] | undefined>;

export async function runPull(v: Values, positionals: readonly string[], signal: AbortSignal, onProgress: (e: ProgressEvent) => void, stderr: NodeJS.WritableStream): Promise<number> {
  if (positionals.length !== 1) throw new StrataError("E_USAGE", `strata pull takes one docker://REF, got ${positionals.length} arguments`, "run `strata pull --help`");
  const output = typeof v["output"] === "string" ? v["output"] : undefined;
  if (output === undefined) throw new StrataError("E_USAGE", "strata pull needs -o DEST", "e.g. -o oci:DIR, -o docker-archive:FILE.tar, or -o - | podman load");
  const format = typeof v["format"] === "string" ? v["format"] : undefined;
  if (format !== undefined && format !== "docker-archive" && format !== "oci" && format !== "oci-archive") {
    throw new StrataError("E_USAGE", `--format must be docker-archive, oci or oci-archive, got ${JSON.stringify(format)}`, "e.g. --format oci");
  }
  if (output === "-" && process.stdout.isTTY && format !== "oci") {
    throw new StrataError("E_USAGE", "stdout is a terminal: an image archive would be written to it", "write to a file with -o FILE, or pipe the output (e.g. | podman load)");
  }
  const { pullImage } = await import("../pull.js");
  const str = (k: string): string | undefined => (typeof v[k] === "string" ? (v[k] as string) : undefined);
  const workers = str("workers");
  if (workers !== undefined && !/^\d+$/.test(workers)) throw new StrataError("E_USAGE", `--workers must be an integer, got ${JSON.stringify(workers)}`, "e.g. --workers 4");
  const r = await pullImage(positionals[0]!, output, {
    ...(format === undefined ? {} : { format }),
    registry: registryOptionsFromArgs(v),
    ...(str("platform") === undefined ? {} : { platform: str("platform")! }),
    ...(str("tmp-dir") === undefined ? {} : { tmpDir: str("tmp-dir")! }),
    ...(workers === undefined ? {} : { workers: Number(workers) }),
    signal,
    onProgress,
  });
  if (v["quiet"] !== true && v["json"] !== true) {
    stderr.write(`pulled ${r.reference} (${r.digest}) to ${output}: image ${r.imageId}, ${r.layers.length} layers\n`);
  }
  if (v["json"] === true) stderr.write(JSON.stringify({ type: "pulled", reference: r.reference, digest: r.digest, manifestDigest: r.manifestDigest, imageId: r.imageId, destination: output }) + "\n");
  return 0;
}
