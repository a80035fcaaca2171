#!/bin/sh
# A real kube-apiserver + etcd on loopback, for tests.
#
#   cluster.sh build          build (or reuse) kube-apiserver and etcd in the cache
#   cluster.sh paths          print the binaries' paths (no build)
#   cluster.sh start DIR      start etcd + kube-apiserver, write DIR/env, DIR/*.kubeconfig
#   cluster.sh stop DIR       stop both (SIGTERM, SIGKILL after 10 s); idempotent
#   cluster.sh compact DIR    compact etcd to its current revision (forces 410 Gone)
#   cluster.sh status DIR     PIDs, VmRSS and VmHWM (peak RSS); exit 1 unless both run
#   cluster.sh restart-apiserver DIR   new kube-apiserver (empty watch cache), same etcd
#
# Cache: ${PORTICO_CACHE:-$HOME/.cache/portico}/{k8s-v1.34.4,etcd-v3.6.16,go}.
# See tests/cluster/README.md.
set -eu

K8S_VERSION=v1.34.4
STAGING_VERSION=v0.34.4
ETCD_VERSION=v3.6.16

HERE=$(cd "$(dirname "$0")" && pwd)
CACHE_ROOT=${PORTICO_CACHE:-${HOME:-/root}/.cache/portico}
K8S_DIR=$CACHE_ROOT/k8s-$K8S_VERSION
ETCD_DIR=$CACHE_ROOT/etcd-$ETCD_VERSION
KUBE_APISERVER=$K8S_DIR/kube-apiserver
ETCD=$ETCD_DIR/etcd
NS=portico-system
SA=portico

die() { echo "cluster.sh: $*" >&2; exit 1; }
log() { echo "cluster.sh: $*" >&2; }

# find_go, go_env
. "$HERE/go.sh"

now() { date +%s; }

# ----------------------------------------------------------------------------- build

build_apiserver() {
	go=$1
	src=$K8S_DIR/src
	rm -rf "$src"
	mkdir -p "$src"
	cd "$src"
	printf 'module portico.test/kube-apiserver\n\ngo 1.24.0\n' >go.mod
	log "kube-apiserver: resolving k8s.io/kubernetes@$K8S_VERSION"
	"$go" mod download k8s.io/kubernetes@"$K8S_VERSION"
	kmod=$GOMODCACHE/cache/download/k8s.io/kubernetes/@v/$K8S_VERSION.mod
	[ -f "$kmod" ] || die "kube-apiserver: $kmod not found after download"
	# Every module kubernetes replaces with ./staging/... becomes the
	# published module of the matching minor.
	staged=$(awk '$2 == "=>" && $3 ~ /^\.\/staging\// { print $1 }' "$kmod")
	[ -n "$staged" ] || die "kube-apiserver: no staging replaces found in $kmod"
	set -- -require=k8s.io/kubernetes@"$K8S_VERSION" -tool=k8s.io/kubernetes/cmd/kube-apiserver
	for m in $staged; do
		set -- "$@" -replace="$m=$m@$STAGING_VERSION"
	done
	"$go" mod edit "$@"
	log "kube-apiserver: go mod tidy ($(echo "$staged" | wc -l) staging modules -> $STAGING_VERSION)"
	"$go" mod tidy
	v=k8s.io/component-base/version
	ld="-s -w -X $v.gitVersion=$K8S_VERSION -X $v.gitMajor=1 -X $v.gitMinor=34"
	ld="$ld -X $v.gitTreeState=clean -X $v.buildDate=1970-01-01T00:00:00Z"
	log "kube-apiserver: go build (several minutes the first time)"
	"$go" build -trimpath -ldflags="$ld" -o "$KUBE_APISERVER.tmp" k8s.io/kubernetes/cmd/kube-apiserver
	mv -f "$KUBE_APISERVER.tmp" "$KUBE_APISERVER"
}

build_etcd() {
	go=$1
	src=$ETCD_DIR/src
	rm -rf "$src"
	mkdir -p "$src"
	cd "$src"
	printf 'module portico.test/etcd\n\ngo 1.24.0\n' >go.mod
	cat >main.go <<'EOF'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
EOF
	log "etcd: go get go.etcd.io/etcd/server/v3@$ETCD_VERSION"
	"$go" get go.etcd.io/etcd/server/v3@"$ETCD_VERSION"
	"$go" mod tidy
	log "etcd: go build"
	"$go" build -trimpath -ldflags="-s -w" -o "$ETCD.tmp" .
	mv -f "$ETCD.tmp" "$ETCD"
}

cmd_build() {
	if [ -x "$KUBE_APISERVER" ] && [ -x "$ETCD" ]; then
		cmd_paths
		return
	fi
	go=$(find_go)
	go_env
	mkdir -p "$K8S_DIR" "$ETCD_DIR"
	lock=$CACHE_ROOT/.build.lock
	if command -v flock >/dev/null 2>&1 && [ -z "${CLUSTER_SH_LOCKED:-}" ]; then
		# One build at a time per cache; a second caller waits, then reuses.
		CLUSTER_SH_LOCKED=1 exec flock "$lock" "$0" build
	fi
	t0=$(now)
	if [ ! -x "$KUBE_APISERVER" ]; then
		(build_apiserver "$go") || die "kube-apiserver build failed"
		log "kube-apiserver built in $(($(now) - t0)) s"
	fi
	t1=$(now)
	if [ ! -x "$ETCD" ]; then
		(build_etcd "$go") || die "etcd build failed"
		log "etcd built in $(($(now) - t1)) s"
	fi
	cmd_paths
}

cmd_paths() {
	echo "KUBE_APISERVER=$KUBE_APISERVER"
	echo "ETCD=$ETCD"
}

# ----------------------------------------------------------------------------- start

# Milliseconds since the epoch (GNU date).
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# Single-quote a value for a shell-sourceable file.
shq() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }

# N free TCP ports, distinct, space separated: below the ephemeral range, as
# kube-apiserver binds its port again on every restart (tests/e2e/ports.py).
free_ports() {
	python3 "$HERE/../e2e/ports.py" "$1"
}

# ossl ARGS...: openssl, its chatter kept out of sight unless it fails.
ossl() {
	openssl "$@" 2>"$PKI/openssl.err" || die "openssl $1 failed: $(cat "$PKI/openssl.err")"
}

# make_cert NAME SUBJECT EXTENSIONS: EC P-256 key + certificate signed by the CA.
make_cert() {
	ossl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout "$PKI/$1.key" -out "$PKI/$1.csr" -subj "$2"
	printf '%s\n' "$3" >"$PKI/$1.ext"
	ossl x509 -req -in "$PKI/$1.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" \
		-set_serial "0x$(openssl rand -hex 8)" -days 3650 -extfile "$PKI/$1.ext" \
		-out "$PKI/$1.crt"
	rm -f "$PKI/$1.csr" "$PKI/$1.ext"
}

# make_pki: CA, serving and admin certificates, service account key, static
# token; once per DIR (tokens.csv, written last, marks a complete set).
make_pki() {
	[ -f "$PKI/tokens.csv" ] && return
	rm -rf "$PKI"
	mkdir -p "$PKI"
	chmod 700 "$PKI"
	ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout "$PKI/ca.key" -out "$PKI/ca.crt" -days 3650 -subj "/CN=portico-test-ca" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign"
	sans="IP:127.0.0.1,DNS:localhost,IP:10.96.0.1,DNS:kubernetes,DNS:kubernetes.default"
	sans="$sans,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
	if [ -n "${CLUSTER_EXTRA_SANS:-}" ]; then sans="$sans,$CLUSTER_EXTRA_SANS"; fi
	make_cert apiserver "/CN=kube-apiserver" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=$sans"
	make_cert admin "/O=system:masters/CN=admin" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
	ossl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$PKI/sa.key"
	ossl pkey -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub"
	rm -f "$PKI/openssl.err"
	chmod 600 "$PKI"/*.key
	token=$(openssl rand -hex 24)
	(umask 077 && printf '%s,admin,admin,"system:masters"\n' "$token" >"$PKI/tokens.csv.tmp")
	mv -f "$PKI/tokens.csv.tmp" "$PKI/tokens.csv"
}

b64() { base64 -w0 <"$1"; }

# write_kubeconfig FILE USER NAMESPACE then user lines on stdin
write_kubeconfig() {
	{
		cat <<EOF
apiVersion: v1
kind: Config
clusters:
- name: portico-test
  cluster:
    server: $APISERVER_URL
    certificate-authority-data: $(b64 "$PKI/ca.crt")
contexts:
- name: portico-test
  context:
    cluster: portico-test
    user: $2
    namespace: $3
current-context: portico-test
users:
- name: $2
  user:
EOF
		cat
	} >"$1.tmp"
	chmod 600 "$1.tmp"
	mv -f "$1.tmp" "$1"
}

# alive PID: some thread of PID still runs. A killed Go program's main thread
# can be a zombie while its other threads still exit and hold its files, the
# listening socket among them: a new process on the same port fails to bind.
alive() {
	for status in /proc/"$1"/task/*/status; do
		state=$(sed -n 's/^State:[[:space:]]*\(.\).*/\1/p' "$status" 2>/dev/null || true)
		case $state in
		'' | Z | X) ;;
		*) return 0 ;;
		esac
	done
	return 1
}

# marker NAME: an argument only this DIR's process of that name has.
marker() {
	case $1 in
	etcd) echo "--data-dir=$DIR/etcd-data" ;;
	kube-apiserver) echo "--cert-dir=$DIR/pki" ;;
	esac
}

# pid_of NAME: the PID of DIR's etcd or kube-apiserver if it runs, else empty.
# From DIR/NAME.pid, checked against the command line; without a usable PID
# file (lost, or DIR emptied under a running cluster), the process whose
# command line holds this DIR's exact marker argument.
pid_of() {
	m=$(marker "$1")
	p=$(cat "$DIR/$1.pid" 2>/dev/null || true)
	case $p in
	'' | *[!0-9]*) ;;
	*)
		if alive "$p" && tr '\0' '\n' <"/proc/$p/cmdline" 2>/dev/null | grep -qxF -e "$m"; then
			echo "$p"
			return 0
		fi
		;;
	esac
	# Pattern on stdin, so grep does not find its own command line.
	# shellcheck disable=SC2062 # the glob is the list of files
	for f in $(printf '%s\n' "$m" | grep -lzxF -f - /proc/[0-9]*/cmdline 2>/dev/null); do
		p=${f#/proc/}
		p=${p%/cmdline}
		if alive "$p"; then
			echo "$p"
			return 0
		fi
	done
}

# spawn NAME CMD...: start CMD detached (own session), stdin /dev/null, output to
# DIR/NAME.log; the process writes its own PID to DIR/NAME.pid.
spawn() {
	name=$1
	shift
	rm -f "$DIR/$name.pid"
	# shellcheck disable=SC2016 # $$ and $@ belong to the inner shell
	setsid sh -c 'echo $$ >"$0.pid"; exec "$@"' "$DIR/$name" "$@" \
		</dev/null >>"$DIR/$name.log" 2>&1 &
	i=0
	while [ ! -s "$DIR/$name.pid" ]; do
		i=$((i + 1))
		[ $i -le 100 ] || die "$name did not start (see $DIR/$name.log)"
		sleep 0.05
	done
}

start_etcd() {
	log "etcd: starting on $ETCD_URL"
	spawn etcd "$ETCD" --name=portico-test --data-dir="$DIR/etcd-data" \
		--listen-client-urls="$ETCD_URL" --advertise-client-urls="$ETCD_URL" \
		--listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
		--initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
		--initial-cluster="portico-test=http://127.0.0.1:$ETCD_PEER_PORT" \
		--unsafe-no-fsync --log-level=warn
	deadline=$(($(now) + 30))
	until curl -fsS -m 2 "$ETCD_URL/health" 2>/dev/null | grep -q '"health":"true"'; do
		[ -n "$(pid_of etcd)" ] || die "etcd exited: $(tail -n 5 "$DIR/etcd.log")"
		[ "$(now)" -lt "$deadline" ] || die "etcd not healthy after 30 s (see $DIR/etcd.log)"
		sleep 0.1
	done
}

start_apiserver() {
	log "kube-apiserver: starting on $APISERVER_URL"
	t0=$(now_ms)
	# Alone, nothing reconciles: no ServiceAccount admission (it needs the
	# controller-manager) and no endpoints for the "kubernetes" Service. On a
	# node (CLUSTER_NODE_IP, tests/node/node.sh) pods reach it at that address.
	if [ -n "${CLUSTER_NODE_IP:-}" ]; then
		set -- --bind-address=0.0.0.0 --advertise-address="$CLUSTER_NODE_IP" \
			--kubelet-preferred-address-types=InternalIP
	else
		set -- --bind-address=127.0.0.1 --advertise-address=127.0.0.1 \
			--disable-admission-plugins=ServiceAccount --endpoint-reconciler-type=none
	fi
	spawn kube-apiserver "$KUBE_APISERVER" "$@" \
		--etcd-servers="$ETCD_URL" \
		--secure-port="$APISERVER_PORT" \
		--cert-dir="$PKI" \
		--tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
		--client-ca-file="$PKI/ca.crt" \
		--token-auth-file="$PKI/tokens.csv" \
		--authorization-mode=Node,RBAC \
		--service-account-issuer=https://kubernetes.default.svc.cluster.local \
		--service-account-key-file="$PKI/sa.pub" \
		--service-account-signing-key-file="$PKI/sa.key" \
		--service-cluster-ip-range=10.96.0.0/16 \
		--allow-privileged=false \
		--profiling=false
	deadline=$(($(now) + ${CLUSTER_READY_TIMEOUT:-60}))
	while :; do
		code=$(curl -sS -o /dev/null -w '%{http_code}' -m 2 --cacert "$PKI/ca.crt" \
			-H "Authorization: Bearer $ADMIN_TOKEN" "$APISERVER_URL/readyz" 2>/dev/null || true)
		[ "$code" = 200 ] && break
		[ -n "$(pid_of kube-apiserver)" ] ||
			die "kube-apiserver exited: $(tail -n 5 "$DIR/kube-apiserver.log")"
		[ "$(now)" -lt "$deadline" ] ||
			die "kube-apiserver /readyz not 200 after ${CLUSTER_READY_TIMEOUT:-60} s (last: $code; see $DIR/kube-apiserver.log)"
		sleep 0.1
	done
	READY_MS=$(($(now_ms) - t0))
	log "kube-apiserver: ready in $READY_MS ms"
}

# load_config: ports (chosen once, kept across stop/start) and derived names.
# CLUSTER_PORTS="ETCD-CLIENT ETCD-PEER APISERVER" gives them, so that a test
# process hands out every port it uses itself.
load_config() {
	if [ ! -f "$DIR/ports" ]; then
		# shellcheck disable=SC2046
		set -- ${CLUSTER_PORTS:-$(free_ports 3)}
		[ $# = 3 ] || die "want three ports (CLUSTER_PORTS or tests/e2e/ports.py), got '$*'"
		printf 'ETCD_CLIENT_PORT=%s\nETCD_PEER_PORT=%s\nAPISERVER_PORT=%s\n' "$1" "$2" "$3" \
			>"$DIR/ports"
	fi
	# shellcheck disable=SC1091
	. "$DIR/ports"
	ETCD_URL=http://127.0.0.1:$ETCD_CLIENT_PORT
	APISERVER_URL=https://127.0.0.1:$APISERVER_PORT
}

write_env() {
	{
		echo "# written by tests/cluster/cluster.sh; shell-sourceable"
		echo "CLUSTER_DIR=$(shq "$DIR")"
		echo "APISERVER_URL=$(shq "$APISERVER_URL")"
		echo "ETCD_URL=$(shq "$ETCD_URL")"
		echo "CA_FILE=$(shq "$PKI/ca.crt")"
		echo "ADMIN_TOKEN=$(shq "$ADMIN_TOKEN")"
		echo "ADMIN_KUBECONFIG=$(shq "$DIR/admin.kubeconfig")"
		echo "PORTICO_KUBECONFIG=$(shq "$DIR/portico.kubeconfig")"
		echo "PORTICO_TOKEN=$(shq "$PORTICO_TOKEN")"
		echo "PORTICO_TOKEN_FILE=$(shq "$DIR/portico.token")"
		echo "APISERVER_PID=$(pid_of kube-apiserver)"
		echo "ETCD_PID=$(pid_of etcd)"
		echo "APISERVER_LOG=$(shq "$DIR/kube-apiserver.log")"
		echo "ETCD_LOG=$(shq "$DIR/etcd.log")"
		echo "KUBE_APISERVER=$(shq "$KUBE_APISERVER")"
		echo "ETCD=$(shq "$ETCD")"
		echo "READY_MS=$READY_MS"
	} >"$DIR/env.tmp"
	chmod 600 "$DIR/env.tmp"
	mv -f "$DIR/env.tmp" "$DIR/env"
}

cmd_start() {
	if [ ! -x "$KUBE_APISERVER" ] || [ ! -x "$ETCD" ]; then
		die "binaries missing: run '$0 build' first (cache: $CACHE_ROOT)"
	fi
	for t in openssl curl python3 setsid; do
		command -v "$t" >/dev/null 2>&1 || die "$t is required"
	done
	mkdir -p "$DIR"
	DIR=$(cd "$DIR" && pwd)
	if [ -n "$(pid_of etcd)" ] || [ -n "$(pid_of kube-apiserver)" ]; then
		die "a cluster is already running in $DIR (run '$0 stop $DIR' first)"
	fi
	PKI=$DIR/pki
	t_start=$(now_ms)
	# A failed start leaves nothing running (the logs stay).
	trap 'rc=$?; if [ $rc -ne 0 ]; then log "start failed, stopping"; stop_one kube-apiserver; stop_one etcd; fi' EXIT
	make_pki
	ADMIN_TOKEN=$(cut -d, -f1 "$PKI/tokens.csv")
	load_config
	start_etcd
	start_apiserver

	CA_FILE=$PKI/ca.crt
	ADMIN_KUBECONFIG=$DIR/admin.kubeconfig
	PORTICO_KUBECONFIG=$DIR/portico.kubeconfig
	PORTICO_TOKEN_FILE=$DIR/portico.token
	write_kubeconfig "$ADMIN_KUBECONFIG" admin default <<EOF
    client-certificate-data: $(b64 "$PKI/admin.crt")
    client-key-data: $(b64 "$PKI/admin.key")
EOF

	if [ -n "${CLUSTER_NODE_IP:-}" ]; then
		# A node's tests install Portico's own RBAC objects (deploy/).
		PORTICO_TOKEN=
		write_env
		trap - EXIT
		log "cluster up in $(($(now_ms) - t_start)) ms: $APISERVER_URL (etcd $ETCD_URL)"
		echo "$DIR/env"
		return
	fi
	log "applying $HERE/rbac.yaml"
	python3 "$HERE/kapi.py" --kubeconfig "$ADMIN_KUBECONFIG" apply -f "$HERE/rbac.yaml" >&2 ||
		die "applying rbac.yaml failed"
	resp=$(curl -sS -m 10 --cacert "$CA_FILE" -H "Authorization: Bearer $ADMIN_TOKEN" \
		-H 'Content-Type: application/json' -X POST \
		-d '{"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","spec":{"expirationSeconds":86400}}' \
		"$APISERVER_URL/api/v1/namespaces/$NS/serviceaccounts/$SA/token")
	PORTICO_TOKEN=$(printf '%s' "$resp" |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["status"]["token"])') ||
		die "TokenRequest for $NS/$SA failed: $resp"
	(umask 077 && printf '%s' "$PORTICO_TOKEN" >"$PORTICO_TOKEN_FILE")
	write_kubeconfig "$PORTICO_KUBECONFIG" "$SA" "$NS" <<EOF
    token: $PORTICO_TOKEN
EOF
	# RBAC is enforced from informers: wait until the binding is in effect.
	deadline=$(($(now) + 10))
	until [ "$(curl -sS -o /dev/null -w '%{http_code}' -m 2 --cacert "$CA_FILE" \
		-H "Authorization: Bearer $PORTICO_TOKEN" \
		"$APISERVER_URL/apis/networking.k8s.io/v1/ingresses?limit=1")" = 200 ]; do
		[ "$(now)" -lt "$deadline" ] || die "the portico token cannot list ingresses after 10 s"
		sleep 0.1
	done
	write_env
	trap - EXIT
	log "cluster up in $(($(now_ms) - t_start)) ms: $APISERVER_URL (etcd $ETCD_URL)"
	echo "$DIR/env"
}

# ----------------------------------------------------------------------------- stop

# stop_one NAME: SIGTERM, SIGKILL after 10 s; fine if it is not running.
stop_one() {
	# Usually one; more only if DIR was reused under a running cluster.
	p=$(pid_of "$1")
	while [ -n "$p" ]; do
		kill -TERM "$p" 2>/dev/null || true
		i=0
		while alive "$p"; do
			i=$((i + 1))
			if [ $i -eq 100 ]; then
				log "$1 ($p) still running after 10 s: SIGKILL"
				kill -KILL "$p" 2>/dev/null || true
			fi
			[ $i -le 200 ] || die "$1 ($p) survives SIGKILL"
			sleep 0.1
		done
		log "$1 ($p) stopped"
		rm -f "$DIR/$1.pid"
		p=$(pid_of "$1")
	done
	rm -f "$DIR/$1.pid"
}

cmd_stop() {
	[ -d "$DIR" ] || return 0
	DIR=$(cd "$DIR" && pwd)
	stop_one kube-apiserver
	stop_one etcd
}

# restart-apiserver DIR: a fresh kube-apiserver (empty watch cache) on the same etcd.
cmd_restart_apiserver() {
	[ -d "$DIR" ] || die "no such directory: $DIR"
	DIR=$(cd "$DIR" && pwd)
	[ -f "$DIR/env" ] || die "no cluster in $DIR"
	# shellcheck disable=SC1091
	. "$DIR/env"
	[ -n "$(pid_of etcd)" ] || die "etcd is not running in $DIR"
	PKI=$DIR/pki
	stop_one kube-apiserver
	load_config
	start_apiserver
	write_env
	echo "$DIR/env"
}

# ----------------------------------------------------------------------------- compact

cmd_compact() {
	[ -d "$DIR" ] || die "no such directory: $DIR"
	DIR=$(cd "$DIR" && pwd)
	[ -f "$DIR/ports" ] || die "no cluster in $DIR"
	load_config
	resp=$(curl -fsS -m 10 -X POST -d '{"key":"AA=="}' "$ETCD_URL/v3/kv/range") ||
		die "etcd range failed"
	rev=$(printf '%s' "$resp" | sed -n 's/.*"revision":"\{0,1\}\([0-9][0-9]*\).*/\1/p')
	[ -n "$rev" ] || die "no revision in etcd's answer: $resp"
	resp=$(curl -sS -m 60 -X POST -d "{\"revision\":\"$rev\",\"physical\":true}" \
		"$ETCD_URL/v3/kv/compaction")
	case $resp in
	*'"error"'* | *'"code"'*)
		case $resp in
		*compacted*) log "revision $rev was already compacted" ;;
		*) die "compaction failed: $resp" ;;
		esac
		;;
	esac
	log "etcd compacted to revision $rev"
	echo "$rev"
}

# ----------------------------------------------------------------------------- status

cmd_status() {
	[ -d "$DIR" ] || die "no such directory: $DIR"
	DIR=$(cd "$DIR" && pwd)
	rc=0
	for n in etcd kube-apiserver; do
		p=$(pid_of "$n")
		if [ -n "$p" ]; then
			hwm=$(sed -n 's/^VmHWM:[[:space:]]*//p' "/proc/$p/status")
			rss=$(sed -n 's/^VmRSS:[[:space:]]*//p' "/proc/$p/status")
			echo "$n: running pid=$p VmRSS=$rss VmHWM=$hwm"
		else
			echo "$n: stopped"
			rc=1
		fi
	done
	return $rc
}

# ----------------------------------------------------------------------------- main

usage() {
	sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

[ $# -ge 1 ] || usage
cmd=$1
shift
case $cmd in
build | paths)
	[ $# -eq 0 ] || usage
	"cmd_$cmd"
	;;
start | stop | compact | status | restart-apiserver)
	[ $# -eq 1 ] || usage
	DIR=$1
	case $cmd in
	restart-apiserver) cmd_restart_apiserver ;;
	*) "cmd_$cmd" ;;
	esac
	;;
*) usage ;;
esac
