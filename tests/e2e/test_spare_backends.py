"""Spare backends (--spare-backends, issue 20 item 8): a new Service an
Ingress routes to, with no keys of its own, is served from an empty backend
HAProxy already has, through the Runtime API, before any reload; a reload
later gives it its own name, and HAProxy then runs what a fresh start on the
written configuration would. A new backend that cannot use a spare (keys of
its own, more at once than free spares) reloads as before."""

import time

from helpers import SOURCE, addr_from_pod, ingress, path, rule, wait_for

# the tidy reload waits --min-reload-interval: long enough that the new
# backend is surely served before it, short enough for a test
INTERVAL_S = 4


def given_addr(server):
    """A server's name, "addr:port", with the address the test gave."""
    host, _, port = server.rpartition(":")
    return f"{addr_from_pod(host)}:{port}"


def servers_state(px):
    """show servers state: {(backend, server)}."""
    out = set()
    for ln in px.admin("show servers state").splitlines():
        f = ln.split()
        if len(f) > 6 and f[0].isdigit():
            out.add((f[1], given_addr(f[3])))
    return out


def written_servers(px):
    """The servers of the configuration Portico wrote last (current/haproxy.cfg)."""
    out, backend = set(), None
    for ln in (px.config_dir / "current" / "haproxy.cfg").read_text().splitlines():
        f = ln.split()
        if f[:1] == ["backend"]:
            backend = f[1]
        elif f[:1] == ["server"] and backend:
            out.add((backend, given_addr(f[1])))
    return out


def written_backends(px):
    return {ln.split()[1] for ln in (px.config_dir / "current" / "haproxy.cfg").read_text().splitlines()
            if ln.startswith("backend ")}


def map_values(px, name):
    """show map of maps/<name>.map: {key: value}."""
    out = {}
    for ln in px.admin(f"show map maps/{name}.map").splitlines():
        f = ln.split()
        if len(f) == 3:
            out[f[1]] = f[2]
    return out


def web_and_fresh(launcher):
    """Portico serving Service "web" alone, settled; echo Service "fresh"
    (two endpoints) is not written yet. Returns (echo, manifests, portico)."""
    echo = launcher.echo({"web": ["127.0.0.2"], "fresh": ["127.0.0.3", "127.0.0.4"]})
    m = launcher.manifests()
    m.write("web.yaml", [*echo.objects("web"), ingress("web", [rule("web.spare.test", path("/", "web"))])])
    px = launcher.portico(m, args=[f"--min-reload-interval={INTERVAL_S}s"])
    px.wait_service("web.spare.test", "/", "web")
    px.settle()
    return echo, m, px


def fresh_in_spare(px, port):
    """Asserts that Service "fresh" runs in one spare, the first used, its
    two endpoints its servers and fresh.spare.test routed to it; its name."""
    in_spare = {s for s in servers_state(px) if s[0].startswith("_spare_")}
    assert {s[1] for s in in_spare} == {f"127.0.0.3:{port}", f"127.0.0.4:{port}"}, in_spare
    spare = next(iter(in_spare))[0]
    assert map_values(px, "prefix")["fresh.spare.test/"] == spare
    assert px.metric("portico_spare_backend_uses_total") == 1
    return spare


def test_new_backend_served_from_a_spare_then_renamed(launcher):
    echo, m, px = web_and_fresh(launcher)
    reloads = px.master_reloads()
    assert px.metric('portico_spare_backends{state="free"}') == 8
    assert {b for b in written_backends(px) if b.startswith("_spare_")} == {f"_spare_{i}" for i in range(1, 9)}

    m.write("fresh.yaml", [*echo.objects("fresh"),
                           ingress("fresh", [rule("fresh.spare.test", path("/", "fresh"))])])
    px.wait_service("fresh.spare.test", "/", "fresh")
    # served before any reload, from a spare, by both endpoints
    assert px.master_reloads() == reloads, "the new backend waited for a reload"
    port = echo.port("fresh")
    spare = fresh_in_spare(px, port)
    assert px.metric('portico_spare_backends{state="in_use"}') == 1
    # what runs is what the written configuration says, once the files follow
    # a reroute: a restart loses nothing
    wait_for(lambda: servers_state(px) == written_servers(px), what="the files written")
    served = {px.get("/", host="fresh.spare.test").endpoint for _ in range(4)}
    assert served == {f"127.0.0.3:{port}", f"127.0.0.4:{port}"}

    # then one reload gives it its own name, and the spare is free again
    wait_for(lambda: px.master_reloads() == reloads + 1, timeout=30, what="the tidy reload")
    wait_for(lambda: px.metric('portico_spare_backends{state="in_use"}') == 0, what="the spare freed")
    px.settle()  # the old worker may still answer on the admin socket for a moment
    assert "backend default_fresh_http out of spare " + spare in px.log_text()
    assert {s for s in servers_state(px) if s[0] == "default_fresh_http"} == \
        {("default_fresh_http", f"127.0.0.3:{port}"), ("default_fresh_http", f"127.0.0.4:{port}")}
    assert not {s for s in servers_state(px) if s[0].startswith("_spare_")}
    assert map_values(px, "prefix")["fresh.spare.test/"] == "default_fresh_http"
    assert servers_state(px) == written_servers(px)
    assert px.get("/", host="fresh.spare.test").service == "fresh"
    assert px.settle() and px.master_reloads() == reloads + 1


def test_route_to_a_new_service_rerouted_into_a_spare(launcher):
    """An Ingress written after its new Service is a route change alone: the
    running model is rerouted, its new backend put in a spare with its
    servers, no model built; routes to it change again the same way while
    it runs there, the files follow, and the tidy reload names it."""
    echo, m, px = web_and_fresh(launcher)
    passes = px.metric("portico_sync_passes_total")
    m.write("fresh-service.yaml", echo.objects("fresh"))
    if SOURCE == "files":
        wait_for(lambda: px.metric("portico_sync_passes_total") > passes, what="the Service's pass")
    else:  # no pass for a Service nothing routes to: the store has it meanwhile
        time.sleep(0.5)
    reloads = px.master_reloads()
    reroutes = px.metric("portico_model_reroutes_total")

    m.write("fresh.yaml", [ingress("fresh", [rule("fresh.spare.test", path("/", "fresh"))])])
    px.wait_service("fresh.spare.test", "/", "fresh")
    assert px.master_reloads() == reloads, "the new backend waited for a reload"
    assert px.metric("portico_model_reroutes_total") == reroutes + 1
    port = echo.port("fresh")
    spare = fresh_in_spare(px, port)
    served = {px.get("/", host="fresh.spare.test").endpoint for _ in range(4)}
    assert served == {f"127.0.0.3:{port}", f"127.0.0.4:{port}"}

    # a host more to it while it runs in the spare: rerouted too
    m.write("fresh.yaml", [ingress("fresh", [rule("fresh.spare.test", path("/", "fresh")),
                                             rule("more.spare.test", path("/", "fresh"))])])
    px.wait_service("more.spare.test", "/", "fresh")
    assert px.metric("portico_model_reroutes_total") == reroutes + 2
    assert map_values(px, "prefix")["more.spare.test/"] == spare
    # the files follow: a restart would run what runs
    wait_for(lambda: servers_state(px) == written_servers(px), what="the files written")

    wait_for(lambda: px.master_reloads() == reloads + 1, timeout=30, what="the tidy reload")
    wait_for(lambda: px.metric('portico_spare_backends{state="in_use"}') == 0, what="the spare freed")
    px.settle()
    prefix = map_values(px, "prefix")
    assert prefix["fresh.spare.test/"] == prefix["more.spare.test/"] == "default_fresh_http"
    assert not {s for s in servers_state(px) if s[0].startswith("_spare_")}
    assert servers_state(px) == written_servers(px)
    assert px.get("/", host="more.spare.test").service == "fresh"


def test_spare_given_back_when_its_backend_goes(launcher):
    """A backend gone before the tidy reload leaves its spare empty and free:
    no reload at all."""
    echo = launcher.echo({"web": ["127.0.0.2"], "brief": ["127.0.0.5"]})
    m = launcher.manifests()
    m.write("web.yaml", [*echo.objects("web"), ingress("web", [rule("web.spare.test", path("/", "web"))])])
    px = launcher.portico(m, args=[f"--min-reload-interval={INTERVAL_S}s"])
    px.wait_service("web.spare.test", "/", "web")
    px.settle()
    reloads = px.master_reloads()

    m.write("brief.yaml", [*echo.objects("brief"),
                           ingress("brief", [rule("brief.spare.test", path("/", "brief"))])])
    px.wait_service("brief.spare.test", "/", "brief")
    m.delete("brief.yaml")
    wait_for(lambda: px.get("/", host="brief.spare.test").status == 404, what="the route gone")
    wait_for(lambda: px.metric('portico_spare_backends{state="in_use"}') == 0, what="the spare freed")
    # its server goes once its idle connections do (test_removed_servers.py)
    wait_for(lambda: not {s for s in servers_state(px) if s[0].startswith("_spare_")}, timeout=45,
             what="the spare's server deleted")
    time.sleep(INTERVAL_S + 1)  # past when a tidy reload would have come
    assert px.master_reloads() == reloads
    assert servers_state(px) == written_servers(px)


def test_backends_a_spare_cannot_take_reload(launcher):
    """Keys of its own, or more new backends at once than free spares: one
    reload, as without spares, and every route served."""
    echo = launcher.echo({"web": ["127.0.0.2"], "own": ["127.0.0.6"], "a": ["127.0.0.7"],
                          "b": ["127.0.0.8"]})
    m = launcher.manifests()
    m.write("web.yaml", [*echo.objects("web"), ingress("web", [rule("web.spare.test", path("/", "web"))])])
    px = launcher.portico(m, args=["--spare-backends=1"])
    px.wait_service("web.spare.test", "/", "web")
    px.settle()
    reloads = px.master_reloads()

    m.write("own.yaml", [*echo.objects("own"),
                         ingress("own", [rule("own.spare.test", path("/", "own"))],
                                 annotations={"haproxy.org/load-balance": "leastconn"})])
    px.wait_service("own.spare.test", "/", "own")
    wait_for(lambda: px.master_reloads() == reloads + 1, what="a reload for a backend with keys")
    assert not {s for s in servers_state(px) if s[0].startswith("_spare_")}

    m.write("two.yaml", [*echo.objects("a"), *echo.objects("b"),
                         ingress("two", [rule("a.spare.test", path("/", "a")),
                                         rule("b.spare.test", path("/", "b"))])])
    px.wait_service("a.spare.test", "/", "a")
    px.wait_service("b.spare.test", "/", "b")
    wait_for(lambda: px.master_reloads() == reloads + 2, what="one reload for two new backends")
    assert px.metric("portico_spare_backend_uses_total") == 0
    assert px.settle() and px.master_reloads() == reloads + 2
    assert servers_state(px) == written_servers(px)


def test_burst_of_new_backends_one_reload_after(launcher):
    """Five new Services at once: each served from a spare with no reload,
    then one reload names them all."""
    names = [f"burst{i}" for i in range(5)]
    echo = launcher.echo({n: ["127.0.0.1"] for n in ["web", *names]})
    m = launcher.manifests()
    m.write("web.yaml", [*echo.objects("web"), ingress("web", [rule("web.spare.test", path("/", "web"))])])
    px = launcher.portico(m, args=[f"--min-reload-interval={INTERVAL_S}s"])
    px.wait_service("web.spare.test", "/", "web")
    px.settle()
    reloads = px.master_reloads()
    for n in names:
        m.write(f"{n}.yaml", [*echo.objects(n), ingress(n, [rule(f"{n}.spare.test", path("/", n))])])
    for n in names:
        px.wait_service(f"{n}.spare.test", "/", n)
    assert px.master_reloads() == reloads, "the burst waited for a reload"
    assert px.metric("portico_spare_backend_uses_total") == 5
    wait_for(lambda: px.master_reloads() == reloads + 1, timeout=30, what="the tidy reload")
    assert px.settle() and px.master_reloads() == reloads + 1
    line = [ln for ln in px.log_text().splitlines() if "haproxy reloaded" in ln][-1]
    assert "out of spare _spare_" in line and "and 2 more" in line, line
    assert servers_state(px) == written_servers(px)
    for n in names:
        assert px.get("/", host=f"{n}.spare.test").service == n
