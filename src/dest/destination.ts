/**
 * Where an image goes, as skopeo and podman spell it: `docker://HOST[:PORT]/REPO[:TAG]` (a
 * registry), `oci:DIR[:REF]` (an OCI layout), `oci-archive:FILE`, `docker-archive:FILE`; or a
 * bare path, whose format `--format` says (docker-archive by default).
 */
import { StrataError } from "../errors.js";

export type Destination =
  | { readonly kind: "registry"; readonly reference: string }
  | { readonly kind: "oci"; readonly dir: string; readonly ref: string | undefined }
  | { readonly kind: "oci-archive"; readonly file: string }
  | { readonly kind: "docker-archive"; readonly file: string };

/** The destination a string names, or undefined for a bare path. */
export function parseDestination(s: string): Destination | undefined {
  if (s.startsWith("docker://")) return { kind: "registry", reference: s };
  if (s.startsWith("oci:")) {
    const rest = s.slice("oci:".length);
    // oci:DIR:REF, as skopeo: the part after the last colon is a ref if it has no slash.
    const colon = rest.lastIndexOf(":");
    const ref = colon > 0 && !rest.slice(colon + 1).includes("/") ? rest.slice(colon + 1) : undefined;
    const dir = ref === undefined ? rest : rest.slice(0, colon);
    if (dir === "") throw bad(s, "oci:DIR[:REF]");
    if (ref !== undefined && !/^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/.test(ref)) throw bad(s, "oci:DIR[:REF], REF letters, digits, _ . -");
    return { kind: "oci", dir, ref };
  }
  for (const kind of ["oci-archive", "docker-archive"] as const) {
    if (s.startsWith(`${kind}:`)) {
      const file = s.slice(kind.length + 1);
      if (file === "") throw bad(s, `${kind}:FILE`);
      return { kind, file };
    }
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//.test(s) || /^(containers-storage|docker-daemon|dir):/.test(s)) {
    throw new StrataError("E_USAGE", `strata cannot write to ${JSON.stringify(s)}`, "use docker://HOST/REPO:TAG, oci:DIR[:REF], oci-archive:FILE, docker-archive:FILE or a file path");
  }
  return undefined;
}

/** Destinations that store blobs (the writer can skip what they hold): registries and layouts. */
export function isBlobStore(d: Destination): d is Extract<Destination, { kind: "registry" | "oci" }> {
  return d.kind === "registry" || d.kind === "oci";
}

/** For messages and the summary. */
export function describeDestination(d: Destination): string {
  switch (d.kind) {
    case "registry":
      return d.reference;
    case "oci":
      return `oci:${d.dir}${d.ref === undefined ? "" : `:${d.ref}`}`;
    default:
      return `${d.kind}:${d.file}`;
  }
}

function bad(s: string, form: string): StrataError {
  return new StrataError("E_USAGE", `bad destination ${JSON.stringify(s)}`, `write it as ${form}`);
}
