"""routing.md, "Paths": Exact, Prefix (element-wise, trailing slash, no
redirect), ImplementationSpecific, longest match across Ingresses, Exact over
Prefix, duplicates (oldest wins), merge across namespaces, query strings."""

import re

import pytest

from helpers import Exact, Impl, Prefix, ingress, path, rule

SCHEMES = ["http", "https"]
DEFAULT_NS = ["exact", "prefix", "slash", "impl", "root", "empty", "a", "ab", "abc", "abcd",
              "eq-exact", "eq-prefix", "o-root", "o-x", "dup-old", "dup-new"]
OTHER_NS = {"tie-a": "aaa", "tie-b": "bbb", "m-one": "team-a", "m-two": "team-b"}
NEWER = "2021-06-01T00:00:00Z"
SAME = "2022-01-01T00:00:00Z"


@pytest.fixture(scope="module")
def px(module_launcher):
    echo = module_launcher.echo({s: ["127.0.0.1"] for s in DEFAULT_NS + list(OTHER_NS)})
    m = module_launcher.manifests()
    objs = []
    for s in DEFAULT_NS:
        objs += echo.objects(s)
    for s, ns in OTHER_NS.items():
        objs += echo.objects(s, ns=ns)
    m.write("services.yaml", objs)
    h = "p.paths.test"
    m.write("basic.yaml", [
        ingress("basic", [rule(h,
                               path("/exact", "exact", Exact),
                               path("/pre", "prefix", Prefix),
                               path("/slash/", "slash", Prefix),
                               path("/impl", "impl", Impl),
                               path("/exslash/", "exact", Exact),
                               path("/v1.0", "prefix", Prefix)),
                          rule("root.paths.test", path("/", "root", Prefix)),
                          rule("empty.paths.test", path(None, "empty", Impl))]),
    ])
    # Longest match across several Ingresses, declared in "wrong" orders.
    m.write("longest.yaml", [
        ingress("long-1", [rule("long.paths.test", path("/a/b", "ab"), path("/a", "a"))]),
        ingress("long-2", [rule("long.paths.test", path("/a/b/c", "abc", Impl))]),
        ingress("long-3", [rule("long.paths.test", path("/a/b/c/d", "abcd"))]),
        ingress("eq-1", [rule("eq.paths.test", path("/same", "eq-prefix", Prefix),
                              path("/same", "eq-exact", Exact))]),
        ingress("eq-2", [rule("eq2.paths.test", path("/same", "eq-exact", Exact),
                              path("/same", "eq-prefix", Prefix))]),
        ingress("order-1", [rule("order.paths.test", path("/", "o-root"), path("/x", "o-x"))]),
        ingress("order-2", [rule("order2.paths.test", path("/x", "o-x"), path("/", "o-root"))]),
    ])
    # Duplicates: the newer Ingress comes first in file order and file name.
    m.write("a-dup-new.yaml", [
        ingress("dup-new", [rule("dup.paths.test", path("/d", "dup-new"))], created=NEWER),
    ])
    m.write("b-dup-old.yaml", [
        ingress("dup-old", [rule("dup.paths.test", path("/d", "dup-old"))]),
    ])
    m.write("c-tie.yaml", [
        ingress("aaa", [rule("tie.paths.test", path("/t", "tie-b"))], ns="bbb", created=SAME),
        ingress("zzz", [rule("tie.paths.test", path("/t", "tie-a"))], ns="aaa", created=SAME),
    ])
    m.write("merge.yaml", [
        ingress("merge", [rule("merge.paths.test", path("/one", "m-one"))], ns="team-a"),
        ingress("merge", [rule("merge.paths.test", path("/two", "m-two"))], ns="team-b"),
    ])
    return module_launcher.portico(m)


def check(px, scheme, host, req_path, svc):
    r = px.fetch(scheme, req_path, host=host)
    if svc is None:
        assert r.status == 404 and r.header("X-Echo-Service") is None, f"{req_path}: expected 404, got {r}"
    else:
        assert r.status == 200, f"{req_path}: expected 200 from {svc} (no redirect), got {r}"
        assert r.service == svc, f"{req_path}: {r}"
        assert r.json["path"] == req_path, "request path must reach the backend unchanged"
    return r


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("req_path,svc", [
    ("/exact", "exact"),
    ("/exact/", None),        # Exact: /foo does not match /foo/
    ("/EXACT", None),         # case-sensitive
    ("/exactx", None),
    ("/exact/x", None),
    ("/exslash/", "exact"),   # Exact keeps its trailing slash
    ("/exslash", None),
])
def test_exact(px, scheme, req_path, svc):
    check(px, scheme, "p.paths.test", req_path, svc)


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("req_path,svc", [
    ("/pre", "prefix"),
    ("/pre/", "prefix"),
    ("/pre/bar", "prefix"),
    ("/pre/bar/baz/", "prefix"),
    ("/prefoo", None),        # element-wise, not string prefix
    ("/PRE", None),           # case-sensitive
    ("/pr", None),
    ("/v1.0/x", "prefix"),
    ("/v1x0/x", None),        # paths are literal, not patterns
])
def test_prefix_element_wise(px, scheme, req_path, svc):
    check(px, scheme, "p.paths.test", req_path, svc)


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("req_path,svc", [
    ("/slash", "slash"),      # rule /slash/ behaves as /slash, served without redirect
    ("/slash/", "slash"),
    ("/slash/x", "slash"),
    ("/slashx", None),
])
def test_prefix_trailing_slash_ignored_and_no_redirect(px, scheme, req_path, svc):
    r = check(px, scheme, "p.paths.test", req_path, svc)
    assert r.header("Location") is None


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("req_path", ["/", "/x", "/x/y/z", "/index.html?x=1"])
def test_prefix_root_matches_everything(px, scheme, req_path):
    check(px, scheme, "root.paths.test", req_path, "root")


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("req_path,svc", [
    ("/impl", "impl"),
    ("/implfoo", "impl"),     # string prefix
    ("/impl/x", "impl"),
    ("/Impl", None),          # case-sensitive
    ("/imp", None),
])
def test_implementation_specific_string_prefix(px, scheme, req_path, svc):
    check(px, scheme, "p.paths.test", req_path, svc)


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("req_path", ["/", "/anything", "/a/b?c=d"])
def test_implementation_specific_empty_path_matches_everything(px, scheme, req_path):
    check(px, scheme, "empty.paths.test", req_path, "empty")


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("req_path,svc", [
    ("/a", "a"),
    ("/a/x", "a"),
    ("/a/bc", "a"),           # /a/b is element-wise; /a/b/c is not a prefix of /a/bc
    ("/a/b", "ab"),
    ("/a/b/", "ab"),
    ("/a/b/x", "ab"),
    ("/a/b/c", "abc"),        # ImplementationSpecific /a/b/c is longer than Prefix /a/b
    ("/a/b/cx", "abc"),
    ("/a/b/c/d", "abcd"),
    ("/a/b/c/d/e", "abcd"),
    ("/a/b/c/dx", "abc"),
    ("/b", None),
])
def test_longest_match_across_ingresses(px, scheme, req_path, svc):
    check(px, scheme, "long.paths.test", req_path, svc)


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("host", ["eq.paths.test", "eq2.paths.test"])
def test_exact_beats_prefix_on_equal_length(px, scheme, host):
    check(px, scheme, host, "/same", "eq-exact")
    check(px, scheme, host, "/same?q=1", "eq-exact")
    check(px, scheme, host, "/same/", "eq-prefix")
    check(px, scheme, host, "/same/x", "eq-prefix")


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("host", ["order.paths.test", "order2.paths.test"])
def test_declaration_order_does_not_matter(px, scheme, host):
    check(px, scheme, host, "/x", "o-x")
    check(px, scheme, host, "/x/y", "o-x")
    check(px, scheme, host, "/xy", "o-root")
    check(px, scheme, host, "/", "o-root")


@pytest.mark.parametrize("scheme", SCHEMES)
def test_duplicate_host_path_type_oldest_wins(px, scheme):
    check(px, scheme, "dup.paths.test", "/d", "dup-old")
    check(px, scheme, "dup.paths.test", "/d/e", "dup-old")


@pytest.mark.parametrize("scheme", SCHEMES)
def test_duplicate_same_timestamp_namespace_name_decides(px, scheme):
    # aaa/zzz sorts before bbb/aaa
    check(px, scheme, "tie.paths.test", "/t", "tie-a")


def test_duplicate_loser_gets_warning(px):
    lines = [ln for ln in px.log_text().splitlines() if re.search(r"warn", ln, re.I)]
    assert any("dup-new" in ln for ln in lines), \
        "expected a warning naming the losing Ingress default/dup-new:\n" + "\n".join(lines[-20:])


@pytest.mark.parametrize("scheme", SCHEMES)
def test_rules_merged_across_namespaces(px, scheme):
    check(px, scheme, "merge.paths.test", "/one", "m-one")
    check(px, scheme, "merge.paths.test", "/two/x", "m-two")
    check(px, scheme, "merge.paths.test", "/three", None)


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("req_path,svc", [
    ("/exact?x=1", "exact"),
    ("/exact?", "exact"),
    ("/exact?x=/y&z=%2F", "exact"),
    ("/pre?next=/other", "prefix"),
    ("/pre/x?a=b", "prefix"),
    ("/prefoo?x=/pre", None),
    ("/exactly?x", None),
    ("/impl?x", "impl"),
])
def test_query_string_ignored_for_matching_but_forwarded(px, scheme, req_path, svc):
    check(px, scheme, "p.paths.test", req_path, svc)
