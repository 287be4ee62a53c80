/**
 * HTTP(S) to one registry host with node:http/https and keep-alive agents (many uploads share a
 * few connections; the caller runs 8 or more at once, so sockets are not capped below that).
 *
 * TLS: the system CAs (Node's bundle, Debian's `/etc/ssl/certs/ca-certificates.crt`,
 * `NODE_EXTRA_CA_CERTS`) plus the cert dir's, in podman's convention: `--cert-dir DIR`, else
 * `/etc/containers/certs.d/HOST[:PORT]` and `/etc/docker/certs.d/HOST[:PORT]`, holding `*.crt` CA
 * files and `NAME.cert` + `NAME.key` client pairs. `tlsVerify: false` accepts any certificate and
 * lets the client fall back to plain HTTP (decided once, by `GET /v2/`).
 *
 * Nothing here puts a header value, a query string or a body into an error: messages carry the
 * method, the path and the system error code only.
 */
import fs from "node:fs";
import http from "node:http";
import https from "node:https";
import path from "node:path";
import tls from "node:tls";
import type { Readable } from "node:stream";

export interface TlsOptions {
  /** Verify the server's certificate, and refuse plain HTTP (default true). */
  readonly tlsVerify?: boolean | undefined;
  /** podman's `--cert-dir`. */
  readonly certDir?: string | undefined;
  /** Idle socket timeout in ms (default 120 s: a registry may take long to verify a big blob at PUT). */
  readonly timeoutMs?: number | undefined;
}

/** A request body that can be sent again on a retry: bytes, or a file's first `size` bytes. */
export type Body = Uint8Array | { readonly file: string; readonly size: number };

export interface HttpRequest {
  readonly method: string;
  readonly url: URL;
  readonly headers: Record<string, string>;
  readonly body?: Body | undefined;
}

export interface HttpResponse {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: http.IncomingMessage;
}

/** A network failure, with the system code (ECONNRESET, ECONNREFUSED, ...) and no secret. */
export class NetworkError extends Error {
  override readonly name = "NetworkError";
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

/** `/v2/x/blobs/uploads/UUID` without its query string (which may carry signed state). */
export function safePath(url: URL): string {
  return url.pathname;
}

export class Transport {
  private readonly httpsAgent: https.Agent;
  private readonly httpAgent: http.Agent;
  private readonly timeoutMs: number;

  constructor(host: string, options: TlsOptions = {}) {
    const verify = options.tlsVerify !== false;
    this.timeoutMs = options.timeoutMs ?? 120_000;
    const tlsBits = certDirOptions(host, options.certDir);
    // One secure context for every connection: given `ca` per connection, Node parses the
    // whole CA bundle again for each TLS handshake.
    const custom = tlsBits.ca.length > 0 || tlsBits.cert !== undefined;
    const secureContext = custom
      ? tls.createSecureContext({
        ...(tlsBits.ca.length > 0 ? { ca: [...systemCas(), ...tlsBits.ca] } : {}),
        ...(tlsBits.cert !== undefined ? { cert: tlsBits.cert, key: tlsBits.key } : {}),
      })
      : undefined;
    this.httpsAgent = new https.Agent({
      keepAlive: true,
      maxSockets: 64,
      maxFreeSockets: 16,
      rejectUnauthorized: verify,
      ...(secureContext === undefined ? {} : { secureContext }),
    });
    this.httpAgent = new http.Agent({ keepAlive: true, maxSockets: 64, maxFreeSockets: 16 });
  }

  request(req: HttpRequest): Promise<HttpResponse> {
    const isHttps = req.url.protocol === "https:";
    const mod = isHttps ? https : http;
    const headers: Record<string, string> = { "User-Agent": "strata", ...req.headers };
    const body = req.body;
    if (body !== undefined) headers["Content-Length"] = String(body instanceof Uint8Array ? body.length : body.size);
    return new Promise<HttpResponse>((resolve, reject) => {
      let settled = false;
      const fail = (err: Error): void => {
        if (settled) return;
        settled = true;
        const code = (err as NodeJS.ErrnoException).code ?? (err.message === "socket hang up" ? "ECONNRESET" : "ENETWORK");
        reject(new NetworkError(code, `${req.method} ${safePath(req.url)}: ${describeCode(code)}`));
      };
      const r = mod.request(req.url, { method: req.method, headers, agent: isHttps ? this.httpsAgent : this.httpAgent }, (res) => {
        settled = true;
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res });
      });
      r.setTimeout(this.timeoutMs, () => r.destroy(Object.assign(new Error("timeout"), { code: "ETIMEDOUT" })));
      r.on("error", fail);
      if (body === undefined) r.end();
      else if (body instanceof Uint8Array) r.end(body);
      else {
        const file: Readable = fs.createReadStream(body.file, { start: 0, end: body.size - 1, highWaterMark: 1 << 20 });
        file.on("error", (err) => r.destroy(err));
        if (body.size === 0) r.end();
        else file.pipe(r);
      }
    });
  }

  close(): void {
    this.httpsAgent.destroy();
    this.httpAgent.destroy();
  }
}

/** Read a response body up to `limit` bytes; more is an error (never trust Content-Length for memory). */
export async function readBody(res: HttpResponse, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      res.body.destroy();
      throw new RangeError(`response body exceeds ${limit} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** Throw a response's body away so its socket can be reused (small bodies) or close it. */
export function discard(res: HttpResponse): void {
  const len = Number(res.headers["content-length"] ?? "0");
  if (Number.isFinite(len) && len <= 65536) res.body.resume();
  else res.body.destroy();
}

function describeCode(code: string): string {
  switch (code) {
    case "ECONNREFUSED": return "connection refused (is the registry running, and at that port?)";
    case "ECONNRESET": return "connection reset by the registry";
    case "EPIPE": return "the registry closed the connection while strata was sending";
    case "ETIMEDOUT": return "no answer from the registry in time";
    case "ENOTFOUND": case "EAI_AGAIN": return "the registry host name does not resolve";
    case "DEPTH_ZERO_SELF_SIGNED_CERT": case "SELF_SIGNED_CERT_IN_CHAIN": case "UNABLE_TO_VERIFY_LEAF_SIGNATURE":
    case "UNABLE_TO_GET_ISSUER_CERT_LOCALLY": case "ERR_TLS_CERT_ALTNAME_INVALID": case "CERT_HAS_EXPIRED":
      return `the registry's TLS certificate is not trusted (${code})`;
    default: return `network error ${code}`;
  }
}

/** TLS certificate errors are not retried: they will not go away by themselves. */
export function isTlsTrustError(code: string): boolean {
  return /CERT|SELF_SIGNED|VERIFY/.test(code);
}

interface CertDirBits { ca: Buffer[]; cert?: Buffer; key?: Buffer }

function certDirOptions(host: string, certDir: string | undefined): CertDirBits {
  const dirs = certDir !== undefined ? [certDir] : [path.join("/etc/containers/certs.d", host), path.join("/etc/docker/certs.d", host)];
  const out: CertDirBits = { ca: [] };
  for (const dir of dirs) {
    let names: string[];
    try {
      names = fs.readdirSync(dir).sort();
    } catch {
      continue;
    }
    for (const name of names) {
      if (name.endsWith(".crt")) out.ca.push(fs.readFileSync(path.join(dir, name)));
      else if (name.endsWith(".cert") && out.cert === undefined) {
        const keyFile = path.join(dir, `${name.slice(0, -".cert".length)}.key`);
        if (fs.existsSync(keyFile)) {
          out.cert = fs.readFileSync(path.join(dir, name));
          out.key = fs.readFileSync(keyFile);
        }
      }
    }
    if (certDir === undefined && (out.ca.length > 0 || out.cert !== undefined)) break;
  }
  return out;
}

/** Passing `ca` replaces Node's defaults, so the system's bundles are added back explicitly. */
function systemCas(): (string | Buffer)[] {
  const out: (string | Buffer)[] = [...tls.rootCertificates];
  for (const file of ["/etc/ssl/certs/ca-certificates.crt", process.env["NODE_EXTRA_CA_CERTS"]]) {
    if (file === undefined || file === "") continue;
    try {
      out.push(fs.readFileSync(file));
    } catch {
      // not on this system
    }
  }
  return out;
}
