#!/usr/bin/env python3
"""Soak: a bounded run of continuous churn under steady load, against the
real test kube-apiserver + etcd (issue 21, item 5).

Loads --ingresses Ingresses into a fresh test cluster (cluster_scale.py's
fixture: each its own Service and EndpointSlice, one in ten with its own TLS
Secret), plus the Services the load uses, whose endpoints really answer:
  web     web.bench.test (HTTP) and secure.bench.test (HTTPS, Secret "rot",
          certificates signed by a CA of the run): its endpoints churn among
          6 answering addresses, at least one ready at every moment;
  still   still.bench.test (HTTP), 2 answering endpoints, never changed.
Then starts Portico with the portico ServiceAccount and, for --warmup +
--duration seconds:
- steady load: --rate requests/s over --connections keep-alive connections
  (spread over the three hosts, HTTPS with SNI and the CA checked); a failed
  request is no answer, a connection or TLS error, a timeout, a status other
  than 200 or an X-Endpoint outside the Service's addresses;
- every --ingress-every s an Ingress change, in turn: a new host (Ingress
  churn-K -> still), a path /extra-K on web's Ingress (-> still), a new
  Service + EndpointSlice + Ingress (a new HAProxy backend: a spare, then a
  reload), then each removed again; each is followed until served (or gone);
- every --endpoint-every s an endpoint of web added, removed, made ready or
  not ready (never the last ready one);
- every --cert-every s Secret "rot" replaced by a new key and certificate;
  fresh TLS handshakes on secure.bench.test until the new one is served;
- every --sample-every s: controller VmRSS and open fds, HAProxy's
  processes (workers, old workers from the master's `show proc`, its reload
  count), Portico's counters; the series goes to --out (CSV, or JSON unless
  the name ends in .csv). HAProxy's workers are also watched every 0.1 s.
At the end: the summary and PASS/FAIL for each criterion of the issue and
two of its own; exit status 1 on any FAIL:
- 0 failed requests;
- controller RSS growth < 5 %: the baseline is the median of the samples
  of the last 20 s of the warm-up (load and churn already running:
  allocator pools and maps have reached their working size), the end value
  the median of the last 3 samples;
- fds stable: the end value (median of the last 3) at most 2 above the
  baseline (taken like RSS's), no sample more than --fd-slack above it;
- old workers bounded: never more than --max-old-workers at once, none
  left --settle s after the churn;
- every change served within --served-limit s (and every API write done);
- the endpoints HAProxy uses at the end are exactly web's ready ones.

    python3 bench/soak.py --duration 60                  # smoke run, ~3 minutes
    python3 bench/soak.py --duration 1800 --out /tmp/soak.csv
    python3 bench/soak.py --portico './portico --spare-backends=0' --duration 600

Runs inside a private network namespace like cluster_scale.py (unshare -n,
loopback only; the answering endpoints are 198.19.255.x on its loopback).
"""

import argparse
import base64
import concurrent.futures
import csv
import datetime as dt
import hashlib
import http.client
import json
import os
import random
import re
import shlex
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "cluster"))
sys.path.insert(0, str(ROOT / "bench"))
from benchlib import children, http_answer, memory_mib, metrics, pct, portico_command, \
    wait_ready  # noqa: E402
from cluster_scale import (LIVE, bench_cluster, endpoint_slice, ingress,  # noqa: E402
                           into_netns, make_certs, objects, service_objects)
from kapi import Client  # noqa: E402
from throughput import cli, pressure, stop  # noqa: E402

WEB_POOL = LIVE[:6]     # web's endpoints churn among these
STILL = LIVE[6:8]       # still's, never changed; new Services use STILL[1]
HOSTS = {"web.bench.test": WEB_POOL, "still.bench.test": STILL,
         "secure.bench.test": WEB_POOL}
COUNTERS = ["portico_reloads_total", "portico_runtime_updates_total",
            "portico_runtime_commands_total", "portico_events_total",
            "portico_watch_restarts_total", "portico_haproxy_restarts_total",
            "portico_config_rejected_total", "portico_drift_repairs_total",
            "portico_secret_fetches_total", "portico_spare_backend_uses_total",
            "portico_reloads_delayed_total", "portico_change_applied_seconds_count"]


# ---------- certificates ----------

class CA:
    """A CA of the run, and leaf certificates it signs for one host, each
    with a new key and serial: the client checks the chain and the name."""

    def __init__(self):
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
        self.x509, self.hashes, self.ser, self.ec, self.oid = x509, hashes, serialization, ec, NameOID
        now = dt.datetime.now(dt.timezone.utc)
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "soak CA")])
        self.crt = (x509.CertificateBuilder().subject_name(self.name).issuer_name(self.name)
                    .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                    .not_valid_before(now - dt.timedelta(hours=1))
                    .not_valid_after(now + dt.timedelta(days=2))
                    .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                    .sign(self.key, hashes.SHA256()))
        self.pem = self.crt.public_bytes(serialization.Encoding.PEM).decode()

    def leaf(self, host):
        """(certificate PEM, key PEM, SHA-256 of the certificate's DER)."""
        x509 = self.x509
        now = dt.datetime.now(dt.timezone.utc)
        key = self.ec.generate_private_key(self.ec.SECP256R1())
        crt = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(self.oid.COMMON_NAME, host)]))
               .issuer_name(self.name).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(minutes=5))
               .not_valid_after(now + dt.timedelta(days=1))
               .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
               .sign(self.key, self.hashes.SHA256()))
        der = crt.public_bytes(self.ser.Encoding.DER)
        return (crt.public_bytes(self.ser.Encoding.PEM).decode(),
                key.private_bytes(self.ser.Encoding.PEM, self.ser.PrivateFormat.PKCS8,
                                  self.ser.NoEncryption()).decode(),
                hashlib.sha256(der).hexdigest())


def tls_secret(name, crt, key):
    # data, not stringData: server-side apply then replaces both keys as a whole
    return {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
            "metadata": {"name": name, "namespace": "bench"},
            "data": {"tls.crt": base64.b64encode(crt.encode()).decode(),
                     "tls.key": base64.b64encode(key.encode()).decode()}}


def served_cert(port, host, ctx, timeout=2.0):
    """SHA-256 of the certificate a fresh TLS handshake with SNI <host> gets; None on error."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            with ctx.wrap_socket(s, server_hostname=host) as t:
                return hashlib.sha256(t.getpeercert(binary_form=True)).hexdigest()
    except (OSError, ssl.SSLError):
        return None


# ---------- the fixture ----------

def web_ingress(extra=()):
    """web.bench.test: / -> web, and each extra path -> still."""
    ing = ingress("web", "web.bench.test", "web")
    for p in extra:
        ing["spec"]["rules"][0]["http"]["paths"].append(
            {"path": p, "pathType": "Prefix",
             "backend": {"service": {"name": "still", "port": {"name": "http"}}}})
    return ing


def fixed_objects(crt, key):
    secure = ingress("secure", "secure.bench.test", "web")
    secure["spec"]["tls"] = [{"hosts": ["secure.bench.test"], "secretName": "rot"}]
    return (service_objects("web", WEB_POOL[:3], "web.bench.test")[:2] + [web_ingress()]
            + service_objects("still", STILL, "still.bench.test")
            + [tls_secret("rot", crt, key), secure])


def slice_of(state):
    """web's EndpointSlice for {address: ready}."""
    s = endpoint_slice("web", [])
    s["endpoints"] = [{"addresses": [a], "conditions": {"ready": r}}
                      for a, r in sorted(state.items())]
    return s


# ---------- the load ----------

class Counted(http.client.HTTPConnection):
    """Counts its TCP connections in <load>: http.client opens a new one by
    itself after an answer with Connection: close (HAProxy's old worker
    after a reload), which is no failure but shows how often it happens."""

    def __init__(self, load, port, timeout):
        super().__init__("127.0.0.1", port, timeout=timeout)
        self.load = load

    def connect(self):
        with self.load.lock:
            self.load.conns += 1
        super().connect()


class SNIConnection(http.client.HTTPSConnection):
    """HTTPS to 127.0.0.1:<port> with SNI (and the name checked) <sni>, counted in <load>."""

    def __init__(self, load, port, sni, ctx, timeout):
        super().__init__("127.0.0.1", port, context=ctx, timeout=timeout)
        self.load, self.sni = load, sni

    def connect(self):
        with self.load.lock:
            self.load.conns += 1
        sock = socket.create_connection(("127.0.0.1", self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.sni)


class Load:
    """--connections threads, each one keep-alive connection to one host,
    sending at an even pace so that together they make --rate requests/s.
    A connection that fails is recorded and opened again."""

    def __init__(self, ports, ctx, rate, nconn, timeout, log):
        self.ports, self.ctx, self.timeout, self.log = ports, ctx, timeout, log
        self.interval = nconn / rate
        self.hosts = [list(HOSTS)[i % len(HOSTS)] for i in range(nconn)]
        self.done = threading.Event()
        self.lock = threading.Lock()
        self.ok, self.failed, self.lat = 0, [], []
        self.conns, self.late = 0, 0   # TCP connections opened, times > 1 s behind
        self.threads = [threading.Thread(target=self.run, args=(k, h), daemon=True)
                        for k, h in enumerate(self.hosts)]

    def start(self):
        for t in self.threads:
            t.start()

    def stop(self):
        self.done.set()
        for t in self.threads:
            t.join(self.timeout + 5)

    def connection(self, host):
        if host == "secure.bench.test":
            return SNIConnection(self, self.ports["https"], host, self.ctx, self.timeout)
        return Counted(self, self.ports["http"], self.timeout)

    def fail(self, k, host, reason, served):
        t = time.time()
        with self.lock:
            self.failed.append((t, host, reason, served))
        self.log.write(f"{dt.datetime.fromtimestamp(t, dt.timezone.utc).isoformat()} conn {k} "
                       f"{host}: {reason} (after {served} requests on this connection)\n")
        self.log.flush()

    def run(self, k, host):
        conn, served = self.connection(host), 0
        # threads start at staggered offsets so that the requests are spread evenly
        nxt = time.monotonic() + self.interval * k / len(self.threads)
        while not self.done.is_set():
            now = time.monotonic()
            if nxt > now:
                time.sleep(nxt - now)
            elif now - nxt > 1.0:  # more than a second behind: do not burst to catch up
                with self.lock:
                    self.late += 1
                nxt = now
            nxt += self.interval
            t0 = time.monotonic()
            reason = None
            try:
                conn.request("GET", "/", headers={"Host": host})
                r = conn.getresponse()
                body = r.read()
                ep = r.getheader("X-Endpoint")
                if r.status != 200:
                    reason = f"status {r.status}"
                elif ep not in HOSTS[host] or body != b"ok":
                    reason = f"wrong answer: endpoint {ep}, body {body[:40]!r}"
            except socket.timeout:
                reason = f"timeout ({self.timeout} s)"
            except http.client.RemoteDisconnected:
                reason = "connection closed without an answer"
            except ssl.SSLError as e:
                reason = f"TLS error: {e}"
            except (ConnectionError, OSError, http.client.HTTPException) as e:
                reason = f"{type(e).__name__}: {e}"
            if reason:
                self.fail(k, host, (reason + (" (reused connection)" if served else
                                              " (new connection)")), served)
                conn.close()
                conn, served = self.connection(host), 0
            else:
                served += 1
                ms = (time.monotonic() - t0) * 1000
                with self.lock:
                    self.ok += 1
                    self.lat.append(ms)
                if ms > 500:  # no failure, but when it happened says why (a reload, the machine)
                    self.log.write(f"{dt.datetime.now(dt.timezone.utc).isoformat()} conn {k} "
                                   f"{host}: slow answer, {ms:.0f} ms\n")
                    self.log.flush()
        conn.close()


# ---------- the churn ----------

class Churn:
    """The three kinds of change, each in a thread of its own at its own
    period; each Ingress change and rotation is followed until served."""

    def __init__(self, tmp, ports, ctx, ca, args, log):
        self.kc = str(tmp / "c" / "admin.kubeconfig")
        self.ports, self.ctx, self.ca, self.args, self.log = ports, ctx, ca, args, log
        self.done = threading.Event()
        self.lock = threading.Lock()
        self.count = {"ingress": 0, "endpoint": 0, "cert": 0}
        self.kinds = {}               # Ingress change kind -> count
        self.served = {}              # change kind -> [ms until served]
        self.not_served = []          # (time, what)
        self.errors = []              # (time, what, error) of the API writes
        self.state = {a: True for a in WEB_POOL[:3]}
        self.cert = None              # fingerprint of rot's current certificate
        self.threads = [threading.Thread(target=self.loop, args=(f, p), daemon=True)
                        for f, p in ((self.ingress_change, args.ingress_every),
                                     (self.endpoint_change, args.endpoint_every),
                                     (self.cert_rotation, args.cert_every)) if p > 0]

    def start(self):
        for t in self.threads:
            t.start()

    def stop(self):
        self.done.set()
        for t in self.threads:
            t.join(60)

    def note(self, what):
        self.log.write(f"{dt.datetime.now(dt.timezone.utc).isoformat()} {what}\n")
        self.log.flush()

    def loop(self, change, period):
        admin = Client.from_kubeconfig(self.kc)
        k, nxt = 0, time.monotonic() + period
        while not self.done.wait(max(0, nxt - time.monotonic())):
            try:
                change(admin, k)
            except Exception as e:  # an API write failed: recorded, the churn goes on
                with self.lock:
                    self.errors.append((time.time(), change.__name__, repr(e)))
                self.note(f"{change.__name__} {k}: {e!r}")
            k += 1
            # a change that took longer than its period delays the next: no burst
            nxt = max(nxt + period, time.monotonic())

    def until(self, what, cond, kind):
        """Polls cond() until true: the time in ms under served[kind]; after
        --served-limit s, recorded as not served."""
        t = time.monotonic()
        while not cond():
            if time.monotonic() - t > self.args.served_limit:
                with self.lock:
                    self.not_served.append((time.time(), what))
                self.note(f"NOT SERVED after {self.args.served_limit} s: {what}")
                return
            if self.done.is_set() and time.monotonic() - t > 5:
                return
            time.sleep(0.01)
        with self.lock:
            self.served.setdefault(kind, []).append((time.monotonic() - t) * 1000)

    def answer(self, host, path="/"):
        c = http.client.HTTPConnection("127.0.0.1", self.ports["http"], timeout=2)
        try:
            c.request("GET", path, headers={"Host": host})
            r = c.getresponse()
            r.read()
            return r.status, r.getheader("X-Endpoint")
        except (OSError, http.client.HTTPException):
            return 0, None
        finally:
            c.close()

    def ingress_change(self, admin, k):
        """In turn: host+, path+, backend+, host-, path-, backend- (those of --ingress-kinds)."""
        seq = [(kind, add) for add in (True, False) for kind in self.args.ingress_kinds]
        kind, add = seq[k % len(seq)]
        n = k // len(seq)
        if kind == "host":
            host = f"churn-{n}.bench.test"
            ing = ingress(f"churn-{n}", host, "still")
            if add:
                admin.create([ing])
                self.until(f"host {host} added", lambda: self.answer(host)[0] == 200, "host+")
            else:
                admin.delete_object([ing])
                self.until(f"host {host} removed", lambda: self.answer(host)[0] == 404, "host-")
        elif kind == "path":
            path = f"/extra-{n}"
            admin.apply([web_ingress([path] if add else [])])
            want = STILL if add else WEB_POOL
            self.until(f"path {path} {'added' if add else 'removed'}",
                       lambda: self.answer("web.bench.test", path)[1] in want,
                       "path+" if add else "path-")
        else:
            name = f"nb-{n}"
            host = f"{name}.bench.test"
            objs = service_objects(name, [STILL[1]], host)
            if add:
                admin.create(objs)
                self.until(f"backend {name} added", lambda: self.answer(host)[0] == 200,
                           "backend+")
            else:
                admin.delete_object(objs[2:])  # the route first, then its Service
                admin.delete_object(objs[:2])
                self.until(f"backend {name} removed", lambda: self.answer(host)[0] == 404,
                           "backend-")
        with self.lock:
            self.count["ingress"] += 1
            key = f"{kind}{'+' if add else '-'}"
            self.kinds[key] = self.kinds.get(key, 0) + 1

    def endpoint_change(self, admin, k):
        """One address of web's pool: added (ready), removed, or its ready
        condition flipped; never leaves web without a ready endpoint."""
        rnd = random.Random(k)
        with self.lock:
            state = dict(self.state)
        a = rnd.choice(WEB_POOL)
        ready = sum(state.values())
        if a not in state:
            state[a] = True
        elif state[a] and ready <= 1:
            return  # the last ready one stays: this tick makes no change
        elif state[a]:
            if rnd.random() < 0.5:
                del state[a]
            else:
                state[a] = False
        else:
            if rnd.random() < 0.5:
                del state[a]
            else:
                state[a] = True
        admin.apply([slice_of(state)])
        with self.lock:
            self.state = state
            self.count["endpoint"] += 1

    def cert_rotation(self, admin, k):
        crt, key, fp = self.ca.leaf("secure.bench.test")
        admin.apply([tls_secret("rot", crt, key)])
        self.until(f"certificate {k + 1} served",
                   lambda: served_cert(self.ports["https"], "secure.bench.test", self.ctx) == fp,
                   "cert")
        with self.lock:
            self.cert = fp
            self.count["cert"] += 1


# ---------- samples ----------

def haproxy_procs(portico_pid, sock):
    """HAProxy's master pid, its children, and from `show proc` on its
    master socket: (current workers, old workers, the master's reload count)."""
    master = None
    for p in children(portico_pid):
        if comm(p) == "haproxy":
            master = p
    kids = children(master) if master else []
    cur = old = reloads = None
    try:
        section = None
        cur = old = 0
        for line in cli(sock, "show proc").splitlines():
            if line.startswith("#"):
                section = "old" if "old" in line else "workers" if "worker" in line else section
                continue
            f = line.split()
            if len(f) >= 3 and f[1] == "master":
                reloads = int(f[2])
            elif len(f) >= 3 and f[1] == "worker":
                if section == "old":
                    old += 1
                else:
                    cur += 1
    except (OSError, ValueError):
        pass
    return master, kids, cur, old, reloads


def comm(pid):
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None


class WorkerWatch(threading.Thread):
    """HAProxy's workers, every 0.1 s (a 10 s sample would miss an old
    worker that leaves within a second): the most workers at once, and how
    long each old worker lived after a newer one started."""

    def __init__(self, portico_pid):
        super().__init__(daemon=True)
        self.pid, self.done = portico_pid, threading.Event()
        self.most, self.most_old = 0, 0
        self.seen = {}        # worker pid -> when first seen
        self.old_since = {}   # worker pid -> when a newer one was first seen
        self.lived = []       # seconds each old worker lived after that

    def kids(self, pid):
        try:
            return [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        except OSError:
            return children(pid)

    def run(self):
        master = None
        while not self.done.wait(0.1):
            if master is None or not Path(f"/proc/{master}").exists():
                master = next((p for p in self.kids(self.pid) if comm(p) == "haproxy"), None)
                if master is None:
                    continue
            now = time.monotonic()
            ws = self.kids(master)
            for w in ws:
                self.seen.setdefault(w, now)
            newest = max(ws, key=lambda w: (self.seen[w], w)) if ws else None
            for w in ws:
                if w != newest:
                    self.old_since.setdefault(w, now)
            for w in list(self.old_since):
                if w not in ws:
                    self.lived.append(now - self.old_since.pop(w))
            self.most = max(self.most, len(ws))
            self.most_old = max(self.most_old, len(ws) - 1)

    def stop(self):
        self.done.set()
        self.join()


def fd_count(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def counter(m, name):
    return sum(v for k, v in m.items() if k == name or k.startswith(name + "{"))


def sample(t0, phase, proc, ports, sock, load, churn):
    row = {"t": round(time.monotonic() - t0, 1), "time": time.strftime("%H:%M:%S"),
           "phase": phase}
    mem = memory_mib(proc.pid)
    row.update(rss_mib=round(mem["VmRSS"], 3), hwm_mib=round(mem["VmHWM"], 3),
               fds=fd_count(proc.pid))
    master, kids, cur, old, mreloads = haproxy_procs(proc.pid, sock)
    wrss = 0.0
    for w in kids:
        try:
            wrss += memory_mib(w)["VmRSS"]
        except (OSError, KeyError):
            pass
    row.update(haproxy_processes=(1 if master else 0) + len(kids), workers=cur,
               old_workers=old, master_reloads=mreloads,
               haproxy_master_fds=fd_count(master) if master else None,
               haproxy_workers_rss_mib=round(wrss, 1))
    try:
        m = metrics(ports["ctl"])
        for c in COUNTERS:
            row[c.replace("portico_", "")] = counter(m, c)
    except OSError:
        pass
    with load.lock:
        row.update(requests=load.ok + len(load.failed), failed=len(load.failed))
    with churn.lock:
        row.update({f"{k}_changes": v for k, v in churn.count.items()})
    return row


def write_series(path, rows, summary):
    if str(path).endswith(".csv"):
        keys = []
        for r in rows:
            keys += [k for k in r if k not in keys]
        with open(path, "w", newline="") as f:
            w = csv.DictWriter(f, keys)
            w.writeheader()
            w.writerows(rows)
    else:
        Path(path).write_text(json.dumps({"samples": rows, "summary": summary}, indent=1))


# ---------- the run ----------

def median_of(rows, key):
    v = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(v) if v else None


def final_endpoints(ports, n=60):
    """The X-Endpoints of n requests to web.bench.test (round robin: every
    server HAProxy uses shows up)."""
    seen = set()
    for _ in range(n):
        s, h = http_answer(ports["http"], "web.bench.test", 2.0)
        if s == 200:
            seen.add(h.get("x-endpoint"))
    return seen


def run(tmp, admin, ca, ctx, cert0, args):
    work = Path(tempfile.mkdtemp(prefix="run-", dir=tmp))
    path, *flags = shlex.split(args.portico)
    cmd, ports = portico_command(path, f"--kubeconfig={tmp / 'c' / 'portico.kubeconfig'}", work)
    cmd += flags + [f"--log-level={args.log_level}"]
    log = work / "portico.log"
    sock = work / "run" / "master.sock"
    proc = subprocess.Popen(cmd, stderr=open(log, "w"))
    print(f"portico: {' '.join(cmd)}\n  log {log}", flush=True)
    rows, out = [], {}
    eventlog = open(work / "soak-events.log", "w")
    load = Load(ports, ctx, args.rate, args.connections, args.timeout, eventlog)
    churn = Churn(tmp, ports, ctx, ca, args, eventlog)
    churn.cert = cert0
    watch = WorkerWatch(proc.pid)
    try:
        wait_ready(ports["ctl"], proc, lambda: log.read_text()[-3000:])
        for host in HOSTS:
            if host != "secure.bench.test":
                churn.until(f"{host} at start", lambda: churn.answer(host)[0] == 200, "start")
        churn.until("first certificate", lambda: served_cert(ports["https"], "secure.bench.test",
                                                             ctx) == cert0, "start")
        if churn.not_served:
            raise SystemExit(f"not served at start: {churn.not_served}\n{log.read_text()[-3000:]}")
        rss_ready = memory_mib(proc.pid)["VmRSS"]
        print(f"ready: controller RSS {rss_ready:.2f} MiB, {fd_count(proc.pid)} fds; "
              f"{time.strftime('%H:%M:%S')}: load and churn for {args.warmup} s of warm-up + "
              f"{args.duration} s, {pressure()}", flush=True)
        t0 = time.monotonic()
        watch.start()
        load.start()
        churn.start()
        end = t0 + args.warmup + args.duration
        k = 0
        while True:
            now = time.monotonic()
            phase = "warmup" if now - t0 < args.warmup else "soak"
            rows.append(sample(t0, phase, proc, ports, sock, load, churn))
            if proc.poll() is not None:
                raise SystemExit(f"portico exited ({proc.returncode})\n{log.read_text()[-3000:]}")
            r = rows[-1]
            if k % max(1, int(60 / args.sample_every)) == 0:
                print(f"  {r['time']} t={r['t']:.0f}s {phase}: RSS {r['rss_mib']:.2f} MiB, "
                      f"fds {r['fds']}, haproxy processes {r['haproxy_processes']} "
                      f"(old workers {r['old_workers']}), reloads {r.get('reloads_total', 0):.0f}, "
                      f"requests {r['requests']}, failed {r['failed']}, changes "
                      f"{r['ingress_changes']}/{r['endpoint_changes']}/{r['cert_changes']}",
                      flush=True)
            k += 1
            nxt = t0 + k * args.sample_every
            if nxt > end + 0.5:
                break
            time.sleep(max(0, nxt - time.monotonic()))
        load.stop()
        churn.stop()
        # after the churn: the old workers leave, web is served by exactly its ready endpoints
        time.sleep(args.settle)
        _, _, _, out["old_after"], _ = haproxy_procs(proc.pid, sock)
        watch.stop()
        out["endpoints_want"] = sorted(a for a, r in churn.state.items() if r)
        out["endpoints_seen"] = sorted(x for x in final_endpoints(ports) if x)
        out["cert_final"] = served_cert(ports["https"], "secure.bench.test", ctx) == churn.cert
        rows.append(sample(t0, "after", proc, ports, sock, load, churn))
        text = log.read_text()
        out["log_levels"] = {lv: len(re.findall(rf"level={lv}\b", text)) for lv in ("error", "warn")}
        msgs = {}
        for line in text.splitlines():
            if re.search(r"level=(error|warn)\b", line):
                m = re.search(r'msg="([^"]*)"', line)
                key = m.group(1) if m else line[:120]
                msgs[key] = msgs.get(key, 0) + 1
        out["log_msgs"] = msgs
        out["reload_lines"] = len(re.findall(r"haproxy reloaded", text))
    finally:
        load.done.set()
        churn.done.set()
        watch.done.set()
        stop(proc, 30)
        eventlog.close()
    out.update(rows=rows, load=load, churn=churn, watch=watch, log=log, work=work, rss_ready=rss_ready)
    return out


def summarize(r, args):
    rows, load, churn = r["rows"], r["load"], r["churn"]
    warm = [x for x in rows if x["phase"] == "warmup"]
    soak = [x for x in rows if x["phase"] == "soak"]
    base_rows = [x for x in warm if x["t"] >= args.warmup - 20 - 0.5] or warm[-3:]
    end_rows = soak[-3:]
    rss0, rss1 = median_of(base_rows, "rss_mib"), median_of(end_rows, "rss_mib")
    fd0, fd1 = median_of(base_rows, "fds"), median_of(end_rows, "fds")
    growth = (rss1 - rss0) / rss0 * 100
    fds = [x["fds"] for x in warm + soak if x["fds"] is not None]
    soak_fds = [x["fds"] for x in soak if x["fds"] is not None]
    old = [x["old_workers"] for x in rows if x["old_workers"] is not None]
    procs = [x["haproxy_processes"] for x in warm + soak]
    # the RSS trend over the measured part, MiB per hour (least squares)
    pts = [(x["t"], x["rss_mib"]) for x in soak]
    slope = None
    if len(pts) > 2:
        mt, mr = statistics.mean(p[0] for p in pts), statistics.mean(p[1] for p in pts)
        den = sum((p[0] - mt) ** 2 for p in pts)
        slope = sum((p[0] - mt) * (p[1] - mr) for p in pts) / den * 3600 if den else 0.0
    first, last = rows[0], [x for x in rows if x["phase"] != "after"][-1]
    reasons = {}
    for _, host, reason, _ in load.failed:
        key = f"{host}: {reason}"
        reasons[key] = reasons.get(key, 0) + 1
    total = load.ok + len(load.failed)
    secs = last["t"] - first["t"]
    s = {
        "requests": total, "failed": len(load.failed), "failed_reasons": reasons,
        "failed_at": [(dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%H:%M:%S.%f")[:-3],
                       h, why) for t, h, why, _ in load.failed[:20]],
        "rate": total / secs if secs else 0, "connections_opened": load.conns,
        "late": load.late,
        "latency_ms": {p: round(pct(load.lat, p), 2) for p in (50, 90, 99, 99.9)} | (
            {"max": round(max(load.lat), 1)} if load.lat else {}),
        "changes": dict(churn.count), "ingress_kinds": dict(churn.kinds),
        "served_ms": {k: {"n": len(v), "p50": round(pct(v, 50), 1), "p99": round(pct(v, 99), 1),
                          "max": round(max(v), 1)} for k, v in churn.served.items()},
        "not_served": churn.not_served, "api_errors": churn.errors,
        "reloads": last.get("reloads_total", 0) - first.get("reloads_total", 0),
        "master_reloads": (last["master_reloads"] or 0) - (first["master_reloads"] or 0),
        "counters": {c.replace("portico_", ""): last.get(c.replace("portico_", ""), 0)
                     - first.get(c.replace("portico_", ""), 0) for c in COUNTERS},
        "rss_ready": round(r["rss_ready"], 3), "rss_base": rss0, "rss_end": rss1,
        "rss_growth_pct": round(growth, 2),
        "rss_max": max(x["rss_mib"] for x in warm + soak),
        "rss_slope_mib_per_h": round(slope, 3) if slope is not None else None,
        "hwm_end": last["hwm_mib"],
        "fd_base": fd0, "fd_end": fd1, "fd_min": min(fds), "fd_max": max(fds),
        "old_workers_max": max(old) if old else None, "old_workers_after": r["old_after"],
        "old_workers_max_fast": r["watch"].most_old, "workers_max_fast": r["watch"].most,
        "old_lived_s": sorted(round(x, 2) for x in r["watch"].lived),
        "haproxy_processes_max": max(procs),
        "haproxy_master_fds": (first["haproxy_master_fds"], last["haproxy_master_fds"]),
        "haproxy_workers_rss_mib": (first["haproxy_workers_rss_mib"],
                                    last["haproxy_workers_rss_mib"]),
        "endpoints_want": r["endpoints_want"], "endpoints_seen": r["endpoints_seen"],
        "cert_final": r["cert_final"], "log_levels": r["log_levels"], "log_msgs": r["log_msgs"],
    }
    s["criteria"] = {
        "0 failed requests": s["failed"] == 0,
        "controller RSS growth < 5 %": growth < 5.0,
        # stable: back where it started at the end, and never far from it
        "file descriptors stable": (fd1 is not None and fd1 <= fd0 + 2
                                    and max(soak_fds or fds) <= fd0 + args.fd_slack),
        "old HAProxy workers bounded": (max(s["old_workers_max"] or 0,
                                            s["old_workers_max_fast"]) <= args.max_old_workers
                                        and r["old_after"] == 0),
        "every change served": not churn.not_served and not churn.errors and r["cert_final"],
        "endpoints at the end = the ready ones": r["endpoints_want"] == r["endpoints_seen"],
    }
    return s


def report(s, args):
    print(f"requests: {s['requests']} ({s['rate']:.1f}/s over {args.connections} keep-alive "
          f"connections, {s['connections_opened']} TCP connections opened in all; fell > 1 s behind "
          f"{s['late']} times); failed {s['failed']}")
    for k, v in sorted(s["failed_reasons"].items(), key=lambda kv: -kv[1]):
        print(f"  {v} x {k}")
    for f in s["failed_at"]:
        print(f"  at {f[0]} {f[1]}: {f[2]}")
    la = s["latency_ms"]
    print(f"latency (ms): p50 {la.get(50)} p90 {la.get(90)} p99 {la.get(99)} p99.9 "
          f"{la.get(99.9)} max {la.get('max')}")
    print(f"changes: {s['changes']['ingress']} Ingress ({s['ingress_kinds']}), "
          f"{s['changes']['endpoint']} endpoint, {s['changes']['cert']} certificate rotations; "
          f"API write errors {len(s['api_errors'])}; not served {len(s['not_served'])}")
    for e in s["api_errors"][:10]:
        print(f"  API error: {e}")
    for e in s["not_served"][:10]:
        print(f"  not served: {e}")
    for k, v in sorted(s["served_ms"].items()):
        print(f"  {k}: write -> served, {v['n']}: p50 {v['p50']} p99 {v['p99']} max {v['max']} ms")
    c = s["counters"]
    print(f"reloads: {s['reloads']:.0f} (Portico), {s['master_reloads']} (HAProxy master); "
          f"runtime updates {c['runtime_updates_total']:.0f}, runtime commands "
          f"{c['runtime_commands_total']:.0f}, Warning Events {c['events_total']:.0f}, "
          f"spare backend uses {c['spare_backend_uses_total']:.0f}, delayed reloads "
          f"{c['reloads_delayed_total']:.0f}, drift repairs {c['drift_repairs_total']:.0f}, "
          f"rejected configs {c['config_rejected_total']:.0f}, HAProxy restarts "
          f"{c['haproxy_restarts_total']:.0f}, watch restarts {c['watch_restarts_total']:.0f}")
    print(f"controller RSS: {s['rss_ready']:.2f} MiB when ready; baseline (median of the last "
          f"20 s of the {args.warmup} s warm-up) {s['rss_base']:.3f} MiB, end (median of the last "
          f"3 samples) {s['rss_end']:.3f} MiB: growth {s['rss_growth_pct']:+.2f} %; max "
          f"{s['rss_max']:.3f} MiB; trend {s['rss_slope_mib_per_h']} MiB/h; VmHWM at the end "
          f"{s['hwm_end']:.2f} MiB")
    print(f"controller fds: baseline {s['fd_base']}, end {s['fd_end']}, min {s['fd_min']}, "
          f"max {s['fd_max']}")
    lived = s["old_lived_s"]
    print(f"HAProxy: at most {s['haproxy_processes_max']} processes and "
          f"{s['old_workers_max']} old workers in a 10 s sample; every 0.1 s: at most "
          f"{s['workers_max_fast']} workers, {s['old_workers_max_fast']} of them old; "
          f"{len(lived)} old workers left, "
          f"{f'p50 {pct(lived, 50)} max {max(lived)} s' if lived else '-'} after the next "
          f"started; {s['old_workers_after']} old {args.settle} s after the churn; master fds {s['haproxy_master_fds'][0]} -> "
          f"{s['haproxy_master_fds'][1]}; workers' RSS {s['haproxy_workers_rss_mib'][0]} -> "
          f"{s['haproxy_workers_rss_mib'][1]} MiB")
    print(f"at the end: web's ready endpoints {s['endpoints_want']}, served "
          f"{s['endpoints_seen']}; the last certificate served: {s['cert_final']}")
    print(f"Portico log: {s['log_levels']['error']} errors, {s['log_levels']['warn']} warnings")
    for m, n in sorted(s["log_msgs"].items(), key=lambda kv: -kv[1])[:10]:
        print(f"  {n} x {m}")
    for name, ok in s["criteria"].items():
        print(f"{'PASS' if ok else 'FAIL'}: {name}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=1800, help="seconds measured, after --warmup")
    ap.add_argument("--warmup", type=int, default=60,
                    help="seconds of load and churn before the baseline is taken")
    ap.add_argument("--ingresses", type=int, default=100)
    ap.add_argument("--rate", type=float, default=150, help="requests/s, all connections together")
    ap.add_argument("--connections", type=int, default=6,
                    help="keep-alive connections, spread over web (HTTP), still (HTTP), "
                         "secure (HTTPS)")
    ap.add_argument("--timeout", type=float, default=5.0, help="a request's limit (s)")
    ap.add_argument("--ingress-every", type=float, default=10)
    ap.add_argument("--ingress-kinds", default="host,path,backend",
                    help="the Ingress changes, in turn, comma-separated: host (a new Ingress), "
                         "path (on the loaded host's Ingress), backend (new Service: a reload)")
    ap.add_argument("--endpoint-every", type=float, default=1)
    ap.add_argument("--cert-every", type=float, default=300)
    ap.add_argument("--sample-every", type=float, default=10)
    ap.add_argument("--served-limit", type=float, default=30,
                    help="a change not served after this many seconds is a failure")
    ap.add_argument("--settle", type=float, default=10,
                    help="seconds after the churn before the final checks")
    ap.add_argument("--max-old-workers", type=int, default=3,
                    help="most old HAProxy workers allowed in one sample")
    ap.add_argument("--fd-slack", type=int, default=8,
                    help="most fds above the baseline in any sample")
    ap.add_argument("--log-level", default="debug")
    ap.add_argument("--out", help="the samples: CSV if it ends in .csv, else JSON with the summary")
    ap.add_argument("--portico", default=str(ROOT / "portico"),
                    help="binary, and flags of its own after it")
    args = ap.parse_args()
    args.ingress_kinds = [k for k in args.ingress_kinds.split(",") if k]
    into_netns()
    print(f"soak: {time.strftime('%Y-%m-%d %H:%M:%S')}, commit "
          f"{subprocess.run(['git', '-C', str(ROOT), 'log', '-1', '--format=%h %s'], capture_output=True, text=True).stdout.strip()}, "
          f"{' '.join(sys.argv[1:])}", flush=True)
    with bench_cluster("portico-soak-") as (tmp, admin):
        ca = CA()
        crt, key, cert0 = ca.leaf("secure.bench.test")
        admin.create(fixed_objects(crt, key))
        certs = make_certs(args.ingresses)
        with concurrent.futures.ThreadPoolExecutor(4) as ex:
            list(ex.map(lambda i: Client.from_kubeconfig(
                str(tmp / "c" / "admin.kubeconfig")).create(objects(i, certs)),
                range(args.ingresses)))
        print(f"fixture: {args.ingresses} Ingresses (+ Services, EndpointSlices, "
              f"{(args.ingresses + 9) // 10} TLS Secrets) + web, still, secure", flush=True)
        ctx = ssl.create_default_context(cadata=ca.pem)
        r = run(tmp, admin, ca, ctx, cert0, args)
        print(f"at the end, {time.strftime('%H:%M:%S')}: {pressure()}; files in {r['work']}")
    s = summarize(r, args)
    report(s, args)
    if args.out:
        write_series(args.out, r["rows"], s)
        print(f"samples: {args.out}")
    sys.exit(0 if all(s["criteria"].values()) else 1)


if __name__ == "__main__":
    main()
