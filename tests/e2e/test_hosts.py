"""routing.md, "Hosts": normalisation, exact vs wildcard, host chosen first,
host-less rules, missing / duplicate Host headers."""

import socket
import ssl

import pytest

from helpers import Exact, _read_response, backend, ingress, path, rule

SCHEMES = ["http", "https"]
SERVICES = ["exact", "wild", "exactwild", "hostless", "nofall", "withdef", "withdef-default", "wpath", "only",
            "nohttp-default"]


@pytest.fixture(scope="module")
def px(module_launcher):
    echo = module_launcher.echo({s: ["127.0.0.1"] for s in SERVICES})
    m = module_launcher.manifests()
    objs = []
    for s in SERVICES:
        objs += echo.objects(s)
    m.write("services.yaml", objs)
    m.write("ingresses.yaml", [
        ingress("exact", [rule("exact.hosts.test", path("/", "exact"))]),
        ingress("wild", [rule("*.wild.hosts.test", path("/", "wild"))]),
        ingress("exactwild", [rule("exact.wild.hosts.test", path("/", "exactwild"))]),
        ingress("hostless", [rule(None, path("/", "hostless"))]),
        ingress("nofall", [rule("nofall.hosts.test", path("/only", "nofall", Exact))]),
        ingress("withdef", [rule("withdef.hosts.test", path("/only", "withdef", Exact))],
                default_backend=backend("withdef-default")),
        ingress("wpath", [rule("*.wpath.hosts.test", path("/only", "wpath", Exact))]),
        # exact host under a wildcard, with only one path: no fall-through to the wildcard
        ingress("only", [rule("only.wild.hosts.test", path("/only", "only", Exact))]),
        # a rule with a host and no http section, in an Ingress with a defaultBackend
        ingress("nohttp", [{"host": "nohttp.hosts.test"}], default_backend=backend("nohttp-default")),
    ])
    return module_launcher.portico(m)


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("host", [
    "exact.hosts.test",
    "EXACT.Hosts.TEST",            # case-insensitive
    "exact.hosts.test:8080",       # port removed
    "exact.hosts.test:1",
    "exact.hosts.test.",           # one trailing dot removed
    "Exact.Hosts.Test.:443",       # all of the above
])
def test_exact_host_normalised(px, scheme, host):
    r = px.fetch(scheme, "/x", host=host)
    assert r.service == "exact", r
    assert r.json["host"] == host, "Host must reach the backend unchanged"


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("host,svc", [
    ("a.wild.hosts.test", "wild"),
    ("Other-Label.WILD.hosts.test:9999", "wild"),
    ("z.wild.hosts.test.", "wild"),
    ("a.b.wild.hosts.test", "hostless"),   # wildcard covers exactly one label
    ("wild.hosts.test", "hostless"),       # and not the bare suffix
    ("exact.wild.hosts.test", "exactwild"),  # exact beats wildcard
    ("EXACT.wild.hosts.test:80", "exactwild"),
])
def test_wildcard_hosts(px, scheme, host, svc):
    r = px.fetch(scheme, "/", host=host)
    assert r.service == svc, r


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("host", ["unknown.hosts.test", "127.0.0.1", "127.0.0.1:8080", "[::1]:8080",
                                  "hosts.test", "xexact.hosts.test"])
def test_hostless_rule_takes_unmatched_hosts(px, scheme, host):
    r = px.fetch(scheme, "/anything?q=1", host=host)
    assert r.service == "hostless", r


@pytest.mark.parametrize("scheme", SCHEMES)
def test_host_without_matching_path_does_not_fall_through(px, scheme):
    assert px.fetch(scheme, "/only", host="nofall.hosts.test").service == "nofall"
    r = px.fetch(scheme, "/other", host="nofall.hosts.test")
    assert r.status == 404, f"must not fall through to the host-less rule: {r}"
    assert r.header("X-Echo-Service") is None


@pytest.mark.parametrize("scheme", SCHEMES)
def test_wildcard_host_without_matching_path_does_not_fall_through(px, scheme):
    assert px.fetch(scheme, "/only", host="a.wpath.hosts.test").service == "wpath"
    r = px.fetch(scheme, "/other", host="a.wpath.hosts.test")
    assert r.status == 404, r


@pytest.mark.parametrize("scheme", SCHEMES)
def test_exact_host_without_matching_path_does_not_fall_through_to_wildcard(px, scheme):
    assert px.fetch(scheme, "/only", host="only.wild.hosts.test").service == "only"
    r = px.fetch(scheme, "/other", host="only.wild.hosts.test")
    assert r.status == 404, f"the exact host is chosen first; its paths only: {r}"


@pytest.mark.parametrize("scheme", SCHEMES)
def test_host_rule_without_http_uses_its_ingress_default_backend(px, scheme):
    r = px.fetch(scheme, "/any/path?x=1", host="nohttp.hosts.test")
    assert r.service == "nohttp-default", r


@pytest.mark.parametrize("scheme", SCHEMES)
def test_host_without_matching_path_uses_its_ingress_default_backend(px, scheme):
    assert px.fetch(scheme, "/only", host="withdef.hosts.test").service == "withdef"
    assert px.fetch(scheme, "/other", host="WITHDEF.hosts.test:80").service == "withdef-default"
    # that defaultBackend is not a catch-all: other hosts are not sent there
    assert px.fetch(scheme, "/other", host="unknown.hosts.test").service == "hostless"


@pytest.mark.parametrize("scheme", SCHEMES)
def test_missing_host_header_is_400(px, scheme):
    r = px.fetch(scheme, "/", host=None, sni="exact.hosts.test")
    assert r.status == 400, r
    assert r.header("X-Echo-Service") is None


@pytest.mark.parametrize("scheme", SCHEMES)
def test_two_different_host_headers_is_400(px, scheme):
    r = px.fetch(scheme, "/", host=["exact.hosts.test", "a.wild.hosts.test"], sni="exact.hosts.test")
    assert r.status == 400, r
    assert r.header("X-Echo-Service") is None


@pytest.mark.parametrize("scheme", SCHEMES)
def test_controller_404_carries_server_and_date(px, scheme):
    r = px.fetch(scheme, "/other", host="nofall.hosts.test")
    assert r.status == 404, r
    assert r.header("Server"), r.headers
    assert r.header("Date"), r.headers


@pytest.mark.parametrize("scheme", SCHEMES)
def test_http10_without_host_goes_to_hostless_rule(px, scheme):
    # only HTTP/1.1 requires Host; an HTTP/1.0 request without one matches no host rule
    r = px.fetch(scheme, "/x", host=None, version="HTTP/1.0", sni="exact.hosts.test")
    assert r.service == "hostless", r


@pytest.mark.parametrize("scheme", SCHEMES)
def test_400_without_host_carries_server_and_date(px, scheme):
    r = px.fetch(scheme, "/", host=None, sni="exact.hosts.test")
    assert r.status == 400, r
    assert r.header("Server") and r.header("Date"), f"responses always carry Server and Date: {r.headers}"


@pytest.mark.parametrize("scheme", SCHEMES)
def test_two_different_hosts_rejected_by_the_parser(px, scheme):
    """HAProxy's HTTP/1 parser refuses the request before any rule runs, so this 400 is
    HAProxy's built-in page (no Server or Date header; doc/routing.md says so)."""
    r = px.fetch(scheme, "/", host=["exact.hosts.test", "a.wild.hosts.test"], sni="exact.hosts.test")
    assert r.status == 400, r
    assert r.service is None, r


@pytest.mark.parametrize("scheme", SCHEMES)
def test_each_request_on_a_keep_alive_connection_is_routed_on_its_own(px, scheme):
    sock = socket.create_connection(("127.0.0.1", px.https if scheme == "https" else px.http), timeout=5)
    if scheme == "https":
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        sock = ctx.wrap_socket(sock, server_hostname="exact.hosts.test")
    got = []
    with sock, sock.makefile("rb") as f:
        for host, svc in [("exact.hosts.test", "exact"), ("a.wild.hosts.test", "wild"),
                          ("nofall.hosts.test", None), ("unknown.hosts.test", "hostless"),
                          ("exact.hosts.test", "exact")]:
            sock.sendall(f"GET /only HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
            r = _read_response(f, "GET")
            got.append((host, r.service if r.status == 200 else r.status))
    assert got == [("exact.hosts.test", "exact"), ("a.wild.hosts.test", "wild"),
                   ("nofall.hosts.test", "nofall"), ("unknown.hosts.test", "hostless"),
                   ("exact.hosts.test", "exact")], got
