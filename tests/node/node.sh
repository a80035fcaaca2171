#!/bin/sh
# A real one-node Kubernetes cluster for tests, in private network and mount
# namespaces: etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
# kubelet and kube-proxy (v1.34.4, built from Go modules), Debian's
# containerd, runc and CNI plugins (bridge + host-local on 10.88.0.0/16).
#
#   node.sh build            build (or reuse) every binary and test image
#   node.sh up DIR           start the node in DIR; waits until it is Ready
#   node.sh exec DIR CMD...  run CMD inside the node's namespaces, with
#                            KUBECONFIG (admin) and kubectl on PATH
#   node.sh load DIR FILE... import OCI image archives into its containerd
#   node.sh down DIR         stop everything, remove DIR; leaves nothing behind
#
# The node's address is 198.18.0.1 (NODE_IP), on its own loopback: NodePorts
# answer there, ClusterIPs (10.96.0.0/16) from the node too. No registry is
# reached: images come from archives (`load`), pods use them with
# `imagePullPolicy: Never` or `IfNotPresent`. Two test images are built and
# loaded by `up`: the pod sandbox (localhost/portico-test/pause:1) and an
# HTTP echo server (portico-test/echo:1, tests/node/echo).
# Nothing is written outside DIR except cgroups under /<cgroup>/portico-node-ID
# and two empty mount points (/var/lib/cni, /var/log/containers) if missing,
# all removed by `down` (the mount points by the last node down: several
# nodes may run at once). See tests/node/README.md and design.md §8.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CACHE_ROOT=${PORTICO_CACHE:-${HOME:-/root}/.cache/portico}
IMAGES=$CACHE_ROOT/node-images
NODE_IP=198.18.0.1
NODE_NAME=portico-node
POD_CIDR=10.88.0.0/16
PAUSE_IMAGE=localhost/portico-test/pause:1
ECHO_IMAGE=portico-test/echo:1

die() { echo "node.sh: $*" >&2; exit 1; }
log() { echo "node.sh: $*" >&2; }
now() { date +%s; }

# ----------------------------------------------------------------------------- build

# The pause and echo images, rebuilt when their source changes.
build_images() {
	mkdir -p "$IMAGES"
	key=$(cat "$HERE/pause.c" "$HERE/echo/main.go" "$HERE/echo/go.mod" "$ROOT/scripts/oci.py" |
		sha256sum | cut -c1-12)
	[ -f "$IMAGES/$key.done" ] && return
	log "building the test images (pause, echo)"
	gcc -static -Os -Wall -Werror -o "$IMAGES/pause" "$HERE/pause.c" ||
		die "pause: static build failed (libc6-dev has libc.a)"
	(
		cd "$HERE/echo"
		. "$HERE/../cluster/go.sh"
		go=$(find_go)
		go_env
		"$go" build -trimpath -ldflags="-s -w" -o "$IMAGES/echo" .
	) || die "echo: go build failed"
	python3 "$ROOT/scripts/oci.py" --output "$IMAGES/pause.tar" --name "$PAUSE_IMAGE" \
		--add "$IMAGES/pause:/pause" --entrypoint /pause
	python3 "$ROOT/scripts/oci.py" --output "$IMAGES/echo.tar" --name "$ECHO_IMAGE" \
		--add "$IMAGES/echo:/echo" --entrypoint /echo --port 8080
	rm -f "$IMAGES"/*.done
	touch "$IMAGES/$key.done"
}

cmd_build() {
	for t in containerd containerd-shim-runc-v2 runc ctr iptables nsenter unshare gcc; do
		command -v "$t" >/dev/null 2>&1 || die "$t is missing (scripts/deps.sh test installs it)"
	done
	[ -x /usr/lib/cni/bridge ] || die "/usr/lib/cni/bridge is missing (containernetworking-plugins)"
	"$ROOT/tests/cluster/cluster.sh" build >/dev/null
	"$HERE/build.sh" >/dev/null
	build_images
}

# ----------------------------------------------------------------------------- helpers

# Paths of the binaries (no build).
load_paths() {
	eval "$("$ROOT/tests/cluster/cluster.sh" paths)"
	eval "$("$HERE/build.sh")"
}

holder() {
	p=$(cat "$DIR/holder.pid" 2>/dev/null || true)
	case $p in '' | *[!0-9]*) return 1 ;; esac
	[ -d "/proc/$p" ] || return 1
	# the PID file may outlive its process: check it is our holder
	tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -qF "$DIR/holder" || return 1
	echo "$p"
}

# in_ns CMD...: CMD in the node's network and mount namespaces.
in_ns() {
	nsenter -t "$HOLDER" -n -m -- "$@"
}

# spawn NAME CMD...: CMD detached in the node's namespaces, output to
# DIR/log/NAME.log, PID in DIR/NAME.pid.
spawn() {
	name=$1
	shift
	rm -f "$DIR/$name.pid"
	# shellcheck disable=SC2016 # $$ and $@ belong to the inner shell
	nsenter -t "$HOLDER" -n -m -- setsid sh -c 'echo $$ >"$0.pid"; exec "$@"' "$DIR/$name" "$@" \
		</dev/null >>"$DIR/log/$name.log" 2>&1 &
	i=0
	while [ ! -s "$DIR/$name.pid" ]; do
		i=$((i + 1))
		[ $i -le 100 ] || die "$name did not start (see $DIR/log/$name.log)"
		sleep 0.05
	done
}

running() {
	p=$(cat "$DIR/$1.pid" 2>/dev/null || true)
	[ -n "$p" ] && [ -d "/proc/$p" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$p/status" 2>/dev/null
}

# wait_for WHAT SECONDS CMD...: until CMD succeeds; dies naming WHAT.
wait_for() {
	what=$1
	secs=$2
	deadline=$(($(now) + secs))
	shift 2
	until "$@" >/dev/null 2>&1; do
		[ "$(now)" -lt "$deadline" ] || die "$what: not after $secs s (logs: $DIR/log)"
		sleep 0.2
	done
}

kubectl_ns() {
	in_ns env KUBECONFIG="$KUBECONFIG" "$KUBECTL" "$@"
}

node_ready() {
	kubectl_ns get node "$NODE_NAME" \
		-o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' | grep -qx True
}

cgroup_name() {
	echo "portico-node-$(printf '%s' "$DIR" | sha256sum | cut -c1-10)"
}

# ----------------------------------------------------------------------------- up

write_configs() {
	cg=$1
	mkdir -p "$DIR/cni/net.d" "$DIR/containerd" "$DIR/kubelet" "$DIR/pod-logs" "$DIR/log"
	cat >"$DIR/cni/net.d/10-portico-node.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "portico-node",
  "plugins": [
    {
      "type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local", "ranges": [[{ "subnet": "$POD_CIDR" }]],
        "routes": [{ "dst": "0.0.0.0/0" }]
      }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
EOF
	# restrict_oom_score_adj: without CAP_SYS_RESOURCE runc fails every
	# pod ("can't get final child's PID from pipe: EOF").
	cat >"$DIR/containerd/config.toml" <<EOF
version = 2
root = "$DIR/containerd/root"
state = "$DIR/containerd/state"
[grpc]
  address = "$DIR/containerd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  restrict_oom_score_adj = true
  disable_apparmor = true
  disable_tcp_service = true
  stream_server_address = "127.0.0.1"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$DIR/cni/net.d"
EOF
	cat >"$DIR/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
containerRuntimeEndpoint: unix://$DIR/containerd.sock
cgroupDriver: cgroupfs
cgroupRoot: /$cg
failSwapOn: false
readOnlyPort: 0
authentication:
  anonymous: { enabled: true }
  webhook: { enabled: false }
authorization: { mode: AlwaysAllow }
podLogsDir: $DIR/pod-logs
# the machine's disk is shared: evict on nothing but a nearly full one
evictionHard: { memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1% }
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
resolvConf: /etc/resolv.conf
EOF
	cat >"$DIR/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: { kubeconfig: $KUBECONFIG }
mode: iptables
clusterCIDR: $POD_CIDR
hostnameOverride: $NODE_NAME
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
# a pod that reaches a Service on its own bridge gets its answer back
iptables: { masqueradeAll: true }
# 0: leave the machine-wide conntrack settings alone
conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s }
EOF
}

# The mount points /var/lib/cni and /var/log/containers are the machine's,
# shared by every node running on it: removing one unmounts what the other
# nodes' mount namespaces mounted there (host-local's leases: pod addresses
# handed out twice). So each node registers under a lock, and the last one
# down removes those the nodes made.
MOUNT_USERS=$CACHE_ROOT/node-mount-points

mount_points_take() {
	mkdir -p "$MOUNT_USERS"
	exec 8>"$MOUNT_USERS.lock"
	flock 8
	for d in /var/lib/cni /var/log/containers; do
		if [ ! -d "$d" ]; then
			mkdir -p "$d"
			echo "$d" >>"$MOUNT_USERS/created"
		fi
	done
	echo "$DIR" >"$MOUNT_USERS/$(cgroup_name)"
	exec 8>&-
}

mount_points_release() {
	[ -d "$MOUNT_USERS" ] || return 0
	exec 8>"$MOUNT_USERS.lock"
	flock 8
	rm -f "$MOUNT_USERS/$(cgroup_name)"
	# a node whose directory is gone was never brought down: not a user
	for u in "$MOUNT_USERS"/portico-node-*; do
		[ -f "$u" ] || continue
		if [ -d "$(cat "$u")" ]; then
			exec 8>&-
			return 0
		fi
		rm -f "$u"
	done
	if [ -f "$MOUNT_USERS/created" ]; then
		while read -r d; do rmdir "$d" 2>/dev/null || log "$d is not empty: left in place"; done \
			<"$MOUNT_USERS/created"
		rm -f "$MOUNT_USERS/created"
	fi
	exec 8>&-
}

# setup_ns: inside the namespaces: addresses, routes, private /run and
# state directories, so that what the node mounts and writes stays there.
setup_ns() {
	mount_points_take
	# shellcheck disable=SC2016
	in_ns sh -eu -c '
		ip link set lo up
		ip addr add "$1/32" dev lo
		ip route add 10.96.0.0/16 dev lo src "$1"
		mount -t tmpfs -o mode=755 node-run /run
		mount -t tmpfs -o mode=755 node-cni /var/lib/cni
		mount -t tmpfs -o mode=755 node-logs /var/log/containers
	' sh "$NODE_IP"
}

cmd_up() {
	cmd_build
	load_paths
	mkdir -p "$DIR"
	DIR=$(cd "$DIR" && pwd)
	if holder >/dev/null; then
		die "a node already runs in $DIR (run '$0 down $DIR' first)"
	fi
	[ "${#DIR}" -le 60 ] || die "$DIR is too long for the sockets under it (60 characters at most)"
	t0=$(now)
	trap 'rc=$?; if [ $rc -ne 0 ]; then log "up failed (logs in $DIR/log), stopping"; cmd_down_keep; fi' EXIT
	mkdir -p "$DIR/log"
	# The holder keeps the namespaces alive; everything else joins them.
	setsid unshare --net --mount --propagation private \
		sh -c 'echo $$ >"$0.pid"; while :; do sleep 3600; done' "$DIR/holder" </dev/null >/dev/null 2>&1 &
	wait_for "namespace holder" 5 holder
	HOLDER=$(holder)
	setup_ns
	cg=$(cgroup_name)
	for c in /sys/fs/cgroup/*/; do
		[ -f "$c/cgroup.procs" ] && mkdir -p "$c$cg"
	done

	log "etcd + kube-apiserver"
	in_ns env CLUSTER_NODE_IP="$NODE_IP" CLUSTER_EXTRA_SANS="IP:$NODE_IP" \
		"$ROOT/tests/cluster/cluster.sh" start "$DIR/api" >/dev/null
	# shellcheck disable=SC1091
	. "$DIR/api/env"
	KUBECONFIG=$ADMIN_KUBECONFIG
	PKI=$CLUSTER_DIR/pki
	write_configs "$cg"

	log "containerd"
	spawn containerd containerd --config "$DIR/containerd/config.toml"
	wait_for "containerd" 30 in_ns ctr --address "$DIR/containerd.sock" version
	for img in "$IMAGES/pause.tar" "$IMAGES/echo.tar"; do
		in_ns ctr --address "$DIR/containerd.sock" -n k8s.io images import "$img" >/dev/null
	done

	log "kube-controller-manager, kube-scheduler, kubelet, kube-proxy"
	spawn kube-controller-manager "$KUBE_CONTROLLER_MANAGER" --kubeconfig="$KUBECONFIG" \
		--service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt" \
		--leader-elect=false --secure-port=0 --controllers='*,-nodeipam,-cloud-node-lifecycle'
	spawn kube-scheduler "$KUBE_SCHEDULER" --kubeconfig="$KUBECONFIG" --leader-elect=false \
		--secure-port=0
	spawn kubelet "$KUBELET" --config="$DIR/kubelet.yaml" --kubeconfig="$KUBECONFIG" \
		--root-dir="$DIR/kubelet" --hostname-override="$NODE_NAME" --node-ip="$NODE_IP"
	spawn kube-proxy "$KUBE_PROXY" --config="$DIR/kube-proxy.yaml"

	wait_for "node $NODE_NAME Ready" 90 node_ready
	# Pods are admitted once their namespace has its default ServiceAccount.
	wait_for "ServiceAccount default/default" 30 kubectl_ns get serviceaccount default -n default
	{
		echo "# written by tests/node/node.sh; shell-sourceable"
		cat "$DIR/api/env"
		echo "NODE_DIR='$DIR'"
		echo "NODE_IP=$NODE_IP"
		echo "NODE_NAME=$NODE_NAME"
		echo "KUBECONFIG='$KUBECONFIG'"
		echo "KUBECTL='$KUBECTL'"
		echo "CONTAINERD_ADDRESS='$DIR/containerd.sock'"
		echo "ECHO_IMAGE=$ECHO_IMAGE"
	} >"$DIR/env"
	trap - EXIT
	log "node Ready in $(($(now) - t0)) s: $DIR/env"
	echo "$DIR/env"
}

# ----------------------------------------------------------------------------- down

# Every process of the node: those in its mount namespace (the components,
# containerd's shims) and those in its pods' cgroups (the containers).
node_pids() {
	if [ -n "${HOLDER:-}" ]; then
		mnt=$(readlink "/proc/$HOLDER/ns/mnt" 2>/dev/null || true)
		if [ -n "$mnt" ]; then
			for p in /proc/[0-9]*; do
				[ "$(readlink "$p/ns/mnt" 2>/dev/null)" = "$mnt" ] && echo "${p#/proc/}"
			done
		fi
	fi
	cg=$(cgroup_name)
	for c in /sys/fs/cgroup/*/"$cg"; do
		[ -d "$c" ] && find "$c" -name cgroup.procs -exec cat {} + 2>/dev/null
	done
	return 0
}

# cmd_down_keep: stop everything, remove cgroups and mount points; DIR stays.
cmd_down_keep() {
	HOLDER=$(holder || true)
	# the API server first: the components then stop without a flood of retries
	for n in kubelet kube-proxy kube-scheduler kube-controller-manager; do
		running "$n" && kill -TERM "$(cat "$DIR/$n.pid")" 2>/dev/null || true
	done
	i=0
	while :; do
		pids=$(node_pids | sort -u)
		[ -n "$pids" ] || break
		# shellcheck disable=SC2086
		kill -KILL $pids 2>/dev/null || true
		i=$((i + 1))
		[ $i -le 100 ] || die "processes survive SIGKILL: $(echo $pids)"
		sleep 0.1
	done
	[ ! -d "$DIR/api" ] || "$ROOT/tests/cluster/cluster.sh" stop "$DIR/api" >/dev/null 2>&1 || true
	cg=$(cgroup_name)
	for c in /sys/fs/cgroup/*/"$cg"; do
		[ -d "$c" ] && find "$c" -depth -type d -exec rmdir {} + 2>/dev/null
	done
	for c in /sys/fs/cgroup/*/"$cg"; do
		[ -d "$c" ] && die "cgroup $c cannot be removed"
	done
	mount_points_release
	return 0
}

cmd_down() {
	[ -d "$DIR" ] || return 0
	DIR=$(cd "$DIR" && pwd)
	cmd_down_keep
	rm -rf "$DIR"
	log "node in $DIR stopped and removed"
}

# ----------------------------------------------------------------------------- main

[ $# -ge 1 ] || die "usage: $0 build | up DIR | exec DIR CMD... | load DIR FILE... | down DIR"
cmd=$1
shift
case $cmd in
build) cmd_build ;;
up | down | exec | load)
	[ $# -ge 1 ] || die "$cmd: DIR is required"
	DIR=$1
	shift
	;;
*) die "unknown command $cmd" ;;
esac
case $cmd in
up) cmd_up ;;
down) cmd_down ;;
exec | load)
	DIR=$(cd "$DIR" && pwd)
	HOLDER=$(holder) || die "no node runs in $DIR"
	# shellcheck disable=SC1091
	. "$DIR/env"
	if [ "$cmd" = load ]; then
		for f in "$@"; do
			in_ns ctr --address "$CONTAINERD_ADDRESS" -n k8s.io images import "$f" >&2
		done
	else
		exec nsenter -t "$HOLDER" -n -m --wd="$PWD" -- env KUBECONFIG="$KUBECONFIG" \
			PATH="$(dirname "$KUBECTL"):$PATH" NODE_ENV="$DIR/env" NODE_IP="$NODE_IP" \
			CONTAINERD_ADDRESS="$CONTAINERD_ADDRESS" "$@"
	fi
	;;
esac
