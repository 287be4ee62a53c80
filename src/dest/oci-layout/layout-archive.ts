/**
 * An OCI layout as one tar stream: `oci-archive` (the layout alone) or `docker`, the dual layout
 * `docker save` writes since Docker 25 (the layout plus manifest.json and repositories, so both the
 * OCI and the classic loaders find the image). Members are in name order, owner 0:0, the image's
 * mtime: the same layout always gives the same bytes.
 */
import fs from "node:fs";
import path from "node:path";
import type { ByteOutput } from "../byte-output.js";
import { copyFileBytes } from "../copy-file.js";
import { StrataError } from "../../errors.js";
import { OuterTarWriter } from "../outer-tar.js";
import type { ImageResult } from "../../image/image-spec.js";

export async function tarLayout(dir: string, out: ByteOutput, mtime: number, docker: ImageResult | undefined): Promise<void> {
  const archive = new OuterTarWriter(out, mtime);
  const members = new Map<string, { file: string } | { bytes: Buffer }>();
  for (const name of ["oci-layout", "index.json"]) members.set(name, { file: path.join(dir, name) });
  for (const blob of fs.readdirSync(path.join(dir, "blobs", "sha256"))) members.set(`blobs/sha256/${blob}`, { file: path.join(dir, "blobs", "sha256", blob) });
  if (docker !== undefined) {
    const blobName = (d: { digest: string }): string => `blobs/sha256/${d.digest.slice("sha256:".length)}`;
    members.set("manifest.json", { bytes: Buffer.from(JSON.stringify([{ Config: blobName(docker.config!), RepoTags: docker.repoTags, Layers: docker.layers.map((l) => blobName(l.blob!)) }])) });
    const repositories: Record<string, Record<string, string>> = {};
    for (const t of docker.repoTags) {
      const colon = t.lastIndexOf(":");
      (repositories[t.slice(0, colon)] ??= {})[t.slice(colon + 1)] = docker.imageId.slice("sha256:".length);
    }
    members.set("repositories", { bytes: Buffer.from(JSON.stringify(repositories)) });
  }
  await archive.directory("blobs/");
  await archive.directory("blobs/sha256/");
  for (const name of [...members.keys()].sort()) {
    const content = members.get(name)!;
    if ("bytes" in content) {
      await archive.member(name, content.bytes);
      continue;
    }
    const size = fs.statSync(content.file).size;
    await archive.begin(name, size);
    await copyFileBytes(content.file, size, (bytes) => archive.data(bytes), (found) =>
      new StrataError("E_INTERNAL", `${content.file} changed while it was being archived: ${size} bytes, then ${found}`, "something else writes to strata's temp dir; run again"));
    await archive.end(size);
  }
  await archive.finish();
}
