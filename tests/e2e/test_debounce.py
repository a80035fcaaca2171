"""--debounce: a change waits that long for others, and one pass applies
everything that arrived meanwhile."""

import time

from helpers import ingress, path, rule, wait_for


def passes(px):
    return int(px.metric("portico_sync_passes_total"))


def test_changes_within_the_debounce_are_one_pass(launcher):
    echo = launcher.echo({"web": ["127.0.0.1"]})
    m = launcher.manifests()
    m.write("svc.yaml", echo.objects("web"))
    m.write("a.yaml", ingress("a", [rule("a.debounce.test", path("/", "web"))]))
    px = launcher.portico(m, args=["--debounce=600ms"])
    px.wait_service("a.debounce.test", "/", "web")
    reloads = px.settle()
    before = passes(px)

    start = time.monotonic()
    m.write("b.yaml", ingress("b", [rule("b.debounce.test", path("/", "web"))]))
    time.sleep(0.15)
    m.write("c.yaml", ingress("c", [rule("c.debounce.test", path("/", "web"))]))
    px.wait_service("b.debounce.test", "/", "web")
    served = time.monotonic() - start
    px.wait_service("c.debounce.test", "/", "web")
    assert served >= 0.5, f"served after {served:.3f} s, within the 600 ms debounce"
    assert passes(px) == before + 1, "two changes within the debounce must be one pass"
    assert px.settle() == reloads
