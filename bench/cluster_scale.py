#!/usr/bin/env python3
"""Cluster mode at scale, against the real test kube-apiserver + etcd.

Loads N Ingresses into a fresh test cluster, each with its own Service and
one-endpoint EndpointSlice, and one in ten with its own TLS Secret. Then
starts Portico with the portico ServiceAccount and reports:
- start -> initial list complete, and list complete -> /readyz 200;
- controller peak RSS (VmHWM) once ready;
- API write -> route served, over CHANGES new Ingresses on existing Services
  (a route becomes visible as 503: its backend address is not reachable
  outside the tests' network namespace, which this benchmark does not need).

    python3 bench/cluster_scale.py --ingresses 1000 [--changes 100]

It runs itself inside a private network namespace (unshare -n, loopback
only), so that no request ever leaves the machine: the endpoints' 198.18.x.y
addresses are unreachable there and HAProxy answers 503 at once.
"""

import argparse
import concurrent.futures
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "cluster"))
from kapi import Client  # noqa: E402

CLUSTER = ROOT / "tests" / "cluster" / "cluster.sh"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_cert(d):
    key, crt = d / "k.pem", d / "c.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-days", "30", "-subj",
                    "/CN=bench.test", "-addext", "subjectAltName=DNS:*.bench.test",
                    "-keyout", str(key), "-out", str(crt)], check=True, capture_output=True)
    return crt.read_text(), key.read_text()


def objects(i, crt, key):
    ns = "bench"
    objs = [
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": f"s{i}", "namespace": ns},
         "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080}]}},
        {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
         "metadata": {"name": f"s{i}-1", "namespace": ns,
                      "labels": {"kubernetes.io/service-name": f"s{i}"}},
         "addressType": "IPv4", "ports": [{"name": "http", "port": 8080}],
         "endpoints": [{"addresses": [f"198.18.{(i >> 8) & 255}.{i & 255}"],
                        "conditions": {"ready": True}}]},
    ]
    ing = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
           "metadata": {"name": f"i{i}", "namespace": ns},
           "spec": {"ingressClassName": "portico",
                    "rules": [{"host": f"h{i}.bench.test", "http": {"paths": [
                        {"path": "/", "pathType": "Prefix", "backend": {
                            "service": {"name": f"s{i}", "port": {"name": "http"}}}}]}}]}}
    if i % 10 == 0:
        objs.append({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
                     "metadata": {"name": f"t{i}", "namespace": ns},
                     "stringData": {"tls.crt": crt, "tls.key": key}})
        ing["spec"]["tls"] = [{"hosts": [f"h{i}.bench.test"], "secretName": f"t{i}"}]
    objs.append(ing)
    return objs


def ts(line):
    m = re.match(r"ts=(\S+)Z", line)
    return datetime.fromisoformat(m.group(1)).timestamp() if m else None


def status(port, host):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/", headers={"Host": host})
    try:
        with urllib.request.urlopen(req, timeout=2) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return 0


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ingresses", type=int, default=1000)
    ap.add_argument("--changes", type=int, default=100)
    ap.add_argument("--portico", default=str(ROOT / "portico"))
    args = ap.parse_args()
    if not os.environ.get("PORTICO_BENCH_NETNS"):
        subprocess.run([str(CLUSTER), "build"], check=True, stdout=subprocess.DEVNULL)
        os.execvp("unshare", ["unshare", "-n", "sh", "-c",
                              'ip link set lo up && PORTICO_BENCH_NETNS=1 exec "$0" "$@"',
                              sys.executable, *sys.argv])
    tmp = Path(tempfile.mkdtemp(prefix="portico-scale-"))
    subprocess.run([str(CLUSTER), "start", str(tmp / "c")], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    proc = None
    try:
        admin = Client.from_kubeconfig(str(tmp / "c" / "admin.kubeconfig"))
        admin.apply([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bench"}},
                     {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
                      "metadata": {"name": "portico"},
                      "spec": {"controller": "portico.dev/ingress-controller"}}])
        crt, key = make_cert(tmp)
        t0 = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            list(ex.map(lambda i: Client.from_kubeconfig(
                str(tmp / "c" / "admin.kubeconfig")).create(objects(i, crt, key)),
                range(args.ingresses)))
        load_s = time.monotonic() - t0
        ports = {k: free_port() for k in ("http", "https", "stats", "healthz", "ctl")}
        log = tmp / "portico.log"
        start = time.time()
        proc = subprocess.Popen(
            [args.portico, f"--kubeconfig={tmp / 'c' / 'portico.kubeconfig'}", "--disable-ipv6",
             "--ipv4-bind-address=127.0.0.1", f"--http-bind-port={ports['http']}",
             f"--https-bind-port={ports['https']}", f"--stats-bind-port={ports['stats']}",
             f"--healthz-bind-port={ports['healthz']}", f"--controller-port={ports['ctl']}",
             f"--config-dir={tmp / 'config'}", f"--runtime-dir={tmp / 'run'}",
             "--log-level=debug"],
            stderr=open(log, "w"))
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{ports['ctl']}/readyz",
                                            timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None:
                raise SystemExit(log.read_text()[-3000:])
            time.sleep(0.01)
        ready = time.time()
        with open(f"/proc/{proc.pid}/status") as f:
            hwm = next(int(l.split()[1]) for l in f if l.startswith("VmHWM")) / 1024
        listed = next(ts(l) for l in log.read_text().splitlines() if "every resource listed" in l)
        lat, writes = [], []
        for i in range(args.changes):
            ing = objects(i + 1, crt, key)[-1]
            ing["metadata"]["name"] = f"new{i}"
            ing["spec"]["rules"][0]["host"] = f"new{i}.bench.test"
            ing["spec"].pop("tls", None)
            t = time.monotonic()
            writes.append((f"new{i}", time.time()))
            admin.create([ing])
            while status(ports["http"], f"new{i}.bench.test") == 404:
                if time.monotonic() - t > 30:
                    raise SystemExit("change not served in 30 s")
            lat.append((time.monotonic() - t) * 1000)
        with open(f"/proc/{proc.pid}/status") as f:
            hwm2 = next(int(l.split()[1]) for l in f if l.startswith("VmHWM")) / 1024
        applied = {}
        for line in log.read_text().splitlines():
            m = re.search(r'obj="ingress/bench/(new\d+)" msg="watch event ADDED applied"', line)
            if m:
                applied[m.group(1)] = ts(line)
        store_lat = [(applied[n] - w) * 1000 for n, w in writes if n in applied]
    finally:
        if proc:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
        subprocess.run([str(CLUSTER), "stop", str(tmp / "c")], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    print(f"Ingresses: {args.ingresses} (+ Services, EndpointSlices, "
          f"{args.ingresses // 10} TLS Secrets), loaded in {load_s:.0f} s")
    print(f"start -> initial list complete: {(listed - start) * 1000:.0f} ms")
    print(f"list complete -> /readyz 200: {(ready - listed) * 1000:.0f} ms")
    print(f"controller peak RSS: {hwm:.1f} MiB when ready, {hwm2:.1f} MiB after the changes")
    print(f"API write (request sent) -> store update, {len(store_lat)} new Ingresses (ms): "
          f"min {min(store_lat):.1f} p50 {pct(store_lat, 50):.1f} p99 {pct(store_lat, 99):.1f} "
          f"max {max(store_lat):.1f}")
    print(f"API write -> served, {args.changes} new Ingresses (ms): min {min(lat):.1f} "
          f"p50 {pct(lat, 50):.1f} p99 {pct(lat, 99):.1f} max {max(lat):.1f}")


if __name__ == "__main__":
    main()
