#!/usr/bin/env python3
"""Test oracle: write one store layer the way nixpkgs' stream_layered_image.py does (spec §2.3).

Usage: store_layer.py SPEC.json > layer.tar, where SPEC.json is
{"paths": [...], "mtime": N, "uid": N, "gid": N, "uname": S, "gname": S, "root": "" }.
`root` is a directory prefix under which the store paths are found (tests build fixture stores in
a temp dir); names in the tar are the store paths themselves, as in nixpkgs.

This is our own restatement of the behaviour, used only to check strata's bytes: Python's tarfile
in stream mode, PAX format (its default), gettarinfo on each file, hard links turned into regular
files, owners and mtime overridden, `/nix/` and `/nix/store/` first, pathlib ordering.
"""
import itertools
import json
import os
import pathlib
import sys
import tarfile


def main():
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    write_layer(spec, sys.stdout.buffer)


def write_layer(spec, out):
    root = spec.get("root", "")

    def own(ti):
        ti.mtime = spec["mtime"]
        ti.uid = spec["uid"]
        ti.gid = spec["gid"]
        ti.uname = spec["uname"]
        ti.gname = spec["gname"]
        return ti

    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for d in ("/nix", "/nix/store"):
            ti = tarfile.TarInfo(d)
            ti.type = tarfile.DIRTYPE
            ti.mode = 0o755
            tar.addfile(own(ti))
        for store_path in spec["paths"]:
            path = pathlib.Path(root + store_path)
            if not path.is_symlink() and path.is_dir():
                files = itertools.chain([path], path.rglob("*"))
            else:
                files = [path]
            for filename in sorted(files):
                ti = tar.gettarinfo(filename)
                # names in the tar are store paths: strip the fixture root, keep the leading slash
                rel = "/" + str(filename)[len(root):].lstrip("/")
                ti.name = rel
                if ti.islnk():
                    ti.type = tarfile.REGTYPE
                    ti.linkname = ""
                    ti.size = os.stat(filename).st_size
                own(ti)
                if ti.isfile():
                    with open(filename, "rb") as f:
                        tar.addfile(ti, f)
                else:
                    tar.addfile(ti)


if __name__ == "__main__":
    main()
