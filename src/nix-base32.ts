/**
 * Nix's base-32 encoding (the one in store path hashes and `sha256:` NAR hashes): its own
 * alphabet without e, o, u, t, and the bytes read from the end. 32 bytes give 52 characters,
 * 20 bytes give 32.
 */
const ALPHABET = "0123456789abcdfghijklmnpqrsvwxyz";

export function nixBase32(bytes: Uint8Array): string {
  const len = Math.ceil((bytes.length * 8) / 5);
  let out = "";
  for (let n = len - 1; n >= 0; n--) {
    const b = n * 5;
    const i = Math.floor(b / 8);
    const j = b % 8;
    const c = (bytes[i]! >> j) | (i + 1 < bytes.length ? bytes[i + 1]! << (8 - j) : 0);
    out += ALPHABET[c & 0x1f];
  }
  return out;
}
