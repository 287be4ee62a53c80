/**
 * Limits on what an image input may ask of strata. An archive that exceeds one is refused before
 * anything of it is used; none of these is near what docker save, skopeo, podman or strata write.
 */
export const LIMITS = {
  /**
   * Members of an outer archive (files, directories, links). A 127-layer docker save has about
   * 520; skopeo writes 3 per layer plus 4. Each kept member is a file in the temp dir, so this
   * also bounds the inodes an archive can make strata create.
   */
  maxMembers: 65_536,
  /** Bytes of a member name or link target (Linux PATH_MAX). */
  maxName: 4096,
  /** Bytes of one member's PAX extended header (key and value bytes). tar-stream itself stops at 4 MiB. */
  maxPax: 1 << 20,
  /** Bytes of a JSON document read into memory: manifest.json, index.json, an OCI manifest, a config. */
  maxJson: 16 << 20,
  /** Links followed (symlink or hard link to another member) when a manifest names a link. */
  maxLinkHops: 4,
  /** Nested OCI indexes followed from index.json down to an image manifest. */
  maxIndexDepth: 4,
} as const;
