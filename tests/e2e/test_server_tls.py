"""TLS to the endpoints, verified and with a client certificate (server-ca,
server-crt), and static cookies (cookie-persistence-no-dynamic), through the
real HAProxy to real TLS backends (protoservers.py) that report the client
certificate they were shown (doc/config/server-ca.md, server-crt.md,
cookie-persistence-no-dynamic.md). Beyond routing.md: design.md section 4
(endpoint changes and a rotated client certificate without reload)."""

import base64
import subprocess

import pytest

from helpers import ingress, path, rule, service_with_endpoints, tls_secret, wait_for, Cert
from protoservers import ProtoServer


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


def make_ca(d, name):
    """A CA: returns the path of its certificate (key beside it)."""
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "2",
            "-subj", f"/CN={name}", "-keyout", str(d / f"{name}.key"), "-out", str(d / f"{name}.crt"),
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=keyCertSign")
    return d / f"{name}.crt"


def make_signed(d, name, cn, ca):
    """A certificate for <cn> signed by CA <ca> (a make_ca() name): a Cert."""
    key, csr, crt = d / f"{name}.key", d / f"{name}.csr", d / f"{name}.crt"
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={cn}", "-keyout", str(key),
            "-out", str(csr))
    openssl("x509", "-req", "-in", str(csr), "-CA", str(d / f"{ca}.crt"), "-CAkey",
            str(d / f"{ca}.key"), "-CAcreateserial", "-days", "2", "-sha256", "-out", str(crt))
    return Cert(name, crt.read_text(), key.read_text())


def ca_secret(name, ca_path):
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": "default"},
            "type": "Opaque",
            "data": {"ca.crt": base64.b64encode(ca_path.read_bytes()).decode()}}


def ing(name, service, annotations):
    return ingress(name, [rule(f"{name}.srvtls.test", path("/", service))],
                   annotations=annotations)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    p = {"dir": d, "ca1": make_ca(d, "ca1"), "ca2": make_ca(d, "ca2"),
         "client_ca": make_ca(d, "client_ca")}
    p["backend"] = make_signed(d, "backend", "backend.invalid", "ca1")
    (d / "backend.pem").write_text(p["backend"].crt)
    (d / "backend-key.pem").write_text(p["backend"].key)
    p["client"] = make_signed(d, "client", "portico-client", "client_ca")
    p["client2"] = make_signed(d, "client2", "portico-client-2", "client_ca")
    return p


def backend(pki, name, addrs=("127.0.0.1",)):
    return ProtoServer(name, addrs=addrs, proxy="none",
                       tls=(str(pki["dir"] / "backend.pem"), str(pki["dir"] / "backend-key.pem")),
                       client_ca=str(pki["client_ca"]))


def get(px, host):
    return px.get("/", host=host)


def test_verified_or_refused(launcher, pki):
    """The right CA: served over verified TLS; another CA: 503 (the handshake
    fails in HAProxy), a missing Secret: 503 and a warning naming the
    Ingress and the key; a route without the keys is unaffected."""
    srv = backend(pki, "tls")
    m = launcher.manifests()
    m.write("svc.yaml", service_with_endpoints("tls", ["127.0.0.1"], srv.port))
    m.write("secrets.yaml", [ca_secret("ca1", pki["ca1"]), ca_secret("ca2", pki["ca2"])])
    m.write("ing.yaml", [ing("good", "tls", {"portico.dev/server-ca": "ca1"}),
                         ing("wrong", "tls", {"haproxy.org/server-ca": "default/ca2"}),
                         ing("missing", "tls", {"portico.dev/server-ca": "nope"}),
                         ing("plain", "tls", {"portico.dev/server-ssl": "true"})])
    px = launcher.portico(m)
    wait_for(lambda: get(px, "good.srvtls.test").status == 200, what="verified route served")
    r = get(px, "good.srvtls.test")
    assert r.json["tls"] is True and r.json["client_cn"] is None, r.json
    assert get(px, "wrong.srvtls.test").status == 503
    assert get(px, "missing.srvtls.test").status == 503
    assert get(px, "plain.srvtls.test").status == 200
    wait_for(lambda: 'server-ca: secret \\"default/nope\\" not found' in px.log_text()
             or 'server-ca: secret "default/nope" not found' in px.log_text(),
             what="the warning naming the key and Secret")
    srv.stop()


def test_client_certificate_scaling_and_rotation(launcher, pki):
    """server-crt: the endpoint sees Portico's client certificate. A backend
    with no endpoint at the last reload gets endpoints, then more, with no
    reload (the CA and the certificate are loaded when HAProxy starts). The
    client certificate's Secret rotated: the new one is shown, no reload. The
    CA rotated to a wrong one: 503 (a reload), and back."""
    srv = backend(pki, "mtls", addrs=("127.0.0.1", "127.0.0.2"))
    m = launcher.manifests()
    m.write("svc.yaml", service_with_endpoints("mtls", [], srv.port))
    m.write("secrets.yaml", [ca_secret("ca", pki["ca1"]), tls_secret("client", pki["client"])])
    m.write("ing.yaml", [ing("mtls", "mtls", {"portico.dev/server-ca": "ca",
                                              "portico.dev/server-crt": "client"})])
    px = launcher.portico(m)
    wait_for(lambda: get(px, "mtls.srvtls.test").status == 503, what="no endpoint: 503")
    px.settle()
    reloads = px.master_reloads()
    m.write("svc.yaml", service_with_endpoints("mtls", ["127.0.0.1"], srv.port))
    wait_for(lambda: get(px, "mtls.srvtls.test").status == 200, what="first endpoint served")
    r = get(px, "mtls.srvtls.test")
    assert r.json["client_cn"] == "portico-client", r.json
    m.write("svc.yaml", service_with_endpoints("mtls", ["127.0.0.1", "127.0.0.2"], srv.port))
    wait_for(lambda: len({get(px, "mtls.srvtls.test").json["endpoint"] for _ in range(8)}) == 2,
             what="both endpoints served")
    assert px.master_reloads() == reloads

    m.write("secrets.yaml", [ca_secret("ca", pki["ca1"]), tls_secret("client", pki["client2"])])
    # HAProxy holds the new certificate (new connections present it; one
    # resuming an earlier TLS session keeps the identity it had)
    def holds_new():
        names = [ln.strip() for ln in px.admin("show ssl cert").splitlines()
                 if ln.strip().startswith("server-tls/crt-")]
        return names and all("portico-client-2" in px.admin(f"show ssl cert {n}") for n in names)
    wait_for(holds_new, what="the rotated client certificate committed")
    assert px.master_reloads() == reloads

    m.write("secrets.yaml", [ca_secret("ca", pki["ca2"]), tls_secret("client", pki["client2"])])
    wait_for(lambda: get(px, "mtls.srvtls.test").status == 503, what="a wrong CA refused")
    m.write("secrets.yaml", [ca_secret("ca", pki["ca1"]), tls_secret("client", pki["client2"])])
    wait_for(lambda: get(px, "mtls.srvtls.test").status == 200, what="the right CA again")
    srv.stop()


def test_static_cookies(launcher):
    """cookie-persistence-no-dynamic: each endpoint's cookie is its server's
    name (address:port), a client with it stays there; an endpoint added
    reloads HAProxy (add server takes no cookie) and gets its own."""
    echo = launcher.echo({"web": ["127.0.0.1", "127.0.0.2", "127.0.0.3"]})
    port = echo.ports["web"]
    m = launcher.manifests()
    m.write("svc.yaml", service_with_endpoints("web", ["127.0.0.1", "127.0.0.2"], port))
    m.write("ing.yaml", ingress("sticky", [rule("sticky.srvtls.test", path("/", "web"))],
                                annotations={"portico.dev/cookie-persistence-no-dynamic": "SRV"}))
    px = launcher.portico(m)
    px.wait_service("sticky.srvtls.test", "/", "web")

    def cookies():
        seen = {}
        for _ in range(20):
            r = px.get("/", host="sticky.srvtls.test")
            seen[r.json["endpoint"]] = r.header("Set-Cookie").split(";")[0]
        return seen

    seen = cookies()
    assert len(seen) == 2, seen
    for ep, c in seen.items():
        assert c == f"SRV={ep}", (ep, c)
        for _ in range(5):
            assert px.get("/", host="sticky.srvtls.test",
                          headers=[("Cookie", c)]).json["endpoint"] == ep
    reloads = px.settle()
    m.write("svc.yaml", service_with_endpoints("web", ["127.0.0.1", "127.0.0.2", "127.0.0.3"],
                                               port))
    wait_for(lambda: len(cookies()) == 3, what="the added endpoint served")
    assert px.settle() > reloads
    assert all(c == f"SRV={ep}" for ep, c in cookies().items())
