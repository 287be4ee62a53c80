/**
 * The one way the image readers turn the bytes of a JSON document from an untrusted input
 * (manifest.json, index.json, oci-layout, an OCI manifest or index, an image config) into a
 * value: size-capped, nesting depth checked before parsing, numbers that JSON.parse turns into
 * Infinity refused, and failures reported as input errors that name the document and say what
 * was expected, never quoting its bytes (the file may be something else entirely, e.g. a link to
 * a secret: see docs/security.md, Readers).
 */
import { StrataError } from "../errors.js";
import { LIMITS } from "./limits.js";

const HINT = "the image is malformed; re-create it with docker save, podman save or skopeo copy";

/**
 * `bytes` parsed as JSON. `where` names the document in messages (`base.tar: index.json`).
 * Throws E_CLOSURE_INPUT when the bytes are too many, not UTF-8 JSON, nested deeper than
 * LIMITS.maxJsonDepth, or hold a number outside the range of a double.
 */
export function parseJsonInput(bytes: Uint8Array, where: string): unknown {
  if (bytes.length > LIMITS.maxJson) {
    throw new StrataError("E_CLOSURE_INPUT", `${where}: expected a JSON document of at most ${LIMITS.maxJson} bytes, found ${bytes.length}`, HINT);
  }
  // V8's JSON.parse recurses per level: 200,000 levels overflow the stack (a RangeError that
  // would pass for a bug in strata). Counting brackets outside strings first is one cheap pass.
  const depth = nestingDepth(bytes);
  if (depth > LIMITS.maxJsonDepth) {
    throw new StrataError("E_CLOSURE_INPUT", `${where}: expected JSON nested at most ${LIMITS.maxJsonDepth} levels deep, found more`, HINT);
  }
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString("utf8"));
  } catch (err) {
    // V8's message quotes the text ("Unexpected token 'r', "root:*:19"... is not valid JSON"):
    // only the position is kept.
    const at = /position (\d+)/.exec((err as Error).message)?.[1];
    throw new StrataError("E_CLOSURE_INPUT", `${where}: expected a JSON document, found ${bytes.length === 0 ? "an empty file" : `bytes that are not JSON${at === undefined ? "" : ` (at byte ${at})`}`}`, HINT);
  }
  if (!allFinite(value)) {
    throw new StrataError("E_CLOSURE_INPUT", `${where}: expected JSON numbers a double can hold, found one out of range (such as 1e400)`, HINT);
  }
  return value;
}

/** The deepest nesting of `[` and `{` outside strings (an upper bound if the JSON is malformed). */
function nestingDepth(bytes: Uint8Array): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (inString) {
      if (b === 0x5c) i++; // the escaped character, whatever it is
      else if (b === 0x22) inString = false;
    } else if (b === 0x22) inString = true;
    else if (b === 0x5b || b === 0x7b) {
      if (++depth > max) max = depth;
    } else if (b === 0x5d || b === 0x7d) depth--;
  }
  return max;
}

/** No number in `value` is Infinity (JSON.parse gives no NaN). Depth is bounded by the caller. */
function allFinite(value: unknown): boolean {
  if (typeof value === "number") return Number.isFinite(value);
  if (typeof value !== "object" || value === null) return true;
  for (const v of Array.isArray(value) ? value : Object.values(value)) if (!allFinite(v)) return false;
  return true;
}

/**
 * What a JSON value is, for a message, without quoting it: `null`, `a string`, `a list of 3`,
 * `an object without "manifests"`. Strings and numbers from an input are not repeated back.
 */
export function describeJson(value: unknown, wanted?: string): string {
  if (value === null) return "null";
  if (value === undefined) return "nothing";
  if (Array.isArray(value)) return value.length === 0 ? "an empty list" : `a list of ${value.length}`;
  switch (typeof value) {
    case "string":
      return "a string";
    case "number":
      return "a number";
    case "boolean":
      return value ? "true" : "false";
    case "object":
      if (wanted === undefined) return "an object";
      return wanted in value ? `an object whose "${wanted}" is ${describeJson((value as Record<string, unknown>)[wanted])}` : `an object without "${wanted}"`;
    default:
      return typeof value;
  }
}
