"""ssl-passthrough through the real HAProxy: the client's TLS reaches the
endpoint as it is (the endpoint's own certificate answers), other hosts on
the same port are still terminated by Portico with their client address
kept, port 80 redirects, and hosts added or removed between the first and
the last passed-through one need no reload."""

from helpers import (cert_names, ingress, make_cert, path, rule, service_with_endpoints,
                     tls_get, tls_peer_cert, tls_secret, wait_for)
from protoservers import ProtoServer


def pass_get(port, host, target="/"):
    """(the endpoint's JSON, the certificate's CN) of a GET over TLS."""
    status, j, cn = tls_get(port, host, target)
    assert status == 200, status
    return j, cn


def test_ssl_passthrough(launcher, tmp_path):
    make_cert(tmp_path, "endpoint", "endpoint.pass.test", ["endpoint.pass.test"])
    backend = ProtoServer("secure", tls=(str(tmp_path / "endpoint.crt"),
                                         str(tmp_path / "endpoint.key")))
    echo = launcher.echo({"web": ["127.0.0.1"]})
    echo2 = launcher.echo({"other": ["127.0.0.1"]})
    m = launcher.manifests()
    m.write("web.yaml", echo.objects("web"))
    m.write("secure.yaml", service_with_endpoints("secure", ["127.0.0.1"], backend.port))
    cert = make_cert(tmp_path, "portico", "offloaded.pass.test", ["offloaded.pass.test"])
    m.write("offloaded.yaml", [tls_secret("offloaded-tls", cert), ingress(
        "offloaded", [rule("offloaded.pass.test", path("/", "web"))],
        tls=[{"hosts": ["offloaded.pass.test"], "secretName": "offloaded-tls"}])])
    # a new backend reloads (no spare backend serves it first)
    px = launcher.portico(m, args=["--spare-backends=0"])
    px.wait_service("offloaded.pass.test", "/", "web", scheme="https")
    reloads = px.settle()

    # the first passed-through host: one reload (a new frontend)
    m.write("pass.yaml", ingress("pass", [rule("one.pass.test", path("/", "secure"))],
                                 annotations={"haproxy.org/ssl-passthrough": "true"}))
    wait_for(lambda: cert_names(tls_peer_cert(px.https, "one.pass.test"))[0]
             == "endpoint.pass.test", what="the endpoint's own certificate")
    px.settle()  # a reload: the old worker may answer a last connection
    j, cn = pass_get(px.https, "one.pass.test", "/through")
    assert cn == "endpoint.pass.test" and j["tls"] and j["path"] == "/through", j
    # no X-Forwarded-For: HAProxy never saw the request
    assert not any(k.lower() == "x-forwarded-for" for k, _ in j["headers"]), j["headers"]
    assert px.settle() == reloads + 1
    # the offloaded host on the same port: Portico's certificate, client address kept
    assert cert_names(tls_peer_cert(px.https, "offloaded.pass.test"))[0] == "offloaded.pass.test"
    r = px.get_tls("/", host="offloaded.pass.test")
    assert r.service == "web" and r.json["headers"].get("x-forwarded-for") == "127.0.0.1", r.json
    # an unknown name, and no name at all: Portico's default certificate
    assert cert_names(tls_peer_cert(px.https, "nobody.pass.test"))[0] != "endpoint.pass.test"
    assert cert_names(tls_peer_cert(px.https, None))[0] != "endpoint.pass.test"
    # port 80 sends the passed-through host to HTTPS
    r = px.get("/x", host="one.pass.test")
    assert r.status == 308 and r.header("Location") == "https://one.pass.test/x", r

    # a reload with it (a new backend): the HTTPS frontend's abstract socket
    # goes to the new HAProxy with the other listeners
    m.write("other.yaml", echo2.objects("other") + [ingress(
        "other", [rule("other.pass.test", path("/", "other"))])])
    px.wait_service("other.pass.test", "/", "other", scheme="https")
    assert px.settle() == reloads + 2
    reloads += 1
    assert pass_get(px.https, "one.pass.test")[1] == "endpoint.pass.test"
    assert px.get_tls("/", host="offloaded.pass.test").service == "web"
    assert "level=error mod=haproxy" not in px.log_text()

    # a second host, through ingress-nginx's annotation: no reload
    m.write("pass2.yaml", ingress("pass2", [rule("two.pass.test", path("/", "secure"))],
                                  annotations={"nginx.ingress.kubernetes.io/ssl-passthrough":
                                               "true"}))
    wait_for(lambda: cert_names(tls_peer_cert(px.https, "two.pass.test"))[0]
             == "endpoint.pass.test", what="the second host passed through")
    assert pass_get(px.https, "TWO.pass.test")[1] == "endpoint.pass.test"
    assert px.settle() == reloads + 1
    # one removed: no reload; the last removed: the frontend goes, one reload
    m.delete("pass2.yaml")
    wait_for(lambda: cert_names(tls_peer_cert(px.https, "two.pass.test"))[0]
             != "endpoint.pass.test", what="the second host no longer passed through")
    assert px.settle() == reloads + 1
    m.delete("pass.yaml")
    wait_for(lambda: cert_names(tls_peer_cert(px.https, "one.pass.test"))[0]
             != "endpoint.pass.test", what="no host passed through")
    assert px.settle() == reloads + 2
    assert px.get_tls("/", host="offloaded.pass.test").service == "web"
