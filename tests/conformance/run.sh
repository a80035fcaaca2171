#!/bin/sh
# The official Kubernetes Ingress conformance suite
# (kubernetes-sigs/ingress-controller-conformance, Go + godog) against
# Portico installed with deploy/portico.yaml on a real one-node cluster
# (tests/node/node.sh). Prints the result per feature and scenario; the node
# is removed at the end, pass or fail. About 17 minutes.
#
#   tests/conformance/run.sh [SUITE-FLAGS...]      (make conformance)
#
# SUITE-FLAGS go to the suite's test binary after ours, e.g.
# --tags='~@release-1.19' or --enable-http-debug.
#
# The suite's source: the Go module sigs.k8s.io/ingress-controller-conformance
# at CONFORMANCE_VERSION (go mod download), or the tree in CONFORMANCE_SRC
# (a checkout of the repository). Its test binary and its echoserver image
# are built once into ${PORTICO_CACHE:-$HOME/.cache/portico}/conformance/KEY,
# KEY from that version or tree, the Go version and scripts/oci.py.
#
# Environment: CONFORMANCE_SRC, CONFORMANCE_VERSION, CONFORMANCE_OUT (the
# reports and logs, default build/conformance), PORTICO_IMAGE_BIN (the
# binary shipped in Portico's image, default ./portico), NODE_KEEP=1 keeps
# the node for a look afterwards (tests/node/node.sh down DIR removes it).
# Exit status: 0 when every scenario passed, 1 otherwise.
set -eu
cd "$(dirname "$0")/../.."
ROOT=$PWD

MODULE=sigs.k8s.io/ingress-controller-conformance
# the repository's last commit (f91a799, 2021-04-27); it has no release tag
VERSION=${CONFORMANCE_VERSION:-v0.0.0-20210427175938-f91a7996369a}
CACHE_ROOT=${PORTICO_CACHE:-${HOME:-/root}/.cache/portico}
OUT=${CONFORMANCE_OUT:-build/conformance}

die() { echo "conformance: $*" >&2; exit 1; }
log() { echo "conformance: $*" >&2; }
now() { date +%s; }

# find_go, go_env
# shellcheck disable=SC1091
. tests/cluster/go.sh
go=$(find_go)
go_env

t0=$(now)
tests/node/node.sh build

# ----------------------------------------------------------------------------- the suite

if [ -n "${CONFORMANCE_SRC:-}" ]; then
    src=$(cd "$CONFORMANCE_SRC" && pwd)
    grep -q "^module $MODULE\$" "$src/go.mod" 2>/dev/null ||
        die "CONFORMANCE_SRC=$src: not the source of $MODULE"
    what=tree-$(cd "$src" && find . -name .git -prune -o -type f -exec sha256sum {} + |
        LC_ALL=C sort -k2 | sha256sum | cut -c1-16)
else
    what=$VERSION
fi
key=$(printf '%s\n%s\n%s\n' "$what" "$("$go" version)" "$(sha256sum <scripts/oci.py)" |
    sha256sum | cut -c1-12)
suite=$CACHE_ROOT/conformance/$key
mkdir -p "$CACHE_ROOT/conformance"
# one build at a time per cache; a finished one is reused without the lock
if [ ! -f "$suite/done" ]; then
    exec 9>"$CACHE_ROOT/conformance/.lock"
    flock 9
fi
if [ ! -f "$suite/done" ]; then
    log "building the suite ($what) into $suite"
    rm -rf "$suite"
    mkdir -p "$suite"
    if [ -z "${CONFORMANCE_SRC:-}" ]; then
        # outside any module: go.mod here would pin nothing
        json=$(cd "$suite" && "$go" mod download -json "$MODULE@$VERSION") ||
            die "go mod download $MODULE@$VERSION failed: $json
(set CONFORMANCE_SRC to a checkout of kubernetes-sigs/ingress-controller-conformance)"
        src=$(echo "$json" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')
        [ -d "$src" ] || die "go mod download gave no directory: $json"
    fi
    # a writable copy: the module cache is read-only, and the binary needs
    # the tree (features/*.feature) as its working directory
    cp -R "$src" "$suite/src"
    rm -rf "$suite/src/.git"
    chmod -R u+w "$suite/src"
    # as the suite's Makefile builds it; its pinned modules, unmodified
    (cd "$suite/src" && "$go" test -c -trimpath -ldflags='-buildid= -w' \
        -o "$suite/conformance.test" .) || die "the suite does not build"
    (cd "$suite/src" && "$go" build -trimpath -ldflags='-buildid= -s -w' \
        -o "$suite/echoserver" ./images/echoserver) || die "the echoserver does not build"
    # the suite names its echoserver by tag and digest: one reference for both
    ref=$(sed -n 's/^const EchoContainer = "\(.*\)"$/\1/p' "$suite/src/test/kubernetes/deployment.go")
    case $ref in *:*@sha256:*) ;; *) die "no EchoContainer reference in test/kubernetes/deployment.go" ;; esac
    echo "$ref" >"$suite/echo-ref"
    python3 scripts/oci.py --output "$suite/echoserver.tar" --name "${ref%@*}" \
        --add "$suite/echoserver:/echoserver" --entrypoint /echoserver --port 3000
    touch "$suite/done"
fi
exec 9>&-
ref=$(cat "$suite/echo-ref")
tagged=${ref%@*}               # name:tag, what the archive holds
by_digest=${tagged%:*}@${ref#*@} # name@sha256:..., what the pods' reference resolves to

# ----------------------------------------------------------------------------- the node

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
rm -rf "$OUT/reports" "$OUT"/*.log "$OUT/summary.txt"
mkdir -p "$OUT/reports"
work=$(mktemp -d "${TMPDIR:-/tmp}/portico-conf.XXXXXX")
work=$(cd "$work" && pwd)
cleanup() {
    if [ "${NODE_KEEP:-0}" = 1 ]; then
        log "the node stays in $work/node"
        return
    fi
    tests/node/node.sh down "$work/node" || true
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
in_node() { "$ROOT/tests/node/node.sh" exec "$work/node" "$@"; }

scripts/image.sh --binary "${PORTICO_IMAGE_BIN:-$ROOT/portico}" --output "$work/portico-image.tar"
tests/node/node.sh up "$work/node" >/dev/null
tests/node/node.sh load "$work/node" "$work/portico-image.tar" "$suite/echoserver.tar" >/dev/null
rm -f "$work/portico-image.tar"
# No registry: the pods find the image locally under the digest they ask for.
# shellcheck disable=SC2016 # CONTAINERD_ADDRESS is the node's
in_node sh -c 'ctr --address "$CONTAINERD_ADDRESS" -n k8s.io images tag --force "$1" "$2"' \
    sh "$tagged" "$by_digest" >/dev/null

in_node kubectl apply -f deploy/portico.yaml >/dev/null
in_node kubectl -n portico rollout status deploy/portico --timeout=180s >/dev/null ||
    die "Portico is not Ready: $(in_node kubectl -n portico get pods -o wide 2>&1)"
log "Portico Ready after $(($(now) - t0)) s"

# ----------------------------------------------------------------------------- the run

# The suite names the IngressClass in each Ingress (--ingress-class, default
# "conformance"): deploy/portico.yaml's class is "portico". One JSON report
# per feature (cucumber format); its working directory must be the tree.
log "running the suite (about 17 minutes); log: $OUT/suite.log"
t1=$(now)
rc=0
(cd "$suite/src" && in_node "$suite/conformance.test" -test.timeout=90m \
    --ingress-class=portico --format=cucumber --output-directory="$OUT/reports" \
    --no-colors "$@") >"$OUT/suite.log" 2>&1 || rc=$?
log "the suite ran $(($(now) - t1)) s (exit $rc)"

in_node kubectl logs -n portico deploy/portico >"$OUT/portico.log" 2>&1 || true
in_node kubectl get events -A --sort-by=.lastTimestamp >"$OUT/events.log" 2>&1 || true
rep=0
python3 tests/conformance/report.py "$OUT/reports" >"$OUT/summary.txt" || rep=$?
cat "$OUT/summary.txt"
# a report that says all passed while the binary failed is no pass
if [ "$rc" -ne 0 ] || [ "$rep" -ne 0 ]; then
    grep -v 'Endpoints is deprecated' "$OUT/suite.log" | tail -n 20 >&2
    log "failed after $(($(now) - t0)) s; reports and logs in $OUT"
    exit 1
fi
log "done in $(($(now) - t0)) s; reports and logs in $OUT"
