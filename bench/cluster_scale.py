#!/usr/bin/env python3
"""Cluster mode at scale, against the real test kube-apiserver + etcd.

Loads N Ingresses into a fresh test cluster, each with its own Service and
EndpointSlice (one endpoint, or --endpoints), and one in ten with its own TLS Secret (its own
key and certificate). Then starts Portico with the portico ServiceAccount and
reports:
- start -> initial list complete, and list complete -> /readyz 200;
- controller peak RSS (VmHWM) once ready and after the changes, its RSS a
  second after ready, right after the changes and two seconds later (settled);
- API write -> route served, over CHANGES new Ingresses on existing Services
  (a route becomes visible as 503: its backend address is not reachable
  outside the tests' network namespace, which this benchmark does not need).

    python3 bench/cluster_scale.py --ingresses 1000 [--changes 100]
    python3 bench/cluster_scale.py --ingresses 10000 --runs 3 \
        --portico /tmp/portico-before --portico ./portico
    python3 bench/cluster_scale.py --ingresses 10000 --endpoints 5   # 50k endpoints

Loading takes minutes at 10k, so one loaded cluster serves every run: with
several --portico binaries the runs alternate between them (a baseline and
a change measured side by side on the same machine, in the same minutes).

It runs itself inside a private network namespace (unshare -n, loopback
only), so that no request ever leaves the machine: the endpoints' 198.18.x.y
addresses are unreachable there and HAProxy answers 503 at once.
"""

import argparse
import concurrent.futures
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "cluster"))
from benchlib import portico_command, http_status, memory_mib, pct, wait_ready  # noqa: E402
from kapi import Client  # noqa: E402

CLUSTER = ROOT / "tests" / "cluster" / "cluster.sh"


def make_certs(n):
    """n distinct (certificate, key) PEM pairs, ECDSA P-256, for h<i>.bench.test."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.timezone.utc)
    out = {}
    for i in range(0, n, 10):
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"h{i}.bench.test")])
        crt = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
               .public_key(key.public_key()).serial_number(i + 1)
               .not_valid_before(now - dt.timedelta(hours=1))
               .not_valid_after(now + dt.timedelta(days=30))
               .add_extension(x509.SubjectAlternativeName([x509.DNSName(f"h{i}.bench.test")]),
                              critical=False)
               .sign(key, hashes.SHA256()))
        out[i] = (crt.public_bytes(serialization.Encoding.PEM).decode(),
                  key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode())
    return out


def address(n):
    """The n-th address of 198.18.0.0/15, the range set aside for benchmarks."""
    return f"198.{18 + ((n >> 16) & 1)}.{(n >> 8) & 255}.{n & 255}"


def objects(i, certs, endpoints=1):
    ns = "bench"
    objs = [
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": f"s{i}", "namespace": ns},
         "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080}]}},
        {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
         "metadata": {"name": f"s{i}-1", "namespace": ns,
                      "labels": {"kubernetes.io/service-name": f"s{i}"}},
         "addressType": "IPv4", "ports": [{"name": "http", "port": 8080}],
         "endpoints": [{"addresses": [address(i * endpoints + j)],
                        "conditions": {"ready": True}} for j in range(endpoints)]},
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
                     "stringData": {"tls.crt": certs[i][0], "tls.key": certs[i][1]}})
        ing["spec"]["tls"] = [{"hosts": [f"h{i}.bench.test"], "secretName": f"t{i}"}]
    objs.append(ing)
    return objs


def ts(line):
    m = re.match(r"ts=(\S+)Z", line)
    return datetime.fromisoformat(m.group(1)).timestamp() if m else None


def run_once(binary, tmp, admin, certs, n_changes, tag):
    """Starts <binary> against the loaded cluster, measures, stops it.
    The new Ingresses are named after <tag> and deleted afterwards."""
    work = Path(tempfile.mkdtemp(prefix="run-", dir=tmp))
    cmd, ports = portico_command(binary, f"--kubeconfig={tmp / 'c' / 'portico.kubeconfig'}", work)
    log = work / "portico.log"
    start = time.time()
    proc = subprocess.Popen(cmd + ["--log-level=debug"], stderr=open(log, "w"))
    created = []
    try:
        wait_ready(ports["ctl"], proc, lambda: log.read_text()[-3000:])
        ready = time.time()
        hwm = memory_mib(proc.pid)["VmHWM"]
        time.sleep(1)
        rss = memory_mib(proc.pid)["VmRSS"]
        listed = next(ts(l) for l in log.read_text().splitlines() if "every resource listed" in l)
        lat, writes = [], []
        for i in range(n_changes):
            name = f"new-{tag}-{i}"
            ing = objects(i + 1, certs)[-1]
            ing["metadata"]["name"] = name
            ing["spec"]["rules"][0]["host"] = f"{name}.bench.test"
            ing["spec"].pop("tls", None)
            t = time.monotonic()
            writes.append((name, time.time()))
            admin.create([ing])
            created.append(ing)
            while http_status(ports["http"], f"{name}.bench.test") == 404:
                if time.monotonic() - t > 30:
                    raise SystemExit("change not served in 30 s")
            lat.append((time.monotonic() - t) * 1000)
        status = memory_mib(proc.pid)
        hwm2, rss2 = status["VmHWM"], status["VmRSS"]
        time.sleep(2)
        rss3 = memory_mib(proc.pid)["VmRSS"]
        applied = {}
        for line in log.read_text().splitlines():
            m = re.search(r'obj="ingress/bench/(new-[^"]+)" msg="watch event ADDED applied"', line)
            if m:
                applied[m.group(1)] = ts(line)
        store_lat = [(applied[n] - w) * 1000 for n, w in writes if n in applied]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        admin.delete_object(created)
    return {"list": (listed - start) * 1000, "ready": (ready - listed) * 1000,
            "hwm": hwm, "rss": rss, "hwm2": hwm2, "rss2": rss2, "rss3": rss3, "store": store_lat,
            "served": lat}


def report(binary, r):
    st, lat = r["store"], r["served"]
    print(f"{binary}:")
    print(f"  start -> initial list complete: {r['list']:.0f} ms")
    print(f"  list complete -> /readyz 200: {r['ready']:.0f} ms")
    print(f"  controller peak RSS: {r['hwm']:.1f} MiB when ready, {r['hwm2']:.1f} MiB after the "
          f"changes; RSS 1 s after ready {r['rss']:.1f} MiB, right after the changes "
          f"{r['rss2']:.1f} MiB, 2 s later {r['rss3']:.1f} MiB")
    print(f"  API write (request sent) -> store update, {len(st)} new Ingresses (ms): "
          f"min {min(st):.1f} p50 {pct(st, 50):.1f} p99 {pct(st, 99):.1f} max {max(st):.1f}")
    print(f"  API write -> served, {len(lat)} new Ingresses (ms): min {min(lat):.1f} "
          f"p50 {pct(lat, 50):.1f} p99 {pct(lat, 99):.1f} max {max(lat):.1f}", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ingresses", type=int, default=1000)
    ap.add_argument("--changes", type=int, default=100)
    ap.add_argument("--endpoints", type=int, default=1,
                    help="ready endpoints in each Service's EndpointSlice")
    ap.add_argument("--runs", type=int, default=1, help="runs per binary")
    ap.add_argument("--portico", action="append",
                    help="binary to measure (repeatable; default ./portico)")
    args = ap.parse_args()
    binaries = args.portico or [str(ROOT / "portico")]
    if not os.environ.get("PORTICO_BENCH_NETNS"):
        subprocess.run([str(CLUSTER), "build"], check=True, stdout=subprocess.DEVNULL)
        os.execvp("unshare", ["unshare", "-n", "sh", "-c",
                              'ip link set lo up && PORTICO_BENCH_NETNS=1 exec "$0" "$@"',
                              sys.executable, *sys.argv])
    tmp = Path(tempfile.mkdtemp(prefix="portico-scale-"))
    subprocess.run([str(CLUSTER), "start", str(tmp / "c")], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        admin = Client.from_kubeconfig(str(tmp / "c" / "admin.kubeconfig"))
        admin.apply([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bench"}},
                     {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
                      "metadata": {"name": "portico"},
                      "spec": {"controller": "portico.dev/ingress-controller"}}])
        certs = make_certs(args.ingresses + args.changes + 10)
        t0 = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            list(ex.map(lambda i: Client.from_kubeconfig(
                str(tmp / "c" / "admin.kubeconfig")).create(objects(i, certs, args.endpoints)),
                range(args.ingresses)))
        print(f"Ingresses: {args.ingresses} (+ Services, EndpointSlices with "
              f"{args.ingresses * args.endpoints} endpoints, "
              f"{(args.ingresses + 9) // 10} TLS Secrets), loaded in "
              f"{time.monotonic() - t0:.0f} s", flush=True)
        results = {b: [] for b in binaries}
        for run in range(args.runs):
            for k, b in enumerate(binaries):
                r = run_once(b, tmp, admin, certs, args.changes, f"{run}-{k}")
                results[b].append(r)
                print(f"run {run + 1}, ", end="")
                report(b, r)
    finally:
        subprocess.run([str(CLUSTER), "stop", str(tmp / "c")], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    if args.runs > 1 or len(binaries) > 1:
        print("medians over the runs:")
        for b in binaries:
            rs = results[b]
            print(f"  {b}: list {pct([r['list'] for r in rs], 50):.0f} ms, "
                  f"ready after list {pct([r['ready'] for r in rs], 50):.0f} ms, "
                  f"peak RSS {pct([r['hwm'] for r in rs], 50):.1f} MiB "
                  f"(RSS {pct([r['rss'] for r in rs], 50):.1f}), "
                  f"after the changes {pct([r['hwm2'] for r in rs], 50):.1f} MiB "
                  f"(RSS then {pct([r['rss2'] for r in rs], 50):.1f}, "
                  f"2 s later {pct([r['rss3'] for r in rs], 50):.1f}), "
                  f"write->store p50 {pct([pct(r['store'], 50) for r in rs], 50):.1f} ms, "
                  f"write->served p50 {pct([pct(r['served'], 50) for r in rs], 50):.1f} ms")


if __name__ == "__main__":
    main()
