#!/bin/sh
# Portico against a real kube-apiserver and etcd. The API server refuses
# loopback endpoints, so the whole test (API server, Portico, HAProxy, echo
# "pods" on 198.18.0.x, client) runs in a private network namespace. The
# binaries are built (or found in the cache) first: inside the namespace there
# is no route to the Go module proxy.
set -eu
cd "$(dirname "$0")/../.."
tests/cluster/cluster.sh build >&2
exec unshare -n sh -c '
    ip link set lo up
    for i in 2 3 4 5 6 7 8 9; do ip addr add 198.18.0.$i/32 dev lo; done
    python3 -m pytest -q -p no:cacheprovider tests/cluster "$@"
    rc=$?
    # 5: a -k filter selected nothing in the harness tests
    [ $rc = 0 ] || [ $rc = 5 ] || exit $rc
    exec python3 -m pytest -q -p no:cacheprovider tests/cluster_e2e "$@"
' sh "$@"
