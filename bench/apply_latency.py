#!/usr/bin/env python3
"""Time from a manifest change to the change being served, in file mode.

Starts one echo backend and Portico on a manifests directory holding BASE
Ingresses (each with its own Service and EndpointSlice), then:
- CHANGES times adds one new Ingress (new host, existing Service) and polls
  through HAProxy until the new host answers 200;
- CHANGES times adds a second endpoint to one Service and polls until it
  answers, then removes it and polls until 8 requests in a row avoid it.
Reports min/p50/p90/p99/max, the reloads Portico counted, and, as the
same-run baseline, `haproxy -c` on the generated configuration (the floor a
controller pays for any change it applies by reloading).

    python3 bench/apply_latency.py [--base 1000] [--changes 100]
"""

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

from benchlib import (free_port, haproxy_cfg_args, portico_command, http_status, memory_mib,
                      metrics, pct, wait_ready)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def service_docs(i, port):
    return f"""apiVersion: v1
kind: Service
metadata: {{name: svc{i}, namespace: bench}}
spec:
  ports: [{{name: http, port: 80}}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {{name: svc{i}-1, namespace: bench, labels: {{kubernetes.io/service-name: svc{i}}}}}
addressType: IPv4
ports: [{{name: http, port: {port}}}]
endpoints:
- addresses: ["127.0.0.2"]
---
"""


def ingress_doc(name, host, svc):
    return f"""apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {{name: {name}, namespace: bench}}
spec:
  ingressClassName: portico
  rules:
  - host: {host}
    http:
      paths:
      - {{path: /, pathType: Prefix, backend: {{service: {{name: {svc}, port: {{name: http}}}}}}}}
"""


def endpoint_of(port, host):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/", headers={"Host": host})
    try:
        with urllib.request.urlopen(req, timeout=1.0) as r:
            return json.loads(r.read())["endpoint"]
    except (OSError, ValueError, KeyError):
        return None


def slice_doc(i, port, addrs):
    eps = "".join(f'- addresses: ["{a}"]\n' for a in addrs)
    return f"""apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {{name: svc{i}-1, namespace: bench, labels: {{kubernetes.io/service-name: svc{i}}}}}
addressType: IPv4
ports: [{{name: http, port: {port}}}]
endpoints:
{eps}"""


def metric(port, name):
    return metrics(port).get(name, 0.0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", type=int, default=1000)
    ap.add_argument("--changes", type=int, default=100)
    ap.add_argument("--portico", default=os.path.join(ROOT, "portico"))
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="portico-bench-")
    mdir = os.path.join(tmp, "manifests")
    os.makedirs(mdir)
    eport = free_port()
    echo = subprocess.Popen([sys.executable, os.path.join(ROOT, "tests/echo/echo.py"),
                             "--backend", f"bench=127.0.0.2:{eport}",
                             "--backend", f"bench=127.0.0.3:{eport}"],
                            stdout=subprocess.PIPE, text=True)
    while echo.stdout.readline().strip() != "ready":
        pass
    with open(os.path.join(mdir, "00-class.yaml"), "w") as f:
        f.write("apiVersion: networking.k8s.io/v1\nkind: IngressClass\n"
                "metadata: {name: portico}\nspec: {controller: portico.dev/ingress-controller}\n")
    with open(os.path.join(mdir, "10-base.yaml"), "w") as f:
        for i in range(args.base):
            f.write(service_docs(i, eport))
            f.write(ingress_doc(f"ing{i}", f"h{i}.bench.test", f"svc{i}") + "---\n")
    cmd, ports = portico_command(args.portico, f"--manifests={mdir}", tmp)
    cfg = os.path.join(tmp, "config")
    log = open(os.path.join(tmp, "portico.log"), "w")
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stderr=log)
    try:
        wait_ready(ports["ctl"], proc, lambda: "portico exited before ready; see its log")
        ready_s = time.monotonic() - t0
        assert http_status(ports["http"], "h0.bench.test", 1.0) == 200, "base route not served"

        lat = []
        for i in range(args.changes):
            path = os.path.join(mdir, f"20-new-{i}.yaml")
            with open(path + ".tmp", "w") as f:
                f.write(ingress_doc(f"new{i}", f"new{i}.bench.test", "svc0"))
            start = time.monotonic()
            os.rename(path + ".tmp", path)
            while http_status(ports["http"], f"new{i}.bench.test", 1.0) != 200:
                if time.monotonic() - start > 30:
                    raise SystemExit(f"change {i} not served after 30 s")
            lat.append((time.monotonic() - start) * 1000)

        # endpoints: svc0's slice is moved out of the base file into its own
        reloads0 = metric(ports["ctl"], 'portico_reloads_total{result="success"}')
        ep_add, ep_del = [], []
        slice_path = os.path.join(mdir, "30-slice.yaml")
        for i in range(args.changes):
            with open(slice_path + ".tmp", "w") as f:
                f.write(slice_doc("x", eport, ["127.0.0.2", "127.0.0.3"]))
            if i == 0:
                with open(os.path.join(mdir, "30-svc.yaml"), "w") as f:
                    f.write(service_docs("x", eport).split("---")[0])
                    f.write("---\n" + ingress_doc("epx", "epx.bench.test", "svcx"))
                with open(slice_path, "w") as f:
                    f.write(slice_doc("x", eport, ["127.0.0.2"]))
                while http_status(ports["http"], "epx.bench.test", 1.0) != 200:
                    time.sleep(0.01)
                # the new backend runs in a spare until a reload names it:
                # let that reload come and go before the endpoints change
                while metric(ports["ctl"], 'portico_spare_backends{state="in_use"}'):
                    time.sleep(0.05)
                time.sleep(0.5)
                reloads0 = metric(ports["ctl"], 'portico_reloads_total{result="success"}')
            start = time.monotonic()
            os.rename(slice_path + ".tmp", slice_path)
            while endpoint_of(ports["http"], "epx.bench.test") != f"127.0.0.3:{eport}":
                if time.monotonic() - start > 30:
                    raise SystemExit("endpoint not served after 30 s")
            ep_add.append((time.monotonic() - start) * 1000)
            with open(slice_path + ".tmp", "w") as f:
                f.write(slice_doc("x", eport, ["127.0.0.2"]))
            start = time.monotonic()
            os.rename(slice_path + ".tmp", slice_path)
            clean = 0
            while clean < 8:
                clean = clean + 1 if endpoint_of(ports["http"], "epx.bench.test") == \
                    f"127.0.0.2:{eport}" else 0
            ep_del.append((time.monotonic() - start) * 1000)
        ep_reloads = metric(ports["ctl"], 'portico_reloads_total{result="success"}') - reloads0

        checks = []
        for _ in range(5):
            s = time.monotonic()
            subprocess.run(["haproxy", "-c", "-q"] +
                           haproxy_cfg_args(os.path.join(cfg, "current")), check=True)
            checks.append((time.monotonic() - s) * 1000)
        rss = memory_mib(proc.pid)["VmHWM"]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        echo.kill()
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)

    chk = statistics.median(checks)
    print(f"base Ingresses: {args.base}, changes: {args.changes}")
    print(f"start -> ready: {ready_s * 1000:.0f} ms; controller peak RSS: {rss:.1f} MiB")
    print("| what | min | p50 | p90 | p99 | max |")
    print("|---|---|---|---|---|---|")
    print(f"| new Ingress file -> served (ms) | {min(lat):.1f} | {pct(lat, 50):.1f} | "
          f"{pct(lat, 90):.1f} | {pct(lat, 99):.1f} | {max(lat):.1f} |")
    for what, v in (("endpoint added -> gets traffic (ms)", ep_add),
                    ("endpoint removed -> 8 requests avoid it (ms)", ep_del)):
        print(f"| {what} | {min(v):.1f} | {pct(v, 50):.1f} | {pct(v, 90):.1f} | "
              f"{pct(v, 99):.1f} | {max(v):.1f} |")
    print(f"| baseline: haproxy -c alone (ms, median of 5) | | {chk:.1f} | | | |")
    print(f"reloads during the {2 * args.changes} endpoint changes: {ep_reloads:.0f}")
    print(f"p50 / haproxy -c: {pct(lat, 50) / chk:.2f}")


if __name__ == "__main__":
    main()
