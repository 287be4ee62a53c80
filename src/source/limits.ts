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
  /**
   * Bytes of all the distinct JSON documents read from one input (each is read once, by name or
   * digest, however many entries name it), and, when inspecting, of the small non-tar members
   * kept in memory. A docker save of 50 images has well under 1 MiB of them; this is what keeps
   * memory independent of how many entries an archive claims.
   */
  maxJsonTotal: 64 << 20,
  /**
   * Nesting of a JSON document. Image configs and manifests nest 4 or 5 levels; V8's JSON.parse
   * overflows its stack somewhere past 10,000.
   */
  maxJsonDepth: 100,
  /** Images in manifest.json, or manifests in one OCI index. podman save of a whole store is far below. */
  maxImages: 1000,
  /** Layers of one image. Docker and overlayfs stop at 127; nixpkgs' default maxLayers is 100. */
  maxLayers: 1000,
  /** Layer references of all the images of one input (a merge input of 1000 images of 100 layers). */
  maxLayerRefs: 100_000,
  /**
   * Bytes of one uncompressed layer. A diff_id gives no size, and a 10 MB gzip can expand to
   * 10 GiB, so this is the bound on what one layer may write to the temp dir before its diff_id
   * is checked. The largest layers seen in the wild (model weights, CUDA) are tens of GiB.
   */
  maxLayerBytes: 64 * 2 ** 30,
  /**
   * Bytes after a layer tar's last entry (its end-of-archive zero blocks and padding). Go's
   * archive/tar writes 1 KiB, GNU and BSD tar pad to a 10 KiB record; more is a layer padded to
   * make strata write it out.
   */
  maxTarTrailer: 1 << 20,
  /** Links followed (symlink or hard link to another member) when a manifest names a link. */
  maxLinkHops: 4,
  /** Nested OCI indexes followed from index.json down to an image manifest. */
  maxIndexDepth: 4,
} as const;
