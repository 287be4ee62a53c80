/**
 * The registry flags, as skopeo and podman spell them, shared by the commands that read or write
 * registries without writing to them (inspect): `--authfile FILE`, `--creds USER[:PASS]`,
 * `--cert-dir DIR`, `--tls-verify=false` (a string option, true|false). The image-writing commands
 * (pull among them) take them with the output flags (commands.ts, cli.ts commonOptions).
 */
import { StrataError } from "../errors.js";
import type { RegistryOptions } from "../options.js";
import type { Flags } from "./args.js";

export const REGISTRY_FLAGS = {
  authfile: { type: "string" },
  creds: { type: "string" },
  "cert-dir": { type: "string" },
  "tls-verify": { type: "string" },
} as const satisfies Flags;

/** The --help lines of REGISTRY_FLAGS. */
export const REGISTRY_HELP = `Registry:
  --authfile FILE        credentials file (default: $REGISTRY_AUTH_FILE, then podman's and
                         Docker's usual files: docs/registry.md)
  --creds USER:PASS      credentials for the registry (nothing else is read)
  --cert-dir DIR         CA certificates (*.crt) and client certificates (*.cert, *.key) for
                         TLS (default: /etc/containers/certs.d/HOST:PORT)
  --tls-verify=false     accept any certificate, and plain HTTP (default: true)
`;

export function registryOptionsFromArgs(v: Record<string, unknown>): RegistryOptions {
  const s = (k: string): string | undefined => (typeof v[k] === "string" ? (v[k] as string) : undefined);
  const tls = s("tls-verify");
  if (tls !== undefined && tls !== "true" && tls !== "false") {
    throw new StrataError("E_USAGE", `--tls-verify must be true or false, got ${JSON.stringify(tls)}`, "e.g. --tls-verify=false for a plain-HTTP registry");
  }
  const authfile = s("authfile");
  const creds = s("creds");
  const certDir = s("cert-dir");
  return {
    ...(authfile === undefined ? {} : { authfile }),
    ...(creds === undefined ? {} : { creds }),
    ...(certDir === undefined ? {} : { certDir }),
    ...(tls === undefined ? {} : { tlsVerify: tls === "true" }),
  };
}
