"""Servers added through the Runtime API are configured as the ones HAProxy reads
from haproxy.cfg: same connection pool settings, so connections to the pods are
reused after endpoint changes as after a fresh start."""

import http.client

import pytest

from helpers import endpoint, endpoint_slice, ingress, path, rule, service, wait_for

pytestmark = pytest.mark.file_only("the Runtime API path does not depend on the source")

BACKEND = "default_web_http"
ADDRS = [f"127.0.0.{i}" for i in range(2, 14)]


def write_endpoints(m, port, addrs):
    m.write("web.yaml", [service("web"),
                         endpoint_slice("web", [endpoint(a) for a in addrs], [("http", port)])])


def servers_conn(px):
    """show servers conn: server name -> (purge_delay, idle_lim)."""
    rows = {}
    lines = px.admin(f"show servers conn {BACKEND}").splitlines()
    head = lines[0].lstrip("# ").split()
    for ln in lines[1:]:
        f = ln.split()
        if len(f) < len(head) - 1 or "/" not in f[0]:
            continue
        rows[f[0].split("/", 1)[1]] = (f[head.index("purge_delay")], f[head.index("idle_lim")])
    return rows


def server_stats(px):
    return px.server_stats(BACKEND)


def keepalive_requests(px, n_conns, per_conn):
    for _ in range(n_conns):
        c = http.client.HTTPConnection("127.0.0.1", px.http, timeout=5)
        for _ in range(per_conn):
            c.request("GET", "/", headers={"Host": "web.reuse.test"})
            r = c.getresponse()
            r.read()
            assert r.status == 200 and r.getheader("X-Echo-Service") == "web"
        c.close()


def test_servers_added_at_run_time_reuse_connections(launcher):
    echo = launcher.echo({"web": ADDRS})
    port = echo.port("web")
    m = launcher.manifests()
    write_endpoints(m, port, ADDRS[:3])
    m.write("ing.yaml", ingress("web", [rule("web.reuse.test", path("/", "web"))]))
    px = launcher.portico(m)
    fresh = servers_conn(px)
    assert len(fresh) == 3
    reloads = px.settle()
    # 3 -> 12 -> 3 endpoints, twice, ending on three the configuration never had
    for final in (ADDRS[3:6], ADDRS[6:9]):
        write_endpoints(m, port, ADDRS)
        wait_for(lambda: len(servers_conn(px)) == 12, what="12 servers")
        write_endpoints(m, port, final)
        wait_for(lambda: set(servers_conn(px)) >= {f"{a}:{port}" for a in final}
                 and all(s.split(":")[0] in final or s not in server_stats(px)
                         or server_stats(px)[s]["status"] == "MAINT" for s in servers_conn(px)),
                 what=f"the servers of {final}")
    assert px.settle() == reloads, "endpoint changes must not reload HAProxy"
    conn = servers_conn(px)
    added = [f"{a}:{port}" for a in ADDRS[6:9]]
    settings = set(fresh.values())
    assert len(settings) == 1, f"servers read from haproxy.cfg differ: {fresh}"
    for name in added:
        assert conn[name] in settings, \
            f"server {name} added at run time has (purge_delay, idle_lim) {conn[name]}, " \
            f"haproxy.cfg's servers {fresh}"
    # keep-alive load: the pods' connections are reused, not opened per request
    before = server_stats(px)
    keepalive_requests(px, n_conns=4, per_conn=50)
    after = server_stats(px)
    requests = sum(int(after[s]["stot"]) - int(before[s]["stot"]) for s in added)
    connects = sum(int(after[s]["connect"]) - int(before[s]["connect"]) for s in added)
    reused = sum(int(after[s]["reuse"]) - int(before[s]["reuse"]) for s in added)
    assert requests == 200, f"the 200 requests went elsewhere: {requests} on {added}"
    assert connects <= 20 and reused >= 150, \
        f"{connects} new connections and {reused} reused for {requests} requests to servers " \
        f"added at run time"
