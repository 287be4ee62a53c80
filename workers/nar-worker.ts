/**
 * piscina entry for NAR hashing tasks: one store path in, its NAR hash and size out. Thin: the
 * work is in src/nixdb/nar.ts.
 */
import { StrataError } from "../src/errors.js";
import { narHashOf, type NarInfo } from "../src/nixdb/nar.js";
import type { NarTask } from "../src/nixdb/nar-pool.js";

export default function narTask(task: NarTask): NarInfo {
  try {
    return narHashOf(task.fsRoot + task.storePath, task.storePath);
  } catch (err) {
    // Structured clone keeps only plain data: send the wire form so the code survives.
    throw err instanceof StrataError ? err.toWire() : err;
  }
}
