#!/usr/bin/env python3
"""Cluster mode after an API server outage, against the real test
kube-apiserver + etcd: how soon a change made once the API server answers
again is served, and how hard Portico knocks while it is down.

Starts a test cluster with one Service + EndpointSlice, starts Portico with
the portico ServiceAccount, then OUTAGES times in a row:
- kills kube-apiserver (SIGKILL) and waits DOWN seconds;
- `cluster.sh restart-apiserver` (a new kube-apiserver on the same etcd); the
  moment it sees /readyz 200 is "the API server answers again";
- every other outage, `cluster.sh compact` next, so that the watches'
  resourceVersion is gone and Portico must relist (410 Gone); the table
  counts the relists seen too: a fresh kube-apiserver's watch cache answers
  410 to some resumed watches without a compaction, and a watch that
  resumed before the compaction does not see it;
- creates a new Ingress (a new host on the existing Service) and times until
  HAProxy serves it (503: the endpoint's 198.18.x.y address is unreachable
  here; 404 while the host is unknown);
- from Portico's debug log, between the kill and the API server answering
  (or Portico's own "API server answers again", when it comes sooner): its
  /readyz probes (`msg="GET <url>/readyz: ...`) and every request it sent
  (`msg="GET ...`, the watches the kill broke left out); and, from this
  kill to the next, the lines "API server unavailable" and "API server
  answers again" (one each per outage), the 410 relists and the informers'
  own backoffs ("retrying in").
The outages follow each other a few seconds apart (--gap), well inside the
2 minutes after which an informer's own backoff used to reset: the case where
a backoff grown by one outage delayed recovery from the next.

    python3 bench/outage_recovery.py [--outages 6] [--down 10]
    python3 bench/outage_recovery.py --portico /tmp/before-outage/portico --portico ./portico

With several --portico binaries each run starts each binary in turn for its
OUTAGES outages (--runs N alternates them N times), all on the same cluster.
The goal: every change served within 3 s of the API server answering again,
at most one probe a second from the whole controller while it is down.

It runs itself inside a private network namespace (unshare -n, loopback
only), as bench/cluster_scale.py does.
"""

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "cluster"))
from benchlib import portico_command, http_status, wait_ready  # noqa: E402
from kapi import ApiError, Client  # noqa: E402

CLUSTER = ROOT / "tests" / "cluster" / "cluster.sh"
NS = "bench"
GOAL_MS = 3000

PROBE = re.compile(r'msg="GET [^ ]*/readyz: ')
GET = re.compile(r'msg="GET ')
REL410 = re.compile(r"410 Gone")
BACKOFF = re.compile(r"retrying in \d+ ms")


def service_objects():
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}},
        {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
         "metadata": {"name": "portico"},
         "spec": {"controller": "portico.dev/ingress-controller"}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": NS},
         "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080}]}},
        {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
         "metadata": {"name": "s-1", "namespace": NS,
                      "labels": {"kubernetes.io/service-name": "s"}},
         "addressType": "IPv4", "ports": [{"name": "http", "port": 8080}],
         "endpoints": [{"addresses": ["198.18.0.1"], "conditions": {"ready": True}}]},
    ]


def ingress(name):
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": name, "namespace": NS},
            "spec": {"ingressClassName": "portico",
                     "rules": [{"host": f"{name}.bench.test", "http": {"paths": [
                         {"path": "/", "pathType": "Prefix", "backend": {
                             "service": {"name": "s", "port": {"name": "http"}}}}]}}]}}


def ts(line):
    """The wall-clock time of a log line (ts=...Z, UTC), or None."""
    m = re.match(r"ts=(\S+?)Z?\s", line)
    if not m:
        return None
    return datetime.fromisoformat(m.group(1)).replace(tzinfo=timezone.utc).timestamp()


def served(port, host, timeout):
    """Waits until HAProxy routes <host> (any answer but 404 or none);
    True if it did within <timeout> s."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if http_status(port, host) not in (0, 404):
            return True
        time.sleep(0.005)
    return False


def create(admin, objs, timeout=20):
    """admin.create(objs), again while the fresh API server refuses it."""
    end = time.monotonic() + timeout
    while True:
        try:
            admin.create(objs)
            return
        except (ApiError, OSError) as e:
            if time.monotonic() > end:
                raise SystemExit(f"creating {objs[0]['metadata']['name']}: {e}")
            time.sleep(0.05)


def restart_apiserver(cdir):
    """cluster.sh restart-apiserver; the time.monotonic() and time.time() at
    which it saw /readyz 200 (its "ready in" line)."""
    p = subprocess.Popen([str(CLUSTER), "restart-apiserver", str(cdir)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    up = None
    tail = []
    for line in p.stderr:
        tail = (tail + [line])[-5:]
        if up is None and "kube-apiserver: ready in" in line:
            up = (time.monotonic(), time.time())
    if p.wait(180) != 0 or up is None:
        raise SystemExit("restart-apiserver failed: " + "".join(tail))
    return up


def run_once(binary, cdir, admin, args, tag):
    """Starts <binary>, takes it through the outages, stops it; a row per outage."""
    work = Path(tempfile.mkdtemp(prefix="run-", dir=cdir.parent))
    cmd, ports = portico_command(binary, f"--kubeconfig={cdir / 'portico.kubeconfig'}", work)
    log = work / "portico.log"
    proc = subprocess.Popen(cmd + ["--log-level=debug"], stderr=open(log, "w"))
    steady = f"steady-{tag}"
    created = [ingress(steady)]
    marks = []
    try:
        create(admin, created)
        wait_ready(ports["ctl"], proc, lambda: log.read_text()[-3000:])
        if not served(ports["http"], f"{steady}.bench.test", 30):
            raise SystemExit(f"{binary}: {steady} not served in 30 s")
        time.sleep(args.gap)
        for n in range(args.outages):
            compact = n % 2 == 1
            pid = int((cdir / "kube-apiserver.pid").read_text())
            m = {"n": n + 1, "compact": compact, "off_kill": log.stat().st_size}
            m["kill_wall"] = time.time()
            t_kill = time.monotonic()
            os.kill(pid, signal.SIGKILL)
            time.sleep(args.down)
            m["steady"] = http_status(ports["http"], f"{steady}.bench.test")
            t_up, m["up_wall"] = restart_apiserver(cdir)
            m["off_up"] = log.stat().st_size
            if compact:
                subprocess.run([str(CLUSTER), "compact", str(cdir)], check=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            name = f"o{tag}-{n + 1}"
            t_write = time.monotonic()
            ing = ingress(name)
            create(admin, [ing])
            created.append(ing)
            ok = served(ports["http"], f"{name}.bench.test", args.timeout)
            t_served = time.monotonic()
            m.update(down=t_up - t_kill, served=(t_served - t_up) * 1000 if ok else None,
                     write=(t_served - t_write) * 1000 if ok else None)
            marks.append(m)
            if not ok:
                print(f"  {binary}: outage {n + 1}: {name} not served in {args.timeout} s",
                      flush=True)
            time.sleep(args.gap)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        try:
            admin.delete_object(created)
        except (ApiError, OSError):
            pass
    data = log.read_bytes()
    for i, m in enumerate(marks):
        during = data[m["off_kill"]:m["off_up"]].decode(errors="replace").splitlines()
        # Portico's own probe may get an answer (a 200, or a 403 before
        # RBAC is loaded) a little before cluster.sh sees /readyz 200: what
        # it sends from then on is its recovery, not the outage's
        first_ok = next((i for i, l in enumerate(during) if "API server answers again" in l),
                        None)
        if first_ok is not None:
            during = during[:first_ok + 1]
            m["counted"] = min(m["up_wall"], ts(during[-1]) or m["up_wall"]) - m["kill_wall"]
        else:
            m["counted"] = m["up_wall"] - m["kill_wall"]
        end = marks[i + 1]["off_kill"] if i + 1 < len(marks) else len(data)
        window = data[m["off_kill"]:end].decode(errors="replace").splitlines()
        probes = [l for l in during if PROBE.search(l)]
        # requests sent while it was down: the watches the kill broke end
        # within milliseconds of it, retries come 800 ms later at the soonest
        sent = [l for l in during if GET.search(l) and (ts(l) or 0) > m["kill_wall"] + 0.5]
        m.update(probes=len(probes), gets=len(sent),
                 unavailable=sum("API server unavailable" in l for l in window),
                 again=sum("API server answers again" in l for l in window),
                 gone=sum(bool(REL410.search(l)) for l in window),
                 backoffs=sum(bool(BACKOFF.search(l)) for l in window))
    return marks


def fmt(v, spec, none="-"):
    return none if v is None else format(v, spec)


def report(binary, rows, goal_ms):
    print(f"\n{binary}:")
    print(f"  {'run':>3} {'#':>2} {'410?':>4} {'down s':>6} {'answers->served ms':>18} "
          f"{'write->served ms':>16} {'probes':>6} {'probes/s':>8} {'requests':>8} "
          f"{'req/s':>5} {'410s':>4} {'backoffs':>8} {'unavail':>7} {'again':>5} {'steady':>6}")
    for run, m in rows:
        print(f"  {run:>3} {m['n']:>2} {'yes' if m['compact'] else 'no':>4} {m['down']:>6.1f} "
              f"{fmt(m['served'], '.0f', 'timeout'):>18} {fmt(m['write'], '.0f', 'timeout'):>16} "
              f"{m['probes']:>6} {m['probes'] / m['counted']:>8.2f} {m['gets']:>8} "
              f"{m['gets'] / m['counted']:>5.2f} {m['gone']:>4} {m['backoffs']:>8} "
              f"{m['unavailable']:>7} {m['again']:>5} {m['steady']:>6}")

    def mmm(values, spec):
        if not values:
            return "-"
        return (f"min {format(min(values), spec)}  median {format(statistics.median(values), spec)}"
                f"  max {format(max(values), spec)}")

    ms = [m for _, m in rows]
    lat = [m["served"] for m in ms if m["served"] is not None]
    print(f"  answers -> served (ms): {mmm(lat, '.0f')}"
          f"{'' if len(lat) == len(ms) else f'  ({len(ms) - len(lat)} not served)'}")
    for label, sub in (("no compaction", [m for m in ms if not m["compact"]]),
                       ("compacted (410)", [m for m in ms if m["compact"]])):
        v = [m["served"] for m in sub if m["served"] is not None]
        if sub:
            print(f"    {label}: {mmm(v, '.0f')}")
    print(f"  write -> served (ms): "
          f"{mmm([m['write'] for m in ms if m['write'] is not None], '.0f')}")
    print(f"  /readyz probes per second of outage: "
          f"{mmm([m['probes'] / m['counted'] for m in ms], '.2f')}")
    print(f"  requests per second of outage: "
          f"{mmm([m['gets'] / m['counted'] for m in ms], '.2f')}")
    within = sum(1 for v in lat if v <= goal_ms)
    print(f"  served within {goal_ms / 1000:.0f} s of the API server answering: "
          f"{within}/{len(ms)}; outages with 1 'unavailable' and 1 'answers again' line: "
          f"{sum(1 for m in ms if m['unavailable'] == 1 and m['again'] == 1)}/{len(ms)}",
          flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--outages", type=int, default=6, help="outages per run")
    ap.add_argument("--down", type=float, default=10,
                    help="seconds from the kill to the restart of kube-apiserver")
    ap.add_argument("--gap", type=float, default=2,
                    help="seconds from a change served to the next kill")
    ap.add_argument("--timeout", type=float, default=90,
                    help="seconds to wait for a change to be served")
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
    tmp = Path(tempfile.mkdtemp(prefix="portico-outage-"))
    cdir = tmp / "c"
    subprocess.run([str(CLUSTER), "start", str(cdir)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results = {b: [] for b in binaries}
    try:
        admin = Client.from_kubeconfig(str(cdir / "admin.kubeconfig"))
        admin.apply(service_objects())
        print(f"{args.outages} outages per run of {args.down:g} s each (kill -> restart), "
              f"{args.gap:g} s from a change served to the next kill; every other one "
              f"compacted (410)", flush=True)
        for run in range(args.runs):
            for k, b in enumerate(binaries):
                t0 = time.monotonic()
                rows = run_once(b, cdir, admin, args, f"{run}-{k}")
                results[b] += [(run + 1, m) for m in rows]
                served = ", ".join(fmt(m["served"], ".0f", "timeout") for m in rows)
                print(f"run {run + 1}, {b}: answers -> served (ms) {served}; "
                      f"{time.monotonic() - t0:.0f} s", flush=True)
    finally:
        subprocess.run([str(CLUSTER), "stop", str(cdir)], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    print("\nper outage: down s = kill -> API server answers (restart-apiserver sees "
          "/readyz 200); probes = Portico's GET /readyz, requests = every GET it sent "
          "meanwhile (up to its own 'answers again' if that came sooner; per second of that); "
          "410s, backoffs (an informer's own 'retrying in'), unavail, again = lines "
          "of the log from this kill to the next; "
          "steady = an existing route's status at the end of the outage")
    for b in binaries:
        report(b, results[b], GOAL_MS)
    print(f"\nlogs: {tmp}/run-*/portico.log")


if __name__ == "__main__":
    main()
