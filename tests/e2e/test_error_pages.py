"""Error pages of --configmap-errorfiles through the real HAProxy: the page
of a status replaces HAProxy's own (404 for no route, 503 for no endpoint),
a change of the ConfigMap is served, a page HAProxy could not send leaves
HAProxy's own in place and changes nothing else."""

from helpers import config_map, ingress, path, rule, service, wait_for

PAGE_404 = "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nCache-Control: no-cache\r\n\r\nno such page here\n"
PAGE_503 = "HTTP/1.1 503 Service Unavailable\nContent-Type: text/html\n\n<h1>back soon</h1>\n"
PAGE_503_NEW = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 8\r\n\r\nupgrade\n"


def test_error_pages(launcher):
    echo = launcher.echo({"web": ["127.0.0.1"]})
    m = launcher.manifests()
    m.write("svc.yaml", echo.objects("web"))
    m.write("empty.yaml", service("empty"))
    m.write("ing.yaml", ingress("web", [rule("pages.test", path("/", "web"),
                                             path("/down", "empty"))]))
    m.write("cm.yaml", config_map("errors", {"404": PAGE_404, "503": PAGE_503}))
    px = launcher.portico(m, args=["--configmap-errorfiles=default/errors"])
    px.wait_service("pages.test", "/", "web")

    r = px.get("/", host="nothing.test")
    assert (r.status, r.body) == (404, b"no such page here\n"), r
    assert r.header("Cache-Control") == "no-cache"
    r = px.get("/down", host="pages.test")
    assert (r.status, r.body) == (503, b"<h1>back soon</h1>\n"), r
    assert r.header("Content-Type") == "text/html"
    # over HTTPS the same pages
    r = px.get_tls("/", host="nothing.test")
    assert (r.status, r.body) == (404, b"no such page here\n"), r

    m.write("cm.yaml", config_map("errors", {"404": PAGE_404, "503": PAGE_503_NEW}))
    wait_for(lambda: px.get("/down", host="pages.test").body == b"upgrade\n",
             what="the new 503 page")

    # a page HAProxy would refuse: HAProxy's own 503, the 404 page and the
    # routes unchanged, the reason in the log
    bad = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 99\r\n\r\nshort"
    m.write("cm.yaml", config_map("errors", {"404": PAGE_404, "503": bad}))
    wait_for(lambda: b"No server is available" in px.get("/down", host="pages.test").body,
             what="HAProxy's own 503 page")
    # the new worker answers before the old one has left: wait for the reload
    px.settle()
    r = px.get("/down", host="pages.test")
    assert r.status == 503 and b"No server is available" in r.body, r
    assert px.get("/", host="nothing.test").body == b"no such page here\n"
    assert px.get("/", host="pages.test").service == "web"
    assert 'data[\\"503\\"]: not an HTTP response HAProxy can send: Content-Length differs' \
        in px.log_text()

    # the ConfigMap gone: HAProxy's own pages
    m.delete("cm.yaml")
    wait_for(lambda: px.get("/", host="nothing.test").body != b"no such page here\n",
             what="HAProxy's own 404 page")
    assert px.get("/", host="nothing.test").status == 404
    assert px.get("/", host="pages.test").service == "web"
