/**
 * A client for one registry, following the OCI distribution spec: blobs (HEAD, mount, chunked and
 * monolithic upload, GET verified as it streams), manifests (PUT checked against the registry's
 * Docker-Content-Digest, GET size-limited and verified by digest) and upload sessions.
 *
 * Every request goes through `send`: authentication (token.ts), retries with backoff (retry.ts)
 * on 408/429/5xx and dropped connections, redirects for reads, and the mapping of failures to
 * StrataErrors (E_REGISTRY, E_AUTH, E_CHECKSUM) whose messages name the registry, the operation
 * and what came back, never a secret. A chunk PATCH is retried as it is (same bytes, same
 * session); when the session itself is gone (the registry lost it, or rejected the offset after
 * a half-sent chunk), the upload must start again from its first byte: that is an
 * UploadRestartError, which the store (registry-store.ts) handles.
 */
import type { Readable } from "node:stream";
import { type Digest, asDigest, sha256Hex } from "../../digest.js";
import { StrataError } from "../../errors.js";
import { CredentialResolver } from "./auth.js";
import { DEFAULT_RETRY, Backoff, type RetryPolicy, parseRetryAfter, retryableCode, retryableStatus, sleep } from "./retry.js";
import { Authenticator } from "./token.js";
import { errorSummary, headerValue, hintFor } from "./response.js";
import { type Body, type HttpResponse, NetworkError, type TlsOptions, Transport, discard, isTlsTrustError, readBody } from "./transport.js";
import { VerifyingStream } from "./verifying-stream.js";

export interface RegistryClientOptions extends TlsOptions {
  /** Where credentials come from (auth.ts); default: the auth files, no --creds. */
  readonly credentials?: CredentialResolver | undefined;
  readonly retry?: Partial<RetryPolicy> | undefined;
  /** Ask for push access on every request, so one token serves the whole push (default false). */
  readonly push?: boolean | undefined;
  /** Largest manifest accepted (default 4 MiB, as distribution's own limit). */
  readonly manifestLimit?: number | undefined;
}

export interface UploadSession {
  /** Where the next PATCH or the final PUT goes (the registry's last Location). */
  location: URL;
  /** Bytes the registry has confirmed. */
  offset: number;
}

export interface PulledManifest {
  readonly bytes: Buffer;
  readonly mediaType: string;
  readonly digest: Digest;
}

/** The upload session is gone or unusable: send the blob again from its first byte, in a new session. */
export class UploadRestartError extends StrataError {
  constructor(message: string, readonly chunksRefused: boolean) {
    super("E_REGISTRY", message, "the upload is restarted from its first byte; if this keeps happening, the registry or a proxy in front of it drops uploads");
  }
}

interface Op {
  readonly method: string;
  /** A path under the registry's base URL, or a Location the registry gave. */
  readonly url: string | URL;
  readonly repo: string;
  readonly scopes: readonly string[];
  /** For messages: "push blob sha256:... to REPO". */
  readonly action: string;
  readonly headers?: Record<string, string>;
  readonly body?: Body | undefined;
  /** Statuses handed back to the caller; any other is an E_REGISTRY. */
  readonly ok: readonly number[];
  readonly retry?: boolean;
}

const MANIFEST_LIMIT = 4 * 1024 * 1024;

export class RegistryClient {
  readonly registry: string;
  readonly credentials: CredentialResolver;
  private readonly transport: Transport;
  private readonly auth: Authenticator;
  private readonly retry: RetryPolicy;
  private readonly push: boolean;
  private readonly manifestLimit: number;
  private base: Promise<string> | undefined;
  private retries = 0;

  /** `registry` as in a reference (`docker.io`, `host:port`); `apiHost` where the API answers. */
  constructor(registry: string, private readonly apiHost: string, private readonly options: RegistryClientOptions = {}) {
    this.registry = registry;
    this.credentials = options.credentials ?? new CredentialResolver();
    this.transport = new Transport(apiHost, options);
    this.retry = { ...DEFAULT_RETRY, ...options.retry };
    this.push = options.push === true;
    this.manifestLimit = options.manifestLimit ?? MANIFEST_LIMIT;
    this.auth = new Authenticator(registry, this.credentials, this.transport, this.retry, () => this.retries++);
  }

  /** Requests sent again after a failure, token fetches included. */
  get retryCount(): number {
    return this.retries;
  }

  scope(repo: string, push = this.push): string {
    return `repository:${repo}:${push ? "pull,push" : "pull"}`;
  }

  /** GET /v2/: the registry answers (200, or 401 with a challenge that credentials satisfy). */
  async ping(repo = ""): Promise<void> {
    const res = await this.send({ method: "GET", url: "/v2/", repo, scopes: repo === "" ? [] : [this.scope(repo)], action: "answer GET /v2/", ok: [200] });
    discard(res);
  }

  /** The blob's size when the repository holds it, undefined when it does not. */
  async headBlob(repo: string, digest: Digest): Promise<number | undefined> {
    const res = await this.send({ method: "HEAD", url: `/v2/${repo}/blobs/${digest}`, repo, scopes: [this.scope(repo)], action: `check blob ${digest} in ${repo}`, ok: [200, 404] });
    discard(res);
    if (res.status === 404) return undefined;
    const size = Number(res.headers["content-length"]);
    return Number.isSafeInteger(size) ? size : undefined;
  }

  /** Cross-repository mount: true when the registry linked the blob (201); false (session cancelled) when not (202). */
  async mountBlob(repo: string, digest: Digest, fromRepo: string): Promise<boolean> {
    const url = `/v2/${repo}/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(fromRepo)}`;
    let res: HttpResponse;
    try {
      res = await this.send({ method: "POST", url, repo, scopes: [this.scope(repo, true), this.scope(fromRepo, false)], action: `mount blob ${digest} from ${fromRepo} into ${repo}`, ok: [201, 202], headers: { "Content-Length": "0" } });
    } catch (err) {
      // No read access to the source repository: no mount, and the upload will say whether push works.
      if (err instanceof StrataError && err.code === "E_AUTH") return false;
      throw err;
    }
    discard(res);
    if (res.status === 201) return true;
    const location = this.location(res, repo);
    await this.deleteUpload(repo, { location, offset: 0 });
    return false;
  }

  /** POST: a new upload session. */
  async startUpload(repo: string): Promise<UploadSession> {
    const res = await this.send({ method: "POST", url: `/v2/${repo}/blobs/uploads/`, repo, scopes: [this.scope(repo, true)], action: `start an upload to ${repo}`, ok: [202], headers: { "Content-Length": "0" } });
    discard(res);
    return { location: this.location(res, repo), offset: 0 };
  }

  /**
   * PATCH one chunk at the session's offset (Content-Range). Retried as is on 5xx/429/resets.
   * Returns false when the registry refuses chunked PATCH (405/501) at offset 0; throws
   * UploadRestartError when the session is lost or the offset is refused (404, 400, 416).
   */
  async patchChunk(repo: string, session: UploadSession, chunk: Uint8Array): Promise<boolean> {
    if (chunk.length === 0) return true;
    const end = session.offset + chunk.length - 1;
    const res = await this.send({
      method: "PATCH", url: session.location, repo, scopes: [this.scope(repo, true)], action: `upload bytes ${session.offset}-${end} to ${repo}`,
      headers: { "Content-Type": "application/octet-stream", "Content-Range": `${session.offset}-${end}` }, body: chunk, ok: [202, 400, 404, 405, 416, 501],
    });
    const registryError = res.status === 202 ? "" : await errorSummary(res);
    if (res.status === 202) {
      discard(res);
      session.location = this.location(res, repo);
      session.offset = end + 1;
      return true;
    }
    if ((res.status === 405 || res.status === 501) && session.offset === 0) return false;
    throw new UploadRestartError(`${this.registry} answered ${res.status} to a chunk at offset ${session.offset} of an upload to ${repo}${registryError}`, res.status === 416 || res.status === 405 || res.status === 501);
  }

  /** PUT ?digest=: complete the session, with `body` as its last bytes (a monolithic upload sends them all here). */
  async finishUpload(repo: string, session: UploadSession, digest: Digest, body?: Body): Promise<void> {
    const url = new URL(session.location);
    url.searchParams.set("digest", digest);
    const res = await this.send({
      method: "PUT", url, repo, scopes: [this.scope(repo, true)], action: `complete blob ${digest} in ${repo}`,
      headers: { "Content-Type": "application/octet-stream" }, body: body ?? new Uint8Array(0), ok: [201, 204, 404, 416],
    });
    if (res.status === 404 || res.status === 416) throw new UploadRestartError(`${this.registry} answered ${res.status} to completing blob ${digest} in ${repo}${await errorSummary(res)}`, false);
    discard(res);
    const got = headerValue(res, "docker-content-digest");
    if (got !== undefined && got !== digest) {
      throw new StrataError("E_CHECKSUM", `${this.registry} stored blob ${digest} in ${repo} under digest ${got}`, "the bytes changed on the way; push again");
    }
  }

  /** DELETE an upload session (best effort: a session left behind expires on the registry). */
  async deleteUpload(repo: string, session: UploadSession): Promise<void> {
    try {
      const res = await this.send({ method: "DELETE", url: session.location, repo, scopes: [this.scope(repo, true)], action: `cancel an upload to ${repo}`, ok: [200, 202, 204, 404, 405], retry: false });
      discard(res);
    } catch {
      // nothing more to do
    }
  }

  /** PUT a manifest under a tag or its digest; returns its digest, checked against the registry's. */
  async putManifest(repo: string, ref: string, bytes: Uint8Array, mediaType: string): Promise<Digest> {
    const digest = asDigest(sha256Hex(bytes));
    const res = await this.send({ method: "PUT", url: `/v2/${repo}/manifests/${ref}`, repo, scopes: [this.scope(repo, true)], action: `put manifest ${ref} in ${repo}`, headers: { "Content-Type": mediaType }, body: bytes, ok: [201, 200, 202, 204] });
    discard(res);
    const got = headerValue(res, "docker-content-digest");
    if (got !== undefined && got !== digest) {
      throw new StrataError("E_CHECKSUM", `${this.registry} stored manifest ${ref} of ${repo} as ${got}, strata sent ${digest}`, "the manifest changed on the way, or the registry rewrote it; push again");
    }
    return digest;
  }

  /** GET a manifest; size-limited; verified when `ref` is a digest. */
  async getManifest(repo: string, ref: string, accept: readonly string[]): Promise<PulledManifest> {
    const res = await this.send({ method: "GET", url: `/v2/${repo}/manifests/${ref}`, repo, scopes: [this.scope(repo)], action: `get manifest ${ref} of ${repo}`, headers: { Accept: accept.join(", ") }, ok: [200] });
    const announced = Number(res.headers["content-length"] ?? "0");
    if (announced > this.manifestLimit) {
      res.body.destroy();
      throw new StrataError("E_REGISTRY", `manifest ${ref} of ${repo} is ${announced} bytes, more than the ${this.manifestLimit} strata accepts`, "this is not an image manifest strata can use");
    }
    let bytes: Buffer;
    try {
      bytes = await readBody(res, this.manifestLimit);
    } catch (err) {
      if (err instanceof RangeError) throw new StrataError("E_REGISTRY", `manifest ${ref} of ${repo} is larger than the ${this.manifestLimit} bytes strata accepts`, "this is not an image manifest strata can use");
      throw this.networkFailure(err, `get manifest ${ref} of ${repo}`);
    }
    const digest = asDigest(sha256Hex(bytes));
    if (ref.startsWith("sha256:") && ref !== digest) {
      throw new StrataError("E_CHECKSUM", `manifest ${ref} of ${repo} from ${this.registry} hashes to ${digest}`, "the registry served other bytes than the digest names; do not use this image");
    }
    const header = headerValue(res, "content-type")?.split(";")[0]?.trim();
    let mediaType = header ?? "";
    if (mediaType === "" || mediaType === "application/json" || mediaType === "text/plain") {
      try {
        const field = (JSON.parse(bytes.toString("utf8")) as { mediaType?: unknown }).mediaType;
        if (typeof field === "string") mediaType = field;
      } catch {
        // left as the header says
      }
    }
    return { bytes, mediaType, digest };
  }

  /**
   * GET a blob as a stream that checks, as the bytes pass, that there are `size` of them (when
   * given) and that they hash to `digest`: a mismatch is an E_CHECKSUM error on the stream, before
   * its end, so a consumer never sees unverified bytes as complete.
   */
  async getBlob(repo: string, digest: Digest, size?: number): Promise<Readable> {
    const res = await this.send({ method: "GET", url: `/v2/${repo}/blobs/${digest}`, repo, scopes: [this.scope(repo)], action: `get blob ${digest} of ${repo}`, ok: [200] });
    const announced = headerValue(res, "content-length");
    if (size !== undefined && announced !== undefined && Number(announced) !== size) {
      res.body.destroy();
      throw new StrataError("E_CHECKSUM", `blob ${digest} of ${repo} is ${announced} bytes on ${this.registry}, the manifest says ${size}`, "the registry serves other bytes than the image names; do not use this image");
    }
    const verify = new VerifyingStream(digest, size, `blob ${digest} of ${repo}`);
    res.body.on("error", (err) => verify.destroy(this.networkFailure(err, `get blob ${digest} of ${repo}`)));
    res.body.on("aborted", () => verify.destroy(new StrataError("E_REGISTRY", `${this.registry} closed the connection while sending blob ${digest}`, "try again")));
    return res.body.pipe(verify);
  }

  close(): void {
    this.transport.close();
  }

  private location(res: HttpResponse, repo: string): URL {
    const loc = headerValue(res, "location");
    if (loc === undefined) throw new StrataError("E_REGISTRY", `${this.registry} answered ${res.status} for an upload to ${repo} without a Location`, "the registry does not follow the distribution spec; tell its operator");
    return new URL(loc, this.resolvedBase());
  }

  private resolved: string | undefined;
  private resolvedBase(): string {
    return this.resolved ?? `https://${this.apiHost}`;
  }

  /** https, or with tlsVerify false and no TLS answering, http: decided once. */
  private baseUrl(): Promise<string> {
    this.base ??= (async () => {
      const https = `https://${this.apiHost}`;
      if (this.options.tlsVerify !== false) return https;
      try {
        const res = await this.transport.request({ method: "GET", url: new URL("/v2/", https), headers: {} });
        discard(res);
        return https;
      } catch (err) {
        if (err instanceof NetworkError && (err.code === "ECONNREFUSED" || err.code === "ENOTFOUND")) throw this.networkFailure(err, "connect");
        return `http://${this.apiHost}`;
      }
    })().then((b) => (this.resolved = b));
    this.base.catch(() => (this.base = undefined));
    return this.base;
  }

  /** One operation: auth, retries, redirects for reads; a response whose status is in `op.ok`. */
  private async send(op: Op): Promise<HttpResponse> {
    const base = await this.baseUrl();
    let url = typeof op.url === "string" ? new URL(op.url, base) : op.url;
    const backoff = new Backoff(this.retry);
    let authTries = 0;
    let redirects = 0;
    for (;;) {
      const sameOrigin = url.origin === new URL(base).origin;
      const authorization = sameOrigin ? await this.auth.header(op.repo, op.scopes) : undefined;
      const headers = { ...op.headers, ...(authorization === undefined ? {} : { Authorization: authorization }) };
      let wait: number | undefined;
      let res: HttpResponse | undefined;
      try {
        res = await this.transport.request({ method: op.method, url, headers, body: op.body });
      } catch (err) {
        if (!(err instanceof NetworkError)) throw err;
        if (isTlsTrustError(err.code) || !retryableCode(err.code) || op.retry === false) throw this.networkFailure(err, op.action);
        wait = backoff.next();
        if (wait === undefined) throw this.networkFailure(err, op.action, backoff.attempts);
      }
      if (res !== undefined) {
        const status = res.status;
        if (status === 401 && sameOrigin) {
          discard(res);
          authTries++;
          await this.auth.unauthorized(res.headers["www-authenticate"], op.repo, op.scopes, op.action, authorization, authTries);
          continue;
        }
        if ((op.method === "GET" || op.method === "HEAD") && [301, 302, 303, 307, 308].includes(status) && !op.ok.includes(status)) {
          discard(res);
          const loc = headerValue(res, "location");
          if (loc === undefined || ++redirects > 5) throw new StrataError("E_REGISTRY", `${this.registry} redirected ${op.action} ${redirects > 5 ? "too many times" : "without a Location"}`, "tell the registry's operator");
          url = new URL(loc, url);
          continue;
        }
        if (op.ok.includes(status)) return res;
        if (status === 403) {
          const summary = await errorSummary(res);
          throw new StrataError("E_AUTH", `${this.registry} denied ${op.action} (403)${summary}`, this.credentials.hint());
        }
        if (!retryableStatus(status) || op.retry === false) {
          throw new StrataError("E_REGISTRY", `${this.registry} answered ${status} to ${op.action}${await errorSummary(res)}`, hintFor(status));
        }
        discard(res);
        wait = backoff.next(parseRetryAfter(res.headers["retry-after"]));
        if (wait === undefined) {
          throw new StrataError("E_REGISTRY", `${this.registry} answered ${status} to ${op.action}, ${backoff.attempts} times`, "the registry is overloaded or failing; try again later");
        }
      }
      this.retries++;
      await sleep(wait ?? 0);
    }
  }

  private networkFailure(err: unknown, action: string, attempts?: number): StrataError {
    if (err instanceof StrataError) return err;
    const what = err instanceof NetworkError ? err.message.replace(/^\S+ \S+: /, "") : "the connection failed";
    const code = err instanceof NetworkError ? err.code : "";
    const tries = attempts === undefined || attempts <= 1 ? "" : ` (${attempts} attempts)`;
    return new StrataError("E_REGISTRY", `cannot ${action} on ${this.registry}: ${what}${tries}`,
      isTlsTrustError(code) ? "trust the registry's CA with --cert-dir DIR (a ca.crt inside), or pass --tls-verify=false" : "check that the registry is up and reachable, then push again (blobs already uploaded are skipped)");
  }
}
