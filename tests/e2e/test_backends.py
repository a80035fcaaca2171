"""routing.md, "Backends": port resolution, endpoint conditions, spreading,
503 cases, defaultBackend / catch-alls, --default-backend-service, requests
and responses passed unchanged, Server header added."""

import re
import threading
import time
from collections import Counter

import pytest

from helpers import (Exact, backend, endpoint, endpoint_slice, ingress, path, request, rule, service,
                     wait_for)

SCHEMES = ["http", "https"]
NEWER = "2021-06-01T00:00:00Z"

ECHO_SERVICES = {
    "named-web": ["127.0.0.1"], "named-admin": ["127.0.0.1"],
    "unnamed": ["127.0.0.1"],
    "cond": ["127.0.0.2", "127.0.0.3", "127.0.0.4"],
    "spread": ["127.0.0.5", "127.0.0.6", "127.0.0.7"],
    "noready": ["127.0.0.8"],
    "catchall": ["127.0.0.1"], "catchall-new": ["127.0.0.1"],
    "dbx": ["127.0.0.1"], "dbdef": ["127.0.0.1"],
    "req": ["127.0.0.1"],
    "live-ep": ["127.0.0.9", "127.0.0.10"],
    "multi": ["127.0.0.11", "127.0.0.12"],
}


def objects(echo):
    p = echo.ports
    objs = [
        # Two named ports with named targetPorts; the slice lists them in the other order.
        service("named", [{"name": "web", "port": 80, "targetPort": "http-web"},
                          {"name": "admin", "port": 81, "targetPort": "http-admin"}]),
        endpoint_slice("named", [endpoint("127.0.0.1")], [("admin", p["named-admin"]), ("web", p["named-web"])]),
        # One unnamed port: both names are "".
        service("unnamed", [{"port": 80, "targetPort": 8080}]),
        endpoint_slice("unnamed", [endpoint("127.0.0.1")], [(None, p["unnamed"])]),
        # Only 127.0.0.2 is ready; .3 is not serving; .4 is serving but terminating.
        service("cond"),
        endpoint_slice("cond", [endpoint("127.0.0.2"),
                                endpoint("127.0.0.3", ready=False, serving=False),
                                endpoint("127.0.0.4", ready=False, serving=True, terminating=True)],
                       [("http", p["cond"])]),
        service("noready"),
        endpoint_slice("noready", [endpoint("127.0.0.8", ready=False, serving=False)], [("http", p["noready"])]),
        service("noslice"),
        # One Service, two EndpointSlices: endpoints are the union.
        service("multi"),
        endpoint_slice("multi", [endpoint("127.0.0.11")], [("http", p["multi"])], name="multi-a"),
        endpoint_slice("multi", [endpoint("127.0.0.12")], [("http", p["multi"])], name="multi-b"),
    ]
    for s in ("spread", "catchall", "catchall-new", "dbx", "dbdef", "req"):
        objs += echo.objects(s)
    return objs


def live_ep_objects(echo, eps):
    return [service("live-ep"), endpoint_slice("live-ep", eps, [("http", echo.ports["live-ep"])])]


@pytest.fixture(scope="module")
def stack(module_launcher):
    echo = module_launcher.echo(ECHO_SERVICES)
    m = module_launcher.manifests()
    m.write("services.yaml", objects(echo))
    m.write("live-ep.yaml", live_ep_objects(echo, [endpoint("127.0.0.9")]))
    h = "b.backends.test"
    m.write("ingresses.yaml", [
        ingress("ports", [rule(h,
                               path("/by-name-web", "named", Exact, port="web"),
                               path("/by-name-admin", "named", Exact, port="admin"),
                               path("/by-number-80", "named", Exact, port=80),
                               path("/by-number-81", "named", Exact, port=81),
                               path("/unnamed", "unnamed", Exact, port=80),
                               path("/cond", "cond", Exact),
                               path("/spread", "spread", Exact),
                               path("/live-ep", "live-ep", Exact),
                               path("/noready", "noready", Exact),
                               path("/noslice", "noslice", Exact),
                               path("/multi", "multi", Exact))]),
        # Services are looked up in the Ingress's namespace: "req" exists only in default.
        ingress("err-other-ns", [rule(h, path("/other-ns", "req", Exact))], ns="elsewhere"),
        ingress("err-ghost", [rule(h, path("/ghost", "ghost", Exact))]),
        ingress("err-port-number", [rule(h, path("/bad-port-number", "named", Exact, port=99))]),
        ingress("err-port-name", [rule(h, path("/bad-port-name", "named", Exact, port="nope"))]),
        ingress("err-resource", [rule(h, {"path": "/resource", "pathType": "Exact", "backend": {
            "resource": {"apiGroup": "k8s.example.com", "kind": "StorageBucket", "name": "bucket"}}})]),
        ingress("req", [rule("req.backends.test", path("/", "req"))]),
        ingress("dbhost", [rule("db.backends.test", path("/x", "dbx", Exact))], default_backend=backend("dbdef")),
    ])
    # Two catch-alls; the newer one is first in file order.
    m.write("catchall.yaml", [
        ingress("catchall-new", default_backend=backend("catchall-new"), created=NEWER),
        ingress("catchall-old", default_backend=backend("catchall")),
    ])
    px = module_launcher.portico(m)
    px.echo_ports = echo.ports
    return px, m, echo


@pytest.fixture(scope="module")
def px(stack):
    return stack[0]


H = "b.backends.test"


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("req_path,svc", [
    ("/by-name-web", "named-web"),
    ("/by-name-admin", "named-admin"),
    ("/by-number-80", "named-web"),
    ("/by-number-81", "named-admin"),
    ("/unnamed", "unnamed"),
])
def test_port_resolution(px, scheme, req_path, svc):
    r = px.fetch(scheme, req_path, host=H)
    assert r.service == svc, r


@pytest.mark.parametrize("scheme", SCHEMES)
def test_only_ready_endpoints_get_requests(px, scheme):
    eps = Counter(px.fetch(scheme, "/cond", host=H).endpoint for _ in range(24))
    assert set(eps) == {f"127.0.0.2:{px_port(px, 'cond')}"}, eps


def px_port(px, name):
    return px.echo_ports[name]


@pytest.mark.parametrize("scheme", SCHEMES)
def test_traffic_spreads_over_all_ready_endpoints(px, scheme):
    eps = Counter(px.fetch(scheme, "/spread", host=H).endpoint for _ in range(45))
    port = px_port(px, "spread")
    assert set(eps) == {f"127.0.0.{i}:{port}" for i in (5, 6, 7)}, eps


@pytest.mark.parametrize("scheme", SCHEMES)
def test_endpoints_from_all_slices_of_a_service(px, scheme):
    eps = Counter(px.fetch(scheme, "/multi", host=H).endpoint for _ in range(30))
    port = px_port(px, "multi")
    assert set(eps) == {f"127.0.0.11:{port}", f"127.0.0.12:{port}"}, eps


def assert_503(r):
    assert r.status == 503, r
    assert r.header("X-Echo-Service") is None
    assert r.header("Server"), f"503 must carry a Server header: {r.headers}"
    assert r.header("Date"), f"503 must carry a Date header: {r.headers}"


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("req_path", ["/noready", "/noslice", "/ghost", "/bad-port-number", "/bad-port-name",
                                      "/resource", "/other-ns"])
def test_503_cases(px, scheme, req_path):
    assert_503(px.fetch(scheme, req_path, host=H))


@pytest.mark.parametrize("name", ["err-ghost", "err-port-number", "err-port-name", "err-resource"])
def test_missing_backend_warns_on_ingress(px, name):
    lines = [ln for ln in px.log_text().splitlines() if re.search(r"warn", ln, re.I)]
    assert any(name in ln for ln in lines), \
        f"expected a warning naming Ingress default/{name}:\n" + "\n".join(lines[-20:])


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("host", ["nothing.backends.test", "127.0.0.1", "other.test:8080"])
def test_oldest_catch_all_takes_unmatched_requests(px, scheme, host):
    r = px.fetch(scheme, "/some/where?x=1", host=host)
    assert r.service == "catchall", r


@pytest.mark.parametrize("scheme", SCHEMES)
def test_default_backend_of_ingress_with_rules_applies_to_its_hosts_only(px, scheme):
    assert px.fetch(scheme, "/x", host="db.backends.test").service == "dbx"
    assert px.fetch(scheme, "/elsewhere", host="db.backends.test").service == "dbdef"
    assert px.fetch(scheme, "/elsewhere", host="not-db.backends.test").service == "catchall"


@pytest.mark.parametrize("scheme", SCHEMES)
def test_request_reaches_backend_unchanged(px, scheme):
    body = "hello=world&x=1"
    target = "/some/Path%20x/?a=1&b=%2F&c"
    host = "Req.Backends.Test:8443"
    r = px.fetch(scheme, target, host=host, method="POST", body=body,
                 headers=[("X-Custom", "one"), ("X-Custom", "two"), ("Content-Type", "text/plain"),
                          ("Cookie", "a=b; c=d"), ("X-Mixed-CASE", "Value With  Spaces")],
                 sni="req.backends.test")
    assert r.service == "req", r
    j = r.json
    assert j["method"] == "POST"
    assert j["path"] == target
    assert j["host"] == host
    assert j["body"] == body
    got = [(n.lower(), v) for n, v in j["header_list"]]
    assert ("x-custom", "one") in got and ("x-custom", "two") in got, got
    assert ("cookie", "a=b; c=d") in got
    assert ("x-mixed-case", "Value With  Spaces") in got
    assert ("content-type", "text/plain") in got


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"])
def test_methods_pass_through(px, scheme, method):
    r = px.fetch(scheme, "/m", host="req.backends.test", method=method)
    assert r.status == 200, r
    assert r.header("X-Echo-Service") == "req"
    if method != "HEAD":
        assert r.json["method"] == method


@pytest.mark.parametrize("scheme", SCHEMES)
def test_forwarded_headers_added(px, scheme):
    # doc/routing.md: Portico adds X-Forwarded-For and X-Forwarded-Proto
    r = px.fetch(scheme, "/xf", host="req.backends.test")
    h = {n.lower(): v for n, v in r.json["header_list"]}
    assert h.get("x-forwarded-proto") == scheme, h
    assert h.get("x-forwarded-for") == "127.0.0.1", h


@pytest.mark.parametrize("scheme", SCHEMES)
def test_response_headers_and_server_added(px, scheme):
    r = px.fetch(scheme, "/plain", host="req.backends.test")
    assert r.service == "req"
    assert r.header("X-Echo-Service") == "req"
    assert r.header("X-Echo-Endpoint")
    assert r.header("Content-Type") == "application/json"
    assert int(r.header("Content-Length")) == len(r.body)
    assert r.header("Date")
    assert r.header_all("Server") == ["portico"], r.headers


@pytest.mark.parametrize("scheme", SCHEMES)
def test_backend_server_header_kept(px, scheme):
    r = px.fetch(scheme, "/with-server-header", host="req.backends.test")
    assert r.service == "req"
    assert r.header_all("Server") == ["echo"], r.headers


def test_endpoint_changes_live_and_terminating_finishes_in_flight(stack):
    px, m, echo = stack
    port = echo.ports["live-ep"]
    assert px.get("/live-ep", host=H).endpoint == f"127.0.0.9:{port}"
    result = {}

    def slow():
        try:
            result["r"] = request(px.http, "/live-ep", host=H, headers=[("X-Echo-Delay-Ms", "1500")], timeout=10)
        except Exception as e:  # noqa: BLE001
            result["e"] = e

    t = threading.Thread(target=slow)
    t.start()
    time.sleep(0.3)  # let the slow request reach the backend (not an assertion)
    m.write("live-ep.yaml", live_ep_objects(echo, [
        endpoint("127.0.0.9", ready=False, serving=True, terminating=True),
        endpoint("127.0.0.10")]))
    wait_for(lambda: px.get("/live-ep", host=H).endpoint == f"127.0.0.10:{port}", what="new endpoint used")
    eps = Counter(px.get("/live-ep", host=H).endpoint for _ in range(12))
    assert set(eps) == {f"127.0.0.10:{port}"}, f"terminating endpoint must get nothing new: {eps}"
    t.join(10)
    assert "e" not in result, f"in-flight request to the terminating endpoint failed: {result.get('e')!r}"
    assert result["r"].status == 200 and result["r"].endpoint == f"127.0.0.9:{port}", result["r"]
    # all gone -> 503, back -> 200
    m.write("live-ep.yaml", live_ep_objects(echo, [endpoint("127.0.0.10", ready=False, serving=False)]))
    wait_for(lambda: px.get("/live-ep", host=H).status == 503, what="503 with no ready endpoint")
    m.write("live-ep.yaml", live_ep_objects(echo, [endpoint("127.0.0.9"), endpoint("127.0.0.10")]))
    wait_for(lambda: {px.get("/live-ep", host=H).endpoint for _ in range(8)} ==
             {f"127.0.0.9:{port}", f"127.0.0.10:{port}"}, what="both endpoints used")


def test_default_backend_service_flag(launcher):
    echo = launcher.echo({"fallback": ["127.0.0.1"], "known": ["127.0.0.1"]})
    m = launcher.manifests()
    m.write("all.yaml", echo.objects("fallback", ns="infra") + echo.objects("known") + [
        ingress("known", [rule("known.dbs.test", path("/only", "known", Exact))])])
    px = launcher.portico(m, args=["--default-backend-service=infra/fallback"])
    for scheme in SCHEMES:
        assert px.fetch(scheme, "/only", host="known.dbs.test").service == "known"
        r = px.fetch(scheme, "/x?y=1", host="unknown.dbs.test")
        assert r.service == "fallback", r
        assert r.json["path"] == "/x?y=1" and r.json["host"] == "unknown.dbs.test"
        assert px.fetch(scheme, "/other", host="known.dbs.test").service == "fallback"
    # doc/routing.md: a catch-all Ingress takes precedence over --default-backend-service
    m.write("catchall.yaml", echo.objects("known", ns="ca") + [
        ingress("catchall", ns="ca", default_backend=backend("known"))])
    px.wait_service("unknown.dbs.test", "/x", "known")

