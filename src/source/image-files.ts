/**
 * The files of an image input by name, whatever holds them: the member table of an archive, or
 * an OCI layout directory on disk. Plus reading a JSON document from one of them, size-capped.
 */
import fs from "node:fs";
import path from "node:path";
import { sha256Hex } from "../digest.js";
import { StrataError } from "../errors.js";
import { LIMITS } from "./limits.js";
import type { FileMember, MemberTable } from "./member-table.js";
import { normaliseMemberName } from "./member-name.js";

/** A regular file of an image input. */
export interface ImageFile {
  /** Its name in the input (`manifest.json`, `blobs/sha256/<hex>`, ...), links resolved. */
  readonly name: string;
  readonly size: number;
  /** Where its bytes are on disk (an extracted member, or a file of a layout directory). */
  readonly file?: string;
  /** sha256 hex of its bytes, when already computed while reading the archive. */
  readonly sha256?: string;
  /** Its first bytes (up to 512), when already read. */
  readonly head?: Buffer;
  /** Its bytes, when kept in memory (scan mode). */
  readonly bytes?: Buffer;
  /** Scan mode: what the member holds as a layer, or why it is not one. */
  readonly layer?: FileMember["layer"];
}

export interface ImageFiles {
  /** Names the input in messages. */
  readonly what: string;
  has(name: string): boolean;
  /** The regular file at `name`; `role` says what it should be, for the message when it is not there. */
  file(name: string, role: string): ImageFile;
}

export function archiveFiles(members: MemberTable): ImageFiles {
  return { what: members.what, has: (name) => members.has(name), file: (name, role) => members.file(name, role) };
}

/** An OCI layout directory: read in place, never written. */
export function directoryFiles(dir: string, what: string): ImageFiles {
  const at = (name: string): string => path.join(dir, ...normaliseMemberName(name, what).split("/"));
  return {
    what,
    has: (name) => fs.existsSync(at(name)),
    file: (name, role) => {
      let st: fs.Stats;
      try {
        st = fs.statSync(at(name));
      } catch {
        throw new StrataError("E_CLOSURE_INPUT", `${what}: expected ${role} at ${name}, found no such file`,
          "the layout is incomplete; copy the image again (skopeo copy)");
      }
      if (!st.isFile()) throw new StrataError("E_CLOSURE_INPUT", `${what}: expected ${role} at ${name} to be a file, found something else`, "the layout is damaged; copy the image again");
      return { name: normaliseMemberName(name, what), size: st.size, file: at(name) };
    },
  };
}

/** A JSON document of at most LIMITS.maxJson bytes, parsed, with its bytes and sha256 hex. */
export async function readJson(files: ImageFiles, name: string, role: string): Promise<{ value: unknown; bytes: Buffer; sha256: string; file: ImageFile }> {
  const file = files.file(name, role);
  if (file.size > LIMITS.maxJson) {
    throw new StrataError("E_CLOSURE_INPUT", `${files.what}: expected ${role} (${name}) of at most ${LIMITS.maxJson} bytes, found ${file.size}`,
      "this is not an image strata can read; check what the archive holds");
  }
  let bytes: Buffer;
  if (file.bytes !== undefined) bytes = file.bytes;
  else if (file.file !== undefined) bytes = await fs.promises.readFile(file.file);
  else throw new StrataError("E_CLOSURE_INPUT", `${files.what}: expected ${role} (${name}) to be JSON, found tar data`, "check what the archive holds");
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString("utf8"));
  } catch (err) {
    throw new StrataError("E_CLOSURE_INPUT", `${files.what}: expected ${role} (${name}) to be JSON, found malformed JSON (${(err as Error).message})`,
      "the archive is corrupt; re-create it", { cause: err });
  }
  return { value, bytes, sha256: file.sha256 ?? sha256Hex(bytes), file };
}
