/** The --help texts. Every flag listed here exists, and every flag that exists is listed. */
import { createRequire } from "node:module";
import { REGISTRY_HELP } from "./registry-args.js";

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
  -o, --output DEST      where the image goes: a FILE (under a temp name, renamed when
                         complete), docker://HOST[:PORT]/REPO[:TAG] (a registry),
                         oci:DIR[:REF] (an OCI layout), oci-archive:FILE, docker-archive:FILE;
                         repeat it to push to several registries and layouts at once (each
                         layer built once); default: stdout (refused when it is a terminal)
  -f, --format FORMAT    docker-archive (default; what docker/podman load read), oci (an OCI
                         layout directory: -o DIR, updated in place if it exists), oci-archive
                         (that layout as one tar), docker (Docker 25's OCI + docker-archive layout)
  --layer-compress none|gz|zstd
                         compress each layer of an OCI format (default: gz for oci and
                         oci-archive, none for docker); zstd gives tar+zstd media types
  --compress none|gz|zstd
                         compress the whole archive stream (default: none), spread over the workers
  --level N              compression level: gz 1-9 (default 6), zstd 1-19 (default 3)
  -j, --workers N        worker threads per pool (default: the number of cores): N tar and hash
                         layers, and N more compress when compressing; the output does not
                         depend on it
  --tmp-dir DIR          where layers waiting their turn are spooled (default: $TMPDIR or /tmp)
  --store-root DIR       read store paths under DIR (a chroot store: /nix/store/x is read at
                         DIR/nix/store/x, and named /nix/store/x in the image)
  -q, --quiet            no progress and no summary on stderr (warnings and errors only)
  --json                 progress, the result and errors as JSON events on stderr, one object a
                         line (docs/events.md); not with -q
  --debug                print stack traces with errors
  -h, --help             this help

Registries and layouts (docs/registry.md, docs/cache.md):
  --authfile FILE        credentials (default: $REGISTRY_AUTH_FILE, then
                         $XDG_RUNTIME_DIR/containers/auth.json, ~/.docker/config.json, ...)
  --creds USER:PASS      credentials for the registry, instead of an auth file
  --cert-dir DIR         CA certificates (*.crt) and client pairs (*.cert, *.key) for TLS
  --tls-verify=false     plain HTTP, or a certificate nobody vouches for (default: true)
  --jobs N               registry requests at once when probing for blobs (default: 8)
  --manifest-format oci|docker
                         OCI manifests (default), or Docker v2 schema 2 (gz layers) for old
                         registries
  --digestfile FILE      write the manifest digest to FILE once the image is complete
  --cache-dir DIR        the layer cache (default: $XDG_CACHE_HOME/strata or ~/.cache/strata)
  --no-cache             neither read nor fill the layer cache
  --verify               build every layer even when known, and fail on any difference
  --cache-from REF       also reuse the layers an image in a registry records (repeatable);
                         the image at each registry destination's tag is always consulted
`;

const IMAGE = `
Closure:
  --graph FILE           references graph: an exportReferencesGraph list, or the output of
                         \`nix path-info --json --recursive\` (list or object form)
  --graph -              read the graph from stdin
  --from-store PATH...   read the closure of PATH from this machine's Nix database instead
                         (under --store-root if given); default contents: these paths
  --contents PATH...     store paths whose files appear at the image root; their closure goes
                         into the store layers (required with --graph unless --config names
                         store paths)
  --include-store-paths=false
                         no store layers at all (nixpkgs' includeStorePaths = false)

Layers:
  --max-layers N         layer budget, base and customisation layers included (default: 100);
                         a warning when the image has more than 125 layers, which runtimes refuse
  --layering STRATEGY    auto (default: nixpkgs' auto-layer), popularity (the classic split), or
                         FILE.json: a layeringPipeline as nixpkgs users write it
  --previous PLAN.json   keep the layers of a previous plan (strata plan --json) where they fit
  --from IMAGE           base image (docker-archive, OCI layout or oci-archive, compressed or
                         not): its layers go first, its diff_ids are verified, its Env merges
  --inherit-config       needs --from: also keep its Cmd, Entrypoint, WorkingDir, User, Labels,
                         ExposedPorts, Volumes unless --config sets them

Image:
  -t, --repo-tag NAME:TAG
                         name and tag in one (instead of --name and --tag)
  --name NAME            repository name (default: strata-image; lowercased as nixpkgs does)
  --tag TAG              tag (default: a hash of everything that decides the image)
  --config FILE          image config JSON (Cmd, Env, Entrypoint, ...)
  --architecture ARCH    config architecture, a GOARCH name as nixpkgs writes (amd64, arm64, ...;
                         default: amd64)
  --created TIME         image creation time: ISO 8601, seconds since the epoch, or "now"
                         (default: 1970-01-01T00:00:01Z)
  --mtime TIME           mtime of every file in the layers (default: 1970-01-01T00:00:01Z)
  --uid N, --gid N       owner of every file in the store layers (default: 0)
  --uname S, --gname S   owner names (default: root)

Customisation layer (instead of extraCommands/fakeRootCommands):
  --add SRC:DEST         copy a host file or directory to DEST (repeatable)
  --chown PATH:UID:GID   owner of PATH in the layer (repeatable)
  --chmod PATH:MODE      octal mode of PATH in the layer (repeatable)
  --fake-nss             root and nobody in /etc/passwd and /etc/group, /etc/nsswitch.conf,
                         /var/empty (nixpkgs' fakeNss)
  --nix-db               a Nix database of the contents' closure, registration times reset to
                         --mtime, gcroots for the contents (nixpkgs' includeNixDB)
  --verify-nar           compute every NAR hash from the files and check it against the one
                         the graph gives (nixpkgs trusts the graph's hashes)
`;

export const HELP = {
  main: `strata: build layered container images from a Nix store closure, in parallel.

Usage:
  strata stream CONF.json [-t NAME:TAG] [-o DEST]   drop-in for nixpkgs' streamLayeredImage script
  strata build --graph GRAPH.json --contents PATH... [-t NAME:TAG] [-o DEST]
                                                    build an image from a closure
  strata push SOURCE docker://HOST/REPO[:TAG]       copy an image (a file, - for stdin, a layout)
                                                    to a registry
  (DEST: a file, docker://HOST/REPO[:TAG], oci:DIR[:REF], oci-archive:FILE, docker-archive:FILE)
  strata plan --graph GRAPH.json --contents PATH... print the layers a build would make
  strata merge A.tar B.tar... -o ALL.tar            one archive that loads every image
  strata inspect IMAGE                              layers, digests and store paths of an image
  strata pull docker://REF -o DEST                  an image from a registry into a file or layout
  strata export IMAGE [-o FILE]                     the image's flattened filesystem as one tar
  strata index -o DEST IMAGE...                     a multi-platform image (OCI index) of images
  strata nix-shell-image DRV.json --shell PATH (--graph GRAPH.json | --from-store)
                                                    an image that opens a derivation's build shell
  strata demo [-o FILE]                             build an image from a small generated closure
  strata cache [show|prune|clear]                   the local layer cache: show it, prune it
  strata --version

Run \`strata COMMAND --help\` or \`strata help COMMAND\` for a command's options. Errors
print a code and a hint (docs/errors.md lists them); exit codes: 0 ok, 1 error, 2 usage,
130 interrupted, 141 the reader of the output went away.
`,
  stream: `Usage: strata stream CONF.json [options]

Reads the conf.json that nixpkgs' dockerTools.streamLayeredImage generates (the stream's
\`conf\` attribute) and writes the same docker-archive its stream script writes: store layers
byte-identical to nixpkgs' (same diff_ids, so images share layers), the prebuilt customisation
layer copied in after checking its checksum, a from_image base image's layers first (their
diff_ids verified; gzip, zstd and OCI bases too), the same image config. Layers are built in
parallel and the store is read once.

  -t, --repo-tag NAME:TAG
                         replace conf.json's repo_tag in manifest.json (also --repo_tag)
${OUTPUT}`,
  build: `Usage: strata build (--graph GRAPH.json | --from-store PATH...) [--contents PATH...] [options]

Builds a layered image from a closure, as nixpkgs' buildLayeredImage does: the store paths of the
closure of --contents (and of store paths named in --config) go into store layers, grouped under
the layer budget (auto-layer by default, as nixpkgs now); a base image's layers go first; a
customisation layer holds the symlink join of --contents and the extras below.
${IMAGE}
${OUTPUT}`,
  plan: `Usage: strata plan (--graph GRAPH.json | --from-store PATH...) [--contents PATH...] [options]
       strata plan --compare A.json B.json (--graph GRAPH.json | --from-store PATH...)

Prints the layers \`strata build\` would make with the same inputs: a table (layer, paths, layer
size, closure size), or with --json the list of lists of store paths nixpkgs' conf.json calls
store_layers (what --previous takes back). --compare reports how many layers and bytes two plans
share: what a new image version need not ship again.

  --json                 JSON on stdout
  --compare              compare the two plan files given as arguments
  --store-root DIR       read store paths under DIR
  --tmp-dir DIR          where a --from base image is unpacked
  --debug                print stack traces with errors
  -h, --help             this help
${IMAGE}`,
  merge: `Usage: strata merge IMAGE... [-o FILE]

Merges docker-archives (plain, gzip or zstd) into one that loads every image, as nixpkgs'
mergeImages does: layers shared between images are stored once, layer bytes (and the owners in
them) and configs are kept as they are.

  -o, --output FILE      write to FILE (temp name, renamed when complete); default: stdout
  --tmp-dir DIR          where the inputs are unpacked (default: $TMPDIR or /tmp)
  -q, --quiet            no summary on stderr
  --debug                print stack traces with errors
  -h, --help             this help
`,
  inspect: `Usage: strata inspect IMAGE [--json] [--ref REF]

Shows an image (docker-archive plain/gz/zstd, OCI layout directory, oci-archive, or a registry's
docker://HOST/REPO[:TAG][@DIGEST]): tags, config, and each layer's diff_id, digest, sizes and the
store paths it holds; for a registry image also the digest the reference names (pin it as
REF@DIGEST). Registry blobs are streamed through and verified, never stored.

  --json                 JSON on stdout
  --ref REF              which image of a multi-image input (a tag or OCI ref name)
  --platform OS/ARCH     which image of a registry's multi-platform index (default: linux/amd64)
  --debug                print stack traces with errors
  -h, --help             this help

${REGISTRY_HELP}`,
  pull: `Usage: strata pull docker://HOST/REPO[:TAG][@DIGEST] -o DEST [options]

Copies an image from a registry as it is: manifest and blobs verified by digest and size, the
config kept byte for byte (the image ID does not change), the tag's digest printed. An OCI
destination gets the registry's compressed blobs unchanged; a docker-archive the layers
uncompressed, each checked against its diff_id.

  -o, --output DEST      oci:DIR[:REF] (an OCI layout, updated in place), oci-archive:FILE[:REF],
                         docker-archive:FILE[:NAME:TAG], or a bare path in --format; - is stdout
  -f, --format FORMAT    the format of a bare DEST: docker-archive (default), oci, oci-archive
  --platform OS/ARCH[/VARIANT]
                         which image of a multi-platform index (default: linux/amd64)
  -j, --workers N        worker threads (default: the number of cores)
  --tmp-dir DIR          where the blobs are downloaded (default: $TMPDIR or /tmp)
  -q, --quiet            no progress on stderr
  --json                 progress as JSON events on stderr, one object a line
  --debug                print stack traces with errors
  -h, --help             this help

${REGISTRY_HELP}`,
  cache: `Usage: strata cache [show | prune [--older-than DAYS] | clear] [--cache-dir DIR] [--json]

The local layer cache: what each layer built before is (diff_id, size, compressed blobs), so
that a rebuild skips the layers a destination already holds (docs/cache.md). It lives in
$XDG_CACHE_HOME/strata, else ~/.cache/strata; it is disposable: removing it only makes the next
build read every layer.

  show                   where it is, its layers, blobs and layout file stamps, its size, and
                         when its least and most recently used layers were last used (default)
  prune                  remove layers and file stamps not used for DAYS days (default 30), and
                         the stamps of layout files that are gone or changed
  clear                  remove everything (also a cache that is corrupt or of a newer strata)

  --cache-dir DIR        the cache directory (default: $XDG_CACHE_HOME/strata or ~/.cache/strata)
  --older-than DAYS      with prune: how many days unused before an entry goes (default: 30)
  --json                 JSON on stdout
  --debug                print stack traces with errors
  -h, --help             this help
`,
  export: `Usage: strata export IMAGE [-o FILE] [--ref REF]

Writes the flattened filesystem of an image (docker-archive plain/gz/zstd, OCI layout directory
or oci-archive) as one tar, as nixpkgs' exportImage does but without a VM: layers applied in
order, whiteouts and opaque directories honoured, hard links kept, modes, owners, times and link
targets exact; entries in path order (docs/export.md). Memory stays bounded: entries are sorted
on disk under --tmp-dir.

  -o, --output FILE      write the tar to FILE (temp name, renamed when complete); - or no -o:
                         stdout (refused when stdout is a terminal)
  --ref REF              which image of a multi-image input (a tag or OCI ref name)
  --tmp-dir DIR          where the image is unpacked and entries sorted (default: $TMPDIR or /tmp)
  -q, --quiet            no summary on stderr
  --debug                print stack traces with errors
  -h, --help             this help
`,
  index: `Usage: strata index -o DEST IMAGE... [--manifest-format oci|docker]

Writes one multi-platform image: an image index listing each IMAGE (any image strata reads)
under the platform its config names (os, architecture, variant), the blobs copied and verified
by digest. Two images of the same platform are refused.

  -o, --output DEST      oci:DIR[:REF] or DIR (an OCI layout, updated in place; REF defaults to
                         latest), oci-archive:FILE[:REF] (that layout as one tar), or
                         docker://HOST/REPO[:TAG] (a registry: the images, then the index)
  --manifest-format oci|docker
                         oci (default): OCI index and manifests, layers as stored; docker: a
                         Docker manifest list and schema 2 manifests (media types converted,
                         the same config bytes; uncompressed layers are gzipped, zstd layers
                         refused: Docker's schema 2 has no zstd)
  --tmp-dir DIR          where archive inputs are unpacked (default: $TMPDIR or /tmp)
  --authfile FILE, --creds USER:PASS, --cert-dir DIR, --tls-verify=false
                         for a docker://HOST/REPO[:TAG] destination, as for build
  -q, --quiet            no summary on stderr
  --debug                print stack traces with errors
  -h, --help             this help
`,
  "nix-shell-image": `Usage: strata nix-shell-image DRV.json --shell PATH (--graph GRAPH.json | --from-store) [options]

An image that drops the user into the build environment of a derivation, as nixpkgs'
dockerTools.streamNixShellImage makes one: the derivation's variables (passAsFile ones as files
in /build), nix-shell's rcfile (sources $stdenv/setup, runs shellHook), /build as the working
directory, HOME and the temp dirs, the build user nixbld in /etc/passwd and /etc/group, the
shell as /bin/sh and Cmd, buildDerivation on PATH (runs the builder). The store layers hold the
closure of the derivation's inputs and the shell. DRV.json: \`nix derivation show DRV\` (nix
2.8: \`nix show-derivation DRV\`), any format version.

  --shell PATH           the shell, a file in the store (nixpkgs: bashInteractive's bin/bash)
  --graph FILE           references graph holding the closure of the inputs, as
                         \`nix path-info --json --recursive\` prints it for them
  --from-store           read the inputs' closure from this machine's Nix database instead
                         (under --store-root if given); the inputs must be built
  --drv PATH             which derivation of a file holding several (nix derivation show -r);
                         default: the one no other depends on
  --uid N, --gid N       the build user (default: 1000, 1000)
  --home DIR             the build user's home (default: /build)
  --command CMDS         run CMDS in the shell after shellHook, then exit
  --run CMDS             like --command, non-interactively (the rcfile runs as a script)
  --ca-bundle PATH       CA bundle file in the store for SSL_CERT_FILE and NIX_SSL_CERT_FILE
  --usr-bin-env PATH     env program in the store for /usr/bin/env
  --name NAME            repository name (default: the derivation's name + "-env")
  --tag TAG              tag (default: a hash of everything that decides the image)
  --max-layers N         layer budget (default: 100)
  --architecture ARCH    config architecture (default: amd64)
  --created TIME         image creation time (default: 1970-01-01T00:00:01Z)
  --mtime TIME           mtime of every file in the layers (default: 1970-01-01T00:00:01Z)
  --nix-db               a Nix database of the inputs' closure, for nix inside the image
${OUTPUT}`,
  push: `Usage: strata push SOURCE DESTINATION [options]

Copies an existing image to a registry (or a layout) as it is: the config byte for byte (the
same image ID), every layer checked against its diff_id, blobs the source already stores in the
compression asked for sent as they are, the others compressed once. SOURCE is a docker-archive
(plain, gz or zstd; - reads one from stdin, which skopeo cannot), an OCI layout directory or an
oci-archive; DESTINATION is docker://HOST[:PORT]/REPO[:TAG] or oci:DIR[:REF]. A layer the
registry already holds is not sent again.

  --ref REF              which image of a multi-image SOURCE (a tag or OCI ref name)
${OUTPUT}`,
  demo: `Usage: strata demo [options]

Generates a small closure in a temp dir, builds an image from it with strata build, and prints
its layers. Writes the image to -o FILE; without -o, to stdout when it is not a terminal
(\`strata demo -q | podman load\`), else to a temp file it names.
${OUTPUT}`,
} as const;
