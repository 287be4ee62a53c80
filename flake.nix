{
  description = "strata: layered container images from a Nix store closure, in parallel; nixpkgs' streamLayeredImage streamed by strata";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs =
    { self, nixpkgs }:
    let
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      forAllSystems = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
      strataLib =
        pkgs:
        import ./nix/lib.nix {
          inherit pkgs;
          strata = self.packages.${pkgs.stdenv.hostPlatform.system}.strata;
        };
    in
    {
      # strataLib.streamLayeredImage { name = ...; contents = ...; config = ...; } takes what
      # dockerTools.streamLayeredImage takes; see docs/nix.md.
      lib = forAllSystems strataLib;

      packages = forAllSystems (pkgs: {
        strata = pkgs.callPackage ./nix/package.nix { };
        default = self.packages.${pkgs.stdenv.hostPlatform.system}.strata;
        # An example: `nix build .#example && ./result | podman load`, or
        # `nix run .#example.copyToPodman`, `nix run .#example.copyToRegistry`.
        example = (strataLib pkgs).streamLayeredImage {
          name = "hello";
          contents = [ pkgs.hello ];
          config.Cmd = [ "/bin/hello" ];
        };
      });

      apps = forAllSystems (pkgs: {
        default = {
          type = "app";
          program = "${self.packages.${pkgs.stdenv.hostPlatform.system}.strata}/bin/strata";
        };
      });

      overlays.default = final: prev: {
        strata = final.callPackage ./nix/package.nix { };
        strataTools = import ./nix/lib.nix {
          pkgs = final;
          strata = final.strata;
        };
      };
    };
}
