#!/usr/bin/env python3
"""A tiny Kubernetes API client for tests (stdlib urllib + ssl; PyYAML for YAML).

Command line (credentials from --kubeconfig, default $KUBECONFIG; --token overrides):

    kapi.py [--kubeconfig F] [--token T] get PATH            # GET, prints the JSON
    kapi.py ... post|put|patch PATH [-f FILE | -d JSON]      # body from a file, -d or stdin
    kapi.py ... patch PATH --type merge|strategic|json -d '{...}'
    kapi.py ... delete PATH
    kapi.py ... apply|create|replace|delete -f FILE          # YAML or JSON, multi-document, List
    kapi.py ... apply -f -                                   # objects from stdin

`apply` is server-side apply (PATCH application/apply-patch+yaml, fieldManager=kapi,
force=true): it creates or updates. `create` is POST, `replace` is GET + PUT with the
current resourceVersion, `delete -f` deletes each object (404 is fine).
Exit status: 0 on success, 1 on an HTTP error (status and body on stderr), 2 on usage.

As a module:

    from kapi import Client
    c = Client.from_kubeconfig("admin.kubeconfig")          # or token="..." to override
    status, obj = c.request("GET", "/api/v1/namespaces")    # never raises on HTTP status
    obj = c.get("/api/v1/namespaces")                        # raises ApiError unless 2xx
    c.apply(obj_or_yaml_text); c.create(...); c.replace(...); c.delete_object(...)
    c.path_for(obj)                                          # object URL (discovery-based)
"""

import argparse
import base64
import json
import os
import ssl
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request

try:
    import yaml
except ImportError:  # JSON input still works
    yaml = None

CONTENT_TYPES = {
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "json": "application/json-patch+json",
    "apply": "application/apply-patch+yaml",
}


class ApiError(Exception):
    def __init__(self, method, path, status, body):
        self.method, self.path, self.status, self.body = method, path, status, body
        msg = body.get("message") if isinstance(body, dict) else body
        super().__init__(f"{method} {path}: HTTP {status}: {msg}")


def load_objects(text):
    """Objects from YAML or JSON text: several documents, `kind: List` flattened."""
    if yaml is not None:
        docs = list(yaml.safe_load_all(text))
    else:
        docs = [json.loads(text)]
    out = []
    for d in docs:
        if not d:
            continue
        if isinstance(d, list):
            out.extend(d)
        elif d.get("kind", "").endswith("List") and "items" in d:
            out.extend(d["items"])
        else:
            out.append(d)
    return out


class Client:
    def __init__(self, server, ca_file=None, ca_data=None, token=None,
                 cert_file=None, key_file=None, cert_data=None, key_data=None,
                 insecure=False, timeout=30):
        self.server = server.rstrip("/")
        self.token = token
        self.timeout = timeout
        self._discovery = {}
        ctx = ssl.create_default_context()
        if insecure:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        elif ca_file or ca_data:
            ctx = ssl.create_default_context(cafile=ca_file, cadata=ca_data)
        if cert_data and key_data:
            # ssl wants files: write them privately, load, remove.
            with tempfile.TemporaryDirectory() as d:
                cf, kf = os.path.join(d, "c.crt"), os.path.join(d, "c.key")
                for p, data in ((cf, cert_data), (kf, key_data)):
                    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                    with os.fdopen(fd, "wb") as f:
                        f.write(data)
                ctx.load_cert_chain(cf, kf)
        elif cert_file and key_file:
            ctx.load_cert_chain(cert_file, key_file)
        self.ctx = ctx

    @classmethod
    def from_kubeconfig(cls, path=None, token=None, **kw):
        path = path or os.environ.get("KUBECONFIG")
        if not path:
            raise ValueError("no kubeconfig (pass --kubeconfig or set KUBECONFIG)")
        with open(path) as f:
            text = f.read()
        cfg = yaml.safe_load(text) if yaml is not None else json.loads(text)
        base = os.path.dirname(os.path.abspath(path))

        def named(section, name):
            for e in cfg.get(section) or []:
                if e.get("name") == name:
                    return e
            raise ValueError(f"{path}: no {section} entry named {name!r}")

        ctx = named("contexts", cfg["current-context"])["context"]
        cl = named("clusters", ctx["cluster"])["cluster"]
        user = named("users", ctx["user"])["user"] if ctx.get("user") else {}

        def rel(p):
            return p if p is None or os.path.isabs(p) else os.path.join(base, p)

        def b64(v):
            return base64.b64decode(v) if v else None

        ca_data = b64(cl.get("certificate-authority-data"))
        return cls(
            cl["server"],
            ca_file=rel(cl.get("certificate-authority")),
            ca_data=ca_data.decode() if ca_data else None,
            token=token or user.get("token"),
            cert_file=rel(user.get("client-certificate")),
            key_file=rel(user.get("client-key")),
            cert_data=None if token else b64(user.get("client-certificate-data")),
            key_data=None if token else b64(user.get("client-key-data")),
            insecure=bool(cl.get("insecure-skip-tls-verify")),
            **kw,
        )

    # ------------------------------------------------------------------ raw HTTP

    def request(self, method, path, body=None, content_type="application/json",
                params=None):
        """(status, decoded body) for any answer; body may be a dict or bytes/str."""
        url = self.server + path
        if params:
            url += ("&" if "?" in path else "?") + urllib.parse.urlencode(params)
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else (
                body.encode() if isinstance(body, str) else json.dumps(body).encode())
        req = urllib.request.Request(url, data=data, method=method)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", content_type)
        if self.token:
            req.add_header("Authorization", "Bearer " + self.token)
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=self.timeout) as r:
                status, raw = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode(errors="replace")

    def _ok(self, method, path, *a, **kw):
        status, obj = self.request(method, path, *a, **kw)
        if not 200 <= status < 300:
            raise ApiError(method, path, status, obj)
        return obj

    def get(self, path, **kw):
        return self._ok("GET", path, **kw)

    def post(self, path, body, **kw):
        return self._ok("POST", path, body, **kw)

    def put(self, path, body, **kw):
        return self._ok("PUT", path, body, **kw)

    def patch(self, path, body, type="merge", **kw):
        return self._ok("PATCH", path, body, content_type=CONTENT_TYPES[type], **kw)

    def delete(self, path, **kw):
        return self._ok("DELETE", path, **kw)

    # ------------------------------------------------------------------ objects

    def _resource(self, api_version, kind):
        if api_version not in self._discovery:
            base = "/api/v1" if api_version == "v1" else "/apis/" + api_version
            lst = self.get(base)
            self._discovery[api_version] = (base, {
                r["kind"]: r for r in lst.get("resources", []) if "/" not in r["name"]})
        base, kinds = self._discovery[api_version]
        if kind not in kinds:
            raise ValueError(f"kind {kind} not served by {api_version}")
        return base, kinds[kind]

    def collection_for(self, obj):
        base, r = self._resource(obj["apiVersion"], obj["kind"])
        if r["namespaced"]:
            ns = obj.get("metadata", {}).get("namespace") or "default"
            return f"{base}/namespaces/{urllib.parse.quote(ns)}/{r['name']}"
        return f"{base}/{r['name']}"

    def path_for(self, obj):
        return self.collection_for(obj) + "/" + urllib.parse.quote(obj["metadata"]["name"])

    @staticmethod
    def _objects(x):
        if isinstance(x, str):
            return load_objects(x)
        return x if isinstance(x, list) else [x]

    def create(self, objs):
        return [self.post(self.collection_for(o), o) for o in self._objects(objs)]

    def apply(self, objs, field_manager="kapi"):
        out = []
        for o in self._objects(objs):
            out.append(self._ok("PATCH", self.path_for(o), json.dumps(o),
                                content_type=CONTENT_TYPES["apply"],
                                params={"fieldManager": field_manager, "force": "true"}))
        return out

    def replace(self, objs):
        out = []
        for o in self._objects(objs):
            path = self.path_for(o)
            cur = self.get(path)
            o = json.loads(json.dumps(o))
            o.setdefault("metadata", {})["resourceVersion"] = cur["metadata"]["resourceVersion"]
            out.append(self.put(path, o))
        return out

    def delete_object(self, objs, missing_ok=True):
        out = []
        for o in self._objects(objs):
            status, body = self.request("DELETE", self.path_for(o))
            if status == 404 and missing_ok:
                continue
            if not 200 <= status < 300:
                raise ApiError("DELETE", self.path_for(o), status, body)
            out.append(body)
        return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kubeconfig", default=os.environ.get("KUBECONFIG"))
    ap.add_argument("--token", help="bearer token (overrides the kubeconfig user)")
    ap.add_argument("verb", choices=["get", "post", "put", "patch", "delete",
                                     "apply", "create", "replace"])
    ap.add_argument("path", nargs="?", help="API path, e.g. /api/v1/namespaces")
    ap.add_argument("-f", "--filename", help="YAML/JSON file ('-' for stdin)")
    ap.add_argument("-d", "--data", help="request body (JSON)")
    ap.add_argument("--type", default="merge", choices=sorted(CONTENT_TYPES),
                    help="patch type (default merge)")
    a = ap.parse_args(argv)
    try:
        c = Client.from_kubeconfig(a.kubeconfig, token=a.token)
    except (OSError, ValueError, KeyError) as e:
        print(f"kapi: {e}", file=sys.stderr)
        return 2

    def body_text():
        if a.data is not None:
            return a.data
        if a.filename in (None, "-"):
            return sys.stdin.read()
        with open(a.filename) as f:
            return f.read()

    try:
        objects_mode = a.verb in ("apply", "create", "replace") or (
            a.verb == "delete" and a.path is None)
        if objects_mode != (a.path is None) or (objects_mode and not a.filename):
            ap.error("get/post/put/patch/delete take a PATH; "
                     "apply/create/replace/delete -f FILE take no PATH")
        if objects_mode:
            objs = load_objects(body_text())
            res = {"apply": c.apply, "create": c.create, "replace": c.replace,
                   "delete": c.delete_object}[a.verb](objs)
            for o in res:
                md = (o or {}).get("metadata", {}) if isinstance(o, dict) else {}
                print(f"{a.verb}: {o.get('kind', '?') if isinstance(o, dict) else '?'} "
                      f"{md.get('namespace', '') + '/' if md.get('namespace') else ''}"
                      f"{md.get('name', '')}")
            return 0
        if a.verb in ("get", "delete"):
            status, obj = c.request(a.verb.upper(), a.path)
        else:
            text = body_text()
            ctype = CONTENT_TYPES[a.type] if a.verb == "patch" else "application/json"
            if a.verb != "patch" or a.type != "apply":
                objs = load_objects(text)  # accept YAML bodies too
                text = json.dumps(objs[0] if len(objs) == 1 else objs)
            status, obj = c.request(a.verb.upper(), a.path, text, content_type=ctype)
        if not 200 <= status < 300:
            raise ApiError(a.verb.upper(), a.path, status, obj)
        print(json.dumps(obj, indent=2) if isinstance(obj, (dict, list)) else obj)
        return 0
    except ApiError as e:
        print(f"kapi: {e}", file=sys.stderr)
        if isinstance(e.body, dict):
            print(json.dumps(e.body, indent=2), file=sys.stderr)
        return 1
    except (OSError, ValueError) as e:
        print(f"kapi: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
