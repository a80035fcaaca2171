"""TCP services (--configmap-tcp-services) through the real HAProxy: bytes
reach the Service's endpoints as they are, ":ssl" ends TLS with the
certificates of HTTPS (one added at run time included), endpoints change
without a reload, a refused entry leaves the others served, a removed one
stops listening."""

import socket

from helpers import (cert_cn, config_map, ingress, path, raw_request, rule, service_with_endpoints,
                     tls_secret, wait_for)
from ports import free_port


def get(port, tls=False, sni=None):
    """One HTTP request through the TCP proxy on <port> (the endpoints are
    echo servers, which answer HTTP)."""
    return raw_request(port, b"GET /tcp HTTP/1.1\r\nHost: anything\r\nConnection: close\r\n\r\n",
                       tls=tls, sni=sni)


def refused(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def test_tcp_services(launcher, certs):
    echo = launcher.echo({"web": ["127.0.0.1", "127.0.0.2"], "other": ["127.0.0.3"]})
    plain, tls, bad = free_port(), free_port(), free_port()
    m = launcher.manifests()
    web = echo.ports["web"]
    m.write("web.yaml", service_with_endpoints("web", ["127.0.0.1"], web))
    m.write("other.yaml", echo.objects("other"))
    # its backend there from the start: the TLS host added later is no new backend
    m.write("ing.yaml", ingress("web", [rule("tcp.test", path("/", "web"))]))
    m.write("tcp.yaml", config_map("tcp", {
        str(plain): "default/web:80",
        str(tls): "default/other:http:ssl",
        str(bad): "default/web"}))
    px = launcher.portico(m, args=["--configmap-tcp-services=default/tcp"])
    wait_for(lambda: get(plain).service == "web", what="the TCP service")
    r = get(plain)
    assert r.endpoint == f"127.0.0.1:{web}", r
    # HAProxy adds nothing: no X-Forwarded-For as an HTTP proxy would
    assert "x-forwarded-for" not in r.json["headers"], r.json["headers"]
    r = get(tls, tls=True, sni="tcp.test")
    assert r.service == "other", r
    default_cert = r.peer_cert
    assert refused(bad)
    assert f'data[\\"{bad}\\"]: want NAMESPACE/SERVICE:PORT' in px.log_text()
    reloads = px.settle()

    # endpoints: runtime changes, as for HTTP backends
    m.write("web.yaml", service_with_endpoints("web", ["127.0.0.1", "127.0.0.2"], web))
    wait_for(lambda: get(plain).endpoint == f"127.0.0.2:{web}", what="the added endpoint")
    m.write("web.yaml", service_with_endpoints("web", ["127.0.0.2"], web))
    wait_for(lambda: all(get(plain).endpoint == f"127.0.0.2:{web}" for _ in range(6)),
             what="the removed endpoint avoided")
    # a certificate added for an HTTPS host serves the TLS service too
    cert = certs.get("tcp.test")
    m.write("secret.yaml", tls_secret("tcp-cert", cert))
    m.write("ing.yaml", ingress("web", [rule("tcp.test", path("/", "web"))],
                                tls=[{"hosts": ["tcp.test"], "secretName": "tcp-cert"}]))
    wait_for(lambda: get(tls, tls=True, sni="tcp.test").peer_cert != default_cert,
             what="the new certificate on the TCP service")
    assert cert_cn(get(tls, tls=True, sni="tcp.test").peer_cert) == "tcp.test"
    assert px.settle() == reloads, "endpoint and certificate changes reloaded HAProxy"

    # an entry removed: its port closed, the other served
    m.write("tcp.yaml", config_map("tcp", {str(tls): "default/other:http:ssl"}))
    wait_for(lambda: refused(plain), what="the removed TCP service's port closed")
    assert get(tls, tls=True, sni="tcp.test").service == "other"
