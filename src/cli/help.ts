/** The --help texts. Every flag listed here exists, and every flag that exists is listed. */
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
export const VERSION: string = (() => {
  for (const rel of ["../../package.json", "../../../package.json"]) {
    try {
      return (require(rel) as { version: string }).version;
    } catch {
      // dist/src/cli or src/cli: try the other depth
    }
  }
  return "unknown";
})();

const OUTPUT = `Output:
  -o, --output FILE      write the image to FILE (under a temp name, renamed when complete);
                         default: stdout (refused when stdout is a terminal)
  -f, --format FORMAT    docker-archive (default; what docker/podman load read), oci (an OCI
                         layout directory: -o DIR, updated in place if it exists), oci-archive
                         (that layout as one tar), docker (Docker 25's OCI + docker-archive layout)
  --layer-compress none|gz|zstd
                         compress each layer of an OCI format (default: gz for oci and
                         oci-archive, none for docker); zstd gives tar+zstd media types
  --compress none|gz|zstd
                         compress the whole archive stream (default: none), spread over the workers
  --level N              compression level: gz 1-9 (default 6), zstd 1-19 (default 3)
  -j, --workers N        worker threads (default: the number of cores); the output does not
                         depend on it
  --tmp-dir DIR          where layers waiting their turn are spooled (default: $TMPDIR or /tmp)
  --store-root DIR       read store paths under DIR (a chroot store: /nix/store/x is read at
                         DIR/nix/store/x, and named /nix/store/x in the image)
  -q, --quiet            no progress on stderr
  --json                 progress as JSON events on stderr, one object a line
  --debug                print stack traces with errors
  -h, --help             this help
`;

export const HELP = {
  main: `strata: build layered container images from a Nix store closure, in parallel.

Usage:
  strata stream CONF.json [-t NAME:TAG] [-o FILE]   drop-in for nixpkgs' streamLayeredImage script
  strata build --graph GRAPH.json --contents PATH... [options]
                                                    build an image from a closure
  strata demo [-o FILE]                             build an image from a small generated closure
  strata --version

Run \`strata COMMAND --help\` for a command's options. Errors print a code and a hint
(docs/errors.md lists them); exit codes: 0 ok, 1 error, 2 usage, 130 interrupted,
141 the reader of the output went away.
`,
  stream: `Usage: strata stream CONF.json [options]

Reads the conf.json that nixpkgs' dockerTools.streamLayeredImage generates (the stream's
\`conf\` attribute) and writes the same docker-archive its stream script writes: store layers
byte-identical to nixpkgs' (same diff_ids, so images share layers), the prebuilt customisation
layer copied in after checking its checksum, the same image config. Layers are built in parallel
and the store is read once.

  -t, --repo-tag NAME:TAG
                         replace conf.json's repo_tag in manifest.json (also --repo_tag)
${OUTPUT}`,
  build: `Usage: strata build --graph GRAPH.json --contents PATH... [options]

Builds a layered image from a closure, as nixpkgs' buildLayeredImage does: the store paths of the
closure of --contents (and of store paths named in --config) go into store layers, grouped by
popularity under the layer budget; a customisation layer holds the symlink join of --contents.

Closure:
  --graph FILE           references graph: an exportReferencesGraph list, or the output of
                         \`nix path-info --json --recursive\` (list or object form)
  --contents PATH        a store path whose files appear at the image root (repeatable)

Image:
  --name NAME            repository name (default: strata-image; lowercased as nixpkgs does)
  --tag TAG              tag (default: a hash of everything that decides the image)
  --max-layers N         layer budget, the customisation layer included (default: 100)
  --config FILE          image config JSON (Cmd, Env, Entrypoint, ...)
  --architecture ARCH    config architecture (default: amd64)
  --created TIME         image creation time: ISO 8601, seconds since the epoch, or "now"
                         (default: 1970-01-01T00:00:01Z)
  --mtime TIME           mtime of every file in the store layers (default: as --created's default)
  --uid N, --gid N       owner of every file in the store layers (default: 0)
  --uname S, --gname S   owner names (default: root)
${OUTPUT}`,
  demo: `Usage: strata demo [options]

Generates a small closure in a temp dir, builds an image from it with strata build, and prints
its layers. Writes the image to -o FILE, or to a temp file it names.
${OUTPUT}`,
} as const;
