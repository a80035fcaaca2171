"""Helpers the benchmarks share: ports, Portico's command line, one HTTP status
through HAProxy, percentiles, waiting for Portico to be ready, its memory, CPU
time and its HAProxy's, its metrics."""

import http.client
import json
import os
import re
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


def first_item(manifests, kind, ok=lambda o: True):
    """(file, its content, index in its items) of the first object of <kind>
    for which ok() holds, in the JSON manifest lists under <manifests> (a
    Path, bench/file_scale.py --write), in file order."""
    for f in sorted(manifests.glob("*.json")):
        doc = json.loads(f.read_text())
        for i, o in enumerate(doc.get("items", [])):
            if o.get("kind") == kind and ok(o):
                return f, doc, i
    raise SystemExit(f"no {kind} in {manifests}")


def replace_json(path, doc):
    """Writes <doc> as JSON to <path> by a rename, as an editor or a volume
    update replaces a manifest: a watcher never reads half of it."""
    tmp = Path(path).with_suffix(".tmp")
    tmp.write_text(json.dumps(doc))
    tmp.rename(path)


def http_status(port, host, timeout=2.0, path="/"):
    """Status of GET <path> with Host <host> on 127.0.0.1:<port>; 0 without an answer."""
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Host": host})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return 0


def http_answer(port, host, timeout=2.0):
    """(status, headers) of GET / with Host <host> on 127.0.0.1:<port>, the
    header names in lower case; (0, {}) without an answer."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", "/", headers={"Host": host})
        r = c.getresponse()
        r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}
    except OSError:
        return 0, {}
    finally:
        c.close()


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


def haproxy_cfg_text(gen_dir):
    """The configuration of a generation directory as HAProxy reads it:
    haproxy.cfg, then the files of backends/ in lexical order."""
    gen_dir = Path(gen_dir)
    files = [gen_dir / "haproxy.cfg"] + sorted((gen_dir / "backends").glob("*.cfg"))
    return "".join(f.read_text() for f in files)


def haproxy_cfg_args(gen_dir):
    """haproxy's -f arguments for a generation directory."""
    return ["-f", os.path.join(gen_dir, "haproxy.cfg"), "-f", os.path.join(gen_dir, "backends")]


def memory_mib(pid):
    """The Vm* lines of /proc/<pid>/status (VmHWM, VmRSS, ...) in MiB."""
    with open(f"/proc/{pid}/status") as f:
        return {l.split(":")[0]: int(l.split()[1]) / 1024 for l in f if l.startswith("Vm")}


def cpu_ns(pid):
    """CPU time of all the threads of <pid> so far, in ns (schedstat)."""
    total = 0
    for t in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{t}/schedstat") as f:
                total += int(f.read().split()[0])
        except OSError:
            pass  # a thread that just ended
    return total


def cpu_ms(pid):
    """CPU time of <pid> in ms: (its own, every thread, user + system, to the
    nanosecond (cpu_ns()); that of its children it has waited for, in 10 ms
    ticks from /proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = 1000.0 / os.sysconf("SC_CLK_TCK")
    # cutime, cstime are fields 16-17; fields[0] is field 3
    return cpu_ns(pid) / 1e6, (int(fields[13]) + int(fields[14])) * tick


def metrics(port):
    """Portico's /metrics on <port>: {"name{labels}": value}."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
        out = {}
        for line in r.read().decode().splitlines():
            if line and not line.startswith("#"):
                k, v = line.rsplit(" ", 1)
                out[k] = float(v)
        return out


def reloads(port):
    """HAProxy reloads Portico counted (any result), from its /metrics on <port>."""
    return sum(v for k, v in metrics(port).items() if k.startswith("portico_reloads_total{"))


def spare_uses(port):
    """New backends Portico served from a spare backend, from its /metrics on <port>."""
    return metrics(port).get("portico_spare_backend_uses_total", 0)


def reload_times(log_text):
    """The durations (ms) of the reloads in Portico's log, in order."""
    return [float(m) for m in re.findall(r"haproxy reloaded \(generation \d+\): [^;]*; (\d+) ms",
                                         log_text)]


def children(pid):
    """The pids whose parent is <pid>."""
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(d))
            except (OSError, ValueError, IndexError):
                pass
    return out


def haproxy_memory(portico_pid):
    """Portico's HAProxy: {"master": {Vm*}, "workers": [{Vm*}, ...]} (MiB),
    the master being Portico's child and the workers the master's."""
    for p in children(portico_pid):
        try:
            with open(f"/proc/{p}/comm") as f:
                if f.read().strip() != "haproxy":
                    continue
            workers = []
            for w in children(p):
                try:
                    workers.append(memory_mib(w))
                except OSError:
                    pass
            return {"master": memory_mib(p), "workers": workers}
        except OSError:
            pass
    return None
