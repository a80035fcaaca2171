#!/usr/bin/env python3
"""Endpoint changes while a reload waits for --min-reload-interval, file mode.

Starts each Portico binary (--spare-backends=0, so that a new backend is a
reload) on a Service "web" with two endpoints, 127.0.0.1 and 127.0.0.2, both
answered by this script with an X-Endpoint header. Then, --changes times: a
new Service + EndpointSlice + Ingress is written (a new backend, whose reload
waits for the rest of the interval since the previous one), 50 ms later the
second endpoint of web is removed or added back, alternately; timed from that
write until 8 requests in a row avoid it, or one reaches it. Then it waits
for the new backend to be served (the reload) before the next change, so that
every change finds a reload waiting.

    python3 bench/reload_wait.py --portico /tmp/portico-before \\
        --portico ./portico --changes 100
"""

import argparse
import http.client
import shutil
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from benchlib import free_port, http_status, pct, portico_command, replace_json, wait_ready


class Endpoint(BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"ok\n"
        self.send_response(200)
        self.send_header("X-Endpoint", self.server.server_address[0])
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def serve(addr, port):
    srv = ThreadingHTTPServer((addr, port), Endpoint)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def objects(name, port, addrs):
    meta = {"name": name, "namespace": "default"}
    return [
        {"apiVersion": "v1", "kind": "Service", "metadata": meta,
         "spec": {"ports": [{"name": "http", "port": 80, "targetPort": "http"}]}},
        {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
         "metadata": {"name": name, "namespace": "default",
                      "labels": {"kubernetes.io/service-name": name}},
         "addressType": "IPv4", "ports": [{"name": "http", "port": port}],
         "endpoints": [{"addresses": [a], "conditions": {"ready": True}} for a in addrs]},
        {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": meta,
         "spec": {"ingressClassName": "portico", "rules": [{"host": f"{name}.wait.test", "http": {
             "paths": [{"path": "/", "pathType": "Prefix", "backend": {
                 "service": {"name": name, "port": {"name": "http"}}}}]}}]}},
    ]


def write(path, objs):
    replace_json(path, {"apiVersion": "v1", "kind": "List", "items": objs})


def endpoint(port):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        c.request("GET", "/", headers={"Host": "web.wait.test"})
        r = c.getresponse()
        r.read()
        return r.getheader("X-Endpoint")
    except OSError:
        return None
    finally:
        c.close()


def run(binary, port, changes, interval):
    work = Path(tempfile.mkdtemp(prefix="portico-reload-wait-"))
    man = work / "manifests"
    man.mkdir()
    cls = {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
           "metadata": {"name": "portico"},
           "spec": {"controller": "portico.dev/ingress-controller"}}
    write(man / "class.json", [cls])
    write(man / "web.json", objects("web", port, ["127.0.0.1", "127.0.0.2"]))
    cmd, ports = portico_command(binary, f"--manifests={man}", work)
    cmd += ["--spare-backends=0", f"--min-reload-interval={interval}ms"]
    proc = subprocess.Popen(cmd, stderr=subprocess.DEVNULL)
    times, waited = [], 0
    try:
        wait_ready(ports["ctl"], proc, lambda: f"{binary} exited with {proc.returncode}")
        while endpoint(ports["http"]) != "127.0.0.2":
            time.sleep(0.01)
        for i in range(changes):
            name = f"new{i}"
            write(man / f"{name}.json", objects(name, port, ["127.0.0.1"]))
            time.sleep(0.05)
            removed = i % 2 == 0
            t0 = time.monotonic()
            write(man / "web.json",
                  objects("web", port, ["127.0.0.1"] if removed else ["127.0.0.1", "127.0.0.2"]))
            if removed:
                row = 0
                while row < 8:
                    row = row + 1 if endpoint(ports["http"]) == "127.0.0.1" else 0
            else:
                while endpoint(ports["http"]) != "127.0.0.2":
                    pass
            times.append((time.monotonic() - t0) * 1000)
            # the new backend not served yet: its reload still waits
            waited += http_status(ports["http"], f"{name}.wait.test") == 404
            while http_status(ports["http"], f"{name}.wait.test") != 200:
                time.sleep(0.005)
    finally:
        proc.terminate()
        proc.wait(15)
        shutil.rmtree(work, ignore_errors=True)
    return times, waited


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--portico", action="append", required=True, help="binary (repeatable)")
    ap.add_argument("--changes", type=int, default=100)
    ap.add_argument("--interval-ms", type=int, default=1000, help="--min-reload-interval")
    args = ap.parse_args()
    port = free_port()
    servers = [serve(a, port) for a in ("127.0.0.1", "127.0.0.2")]
    for binary in args.portico:
        times, waited = run(binary, port, args.changes, args.interval_ms)
        print(f"{binary}: endpoint change -> applied, p50 {pct(times, 50):.1f} ms, "
              f"p99 {pct(times, 99):.1f} ms, max {max(times):.1f} ms; applied before the "
              f"waiting reload: {waited} of {len(times)}", flush=True)
    for s in servers:
        s.shutdown()


if __name__ == "__main__":
    main()
