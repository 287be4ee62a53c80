# strata as a Nix package: the npm project built with buildNpmPackage, its three native parts
# compiled from source with node-gyp (no prebuilt binaries are downloaded in the sandbox):
#   better-sqlite3  the image's Nix database (bundles the SQLite amalgamation)
#   zstd-napi       zstd layers and archives (bundles libzstd's sources in deps/)
#   binding.gyp     strata's own helper (native/strata_native.c: pipe sizes, pwrite offsets);
#                   optional at run time, only speed depends on it
{
  lib,
  buildNpmPackage,
  nodejs_20,
  python3,
}:

let
  packageJson = lib.importJSON ../package.json;
in
buildNpmPackage {
  pname = "strata";
  inherit (packageJson) version;

  # Only what the build reads: a change to the tests or docs does not rebuild the package.
  src = lib.fileset.toSource {
    root = ../.;
    fileset = lib.fileset.unions [
      ../package.json
      ../package-lock.json
      ../tsconfig.json
      ../binding.gyp
      ../native
      ../src
      ../workers
      ../bin
    ];
  };

  # The hash of the npm dependencies fetched from package-lock.json (a fixed-output derivation).
  # A placeholder until someone with network access computes it: the first `nix build` fails
  # with "hash mismatch ... got: sha256-..." and prints the value to put here, or run
  # `prefetch-npm-deps package-lock.json` (from nixpkgs). It must be updated whenever
  # package-lock.json changes.
  npmDepsHash = lib.fakeHash;

  # engines: node >= 20.19; the workers run as plain JavaScript from dist/.
  nodejs = nodejs_20;

  # node-gyp needs Python; the compiler comes with stdenv.
  nativeBuildInputs = [ python3 ];

  # prebuild-install (better-sqlite3, zstd-napi) would try GitHub first: build from source at once.
  env.npm_config_build_from_source = "true";

  # `npm run build` is tsc. strata's own addon: npm ci --ignore-scripts skipped the package's
  # install script (node-gyp rebuild), so run it here; npm_config_nodedir (set by the npm hooks)
  # gives node-gyp the headers without a download.
  npmBuildScript = "build";
  postBuild = ''
    node ${nodejs_20}/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js rebuild
  '';

  # package.json's "files" leave build/ out of the installed package; the addon is loaded from
  # build/Release/strata_native.node next to dist/ (src/native.ts).
  postInstall = ''
    mkdir -p $out/lib/node_modules/strata/build/Release
    cp build/Release/strata_native.node $out/lib/node_modules/strata/build/Release/
  '';

  meta = {
    description = packageJson.description;
    license = lib.licenses.mit;
    mainProgram = "strata";
    platforms = lib.platforms.linux;
  };
}
