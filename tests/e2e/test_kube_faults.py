"""Cluster mode against a scripted fake API server (tests/kubefake), for the
faults a real kube-apiserver cannot produce on demand (issue 3 §4): 410 Gone
on a watch and on a list continuation, an event cut in the middle, an
oversized event, an unknown event type, a watch that stalls, and deletes
missed while a watch was down. Every assertion is made through real HTTP requests to HAProxy."""

import contextlib
import json
import os
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from helpers import REPO, Echo, Portico, ingress, ingress_class, path, rule, wait_for

FAKE = REPO / "tests" / "kubefake" / "fake_apiserver.py"

PATHS = {
    "IngressClass": "/apis/networking.k8s.io/v1/ingressclasses",
    "Ingress": "/apis/networking.k8s.io/v1/ingresses",
    "Service": "/api/v1/services",
    "EndpointSlice": "/apis/discovery.k8s.io/v1/endpointslices",
    "Secret": "/api/v1/secrets",
}


class FakeAPI:
    def __init__(self, workdir):
        self.dir = Path(workdir)
        crt, key = self.dir / "apiserver.crt", self.dir / "apiserver.key"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", "/CN=fake",
                        "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key),
                        "-out", str(crt)], check=True, capture_output=True, timeout=60)
        port_file = self.dir / "port"
        self.log = open(self.dir / "fake.log", "ab")
        self.proc = subprocess.Popen([sys.executable, str(FAKE), "--cert", str(crt), "--key",
                                      str(key), "--port-file", str(port_file)],
                                     stdout=self.log, stderr=self.log)
        wait_for(port_file.exists, timeout=10, what="fake API server port")
        self.port = int(port_file.read_text())
        self.ctx = ssl.create_default_context(cafile=str(crt))
        self.kubeconfig = self.dir / "kubeconfig"
        self.kubeconfig.write_text(
            "apiVersion: v1\nkind: Config\ncurrent-context: fake\n"
            f"clusters: [{{name: fake, cluster: {{server: 'https://127.0.0.1:{self.port}', "
            f"certificate-authority: '{crt}'}}}}]\n"
            "contexts: [{name: fake, context: {cluster: fake, user: u}}]\n"
            "users: [{name: u, user: {token: test-token}}]\n")

    def call(self, what, body):
        req = urllib.request.Request(f"https://127.0.0.1:{self.port}/{what}",
                                     data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, context=self.ctx, timeout=5) as r:
            return json.loads(r.read())

    def stats(self):
        with urllib.request.urlopen(f"https://127.0.0.1:{self.port}/_stats", context=self.ctx,
                                    timeout=5) as r:
            return json.loads(r.read())

    def put(self, obj):
        self.call("_put", {"path": PATHS[obj["kind"]], "object": obj})

    def delete(self, kind, name, ns="default"):
        self.call("_delete", {"path": PATHS[kind], "namespace": ns if kind != "IngressClass" else "",
                              "name": name})

    def fault(self, name, count=1):
        self.call("_fault", {"fault": name, "count": count})

    def stop(self):
        self.proc.terminate()
        self.proc.wait(5)
        self.log.close()


@contextlib.contextmanager
def fake_api(tmp_path_factory, name, services=("one",)):
    """A fake API server holding IngressClass "portico" and, for each of
    <services>, an echo backend (127.0.0.2, .3, ...) with its Service and slice."""
    work = tmp_path_factory.mktemp(name)
    api = FakeAPI(work)
    echo = Echo({s: [f"127.0.0.{2 + i}"] for i, s in enumerate(services)}, work)
    try:
        api.put(ingress_class("portico"))
        for s in services:
            for obj in echo.objects(s):
                api.put(obj)
        yield api
    finally:
        echo.stop()
        api.stop()


@contextlib.contextmanager
def portico_on(api, portico_bin, tmp_path_factory, name, env=None):
    """Portico in cluster mode on <api>; it must exit 0 on SIGTERM at the end."""
    px = Portico(portico_bin, None, tmp_path_factory.mktemp(name),
                 extra_args=[f"--kubeconfig={api.kubeconfig}"], env=env)
    try:
        yield px
    finally:
        px.proc.terminate()
        assert px.proc.wait(20) == 0


@pytest.fixture(scope="module")
def kube(tmp_path_factory, portico_bin):
    with fake_api(tmp_path_factory, "kubefake", ("one", "two")) as api:
        api.put(ingress("a", [rule("a.kube.test", path("/", "one"))]))
        with portico_on(api, portico_bin, tmp_path_factory, "kubefake-px") as px:
            px.wait_ready()
            yield api, px


def test_cluster_mode_serves_after_initial_list(kube):
    api, px = kube
    px.wait_service("a.kube.test", "/", "one")
    assert "every resource listed" in px.log_text()


def test_watch_events_applied(kube):
    api, px = kube
    api.put(ingress("b", [rule("b.kube.test", path("/", "two"))]))
    px.wait_service("b.kube.test", "/", "two", timeout=30)
    api.delete("Ingress", "b")
    px.wait_service("b.kube.test", "/", None, timeout=30)


def test_410_on_watch_relists(kube):
    api, px = kube
    lists = api.stats()["list"]
    api.fault("watch-410")
    wait_for(lambda: api.stats()["list"] > lists, timeout=30, what="a relist after 410 Gone")
    wait_for(lambda: "410 Gone" in px.log_text(), timeout=30, what="the relist logged")
    api.put(ingress("c", [rule("c.kube.test", path("/", "two"))]))
    px.wait_service("c.kube.test", "/", "two", timeout=30)
    assert px.get("/", host="a.kube.test").service == "one"


def test_missed_delete_applied_by_relist(kube):
    api, px = kube
    api.put(ingress("d", [rule("d.kube.test", path("/", "one"))]))
    px.wait_service("d.kube.test", "/", "one", timeout=30)
    # the delete never reaches a watch and the history before it is compacted:
    # only the relist after 410 Gone can reveal it
    api.fault("drop")
    api.delete("Ingress", "d")
    px.wait_service("d.kube.test", "/", None, timeout=30)
    px.wait_service("a.kube.test", "/", "one", timeout=30)


def test_truncated_event_reconnects(kube):
    api, px = kube
    watches = api.stats()["watch"]
    api.fault("truncate")
    wait_for(lambda: api.stats()["watch"] > watches + 5, timeout=30,
             what="watches reopened after a truncated stream")
    api.put(ingress("e", [rule("e.kube.test", path("/", "two"))]))
    px.wait_service("e.kube.test", "/", "two", timeout=30)
    assert px.get("/", host="a.kube.test").service == "one"
    assert "retrying in" in px.log_text()


def test_oversized_and_unknown_events(kube):
    api, px = kube
    api.fault("oversize")
    wait_for(lambda: "larger than 16 MiB" in px.log_text(), timeout=30,
             what="the oversized event refused")
    api.fault("unknown")
    api.put(ingress("f", [rule("f.kube.test", path("/", "one"))]))
    px.wait_service("f.kube.test", "/", "one", timeout=30)
    assert px.get("/", host="a.kube.test").service == "one"


def test_410_on_list_continue_restarts_the_list(tmp_path_factory, portico_bin):
    with fake_api(tmp_path_factory, "kubefake-list") as api:
        for i in range(1200):  # three pages of 500
            api.put(ingress(f"i{i}", [rule(f"h{i}.kube.test", path("/", "one"))]))
        api.fault("list-410")
        with portico_on(api, portico_bin, tmp_path_factory, "kubefake-list-px") as px:
            px.wait_ready(timeout=30)
            assert api.stats()["continue"] >= 3, api.stats()
            px.wait_service("h1199.kube.test", "/", "one")
            px.wait_service("h0.kube.test", "/", "one")
            assert "continue token expired" in px.log_text()


def test_stalled_watch_is_restarted(tmp_path_factory, portico_bin):
    """A watch that stays open but sends nothing (no event, no bookmark) past its
    timeout is given up and opened again; the change it held back arrives."""
    with fake_api(tmp_path_factory, "kubefake-stall") as api:
        api.put(ingress("a", [rule("a.kube.test", path("/", "one"))]))
        # watches of 2 s instead of 5-10 min: silence is a stall after 4 s
        with portico_on(api, portico_bin, tmp_path_factory, "kubefake-stall-px",
                        env={"PORTICO_WATCH_TIMEOUT": "2"}) as px:
            px.wait_ready(timeout=30)
            api.fault("stall:" + PATHS["Ingress"])
            wait_for(lambda: api.stats()["stalled"] == 1, timeout=10, what="the Ingress watch stalled")
            api.put(ingress("b", [rule("b.kube.test", path("/", "one"))]))
            px.wait_service("b.kube.test", "/", "one", timeout=30)
            assert "watch /apis/networking.k8s.io/v1/ingresses: no data for 4 s; restarting it" \
                in px.log_text()
            assert px.get("/", host="a.kube.test").service == "one"
