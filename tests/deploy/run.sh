#!/bin/sh
# The install: the image (scripts/image.sh), deploy/*.yaml and the Helm chart
# (charts/portico), checked for real:
# - the image's layer is unpacked and Portico runs from it as its user, on
#   a read-only root, in file mode on examples/ (test_image.py);
# - every object of the manifests and of the chart's renderings is sent to
#   a real kube-apiserver with server-side dry run, and the RBAC rules are
#   compared with what Portico uses, then exercised by Portico itself with
#   the ServiceAccount's token (test_manifests.py, test_chart.py).
#
#   tests/deploy/run.sh [PYTEST-ARGS...]
#
# What needs the network is done first (helm, kube-apiserver and etcd built
# from Go modules, the image's root filesystem: all cached in
# ${PORTICO_CACHE:-$HOME/.cache/portico}); then pytest runs inside a private
# network namespace, so every server the tests start is on its own loopback.
#
# Environment: PORTICO_IMAGE_BIN (the binary shipped in the image, default
# ./portico: a release build), PORTICO_BIN (the one run against the API
# server, default ./portico).
set -eu
cd "$(dirname "$0")/../.."

HELM=$(tests/deploy/helm.sh)
tests/cluster/cluster.sh build >&2

image_bin=${PORTICO_IMAGE_BIN:-$PWD/portico}
work=$(mktemp -d "${TMPDIR:-/tmp}/portico-deploy.XXXXXX")
trap 'rm -rf "$work"' EXIT
scripts/image.sh --binary "$image_bin" --output "$work/portico-image.tar"

export HELM PORTICO_IMAGE="$work/portico-image.tar"
export PORTICO_BIN="${PORTICO_BIN:-$PWD/portico}"
unshare -n sh -c '
    ip link set lo up
    exec python3 -m pytest -q -p no:cacheprovider tests/deploy "$@"
' sh "$@"
