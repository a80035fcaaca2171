#!/usr/bin/env python3
"""Controller CPU per drift check, in file mode, at scale.

The drift check compares every server and map HAProxy runs with the running
model (every 30 s, and after each reload): at 10,000 Services of 5 endpoints
it reads and compares 50,000 servers, whatever changes. Each Portico binary
is started on a copy of a manifests directory (bench/file_scale.py --write)
with a check every second (PORTICO_DRIFT_INTERVAL_MS), and once it has
settled, its CPU time over --seconds is divided by the checks that ended
in that window (their debug line). Binaries alternate, --runs times each;
medians [range] per binary.

    python3 bench/file_scale.py --ingresses 10000 --endpoints 5 --write /tmp/m10k5
    python3 bench/drift_cost.py --manifests /tmp/m10k5 --portico /tmp/portico-before \\
        --portico ./portico --runs 3
"""

import argparse
import os
import shutil
import statistics
import subprocess
import time
from pathlib import Path

from benchlib import cpu_ms, portico_command, wait_ready

CHECK_DONE = "drift: the maps are as the running model has them"


def run(binary, src, work, seconds, settle):
    man = work / "manifests"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(src, man)
    cmd, ports = portico_command(binary, f"--manifests={man}", work)
    log = work / "portico.log"
    env = dict(os.environ, PORTICO_DRIFT_INTERVAL_MS="1000")
    proc = subprocess.Popen(cmd + ["--log-level=debug"], stderr=open(log, "w"), env=env)
    try:
        wait_ready(ports["ctl"], proc, lambda: f"{binary} exited before ready")
        time.sleep(settle)
        checks0, cpu0 = log.read_text().count(CHECK_DONE), sum(cpu_ms(proc.pid))
        time.sleep(seconds)
        checks, cpu = log.read_text().count(CHECK_DONE) - checks0, sum(cpu_ms(proc.pid)) - cpu0
    finally:
        proc.terminate()
        proc.wait()
    if "drift:" in log.read_text().replace(CHECK_DONE, ""):
        print(f"  {binary}: the log reports drift or a failed check")
    return checks, cpu


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--manifests", type=Path, required=True)
    ap.add_argument("--portico", action="append", default=[])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--settle", type=float, default=5, help="seconds after ready")
    ap.add_argument("--work", type=Path, default=Path("/tmp/drift-cost"))
    a = ap.parse_args()
    binaries = a.portico or ["./portico"]
    per = {b: [] for b in binaries}
    for k in range(a.runs):
        for b in binaries:
            checks, cpu = run(b, a.manifests, a.work, a.seconds, a.settle)
            per[b].append(cpu / checks if checks else float("nan"))
            print(f"run {k + 1}, {b}: {checks} checks in {a.seconds:.0f} s, "
                  f"{cpu:.0f} ms CPU, {per[b][-1]:.1f} ms per check", flush=True)
    for b in binaries:
        v = per[b]
        print(f"{b}: CPU per drift check {statistics.median(v):.1f} "
              f"[{min(v):.1f}-{max(v):.1f}] ms")


if __name__ == "__main__":
    main()
