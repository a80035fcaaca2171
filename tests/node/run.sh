#!/bin/sh
# doc/install.md's walk-through on a real one-node cluster (tests/node/node.sh):
# the image built by scripts/image.sh is loaded into the node's containerd,
# then pytest runs tests/node inside the node's namespaces, with kubectl
# and helm, as a user would. The node is removed at the end, pass or fail.
#
#   tests/node/run.sh [PYTEST-ARGS...]
#
# Environment: PORTICO_IMAGE_BIN (the binary shipped in the image, default
# ./portico: a release build); NODE_KEEP=1 keeps the node for a look
# afterwards (tests/node/node.sh down DIR removes it).
set -eu
cd "$(dirname "$0")/../.."

HELM=$(tests/deploy/helm.sh)
tests/node/node.sh build

work=$(mktemp -d "${TMPDIR:-/tmp}/portico-node.XXXXXX")
cleanup() {
    if [ "${NODE_KEEP:-0}" = 1 ]; then
        echo "node/run.sh: the node stays in $work/node" >&2
        return
    fi
    tests/node/node.sh down "$work/node" || true
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
scripts/image.sh --binary "${PORTICO_IMAGE_BIN:-$PWD/portico}" --output "$work/portico-image.tar"
tests/node/node.sh up "$work/node" >/dev/null
tests/node/node.sh load "$work/node" "$work/portico-image.tar"
rm -f "$work/portico-image.tar"
HELM=$HELM tests/node/node.sh exec "$work/node" \
    python3 -m pytest -q -p no:cacheprovider tests/node "$@"
