/**
 * An OCI image layout directory as a BlobStore (src/dest/blob-store.ts): what `strata index`
 * writes through, so that a registry store can take its place unchanged. Blobs go to a temp file
 * in the layout and are renamed to their digest; a blob already present (same size) is kept;
 * index.json is rewritten last, under a temp name, keeping the layout's other entries (an entry
 * with the same ref name is replaced).
 */
import fs from "node:fs";
import path from "node:path";
import { fileSink } from "../archive/sink.js";
import { asDigest, sha256Hex, type Digest } from "../digest.js";
import type { BlobStore, BlobUpload, Descriptor } from "../dest/blob-store.js";
import { StrataError } from "../errors.js";

const REF_NAME = "org.opencontainers.image.ref.name";

export async function openLayoutStore(dir: string): Promise<BlobStore> {
  let entries: string[] = [];
  try {
    entries = fs.readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw new StrataError("E_WRITE", `cannot use ${dir} as an OCI layout: ${(err as Error).message}`, "give a directory path");
  }
  const isLayout = entries.includes("oci-layout");
  if (!isLayout && entries.length > 0) throw new StrataError("E_WRITE", `${dir} exists and is not an OCI image layout (no oci-layout file)`, "give a new or empty directory, or an existing layout");
  const blobs = path.join(dir, "blobs", "sha256");
  fs.mkdirSync(blobs, { recursive: true });
  if (!isLayout) fs.writeFileSync(path.join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  const tmp = fs.mkdtempSync(path.join(dir, ".strata-"));
  let n = 0;
  const at = (digest: Digest): string => path.join(blobs, digest.slice("sha256:".length));
  const place = (temp: string, digest: Digest, size: number): void => {
    const target = at(digest);
    if (fs.existsSync(target) && fs.statSync(target).size === size) fs.rmSync(temp, { force: true });
    else fs.renameSync(temp, target);
  };
  const putBlob = async (bytes: Uint8Array, mediaType: string): Promise<Descriptor> => {
    const digest = asDigest(sha256Hex(bytes));
    const temp = path.join(tmp, `small-${n++}`);
    fs.writeFileSync(temp, bytes, { mode: 0o644 });
    place(temp, digest, bytes.length);
    return { mediaType, digest, size: bytes.length };
  };
  return {
    name: `oci:${dir}`,
    has: async (blob) => {
      try {
        return fs.statSync(at(blob.digest)).size === blob.size;
      } catch {
        return false;
      }
    },
    mount: async () => false,
    openBlob: async (): Promise<BlobUpload> => {
      const temp = path.join(tmp, `blob-${n++}`);
      const sink = await fileSink(temp);
      return {
        write: (bytes) => sink.write(bytes),
        commit: async (digest, size) => {
          await sink.commit();
          if (sink.bytesWritten !== size) throw new StrataError("E_INTERNAL", `blob ${digest}: ${size} bytes announced, ${sink.bytesWritten} written`, "this is a bug in strata; please report it");
          place(temp, digest, size);
        },
        abort: () => sink.abort(),
      };
    },
    putBlob,
    putManifest: async (bytes, mediaType, tags) => {
      const d = await putBlob(bytes, mediaType);
      const file = path.join(dir, "index.json");
      const old = fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, "utf8")) as { manifests?: Descriptor[] }) : {};
      const keep = (old.manifests ?? []).filter((m) => !tags.includes(m.annotations?.[REF_NAME] ?? "\u0000"));
      const added = tags.length === 0 ? [d] : tags.map((t) => ({ ...d, annotations: { [REF_NAME]: t } }));
      const temp = path.join(tmp, "index.json");
      fs.writeFileSync(temp, JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: [...keep, ...added] }));
      fs.renameSync(temp, file);
      return d;
    },
    close: async () => fs.rmSync(tmp, { recursive: true, force: true }),
  };
}
