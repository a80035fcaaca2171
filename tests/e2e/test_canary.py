"""ingress-nginx's canary annotations through the real HAProxy (doc/routing.md,
Canaries): a canary Ingress takes a share of the route of the same host, path
and pathType of another Ingress, by header (always/never, or an exact value),
then cookie, then weight; it makes no route of its own; a new weight is a map
update, not a reload (doc/internals/routing-maps.md)."""

from helpers import ingress, path, rule, wait_for

NGINX = "nginx.ingress.kubernetes.io/"
HOST = "canary.e2e.test"


def canary(name, host, svc, p="/", ptype="Prefix", **ann):
    a = {NGINX + "canary": "true"}
    a.update({NGINX + k.replace("_", "-"): v for k, v in ann.items()})
    return ingress(name, [rule(host, path(p, svc, ptype))], annotations=a,
                   created="2024-02-01T00:00:00Z")


def served(px, n, host=HOST, p="/", headers=()):
    """How many of <n> requests each echo service answered."""
    seen = {}
    for _ in range(n):
        r = px.get(p, host=host, headers=list(headers))
        assert r.status == 200, r
        seen[r.service] = seen.get(r.service, 0) + 1
    return seen


def test_canary(launcher):
    echo = launcher.echo({"main": ["127.0.0.1"], "next": ["127.0.0.2"]})
    m = launcher.manifests()
    m.write("svc.yaml", echo.objects("main") + echo.objects("next"))
    m.write("main.yaml", ingress("main", [rule(HOST, path("/", "main")),
                                          rule("value.e2e.test", path("/v", "main", "Exact"))]))
    m.write("canary.yaml", canary("canary", HOST, "next", canary_weight="0",
                                  canary_by_header="X-Canary", canary_by_cookie="canary_ck"))
    m.write("value.yaml", canary("value", "value.e2e.test", "next", "/v", "Exact",
                                 canary_by_header="X-Canary", canary_by_header_value="beta"))
    # no main rule: no route of its own, as ingress-nginx
    m.write("alone.yaml", canary("alone", "alone.e2e.test", "next", canary_weight="100"))
    px = launcher.portico(m)
    px.wait_service(HOST, "/", "main")
    assert px.get("/", host="alone.e2e.test").status == 404
    assert "no other Ingress has a rule" in px.log_text()

    # weight 0: none; the header, then the cookie, decide first
    assert served(px, 100) == {"main": 100}
    assert served(px, 20, headers=[("X-Canary", "always")]) == {"next": 20}
    assert served(px, 5, headers=[("X-Canary", "never")]) == {"main": 5}
    assert served(px, 5, headers=[("X-Canary", "maybe")]) == {"main": 5}
    assert served(px, 20, headers=[("Cookie", "canary_ck=always")]) == {"next": 20}
    assert served(px, 5, headers=[("Cookie", "a=1; canary_ck=never")]) == {"main": 5}
    assert served(px, 5, headers=[("X-Canary", "never"),
                                  ("Cookie", "canary_ck=always")]) == {"main": 5}
    assert served(px, 5, headers=[("X-Canary", "other"),
                                  ("Cookie", "canary_ck=always")]) == {"next": 5}
    # an exact header value: that value only, "always" is just another value
    assert served(px, 5, "value.e2e.test", "/v", [("X-Canary", "beta")]) == {"next": 5}
    assert served(px, 5, "value.e2e.test", "/v", [("X-Canary", "always")]) == {"main": 5}
    assert served(px, 5, "value.e2e.test", "/v") == {"main": 5}

    # new weights: a map update, no reload
    log0, master0 = px.settle(), px.master_reloads()
    m.write("canary.yaml", canary("canary", HOST, "next", canary_weight="100",
                                  canary_by_header="X-Canary", canary_by_cookie="canary_ck"))
    px.wait_service(HOST, "/", "next")
    assert served(px, 100) == {"next": 100}
    assert served(px, 10, headers=[("X-Canary", "never")]) == {"main": 10}
    assert served(px, 10, headers=[("Cookie", "canary_ck=never")]) == {"main": 10}

    m.write("canary.yaml", canary("canary", HOST, "next", canary_weight="30",
                                  canary_by_header="X-Canary", canary_by_cookie="canary_ck"))
    wait_for(lambda: "30:100" in px.admin("show map maps/prefix.map"), what="weight 30 in the map")
    got = served(px, 400)
    # 120 expected; 75..165 is about five standard deviations either side
    assert 75 <= got.get("next", 0) <= 165, got
    assert got.get("next", 0) + got.get("main", 0) == 400, got

    # a total of 1000: 999 of 1000
    m.write("canary.yaml", canary("canary", HOST, "next", canary_weight="999",
                                  canary_weight_total="1000", canary_by_header="X-Canary",
                                  canary_by_cookie="canary_ck"))
    wait_for(lambda: "999:1000" in px.admin("show map maps/prefix.map"), what="999 of 1000")
    assert served(px, 100).get("next", 0) >= 90
    assert px.settle() == log0
    assert px.master_reloads() == master0, px.master("show proc")

    # the canary gone: its route is the main's alone again
    m.delete("canary.yaml")
    px.wait_service(HOST, "/", "main")
    px.settle()  # a reload: the old worker may answer a last request
    assert served(px, 50, headers=[("X-Canary", "always")]) == {"main": 50}


def test_canary_header_pattern(launcher):
    """canary-by-header-pattern: a regex (PCRE, unanchored unless it says so)
    the header must match; the exact value wins when both are set; a
    pattern HAProxy would refuse is reported and the canary decides by
    always/never, every other route unharmed."""
    echo = launcher.echo({"main": ["127.0.0.1"], "next": ["127.0.0.2"]})
    m = launcher.manifests()
    m.write("svc.yaml", echo.objects("main") + echo.objects("next"))
    m.write("main.yaml", ingress("main", [rule(HOST, path("/", "main")),
                                          rule("both.e2e.test", path("/", "main")),
                                          rule("bad.e2e.test", path("/", "main"))]))
    m.write("pattern.yaml", canary("pattern", HOST, "next", canary_by_header="X-Canary",
                                   canary_by_header_pattern=r'^(beta|gamma)-\d+$|"#x" \$'))
    m.write("both.yaml", canary("both", "both.e2e.test", "next", canary_by_header="X-Canary",
                                canary_by_header_value="exact",
                                canary_by_header_pattern="^ex"))
    m.write("bad.yaml", canary("bad", "bad.e2e.test", "next", canary_by_header="X-Canary",
                               canary_by_header_pattern=r"(a)\1"))
    px = launcher.portico(m)
    px.wait_service(HOST, "/", "main")

    assert served(px, 10, headers=[("X-Canary", "beta-12")]) == {"next": 10}
    assert served(px, 5, headers=[("X-Canary", "gamma-7")]) == {"next": 5}
    # unanchored alternative: anywhere in the value, with its quotes and '#'
    assert served(px, 5, headers=[("X-Canary", 'say "#x" $ now')]) == {"next": 5}
    assert served(px, 5, headers=[("X-Canary", "beta-12x")]) == {"main": 5}
    assert served(px, 5, headers=[("X-Canary", "always")]) == {"main": 5}
    assert served(px, 5) == {"main": 5}

    # the value wins: "^ex" matches "exactly", but only "exact" goes
    assert served(px, 5, "both.e2e.test", headers=[("X-Canary", "exact")]) == {"next": 5}
    assert served(px, 5, "both.e2e.test", headers=[("X-Canary", "exactly")]) == {"main": 5}

    # refused: reported on that Ingress and key, always/never as without it
    log = px.log_text()
    assert "ingress/default/bad" in log and "canary-by-header-pattern" in log, log
    assert served(px, 5, "bad.e2e.test", headers=[("X-Canary", "a\\1")]) == {"main": 5}
    assert served(px, 5, "bad.e2e.test", headers=[("X-Canary", "always")]) == {"next": 5}
    assert served(px, 5, headers=[("X-Canary", "beta-1")]) == {"next": 5}
