/**
 * Digests. The only module that imports node:crypto, so what is hashed, and how, is in one place.
 */
import { createHash, randomBytes, type Hash } from "node:crypto";
import { native } from "./native.js";

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

/** Bytes of a running SHA-256 state kept in shared memory (see sharedSha256). */
export const SHA256_STATE_BYTES = 128;

/**
 * A running sha256 whose state lives in `state` (SHA256_STATE_BYTES, usually in a
 * SharedArrayBuffer), through the native helper: another thread can carry on from where this
 * one stopped, with a sharedSha256 over the same state and `fresh` false. Undefined when the
 * helper (or its SHA-256) is missing.
 */
export function sharedSha256(state: Uint8Array, fresh: boolean): Sha256 | undefined {
  const n = native();
  const { sha256Init: init, sha256Update: update, sha256Final: final } = n ?? {};
  if (init === undefined || update === undefined || final === undefined) return undefined;
  if (fresh) init(state);
  return {
    update: (bytes) => update(state, bytes),
    hex: () => final(state).toString("hex"),
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
