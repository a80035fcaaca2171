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
#
#   tests/cluster_e2e/run.sh [PYTEST-ARGS...]   e.g. -k last_good
#
# The arguments go to each of the three runs. pytest exits 5 when a run
# collects no test: that passes only when the arguments select tests (-k, -m,
# --deselect) and at least one of the runs selected one; otherwise the run
# fails. A skipped test fails too, unless PORTICO_ALLOW_SKIP=1
# (tests/skip_policy.py).
set -eu
cd "$(dirname "$0")/../.."
selection=0
for arg in "$@"; do
    case $arg in
    -k* | -m* | --keyword* | --deselect*) selection=1 ;;
    esac
done
export PORTICO_SELECTION=$selection
tests/cluster/cluster.sh build >&2
exec unshare -n sh -c '
    ip link set lo up
    # pods 198.18.0.1-160 (test_under_load.py rolls 150 endpoints)
    for i in $(seq 1 160); do echo "addr add 198.18.0.$i/32 dev lo"; done | ip -batch -
    selected=0
    run() {
        python3 -m pytest -q -p no:cacheprovider "$@"
        rc=$?
        case $rc in
        0) selected=1 ;;
        5) if [ "$PORTICO_SELECTION" = 1 ]; then
               echo "run.sh: the selection matched no test in this run"
           else
               echo "run.sh: no test collected (pytest exit 5)" >&2
               exit 5
           fi ;;
        *) exit $rc ;;
        esac
    }
    run tests/cluster "$@"
    run tests/cluster_e2e "$@"
    export PORTICO_E2E_SOURCE=cluster
    run tests/e2e/test_paths.py tests/e2e/test_hosts.py \
        tests/e2e/test_class.py tests/e2e/test_backends.py tests/e2e/test_tls.py \
        tests/e2e/test_live.py tests/e2e/test_basic_auth.py tests/e2e/test_client_ca.py \
        tests/e2e/test_error_pages.py tests/e2e/test_tcp_services.py tests/e2e/test_server_tls.py \
        tests/e2e/test_under_load.py tests/e2e/test_spare_backends.py "$@"
    if [ "$selected" = 0 ]; then
        echo "run.sh: the selection ($*) matched no test in any run" >&2
        exit 5
    fi
' sh "$@"
