/**
 * The outer docker-archive tar, in nixpkgs' member order (spec §2.2): the layers, then the image
 * config `<sha256>.json`, then manifest.json, then the end blocks and padding to 10240 bytes.
 * Headers use the same Python-tarfile PAX dialect as the layers, mode 0644, owner 0:0, no names,
 * mtime the image's mtime.
 *
 * One difference from nixpkgs, on purpose: a layer member is named by its position
 * (`001/layer.tar`) instead of its digest. That lets strata stream every layer the moment its
 * first bytes exist, reading the store once, where nixpkgs reads every file twice (once to learn
 * the digest for the name, once to send it). Loaders find layers through manifest.json, and the
 * layer bytes and diff_ids, which are what registries and runtimes share, are unchanged.
 */
import { BLOCK, RECORD, padded, paxRecords, writeHeader, type TarHeaderFields } from "../layer/tar-header.js";
import type { ByteOutput } from "./byte-output.js";

export class OuterTarWriter {
  /** `offset`: where in the archive `out`'s first byte lands (the positional writer ends with one). */
  constructor(private readonly out: ByteOutput, private readonly mtime: number, private offset = 0) {}

  /** Write a member header; its `size` bytes must follow through `data`. */
  begin(name: string, size: number): Promise<void> {
    return this.emit(memberHeader(name, size, this.mtime));
  }

  /** A directory entry (`name` ends with `/`), mode 0755. */
  directory(name: string): Promise<void> {
    return this.emit(memberHeader(name, 0, this.mtime, "5"));
  }

  data(bytes: Uint8Array): Promise<void> {
    return this.emit(bytes);
  }

  /** Zero-pad the member that just ended (of `size` bytes) to a whole block. */
  async end(size: number): Promise<void> {
    const pad = padded(size) - size;
    if (pad > 0) await this.emit(Buffer.alloc(pad));
  }

  async member(name: string, bytes: Uint8Array): Promise<void> {
    await this.begin(name, bytes.length);
    await this.data(bytes);
    await this.end(bytes.length);
  }

  /** The two zero end blocks and zero padding to a whole 10240-byte record. */
  async finish(): Promise<void> {
    const end = this.offset + 2 * BLOCK;
    await this.emit(Buffer.alloc(Math.ceil(end / RECORD) * RECORD - this.offset));
  }

  private emit(bytes: Uint8Array): Promise<void> {
    this.offset += bytes.length;
    return this.out.write(bytes);
  }
}

/** The header of an outer archive member: a regular file (mode 0644), or a directory (0755). */
export function memberHeader(name: string, size: number, mtime: number, type: "0" | "5" = "0"): Buffer {
  const empty = Buffer.alloc(0);
  const fields: TarHeaderFields = { name: Buffer.from(name, "utf8"), type, mode: type === "5" ? 0o755 : 0o644, uid: 0, gid: 0, size, mtime, linkname: empty, uname: empty, gname: empty };
  const pax = paxRecords(fields);
  const header = Buffer.alloc(pax === undefined ? BLOCK : 2 * BLOCK + padded(pax.length));
  writeHeader(header, 0, fields, pax);
  return header;
}

/** Member name of the i-th layer (0-based) of an archive. */
export function layerMemberName(index: number): string {
  return `${String(index + 1).padStart(3, "0")}/layer.tar`;
}
