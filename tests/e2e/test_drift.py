"""Drift repair: servers and map entries changed behind Portico's back with
raw Runtime API commands (a server disabled, one added; a map entry
deleted, one added, one changed) are put back as the running model has
them, without a reload, and counted."""

import urllib.request

from helpers import ingress, path, rule, service_with_endpoints, wait_for

BACKEND = "default_web_http"


def servers(px):
    """name -> srv_admin_state of the backend's servers (show servers state)."""
    out = {}
    for ln in px.admin(f"show servers state {BACKEND}").splitlines():
        f = ln.split()
        if len(f) > 6 and f[1] == BACKEND:
            out[f[3]] = int(f[6])
    return out


def repairs(px, kinds=("server_added", "server_removed")):
    with urllib.request.urlopen(f"http://127.0.0.1:{px.controller}/metrics", timeout=5) as r:
        text = r.read().decode()
    return {kind: int(float(ln.rsplit(" ", 1)[1])) for kind in kinds
            for ln in text.splitlines()
            if ln.startswith(f'portico_drift_repairs_total{{kind="{kind}"}}')}


def map_entries(px, name):
    """key -> value of a map in the running HAProxy (show map), duplicates kept."""
    out = []
    for ln in px.admin(f"show map maps/{name}.map").splitlines():
        f = ln.split()
        if len(f) == 3:
            out.append((f[1], f[2]))
    return sorted(out)


def test_drift_repaired(launcher):
    echo = launcher.echo({"web": ["127.0.0.1", "127.0.0.2"]})
    m = launcher.manifests()
    m.write("svc.yaml", echo.objects("web"))
    m.write("ing.yaml", ingress("web", [rule("drift.test", path("/", "web"))]))
    px = launcher.portico(m, env={"PORTICO_DRIFT_INTERVAL_MS": "300"})
    px.wait_service("drift.test", "/", "web")
    reloads = px.settle()
    model = servers(px)
    assert len(model) == 2 and not any(model.values()), model
    first = sorted(model)[0]

    # one disabled, one that nothing asked for added and enabled
    assert px.admin(f"disable server {BACKEND}/{first}").strip() == ""
    px.admin(f"add server {BACKEND}/127.0.0.9:1 127.0.0.9:1")
    px.admin(f"enable server {BACKEND}/127.0.0.9:1")
    wait_for(lambda: servers(px) == model, what="the servers as the model has them")
    assert repairs(px) == {"server_added": 1, "server_removed": 1}
    assert "drift: 1 servers missing or disabled, 1 serving that should not: repaired" \
        in px.log_text()
    # the disabled one enabled again, not added again (an alert of HAProxy's)
    assert "Already exists" not in px.log_text()
    assert px.settle() == reloads
    seen = {px.get("/", host="drift.test").json["endpoint"].split(":")[0] for _ in range(10)}
    assert seen == {"127.0.0.1", "127.0.0.2"}


def test_map_drift_repaired(launcher):
    """An entry deleted, one added and one changed with raw "del map", "add
    map" and "set map" are found by the periodic check and the maps put back
    as the model has them, each replaced as one new version (prepare/commit),
    counted, and logged; no reload."""
    echo = launcher.echo({"web": ["127.0.0.1"], "api": ["127.0.0.2"]})
    m = launcher.manifests()
    m.write("svc.yaml", echo.objects("web") + echo.objects("api"))
    m.write("ing.yaml", ingress("web", [rule("maps.drift.test", path("/", "web"), path("/api", "api")),
                                        rule("other.drift.test", path("/", "web"))]))
    px = launcher.portico(m, env={"PORTICO_DRIFT_INTERVAL_MS": "300"})
    px.wait_service("maps.drift.test", "/api", "api")
    px.wait_service("other.drift.test", "/", "web")
    reloads = px.settle()
    hosts, prefix = map_entries(px, "hosts"), map_entries(px, "prefix")
    assert ("maps.drift.test", "maps.drift.test") in hosts, hosts
    assert ("maps.drift.test/api/", "default_api_http") in prefix, prefix
    before = repairs(px, ("map",))["map"]

    # behind Portico's back: a host gone, a route sent elsewhere, one added
    assert px.admin("del map maps/hosts.map other.drift.test").strip() == ""
    assert px.admin("set map maps/prefix.map maps.drift.test/api/ default_web_http").strip() == ""
    assert px.admin("add map maps/prefix.map maps.drift.test/x/ default_api_http").strip() == ""
    wait_for(lambda: map_entries(px, "hosts") == hosts and map_entries(px, "prefix") == prefix,
             what="the maps as the model has them")
    assert repairs(px, ("map",))["map"] == before + 2
    text = px.log_text()
    assert "drift: map maps/hosts.map differs from the running model (1 entry missing, extra " \
        "or changed): replaced" in text
    assert "drift: map maps/prefix.map differs from the running model (2 entries" in text
    assert px.get("/api", host="maps.drift.test").service == "api"
    assert px.get("/x", host="maps.drift.test").service == "web"
    assert px.get("/", host="other.drift.test").service == "web"
    assert px.settle() == reloads


def test_checked_after_each_reload(launcher):
    """Without waiting for the periodic check (30 s here): a reload is
    followed at once by a check of the servers and maps."""
    echo = launcher.echo({"web": ["127.0.0.1"], "two": ["127.0.0.1"]})
    m = launcher.manifests()
    m.write("svc.yaml", echo.objects("web"))
    m.write("ing.yaml", ingress("web", [rule("after.drift.test", path("/", "web"))]))
    px = launcher.portico(m, args=["--log-level=debug"])
    px.wait_service("after.drift.test", "/", "web")
    line = "drift: the maps are as the running model has them"
    wait_for(lambda: line in px.log_text(), what="the check after the first start")
    checks = px.log_text().count(line)
    m.write("two.yaml", echo.objects("two") +
            [ingress("two", [rule("two.drift.test", path("/", "two"))])])
    px.wait_service("two.drift.test", "/", "two")
    wait_for(lambda: px.log_text().count(line) == checks + 1, timeout=5,
             what="a check after the reload")


def test_drift_repaired_among_many_backends(launcher):
    """1,000 backends: "show servers state" of them all is asked for in
    slices a command line takes (the whole answer grows past what a reply
    may hold with tens of thousands of servers), and drift in the first,
    a middle and the last backend is repaired."""
    echo = launcher.echo({"web": ["127.0.0.1"]})
    port = echo.port("web")
    m = launcher.manifests()
    names = [f"many{i}" for i in range(1000)]
    objs = []
    for n in names:
        objs += service_with_endpoints(n, ["127.0.0.1"], port)
    m.write("svc.yaml", objs)
    m.write("ing.yaml", ingress("many", [rule(f"{n}.drift.test", path("/", n)) for n in names]))
    px = launcher.portico(m, env={"PORTICO_DRIFT_INTERVAL_MS": "300"})
    px.wait_service("many999.drift.test", "/", "web")
    reloads = px.settle()
    backends = sorted(f"default_{n}_http" for n in names)
    server = f"127.0.0.1:{port}"
    for be in (backends[0], backends[500], backends[-1]):
        assert px.admin(f"disable server {be}/{server}").strip() == ""
    wait_for(lambda: repairs(px)["server_added"] == 3, what="the three servers enabled again")
    for be in (backends[0], backends[500], backends[-1]):
        state = [ln.split() for ln in px.admin(f"show servers state {be}").splitlines()]
        assert [int(f[6]) for f in state if len(f) > 6 and f[1] == be] == [0], be
    assert "drift check:" not in px.log_text()
    assert px.settle() == reloads
