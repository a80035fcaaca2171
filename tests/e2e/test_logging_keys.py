"""The access log (syslog-server, log-format), the PROXY protocol from
trusted load balancers (proxy-protocol) and a client address taken from a
header (src-ip-header), through the real HAProxy."""

import socket

from helpers import LOOPBACK, config_map, ingress, path, raw_request, rule, wait_for


def test_access_log_to_stdout_and_syslog(launcher):
    echo = launcher.echo({"web": ["127.0.0.1"]})
    m = launcher.manifests()
    m.write("svc.yaml", echo.objects("web"))
    m.write("ing.yaml", ingress("web", [rule("log.keys.test", path("/", "web"))]))
    syslog = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    syslog.bind((LOOPBACK, 0))
    syslog.settimeout(5)
    port = syslog.getsockname()[1]
    try:
        m.write("cm.yaml", config_map("portico-config", {
            "syslog-server": f"address:stdout, format:raw\n"
                             f"address:{LOOPBACK}, port:{port}, facility:local3, level:info",
            "log-format": "portico-access %ST %HM %HP %b"}))
        px = launcher.portico(m, args=["--configmap=default/portico-config"])
        px.wait_service("log.keys.test", "/", "web")
        assert px.get("/logged", host="log.keys.test").status == 200
        wait_for(lambda: "portico-access 200 GET /logged default_web_http" in px.log_text(),
                 what="the access log line on Portico's standard output")
        # local3 (19) * 8 + info (6) = 158
        seen = []
        while not any(b"portico-access 200 GET /logged" in d for d in seen):
            seen.append(syslog.recv(65536))
        line = next(d for d in seen if b"/logged" in d)
        assert line.startswith(b"<158>"), line
        # no target: no access log
        m.write("cm.yaml", config_map("portico-config", {}))
        px.settle()
        before = px.log_text().count("portico-access")
        assert px.get("/unlogged", host="log.keys.test").status == 200
        px.settle()
        assert px.log_text().count("portico-access") == before
        assert "/unlogged" not in px.log_text()
    finally:
        syslog.close()


def proxied_get(port, src, host, headers=""):
    """A request behind a PROXY protocol v1 header claiming client <src>."""
    data = (f"PROXY TCP4 {src} 127.0.0.1 40000 80\r\n"
            f"GET / HTTP/1.1\r\nHost: {host}\r\n{headers}Connection: close\r\n\r\n").encode()
    return raw_request(port, data)


def test_proxy_protocol_and_src_ip_header(launcher):
    echo = launcher.echo({"web": ["127.0.0.1"]})
    m = launcher.manifests()
    m.write("svc.yaml", echo.objects("web"))
    m.write("ing.yaml", ingress("web", [rule("pp.keys.test", path("/", "web"))]))
    m.write("cdn.yaml", ingress("cdn", [rule("cdn.keys.test", path("/", "web"))], annotations={
        "haproxy.org/src-ip-header": "True-Client-IP",
        "haproxy.org/allow-list": "203.0.113.0/24"}))
    m.write("cm.yaml", config_map("portico-config", {"proxy-protocol": "127.0.0.0/8"}))
    px = launcher.portico(m, args=["--configmap=default/portico-config"])
    wait_for(lambda: proxied_get(px.http, "198.51.100.7", "pp.keys.test").service == "web",
             what="served behind the PROXY protocol")
    r = proxied_get(px.http, "198.51.100.7", "pp.keys.test")
    assert r.json["headers"].get("x-forwarded-for") == "198.51.100.7", r.json["headers"]
    # the client address from the header, for the allow list
    assert proxied_get(px.http, "198.51.100.7", "cdn.keys.test").status == 403
    r = proxied_get(px.http, "198.51.100.7", "cdn.keys.test", "True-Client-IP: 203.0.113.5\r\n")
    assert r.status == 200 and r.service == "web"
    r = proxied_get(px.http, "203.0.113.9", "cdn.keys.test", "True-Client-IP: 198.51.100.1\r\n")
    assert r.status == 403
    # not an address: the connection's stays
    r = proxied_get(px.http, "203.0.113.9", "cdn.keys.test", "True-Client-IP: nonsense\r\n")
    assert r.status == 200
    # the key removed: a PROXY header is an invalid request again
    m.write("cm.yaml", config_map("portico-config", {}))
    wait_for(lambda: px.get("/", host="pp.keys.test").service == "web", what="plain requests")
    px.settle()  # a reload: the old worker may answer a last request
    assert proxied_get(px.http, "198.51.100.7", "pp.keys.test").status == 400


def test_request_capture_in_the_access_log(launcher):
    echo = launcher.echo({"web": ["127.0.0.1"]})
    m = launcher.manifests()
    m.write("svc.yaml", echo.objects("web"))
    m.write("ing.yaml", ingress("web", [rule("capture.keys.test", path("/", "web"))]))
    m.write("cm.yaml", config_map("portico-config", {
        "syslog-server": "address:stdout, format:raw",
        "log-format": "portico-capture %HP %hr",
        "request-capture": "req.fhdr(user-agent)\ncookie(session)",
        "request-capture-len": "8"}))
    px = launcher.portico(m, args=["--configmap=default/portico-config"])
    px.wait_service("capture.keys.test", "/", "web")
    r = px.get("/captured", host="capture.keys.test",
               headers=[("User-Agent", "probe/1.0"), ("Cookie", "session=0123456789abcdef")])
    assert r.status == 200
    # each value cut to request-capture-len bytes
    wait_for(lambda: "portico-capture /captured {probe/1.|01234567}" in px.log_text(),
             what="the captured header and cookie in the access log")
