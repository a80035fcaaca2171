"""client-ca (mutual TLS on the HTTPS port) through the real HAProxy: a
client without a certificate of the CA fails the handshake, one with it is
served and its endpoint learns so from HAProxy (never from the client);
client-crt-optional lets clients without a certificate in; a Secret that
holds no certificate refuses every HTTPS request rather than skip the
check; plain HTTP is unaffected."""

import base64
import ssl
import subprocess

import pytest

from helpers import config_map, ingress, meta, path, rule, tls_get, wait_for


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A CA, a client certificate it signed, and one signed by nobody."""
    d = tmp_path_factory.mktemp("pki")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    openssl("req", "-x509", *ec, "-days", "2", "-subj", "/CN=test CA",
            "-keyout", str(d / "ca.key"), "-out", str(d / "ca.crt"))
    openssl("req", *ec, "-subj", "/CN=alice", "-keyout", str(d / "alice.key"),
            "-out", str(d / "alice.csr"))
    openssl("x509", "-req", "-in", str(d / "alice.csr"), "-CA", str(d / "ca.crt"),
            "-CAkey", str(d / "ca.key"), "-CAcreateserial", "-days", "2",
            "-out", str(d / "alice.crt"))
    openssl("req", "-x509", *ec, "-days", "2", "-subj", "/CN=mallory",
            "-keyout", str(d / "mallory.key"), "-out", str(d / "mallory.crt"))
    return d


def https_get(port, host, cert=None, headers=""):
    """(status, the endpoint's JSON) over TLS 1.2 (a refused client
    certificate fails the handshake itself), with client certificate <cert>
    or none; raises ssl.SSLError or ConnectionError when refused."""
    status, j, _ = tls_get(port, host, headers=headers, cert=cert, tls12=True)
    return status, j


def ca_secret(name, pem):
    return {"apiVersion": "v1", "kind": "Secret", "metadata": meta(name), "type": "Opaque",
            "data": {"ca.crt": base64.b64encode(pem.encode()).decode()}}


def test_client_ca(launcher, pki):
    echo = launcher.echo({"web": ["127.0.0.1"]})
    m = launcher.manifests()
    m.write("svc.yaml", echo.objects("web"))
    m.write("ing.yaml", ingress("web", [rule("mtls.test", path("/", "web"))]))
    m.write("ca.yaml", ca_secret("client-ca", (pki / "ca.crt").read_text()))
    m.write("cm.yaml", config_map("portico-config", {"client-ca": "client-ca"}))
    px = launcher.portico(m, args=["--configmap=default/portico-config"])
    px.wait_service("mtls.test", "/", "web")

    status, j = https_get(px.https, "mtls.test", pki / "alice",
                          headers="X-SSL-Client-Verify: FORGED\r\n")
    assert status == 200 and j["service"] == "web"
    assert j["headers"].get("x-ssl-client-verify") == "SUCCESS", j["headers"]
    assert "CN=alice" in j["headers"].get("x-ssl-client-dn", ""), j["headers"]
    for cert in (None, pki / "mallory"):
        with pytest.raises((ssl.SSLError, ConnectionError)):
            https_get(px.https, "mtls.test", cert)
    # plain HTTP is not asked for a certificate, and cannot claim one
    r = px.get("/", host="mtls.test", headers=[("X-SSL-Client-Verify", "SUCCESS")])
    assert r.service == "web" and "x-ssl-client-verify" not in r.json["headers"], r.json

    # optional: no certificate is let in, and said so; a bad one still is not
    m.write("cm.yaml", config_map("portico-config", {"client-ca": "default/client-ca",
                                                     "client-crt-optional": "true"}))

    def anonymous_served():
        try:
            return https_get(px.https, "mtls.test")[1]
        except (ssl.SSLError, ConnectionError):
            return None
    j = wait_for(anonymous_served, what="a client without a certificate served")
    assert j["headers"].get("x-ssl-client-verify") == "NONE", j["headers"]
    with pytest.raises((ssl.SSLError, ConnectionError)):
        https_get(px.https, "mtls.test", pki / "mallory")

    # a Secret without a certificate: HTTPS refused, not served unchecked
    m.write("ca.yaml", {**ca_secret("client-ca", "not a certificate")})
    wait_for(lambda: https_get(px.https, "mtls.test")[0] == 403, what="HTTPS refused")
    px.settle()  # a reload: the old worker may answer a last request
    assert https_get(px.https, "mtls.test", pki / "alice")[0] == 403
    assert 'data[\\"client-ca\\"]: secret \\"default/client-ca\\" ca.crt: no PEM certificate' \
        in px.log_text()
    assert px.get("/", host="mtls.test").service == "web"
