"""Helpers for the tests on the one-node cluster (tests/node/run.sh starts the
node and runs pytest inside its namespaces, with KUBECONFIG and kubectl set).
Everything is done the way a user does it: kubectl, helm, HTTP through the
node ports. A skipped test fails the run unless PORTICO_ALLOW_SKIP=1."""

import datetime
import errno
import http.client
import json
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))

import skip_policy  # noqa: E402

NODE_IP = "198.18.0.1"


def pytest_configure(config):
    skip_policy.register(config)


def need_env(name):
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"${name} is not set: run tests/node/run.sh", pytrace=False)
    return value


def kubectl(*args, input=None, check=True, timeout=120):
    p = subprocess.run(["kubectl", *args], input=input, capture_output=True, text=True,
                       timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)}: exit {p.returncode}\n{p.stderr}")
    return p


def kget(*args):
    return json.loads(kubectl("get", *args, "-o", "json").stdout)


def apply(text):
    return kubectl("apply", "-f", "-", input=text).stdout


def wait_until(what, fn, timeout=60, interval=0.2):
    """fn's first true value; fails naming WHAT and the last value after TIMEOUT
    seconds (a hang guard, not a performance bound)."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = fn()
        except (AssertionError, OSError, http.client.HTTPException) as e:
            last = e
        else:
            if last:
                return last
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not after {timeout} s (last: {last!r})")
        time.sleep(interval)


def node_port(ns, svc, name):
    for p in kget("service", "-n", ns, svc)["spec"]["ports"]:
        if p["name"] == name:
            return p["nodePort"]
    raise AssertionError(f"service {ns}/{svc} has no port {name}")


class Reply:
    def __init__(self, status, headers, body, cert=None):
        self.status, self.headers, self.body, self.cert = status, headers, body, cert

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<{self.status} {self.body[:120]!r}>"


def connect(port, timeout, source_port=0):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        if source_port:
            sock.bind((NODE_IP, source_port))
        sock.connect((NODE_IP, port))
    except BaseException:
        sock.close()
        raise
    return sock


def request(port, host, path="/", tls=False, timeout=5, method="GET", source_port=0):
    """One request on a new connection to the node's PORT; with TLS, SNI is HOST
    and the certificate HAProxy presented comes back as DER."""
    sock = connect(port, timeout, source_port)
    cert = None
    try:
        if tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            sock = ctx.wrap_socket(sock, server_hostname=host)
            cert = sock.getpeercert(binary_form=True)
        conn = http.client.HTTPConnection(NODE_IP, port, timeout=timeout)
        conn.sock = sock
        conn.request(method, path, headers={"Host": host, "Connection": "close"})
        r = conn.getresponse()
        return Reply(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read().decode(), cert)
    finally:
        sock.close()


class SourcePorts:
    """Source ports in turn from 10000-29999, below the node ports and the
    kernel's ephemeral range: at 100 connections a second a port comes back
    after 200 s, once conntrack has forgotten its last connection (TIME_WAIT,
    120 s). Clients of an ingress come from many addresses; one test client
    letting the kernel pick would reuse a port whose NAT entry still names an
    earlier connection's pod, and now and then get a reset that no server
    sent."""

    def __init__(self, first=10000, last=29999):
        self.first, self.last, self.next = first, last, first

    def take(self):
        p = self.next
        self.next = self.first if p == self.last else p + 1
        return p


class Load(threading.Thread):
    """Requests at a steady RATE per second, each on a new connection, as
    clients arriving one after the other do (kube-proxy's NAT refuses some of
    ~1,500 new connections a second, so the pace stays near 100/s). Counts
    the answers EXPECT accepts and keeps every other one with its time."""

    ports = SourcePorts()

    def __init__(self, port, host, path="/", rate=100, expect=lambda r: r.status == 200):
        super().__init__(daemon=True)
        self.port, self.host, self.path, self.rate, self.expect = port, host, path, rate, expect
        self.ok = 0
        self.failures = []
        self.seen = {}
        self._halt = threading.Event()

    def run(self):
        interval = 1.0 / self.rate
        next_at = time.monotonic()
        while not self._halt.is_set():
            try:
                r = self.request()
                if self.expect(r):
                    self.ok += 1
                    try:
                        pod = r.json().get("pod")
                    except ValueError:
                        pod = None
                    self.seen[pod] = self.seen.get(pod, 0) + 1
                else:
                    self.failures.append((time.time(), repr(r)))
            except (OSError, http.client.HTTPException) as e:
                self.failures.append((time.time(), repr(e)))
            next_at += interval
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                next_at = time.monotonic()

    def request(self):
        for _ in range(100):
            try:
                return request(self.port, self.host, self.path, source_port=self.ports.take())
            except OSError as e:
                if e.errno != errno.EADDRINUSE:
                    raise
        raise OSError(errno.EADDRINUSE, "no free source port in 100 tries")

    def stop(self):
        self._halt.set()
        self.join(30)
        return self

    def summary(self):
        fails = "; ".join(
            f"{datetime.datetime.fromtimestamp(t).strftime('%H:%M:%S.%f')[:-3]} {w}"
            for t, w in self.failures[:10])
        return f"{self.ok} ok, {len(self.failures)} failed: {fails}"


class PodWatch(threading.Thread):
    """`kubectl get pods -w` on a namespace: the last state of every
    container that terminated, by pod name (the exit codes of pods that are
    deleted, which a later `get` can no longer show)."""

    def __init__(self, ns):
        super().__init__(daemon=True)
        self.terminated = {}
        self.proc = subprocess.Popen(
            ["kubectl", "get", "pods", "-n", ns, "--watch", "-o", "json"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.start()

    def run(self):
        dec = json.JSONDecoder()
        buf = ""
        for line in self.proc.stdout:
            buf += line
            while buf.strip():
                try:
                    obj, end = dec.raw_decode(buf.lstrip())
                except ValueError:
                    break
                buf = buf.lstrip()[end:]
                for cs in obj.get("status", {}).get("containerStatuses", []):
                    t = cs.get("state", {}).get("terminated")
                    if t:
                        self.terminated[obj["metadata"]["name"]] = t

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)
        self.join(10)
        return self.terminated
