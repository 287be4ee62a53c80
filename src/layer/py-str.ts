/**
 * File names as Python's `tarfile` and `pathlib` see them, so that strata's store layers come out
 * byte-identical to nixpkgs' stream_layered_image.py.
 *
 * Python decodes file names as UTF-8 with `surrogateescape`: each byte that is not part of a valid
 * UTF-8 sequence becomes the lone surrogate U+DC80..U+DCFF. Names are then compared by code point
 * (pathlib's sort) and written to the ustar fields with `encode("ascii", "replace")` (one `?` per
 * non-ASCII code point). We keep names as raw bytes (Node would replace invalid UTF-8 with U+FFFD,
 * losing the original bytes) and derive those two views from the bytes when they are needed.
 */
import { isUtf8 } from "node:buffer";

/** Code points of `bytes` decoded as Python's `bytes.decode("utf-8", "surrogateescape")` does. */
export function pythonCodePoints(bytes: Uint8Array): number[] {
  const out: number[] = [];
  let i = 0;
  while (i < bytes.length) {
    const b0 = bytes[i]!;
    if (b0 < 0x80) {
      out.push(b0);
      i += 1;
      continue;
    }
    const cp = decodeSequence(bytes, i);
    if (cp === undefined) {
      out.push(0xdc00 + b0); // surrogateescape: one lone surrogate for this byte
      i += 1;
    } else {
      out.push(cp.codePoint);
      i += cp.length;
    }
  }
  return out;
}

/** A strictly valid UTF-8 multi-byte sequence at `i` (no overlongs, no surrogates, <= U+10FFFF). */
function decodeSequence(bytes: Uint8Array, i: number): { codePoint: number; length: number } | undefined {
  const b0 = bytes[i]!;
  let length: number;
  let cp: number;
  let min: number;
  if (b0 >= 0xc2 && b0 <= 0xdf) [length, cp, min] = [2, b0 & 0x1f, 0x80];
  else if (b0 >= 0xe0 && b0 <= 0xef) [length, cp, min] = [3, b0 & 0x0f, 0x800];
  else if (b0 >= 0xf0 && b0 <= 0xf4) [length, cp, min] = [4, b0 & 0x07, 0x10000];
  else return undefined;
  if (i + length > bytes.length) return undefined;
  for (let k = 1; k < length; k++) {
    const b = bytes[i + k]!;
    if ((b & 0xc0) !== 0x80) return undefined;
    cp = (cp << 6) | (b & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return undefined;
  return { codePoint: cp, length };
}

/**
 * Compare two file names the way Python compares the `str`s it decoded them to. For valid UTF-8
 * (nearly always) byte order already is code-point order, so that is the fast path; only names
 * with undecodable bytes take the slow path, where U+DCxx sorts between U+D7FF and U+E000.
 */
export function comparePythonNames(a: Uint8Array, b: Uint8Array): number {
  if (isUtf8(a) && isUtf8(b)) return Buffer.compare(a, b);
  const ca = pythonCodePoints(a);
  const cb = pythonCodePoints(b);
  const n = Math.min(ca.length, cb.length);
  for (let k = 0; k < n; k++) {
    const d = ca[k]! - cb[k]!;
    if (d !== 0) return d;
  }
  return ca.length - cb.length;
}

/** Whether Python would find the name's str all-ASCII (then bytes and characters coincide). */
export function isAscii(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) if (bytes[i]! >= 0x80) return false;
  return true;
}

/**
 * `str.encode("ascii", "replace")` of the decoded name, truncated to `limit` bytes: what tarfile
 * puts into a ustar field that a PAX record overrides.
 */
export function asciiReplace(bytes: Uint8Array, limit: number): Buffer {
  if (isAscii(bytes)) return Buffer.from(bytes.subarray(0, limit));
  const cps = pythonCodePoints(bytes);
  const out = Buffer.alloc(Math.min(cps.length, limit));
  for (let k = 0; k < out.length; k++) {
    const cp = cps[k]!;
    out[k] = cp < 0x80 ? cp : 0x3f; // '?'
  }
  return out;
}
