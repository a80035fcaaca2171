#!/usr/bin/env python3
"""Writes a one-layer OCI image archive without Docker or a registry.

    scripts/oci.py --output FILE --name NAME [--rootfs TAR] [--add SRC:DEST[:MODE]]...
                   [--user NAME:UID] [--entrypoint ARG]... [--port N]... [--label K=V]...

The layer is the root filesystem tar (--rootfs, e.g. from mmdebstrap; /dev's
device nodes are left out, the runtime makes them) plus each --add file; --user
adds NAME with that uid and gid to /etc/passwd and /etc/group and runs the
image as it. The archive has an OCI layout (index.json, read by
`ctr images import`) and a manifest.json (read by `docker load`, `podman load`).
NAME "portico:latest" is stored as docker.io/library/portico:latest, the
reference a pod's `image: portico:latest` asks the runtime for.
Used by scripts/image.sh (Portico's image) and tests/node/node.sh (the test
cluster's pause and echo images).
"""
import argparse
import gzip
import hashlib
import io
import json
import os
import sys
import tarfile
import time


class Hashing(io.RawIOBase):
    """A write-only file that hashes and counts what goes through it."""

    def __init__(self, out):
        self.out, self.h, self.n = out, hashlib.sha256(), 0

    def writable(self):
        return True

    def write(self, b):
        self.h.update(b)
        self.n += len(b)
        if self.out is not None:
            self.out.write(b)
        return len(b)


def with_line(data, line):
    text = data.decode()
    if not text.endswith("\n"):
        text += "\n"
    return (text + line + "\n").encode()


def full_reference(name):
    """NAME as containerd stores it: docker.io/library/x:latest for "x"."""
    ref = name if ":" in name.rsplit("/", 1)[-1] else name + ":latest"
    first = ref.split("/", 1)[0]
    if "/" not in ref:
        return ref, "docker.io/library/" + ref
    if "." in first or ":" in first or first == "localhost":
        return ref, ref
    return ref, "docker.io/" + ref


def add_file(out, src, dest, mode):
    st = os.stat(src)
    m = tarfile.TarInfo("./" + dest.lstrip("/"))
    m.size, m.mode, m.mtime = st.st_size, mode, int(st.st_mtime)
    with open(src, "rb") as f:
        out.addfile(m, f)


def parent_dirs(paths):
    """The directories the added files need, outermost first."""
    dirs = set()
    for p in paths:
        parts = p.strip("/").split("/")[:-1]
        for i in range(1, len(parts) + 1):
            dirs.add("/".join(parts[:i]))
    return sorted(dirs, key=lambda d: (d.count("/"), d))


def write_layer(path, rootfs, adds, user):
    """The layer: gzip of a tar; its digest is of the gzip, its diff_id of the tar."""
    seen = set()
    with open(path, "wb") as f:
        compressed = Hashing(f)
        with gzip.GzipFile(fileobj=compressed, mode="wb", mtime=0, compresslevel=6) as gz:
            plain = Hashing(gz)
            with tarfile.open(fileobj=plain, mode="w|", format=tarfile.PAX_FORMAT) as out:
                if rootfs:
                    with tarfile.open(rootfs, "r|") as src:
                        for m in src:
                            if m.name.startswith("./dev/") and m.name != "./dev/":
                                continue
                            seen.add(m.name.lstrip("./").rstrip("/"))
                            data = src.extractfile(m).read() if m.isfile() else None
                            if user and m.name == "./etc/passwd":
                                data = with_line(data, "%s:x:%d:%d:%s:/tmp:/usr/sbin/nologin"
                                                 % (user[0], user[1], user[1], user[0]))
                            elif user and m.name == "./etc/group":
                                data = with_line(data, "%s:x:%d:" % (user[0], user[1]))
                            if data is not None:
                                m.size = len(data)
                                out.addfile(m, io.BytesIO(data))
                            else:
                                out.addfile(m)
                for d in parent_dirs([dest for _, dest, _ in adds]):
                    if d not in seen:
                        m = tarfile.TarInfo("./" + d)
                        m.type, m.mode = tarfile.DIRTYPE, 0o755
                        out.addfile(m)
                for src, dest, mode in adds:
                    add_file(out, src, dest, mode)
    return compressed, plain


def blob(obj):
    data = json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()
    return data, "sha256:" + hashlib.sha256(data).hexdigest()


def add_bytes(t, path, data):
    m = tarfile.TarInfo(path)
    m.size, m.mode, m.mtime = len(data), 0o644, 0
    t.addfile(m, io.BytesIO(data))


def parse_add(arg):
    parts = arg.split(":")
    if len(parts) not in (2, 3) or not parts[1].startswith("/"):
        raise argparse.ArgumentTypeError("--add wants SRC:/DEST[:MODE], got %r" % arg)
    mode = int(parts[2], 8) if len(parts) == 3 else 0o755
    return parts[0], parts[1], mode


def parse_user(arg):
    name, _, uid = arg.partition(":")
    if not name or not uid.isdigit():
        raise argparse.ArgumentTypeError("--user wants NAME:UID, got %r" % arg)
    return name, int(uid)


def main():
    ap = argparse.ArgumentParser(description="Write a one-layer OCI image archive.")
    ap.add_argument("--output", required=True)
    ap.add_argument("--name", required=True)
    ap.add_argument("--rootfs", help="root filesystem tar")
    ap.add_argument("--add", type=parse_add, action="append", default=[])
    ap.add_argument("--user", type=parse_user)
    ap.add_argument("--entrypoint", action="append", default=[])
    ap.add_argument("--port", type=int, action="append", default=[])
    ap.add_argument("--label", action="append", default=[])
    a = ap.parse_args()
    if a.user and not a.rootfs:
        ap.error("--user needs --rootfs (its /etc/passwd)")

    tmp_layer = a.output + ".layer.tmp"
    compressed, plain = write_layer(tmp_layer, a.rootfs, a.add, a.user)
    layer_digest = "sha256:" + compressed.h.hexdigest()
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    cfg = {
        "Entrypoint": a.entrypoint,
        "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        "WorkingDir": "/",
        "StopSignal": "SIGTERM",
        "Labels": dict(kv.split("=", 1) for kv in a.label),
    }
    if a.user:
        cfg["User"] = "%d:%d" % (a.user[1], a.user[1])
    if a.port:
        cfg["ExposedPorts"] = {"%d/tcp" % p: {} for p in a.port}
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": created,
        "config": cfg,
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + plain.h.hexdigest()]},
        "history": [{"created": created, "created_by": "scripts/oci.py"}],
    }
    config_data, config_digest = blob(config)
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_digest, "size": len(config_data)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": layer_digest, "size": compressed.n}],
    }
    manifest_data, manifest_digest = blob(manifest)
    ref, full = full_reference(a.name)
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "digest": manifest_digest, "size": len(manifest_data),
                       "annotations": {"io.containerd.image.name": full,
                                       "org.opencontainers.image.ref.name": ref.rsplit(":", 1)[1]}}],
    }
    docker_manifest = [{"Config": "blobs/sha256/" + config_digest[7:], "RepoTags": [ref],
                        "Layers": ["blobs/sha256/" + layer_digest[7:]]}]
    with tarfile.open(a.output + ".tmp", "w", format=tarfile.PAX_FORMAT) as t:
        add_bytes(t, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        add_bytes(t, "index.json", json.dumps(index, indent=1).encode())
        add_bytes(t, "manifest.json", json.dumps(docker_manifest, indent=1).encode())
        add_bytes(t, "blobs/sha256/" + config_digest[7:], config_data)
        add_bytes(t, "blobs/sha256/" + manifest_digest[7:], manifest_data)
        m = tarfile.TarInfo("blobs/sha256/" + layer_digest[7:])
        m.size, m.mode, m.mtime = compressed.n, 0o644, 0
        with open(tmp_layer, "rb") as f:
            t.addfile(m, f)
    os.unlink(tmp_layer)
    os.replace(a.output + ".tmp", a.output)
    print("oci.py: %s: %s (%s, layer %d KiB)" % (a.output, full, manifest_digest, compressed.n >> 10),
          file=sys.stderr)


if __name__ == "__main__":
    main()
