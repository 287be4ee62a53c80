/**
 * Digests. The only module that imports node:crypto, so what is hashed, and how, is in one place.
 */
import { createHash, randomBytes, type Hash } from "node:crypto";

/** `bytes` random bytes as lowercase hex: names nobody can predict (temp outputs beside the target). */
export function randomHex(bytes: number): string {
  return randomBytes(bytes).toString("hex");
}

/** A running sha256 over bytes fed in order. */
export interface Sha256 {
  update(bytes: Uint8Array): void;
  /** Lowercase hex of the digest; the hasher is spent afterwards. */
  hex(): string;
}

export function sha256(): Sha256 {
  const hash: Hash = createHash("sha256");
  return {
    update: (bytes) => void hash.update(bytes),
    hex: () => hash.digest("hex"),
  };
}

/** sha256 hex of a whole buffer (image config, manifest). */
export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** A digest in OCI form, `sha256:<hex>`. Which bytes it covers is said where it is stored. */
export type Digest = `sha256:${string}`;

export function asDigest(hex: string): Digest {
  return `sha256:${hex}`;
}
