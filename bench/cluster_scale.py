#!/usr/bin/env python3
"""Cluster mode at scale, against the real test kube-apiserver + etcd.

Loads N Ingresses into a fresh test cluster, each with its own Service and
EndpointSlice (one endpoint, or --endpoints), and one in ten with its own TLS Secret (its own
key and certificate). Then starts Portico with the portico ServiceAccount and
reports:
- start -> initial list complete, and list complete -> /readyz 200;
- controller peak RSS (VmHWM) once ready and after the changes, its RSS a
  second after ready, right after the changes and two seconds later (settled);
- HAProxy's RSS (master, worker) when ready, and the servers in haproxy.cfg;
- API write -> served, CHANGES times each (--kinds):
  host: a new Ingress on an existing Service (a route becomes visible as
  503: the loaded Services' addresses are unreachable in the namespace);
  path: a path added to an Ingress (until it answers 200, 404 before);
  endpoint: an endpoint added to a Service (until it answers: the endpoints
  are an HAProxy answering X-Endpoint on 198.19.255.x, the namespace's own
  addresses) and removed (until 8 requests in a row avoid it);
  secret: the TLS Secret of h0.bench.test rotated, between two certificates
  for that host (until HAProxy presents the new one for its SNI);
  backend: a new Service + EndpointSlice + Ingress, a new HAProxy backend:
  served from a spare backend through the Runtime API, then one reload
  --min-reload-interval later gives it its own name (--spare-backends); the
  next one comes --reload-gap after it is served, beyond that reload, so
  that none waits for another's; how many were served from a spare, the
  reloads, their time in Portico's log, HAProxy's peak RSS during them;
  the reloads each kind caused;
- with --gap, that many seconds after each change is served: past 2 s, each
  change pays for the files written after it by itself, as one that comes
  alone does (without, the files are written once for a batch);
- the controller's CPU time per change, by kind: utime + stime of Portico
  (/proc/PID/stat) over each kind's batch, which ends once Portico is quiet
  again, less its idle CPU over as long (the rate of an --idle s quiet
  interval of the same run, shown too), divided by the changes; with its
  passes (model builds, patches of the running model for endpoint changes
  and reroutes of it for Ingress changes) and watch events per change
  (/metrics), and the CPU of the children it waited for (the haproxy -c of
  each reload);
- the drift check every 30 s falls in some batches and not others: with
  --drift-interval-ms 3600000 it falls in none (bench/drift_cost.py
  measures it on its own);
- with --callgrind, one more run under callgrind after the others, the
  instructions per change by kind: instrumentation on only from just before
  a kind's first change until Portico is quiet after its last (the watch
  events' decoding, the passes, the Runtime API, the status writes), then a
  dump per kind; less the idle instructions over as long (an idle dump of
  the same run), and the top functions by inclusive cost;
- with --perf DIR, perf record -g of Portico over each kind's batch, into
  DIR/perf-KIND.data (a build with -fno-omit-frame-pointer shows whole
  stacks: make BUILD=/tmp/build-fp CFLAGS="-O2 -g -fno-omit-frame-pointer"
  /tmp/build-fp/portico);
- with --load S: wrk (-t1 -c50) on a stable host for S seconds while
  --load-changes changes are made (new host, path added to the loaded
  Ingress, endpoint added to and removed from the loaded Service, and with
  --load-backends new Services): requests, failed requests, latency, reloads.

    python3 bench/cluster_scale.py --ingresses 1000 [--changes 100]
    python3 bench/cluster_scale.py --ingresses 10000 --runs 3 \
        --portico /tmp/portico-before --portico ./portico
    python3 bench/cluster_scale.py --ingresses 10000 --endpoints 5   # 50k endpoints
    python3 bench/cluster_scale.py --ingresses 1000 --changes 100 --load 60 --runs 3
    python3 bench/cluster_scale.py --ingresses 1000 --kinds '' --load 60 --load-backends
    python3 bench/cluster_scale.py --ingresses 10000 --endpoints 5 --runs 3 \
        --backend-changes 20 --callgrind --callgrind-changes 20

Loading takes minutes at 10k, so one loaded cluster serves every run: with
several --portico binaries the runs alternate between them (a baseline and
a change measured side by side on the same machine, in the same minutes).
With --runs 2 or more, a summary gives the median [min–max] of each figure
over the runs (p50 and p99 of each run's latencies).

It runs itself inside a private network namespace (unshare -n, loopback
only), so that no request ever leaves the machine: the endpoints' 198.18.x.y
addresses are unreachable there and HAProxy answers 503 at once.
"""

import argparse
import concurrent.futures
import contextlib
import itertools
import os
import re
import shlex
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from types import SimpleNamespace
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "cluster"))
from benchlib import (cpu_ms, free_port, haproxy_cfg_text, haproxy_memory, http_answer,  # noqa: E402
                      http_status, memory_mib, metrics, pct, portico_command, reload_times,
                      reloads, spare_uses, wait_ready)
from kapi import Client  # noqa: E402
from throughput import (backend_cfg, pressure, stop, wait_listening, wrk_command,  # noqa: E402
                        wrk_result)

CLUSTER = ROOT / "tests" / "cluster" / "cluster.sh"
ENDPOINTS_PORT = 8080  # of the answering endpoints' HAProxy, on each of LIVE


def into_netns():
    """Runs this script again in a private network namespace (loopback
    only, LIVE's addresses on it), once the test cluster's binaries are
    built: inside there is no route to the Go module proxy."""
    if os.environ.get("PORTICO_BENCH_NETNS"):
        return
    subprocess.run([str(CLUSTER), "build"], check=True, stdout=subprocess.DEVNULL)
    os.execvp("unshare", ["unshare", "-n", "sh", "-c",
                          'ip link set lo up && for a in ' + " ".join(LIVE) +
                          '; do ip addr add $a/32 dev lo; done && '
                          'PORTICO_BENCH_NETNS=1 exec "$0" "$@"',
                          sys.executable, *sys.argv])


@contextlib.contextmanager
def bench_cluster(prefix):
    """A fresh test cluster in a new directory <prefix>..., with namespace
    "bench", the "portico" IngressClass, and an HAProxy answering on LIVE's
    addresses (ENDPOINTS_PORT, X-Endpoint); yields (directory, admin client)
    and stops them all after."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    subprocess.run([str(CLUSTER), "start", str(tmp / "c")], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    (tmp / "backends.cfg").write_text(backend_cfg(ENDPOINTS_PORT, 1,
                                                  addrs=[[a] for a in LIVE], ident=True))
    blog = open(tmp / "backends.log", "w")
    backends = subprocess.Popen(["haproxy", "-db", "-f", str(tmp / "backends.cfg")],
                                stdout=blog, stderr=blog)
    try:
        for a in LIVE:
            wait_listening(ENDPOINTS_PORT, "the endpoints' haproxy", backends, host=a, log=blog)
        admin = Client.from_kubeconfig(str(tmp / "c" / "admin.kubeconfig"))
        admin.apply([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bench"}},
                     {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
                      "metadata": {"name": "portico"},
                      "spec": {"controller": "portico.dev/ingress-controller"}}])
        yield tmp, admin
    finally:
        stop(backends)
        subprocess.run([str(CLUSTER), "stop", str(tmp / "c")], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)


def make_cert(host, serial):
    """A (certificate, key) PEM pair, ECDSA P-256, for <host>."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.timezone.utc)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    crt = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
           .public_key(key.public_key()).serial_number(serial)
           .not_valid_before(now - dt.timedelta(hours=1))
           .not_valid_after(now + dt.timedelta(days=30))
           .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
           .sign(key, hashes.SHA256()))
    return (crt.public_bytes(serialization.Encoding.PEM).decode(),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()).decode())


def make_certs(n):
    """Distinct (certificate, key) pairs for h<i>.bench.test, every tenth i
    below n; under "rotated", a second one for h0.bench.test."""
    out = {i: make_cert(f"h{i}.bench.test", i + 1) for i in range(0, n, 10)}
    out["rotated"] = make_cert("h0.bench.test", n + 1)
    return out


def address(n):
    """The n-th address of 198.18.0.0/15, the range set aside for benchmarks."""
    return f"198.{18 + ((n >> 16) & 1)}.{(n >> 8) & 255}.{n & 255}"


# Answering endpoints: addresses of the namespace's loopback, one HAProxy
# frontend each (X-Endpoint: the address), far from address()'s range.
LIVE = [f"198.19.255.{i}" for i in range(1, 9)]


def service_objects(name, addrs, host, paths=("/",), ns="bench"):
    """Service <name>, its EndpointSlice with <addrs> ready, and Ingress
    <name> routing <host> and <paths> (Prefix) to it."""
    return [
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
         "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080}]}},
        endpoint_slice(name, addrs, ns=ns),
        ingress(name, host, name, paths, ns=ns)]


def endpoint_slice(service, addrs, port=ENDPOINTS_PORT, ns="bench"):
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": f"{service}-1", "namespace": ns,
                         "labels": {"kubernetes.io/service-name": service}},
            "addressType": "IPv4", "ports": [{"name": "http", "port": port}],
            "endpoints": [{"addresses": [a], "conditions": {"ready": True}} for a in addrs]}


def ingress(name, host, service, paths=("/",), ns="bench"):
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"ingressClassName": "portico",
                     "rules": [{"host": host, "http": {"paths": [
                         {"path": p, "pathType": "Prefix", "backend": {
                             "service": {"name": service, "port": {"name": "http"}}}}
                         for p in paths]}}]}}


def tls_secret_object(name, crt, key):
    return {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
            "metadata": {"name": name, "namespace": "bench"},
            "stringData": {"tls.crt": crt, "tls.key": key}}


def objects(i, certs, endpoints=1):
    objs = service_objects(f"s{i}", [address(i * endpoints + j) for j in range(endpoints)],
                           f"h{i}.bench.test")
    objs[2]["metadata"]["name"] = f"i{i}"
    if i % 10 == 0:
        objs.insert(2, tls_secret_object(f"t{i}", *certs[i]))
        objs[3]["spec"]["tls"] = [{"hosts": [f"h{i}.bench.test"], "secretName": f"t{i}"}]
    return objs


def fixed_objects(port):
    """The Services with answering endpoints: "ep" (endpoint changes, one
    endpoint to start with) and "web" (the load, 3 endpoints)."""
    return (service_objects("ep", LIVE[:1], "ep.bench.test")
            + service_objects("web", LIVE[:3], "web.bench.test")
            + [ingress("paths", "paths.bench.test", "ep", ["/x"])])


def ts(line):
    m = re.match(r"ts=(\S+)Z", line)
    return datetime.fromisoformat(m.group(1)).timestamp() if m else None


class HAProxyMemory(threading.Thread):
    """Samples the RSS of Portico's HAProxy (master + workers) every 10 ms
    until stopped: the peak of the sum, of one worker, the most workers."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.done = pid, threading.Event()
        self.total = self.worker = 0.0
        self.workers = 0

    def run(self):
        while not self.done.wait(0.01):
            m = haproxy_memory(self.pid)
            if m:
                ws = [w["VmRSS"] for w in m["workers"] if "VmRSS" in w]
                self.total = max(self.total, m["master"].get("VmRSS", 0) + sum(ws))
                self.worker = max([self.worker] + ws)
                self.workers = max(self.workers, len(ws))

    def stop(self):
        self.done.set()
        self.join()


def endpoint_of(port, host):
    status, headers = http_answer(port, host, 1.0)
    return headers.get("x-endpoint") if status == 200 else None


# seconds a change may take to be served; far longer under callgrind
LIMIT = [30]
# seconds between a change served and the next (--gap)
GAP = [0.0]
PERF = [None]  # --perf: a directory for perf's profile of each batch


def until(cond, what, limit=None):
    """Milliseconds until cond() is true; stops the benchmark after <limit> s."""
    limit = limit or LIMIT[0]
    t = time.monotonic()
    while not cond():
        if time.monotonic() - t > limit:
            raise SystemExit(f"{what}: not served after {limit} s")
    return (time.monotonic() - t) * 1000


WRITEBACK_S = 2.1  # Portico's CTL_WRITEBACK_MS, and a margin


def settle(pid, cg, limit=30):
    """Waits until Portico is quiet: under 5 % of a CPU over a second (two
    under callgrind), its timers' own ticks being far less; at most <limit> s.
    Seconds waited."""
    window = 2.0 if cg else 1.0
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        c0 = cpu_ms(pid)[0]
        time.sleep(window)
        if cpu_ms(pid)[0] - c0 < 0.05 * window * 1000:
            break
    return time.monotonic() - t0


def callgrind(pid, *args):
    subprocess.run(["callgrind_control", *args, str(pid)], check=True,
                   stdout=subprocess.DEVNULL)


def measured(pid, ctl, log, cg, name, fn):
    """Runs fn(), a batch of changes, and returns (its result, its cost):
    Portico's CPU (ms: its own, the children it waited for), the wall time
    (s), its passes (/metrics) and watch events (its debug log), from just
    before the first change until it is quiet again after the last
    (settle()), and at least WRITEBACK_S, so that the work a change leaves
    behind it (files written, status writes and their events) counts. Under
    callgrind (<cg>) instrumentation is on over the same span, then dumped
    as <name>."""
    m0, e0 = metrics(ctl), log.read_text().count('msg="watch event ')
    if cg:
        callgrind(pid, "-i", "on")
    perf = None
    if PERF[0] and name != "idle":
        perf = subprocess.Popen(["perf", "record", "-q", "-g", "-p", str(pid), "-o",
                                 str(Path(PERF[0]) / f"perf-{name}.data")],
                                stdout=subprocess.DEVNULL)
    c0, t0 = cpu_ms(pid), time.monotonic()
    res = fn()
    # the files of patches and reroutes are written up to 2 s after them
    time.sleep(WRITEBACK_S * (10 if cg else 1))
    settle(pid, cg, 600 if cg else 30)
    c1, t1 = cpu_ms(pid), time.monotonic()
    if perf:
        perf.send_signal(signal.SIGINT)
        perf.wait(60)
    if cg:
        callgrind(pid, "-i", "off")
        callgrind(pid, "-d", name)
    m1 = metrics(ctl)

    def delta(prefix):
        return sum(v for k, v in m1.items() if k.startswith(prefix)) - sum(
            v for k, v in m0.items() if k.startswith(prefix))

    return res, {"cpu": c1[0] - c0[0], "child": c1[1] - c0[1], "wall": t1 - t0,
                 "passes": delta("portico_sync_passes_total"),
                 "patches": delta("portico_model_patches_total"),
                 "reroutes": delta("portico_model_reroutes_total"),
                 "recerts": delta("portico_model_recerts_total"),
                 "events": log.read_text().count('msg="watch event ') - e0}


def callgrind_dumps(work, top):
    """The dumps of a run under callgrind, by name: (total Ir, the <top>
    functions by inclusive Ir as callgrind_annotate prints them)."""
    out = {}
    for f in sorted(work.glob("cg.out.*.*")):
        text = f.read_text(errors="replace")
        m = re.search(r"^desc: Trigger: dump (\S+)", text, re.M)
        tot = re.search(r"^totals: (\d+)", text, re.M)
        if not m or not tot:
            continue
        ann = subprocess.run(["callgrind_annotate", "--inclusive=yes", str(f)],
                             capture_output=True, text=True).stdout
        rows, seen = [], set()
        for line in ann.splitlines():
            # "Ir (pct)  file:function [object]": a function can come twice,
            # under its file's full and relative names; left out: its
            # recursion levels (f'2: their inclusive cost counts the same
            # instructions again) and functions without a symbol (0x...)
            r = re.match(r"^\s*([\d,]+) \(\s*([\d.]+)%\)\s+(?:.*:)?([^:\s]+)(?: \[.*\])?$",
                         line)
            if (r and r.group(3) not in seen and r.group(3) != "TOTALS"
                    and "'" not in r.group(3) and not r.group(3).startswith("0x")):
                seen.add(r.group(3))
                rows.append(f"{r.group(1):>15} {r.group(2):>6} %  {r.group(3)}")
        out[m.group(1)] = (int(tot.group(1)), rows[:top])
    return out


def changes_host(admin, ports, certs, n, tag, created, writes):
    """New Ingresses on existing Services: until the host answers (503: the
    Services' endpoints are unreachable)."""
    lat = []
    for i in range(n):
        name = f"new-{tag}-{i}"
        ing = ingress(name, f"{name}.bench.test", f"s{i + 1}")
        t = time.monotonic()
        writes.append((name, time.time()))
        admin.create([ing])
        created.append(ing)
        until(lambda: http_status(ports["http"], f"{name}.bench.test") != 404, name)
        lat.append((time.monotonic() - t) * 1000)
        time.sleep(GAP[0])
    return lat


def changes_path(admin, ports, n):
    """Paths added one by one to Ingress "paths" (Service "ep"): until the
    new path answers 200 (404 before: its host has no other route there)."""
    lat, paths = [], ["/x"]
    for i in range(n):
        paths.append(f"/p{i}")
        t = time.monotonic()
        admin.apply([ingress("paths", "paths.bench.test", "ep", paths)])
        until(lambda: http_status(ports["http"], "paths.bench.test", path=f"/p{i}") == 200,
              f"path /p{i}")
        lat.append((time.monotonic() - t) * 1000)
        time.sleep(GAP[0])
    return lat


def changes_backend(admin, ports, n, tag, created, gap):
    """New Ingresses each with a new Service and EndpointSlice (a new HAProxy
    backend): from the first write until the host answers 200, then <gap>
    seconds so that the next one is not held back by the reload that gives
    this one its own name (--min-reload-interval after it). Also how long
    the three API writes took (the API server's share, a same-run baseline)."""
    lat, writes = [], []
    for i in range(n):
        name = f"nb-{tag}-{i}"
        objs = service_objects(name, [LIVE[3]], f"{name}.bench.test")
        t = time.monotonic()
        admin.create(objs)
        writes.append((time.monotonic() - t) * 1000)
        created.extend(objs)
        until(lambda: http_status(ports["http"], f"{name}.bench.test") == 200, name)
        lat.append((time.monotonic() - t) * 1000)
        time.sleep(gap)
    return lat, writes


def served_cert(port, host):
    """The DER of the certificate HAProxy presents for SNI <host>, or None."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            with ctx.wrap_socket(s, server_hostname=host) as t:
                return t.getpeercert(binary_form=True)
    except OSError:
        return None


def changes_secret(admin, ports, certs, n):
    """n rotations of Secret t0, in turn to the other certificate for
    h0.bench.test: until HAProxy presents it for that SNI. Then back to the
    first."""
    lat = []
    pairs = [certs["rotated"], certs[0]]
    for i in range(n):
        crt, key = pairs[i % 2]
        der = ssl.PEM_cert_to_DER_cert(crt)
        t = time.monotonic()
        admin.apply([tls_secret_object("t0", crt, key)])
        until(lambda: served_cert(ports["https"], "h0.bench.test") == der, f"rotation {i}")
        lat.append((time.monotonic() - t) * 1000)
        time.sleep(GAP[0])
    if n % 2:
        admin.apply([tls_secret_object("t0", *certs[0])])
    return lat


def changes_endpoint(admin, ports, n):
    """n times an endpoint added to Service "ep" (until it answers) and
    removed (until 8 requests in a row avoid it)."""
    add, rm = [], []
    port = ports["http"]
    for _ in range(n):
        t = time.monotonic()
        admin.apply([endpoint_slice("ep", LIVE[:2])])
        until(lambda: endpoint_of(port, "ep.bench.test") == LIVE[1], "endpoint added")
        add.append((time.monotonic() - t) * 1000)
        time.sleep(GAP[0])
        t = time.monotonic()
        admin.apply([endpoint_slice("ep", LIVE[:1])])
        clean = 0
        while clean < 8:
            clean = clean + 1 if endpoint_of(port, "ep.bench.test") == LIVE[0] else 0
            if time.monotonic() - t > LIMIT[0]:
                raise SystemExit(f"endpoint removed: still served after {LIMIT[0]} s")
        rm.append((time.monotonic() - t) * 1000)
        time.sleep(GAP[0])
    return add, rm


def under_load(admin, ports, args, tag, created):
    """wrk on web.bench.test for --load seconds while --load-changes changes
    are made, evenly spread: in turn a new Ingress on an existing Service, a
    path added to web's own Ingress, an endpoint added to web and removed
    again (and, with --load-backends, a new Service + Ingress: a reload)."""
    kinds = ["host", "path", "endpoint+", "endpoint-"] + (["backend"] if args.load_backends else [])
    wargs = SimpleNamespace(threads=1, connections=args.connections, duration=args.load)
    url = f"http://127.0.0.1:{ports['http']}/"
    r0 = reloads(ports["ctl"])
    wrk = subprocess.Popen(wrk_command(url, wargs, "web.bench.test"), stdout=subprocess.PIPE,
                           text=True)
    t0 = time.monotonic()
    done, paths = {k: 0 for k in kinds}, ["/"]
    for k in range(args.load_changes):
        time.sleep(max(0, t0 + (k + 0.5) * args.load / args.load_changes - time.monotonic()))
        kind = kinds[k % len(kinds)]
        if kind == "host":
            ing = ingress(f"load-{tag}-{k}", f"load-{tag}-{k}.bench.test", f"s{k + 1}")
            admin.create([ing])
            created.append(ing)
        elif kind == "path":
            paths.append(f"/p{k}")
            admin.apply([ingress("web", "web.bench.test", "web", paths)])
        elif kind == "endpoint+":
            admin.apply([endpoint_slice("web", LIVE[:4])])
        elif kind == "endpoint-":
            admin.apply([endpoint_slice("web", LIVE[:3])])
        else:
            objs = service_objects(f"lb-{tag}-{k}", [LIVE[4]], f"lb-{tag}-{k}.bench.test")
            admin.create(objs)
            created.extend(objs)
        done[kind] += 1
    out = wrk.communicate(timeout=args.load + 60)[0]
    r = wrk_result(out, url, check=False)
    r["reloads"] = reloads(ports["ctl"]) - r0
    r["changes"] = done
    admin.apply(fixed_objects(0)[3:6])  # web as it was
    return r


def run_once(binary, tmp, admin, certs, args, tag, cg=False):
    """Starts <binary> against the loaded cluster, measures, stops it.
    The objects it creates are named after <tag> and deleted afterwards.
    With <cg>, under callgrind, --callgrind-changes of each kind, no load."""
    work = Path(tempfile.mkdtemp(prefix="run-", dir=tmp))
    path, *flags = shlex.split(binary)
    cmd, ports = portico_command(path, f"--kubeconfig={tmp / 'c' / 'portico.kubeconfig'}", work)
    cmd += flags
    if cg:
        # instrumented only around the changes: the start runs at about a
        # fifth of the speed instead of a fiftieth
        cmd = ["valgrind", "--tool=callgrind", "--instr-atstart=no",
               f"--callgrind-out-file={work / 'cg.out.%p'}"] + cmd
    log = work / "portico.log"
    start = time.time()
    env = dict(os.environ)
    if args.drift_interval_ms:
        env["PORTICO_DRIFT_INTERVAL_MS"] = str(args.drift_interval_ms)
    proc = subprocess.Popen(cmd + ["--log-level=debug"], stderr=open(log, "w"), env=env)
    created, out = [], {"work": work}
    n = args.callgrind_changes if cg else args.changes
    nb = args.callgrind_changes if cg else args.backend_changes or args.changes
    cost = {}

    def batch(name, fn):
        res, cost[name] = measured(proc.pid, ports["ctl"], log, cg, name, fn)
        return res
    try:
        wait_ready(ports["ctl"], proc, lambda: log.read_text()[-3000:])
        ready = time.time()
        hwm = memory_mib(proc.pid)["VmHWM"]
        time.sleep(1)
        rss = memory_mib(proc.pid)["VmRSS"]
        hap = haproxy_memory(proc.pid)
        out["hap_ready"] = (hap["master"]["VmRSS"], max(w["VmRSS"] for w in hap["workers"]))
        cfg = haproxy_cfg_text(work / "config" / "current")
        out["servers"] = len(re.findall(r"^\s+server ", cfg, re.M))
        out["backends"] = len(re.findall(r"^backend ", cfg, re.M))
        listed = next(ts(l) for l in log.read_text().splitlines() if "every resource listed" in l)
        # the start's own work (status writes of every Ingress...) over first
        out["settle"] = settle(proc.pid, cg, 600 if cg else 120)
        batch("idle", lambda: time.sleep(args.idle))
        writes = []
        if "host" in args.kinds:
            r0 = reloads(ports["ctl"])
            out["served"] = batch("host", lambda: changes_host(admin, ports, certs, n, tag,
                                                               created, writes))
            out["host_reloads"] = reloads(ports["ctl"]) - r0
        status = memory_mib(proc.pid)
        hwm2, rss2 = status["VmHWM"], status["VmRSS"]
        time.sleep(2)
        rss3 = memory_mib(proc.pid)["VmRSS"]
        if "path" in args.kinds:
            r0 = reloads(ports["ctl"])
            out["path"] = batch("path", lambda: changes_path(admin, ports, n))
            out["path_reloads"] = reloads(ports["ctl"]) - r0
            admin.apply([ingress("paths", "paths.bench.test", "ep", ["/x"])])
            settle(proc.pid, cg)  # that change is nobody's
        if "endpoint" in args.kinds:
            r0 = reloads(ports["ctl"])
            out["ep_add"], out["ep_del"] = batch("endpoint", lambda: changes_endpoint(admin, ports,
                                                                                     n))
            out["ep_reloads"] = reloads(ports["ctl"]) - r0
        if "secret" in args.kinds:
            r0 = reloads(ports["ctl"])
            out["secret"] = batch("secret", lambda: changes_secret(admin, ports, certs, n))
            out["secret_reloads"] = reloads(ports["ctl"]) - r0
        if "backend" in args.kinds:
            r0, k0 = reloads(ports["ctl"]), len(reload_times(log.read_text()))
            s0 = spare_uses(ports["ctl"])
            sampler = HAProxyMemory(proc.pid)
            sampler.start()
            try:
                out["backend"], out["backend_writes"] = batch("backend", lambda: changes_backend(
                    admin, ports, nb, tag, created, args.reload_gap))
            finally:
                sampler.stop()
            out["backend_reloads"] = reloads(ports["ctl"]) - r0
            out["backend_spared"] = spare_uses(ports["ctl"]) - s0
            out["reload_ms"] = reload_times(log.read_text())[k0:]
            out["hap_reload"] = (sampler.total, sampler.worker, sampler.workers)
        if args.load and not cg:
            out["load"] = under_load(admin, ports, args, tag, created)
        applied = {}
        for line in log.read_text().splitlines():
            m = re.search(r'obj="ingress/bench/(new-[^"]+)" msg="watch event ADDED applied"', line)
            if m:
                applied[m.group(1)] = ts(line)
        store_lat = [(applied[n] - w) * 1000 for n, w in writes if n in applied]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(300 if cg else 30)
        admin.delete_object(created)
    # changes per batch: an endpoint added and removed is two
    counts = {"host": len(out.get("served", [])), "path": len(out.get("path", [])),
              "endpoint": 2 * len(out.get("ep_add", [])), "secret": len(out.get("secret", [])),
              "backend": len(out.get("backend", []))}
    idle = cost.pop("idle")
    out["idle_cpu"] = idle["cpu"] / idle["wall"]  # ms per s
    out["cost"] = {k: dict(c, n=counts[k]) for k, c in cost.items()}
    for k, c in out["cost"].items():
        c["net"] = (c["cpu"] - out["idle_cpu"] * c["wall"]) / c["n"]
    if cg:
        dumps = callgrind_dumps(work, args.top)
        irate = dumps["idle"][0] / idle["wall"]
        out["ir"] = {k: (dumps[k][0], (dumps[k][0] - irate * c["wall"]) / c["n"], dumps[k][1])
                     for k, c in out["cost"].items() if k in dumps}
        out["ir_idle"] = irate
    out.update({"list": (listed - start) * 1000, "ready": (ready - listed) * 1000,
                "hwm": hwm, "rss": rss, "hwm2": hwm2, "rss2": rss2, "rss3": rss3,
                "store": store_lat})
    return out


def dist(v):
    return (f"min {min(v):.1f} p50 {pct(v, 50):.1f} p90 {pct(v, 90):.1f} p99 {pct(v, 99):.1f} "
            f"max {max(v):.1f}")


def report(binary, r):
    print(f"{binary}:")
    print(f"  start -> initial list complete: {r['list']:.0f} ms")
    print(f"  list complete -> /readyz 200: {r['ready']:.0f} ms")
    print(f"  controller peak RSS: {r['hwm']:.1f} MiB when ready, {r['hwm2']:.1f} MiB after the "
          f"new Ingresses; RSS 1 s after ready {r['rss']:.1f} MiB, right after the changes "
          f"{r['rss2']:.1f} MiB, 2 s later {r['rss3']:.1f} MiB")
    print(f"  HAProxy when ready: {r['backends']} backends, {r['servers']} servers in haproxy.cfg; "
          f"RSS master {r['hap_ready'][0]:.1f} MiB, worker {r['hap_ready'][1]:.1f} MiB")
    if "served" in r:
        st, lat = r["store"], r["served"]
        print(f"  API write (request sent) -> store update, {len(st)} new Ingresses (ms): "
              f"{dist(st)}")
        print(f"  new Ingress, existing Service: API write -> served, {len(lat)} (ms): "
              f"{dist(lat)}; reloads {r['host_reloads']:.0f}")
    if "path" in r:
        print(f"  path added to an Ingress: API write -> served, {len(r['path'])} (ms): "
              f"{dist(r['path'])}; reloads {r['path_reloads']:.0f}")
    if "ep_add" in r:
        print(f"  endpoint added -> gets traffic, {len(r['ep_add'])} (ms): {dist(r['ep_add'])}")
        print(f"  endpoint removed -> 8 requests in a row avoid it, {len(r['ep_del'])} (ms): "
              f"{dist(r['ep_del'])}; reloads in the {2 * len(r['ep_add'])} endpoint changes "
              f"{r['ep_reloads']:.0f}")
    if "secret" in r:
        print(f"  TLS Secret rotated -> new certificate presented, {len(r['secret'])} (ms): "
              f"{dist(r['secret'])}; reloads {r['secret_reloads']:.0f}")
    if "backend" in r:
        print(f"  new Ingress + new Service + EndpointSlice: first write -> served 200, "
              f"{len(r['backend'])} (ms): {dist(r['backend'])}; the three API writes alone "
              f"{dist(r['backend_writes'])}; served from a spare "
              f"{r['backend_spared']:.0f}; reloads {r['backend_reloads']:.0f}; "
              f"reload time in Portico's log (ms): {dist(r['reload_ms']) if r['reload_ms'] else '-'}")
        print(f"  HAProxy during those reloads: peak RSS master + workers {r['hap_reload'][0]:.1f} "
              f"MiB, one worker {r['hap_reload'][1]:.1f} MiB, up to {r['hap_reload'][2]} workers")
    if "load" in r:
        ld = r["load"]
        c, rd, w, to = ld["socket_errors"]
        print(f"  under load: {ld['requests']} requests ({ld['rps']:.0f}/s), failed "
              f"{ld['non2xx'] + c + rd + w + to} (non-2xx/3xx {ld['non2xx']}, connect {c}, "
              f"read {rd}, write {w}, timeout {to}); latency p50 {ld['p50']:.2f} p90 "
              f"{ld['p90']:.2f} p99 {ld['p99']:.2f} max {ld['max']:.1f} ms; changes "
              f"{ld['changes']}; reloads {ld['reloads']:.0f}")
    if r["cost"]:
        print(f"  controller CPU per change, less idle ({r['idle_cpu']:.2f} ms per s over "
              f"--idle, after {r['settle']:.0f} s settling after ready), ms:")
        for k, c in r["cost"].items():
            print(f"    {k}: {c['net']:.2f} (gross {c['cpu'] / c['n']:.2f}; {c['n']} changes in "
                  f"{c['wall']:.1f} s; per change {c['passes'] / c['n']:.2f} passes "
                  f"({c['patches'] / c['n']:.2f} patches, "
                  f"{c['reroutes'] / c['n']:.2f} reroutes, "
                  f"{c['recerts'] / c['n']:.2f} certificate passes), "
                  f"{c['events'] / c['n']:.2f} watch events; children (haproxy -c) "
                  f"{c['child'] / c['n']:.1f} ms)")
    sys.stdout.flush()


def report_cg(binary, r):
    """The instructions of a run under callgrind."""
    print(f"{binary}, under callgrind (one run; timings are valgrind's, not Portico's):")
    print(f"  idle: {r['ir_idle'] / 1e3:.1f} k instructions per s")
    for k, (tot, per, top) in r["ir"].items():
        c = r["cost"][k]
        print(f"  {k}: {per / 1e6:.2f} M instructions per change, less idle ({tot / 1e6:.1f} M "
              f"over {c['n']} changes in {c['wall']:.0f} s; per change {c['passes'] / c['n']:.2f} "
              f"passes, {c['events'] / c['n']:.2f} watch events); by inclusive Ir:")
        for line in top:
            print(f"    {line}")
    sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ingresses", type=int, default=1000)
    ap.add_argument("--changes", type=int, default=100)
    ap.add_argument("--backend-changes", type=int, default=0,
                    help="new backends per run, if not --changes (each takes --reload-gap more)")
    ap.add_argument("--idle", type=float, default=20,
                    help="seconds of the quiet interval whose CPU is the idle baseline")
    ap.add_argument("--callgrind", action="store_true",
                    help="then one more run of each binary under callgrind: instructions")
    ap.add_argument("--callgrind-changes", type=int, default=20,
                    help="changes of each kind under callgrind (about 50 times slower)")
    ap.add_argument("--top", type=int, default=15,
                    help="functions listed per kind under callgrind")
    ap.add_argument("--endpoints", type=int, default=1,
                    help="ready endpoints in each Service's EndpointSlice")
    ap.add_argument("--kinds", default="host,path,endpoint,secret,backend",
                    help="changes timed, comma-separated: host (new Ingress, existing "
                         "Service), path (added to an Ingress), endpoint (added and "
                         "removed), secret (a TLS Secret rotated), backend (new Service + "
                         "EndpointSlice + Ingress); '' for none")
    ap.add_argument("--reload-gap", type=float, default=3.0,
                    help="seconds between two new backends, beyond the reload that names each "
                         "(Portico's --min-reload-interval is 2 s)")
    ap.add_argument("--load", type=int, default=0, metavar="SECONDS",
                    help="then wrk on a stable host for SECONDS while routes and endpoints change")
    ap.add_argument("--load-changes", type=int, default=60)
    ap.add_argument("--load-backends", action="store_true",
                    help="among the changes under load, new Services (reloads)")
    ap.add_argument("--connections", type=int, default=50, help="wrk connections")
    ap.add_argument("--runs", type=int, default=1, help="runs per binary")
    ap.add_argument("--gap", type=float, default=0,
                    help="seconds between a change served and the next (but new backends): "
                         "beyond Portico's 2 s writeback, each change pays for its own files")
    ap.add_argument("--drift-interval-ms", type=int, default=0,
                    help="Portico's drift check interval (PORTICO_DRIFT_INTERVAL_MS; 0: its "
                         "own, 30 s): 3600000 keeps the periodic check, whose cost "
                         "bench/drift_cost.py measures, out of the CPU per change")
    ap.add_argument("--perf", metavar="DIR",
                    help="perf record -g of Portico over each kind's batch, into "
                         "DIR/perf-KIND.data (build with -fno-omit-frame-pointer)")
    ap.add_argument("--portico", action="append",
                    help="binary to measure, and flags of its own after it, e.g. "
                         "'./portico --spare-backends=0' (repeatable; default ./portico)")
    args = ap.parse_args()
    binaries = args.portico or [str(ROOT / "portico")]
    args.kinds = set(k for k in args.kinds.split(",") if k)
    GAP[0] = args.gap
    PERF[0] = args.perf
    if args.perf:
        Path(args.perf).mkdir(parents=True, exist_ok=True)
    into_netns()
    with bench_cluster("portico-scale-") as (tmp, admin):
        admin.create(fixed_objects(ENDPOINTS_PORT))
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
                print(f"run {run + 1}, {time.strftime('%H:%M:%S')}, {pressure()}", flush=True)
                r = run_once(b, tmp, admin, certs, args, f"{run}-{k}")
                results[b].append(r)
                report(b, r)
        if args.callgrind:
            LIMIT[0] = 600
            for k, b in enumerate(binaries):
                print(f"callgrind run, {time.strftime('%H:%M:%S')}, {pressure()}", flush=True)
                r = run_once(b, tmp, admin, certs, args, f"cg-{k}", cg=True)
                report_cg(b, r)
        print(f"at the end, {time.strftime('%H:%M:%S')}: {pressure()}")
    if args.runs > 1 or len(binaries) > 1:
        summary(results, binaries)


def spread(values, fmt="{:.1f}"):
    """median [min–max]"""
    return (f"{fmt.format(statistics.median(values))} "
            f"[{fmt.format(min(values))}–{fmt.format(max(values))}]")


def summary(results, binaries):
    def failed(ld):
        return ld["non2xx"] + sum(ld["socket_errors"])

    def incremental(c):
        return c["patches"] + c["reroutes"] + c["recerts"]

    rows = [
        ("start -> initial list complete (ms)", lambda r: r["list"]),
        ("list complete -> /readyz 200 (ms)", lambda r: r["ready"]),
        ("controller peak RSS when ready (MiB)", lambda r: r["hwm"]),
        ("controller peak RSS after the new Ingresses (MiB)", lambda r: r["hwm2"]),
        ("controller RSS 1 s after ready (MiB)", lambda r: r["rss"]),
        ("controller RSS 2 s after the new Ingresses (MiB)", lambda r: r["rss3"]),
        ("HAProxy master RSS when ready (MiB)", lambda r: r["hap_ready"][0]),
        ("HAProxy worker RSS when ready (MiB)", lambda r: r["hap_ready"][1]),
        ("API write -> store update p50 (ms)", lambda r: pct(r["store"], 50)),
    ]
    for key, label in (("served", "new Ingress, existing Service"),
                       ("path", "path added to an Ingress"),
                       ("ep_add", "endpoint added -> gets traffic"),
                       ("ep_del", "endpoint removed -> avoided"),
                       ("secret", "TLS Secret rotated -> presented"),
                       ("backend", "new Ingress + new Service"),
                       ("backend_writes", "new Ingress + new Service: the 3 API writes alone")):
        for p in (50, 99):
            rows.append((f"{label}: p{p} (ms)", lambda r, k=key, p=p: pct(r[k], p)))
    rows += [
        ("reloads: new Ingresses on existing Services", "{:.0f}", lambda r: r["host_reloads"]),
        ("reloads: paths added", "{:.0f}", lambda r: r["path_reloads"]),
        ("reloads: endpoint changes", "{:.0f}", lambda r: r["ep_reloads"]),
        ("reloads: Secret rotations", "{:.0f}", lambda r: r["secret_reloads"]),
        ("new Services served from a spare backend", "{:.0f}", lambda r: r["backend_spared"]),
        ("reloads: new Services", "{:.0f}", lambda r: r["backend_reloads"]),
        ("reload time p50 (ms, Portico's log)", lambda r: pct(r["reload_ms"], 50)),
        ("reload time max (ms)", lambda r: max(r["reload_ms"])),
        ("HAProxy peak RSS master + workers during reloads (MiB)", lambda r: r["hap_reload"][0]),
        ("HAProxy peak RSS of one worker during reloads (MiB)", lambda r: r["hap_reload"][1]),
        ("under load: requests", "{:.0f}", lambda r: r["load"]["requests"]),
        ("under load: failed requests", "{:.0f}", lambda r: failed(r["load"])),
        ("under load: latency p99 (ms)", lambda r: r["load"]["p99"]),
        ("under load: latency max (ms)", lambda r: r["load"]["max"]),
        ("under load: reloads", "{:.0f}", lambda r: r["load"]["reloads"]),
        ("controller idle CPU (ms per s)", "{:.2f}", lambda r: r["idle_cpu"]),
    ]
    for kind in ("host", "path", "endpoint", "secret", "backend"):
        rows += [
            (f"controller CPU per change, less idle: {kind} (ms)", "{:.2f}",
             lambda r, k=kind: r["cost"][k]["net"]),
            (f"model builds per change: {kind}", "{:.2f}",
             lambda r, k=kind: (r["cost"][k]["passes"] - incremental(r["cost"][k])) /
             r["cost"][k]["n"]),
            (f"patches, reroutes or certificate passes of the running model per change: {kind}",
             "{:.2f}", lambda r, k=kind: incremental(r["cost"][k]) / r["cost"][k]["n"]),
        ]
    print("medians [min–max] over the runs:")
    print("| what | " + " | ".join(binaries) + " |")
    print("|---|" + "---|" * len(binaries))
    for row in rows:
        label, fmt, f = row if len(row) == 3 else (row[0], "{:.1f}", row[1])
        cells = []
        for b in binaries:
            try:
                cells.append(spread([f(r) for r in results[b]], fmt))
            except (KeyError, ValueError, TypeError, IndexError):
                cells.append(None)
        if any(cells):
            print(f"| {label} | " + " | ".join(c or "-" for c in cells) + " |")


if __name__ == "__main__":
    main()
