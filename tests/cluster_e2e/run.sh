#!/bin/sh
# Portico against a real kube-apiserver and etcd. The API server refuses
# loopback endpoints, so everything (API servers, Portico, HAProxy, echo
# "pods" on 198.18.0.x, client) runs in a private network namespace. The
# binaries are built (or found in the cache) first: inside the namespace there
# is no route to the Go module proxy.
#
# Three pytest runs: the harness (tests/cluster), the cluster-mode tests
# (tests/cluster_e2e), and the end-to-end routing tests of tests/e2e again,
# each stack fed by its own API server instead of a directory
# (PORTICO_E2E_SOURCE=cluster; tests/e2e/cluster_source.py).
set -eu
cd "$(dirname "$0")/../.."
tests/cluster/cluster.sh build >&2
exec unshare -n sh -c '
    ip link set lo up
    for i in $(seq 1 16); do ip addr add 198.18.0.$i/32 dev lo; done
    # 5: a -k filter selected nothing in that run
    run() { python3 -m pytest -q -p no:cacheprovider "$@"; rc=$?; [ $rc = 0 ] || [ $rc = 5 ] || exit $rc; }
    run tests/cluster "$@"
    run tests/cluster_e2e "$@"
    export PORTICO_E2E_SOURCE=cluster
    run tests/e2e/test_paths.py tests/e2e/test_hosts.py \
        tests/e2e/test_class.py tests/e2e/test_backends.py tests/e2e/test_tls.py \
        tests/e2e/test_live.py "$@"
' sh "$@"
