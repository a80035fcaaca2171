"""A reload that gathers several changes (five new backends, waiting for
--min-reload-interval together) names them in its log line, the first three
and how many more, and the metrics count it once under its kind of reason
and each of its changes."""

import re

from helpers import RELOAD_RE, ingress, path, rule, wait_for

NAMES = [f"rr{i}" for i in range(5)]



def test_coalesced_reload_names_its_reasons(launcher):
    echo = launcher.echo({n: ["127.0.0.1"] for n in ["one", "first", *NAMES]})
    m = launcher.manifests()
    m.write("one.yaml", echo.objects("one") + [ingress("one", [rule("one.rr.test", path("/", "one"))])])
    # new backends reload (spare backends would serve them first)
    px = launcher.portico(m, args=["--min-reload-interval=4s", "--spare-backends=0"])
    before = px.settle()
    # a first reload: the burst after it waits for the interval, and gathers
    m.write("first.yaml", echo.objects("first") +
            [ingress("first", [rule("first.rr.test", path("/", "first"))])])
    px.wait_service("first.rr.test", "/", "first")
    wait_for(lambda: px.reload_count() == before + 1, what="the first reload logged")
    for n in NAMES:
        m.write(f"{n}.yaml", echo.objects(n) + [ingress(n, [rule(f"{n}.rr.test", path("/", n))])])
    for n in NAMES:
        px.wait_service(f"{n}.rr.test", "/", n, timeout=15)
    assert px.settle() == before + 2, "the five new backends must be one reload"
    line = [ln for ln in px.log_text().splitlines() if RELOAD_RE.search(ln)][-1]
    assert re.search(r"haproxy reloaded \(generation \d+\): backend default_rr0_http added, "
                     r"backend default_rr1_http added, backend default_rr2_http added and 2 more; "
                     r"\d+ ms; ", line), line
    backends = 'portico_reloads_by_reason_total{reason="backends",result="success"}'
    assert px.metric(backends) == 2
    assert px.metric('portico_reloads_total{result="success"}') == 2
    assert px.metric('portico_reload_changes_total{reason="backends"}') == 6
