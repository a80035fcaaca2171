#!/bin/sh
# Builds Portico's container image without Docker or a registry: the same
# image as the Dockerfile (Debian bookworm, Debian's haproxy, the libraries
# the binary links, user portico 1000:1000, Portico as PID 1), written as an
# OCI image archive that `ctr -n k8s.io images import` (and `docker load`,
# `podman load`) can load.
#
#   scripts/image.sh [--binary PATH] [--output FILE] [--name NAME] [--load]
#
#   --binary PATH   the Portico binary to ship (default ./portico; build it
#                   with `make`; it is shipped stripped). A sanitizer
#                   build is refused.
#   --output FILE   the archive (default build/portico-image.tar)
#   --name NAME     the image's name (default portico:latest, stored as
#                   docker.io/library/portico:latest, which is what a pod's
#                   `image: portico:latest` asks the container runtime for)
#   --load          then run `ctr -n k8s.io images import FILE`
#
# How: mmdebstrap (installed with apt-get when missing) makes a bookworm
# root filesystem with haproxy, ca-certificates and the Debian packages that
# own the libraries `ldd` names for the binary. It is cached in
# ${PORTICO_CACHE:-$HOME/.cache/portico}/image/, keyed by that package list,
# so a second run only writes the layer (seconds). The image has one layer:
# that root filesystem without /dev's device nodes, plus /usr/local/bin/portico
# and the user portico in /etc/passwd and /etc/group.
#
# Environment: PORTICO_CACHE, IMAGE_MIRROR (default the machine's own
# Debian mirror, as mmdebstrap picks it).
set -eu

cd "$(dirname "$0")/.."
binary=./portico
output=build/portico-image.tar
name=portico:latest
load=0
while [ $# -gt 0 ]; do
    case $1 in
    --binary) binary=$2; shift 2 ;;
    --binary=*) binary=${1#*=}; shift ;;
    --output) output=$2; shift 2 ;;
    --output=*) output=${1#*=}; shift ;;
    --name) name=$2; shift 2 ;;
    --name=*) name=${1#*=}; shift ;;
    --load) load=1; shift ;;
    -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "image.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

die() { echo "image.sh: $*" >&2; exit 1; }
log() { echo "image.sh: $*" >&2; }

SUITE=bookworm
UID_GID=1000
cache=${PORTICO_CACHE:-${HOME:-/root}/.cache/portico}/image

[ -x "$binary" ] || die "$binary not found or not executable (run make first)"
libs=$(ldd "$binary") || die "ldd $binary failed: not a dynamic executable?"
case $libs in
*libasan* | *libubsan* | *libtsan*) die "$binary is a sanitizer build; ship a release build" ;;
esac

# The packages that own the binary's libraries: what the runtime needs, as
# the Dockerfile's build stage finds them.
pkgs="haproxy ca-certificates"
paths=$(echo "$libs" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }')
candidates=""
for lib in $paths; do
    candidates="$candidates $lib /usr$lib $(realpath "$lib")"
done
# one dpkg -S for all (each call reads the whole database); lines "pkg:arch: path"
# shellcheck disable=SC2086
owners=$(dpkg -S $candidates 2>/dev/null || true)
for lib in $paths; do
    owner=$(echo "$owners" | awk -v a="$lib" -v b="/usr$lib" -v c="$(realpath "$lib")" \
        '$2 == a || $2 == b || $2 == c { sub(/:.*/, "", $1); print $1; exit }')
    [ -n "$owner" ] || die "no Debian package owns $lib"
    pkgs="$pkgs $owner"
done
pkgs=$(echo "$pkgs" | tr ' ' '\n' | sort -u | tr '\n' ' ' | sed 's/ $//')

# Documentation, man pages and translations are left out of the image.
mmopts="--variant=essential --format=tar --dpkgopt=path-exclude=/usr/share/man/*
    --dpkgopt=path-exclude=/usr/share/doc/* --dpkgopt=path-exclude=/usr/share/locale/*
    --dpkgopt=path-exclude=/usr/share/info/*"
key=$(printf '%s\n%s\n%s\n%s\n' "$SUITE" "$pkgs" "$mmopts" "${IMAGE_MIRROR:-}" | sha256sum | cut -c1-16)
rootfs=$cache/rootfs-$SUITE-$key.tar

mkdir -p "$cache" "$(dirname "$output")"
if [ ! -f "$rootfs" ]; then
    exec 9>"$cache/.lock"
    flock 9
fi
if [ ! -f "$rootfs" ]; then
    if ! command -v mmdebstrap >/dev/null 2>&1; then
        [ "$(id -u)" = 0 ] || die "mmdebstrap is missing (apt-get install mmdebstrap)"
        log "installing mmdebstrap"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mmdebstrap >&2
    fi
    log "root filesystem: $SUITE with $pkgs (a few minutes, once)"
    include=$(echo "$pkgs" | tr ' ' ',')
    # shellcheck disable=SC2086
    mmdebstrap --quiet $mmopts --include="$include" "$SUITE" "$rootfs.tmp" ${IMAGE_MIRROR:-} >&2 ||
        { rm -f "$rootfs.tmp"; die "mmdebstrap failed"; }
    mv -f "$rootfs.tmp" "$rootfs"
fi
exec 9>&-
log "root filesystem $rootfs"

version=$("$binary" version 2>/dev/null | head -n 1 || true)
# shipped stripped, as the Dockerfile does
stripped=$output.portico.tmp
cp "$binary" "$stripped"
strip "$stripped" 2>/dev/null || log "strip not found: the binary keeps its symbols"
trap 'rm -f "$stripped"' EXIT
python3 - "$rootfs" "$stripped" "$output" "$name" "$UID_GID" "$version" <<'EOF'
import gzip, hashlib, io, json, os, sys, tarfile, time

rootfs, binary, output, name, uid, version = sys.argv[1:]
uid = int(uid)
ports = [8080, 8443, 1024, 1042, 6060]


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


def user_line(member_data, line):
    text = member_data.decode()
    if not text.endswith("\n"):
        text += "\n"
    return (text + line + "\n").encode()


# The layer: gzip of a tar; its digest is of the gzip, its diff_id of the tar.
tmp_layer = output + ".layer.tmp"
with open(tmp_layer, "wb") as f:
    compressed = Hashing(f)
    with gzip.GzipFile(fileobj=compressed, mode="wb", mtime=0, compresslevel=6) as gz:
        plain = Hashing(gz)
        with tarfile.open(fileobj=plain, mode="w|", format=tarfile.PAX_FORMAT) as out, \
                tarfile.open(rootfs, "r|") as src:
            for m in src:
                if m.name.startswith("./dev/") and m.name != "./dev/":
                    continue  # the container runtime makes /dev
                data = src.extractfile(m).read() if m.isfile() else None
                if m.name == "./etc/passwd":
                    data = user_line(data, f"portico:x:{uid}:{uid}:Portico:/tmp:/usr/sbin/nologin")
                elif m.name == "./etc/group":
                    data = user_line(data, f"portico:x:{uid}:")
                if data is not None:
                    m.size = len(data)
                    out.addfile(m, io.BytesIO(data))
                else:
                    out.addfile(m)
            st = os.stat(binary)
            m = tarfile.TarInfo("./usr/local/bin/portico")
            m.size, m.mode, m.mtime = st.st_size, 0o755, int(st.st_mtime)
            with open(binary, "rb") as b:
                out.addfile(m, b)

layer_digest = "sha256:" + compressed.h.hexdigest()
diff_id = "sha256:" + plain.h.hexdigest()
created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

config = {
    "architecture": "amd64",
    "os": "linux",
    "created": created,
    "config": {
        "User": f"{uid}:{uid}",
        "Entrypoint": ["/usr/local/bin/portico"],
        "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        "WorkingDir": "/",
        "ExposedPorts": {f"{p}/tcp": {} for p in ports},
        "StopSignal": "SIGTERM",
        "Labels": {"org.opencontainers.image.title": "portico",
                   "org.opencontainers.image.version": version},
    },
    "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    "history": [{"created": created, "created_by": "scripts/image.sh"}],
}


def blob(obj):
    data = json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()
    return data, "sha256:" + hashlib.sha256(data).hexdigest()


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

# docker.io/library/portico:latest for "portico:latest", as the runtimes name it
ref = name if ":" in name.rsplit("/", 1)[-1] else name + ":latest"
first = ref.split("/", 1)[0]
if "/" not in ref:
    full = "docker.io/library/" + ref
elif "." in first or ":" in first or first == "localhost":
    full = ref
else:
    full = "docker.io/" + ref
tag = ref.rsplit(":", 1)[1]
index = {
    "schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.index.v1+json",
    "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                   "digest": manifest_digest, "size": len(manifest_data),
                   "annotations": {"io.containerd.image.name": full,
                                   "org.opencontainers.image.ref.name": tag}}],
}
# docker load reads manifest.json
docker_manifest = [{"Config": "blobs/sha256/" + config_digest[7:], "RepoTags": [ref],
                    "Layers": ["blobs/sha256/" + layer_digest[7:]]}]


def add_bytes(t, path, data):
    m = tarfile.TarInfo(path)
    m.size, m.mode, m.mtime = len(data), 0o644, 0
    t.addfile(m, io.BytesIO(data))


with tarfile.open(output + ".tmp", "w", format=tarfile.PAX_FORMAT) as t:
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
os.replace(output + ".tmp", output)
print(f"image.sh: {output}: {full} ({manifest_digest}, layer {compressed.n >> 20} MiB)",
      file=sys.stderr)
EOF

if [ "$load" = 1 ]; then
    command -v ctr >/dev/null 2>&1 || die "--load: ctr not found (containerd)"
    ctr -n k8s.io images import "$output"
fi
