#!/bin/sh
# Installs the Debian packages Portico needs: "build" for building and running,
# "test" for the whole test suite. Installs only what is missing.
set -eu

build_pkgs="gcc make pkg-config haproxy openssl libcurl4-openssl-dev libjansson-dev \
libyaml-dev libuv1-dev libssl-dev"
test_pkgs="$build_pkgs libcmocka-dev valgrind python3 python3-pytest curl iproute2"

case "${1:-build}" in
build) want=$build_pkgs ;;
test) want=$test_pkgs ;;
*) echo "usage: $0 build|test" >&2; exit 2 ;;
esac

missing=""
for p in $want; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
if [ -n "$missing" ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "missing Debian packages:$missing (run as root or install them)" >&2
        exit 1
    fi
    echo "installing:$missing"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
fi
# pytest from Debian is enough; a Python without it (pyenv) gets it from PyPI
if [ "${1:-build}" = test ] && ! python3 -c 'import pytest' 2>/dev/null; then
    python3 -m pip install -q pytest
fi
