#!/usr/bin/env python3
"""Controller CPU of an endpoint or route change on its own, file mode, at scale.

An endpoint change patches the running model, a new host on an existing
backend reroutes it; both go through the Runtime API, and the generation's
files follow (an endpoint change's up to 2 s later, once for a burst). A
change that comes alone pays for those files by itself. Starts each Portico
binary on a copy of a manifests directory (bench/file_scale.py --write) with
--log-level=debug, then --changes times rewrites the manifest file holding
the first EndpointSlice with its first address changed (--kind endpoint) or
the first Ingress with one more host (--kind host), 3 s apart, and
reports per change: the controller's CPU time (user + system, from
/proc/<pid>/stat) from the rewrite until the files are written, and the
time its debug line gives the writing (render, files).

    python3 bench/file_scale.py --ingresses 10000 --write /tmp/m10k
    python3 bench/writeback_cost.py --manifests /tmp/m10k --portico /tmp/portico-before \\
        --portico ./portico --changes 10
"""

import argparse
import copy
import re
import shutil
import subprocess
import time
from pathlib import Path

from benchlib import cpu_ms, first_item, pct, portico_command, replace_json, wait_ready

WRITTEN = re.compile(r"generation (\d+) written after runtime updates: "
                     r"render ([\d.]+) ms, files ([\d.]+) ms")



def run(binary, src, work, changes, kind):
    man = work / "manifests"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(src, man)
    if kind == "endpoint":
        f, doc, i = first_item(man, "EndpointSlice", lambda o: o.get("endpoints"))
        eps = doc["items"][i]
    else:
        f, doc, i = first_item(man, "Ingress", lambda o: o.get("spec", {}).get("rules"))
        rules = doc["items"][i]["spec"]["rules"]
        first = copy.deepcopy(rules[0])
    cmd, ports = portico_command(binary, f"--manifests={man}", work)
    log = work / "portico.log"
    proc = subprocess.Popen(cmd + ["--log-level=debug"], stderr=open(log, "w"))
    cpu, render, files = [], [], []
    try:
        wait_ready(ports["ctl"], proc, lambda: f"{binary} exited before ready")
        time.sleep(3)
        for k in range(changes):
            if kind == "endpoint":
                eps["endpoints"][0]["addresses"] = [f"10.255.{k // 250}.{k % 250 + 1}"]
            else:
                rules.append(dict(copy.deepcopy(first), host=f"writeback-{k}.bench.test"))
            seen = len(WRITTEN.findall(log.read_text()))
            before = sum(cpu_ms(proc.pid))
            replace_json(f, doc)
            deadline = time.time() + 10
            while len(WRITTEN.findall(log.read_text())) == seen and time.time() < deadline:
                time.sleep(0.05)
            cpu.append(sum(cpu_ms(proc.pid)) - before)
            written = WRITTEN.findall(log.read_text())[seen:]
            if written:
                render.append(float(written[0][1]))
                files.append(float(written[0][2]))
            time.sleep(0.5)
    finally:
        proc.terminate()
        proc.wait()
    return cpu, render, files


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--manifests", type=Path, required=True)
    ap.add_argument("--portico", action="append", default=[])
    ap.add_argument("--changes", type=int, default=10)
    ap.add_argument("--kind", choices=("endpoint", "host"), default="endpoint",
                    help="endpoint: the first EndpointSlice's first address changed; host: "
                         "a host added to the first Ingress, routed as its first rule")
    ap.add_argument("--work", type=Path, default=Path("/tmp/writeback-cost"))
    args = ap.parse_args()
    for binary in args.portico or ["./portico"]:
        cpu, render, files = run(binary, args.manifests, args.work, args.changes, args.kind)
        line = f"{binary}: {len(cpu)} changes; CPU per change p50 {pct(cpu, 50):.0f} ms"
        if render:
            line += (f"; files written {len(render)} times, render p50 {pct(render, 50):.1f} ms, "
                     f"files p50 {pct(files, 50):.1f} ms")
        print(line, flush=True)
    shutil.rmtree(args.work, ignore_errors=True)


if __name__ == "__main__":
    main()
