# Sourced by the scripts that build Go binaries into the cache (cluster.sh,
# tests/deploy/run.sh): which go to run, and the environment that keeps its
# caches under $CACHE_ROOT. The caller defines CACHE_ROOT and die().

find_go() {
	if [ -n "${GO:-}" ]; then echo "$GO"; return; fi
	if [ -x /usr/local/go/bin/go ]; then echo /usr/local/go/bin/go; return; fi
	command -v go || die "no go toolchain (set GO=/path/to/go)"
}

go_env() {
	GOMODCACHE=$CACHE_ROOT/go/mod
	GOCACHE=$CACHE_ROOT/go/build
	GOPATH=$CACHE_ROOT/go/path
	GOFLAGS=-buildvcs=false
	CGO_ENABLED=0
	GOTOOLCHAIN=local
	export GOMODCACHE GOCACHE GOPATH GOFLAGS CGO_ENABLED GOTOOLCHAIN
}
