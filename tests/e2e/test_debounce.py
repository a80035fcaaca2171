"""--debounce: passes begin at least that far apart. A change after a quiet
spell is applied at once; the changes that follow within the interval wait
for the rest of it and go in one pass."""

import time

from helpers import ingress, path, rule

DEBOUNCE = 5.0


def passes(px):
    return int(px.metric("portico_sync_passes_total"))


def test_a_change_goes_at_once_and_those_after_it_together(launcher):
    echo = launcher.echo({"web": ["127.0.0.1"]})
    m = launcher.manifests()
    m.write("svc.yaml", echo.objects("web"))
    m.write("a.yaml", ingress("a", [rule("a.debounce.test", path("/", "web"))]))
    px = launcher.portico(m, args=[f"--debounce={DEBOUNCE:g}s"])
    px.wait_service("a.debounce.test", "/", "web")
    reloads = px.settle()
    time.sleep(DEBOUNCE)  # a quiet spell: the next change has no pass to wait for
    before = passes(px)

    start = time.monotonic()
    m.write("b.yaml", ingress("b", [rule("b.debounce.test", path("/", "web"))]))
    px.wait_service("b.debounce.test", "/", "web")
    served_b = time.monotonic() - start
    assert served_b < DEBOUNCE, f"after a quiet spell, served after {served_b:.3f} s"
    assert passes(px) == before + 1

    # b's pass began after <start>: these two wait until DEBOUNCE after it
    m.write("c.yaml", ingress("c", [rule("c.debounce.test", path("/", "web"))]))
    time.sleep(0.15)
    m.write("d.yaml", ingress("d", [rule("d.debounce.test", path("/", "web"))]))
    px.wait_service("c.debounce.test", "/", "web", timeout=3 * DEBOUNCE)
    served_c = time.monotonic() - start
    px.wait_service("d.debounce.test", "/", "web")
    assert served_c >= DEBOUNCE - 0.1, f"served after {served_c:.3f} s, within the debounce"
    assert passes(px) == before + 2, "two changes within the debounce must be one pass"
    assert px.settle() == reloads
