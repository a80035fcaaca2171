#!/usr/bin/env python3
"""Controller time per change, in file mode, at scale.

Starts each Portico binary on a copy of a manifests directory (written by
bench/file_scale.py --write) with --log-level=debug, plus a Service without
endpoints and an Ingress for it (so that its backend exists: HAProxy answers
503 for it at once). Then makes --changes changes one at a time, each a
rewrite of the manifest file holding the first Ingress: a new host routed to
that Service added to it (a map change through the Runtime API), then removed
again, alternately. Reports, from each pass's debug line, the model build, the
rendering, the files and, where the log has them, the time until HAProxy
answered the Runtime API commands (median and p90); and the time from the
file rewrite until HAProxy answers for the new host (503) or no more (404),
polled over HTTP.

    python3 bench/file_scale.py --ingresses 10000 --write /tmp/m10k
    python3 bench/change_cost.py --manifests /tmp/m10k --portico /tmp/portico-before \\
        --portico ./portico --changes 30
"""

import argparse
import json
import re
import shutil
import subprocess
import time
from pathlib import Path

from benchlib import first_item, http_status, pct, portico_command, replace_json, wait_ready

PASS = re.compile(r"generation (\d+): model ([\d.]+) ms, render ([\d.]+) ms, files ([\d.]+) ms"
                  r"(?:, runtime ([\d.]+) ms)?")


def probe_objects():
    svc = {"apiVersion": "v1", "kind": "Service",
           "metadata": {"name": "change-probe", "namespace": "bench"},
           "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}
    ing = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
           "metadata": {"name": "change-probe", "namespace": "bench"},
           "spec": {"ingressClassName": "portico", "rules": [rule("probe.change.test")]}}
    return {"apiVersion": "v1", "kind": "List", "items": [svc, ing]}


def rule(host):
    return {"host": host, "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": {
        "service": {"name": "change-probe", "port": {"name": "http"}}}}]}}



def run(binary, src, work, changes):
    man = work / "manifests"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(src, man)
    (man / "zzz-change-probe.json").write_text(json.dumps(probe_objects()))
    f, doc, idx = first_item(man, "Ingress")
    rules = doc["items"][idx]["spec"]["rules"]
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
            host = f"c{k // 2}.change.test"
            if add:
                rules.append(rule(host))
            else:
                rules.pop()
            want = 503 if add else 404
            t0 = time.time()
            replace_json(f, doc)
            while time.time() - t0 < 10:
                if http_status(ports["http"], host, timeout=1) == want:
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
        out[name] = [float(v) for v in cols[i] if v]
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
