/**
 * A checksum over each row's values, checked on every read. SQLite checks its page structure but
 * not the values in it: a flipped bit in a stored digest would be a valid-looking digest, and a
 * hit on it an image that differs from a full build. A row whose check fails is a miss (and is
 * deleted), like any malformed row. 64 bits of sha256 are plenty against random damage; they do
 * not (and need not) stop someone who can write the file, who could as well write a valid check.
 */
import { sha256Hex } from "../digest.js";

export function rowCheck(...values: readonly (string | number | bigint)[]): string {
  return sha256Hex(values.map(String).join("\0")).slice(0, 16);
}
