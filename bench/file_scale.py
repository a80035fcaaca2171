#!/usr/bin/env python3
"""Start-up time and peak memory in file mode, at scale.

Writes the objects of bench/cluster_scale.py (N Ingresses, each with its own
Service and EndpointSlice, one in ten with its own TLS Secret) as 100
manifest files, or takes a directory as it is (--manifests, e.g. the bundled
examples), starts each Portico binary on it in turn and reports the time to
/readyz 200 and the controller's peak RSS (VmHWM) then, over --runs runs.

    python3 bench/file_scale.py --ingresses 10000 --endpoints 5 \\
        --portico /tmp/portico-before --portico ./portico
    python3 bench/file_scale.py --manifests examples --runs 5
    python3 bench/file_scale.py --ingresses 10000 --write /tmp/m10k   # only write them

No cluster is needed; HAProxy runs as in production, on loopback ports.
"""

import argparse
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import portico_command, memory_mib, pct, wait_ready
from cluster_scale import ROOT, make_certs, objects


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


def run_once(binary, manifests, work):
    cmd, ports = portico_command(binary, f"--manifests={manifests}", work)
    shutil.rmtree(work, ignore_errors=True)
    start = time.time()
    proc = subprocess.Popen(cmd, stderr=subprocess.DEVNULL)
    try:
        wait_ready(ports["ctl"], proc,
                   lambda: f"{binary} exited with {proc.returncode} before ready")
        ready = time.time() - start
        hwm = memory_mib(proc.pid)["VmHWM"]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    return ready * 1000, hwm


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ingresses", type=int, default=1000)
    ap.add_argument("--endpoints", type=int, default=1,
                    help="ready endpoints in each Service's EndpointSlice")
    ap.add_argument("--manifests", help="measure this directory instead of generated objects")
    ap.add_argument("--write", metavar="DIR",
                    help="only write the generated manifests into DIR (for callgrind or massif "
                         "on `portico render --manifests=DIR`)")
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
                ready, hwm = run_once(b, manifests, tmp / "work")
                results[b].append((ready, hwm))
                print(f"run {run + 1}, {b}: start -> /readyz 200 {ready:.0f} ms, "
                      f"peak RSS {hwm:.1f} MiB", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("medians over the runs:")
    for b in binaries:
        rs = results[b]
        print(f"  {b}: ready {pct([r[0] for r in rs], 50):.0f} ms, "
              f"peak RSS {pct([r[1] for r in rs], 50):.1f} MiB "
              f"[{min(r[1] for r in rs):.1f}-{max(r[1] for r in rs):.1f}]")


if __name__ == "__main__":
    sys.exit(main())
