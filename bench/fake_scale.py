#!/usr/bin/env python3
"""Cluster-mode memory in minutes: the objects of bench/cluster_scale.py served
by the small fake API server of tests/e2e/test_kube_faults.py instead of a
real kube-apiserver, to compare binaries while changing the code.

Loading 31,000 objects into the fake takes under a minute (five into the real
API server). For each binary in turn it reports the controller's peak RSS
(VmHWM) when ready and a second later, the RSS then, the peak after
--changes new Ingresses (one every 150 ms) and the RSS two seconds after
them. The fake speaks HTTP/1.1 (a connection per watch) and sends no
managedFields: its figures come within a few tenths of a MiB of the real
server's. The figures of record come from bench/cluster_scale.py.

    python3 bench/fake_scale.py --ingresses 10000 --runs 2 \\
        --portico /tmp/portico-before --portico ./portico
"""

import argparse
import base64
import concurrent.futures
import copy
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import portico_command, memory_mib, pct, wait_ready
from cluster_scale import ROOT, make_certs, objects

sys.path.insert(0, str(ROOT / "tests" / "e2e"))
from test_kube_faults import FakeAPI  # noqa: E402

CLASS = {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
         "metadata": {"name": "portico"}, "spec": {"controller": "portico.dev/ingress-controller"}}


def load(api, n, endpoints):
    certs = make_certs(n)
    objs = [CLASS] + [o for i in range(n) for o in objects(i, certs, endpoints)]
    for o in objs:
        if "stringData" in o:  # the API server stores a Secret's stringData as data
            o["data"] = {k: base64.b64encode(v.encode()).decode()
                         for k, v in o.pop("stringData").items()}
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        list(ex.map(api.put, objs))
    return next(o for o in objs if o["kind"] == "Ingress" and "tls" not in o["spec"])


def run_once(binary, api, work, ingress, n_changes, tag):
    cmd, ports = portico_command(binary, f"--kubeconfig={api.kubeconfig}", work)
    proc = subprocess.Popen(cmd, stderr=subprocess.DEVNULL)
    try:
        wait_ready(ports["ctl"], proc, lambda: f"{binary} exited with {proc.returncode}")
        hwm = memory_mib(proc.pid)["VmHWM"]
        time.sleep(1)
        status = memory_mib(proc.pid)
        hwm1, rss = status["VmHWM"], status["VmRSS"]
        for i in range(n_changes):
            ing = copy.deepcopy(ingress)
            ing["metadata"]["name"] = f"new-{tag}-{i}"
            ing["spec"]["rules"][0]["host"] = f"new-{tag}-{i}.bench.test"
            api.put(ing)
            time.sleep(0.15)
        hwm2 = memory_mib(proc.pid)["VmHWM"]
        time.sleep(2)
        rss2 = memory_mib(proc.pid)["VmRSS"]
    finally:
        proc.terminate()
        proc.wait(30)
    return {"hwm": hwm, "hwm1": hwm1, "rss": rss, "hwm2": hwm2, "rss2": rss2}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ingresses", type=int, default=10000)
    ap.add_argument("--endpoints", type=int, default=1, help="ready endpoints per Service")
    ap.add_argument("--changes", type=int, default=20)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--portico", action="append", help="binary to measure (repeatable)")
    args = ap.parse_args()
    binaries = args.portico or [str(ROOT / "portico")]
    with tempfile.TemporaryDirectory(prefix="portico-fake-scale-") as tmp:
        api = FakeAPI(tmp)
        try:
            t = time.time()
            ingress = load(api, args.ingresses, args.endpoints)
            print(f"Ingresses: {args.ingresses} ({args.ingresses * args.endpoints} endpoints), "
                  f"loaded in {time.time() - t:.0f} s", flush=True)
            results = {b: [] for b in binaries}
            for run in range(args.runs):
                for k, b in enumerate(binaries):
                    work = Path(tempfile.mkdtemp(prefix="run-", dir=tmp))
                    r = run_once(b, api, work, ingress, args.changes, f"{run}-{k}")
                    results[b].append(r)
                    print(f"run {run + 1}, {b}: peak RSS {r['hwm']:.1f} MiB when ready, "
                          f"{r['hwm1']:.1f} a second later (RSS then {r['rss']:.1f}), "
                          f"{r['hwm2']:.1f} MiB after {args.changes} changes (RSS 2 s later "
                          f"{r['rss2']:.1f})", flush=True)
        finally:
            api.stop()
    if args.runs > 1:
        print("medians over the runs:")
        for b in binaries:
            rs = results[b]
            print(f"  {b}: peak RSS {pct([r['hwm'] for r in rs], 50):.1f} MiB, "
                  f"{pct([r['hwm1'] for r in rs], 50):.1f} a second later "
                  f"(RSS {pct([r['rss'] for r in rs], 50):.1f}), after the changes "
                  f"{pct([r['hwm2'] for r in rs], 50):.1f} MiB "
                  f"(RSS {pct([r['rss2'] for r in rs], 50):.1f})")


if __name__ == "__main__":
    main()
