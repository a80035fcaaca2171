"""Backends that report how HAProxy connected to them, for the tests of the
keys send-proxy-protocol, server-ssl and server-proto (test_backend_proto.py).

ProtoServer listens on one port on one or more loopback addresses, in threads
of the test process. On each connection it reads, in this order:

  - a PROXY protocol header, v1 or v2 (proxy="optional": when there is one;
    "required": a connection without one is closed at once, as a server with
    `accept-proxy` does; "none": never read);
  - a TLS handshake (tls=(certfile, keyfile); ALPN offers h2 and http/1.1);
  - HTTP/2 (the client connection preface "PRI * HTTP/2.0...", prior
    knowledge or ALPN h2) or else HTTP/1.x.

Each request is answered 200 with a JSON body describing what arrived:
    {"service", "endpoint" (ADDR:PORT it was accepted on), "peer" (TCP peer),
     "proxy" (null, or {"version", "command", "family", "src", "sport", "dst",
     "dport", "tlvs" {type: hex}}), "tls", "alpn", "http_version" ("HTTP/2" or
     the request line's), "method", "path", "authority" (HTTP/2 :authority),
     "host" (Host header), "headers" [[name, value], ...], "body"}
and the header X-Echo-Service: SERVICE (so helpers.Response.service works).
Every connection is also recorded in .connections (a dict per connection: the
same fields, plus "error" when it was refused or failed), for what a client
cannot see: a TLS handshake that failed, a PROXY header that was missing.

The HTTP/2 side is a small hand-written server (RFC 9113 framing, RFC 7541
HPACK decoding without Huffman strings, which HAProxy's encoder never sends;
a Huffman string is reported as an error rather than guessed), enough for
HAProxy's requests: SETTINGS, PING, WINDOW_UPDATE, HEADERS/CONTINUATION,
DATA, RST_STREAM, GOAWAY.
"""

import json
import socket
import ssl
import struct
import threading

from helpers import pod_addr, read_chunked, read_headers, wait_for

PROXY_V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"
H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
IO_TIMEOUT = 10.0

# --------------------------------------------------------------------------- PROXY protocol


class ProxyError(Exception):
    pass


def _recv_exact(sock, n):
    out = b""
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            raise ProxyError(f"connection closed after {len(out)} of {n} bytes")
        out += chunk
    return out


def _peek(sock, n):
    """Up to n bytes without consuming them: waits (a little) for n bytes while
    what has arrived can still be the start of a PROXY header."""
    data = b""
    for _ in range(100):
        data = sock.recv(n, socket.MSG_PEEK)
        if not data or len(data) >= n:
            break
        could_be = PROXY_V2_SIG.startswith(data[:12]) or b"PROXY ".startswith(data[:6])
        if not could_be or (data.startswith(b"PROXY ") and b"\r\n" in data):
            break
        threading.Event().wait(0.01)
    return data


def read_proxy_header(sock):
    """The PROXY header at the start of sock, consumed, as a dict; None when the
    connection does not start with one (nothing consumed then)."""
    head = _peek(sock, 16)
    if head[:12] == PROXY_V2_SIG:
        fixed = _recv_exact(sock, 16)
        ver_cmd, fam, length = fixed[12], fixed[13], struct.unpack("!H", fixed[14:16])[0]
        if ver_cmd >> 4 != 2:
            raise ProxyError(f"PROXY v2: version {ver_cmd >> 4}")
        rest = _recv_exact(sock, length)
        info = {"version": 2, "command": {0: "LOCAL", 1: "PROXY"}.get(ver_cmd & 0xF, ver_cmd & 0xF),
                "family": fam, "src": None, "sport": None, "dst": None, "dport": None, "tlvs": {}}
        if fam == 0x11:  # TCP over IPv4
            info["src"] = socket.inet_ntop(socket.AF_INET, rest[0:4])
            info["dst"] = socket.inet_ntop(socket.AF_INET, rest[4:8])
            info["sport"], info["dport"] = struct.unpack("!HH", rest[8:12])
            tlv = rest[12:]
        elif fam == 0x21:  # TCP over IPv6
            info["src"] = socket.inet_ntop(socket.AF_INET6, rest[0:16])
            info["dst"] = socket.inet_ntop(socket.AF_INET6, rest[16:32])
            info["sport"], info["dport"] = struct.unpack("!HH", rest[32:36])
            tlv = rest[36:]
        else:
            tlv = b""
        while len(tlv) >= 3:
            t, n = tlv[0], struct.unpack("!H", tlv[1:3])[0]
            info["tlvs"][str(t)] = tlv[3:3 + n].hex()
            tlv = tlv[3 + n:]
        return info
    if head.startswith(b"PROXY "):
        line = sock.recv(107, socket.MSG_PEEK)
        end = line.find(b"\r\n")
        if end < 0:
            raise ProxyError(f"PROXY v1 line without CRLF: {line!r}")
        line = _recv_exact(sock, end + 2)[:-2].decode("ascii")
        parts = line.split(" ")
        info = {"version": 1, "command": "PROXY", "family": parts[1], "src": None, "sport": None,
                "dst": None, "dport": None, "tlvs": {}}
        if parts[1] in ("TCP4", "TCP6"):
            if len(parts) != 6:
                raise ProxyError(f"PROXY v1: {line!r}")
            info.update(src=parts[2], dst=parts[3], sport=int(parts[4]), dport=int(parts[5]))
        return info
    return None


# --------------------------------------------------------------------------- HPACK (decoding)

STATIC_TABLE = [
    (":authority", ""), (":method", "GET"), (":method", "POST"), (":path", "/"),
    (":path", "/index.html"), (":scheme", "http"), (":scheme", "https"), (":status", "200"),
    (":status", "204"), (":status", "206"), (":status", "304"), (":status", "400"),
    (":status", "404"), (":status", "500"), ("accept-charset", ""),
    ("accept-encoding", "gzip, deflate"), ("accept-language", ""), ("accept-ranges", ""),
    ("accept", ""), ("access-control-allow-origin", ""), ("age", ""), ("allow", ""),
    ("authorization", ""), ("cache-control", ""), ("content-disposition", ""),
    ("content-encoding", ""), ("content-language", ""), ("content-length", ""),
    ("content-location", ""), ("content-range", ""), ("content-type", ""), ("cookie", ""),
    ("date", ""), ("etag", ""), ("expect", ""), ("expires", ""), ("from", ""), ("host", ""),
    ("if-match", ""), ("if-modified-since", ""), ("if-none-match", ""), ("if-range", ""),
    ("if-unmodified-since", ""), ("last-modified", ""), ("link", ""), ("location", ""),
    ("max-forwards", ""), ("proxy-authenticate", ""), ("proxy-authorization", ""),
    ("range", ""), ("referer", ""), ("refresh", ""), ("retry-after", ""), ("server", ""),
    ("set-cookie", ""), ("strict-transport-security", ""), ("transfer-encoding", ""),
    ("user-agent", ""), ("vary", ""), ("via", ""), ("www-authenticate", ""),
]
assert len(STATIC_TABLE) == 61


class HpackError(Exception):
    pass


class HpackDecoder:
    def __init__(self, max_size=4096):
        self.dynamic = []  # newest first
        self.max_size = max_size

    def _size(self):
        return sum(32 + len(n) + len(v) for n, v in self.dynamic)

    def _evict(self):
        while self.dynamic and self._size() > self.max_size:
            self.dynamic.pop()

    def _entry(self, index):
        if 1 <= index <= 61:
            return STATIC_TABLE[index - 1]
        if 62 <= index < 62 + len(self.dynamic):
            return self.dynamic[index - 62]
        raise HpackError(f"index {index} out of the tables")

    @staticmethod
    def _int(data, pos, prefix):
        mask = (1 << prefix) - 1
        value = data[pos] & mask
        pos += 1
        if value < mask:
            return value, pos
        shift = 0
        while True:
            b = data[pos]
            pos += 1
            value += (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return value, pos

    def _str(self, data, pos):
        huffman = data[pos] & 0x80
        n, pos = self._int(data, pos, 7)
        raw = data[pos:pos + n]
        if huffman:
            raise HpackError("a Huffman-encoded string (not supported by this test server)")
        return raw.decode("latin-1"), pos + n

    def decode(self, data):
        headers, pos = [], 0
        while pos < len(data):
            b = data[pos]
            if b & 0x80:  # indexed field
                index, pos = self._int(data, pos, 7)
                headers.append(self._entry(index))
                continue
            if b & 0xC0 == 0x40:  # literal, incremental indexing
                index, pos = self._int(data, pos, 6)
                add = True
            elif b & 0xE0 == 0x20:  # dynamic table size update
                self.max_size, pos = self._int(data, pos, 5)
                self._evict()
                continue
            else:  # literal without indexing (0000) or never indexed (0001)
                index, pos = self._int(data, pos, 4)
                add = False
            if index:
                name = self._entry(index)[0]
            else:
                name, pos = self._str(data, pos)
            value, pos = self._str(data, pos)
            headers.append((name, value))
            if add:
                self.dynamic.insert(0, (name, value))
                self._evict()
        return headers


def _hpack_literal(name, value):
    """A literal field without indexing, new name, no Huffman (lengths < 127)."""
    n, v = name.encode("latin-1"), value.encode("latin-1")
    assert len(n) < 127 and len(v) < 127
    return b"\x00" + bytes([len(n)]) + n + bytes([len(v)]) + v


# --------------------------------------------------------------------------- HTTP/2

DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = \
    range(10)
END_STREAM, ACK, END_HEADERS, PADDED, PRIO = 0x1, 0x1, 0x4, 0x8, 0x20


def _frame(ftype, flags, stream, payload=b""):
    return struct.pack("!I", len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack("!I", stream) + payload


def _read_frame(rfile):
    head = rfile.read(9)
    if len(head) < 9:
        return None
    length = int.from_bytes(head[:3], "big")
    payload = rfile.read(length)
    if len(payload) < length:
        return None
    return head[3], head[4], struct.unpack("!I", head[5:9])[0] & 0x7FFFFFFF, payload


# --------------------------------------------------------------------------- the server


class ProtoServer:
    def __init__(self, service, addrs=("127.0.0.1",), tls=None, proxy="optional", client_ca=None):
        assert proxy in ("optional", "required", "none")
        self.service = service
        self.proxy = proxy
        self.connections = []
        self._lock = threading.Lock()
        self._listeners = []
        self._stopped = False
        self.ctx = None
        if tls:
            self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.ctx.load_cert_chain(*tls)
            self.ctx.set_alpn_protocols(["h2", "http/1.1"])
            if client_ca:
                # a client certificate is asked for, verified against client_ca
                # and its CN reported (client_cn); none is fine too
                self.ctx.verify_mode = ssl.CERT_OPTIONAL
                self.ctx.load_verify_locations(client_ca)
        self.port = 0
        for a in addrs:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((pod_addr(a), self.port))
            s.listen(64)
            self.port = s.getsockname()[1]
            self._listeners.append(s)
        for s in self._listeners:
            threading.Thread(target=self._serve, args=(s,), daemon=True).start()

    # -- records
    def _record(self, conn):
        with self._lock:
            self.connections.append(conn)

    def clear(self):
        with self._lock:
            self.connections.clear()

    def seen(self):
        with self._lock:
            return list(self.connections)

    def errors(self):
        """The connections that failed, once there is one: the server may
        record the failure after HAProxy has already answered the client."""
        return wait_for(lambda: [c for c in self.seen() if c["error"]],
                        what=f"a failed connection to {self.service}")

    def stop(self):
        self._stopped = True
        for s in self._listeners:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    # -- serving
    def _serve(self, listener):
        while not self._stopped:
            try:
                sock, peer = listener.accept()
            except OSError:
                return
            local = sock.getsockname()
            threading.Thread(target=self._conn, daemon=True,
                             args=(sock, f"{local[0]}:{local[1]}", f"{peer[0]}:{peer[1]}")).start()

    def _conn(self, sock, endpoint, peer):
        conn = {"service": self.service, "endpoint": endpoint, "peer": peer, "proxy": None,
                "tls": False, "alpn": None, "http_version": None, "requests": 0, "error": None,
                "client_cn": None}
        self._record(conn)
        sock.settimeout(IO_TIMEOUT)
        try:
            if self.proxy != "none":
                conn["proxy"] = read_proxy_header(sock)
                if conn["proxy"] is None and self.proxy == "required":
                    first = sock.recv(64, socket.MSG_PEEK)
                    conn["first_bytes"] = first.decode("latin-1")
                    conn["error"] = "no PROXY header"
                    return
            if self.ctx:
                try:
                    sock = self.ctx.wrap_socket(sock, server_side=True)
                except (ssl.SSLError, OSError) as e:
                    conn["error"] = f"TLS handshake: {e}"
                    return
                conn["tls"] = True
                conn["alpn"] = sock.selected_alpn_protocol()
                peer_cert = sock.getpeercert()
                for rdn in (peer_cert or {}).get("subject", ()):
                    for k, v in rdn:
                        if k == "commonName":
                            conn["client_cn"] = v
            rfile = sock.makefile("rb")
            first = rfile.readline(65537)
            if not first:
                conn["error"] = "closed before a request"
                return
            if first == H2_PREFACE[:16]:
                if rfile.read(8) != H2_PREFACE[16:]:
                    conn["error"] = "bad HTTP/2 preface"
                    return
                conn["http_version"] = "HTTP/2"
                self._h2(sock, rfile, conn)
            else:
                self._h1(sock, rfile, first, conn)
        except (OSError, ProxyError, HpackError, ValueError) as e:
            conn["error"] = conn["error"] or f"{type(e).__name__}: {e}"
        finally:
            try:
                sock.close()
            except OSError:
                pass

    def _describe(self, conn, http_version, method, path, authority, headers, body):
        host = next((v for n, v in headers if n.lower() == "host"), None)
        return {"service": self.service, "endpoint": conn["endpoint"], "peer": conn["peer"],
                "proxy": conn["proxy"], "tls": conn["tls"], "alpn": conn["alpn"],
                "client_cn": conn["client_cn"],
                "http_version": http_version, "method": method, "path": path,
                "authority": authority, "host": host, "headers": [list(h) for h in headers],
                "body": body.decode("utf-8", "replace")}

    # HTTP/1.x, keep-alive
    def _h1(self, sock, rfile, line, conn):
        while line:
            if line in (b"\r\n", b"\n"):
                line = rfile.readline(65537)
                continue
            method, target, version = line.decode("latin-1").rstrip("\r\n").split(" ")
            conn["http_version"] = version
            headers = read_headers(rfile)
            lower = {n.lower(): v for n, v in headers}
            if "chunked" in lower.get("transfer-encoding", "").lower():
                body = read_chunked(rfile)
            else:
                body = rfile.read(int(lower.get("content-length", "0")))
            conn["requests"] += 1
            data = json.dumps(self._describe(conn, version, method, target, None, headers,
                                             body)).encode()
            close = "close" in lower.get("connection", "").lower()
            head = ["HTTP/1.1 200 OK", "Content-Type: application/json",
                    f"Content-Length: {len(data)}", f"X-Echo-Service: {self.service}"]
            if close:
                head.append("Connection: close")
            sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + data)
            if close:
                return
            line = rfile.readline(65537)

    # HTTP/2
    def _h2(self, sock, rfile, conn):
        send_lock = threading.Lock()

        def send(*frames):
            with send_lock:
                sock.sendall(b"".join(frames))

        decoder = HpackDecoder()
        send(_frame(SETTINGS, 0, 0))
        streams = {}  # id -> {"headers": [...], "block": bytes, "body": bytes}
        pending = None  # stream whose header block awaits CONTINUATION
        while True:
            frame = _read_frame(rfile)
            if frame is None:
                return
            ftype, flags, sid, payload = frame
            if ftype == SETTINGS:
                if not flags & ACK:
                    send(_frame(SETTINGS, ACK, 0))
            elif ftype == PING:
                if not flags & ACK:
                    send(_frame(PING, ACK, 0, payload))
            elif ftype == GOAWAY:
                return
            elif ftype in (HEADERS, CONTINUATION):
                if ftype == HEADERS:
                    pad = 0
                    if flags & PADDED:
                        pad, payload = payload[0], payload[1:]
                    if flags & PRIO:
                        payload = payload[5:]
                    payload = payload[:len(payload) - pad]
                    st = streams.setdefault(sid, {"headers": None, "block": b"", "body": b"",
                                                  "ended": False})
                    st["ended"] = bool(flags & END_STREAM)
                    st["block"] = payload
                else:
                    if sid != pending:
                        raise ValueError("CONTINUATION out of sequence")
                    st = streams[sid]
                    st["block"] += payload
                if flags & END_HEADERS:
                    pending = None
                    st["headers"] = decoder.decode(st["block"])
                    if st["ended"]:
                        self._h2_answer(send, conn, sid, streams.pop(sid))
                else:
                    pending = sid
            elif ftype == DATA:
                st = streams.get(sid)
                if st is None:
                    continue
                if flags & PADDED:
                    pad = payload[0]
                    payload = payload[1:len(payload) - pad]
                st["body"] += payload
                if payload:  # give the window back, connection and stream
                    inc = struct.pack("!I", len(payload))
                    send(_frame(WINDOW_UPDATE, 0, 0, inc), _frame(WINDOW_UPDATE, 0, sid, inc))
                if flags & END_STREAM:
                    self._h2_answer(send, conn, sid, streams.pop(sid))
            elif ftype == RST_STREAM:
                streams.pop(sid, None)
            # PRIORITY, WINDOW_UPDATE and unknown frames: nothing to do

    def _h2_answer(self, send, conn, sid, st):
        pseudo = {n: v for n, v in st["headers"] if n.startswith(":")}
        regular = [(n, v) for n, v in st["headers"] if not n.startswith(":")]
        conn["requests"] += 1
        conn.setdefault("pseudo", []).append(pseudo)
        data = json.dumps(self._describe(conn, "HTTP/2", pseudo.get(":method"),
                                         pseudo.get(":path"), pseudo.get(":authority"),
                                         regular, st["body"])).encode()
        block = (b"\x88" + _hpack_literal("content-type", "application/json")
                 + _hpack_literal("content-length", str(len(data)))
                 + _hpack_literal("x-echo-service", self.service))
        frames = [_frame(HEADERS, END_HEADERS, sid, block)]
        for i in range(0, len(data), 16384):
            chunk = data[i:i + 16384]
            frames.append(_frame(DATA, END_STREAM if i + 16384 >= len(data) else 0, sid, chunk))
        send(*frames)
