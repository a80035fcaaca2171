#!/bin/sh
# Builds the node components of a one-node Kubernetes cluster into the cache:
# kube-controller-manager, kube-scheduler, kubelet, kube-proxy and kubectl,
# v1.34.4, from the k8s.io/kubernetes Go module (staging modules replaced by
# their published v0.34.4, as tests/cluster/cluster.sh builds kube-apiserver).
# Prints NAME=PATH for each. Builds only what is missing; one build at a time
# per cache (flock).
set -eu

K8S_VERSION=v1.34.4
STAGING_VERSION=v0.34.4
HERE=$(cd "$(dirname "$0")" && pwd)
CACHE_ROOT=${PORTICO_CACHE:-${HOME:-/root}/.cache/portico}
K8S_DIR=$CACHE_ROOT/k8s-$K8S_VERSION
CMDS="kube-controller-manager kube-scheduler kubelet kube-proxy kubectl"

die() { echo "node/build.sh: $*" >&2; exit 1; }
log() { echo "node/build.sh: $*" >&2; }

# find_go, go_env
. "$HERE/../cluster/go.sh"

paths() {
	for c in $CMDS; do
		echo "$(echo "$c" | tr a-z- A-Z_)=$K8S_DIR/$c"
	done
}

missing() {
	for c in $CMDS; do
		[ -x "$K8S_DIR/$c" ] || return 0
	done
	return 1
}

cmd_source() {
	case $1 in
	kubectl) echo k8s.io/kubernetes/cmd/kubectl ;;
	*) echo "k8s.io/kubernetes/cmd/$1" ;;
	esac
}

build() {
	go=$1
	src=$K8S_DIR/node-src
	rm -rf "$src"
	mkdir -p "$src"
	cd "$src"
	printf 'module portico.test/k8s-node\n\ngo 1.24.0\n' >go.mod
	log "resolving k8s.io/kubernetes@$K8S_VERSION"
	"$go" mod download k8s.io/kubernetes@"$K8S_VERSION"
	kmod=$GOMODCACHE/cache/download/k8s.io/kubernetes/@v/$K8S_VERSION.mod
	[ -f "$kmod" ] || die "$kmod not found after download"
	staged=$(awk '$2 == "=>" && $3 ~ /^\.\/staging\// { print $1 }' "$kmod")
	[ -n "$staged" ] || die "no staging replaces found in $kmod"
	set -- -require=k8s.io/kubernetes@"$K8S_VERSION"
	for c in $CMDS; do
		set -- "$@" -tool="$(cmd_source "$c")"
	done
	for m in $staged; do
		set -- "$@" -replace="$m=$m@$STAGING_VERSION"
	done
	"$go" mod edit "$@"
	log "go mod tidy"
	"$go" mod tidy
	v=k8s.io/component-base/version
	ld="-s -w -X $v.gitVersion=$K8S_VERSION -X $v.gitMajor=1 -X $v.gitMinor=34"
	ld="$ld -X $v.gitTreeState=clean -X $v.buildDate=1970-01-01T00:00:00Z"
	for c in $CMDS; do
		[ -x "$K8S_DIR/$c" ] && continue
		log "go build $c"
		t0=$(date +%s)
		"$go" build -trimpath -ldflags="$ld" -o "$K8S_DIR/$c.tmp" "$(cmd_source "$c")"
		mv -f "$K8S_DIR/$c.tmp" "$K8S_DIR/$c"
		log "$c built in $(($(date +%s) - t0)) s"
	done
}

if missing; then
	if command -v flock >/dev/null 2>&1 && [ -z "${NODE_BUILD_LOCKED:-}" ]; then
		mkdir -p "$CACHE_ROOT"
		NODE_BUILD_LOCKED=1 exec flock "$CACHE_ROOT/.build.lock" "$0" "$@"
	fi
	if missing; then
		go=$(find_go)
		go_env
		mkdir -p "$K8S_DIR"
		(build "$go") || die "build failed"
	fi
fi
paths
