#!/usr/bin/env python3
"""A small scripted Kubernetes API server, only for faults the real one cannot
produce on demand: 410 Gone on a watch or a list continuation, a watch event
cut in the middle, an oversized event, an unknown event type, a watch that
drops events (so that only a relist can bring the missed deletes).

It serves LIST (with limit/continue) and WATCH (newline-delimited JSON events)
for the collections Portico reads, over HTTPS on 127.0.0.1, and is driven by
a control API on the same port:

    POST /_put     {"path": COLLECTION, "object": {...}}   create or replace
    POST /_delete  {"path": COLLECTION, "namespace": NS, "name": NAME}
    POST /_fault   {"fault": NAME, "count": N}             arm a fault N times
    GET  /_stats                                            requests seen

Arming a fault closes the open watches, so that the watches opened next meet
it. Faults: watch-410 (the next watches answer an ERROR event with code 410),
list-410 (continuation requests answer 410), truncate (the next watch sends
half an event and closes), oversize (the next watch sends a 17 MiB event),
unknown (the next watch sends an event of type "SURPRISE" first),
stall:COLLECTION (the next watch of COLLECTION sends its headers, then
nothing, until the client goes away; counted in stats["stalled"]), drop (the
next change is never sent and the history before it is compacted away, as
after an etcd compaction: watches from an older resourceVersion get 410).

    fake_apiserver.py --cert CERT --key KEY --port-file FILE
"""

import argparse
import json
import select
import ssl
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Condition()
STATE = {
    "rv": 100,
    "objects": {},   # path -> {"ns/name": object}
    "events": {},    # path -> [(rv, type, object)]
    "faults": {},    # name -> remaining count
    "stats": {"list": 0, "watch": 0, "continue": 0, "stalled": 0},
    "generation": 0, # bumped to end the open watches
    "compacted": 0,  # watches from an older resourceVersion get 410
}
KINDS = {
    "/apis/networking.k8s.io/v1/ingresses": ("networking.k8s.io/v1", "Ingress"),
    "/apis/networking.k8s.io/v1/ingressclasses": ("networking.k8s.io/v1", "IngressClass"),
    "/api/v1/services": ("v1", "Service"),
    "/apis/discovery.k8s.io/v1/endpointslices": ("discovery.k8s.io/v1", "EndpointSlice"),
    "/api/v1/secrets": ("v1", "Secret"),
    "/api/v1/namespaces": ("v1", "Namespace"),
}


def take_fault(name):
    left = STATE["faults"].get(name, 0)
    if left <= 0:
        return False
    STATE["faults"][name] = left - 1
    return True


def key_of(obj):
    md = obj.get("metadata", {})
    return f"{md.get('namespace', '')}/{md['name']}"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def send_json(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def read_body(self):
        n = int(self.headers.get("Content-Length", "0"))
        return json.loads(self.rfile.read(n) or b"{}")

    def do_POST(self):
        body = self.read_body()
        with LOCK:
            if self.path == "/_put" or self.path == "/_delete":
                path = body["path"]
                objs = STATE["objects"].setdefault(path, {})
                STATE["rv"] += 1
                rv = str(STATE["rv"])
                if self.path == "/_put":
                    obj = body["object"]
                    obj.setdefault("metadata", {})["resourceVersion"] = rv
                    typ = "MODIFIED" if key_of(obj) in objs else "ADDED"
                    objs[key_of(obj)] = obj
                else:
                    obj = objs.pop(f"{body.get('namespace', '')}/{body['name']}", None)
                    if obj is None:
                        self.send_json(404, {"kind": "Status", "code": 404})
                        return
                    obj = dict(obj, metadata=dict(obj["metadata"], resourceVersion=rv))
                    typ = "DELETED"
                if take_fault("drop"):
                    STATE["generation"] += 1  # watchers close without this event
                    STATE["compacted"] = int(rv)
                else:
                    STATE["events"].setdefault(path, []).append((int(rv), typ, obj))
                LOCK.notify_all()
            elif self.path == "/_fault":
                STATE["faults"][body["fault"]] = body.get("count", 1)
                STATE["generation"] += 1
                LOCK.notify_all()
            else:
                self.send_json(404, {})
                return
        self.send_json(200, {"ok": True})

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(url.query))
        if url.path == "/_stats":
            with LOCK:
                self.send_json(200, STATE["stats"])
            return
        if url.path == "/readyz":  # what Portico probes while the server is unavailable
            self.send_json(200, {"ok": True})
            return
        if url.path not in KINDS and not url.path.endswith("/configmaps"):
            self.send_json(404, {"kind": "Status", "code": 404})
            return
        if q.get("watch") in ("1", "true"):
            self.watch(url.path, q)
        else:
            self.list(url.path, q)

    def list(self, path, q):
        with LOCK:
            STATE["stats"]["list"] += 1
            if q.get("continue"):
                STATE["stats"]["continue"] += 1
                if take_fault("list-410"):
                    self.send_json(410, {"kind": "Status", "code": 410, "reason": "Expired"})
                    return
            items = sorted(STATE["objects"].get(path, {}).items())
            rv = str(STATE["rv"])
        start = int(q.get("continue") or 0)
        limit = int(q.get("limit") or 0) or len(items)
        page = [o for _, o in items[start:start + limit]]
        meta = {"resourceVersion": rv}
        if start + limit < len(items):
            meta["continue"] = str(start + limit)
        self.send_json(200, {"kind": "List", "metadata": meta, "items": page})

    def chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def hold_silent(self, limit=120):
        """Send nothing until the client closes the connection (or limit s)."""
        self.close_connection = True
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.connection], [], [], 0.5)
            if ready and not self.connection.recv(4096):
                return

    def watch(self, path, q):
        since = int(q.get("resourceVersion") or 0)
        with LOCK:
            STATE["stats"]["watch"] += 1
            gen = STATE["generation"]
            gone = since < STATE["compacted"] or take_fault("watch-410")
            truncate = take_fault("truncate")
            oversize = take_fault("oversize")
            unknown = take_fault("unknown")
            stall = take_fault("stall:" + path)
            if stall:
                STATE["stats"]["stalled"] += 1
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            if gone:
                self.chunk(json.dumps({"type": "ERROR", "object": {
                    "kind": "Status", "code": 410, "reason": "Expired",
                    "message": "too old resource version"}}).encode() + b"\n")
                self.chunk(b"")
                return
            if truncate:
                self.chunk(b'{"type":"ADDED","object":{"metadata":{"na')
                self.close_connection = True
                return
            if oversize:
                self.chunk(b'{"type":"ADDED","object":{"metadata":{"name":"' +
                           b"x" * (17 << 20) + b'"}}}\n')
                self.chunk(b"")
                return
            if stall:
                self.hold_silent()
                return
            if unknown:
                self.chunk(b'{"type":"SURPRISE","object":{"metadata":{"name":"x"}}}\n')
            deadline = time.monotonic() + min(int(q.get("timeoutSeconds") or 300), 300)
            sent = since
            while time.monotonic() < deadline:
                with LOCK:
                    if STATE["generation"] != gen:
                        break
                    evs = [e for e in STATE["events"].get(path, []) if e[0] > sent]
                    if not evs:
                        LOCK.wait(timeout=0.5)
                        continue
                for rv, typ, obj in evs:
                    apiv, kind = KINDS.get(path, ("v1", "ConfigMap"))
                    obj = dict(obj, apiVersion=apiv, kind=kind)
                    self.chunk(json.dumps({"type": typ, "object": obj}).encode() + b"\n")
                    sent = rv
            self.chunk(b"")
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--port-file", required=True)
    args = ap.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    import os
    os.rename(args.port_file + ".tmp", args.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
