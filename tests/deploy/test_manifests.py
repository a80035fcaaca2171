"""deploy/portico.yaml and deploy/portico-daemonset.yaml against a real
kube-apiserver: every object passes server-side dry run (admission and
validation, unknown fields refused); the RBAC rules are exactly what
Portico uses; and Portico itself, run with the manifest's ServiceAccount
token and its Deployment's arguments, lists, watches, elects and writes
Ingress status without one refusal."""

import copy
import json
import os
import re
import time
from pathlib import Path

import pytest
import yaml

from conftest import REPO, load_docs
from kapi import ApiError

MANIFESTS = [REPO / "deploy" / "portico.yaml", REPO / "deploy" / "portico-daemonset.yaml"]

# What Portico uses, from doc/operations.md ("Cluster mode", "Events", "Ingress
# status"): get, list and watch on ingresses and ingressclasses, services,
# secrets and namespaces, endpointslices, and configmaps (--configmap); patch
# on ingresses/status (--publish-service, --publish-address); create on events
# (core); get, create and update on leases (--leader-elect). Cluster-wide:
# what it reads in every namespace, the status and Events it writes; in its
# own namespace: its ConfigMap and its Lease.
CLUSTER_WIDE = {
    ("networking.k8s.io", "ingresses"): {"get", "list", "watch"},
    ("networking.k8s.io", "ingressclasses"): {"get", "list", "watch"},
    ("networking.k8s.io", "ingresses/status"): {"patch"},
    ("discovery.k8s.io", "endpointslices"): {"get", "list", "watch"},
    ("", "services"): {"get", "list", "watch"},
    ("", "secrets"): {"get", "list", "watch"},
    ("", "namespaces"): {"get", "list", "watch"},
    ("", "events"): {"create"},
}
OWN_NAMESPACE = {
    ("", "configmaps"): {"get", "list", "watch"},
    ("coordination.k8s.io", "leases"): {"get", "create", "update"},
}

# creation order: what an object needs exists before it
ORDER = ["Namespace", "ServiceAccount", "ClusterRole", "Role", "ClusterRoleBinding",
         "RoleBinding", "ConfigMap", "IngressClass", "Service", "Deployment", "DaemonSet",
         "PodDisruptionBudget", "ServiceMonitor"]


def ordered(objs):
    return sorted(objs, key=lambda o: ORDER.index(o["kind"]) if o["kind"] in ORDER else 99)


def grants(rules):
    """{(group, resource): verbs} of RBAC rules; wildcards and resourceNames refused."""
    out = {}
    for r in rules:
        assert set(r) <= {"apiGroups", "resources", "verbs"}, r
        for g in r["apiGroups"]:
            for res in r["resources"]:
                assert "*" not in (g, res) and "*" not in r["verbs"], r
                out.setdefault((g, res), set()).update(r["verbs"])
    return out


def check_rbac(objs, namespace="portico", sa="portico"):
    """The rules grant exactly CLUSTER_WIDE and OWN_NAMESPACE, bound to the SA."""
    by_kind = {}
    for o in objs:
        by_kind.setdefault(o["kind"], []).append(o)
    [cr], [crb] = by_kind["ClusterRole"], by_kind["ClusterRoleBinding"]
    [role], [rb] = by_kind["Role"], by_kind["RoleBinding"]
    [acct] = by_kind["ServiceAccount"]
    assert (acct["metadata"]["name"], acct["metadata"]["namespace"]) == (sa, namespace)
    assert grants(cr["rules"]) == CLUSTER_WIDE
    assert grants(role["rules"]) == OWN_NAMESPACE
    assert role["metadata"]["namespace"] == namespace
    subject = [{"kind": "ServiceAccount", "name": sa, "namespace": namespace}]
    assert crb["subjects"] == subject and rb["subjects"] == subject
    assert crb["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                              "name": cr["metadata"]["name"]}
    assert rb["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                             "name": role["metadata"]["name"]}
    assert rb["metadata"]["namespace"] == namespace
    # nothing else is granted anywhere
    assert not {"Role", "ClusterRole"} & {o["kind"] for o in objs
                                           if o not in (cr, role) and "rules" in o}


def ensure_namespace(api, name):
    status, body = api.request("GET", f"/api/v1/namespaces/{name}")
    if status == 404:
        api.post("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                        "metadata": {"name": name}})
    elif status != 200:
        raise ApiError("GET", f"/api/v1/namespaces/{name}", status, body)


def dry_run(api, objs):
    """Server-side apply of each object with dryRun=All and strict field
    validation: admission, defaulting and validation run, nothing is stored.
    Namespaces go first and are then created for real, so that the objects in
    them can be checked. Returns the refusals."""
    refused = []
    for o in ordered(objs):
        status, body = api.request("PATCH", api.path_for(o), json.dumps(o),
                                   content_type="application/apply-patch+yaml",
                                   params={"fieldManager": "portico-test", "force": "true",
                                           "dryRun": "All", "fieldValidation": "Strict"})
        if not 200 <= status < 300:
            msg = body.get("message") if isinstance(body, dict) else body
            refused.append(f"{o['kind']} {o['metadata'].get('namespace', '')}/"
                           f"{o['metadata']['name']}: HTTP {status}: {msg}")
        elif o["kind"] == "Namespace":
            ensure_namespace(api, o["metadata"]["name"])
    return refused


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_manifest_passes_server_side_dry_run(cluster, path):
    objs = load_docs(path.read_text())
    assert dry_run(cluster.admin, objs) == []


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_rbac_is_exactly_what_portico_uses(path):
    check_rbac(load_docs(path.read_text()))


def workload(objs):
    [w] = [o for o in objs if o["kind"] in ("Deployment", "DaemonSet")]
    return w


def test_manifest_objects(request):
    objs = load_docs(MANIFESTS[0].read_text())
    kinds = sorted(o["kind"] for o in objs)
    assert kinds == sorted(["Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding",
                            "Role", "RoleBinding", "ConfigMap", "IngressClass", "Deployment",
                            "Service"])
    [ic] = [o for o in objs if o["kind"] == "IngressClass"]
    assert ic["metadata"]["name"] == "portico"
    assert ic["spec"]["controller"] == "portico.dev/ingress-controller"
    [svc] = [o for o in objs if o["kind"] == "Service"]
    assert svc["spec"]["type"] == "NodePort"
    assert [(p["name"], p["port"], p["targetPort"]) for p in svc["spec"]["ports"]] == [
        ("http", 80, "http"), ("https", 443, "https"), ("stat", 1024, "stat")]

    pod = workload(objs)["spec"]["template"]["spec"]
    [c] = pod["containers"]
    assert c["image"] == "portico:latest" and c["imagePullPolicy"] == "IfNotPresent"
    assert "--publish-service=portico/portico" in c["args"] and "--leader-elect" in c["args"]
    assert "--configmap=portico/portico" in c["args"]
    env = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in c["env"]}
    assert env == {"POD_NAME": "metadata.name", "POD_NAMESPACE": "metadata.namespace"}
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"http": 8080, "https": 8443, "stat": 1024, "healthz": 1042,
                     "controller": 6060}
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "controller"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "controller"}
    assert c["lifecycle"]["preStop"] and pod["terminationGracePeriodSeconds"] >= 30
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["runAsNonRoot"] is True and sc["capabilities"] == {"drop": ["ALL"]}
    # no port below 1024 in the container: no NET_BIND_SERVICE needed
    assert min(ports.values()) >= 1024
    assert pod["securityContext"]["runAsUser"] == 1000
    [tmp] = [m for m in c["volumeMounts"] if m["mountPath"] == "/tmp"]
    [vol] = [v for v in pod["volumes"] if v["name"] == tmp["name"]]
    assert vol == {"name": tmp["name"], "emptyDir": {}}
    assert set(c["resources"]["requests"]) == {"cpu", "memory"}


def test_daemonset_variant_differs_only_in_the_workload():
    dep = load_docs(MANIFESTS[0].read_text())
    ds = load_docs(MANIFESTS[1].read_text())
    assert [o for o in dep if o["kind"] != "Deployment"] == \
        [o for o in ds if o["kind"] != "DaemonSet"]
    d, s = workload(dep), workload(ds)
    assert s["kind"] == "DaemonSet" and "replicas" not in s["spec"]
    tmpl = copy.deepcopy(s["spec"]["template"])
    host_ports = {}
    for p in tmpl["spec"]["containers"][0]["ports"]:
        if "hostPort" in p:
            host_ports[p["name"]] = p.pop("hostPort")
    assert host_ports == {"http": 80, "https": 443}
    assert tmpl == d["spec"]["template"]


def test_portico_runs_with_the_manifests_service_account(cluster, tmp_path):
    """The manifest applied for real (nothing runs its Deployment: no kubelet
    here), then Portico started out of cluster with the ServiceAccount's token
    and the Deployment's arguments: every list, watch, the Lease and the
    Ingress status and the Events must work, so a verb missing from the
    manifest fails."""
    from helpers import Portico

    api = cluster.admin
    objs = load_docs(MANIFESTS[0].read_text())
    for o in ordered(objs):
        if o["kind"] == "Namespace":
            ensure_namespace(api, o["metadata"]["name"])
        else:
            api.apply(o, field_manager="portico-test")
    token = api.post("/api/v1/namespaces/portico/serviceaccounts/portico/token",
                     {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                      "spec": {"expirationSeconds": 3600}})["status"]["token"]
    kc = yaml.safe_load((Path(cluster.kubeconfig)).read_text())
    for u in kc["users"]:
        u["user"] = {"token": token}
    for ctx in kc["contexts"]:
        ctx["context"]["namespace"] = "portico"
    kubeconfig = tmp_path / "sa.kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(kc))

    # an app to serve, in another namespace
    app = load_docs("""
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-1
  namespace: shop
  labels: {kubernetes.io/service-name: web}
addressType: IPv4
ports: [{name: http, port: 8080, protocol: TCP}]
endpoints:
- addresses: ["198.18.0.9"]
  conditions: {ready: true}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web, namespace: shop}
spec:
  ingressClassName: portico
  rules:
  - host: shop.example.test
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {name: http}}}}
---
# a Service that does not exist: a Warning Event on this Ingress
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: broken, namespace: shop}
spec:
  ingressClassName: portico
  rules:
  - host: broken.example.test
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: missing, port: {number: 80}}}}
""")
    ensure_namespace(api, "shop")
    broken = app.pop()
    for o in app[1:]:
        api.apply(o, field_manager="portico-test")
    api.patch("/api/v1/namespaces/portico/configmaps/portico", {"data": {"timeout-client": "31s"}})

    [c] = workload(objs)["spec"]["template"]["spec"]["containers"]
    px = Portico(os.environ["PORTICO_BIN"], None, tmp_path / "px",
                 extra_args=[f"--kubeconfig={kubeconfig}", *c["args"]],
                 env={"POD_NAME": "portico-7d4b9-abcde", "POD_NAMESPACE": "portico"})
    try:
        px.wait_ready(timeout=30)
        # once the Lease is held: Events are recorded by the leader
        api.apply(broken, field_manager="portico-test")
        svc = api.get("/api/v1/namespaces/portico/services/portico")
        want = [{"ip": svc["spec"]["clusterIP"]}]
        deadline = time.monotonic() + 30
        while True:
            ing = api.get("/apis/networking.k8s.io/v1/namespaces/shop/ingresses/web")
            lease = api.request("GET", "/apis/coordination.k8s.io/v1/namespaces/portico/"
                                "leases/portico-leader")[1]
            got = ing.get("status", {}).get("loadBalancer", {}).get("ingress")
            holder = (lease or {}).get("spec", {}).get("holderIdentity")
            events = [e for e in api.get("/api/v1/namespaces/shop/events")["items"]
                      if e["involvedObject"].get("name") == "broken"
                      and e["type"] == "Warning"]
            if got == want and holder == "portico-7d4b9-abcde" and events:
                break
            assert time.monotonic() < deadline, \
                f"status {got}, lease holder {holder}, events {events}:\n{px.log_tail()}"
            time.sleep(0.2)
        # the ConfigMap was read through the Role
        cfg = (px.config_dir / "current" / "haproxy.cfg").read_text()
        assert "timeout client 31000ms" in cfg, cfg
        # the messages, not the timestamps: "02:54:33.403Z" is no refusal
        msgs = re.sub(r"^ts=\S+ ", "", px.log_text(), flags=re.M)
        assert "403" not in msgs and "forbidden" not in msgs.lower(), px.log_tail()
    finally:
        px.proc.terminate()
        assert px.proc.wait(20) == 0, px.log_tail()
