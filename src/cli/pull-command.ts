/** `strata pull docker://REF -o DEST`: the command line over pullImage (src/pull.ts). */
import { StrataError } from "../errors.js";
import type { ImageResult } from "../image/image-spec.js";
import type { OutputOptions } from "../options.js";
import type { Values } from "./args.js";

/** `common`: the output options the CLI parsed (registry flags, workers, tmp dir, signal, progress). */
export async function runPull(v: Values, positionals: readonly string[], common: OutputOptions & { output: string | number | readonly string[] }): Promise<{ result: ImageResult; destination: string }> {
  const outputs = typeof common.output === "string" ? [common.output] : Array.isArray(common.output) ? common.output : [];
  if (outputs.length !== 1) throw new StrataError("E_USAGE", `strata pull writes one destination, got ${outputs.length}`, "e.g. -o oci:DIR, -o docker-archive:FILE.tar, or -o - | podman load");
  const output = outputs[0]!;
  const format = typeof v["format"] === "string" ? v["format"] : undefined;
  if (format !== undefined && format !== "docker-archive" && format !== "oci" && format !== "oci-archive") {
    throw new StrataError("E_USAGE", `--format must be docker-archive, oci or oci-archive, got ${JSON.stringify(format)}`, "e.g. --format oci");
  }
  if (output === "-" && process.stdout.isTTY) {
    throw new StrataError("E_USAGE", "stdout is a terminal: an image archive would be written to it", "write to a file with -o FILE, or pipe the output (e.g. | podman load)");
  }
  const { pullImage } = await import("../pull.js");
  const platform = typeof v["platform"] === "string" ? v["platform"] : undefined;
  const r = await pullImage(positionals[0]!, output, {
    ...(format === undefined ? {} : { format }),
    ...(common.registry === undefined ? {} : { registry: common.registry }),
    ...(platform === undefined ? {} : { platform }),
    ...(common.tmpDir === undefined ? {} : { tmpDir: common.tmpDir }),
    ...(common.workers === undefined ? {} : { workers: common.workers }),
    ...(common.signal === undefined ? {} : { signal: common.signal }),
    ...(common.onProgress === undefined ? {} : { onProgress: common.onProgress }),
  });
  if (v["quiet"] !== true && v["json"] !== true) {
    // The registry's digest, to pin the source (the summary names what was written).
    process.stderr.write(`pulled ${r.reference}: ${r.digest}${r.manifestDigest === r.digest ? "" : ` (image manifest ${r.manifestDigest})`}\n`);
  }
  return { result: r, destination: output };
}
