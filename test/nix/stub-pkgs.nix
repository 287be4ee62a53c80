# A minimal stand-in for the few nixpkgs functions nix/lib.nix and nix/package.nix use, so they can
# be evaluated (nix-instantiate --eval --strict) and built (nix-build with nix-bin's
# builtins.derivation and a static busybox as every builder) where nixpkgs is not available.
#
# It is NOT nixpkgs: dockerTools.streamLayeredImage here makes a conf.json with nixpkgs' fields
# and a customisation layer (layer.tar + checksum) in the same places, but lays out one store
# layer per content path (no closure, no auto-layer) and tars the layer with busybox. What it
# checks is strata's wiring: arguments passed through unchanged, the conf and tag kept, the
# stream script, the compressors, the passthru apps. It also records the arguments it got.
{ builder ? "/bin/busybox", system ? builtins.currentSystem }:
let
  upper = [ "A" "B" "C" "D" "E" "F" "G" "H" "I" "J" "K" "L" "M" "N" "O" "P" "Q" "R" "S" "T" "U" "V" "W" "X" "Y" "Z" ];
  lower = [ "a" "b" "c" "d" "e" "f" "g" "h" "i" "j" "k" "l" "m" "n" "o" "p" "q" "r" "s" "t" "u" "v" "w" "x" "y" "z" ];
  lib = rec {
    makeOverridable = f: args: f args // { override = more: makeOverridable f (args // more); };
    removePrefix = prefix: s:
      let n = builtins.stringLength prefix; in
      if builtins.substring 0 n s == prefix then builtins.substring n (builtins.stringLength s - n) s else s;
    escapeShellArg = s: "'" + builtins.replaceStrings [ "'" ] [ "'\\''" ] s + "'";
    escapeShellArgs = xs: builtins.concatStringsSep " " (map escapeShellArg xs);
    toLower = builtins.replaceStrings upper lower;
    importJSON = p: builtins.fromJSON (builtins.readFile p);
    fakeHash = "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    fileset = {
      unions = xs: xs;
      toSource = { root, fileset }: { inherit root fileset; };
    };
    genAttrs = names: f: builtins.listToAttrs (map (n: { name = n; value = f n; }) names);
    licenses.mit = "mit";
    platforms.linux = [ "x86_64-linux" "aarch64-linux" ];
  };

  # runCommand as nixpkgs has it (name, attributes, script), passthru and meta kept out of the
  # derivation and put on the result.
  runCommand = name: env: script:
    let
      drv = derivation (removeAttrs env [ "passthru" "meta" ] // {
        inherit name system builder;
        args = [ "sh" "-c" ("set -e; " + script) ];
      });
    in
    drv // (env.passthru or { }) // { meta = env.meta or { }; passthru = env.passthru or { }; buildScript = script; };

  busybox = runCommand "busybox" { } "mkdir -p $out/bin; cp ${builder} $out/bin/busybox; ln -s busybox $out/bin/sh";
  runtimeShell = "${busybox}/bin/sh";

  writeShellScriptBin = name: text:
    runCommand name { passthru.text = text; meta.mainProgram = name; } ''
      mkdir -p $out/bin
      printf '#!%s\n%s\n' ${runtimeShell} "$text" > $out/bin/${name}
      chmod +x $out/bin/${name}
    '' // { inherit text; };

  streamLayeredImage =
    { name, tag ? null, fromImage ? null, contents ? [ ], config ? { }, architecture ? "amd64",
      created ? "1970-01-01T00:00:01Z", mtime ? "1970-01-01T00:00:01Z", uid ? 0, gid ? 0,
      uname ? "root", gname ? "root", maxLayers ? 100, extraCommands ? "", fakeRootCommands ? "",
      enableFakechroot ? false, includeStorePaths ? true, includeNixDB ? false, passthru ? { },
      meta ? { }, layeringPipeline ? null, debug ? false }@args:
    let
      baseName = baseNameOf name;
      contentsList = if builtins.isList contents then contents else [ contents ];
      customisationLayer = runCommand "${baseName}-customisation-layer" { paths = contentsList; inherit extraCommands; } ''
        mkdir root
        for p in $paths; do for e in $p/*; do ln -s $e root/; done; done
        (cd root; eval "$extraCommands")
        mkdir $out
        tar -C root -cf $out/layer.tar .
        sha256sum $out/layer.tar | cut -d' ' -f1 > $out/checksum
      '';
      json = builtins.toJSON {
        inherit architecture config created mtime uname gname;
        os = "linux";
        store_dir = builtins.storeDir;
        from_image = fromImage;
        store_layers = if includeStorePaths then map (p: [ "${p}" ]) contentsList else [ ];
        customisation_layer = "${customisationLayer}";
        repo_tag = "${lib.toLower name}:@TAG@";
        uid = toString uid;
        gid = toString gid;
      };
      conf = runCommand "${baseName}-conf.json" {
        imageName = lib.toLower name;
        inherit json;
        passAsFile = [ "json" ];
        passthru.imageTag = if tag != null then tag
          else builtins.substring 0 32 (baseNameOf (builtins.unsafeDiscardStringContext conf.outPath));
      } ''
        t=${if tag != null then tag else "$(basename $out | cut -c1-32)"}
        sed "s/@TAG@/$t/" $jsonPath > $out
      '';
    in
    runCommand "stream-${baseName}" {
      inherit conf;
      inherit (conf) imageName;
      passthru = passthru // { inherit (conf) imageTag; inherit conf; isExe = true; streamScript = "nixpkgs-python-stream"; receivedArgs = args; };
      inherit meta;
    } "echo 'nixpkgs python stream (stand-in)' > $out";
in
{
  inherit lib runCommand runtimeShell writeShellScriptBin busybox;
  # flake.nix's example image
  hello = runCommand "hello" { } "mkdir -p $out/bin; ln -s ${busybox}/bin/busybox $out/bin/hello";
  dockerTools = {
    inherit streamLayeredImage;
    streamNixShellImage = { drv, name ? drv.name + "-env", ... }: streamLayeredImage { inherit name; config.Cmd = [ "/bin/sh" ]; };
  };
  stdenv.hostPlatform.system = system;
  # package.nix: buildNpmPackage gives back what it was called with (and a path to stand for it).
  callPackage = f: over: import f ({
    inherit lib;
    buildNpmPackage = args: args // { outPath = "/stub/strata"; };
    nodejs_20 = "/stub/nodejs-20";
    python3 = "python3-stub";
  } // over);
}
