"""Smoke test of the test cluster: real kube-apiserver + etcd, RBAC, the portico token.

Run: python3 -m pytest -q tests/cluster
The session fixture runs `cluster.sh build` (minutes the first time, then cached
under ${PORTICO_CACHE:-~/.cache/portico}) and `cluster.sh start` in a tmp dir.
Missing binaries are built, never skipped.
"""

import json
import os
import shlex
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
CLUSTER_SH = HERE / "cluster.sh"
sys.path.insert(0, str(HERE))

import kapi  # noqa: E402

NS = "smoke"

OBJECTS = f"""
apiVersion: v1
kind: Namespace
metadata: {{name: {NS}}}
---
apiVersion: v1
kind: Service
metadata: {{name: web, namespace: {NS}}}
spec:
  ports:
  - {{name: http, port: 80, targetPort: 8080, protocol: TCP}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-abc12
  namespace: {NS}
  labels: {{kubernetes.io/service-name: web}}
addressType: IPv4
ports:
- {{name: http, port: 8080, protocol: TCP}}
endpoints:
- addresses: ["198.18.0.7"]
  conditions: {{ready: true, serving: true, terminating: false}}
---
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {{name: portico}}
spec: {{controller: portico.dev/ingress-controller}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {{name: web, namespace: {NS}}}
spec:
  ingressClassName: portico
  rules:
  - host: web.example.test
    http:
      paths:
      - path: /
        pathType: Prefix
        backend: {{service: {{name: web, port: {{name: http}}}}}}
"""


def sh(*args, timeout=120):
    r = subprocess.run([str(CLUSTER_SH), *map(str, args)], capture_output=True,
                       text=True, timeout=timeout)
    if r.returncode != 0:
        pytest.fail(f"cluster.sh {' '.join(map(str, args))} exited {r.returncode}\n"
                    f"stdout:\n{r.stdout}\nstderr:\n{r.stderr}", pytrace=False)
    return r


def read_env(path):
    env = {}
    for line in Path(path).read_text().splitlines():
        if line and not line.startswith("#"):
            k, _, v = line.partition("=")
            env[k] = shlex.split(v)[0] if v else ""
    return env


class Cluster:
    def __init__(self, directory):
        self.dir = Path(directory)
        self.env = read_env(self.dir / "env")
        self.admin = kapi.Client.from_kubeconfig(self.env["ADMIN_KUBECONFIG"])
        self.portico = kapi.Client.from_kubeconfig(self.env["PORTICO_KUBECONFIG"])

    def kapi_cli(self, *args, kubeconfig=None, stdin=None):
        return subprocess.run(
            [sys.executable, str(HERE / "kapi.py"), "--kubeconfig",
             kubeconfig or self.env["ADMIN_KUBECONFIG"], *args],
            input=stdin, capture_output=True, text=True, timeout=60)

    def pid_alive(self, name):
        pid = (self.dir / f"{name}.pid").read_text().strip() \
            if (self.dir / f"{name}.pid").exists() else ""
        if not pid or not Path(f"/proc/{pid}").exists():
            return False
        return "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    # A first build takes minutes; never skip for missing binaries.
    r = subprocess.run([str(CLUSTER_SH), "build"], capture_output=True, text=True,
                       timeout=3600)
    if r.returncode != 0:
        pytest.fail(f"cluster.sh build failed:\n{r.stdout}\n{r.stderr[-4000:]}", pytrace=False)
    d = tmp_path_factory.mktemp("cluster")
    t0 = time.monotonic()
    try:
        sh("start", d)
    except BaseException:
        subprocess.run([str(CLUSTER_SH), "stop", str(d)], timeout=60)
        for log in ("kube-apiserver.log", "etcd.log"):
            p = d / log
            if p.exists():
                sys.stderr.write(f"--- {log} (tail)\n{p.read_text()[-3000:]}\n")
        raise
    c = Cluster(d)
    c.start_seconds = time.monotonic() - t0
    yield c
    sh("stop", d)
    sh("stop", d)  # idempotent
    assert not c.pid_alive("kube-apiserver") and not c.pid_alive("etcd")


@pytest.fixture(scope="session")
def objects(cluster, tmp_path_factory):
    f = tmp_path_factory.mktemp("objs") / "objects.yaml"
    f.write_text(OBJECTS)
    r = cluster.kapi_cli("apply", "-f", str(f))
    assert r.returncode == 0, r.stderr
    return kapi.load_objects(OBJECTS)


def test_env_and_version(cluster):
    env = cluster.env
    for k in ("APISERVER_URL", "ETCD_URL", "CA_FILE", "ADMIN_TOKEN", "APISERVER_PID",
              "ETCD_PID", "ADMIN_KUBECONFIG", "PORTICO_KUBECONFIG"):
        assert env.get(k), k
    assert env["APISERVER_URL"].startswith("https://127.0.0.1:")
    assert Path(env["CA_FILE"]).is_file()
    assert cluster.pid_alive("kube-apiserver") and cluster.pid_alive("etcd")
    assert cluster.admin.get("/version")["gitVersion"] == "v1.34.4"
    status, body = cluster.admin.request("GET", "/readyz")
    assert status == 200, body


def test_static_admin_token(cluster):
    c = kapi.Client(cluster.env["APISERVER_URL"], ca_file=cluster.env["CA_FILE"],
                    token=cluster.env["ADMIN_TOKEN"])
    review = c.post("/apis/authentication.k8s.io/v1/selfsubjectreviews",
                    {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
    assert review["status"]["userInfo"]["username"] == "admin"
    assert "system:masters" in review["status"]["userInfo"]["groups"]


def test_admin_client_cert(cluster):
    review = cluster.admin.post("/apis/authentication.k8s.io/v1/selfsubjectreviews",
                                {"apiVersion": "authentication.k8s.io/v1",
                                 "kind": "SelfSubjectReview"})
    assert review["status"]["userInfo"]["username"] == "admin"


def test_portico_identity(cluster):
    review = cluster.portico.post("/apis/authentication.k8s.io/v1/selfsubjectreviews",
                                  {"apiVersion": "authentication.k8s.io/v1",
                                   "kind": "SelfSubjectReview"})
    assert review["status"]["userInfo"]["username"] == \
        "system:serviceaccount:portico-system:portico"


def test_portico_lists_what_it_needs(cluster, objects):
    p = cluster.portico
    names = lambda lst: {(i["metadata"].get("namespace"), i["metadata"]["name"])  # noqa: E731
                         for i in lst["items"]}
    assert (NS, "web") in names(p.get("/apis/networking.k8s.io/v1/ingresses"))
    assert (None, "portico") in names(p.get("/apis/networking.k8s.io/v1/ingressclasses"))
    assert (NS, "web") in names(p.get("/api/v1/services"))
    slices = p.get(f"/apis/discovery.k8s.io/v1/namespaces/{NS}/endpointslices")
    assert (NS, "web-abc12") in names(slices)
    assert slices["items"][0]["endpoints"][0]["addresses"] == ["198.18.0.7"]
    assert (None, NS) in names(p.get("/api/v1/namespaces"))
    p.get("/api/v1/secrets")
    p.get("/api/v1/configmaps")
    ing = p.get(f"/apis/networking.k8s.io/v1/namespaces/{NS}/ingresses/web")
    assert ing["spec"]["ingressClassName"] == "portico"
    # watch works too (bounded by timeoutSeconds)
    status, _ = p.request("GET", "/apis/networking.k8s.io/v1/ingresses",
                          params={"watch": "1", "timeoutSeconds": "1",
                                  "resourceVersion": ing["metadata"]["resourceVersion"]})
    assert status == 200


def test_portico_writes_what_it_may(cluster, objects):
    p = cluster.portico
    path = f"/apis/networking.k8s.io/v1/namespaces/{NS}/ingresses/web/status"
    # patch and update are granted on ingresses/status; get is not (the
    # controller reads Ingresses from its watch), so use the answer.
    ing = p.patch(path, {"status": {"loadBalancer": {"ingress": [{"ip": "198.18.0.1"}]}}})
    assert ing["status"]["loadBalancer"]["ingress"] == [{"ip": "198.18.0.1"}]
    ing["status"]["loadBalancer"]["ingress"] = [{"ip": "198.18.0.2"}]
    ing = p.put(path, ing)
    assert ing["status"]["loadBalancer"]["ingress"] == [{"ip": "198.18.0.2"}]
    assert cluster.admin.get(path[:-len("/status")])["status"] == ing["status"]
    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
             "metadata": {"name": "portico-leader", "namespace": "portico-system"},
             "spec": {"holderIdentity": "smoke", "leaseDurationSeconds": 15}}
    created = p.post("/apis/coordination.k8s.io/v1/namespaces/portico-system/leases", lease)
    created["spec"]["holderIdentity"] = "smoke-2"
    p.put("/apis/coordination.k8s.io/v1/namespaces/portico-system/leases/portico-leader",
          created)
    p.post(f"/api/v1/namespaces/{NS}/events", {
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": "web.smoke", "namespace": NS},
        "involvedObject": {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                           "namespace": NS, "name": "web"},
        "reason": "Smoke", "message": "hello", "type": "Normal",
        "source": {"component": "portico"}})


@pytest.mark.parametrize("method,path,body", [
    ("POST", f"/api/v1/namespaces/{NS}/services",
     {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "nope"},
      "spec": {"ports": [{"port": 80}]}}),
    ("DELETE", f"/apis/networking.k8s.io/v1/namespaces/{NS}/ingresses/web", None),
    ("PUT", f"/apis/networking.k8s.io/v1/namespaces/{NS}/ingresses/web", {}),
    ("GET", "/api/v1/pods", None),
    ("GET", "/api/v1/endpoints", None),
    ("DELETE", "/apis/coordination.k8s.io/v1/namespaces/portico-system/leases/portico-leader",
     None),
])
def test_portico_refused(cluster, objects, method, path, body):
    if method == "PUT":
        body = cluster.admin.get(path)
    status, resp = cluster.portico.request(method, path, body)
    assert status == 403, resp
    assert resp["reason"] == "Forbidden"


def test_bad_token_unauthorized(cluster):
    c = kapi.Client(cluster.env["APISERVER_URL"], ca_file=cluster.env["CA_FILE"],
                    token="not-a-token")
    status, _ = c.request("GET", "/api/v1/namespaces")
    assert status == 401


def test_kapi_cli(cluster, objects, tmp_path):
    pk = cluster.env["PORTICO_KUBECONFIG"]
    r = cluster.kapi_cli("get", f"/api/v1/namespaces/{NS}/services/web", kubeconfig=pk)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["spec"]["ports"][0]["port"] == 80
    r = cluster.kapi_cli("post", f"/api/v1/namespaces/{NS}/configmaps", kubeconfig=pk,
                         stdin='{"metadata": {"name": "x"}}')
    assert r.returncode == 1 and "HTTP 403" in r.stderr
    cm = tmp_path / "cm.yaml"
    cm.write_text(f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c1, namespace: {NS}}}\n"
                  "data: {a: '1'}\n")
    assert cluster.kapi_cli("create", "-f", str(cm)).returncode == 0
    cm.write_text(cm.read_text().replace("'1'", "'2'"))
    r = cluster.kapi_cli("replace", "-f", str(cm))
    assert r.returncode == 0, r.stderr
    assert cluster.portico.get(f"/api/v1/namespaces/{NS}/configmaps/c1")["data"] == {"a": "2"}
    r = cluster.kapi_cli("patch", f"/api/v1/namespaces/{NS}/configmaps/c1",
                         "-d", '{"data": {"b": "3"}}')
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["data"] == {"a": "2", "b": "3"}
    assert cluster.kapi_cli("delete", "-f", str(cm)).returncode == 0
    assert cluster.kapi_cli("delete", "-f", str(cm)).returncode == 0  # 404 is fine
    r = cluster.kapi_cli("get", f"/api/v1/namespaces/{NS}/configmaps/c1")
    assert r.returncode == 1 and "HTTP 404" in r.stderr


def test_compact_then_old_revision_gone(cluster, objects):
    """cluster.sh compact makes every older etcd revision unreadable."""
    out = sh("compact", cluster.dir).stdout.strip()
    rev = int(out)
    assert rev > 1
    req = urllib.request.Request(cluster.env["ETCD_URL"] + "/v3/kv/range", method="POST",
                                 data=json.dumps({"key": "AA==", "revision": rev - 1}).encode())
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            body = r.read().decode()
    except urllib.error.HTTPError as e:
        body = e.read().decode()
    assert "compacted" in body
    sh("compact", cluster.dir)  # again: already compacted is fine


def test_peak_rss_report(cluster):
    """Not a check: records VmHWM (peak RSS) of both processes in the test output."""
    r = sh("status", cluster.dir)
    print(r.stdout, f"start-to-ready: {cluster.env.get('READY_MS')} ms (apiserver), "
          f"whole start {cluster.start_seconds:.1f} s")


def test_restart_apiserver_gives_410(cluster, objects):
    """After a kube-apiserver restart and a compaction, an old resourceVersion is 410 Gone."""
    p = cluster.portico
    old_rv = p.get("/apis/networking.k8s.io/v1/ingresses")["metadata"]["resourceVersion"]
    cluster.admin.apply({"apiVersion": "v1", "kind": "ConfigMap",
                         "metadata": {"name": "bump", "namespace": NS}, "data": {"t": "1"}})
    sh("restart-apiserver", cluster.dir)
    cluster.env = read_env(cluster.dir / "env")
    sh("compact", cluster.dir)
    status, body = p.request("GET", "/apis/networking.k8s.io/v1/ingresses",
                             params={"watch": "1", "resourceVersion": old_rv,
                                     "timeoutSeconds": "2"})
    # Either the request itself is 410, or the watch stream carries an ERROR event 410.
    text = body if isinstance(body, str) else json.dumps(body)
    assert status == 410 or '"code": 410' in text or '"code":410' in text, (status, text)
