#!/bin/sh
# The install: the image (scripts/image.sh and the Dockerfile), deploy/*.yaml
# and the Helm chart (charts/portico), checked for real:
# - each image's layers are unpacked and Portico runs from them as its user,
#   on a read-only root, in file mode on examples/; containerd imports each;
#   the two images are compared (test_image.py). The Dockerfile is built with
#   BuildKit, without Docker or a registry (tests/deploy/dockerfile.sh);
# - every object of the manifests and of the chart's renderings is sent to
#   a real kube-apiserver with server-side dry run, and the RBAC rules are
#   compared with what Portico uses, then exercised by Portico itself with
#   the ServiceAccount's token (test_manifests.py, test_chart.py).
#
#   tests/deploy/run.sh [PYTEST-ARGS...]
#
# What needs the network is done first (helm, kube-apiserver, etcd and
# BuildKit built from Go modules, the root filesystems, the Dockerfile's
# cached steps: all cached in ${PORTICO_CACHE:-$HOME/.cache/portico}); then
# pytest runs inside a private network namespace, so every server the tests
# start is on its own loopback.
#
# Environment: PORTICO_IMAGE_BIN (the binary shipped in scripts/image.sh's
# image, default ./portico: a release build), PORTICO_BIN (the one run
# against the API server, default ./portico), PORTICO_DOCKERFILE_IMAGE (an
# archive of the Dockerfile's image to test instead of building one).
set -eu
cd "$(dirname "$0")/../.."

HELM=$(tests/deploy/helm.sh)
tests/cluster/cluster.sh build >&2

image_bin=${PORTICO_IMAGE_BIN:-$PWD/portico}
work=$(mktemp -d "${TMPDIR:-/tmp}/portico-deploy.XXXXXX")
trap 'rm -rf "$work"' EXIT
scripts/image.sh --binary "$image_bin" --output "$work/portico-image.tar"
if [ -z "${PORTICO_DOCKERFILE_IMAGE:-}" ]; then
    PORTICO_DOCKERFILE_IMAGE=$work/portico-dockerfile.tar
    tests/deploy/dockerfile.sh "$PORTICO_DOCKERFILE_IMAGE"
fi

export HELM PORTICO_IMAGE="$work/portico-image.tar" PORTICO_DOCKERFILE_IMAGE
export PORTICO_BIN="${PORTICO_BIN:-$PWD/portico}"
unshare -n sh -c '
    ip link set lo up
    exec python3 -m pytest -q -p no:cacheprovider tests/deploy "$@"
' sh "$@"
