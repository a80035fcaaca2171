"""The keys that change how HAProxy talks to the endpoints, through the real
HAProxy to real backends (protoservers.py) that report what reached them:
send-proxy-protocol (the PROXY header, v1 or v2, with the client's address),
server-ssl (TLS to the endpoints, their certificate not verified), server-proto
(HTTP/2: cleartext h2c, or over TLS with ALPN h2), ingress-nginx's
backend-protocol translated to them, the keys on a Service, and each key
changed at run time (doc/config/send-proxy-protocol.md, server-ssl.md,
server-proto.md; doc/migrate.md for backend-protocol)."""

import socket
import ssl

import pytest

from helpers import (LOOPBACK, _read_response, ingress, make_cert, path, rule,
                     service_with_endpoints, wait_for)
from protoservers import ProtoServer

CLIENT = "127.0.0.5"  # the test client's source address: not the one HAProxy connects from
NGINX = "nginx.ingress.kubernetes.io/"


def get_from(port, host, target="/", src=CLIENT, tls=False, method="GET", body=b""):
    """One request to HAProxy from source address src; returns (Response, the
    client's source port)."""
    sock = socket.create_connection((LOOPBACK, port), timeout=5, source_address=(src, 0))
    sport = sock.getsockname()[1]
    try:
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            sock = ctx.wrap_socket(sock, server_hostname=host)
        head = f"{method} {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n"
        if body or method == "POST":
            head += f"Content-Length: {len(body)}\r\n"
        sock.sendall(head.encode() + b"\r\n" + body)
        with sock.makefile("rb") as f:
            return _read_response(f, method), sport
    finally:
        sock.close()


def answer(port, host, **kw):
    """The backend's JSON report of a request that must succeed."""
    r, _ = get_from(port, host, **kw)
    assert r.status == 200 and r.header("X-Echo-Service"), (host, r)
    return r.json


def ing(name, service, annotations=None):
    return ingress(name, [rule(f"{name}.proto.test", path("/", service))], annotations=annotations)


@pytest.fixture(scope="module")
def backend_cert(tmp_path_factory):
    """A self-signed certificate for a name nobody asks for: if HAProxy verified
    it (or checked its name) no TLS request would succeed."""
    d = tmp_path_factory.mktemp("backend-cert")
    make_cert(d, "backend", "unverified.invalid", ["unverified.invalid"], days=2)
    return str(d / "backend.crt"), str(d / "backend.key")


@pytest.fixture(scope="module")
def stack(module_launcher, backend_cert):
    """One portico; backends: `plain` (cleartext, reads a PROXY header when there
    is one, HTTP/1 or HTTP/2), `strict` (refuses a connection without a PROXY
    header) and `tls` (TLS only, ALPN h2 or http/1.1, PROXY header read when
    there is one)."""
    plain = ProtoServer("plain")
    strict = ProtoServer("strict", proxy="required")
    tls = ProtoServer("tls", tls=backend_cert)
    m = module_launcher.manifests()
    m.write("svc-plain.yaml", service_with_endpoints("plain", ["127.0.0.1"], plain.port))
    m.write("svc-strict.yaml", service_with_endpoints("strict", ["127.0.0.1"], strict.port))
    m.write("svc-tls.yaml", service_with_endpoints("tls", ["127.0.0.1"], tls.port))
    svc = service_with_endpoints("plain-h2", ["127.0.0.1"], plain.port)
    svc[0]["metadata"]["annotations"] = {"haproxy.org/server-proto": "h2"}
    m.write("svc-plain-h2.yaml", svc)
    ingresses = {
        # send-proxy-protocol
        "none": ("plain", {}),
        "v1": ("plain", {"haproxy.org/send-proxy-protocol": "proxy"}),
        "v1b": ("plain", {"portico.dev/send-proxy-protocol": "proxy-v1"}),
        "v2": ("plain", {"haproxy.org/send-proxy-protocol": "proxy-v2"}),
        "v2ssl": ("plain", {"portico.dev/send-proxy-protocol": "proxy-v2-ssl"}),
        "strict-none": ("strict", {}),
        "strict-v1": ("strict", {"portico.dev/send-proxy-protocol": "proxy"}),
        "strict-v2": ("strict", {"portico.dev/send-proxy-protocol": "proxy-v2"}),
        # server-ssl
        "ssl": ("tls", {"portico.dev/server-ssl": "true"}),
        "ssl-hx": ("tls", {"haproxy.org/server-ssl": "true"}),
        "ssl-off": ("tls", {"portico.dev/server-ssl": "false"}),
        "ssl-none": ("tls", {}),
        # server-proto
        "h2c": ("plain", {"portico.dev/server-proto": "h2"}),
        "h2c-hx": ("plain", {"haproxy.org/server-proto": "h2"}),
        "h1": ("plain", {"portico.dev/server-proto": "h1"}),
        "h2tls": ("tls", {"portico.dev/server-ssl": "true", "portico.dev/server-proto": "h2"}),
        "h2-notls": ("tls", {"portico.dev/server-proto": "h2"}),
        "svc-h2": ("plain-h2", {}),
        # combined
        "v2-h2c": ("strict", {"portico.dev/send-proxy-protocol": "proxy-v2",
                              "portico.dev/server-proto": "h2"}),
        "v1-h2tls": ("tls", {"portico.dev/send-proxy-protocol": "proxy-v1",
                             "portico.dev/server-ssl": "true", "portico.dev/server-proto": "h2"}),
        # ingress-nginx's backend-protocol
        "nx-http": ("plain", {NGINX + "backend-protocol": "HTTP"}),
        "nx-grpc": ("plain", {NGINX + "backend-protocol": "GRPC"}),
        "nx-h2c": ("plain", {NGINX + "backend-protocol": "H2C"}),
        "nx-https": ("tls", {NGINX + "backend-protocol": "HTTPS"}),
        "nx-grpcs": ("tls", {NGINX + "backend-protocol": "GRPCS"}),
    }
    for name, (service, ann) in ingresses.items():
        m.write(f"ing-{name}.yaml", ing(name, service, ann or None))
    px = module_launcher.portico(m)
    wait_for(lambda: get_from(px.http, "none.proto.test")[0].status == 200,
             what="none.proto.test answered")
    yield px, plain, strict, tls
    for s in (plain, strict, tls):
        s.stop()


def test_send_proxy_protocol(stack):
    """The PROXY header carries the client's address and port and the address
    and port it connected to, not HAProxy's own connection; v1 or v2 as asked;
    none without the key."""
    px, plain, strict, _ = stack
    for name, version in (("v1", 1), ("v1b", 1), ("v2", 2)):
        for tls, port in ((False, px.http), (True, px.https)):
            r, sport = get_from(port, f"{name}.proto.test", target="/pp?x=1", tls=tls)
            assert r.status == 200, (name, tls, r)
            j = r.json
            pp = j["proxy"]
            assert pp is not None, (name, j)
            assert pp["version"] == version and pp["command"] == "PROXY", (name, pp)
            assert (pp["src"], pp["sport"], pp["dst"], pp["dport"]) == \
                (CLIENT, sport, LOOPBACK, port), (name, tls, pp)
            # HAProxy's own connection comes from another address than the client's
            assert j["peer"].split(":")[0] != CLIENT, j
            assert j["path"] == "/pp?x=1" and j["http_version"] == "HTTP/1.1"
            if version == 1:
                assert pp["family"] == "TCP4"
            else:
                assert pp["family"] == 0x11 and pp["tlvs"] == {}, pp

    # without the key: the backend reads an HTTP request straight away
    j = answer(px.http, "none.proto.test")
    assert j["proxy"] is None and j["http_version"] == "HTTP/1.1", j

    # proxy-v2-ssl: the SSL TLV (0x20), its "client connected over TLS" bit set
    # only when it did
    # (then a sub-TLV 0x21, the TLS version)
    ssl_tlv = answer(px.https, "v2ssl.proto.test", tls=True)["proxy"]["tlvs"].get("32")
    assert ssl_tlv is not None and int(ssl_tlv[:2], 16) & 0x01, ssl_tlv
    sub_len = int(ssl_tlv[12:16], 16)
    assert ssl_tlv[10:12] == "21" and \
        bytes.fromhex(ssl_tlv[16:16 + 2 * sub_len]).startswith(b"TLSv1"), ssl_tlv
    plain_tlv = answer(px.http, "v2ssl.proto.test")["proxy"]["tlvs"].get("32")
    assert plain_tlv is None or not int(plain_tlv[:2], 16) & 0x01, plain_tlv

    # a backend that requires the header: served with the key, refused without
    for name, version in (("strict-v1", 1), ("strict-v2", 2)):
        pp = answer(px.http, f"{name}.proto.test")["proxy"]
        assert pp["version"] == version and pp["src"] == CLIENT, pp
    strict.clear()
    r, _ = get_from(px.http, "strict-none.proto.test", target="/nopp")
    assert r.status in (502, 503) and r.header("X-Echo-Service") is None, r
    refused = strict.errors()
    assert all(c["error"] == "no PROXY header" and
               c["first_bytes"].startswith("GET /nopp HTTP/1.1\r\n") for c in refused), refused
    assert not [c for c in strict.seen() if c["proxy"]], strict.seen()


def test_server_ssl(stack):
    """server-ssl: TLS to the endpoints, whose self-signed certificate for
    another name is accepted (not verified); without it, or "false", HAProxy
    speaks cleartext HTTP to a TLS-only port: the handshake fails, 502/503."""
    px, _, _, tls = stack
    for name in ("ssl", "ssl-hx"):
        for client_tls, port in ((False, px.http), (True, px.https)):
            j = answer(port, f"{name}.proto.test", target="/s?q=2", tls=client_tls)
            assert j["tls"] is True and j["service"] == "tls", j
            # no ALPN asked for without server-proto: HTTP/1.1 inside the TLS
            assert j["alpn"] is None and j["http_version"] == "HTTP/1.1", j
            assert j["path"] == "/s?q=2" and j["host"] == f"{name}.proto.test", j
    j = answer(px.http, "ssl.proto.test", target="/post", method="POST", body=b"hello tls")
    assert (j["method"], j["body"]) == ("POST", "hello tls"), j

    for name in ("ssl-none", "ssl-off"):
        tls.clear()
        r, _ = get_from(px.http, f"{name}.proto.test")
        assert r.status in (502, 503) and r.header("X-Echo-Service") is None, (name, r)
        failed = tls.errors()
        assert all(c["error"].startswith("TLS handshake") and not c["tls"] for c in failed), failed


def test_server_proto_h2(stack):
    """server-proto h2: HTTP/2 with prior knowledge in cleartext (h2c), over
    TLS with ALPN h2 when server-ssl is set; h1 (the default) is HTTP/1.1; on a
    Service it applies to the routes to it. Requests arrive whole: method,
    path with query, authority or Host, headers and body."""
    px, _, _, tls = stack
    for name in ("h2c", "h2c-hx", "svc-h2"):
        j = answer(px.http, f"{name}.proto.test", target="/a/b?c=d")
        assert j["http_version"] == "HTTP/2" and j["tls"] is False and j["alpn"] is None, j
        assert (j["method"], j["path"]) == ("GET", "/a/b?c=d"), j
        assert f"{name}.proto.test" in (j["authority"], j["host"]), j
    j = answer(px.https, "h2c.proto.test", target="/up", method="POST", body=b"x" * 5000, tls=True)
    assert (j["http_version"], j["method"], j["body"]) == ("HTTP/2", "POST", "x" * 5000), \
        {k: j[k] for k in ("http_version", "method")}
    names = [n.lower() for n, _ in j["headers"]]
    assert "x-forwarded-for" in names and "connection" not in names, j["headers"]

    j = answer(px.http, "h1.proto.test")
    assert j["http_version"] == "HTTP/1.1", j

    for client_tls, port in ((False, px.http), (True, px.https)):
        j = answer(port, "h2tls.proto.test", target="/t?1", tls=client_tls)
        assert (j["tls"], j["alpn"], j["http_version"]) == (True, "h2", "HTTP/2"), j
        assert j["path"] == "/t?1", j

    # h2 without server-ssl to the TLS port: cleartext h2, which the TLS port refuses
    tls.clear()
    r, _ = get_from(px.http, "h2-notls.proto.test")
    assert r.status in (502, 503) and r.header("X-Echo-Service") is None, r
    failed = tls.errors()
    assert all(c["error"].startswith("TLS handshake") for c in failed), failed


def test_keys_combined(stack):
    """The PROXY header comes first, then TLS, then HTTP/2."""
    px, _, _, _ = stack
    r, sport = get_from(px.http, "v2-h2c.proto.test", target="/both")
    assert r.status == 200, r
    j = r.json
    assert j["service"] == "strict", j
    assert (j["proxy"]["version"], j["proxy"]["src"], j["proxy"]["sport"]) == (2, CLIENT, sport)
    assert j["http_version"] == "HTTP/2" and j["path"] == "/both", j

    r, sport = get_from(px.https, "v1-h2tls.proto.test", tls=True)
    assert r.status == 200, r
    j = r.json
    assert (j["proxy"]["version"], j["proxy"]["src"], j["proxy"]["sport"],
            j["proxy"]["dport"]) == (1, CLIENT, sport, px.https), j["proxy"]
    assert (j["tls"], j["alpn"], j["http_version"]) == (True, "h2", "HTTP/2"), j


def test_nginx_backend_protocol(stack):
    """ingress-nginx's backend-protocol: HTTP is plain HTTP/1.1, GRPC and H2C
    are server-proto h2 (h2c), HTTPS is server-ssl, GRPCS both."""
    px, _, _, _ = stack
    seen = {}
    for name in ("nx-http", "nx-grpc", "nx-h2c", "nx-https", "nx-grpcs"):
        j = answer(px.http, f"{name}.proto.test", target="/g")
        assert j["path"] == "/g", j
        seen[name] = (j["service"], j["tls"], j["alpn"], j["http_version"])
    assert seen == {
        "nx-http": ("plain", False, None, "HTTP/1.1"),
        "nx-grpc": ("plain", False, None, "HTTP/2"),
        "nx-h2c": ("plain", False, None, "HTTP/2"),
        "nx-https": ("tls", True, None, "HTTP/1.1"),
        "nx-grpcs": ("tls", True, "h2", "HTTP/2"),
    }, seen


def test_keys_change_at_run_time(launcher, backend_cert):
    """Each key set, changed and removed by rewriting the manifests takes
    effect; an endpoint added at run time (no reload) gets the same treatment
    as the others."""
    plain = ProtoServer("plain", addrs=("127.0.0.1", "127.0.0.2"))
    tls = ProtoServer("tls", addrs=("127.0.0.1", "127.0.0.2"), tls=backend_cert)
    try:
        m = launcher.manifests()
        m.write("svc-plain.yaml", service_with_endpoints("plain", ["127.0.0.1"], plain.port))
        m.write("svc-tls.yaml", service_with_endpoints("tls", ["127.0.0.1"], tls.port))
        m.write("ing-live.yaml", ing("live", "plain"))
        m.write("ing-sec.yaml", ing("sec", "tls"))
        px = launcher.portico(m)
        live = wait_for(lambda: answer(px.http, "live.proto.test"))
        assert live["proxy"] is None and live["http_version"] == "HTTP/1.1", live

        def new_endpoint(host):
            """The report of a request served by the endpoint at 127.0.0.2."""
            return wait_for(lambda: next((j for j in (answer(px.http, host) for _ in range(4))
                                          if j["endpoint"].startswith("127.0.0.2:")), None),
                            what=f"the new endpoint answering {host}")

        def becomes(host, check, what):
            """Polls until the backend's report of a request to host passes check."""
            def probe():
                r, sport = get_from(px.http, host)
                if r.status != 200:
                    return None
                j = r.json
                j["client_port"] = sport
                return check(j) and j
            return wait_for(probe, what=what)

        # send-proxy-protocol: set, changed, removed
        for value, version in (("proxy", 1), ("proxy-v2", 2), ("proxy-v1", 1)):
            m.write("ing-live.yaml", ing("live", "plain",
                                         {"haproxy.org/send-proxy-protocol": value}))
            j = becomes("live.proto.test",
                        lambda j: j["proxy"] and j["proxy"]["version"] == version,
                        f"PROXY v{version}")
            assert (j["proxy"]["src"], j["proxy"]["sport"]) == (CLIENT, j["client_port"]), j

        # server-proto added next to it (later: the PROXY header removed, then h2)
        m.write("ing-live.yaml", ing("live", "plain",
                                     {"haproxy.org/send-proxy-protocol": "proxy-v2",
                                      "haproxy.org/server-proto": "h2"}))
        becomes("live.proto.test",
                lambda j: j["http_version"] == "HTTP/2" and (j["proxy"] or {}).get("version") == 2,
                "PROXY v2 and HTTP/2")

        # an endpoint added at run time: the new server also sends PROXY v2 and HTTP/2
        reloads = px.settle()
        m.write("svc-plain.yaml", service_with_endpoints("plain", ["127.0.0.1", "127.0.0.2"],
                                                         plain.port))
        j = new_endpoint("live.proto.test")
        assert j["http_version"] == "HTTP/2" and j["proxy"]["version"] == 2, j
        assert j["proxy"]["src"] == CLIENT, j
        assert px.settle() == reloads, "an endpoint change reloaded HAProxy"
        m.write("svc-plain.yaml", service_with_endpoints("plain", ["127.0.0.1"], plain.port))

        m.write("ing-live.yaml", ing("live", "plain", {"haproxy.org/server-proto": "h2"}))
        becomes("live.proto.test", lambda j: j["http_version"] == "HTTP/2" and j["proxy"] is None,
                "HTTP/2 without PROXY")
        m.write("ing-live.yaml", ing("live", "plain", {"haproxy.org/server-proto": "h1"}))
        becomes("live.proto.test",
                lambda j: j["http_version"] == "HTTP/1.1" and j["proxy"] is None, "HTTP/1.1")

        # ingress-nginx's key, changed
        m.write("ing-live.yaml", ing("live", "plain", {NGINX + "backend-protocol": "GRPC"}))
        becomes("live.proto.test", lambda j: j["http_version"] == "HTTP/2", "GRPC: HTTP/2")
        m.write("ing-live.yaml", ing("live", "plain", {NGINX + "backend-protocol": "HTTP"}))
        becomes("live.proto.test", lambda j: j["http_version"] == "HTTP/1.1", "HTTP: HTTP/1.1")

        # the key on the Service, added then removed
        svc = service_with_endpoints("plain", ["127.0.0.1"], plain.port)
        svc[0]["metadata"]["annotations"] = {"portico.dev/send-proxy-protocol": "proxy-v2"}
        m.write("svc-plain.yaml", svc)
        becomes("live.proto.test", lambda j: (j["proxy"] or {}).get("version") == 2,
                "PROXY v2 from the Service")
        m.write("svc-plain.yaml", service_with_endpoints("plain", ["127.0.0.1"], plain.port))
        becomes("live.proto.test", lambda j: j["proxy"] is None, "no PROXY header")

        # server-ssl: the TLS-only backend fails, then answers, over h2, and fails again
        assert get_from(px.http, "sec.proto.test")[0].status in (502, 503)
        m.write("ing-sec.yaml", ing("sec", "tls", {"portico.dev/server-ssl": "true"}))
        j = becomes("sec.proto.test", lambda j: j["tls"], "TLS to the endpoint")
        assert j["http_version"] == "HTTP/1.1" and j["alpn"] is None, j
        m.write("ing-sec.yaml", ing("sec", "tls", {"portico.dev/server-ssl": "true",
                                                   "portico.dev/server-proto": "h2"}))
        becomes("sec.proto.test", lambda j: j["alpn"] == "h2" and j["http_version"] == "HTTP/2",
                "h2 over TLS")
        # an endpoint added at run time: TLS and ALPN h2 to it as well
        reloads = px.settle()
        m.write("svc-tls.yaml", service_with_endpoints("tls", ["127.0.0.1", "127.0.0.2"],
                                                       tls.port))
        j = new_endpoint("sec.proto.test")
        assert (j["tls"], j["alpn"], j["http_version"]) == (True, "h2", "HTTP/2"), j
        assert px.settle() == reloads, "an endpoint change reloaded HAProxy"
        m.write("ing-sec.yaml", ing("sec", "tls", {NGINX + "backend-protocol": "HTTPS"}))
        becomes("sec.proto.test", lambda j: j["tls"] and j["http_version"] == "HTTP/1.1",
                "HTTPS: HTTP/1.1 over TLS")
        m.write("ing-sec.yaml", ing("sec", "tls"))
        wait_for(lambda: get_from(px.http, "sec.proto.test")[0].status in (502, 503),
                 what="server-ssl removed: the TLS port refuses cleartext")
        # and the plain route never changed meanwhile
        assert answer(px.http, "live.proto.test")["proxy"] is None
    finally:
        plain.stop()
        tls.stop()
