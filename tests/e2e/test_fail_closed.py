"""An Ingress asking for an access control Portico does not implement yet
fails closed: its routes answer 403 through the real HAProxy, the others are
served, and it opens as soon as the annotation goes."""

from helpers import ingress, path, rule, wait_for


def test_unsupported_access_control_fails_closed(launcher):
    echo = launcher.echo({"web": ["127.0.0.1"]})
    m = launcher.manifests()
    m.write("svc.yaml", echo.objects("web"))
    m.write("guarded.yaml", ingress("guarded", [rule("admin.closed.test", path("/", "web"))],
                                    annotations={"haproxy.org/client-ca": "default/ca"}))
    m.write("nginx.yaml", ingress("nginx", [rule("private.closed.test", path("/", "web"))],
                                  annotations={"nginx.ingress.kubernetes.io/auth-url":
                                               "https://auth.closed.test/check"}))
    m.write("open.yaml", ingress("open", [rule("www.closed.test", path("/", "web"))]))
    px = launcher.portico(m)
    px.wait_service("www.closed.test", "/", "web")
    for host in ("admin.closed.test", "private.closed.test"):
        r = px.get("/", host=host)
        assert r.status == 403 and r.header("X-Echo-Service") is None, (host, r.status)
        assert px.get_tls("/", host=host).status == 403
    text = px.log_text()
    assert 'metadata.annotations[\\"haproxy.org/client-ca\\"]: this access control is not ' \
           'supported yet' in text
    assert "nginx.ingress.kubernetes.io/auth-url" in text
    reloads = px.settle()
    # the annotation gone, the Ingress opens, through the Runtime API
    m.write("guarded.yaml", ingress("guarded", [rule("admin.closed.test", path("/", "web"))]))
    px.wait_service("admin.closed.test", "/", "web")
    assert px.get("/", host="private.closed.test").status == 403
    assert px.settle() == reloads
    wait_for(lambda: px.get("/", host="www.closed.test").service == "web")
