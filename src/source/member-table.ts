/**
 * The members of an outer image archive, by normalised name. Regular files carry what was
 * learned of them while streaming (their digest, first bytes, and either a file in the temp dir
 * or, when only scanning, their bytes or layer scan); links are never created, only resolved by
 * name inside the archive, a few hops at most.
 */
import { StrataError } from "../errors.js";
import type { LayerScan } from "./layer-scan.js";
import { LIMITS } from "./limits.js";
import { normaliseMemberName, refuse, resolveSymlinkTarget } from "./member-name.js";

export interface FileMember {
  readonly kind: "file";
  readonly name: string;
  readonly size: number;
  /** sha256 hex of the bytes as stored. */
  readonly sha256: string;
  /** The first bytes (up to 512), to tell a tar or a compressed blob from JSON. */
  readonly head: Buffer;
  /** Extract mode: where the bytes are, in the private temp dir. */
  readonly file?: string;
  /** Scan mode: the bytes of a small member that is not a tar (JSON). */
  readonly bytes?: Buffer;
  /** Scan mode: a small member not kept, because LIMITS.maxJsonTotal bytes of members already were. */
  readonly dropped?: boolean;
  /** Scan mode: what a tar-looking member holds, or why it could not be read as a layer. */
  readonly layer?: LayerScan | Error;
}

export type Member =
  | FileMember
  | LinkMember
  | { readonly kind: "dir" | "other"; readonly name: string; readonly type: string };

interface LinkMember {
  readonly kind: "symlink" | "hardlink";
  readonly name: string;
  readonly target: string;
}

function isLink(m: Member): m is LinkMember {
  return m.kind === "symlink" || m.kind === "hardlink";
}

export class MemberTable {
  private readonly members = new Map<string, Member>();

  constructor(readonly what: string) {}

  get size(): number {
    return this.members.size;
  }

  add(member: Member): void {
    const seen = this.members.get(member.name);
    if (seen !== undefined) {
      if (seen.kind === "dir" && member.kind === "dir") return;
      throw refuse(this.what, `member ${JSON.stringify(member.name)} twice`);
    }
    this.members.set(member.name, member);
  }

  has(name: string): boolean {
    return this.members.has(name);
  }

  /**
   * The regular file a manifest's `name` refers to, following links inside the archive. A name
   * that is missing, a link out of the archive or to nothing, a loop, or a directory is refused.
   */
  file(name: string, role: string): FileMember {
    let current = normaliseMemberName(name, this.what);
    for (let hop = 0; ; hop++) {
      const m = this.members.get(current);
      if (m === undefined) {
        throw new StrataError("E_CLOSURE_INPUT",
          `${this.what}: expected ${role} at member ${JSON.stringify(current)}${current === name ? "" : ` (via ${JSON.stringify(name)})`}, found no such member`,
          "the archive is incomplete or its manifest is wrong; re-create it");
      }
      if (m.kind === "file") return m;
      if (!isLink(m)) {
        throw refuse(this.what, `a ${m.type} where the manifest names ${role} ${JSON.stringify(current)}`);
      }
      if (hop >= LIMITS.maxLinkHops) {
        throw refuse(this.what, `${role} ${JSON.stringify(name)} behind more than ${LIMITS.maxLinkHops} links`);
      }
      // A hard link's target is a member name; a symlink's is relative to the link's directory.
      current = m.kind === "hardlink" ? normaliseMemberName(m.target, this.what) : resolveSymlinkTarget(m.name, m.target, this.what);
    }
  }
}
