"""The hostile-input corpus of test_corpus.py (doc: README.md here).

A fixture is one field x one payload: one manifest file holding one hostile
object (with what it needs beside it), named after its id fNNNNN, its host
fNNNNN.test. Many fixtures are rendered together with the baseline objects
(a batch); ConfigMap fixtures, of which only one ConfigMap can be read, are
batched per payload, one data key each. Each field is also rendered with its
benign value (the benign batch), and the baseline alone.
"""

import base64
import functools
import json
import re
import subprocess
from collections import defaultdict
from dataclasses import dataclass, field as dfield
from pathlib import Path

import yaml

NGINX = "nginx.ingress.kubernetes.io/"
BIG = 256 * 1024
FID_RE = re.compile(r"f\d{5}")
FILE_RE = re.compile(r"/(f\d{5})\.yaml[:;]")
SEP = " \t\r\n,"


# --------------------------------------------------------------------------- payloads

@dataclass(frozen=True)
class Payload:
    name: str
    where: str   # suffix, prefix, or big (suffix up to 256 KiB in all)
    text: object  # str, or bytes (not UTF-8)

    def apply(self, benign):
        t = self.text
        if self.where == "big":
            t = "a" * max(1, BIG - len(benign))
        if isinstance(benign, bytes) or isinstance(t, bytes):
            b = benign if isinstance(benign, bytes) else benign.encode()
            t = t if isinstance(t, bytes) else t.encode()
            benign = b
        return t + benign if self.where == "prefix" else benign + t

    def injected(self, benign):
        """The text the payload adds."""
        return "a" * max(1, BIG - len(benign)) if self.where == "big" else self.text


PAYLOADS = [
    Payload("lf", "suffix", "\n    http-request deny"),
    Payload("cr", "suffix", "\r    http-request deny"),
    Payload("crlf", "suffix", "\r\n    http-request deny"),
    Payload("lf-header-line", "suffix", "\nX-Injected deny"),
    Payload("dot-if", "suffix", "\n.if defined(HOME)"),
    Payload("nul", "suffix", "\x00x"),
    Payload("squote", "suffix", "'x"),
    Payload("dquote", "suffix", '"x'),
    Payload("backslash", "suffix", "\\x"),
    Payload("hash", "suffix", "#x"),
    Payload("hash-comment", "suffix", " # x"),
    Payload("semicolon", "suffix", ";x"),
    Payload("braces", "suffix", "{x}"),
    Payload("env-braces", "suffix", "${HOME}"),
    Payload("env-bare", "suffix", "$HOME"),
    Payload("env-list", "suffix", '"${HOME[*]}"'),
    Payload("sample-env", "suffix", "%[env(HOME)]"),
    Payload("percent-percent", "suffix", "%%"),
    Payload("percent-alias", "suffix", "%ci"),
    Payload("percent-lone", "suffix", "%"),
    Payload("sample-args", "suffix", "),lower"),
    Payload("second-word", "suffix", " x"),
    Payload("leading-spaces", "prefix", "  "),
    Payload("trailing-spaces", "suffix", "  "),
    Payload("anchor-prefix", "prefix", "X_"),
    Payload("tab", "suffix", "\tx"),
    Payload("control", "suffix", "\x01\x1b\x7f"),
    Payload("u2028", "suffix", "\u2028x"),
    Payload("u2029", "suffix", "\u2029x"),
    Payload("nel", "suffix", "\u0085x"),
    Payload("nbsp", "suffix", "\u00a0x"),
    Payload("bidi", "suffix", "\u202ex"),
    Payload("non-ascii", "suffix", "\u00e9"),
    Payload("invalid-utf8", "suffix", b"\xff\xfe\xc3("),
    Payload("256KiB", "big", None),
]


def cat(a, b):
    """a + b, bytes when either is (a payload that is not UTF-8)."""
    if isinstance(a, bytes) or isinstance(b, bytes):
        return (a if isinstance(a, bytes) else a.encode()) + (b if isinstance(b, bytes)
                                                              else b.encode())
    return a + b


def tokens(s):
    """The items of a value: what is left between separators."""
    if isinstance(s, bytes):
        s = s.decode("latin-1")
    return [t for t in re.split(r"[ \t\r\n,]+", s) if t]


# --------------------------------------------------------------------------- YAML

def _yq(v):
    """One double-quoted YAML scalar (bytes) that libyaml reads as <v>
    exactly; bytes that are not UTF-8 are written as they are."""
    out = bytearray(b'"')
    if isinstance(v, bytes):
        for b in v:
            if b in (0x22, 0x5c):
                out += b"\\" + bytes([b])
            elif 0x20 <= b < 0x7f or b >= 0x80:
                out.append(b)
            else:
                out += b"\\x%02x" % b
    else:
        for ch in v:
            cp = ord(ch)
            if ch in '"\\':
                out += b"\\" + ch.encode()
            elif 0x20 <= cp < 0x7f:
                out.append(cp)
            elif cp < 0x100:
                out += b"\\x%02x" % cp
            elif cp < 0x10000:
                out += b"\\u%04x" % cp
            else:
                out += b"\\U%08x" % cp
    return bytes(out + b'"')


def dump(obj):
    if isinstance(obj, dict):
        # libyaml refuses implicit keys over 1024 characters: long ones
        # (a 256 KiB annotation name) are written as explicit "? " keys.
        return b"{" + b", ".join((b"? " if len(k) > 1000 else b"") + _yq(k) + b": " + dump(v)
                                 for k, v in obj.items()) + b"}"
    if isinstance(obj, list):
        return b"[" + b", ".join(dump(v) for v in obj) + b"]"
    if isinstance(obj, bool):
        return b"true" if obj else b"false"
    if isinstance(obj, int):
        return str(obj).encode()
    return _yq(obj)


def dump_docs(objs):
    return b"".join(b"---\n" + dump(o) + b"\n" for o in objs)


# --------------------------------------------------------------------------- objects

OLD = "2020-01-01T00:00:00Z"
NEW = "2026-01-01T00:00:00Z"


def b64(v):
    return base64.b64encode(v if isinstance(v, bytes) else v.encode()).decode()


def service(name, port_name="http"):
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"ports": [{"name": port_name, "port": 80, "targetPort": 8080}]}}


def slice_for(name, svc, port_name="http", addr="10.0.0.1"):
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": name, "namespace": "default",
                         "labels": {"kubernetes.io/service-name": svc}},
            "addressType": "IPv4",
            "ports": [{"name": port_name, "port": 8080, "protocol": "TCP"}],
            "endpoints": [{"addresses": [addr],
                           "conditions": {"ready": True, "serving": True, "terminating": False}}]}


def tls_secret(name, crt, key):
    return {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
            "metadata": {"name": name, "namespace": "default"},
            "data": {"tls.crt": b64(crt), "tls.key": b64(key)}}


def backend(svc="web", number=80, name=None):
    port = {"name": name} if name is not None else {"number": number}
    return {"service": {"name": svc, "port": port}}


def ingress(name, host, paths=None, annotations=None, tls=None, ns="default",
            default_backend=None, created=NEW):
    meta = {"name": name, "namespace": ns, "creationTimestamp": created}
    if annotations:
        meta["annotations"] = annotations
    spec = {"ingressClassName": "portico"}
    if tls is not None:
        spec["tls"] = tls
    if default_backend is not None:
        spec["defaultBackend"] = default_backend
    paths = paths or [{"path": "/", "pathType": "Prefix", "backend": backend()}]
    spec["rules"] = [{"host": host, "http": {"paths": paths}}]
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": meta,
            "spec": spec}


# The users' Secret of the authentication keys' companions (a bcrypt-like
# hash: Portico checks its characters, HAProxy only its use).
USERS = "corpus-users"
USERS_HASH = "$2y$05$" + "a" * 53

# ConfigMap keys that take effect only with another key beside them.
CM_COMPANIONS = {
    "log-format": {"syslog-server": "address:stdout"},
    "dontlognull": {"syslog-server": "address:stdout"},
    "logasap": {"syslog-server": "address:stdout"},
}


def common_objects(cert, configmap=None):
    """What every batch holds: the class, Service web, its endpoints, two TLS
    Secrets and the baseline Ingress, whose routes must render the same
    whatever else is in the batch."""
    objs = [
        {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
         "metadata": {"name": "portico"}, "spec": {"controller": "portico.dev/ingress-controller"}},
        service("web"),
        slice_for("web-1", "web"),
        tls_secret("baseline-tls", cert["crt"], cert["key"]),
        tls_secret("shared-tls", cert["crt"], cert["key"]),
        {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
         "metadata": {"name": USERS, "namespace": "default"},
         "data": {"corpus": b64(USERS_HASH)}},
        # the users' Secret in use from the start: its userlist is in every
        # rendering, the baseline's too
        ingress("baseline-auth", "baseline-auth.test", created=OLD,
                annotations={"portico.dev/auth-type": "basic-auth",
                             "portico.dev/auth-secret": USERS}),
        # a passed-through host from the start: the TCP frontend is in
        # every rendering, as is the userlist
        ingress("baseline-pass", "baseline-pass.test", created=OLD,
                annotations={"portico.dev/ssl-passthrough": "true"}),
        ingress("baseline", "baseline.test", created=OLD,
                tls=[{"hosts": ["baseline.test"], "secretName": "baseline-tls"}],
                paths=[{"path": "/", "pathType": "Prefix", "backend": backend()},
                       {"path": "/exact", "pathType": "Exact", "backend": backend()},
                       {"path": "/impl", "pathType": "ImplementationSpecific",
                        "backend": backend()}]),
    ]
    if configmap is not None:
        objs.append({"apiVersion": "v1", "kind": "ConfigMap",
                     "metadata": {"name": "portico", "namespace": "default"},
                     "data": configmap})
    return objs


# --------------------------------------------------------------------------- keys

@dataclass
class KeyDoc:
    name: str
    scopes: str
    type: str
    annotation_example: str = None
    configmap_example: str = None
    aliases: list = dfield(default_factory=list)
    prefixes: list = dfield(default_factory=list)


def key_docs(binary):
    """Every key of `portico docs keys`, with its scope, type, example and
    prefixes from `portico docs key NAME`."""
    names = subprocess.run([binary, "docs", "keys"], check=True, capture_output=True,
                           text=True, timeout=30).stdout.split()
    docs = []
    for name in names:
        text = subprocess.run([binary, "docs", "key", name], check=True, capture_output=True,
                              text=True, timeout=30).stdout
        head = dict(re.findall(r"^(Scope|Type|Default): (.*)$", text, re.M))
        d = KeyDoc(name, head.get("Scope", ""), head.get("Type", ""))
        m = re.search(r"```yaml\n(.*?)```", text, re.S)
        for k, v in _example_values(m.group(1) if m else ""):
            if "/" not in k and k == name:
                d.configmap_example = v
            elif k.endswith("/" + name):
                d.annotation_example = v
                d.prefixes.append(k[:-len(name)])
        m = re.search(r"accepted with the prefixes ([^.]*(?:\.[a-z][^.]*)*)\.", text)
        if m:
            d.prefixes += [p for p in re.findall(r"`([^`]+/)`", m.group(1))
                           if p not in d.prefixes]
        d.aliases = re.findall(r"`([a-z0-9-]+)` is another name for it", text)
        docs.append(d)
    return docs


def _example_values(block):
    """(key, value) of the example of `portico docs key`: ConfigMap data
    keys and annotations. Read by hand: a double-quoted example may hold a
    backslash YAML would refuse (path-rewrite's "\\1"), meant as it is."""
    lines = block.splitlines()
    out = []
    for i, line in enumerate(lines):
        m = re.match(r"^(\s+)([\w./-]+): (.*)$", line)
        if not m or not m.group(3):
            continue
        indent, key, val = len(m.group(1)), m.group(2), m.group(3)
        if val in ("|", "|-"):
            body = []
            for nxt in lines[i + 1:]:
                if len(nxt) - len(nxt.lstrip()) <= indent:
                    break
                body.append(nxt.strip())
            val = "\n".join(body)
        elif val.startswith('"') and val.endswith('"'):
            try:
                val = json.loads(val)
            except ValueError:
                val = val[1:-1]
        out.append((key, val))
    return out


def nginx_annotations(repo):
    """The ingress-nginx annotations doc/migrate.md says Portico translates."""
    text = (Path(repo) / "doc" / "migrate.md").read_text()
    sect = text.split("### ingress-nginx's annotations", 1)[1]
    names = []
    for line in sect.splitlines():
        if not line.startswith("| `"):
            continue
        cols = [c.strip() for c in line.strip("|").split("|")]
        if len(cols) < 2 or cols[1].startswith("not supported"):
            continue
        for n in re.findall(r"`([a-z0-9-]+)(?::[^`]*)?`", cols[0]):
            names.append(n)
    return names


# A valid value of each translated ingress-nginx annotation.
NGINX_BENIGN = {
    "ssl-redirect": "false", "force-ssl-redirect": "true", "backend-protocol": "HTTPS",
    "whitelist-source-range": "10.0.0.0/8", "allowlist-source-range": "10.0.0.0/8",
    "denylist-source-range": "203.0.113.0/24", "proxy-connect-timeout": "3",
    "proxy-read-timeout": "60", "proxy-send-timeout": "60", "enable-cors": "true",
    "cors-allow-origin": "https://a.example", "cors-allow-methods": "GET, POST",
    "cors-allow-headers": "X-Custom, Content-Type", "cors-allow-credentials": "true",
    "cors-max-age": "600", "upstream-vhost": "internal.example.com", "limit-rps": "10",
    "limit-rpm": "100", "limit-whitelist": "10.0.0.0/8", "auth-type": "basic",
    "auth-secret": USERS, "auth-secret-type": "auth-file", "auth-realm": "Members",
    "ssl-passthrough": "true", "rewrite-target": "/$1", "use-regex": "true",
    "affinity": "cookie", "permanent-redirect": "https://new.example/x",
    "permanent-redirect-code": "308", "temporal-redirect": "https://tmp.example/",
    "app-root": "/app", "proxy-body-size": "8m", "limit-connections": "10",
    # the name affinity falls back to when a hostile one is refused
    "session-cookie-name": "INGRESSCOOKIE",
    "server-alias": "www.FID.test", "default-backend": "web",
    "custom-http-errors": "503,404",
}


def companions(prefix, key):
    """Annotations a key needs beside it to have an effect."""
    if prefix == NGINX:
        if key.startswith("cors-"):
            return {NGINX + "enable-cors": "true"}
        if key == "limit-whitelist":
            return {NGINX + "limit-rps": "10"}
        if key in ("auth-realm", "auth-secret-type"):
            return {NGINX + "auth-type": "basic", NGINX + "auth-secret": USERS}
        if key == "auth-secret":
            return {NGINX + "auth-type": "basic"}
        if key == "auth-type":
            return {NGINX + "auth-secret": USERS}
        if key == "session-cookie-name":
            return {NGINX + "affinity": "cookie"}
        return {}
    if key.startswith("cors-") and key != "cors-enable":
        return {prefix + "cors-enable": "true"}
    if key in ("check-http", "check-interval"):
        return {prefix + "check": "true"}
    if key == "auth-realm":
        return {prefix + "auth-type": "basic-auth", prefix + "auth-secret": USERS}
    if key == "auth-type":
        return {prefix + "auth-secret": USERS}
    if key == "auth-secret":
        return {prefix + "auth-type": "basic-auth"}
    if key.startswith("rate-limit-") and key != "rate-limit-requests":
        return {prefix + "rate-limit-requests": "100"}
    return {}


# --------------------------------------------------------------------------- canaries

@functools.lru_cache(maxsize=None)
def canary_id(fid):
    """The id Portico gives the canary Ingress <fid>-canary of a fixture
    (build.c: "c" and 12 hex digits of the FNV-1a hash of "ns/name")."""
    h = 0xcbf29ce484222325
    for b in f"default/{fid}-canary".encode():
        h = ((h ^ b) * 0x100000001b3) & 0xffffffffffffffff
    return "c%012x" % (h & 0xffffffffffff)


# The canary's annotations with a valid value each, and what each needs
# beside it to have an effect.
CANARY_BENIGN = {
    "canary": "true", "canary-weight": "30", "canary-weight-total": "1000",
    "canary-by-header": "X-Canary", "canary-by-header-value": "beta",
    "canary-by-header-pattern": "^(beta|gamma)-[0-9]+$", "canary-by-cookie": "canary_ck",
}
CANARY_COMPANIONS = {
    "canary-weight-total": {"canary-weight": "30"},
    "canary-by-header-value": {"canary-by-header": "X-Canary"},
    "canary-by-header-pattern": {"canary-by-header": "X-Canary"},
}


def canary_pair(fid, key, value):
    """A main Ingress for fNNNNN.test and a canary Ingress of the same
    route with <key> set to <value> (and "canary: true" unless <key> is
    that one), to a Service of its own: the canary's rendering paths (its
    frontend lines, the map values MAIN:CANARY:W:T:ID, its backend)."""
    ann = {NGINX + "canary": "true"}
    ann.update({NGINX + k: v for k, v in CANARY_COMPANIONS.get(key, {}).items()})
    ann[NGINX + key] = value
    return [service(f"{fid}-next"), slice_for(f"{fid}-next-1", f"{fid}-next", addr="10.0.0.2"),
            ingress(fid, f"{fid}.test", created=OLD),
            ingress(f"{fid}-canary", f"{fid}.test", annotations=ann, paths=[
                {"path": "/", "pathType": "Prefix", "backend": backend(f"{fid}-next")}])]


# --------------------------------------------------------------------------- fields

@dataclass
class Field:
    """A place hostile text can be put. build(fid, value) gives the objects
    of a fixture's file; benign is the value a payload is applied to."""
    label: str
    benign: object
    build: object
    hint: str                   # a rejection's warning names it (or one of a|b)
    kind: str = "ingress"       # ingress, or configmap (one data key)
    key_type: str = ""          # the key's documented type
    map_key: bool = False       # the value becomes map keys (host, path)
    reencoded: bool = False     # Portico writes its own encoding (Secret data)
    cm_key: str = None          # configmap: the data key (None: the key is the payload)

    def render_benign(self, fid):
        return self.benign.replace("FID", fid) if isinstance(self.benign, str) else self.benign


def ingress_fields(docs, nginx_names, cert, cert2):
    F = []

    def simple(fid, ann):
        return [ingress(fid, f"{fid}.test", annotations=ann)]

    # hosts and paths
    F.append(Field("spec.rules[].host", "FID.test",
                   lambda fid, v: [ingress(fid, v)], "spec.rules[0].host", map_key=True))
    F.append(Field("spec.tls[].hosts[]", "FID.test",
                   lambda fid, v: [ingress(fid, f"{fid}.test",
                                           tls=[{"hosts": [v], "secretName": "shared-tls"}])],
                   "spec.tls[0].hosts[0]", map_key=True))
    for pt in ("Exact", "Prefix", "ImplementationSpecific"):
        F.append(Field(f"path ({pt})", "/p",
                       lambda fid, v, pt=pt: [ingress(fid, f"{fid}.test", paths=[
                           {"path": v, "pathType": pt, "backend": backend()}])],
                       "spec.rules[0].http.paths[0].path", map_key=True))

    # annotations of the key table, under each prefix, aliases included
    for d in docs:
        prefixes = d.prefixes or ["portico.dev/"]
        if "Ingress annotation" in d.scopes:
            benign = d.annotation_example
        else:
            benign = d.configmap_example  # refused as an annotation: says so
        if benign is None:
            benign = "true"
        for name in [d.name] + d.aliases:
            for p in prefixes:
                F.append(Field(f"annotation {p}{name}", benign,
                               lambda fid, v, p=p, name=name: simple(
                                   fid, {p + name: v, **companions(p, name)}),
                               f'metadata.annotations["{p}{name}"]', key_type=d.type))
    # annotation names: the key itself hostile
    for p in sorted({p for d in docs for p in d.prefixes} | {"portico.dev/"}):
        F.append(Field(f"annotation name {p}...", "timeout-server",
                       lambda fid, v, p=p: simple(fid, {cat(p, v): "1m"}),
                       f'metadata.annotations["{p}'))
    # ingress-nginx's translated annotations
    for n in nginx_names:
        F.append(Field(f"annotation {NGINX}{n}", NGINX_BENIGN.get(n, "true"),
                       lambda fid, v, n=n: simple(fid, {NGINX + n: v, **companions(NGINX, n)}),
                       f'metadata.annotations["{NGINX}{n}"]', key_type="nginx"))
    # the canary annotations on a canary beside its main Ingress
    for k, v in CANARY_BENIGN.items():
        F.append(Field(f"canary {NGINX}{k}", v, lambda fid, val, k=k: canary_pair(fid, k, val),
                       f'metadata.annotations["{NGINX}{k}"]', key_type="nginx"))
    F.append(Field(f"annotation name {NGINX}...", "proxy-read-timeout",
                   lambda fid, v: simple(fid, {cat(NGINX, v): "60"}),
                   f'metadata.annotations["{NGINX}'))

    # names
    F.append(Field("Ingress metadata.name", "FID",
                   lambda fid, v: [ingress(v, f"{fid}.test")], "metadata"))
    F.append(Field("Ingress metadata.namespace", "default",
                   lambda fid, v: [ingress(fid, f"{fid}.test", ns=v)], "metadata"))
    F.append(Field("Service metadata.name", "FID-svc",
                   lambda fid, v: [service(v), slice_for(f"{fid}-1", v),
                                   ingress(fid, f"{fid}.test", paths=[
                                       {"path": "/", "pathType": "Prefix",
                                        "backend": backend(v)}])],
                   "backend: service name|metadata.name"))
    F.append(Field("Service spec.ports[].name", "http",
                   lambda fid, v: [service(f"{fid}-svc", v), slice_for(f"{fid}-1", f"{fid}-svc", v),
                                   ingress(fid, f"{fid}.test", paths=[
                                       {"path": "/", "pathType": "Prefix",
                                        "backend": backend(f"{fid}-svc")}])],
                   "has an invalid name|spec.ports[0].name"))
    F.append(Field("Ingress backend.service.port.name", "http",
                   lambda fid, v: [ingress(fid, f"{fid}.test", paths=[
                       {"path": "/", "pathType": "Prefix", "backend": backend(name=v)}])],
                   "backend: port name|backend.service.port.name"))
    F.append(Field("Ingress spec.defaultBackend service name", "web",
                   lambda fid, v: [ingress(fid, f"{fid}.test", default_backend=backend(v))],
                   "spec.defaultBackend"))
    F.append(Field("Ingress spec.tls[].secretName", "FID-tls",
                   lambda fid, v: [tls_secret(v, cert["crt"], cert["key"]),
                                   ingress(fid, f"{fid}.test",
                                           tls=[{"hosts": [f"{fid}.test"], "secretName": v}])],
                   "secretName"))
    # Secret data
    F.append(Field("Secret data[tls.crt]", cert["crt"].encode(),
                   lambda fid, v: [tls_secret(f"{fid}-tls", v, cert["key"]),
                                   ingress(fid, f"{fid}.test",
                                           tls=[{"hosts": [f"{fid}.test"],
                                                 "secretName": f"{fid}-tls"}])],
                   "spec.tls[0]", reencoded=True))
    F.append(Field("Secret data[tls.key]", cert["key"].encode(),
                   lambda fid, v: [tls_secret(f"{fid}-tls", cert["crt"], v),
                                   ingress(fid, f"{fid}.test",
                                           tls=[{"hosts": [f"{fid}.test"],
                                                 "secretName": f"{fid}-tls"}])],
                   "spec.tls[0]", reencoded=True))
    return F


def secret_specials(cert, cert2):
    """Whole tls.crt/tls.key values (not payload + valid PEM): garbage PEM,
    mismatched pair, DER, 10 MiB, ..."""
    crt, key = cert["crt"].encode(), cert["key"].encode()
    junk_pem = (b"-----BEGIN CERTIFICATE-----\n    bind :1 crt /etc/passwd\n"
                b"-----END CERTIFICATE-----\n")
    lines = key.decode().splitlines(True)
    encrypted = "".join(lines[:1] + ["Proc-Type: 4,ENCRYPTED\n",
                                     "DEK-Info: AES-128-CBC,00000000000000000000000000000000\n",
                                     "\n"] + lines[1:]).encode()
    return [
        ("garbage-pem", junk_pem, key),
        ("key-cert-mismatch", crt, cert2["key"].encode()),
        ("empty-crt", b"", key),
        ("empty-key", crt, b""),
        ("der-crt", cert["der"], key),
        ("swapped", key, crt),
        ("10MiB-crt", crt + (b"A" * 76 + b"\n") * (10 * 1024 * 1024 // 77), key),
        ("chain-with-junk", crt + junk_pem, key),
        ("pem-headers-key", crt, encrypted),
        ("directives-between-blocks", crt + b"\n    bind :1 crt /etc/passwd\n" + crt, key),
        ("nul-in-crt", crt[:60] + b"\x00" + crt[60:], key),
        ("key-only-no-cert", key, key),
    ]


def configmap_fields(docs):
    F = []
    for d in docs:
        if "ConfigMap" not in d.scopes:
            continue
        benign = d.configmap_example if d.configmap_example is not None else "1"
        F.append(Field(f"ConfigMap data[{d.name}]", benign, None, f'data["{d.name}"]',
                       kind="configmap", key_type=d.type, cm_key=d.name))
    F.append(Field("ConfigMap data key", "timeout-queue", None, "unknown key",
                   kind="configmap", cm_key=None))
    return F


# --------------------------------------------------------------------------- fixtures

@dataclass
class Fixture:
    fid: str
    field: Field
    payload: Payload    # None for a Secret special
    value: object       # the hostile value
    benign: object      # the benign value it was made from
    special: str = None
    objs: object = None

    @property
    def label(self):
        return f"{self.fid} {self.field.label} x {self.special or self.payload.name}"

    def injected(self):
        if self.payload is None:
            return ""
        return self.payload.injected(self.benign)


# --------------------------------------------------------------------------- running

def run_render(binary, mdir, outdir, flags=()):
    outdir.mkdir(parents=True, exist_ok=True)
    p = subprocess.run([str(binary), "render", f"--manifests={mdir}", "--disable-ipv6",
                        f"--output-dir={outdir}", *flags],
                       capture_output=True, timeout=300)
    return p.returncode, p.stderr


def run_haproxy(haproxy, outdir):
    p = subprocess.run([haproxy, "-c", "-f", "haproxy.cfg", "-f", "backends"], cwd=outdir,
                       capture_output=True, timeout=300)
    return p.returncode, (p.stdout + p.stderr).decode("latin-1")


_LOGFMT = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)')


def _unquote(v):
    if not v.startswith('"'):
        return v
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t", "r": "\r"}.get(m.group(1),
                                                                           m.group(1)), v[1:-1])


def parse_log(stderr):
    out = []
    # split on LF only: str.splitlines() would also split at the bytes of
    # U+0085 and U+2028 read as latin-1, which a logged value may hold
    for line in stderr.decode("latin-1").split("\n"):
        d = {k: _unquote(v) for k, v in _LOGFMT.findall(line)}
        if "msg" in d:
            d["line"] = line
            out.append(d)
    return out


# The lines every canary shares (render.c, render_canaries()), in order.
CANARY_COMMON = [
    "    http-request set-var(txn.canary) var(txn.backend) if { var(txn.backend) -m sub : }",
    "    http-request set-var(txn.backend) var(txn.canary),field(1,:) "
    "if { var(txn.canary) -m found }",
    "    http-request set-var(txn.cw) var(txn.canary),field(3,:) "
    "if { var(txn.canary) -m found } !{ var(txn.cgo) -m found }",
    "    http-request set-var(txn.ct) var(txn.canary),field(4,:) "
    "if { var(txn.canary) -m found } !{ var(txn.cgo) -m found }",
    "    http-request set-var(txn.cgo) str(1) if { var(txn.ct) -m found } "
    "{ rand,mod(txn.ct),sub(txn.cw) -m int lt 0 }",
    "    http-request set-var(txn.backend) var(txn.canary),field(2,:) "
    "if { var(txn.cgo) -m str 1 }",
]
# A canary's own line: its header or cookie decides.
CANARY_LINE = re.compile(r"    http-request set-var\(txn\.cgo\) str\([01]\) if "
                         r"(?:!\{ var\(txn\.cgo\) -m found \} )?"
                         r"\{ var\(txn\.canary\),field\(5,:\) -m str (c[0-9a-f]{12}) \} ")


# How each file of backends/ begins: haproxy.cfg's later backends follow.
BACKENDS_HEAD = "global\n    default-path parent\n"


class Output:
    """A rendering read back: haproxy.cfg, with the backends of the files of
    backends/ after it, split into its head (global, defaults, frontends)
    and backends, the maps, the crt-list, the certificates, and the
    warnings."""

    def __init__(self, outdir, stderr):
        self.dir = Path(outdir)
        raw = (self.dir / "haproxy.cfg").read_bytes().decode("latin-1")
        self.cfg_lines = raw.split("\n")  # haproxy.cfg's own, as haproxy -c numbers them
        for p in sorted((self.dir / "backends").glob("*.cfg")):
            more = p.read_bytes().decode("latin-1")
            assert more.startswith(BACKENDS_HEAD), f"{p} does not begin with {BACKENDS_HEAD!r}"
            raw += more[len(BACKENDS_HEAD):]
        self.cfg = raw
        self.lines = raw.split("\n")
        self.head, self.blocks = [], {}
        # The capture slots of the Ingresses' own request-capture: the one
        # frontend line an Ingress changes, by design (a number, nothing of
        # the value); kept apart and checked for that shape.
        self.capture_slots = []
        # The canaries' lines of the routing frontend: those every canary
        # shares (checked for their exact text) and each canary's own, by
        # its id (owned by its fixture and judged with it). Wherever they
        # are: the frontend follows a backend (_tls_offload), whose
        # block runs on to the next backend.
        self.canary_common, self.canary_lines = [], defaultdict(list)
        cur = None
        for line in self.lines:
            m = CANARY_LINE.match(line)
            if re.fullmatch(r"    declare capture request len [0-9]{1,4}", line):
                self.capture_slots.append(line)
            elif line in CANARY_COMMON:
                self.canary_common.append(line)
            elif m:
                self.canary_lines[m.group(1)].append(line)
            elif line.startswith("backend "):
                cur = line[len("backend "):]
                self.blocks[cur] = []
            elif cur is None:
                self.head.append(line)
            elif line:
                self.blocks[cur].append(line)
        self.maps = {}
        for p in sorted((self.dir / "maps").glob("*.map")):
            self.maps[p.name] = [l for l in p.read_bytes().decode("latin-1").split("\n") if l]
        crt_list = self.dir / "crt-list.txt"
        self.crt_list = [l for l in crt_list.read_bytes().decode("latin-1").split("\n") if l]
        self.certs = {p.name: p.read_bytes() for p in (self.dir / "certs").glob("*.pem")
                      if p.name != "default.pem"}
        self.log = parse_log(stderr)

    def files_except_default_cert(self):
        out = {"haproxy.cfg": self.cfg, "crt-list.txt": "\n".join(self.crt_list)}
        out.update({k: "\n".join(v) for k, v in self.maps.items()})
        out.update({k: v for k, v in self.certs.items()})
        return out
