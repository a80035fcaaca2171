"""ingress-nginx's server-alias, default-backend and custom-http-errors, and
request-capture on an Ingress, through the real HAProxy (doc/migrate.md):
an alias host served as the rule host is (paths, certificate, redirect);
the default-backend Service answering while the route's Service has no
ready endpoint and no more once it has one again, without a reload; an
endpoint's 503 and 404 replaced by the error pages, for one Ingress by its
annotation or for all by the ConfigMap's key; an Ingress's captures
in the access log of its own requests only."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from helpers import (cert_names, config_map, endpoint, endpoint_slice, ingress, path, rule,
                     service, tls_peer_cert, tls_secret, wait_for)
from ports import free_port

NGINX = "nginx.ingress.kubernetes.io/"
PAGE_503 = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n\r\nportico says later\n"


class StatusHandler(BaseHTTPRequestHandler):
    """Answers /status/N with status N and a body of its own."""

    def do_GET(self):
        code = int(self.path.rsplit("/", 1)[-1]) if self.path.startswith("/status/") else 200
        body = f"endpoint says {code}\n".encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def status_server():
    port = free_port()
    srv = ThreadingHTTPServer(("127.0.0.1", port), StatusHandler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield port
    srv.shutdown()
    srv.server_close()


def test_server_alias(launcher, certs):
    """The alias gets the rule host's paths and backends, its certificate
    (nginx serves an alias from the host's server block) and its redirect; an
    alias naming another Ingress's host is ignored with a warning."""
    echo = launcher.echo({"web": ["127.0.0.1"], "cart": ["127.0.0.2"], "other": ["127.0.0.3"]})
    m = launcher.manifests()
    m.write("svc.yaml", echo.objects("web") + echo.objects("cart") + echo.objects("other"))
    m.write("secret.yaml", tls_secret("shop-tls", certs.get("shop.alias.test", sans=[
        "shop.alias.test", "www.shop.alias.test"])))
    m.write("other.yaml", ingress("other", [rule("other.alias.test", path("/", "other"))]))
    shop = ingress("shop", [rule("shop.alias.test", path("/", "web"), path("/cart", "cart"))],
                   annotations={NGINX + "server-alias": "www.shop.alias.test, other.alias.test"})
    shop["spec"]["tls"] = [{"hosts": ["shop.alias.test"], "secretName": "shop-tls"}]
    m.write("shop.yaml", shop)
    px = launcher.portico(m)
    px.wait_service("shop.alias.test", "/", "web", scheme="https")

    r = px.get_tls("/cart/x", host="www.shop.alias.test")
    assert r.service == "cart", r
    assert px.get_tls("/", host="WWW.Shop.alias.test:443").service == "web"
    der = tls_peer_cert(px.https, "www.shop.alias.test")
    assert "www.shop.alias.test" in cert_names(der)[1]
    r = px.get("/cart?q=1", host="www.shop.alias.test")
    assert r.status == 308 and r.header("Location") == "https://www.shop.alias.test/cart?q=1", r
    # an existing host is never taken by an alias
    assert px.get("/", host="other.alias.test").service == "other"
    assert 'alias \\"other.alias.test\\" is the host of a rule of ingress/default/other' \
        in px.log_text()

    # the alias removed: its host answers 404, no reload needed for it
    reloads = px.master_reloads()
    shop["metadata"]["annotations"] = {}
    m.write("shop.yaml", shop)
    wait_for(lambda: px.get("/", host="www.shop.alias.test").status == 404,
             what="the alias host gone")
    assert px.get("/", host="shop.alias.test").status == 308
    assert px.master_reloads() == reloads


def test_default_backend(launcher):
    """The default-backend Service's endpoints are backup servers: they answer
    while the route's Service has no ready endpoint, and stop once it has
    one again, all without a reload."""
    echo = launcher.echo({"app": ["127.0.0.1"], "fallback": ["127.0.0.4", "127.0.0.5"]})
    m = launcher.manifests()
    m.write("fallback.yaml", echo.objects("fallback"))
    app_svc = service("app")

    def app_endpoints(ready):
        return [app_svc, endpoint_slice("app", [endpoint("127.0.0.1", ready=ready)],
                                        [("http", echo.port("app"))])]

    m.write("app.yaml", app_endpoints(True))
    m.write("ing.yaml", ingress("app", [rule("app.fallback.test", path("/", "app"))],
                                annotations={NGINX + "default-backend": "fallback"}))
    px = launcher.portico(m)
    px.wait_service("app.fallback.test", "/", "app")
    px.settle()
    reloads = px.master_reloads()

    # scaled to 0: the fallback answers, from both of its endpoints
    m.write("app.yaml", app_endpoints(False))
    px.wait_service("app.fallback.test", "/", "fallback")
    seen = {px.get("/", host="app.fallback.test").endpoint for _ in range(8)}
    assert len(seen) == 2, seen
    # back: the route's Service again
    m.write("app.yaml", app_endpoints(True))
    px.wait_service("app.fallback.test", "/", "app")
    # the fallback's own endpoints change at run time too
    m.write("fallback.yaml", [service("fallback"), endpoint_slice(
        "fallback", [endpoint("127.0.0.4")], [("http", echo.port("fallback"))])])
    m.write("app.yaml", app_endpoints(False))
    px.wait_service("app.fallback.test", "/", "fallback")
    assert {px.get("/", host="app.fallback.test").endpoint for _ in range(6)} == \
        {f"127.0.0.4:{echo.port('fallback')}"}
    assert px.master_reloads() == reloads


def test_custom_http_errors(launcher, status_server):
    """An endpoint's 503 becomes --configmap-errorfiles's page, its 404
    HAProxy's own 404 page; a status not listed passes; 415 is refused
    with a warning naming the annotation."""
    m = launcher.manifests()
    m.write("svc.yaml", [service("codes"), endpoint_slice(
        "codes", [endpoint("127.0.0.1")], [("http", status_server)])])
    m.write("ing.yaml", ingress("codes", [rule("codes.errors.test", path("/", "codes"))],
                                annotations={NGINX + "custom-http-errors": "503,404,415"}))
    m.write("plain.yaml", ingress("plain", [rule("plain.errors.test", path("/", "codes"))]))
    m.write("cm.yaml", config_map("errors", {"503": PAGE_503}))
    px = launcher.portico(m, args=["--configmap-errorfiles=default/errors"])
    px.wait_status("codes.errors.test", "/status/200", 200)

    r = px.get("/status/503", host="codes.errors.test")
    assert (r.status, r.body) == (503, b"portico says later\n"), r
    r = px.get("/status/404", host="codes.errors.test")
    assert r.status == 404 and b"endpoint says" not in r.body, r
    r = px.get("/status/500", host="codes.errors.test")
    assert (r.status, r.body) == (500, b"endpoint says 500\n"), r
    # the Ingress without the annotation: the endpoint's own answers
    r = px.get("/status/503", host="plain.errors.test")
    assert (r.status, r.body) == (503, b"endpoint says 503\n"), r
    assert (f'metadata.annotations[\\"{NGINX}custom-http-errors\\"]: 415 left out'
            in px.log_text())


def test_custom_http_errors_configmap(launcher, status_server):
    """The ConfigMap's custom-http-errors for every Ingress (ingress-nginx's
    ConfigMap key); an Ingress's annotation replaces the list for its
    routes; a code HAProxy has no page for is left out with a warning
    naming the ConfigMap and the key; a new list reloads, and an emptied
    key gives the endpoints their own answers back."""
    m = launcher.manifests()
    m.write("svc.yaml", [service("codes"), endpoint_slice(
        "codes", [endpoint("127.0.0.1")], [("http", status_server)])])
    m.write("plain.yaml", ingress("plain", [rule("plain.cm-errors.test", path("/", "codes"))]))
    m.write("slow.yaml", ingress("slow", [rule("slow.cm-errors.test", path("/", "codes"))],
                                 annotations={"portico.dev/timeout-server": "90s"}))
    m.write("own.yaml", ingress("own", [rule("own.cm-errors.test", path("/", "codes"))],
                                annotations={NGINX + "custom-http-errors": "404"}))
    m.write("cm.yaml", [config_map("portico-config", {"custom-http-errors": "503,418"}),
                        config_map("errors", {"503": PAGE_503})])
    px = launcher.portico(m, args=["--configmap=default/portico-config",
                                   "--configmap-errorfiles=default/errors"])
    px.wait_status("plain.cm-errors.test", "/status/200", 200)
    px.wait_status("own.cm-errors.test", "/status/200", 200)

    for host in ("plain.cm-errors.test", "slow.cm-errors.test"):
        r = px.get("/status/503", host=host)
        assert (r.status, r.body) == (503, b"portico says later\n"), (host, r)
        r = px.get("/status/404", host=host)
        assert (r.status, r.body) == (404, b"endpoint says 404\n"), (host, r)
    # the annotation's list instead of the ConfigMap's
    r = px.get("/status/503", host="own.cm-errors.test")
    assert (r.status, r.body) == (503, b"endpoint says 503\n"), r
    r = px.get("/status/404", host="own.cm-errors.test")
    assert r.status == 404 and b"endpoint says" not in r.body, r
    log = px.log_text()
    assert "configmap/default/portico-config" in log, log
    assert 'data[\\"custom-http-errors\\"]: 418 left out' in log, log

    # the key emptied: the endpoints' own answers again
    m.write("cm.yaml", [config_map("portico-config", {"custom-http-errors": ""}),
                        config_map("errors", {"503": PAGE_503})])
    wait_for(lambda: px.get("/status/503", host="plain.cm-errors.test").body ==
             b"endpoint says 503\n", what="the ConfigMap's list gone")
    px.settle()  # a reload: the old worker may answer a last request
    r = px.get("/status/503", host="slow.cm-errors.test")
    assert (r.status, r.body) == (503, b"endpoint says 503\n"), r


def test_request_capture_per_ingress(launcher):
    """The ConfigMap's capture for every request, an Ingress's own only in
    the log lines of requests routed to it."""
    echo = launcher.echo({"web": ["127.0.0.1"], "api": ["127.0.0.2"]})
    m = launcher.manifests()
    m.write("svc.yaml", echo.objects("web") + echo.objects("api"))
    m.write("web.yaml", ingress("web", [rule("web.capture.test", path("/", "web"))],
                                annotations={"portico.dev/request-capture": "req.fhdr(user-agent)",
                                             "portico.dev/request-capture-len": "5"}))
    m.write("api.yaml", ingress("api", [rule("api.capture.test", path("/", "api"))]))
    m.write("cm.yaml", config_map("portico-config", {
        "syslog-server": "address:stdout, format:raw",
        "log-format": "portico-capture %HP %hr",
        "request-capture": "req.hdr(x-id)"}))
    px = launcher.portico(m, args=["--configmap=default/portico-config"])
    px.wait_service("web.capture.test", "/", "web")
    px.wait_service("api.capture.test", "/", "api")
    ua = [("User-Agent", "probe/1.0"), ("X-Id", "42")]
    assert px.get("/w", host="web.capture.test", headers=ua).service == "web"
    assert px.get("/a", host="api.capture.test", headers=ua).service == "api"
    wait_for(lambda: "portico-capture /w {42|probe}" in px.log_text(),
             what="the Ingress's capture, cut to its length, after the ConfigMap's")
    wait_for(lambda: "portico-capture /a {42|}" in px.log_text(),
             what="no capture of the other Ingress's")
    assert "probe" not in [ln for ln in px.log_text().splitlines() if "portico-capture /a" in ln][0]
