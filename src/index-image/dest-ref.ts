/** `strata index -o DEST`: `oci:DIR[:REF]`, a bare `DIR`, or `oci-archive:FILE[:REF]`. */
import { StrataError } from "../errors.js";

export interface IndexDest {
  readonly kind: "oci" | "oci-archive";
  readonly path: string;
  readonly ref: string;
}

export function parseIndexDest(dest: string): IndexDest {
  const m = /^(oci|oci-archive):(.+)$/.exec(dest);
  if (m === null) {
    if (/^[a-z-]+:\/\//.test(dest) || dest.startsWith("docker:")) {
      throw new StrataError("E_USAGE", `expected an OCI layout, an oci-archive or a registry destination, found ${dest}`, "write oci:DIR[:REF], oci-archive:FILE[:REF] or docker://HOST/REPO[:TAG]");
    }
    return { kind: "oci", path: dest, ref: "latest" };
  }
  const rest = m[2]!;
  const colon = rest.lastIndexOf(":");
  const ref = colon > 0 ? rest.slice(colon + 1) : "latest";
  const file = colon > 0 ? rest.slice(0, colon) : rest;
  if (ref === "" || !/^[A-Za-z0-9._\-/:@+]+$/.test(ref)) throw new StrataError("E_USAGE", `expected a reference name after the last : of ${dest}, found ${JSON.stringify(ref)}`, "e.g. -o oci:DIR:latest");
  return { kind: m[1] as IndexDest["kind"], path: file, ref };
}
