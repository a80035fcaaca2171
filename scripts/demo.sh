#!/usr/bin/env bash
# Portico demo: echo backends + portico in file mode on the default ports.
#
#   make && scripts/demo.sh            (Ctrl-C stops everything)
#
# Copies examples/ to a temporary directory, adds a TLS Secret made with
# openssl, starts tests/echo/echo.py on the loopback addresses the
# EndpointSlices name, then runs portico on that directory. Edit the copy
# while it runs to see changes applied live.
#
# Environment: PORTICO_BIN (default ./portico), PYTHON (default python3),
# DEMO_KEEP=1 keeps the temporary directory after exit, DEMO_HTTP_PORT (8080),
# DEMO_HTTPS_PORT (8443), DEMO_STATS_PORT (1024), DEMO_HEALTHZ_PORT (1042),
# DEMO_CONTROLLER_PORT (6060). Extra arguments are passed to portico.
set -eu

repo=$(cd "$(dirname "$0")/.." && pwd)
portico=${PORTICO_BIN:-$repo/portico}
python=${PYTHON:-python3}
http_port=${DEMO_HTTP_PORT:-8080}
https_port=${DEMO_HTTPS_PORT:-8443}
stats_port=${DEMO_STATS_PORT:-1024}
healthz_port=${DEMO_HEALTHZ_PORT:-1042}
controller_port=${DEMO_CONTROLLER_PORT:-6060}

if [ ! -x "$portico" ]; then
    echo "demo: $portico not found; build it first with: make -C $repo" >&2
    exit 1
fi
for tool in openssl "$python"; do
    command -v "$tool" >/dev/null 2>&1 || { echo "demo: $tool is required" >&2; exit 1; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/portico-demo.XXXXXX")
manifests=$tmp/manifests
echo_pid=""
portico_pid=""

cleanup() {
    trap - INT TERM EXIT
    if [ -n "$portico_pid" ] && kill -0 "$portico_pid" 2>/dev/null; then
        echo
        echo "demo: stopping portico (pid $portico_pid)"
        kill -TERM "$portico_pid" 2>/dev/null || true
        wait "$portico_pid" 2>/dev/null || true
    fi
    if [ -n "$echo_pid" ] && kill -0 "$echo_pid" 2>/dev/null; then
        kill -TERM "$echo_pid" 2>/dev/null || true
        wait "$echo_pid" 2>/dev/null || true
    fi
    if [ "${DEMO_KEEP:-0}" = 1 ]; then
        echo "demo: kept $tmp"
    else
        rm -rf "$tmp"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$manifests" "$tmp/certs" "$tmp/config" "$tmp/run"
cp -R "$repo/examples/." "$manifests/"
rm -f "$manifests/README.md"

# TLS Secret for secure.example.test
openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 30 \
    -subj "/CN=secure.example.test" \
    -addext "subjectAltName=DNS:secure.example.test" \
    -keyout "$tmp/certs/tls.key" -out "$tmp/certs/tls.crt" 2>/dev/null
{
    printf 'apiVersion: v1\nkind: Secret\ntype: kubernetes.io/tls\n'
    printf 'metadata:\n  name: secure-tls\n  namespace: demo\n'
    printf 'data:\n'
    printf '  tls.crt: %s\n' "$(base64 -w0 < "$tmp/certs/tls.crt")"
    printf '  tls.key: %s\n' "$(base64 -w0 < "$tmp/certs/tls.key")"
} > "$manifests/30-tls-secret.yaml"

setsid=""
if command -v setsid >/dev/null 2>&1; then setsid=setsid; fi

# Echo backends matching the EndpointSlices in examples/
$setsid "$python" "$repo/tests/echo/echo.py" \
    --backend web=127.0.0.2:9001 --backend web=127.0.0.3:9001 \
    --backend api=127.0.0.4:9002 \
    --backend static=127.0.0.5:9003 > "$tmp/echo.out" 2> "$tmp/echo.err" &
echo_pid=$!
for _ in $(seq 1 100); do
    grep -qx ready "$tmp/echo.out" 2>/dev/null && break
    kill -0 "$echo_pid" 2>/dev/null || { echo "demo: echo backends failed:" >&2; cat "$tmp/echo.err" >&2; exit 1; }
    sleep 0.05
done
grep -qx ready "$tmp/echo.out" || { echo "demo: echo backends not ready" >&2; exit 1; }

# setsid: Ctrl-C reaches only this script, which then stops portico gracefully
# (SIGTERM) instead of the terminal's SIGINT hitting portico and HAProxy.
$setsid "$portico" --manifests="$manifests" \
    --ipv4-bind-address=127.0.0.1 --disable-ipv6 \
    --http-bind-port="$http_port" --https-bind-port="$https_port" \
    --stats-bind-port="$stats_port" --healthz-bind-port="$healthz_port" \
    --controller-port="$controller_port" \
    --config-dir="$tmp/config" --runtime-dir="$tmp/run" \
    "$@" &
portico_pid=$!

ready=0
for _ in $(seq 1 100); do
    if curl -fs -o /dev/null "http://127.0.0.1:$controller_port/readyz" 2>/dev/null; then ready=1; break; fi
    kill -0 "$portico_pid" 2>/dev/null || { echo "demo: portico exited" >&2; exit 1; }
    sleep 0.1
done
[ "$ready" = 1 ] || echo "demo: warning: /readyz is not 200 yet (still trying)" >&2

cat <<EOF

Portico is running (pid $portico_pid). Try:

  curl -si -H 'Host: web.example.test' http://127.0.0.1:$http_port/
  curl -si -H 'Host: api.example.test' http://127.0.0.1:$http_port/v1/users?id=7
  curl -si -H 'Host: api.example.test' http://127.0.0.1:$http_port/health
  curl -si -H 'Host: api.example.test' http://127.0.0.1:$http_port/nope         # 404
  curl -si http://127.0.0.1:$http_port/static/logo.png                          # host-less rule
  curl -si -H 'Host: secure.example.test' 'http://127.0.0.1:$http_port/a?b=c'   # 308 to https
  curl -sik --resolve secure.example.test:$https_port:127.0.0.1 https://secure.example.test:$https_port/
  curl -sik https://127.0.0.1:$https_port/ -H 'Host: web.example.test'           # default certificate

  HAProxy stats:      http://127.0.0.1:$stats_port/   (Prometheus: http://127.0.0.1:$stats_port/metrics)
  Portico readiness:  http://127.0.0.1:$controller_port/readyz

Edit the manifests to see changes applied live:
  $manifests
  (e.g. set "ready: false" on an endpoint in 10-web.yaml, or add a path in 20-ingresses.yaml)

Press Ctrl-C to stop.
EOF

wait "$portico_pid" || true
portico_pid=""
echo "demo: portico exited"
