/** The sink for an `output` option: a path becomes a temp-then-rename file, a number a descriptor. */
import type { Sink } from "./byte-output.js";
import { descriptorSink, fileSink } from "./sink.js";

export async function openSink(output: string | number | Sink): Promise<Sink> {
  if (typeof output === "string") return fileSink(output);
  if (typeof output === "number") return descriptorSink(output, output === 1 ? "stdout" : `fd ${output}`);
  return output;
}
