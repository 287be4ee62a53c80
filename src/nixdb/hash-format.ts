/**
 * The spellings of a NAR hash, and conversions between them. Nix writes the same sha256 four ways:
 *
 * - `sha256:<nix base32>` (52 chars): `nix-store -q --hash`, exportReferencesGraph, nix-hash --base32;
 * - `sha256:<base16>` (64 hex chars): what Nix stores in the `hash` column of its database;
 * - `sha256-<base64>` (SRI): `nix path-info --json` since Nix 2.19;
 * - `sha256:<base64>` (44 chars): accepted by Nix's Hash::parseAny, rare.
 *
 * strata's ClosureGraph carries `sha256:<nix base32>`; the image's database gets base16, as
 * `nix-store --load-db` writes it.
 */
import { nixBase32 } from "../nix-base32.js";

const BASE32_ALPHABET = "0123456789abcdfghijklmnpqrsvwxyz";
const SHA256_BYTES = 32;

/** The 32 digest bytes of a sha256 NAR hash in any of Nix's spellings, or undefined if it is none. */
export function parseSha256(hash: string): Uint8Array | undefined {
  let body: string;
  let sri = false;
  if (hash.startsWith("sha256:")) body = hash.slice(7);
  else if (hash.startsWith("sha256-")) {
    body = hash.slice(7);
    sri = true;
  } else return undefined;
  if (!sri && body.length === 64) return /^[0-9a-fA-F]{64}$/.test(body) ? Buffer.from(body, "hex") : undefined;
  if (!sri && body.length === 52) return decodeNixBase32(body, SHA256_BYTES);
  if (body.length === 44 && /^[A-Za-z0-9+/]{43}=$/.test(body)) {
    const bytes = Buffer.from(body, "base64");
    return bytes.length === SHA256_BYTES ? bytes : undefined;
  }
  return undefined;
}

/** `sha256:<nix base32>`, strata's canonical spelling (the one `nix-store -q --hash` prints). */
export function sha256Base32(digest: Uint8Array): string {
  return `sha256:${nixBase32(digest)}`;
}

/** `sha256:<base16>`, the spelling in the `hash` column of Nix's database. */
export function sha256Base16(digest: Uint8Array): string {
  return `sha256:${Buffer.from(digest).toString("hex")}`;
}

/** Any spelling to `sha256:<nix base32>`, or undefined when `hash` is not a sha256 hash. */
export function normaliseNarHash(hash: string): string | undefined {
  const digest = parseSha256(hash);
  return digest === undefined ? undefined : sha256Base32(digest);
}

/**
 * Nix's base-32 decoding (the inverse of nixBase32): characters are read from the end, 5 bits
 * each, least significant first. Bits beyond the digest must be zero, as Nix checks.
 */
export function decodeNixBase32(text: string, size: number): Uint8Array | undefined {
  if (text.length !== Math.ceil((size * 8) / 5)) return undefined;
  const out = new Uint8Array(size);
  for (let n = 0; n < text.length; n++) {
    const digit = BASE32_ALPHABET.indexOf(text[text.length - n - 1]!);
    if (digit < 0) return undefined;
    const b = n * 5;
    const i = b >> 3;
    const j = b & 7;
    out[i]! |= (digit << j) & 0xff;
    const carry = digit >> (8 - j);
    if (i < size - 1) out[i + 1]! |= carry;
    else if (carry !== 0) return undefined;
  }
  return out;
}
