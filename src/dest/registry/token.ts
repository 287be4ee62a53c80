/**
 * The registry's auth handshake (distribution's token spec, as docker and podman do it): send
 * anonymously first; on 401 read `WWW-Authenticate`. `Basic` means send the credentials with
 * every request; `Bearer realm=...,service=...,scope=...` means get a token from the realm for
 * the scopes the request needs: GET with the credentials as Basic (or none), or, with an identity
 * token, POST a form `grant_type=refresh_token` (OAuth2). Tokens are cached per scope set until
 * shortly before `expires_in` (60 s when unsaid); a 401 on a cached token fetches a fresh one
 * once. Concurrent requests for one scope share one token fetch.
 *
 * Secrets (password, identity token, bearer token) live in this module's memory and in request
 * headers only, never in an error: messages name the credential's source and user at most.
 */
import { StrataError } from "../../errors.js";
import type { Credential, CredentialResolver } from "./auth.js";
import { Backoff, type RetryPolicy, parseRetryAfter, retryableCode, retryableStatus, sleep } from "./retry.js";
import { NetworkError, type Transport, discard, readBody } from "./transport.js";

export interface Challenge {
  readonly scheme: "basic" | "bearer";
  readonly params: Readonly<Record<string, string>>;
}

/** Parse one `WWW-Authenticate` value (`Bearer realm="...",service="...",error="..."`). */
export function parseChallenge(header: string | string[] | undefined): Challenge | undefined {
  const value = Array.isArray(header) ? header.find((h) => /^\s*(bearer|basic)\b/i.test(h)) : header;
  if (value === undefined) return undefined;
  const m = /^\s*(\w+)\s*(.*)$/s.exec(value);
  if (m === null) return undefined;
  const scheme = m[1]!.toLowerCase();
  if (scheme !== "basic" && scheme !== "bearer") return undefined;
  const params: Record<string, string> = {};
  for (const p of m[2]!.matchAll(/([\w-]+)\s*=\s*("((?:[^"\\]|\\.)*)"|[^,\s]*)/g)) {
    params[p[1]!.toLowerCase()] = p[3] !== undefined ? p[3].replace(/\\(.)/g, "$1") : p[2]!;
  }
  return { scheme, params };
}

interface CachedToken {
  readonly token: string;
  readonly expiresAt: number;
}

const TOKEN_BODY_LIMIT = 1 << 20;

export class Authenticator {
  private challenge: Challenge | undefined;
  private readonly tokens = new Map<string, Promise<CachedToken>>();

  constructor(
    private readonly registry: string,
    private readonly credentials: CredentialResolver,
    private readonly transport: Transport,
    private readonly retry: RetryPolicy,
    private readonly onRetry: () => void,
  ) {}

  /** The Authorization header for a request to `repository` needing `scopes`, or undefined (anonymous). */
  async header(repository: string, scopes: readonly string[]): Promise<string | undefined> {
    const ch = this.challenge;
    if (ch === undefined) return undefined;
    const cred = await this.credentials.lookup(this.registry, repository);
    if (ch.scheme === "basic") {
      if (cred === undefined) throw this.noCredentials(repository);
      if (cred.kind !== "basic") throw new StrataError("E_AUTH", `${this.registry} asks for a password, and the credentials from ${cred.source} are an identity token`, this.credentials.hint());
      return `Basic ${Buffer.from(`${cred.username}:${cred.password}`).toString("base64")}`;
    }
    const key = [...scopes].sort().join(" ");
    let entry = this.tokens.get(key);
    if (entry !== undefined) {
      const cached = await entry.catch(() => undefined);
      if (cached === undefined || cached.expiresAt <= Date.now()) {
        if (this.tokens.get(key) === entry) this.tokens.delete(key);
        entry = undefined;
      }
    }
    if (entry === undefined) {
      entry = this.fetchToken(ch, scopes, cred);
      this.tokens.set(key, entry);
      entry.catch(() => {
        if (this.tokens.get(key) === entry) this.tokens.delete(key);
      });
    }
    return `Bearer ${(await entry).token}`;
  }

  /**
   * A 401 came back. Returns true when sending again may succeed (the first challenge was
   * learnt, or a cached token is dropped); throws E_AUTH when the credentials cannot do it.
   * `sent` is what the request carried; `tries` how many 401s this request has had.
   */
  async unauthorized(wwwAuthenticate: string | string[] | undefined, repository: string, scopes: readonly string[], action: string, sent: string | undefined, tries: number): Promise<boolean> {
    const ch = parseChallenge(wwwAuthenticate);
    if (ch === undefined) {
      throw new StrataError("E_AUTH", `${this.registry} refused ${action} with 401 and no usable WWW-Authenticate challenge`, this.credentials.hint());
    }
    if (sent === undefined) {
      this.challenge = ch;
      return true;
    }
    const cred = await this.credentials.lookup(this.registry, repository);
    if (ch.scheme === "basic") throw this.rejected(cred, repository);
    if (ch.scheme === "bearer" && this.challenge?.scheme !== "bearer") {
      this.challenge = ch;
      return true;
    }
    // A bearer token that did not do: drop it; fetch once more (it may have expired early),
    // then say that these credentials may not do this.
    this.tokens.delete([...scopes].sort().join(" "));
    if (tries < 2) return true;
    const who = cred === undefined ? "anonymous access" : `the credentials from ${cred.source}${cred.username === "" ? "" : ` (user ${cred.username})`}`;
    const insufficient = ch.params["error"] === "insufficient_scope";
    throw new StrataError("E_AUTH", `${this.registry}: ${who} ${insufficient ? "may not" : "could not"} ${action} (repository ${repository})`,
      cred === undefined ? this.credentials.hint() : `check that this account may push/pull ${repository}; ${this.credentials.hint()}`);
  }

  private async fetchToken(ch: Challenge, scopes: readonly string[], cred: Credential | undefined): Promise<CachedToken> {
    const realm = ch.params["realm"];
    let url: URL;
    try {
      url = new URL(realm ?? "");
    } catch {
      throw new StrataError("E_REGISTRY", `${this.registry} asked for a token from an invalid realm`, "the registry's auth configuration is broken; tell its operator");
    }
    if (url.protocol !== "https:" && url.protocol !== "http:") {
      throw new StrataError("E_REGISTRY", `${this.registry} asked for a token from a ${url.protocol} realm`, "the registry's auth configuration is broken; tell its operator");
    }
    const service = ch.params["service"];
    const headers: Record<string, string> = { Accept: "application/json" };
    let body: Uint8Array | undefined;
    let method = "GET";
    if (cred?.kind === "identityToken") {
      method = "POST";
      const form = new URLSearchParams({ grant_type: "refresh_token", refresh_token: cred.token, client_id: "strata" });
      if (service !== undefined) form.set("service", service);
      for (const s of scopes) form.append("scope", s);
      body = Buffer.from(form.toString());
      headers["Content-Type"] = "application/x-www-form-urlencoded";
    } else {
      if (service !== undefined) url.searchParams.set("service", service);
      for (const s of scopes) url.searchParams.append("scope", s);
      if (cred !== undefined) {
        url.searchParams.set("account", cred.username);
        headers["Authorization"] = `Basic ${Buffer.from(`${cred.username}:${cred.password}`).toString("base64")}`;
      }
    }
    const backoff = new Backoff(this.retry);
    for (;;) {
      let wait: number | undefined;
      try {
        const res = await this.transport.request({ method, url, headers, body });
        if (res.status === 200) {
          const raw = await readBody(res, TOKEN_BODY_LIMIT);
          return parseTokenResponse(raw, this.registry);
        }
        discard(res);
        if (res.status === 401 || res.status === 403) throw this.rejected(cred, undefined, url.host);
        if (!retryableStatus(res.status)) {
          throw new StrataError("E_REGISTRY", `token server ${url.host} answered ${res.status} for ${this.registry}`, "try again later; if it persists, tell the registry's operator");
        }
        wait = backoff.next(parseRetryAfter(res.headers["retry-after"]));
        if (wait === undefined) throw new StrataError("E_REGISTRY", `token server ${url.host} answered ${res.status} ${backoff.attempts} times`, "try again later");
      } catch (err) {
        if (!(err instanceof NetworkError)) throw err;
        wait = retryableCode(err.code) ? backoff.next() : undefined;
        if (wait === undefined) throw new StrataError("E_REGISTRY", `token server ${url.host}: ${err.message}`, "check the network and the registry's token server");
      }
      this.onRetry();
      await sleep(wait);
    }
  }

  private noCredentials(repository: string): StrataError {
    return new StrataError("E_AUTH", `${this.registry} requires credentials for ${repository}, and none were found`, this.credentials.hint());
  }

  private rejected(cred: Credential | undefined, repository: string | undefined, tokenHost?: string): StrataError {
    if (cred === undefined) return this.noCredentials(repository ?? "this repository");
    const who = `${cred.source}${cred.username === "" ? "" : ` (user ${cred.username})`}`;
    const by = tokenHost === undefined ? this.registry : `the token server ${tokenHost} of ${this.registry}`;
    return new StrataError("E_AUTH", `${by} rejected the credentials from ${who}`, `the password or token is wrong or expired; ${this.credentials.hint()}`);
  }
}

function parseTokenResponse(raw: Buffer, registry: string): CachedToken {
  let json: { token?: unknown; access_token?: unknown; expires_in?: unknown; issued_at?: unknown };
  try {
    json = JSON.parse(raw.toString("utf8")) as typeof json;
  } catch {
    throw new StrataError("E_REGISTRY", `the token server of ${registry} answered something other than JSON`, "tell the registry's operator");
  }
  const token = typeof json.token === "string" && json.token !== "" ? json.token : json.access_token;
  if (typeof token !== "string" || token === "") throw new StrataError("E_REGISTRY", `the token server of ${registry} answered without a token`, "tell the registry's operator");
  const expiresIn = typeof json.expires_in === "number" && json.expires_in > 0 ? json.expires_in : 60;
  const issued = typeof json.issued_at === "string" ? Date.parse(json.issued_at) : NaN;
  // Clocks differ: count from now when the issue time is in the future or unreadable, and stop
  // using a token a little early (10 s, or a fifth of a short lifetime).
  const start = Number.isNaN(issued) || issued > Date.now() ? Date.now() : issued;
  const margin = Math.min(10_000, expiresIn * 200);
  return { token, expiresAt: start + expiresIn * 1000 - margin };
}
