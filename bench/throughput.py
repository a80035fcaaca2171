#!/usr/bin/env python3
"""Data-plane throughput: Portico's HAProxy against a hand-written configuration.

One Ingress host routes to one Service with 3 ready endpoints. The endpoints
are HAProxy itself, a separate process of the same binary with 3 frontends
(on 127.0.0.2, .3 and .4, and on .5, .6 and .7 for the endpoints that
replace them) answering `http-request return status 200` with keep-alive, so
that they are never the bottleneck (the table's last line: wrk straight to
one of them). wrk loads, --duration seconds each:
- hand-written: a minimal configuration on the same haproxy binary (one
  frontend, one backend with the same 3 servers, mode http, Portico's timeouts,
  Portico's thread count: none by default, so HAProxy's one per CPU);
- Portico fresh: each --portico binary in file mode, just started;
- Portico after churn: the same process after --changes EndpointSlice
  rewrites applied through the Runtime API (3 -> 60 -> 3 endpoints, on new
  addresses each time, the last three the answering .5, .6 and .7, so that
  the servers left are ones added at run time). 0 reloads is checked (Portico's
  counter and log, the master's `show proc`), and so are the servers left
  (`show servers state`); their connection pools (`show servers conn`) are
  shown.
Each run starts a hand-written HAProxy and every Portico, measures them in
turn (the order rotates from run to run), applies the churn, and measures
them again: the ratios to the hand-written configuration are taken within a
run, then their median [min-max] over --runs runs is given. Beside the rate,
the CPU time the proxy's HAProxy spent per request (all its threads), which
the other work on a shared machine moves far less.

--routes N adds N Ingresses, each its own host and path to its own Service
(one endpoint, among the 3): 10,000 hosts, paths and backends with
--routes 10000; wrk still loads the first host. The hand-written
configuration then gets the same N backends and routes with one lookup of
host + path in one map (map_beg).

--callgrind N replaces wrk by HAProxy's instructions per request, under
valgrind --tool=callgrind, over N requests in a row on one connection:
deterministic, but user space only (a connection opened per request costs
mostly kernel time, which it does not see).

--explain measures instead the hand-written configuration with Portico's
rules added one group at a time (--per-line: one line at a time), copied from
what `portico render` writes for the same manifests, then that rendered
haproxy.cfg itself: which rule costs what.

    python3 bench/throughput.py [--runs 3] [--duration 5] [--connections 50]
    python3 bench/throughput.py --portico /tmp/portico-before/portico --portico ./portico
    python3 bench/throughput.py --explain [--per-line] [--callgrind 2000]
    python3 bench/throughput.py --nbthread 1   # Portico's nbthread key, and the same by hand
    python3 bench/throughput.py --routes 10000   # 10k more hosts, paths, backends

wrk is Debian's package `wrk` (scripts/deps.sh bench), valgrind is in
scripts/deps.sh test.
"""

import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import cpu_ns, free_port, http_status, metrics, portico_command, wait_ready

ROOT = Path(__file__).resolve().parents[1]
HOST = "web.bench.test"
FIRST = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]   # the endpoints in haproxy.cfg
LAST = ["127.0.0.5", "127.0.0.6", "127.0.0.7"]    # the endpoints after the churn


# ---------- processes ----------

def stop(proc, timeout=10):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_listening(port, what, proc, host="127.0.0.1", timeout=60, log=None):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            said = Path(log.name).read_text() if log else ""
            raise SystemExit(f"{what} exited (status {proc.returncode})\n{said}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.02)
    raise SystemExit(f"{what} not listening on {host}:{port} after {timeout} s")


# --pin PROXY:LOAD: the CPUs of the proxies (and Portico), and of wrk and the backends
PIN = {"proxy": [], "load": []}
# --callgrind: the proxies' HAProxy runs under this (valgrind --tool=callgrind ...)
VALGRIND = []
VALGRIND_DIR = [None]


def haproxy(cfg, log, role="proxy"):
    """haproxy -db -f <cfg> in <cfg>'s directory (maps/... are relative to
    it), and -f its backends/ beside a haproxy.cfg that Portico wrote; its
    output to <log>; a proxy under test under VALGRIND."""
    vg = VALGRIND if role == "proxy" else []
    files = ["-f", str(cfg)]
    if Path(cfg).name == "haproxy.cfg" and (Path(cfg).parent / "backends").is_dir():
        files += ["-f", str(Path(cfg).parent / "backends")]
    return subprocess.Popen(PIN[role] + vg + ["haproxy", "-db"] + files, stdout=log,
                            stderr=log, cwd=Path(cfg).parent)


def haproxy_wrapper(path):
    """A script for Portico's --haproxy-binary that runs HAProxy under
    VALGRIND, except `haproxy -c` (a configuration check)."""
    path.write_text(f"""#!/bin/sh
[ "$1" = -c ] && exec haproxy "$@"
exec {' '.join(VALGRIND)} {shutil.which('haproxy')} "$@"
""")
    path.chmod(0o755)
    return path


def backend_cfg(port, threads, headers=False, addrs=None, ident=False):
    """The endpoints: 3 frontends, each on a FIRST and a LAST address (or
    one frontend on each list of <addrs>); with <headers>, their answers
    carry Server and Date as most servers' do; with <ident>, X-Endpoint: the
    address the request came to."""
    hdrs = ' hdr Server endpoint hdr Date "Thu, 01 Jan 2026 00:00:00 GMT"' if headers else ""
    hdrs += " hdr X-Endpoint %[dst]" if ident else ""
    fes = "".join(f"""
frontend be{i}
""" + "".join(f"    bind {a}:{port}\n" for a in group) + f"""\
    http-request return status 200 content-type text/plain string ok{hdrs}
""" for i, group in enumerate(addrs or zip(FIRST, LAST)))
    return f"""global
    nbthread {threads}
defaults
    mode http
    timeout connect 5s
    timeout client 50s
    timeout server 50s
    timeout http-keep-alive 60s
{fes}"""


def cli(sock, cmd, timeout=5):
    """One command on an HAProxy CLI socket; its whole answer."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(timeout)
        s.connect(str(sock))
        s.sendall(cmd.encode() + b"\n")
        s.shutdown(socket.SHUT_WR)  # the master CLI answers once the request ends
        out = b""
        while True:
            d = s.recv(65536)
            if not d:
                return out.decode()
            out += d


# ---------- wrk ----------

MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def wrk_command(url, args, host=HOST, duration=None):
    duration = duration or args.duration
    return PIN["load"] + ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{duration}s",
                          "--latency", "--timeout", "5s"] + \
        (["-H", f"Host: {host}"] if host else []) + [url]


def wrk_result(out, url, check=True):
    """wrk's output read: requests/s, requests, latency percentiles and max
    (ms), failed requests (socket errors and answers other than 2xx/3xx);
    with <check>, stops the benchmark on any failed one."""
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not m:
        raise SystemExit(f"wrk printed no rate:\n{out}")
    if check and re.search(r"Non-2xx or 3xx responses|Socket errors", out):
        raise SystemExit(f"wrk saw failures on {url}:\n{out}")
    lat = {int(p): float(v) * MS[unit]
           for p, v, unit in re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)}
    mx = re.search(r"^\s+Latency\s+\S+\s+\S+\s+([\d.]+)(us|ms|s|m)", out, re.M)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    n = int(re.search(r"(\d+) requests in", out).group(1))
    return {"rps": float(m.group(1)), "requests": n,
            "p50": lat.get(50), "p90": lat.get(90), "p99": lat.get(99),
            "max": float(mx.group(1)) * MS[mx.group(2)] if mx else None,
            "socket_errors": tuple(int(x) for x in sock.groups()) if sock else (0, 0, 0, 0),
            "non2xx": int(non2xx.group(1)) if non2xx else 0}


def wrk(url, args, host=HOST, duration=None):
    """Requests/s and latency percentiles (ms) of wrk on <url>; stops the
    benchmark on any failed request or answer other than 2xx/3xx."""
    duration = duration or args.duration
    out = subprocess.run(wrk_command(url, args, host, duration), capture_output=True, text=True,
                         timeout=duration + 30).stdout
    return wrk_result(out, url)


def settle(pid, timeout=300):
    """Waits until HAProxy (<pid>) is idle: under callgrind it still works
    through the churn's commands for a while after Portico has applied them."""
    end = time.monotonic() + timeout
    prev = cpu_ns(pid)
    while time.monotonic() < end:
        time.sleep(0.5)
        now = cpu_ns(pid)
        if now - prev < 5_000_000:  # < 1 % of a CPU
            return
        prev = now
    raise SystemExit(f"haproxy (pid {pid}) still busy {timeout} s after the churn")


def requests(sock, n, host):
    """<n> GET / one after the other on the connected <sock>, each answered 200."""
    req = f"GET / HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    buf = b""
    for _ in range(n):
        sock.sendall(req)
        while b"\r\n\r\n" not in buf:
            d = sock.recv(65536)
            if not d:
                raise SystemExit("connection closed without a response")
            buf += d
        head, _, buf = buf.partition(b"\r\n\r\n")
        if head.split()[1] != b"200":
            raise SystemExit(f"answered {head.decode(errors='replace')}")
        length = int(re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head).group(1))
        while len(buf) < length:
            buf += sock.recv(65536)
        buf = buf[length:]


def instructions(target, args, host=HOST):
    """HAProxy's instructions per request (<target>'s, under callgrind) over
    --callgrind requests sent one after the other on one keep-alive
    connection, after 200 that warm it up: deterministic where the rate is
    not. Two harmless CLI commands on its stats socket zero the counters and
    dump them (VALGRIND's --zero-before and --dump-before)."""
    pid = target.pid()
    with socket.create_connection(("127.0.0.1", target.port), timeout=60) as s:
        requests(s, 200, host)
        cli(target.sock, "enable frontend portico-bench-zero", 60)
        requests(s, args.callgrind, host)
        before = set(VALGRIND_DIR[0].glob(f"cg.{pid}.*"))
        cli(target.sock, "enable dynamic-cookie backend portico-bench-dump", 60)
    dumps = set(VALGRIND_DIR[0].glob(f"cg.{pid}.*")) - before
    if len(dumps) != 1:
        raise SystemExit(f"callgrind wrote {len(dumps)} dumps for pid {pid}, not 1")
    m = re.search(r"^totals: (\d+)", dumps.pop().read_text(errors="replace"), re.M)
    return {"ir": int(m.group(1)) / args.callgrind}


def measure(target, args, port=None, addr="127.0.0.1"):
    """wrk on <target> (a Hand or a Portico), or on <addr>:<port>, after
    --warmup seconds of it; for a target, the CPU time its HAProxy spent per
    request (us), which the other work on the machine moves far less than
    the rate. With --callgrind, HAProxy's instructions per request instead."""
    if args.callgrind:
        # the first count after the churn holds a one-off ~1 M instructions
        # (none per request: the next count on the same process has none)
        instructions(target, args)
        return instructions(target, args)
    pid = target.pid() if target else None
    host = HOST if target else None
    url = f"http://{addr}:{target.port if target else port}/"
    if args.warmup:
        wrk(url, args, host, args.warmup)
    c0 = cpu_ns(pid) if pid else 0
    r = wrk(url, args, host)
    r["cpu_us"] = (cpu_ns(pid) - c0) / 1000 / r["requests"] if pid else None
    return r


# ---------- manifests ----------

def slice_doc(port, addrs):
    eps = "".join(f'- addresses: ["{a}"]\n  conditions: {{ready: true}}\n' for a in addrs)
    return f"""apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {{name: web-1, namespace: bench, labels: {{kubernetes.io/service-name: web}}}}
addressType: IPv4
ports: [{{name: http, port: {port}}}]
endpoints:
{eps}"""


def route_docs(port, routes):
    """<routes> more Ingresses, each its own host h<i>.bench.test and path
    /p<i> to its own Service r<i>, whose one endpoint is one of FIRST's."""
    return "".join(f"""apiVersion: v1
kind: Service
metadata: {{name: r{i}, namespace: bench}}
spec:
  ports: [{{name: http, port: 80}}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {{name: r{i}-1, namespace: bench, labels: {{kubernetes.io/service-name: r{i}}}}}
addressType: IPv4
ports: [{{name: http, port: {port}}}]
endpoints:
- addresses: ["{FIRST[i % len(FIRST)]}"]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {{name: r{i}, namespace: bench}}
spec:
  ingressClassName: portico
  rules:
  - host: h{i}.bench.test
    http:
      paths:
      - {{path: /p{i}, pathType: Prefix, backend: {{service: {{name: r{i}, port: {{name: http}}}}}}}}
---
""" for i in range(routes))


def write_manifests(mdir, port, nbthread, routes=0):
    mdir.mkdir(parents=True)
    if routes:
        (mdir / "15-routes.yaml").write_text(route_docs(port, routes))
    (mdir / "00-class.yaml").write_text(
        "apiVersion: networking.k8s.io/v1\nkind: IngressClass\n"
        "metadata: {name: portico}\nspec: {controller: portico.dev/ingress-controller}\n")
    (mdir / "10-web.yaml").write_text(f"""apiVersion: v1
kind: Service
metadata: {{name: web, namespace: bench}}
spec:
  ports: [{{name: http, port: 80}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {{name: web, namespace: bench}}
spec:
  ingressClassName: portico
  rules:
  - host: {HOST}
    http:
      paths:
      - {{path: /, pathType: Prefix, backend: {{service: {{name: web, port: {{name: http}}}}}}}}
""")
    (mdir / "20-slice.yaml").write_text(slice_doc(port, FIRST))
    if nbthread:
        (mdir / "30-config.yaml").write_text(f"""apiVersion: v1
kind: ConfigMap
metadata: {{name: portico, namespace: bench}}
data: {{nbthread: "{nbthread}"}}
""")


def configmap_flag(args):
    """Portico's flag naming write_manifests()'s ConfigMap, if it wrote one."""
    return ["--configmap=bench/portico"] if args.nbthread else []


def churn_states(changes):
    """The endpoint lists of the <changes> rewrites: 60 and 3 endpoints in
    turn, each time on addresses not used before, the last three LAST."""
    states = []
    for k in range(1, changes + 1):
        if k == changes:
            states.append(LAST)
        elif k % 2:
            states.append([f"127.{1 + (k >> 8)}.{k & 255}.{i}" for i in range(1, 61)])
        else:
            states.append([f"127.{128 + (k >> 8)}.{k & 255}.{i}" for i in range(1, 4)])
    return states


# ---------- configurations ----------

def sections(cfg):
    """haproxy.cfg as [(header, [lines])], comments and blank lines dropped."""
    out = []
    for line in cfg.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line[0].isspace():
            out.append((line.strip(), []))
        elif out:
            out[-1][1].append(line.strip())
    return out


def section(secs, header):
    for h, lines in secs:
        if h == header:
            return lines
    raise SystemExit(f"no '{header}' section in Portico's haproxy.cfg")


# Portico's rules, by group, in the order --explain adds them: (label, test)
GROUPS = [
    ("+ option forwardfor", lambda l: l.startswith("option forwardfor")),
    ("+ option redispatch, idle-close-on-response, retries (defaults)",
     lambda l: l.startswith(("option redispatch", "option idle-close-on-response", "retries"))),
    ("+ 400 when HTTP/1.1 has no Host", lambda l: l.startswith("http-request deny")),
    ("+ host and path map lookups (set-var), use_backend",
     lambda l: (l.startswith("http-request set-var(txn.") and "redirect" not in l)
     or l.startswith("use_backend")),
    ("+ redirect map lookup (and, before, redirect rules)",
     lambda l: "redirect" in l),
    ("+ X-Forwarded-Proto set-header", lambda l: "X-Forwarded-Proto" in l),
    ("+ http-after-response Server, Date", lambda l: l.startswith("http-after-response")),
]


def classify(lines, where):
    """Group index of each of Portico's lines that --explain adds; None for
    the lines the hand-written configuration has its own of."""
    out = []
    for l in lines:
        if l.startswith(("bind ", "default_backend", "mode ", "timeout ")):
            out.append((l, None))
            continue
        g = [i for i, (_, test) in enumerate(GROUPS) if test(l)]
        if not g:
            raise SystemExit(f"{where} line of Portico's haproxy.cfg in no group: {l}")
        out.append((l, g[0]))
    return out


def portico_rules(rendered):
    """Portico's defaults and frontend lines that the hand-written
    configuration lacks, as [(group index, line)] in GROUPS order (and in
    their order within a group)."""
    secs = sections(rendered)
    dflt = classify(section(secs, "defaults"), "a defaults")
    fe = classify(section(secs, "frontend portico"), "a frontend")
    # the backend's own option forwardfor (its balance and servers are the
    # hand-written configuration's too)
    be = [(l, 0) for l in service_backend(secs)[1] if l.startswith("option forwardfor")]
    rules = sorted(((g, k, l) for k, (l, g) in enumerate(dflt + fe + be) if g is not None))
    return [(g, l) for g, _, l in rules]


def service_backend(secs):
    """(header, lines) of the one backend with servers, or of web's."""
    backend = [(h, lines) for h, lines in secs
               if h.startswith("backend ") and any(l.startswith("server ") for l in lines)]
    if len(backend) > 1:
        backend = [(h, lines) for h, lines in backend if "_web_" in h]
    if len(backend) != 1:
        raise SystemExit(f"expected one Service backend in Portico's haproxy.cfg: {backend}")
    return backend[0]


def hand_cfg(rendered, port, sport, nbthread, include=(), sock=None, routes_map=None, routes=0):
    """The hand-written configuration, with those of Portico's lines (from its
    rendered haproxy.cfg) that are in <include>, in their order; with <sock>,
    a stats socket (which --callgrind needs); with <routes>, route_docs()'s
    routes too: one backend each and one lookup of host + path in
    <routes_map> (map_beg), which this writes."""
    secs = sections(rendered)
    dflt = section(secs, "defaults")
    fe = section(secs, "frontend portico")
    header, be_lines = service_backend(secs)
    out = ["global"]
    if sock:
        out.append(f"    stats socket {sock} level admin")
    if nbthread:
        out.append(f"    nbthread {nbthread}")
    out += ["defaults", "    mode http"] + [f"    {l}" for l in dflt if l.startswith("timeout ")]
    out += [f"    {l}" for l in dflt if l in include]
    out += ["frontend fe", f"    bind 127.0.0.1:{port}"]
    out += [f"    {l}" for l in fe if l in include]
    web = header.split()[1]
    if routes:
        Path(routes_map).write_text(f"{HOST}/ {web}\n" + "".join(
            f"h{i}.bench.test/p{i} r{i}\n" for i in range(routes)))
        out += ["    http-request set-var(txn.path) path",
                f"    use_backend %[req.hdr(host),lower,concat(,txn.path),map_beg({routes_map})]"]
    out += [f"    default_backend {web}", header, "    balance roundrobin"]
    out += [f"    {l}" for l in be_lines if l in include]
    out += [f"    server s{i} {a}:{sport}" for i, a in enumerate(FIRST, 1)]
    for i in range(routes):
        out += [f"backend r{i}", f"    server s1 {FIRST[i % len(FIRST)]}:{sport}"]
    return "\n".join(out) + "\n"


# ---------- Portico ----------

def applied(m):
    """Passes that ended in HAProxy: runtime updates and reloads, any result."""
    return sum(v for k, v in m.items() if k.startswith(("portico_runtime_updates_total",
                                                        "portico_reloads_total")))


def servers_state(sock, backend):
    """{name: {field: value}} of `show servers state <backend>`."""
    lines = cli(sock, f"show servers state {backend}").splitlines()
    head = next(l for l in lines if l.startswith("# be_id")).lstrip("# ").split()
    out = {}
    for l in lines:
        f = l.split()
        if len(f) >= len(head) and not l.startswith("#"):
            row = dict(zip(head, f))
            out[row["srv_name"]] = row
    return out


def servers_conn(sock, backend):
    """{name: {purge_delay, idle_lim}} of `show servers conn <backend>`."""
    lines = cli(sock, f"show servers conn {backend}").splitlines()
    head = next(l for l in lines if l.startswith("#")).lstrip("# ").split()
    out = {}
    for l in lines:
        if l and not l.startswith("#"):
            row = dict(zip(head, l.split()))
            out[row["bkname/svname"].split("/", 1)[1]] = row
    return out


def master_reloads(sock):
    """The master's reload count, from `show proc` on the master socket."""
    for l in cli(sock, "show proc").splitlines():
        f = l.split()
        if len(f) >= 3 and f[1] == "master":
            return int(f[2])
    raise SystemExit("no master line in show proc")


class Portico:
    """One Portico in file mode on the benchmark's manifests, with its own
    ports, config and runtime directories under <work>."""

    def __init__(self, binary, work, sport, args):
        self.binary, self.work, self.sport = binary, Path(work), sport
        self.mdir = self.work / "manifests"
        write_manifests(self.mdir, sport, args.nbthread, args.routes)
        cmd, self.ports = portico_command(binary, f"--manifests={self.mdir}", self.work)
        cmd += configmap_flag(args)
        if VALGRIND:
            cmd.append(f"--haproxy-binary={haproxy_wrapper(self.work / 'haproxy.sh')}")
        self.log_path = self.work / "portico.log"
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(PIN["proxy"] + cmd, stderr=self.log)
        try:
            self._ready(binary)
        except BaseException:
            self.stop()
            raise

    def _ready(self, binary):
        self.admin = self.work / "run" / "admin.sock"
        self.master = self.work / "run" / "master.sock"
        wait_ready(self.ports["ctl"], self.proc,
                   lambda: f"{binary} exited before ready; see {self.log_path}")
        if http_status(self.ports["http"], HOST) != 200:
            raise SystemExit(f"{binary}: {HOST} not served")
        self.backend = service_backend(sections(
            (self.work / "config" / "current" / "haproxy.cfg").read_text()))[0].split()[1]
        self.threads = re.search(r"Nbthread: (\d+)", cli(self.admin, "show info")).group(1)
        self.first = servers_state(self.admin, self.backend)
        conn = servers_conn(self.admin, self.backend)
        self.first_pools = sorted({(r.get("purge_delay"), r.get("idle_lim"))
                                   for r in conn.values()})
        self.port, self.sock = self.ports["http"], self.admin

    def churn(self, changes):
        """Rewrites the EndpointSlice <changes> times, each once the one
        before has been applied; then checks that no reload happened and that
        the servers left are the answering, runtime-added LAST ones."""
        m0 = metrics(self.ports["ctl"])
        reloads0 = master_reloads(self.master)
        t0 = time.monotonic()
        for addrs in churn_states(changes):
            before = applied(metrics(self.ports["ctl"]))
            tmpf = self.mdir / ".slice.tmp"
            tmpf.write_text(slice_doc(self.sport, addrs))
            os.rename(tmpf, self.mdir / "20-slice.yaml")
            end = time.monotonic() + 30
            while applied(metrics(self.ports["ctl"])) == before:
                if time.monotonic() > end or self.proc.poll() is not None:
                    raise SystemExit(f"{self.binary}: an endpoint change not applied after 30 s")
                time.sleep(0.005)
        churn_s = time.monotonic() - t0
        settle(self.pid())
        m1 = metrics(self.ports["ctl"])

        def delta(k):
            return m1.get(k, 0) - m0.get(k, 0)

        state = servers_state(self.admin, self.backend)
        live = sorted(n for n, r in state.items() if r["srv_admin_state"] == "0")
        want = sorted(f"{a}:{self.sport}" for a in LAST)
        self.log.flush()
        ck = {
            "churn_s": churn_s,
            "runtime_ok": delta('portico_runtime_updates_total{result="success"}'),
            "runtime_failed": delta('portico_runtime_updates_total{result="failure"}'),
            "reloads": delta('portico_reloads_total{result="success"}')
            + delta('portico_reloads_total{result="failure"}'),
            "master_reloads": master_reloads(self.master) - reloads0,
            "log_reloads": self.log_path.read_text().count("haproxy reloaded"),
            "live": live,
            "live_ids": sorted(int(state[n]["srv_id"]) for n in live),
            "in_maint": sorted(n for n in state if n not in live),
        }
        # not in haproxy.cfg, and no reload: added at run time (HAProxy gives
        # them the lowest free ids, those of deleted servers included)
        if live != want or any(n in self.first for n in live) or ck["reloads"] or \
                ck["master_reloads"]:
            raise SystemExit(f"{self.binary}: the servers left after the churn are {live}, "
                             f"{ck['reloads']:.0f} reloads: not the runtime-added {want}")
        if http_status(self.port, HOST) != 200:
            raise SystemExit(f"{self.binary}: {HOST} not served after the churn")
        conn = servers_conn(self.admin, self.backend)
        ck["live_pools"] = sorted({(conn[n].get("purge_delay"), conn[n].get("idle_lim"))
                                   for n in live})
        self.live = live
        return ck

    def pid(self):
        """The HAProxy worker's pid."""
        return int(re.search(r"^Pid: (\d+)", cli(self.admin, "show info"), re.M).group(1))

    def idle_conns(self):
        """Idle connections of the live servers' pools (after some load)."""
        conn = servers_conn(self.admin, self.backend)
        return [int(conn[n].get("idle_cur", 0)) for n in self.live]

    def stop(self):
        stop(self.proc, 30)
        self.log.close()


class Hand:
    """haproxy -f <cfg> listening on <port> for HTTP, with its stats socket
    <sock> (or None)."""

    def __init__(self, cfg, port, sock):
        self.port, self.sock = port, sock
        self.log = open(Path(cfg).with_suffix(".log"), "w")
        self.proc = haproxy(cfg, self.log)
        try:
            wait_listening(port, f"haproxy -f {cfg}", self.proc, log=self.log)
            if http_status(port, HOST) != 200:
                raise SystemExit(f"{cfg}: {HOST} not served")
        except BaseException:
            self.stop()
            raise

    @classmethod
    def written(cls, rendered, dir, tag, sport, args, include=()):
        """The hand-written configuration (with the lines of Portico's in <include>)."""
        port = free_port()
        sock = Path(dir) / f"hand-{tag}.sock"
        cfg = Path(dir) / f"hand-{tag}.cfg"
        cfg.write_text(hand_cfg(rendered, port, sport, args.nbthread, include, sock,
                                Path(dir) / f"hand-{tag}-routes.map", args.routes))
        return cls(cfg, port, sock)

    def pid(self):
        return self.proc.pid

    def stop(self):
        stop(self.proc)
        self.log.close()


def rendered_cfg(binary, tmp, sport, args):
    """`portico render` of the benchmark's manifests: haproxy.cfg's text,
    the directory it was written to, its HTTP port and its stats socket."""
    mdir = tmp / "render-manifests"
    write_manifests(mdir, sport, args.nbthread, args.routes)
    cmd, ports = portico_command(binary, f"--manifests={mdir}", tmp / "render")
    out = tmp / "render" / "out"
    subprocess.run([cmd[0], "render", *cmd[1:], *configmap_flag(args), f"--output-dir={out}"],
                   check=True, stdout=subprocess.DEVNULL)
    (tmp / "render" / "run").mkdir(parents=True, exist_ok=True)
    return ((out / "haproxy.cfg").read_text(), out, ports["http"],
            tmp / "render" / "run" / "admin.sock")


# ---------- report ----------

def med(values, fmt):
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    m = statistics.median(values)
    if len(values) == 1:
        return fmt.format(m)
    return f"{fmt.format(m)} [{fmt.format(min(values))}–{fmt.format(max(values))}]"


def headline(r):
    if "ir" in r:
        return f"{r['ir']:,.0f} instructions/request"
    return f"{r['rps']:,.0f} req/s"


def table(rows, args):
    """rows: [(label, [result per run], [hand-written result per run] or
    None)]; the ratios are run by run, then their median [min-max]."""
    if args.callgrind:
        print("| configuration | HAProxy instructions per request | hand-written's / this |")
        print("|---|---|---|")
        for label, rs, base in rows:
            eff = [b["ir"] / r["ir"] for r, b in zip(rs, base or [])]
            print(f"| {label} | {med([r['ir'] for r in rs], '{:,.0f}')} | "
                  f"{med(eff, '{:.3f}')} |")
        return
    print("| configuration | requests/s | / hand-written | HAProxy CPU µs per request | "
          "hand-written's CPU / this | p50 ms | p90 ms | p99 ms |")
    print("|---|---|---|---|---|---|---|---|")
    for label, rs, base in rows:
        ratio = [r["rps"] / b["rps"] for r, b in zip(rs, base)] if base else []
        eff = [b["cpu_us"] / r["cpu_us"] for r, b in zip(rs, base or [])
               if r["cpu_us"] and b["cpu_us"]]
        print(f"| {label} | {med([r['rps'] for r in rs], '{:,.0f}')} | "
              f"{med(ratio, '{:.3f}')} | {med([r['cpu_us'] for r in rs], '{:.1f}')} | "
              f"{med(eff, '{:.3f}')} | {med([r['p50'] for r in rs], '{:.2f}')} | "
              f"{med([r['p90'] for r in rs], '{:.2f}')} | "
              f"{med([r['p99'] for r in rs], '{:.2f}')} |")


def pressure():
    """Load average (1 min) and the CPU pressure stall ('some', 60 s) in %."""
    try:
        with open("/proc/pressure/cpu") as f:
            psi = re.search(r"avg60=([\d.]+)", f.readline()).group(1) + " %"
    except OSError:
        psi = "-"
    return f"load average {os.getloadavg()[0]:.1f}, CPU pressure (some, 60 s) {psi}"


def explain(args, binary, tmp, sport):
    """The hand-written configuration with Portico's rules added group by
    group, then Portico's rendered haproxy.cfg, side by side in each run."""
    rendered, rdir, rport, rsock = rendered_cfg(binary, tmp, sport, args)
    rules = portico_rules(rendered)
    steps = [("hand-written", set())]
    for g, (label, _) in enumerate(GROUPS):
        lines = [l for gl, l in rules if gl == g]
        if args.per_line:
            for l in lines:
                steps.append((f"+ `{l}`", steps[-1][1] | {l}))
        else:
            steps.append((label, steps[-1][1] | set(lines)))
    procs = []
    try:
        for k, (label, include) in enumerate(steps):
            procs.append(Hand.written(rendered, rdir, str(k), sport, args, include))
        steps.append(("Portico's rendered haproxy.cfg, run by hand", None))
        procs.append(Hand(rdir / "haproxy.cfg", rport, rsock))
        res = [[] for _ in steps]
        for run in range(args.runs):
            order = list(range(len(steps)))
            order = order[run % len(order):] + order[:run % len(order)]
            for i in order:
                res[i].append(measure(procs[i], args))
            print(f"run {run + 1}: " + ", ".join(headline(res[i][-1])
                                                for i in range(len(steps))), flush=True)
    finally:
        for h in procs:
            h.stop()
    print(f"\nEach line adds its rules to the line above, copied from the haproxy.cfg "
          f"that `{binary} render` writes:")
    table([(label, res[i], res[0] if i else None) for i, (label, _) in enumerate(steps)], args)
    if args.callgrind:
        print("\nStep by step: instructions per request added")
        for i in range(1, len(steps)):
            d = [a["ir"] - b["ir"] for a, b in zip(res[i], res[i - 1])]
            print(f"  {steps[i][0]}: {med(d, '{:+,.0f}')}")
    else:
        print("\nStep by step, run by run: requests/s of a line / of the line above; CPU per "
          "request of the line above / of this line; CPU per request added (µs)")
        for i in range(1, len(steps)):
            r = [a["rps"] / b["rps"] for a, b in zip(res[i], res[i - 1])]
            c = [b["cpu_us"] / a["cpu_us"] for a, b in zip(res[i], res[i - 1])]
            d = [a["cpu_us"] - b["cpu_us"] for a, b in zip(res[i], res[i - 1])]
            print(f"  {steps[i][0]}: {med(r, '{:.3f}')}; {med(c, '{:.3f}')}; {med(d, '{:+.2f}')}")
    print("\nThe hand-written configuration, and with every group:\n")
    print(hand_cfg(rendered, 0, sport, args.nbthread))
    print(hand_cfg(rendered, 0, sport, args.nbthread, {l for _, l in rules}))


def compare(args, binaries, tmp, sport):
    """Hand-written, each Portico fresh, each Portico after the churn."""
    rendered = rendered_cfg(binaries[-1], tmp, sport, args)[0]
    names = {b: chr(65 + i) if len(binaries) > 1 else "Portico" for i, b in enumerate(binaries)}
    res = {k: [] for k in ("hand-fresh", "hand-churn", "alone")}
    for b in binaries:
        res[(b, "fresh")], res[(b, "churn")] = [], []
    for run in range(args.runs):
        hand = Hand.written(rendered, tmp, str(run), sport, args)
        started = []
        try:
            for b in binaries:
                started.append(Portico(b, tmp / f"portico-{run}-{names[b]}", sport, args))
            units = [("hand", hand)] + list(zip(binaries, started))
            if not args.callgrind:
                units.append(("alone", None))

            def rotated():
                k = run % len(units)
                return units[k:] + units[:k]

            said = []
            for key, u in rotated():
                if key == "alone":
                    # wrk straight to one endpoint: a backend without a proxy in front
                    res["alone"].append(measure(None, args, sport, FIRST[0]))
                    continue
                r = measure(u, args)
                res["hand-fresh" if key == "hand" else (key, "fresh")].append(r)
            checks = {b: p.churn(args.changes) for b, p in zip(binaries, started)}
            for key, u in rotated():
                if key == "alone":
                    continue
                r = measure(u, args)
                res["hand-churn" if key == "hand" else (key, "churn")].append(r)
            said.append(f"hand-written {headline(res['hand-fresh'][-1])} and "
                        f"{headline(res['hand-churn'][-1])}")
            for b, p in zip(binaries, started):
                ck = checks[b]
                said.append(
                    f"{names[b]} fresh {headline(res[(b, 'fresh')][-1])}, after churn "
                    f"{headline(res[(b, 'churn')][-1])} ({p.threads} HAProxy threads); "
                    f"{args.changes} changes in {ck['churn_s']:.1f} s: "
                    f"{ck['runtime_ok']:.0f} runtime updates, {ck['runtime_failed']:.0f} "
                    f"failed, reloads {ck['reloads']:.0f} (log {ck['log_reloads']}, "
                    f"show proc {ck['master_reloads']}); servers left {' '.join(ck['live'])}, "
                    f"ids {ck['live_ids']}; "
                    f"in maintenance {' '.join(ck['in_maint']) or 'none'}; pools "
                    f"(purge_delay, idle_lim) haproxy.cfg's {p.first_pools}, left "
                    f"{ck['live_pools']}; idle connections after load {p.idle_conns()}")
            print(f"run {run + 1}: " + "\n    ".join(said), flush=True)
        finally:
            for p in started:
                p.stop()
            hand.stop()

    print()
    if len(binaries) > 1:
        for b in binaries:
            print(f"{names[b]}: {b}")
    rows = [("hand-written, beside fresh", res["hand-fresh"], None),
            ("hand-written, beside after churn", res["hand-churn"], None)]
    for b in binaries:
        p = f"{names[b]}, Portico " if len(binaries) > 1 else "Portico "
        rows += [(p + "fresh", res[(b, "fresh")], res["hand-fresh"]),
                 (p + f"after {args.changes} endpoint changes", res[(b, "churn")],
                  res["hand-churn"])]
    if not args.callgrind:
        rows.append(("one endpoint alone, no proxy", res["alone"], res["hand-fresh"]))
        print("\n(HAProxy CPU: the proxy's worker, all threads, during the measurement.)")
    table(rows, args)
    if args.callgrind:
        return
    print("\nafter churn / fresh, each normalised by the hand-written beside it, run by run:")
    for b in binaries:
        r = [(c["rps"] / hc["rps"]) / (f["rps"] / hf["rps"]) for c, hc, f, hf in
             zip(res[(b, "churn")], res["hand-churn"], res[(b, "fresh")], res["hand-fresh"])]
        c = [(f["cpu_us"] / hf["cpu_us"]) / (c["cpu_us"] / hc["cpu_us"]) for c, hc, f, hf in
             zip(res[(b, "churn")], res["hand-churn"], res[(b, "fresh")], res["hand-fresh"])]
        print(f"  {names[b]}: requests/s {med(r, '{:.3f}')}; CPU per request, fresh's / "
              f"after churn's {med(c, '{:.3f}')}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--portico", action="append",
                    help="binary to measure (repeatable; default ./portico)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--duration", type=int, default=5, help="seconds of wrk per measurement")
    ap.add_argument("--warmup", type=int, default=1,
                    help="seconds of wrk before each measurement (0: none)")
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--threads", type=int, default=1, help="wrk threads")
    ap.add_argument("--changes", type=int, default=100, help="endpoint changes of the churn")
    ap.add_argument("--nbthread", type=int, default=0,
                    help="HAProxy threads, by Portico's nbthread key and in the hand-written "
                         "configuration (default 0: HAProxy's own default, as Portico renders)")
    ap.add_argument("--backend-threads", type=int, default=1,
                    help="threads of the HAProxy that plays the 3 endpoints")
    ap.add_argument("--backend-headers", action="store_true",
                    help="the endpoints send Server and Date headers (Portico's "
                         "http-after-response rules then only test for them)")
    ap.add_argument("--pin", metavar="PROXY:LOAD",
                    help="CPU lists (taskset -c) of the proxy under test, Portico included, "
                         "and of wrk and the backends, e.g. 1:0 (default: not pinned)")
    ap.add_argument("--callgrind", type=int, default=0, metavar="N",
                    help="instead of wrk: the proxy HAProxy under valgrind --tool=callgrind, "
                         "its instructions per request over N requests in a row")
    ap.add_argument("--routes", type=int, default=0, metavar="N",
                    help="N more Ingresses, each a host and a path to its own Service (one "
                         "endpoint); the hand-written configuration gets the same backends "
                         "and one map_beg lookup of host + path")
    ap.add_argument("--explain", action="store_true",
                    help="add Portico's rules to the hand-written configuration group by group")
    ap.add_argument("--per-line", action="store_true",
                    help="with --explain: one line at a time")
    args = ap.parse_args()
    if not args.callgrind and not shutil.which("wrk"):
        raise SystemExit("wrk not found: run scripts/deps.sh bench (Debian's package wrk)")
    if args.routes and args.explain:
        raise SystemExit("--routes: not with --explain")
    if args.changes < 2 or args.changes % 2 or args.changes >= 127 * 256:
        raise SystemExit("--changes: an even number (3 -> 60 -> 3 endpoints), 2 to 32,510")
    if args.pin:
        proxy, load = args.pin.split(":")
        PIN["proxy"], PIN["load"] = ["taskset", "-c", proxy], ["taskset", "-c", load]
    tmp = Path(tempfile.mkdtemp(prefix="portico-throughput-"))
    if args.callgrind:
        if not shutil.which("callgrind_control"):
            raise SystemExit("valgrind not found: run scripts/deps.sh test")
        VALGRIND[:] = ["valgrind", "--tool=callgrind", "--quiet",
                       f"--callgrind-out-file={tmp}/cg.%p",
                       "--zero-before=cli_find_frontend", "--dump-before=cli_find_backend"]
        VALGRIND_DIR[0] = tmp
    binaries = [str(Path(b).resolve()) for b in (args.portico or [str(ROOT / "portico")])]

    sport = free_port()
    blog = open(tmp / "backends.log", "w")
    (tmp / "backends.cfg").write_text(backend_cfg(sport, args.backend_threads,
                                                  args.backend_headers))
    backends = haproxy(tmp / "backends.cfg", blog, "load")
    try:
        for a in FIRST + LAST:
            wait_listening(sport, "the backends' haproxy", backends, host=a, log=blog)
        nbt = f"nbthread {args.nbthread}" if args.nbthread else \
            "no nbthread (HAProxy's default, one thread per CPU, as Portico renders)"
        load = f"callgrind, {args.callgrind} requests in a row on one connection" \
            if args.callgrind else f"wrk -t{args.threads} -c{args.connections} " \
            f"-d{args.duration}s after {args.warmup} s of warm-up"
        print(f"{load}, Host: {HOST}; {args.routes} more hosts and paths; {args.runs} runs; "
              f"{nbt}; backends: "
              f"one haproxy, nbthread {args.backend_threads}"
              f"{', with Server and Date headers' if args.backend_headers else ''}; "
              f"pinned: {args.pin or 'no'}; {os.cpu_count()} CPUs; {pressure()}", flush=True)
        if args.explain:
            explain(args, binaries[-1], tmp, sport)
        else:
            compare(args, binaries, tmp, sport)
        print(f"\nat the end: {pressure()}")
    finally:
        stop(backends)
        blog.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
