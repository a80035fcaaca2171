#!/usr/bin/env python3
"""Start-up time and peak memory in file mode, at scale.

Writes the objects of bench/cluster_scale.py (N Ingresses, each with its own
Service and EndpointSlice, one in ten with its own TLS Secret) as 100
manifest files, or takes a directory as it is (--manifests, e.g. the bundled
examples), starts each Portico binary on it in turn and reports the time to
/readyz 200 and the controller's peak RSS (VmHWM) then, over --runs runs.
Also HAProxy's: the servers in haproxy.cfg (servers = endpoints, no spare
slots), the RSS of its master and worker once ready; with --reloads N, N
new Services (a new file each: Service + EndpointSlice + Ingress, a new
backend), each one a reload, spaced by 2.2 s (beyond --min-reload-interval):
the reload times in Portico's log, write -> reload done, and the peak RSS
of HAProxy's master + workers during them; beside them, the same-run
baseline `haproxy -c` on the same haproxy.cfg (parse and check alone).

    python3 bench/file_scale.py --ingresses 10000 --endpoints 5 \\
        --portico /tmp/portico-before --portico ./portico
    python3 bench/file_scale.py --manifests examples --runs 5
    python3 bench/file_scale.py --ingresses 10000 --write /tmp/m10k   # only write them
    python3 bench/file_scale.py --ingresses 10000 --reloads 20   # HAProxy memory, reloads

No cluster is needed; HAProxy runs as in production, on loopback ports.
"""

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import (haproxy_cfg_args, haproxy_cfg_text, haproxy_memory, memory_mib, pct,
                      portico_command, reload_times, reloads, wait_ready)
from cluster_scale import ROOT, HAProxyMemory, address, make_certs, objects, service_objects



def write_manifests(out, n, endpoints):
    certs = make_certs(n)
    (out / "000-class.json").write_text(json.dumps({
        "apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
        "metadata": {"name": "portico"}, "spec": {"controller": "portico.dev/ingress-controller"}}))
    per_file = max(1, n // 100)
    for start in range(0, n, per_file):
        items = [o for i in range(start, min(n, start + per_file))
                 for o in objects(i, certs, endpoints)]
        (out / f"{start // per_file + 1:03d}.json").write_text(
            json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))


def run_once(binary, manifests, work, n_reloads=0):
    cmd, ports = portico_command(binary, f"--manifests={manifests}", work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    log = work / "portico.log"
    start = time.time()
    proc = subprocess.Popen(cmd, stderr=open(log, "w"))
    out = {}
    try:
        wait_ready(ports["ctl"], proc,
                   lambda: f"{binary} exited with {proc.returncode} before ready")
        out["ready"] = (time.time() - start) * 1000
        out["hwm"] = memory_mib(proc.pid)["VmHWM"]
        time.sleep(1)
        gen = work / "config" / "current"
        cfg = haproxy_cfg_text(gen)
        out["servers"] = len(re.findall(r"^\s+server ", cfg, re.M))
        out["backends"] = len(re.findall(r"^backend ", cfg, re.M))
        hap = haproxy_memory(proc.pid)
        out["master"] = hap["master"]["VmRSS"]
        out["worker"] = max(w["VmRSS"] for w in hap["workers"])
        if n_reloads:
            r0, k0 = reloads(ports["ctl"]), len(reload_times(log.read_text()))
            sampler = HAProxyMemory(proc.pid)
            sampler.start()
            lat = []
            try:
                for i in range(n_reloads):
                    f = manifests / f"zz-reload-{i}.json"
                    (work / "new.json").write_text(json.dumps(
                        {"apiVersion": "v1", "kind": "List", "items": service_objects(
                            f"reload{i}", [address(200000 + i)], f"reload{i}.bench.test")}))
                    before = reloads(ports["ctl"])
                    t = time.monotonic()
                    os.rename(work / "new.json", f)
                    while reloads(ports["ctl"]) == before:
                        if time.monotonic() - t > 60 or proc.poll() is not None:
                            raise SystemExit(f"{binary}: no reload 60 s after {f.name}")
                        time.sleep(0.005)
                    lat.append((time.monotonic() - t) * 1000)
                    time.sleep(2.2)
            finally:
                sampler.stop()
                for i in range(n_reloads):
                    (manifests / f"zz-reload-{i}.json").unlink(missing_ok=True)
            out["reloads"] = reloads(ports["ctl"]) - r0
            out["reload_ms"] = reload_times(log.read_text())[k0:]
            out["write_reload"] = lat
            out["peak_total"], out["peak_worker"], out["workers"] = \
                sampler.total, sampler.worker, sampler.workers
            hap = haproxy_memory(proc.pid)
            out["worker_after"] = max(w["VmRSS"] for w in hap["workers"])
            checks = []
            for _ in range(3):
                t = time.monotonic()
                subprocess.run(["haproxy", "-c", "-q"] + haproxy_cfg_args(gen), check=True,
                               cwd=gen)
                checks.append((time.monotonic() - t) * 1000)
            out["check_ms"] = pct(checks, 50)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    return out


def report(b, r):
    print(f"  {b}: start -> /readyz 200 {r['ready']:.0f} ms, peak RSS {r['hwm']:.1f} MiB; "
          f"HAProxy: {r['backends']} backends, {r['servers']} servers in haproxy.cfg, RSS "
          f"master {r['master']:.1f} MiB, worker {r['worker']:.1f} MiB", flush=True)
    if "reloads" in r:
        rm, wl = r["reload_ms"], r["write_reload"]
        print(f"    {len(wl)} new Services: {r['reloads']:.0f} reloads; reload time in Portico's "
              f"log p50 {pct(rm, 50):.0f} max {max(rm):.0f} ms; file written -> reload done "
              f"p50 {pct(wl, 50):.0f} max {max(wl):.0f} ms; haproxy -c alone {r['check_ms']:.0f} "
              f"ms; HAProxy peak RSS during the reloads: master + workers "
              f"{r['peak_total']:.1f} MiB, one worker {r['peak_worker']:.1f} MiB, up to "
              f"{r['workers']} workers; worker RSS after them {r['worker_after']:.1f} MiB",
              flush=True)


def spread(values, fmt="{:.1f}"):
    return f"{fmt.format(pct(values, 50))} [{fmt.format(min(values))}–{fmt.format(max(values))}]"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ingresses", type=int, default=1000)
    ap.add_argument("--endpoints", type=int, default=1,
                    help="ready endpoints in each Service's EndpointSlice")
    ap.add_argument("--manifests", help="measure this directory instead of generated objects")
    ap.add_argument("--write", metavar="DIR",
                    help="only write the generated manifests into DIR (for callgrind or massif "
                         "on `portico render --manifests=DIR`)")
    ap.add_argument("--reloads", type=int, default=0, metavar="N",
                    help="N new Services, one reload each: reload time, HAProxy's memory")
    ap.add_argument("--runs", type=int, default=3, help="runs per binary")
    ap.add_argument("--portico", action="append",
                    help="binary to measure (repeatable; default ./portico)")
    args = ap.parse_args()
    binaries = args.portico or [str(ROOT / "portico")]
    if args.write:
        Path(args.write).mkdir(parents=True)
        write_manifests(Path(args.write), args.ingresses, args.endpoints)
        return 0
    tmp = Path(tempfile.mkdtemp(prefix="portico-file-scale-"))
    try:
        if args.manifests:
            manifests = Path(args.manifests).resolve()
            print(f"manifests: {manifests}")
        else:
            manifests = tmp / "manifests"
            manifests.mkdir()
            write_manifests(manifests, args.ingresses, args.endpoints)
            print(f"Ingresses: {args.ingresses} (+ Services, EndpointSlices with "
                  f"{args.ingresses * args.endpoints} endpoints, "
                  f"{(args.ingresses + 9) // 10} TLS Secrets) in 100 files")
        results = {b: [] for b in binaries}
        for run in range(args.runs):
            for b in binaries:
                r = run_once(b, manifests, tmp / "work", args.reloads)
                results[b].append(r)
                print(f"run {run + 1}, {time.strftime('%H:%M:%S')}, load average "
                      f"{os.getloadavg()[0]:.1f}:")
                report(b, r)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("medians [min–max] over the runs:")
    for b in binaries:
        rs = results[b]
        print(f"  {b}: ready {spread([r['ready'] for r in rs], '{:.0f}')} ms, "
              f"peak RSS {spread([r['hwm'] for r in rs])} MiB; HAProxy worker RSS "
              f"{spread([r['worker'] for r in rs])} MiB, master {spread([r['master'] for r in rs])}")
        if args.reloads:
            print(f"    reload time p50 {spread([pct(r['reload_ms'], 50) for r in rs], '{:.0f}')}"
                  f" ms, max {spread([max(r['reload_ms']) for r in rs], '{:.0f}')} ms; "
                  f"write -> reload done p50 "
                  f"{spread([pct(r['write_reload'], 50) for r in rs], '{:.0f}')} ms; "
                  f"haproxy -c {spread([r['check_ms'] for r in rs], '{:.0f}')} ms; "
                  f"peak master + workers {spread([r['peak_total'] for r in rs])} MiB, "
                  f"one worker {spread([r['peak_worker'] for r in rs])} MiB; "
                  f"worker after {spread([r['worker_after'] for r in rs])} MiB")


if __name__ == "__main__":
    sys.exit(main())
