/**
 * An OCI image layout directory (image-spec image-layout.md) as a blob store: `oci-layout`,
 * `index.json`, and content-addressed blobs under `blobs/sha256/`. Blobs are written under a
 * temp name in a private `.strata-XXXXXX` dir inside the layout (same file system: the rename is
 * atomic) and renamed to their digest; an existing layout is updated, index.json keeping its
 * other images.
 *
 * A layout is untrusted input: a blob already there counts as present only if it is a regular
 * file of the right size and either the very file strata wrote (device, inode, size and mtime
 * recorded in the layer cache when it was written) or re-hashed to its name. A blob that fails
 * is replaced. index.json is read, changed and replaced under a lock file, so two builds into one
 * layout both keep their tags.
 */
import fs from "node:fs";
import path from "node:path";
import { asDigest, sha256, sha256Hex, type Digest } from "../../digest.js";
import { StrataError } from "../../errors.js";
import type { BlobOrigin, BlobStore, BlobUpload, Descriptor } from "../blob-store.js";
import { MEDIA_TYPES } from "../../image/media-types.js";
import { removeOnExit } from "../../exit-cleanup.js";
import { withLockFile } from "./lock-file.js";

/** What the layer cache offers a layout: stamps of the blob files strata wrote. */
export interface FileStamps {
  stampFile(file: string, digest: Digest, stamp: FileStamp): void;
  fileStamp(file: string): { digest: Digest; stamp: FileStamp } | undefined;
}

export interface FileStamp {
  readonly dev: number;
  readonly ino: number;
  readonly size: number;
  readonly mtimeNs: bigint;
}

export class LayoutStore implements BlobStore {
  readonly name: string;
  private readonly blobs: string;
  private tmp: string | undefined;
  private forgetTmp: (() => void) | undefined;

  private constructor(given: string, private readonly stamps: FileStamps | undefined) {
    this.name = `oci:${given}`;
    // Absolute: the cache stamps blob files by path, and a relative one would name another file
    // from another working directory.
    this.dir = path.resolve(given);
    this.blobs = path.join(this.dir, "blobs", "sha256");
  }

  readonly dir: string;

  /** A new or existing layout directory, ready for blobs. */
  static open(dir: string, stamps?: FileStamps): LayoutStore {
    prepareLayout(dir);
    return new LayoutStore(dir, stamps);
  }

  private tempDir(): string {
    if (this.tmp === undefined) {
      this.tmp = fs.mkdtempSync(path.join(this.dir, ".strata-"));
      // A second Ctrl-C exits at once: the private dir must not stay behind in the layout.
      this.forgetTmp = removeOnExit(this.tmp);
    }
    return this.tmp;
  }

  async has(blob: Descriptor): Promise<boolean> {
    const file = this.blobPath(blob.digest);
    let st: fs.BigIntStats;
    try {
      st = fs.lstatSync(file, { bigint: true });
    } catch {
      return false;
    }
    if (!st.isFile() || Number(st.size) !== blob.size) return false;
    const stamp = this.stamps?.fileStamp(file);
    if (stamp !== undefined && stamp.digest === blob.digest && sameStamp(stamp.stamp, stampOf(st))) return true;
    // Not known to be the file strata wrote: hash it (a layout is untrusted input).
    if ((await hashFile(file)) !== blob.digest) return false;
    this.stamps?.stampFile(file, blob.digest, stampOf(st));
    return true;
  }

  async mount(_blob: Descriptor, _from: BlobOrigin): Promise<boolean> {
    return false;
  }

  async openBlob(): Promise<BlobUpload> {
    const temp = path.join(this.tempDir(), `blob-${process.hrtime.bigint()}-${Math.random().toString(36).slice(2)}`);
    const handle = await fs.promises.open(temp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o644);
    let closed = false;
    const close = async (): Promise<void> => {
      if (!closed) {
        closed = true;
        await handle.close();
      }
    };
    return {
      write: async (bytes) => {
        let at = 0;
        while (at < bytes.length) at += (await handle.write(bytes, at, bytes.length - at)).bytesWritten;
      },
      commit: async (digest, size) => {
        await close();
        await this.place(temp, digest, size);
      },
      abort: async () => {
        await close();
        fs.rmSync(temp, { force: true });
      },
    };
  }

  async putBlob(bytes: Uint8Array, mediaType: string): Promise<Descriptor> {
    const digest = asDigest(sha256Hex(bytes));
    const file = this.blobPath(digest);
    if (!sameBytes(file, bytes)) {
      const temp = path.join(this.tempDir(), `small-${digest.slice(7)}`);
      fs.writeFileSync(temp, bytes, { mode: 0o644, flag: "wx" });
      fs.renameSync(temp, file);
    }
    return { mediaType, digest, size: bytes.length };
  }

  /**
   * index.json with the manifest under each tag: both annotations Docker >= 25 writes
   * (`org.opencontainers.image.ref.name` = the tag, what skopeo's oci:DIR:REF matches;
   * `io.containerd.image.name` = the full reference, what podman and containerd name it by).
   * Other images stay; one with the same ref name (and full name) is replaced. `tags` are
   * `name:tag` references; a bare `:REF` (from `oci:DIR:REF`) sets the ref name only.
   */
  async putManifest(bytes: Uint8Array, mediaType: string, tags: readonly string[]): Promise<Descriptor> {
    const manifest = await this.putBlob(bytes, mediaType);
    await withLockFile(path.join(this.dir, "index.json.lock"), () => {
      const file = path.join(this.dir, "index.json");
      const old = fs.existsSync(file) ? readIndex(file) : [];
      const refs = tags.map(splitTag);
      const keep = old.filter((d) => !refs.some((r) => d.annotations?.["org.opencontainers.image.ref.name"] === r.tag && (r.full === undefined || (d.annotations?.["io.containerd.image.name"] ?? r.full) === r.full)));
      const added = refs.map((r) => ({ ...manifest, annotations: { ...(r.full === undefined ? {} : { "io.containerd.image.name": r.full }), "org.opencontainers.image.ref.name": r.tag } }));
      const index = { schemaVersion: 2, mediaType: MEDIA_TYPES.index, manifests: [...keep, ...(added.length > 0 ? added : [manifest])] };
      const temp = path.join(this.tempDir(), "index.json");
      fs.writeFileSync(temp, JSON.stringify(index));
      fs.renameSync(temp, file);
    });
    return manifest;
  }

  async close(): Promise<void> {
    if (this.tmp !== undefined) fs.rmSync(this.tmp, { recursive: true, force: true });
    this.forgetTmp?.();
    this.tmp = undefined;
  }

  /** The file of a blob (inside the layout whatever the digest says: digests are checked hex). */
  blobPath(digest: Digest): string {
    const hex = digest.slice("sha256:".length);
    if (!/^[0-9a-f]{64}$/.test(hex)) throw new StrataError("E_INTERNAL", `not a sha256 digest: ${digest}`, "this is a bug in strata; please report it");
    return path.join(this.blobs, hex);
  }

  /**
   * Move a finished temp file to its digest name and stamp it. A blob already there that checks
   * out (has() above) is kept, untouched; anything else standing there is replaced.
   */
  private async place(temp: string, digest: Digest, size: number): Promise<void> {
    const file = this.blobPath(digest);
    if (await this.has({ mediaType: "", digest, size })) {
      fs.rmSync(temp, { force: true });
      return;
    }
    fs.renameSync(temp, file);
    const st = fs.lstatSync(file, { bigint: true });
    if (Number(st.size) !== size) throw new StrataError("E_INTERNAL", `blob ${digest} has ${st.size} bytes, expected ${size}`, "this is a bug in strata; please report it");
    this.stamps?.stampFile(file, digest, stampOf(st));
  }
}

function stampOf(st: fs.BigIntStats): FileStamp {
  return { dev: Number(st.dev), ino: Number(st.ino), size: Number(st.size), mtimeNs: st.mtimeNs };
}

function sameStamp(a: FileStamp, b: FileStamp): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs;
}

async function hashFile(file: string): Promise<Digest> {
  const hash = sha256();
  const handle = await fs.promises.open(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    for (;;) {
      const { bytesRead } = await handle.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      hash.update(buf.subarray(0, bytesRead));
    }
  } finally {
    await handle.close();
  }
  return asDigest(hash.hex());
}

/** Whether `file` is a regular file holding exactly `bytes` (small blobs: compared, not trusted). */
function sameBytes(file: string, bytes: Uint8Array): boolean {
  try {
    const st = fs.lstatSync(file);
    if (!st.isFile() || st.size !== bytes.length) return false;
    return Buffer.from(bytes).equals(fs.readFileSync(file));
  } catch {
    return false;
  }
}

/** A new or existing layout directory, ready for blobs. */
function prepareLayout(dir: string): void {
  let entries: string[];
  try {
    entries = fs.readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") {
      throw new StrataError("E_WRITE", `cannot use ${dir} as an OCI layout: ${(err as Error).message}`, "give a directory path with -o");
    }
    entries = [];
  }
  const isLayout = entries.includes("oci-layout");
  if (!isLayout && entries.length > 0) {
    throw new StrataError("E_WRITE", `${dir} exists and is not an OCI image layout (no oci-layout file)`, "give a new or empty directory, or an existing layout");
  }
  if (isLayout) {
    const version = readLayoutJson(path.join(dir, "oci-layout"), "oci-layout") as { imageLayoutVersion?: unknown } | null;
    if (version?.imageLayoutVersion !== "1.0.0") {
      throw new StrataError("E_UNSUPPORTED", `${dir}/oci-layout has imageLayoutVersion ${JSON.stringify(version?.imageLayoutVersion)}`, "strata writes layouts of version 1.0.0");
    }
  }
  fs.mkdirSync(path.join(dir, "blobs", "sha256"), { recursive: true });
  if (!isLayout) fs.writeFileSync(path.join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
}

/** index.json's manifests (an absent list is none; anything else not a list is an error). */
function readIndex(file: string): Descriptor[] {
  const index = readLayoutJson(file, "index.json") as { manifests?: unknown } | null;
  const manifests = index?.manifests ?? [];
  if (index === null || typeof index !== "object" || !Array.isArray(manifests)) {
    throw new StrataError("E_WRITE", `cannot update the OCI layout: its index.json (${file}) is not an image index`, "fix or remove the layout directory, or write to a new one");
  }
  return manifests as Descriptor[];
}

/** `name:tag` → the tag and the full normalised reference (docker.io/library/name:tag); `:REF` → the ref alone. */
export function splitTag(repoTag: string): { tag: string; full: string | undefined } {
  if (repoTag.startsWith(":")) return { tag: repoTag.slice(1), full: undefined };
  const colon = repoTag.lastIndexOf(":");
  const hasTag = colon > repoTag.lastIndexOf("/");
  const name = hasTag ? repoTag.slice(0, colon) : repoTag;
  const tag = hasTag ? repoTag.slice(colon + 1) : "latest";
  const first = name.split("/")[0]!;
  const hasRegistry = name.includes("/") && (first.includes(".") || first.includes(":") || first === "localhost");
  const full = hasRegistry ? name : name.includes("/") ? `docker.io/${name}` : `docker.io/library/${name}`;
  return { tag, full: `${full}:${tag}` };
}

/** A layout's own JSON file: a regular file (never a link out of the layout), parsed, or a one-line error. */
function readLayoutJson(file: string, what: string): unknown {
  let text: string;
  try {
    const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
    try {
      const st = fs.fstatSync(fd);
      if (!st.isFile()) throw new Error("not a regular file");
      if (st.size > 4 << 20) throw new Error(`${st.size} bytes, more than a layout file needs`);
      text = fs.readFileSync(fd, "utf8");
    } finally {
      fs.closeSync(fd);
    }
    return JSON.parse(text);
  } catch (err) {
    const why = err instanceof SyntaxError ? "not valid JSON" : (err as NodeJS.ErrnoException).code === "ELOOP" ? "a symbolic link" : (err as Error).message;
    throw new StrataError("E_WRITE", `cannot update the OCI layout: its ${what} (${file}) is unreadable: ${why}`, "fix or remove the layout directory, or write to a new one", { cause: err });
  }
}
