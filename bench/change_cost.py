#!/usr/bin/env python3
"""Controller time per change, in file mode, at scale.

Starts each Portico binary on a copy of a manifests directory (written by
bench/file_scale.py --write) with --log-level=debug, then makes --changes
changes one at a time, each a rewrite of the manifest file holding the first
Ingress: a new path on its rule (a map change through the Runtime API), then
that path removed again, alternately. Reports, from each pass's debug line,
the medians of the model build, the rendering, the files and, where the log
has them, the time until the Runtime API answered; and the time from the
file rewrite until HAProxy serves the new path (polled over HTTP).

    python3 bench/file_scale.py --ingresses 10000 --write /tmp/m10k
    python3 bench/change_cost.py --manifests /tmp/m10k --portico /tmp/portico-before \\
        --portico ./portico --changes 30
"""

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchlib import http_status, pct, portico_command, wait_ready

PASS = re.compile(r"generation (\d+): model ([\d.]+) ms, render ([\d.]+) ms, files ([\d.]+) ms"
                  r"(?:, runtime ([\d.]+) ms)?")


def first_ingress(manifests):
    """(file, index in its items, host) of the first Ingress found."""
    for f in sorted(manifests.glob("*.json")):
        doc = json.loads(f.read_text())
        for i, o in enumerate(doc.get("items", [])):
            if o.get("kind") == "Ingress":
                return f, i, o["spec"]["rules"][0]["host"]
    sys.exit("no Ingress in the manifests")


def rewrite(path, doc):
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc))
    tmp.rename(path)


def run(binary, src, work, changes):
    man = work / "manifests"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(src, man)
    f, idx, host = first_ingress(man)
    doc = json.loads(f.read_text())
    paths = doc["items"][idx]["spec"]["rules"][0]["http"]["paths"]
    base = paths[0]
    cmd, ports = portico_command(binary, f"--manifests={man}", work)
    log = work / "portico.log"
    proc = subprocess.Popen(cmd + ["--log-level=debug"], stderr=open(log, "w"))
    served = []
    try:
        wait_ready(ports["ctl"], proc, lambda: f"{binary} exited before ready")
        time.sleep(2)
        start = len(PASS.findall(log.read_text()))
        for k in range(changes):
            add = k % 2 == 0
            path = f"/change-{k // 2}"
            if add:
                paths.append(dict(base, path=path, pathType="Exact"))
            else:
                paths.pop()
            t0 = time.time()
            rewrite(f, doc)
            want = (lambda s: s != 404) if add else (lambda s: s == 404)
            while time.time() - t0 < 10:
                if want(http_status(ports["http"], host, timeout=1, path=path)):
                    served.append((time.time() - t0) * 1000)
                    break
                time.sleep(0.001)
            time.sleep(0.3)
        passes = PASS.findall(log.read_text())[start:]
    finally:
        proc.terminate()
        proc.wait()
    cols = list(zip(*passes)) if passes else [[]] * 5
    out = {"passes": len(passes), "served": served}
    for name, i in (("model", 1), ("render", 2), ("files", 3), ("runtime", 4)):
        vals = [float(v) for v in cols[i] if v]
        out[name] = vals
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--manifests", type=Path, required=True)
    ap.add_argument("--portico", action="append", default=[])
    ap.add_argument("--changes", type=int, default=20)
    ap.add_argument("--work", type=Path, default=Path("/tmp/change-cost"))
    a = ap.parse_args()
    for b in a.portico or ["./portico"]:
        r = run(b, a.manifests, a.work, a.changes)
        line = [f"{b}: {r['passes']} passes"]
        for name in ("model", "render", "files", "runtime", "served"):
            v = r[name]
            if v:
                line.append(f"{name} p50 {pct(v, 50):.1f} ms p90 {pct(v, 90):.1f} ms")
        print("; ".join(line), flush=True)


if __name__ == "__main__":
    main()
