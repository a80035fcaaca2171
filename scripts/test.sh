#!/bin/sh
# Runs every test suite and ends with one summary line. Called by `make test`
# (after the dependencies are installed and ./portico is built).
#
# A test that did not run fails its suite: a golden case whose haproxy -c
# check was skipped (tests/golden/run.sh), a skipped or xfail pytest test
# (tests/skip_policy.py, listed with its reason at the end of the run).
# PORTICO_ALLOW_SKIP=1 lets them pass, still listed.
set -u
cd "$(dirname "$0")/.."

passed=0
failed=0
failed_names=""

suite() {
    name=$1
    shift
    echo
    echo "=== $name: $*"
    start=$(date +%s)
    if "$@"; then
        passed=$((passed + 1))
        echo "=== $name: ok ($(($(date +%s) - start)) s)"
    else
        failed=$((failed + 1))
        failed_names="$failed_names $name"
        echo "=== $name: FAILED ($(($(date +%s) - start)) s)"
    fi
}

valgrind_unit() {
    for t in build/tests/test_*; do
        [ -x "$t" ] || continue
        valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect \
            --error-exitcode=1 "$t" >/dev/null || { echo "valgrind: $t"; return 1; }
    done
}

suite checksrc scripts/checksrc.sh
suite docs scripts/gen-docs.sh --check
suite unit make -s unit
suite unit-valgrind valgrind_unit
suite unit-asan make -s SANITIZE=address,undefined unit
suite asan-build make -s SANITIZE=address,undefined build-san/portico
suite golden env PORTICO_BIN=build-san/portico tests/golden/run.sh
# thousands of hostile values in every field: refused, or read back exactly
suite security env PORTICO_BIN="$PWD/build-san/portico" tests/security/run.sh
# each fuzz target replays its regressions and seeds, then fuzzes 60 s (doc/fuzzing.md)
suite fuzz env FUZZ_SECONDS=60 FUZZ_JOBS=2 make -s fuzz
# the test build: ASan/UBSan, and PORTICO_FAULT_AT for the fault tests
suite e2e env PORTICO_BIN="$PWD/build-san/portico" python3 -m pytest -q -p no:cacheprovider tests/e2e
# a real kube-apiserver + etcd, built once into ~/.cache/portico (minutes the first time)
suite cluster env PORTICO_BIN="$PWD/build-san/portico" tests/cluster_e2e/run.sh
# the image (release build), deploy/*.yaml and charts/portico against a real API server
suite deploy env PORTICO_BIN="$PWD/build-san/portico" tests/deploy/run.sh
# doc/install.md's walk-through on a real one-node cluster (kubelet, containerd,
# kube-proxy): kubectl, Helm, traffic under load through the node ports
suite node tests/node/run.sh

echo
[ -n "$failed_names" ] && echo "failed suites:$failed_names"
echo "suites: $passed passed, $failed failed"
[ "$failed" = 0 ]
