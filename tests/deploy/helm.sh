#!/bin/sh
# Prints the path of helm, built once from its Go module into the cache
# (${PORTICO_CACHE:-$HOME/.cache/portico}/helm-VERSION). Used by the deploy and
# node suites.
set -eu
cd "$(dirname "$0")/../.."

HELM_VERSION=v3.16.4
CACHE_ROOT=${PORTICO_CACHE:-${HOME:-/root}/.cache/portico}
HELM=$CACHE_ROOT/helm-$HELM_VERSION/helm

die() { echo "helm.sh: $*" >&2; exit 1; }

# find_go, go_env
. tests/cluster/go.sh

if [ ! -x "$HELM" ]; then
    go=$(find_go)
    mkdir -p "$CACHE_ROOT"
    echo "helm.sh: building helm $HELM_VERSION (a minute or two, once)" >&2
    (
        go_env
        v=helm.sh/helm/v3/internal/version
        GOBIN=$(dirname "$HELM") "$go" install -trimpath \
            -ldflags="-s -w -X $v.version=$HELM_VERSION" helm.sh/helm/v3/cmd/helm@"$HELM_VERSION"
    ) || die "helm build failed"
fi
echo "$HELM"
