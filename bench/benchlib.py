"""Helpers the benchmarks share: ports, Portico's command line, one HTTP status
through HAProxy, percentiles, waiting for Portico to be ready, its memory."""

import socket
import time
import urllib.error
import urllib.request
from pathlib import Path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def portico_command(binary, source, work):
    """Portico's command line with <source> ("--manifests=DIR" or
    "--kubeconfig=PATH") on loopback ports of its own, its files under <work>
    (config/, run/); and those ports, by name: http, https, stats, healthz, ctl."""
    ports = {k: free_port() for k in ("http", "https", "stats", "healthz", "ctl")}
    work = Path(work)
    return [binary, source, "--disable-ipv6", "--ipv4-bind-address=127.0.0.1",
            f"--http-bind-port={ports['http']}", f"--https-bind-port={ports['https']}",
            f"--stats-bind-port={ports['stats']}", f"--healthz-bind-port={ports['healthz']}",
            f"--controller-port={ports['ctl']}", f"--config-dir={work / 'config'}",
            f"--runtime-dir={work / 'run'}"], ports


def http_status(port, host, timeout=2.0):
    """Status of GET / with Host <host> on 127.0.0.1:<port>; 0 without an answer."""
    req = urllib.request.Request(f"http://127.0.0.1:{port}/", headers={"Host": host})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return 0


def pct(values, p):
    """The p-th percentile (nearest rank) of <values>."""
    values = sorted(values)
    return values[min(len(values) - 1, max(0, int(round(p / 100.0 * (len(values) - 1)))))]


def wait_ready(ctl_port, proc, why):
    """Polls Portico's /readyz on <ctl_port> until it answers 200; if <proc>
    exits first, stops the benchmark with why()."""
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{ctl_port}/readyz", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if proc.poll() is not None:
            raise SystemExit(why())
        time.sleep(0.01)


def memory_mib(pid):
    """The Vm* lines of /proc/<pid>/status (VmHWM, VmRSS, ...) in MiB."""
    with open(f"/proc/{pid}/status") as f:
        return {l.split(":")[0]: int(l.split()[1]) / 1024 for l in f if l.startswith("Vm")}
