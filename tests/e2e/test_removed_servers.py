"""Servers removed while they still have connections. HAProxy 2.6 refuses
"del server" then and keeps the server disabled; Portico asks again until it
is gone, without a reload, so that HAProxy runs exactly the servers of the
written configuration, as after a fresh start (design.md section 4,
doc/operations.md "Processes")."""

import http.client
import socket
import threading
import time

import pytest

from helpers import endpoint, endpoint_slice, ingress, path, rule, service, wait_for

pytestmark = pytest.mark.file_only("the Runtime API path does not depend on the source")

BACKEND = "default_web_http"
ADDRS = [f"127.0.0.{i}" for i in range(2, 6)]
SLOW_MS = 4000  # long enough that the endpoint changes below land while they run


def write_endpoints(m, port, addrs):
    m.write("web.yaml", [service("web"),
                         endpoint_slice("web", [endpoint(a) for a in addrs], [("http", port)])])


def servers_state(px):
    """show servers state: {(backend, server): admin state}."""
    out = {}
    for ln in px.admin("show servers state").splitlines():
        f = ln.split()
        if len(f) > 6 and f[0].isdigit():
            out[(f[1], f[3])] = int(f[6])
    return out


def written_servers(px):
    """The servers of the configuration Portico wrote last (current/haproxy.cfg)."""
    out, backend = set(), None
    for ln in (px.config_dir / "current" / "haproxy.cfg").read_text().splitlines():
        f = ln.split()
        if f[:1] == ["backend"]:
            backend = f[1]
        elif f[:1] == ["server"] and backend:
            out.add((backend, f[1]))
    return out


def current_sessions(px):
    """Server name -> current sessions, for the backend's servers."""
    return {name: int(f["scur"]) for name, f in px.server_stats(BACKEND).items()}



def slow_request(px, results):
    """A request the echo backend answers after SLOW_MS, over a keep-alive
    connection that stays open until the answer is read."""
    c = http.client.HTTPConnection("127.0.0.1", px.http, timeout=30)
    try:
        c.request("GET", "/", headers={"Host": "web.del.test", "X-Echo-Delay-Ms": str(SLOW_MS)})
        r = c.getresponse()
        r.read()
        results.append(r.status)
    finally:
        c.close()


def test_servers_removed_with_connections_are_deleted_later(launcher):
    echo = launcher.echo({"web": ADDRS})
    port = echo.port("web")
    m = launcher.manifests()
    write_endpoints(m, port, ADDRS)
    m.write("ing.yaml", ingress("web", [rule("web.del.test", path("/", "web"))]))
    px = launcher.portico(m)
    reloads = px.settle()
    workers = px.worker_pids()
    assert set(servers_state(px)) == written_servers(px)

    # two requests in flight on each of the four servers (round robin)
    results = []
    threads = [threading.Thread(target=slow_request, args=(px, results)) for _ in range(8)]
    for t in threads:
        t.start()
    wait_for(lambda: len(current_sessions(px)) == 4 and all(current_sessions(px).values()),
             what="requests in flight on every server")

    # three endpoints go; HAProxy keeps their servers, disabled, as they are busy
    write_endpoints(m, port, ADDRS[:1])
    gone = {(BACKEND, f"{a}:{port}") for a in ADDRS[1:]}
    wait_for(lambda: all(servers_state(px).get(s, 0) & 1 for s in gone),
             what="the removed servers disabled")
    wait_for(lambda: px.metric("portico_servers_awaiting_delete") == 3,
             what="three servers waiting to be deleted")
    # one comes back before it could go: it is enabled again, and never deleted
    back = ADDRS[3]
    write_endpoints(m, port, [ADDRS[0], back])
    wait_for(lambda: servers_state(px).get((BACKEND, f"{back}:{port}")) == 0,
             what=f"the server of {back} enabled again")
    assert px.metric("portico_servers_awaiting_delete") == 2
    # enabled, not added again: no "Already exists" alert from HAProxy
    assert "Already exists" not in px.log_text()

    # the requests on the disabled servers finish
    for t in threads:
        t.join(30)
    assert results == [200] * 8, results

    # once idle, the two are deleted: HAProxy runs the written configuration's servers
    wait_for(lambda: set(servers_state(px)) == written_servers(px), timeout=45,
             what="show servers state == the written configuration's servers")
    assert {s for s in servers_state(px) if s[0] == BACKEND} == \
        {(BACKEND, f"{a}:{port}") for a in (ADDRS[0], back)}
    assert px.metric("portico_servers_awaiting_delete") == 0
    assert px.metric('portico_server_delete_retries_total{result="deleted"}') == 2
    for result in ("refused", "failure"):
        assert px.metric(f'portico_server_delete_retries_total{{result="{result}"}}') == 0, result
    served = {px.get("/", host="web.del.test").endpoint for _ in range(4)}
    assert served == {f"{a}:{port}" for a in (ADDRS[0], back)}
    assert px.settle() == reloads and not px.worker_pids() - workers, \
        "endpoint changes must not reload HAProxy"


def refused_request(px, results):
    """A request to the backend whose endpoint refuses connections: HAProxy
    tries again (a second apart) and answers 503."""
    c = http.client.HTTPConnection("127.0.0.1", px.http, timeout=30)
    try:
        c.request("GET", "/", headers={"Host": "dead.del.test"})
        r = c.getresponse()
        r.read()
        results.append(r.status)
    except (OSError, http.client.HTTPException) as e:
        results.append(repr(e))
    finally:
        c.close()


def test_server_streams_wait_for_is_deleted_after_them(launcher):
    """An endpoint removed while requests wait to try it again (it refused
    their connection; HAProxy tries again a second later, and their
    connections no longer count as the server's): HAProxy 2.6 would accept
    "del server" then, and its worker would crash when they wake. Portico
    disables the server, sees the streams in "show sess", and deletes it once
    they are gone: every request is answered, the worker lives on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]  # nothing listens there once closed
    m = launcher.manifests()
    m.write("ing.yaml", ingress("dead", [rule("dead.del.test", path("/", "dead"))]))

    def write(addrs):
        m.write("dead.yaml", [service("dead"),
                              endpoint_slice("dead", [endpoint(a) for a in addrs],
                                             [("http", closed)])])

    write([])
    px = launcher.portico(m)
    reloads = px.settle()
    workers = px.worker_pids()
    name = ("default_dead_http", f"127.0.0.1:{closed}")
    for _ in range(3):
        write(["127.0.0.1"])
        wait_for(lambda: servers_state(px).get(name) == 0, what="the server added")
        results = []
        threads = [threading.Thread(target=refused_request, args=(px, results))
                   for _ in range(50)]
        for t in threads:
            t.start()
        time.sleep(0.3)  # connections refused: the requests wait to try again
        write([])
        for t in threads:
            t.join(30)
        assert results == [503] * 50, results
        wait_for(lambda: name not in servers_state(px), timeout=15, what="the server deleted")
    assert px.metric('portico_server_delete_retries_total{result="busy"}') > 0, \
        "the streams kept the server for a while"
    assert "exited" not in px.log_text(), "an HAProxy worker exited"
    assert set(servers_state(px)) == written_servers(px)
    assert px.settle() == reloads and px.worker_pids() == workers
