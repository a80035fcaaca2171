#!/bin/sh
# Builds the Dockerfile for real, with BuildKit and without Docker or a
# registry, into an OCI image archive (as `docker build` would, then saved).
#
#   tests/deploy/dockerfile.sh OUTPUT.tar
#
# - buildkitd and buildctl are built once from their Go module into
#   ${PORTICO_CACHE:-$HOME/.cache/portico}/buildkit-VERSION (tests/cluster/go.sh);
# - debian:bookworm and debian:bookworm-slim cannot be pulled: mmdebstrap
#   makes them as debuerreotype makes Debian's official images (minbase, the
#   same sources, apt and dpkg settings; the slim one without docs, man pages
#   and translations), and scripts/oci.py turns each into an OCI layout,
#   cached in .../dockerfile/. The Dockerfile's FROM lines stay as they are:
#   they resolve to these as BuildKit named contexts;
# - buildkitd runs as root with the OCI worker (runc) and host networking
#   (apt-get reaches the mirror), in a mount namespace of its own so that its
#   mounts vanish with it, its state in .../dockerfile/buildkitd so that a
#   second run reuses the cached steps (apt-get, the static libcurl). It is
#   stopped at the end.
#
# Environment: PORTICO_CACHE, BUILDKIT_PROGRESS (buildctl's --progress:
# plain, tty...; unset, the build's log is shown only if it fails).
set -eu
cd "$(dirname "$0")/../.."

BUILDKIT_VERSION=v0.34.2
CACHE_ROOT=${PORTICO_CACHE:-${HOME:-/root}/.cache/portico}
BK_DIR=$CACHE_ROOT/buildkit-$BUILDKIT_VERSION
CACHE=$CACHE_ROOT/dockerfile
SUITE=bookworm
MIRROR=http://deb.debian.org/debian
# the sources of Debian's official images
SOURCES="deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb $MIRROR-security $SUITE-security main"

die() { echo "dockerfile.sh: $*" >&2; exit 1; }
log() { echo "dockerfile.sh: $*" >&2; }
now() { date +%s; }

[ $# = 1 ] || die "usage: $0 OUTPUT.tar"
case $1 in /*) output=$1 ;; *) output=$PWD/$1 ;; esac
[ "$(id -u)" = 0 ] || die "buildkitd runs as root here"
command -v runc >/dev/null 2>&1 || die "runc is missing (scripts/deps.sh test)"
command -v mmdebstrap >/dev/null 2>&1 || die "mmdebstrap is missing (scripts/deps.sh test)"

# find_go, go_env
# shellcheck disable=SC1091
. tests/cluster/go.sh

mkdir -p "$CACHE"
# one build at a time per cache: buildkitd's state is shared
exec 9>"$CACHE/.lock"
flock 9

t0=$(now)
if [ ! -x "$BK_DIR/buildkitd" ] || [ ! -x "$BK_DIR/buildctl" ]; then
    go=$(find_go)
    log "building buildkitd and buildctl $BUILDKIT_VERSION (a few minutes, once)"
    (
        go_env
        # go install refuses a module whose go.mod has exclude directives:
        # build in its downloaded source instead
        src=$("$go" mod download -json "github.com/moby/buildkit@$BUILDKIT_VERSION" |
            sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
        [ -d "$src" ] || exit 1
        cd "$src"
        "$go" build -trimpath -o "$BK_DIR.tmp/" \
            -ldflags="-s -w -X github.com/moby/buildkit/version.Version=$BUILDKIT_VERSION" \
            ./cmd/buildkitd ./cmd/buildctl
    ) || { rm -rf "$BK_DIR.tmp"; die "buildkit build failed"; }
    rm -rf "$BK_DIR" && mv "$BK_DIR.tmp" "$BK_DIR"
    log "buildkit built in $(($(now) - t0)) s"
fi

# The files debuerreotype adds to Debian's official images (policy-rc.d, the
# apt and dpkg settings for image builds, the deb822 sources), for the
# Dockerfile to meet what it meets on Docker Hub's debian:bookworm.
official_files() {
    mkdir -p "$1/usr/sbin" "$1/etc/dpkg/dpkg.cfg.d" "$1/etc/apt/apt.conf.d" \
        "$1/etc/apt/sources.list.d"
    printf '#!/bin/sh\nexit 101\n' > "$1/usr/sbin/policy-rc.d"
    chmod 0755 "$1/usr/sbin/policy-rc.d"
    echo force-unsafe-io > "$1/etc/dpkg/dpkg.cfg.d/docker-apt-speedup"
    echo 'Apt::AutoRemove::SuggestsImportant "false";' \
        > "$1/etc/apt/apt.conf.d/docker-autoremove-suggests"
    clean='"rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true";'
    printf '%s\n' "DPkg::Post-Invoke { $clean };" "APT::Update::Post-Invoke { $clean };" \
        'Dir::Cache::pkgcache "";' 'Dir::Cache::srcpkgcache "";' \
        > "$1/etc/apt/apt.conf.d/docker-clean"
    echo 'Acquire::GzipIndexes "true";' > "$1/etc/apt/apt.conf.d/docker-gzip-indexes"
    echo 'Acquire::Languages "none";' > "$1/etc/apt/apt.conf.d/docker-no-languages"
    k=/usr/share/keyrings/debian-archive-keyring.gpg
    printf '%s\n' "Types: deb" "URIs: $MIRROR" "Suites: $SUITE $SUITE-updates" \
        "Components: main" "Signed-By: $k" "" "Types: deb" "URIs: $MIRROR-security" \
        "Suites: $SUITE-security" "Components: main" "Signed-By: $k" \
        > "$1/etc/apt/sources.list.d/debian.sources"
}

# and what debuerreotype-slimify keeps out of the -slim images
slim_excludes() {
    printf 'path-exclude=%s\n' '/usr/share/doc/*' '/usr/share/info/*' '/usr/share/linda/*' \
        '/usr/share/lintian/overrides/*' '/usr/share/locale/*' '/usr/share/man/*' \
        '/usr/share/doc/kde/HTML/*/*' '/usr/share/gnome/help/*/*' '/usr/share/omf/*/*-*.emf'
    printf 'path-include=%s\n' '/usr/share/doc/*/copyright' '/usr/share/doc/kde/HTML/C/*' \
        '/usr/share/gnome/help/*/C/*' '/usr/share/locale/all_languages' \
        '/usr/share/locale/currency/*' '/usr/share/locale/l10n/*' '/usr/share/locale/languages' \
        '/usr/share/locale/locale.alias' '/usr/share/omf/*/*-C.emf'
}

# base NAME: an OCI layout of debian:NAME (minbase, as debuerreotype makes
# the official images), made once; sets dir and digest (its manifest's).
base() {
    name=$1
    files=$(mktemp -d "${TMPDIR:-/tmp}/portico-base.XXXXXX")
    official_files "$files/root"
    # mmdebstrap's own policy-rc.d would replace debuerreotype's at its end;
    # $1 of a hook is the root mmdebstrap makes
    # shellcheck disable=SC2016
    set -- --variant=minbase --format=tar --skip=chroot/policy-rc.d \
        --customize-hook='rm -f "$1/etc/apt/sources.list"' --customize-hook="sync-in $files/root /"
    case $name in
    *-slim)
        slim_excludes > "$files/dpkg.cfg"
        set -- "$@" --dpkgopt="$files/dpkg.cfg"
        ;;
    esac
    # keyed by what makes it
    key=$( (printf '%s\n' "$SUITE" "$SOURCES" "$@" | sed "s|$files|FILES|g"
        cd "$files" && find . -type f | LC_ALL=C sort | xargs cat) | sha256sum | cut -c1-16)
    dir=$CACHE/$name-$key
    if [ ! -f "$dir/index.json" ]; then
        log "debian:$name: mmdebstrap (a minute or two, once)"
        rm -rf "$dir" "$dir.tmp" && mkdir -p "$dir.tmp"
        # shellcheck disable=SC2015 # the || is for any failure
        mmdebstrap --quiet "$@" "$SUITE" "$dir.tmp/rootfs.tar" "$SOURCES" >&2 &&
            python3 scripts/oci.py --output "$dir.tmp/image.tar" --name "debian:$name" \
                --rootfs "$dir.tmp/rootfs.tar" 2>/dev/null &&
            tar -xf "$dir.tmp/image.tar" -C "$dir.tmp" ||
            { rm -rf "$dir.tmp" "$files"; die "debian:$name: mmdebstrap or oci.py failed"; }
        rm -f "$dir.tmp/image.tar" "$dir.tmp/rootfs.tar"
        mv "$dir.tmp" "$dir"
    fi
    rm -rf "$files"
    digest=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["manifests"][0]["digest"])' \
        "$dir/index.json") || die "$dir/index.json: no manifest"
}

base "$SUITE"
full_dir=$dir full_digest=$digest
base "$SUITE-slim"
slim_dir=$dir slim_digest=$digest

# buildkitd: its socket, config and logs in a temporary directory
run=$(mktemp -d "${TMPDIR:-/tmp}/portico-buildkit.XXXXXX")
pid=""
stop() {
    if [ -n "$pid" ]; then
        kill -TERM "$pid" 2>/dev/null || true
        i=0
        while kill -0 "$pid" 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    rm -rf "$run"
}
trap stop EXIT
trap 'exit 1' HUP INT TERM
cat > "$run/buildkitd.toml" <<EOF
root = "$CACHE/buildkitd"
[grpc]
  address = ["unix://$run/buildkitd.sock"]
[otel]
  socketPath = "$run/otel-grpc.sock"
[worker.containerd]
  enabled = false
[worker.oci]
  enabled = true
  binary = "$(command -v runc)"
  networkMode = "host"
  # what a second run reuses (the apt-get steps, the static libcurl, the
  # base images: about 1 GB), not much more
  reservedSpace = "1500MB"
  maxUsedSpace = "3GB"
EOF
# unshare -m execs buildkitd: $pid is buildkitd's; it does not hold the lock
unshare -m --propagation private "$BK_DIR/buildkitd" --config "$run/buildkitd.toml" \
    > "$run/buildkitd.log" 2>&1 9>&- &
pid=$!
buildctl() { "$BK_DIR/buildctl" --addr "unix://$run/buildkitd.sock" "$@"; }
i=0
until buildctl debug workers >/dev/null 2>&1; do
    kill -0 "$pid" 2>/dev/null || { cat "$run/buildkitd.log" >&2; die "buildkitd exited"; }
    [ $i -lt 300 ] || { cat "$run/buildkitd.log" >&2; die "buildkitd did not answer"; }
    sleep 0.1
    i=$((i + 1))
done

t1=$(now)
log "building the Dockerfile (BuildKit $BUILDKIT_VERSION)"
rm -f "$output.tmp"
# buildctl's progress: shown live with BUILDKIT_PROGRESS, else only on failure
progress=$run/progress.log
[ -z "${BUILDKIT_PROGRESS:-}" ] || progress=/dev/stderr
if ! buildctl build --progress="${BUILDKIT_PROGRESS:-plain}" --frontend dockerfile.v0 \
    --local context=. --local dockerfile=. \
    --oci-layout "bookworm=$full_dir" --oci-layout "bookworm-slim=$slim_dir" \
    --opt "context:debian:$SUITE=oci-layout://bookworm@$full_digest" \
    --opt "context:debian:$SUITE-slim=oci-layout://bookworm-slim@$slim_digest" \
    --output "type=oci,dest=$output.tmp,name=docker.io/library/portico:latest" \
    > "$progress" 2>&1; then
    [ -f "$run/progress.log" ] && tail -n 100 "$run/progress.log" >&2
    tail -n 30 "$run/buildkitd.log" >&2
    rm -f "$output.tmp"
    die "the Dockerfile's build failed"
fi
mv -f "$output.tmp" "$output"
cached=""
if [ -f "$run/progress.log" ]; then
    # grep -c fails when it counts 0
    cached=", $(grep -c '^#[0-9]* CACHED' "$run/progress.log" || true) steps cached"
fi
log "$output: built in $(($(now) - t1)) s$cached ($(($(now) - t0)) s in all)"
