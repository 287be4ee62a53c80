/**
 * A real registry for tests: Debian's docker-registry (CNCF distribution 2.8) on 127.0.0.1 at a
 * free port with a temp storage dir, in four setups (plain HTTP, TLS with a CA made here by
 * openssl, htpasswd Basic auth, token auth with a token server run here in Node), plus a faulty
 * proxy that answers a share of requests with 503, 429 + Retry-After: 1, or a dropped connection.
 * See /work/shared/interop.md. Everything started is stopped and removed by `stop()`.
 */
import { type ChildProcess, execFile, execFileSync, spawn } from "node:child_process";
import { X509Certificate, createHash, createPrivateKey, randomUUID, sign } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import https from "node:https";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { gzipSync } from "node:zlib";
import type { BlobUpload } from "../../src/dest/blob-store.js";
import { CredentialResolver } from "../../src/dest/registry/auth.js";
import type { RegistryStoreOptions } from "../../src/dest/registry/registry-store.js";
import type { Digest } from "../../src/digest.js";
import { requireTool } from "./interop.js";

export type RegistryMode = "plain" | "tls" | "basic" | "token";

export interface TestRegistry {
  readonly mode: RegistryMode;
  /** `127.0.0.1:PORT`. */
  readonly host: string;
  readonly port: number;
  readonly dir: string;
  /** TLS: a cert dir in podman's convention (ca.crt inside). */
  readonly certDir: string | undefined;
  /** Basic and token modes: a user the registry (or token server) accepts. */
  readonly user: string;
  readonly password: string;
  /** Token mode: an identity token (OAuth2 refresh token) the token server accepts. */
  readonly identityToken: string;
  readonly tokenServer: TokenServer | undefined;
  /** The registry's log (every request at level info). */
  log(): string;
  /** SIGKILL the registry (a crash mid-push). */
  kill(): void;
  /** Start the registry again (after kill()) on the same port, storage and log. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export interface TokenServer {
  readonly url: string;
  /** Every token issued, to check that none leaks into an error. */
  readonly issued: string[];
  requests: number;
}

/** Whether docker-registry and openssl are here (skips loudly, or fails under STRATA_REQUIRE_INTEROP=1). */
export function haveRegistry(): boolean {
  return requireTool("docker-registry") && requireTool("openssl");
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

const USER = "strata";
const PASSWORD = "s3cret-Pa55word-do-not-print";
const IDENTITY_TOKEN = "identity-token-never-printed-0123456789";
const SERVICE = "strata-test-registry";
const ISSUER = "strata-test-issuer";

/** Repositories under `denied/` may be pulled but not pushed by the token server's users. */
export function deniedRepo(name: string): string {
  return `denied/${name}`;
}

export async function startRegistry(mode: RegistryMode): Promise<TestRegistry> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `strata-registry-${mode}-`));
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const lines = ["version: 0.1", "log:", "  level: info", "  accesslog:", "    disabled: false", "storage:", `  filesystem:`, `    rootdirectory: ${path.join(dir, "data")}`, "  delete:", "    enabled: true", "http:", `  addr: ${host}`, "  secret: strata-test-secret"];
  let certDir: string | undefined;
  let tokenServer: (TokenServer & { close(): Promise<void> }) | undefined;
  if (mode === "tls") {
    certDir = path.join(dir, "certs");
    fs.mkdirSync(certDir);
    makeServerCert(dir, certDir);
    lines.push("  tls:", `    certificate: ${path.join(dir, "server.crt")}`, `    key: ${path.join(dir, "server.key")}`);
  }
  if (mode === "basic") {
    const hash = execFileSync("/usr/bin/python3", ["-c", "import crypt,sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))", PASSWORD], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
    fs.writeFileSync(path.join(dir, "htpasswd"), `${USER}:${hash}\n`);
    lines.push("auth:", "  htpasswd:", "    realm: strata-test", `    path: ${path.join(dir, "htpasswd")}`);
  }
  if (mode === "token") {
    openssl(dir, ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "token.key", "-out", "token.crt", "-subj", "/CN=strata-test-token", "-days", "2"]);
    tokenServer = await startTokenServer(fs.readFileSync(path.join(dir, "token.key")), fs.readFileSync(path.join(dir, "token.crt")));
    lines.push("auth:", "  token:", `    realm: ${tokenServer.url}`, `    service: ${SERVICE}`, `    issuer: ${ISSUER}`, `    rootcertbundle: ${path.join(dir, "token.crt")}`);
  }
  const config = path.join(dir, "config.yml");
  fs.writeFileSync(config, `${lines.join("\n")}\n`);
  const logFile = path.join(dir, "registry.log");
  let exited = false;
  const launch = (): ChildProcess => {
    const fd = fs.openSync(logFile, "a");
    const p = spawn("docker-registry", ["serve", config], { stdio: ["ignore", fd, fd] });
    fs.closeSync(fd);
    exited = false;
    p.on("exit", () => (exited = true));
    return p;
  };
  let proc = launch();
  const stop = async (): Promise<void> => {
    if (!exited) {
      const gone = new Promise((r) => proc.once("exit", r));
      proc.kill("SIGTERM");
      await Promise.race([gone, new Promise((r) => setTimeout(r, 3000))]);
      if (!exited) proc.kill("SIGKILL");
    }
    await tokenServer?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  };
  const ready = (): Promise<void> => waitReady(mode === "tls" ? `https://${host}/v2/` : `http://${host}/v2/`, () => exited, logFile);
  try {
    await ready();
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    mode, host, port, dir, certDir, user: USER, password: PASSWORD, identityToken: IDENTITY_TOKEN, tokenServer,
    log: () => fs.readFileSync(logFile, "utf8"),
    kill: () => {
      if (!exited) proc.kill("SIGKILL");
    },
    restart: async () => {
      if (!exited) {
        const gone = new Promise((r) => proc.once("exit", r));
        proc.kill("SIGKILL");
        await gone;
      }
      proc = launch();
      await ready();
    },
    stop,
  };
}

async function waitReady(url: string, exited: () => boolean, logFile: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (exited()) throw new Error(`docker-registry exited at start:\n${fs.readFileSync(logFile, "utf8").slice(-2000)}`);
    const status = await new Promise<number>((resolve) => {
      const mod = url.startsWith("https:") ? https : http;
      const req = mod.get(url, { rejectUnauthorized: false, agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on("error", () => resolve(0));
    });
    if (status === 200 || status === 401) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`docker-registry did not answer ${url} within 20 s`);
}

function openssl(cwd: string, args: string[]): void {
  execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
}

/** A CA (ca.crt into certDir, podman's convention) and a server certificate it signs, for IP 127.0.0.1. */
function makeServerCert(dir: string, certDir: string): void {
  openssl(dir, ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-subj", "/CN=strata-test-ca", "-days", "2",
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
  openssl(dir, ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"]);
  fs.writeFileSync(path.join(dir, "san.ext"), "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
  openssl(dir, ["x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "san.ext"]);
  fs.copyFileSync(path.join(dir, "ca.crt"), path.join(certDir, "ca.crt"));
}

function b64url(data: Buffer | string): string {
  return Buffer.from(data).toString("base64url");
}

/**
 * distribution's token server, reduced: GET /token?service=&scope= with Basic credentials, or
 * POST grant_type=refresh_token with the identity token; a JWT (RS256, `x5c` header with the
 * certificate the registry trusts through rootcertbundle) granting the requested actions, except
 * push to `denied/...`. Anonymous and wrong credentials get 401.
 */
async function startTokenServer(keyPem: Buffer, certPem: Buffer): Promise<TokenServer & { close(): Promise<void> }> {
  const key = createPrivateKey(keyPem);
  const certDer = new X509Certificate(certPem).raw;
  const issued: string[] = [];
  const state = { requests: 0 };
  const server = http.createServer((req, res) => {
    state.requests++;
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const url = new URL(req.url ?? "/", "http://x");
      let scopes = url.searchParams.getAll("scope");
      let ok = false;
      let oauth = false;
      if (req.method === "POST") {
        const form = new URLSearchParams(Buffer.concat(chunks).toString("utf8"));
        oauth = true;
        scopes = form.getAll("scope");
        ok = form.get("grant_type") === "refresh_token" && form.get("refresh_token") === IDENTITY_TOKEN && form.get("service") === SERVICE;
      } else {
        const auth = req.headers.authorization ?? "";
        ok = auth === `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString("base64")}` && url.searchParams.get("service") === SERVICE;
      }
      if (!ok) {
        res.writeHead(401, { "Content-Type": "application/json" }).end('{"details":"access denied"}');
        return;
      }
      const access = scopes.flatMap((s) => s.split(" ")).map((s) => {
        const [type, name, actions] = [s.slice(0, s.indexOf(":")), s.slice(s.indexOf(":") + 1, s.lastIndexOf(":")), s.slice(s.lastIndexOf(":") + 1)];
        const granted = actions.split(",").filter((a) => !(a === "push" && name.startsWith("denied/")));
        return { type, name, actions: granted };
      });
      const now = Math.floor(Date.now() / 1000);
      const header = b64url(JSON.stringify({ typ: "JWT", alg: "RS256", x5c: [certDer.toString("base64")] }));
      const claims = b64url(JSON.stringify({ iss: ISSUER, sub: USER, aud: SERVICE, exp: now + 300, nbf: now - 10, iat: now, jti: randomUUID(), access }));
      const signature = b64url(sign("sha256", Buffer.from(`${header}.${claims}`), key));
      const token = `${header}.${claims}.${signature}`;
      issued.push(token);
      const body = oauth ? { access_token: token, expires_in: 300, issued_at: new Date().toISOString() } : { token, expires_in: 300, issued_at: new Date().toISOString() };
      res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify(body));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/token`,
    issued,
    get requests() { return state.requests; },
    set requests(n: number) { state.requests = n; },
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

export interface FaultShares {
  /** Share of requests answered 503. */
  readonly e503?: number;
  /** Share answered 429 with Retry-After: 1. */
  readonly e429?: number;
  /** Share whose connection is destroyed without an answer. */
  readonly reset?: number;
  /** Answer every PATCH with 405 (a registry that refuses chunked uploads). */
  readonly refusePatch?: boolean;
  /** Answer the Nth PATCH (1-based) with 404 BLOB_UPLOAD_UNKNOWN: a session the registry lost. */
  readonly losePatch?: number;
}

export interface FaultyProxy {
  readonly host: string;
  readonly faults: { e503: number; e429: number; reset: number; patchRefused: number; sessionsLost: number; forwarded: number };
  stop(): Promise<void>;
}

/**
 * A proxy in front of `target` (host:port, plain HTTP) that fails a share of requests before
 * forwarding them (so the registry never sees a failed request), chosen by a seeded generator so
 * a run is reproducible. Host headers pass unchanged, so the registry's Locations point back here.
 */
export async function startFaultyProxy(target: string, shares: FaultShares, seed = 42): Promise<FaultyProxy> {
  const [thost, tport] = [target.slice(0, target.lastIndexOf(":")), Number(target.slice(target.lastIndexOf(":") + 1))];
  let s = seed >>> 0;
  const random = (): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const faults = { e503: 0, e429: 0, reset: 0, patchRefused: 0, sessionsLost: 0, forwarded: 0 };
  const agent = new http.Agent({ keepAlive: true });
  let patches = 0;
  const server = http.createServer((req, res) => {
    if (req.method === "PATCH" && ++patches === shares.losePatch) {
      faults.sessionsLost++;
      req.resume();
      res.writeHead(404, { "Content-Type": "application/json" }).end('{"errors":[{"code":"BLOB_UPLOAD_UNKNOWN","message":"blob upload unknown to registry"}]}');
      return;
    }
    if (shares.refusePatch === true && req.method === "PATCH") {
      faults.patchRefused++;
      req.resume();
      res.writeHead(405, { "Content-Type": "application/json" }).end('{"errors":[{"code":"UNSUPPORTED","message":"chunked uploads are not supported"}]}');
      return;
    }
    const r = random();
    const a = shares.e503 ?? 0;
    const b = a + (shares.e429 ?? 0);
    const c = b + (shares.reset ?? 0);
    if (r < a) {
      faults.e503++;
      req.resume();
      res.writeHead(503, { "Content-Type": "text/plain", Connection: "close" }).end("unavailable");
      return;
    }
    if (r < b) {
      faults.e429++;
      req.resume();
      res.writeHead(429, { "Retry-After": "1", "Content-Type": "text/plain", Connection: "close" }).end("slow down");
      return;
    }
    if (r < c) {
      faults.reset++;
      req.socket.destroy();
      return;
    }
    faults.forwarded++;
    const up = http.request({ host: thost, port: tport, method: req.method, path: req.url, headers: req.headers, agent }, (ures) => {
      res.writeHead(ures.statusCode ?? 502, ures.headers);
      ures.pipe(res);
    });
    up.on("error", () => req.socket.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    host: `127.0.0.1:${port}`,
    faults,
    stop: () => new Promise<void>((r) => { agent.destroy(); server.closeAllConnections(); server.close(() => r()); }),
  };
}

// Images and stores for the tests

export const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
export const OCI_CONFIG = "application/vnd.oci.image.config.v1+json";
export const OCI_LAYER_GZ = "application/vnd.oci.image.layer.v1.tar+gzip";
export const FAST_RETRY = { baseMs: 50, maxDelayMs: 2000, budgetMs: 20_000 };

export function digestOf(bytes: Uint8Array): Digest {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

/** Write `bytes` in uneven pieces, hashing as a producer does. */
export function producer(bytes: Buffer, piece = 100_003) {
  return async (out: BlobUpload): Promise<{ digest: Digest; size: number }> => {
    for (let at = 0; at < bytes.length; at += piece) await out.write(bytes.subarray(at, at + piece));
    return { digest: digestOf(bytes), size: bytes.length };
  };
}

/** A tar with one file (ustar, made by hand: 512-byte header, data, padding, two zero blocks). */
export function tinyTar(name: string, content: string): Buffer {
  const data = Buffer.from(content);
  const h = Buffer.alloc(512);
  h.write(name, 0);
  h.write("0000644\0", 100);
  h.write("0000000\0", 108);
  h.write("0000000\0", 116);
  h.write(`${data.length.toString(8).padStart(11, "0")}\0`, 124);
  h.write("00000000000\0", 136);
  h.write("        ", 148);
  h.write("0", 156);
  h.write("ustar\0", 257);
  h.write("00", 263);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148);
  const pad = Buffer.alloc((512 - (data.length % 512)) % 512);
  return Buffer.concat([h, data, pad, Buffer.alloc(1024)]);
}

/** A tiny valid OCI image: one gzip layer, its config and manifest. */
export function tinyImage(text: string): { layer: Buffer; config: Buffer; manifest: Buffer } {
  const tar = tinyTar("hello.txt", text);
  const layer = gzipSync(tar);
  const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", config: { Cmd: ["/hello"] }, rootfs: { type: "layers", diff_ids: [digestOf(tar)] } }));
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, digest: digestOf(config), size: config.length },
    layers: [{ mediaType: OCI_LAYER_GZ, digest: digestOf(layer), size: layer.length }],
  }));
  return { layer, config, manifest };
}

export function storeOptions(reg: TestRegistry, extra: Partial<RegistryStoreOptions> = {}): RegistryStoreOptions {
  const base = { retry: FAST_RETRY, chunkSize: 256 * 1024 };
  switch (reg.mode) {
    case "plain": return { ...base, tlsVerify: false, ...extra };
    case "tls": return { ...base, certDir: reg.certDir, ...extra };
    default: return { ...base, tlsVerify: false, credentials: new CredentialResolver({ creds: `${reg.user}:${reg.password}`, env: {} }), ...extra };
  }
}

/** skopeo, asynchronously: the token server runs in this process and must keep answering. */
export function skopeo(args: string[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    execFile("skopeo", args, { encoding: "buffer", maxBuffer: 1 << 24, timeout: 60_000 }, (err, stdout, stderr) => {
      if (err !== null) reject(new Error(`skopeo ${args.join(" ")} failed: ${stderr.toString()}`));
      else resolve(stdout);
    });
  });
}

export function skopeoArgs(reg: TestRegistry): string[] {
  const tls = reg.mode === "tls" ? [`--cert-dir=${reg.certDir!}`] : ["--tls-verify=false"];
  const creds = reg.mode === "basic" || reg.mode === "token" ? [`--creds=${reg.user}:${reg.password}`] : [];
  return [...tls, ...creds];
}

