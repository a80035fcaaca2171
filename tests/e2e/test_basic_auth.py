"""Basic authentication (auth-type, auth-secret, auth-realm, and
ingress-nginx's auth-type basic with an htpasswd file) through the real
HAProxy: no credentials or wrong ones get 401 with the realm, a user of the
Secret gets through, a change of the Secret's users takes effect, and a
missing or unusable Secret answers 503, never an unauthenticated 200."""

import base64
import subprocess

from helpers import ingress, meta, path, rule, wait_for


def crypt(password, scheme="-6"):
    """A crypt(3) hash, as `openssl passwd` makes it (-6 SHA-512, -5 SHA-256, -1 MD5)."""
    return subprocess.run(["openssl", "passwd", scheme, password], check=True,
                          capture_output=True, text=True).stdout.strip()


def secret(name, data):
    return {"apiVersion": "v1", "kind": "Secret", "metadata": meta(name), "type": "Opaque",
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}


def basic(user, password):
    return [("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())]


def test_basic_auth(launcher):
    echo = launcher.echo({"web": ["127.0.0.1"]})
    m = launcher.manifests()
    m.write("svc.yaml", echo.objects("web"))
    m.write("users.yaml", secret("staff", data={"carol": crypt("c-pass"),
                                                "dave": crypt("d-pass", "-5")}))
    m.write("htpasswd.yaml", secret("htpasswd", data={
        "auth": f"alice:{crypt('a-pass')}\n# comment\nbob@example.test:{crypt('b-pass', '-1')}\n"}))
    m.write("staff.yaml", ingress("staff", [rule("staff.auth.test", path("/", "web"))], annotations={
        "haproxy.org/auth-type": "basic-auth", "haproxy.org/auth-secret": "staff",
        "haproxy.org/auth-realm": "Staff only"}))
    m.write("nginx.yaml", ingress("nginx", [rule("nginx.auth.test", path("/", "web"))], annotations={
        "nginx.ingress.kubernetes.io/auth-type": "basic",
        "nginx.ingress.kubernetes.io/auth-secret": "default/htpasswd",
        "nginx.ingress.kubernetes.io/auth-realm": "Members"}))
    m.write("open.yaml", ingress("open", [rule("open.auth.test", path("/", "web"))]))
    px = launcher.portico(m)
    px.wait_service("open.auth.test", "/", "web")

    r = px.get("/", host="staff.auth.test")
    assert r.status == 401 and r.header("X-Echo-Service") is None, r.status
    assert r.header("WWW-Authenticate") == 'Basic realm="Staff only"'
    assert px.get("/", host="staff.auth.test", headers=basic("carol", "wrong")).status == 401
    assert px.get("/", host="staff.auth.test", headers=basic("alice", "a-pass")).status == 401
    for user, password in (("carol", "c-pass"), ("dave", "d-pass")):
        r = px.get("/", host="staff.auth.test", headers=basic(user, password))
        assert r.status == 200 and r.service == "web", (user, r.status)
        assert px.get_tls("/", host="staff.auth.test", headers=basic(user, password)).status == 200

    r = px.get("/", host="nginx.auth.test")
    assert r.status == 401 and r.header("WWW-Authenticate") == 'Basic realm="Members"'
    for user, password in (("alice", "a-pass"), ("bob@example.test", "b-pass")):
        assert px.get("/", host="nginx.auth.test", headers=basic(user, password)).service == "web"
    assert px.get("/", host="nginx.auth.test", headers=basic("carol", "c-pass")).status == 401
    assert px.get("/", host="open.auth.test").service == "web"

    # a user removed and one added: the old password stops working
    # (data, not stringData: server-side apply then drops the keys left out)
    m.write("users.yaml", secret("staff", data={"erin": crypt("e-pass")}))
    wait_for(lambda: px.get("/", host="staff.auth.test", headers=basic("erin", "e-pass")).status
             == 200, what="erin let in")
    # the change reloads HAProxy: the old worker may accept a last connection
    # or two after the new one answers, so wait for the reload to finish
    px.settle()
    assert px.get("/", host="staff.auth.test", headers=basic("carol", "c-pass")).status == 401

    # a hash HAProxy cannot check (Apache's $apr1$), then no Secret: 503, named
    apr1 = subprocess.run(["openssl", "passwd", "-apr1", "x"], check=True, capture_output=True,
                          text=True).stdout.strip()
    m.write("users.yaml", secret("staff", data={"frank": apr1}))
    px.wait_status("staff.auth.test", "/", 503)
    px.settle()
    assert px.get("/", host="staff.auth.test", headers=basic("erin", "e-pass")).status == 503
    wait_for(lambda: 'user \\"frank\\": an Apache MD5 ($apr1$) hash' in px.log_text(),
             what="the $apr1$ hash named")
    m.delete("users.yaml")
    wait_for(lambda: 'auth-secret: secret \\"default/staff\\" not found' in px.log_text(),
             what="the missing Secret named")
    assert px.get("/", host="staff.auth.test").status == 503
    assert px.get("/", host="nginx.auth.test", headers=basic("alice", "a-pass")).service == "web"

    # the annotations gone, the route opens
    m.write("staff.yaml", ingress("staff", [rule("staff.auth.test", path("/", "web"))]))
    px.wait_service("staff.auth.test", "/", "web")
