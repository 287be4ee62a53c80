/**
 * Reads an outer image archive (plain, gzip or zstd; told by magic) in one streaming pass into a
 * MemberTable, checking every header against LIMITS. Two modes:
 *
 * - extract: every regular member is written to `<dir>/<n>` (a number, never the member's name,
 *   so nothing can land outside `dir`; created with O_EXCL, so nothing is followed or
 *   overwritten) while its sha256 is computed. Links are recorded, never created.
 * - scan: nothing is written. Members that look like tars (plain, gzip, zstd) are scanned as
 *   layers (digests, entries, store paths); small other members (JSON) are kept in memory.
 *   Which members are layers is only known from manifest.json, which docker and strata write
 *   last, so every tar-looking member is scanned in case it is one.
 */
import fs from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import { extract as tarExtract, type Header as TarHeader } from "tar-stream";
import { sha256 } from "../digest.js";
import { StrataError } from "../errors.js";
import { peek, readHead } from "./byte-stream.js";
import { compressionOf, decompressor, SNIFF_BYTES, sniff } from "./compression.js";
import { scanLayer } from "./layer-scan.js";
import { LIMITS } from "./limits.js";
import { tempWriteError } from "./temp-write.js";
import { MemberTable, type FileMember } from "./member-table.js";
import { normaliseMemberName, refuse } from "./member-name.js";
import type { Compression } from "./types.js";

/** extract: `dir` is where members are written, in the user's temp dir `tempDir` (named when it is full). */
export type ReadMode = { readonly kind: "extract"; readonly dir: string; readonly tempDir: string } | { readonly kind: "scan" };

export interface ArchiveContents {
  /** How the outer archive was compressed. */
  readonly compression: Compression;
  readonly members: MemberTable;
}

export async function readArchive(file: string, mode: ReadMode, opts: { what: string; signal?: AbortSignal | undefined }): Promise<ArchiveContents> {
  const what = opts.what;
  const head = await readHead(file, SNIFF_BYTES);
  const compression = compressionOf(head, what);
  if (compression === "none" && sniff(head) !== "none") {
    throw new StrataError("E_CLOSURE_INPUT",
      `${what}: expected a docker-archive, an OCI layout or an oci-archive, found ${head.length === 0 ? "an empty file" : `a file that is neither a tar nor gzip or zstd (it starts with ${head.subarray(0, 8).toString("hex")})`}`,
      "give an image made by docker save, podman save, skopeo copy or strata");
  }
  const members = new MemberTable(what);
  const source = fs.createReadStream(file, { highWaterMark: 1 << 20 });
  const inflate = decompressor(compression);
  const input: Readable = inflate === undefined ? source : source.pipe(inflate);
  if (inflate !== undefined) source.on("error", (err) => inflate.destroy(err));
  let count = 0;
  /** Scan mode: bytes of non-tar members kept in memory so far (LIMITS.maxJsonTotal at most). */
  const kept = { bytes: 0 };
  await new Promise<void>((resolve, reject) => {
    const extract = tarExtract();
    let failed = false;
    /** The member being handled: on failure, it is let finish (it fails fast once the streams are
     * destroyed) before the caller may remove the dir it writes into. */
    let current: Promise<void> = Promise.resolve();
    const fail = (err: unknown): void => {
      if (failed) return;
      failed = true;
      opts.signal?.removeEventListener("abort", onAbort);
      source.destroy();
      input.destroy();
      extract.destroy();
      void current.catch(() => undefined).then(() => reject(err));
    };
    const onAbort = (): void => fail(opts.signal?.reason ?? new Error("aborted"));
    if (opts.signal?.aborted === true) return onAbort();
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    extract.on("entry", (header, body, next) => {
      // Errors of an entry's stream are the archive's, reported once through `extract`'s error
      // event; without a listener here, one emitted before the entry is read would be uncaught.
      body.on("error", () => undefined);
      current = handle(header, body as unknown as AsyncIterable<Uint8Array>);
      current.then(() => next(), fail);
    });
    extract.on("finish", () => {
      opts.signal?.removeEventListener("abort", onAbort);
      if (!failed) resolve();
    });
    extract.on("error", (err: Error) => fail(
      new StrataError("E_CLOSURE_INPUT", `${what}: expected a tar archive, found unreadable tar data (${err.message})`,
        "the archive is truncated or corrupt; re-create it", { cause: err })));
    input.on("error", (err: Error) => fail(
      err instanceof StrataError || (err as NodeJS.ErrnoException).code?.startsWith("E") === true && !(err as NodeJS.ErrnoException).code?.startsWith("ERR_")
        ? err
        : new StrataError("E_CLOSURE_INPUT", `${what}: expected ${compression} data, found it corrupt or truncated (${err.message})`,
          "the archive is damaged; re-create or re-download it", { cause: err })));
    input.pipe(extract);
  });
  return { compression, members };

  async function handle(header: TarHeader, body: AsyncIterable<Uint8Array>): Promise<void> {
    if (++count > LIMITS.maxMembers) throw refuse(what, `more than ${LIMITS.maxMembers} members`);
    checkHeader(header, what);
    const name = normaliseMemberName(header.name, what);
    switch (header.type) {
      case "file":
      case "contiguous-file": {
        if (name === "") throw refuse(what, `a file member named ${JSON.stringify(header.name)}`);
        // Refused before its bytes are written or scanned, not after.
        if (members.has(name)) throw refuse(what, `member ${JSON.stringify(name)} twice`);
        members.add(mode.kind === "extract"
          ? await extractMember(name, header.size ?? 0, body, path.join(mode.dir, String(count).padStart(6, "0")), `member ${name} of ${what}`, mode.tempDir)
          : await scanMember(name, header.size ?? 0, body, `member ${name} of ${what}`, opts.signal, kept));
        return;
      }
      case "symlink":
      case "link":
        await drain(body);
        if (Buffer.byteLength(header.linkname ?? "") > LIMITS.maxName) throw refuse(what, `a link target of more than ${LIMITS.maxName} bytes`);
        members.add({ kind: header.type === "link" ? "hardlink" : "symlink", name, target: header.linkname ?? "" });
        return;
      default:
        await drain(body);
        if (name !== "" || header.type !== "directory") members.add({ kind: header.type === "directory" ? "dir" : "other", name, type: header.type ?? "unknown" });
    }
  }
}

/** Refuse headers whose PAX records are gigantic; tar-stream already caps them at 4 MiB. */
function checkHeader(header: TarHeader, what: string): void {
  const pax = header.pax as Record<string, string> | null | undefined;
  if (pax === undefined || pax === null) return;
  let bytes = 0;
  for (const [k, v] of Object.entries(pax)) bytes += Buffer.byteLength(k) + Buffer.byteLength(v);
  if (bytes > LIMITS.maxPax) {
    throw refuse(what, `a PAX extended header of ${bytes} bytes for ${JSON.stringify(header.name.slice(0, 100))} (at most ${LIMITS.maxPax})`);
  }
}

async function drain(body: AsyncIterable<Uint8Array>): Promise<void> {
  for await (const chunk of body) void chunk;
}

async function extractMember(name: string, size: number, body: AsyncIterable<Uint8Array>, file: string, what: string, tempDir: string): Promise<FileMember> {
  if (size > LIMITS.maxLayerBytes) {
    throw new StrataError("E_CLOSURE_INPUT", `${what}: expected a member of at most ${LIMITS.maxLayerBytes} bytes, found its header saying ${size}`,
      "this is not an image strata takes; check where it comes from");
  }
  if (size === 0) {
    // Nothing to write: an empty member costs no file (an archive of many empty members is cheap to refuse).
    await drain(body);
    return { kind: "file", name, size, sha256: sha256().hex(), head: Buffer.alloc(0), bytes: Buffer.alloc(0) };
  }
  const hash = sha256();
  const head: Buffer[] = [];
  let headBytes = 0;
  let written = 0;
  // "wx": O_CREAT|O_EXCL, so an existing file or symlink at this (numbered) name is never followed.
  let out: fs.promises.FileHandle;
  try {
    out = await fs.promises.open(file, "wx", 0o600);
  } catch (err) {
    throw tempWriteError(err, tempDir, what);
  }
  try {
    for await (const chunk of body) {
      hash.update(chunk);
      if (headBytes < SNIFF_BYTES) {
        head.push(Buffer.from(chunk.subarray(0, SNIFF_BYTES - headBytes)));
        headBytes += Math.min(chunk.length, SNIFF_BYTES - headBytes);
      }
      try {
        await out.write(chunk);
      } catch (err) {
        throw tempWriteError(err, tempDir, what);
      }
      written += chunk.length;
    }
  } finally {
    await out.close();
  }
  if (written !== size) throw new StrataError("E_CLOSURE_INPUT", `member ${name}: its header says ${size} bytes, the archive held ${written}`, "the archive is truncated; re-create it");
  return { kind: "file", name, size, sha256: hash.hex(), head: Buffer.concat(head), file };
}

async function scanMember(name: string, size: number, source: AsyncIterable<Uint8Array>, what: string, signal: AbortSignal | undefined, kept: { bytes: number }): Promise<FileMember> {
  if (size === 0) {
    await drain(source);
    return { kind: "file", name, size, sha256: sha256().hex(), head: Buffer.alloc(0), bytes: Buffer.alloc(0) };
  }
  const { head, body } = await peek(source, SNIFF_BYTES);
  const kind = sniff(head);
  if (kind !== "unknown") {
    let layer: FileMember["layer"];
    const hashed = hashing(body);
    try {
      layer = await scanLayer(hashed.body, { what, list: true, ...(signal === undefined ? {} : { signal }) });
    } catch (err) {
      if ((err as { name?: unknown } | null)?.name === "AbortError") throw err;
      layer = err instanceof Error ? err : new Error(String(err));
      await drain(hashed.body);
    }
    return { kind: "file", name, size, sha256: hashed.hex(), head, layer };
  }
  const hashed = hashing(body);
  const chunks: Uint8Array[] = [];
  // Which members are JSON documents is only known from manifest.json, at the end: small members
  // are kept, LIMITS.maxJsonTotal bytes of them in all; one not kept is refused if it is needed.
  const keep = size <= LIMITS.maxJson && kept.bytes + size <= LIMITS.maxJsonTotal;
  if (keep) kept.bytes += size;
  let length = 0;
  for await (const chunk of hashed.body) {
    if (keep) chunks.push(chunk);
    length += chunk.length;
  }
  return { kind: "file", name, size, sha256: hashed.hex(), head, ...(keep ? { bytes: Buffer.concat(chunks, length) } : size <= LIMITS.maxJson ? { dropped: true } : {}) };
}

/** A stream that hashes what passes through; `hex()` once it has been read to the end. */
function hashing(source: AsyncIterable<Uint8Array>): { body: AsyncIterable<Uint8Array>; hex(): string } {
  const hash = sha256();
  let digest: string | undefined;
  const it = source[Symbol.asyncIterator]();
  const body: AsyncIterable<Uint8Array> = {
    [Symbol.asyncIterator]: () => ({
      next: async () => {
        const r = await it.next();
        if (r.done !== true) hash.update(r.value);
        return r;
      },
    }),
  };
  return { body, hex: () => (digest ??= hash.hex()) };
}
