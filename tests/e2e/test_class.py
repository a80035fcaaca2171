"""routing.md, "Which Ingresses are ours": IngressClass controller, the
kubernetes.io/ingress.class annotation (wins over the field), default class
(ours / theirs), --watch-ingress-without-class, missing class, run-time changes."""

import itertools

import pytest

from helpers import SOURCE, ingress, ingress_class, path, rule, wait_for

SCHEMES = ["http", "https"]
OTHER = "example.com/other-controller"

# name -> (annotation class, spec.ingressClassName, ours with default flags?)
CASES = {
    "field-ours": (None, "portico", True),
    "field-alt": (None, "alt", True),            # any IngressClass whose controller is ours
    "field-other": (None, "other", False),       # IngressClass owned by someone else
    "field-missing": (None, "nonexistent", False),
    "ann-ours": ("portico", None, True),
    "ann-wins": ("portico", "other", True),      # annotation wins over the field
    "ann-loses": ("other", "portico", False),
    "ann-missing-field": ("portico", "nonexistent", True),
    "ann-alt": ("alt", None, False),             # annotation must equal --ingress-class
    "noclass": (None, None, False),              # no default class that is ours
}
if SOURCE == "cluster":
    # The API server refuses to create an Ingress whose annotation and field
    # name different classes (only older servers let them in).
    for name in ("ann-wins", "ann-loses", "ann-missing-field"):
        del CASES[name]
SERVICES = list(CASES) + ["sentinel", "switch"]
_seq = itertools.count()


def host(name):
    return f"{name}.class.test"


def case_ingresses():
    return [ingress(n, [rule(host(n), path("/", n))], annotation_class=a, cls=c) for n, (a, c, _) in CASES.items()]


def write_classes(m, default_ours=False, default_other=False, extra_ours=None):
    """Rewrite classes.yaml in one atomic step together with a fresh sentinel Ingress,
    and return the sentinel host: once it routes, the whole file has been applied."""
    n = next(_seq)
    objs = [ingress_class("portico", default=default_ours),
            ingress_class("alt"),
            ingress_class("other", controller=OTHER, default=default_other)]
    if extra_ours:
        objs.append(ingress_class(extra_ours, default=True))
    objs.append(ingress("sentinel", [rule(f"sentinel-{n}.class.test", path("/", "sentinel"))]))
    m.write("classes.yaml", objs)
    return f"sentinel-{n}.class.test"


@pytest.fixture(scope="module")
def stack(module_launcher):
    echo = module_launcher.echo({s: ["127.0.0.1"] for s in SERVICES})
    m = module_launcher.manifests(with_class=False)
    objs = []
    for s in SERVICES:
        objs += echo.objects(s)
    m.write("services.yaml", objs)
    m.write("cases.yaml", case_ingresses())
    m.write("switch.yaml", ingress("switch", [rule(host("switch"), path("/", "switch"))], cls="other"))
    sentinel = write_classes(m)
    px = module_launcher.portico(m)
    px.wait_service(sentinel, "/", "sentinel")
    return px, m, echo


def expect(px, scheme, name, ours):
    r = px.fetch(scheme, "/", host=host(name))
    if ours:
        assert r.service == name, f"{name} should be ours: {r}"
    else:
        assert r.status == 404 and r.header("X-Echo-Service") is None, f"{name} should be ignored: {r}"


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("name", list(CASES))
def test_class_selection(stack, scheme, name):
    expect(stack[0], scheme, name, CASES[name][2])


def test_default_class_ours_takes_classless_ingresses(stack):
    px, m, _ = stack
    try:
        px.wait_service(write_classes(m, default_ours=True), "/", "sentinel")
        for scheme in SCHEMES:
            expect(px, scheme, "noclass", True)
            expect(px, scheme, "field-missing", False)
            expect(px, scheme, "field-other", False)
            expect(px, scheme, "ann-loses", False)
    finally:
        px.wait_service(write_classes(m), "/", "sentinel")
    expect(px, "http", "noclass", False)


def test_default_class_theirs_means_not_ours(stack):
    px, m, _ = stack
    try:
        px.wait_service(write_classes(m, default_other=True), "/", "sentinel")
        expect(px, "http", "noclass", False)
        expect(px, "http", "field-ours", True)
    finally:
        px.wait_service(write_classes(m), "/", "sentinel")


def test_default_class_marker_on_another_ours_class(stack):
    # any IngressClass with our controller may carry the default marker
    px, m, _ = stack
    try:
        px.wait_service(write_classes(m, extra_ours="portico-default"), "/", "sentinel")
        expect(px, "http", "noclass", True)
    finally:
        px.wait_service(write_classes(m), "/", "sentinel")
    expect(px, "http", "noclass", False)


def test_class_changed_at_run_time(stack):
    px, m, _ = stack
    expect(px, "http", "switch", False)
    m.write("switch.yaml", ingress("switch", [rule(host("switch"), path("/", "switch"))], cls="portico"))
    px.wait_service(host("switch"), "/", "switch")
    m.write("switch.yaml", ingress("switch", [rule(host("switch"), path("/", "switch"))], cls="portico",
                                   annotation_class="other"))
    px.wait_service(host("switch"), "/", None)
    m.write("switch.yaml", ingress("switch", [rule(host("switch"), path("/", "switch"))], cls="other",
                                   annotation_class="portico"))
    px.wait_service(host("switch"), "/", "switch", scheme="https")
    m.write("switch.yaml", ingress("switch", [rule(host("switch"), path("/", "switch"))], cls="other"))
    px.wait_service(host("switch"), "/", None, scheme="https")


def test_ingress_class_object_removed_and_added_at_run_time(stack):
    px, m, _ = stack
    # field-alt depends on IngressClass "alt": drop it, then bring it back
    n = next(_seq)
    m.write("classes.yaml", [ingress_class("portico"), ingress_class("other", controller=OTHER),
                             ingress("sentinel", [rule(f"sentinel-{n}.class.test", path("/", "sentinel"))])])
    try:
        px.wait_service(f"sentinel-{n}.class.test", "/", "sentinel")
        px.settle()  # field-alt's backend gone: a reload, whose old worker may answer last
        expect(px, "http", "field-alt", False)
        expect(px, "http", "field-ours", True)
    finally:
        px.wait_service(write_classes(m), "/", "sentinel")
        px.settle()
    expect(px, "http", "field-alt", True)


def test_watch_ingress_without_class_and_custom_class_name(launcher):
    echo = launcher.echo({s: ["127.0.0.1"] for s in SERVICES})
    m = launcher.manifests(with_class=False)
    objs = []
    for s in SERVICES:
        objs += echo.objects(s)
    m.write("services.yaml", objs)
    m.write("cases.yaml", case_ingresses() + [
        ingress("blue", [rule(host("blue"), path("/", "sentinel"))], annotation_class="blue", cls=None)])
    write_classes(m)
    px = launcher.portico(m, args=["--watch-ingress-without-class", "--ingress-class=blue"])
    for scheme in SCHEMES:
        assert px.fetch(scheme, "/", host=host("blue")).service == "sentinel"
        expect(px, scheme, "noclass", True)          # --watch-ingress-without-class
        expect(px, scheme, "field-ours", True)       # IngressClass controller is still ours
        expect(px, scheme, "field-other", False)
        expect(px, scheme, "field-missing", False)
        expect(px, scheme, "ann-ours", False)        # annotation "portico" != --ingress-class=blue
        expect(px, scheme, "ann-loses", False)


def test_controller_name_flag(launcher):
    echo = launcher.echo({s: ["127.0.0.1"] for s in SERVICES})
    m = launcher.manifests(with_class=False)
    objs = []
    for s in SERVICES:
        objs += echo.objects(s)
    m.write("services.yaml", objs)
    m.write("cases.yaml", case_ingresses())
    write_classes(m, default_other=True)
    px = launcher.portico(m, args=[f"--controller-name={OTHER}"])
    for scheme in SCHEMES:
        expect(px, scheme, "field-other", True)    # IngressClass "other" now has our controller
        expect(px, scheme, "noclass", True)        # ...and is the default class
        expect(px, scheme, "field-ours", False)    # "portico" belongs to someone else now
        expect(px, scheme, "field-alt", False)
        expect(px, scheme, "ann-ours", True)       # annotation still compared to --ingress-class
        expect(px, scheme, "ann-loses", False)


def test_wait_helper_times_out_loudly():
    with pytest.raises(AssertionError):
        wait_for(lambda: False, timeout=0.05)
