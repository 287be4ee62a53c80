/**
 * Registry credentials as users already have them, looked up in podman/skopeo's order
 * (containers/image `pkg/docker/config`):
 *
 *   1. `--creds USER:PASS` (explicit; nothing else is read);
 *   2. the primary auth file: `--authfile`, else `$REGISTRY_AUTH_FILE`, else
 *      `${XDG_RUNTIME_DIR}/containers/auth.json`;
 *   3. `${XDG_CONFIG_HOME:-~/.config}/containers/auth.json`;
 *   4. `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
 *
 * In each file: `credHelpers[host]` (runs `docker-credential-NAME get`), then `credsStore` (the
 * same, for every host), then `auths`, whose keys match like podman's: `host/repo/path` prefixes
 * from the longest down to `host`, then any key whose normalised form (scheme and `/v1/` or
 * `/v2/` stripped, `index.docker.io` read as `docker.io`) is the host. The first file that names
 * the registry wins. The files read are kept, for the hint of an E_AUTH error.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { StrataError } from "../../errors.js";
import { DOCKER_HUB } from "./reference.js";

/** A credential: a user and password (Basic, or the token server's Basic), or an identity token (OAuth2 refresh token). */
export type Credential =
  | { readonly kind: "basic"; readonly username: string; readonly password: string; readonly source: string }
  | { readonly kind: "identityToken"; readonly username: string; readonly token: string; readonly source: string };

export interface AuthOptions {
  /** `--creds USER:PASS`. */
  readonly creds?: string | undefined;
  /** `--authfile FILE`. */
  readonly authFile?: string | undefined;
  /** Environment to read (tests pass their own); default process.env. */
  readonly env?: NodeJS.ProcessEnv;
  /** Home directory; default `os.homedir()` (or `$HOME`). */
  readonly home?: string;
}

interface AuthFileJson {
  auths?: Record<string, { auth?: string; identitytoken?: string } | undefined>;
  credHelpers?: Record<string, string | undefined>;
  credsStore?: string;
}

export class CredentialResolver {
  /** Auth files strata looked at, for hints (whether or not they existed). */
  readonly filesRead: string[] = [];
  private readonly explicit: Credential | undefined;
  private readonly files: string[];
  private readonly env: NodeJS.ProcessEnv;
  private readonly cache = new Map<string, Promise<Credential | undefined>>();

  constructor(options: AuthOptions = {}) {
    this.env = options.env ?? process.env;
    this.explicit = options.creds === undefined ? undefined : parseCreds(options.creds);
    this.files = this.explicit === undefined ? authFilePaths(options, this.env) : [];
  }

  /** Whether --creds was given. */
  get explicitCreds(): boolean {
    return this.explicit !== undefined;
  }

  /** The credential for `registry` (host[:port], `docker.io` for Docker Hub) and repository, or undefined. */
  lookup(registry: string, repository: string): Promise<Credential | undefined> {
    if (this.explicit !== undefined) return Promise.resolve(this.explicit);
    const key = `${registry}/${repository}`;
    let found = this.cache.get(key);
    if (found === undefined) {
      found = this.search(registry, repository);
      this.cache.set(key, found);
    }
    return found;
  }

  /** For an E_AUTH hint: where credentials come from, without any secret. */
  hint(): string {
    if (this.explicit !== undefined) return "check the user and password given with --creds";
    const read = this.filesRead.length === 0 ? "none" : this.filesRead.join(", ");
    return `log in (podman login / docker login), or pass --creds USER:PASS or --authfile FILE; auth files read: ${read}`;
  }

  private async search(registry: string, repository: string): Promise<Credential | undefined> {
    for (const file of this.files) {
      const json = readAuthFile(file);
      if (!this.filesRead.includes(file)) this.filesRead.push(file);
      if (json === undefined) continue;
      const found = await fromFile(json, file, registry, repository, this.env);
      if (found !== undefined) return found;
    }
    return undefined;
  }
}

/** `USER:PASS` (the password may hold colons). strata does not prompt, so a password is required. */
export function parseCreds(creds: string): Credential {
  const colon = creds.indexOf(":");
  if (colon <= 0) {
    throw new StrataError("E_USAGE", colon === 0 ? "--creds has an empty user name" : "--creds needs USER:PASSWORD, found no ':'",
      "pass --creds USER:PASSWORD (strata does not prompt), or use an auth file (--authfile)");
  }
  return { kind: "basic", username: creds.slice(0, colon), password: creds.slice(colon + 1), source: "--creds" };
}

function authFilePaths(options: AuthOptions, env: NodeJS.ProcessEnv): string[] {
  const home = options.home ?? env["HOME"] ?? os.homedir();
  const files: string[] = [];
  const primary = options.authFile ?? nonEmpty(env["REGISTRY_AUTH_FILE"])
    ?? (nonEmpty(env["XDG_RUNTIME_DIR"]) === undefined ? undefined : path.join(env["XDG_RUNTIME_DIR"]!, "containers", "auth.json"));
  if (primary !== undefined) files.push(primary);
  files.push(path.join(nonEmpty(env["XDG_CONFIG_HOME"]) ?? path.join(home, ".config"), "containers", "auth.json"));
  const dockerConfig = nonEmpty(env["DOCKER_CONFIG"]);
  files.push(dockerConfig === undefined ? path.join(home, ".docker", "config.json") : path.join(dockerConfig, "config.json"));
  return [...new Set(files)];
}

function nonEmpty(s: string | undefined): string | undefined {
  return s === undefined || s === "" ? undefined : s;
}

/** A missing file is no credential; a malformed one is the user's to fix. */
function readAuthFile(file: string): AuthFileJson | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT" || (err as NodeJS.ErrnoException).code === "ENOTDIR") return undefined;
    throw new StrataError("E_AUTH", `cannot read auth file ${file}: ${(err as NodeJS.ErrnoException).code ?? "error"}`, "check its permissions, or pass --authfile FILE");
  }
  try {
    const json = JSON.parse(text) as unknown;
    if (typeof json !== "object" || json === null || Array.isArray(json)) throw new Error("not an object");
    return json as AuthFileJson;
  } catch {
    // No parser message: it could quote a piece of the file, which holds secrets.
    throw new StrataError("E_AUTH", `auth file ${file} is not valid JSON`, "fix or remove it (podman login rewrites it), or pass --authfile FILE");
  }
}

async function fromFile(json: AuthFileJson, file: string, registry: string, repository: string, env: NodeJS.ProcessEnv): Promise<Credential | undefined> {
  const helper = matchHelper(json.credHelpers, registry);
  if (helper !== undefined) return runHelper(helper, registry, env);
  if (typeof json.credsStore === "string" && json.credsStore !== "") {
    const found = await runHelper(json.credsStore, registry, env);
    if (found !== undefined) return found;
  }
  const auths = json.auths ?? {};
  for (const key of [...keysFor(registry, repository)]) {
    const entry = auths[key];
    const found = entry === undefined ? undefined : decodeEntry(entry, `${file} (${key})`, file);
    if (found !== undefined) return found;
  }
  for (const [key, entry] of Object.entries(auths)) {
    if (entry === undefined || normaliseKey(key) !== registry) continue;
    const found = decodeEntry(entry, `${file} (${key})`, file);
    if (found !== undefined) return found;
  }
  return undefined;
}

function matchHelper(helpers: AuthFileJson["credHelpers"], registry: string): string | undefined {
  if (helpers === undefined) return undefined;
  const direct = helpers[registry];
  if (typeof direct === "string" && direct !== "") return direct;
  for (const [key, name] of Object.entries(helpers)) {
    if (typeof name === "string" && name !== "" && normaliseKey(key) === registry) return name;
  }
  return undefined;
}

/** `host/a/b/c`, `host/a/b`, `host/a`, `host`: podman matches the most specific first. */
function* keysFor(registry: string, repository: string): Generator<string> {
  const parts = repository.split("/");
  for (let n = parts.length; n >= 1; n--) yield `${registry}/${parts.slice(0, n).join("/")}`;
  yield registry;
}

/** A legacy key (`https://index.docker.io/v1/`, `http://host:5000`) as a host. */
export function normaliseKey(key: string): string {
  let k = key.replace(/^https?:\/\//, "");
  const slash = k.indexOf("/");
  if (slash >= 0 && /^\/v[12]\/?$/.test(k.slice(slash))) k = k.slice(0, slash);
  else if (key !== k && slash >= 0) k = k.slice(0, slash);
  return k === "index.docker.io" || k === "registry-1.docker.io" ? DOCKER_HUB : k;
}

function decodeEntry(entry: { auth?: string; identitytoken?: string }, source: string, file: string): Credential | undefined {
  let username = "";
  let password = "";
  if (typeof entry.auth === "string" && entry.auth !== "") {
    const decoded = Buffer.from(entry.auth, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon < 0) throw new StrataError("E_AUTH", `auth file ${file}: an "auth" entry is not base64 of USER:PASSWORD`, "log in again (podman login), or fix the entry");
    username = decoded.slice(0, colon);
    password = decoded.slice(colon + 1);
  }
  if (typeof entry.identitytoken === "string" && entry.identitytoken !== "") {
    return { kind: "identityToken", username, token: entry.identitytoken, source };
  }
  if (username === "" && password === "") return undefined;
  return { kind: "basic", username, password, source };
}

/** Docker's helpers key Docker Hub by its legacy URL. */
function helperServer(registry: string): string {
  return registry === DOCKER_HUB ? "https://index.docker.io/v1/" : registry;
}

/**
 * `docker-credential-NAME get`: the server on stdin, `{"ServerURL","Username","Secret"}` out; a
 * `<token>` user name means Secret is an identity token. "not found" is no credential; any other
 * failure is an E_AUTH that names the helper, not its output (which could hold a secret).
 */
export async function runHelper(name: string, registry: string, env: NodeJS.ProcessEnv = process.env): Promise<Credential | undefined> {
  if (!/^[A-Za-z0-9._-]+$/.test(name)) {
    throw new StrataError("E_AUTH", `credential helper name ${JSON.stringify(name)} is not a plain name`, "fix credHelpers/credsStore in the auth file");
  }
  const program = `docker-credential-${name}`;
  const { code, stdout, stderr, spawnError } = await new Promise<{ code: number | null; stdout: string; stderr: string; spawnError?: NodeJS.ErrnoException }>((resolve) => {
    const child = spawn(program, ["get"], { env, stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.on("error", (e: NodeJS.ErrnoException) => resolve({ code: null, stdout: "", stderr: "", spawnError: e }));
    child.on("close", (c) => resolve({ code: c, stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") }));
    child.stdin.on("error", () => undefined);
    child.stdin.end(helperServer(registry));
  });
  if (spawnError !== undefined) {
    throw new StrataError("E_AUTH", `credential helper ${program} could not be run (${spawnError.code ?? "error"})`, `install ${program} on PATH, or remove it from the auth file's credHelpers/credsStore`);
  }
  if (code !== 0) {
    if (/credentials not found/i.test(stdout + stderr)) return undefined;
    throw new StrataError("E_AUTH", `credential helper ${program} failed for ${registry} (exit ${code})`, `run: echo ${helperServer(registry)} | ${program} get`);
  }
  let parsed: { Username?: unknown; Secret?: unknown };
  try {
    parsed = JSON.parse(stdout) as { Username?: unknown; Secret?: unknown };
  } catch {
    throw new StrataError("E_AUTH", `credential helper ${program} printed something other than JSON for ${registry}`, `run: echo ${helperServer(registry)} | ${program} get`);
  }
  const username = typeof parsed.Username === "string" ? parsed.Username : "";
  const secret = typeof parsed.Secret === "string" ? parsed.Secret : "";
  if (secret === "") return undefined;
  if (username === "<token>") return { kind: "identityToken", username: "", token: secret, source: program };
  return { kind: "basic", username, password: secret, source: program };
}
