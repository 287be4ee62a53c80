/**
 * Media types of the manifests strata writes: OCI by default, Docker v2 schema 2 for registries
 * that predate OCI (`--manifest-format docker`, gzip or uncompressed layers only).
 */
export type LayerCompression = "none" | "gzip" | "zstd";
export type ManifestFormat = "oci" | "docker";

export const MEDIA_TYPES = {
  index: "application/vnd.oci.image.index.v1+json",
  manifest: "application/vnd.oci.image.manifest.v1+json",
  config: "application/vnd.oci.image.config.v1+json",
  layer: { none: "application/vnd.oci.image.layer.v1.tar", gzip: "application/vnd.oci.image.layer.v1.tar+gzip", zstd: "application/vnd.oci.image.layer.v1.tar+zstd" },
  docker: {
    manifestList: "application/vnd.docker.distribution.manifest.list.v2+json",
    manifest: "application/vnd.docker.distribution.manifest.v2+json",
    config: "application/vnd.docker.container.image.v1+json",
    layer: { none: "application/vnd.docker.image.rootfs.diff.tar", gzip: "application/vnd.docker.image.rootfs.diff.tar.gzip" },
  },
} as const;

export function layerMediaType(format: ManifestFormat, compression: LayerCompression): string {
  if (format === "oci") return MEDIA_TYPES.layer[compression];
  if (compression === "zstd") throw new Error("Docker v2 schema 2 manifests have no zstd layers");
  return MEDIA_TYPES.docker.layer[compression];
}

/** The compression a layer media type says (OCI or Docker); undefined for a type strata does not know. */
export function compressionOf(mediaType: string): LayerCompression | undefined {
  for (const c of ["none", "gzip", "zstd"] as const) {
    if (MEDIA_TYPES.layer[c] === mediaType) return c;
  }
  if (mediaType === MEDIA_TYPES.docker.layer.gzip) return "gzip";
  if (mediaType === MEDIA_TYPES.docker.layer.none) return "none";
  return undefined;
}
