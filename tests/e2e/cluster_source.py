"""The end-to-end tests against a real kube-apiserver instead of a manifests
directory (PORTICO_E2E_SOURCE=cluster; tests/cluster_e2e/run.sh runs it inside
a private network namespace).

ApiManifests has the interface of helpers.Manifests, so a test does not know
which source it feeds: each "file" written is a set of objects created or
updated with server-side apply, and objects that leave a file are deleted.
Every Launcher gets its own API server and etcd (about 4 s to start), so
stacks that run side by side never see each other's objects, exactly as two
manifests directories would not.

What the API server does differently from a directory, and how it is bridged:
- It refuses loopback endpoint addresses: 127.0.0.N in an EndpointSlice is
  sent as 198.18.0.N, the echo backends listen there, and helpers.Response
  maps the address back (helpers.pod_addr / helpers.test_addr).
- It sets creationTimestamp itself, with one-second resolution: objects are
  created group by group of equal timestamps, oldest first, each newer group
  in a new second, so "oldest wins" and "same timestamp, namespace/name
  decides" keep their meaning. What is written before Portico starts is
  created at its start (ApiManifests.start), so a test may write a newer
  object before an older one, as it may in a directory.
- Namespaces must exist: they are created on first use.
"""

import datetime
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

from helpers import OLD, REPO, free_port, pod_addr

sys.path.insert(0, str(REPO / "tests" / "cluster"))
from kapi import ApiError, Client  # noqa: E402

CLUSTER_SH = REPO / "tests" / "cluster" / "cluster.sh"

# Creation order within a write: what an Ingress refers to exists before it.
KIND_ORDER = {"Namespace": 0, "IngressClass": 1, "ConfigMap": 2, "Secret": 3,
              "Service": 4, "EndpointSlice": 5, "Ingress": 6}


class ApiCluster:
    """etcd + kube-apiserver from tests/cluster/cluster.sh, in directory (also
    the cluster of tests/cluster_e2e)."""

    def __init__(self, directory):
        self.dir = Path(directory)
        ports = " ".join(str(free_port()) for _ in range(3))
        self.sh("start", timeout=180, env={"CLUSTER_PORTS": ports})
        self.admin = Client.from_kubeconfig(str(self.dir / "admin.kubeconfig"))
        # Portico runs as the portico ServiceAccount, so RBAC applies to it.
        self.kubeconfig = self.dir / "portico.kubeconfig"

    def sh(self, command, timeout=120, env=None):
        """cluster.sh COMMAND DIR: restart-apiserver, compact, stop..."""
        subprocess.run([str(CLUSTER_SH), command, str(self.dir)], check=True, timeout=timeout,
                       stdout=subprocess.DEVNULL, env={**os.environ, **(env or {})})

    def lb_status(self, name, ns="default"):
        """status.loadBalancer.ingress of Ingress ns/name ([] when none)."""
        ing = self.admin.get(f"/apis/networking.k8s.io/v1/namespaces/{ns}/ingresses/{name}")
        return (ing.get("status") or {}).get("loadBalancer", {}).get("ingress") or []

    def apiserver_pid(self):
        return int((self.dir / "kube-apiserver.pid").read_text())

    def stop(self):
        self.sh("stop")


def _flatten(objs):
    out = []
    for o in objs:
        if not o:
            continue
        if o.get("kind") == "List":
            out += _flatten(o.get("items") or [])
        else:
            out.append(o)
    return out


def _key(o):
    md = o["metadata"]
    return (o["apiVersion"], o["kind"], md.get("namespace"), md["name"])


def _timestamp(o):
    return o["metadata"].get("creationTimestamp") or OLD


def _to_api(o):
    """The object as sent: no creationTimestamp, pod addresses for endpoints."""
    o = json.loads(json.dumps(o))
    md = o["metadata"]
    md.pop("creationTimestamp", None)
    if o["kind"] in ("Secret", "ConfigMap", "Service", "EndpointSlice", "Ingress"):
        md.setdefault("namespace", "default")
    if o["kind"] == "EndpointSlice":
        for ep in o.get("endpoints") or []:
            ep["addresses"] = [pod_addr(a) for a in ep.get("addresses") or []]
    return o


def _parse_time(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _next_second():
    """Sleep until just after the wall clock enters a new second."""
    now = time.time()
    time.sleep(1.02 - (now - int(now)))


class ApiManifests:
    """helpers.Manifests, fed to an API server: write(name, objs), delete(name)."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.api = cluster.admin
        self.files = {}       # name -> {key: object as written}
        self.texts = {}       # name -> text as written
        self.namespaces = {"default"}
        self.started = False  # see start()
        self.newest = None    # the newest creationTimestamp created so far

    def _ensure_namespace(self, ns):
        if ns is None or ns in self.namespaces:
            return
        status, body = self.api.request("POST", "/api/v1/namespaces",
                                        {"apiVersion": "v1", "kind": "Namespace",
                                         "metadata": {"name": ns}})
        if status not in (201, 409):
            raise ApiError("POST", "/api/v1/namespaces", status, body)
        self.namespaces.add(ns)

    def _apply(self, objs):
        for o in sorted(objs, key=lambda o: KIND_ORDER.get(o["kind"], 99)):
            sent = _to_api(o)
            self._ensure_namespace(sent["metadata"].get("namespace"))
            self.api.apply(sent, field_manager="portico-e2e")

    def _create_in_time_order(self, objs):
        groups = {}
        for o in objs:
            groups.setdefault(_parse_time(_timestamp(o)), []).append(o)
        for ts in sorted(groups):
            if self.newest is not None and ts < self.newest:
                raise AssertionError(
                    f"{[_key(o) for o in groups[ts]]}: creationTimestamp {ts} is older than an "
                    "object already in the API server; the server cannot go back in time "
                    "(write the older objects first, or mark the test file_only)")
            if self.newest is not None and ts > self.newest:
                _next_second()
            self._apply(groups[ts])
            self.newest = ts

    def write(self, name, objs_or_text):
        if isinstance(objs_or_text, str):
            text = objs_or_text
            objs = _flatten(yaml.safe_load_all(text))
        else:
            objs = _flatten(objs_or_text if isinstance(objs_or_text, list) else [objs_or_text])
            text = None  # made by read(): dumping big objects at every write is slow
        new = {_key(o): o for o in objs}
        old = self.files.get(name, {})
        self.files[name] = new
        self.texts[name] = text
        if self.started:
            # Deletes first: a test that writes a sentinel Ingress with its
            # change (the Ingress goes last) knows all of it applied once the
            # sentinel routes. Once running, an object without a timestamp of
            # its own (OLD is the default) is simply created now.
            self._delete([o for k, o in old.items() if k not in new])
            self._apply([o for k, o in new.items() if k in old or _timestamp(o) == OLD])
            self._create_in_time_order([o for k, o in new.items() if k not in old and _timestamp(o) != OLD])
        return name

    def start(self):
        """Before Portico starts, writes are only recorded; this creates them
        all at once, oldest timestamp first (a test may write a newer object
        before an older one, as a directory allows)."""
        if not self.started:
            self.started = True
            self._create_in_time_order([o for f in self.files.values() for o in f.values()])

    def _delete(self, objs):
        for o in sorted(objs, key=lambda o: -KIND_ORDER.get(o["kind"], 99)):
            self.api.delete_object(_to_api(o))

    def delete(self, name):
        gone = list(self.files.pop(name).values())
        del self.texts[name]
        if self.started:
            self._delete(gone)

    def read(self, name):
        if self.texts[name] is None:
            self.texts[name] = yaml.safe_dump_all(list(self.files[name].values()), sort_keys=False)
        return self.texts[name]

    def exists(self, name):
        return name in self.files
