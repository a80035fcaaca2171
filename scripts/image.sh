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
python3 scripts/oci.py --output "$output" --name "$name" --rootfs "$rootfs" \
    --add "$stripped:/usr/local/bin/portico:0755" --user "portico:$UID_GID" \
    --entrypoint /usr/local/bin/portico --port 8080 --port 8443 --port 1024 --port 1042 \
    --port 6060 --label org.opencontainers.image.title=portico \
    --label "org.opencontainers.image.version=$version"

if [ "$load" = 1 ]; then
    command -v ctr >/dev/null 2>&1 || die "--load: ctr not found (containerd)"
    ctr -n k8s.io images import "$output"
fi
