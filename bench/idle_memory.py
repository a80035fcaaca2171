#!/usr/bin/env python3
"""An idle controller's memory, in file mode.

Starts Portico on a manifests directory (default: the bundled examples),
waits for /readyz 200 and one more second, and reads /proc/<pid>/status and
/proc/<pid>/smaps: peak RSS (VmHWM), RSS, its anonymous part (heap, stacks)
and its file-backed part, file by file (libcrypto and libc are mapped by
HAProxy too, so in a pod their pages are counted once). Medians over --runs
runs, range in brackets.

    python3 bench/idle_memory.py [--manifests examples] [--runs 5] [--portico ./portico]
"""

import argparse
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import portico_command, pct, wait_ready

ROOT = Path(__file__).resolve().parents[1]


def kib_fields(path, names):
    """The fields <names> of a /proc "Name:   123 kB" file, in MiB."""
    out = {}
    with open(path) as f:
        for line in f:
            key = line.split(":")[0]
            if key in names:
                out[key] = int(line.split()[1]) / 1024
    return out


def file_rss(pid):
    """Resident MiB of each file mapped by <pid>, from /proc/<pid>/smaps."""
    out, name = {}, None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            head = line.split()
            if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                name = head[5] if len(head) > 5 and head[5].startswith("/") else None
            elif head[0] == "Rss:" and name:
                base = Path(name).name
                out[base] = out.get(base, 0) + int(head[1]) / 1024
    return out


def run_once(binary, manifests, work):
    cmd, ports = portico_command(binary, f"--manifests={manifests}", work)
    proc = subprocess.Popen(cmd, stderr=subprocess.DEVNULL)
    try:
        wait_ready(ports["ctl"], proc, lambda: f"{binary} exited with {proc.returncode}")
        time.sleep(1)
        r = kib_fields(f"/proc/{proc.pid}/status", ("VmHWM", "VmRSS", "RssFile", "RssAnon"))
        r["files"] = file_rss(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--manifests", default=str(ROOT / "examples"))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--portico", default=str(ROOT / "portico"))
    args = ap.parse_args()
    manifests = Path(args.manifests).resolve()
    tmp = Path(tempfile.mkdtemp(prefix="portico-idle-"))
    rows = []
    try:
        for run in range(args.runs):
            work = tmp / f"run-{run}"
            rows.append(run_once(args.portico, manifests, work))
            shutil.rmtree(work, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"manifests: {manifests}, {args.runs} runs (MiB, median [range])")
    for key, what in (("VmHWM", "peak RSS (VmHWM)"), ("VmRSS", "RSS 1 s after ready"),
                      ("RssAnon", "  of which anonymous (heap, stacks)"),
                      ("RssFile", "  of which file-backed (shared libraries, the binary)")):
        v = [r[key] for r in rows]
        print(f"{what}: {pct(v, 50):.1f} [{min(v):.1f}-{max(v):.1f}]")
    files = sorted({f for r in rows for f in r["files"]},
                   key=lambda f: -pct([r["files"].get(f, 0) for r in rows], 50))
    for f in files:
        v = [r["files"].get(f, 0) for r in rows]
        if pct(v, 50) >= 0.05:
            print(f"    {f}: {pct(v, 50):.1f} [{min(v):.1f}-{max(v):.1f}]")


if __name__ == "__main__":
    sys.exit(main())
