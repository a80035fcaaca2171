"""routing.md, "TLS": SNI certificate selection, default certificate, broken
Secrets, tls entries without hosts, HTTP->HTTPS redirects and their knobs,
Host-based routing regardless of SNI; Secret rotation, certificates added or
removed, and a certificate's host names changed, all without reload."""

import base64
import json
import os
import shutil
import signal
import subprocess

import pytest
from cryptography import x509

from helpers import (cert_cn, cert_names, config_map, ingress, path, pid_alive, rule, tls_peer_cert,
                     tls_secret, wait_for)

SERVICES = ["a", "b", "wild", "nohosts", "broken", "missing", "noredir", "code", "plain", "rot"]
DEFAULT_CN = "portico-default"


def tls_ingress(name, host, secret, hosts=True, annotations=None):
    entry = {"secretName": secret}
    if hosts:
        entry["hosts"] = [host]
    return ingress(f"tls-{name}", [rule(host, path("/", name))], tls=[entry], annotations=annotations)


def broken_secret(name):
    bad = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n").decode()
    return {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
            "metadata": {"name": name, "namespace": "default"},
            "data": {"tls.crt": bad, "tls.key": bad}}


@pytest.fixture(scope="module")
def stack(module_launcher, certs):
    echo = module_launcher.echo({s: ["127.0.0.1"] for s in SERVICES})
    m = module_launcher.manifests()
    objs = []
    for s in SERVICES:
        objs += echo.objects(s)
    m.write("services.yaml", objs)
    m.write("secrets.yaml", [
        tls_secret("a-secret", certs.get("a.tls.test")),
        tls_secret("b-secret", certs.get("b.tls.test"), use_string_data=True),
        tls_secret("wild-secret", certs.get("*.wild.tls.test")),
        tls_secret("nohosts-secret", certs.get("nohosts.tls.test")),
        tls_secret("noredir-secret", certs.get("noredir.tls.test")),
        tls_secret("code-secret", certs.get("code.tls.test")),
    ])
    m.write("broken-secret.yaml", broken_secret("broken-secret"))
    m.write("rot-secret.yaml", tls_secret("rot-secret", certs.get("rot-v1", "rot-v1", ["rot.tls.test"])))
    m.write("ingresses.yaml", [
        tls_ingress("a", "a.tls.test", "a-secret"),
        tls_ingress("b", "b.tls.test", "b-secret"),
        tls_ingress("wild", "*.wild.tls.test", "wild-secret"),
        tls_ingress("nohosts", "nohosts.tls.test", "nohosts-secret", hosts=False),
        tls_ingress("broken", "broken.tls.test", "broken-secret"),
        tls_ingress("missing", "missing.tls.test", "does-not-exist"),
        tls_ingress("noredir", "noredir.tls.test", "noredir-secret",
                    annotations={"portico.dev/ssl-redirect": "false"}),
        tls_ingress("code", "code.tls.test", "code-secret",
                    annotations={"portico.dev/ssl-redirect-code": "301"}),
        tls_ingress("rot", "rot.tls.test", "rot-secret"),
        ingress("plain", [rule("plain.tls.test", path("/", "plain"))]),
        # two Ingresses name different Secrets for one host: the oldest one's certificate
        ingress("tls-dup-new", [rule("a.tls.test", path("/dup", "a"))], created="2021-01-01T00:00:00Z",
                tls=[{"hosts": ["a.tls.test"], "secretName": "b-secret"}]),
        # tls entry without hosts whose certificate does not cover the rule host
        ingress("tls-uncovered", [rule("uncovered.tls.test", path("/", "plain"))],
                tls=[{"secretName": "nohosts-secret"}]),
        # Secrets are looked up in the Ingress's namespace: a-secret exists only in default.
        ingress("tls-otherns", [rule("otherns.tls.test", path("/", "plain"))], ns="elsewhere",
                tls=[{"hosts": ["otherns.tls.test"], "secretName": "a-secret"}]),
    ])
    m.write("configmap.yaml", config_map("portico-config", {}))
    px = module_launcher.portico(m, args=["--configmap=default/portico-config"])
    return px, m


@pytest.fixture(scope="module")
def px(stack):
    return stack[0]


def cn(px, sni):
    return cert_cn(tls_peer_cert(px.https, sni))


def assert_no_reload(px, before, workers, what):
    """No reload logged since <before> and no HAProxy worker beside <workers>."""
    new_workers = px.worker_pids() - workers
    assert not new_workers and px.reload_count() == before, \
        f"{what} must not reload HAProxy (new worker pids {new_workers})"


@pytest.mark.parametrize("sni,expected", [
    ("a.tls.test", "a.tls.test"),
    ("b.tls.test", "b.tls.test"),                  # Secret given with stringData
    ("x.wild.tls.test", "*.wild.tls.test"),
    ("other.wild.tls.test", "*.wild.tls.test"),
    ("nohosts.tls.test", "nohosts.tls.test"),      # tls entry without hosts
    ("rot.tls.test", "rot-v1"),
])
def test_certificate_chosen_by_sni(px, sni, expected):
    assert cn(px, sni) == expected


@pytest.mark.parametrize("sni", [None, "unknown.test", "plain.tls.test", "y.z.wild.tls.test", "tls.test",
                                 "broken.tls.test", "missing.tls.test", "otherns.tls.test",
                                 "uncovered.tls.test"])
def test_unknown_or_missing_sni_or_bad_secret_gets_default_certificate(px, sni):
    assert cn(px, sni) == DEFAULT_CN


def test_default_certificate_is_self_signed_portico_default(px):
    c = x509.load_der_x509_certificate(tls_peer_cert(px.https, None))
    assert c.issuer == c.subject


@pytest.mark.parametrize("host", ["broken.tls.test", "missing.tls.test"])
def test_broken_secret_host_still_served_over_https(px, host):
    r = px.get_tls("/", host=host)
    assert r.service == host.split(".")[0], r
    assert cert_cn(r.peer_cert) == DEFAULT_CN
    # and other hosts are fine
    r = px.get_tls("/", host="a.tls.test")
    assert r.service == "a" and cert_cn(r.peer_cert) == "a.tls.test"


@pytest.mark.parametrize("host,svc", [("a.tls.test", "a"), ("b.tls.test", "b"), ("x.wild.tls.test", "wild"),
                                      ("nohosts.tls.test", "nohosts"), ("plain.tls.test", "plain")])
def test_https_routes(px, host, svc):
    r = px.get_tls("/p?q=1", host=host)
    assert r.status == 200 and r.service == svc, r
    assert r.json["path"] == "/p?q=1"


def test_host_header_routes_even_when_sni_differs(px):
    r = px.get_tls("/", host="b.tls.test", sni="a.tls.test")
    assert r.service == "b", r
    assert cert_cn(r.peer_cert) == "a.tls.test"
    r = px.get_tls("/", host="plain.tls.test", sni="a.tls.test")
    assert r.service == "plain", r
    r = px.get_tls("/", host="a.tls.test", sni=None)
    assert r.service == "a", r


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("host,target", [
    ("a.tls.test", "/path?q=1&r=%2F"),
    ("a.tls.test", "/"),
    ("x.wild.tls.test", "/w/x?y"),
    ("b.tls.test", "/b"),
])
def test_plain_http_redirects_to_https_308_keeping_query(px, method, host, target):
    r = px.get(target, host=host, method=method)
    assert r.status == 308, r
    assert r.header("Location") == f"https://{host}{target}", r.headers
    assert r.header("X-Echo-Service") is None
    assert r.header("Server") and r.header("Date"), f"responses always carry Server and Date: {r.headers}"


def test_tls_entry_without_hosts_redirects_too(px):
    r = px.get("/n?x=1", host="nohosts.tls.test")
    assert r.status == 308, r
    assert r.header("Location") == "https://nohosts.tls.test/n?x=1"


def test_tls_entry_without_hosts_not_covering_the_host_does_not_apply(px):
    # its certificate covers nohosts.tls.test only, so uncovered.tls.test has no TLS of its own
    r = px.get("/u", host="uncovered.tls.test")
    assert r.service == "plain", r
    assert cn(px, "uncovered.tls.test") == DEFAULT_CN


def test_host_without_tls_is_not_redirected(px):
    r = px.get("/p?x=1", host="plain.tls.test")
    assert r.service == "plain", r


def test_ssl_redirect_false_annotation(px):
    r = px.get("/p?x=1", host="noredir.tls.test")
    assert r.service == "noredir", r
    assert cn(px, "noredir.tls.test") == "noredir.tls.test"


def test_ssl_redirect_code_annotation(px):
    r = px.get("/c?x=1", host="code.tls.test")
    assert r.status == 301, r
    assert r.header("Location") == "https://code.tls.test/c?x=1"


def test_configmap_ssl_redirect_keys(stack):
    px, m = stack
    try:
        m.write("configmap.yaml", config_map("portico-config", {"ssl-redirect-code": "302"}))
        wait_for(lambda: px.get("/", host="a.tls.test").status == 302, what="ConfigMap redirect code 302")
        assert px.get("/x?y=1", host="a.tls.test").header("Location") == "https://a.tls.test/x?y=1"
        assert px.get("/", host="code.tls.test").status == 301, "annotation beats ConfigMap"
        assert px.get("/", host="noredir.tls.test").service == "noredir"
        m.write("configmap.yaml", config_map("portico-config", {"ssl-redirect": "false"}))
        wait_for(lambda: px.get("/", host="a.tls.test").service == "a", what="ConfigMap ssl-redirect false")
        assert px.get("/", host="x.wild.tls.test").service == "wild"
        assert px.get_tls("/", host="a.tls.test").service == "a"
    finally:
        m.write("configmap.yaml", config_map("portico-config", {}))
        wait_for(lambda: px.get("/", host="a.tls.test").status == 308, what="redirect back to 308")


def test_secret_rotation_without_reload(stack, certs):
    """A rotated Secret whose certificate names the same hosts is given to the running
    model (a certificate pass, no build), set through the Runtime API and written."""
    px, m = stack
    assert cn(px, "rot.tls.test") == "rot-v1"
    before = px.settle()
    workers = px.worker_pids()
    assert workers, "no HAProxy worker found"
    passes = px.metric("portico_model_recerts_total")
    v2 = certs.get("rot-v2", "rot-v2", ["rot.tls.test"])
    m.write("rot-secret.yaml", tls_secret("rot-secret", v2))
    wait_for(lambda: cn(px, "rot.tls.test") == "rot-v2", what="rotated certificate served")
    assert px.get_tls("/", host="rot.tls.test").service == "rot"
    assert px.metric("portico_model_recerts_total") > passes, "a rotation is a certificate pass"
    # the files HAProxy would start from hold the new certificate too
    written = px.config_dir / "current" / "certs" / "default_rot-secret.pem"
    wait_for(lambda: v2.crt in written.read_text(), what="the rotated certificate written")
    assert_no_reload(px, before, workers, "a Secret update")


def test_new_certificate_added_and_removed_without_reload(stack, certs):
    """design.md section 4: a certificate added or removed goes through the Runtime API
    (new/set/commit ssl cert, add/del ssl crt-list), like the host it comes with."""
    px, m = stack
    host = "added.tls.test"
    objs = [tls_secret("added-secret", certs.get(host)),
            ingress("tls-added", [rule(host, path("/", "a"))],
                    tls=[{"hosts": [host], "secretName": "added-secret"}])]
    assert cn(px, host) == DEFAULT_CN
    before = px.settle()
    workers = px.worker_pids()
    m.write("added.yaml", objs)
    try:
        wait_for(lambda: cn(px, host) == host, what="the new certificate served")
        assert px.get_tls("/", host=host).service == "a"
        assert px.get("/x", host=host).status == 308, "its host redirects to HTTPS"
        assert cn(px, "a.tls.test") == "a.tls.test"
        assert_no_reload(px, before, workers, "a new certificate")
    finally:
        m.delete("added.yaml")
    wait_for(lambda: cn(px, host) == DEFAULT_CN, what="the removed certificate no longer served")
    assert_no_reload(px, before, workers, "a certificate no longer used")
    # what went in at run time is in the files too: a reload keeps serving it
    m.write("added.yaml", objs)
    try:
        wait_for(lambda: cn(px, host) == host, what="the certificate added again")
        m.write("configmap.yaml", config_map("portico-config", {"timeout-client": "31s"}))
        wait_for(lambda: px.reload_count() > before, what="a reload (ConfigMap timeout)")
        px.settle()
        assert cn(px, host) == host and cn(px, "a.tls.test") == "a.tls.test"
    finally:
        m.write("configmap.yaml", config_map("portico-config", {}))
        m.delete("added.yaml")
    wait_for(lambda: cn(px, host) == DEFAULT_CN, what="the certificate removed again")


def test_certificate_host_names_change_without_reload(stack, certs):
    """design.md section 4: a certificate that gains or loses a host name gets its new
    crt-list line before its old one goes, through the Runtime API."""
    px, m = stack
    cert = certs.get("multi", "m1.tls.test", ["m1.tls.test", "m2.tls.test"])

    def ing(name, host):
        return ingress(name, [rule(host, path("/", "a"))],
                       tls=[{"hosts": [host], "secretName": "multi-secret"}])

    m.write("multi.yaml", [tls_secret("multi-secret", cert), ing("tls-m1", "m1.tls.test")])
    try:
        wait_for(lambda: cn(px, "m1.tls.test") == "m1.tls.test", what="first host's certificate")
        assert cn(px, "m2.tls.test") == DEFAULT_CN
        before = px.settle()
        workers = px.worker_pids()
        m.write("multi-2.yaml", ing("tls-m2", "m2.tls.test"))
        wait_for(lambda: cn(px, "m2.tls.test") == "m1.tls.test", what="second host gets the certificate")
        assert cn(px, "m1.tls.test") == "m1.tls.test"
        m.delete("multi-2.yaml")
        wait_for(lambda: cn(px, "m2.tls.test") == DEFAULT_CN, what="second host loses it again")
        assert cn(px, "m1.tls.test") == "m1.tls.test"
        assert_no_reload(px, before, workers, "a change of a certificate's host names")
    finally:
        if m.exists("multi-2.yaml"):
            m.delete("multi-2.yaml")
        m.delete("multi.yaml")
    wait_for(lambda: cn(px, "m1.tls.test") == DEFAULT_CN, what="certificate removed")


def test_broken_secret_fixed_at_run_time(stack, certs):
    px, m = stack
    m.write("broken-secret.yaml", tls_secret("broken-secret", certs.get("broken.tls.test")))
    try:
        wait_for(lambda: cn(px, "broken.tls.test") == "broken.tls.test", what="fixed Secret served")
        assert cn(px, "a.tls.test") == "a.tls.test"
        # broken again (a rotation gone wrong): the certificate served until
        # now stays, and a warning says why
        m.write("broken-secret.yaml", broken_secret("broken-secret"))
        wait_for(lambda: "broken-secret\\\": " in px.log_text() and
                 "the previous certificate keeps serving" in px.log_text(),
                 what="the broken rotation reported")
        px.settle()
        assert cn(px, "broken.tls.test") == "broken.tls.test"
    finally:
        # gone, then broken from the start: the default certificate again
        m.delete("broken-secret.yaml")
        wait_for(lambda: cn(px, "broken.tls.test") == DEFAULT_CN, what="Secret gone: default cert")
        m.write("broken-secret.yaml", broken_secret("broken-secret"))
        px.settle()
        assert cn(px, "broken.tls.test") == DEFAULT_CN


def test_default_ssl_certificate_flag(launcher, certs):
    echo = launcher.echo({"a": ["127.0.0.1"]})
    m = launcher.manifests()
    custom = certs.get("custom-default", "custom-default", ["custom-default.test"])
    m.write("all.yaml", echo.objects("a") + [
        tls_secret("custom-default", custom, ns="certs"),
        tls_secret("a-secret", certs.get("a.tls.test")),
        tls_ingress("a", "a.tls.test", "a-secret"),
    ])
    px = launcher.portico(m, args=["--default-ssl-certificate=certs/custom-default"])
    assert cn(px, None) == "custom-default"
    assert cn(px, "unknown.test") == "custom-default"
    assert cn(px, "a.tls.test") == "a.tls.test"
    assert cert_names(tls_peer_cert(px.https, "zzz.test"))[1] == ["custom-default.test"]
    assert px.get_tls("/", host="a.tls.test").service == "a"


def test_http2_over_tls_routes_by_authority(px):
    curl = shutil.which("curl")
    assert curl, "curl is needed for the HTTP/2 check"
    out = subprocess.run([curl, "-sk", "--http2", "-o", "-", "-w", "\n%{http_version} %{http_code}",
                          "--resolve", f"b.tls.test:{px.https}:127.0.0.1", f"https://b.tls.test:{px.https}/h2?x=1"],
                         capture_output=True, text=True, timeout=10).stdout
    body, _, status = out.rpartition("\n")
    assert status == "2 200", out
    j = json.loads(body)
    assert j["service"] == "b" and j["path"] == "/h2?x=1", j


def test_private_keys_written_0600_in_0700_directories(px):
    """design.md section 2: Secrets are written 0600 in a 0700 directory."""
    found = 0
    for f in px.config_dir.rglob("*"):
        if f.is_file() and b"PRIVATE KEY" in f.read_bytes():
            found += 1
            assert f.stat().st_mode & 0o077 == 0, f"{f} is mode {oct(f.stat().st_mode & 0o777)}"
            assert f.parent.stat().st_mode & 0o077 == 0, f"{f.parent} is mode {oct(f.parent.stat().st_mode & 0o777)}"
    assert found, f"no private key files found under {px.config_dir}"


def test_configmap_default_certificate_and_backend(launcher, certs):
    """ssl-certificate and default-backend-service in the ConfigMap win over
    their flags; a change of them is served, removed the flags apply again."""
    echo = launcher.echo({"flagged": ["127.0.0.1"], "keyed": ["127.0.0.1"]})
    m = launcher.manifests()
    m.write("svc.yaml", echo.objects("flagged") + echo.objects("keyed"))
    m.write("flag-cert.yaml", tls_secret("flag-cert", certs.get("flag.default.test")))
    m.write("key-cert.yaml", tls_secret("key-cert", certs.get("key.default.test")))
    m.write("cm.yaml", config_map("portico-config", {"ssl-certificate": "key-cert",
                                                     "default-backend-service": "keyed"}))
    px = launcher.portico(m, args=["--configmap=default/portico-config",
                                   "--default-ssl-certificate=default/flag-cert",
                                   "--default-backend-service=default/flagged"])
    assert cert_cn(tls_peer_cert(px.https, "unknown.test")) == "key.default.test"
    assert px.get("/", host="unknown.test").service == "keyed"
    m.write("cm.yaml", config_map("portico-config", {}))
    wait_for(lambda: px.get("/", host="unknown.test").service == "flagged",
             what="--default-backend-service again")
    px.settle()  # a reload: the old worker may answer a last request
    assert cert_cn(tls_peer_cert(px.https, "unknown.test")) == "flag.default.test"


def test_generations_share_their_certificates(launcher, certs):
    """doc/operations.md: what the Runtime API changed (routes, a rotated
    certificate) is written into the running generation; a generation's "certs" links
    a directory shared by the generations with the same certificates; one whose
    certificates changed gets its own, the unchanged ones hard-linked into it; a
    directory goes with its last generation; and HAProxy started again from the files
    serves what the Runtime API set."""
    echo = launcher.echo({"a": ["127.0.0.1"], "b": ["127.0.0.1"], "c": ["127.0.0.1"]})
    m = launcher.manifests()
    v2 = certs.get("gen-v2", "gen-v2", ["gen.tls.test"])
    m.write("all.yaml", echo.objects("a") + [
        tls_secret("gen-secret", certs.get("gen-v1", "gen-v1", ["gen.tls.test"])),
        tls_ingress("a", "gen.tls.test", "gen-secret")])
    px = launcher.portico(m)
    cfg = px.config_dir

    def certs_dir():
        target = os.readlink(cfg / "current" / "certs")
        assert target.startswith("../certs-"), target
        return cfg / target[3:]

    def new_generation(what, change):
        gen = os.readlink(cfg / "current")
        change()
        wait_for(lambda: os.readlink(cfg / "current") != gen, what=what)

    def in_place(what, change, written):
        gen = os.readlink(cfg / "current")
        change()
        wait_for(written, what=what)
        assert os.readlink(cfg / "current") == gen, f"{what}: not in the running generation"

    def hosts_map():
        return (cfg / "current" / "maps" / "hosts.map").read_text()

    first = certs_dir()
    default_ino = (first / "default.pem").stat().st_ino
    for i in range(3):
        host = f"more{i}.tls.test"
        in_place(f"route change {i} written", lambda: m.write(
            "more.yaml", ingress("more", [rule(host, path("/", "a"))])),
            lambda: host in hosts_map())
        assert certs_dir() == first
    rotated = first / "default_gen-secret.pem"
    in_place("the rotation written", lambda: m.write(
        "all.yaml", echo.objects("a") + [tls_secret("gen-secret", v2),
                                         tls_ingress("a", "gen.tls.test", "gen-secret")]),
        lambda: v2.crt in rotated.read_text())
    assert certs_dir() == first
    assert (first / "default.pem").stat().st_ino == default_ino
    assert cn(px, "gen.tls.test") == "gen-v2"
    # a certificate added: a build, and a directory of its own
    new_generation("a new TLS backend", lambda: m.write(
        "more.yaml", echo.objects("b") + [
            tls_secret("b-secret", certs.get("gen-b", "gen-b", ["b.tls.test"])),
            tls_ingress("b", "b.tls.test", "b-secret")]))
    second = certs_dir()
    assert second != first
    assert (second / "default.pem").stat().st_ino == default_ino
    assert v2.crt in (second / "default_gen-secret.pem").read_text()
    assert (second / "default_b-secret.pem").exists()
    # a build with the same certificates links that directory; the first one,
    # no longer linked once its last generation is pruned, is removed
    new_generation("a new backend", lambda: m.write(
        "more.yaml", echo.objects("b") + echo.objects("c") + [
            tls_secret("b-secret", certs.get("gen-b", "gen-b", ["b.tls.test"])),
            tls_ingress("b", "b.tls.test", "b-secret"),
            ingress("more", [rule("c.tls.test", path("/", "c"))])]))
    assert certs_dir() == second
    # once the reload is confirmed
    wait_for(lambda: not first.exists(), what="a directory no generation links removed")
    assert sorted(p.name for p in cfg.glob("certs-*")) == [second.name]
    # HAProxy restarted from the files: the rotated certificate
    old = px.haproxy_pid()
    os.kill(old, signal.SIGKILL)
    new = wait_for(lambda: (p := px.haproxy_pid()) and p != old and pid_alive(p) and p, timeout=10,
                   what="a new haproxy master pid")
    px.haproxy_pids_seen.add(new)
    wait_for(lambda: cn(px, "gen.tls.test") == "gen-v2", what="HAProxy restarted from the files")
