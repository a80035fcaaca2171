#!/usr/bin/env python3
"""Small HTTP/1.1 echo backend for Portico's end-to-end tests and demo.

Python 3.11 standard library only. One process serves any number of
listeners, each belonging to a named "service":

    echo.py --service web --listen 127.0.0.2:9001 --listen 127.0.0.3:9001
    echo.py --backend web=127.0.0.2:9001 --backend api=127.0.0.4:9002

Port 0 asks the kernel for a free port; all port-0 listeners of the same
service then share the port of that service's first port-0 listener (an
EndpointSlice has one port for all its endpoints). Each bound listener is
printed as ``listening NAME ADDR:PORT``, then ``ready`` once all are bound.

Every response is 200 with a JSON body describing the request:
    {"service", "endpoint", "method", "path" (raw request target),
     "host" (Host header, null if absent), "headers" {name: value},
     "header_list" [[name, value], ...], "http_version", "body"}
plus the response header ``X-Echo-Service: NAME``. No ``Server`` header is
sent unless the request target contains ``/with-server-header`` (then
``Server: echo``). Request header ``X-Echo-Delay-Ms: N`` delays the answer
by N milliseconds (at most 30 s), for in-flight request tests.

A WebSocket handshake (RFC 6455: ``Upgrade: websocket``, version 13) is
answered 101 with the same X-Echo-* headers; every data frame is then sent
back unchanged (unmasked), a ping is answered with a pong and a close with a
close.

Only loopback addresses (127.0.0.0/8, ::1) and 198.18.0.0/15 (the addresses
the cluster tests give their "pods" inside a private network namespace) are
accepted.
"""

import argparse
import base64
import email.utils
import hashlib
import ipaddress
import json
import socket
import sys
import threading
import time

MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 4 * 1024 * 1024
IDLE_TIMEOUT = 30.0
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC11B85"  # RFC 6455 section 1.3


def parse_addr(text):
    """'127.0.0.2:9001' or '[::1]:9001' -> (host, port). Loopback only."""
    if text.startswith("["):
        host, _, port = text[1:].partition("]:")
    else:
        host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"bad address {text!r}, want ADDR:PORT")
    ip = ipaddress.ip_address(host)
    # 198.18.0.0/15 (RFC 2544) is what the cluster tests give their "pods" inside a
    # private network namespace, since the API server refuses loopback endpoints
    if not (ip.is_loopback or ip in ipaddress.ip_network("198.18.0.0/15")):
        raise ValueError(f"{text!r}: only loopback and 198.18.0.0/15 addresses are allowed")
    return host, int(port)


class BadRequest(Exception):
    pass


def read_line(rfile, limit):
    line = rfile.readline(limit + 1)
    if len(line) > limit:
        raise BadRequest("line too long")
    return line


def read_request(rfile):
    """Return (method, target, version, header_list, body) or None on EOF."""
    line = read_line(rfile, MAX_HEADER_BYTES)
    while line in (b"\r\n", b"\n"):  # tolerate stray CRLF between requests
        line = read_line(rfile, MAX_HEADER_BYTES)
    if not line:
        return None
    parts = line.decode("latin-1").rstrip("\r\n").split(" ")
    if len(parts) != 3:
        raise BadRequest("bad request line")
    method, target, version = parts
    headers = []
    total = 0
    while True:
        h = read_line(rfile, MAX_HEADER_BYTES)
        total += len(h)
        if total > MAX_HEADER_BYTES:
            raise BadRequest("headers too long")
        if h in (b"\r\n", b"\n", b""):
            break
        name, sep, value = h.decode("latin-1").partition(":")
        if not sep:
            raise BadRequest("bad header line")
        headers.append((name.strip(), value.strip()))
    lower = {}
    for n, v in headers:
        lower.setdefault(n.lower(), []).append(v)
    body = b""
    te = ",".join(lower.get("transfer-encoding", [])).lower()
    if "chunked" in te:
        chunks = []
        size_total = 0
        while True:
            size_line = read_line(rfile, 1024)
            if not size_line:
                raise BadRequest("eof in chunked body")
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while read_line(rfile, MAX_HEADER_BYTES) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                break
            size_total += size
            if size_total > MAX_BODY_BYTES:
                raise BadRequest("body too large")
            chunks.append(rfile.read(size))
            rfile.readline(3)
        body = b"".join(chunks)
    elif "content-length" in lower:
        n = int(lower["content-length"][0])
        if n < 0 or n > MAX_BODY_BYTES:
            raise BadRequest("bad content-length")
        body = rfile.read(n)
    return method, target, version, headers, body


def build_response(service, endpoint, req):
    method, target, version, headers, body = req
    hdict = {}
    host = None
    for n, v in headers:
        hdict[n] = f"{hdict[n]}, {v}" if n in hdict else v
        if n.lower() == "host" and host is None:
            host = v
    payload = {
        "service": service,
        "endpoint": endpoint,
        "method": method,
        "path": target,
        "host": host,
        "headers": hdict,
        "header_list": [[n, v] for n, v in headers],
        "http_version": version,
        "body": body.decode("utf-8", "replace"),
    }
    data = json.dumps(payload).encode()
    out = [
        "HTTP/1.1 200 OK",
        "Content-Type: application/json",
        f"Content-Length: {len(data)}",
        f"Date: {email.utils.formatdate(usegmt=True)}",
        f"X-Echo-Service: {service}",
        f"X-Echo-Endpoint: {endpoint}",
    ]
    if "/with-server-header" in target:
        out.append("Server: echo")
    return out, data


def wants_close(version, headers):
    conn = ",".join(v for n, v in headers if n.lower() == "connection").lower()
    if version == "HTTP/1.0":
        return "keep-alive" not in conn
    return "close" in conn


def header_value(headers, name):
    return ",".join(v for n, v in headers if n.lower() == name).lower()


def is_websocket(version, headers):
    return (version == "HTTP/1.1" and "websocket" in header_value(headers, "upgrade")
            and "upgrade" in header_value(headers, "connection")
            and header_value(headers, "sec-websocket-version") == "13"
            and any(n.lower() == "sec-websocket-key" for n, _ in headers))


def read_exact(rfile, n):
    data = rfile.read(n)
    if len(data) != n:
        raise EOFError("connection closed inside a frame")
    return data


def ws_frame(opcode, payload, fin=True):
    """A server frame: never masked (RFC 6455 section 5.1)."""
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([n])
    elif n < 65536:
        head += bytes([126]) + n.to_bytes(2, "big")
    else:
        head += bytes([127]) + n.to_bytes(8, "big")
    return head + payload


def ws_echo(sock, rfile, headers, service, endpoint):
    """Completes the handshake, then echoes frames until a close or EOF."""
    key = next(v for n, v in headers if n.lower() == "sec-websocket-key")
    accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
    sock.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n"
                  f"X-Echo-Service: {service}\r\nX-Echo-Endpoint: {endpoint}\r\n\r\n").encode())
    while True:
        b0, b1 = read_exact(rfile, 2)
        fin, opcode, n = b0 & 0x80, b0 & 0x0F, b1 & 0x7F
        if not b1 & 0x80:  # a client frame must be masked: close with 1002
            sock.sendall(ws_frame(0x8, (1002).to_bytes(2, "big")))
            return
        if n == 126:
            n = int.from_bytes(read_exact(rfile, 2), "big")
        elif n == 127:
            n = int.from_bytes(read_exact(rfile, 8), "big")
        if n > MAX_BODY_BYTES:
            sock.sendall(ws_frame(0x8, (1009).to_bytes(2, "big")))
            return
        mask = read_exact(rfile, 4)
        payload = bytes(c ^ mask[i % 4] for i, c in enumerate(read_exact(rfile, n)))
        if opcode == 0x8:
            sock.sendall(ws_frame(0x8, payload[:2]))
            return
        if opcode == 0x9:
            sock.sendall(ws_frame(0xA, payload))
        elif opcode in (0x0, 0x1, 0x2):
            sock.sendall(ws_frame(opcode, payload, fin=bool(fin)))


def handle_conn(sock, service, endpoint):
    sock.settimeout(IDLE_TIMEOUT)
    try:
        rfile = sock.makefile("rb")
        while True:
            try:
                req = read_request(rfile)
            except (BadRequest, ValueError):
                msg = b"bad request\n"
                sock.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n"
                             b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(msg), msg))
                return
            if req is None:
                return
            method, target, version, headers, _ = req
            if is_websocket(version, headers):
                sock.settimeout(None)  # a WebSocket may stay idle as long as the test likes
                ws_echo(sock, rfile, headers, service, endpoint)
                return
            delay = next((v for n, v in headers if n.lower() == "x-echo-delay-ms"), None)
            if delay and delay.isdigit():
                time.sleep(min(int(delay), 30000) / 1000.0)
            lines, data = build_response(service, endpoint, req)
            close = wants_close(version, headers)
            if close:
                lines.append("Connection: close")
            elif version == "HTTP/1.0":
                lines.append("Connection: keep-alive")
            head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
            sock.sendall(head + (b"" if method == "HEAD" else data))
            if close:
                return
    except (OSError, socket.timeout, EOFError):
        return
    finally:
        try:
            sock.close()
        except OSError:
            pass


def serve(listener, service, endpoint):
    while True:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        threading.Thread(target=handle_conn, args=(conn, service, endpoint), daemon=True).start()


def bind(host, port):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, port))
    s.listen(256)
    return s


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--service", help="service name for the following --listen options")
    ap.add_argument("--listen", action="append", default=[], metavar="ADDR:PORT",
                    help="listen address for --service (repeatable)")
    ap.add_argument("--backend", action="append", default=[], metavar="NAME=ADDR:PORT",
                    help="listener for service NAME (repeatable)")
    args = ap.parse_args(argv)

    wanted = []  # (service, host, port)
    try:
        if args.listen:
            if not args.service:
                ap.error("--listen needs --service")
            wanted += [(args.service, *parse_addr(a)) for a in args.listen]
        for b in args.backend:
            name, sep, addr = b.partition("=")
            if not sep or not name:
                ap.error(f"bad --backend {b!r}, want NAME=ADDR:PORT")
            wanted.append((name, *parse_addr(addr)))
    except ValueError as e:
        ap.error(str(e))
    if not wanted:
        ap.error("nothing to listen on (use --service/--listen or --backend)")

    shared_port = {}  # service -> port chosen for its port-0 listeners
    listeners = []
    for service, host, port in wanted:
        if port == 0 and service in shared_port:
            port = shared_port[service]
        try:
            s = bind(host, port)
        except OSError as e:
            print(f"echo: cannot listen on {host}:{port} for {service}: {e}", file=sys.stderr, flush=True)
            return 1
        real_port = s.getsockname()[1]
        if port == 0:
            shared_port[service] = real_port
        endpoint = f"[{host}]:{real_port}" if ":" in host else f"{host}:{real_port}"
        listeners.append((s, service, endpoint))
        print(f"listening {service} {endpoint}", flush=True)

    for s, service, endpoint in listeners:
        threading.Thread(target=serve, args=(s, service, endpoint), daemon=True).start()
    print("ready", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
