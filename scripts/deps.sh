#!/bin/sh
# Installs the Debian packages Portico needs: "build" for building and running,
# "test" for the whole test suite, "fuzz" for the libFuzzer targets in fuzz/
# (make fuzz), "bench" for the benchmarks in bench/ (wrk is bench/throughput.py's
# load generator). Installs only what is missing.
set -eu

# python3 runs the demo's echo backends
# dpkg-dev, libnghttp2-dev and zlib1g-dev build the static libcurl (scripts/curl.sh)
# libpcre2-dev: regexes in annotations are checked with the engine HAProxy uses
build_pkgs="gcc make pkg-config haproxy openssl python3 libcurl4-openssl-dev libjansson-dev \
libyaml-dev libuv1-dev libssl-dev dpkg-dev libnghttp2-dev zlib1g-dev libpcre2-dev"
# iproute2 and util-linux (unshare) build the cluster tests' network namespace
# mmdebstrap builds the image tests/deploy runs (scripts/image.sh); containerd imports it
# containerd, runc, the CNI plugins and iptables (kube-proxy) run the one-node
# cluster of tests/node
# clang-14 and its runtime libraries (libFuzzer, ASan, UBSan) build fuzz/
fuzz_pkgs="$build_pkgs clang-14 libclang-rt-14-dev"
test_pkgs="$fuzz_pkgs libcmocka-dev valgrind curl iproute2 util-linux mmdebstrap containerd \
runc containernetworking-plugins iptables"
bench_pkgs="$build_pkgs wrk"

case "${1:-build}" in
build) want=$build_pkgs ;;
test) want=$test_pkgs ;;
fuzz) want=$fuzz_pkgs ;;
bench) want=$bench_pkgs ;;
*) echo "usage: $0 build|test|fuzz|bench" >&2; exit 2 ;;
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
# The end-to-end tests need pytest, PyYAML and cryptography. Debian's packages
# serve the system Python; another python3 first on PATH gets them from PyPI.
if [ "${1:-build}" = test ] && ! python3 -c 'import pytest, yaml, cryptography' 2>/dev/null; then
    if [ "$(command -v python3)" = /usr/bin/python3 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            python3-pytest python3-yaml python3-cryptography
    else
        python3 -m pip install -q -r tests/e2e/requirements.txt
    fi
fi
