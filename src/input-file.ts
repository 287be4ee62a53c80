/**
 * Reading a file the user named (a references graph, a conf.json, a layer plan, a --config or
 * --layering file, a derivation's JSON): its text, or one StrataError whose one-line message names
 * the file, what it was for, and why it could not be read. Each caller keeps its code: E_USAGE for
 * a file given as an option's value, E_CLOSURE_INPUT for the closure's own description.
 * (Untrusted JSON inside images goes through source/json-input.ts instead: it is bounded there.)
 */
import fs from "node:fs";
import { StrataError, type ErrorCode } from "./errors.js";

export interface InputFileRole {
  /** The code of the error when the file cannot be read. */
  readonly code: ErrorCode;
  /** What the file is, for the message: `--config`, `the references graph`. */
  readonly what: string;
  /** Default: "check the path". */
  readonly hint?: string;
}

/** The file's text (UTF-8), or a StrataError naming it. */
export function readInputFile(file: string, role: InputFileRole): string {
  try {
    return fs.readFileSync(file, "utf8");
  } catch (err) {
    throw new StrataError(role.code, `cannot read ${role.what} ${file}: ${reason(err)}`, role.hint ?? "check the path", { cause: err });
  }
}

/** Why a read failed, without repeating the path (Node's messages end with it). */
function reason(err: unknown): string {
  switch ((err as NodeJS.ErrnoException).code) {
    case "ENOENT":
      return "no such file";
    case "EACCES":
    case "EPERM":
      return "permission denied";
    case "EISDIR":
      return "it is a directory";
    default:
      return (err as Error).message;
  }
}
