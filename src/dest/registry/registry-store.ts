/**
 * A registry repository as a BlobStore (dest/blob-store.ts): what a writer pushes an image
 * through. `has` is a HEAD with a size check, `mount` a cross-repository mount on the same
 * registry, `openBlob` a chunked upload streamed as the bytes are produced, `putBlob` a
 * monolithic POST + PUT for small blobs (the config), `putManifest` a PUT per tag.
 *
 * Chunks: bytes are gathered into 8 MiB buffers and each full one is PATCHed while the next
 * fills (two buffers per upload, so 16 MiB at most per layer in flight). 8 MiB keeps the
 * per-request round trip (a few ms on a LAN, ~100 ms to a distant registry) small next to the
 * chunk's transfer time, and measured 279-284 MB peak on the 1G bench push where 16 MiB took
 * 317-319 MB at the same speed (docs/benchmarks-registry.md); `chunkSize` changes it.
 *
 * When the registry refuses chunked PATCH (405/501 on the first chunk, or 416 on a later one),
 * the upload falls back to a monolithic PUT. That needs the size and digest before the first
 * byte is sent, which a stream only knows at its end: so only then are the blob's bytes spooled
 * to a temp file under `tmpDir`, and sent whole at commit. The store remembers the refusal, so
 * later blobs spool from the start.
 *
 * The retry boundary: a chunk is retried as is by the client; when the upload session is lost
 * (UploadRestartError), the blob must be produced again from its first byte. `pushStream` does
 * that for a caller that can re-produce the bytes (up to 3 times), and counts it.
 */
import fs from "node:fs";
import path from "node:path";
import type { BlobOrigin, BlobStore, BlobUpload, Descriptor } from "../blob-store.js";
import { type Digest, asDigest, sha256Hex } from "../../digest.js";
import { StrataError } from "../../errors.js";
import { makeTempDir } from "../../temp-dir.js";
import { RegistryClient, type RegistryClientOptions, UploadRestartError, type UploadSession } from "./client.js";
import { type ImageReference, formatReference } from "./reference.js";

export const DEFAULT_CHUNK_SIZE = 8 * 1024 * 1024;

export interface RegistryStoreOptions extends RegistryClientOptions {
  /** Bytes per PATCH (default 8 MiB). */
  readonly chunkSize?: number | undefined;
  /** Where a blob is spooled when the registry refuses chunked uploads (default $TMPDIR). */
  readonly tmpDir?: string | undefined;
  /** Share one client (its connections, tokens) between stores on the same registry. */
  readonly client?: RegistryClient | undefined;
}

export interface RegistryStats {
  readonly blobsUploaded: number;
  readonly blobsSkipped: number;
  readonly blobsMounted: number;
  readonly bytesSent: number;
  /** Requests sent again after a failure (503, 429, a reset connection, ...). */
  readonly retries: number;
  /** Uploads started again from their first byte because the session was lost. */
  readonly uploadRestarts: number;
}

export class RegistryBlobStore implements BlobStore {
  readonly name: string;
  readonly client: RegistryClient;
  readonly repository: string;
  readonly chunkSize: number;
  /** False once the registry refused a chunked PATCH: later uploads spool and PUT whole. */
  chunked = true;
  private readonly ownsClient: boolean;
  private readonly open = new Set<RegistryUpload>();
  readonly counters = { blobsUploaded: 0, blobsSkipped: 0, blobsMounted: 0, bytesSent: 0, uploadRestarts: 0 };

  constructor(readonly ref: ImageReference, readonly options: RegistryStoreOptions = {}) {
    this.name = formatReference(ref);
    this.repository = ref.repository;
    this.chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
    if (!Number.isSafeInteger(this.chunkSize) || this.chunkSize < 1024) throw new StrataError("E_USAGE", `chunkSize must be an integer >= 1024, got ${this.chunkSize}`, "use the default (8 MiB)");
    this.ownsClient = options.client === undefined;
    this.client = options.client ?? new RegistryClient(ref.registry, ref.apiHost, { ...options, push: true });
  }

  stats(): RegistryStats {
    return { ...this.counters, retries: this.client.retryCount };
  }

  async has(blob: Descriptor): Promise<boolean> {
    const size = await this.client.headBlob(this.repository, blob.digest);
    if (size !== blob.size) return false;
    this.counters.blobsSkipped++;
    return true;
  }

  async mount(blob: Descriptor, from: BlobOrigin): Promise<boolean> {
    if (from.registry !== this.ref.registry || from.repository === this.repository) return false;
    const mounted = await this.client.mountBlob(this.repository, blob.digest, from.repository);
    if (mounted) this.counters.blobsMounted++;
    return mounted;
  }

  async openBlob(): Promise<BlobUpload> {
    const upload = new RegistryUpload(this, await this.client.startUpload(this.repository));
    this.open.add(upload);
    return upload;
  }

  /** Write a blob whose bytes `produce` can make again, starting over when the session is lost. */
  async pushStream(produce: (out: BlobUpload) => Promise<{ digest: Digest; size: number }>, attempts = 3): Promise<{ digest: Digest; size: number }> {
    for (let attempt = 1; ; attempt++) {
      const upload = await this.openBlob();
      try {
        const { digest, size } = await produce(upload);
        await upload.commit(digest, size);
        return { digest, size };
      } catch (err) {
        await upload.abort();
        if (!(err instanceof UploadRestartError) || attempt >= attempts) throw err;
        this.counters.uploadRestarts++;
        if (err.chunksRefused) this.chunked = false;
      }
    }
  }

  async putBlob(bytes: Uint8Array, mediaType: string): Promise<Descriptor> {
    const desc: Descriptor = { mediaType, digest: asDigest(sha256Hex(bytes)), size: bytes.length };
    if (await this.has(desc)) return desc;
    for (let attempt = 1; ; attempt++) {
      const session = await this.client.startUpload(this.repository);
      try {
        await this.client.finishUpload(this.repository, session, desc.digest, bytes);
        break;
      } catch (err) {
        if (!(err instanceof UploadRestartError) || attempt >= 3) throw err;
        this.counters.uploadRestarts++;
      }
    }
    this.counters.blobsUploaded++;
    this.counters.bytesSent += bytes.length;
    return desc;
  }

  async putManifest(bytes: Uint8Array, mediaType: string, tags: readonly string[]): Promise<Descriptor> {
    const digest = asDigest(sha256Hex(bytes));
    for (const ref of tags.length === 0 ? [digest] : tags) {
      const got = await this.client.putManifest(this.repository, ref, bytes, mediaType);
      if (got !== digest) throw new StrataError("E_INTERNAL", `manifest digest ${got} differs from ${digest}`, "this is a bug in strata; please report it");
    }
    return { mediaType, digest, size: bytes.length };
  }

  async close(): Promise<void> {
    await Promise.all([...this.open].map((u) => u.abort()));
    if (this.ownsClient) this.client.close();
  }

  /** @internal */
  forget(upload: RegistryUpload): void {
    this.open.delete(upload);
  }
}

/** One blob in flight: chunks PATCHed while the next fills; or, after a refusal, spooled to a file. */
class RegistryUpload implements BlobUpload {
  private buffers: Buffer[] = [];
  private current: Buffer;
  private fill = 0;
  private written = 0;
  private inflight: Promise<void> | undefined;
  private failed: unknown;
  private spool: { dir: string; file: string; fd: fs.promises.FileHandle } | undefined;
  private done = false;
  private restartedOnce = false;
  /** Decided when the upload starts: one that already sent chunks keeps sending them. */
  private chunked: boolean;

  constructor(private readonly store: RegistryBlobStore, private session: UploadSession) {
    this.current = Buffer.allocUnsafe(store.chunkSize);
    this.chunked = store.chunked;
  }

  async write(bytes: Uint8Array): Promise<void> {
    if (this.failed !== undefined) throw this.failed;
    if (this.done) throw new StrataError("E_INTERNAL", "write after commit or abort", "this is a bug in strata; please report it");
    let at = 0;
    while (at < bytes.length) {
      const n = Math.min(bytes.length - at, this.current.length - this.fill);
      this.current.set(bytes.subarray(at, at + n), this.fill);
      this.fill += n;
      at += n;
      this.written += n;
      if (this.fill === this.current.length) await this.flush();
    }
  }

  async commit(digest: Digest, size: number): Promise<void> {
    if (this.written !== size) throw new StrataError("E_INTERNAL", `blob ${digest}: ${this.written} bytes written, commit says ${size}`, "this is a bug in strata; please report it");
    await this.flush();
    await this.settle();
    const { client, repository } = this.store;
    try {
      if (this.spool !== undefined) {
        await this.spool.fd.close();
        // A fresh session: the one whose PATCH was refused may be in any state.
        await client.deleteUpload(repository, this.session);
        this.session = await client.startUpload(repository);
        await client.finishUpload(repository, this.session, digest, { file: this.spool.file, size });
        this.store.counters.bytesSent += size;
      } else {
        await client.finishUpload(repository, this.session, digest);
      }
    } catch (err) {
      // The PUT may have succeeded and only its answer been lost.
      if (err instanceof StrataError && err.code === "E_REGISTRY" && !(err instanceof UploadRestartError) && (await client.headBlob(repository, digest).catch(() => undefined)) === size) {
        // present: done
      } else {
        throw err;
      }
    } finally {
      await this.cleanup();
    }
    this.store.counters.blobsUploaded++;
  }

  async abort(): Promise<void> {
    if (this.done) return;
    await this.inflight?.catch(() => undefined);
    await this.store.client.deleteUpload(this.store.repository, this.session);
    await this.cleanup();
  }

  /** Send (or spool) the filled part of the current buffer, after the previous chunk went out. */
  private async flush(): Promise<void> {
    await this.settle();
    if (this.fill === 0) return;
    const chunk = this.current.subarray(0, this.fill);
    this.buffers.push(this.current);
    // Two buffers alternate: the one just handed out is free again once its PATCH is settled.
    this.current = this.buffers.length >= 2 ? this.buffers.shift()! : Buffer.allocUnsafe(this.store.chunkSize);
    this.fill = 0;
    const p = this.send(chunk);
    this.inflight = p;
    p.catch((err: unknown) => {
      this.failed ??= err;
    });
  }

  private async settle(): Promise<void> {
    const p = this.inflight;
    this.inflight = undefined;
    if (p !== undefined) await p;
    if (this.failed !== undefined) throw this.failed;
  }

  private async send(chunk: Buffer): Promise<void> {
    if (this.spool === undefined && this.chunked) {
      const { client, repository } = this.store;
      let accepted: boolean;
      try {
        accepted = await client.patchChunk(repository, this.session, chunk);
      } catch (err) {
        // Nothing confirmed yet: a new session costs nothing, so restart here, once.
        if (!(err instanceof UploadRestartError) || err.chunksRefused || this.session.offset !== 0 || this.restartedOnce) throw err;
        this.restartedOnce = true;
        this.store.counters.uploadRestarts++;
        await client.deleteUpload(repository, this.session);
        this.session = await client.startUpload(repository);
        accepted = await client.patchChunk(repository, this.session, chunk);
      }
      if (accepted) {
        this.store.counters.bytesSent += chunk.length;
        return;
      }
      this.chunked = false;
      this.store.chunked = false;
    }
    if (this.spool === undefined) {
      if (this.session.offset !== 0) throw new UploadRestartError("the registry stopped accepting chunks mid-upload", true);
      const dir = await makeTempDir(this.store.options.tmpDir, "strata-push-");
      const file = path.join(dir, "blob");
      this.spool = { dir, file, fd: await fs.promises.open(file, "w", 0o600) };
    }
    try {
      await this.spool.fd.write(chunk);
    } catch (err) {
      throw new StrataError("E_WRITE", `cannot spool a blob for a monolithic upload in ${this.spool.dir}: ${(err as NodeJS.ErrnoException).code ?? "error"}`, "free space there, or set --tmp-dir", { cause: err });
    }
  }

  private async cleanup(): Promise<void> {
    this.done = true;
    this.buffers = [];
    this.store.forget(this);
    if (this.spool !== undefined) {
      await this.spool.fd.close().catch(() => undefined);
      await fs.promises.rm(this.spool.dir, { recursive: true, force: true });
      this.spool = undefined;
    }
  }
}
