"""Helpers for Portico's end-to-end tests: raw HTTP(S) client, manifest
builders, certificates, and wrappers around the portico and echo processes.

Everything here talks only to 127.0.0.0/8, except the echo backends when the
tests run against an API server (see pod_addr).
"""

import base64
import hashlib
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from ports import free_port

REPO = Path(__file__).resolve().parents[2]
ECHO = REPO / "tests" / "echo" / "echo.py"
LOOPBACK = "127.0.0.1"

POLL_TIMEOUT = 5.0
POLL_INTERVAL = 0.02
READY_TIMEOUT = 10.0
RELOAD_RE = re.compile(r'msg="?haproxy reloaded')

# "files" (a manifests directory) or "cluster" (a real API server per stack,
# see cluster_source.py); the tests are the same.
SOURCE = os.environ.get("PORTICO_E2E_SOURCE", "files")
if SOURCE not in ("files", "cluster"):
    raise SystemExit(f"PORTICO_E2E_SOURCE={SOURCE!r}: want files or cluster")
_POD_NET = "198.18.0."


def pod_addr(addr):
    """Where a test's endpoint address 127.0.0.N really listens. The API server
    refuses loopback endpoints, so against it (inside the network namespace
    tests/cluster_e2e/run.sh makes) the pods are 198.18.0.N."""
    if SOURCE == "cluster" and addr.startswith("127.0.0."):
        return _POD_NET + addr[len("127.0.0."):]
    return addr


def addr_from_pod(addr):
    """pod_addr() undone, for addresses the echo backends report."""
    if SOURCE == "cluster" and addr.startswith(_POD_NET):
        return "127.0.0." + addr[len(_POD_NET):]
    return addr


# --------------------------------------------------------------------------- waiting

def wait_for(check, timeout=POLL_TIMEOUT, interval=POLL_INTERVAL, what=None):
    """Call check() until it returns a truthy value (exceptions count as falsy).

    Returns that value; raises AssertionError with the last result/exception
    when the timeout passes.
    """
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = check()
            if last:
                return last
        except Exception as e:  # noqa: BLE001 - any failure means "not yet"
            last = e
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or check}: last={last!r}")
        time.sleep(interval)


# --------------------------------------------------------------------------- HTTP client

@dataclass
class Response:
    status: int
    reason: str
    headers: list  # [(name, value)]
    body: bytes
    peer_cert: bytes = None

    def header(self, name, default=None):
        for n, v in self.headers:
            if n.lower() == name.lower():
                return v
        return default

    def header_all(self, name):
        return [v for n, v in self.headers if n.lower() == name.lower()]

    @property
    def json(self):
        return json.loads(self.body)

    @property
    def service(self):
        """Echo service that answered, or None when the answer is not from echo."""
        if self.status != 200 or self.header("X-Echo-Service") is None:
            return None
        return self.json["service"]

    @property
    def endpoint(self):
        if not self.service:
            return None
        host, _, port = self.json["endpoint"].rpartition(":")
        return f"{addr_from_pod(host)}:{port}"

    def __repr__(self):
        return (f"Response({self.status} {self.reason}, svc={self.header('X-Echo-Service')}, "
                f"location={self.header('Location')}, body={self.body[:120]!r})")


def read_headers(f):
    """The header fields of an HTTP/1 message from file <f>, up to the empty
    line: [(name, value)] in order."""
    headers = []
    while True:
        h = f.readline(65537)
        if h in (b"\r\n", b"\n", b""):
            return headers
        n, _, v = h.decode("latin-1").partition(":")
        headers.append((n.strip(), v.strip()))


def read_chunked(f):
    """A chunked body from file <f>, its trailers skipped."""
    chunks = []
    while True:
        size = int(f.readline().split(b";")[0].strip() or b"0", 16)
        if size == 0:
            while f.readline() not in (b"\r\n", b"\n", b""):
                pass
            return b"".join(chunks)
        chunks.append(f.read(size))
        f.readline()


def _read_response(f, method):
    line = f.readline(65537)
    if not line:
        raise ConnectionError("connection closed before a response")
    parts = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
    status = int(parts[1])
    reason = parts[2] if len(parts) > 2 else ""
    headers = read_headers(f)
    lower = {n.lower(): v for n, v in headers}
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        body = b""
    elif "chunked" in lower.get("transfer-encoding", "").lower():
        body = read_chunked(f)
    elif "content-length" in lower:
        body = f.read(int(lower["content-length"]))
    else:
        body = f.read()
    return Response(status, reason, headers, body)


def raw_request(port, data, tls=False, sni=None, timeout=5.0, addr=LOOPBACK, method="GET"):
    """Send raw bytes, read one response (the request should say Connection: close)."""
    sock = socket.create_connection((addr, port), timeout=timeout)
    cert = None
    try:
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            sock = ctx.wrap_socket(sock, server_hostname=sni)
            cert = sock.getpeercert(binary_form=True)
        sock.sendall(data)
        with sock.makefile("rb") as f:
            resp = _read_response(f, method)
        resp.peer_cert = cert
        return resp
    finally:
        sock.close()


_DEFAULT = object()


def request(port, path="/", host=_DEFAULT, method="GET", headers=(), body=b"", tls=False,
            sni=_DEFAULT, version="HTTP/1.1", timeout=5.0):
    """One request over a fresh connection.

    host: Host header value; None sends no Host header; a list sends several.
    sni: server name for TLS; defaults to the host without port; None sends no SNI.
    """
    lines = [f"{method} {path} {version}"]
    hosts = [] if host is None else (list(host) if isinstance(host, (list, tuple)) else [host])
    if host is _DEFAULT:
        hosts = ["localhost"]
    lines += [f"Host: {h}" for h in hosts]
    lines += [f"{n}: {v}" for n, v in headers]
    if isinstance(body, str):
        body = body.encode()
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    lines.append("Connection: close")
    data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
    if sni is _DEFAULT:
        sni = hosts[0].rsplit(":", 1)[0].rstrip(".") if hosts and not hosts[0].startswith("[") else None
        if sni and re.fullmatch(r"[0-9.]+", sni):
            sni = None  # no SNI for IP literals, as real clients do
    return raw_request(port, data, tls=tls, sni=sni, timeout=timeout, method=method)


WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC11B85"  # RFC 6455 section 1.3


class WebSocket:
    """A minimal RFC 6455 client: handshake, masked text frames out, frames in
    (unfragmented, as tests/echo/echo.py sends them)."""

    def __init__(self, port, host, path="/", timeout=10.0, addr=LOOPBACK):
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock = socket.create_connection((addr, port), timeout=timeout)
        self.sock.sendall((f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                           "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        self.rfile = self.sock.makefile("rb")
        line = self.rfile.readline(65537)
        status = int(line.split(b" ", 2)[1]) if line.count(b" ") >= 1 else 0
        self.headers = read_headers(self.rfile)
        self.response = Response(status, "", self.headers, b"")
        want = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        if status != 101 or self.response.header("Sec-WebSocket-Accept") != want:
            self.sock.close()
            raise ConnectionError(f"WebSocket handshake refused: {line!r} {self.headers}")

    def send(self, opcode, payload):
        mask = os.urandom(4)
        n = len(payload)
        head = bytes([0x80 | opcode])
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + n.to_bytes(2, "big")
        else:
            head += bytes([0x80 | 127]) + n.to_bytes(8, "big")
        self.sock.sendall(head + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(payload)))

    def send_text(self, text):
        self.send(0x1, text.encode())

    def _read(self, n):
        data = self.rfile.read(n)
        if len(data) != n:
            raise ConnectionError("WebSocket closed inside a frame")
        return data

    def recv(self):
        """One frame: (opcode, payload). A server frame is never masked."""
        b0, b1 = self._read(2)
        if not b0 & 0x80 or b1 & 0x80:
            raise ConnectionError(f"unexpected frame header {b0:#x} {b1:#x}")
        n = b1 & 0x7F
        if n == 126:
            n = int.from_bytes(self._read(2), "big")
        elif n == 127:
            n = int.from_bytes(self._read(8), "big")
        return b0 & 0x0F, self._read(n)

    def recv_text(self):
        opcode, payload = self.recv()
        if opcode != 0x1:
            raise ConnectionError(f"opcode {opcode:#x} where a text frame was expected: {payload!r}")
        return payload.decode()

    def close(self):
        """Close handshake (1000), then the socket."""
        try:
            self.send(0x8, (1000).to_bytes(2, "big"))
            opcode, _ = self.recv()
            if opcode != 0x8:
                raise ConnectionError(f"opcode {opcode:#x} where a close was expected")
        finally:
            self.rfile.close()
            self.sock.close()


def tls_peer_cert(port, sni, timeout=5.0):
    """DER certificate the server presents for this SNI (None = no SNI)."""
    sock = socket.create_connection((LOOPBACK, port), timeout=timeout)
    try:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with ctx.wrap_socket(sock, server_hostname=sni) as s:
            return s.getpeercert(binary_form=True)
    finally:
        sock.close()


def tls_get(port, host, target="/", headers="", cert=None, tls12=False, timeout=5.0):
    """One GET over TLS with SNI <host>, the server's certificate not
    verified; <cert>: a client certificate (a path without its .crt/.key);
    <tls12>: at most TLS 1.2, where a refused client certificate fails the
    handshake itself. Returns (status, the JSON body of a 200 or None, the
    server certificate's CN); raises ssl.SSLError or ConnectionError when
    the handshake is refused."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if tls12:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    if cert:
        ctx.load_cert_chain(f"{cert}.crt", f"{cert}.key")
    with socket.create_connection((LOOPBACK, port), timeout=timeout) as sock:
        with ctx.wrap_socket(sock, server_hostname=host) as s:
            cn, _ = cert_names(s.getpeercert(binary_form=True))
            s.sendall(f"GET {target} HTTP/1.1\r\nHost: {host}\r\n{headers}"
                      "Connection: close\r\n\r\n".encode())
            data = b""
            while chunk := s.recv(65536):
                data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body) if status == 200 else None, cn


def cert_names(der):
    """(subject CN, [DNS SANs]) of a DER certificate."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID
    c = x509.load_der_x509_certificate(der)
    cns = c.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    cn = cns[0].value if cns else None
    try:
        sans = c.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        sans = []
    return cn, list(sans)


def cert_cn(der):
    return cert_names(der)[0]


def cert_fingerprint(der):
    return hashlib.sha256(der).hexdigest()


# --------------------------------------------------------------------------- certificates

@dataclass
class Cert:
    name: str
    crt: str  # PEM text
    key: str  # PEM text


def make_cert(directory, name, cn, sans, days=30):
    """Self-signed cert made with the openssl CLI; returns Cert with PEM text."""
    directory = Path(directory)
    crt = directory / f"{name}.crt"
    key = directory / f"{name}.key"
    san = ",".join(f"DNS:{s}" for s in sans)
    cmd = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256",
           "-days", str(days), "-subj", f"/CN={cn}", "-keyout", str(key), "-out", str(crt)]
    if san:
        cmd += ["-addext", f"subjectAltName={san}"]
    subprocess.run(cmd, check=True, capture_output=True, timeout=60)
    return Cert(name, crt.read_text(), key.read_text())


# --------------------------------------------------------------------------- manifests

OLD = "2020-01-01T00:00:00Z"
Exact = "Exact"
Prefix = "Prefix"
Impl = "ImplementationSpecific"


def meta(name, ns="default", labels=None, annotations=None, created=None):
    m = {"name": name}
    if ns is not None:
        m["namespace"] = ns
    if labels:
        m["labels"] = dict(labels)
    if annotations:
        m["annotations"] = dict(annotations)
    m["creationTimestamp"] = created or OLD
    return m


def ingress_class(name, controller="portico.dev/ingress-controller", default=False):
    ann = {"ingressclass.kubernetes.io/is-default-class": "true"} if default else None
    return {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
            "metadata": meta(name, ns=None, annotations=ann),
            "spec": {"controller": controller}}


def backend(svc, port=None):
    """Ingress backend: port an int (number) or str (name)."""
    if port is None:
        port = 80
    p = {"number": port} if isinstance(port, int) else {"name": port}
    return {"service": {"name": svc, "port": p}}


def path(p, svc, ptype="Prefix", port=None):
    e = {"pathType": ptype, "backend": backend(svc, port)}
    if p is not None:
        e["path"] = p
    return e


def rule(host, *paths):
    r = {"http": {"paths": list(paths)}}
    if host is not None:
        r["host"] = host
    return r


def ingress(name, rules=(), ns="default", cls="portico", annotation_class=None, annotations=None,
            tls=None, default_backend=None, created=None):
    ann = dict(annotations or {})
    if annotation_class is not None:
        ann["kubernetes.io/ingress.class"] = annotation_class
    spec = {}
    if cls is not None:
        spec["ingressClassName"] = cls
    if default_backend is not None:
        spec["defaultBackend"] = default_backend
    if tls is not None:
        spec["tls"] = tls
    if rules:
        spec["rules"] = list(rules)
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": meta(name, ns, annotations=ann or None, created=created), "spec": spec}


def simple_ingress(name, host, svc, p="/", ptype="Prefix", port=None, **kw):
    return ingress(name, [rule(host, path(p, svc, ptype, port))], **kw)


def service(name, ports=None, ns="default"):
    """ports: list of dicts {name, port, targetPort}; default one port 'http' 80."""
    if ports is None:
        ports = [{"name": "http", "port": 80, "targetPort": "http"}]
    ps = []
    for p in ports:
        q = {"protocol": "TCP", **p}
        ps.append(q)
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta(name, ns),
            "spec": {"type": "ClusterIP", "ports": ps, "selector": {"app": name}}}


def endpoint(addr, ready=True, serving=None, terminating=False):
    if serving is None:
        serving = ready
    return {"addresses": [addr], "conditions": {"ready": ready, "serving": serving, "terminating": terminating}}


def endpoint_slice(svc, endpoints, ports, ns="default", name=None):
    """ports: list of (name, port) tuples; name may be '' / None for unnamed."""
    ps = []
    for n, p in ports:
        e = {"port": p, "protocol": "TCP"}
        if n is not None:
            e["name"] = n
        ps.append(e)
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": meta(name or f"{svc}-slice", ns, labels={"kubernetes.io/service-name": svc}),
            "addressType": "IPv4", "ports": ps, "endpoints": list(endpoints)}


def service_with_endpoints(name, addrs, port, ns="default", svc_port=80, port_name="http"):
    """A Service with one named port and a slice whose endpoints are all ready."""
    return [service(name, [{"name": port_name, "port": svc_port, "targetPort": port_name}], ns=ns),
            endpoint_slice(name, [endpoint(a) for a in addrs], [(port_name, port)], ns=ns)]


def tls_secret(name, cert, ns="default", use_string_data=False):
    if use_string_data:
        data_key, data = "stringData", {"tls.crt": cert.crt, "tls.key": cert.key}
    else:
        data_key = "data"
        data = {"tls.crt": base64.b64encode(cert.crt.encode()).decode(),
                "tls.key": base64.b64encode(cert.key.encode()).decode()}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": meta(name, ns),
            "type": "kubernetes.io/tls", data_key: data}


def config_map(name, data, ns="default"):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta(name, ns), "data": dict(data)}


def to_yaml(objs):
    if isinstance(objs, dict):
        objs = [objs]
    return yaml.safe_dump_all(list(objs), sort_keys=False)


class Manifests:
    """A manifests directory; files are replaced atomically (rename)."""

    def __init__(self, directory):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._stage = Path(tempfile.mkdtemp(prefix="stage-", dir=self.dir.parent))

    def write(self, name, objs_or_text):
        text = objs_or_text if isinstance(objs_or_text, str) else to_yaml(objs_or_text)
        dest = self.dir / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._stage / (dest.name + ".tmp")
        tmp.write_text(text)
        os.replace(tmp, dest)
        return dest

    def delete(self, name):
        (self.dir / name).unlink()

    def read(self, name):
        return (self.dir / name).read_text()

    def exists(self, name):
        return (self.dir / name).exists()


# --------------------------------------------------------------------------- processes

class Echo:
    """An echo.py process. services: {name: [addr, ...]} all port 0 (shared per service)."""

    def __init__(self, services, log_dir):
        self.services = services
        args = [sys.executable, str(ECHO)]
        for name, addrs in services.items():
            for a in addrs:
                args += ["--backend", f"{name}={pod_addr(a)}:0"]
        self.log = open(Path(log_dir) / "echo.stderr", "ab")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.log, text=True)
        self.ports = {}
        deadline = time.monotonic() + 10
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"echo.py exited early (rc={self.proc.poll()}), see {self.log.name}")
            line = line.strip()
            if line == "ready":
                break
            if line.startswith("listening "):
                _, name, ep = line.split(" ")
                self.ports[name] = int(ep.rsplit(":", 1)[1])
            if time.monotonic() > deadline:
                raise RuntimeError("echo.py did not become ready")

    def port(self, name):
        return self.ports[name]

    def objects(self, name, ns="default", **kw):
        """Service + EndpointSlice (all endpoints ready) for an echo service."""
        return service_with_endpoints(name, self.services[name], self.ports[name], ns=ns, **kw)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc.stdout.close()
        self.log.close()


def pid_alive(pid):
    """True when some thread of pid still runs. A killed multi-threaded process
    (an HAProxy worker) can have a zombie main thread while its other threads
    still exit and hold its files, listening sockets among them."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return False
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if state not in ("Z", "X"):
            return True
    return False


def http_get_status(port, path):
    try:
        return request(port, path, host="127.0.0.1", timeout=2).status
    except OSError:
        return None


class Portico:
    """A running portico with its own ports and directories: in file mode on
    manifests_dir, or in cluster mode (manifests_dir None, --kubeconfig in extra_args)."""

    def __init__(self, binary, manifests_dir, workdir, extra_args=(), env=None):
        self.binary = str(binary)
        self.manifests_dir = Path(manifests_dir) if manifests_dir else None
        self.workdir = Path(workdir)
        self.config_dir = self.workdir / "config"
        self.runtime_dir = self.workdir / "run"
        self.config_dir.mkdir(parents=True, exist_ok=True)
        self.runtime_dir.mkdir(parents=True, exist_ok=True)
        self.http = free_port()
        self.https = free_port()
        self.stats = free_port()
        self.healthz = free_port()
        self.controller = free_port()
        self.log_path = self.workdir / "portico.log"
        self.args = [
            self.binary,
            *([f"--manifests={self.manifests_dir}"] if self.manifests_dir else []),
            f"--http-bind-port={self.http}",
            f"--https-bind-port={self.https}",
            f"--stats-bind-port={self.stats}",
            f"--healthz-bind-port={self.healthz}",
            f"--controller-port={self.controller}",
            "--ipv4-bind-address=127.0.0.1",
            "--disable-ipv6",
            f"--config-dir={self.config_dir}",
            f"--runtime-dir={self.runtime_dir}",
            *extra_args,
        ]
        full_env = dict(os.environ)
        full_env.pop("PORTICO_FAULT_AT", None)
        full_env.update(env or {})
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.args, stdout=self._log, stderr=subprocess.STDOUT, env=full_env,
                                     start_new_session=True)
        self.stopped = False
        self.haproxy_pids_seen = set()

    # -- status
    def log_text(self):
        return self.log_path.read_text(errors="replace")

    def log_tail(self, n=80):
        return "\n".join(self.log_text().splitlines()[-n:])

    def reload_count(self):
        return sum(1 for line in self.log_text().splitlines() if RELOAD_RE.search(line))

    def worker_pids(self):
        """PIDs of the HAProxy master's children (workers). A reload forks a new worker."""
        master = self.haproxy_pid()
        pids = set()
        if not master:
            return pids
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open(f"/proc/{d}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError, IndexError):
                continue
            if int(fields[1]) == master and fields[0] not in ("Z", "X"):
                pids.add(int(d))
        return pids

    def settle(self, quiet=0.4, timeout=5.0):
        """Wait until no spare backend is in use and no reload has been logged for
        `quiet` seconds (bounded); returns the count.

        A new configuration can serve before portico logs its reload, so counts are
        taken only once the log is quiet; a new backend served from a spare gets its
        own name by a reload --min-reload-interval later, so counts wait for that too."""
        deadline = time.monotonic() + 15
        while self.metric('portico_spare_backends{state="in_use"}') != 0:
            assert time.monotonic() < deadline, "spare backends still in use"
            time.sleep(0.1)
        deadline = time.monotonic() + timeout
        last, since = self.reload_count(), time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.05)
            n = self.reload_count()
            if n != last:
                last, since = n, time.monotonic()
            elif time.monotonic() - since >= quiet:
                break
        return last

    def server_stats(self, backend):
        """show stat for <backend>'s servers: name -> {column: value}."""
        lines = [ln for ln in self.admin("show stat").splitlines() if ln]
        head = lines[0].lstrip("# ").split(",")
        out = {}
        for ln in lines[1:]:
            f = dict(zip(head, ln.split(",")))
            if f.get("pxname") == backend and f.get("svname") not in ("FRONTEND", "BACKEND"):
                out[f["svname"]] = f
        return out

    def _command(self, socket_name, command):
        s = socket.socket(socket.AF_UNIX)
        try:
            s.settimeout(10)
            s.connect(str(self.runtime_dir / socket_name))
            s.sendall(command.encode() + b"\n")
            s.shutdown(socket.SHUT_WR)
            out = b""
            while chunk := s.recv(65536):
                out += chunk
        finally:
            s.close()
        return out.decode()

    def admin(self, command):
        """One command on HAProxy's admin socket (the Runtime API); returns the reply."""
        return self._command("admin.sock", command)

    def master(self, command):
        """One command on the HAProxy master CLI; it answers once we half-close
        (design.md section 6)."""
        return self._command("master.sock", command)

    def metric(self, series):
        """The value of <series> (name and labels) on the controller's /metrics."""
        text = request(self.controller, "/metrics", host="127.0.0.1").body.decode()
        for ln in text.splitlines():
            if ln.startswith(series + " "):
                return float(ln.split()[-1])
        raise AssertionError(f"no {series} in /metrics")

    def master_reloads(self):
        """The master's own reload counter (`show proc`, the master's line)."""
        for ln in self.master("show proc").splitlines():
            f = ln.split()
            if len(f) > 2 and f[1] == "master":
                return int(f[2])
        raise AssertionError("no master line in show proc")

    def readyz(self):
        return http_get_status(self.controller, "/readyz")

    def wait_ready(self, timeout=READY_TIMEOUT):
        def ok():
            if self.proc.poll() is not None:
                raise AssertionError(f"portico exited with {self.proc.returncode} before ready:\n{self.log_tail()}")
            return self.readyz() == 200
        try:
            wait_for(ok, timeout=timeout, what="portico /readyz 200")
        except AssertionError as e:
            raise AssertionError(f"{e}\n--- portico log ---\n{self.log_tail()}") from None
        self.remember_haproxy()
        return self

    def haproxy_pid(self):
        p = self.runtime_dir / "haproxy.pid"
        try:
            text = p.read_text().split()
            return int(text[0]) if text else None
        except FileNotFoundError:
            return None

    def remember_haproxy(self):
        pid = self.haproxy_pid()
        if pid:
            self.haproxy_pids_seen.add(pid)
        return pid

    # -- traffic
    def get(self, path="/", host=_DEFAULT, **kw):
        return request(self.http, path, host=host, **kw)

    def get_tls(self, path="/", host=_DEFAULT, **kw):
        return request(self.https, path, host=host, tls=True, **kw)

    def fetch(self, scheme, path="/", host=_DEFAULT, **kw):
        return request(self.https if scheme == "https" else self.http, path, host=host,
                       tls=(scheme == "https"), **kw)

    def wait_service(self, host, path, service, scheme="http", timeout=POLL_TIMEOUT):
        """Poll until host+path is answered by echo service `service` (None: 404)."""
        def check():
            r = self.fetch(scheme, path, host=host)
            if service is None:
                return r.status == 404 and r.header("X-Echo-Service") is None and r
            return r.service == service and r
        return wait_for(check, timeout=timeout, what=f"{scheme}://{host}{path} -> {service}")

    def wait_status(self, host, path, status, scheme="http", timeout=POLL_TIMEOUT):
        return wait_for(lambda: (r := self.fetch(scheme, path, host=host)).status == status and r,
                        timeout=timeout, what=f"{scheme}://{host}{path} -> {status}")

    # -- stop
    def stop(self, check=True, timeout=15, settle=True):
        """SIGTERM portico; with check, assert exit 0 and HAProxy master gone.

        settle: first let pending reloads finish, so that a shutdown racing a reload
        (tested on its own in test_live) does not slow down every teardown."""
        if self.stopped:
            return self.proc.returncode
        self.stopped = True
        if settle and self.proc.poll() is None:
            self.settle(quiet=0.3, timeout=3)
        self.remember_haproxy()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
                self._cleanup_haproxy()
                self._log.close()
                if check:
                    raise AssertionError(f"portico did not exit within {timeout}s of SIGTERM\n{self.log_tail()}")
                return None
        rc = self.proc.returncode
        self._log.close()
        try:
            # HAProxy stops gracefully; give its master a moment to be reaped after portico.
            gone = wait_for(lambda: not any(pid_alive(p) for p in self.haproxy_pids_seen),
                            timeout=5, what="haproxy master gone")
        except AssertionError:
            gone = False
        alive = [p for p in self.haproxy_pids_seen if pid_alive(p)]
        self._cleanup_haproxy()
        if check:
            assert rc == 0, f"portico exited with {rc} after SIGTERM\n{self.log_tail()}"
            assert gone and not alive, f"haproxy master still running after portico exit: {alive}"
        return rc

    def _cleanup_haproxy(self):
        # Only processes this test started: the haproxy masters whose PIDs we read.
        for p in self.haproxy_pids_seen:
            if pid_alive(p):
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
