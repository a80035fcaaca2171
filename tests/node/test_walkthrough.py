"""doc/install.md's walk-through on a real one-node cluster, as a user runs
it: `kubectl apply -f deploy/portico.yaml`, the 404, an application behind
an Ingress through the node port, TLS by SNI, a ConfigMap change, scaling,
metrics, Events, three replicas with leader election, a rolling restart
under load, removal; then the same install with Helm, an upgrade under load,
and `helm uninstall`; last, the DaemonSet on the node's ports 80 and 443.

The tests run in file order and build on each other (one install, as in
the walk-through)."""

import base64
import datetime
import http.client
import re
import subprocess
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from conftest import (REPO, Load, PodWatch, Reply, apply, kget, kubectl, need_env, node_port,
                      request, wait_until)

NS = "portico"
APP_NS = "demo"
HOST = "app.example.test"
MANIFEST = str(REPO / "deploy" / "portico.yaml")
CHART = str(REPO / "charts" / "portico")
LEASE_DURATION_S = 15  # src/ctl/leader.c

APP = f"""
apiVersion: v1
kind: Namespace
metadata: {{name: {APP_NS}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: app, namespace: {APP_NS}}}
spec:
  replicas: 2
  selector: {{matchLabels: {{run: app}}}}
  template:
    metadata: {{labels: {{run: app}}}}
    spec:
      terminationGracePeriodSeconds: 5
      containers:
      - name: app
        image: portico-test/echo:1
        imagePullPolicy: Never
        env: [{{name: POD_NAME, valueFrom: {{fieldRef: {{fieldPath: metadata.name}}}}}}]
        ports: [{{containerPort: 8080}}]
        readinessProbe: {{httpGet: {{path: /, port: 8080}}, periodSeconds: 1}}
---
apiVersion: v1
kind: Service
metadata: {{name: app, namespace: {APP_NS}}}
spec:
  selector: {{run: app}}
  ports: [{{name: http, port: 80, targetPort: 8080}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {{name: app, namespace: {APP_NS}}}
spec:
  ingressClassName: portico
  rules:
  - host: {HOST}
    http:
      paths:
      - path: /
        pathType: Prefix
        backend: {{service: {{name: app, port: {{name: http}}}}}}
"""


def ingress(name, host, service="app"):
    return f"""
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {{name: {name}, namespace: {APP_NS}}}
spec:
  ingressClassName: portico
  rules:
  - host: {host}
    http:
      paths:
      - path: /
        pathType: Prefix
        backend: {{service: {{name: {service}, port: {{number: 80}}}}}}
"""


def http_port():
    return node_port(NS, "portico", "http")


def served_by_app(r):
    return r.status == 200 and r.json().get("host") == HOST


def portico_pods():
    return [p for p in kget("pods", "-n", NS, "-l", "app.kubernetes.io/name=portico")["items"]
            if not p["metadata"].get("deletionTimestamp")]


def portico_metrics(pod):
    """Portico's own metrics (controller port 6060), from the pod's address."""
    r = request_ip(pod["status"]["podIP"], 6060, "/metrics")
    assert r.status == 200, r
    return r.body


def request_ip(ip, port, path):
    c = http.client.HTTPConnection(ip, port, timeout=5)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return Reply(r.status, dict(r.getheaders()), r.read().decode())
    finally:
        c.close()


def metric(text, name, **labels):
    """The sum of NAME's samples whose labels include LABELS."""
    total, found = 0.0, False
    for line in text.splitlines():
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$", line)
        if not m or m.group(1) != name:
            continue
        got = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
        if all(got.get(k) == v for k, v in labels.items()):
            total += float(m.group(3))
            found = True
    assert found, f"no sample of {name} {labels}"
    return total


def reloads(pod):
    return metric(portico_metrics(pod), "portico_reloads_total")


def reloads_when_tidy(pod):
    """The reload count once no spare backend is in use.

    A new Service is served from a spare at once and renamed by one reload
    --min-reload-interval later; counts taken before that reload would see it."""
    wait_until("spare backends tidied",
               lambda: metric(portico_metrics(pod), "portico_spare_backends", state="in_use") == 0)
    return reloads(pod)


def lease_holder():
    return kget("lease", "-n", NS, "portico-leader")["spec"].get("holderIdentity", "")


def status_ip(name):
    lb = kget("ingress", "-n", APP_NS, name).get("status", {}).get("loadBalancer", {})
    ing = lb.get("ingress") or []
    return ing[0].get("ip") if ing else None


def all_logs():
    out = ""
    for p in portico_pods():
        out += kubectl("logs", "-n", NS, p["metadata"]["name"]).stdout
    return out


def self_signed(host):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
            .sign(key, hashes.SHA256()))
    pem_key = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert, cert.public_bytes(serialization.Encoding.PEM), pem_key


# ----------------------------------------------------------------------------- kubectl


def test_install_with_one_apply():
    kubectl("apply", "-f", MANIFEST)
    kubectl("rollout", "status", "-n", NS, "deploy/portico", "--timeout=120s")
    (pod,) = portico_pods()
    assert pod["spec"]["serviceAccountName"] == "portico"
    assert pod["spec"]["containers"][0]["image"] == "portico:latest"
    assert all(c["ready"] for c in pod["status"]["containerStatuses"])
    logs = kubectl("logs", "-n", NS, pod["metadata"]["name"]).stdout
    # in-cluster configuration, through the "kubernetes" Service's ClusterIP
    assert "API server https://10.96.0.1:443 (in-cluster service account)" in logs, logs


def test_404_before_any_ingress():
    port = http_port()
    r = wait_until("the 404 through the node port", lambda: request(port, HOST))
    assert r.status == 404, r
    assert r.headers.get("server") == "portico"
    assert request(port, "other.example.test", "/x").status == 404


def test_application_through_the_node_port():
    apply(APP)
    kubectl("rollout", "status", "-n", APP_NS, "deploy/app", "--timeout=120s")
    port = http_port()
    wait_until("the app through Portico", lambda: served_by_app(request(port, HOST)))
    pods = {request(port, HOST, f"/hostname/{i}").json()["pod"] for i in range(40)}
    names = {p["metadata"]["name"] for p in kget("pods", "-n", APP_NS, "-l", "run=app")["items"]}
    assert pods == names


def test_ingress_status_has_the_service_address():
    cluster_ip = kget("service", "-n", NS, "portico")["spec"]["clusterIP"]
    wait_until("status.loadBalancer of ingress app", lambda: status_ip("app") == cluster_ip, 30)


def test_tls_by_sni_and_redirect():
    cert, pem_cert, pem_key = self_signed(HOST)
    apply(f"""
apiVersion: v1
kind: Secret
metadata: {{name: app-tls, namespace: {APP_NS}}}
type: kubernetes.io/tls
data:
  tls.crt: {base64.b64encode(pem_cert).decode()}
  tls.key: {base64.b64encode(pem_key).decode()}
""")
    kubectl("patch", "ingress", "app", "-n", APP_NS, "--type=merge", "-p",
            f'{{"spec":{{"tls":[{{"hosts":["{HOST}"],"secretName":"app-tls"}}]}}}}')
    https = node_port(NS, "portico", "https")
    want = cert.public_bytes(serialization.Encoding.DER)
    r = wait_until("HTTPS by SNI with the Secret's certificate",
                   lambda: (lambda r: r if r.cert == want and served_by_app(r) else None)(
                       request(https, HOST, "/secure", tls=True)))
    assert r.json()["path"] == "/secure"
    # ssl-redirect is on by default for a host with TLS
    r = request(http_port(), HOST, "/a?b=c")
    assert r.status == 308, r  # ssl-redirect-code's default
    assert r.headers["location"] == f"https://{HOST}/a?b=c"


def test_configmap_change_takes_effect():
    apply(f"""
apiVersion: v1
kind: ConfigMap
metadata: {{name: portico, namespace: {NS}}}
data:
  ssl-redirect: "false"
""")
    port = http_port()
    wait_until("plain HTTP served once ssl-redirect is false",
               lambda: served_by_app(request(port, HOST, "/plain")))


def test_scaling_changes_servers_without_reload():
    (pod,) = portico_pods()
    before = reloads_when_tidy(pod)
    kubectl("scale", "-n", APP_NS, "deploy/app", "--replicas=4")
    kubectl("rollout", "status", "-n", APP_NS, "deploy/app", "--timeout=120s")
    names = {p["metadata"]["name"] for p in kget("pods", "-n", APP_NS, "-l", "run=app")["items"]}
    port = http_port()
    seen = set()

    def all_seen():
        seen.update(request(port, HOST, "/s").json()["pod"] for _ in range(20))
        return seen >= names

    wait_until("every one of the 4 pods served", all_seen, 30)
    assert reloads(pod) == before


def test_metrics_and_stats():
    stat = node_port(NS, "portico", "stat")
    r = request(stat, "any", "/metrics")
    assert r.status == 200 and "haproxy_process_" in r.body, r
    r = request(stat, "any", "/")
    assert r.status == 200 and "Statistics Report" in r.body, r
    (pod,) = portico_pods()
    m = portico_metrics(pod)
    assert metric(m, "portico_leader") == 1


def test_warning_event_on_a_broken_ingress():
    apply(ingress("broken", "broken.example.test", service="missing"))
    try:
        def warning():
            for e in kget("events", "-n", APP_NS)["items"]:
                o = e["involvedObject"]
                if o.get("kind") == "Ingress" and o.get("name") == "broken" and e["type"] == "Warning":
                    return e
        e = wait_until("a Warning Event on ingress broken", warning, 30)
        assert "missing" in e["message"], e
        # the other routes keep serving
        assert served_by_app(request(http_port(), HOST))
    finally:
        kubectl("delete", "ingress", "-n", APP_NS, "broken")


def test_no_request_refused():
    """A verb missing from the manifest's RBAC rules shows here: every list,
    watch, status patch, Lease write and Event Portico sent was accepted."""
    logs = all_logs()
    refused = [l for l in logs.splitlines() if re.search(r"HTTP 40[13]\b", l)]
    assert not refused, "\n".join(refused)
    assert lease_holder() == portico_pods()[0]["metadata"]["name"]


def test_three_replicas_leader_failover_under_load():
    port = http_port()
    kubectl("scale", "-n", NS, "deploy/portico", "--replicas=3")
    kubectl("rollout", "status", "-n", NS, "deploy/portico", "--timeout=120s")
    wait_until("3 portico endpoints behind the node port",
               lambda: len(kget("endpointslices", "-n", NS,
                                "-l", "kubernetes.io/service-name=portico")["items"][0]
                           .get("endpoints") or []) == 3, 30)
    pods = {p["metadata"]["name"]: p for p in portico_pods()}
    leader = lease_holder()
    assert leader in pods
    # every replica serves; only the leader says so
    assert sorted(metric(portico_metrics(p), "portico_leader") for p in pods.values()) == [0, 0, 1]

    load = Load(port, HOST, expect=served_by_app)
    load.start()
    try:
        t0 = time.monotonic()
        kubectl("delete", "pod", "-n", NS, leader, "--wait=false")
        new = wait_until("a new leader", lambda: (lambda h: h if h not in ("", leader) else None)(
            lease_holder()), LEASE_DURATION_S * 3)
        took_over = time.monotonic() - t0
        assert new in pods
        apply(ingress("after-failover", "after.example.test"))
        cluster_ip = kget("service", "-n", NS, "portico")["spec"]["clusterIP"]
        wait_until("the status of an Ingress made after the failover",
                   lambda: status_ip("after-failover") == cluster_ip, LEASE_DURATION_S * 3)
        print(f"leader {leader} deleted; {new} leads after {took_over:.1f} s")
        kubectl("rollout", "status", "-n", NS, "deploy/portico", "--timeout=120s")
        wait_until("the deleted leader gone", lambda: leader not in
                   {p["metadata"]["name"] for p in kget("pods", "-n", NS)["items"]}, 120)
    finally:
        load.stop()
        kubectl("delete", "ingress", "-n", APP_NS, "after-failover", "--ignore-not-found")
    assert not load.failures, load.summary()
    assert load.ok > 0


def test_rolling_restart_under_load_drains_and_exits_zero():
    port = http_port()
    old = {p["metadata"]["name"] for p in portico_pods()}
    watch = PodWatch(NS)
    load = Load(port, HOST, expect=served_by_app)
    load.start()
    try:
        kubectl("rollout", "restart", "-n", NS, "deploy/portico")
        kubectl("rollout", "status", "-n", NS, "deploy/portico", "--timeout=300s")
        wait_until("the old replicas gone", lambda: not old & {
            p["metadata"]["name"] for p in kget("pods", "-n", NS)["items"]}, 180)
        time.sleep(1)
    finally:
        load.stop()
        terminated = watch.stop()
    assert not load.failures, load.summary()
    assert load.ok > 0
    exits = {name: terminated.get(name, {}).get("exitCode") for name in old}
    assert exits == {name: 0 for name in old}, terminated


def test_uninstall_leaves_nothing():
    kubectl("delete", "-f", MANIFEST, "--wait=true", "--timeout=180s")
    wait_until("namespace portico gone",
               lambda: kubectl("get", "namespace", NS, check=False).returncode != 0, 120)
    for kind, name in (("clusterrole", "portico"), ("clusterrolebinding", "portico"),
                       ("ingressclass", "portico")):
        p = kubectl("get", kind, name, check=False)
        assert p.returncode != 0 and "NotFound" in p.stderr, (kind, p.stdout)

    def portico_containers():
        return "portico:latest" in subprocess.run(
            ["ctr", "--address", need_env("CONTAINERD_ADDRESS"), "-n", "k8s.io", "containers",
             "ls"], capture_output=True, text=True, check=True).stdout

    wait_until("no portico container left on the node", lambda: not portico_containers(), 60)
    # the application is the user's: it stays
    assert kubectl("get", "ingress", "-n", APP_NS, "app").returncode == 0


# ----------------------------------------------------------------------------- helm


def helm(*args, timeout=300):
    p = subprocess.run([need_env("HELM"), *args], capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, f"helm {' '.join(args)}: exit {p.returncode}\n{p.stderr}"
    return p.stdout


def test_helm_install():
    # the ConfigMap's keys as values
    helm("install", "portico", CHART, "-n", NS, "--create-namespace", "--wait", "--timeout=180s",
         "--set-string", "config.ssl-redirect=false")
    (pod,) = portico_pods()
    assert pod["spec"]["serviceAccountName"] == "portico"
    port = http_port()
    wait_until("the app through the Helm release", lambda: served_by_app(request(port, HOST)), 60)
    cluster_ip = kget("service", "-n", NS, "portico")["spec"]["clusterIP"]
    wait_until("status with the release's Service address", lambda: status_ip("app") == cluster_ip, 30)


def test_helm_upgrade_under_load():
    port = http_port()
    load = Load(port, HOST, expect=served_by_app)
    load.start()
    try:
        helm("upgrade", "portico", CHART, "-n", NS, "--reuse-values", "--set", "replicaCount=2",
             "--set-string", "config.timeout-client=30s", "--wait", "--timeout=180s")
        wait_until("2 replicas", lambda: len(portico_pods()) == 2, 60)
        time.sleep(2)
    finally:
        load.stop()
    assert not load.failures, load.summary()
    assert load.ok > 0
    cm = kget("configmap", "-n", NS, "portico")["data"]
    assert cm == {"ssl-redirect": "false", "timeout-client": "30s"}, cm


def test_helm_uninstall_leaves_nothing():
    helm("uninstall", "portico", "-n", NS, "--wait", "--timeout=180s")
    kinds = ("deployments,daemonsets,pods,services,configmaps,serviceaccounts,roles,rolebindings,"
             "leases,poddisruptionbudgets")
    wait_until("the release's objects gone", lambda: not kget(
        kinds, "-n", NS, "-l", "app.kubernetes.io/instance=portico")["items"], 120)
    for kind, name in (("clusterrole", "portico"), ("clusterrolebinding", "portico"),
                       ("ingressclass", "portico")):
        assert kubectl("get", kind, name, check=False).returncode != 0, kind
    kubectl("delete", "namespace", NS, "--wait=true", "--timeout=120s")


# ----------------------------------------------------------------------------- DaemonSet


def test_daemonset_on_the_node_ports_80_and_443():
    manifest = str(REPO / "deploy" / "portico-daemonset.yaml")
    kubectl("apply", "-f", manifest)
    try:
        kubectl("rollout", "status", "-n", NS, "daemonset/portico", "--timeout=120s")
        # hostPort 80 and 443 of the node, mapped by the CNI portmap plugin
        r = wait_until("the app on the node's port 80",
                       lambda: (lambda r: r if r.status == 308 else None)(request(80, HOST, "/d")))
        assert r.headers["location"] == f"https://{HOST}/d"
        r = request(443, HOST, "/d", tls=True)
        assert served_by_app(r) and r.json()["path"] == "/d", r
    finally:
        kubectl("delete", "-f", manifest, "--wait=true", "--timeout=180s")
        kubectl("delete", "namespace", APP_NS, "--wait=true", "--timeout=120s")
