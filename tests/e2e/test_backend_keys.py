"""The backend keys (doc/config/) through the real HAProxy: each annotation's
effect seen by the client or by the echo backend, byte for byte, and an
Ingress without keys on the same Service left as it was."""

import socket
import ssl
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from helpers import LOOPBACK, config_map, ingress, path, rule, service_with_endpoints, wait_for
from ports import free_port


def test_backend_keys_take_effect(launcher):
    echo = launcher.echo({"web": ["127.0.0.1", "127.0.0.2"]})
    m = launcher.manifests()
    m.write("svc.yaml", echo.objects("web"))

    def ing(name, **ann):
        return ingress(name, [rule(f"{name}.keys.test", path("/", "web"))],
                       annotations={f"portico.dev/{k.replace('_', '-')}": v
                                    for k, v in ann.items()})

    m.write("plain.yaml", ing("plain"))
    m.write("allowed.yaml", ing("allowed", allow_list="10.0.0.0/8, 127.0.0.0/8"))
    m.write("outside.yaml", ing("outside", allow_list="10.0.0.0/8"))
    m.write("denied.yaml", ing("denied", deny_list="127.0.0.1"))
    m.write("rewrite.yaml", ing("rewrite", path_rewrite="^/api/(.*) /v2/\\1\n^/v2/old/(.*) /v2/new/\\1",
                                set_host="internal.example:8080"))
    m.write("headers.yaml", ing("headers",
                                request_set_header="X-Env staging\nX-Raw 100% %[env(HOME)] \\n",
                                response_set_header="X-Frame-Options DENY"))
    m.write("cors.yaml", ing("cors", cors_enable="true", cors_respond_to_options="true",
                             cors_allow_origin="https://a.example, https://b.example",
                             cors_allow_methods="GET, POST", cors_allow_credentials="true",
                             cors_max_age="10m"))
    m.write("lc.yaml", ing("lc", load_balance="leastconn"))
    m.write("cors-app.yaml", ing("cors-app", cors_enable="true", cors_allow_methods="GET, PUT"))
    m.write("cors-re.yaml", ing("cors-re", cors_enable="true",
                                cors_allow_origin=r"^https://([a-z]+\.)?example\.org$"))
    m.write("moved.yaml", ing("moved", request_redirect="www.example.test:8080",
                              request_redirect_code="301"))
    nginx = "nginx.ingress.kubernetes.io/"
    m.write("nginx.yaml", ingress("nginx", [rule("nginx.keys.test", path("/", "web"))],
                                  annotations={nginx + "whitelist-source-range": "127.0.0.1/32",
                                               nginx + "upstream-vhost": "vhost.example"}))
    m.write("nginx-out.yaml", ingress("nginx-out", [rule("nginx-out.keys.test", path("/", "web"))],
                                      annotations={nginx + "denylist-source-range": "127.0.0.0/8"}))
    px = launcher.portico(m)
    for name in ("plain", "allowed", "rewrite", "headers", "cors", "lc", "nginx", "cors-app",
                 "cors-re"):
        px.wait_service(f"{name}.keys.test", "/", "web")

    # access lists: the client is 127.0.0.1
    assert px.get("/", host="outside.keys.test").status == 403
    assert px.get("/", host="denied.keys.test").status == 403
    assert px.get_tls("/", host="outside.keys.test").status == 403
    # ingress-nginx's, translated
    assert px.get("/", host="nginx-out.keys.test").status == 403
    assert px.get("/", host="nginx.keys.test").json["host"] == "vhost.example"

    # the endpoints see the rewritten path (query kept) and Host
    r = px.get("/api/users?id=7", host="rewrite.keys.test")
    assert r.json["path"] == "/v2/users?id=7", r.json
    assert r.json["host"] == "internal.example:8080"
    assert px.get("/other", host="rewrite.keys.test").json["path"] == "/other"
    # rewrites apply in turn
    assert px.get("/api/old/x", host="rewrite.keys.test").json["path"] == "/v2/new/x"

    # headers arrive exactly as written: '%' and backslashes are not HAProxy's
    r = px.get("/", host="headers.keys.test", headers=[("X-Env", "client")])
    raw = dict((k.lower(), v) for k, v in r.json["header_list"])
    assert raw["x-env"] == "staging"
    assert raw["x-raw"] == "100% %[env(HOME)] \\n"
    assert r.header("X-Frame-Options") == "DENY"
    assert px.get("/", host="plain.keys.test").header("X-Frame-Options") is None

    # CORS: a preflight is answered by HAProxy; a listed origin is echoed
    pre = px.get("/x", host="cors.keys.test", method="OPTIONS",
                 headers=[("Origin", "https://b.example"),
                          ("Access-Control-Request-Method", "POST")])
    assert pre.status == 204 and pre.header("X-Echo-Service") is None, pre.status
    assert pre.header("Access-Control-Allow-Origin") == "https://b.example"
    assert pre.header("Access-Control-Allow-Methods") == "GET, POST"
    assert pre.header("Access-Control-Max-Age") == "600"
    assert pre.header("Access-Control-Allow-Credentials") == "true"
    r = px.get("/x", host="cors.keys.test", headers=[("Origin", "https://a.example")])
    assert r.service == "web" and r.header("Access-Control-Allow-Origin") == "https://a.example"
    r = px.get("/x", host="cors.keys.test", headers=[("Origin", "https://evil.example")])
    assert r.service == "web" and r.header("Access-Control-Allow-Origin") is None
    evil = px.get("/x", host="cors.keys.test", method="OPTIONS",
                  headers=[("Origin", "https://evil.example"),
                           ("Access-Control-Request-Method", "POST")])
    assert evil.service == "web"  # not a preflight Portico allows: the app decides
    assert evil.header("Access-Control-Allow-Origin") is None
    # without cors-respond-to-options the app answers preflights; headers added
    app = px.get("/x", host="cors-app.keys.test", method="OPTIONS",
                 headers=[("Origin", "https://sub.example.org"),
                          ("Access-Control-Request-Method", "PUT")])
    assert app.service == "web" and app.json["method"] == "OPTIONS"
    assert app.header("Access-Control-Allow-Origin") == "*"
    assert app.header("Access-Control-Allow-Methods") == "GET, PUT"
    r = px.get("/x", host="cors-app.keys.test", headers=[("Origin", "https://sub.example.org")])
    assert r.header("Access-Control-Allow-Origin") == "*"
    assert r.header("Access-Control-Allow-Methods") is None
    r = px.get("/x", host="cors-re.keys.test", headers=[("Origin", "https://a.example.org")])
    assert r.header("Access-Control-Allow-Origin") == "https://a.example.org"
    r = px.get("/x", host="cors-re.keys.test", headers=[("Origin", "https://example.org.evil")])
    assert r.header("Access-Control-Allow-Origin") is None

    # request-redirect keeps the path and query
    r = px.get("/p/q?x=1", host="moved.keys.test")
    assert r.status == 301 and r.header("Location") == "http://www.example.test:8080/p/q?x=1"

    # a leastconn backend still gets its endpoints at run time, without a reload
    reloads = px.settle()
    m.write("svc.yaml", service_with_endpoints("web", ["127.0.0.1"], echo.port("web")))
    wait_for(lambda: {px.get("/", host="lc.keys.test").json["endpoint"].split(":")[0]
                      for _ in range(6)} == {"127.0.0.1"})
    m.write("svc.yaml", echo.objects("web"))
    wait_for(lambda: len({px.get("/", host="lc.keys.test").json["endpoint"]
                          for _ in range(10)}) == 2)
    assert px.settle() == reloads

    # keys removed: the Ingress is back on the Service's plain backend
    m.write("outside.yaml", ing("outside"))
    px.wait_service("outside.keys.test", "/", "web")


@pytest.fixture
def tls_backend(tmp_path):
    """`openssl s_server -www`: a TLS endpoint that answers any GET with 200."""
    key, crt = tmp_path / "k.pem", tmp_path / "c.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", crt,
                    "-days", "1", "-subj", "/CN=backend"], check=True, capture_output=True)
    port = free_port()
    proc = subprocess.Popen(["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-www",
                             "-key", key, "-cert", crt, "-quiet"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    yield port
    proc.terminate()
    proc.wait(5)


def test_server_ssl(launcher, tls_backend):
    m = launcher.manifests()
    m.write("svc.yaml", service_with_endpoints("tls", ["127.0.0.1"], tls_backend))
    m.write("ing.yaml", ingress("tls", [rule("tls.keys.test", path("/", "tls"))],
                                annotations={"portico.dev/server-ssl": "true"}))
    m.write("nginx.yaml", ingress("nginx", [rule("nginx-tls.keys.test", path("/", "tls"))],
                                  annotations={"nginx.ingress.kubernetes.io/backend-protocol":
                                               "HTTPS"}))
    m.write("plain.yaml", ingress("plain", [rule("plain.keys.test", path("/", "tls"))]))
    px = launcher.portico(m)
    r = wait_for(lambda: (lambda r: r if r.status == 200 else None)(
        px.get("/", host="tls.keys.test")))
    assert b"s_server" in r.body
    assert b"s_server" in px.get("/", host="nginx-tls.keys.test").body
    # without the key HAProxy speaks plain HTTP to the TLS port: no 200
    assert px.get("/", host="plain.keys.test").status != 200


def test_rate_limit(launcher):
    """Over the limit, the client gets the status; another Ingress on the same
    Service, and a client in the whitelist, are not limited."""
    echo = launcher.echo({"web": ["127.0.0.1"]})
    m = launcher.manifests()
    m.write("svc.yaml", echo.objects("web"))
    m.write("limited.yaml", ingress("limited", [rule("limited.keys.test", path("/", "web"))],
                                    annotations={"portico.dev/rate-limit-requests": "5",
                                                 "portico.dev/rate-limit-period": "1m"}))
    m.write("exempt.yaml", ingress("exempt", [rule("exempt.keys.test", path("/", "web"))],
                                   annotations={"portico.dev/rate-limit-requests": "5",
                                                "portico.dev/rate-limit-period": "1m",
                                                "portico.dev/rate-limit-whitelist": "127.0.0.0/8"}))
    m.write("nginx.yaml", ingress("nginx", [rule("nginx-limit.keys.test", path("/", "web"))],
                                  annotations={"nginx.ingress.kubernetes.io/limit-rpm": "3"}))
    m.write("free.yaml", ingress("free", [rule("free.keys.test", path("/", "web"))]))
    px = launcher.portico(m)
    px.wait_service("free.keys.test", "/", "web")
    px.wait_service("exempt.keys.test", "/", "web")
    codes = [px.get("/", host="limited.keys.test").status for _ in range(8)]
    # the first five pass (one of them may have been wait_service's: none here)
    # 403: the HAProxy controller's default status
    assert codes[:5] == [200] * 5 and set(codes[5:]) == {403}, codes
    codes = [px.get("/", host="nginx-limit.keys.test").status for _ in range(5)]
    assert codes[:3] == [200] * 3 and set(codes[3:]) == {503}, codes
    assert {px.get("/", host="exempt.keys.test").status for _ in range(10)} == {200}
    assert {px.get("/", host="free.keys.test").status for _ in range(10)} == {200}


def test_cookie_persistence(launcher):
    echo = launcher.echo({"web": ["127.0.0.1", "127.0.0.2", "127.0.0.3"]})
    m = launcher.manifests()
    m.write("svc.yaml", echo.objects("web"))
    m.write("sticky.yaml", ingress("sticky", [rule("sticky.keys.test", path("/", "web"))],
                                   annotations={"portico.dev/cookie-persistence": "PORTICO"}))
    px = launcher.portico(m)
    px.wait_service("sticky.keys.test", "/", "web")
    first = px.get("/", host="sticky.keys.test")
    cookie = first.header("Set-Cookie")
    assert cookie and cookie.startswith("PORTICO="), first.headers
    endpoint = first.json["endpoint"]
    value = cookie.split(";")[0]
    # with the cookie, always the same endpoint; the cookie never reaches it
    for _ in range(10):
        r = px.get("/", host="sticky.keys.test", headers=[("Cookie", value)])
        assert r.json["endpoint"] == endpoint
        assert "PORTICO" not in r.json["headers"].get("Cookie", "")

    # an endpoint added at run time (no reload) gets its cookie as the
    # others have theirs, and a fresh start gives each endpoint the same one
    def cookies(px):
        seen = {}
        for _ in range(30):
            r = px.get("/", host="sticky.keys.test")
            seen[r.json["endpoint"]] = r.header("Set-Cookie").split(";")[0]
        return seen

    m.write("svc.yaml", service_with_endpoints("web", ["127.0.0.1", "127.0.0.2"],
                                               echo.ports["web"]))
    reloads = px.settle()
    m.write("svc.yaml", echo.objects("web"))
    wait_for(lambda: len(cookies(px)) == 3, what="the added endpoint served")
    assert px.settle() == reloads
    after_churn = cookies(px)
    assert len(set(after_churn.values())) == 3, after_churn
    for ep, c in after_churn.items():
        assert px.get("/", host="sticky.keys.test", headers=[("Cookie", c)]).json["endpoint"] == ep
    px.stop()
    fresh = launcher.portico(m)
    fresh.wait_service("sticky.keys.test", "/", "web")
    assert cookies(fresh) == after_churn


def test_global_tls_keys(launcher):
    """tls-alpn and client-strict-sni on the HTTPS port, and a ConfigMap change
    of them applied."""
    echo = launcher.echo({"web": ["127.0.0.1"]})
    m = launcher.manifests()
    m.write("svc.yaml", echo.objects("web"))
    m.write("ing.yaml", ingress("web", [rule("web.keys.test", path("/", "web"))]))
    m.write("cm.yaml", config_map("portico-config", {"tls-alpn": "http/1.1",
                                                     "client-strict-sni": "true"}))
    px = launcher.portico(m, args=["--configmap=default/portico-config"])
    px.wait_service("web.keys.test", "/", "web")

    def handshake(sni):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.set_alpn_protocols(["h2", "http/1.1"])
        with socket.create_connection((LOOPBACK, px.https), timeout=5) as sock:
            with ctx.wrap_socket(sock, server_hostname=sni) as s:
                return s.selected_alpn_protocol()

    # no certificate names web.keys.test: with strict-sni no handshake at all
    with pytest.raises(ssl.SSLError):
        handshake("web.keys.test")
    m.write("cm.yaml", config_map("portico-config", {"tls-alpn": "h2,http/1.1"}))
    assert wait_for(lambda: handshake("web.keys.test") == "h2")
    m.write("cm.yaml", config_map("portico-config", {"tls-alpn": "http/1.1"}))
    assert wait_for(lambda: handshake("web.keys.test") == "http/1.1")


def test_snippets(launcher):
    """With --enable-config-snippets a backend snippet takes effect; one that
    HAProxy refuses is left out (an error names it) instead of blocking the
    other objects: a new route is served, the running routes stay."""
    echo = launcher.echo({"web": ["127.0.0.1"]})
    m = launcher.manifests()
    m.write("svc.yaml", echo.objects("web"))
    m.write("good.yaml", ingress("good", [rule("good.snip.test", path("/", "web"))],
                                 annotations={"portico.dev/backend-config-snippet":
                                              "http-request set-header X-Snippet on"}))
    px = launcher.portico(m, args=["--enable-config-snippets"])
    px.wait_service("good.snip.test", "/", "web")
    raw = dict((k.lower(), v) for k, v in px.get("/", host="good.snip.test").json["header_list"])
    assert raw["x-snippet"] == "on"

    # passes Portico's checks, but HAProxy refuses it (no such option)
    m.write("bad.yaml", ingress("bad", [rule("bad.snip.test", path("/", "web"))],
                                annotations={"portico.dev/backend-config-snippet":
                                             "option no-such-option"}))
    m.write("new.yaml", ingress("new", [rule("new.snip.test", path("/", "web"))]))
    px.wait_service("new.snip.test", "/", "web")
    px.wait_service("bad.snip.test", "/", "web")  # served, without its snippet
    text = px.log_text()
    assert "is a configuration snippet's: it is left out" in text
    assert "HAProxy refused this snippet" in text
    assert px.get("/", host="good.snip.test").service == "web"


def test_service_annotations(launcher):
    """A backend key on a Service applies to every route to it, over the
    Ingress's; removing it applies at once."""
    echo = launcher.echo({"web": ["127.0.0.1"]})
    m = launcher.manifests()
    objs = echo.objects("web")
    objs[0]["metadata"]["annotations"] = {"portico.dev/set-host": "from-service.example"}
    m.write("svc.yaml", objs)
    m.write("a.yaml", ingress("a", [rule("a.svc.test", path("/", "web"))]))
    m.write("b.yaml", ingress("b", [rule("b.svc.test", path("/", "web"))],
                              annotations={"portico.dev/set-host": "from-ingress.example"}))
    px = launcher.portico(m)
    px.wait_service("a.svc.test", "/", "web")
    assert px.get("/", host="a.svc.test").json["host"] == "from-service.example"
    assert px.get("/", host="b.svc.test").json["host"] == "from-service.example"
    m.write("svc.yaml", echo.objects("web"))
    wait_for(lambda: px.get("/", host="b.svc.test").json["host"] == "from-ingress.example")
    px.settle()  # a reload: the old worker may answer a last request
    assert px.get("/", host="a.svc.test").json["host"] == "a.svc.test"


def server_status(px, server):
    """The status HAProxy's stats give <server> ("UP", "DOWN", ...), in the
    backend the test made (its name ends in the keys' hash)."""
    for line in px.admin("show stat").splitlines():
        f = line.split(",")
        if len(f) > 17 and f[0].startswith("default_web_http_") and f[1] == server:
            return f[17]
    return None


def test_health_checks(launcher):
    """An endpoint that fails its checks gets no request: every request
    succeeds although one of the endpoints accepts no connection, also one
    added at run time."""
    echo = launcher.echo({"web": ["127.0.0.1"]})
    port = echo.port("web")
    m = launcher.manifests()
    # the second endpoint: an address with nothing listening on the port
    m.write("svc.yaml", service_with_endpoints("web", ["127.0.0.1", "127.0.0.9"], port))
    m.write("ing.yaml", ingress("hc", [rule("hc.keys.test", path("/", "web"))],
                                annotations={"portico.dev/check": "true",
                                             "portico.dev/check-http": "/healthz",
                                             "portico.dev/check-interval": "200ms"}))
    px = launcher.portico(m)
    px.wait_service("hc.keys.test", "/", "web")
    wait_for(lambda: (server_status(px, f"127.0.0.9:{port}") or "").startswith("DOWN"))
    assert server_status(px, f"127.0.0.1:{port}").startswith("UP")
    assert {px.get("/", host="hc.keys.test").status for _ in range(20)} == {200}
    reloads = px.settle()
    m.write("svc.yaml", service_with_endpoints("web", ["127.0.0.1", "127.0.0.9", "127.0.0.10"],
                                               port))
    wait_for(lambda: (server_status(px, f"127.0.0.10:{port}") or "").startswith("DOWN"))
    assert {px.get("/", host="hc.keys.test").status for _ in range(20)} == {200}
    assert px.settle() == reloads


def test_nginx_rewrite_target_and_affinity(launcher):
    """ingress-nginx's rewrite-target with the path's groups (use-regex), each
    path rewritten by its own regex only, and affinity: cookie."""
    echo = launcher.echo({"web": ["127.0.0.1", "127.0.0.2"]})
    m = launcher.manifests()
    m.write("svc.yaml", echo.objects("web"))
    nginx = "nginx.ingress.kubernetes.io/"
    m.write("groups.yaml", ingress("groups", [rule(
        "rw.keys.test", path("/something(/|$)(.*)", "web", "ImplementationSpecific"),
        path("/other(/|$)(.*)", "web", "ImplementationSpecific"))],
        annotations={nginx + "use-regex": "true", nginx + "rewrite-target": "/$2"}))
    m.write("sticky.yaml", ingress("sticky", [rule("sticky.rw.keys.test", path("/app", "web"))],
                                   annotations={nginx + "rewrite-target": "/",
                                                nginx + "affinity": "cookie",
                                                nginx + "session-cookie-name": "route"}))
    px = launcher.portico(m)
    px.wait_service("rw.keys.test", "/something/a", "web")
    for sent, seen in (("/something/foo/bar?q=1", "/foo/bar"), ("/something", "/"),
                       ("/other/something/x", "/something/x"), ("/other/", "/")):
        r = px.get(sent, host="rw.keys.test")
        assert r.service == "web" and r.json["path"].split("?")[0] == seen, (sent, r.json["path"])
    # the literal start routes: neither regex matched nothing else
    assert px.get("/none", host="rw.keys.test").status == 404
    r = px.get("/app/deep/path", host="sticky.rw.keys.test")
    assert r.json["path"] == "/", r.json
    cookie = r.header("Set-Cookie")
    assert cookie and cookie.startswith("route="), r.headers
    endpoint = r.json["endpoint"]
    for _ in range(6):
        r = px.get("/app", host="sticky.rw.keys.test", headers=[("Cookie", cookie.split(";")[0])])
        assert r.json["endpoint"] == endpoint


def test_nginx_redirects_app_root_and_body_size(launcher):
    """permanent-redirect (with its code), temporal-redirect, app-root and
    proxy-body-size, as ingress-nginx's annotations, through HAProxy."""
    echo = launcher.echo({"web": ["127.0.0.1"]})
    m = launcher.manifests()
    m.write("svc.yaml", echo.objects("web"))
    nginx = "nginx.ingress.kubernetes.io/"
    m.write("moved.yaml", ingress("moved", [rule("moved.keys.test", path("/", "web"))],
                                  annotations={nginx + "permanent-redirect":
                                               "https://new.keys.test/a%20b?x=1",
                                               nginx + "permanent-redirect-code": "308"}))
    m.write("away.yaml", ingress("away", [rule("away.keys.test", path("/", "web"))],
                                 annotations={nginx + "temporal-redirect":
                                              "https://status.keys.test/"}))
    m.write("app.yaml", ingress("app", [rule("app.keys.test", path("/", "web"))],
                                annotations={nginx + "app-root": "/app",
                                             nginx + "proxy-body-size": "1k"}))
    px = launcher.portico(m)
    px.wait_status("moved.keys.test", "/anything", 308)
    r = px.get("/anything?y=2", host="moved.keys.test")
    assert r.header("Location") == "https://new.keys.test/a%20b?x=1", r.headers
    r = px.get_tls("/x", host="away.keys.test")
    assert r.status == 302 and r.header("Location") == "https://status.keys.test/"
    r = px.get("/", host="app.keys.test")
    assert r.status == 302 and r.header("Location") == "/app"
    assert px.get("/app", host="app.keys.test").service == "web"
    ok = px.get("/app", host="app.keys.test", method="POST", body=b"x" * 1024)
    assert ok.status == 200 and ok.service == "web"
    big = px.get("/app", host="app.keys.test", method="POST", body=b"x" * 1025)
    assert big.status == 413 and big.header("X-Echo-Service") is None


def test_limit_connections(launcher):
    """ingress-nginx's limit-connections: the requests a client has in flight
    past the limit get 503; others, and the same client afterwards, are served."""
    echo = launcher.echo({"web": ["127.0.0.1"]})
    m = launcher.manifests()
    m.write("svc.yaml", echo.objects("web"))
    m.write("conns.yaml", ingress("conns", [rule("conns.keys.test", path("/", "web"))],
                                  annotations={"nginx.ingress.kubernetes.io/limit-connections":
                                               "2"}))
    px = launcher.portico(m)
    px.wait_service("conns.keys.test", "/", "web")
    slow = [("X-Echo-Delay-Ms", "8000")]
    with ThreadPoolExecutor(max_workers=2) as pool:
        held = [pool.submit(px.get, "/", host="conns.keys.test", headers=slow, timeout=15)
                for _ in range(2)]
        # both held by the endpoint (HAProxy counts them; a probe sent before
        # they arrive could take a place and refuse one of them instead), a
        # third from the same address is refused
        table = px.admin("show table").split()[2].rstrip(",")
        wait_for(lambda: "conn_cur=2" in px.admin(f"show table {table}"),
                 what="both held connections counted")
        assert px.get("/", host="conns.keys.test").status == 503
        assert [f.result().status for f in held] == [200, 200]
    assert px.get("/", host="conns.keys.test").service == "web"


def test_forwarded_for(launcher):
    """forwarded-for: "false" on an Ingress leaves X-Forwarded-For as the
    client sent it; off in the ConfigMap, an Ingress turns it back on."""
    echo = launcher.echo({"web": ["127.0.0.1"]})
    m = launcher.manifests()
    m.write("svc.yaml", echo.objects("web"))
    m.write("off.yaml", ingress("off", [rule("off.xff.keys.test", path("/", "web"))],
                                annotations={"haproxy.org/forwarded-for": "false"}))
    m.write("on.yaml", ingress("on", [rule("on.xff.keys.test", path("/", "web"))]))
    px = launcher.portico(m, args=["--configmap=default/portico-config"])
    px.wait_service("off.xff.keys.test", "/", "web")
    sent = [("X-Forwarded-For", "203.0.113.7")]

    def xff(host):
        return px.get("/", host=host, headers=sent).json["headers"].get("x-forwarded-for")
    assert xff("off.xff.keys.test") == "203.0.113.7"
    assert xff("on.xff.keys.test") == "203.0.113.7, 127.0.0.1"
    # the ConfigMap's default turned off, an Ingress's "true" wins
    m.write("cm.yaml", config_map("portico-config", {"forwarded-for": "false"}))
    m.write("off.yaml", ingress("off", [rule("off.xff.keys.test", path("/", "web"))],
                                annotations={"haproxy.org/forwarded-for": "true"}))
    wait_for(lambda: xff("on.xff.keys.test") == "203.0.113.7", what="the ConfigMap's default")
    wait_for(lambda: xff("off.xff.keys.test") == "203.0.113.7, 127.0.0.1",
             what="the Ingress's own")


def test_standalone_backend_and_redirect_port(launcher):
    """standalone-backend: an Ingress's own backend where another with the
    same keys shares one; ssl-redirect-port in the HTTPS redirect."""
    echo = launcher.echo({"web": ["127.0.0.1"]})
    m = launcher.manifests()
    m.write("svc.yaml", echo.objects("web"))
    lb = {"haproxy.org/load-balance": "leastconn"}
    for name, ann in (("alone", {**lb, "haproxy.org/standalone-backend": "true"}),
                      ("a", lb), ("b", lb)):
        m.write(f"{name}.yaml", ingress(name, [rule(f"{name}.sa.keys.test", path("/", "web"))],
                                        tls=[{"hosts": [f"{name}.sa.keys.test"]}],
                                        annotations=ann))
    m.write("cm.yaml", config_map("portico-config", {"ssl-redirect-port": "8443"}))
    px = launcher.portico(m, args=["--configmap=default/portico-config"])
    px.wait_status("a.sa.keys.test", "/", 308)
    r = px.get("/x?y=1", host="A.sa.keys.test:80")
    assert r.header("Location") == "https://a.sa.keys.test:8443/x?y=1", r.headers
    backends = {f.split(",")[0] for f in px.admin("show stat").splitlines()
                if f.startswith("default_web_http") and ",BACKEND," in f}
    assert len(backends) == 2, backends
    for host in ("alone", "a", "b"):
        assert px.get_tls("/", host=f"{host}.sa.keys.test").service == "web"
