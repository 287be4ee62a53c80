/**
 * From the user's registry options (--authfile, --creds, --cert-dir, --tls-verify) to clients and
 * stores: one client per registry host, shared by every store and reader on it, so that its
 * connections and tokens are shared too.
 */
import type { RegistryOptions } from "../../options.js";
import { CredentialResolver } from "./auth.js";
import { RegistryClient } from "./client.js";
import { parseReference, type ImageReference } from "./reference.js";
import { RegistryBlobStore } from "./registry-store.js";

export class RegistryConnections {
  private readonly credentials: CredentialResolver;
  private readonly clients = new Map<string, RegistryClient>();

  constructor(private readonly options: RegistryOptions, private readonly tmpDir?: string) {
    this.credentials = new CredentialResolver({ ...(options.creds === undefined ? {} : { creds: options.creds }), ...(options.authfile === undefined ? {} : { authFile: options.authfile }) });
  }

  client(ref: ImageReference, push: boolean): RegistryClient {
    const key = `${ref.registry}\0${push}`;
    let c = this.clients.get(key);
    if (c === undefined) {
      c = new RegistryClient(ref.registry, ref.apiHost, { credentials: this.credentials, tlsVerify: this.options.tlsVerify, certDir: this.options.certDir, push });
      this.clients.set(key, c);
    }
    return c;
  }

  /** A store for pushing to `reference` (`docker://HOST/REPO[:TAG]`). */
  store(reference: string | ImageReference): RegistryBlobStore {
    const ref = typeof reference === "string" ? parseReference(reference) : reference;
    return new RegistryBlobStore(ref, { client: this.client(ref, true), tmpDir: this.tmpDir });
  }

  /** Requests sent again after a failure, by every client (pushing, and reading the images consulted). */
  get retries(): number {
    let n = 0;
    for (const c of this.clients.values()) n += c.retryCount;
    return n;
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }
}
