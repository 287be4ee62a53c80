# nixpkgs' dockerTools.streamLayeredImage and buildLayeredImage (and streamNixShellImage,
# buildNixShellImage), same arguments, same image, streamed by strata.
#
# The image's conf.json and customisation layer are made by nixpkgs' own code: each function
# calls the dockerTools function of the nixpkgs it is given and keeps its `conf` (the layering,
# the customisation layer with extraCommands/fakeRootCommands, the tag). Only the stream script
# changes: `strata stream $conf` instead of nixpkgs' stream_layered_image.py, which writes the same
# docker-archive (byte-identical store layers) in parallel, and can also write OCI layouts or push
# to a registry. Nothing of nixpkgs' Python stream is built.
#
# Each stream also has nix2container-style apps in its passthru:
#   nix run .#image.copyToRegistry      strata stream $conf -o docker://NAME:TAG
#   nix run .#image.copyToPodman        strata stream $conf | podman load
#   nix run .#image.copyToDockerDaemon  strata stream $conf | docker load
# (extra arguments go to strata stream, e.g. `-- -t other/name:tag`).
{
  pkgs,
  lib ? pkgs.lib,
  dockerTools ? pkgs.dockerTools,
  strata ? pkgs.callPackage ./package.nix { },
  runCommand ? pkgs.runCommand,
  writeShellScriptBin ? pkgs.writeShellScriptBin,
  runtimeShell ? pkgs.runtimeShell,
}:

let
  strataExe = "${strata}/bin/strata";

  # nixpkgs' compressor names; strata compresses the archive itself (gz: parallel gzip).
  compressors = {
    none = {
      ext = "";
      flags = [ ];
    };
    gz = {
      ext = ".gz";
      flags = [ "--compress" "gz" ];
    };
    zstd = {
      ext = ".zst";
      flags = [ "--compress" "zstd" ];
    };
  };
  compressorFor =
    compressor: imageName:
    compressors.${compressor}
      or (throw "in docker image ${imageName}: compressor must be one of: [${toString (builtins.attrNames compressors)}]");

  # A nixpkgs stream (anything with passthru.conf), streamed by strata instead.
  restream =
    upstream:
    let
      inherit (upstream) conf imageTag;
      imageName = conf.imageName;
      baseName = lib.removePrefix "stream-" upstream.name;
      ref = "${imageName}:${imageTag}";
      app = name: text: writeShellScriptBin name text;
    in
    runCommand "stream-${baseName}"
      {
        inherit conf imageName;
        passthru = removeAttrs (upstream.passthru or { }) [ "streamScript" ] // {
          inherit conf imageTag;
          isExe = true;
          # nixpkgs' own stream, for comparison (`cmp <($nixpkgsStream) <($stream)`).
          nixpkgsStream = upstream;
          copyToRegistry = app "copy-to-registry" ''exec ${strataExe} stream ${conf} -o "docker://${ref}" "$@"'';
          copyToPodman = app "copy-to-podman" ''${strataExe} stream ${conf} "$@" | podman load'';
          copyToDockerDaemon = app "copy-to-docker-daemon" ''${strataExe} stream ${conf} "$@" | docker load'';
        };
        meta = upstream.meta or { };
      }
      ''
        printf '#!%s\nexec %s stream %s "$@"\n' ${runtimeShell} ${strataExe} ${conf} > $out
        chmod +x $out
      '';

  # nixpkgs' buildLayeredImage / buildNixShellImage: the stream's output, compressed, in the store.
  build =
    stream: outName: compressor: meta:
    let
      c = compressorFor compressor outName;
    in
    runCommand "${outName}.tar${c.ext}"
      {
        inherit (stream) imageName;
        inherit meta;
        passthru = {
          inherit (stream) imageTag;
          inherit stream;
        };
      }
      ''
        ${stream} ${lib.escapeShellArgs c.flags} --quiet -o $out
      '';
in
rec {
  inherit strata restream;

  streamLayeredImage = lib.makeOverridable (args: restream (dockerTools.streamLayeredImage args));

  buildLayeredImage = lib.makeOverridable (
    {
      name,
      compressor ? "gz",
      meta ? { },
      ...
    }@args:
    build (streamLayeredImage (removeAttrs args [ "compressor" "meta" ])) (baseNameOf name) compressor meta
  );

  streamLayeredImageWithNixDb = args: streamLayeredImage (args // { includeNixDB = true; });
  buildLayeredImageWithNixDb = args: buildLayeredImage (args // { includeNixDB = true; });

  streamNixShellImage = args: restream (dockerTools.streamNixShellImage args);

  buildNixShellImage =
    {
      drv,
      compressor ? "gz",
      ...
    }@args:
    build (streamNixShellImage (removeAttrs args [ "compressor" ])) "${drv.name}-env" compressor { };
}
