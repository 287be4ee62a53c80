#!/usr/bin/env python3
"""Test oracle: the docker-archive nixpkgs' stream_layered_image.py writes for a conf.json (no
fromImage), restated in our own words from spec §2 to check strata's image config and layers.

Usage: stream_image.py CONF.json ROOT > image.tar  (ROOT: directory the fixture store is under)

Members are named as nixpkgs names them (<sha256>/layer.tar); layers are built twice, once to
hash and once to write, as nixpkgs does. Store layers come from store_layer.py's logic.
"""
import datetime
import hashlib
import io
import json
import os
import sys
import tarfile

sys.path.insert(0, os.path.dirname(__file__))
import store_layer  # noqa: E402


def layer_bytes(paths, conf, root):
    spec = {"paths": paths, "mtime": mtime_of(conf), "uid": int(conf["uid"]), "gid": int(conf["gid"]),
            "uname": conf["uname"], "gname": conf["gname"], "root": root}
    buf = io.BytesIO()
    store_layer.write_layer(spec, buf)
    return buf.getvalue()


def mtime_of(conf):
    return int(datetime.datetime.fromisoformat(conf["mtime"]).timestamp())


def main():
    with open(sys.argv[1]) as f:
        conf = json.load(f)
    root = sys.argv[2]
    created = datetime.datetime.fromisoformat(conf["created"])
    mtime = mtime_of(conf)
    out = sys.stdout.buffer
    layers = []  # (name, bytes, paths)
    for paths in conf["store_layers"]:
        data = layer_bytes(paths, conf, root)
        layers.append((hashlib.sha256(data).hexdigest(), data, paths))
    cust = conf["customisation_layer"]
    with open(os.path.join(cust, "layer.tar"), "rb") as f:
        data = f.read()
    with open(os.path.join(cust, "checksum")) as f:
        checksum = f.read().strip()
    layers.append((checksum, data, [cust]))

    config = {
        "created": datetime.datetime.isoformat(created),
        "architecture": conf["architecture"],
        "os": "linux",
        "config": conf["config"],
        "rootfs": {"diff_ids": [f"sha256:{h}" for h, _, _ in layers], "type": "layers"},
        "history": [{"created": datetime.datetime.isoformat(created), "comment": f"store paths: {paths}"} for _, _, paths in layers],
    }
    config_bytes = json.dumps(config, indent=4).encode("utf-8")
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    manifest = [{"Config": config_name, "RepoTags": [conf["repo_tag"]], "Layers": [f"{h}/layer.tar" for h, _, _ in layers]}]
    with tarfile.open(fileobj=out, mode="w|") as tar:
        def add(name, data):
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mtime = mtime
            tar.addfile(ti, io.BytesIO(data))
        for h, data, _ in layers:
            add(f"{h}/layer.tar", data)
        add(config_name, config_bytes)
        add("manifest.json", json.dumps(manifest, indent=4).encode("utf-8"))


if __name__ == "__main__":
    main()
