#!/usr/bin/env python3
"""Writes seed inputs for the fuzz targets from the golden cases
(tests/golden/*/objects.yaml and flags) into OUT/<target>/, one small file
each. Called by fuzz/run.sh; the hand-written seeds are in fuzz/corpus/.

    fuzz/seeds.py OUT

Without PyYAML (python3-yaml, installed by scripts/deps.sh test) only the
targets that read YAML get seeds from the golden cases."""

import hashlib
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(HERE, "..", "tests", "golden")
# kinds in the order of fuzz_decode.c and fuzz_watch.c's tables
KINDS = ["Ingress", "IngressClass", "Service", "EndpointSlice", "Secret", "ConfigMap",
         "Namespace"]
WATCH = ["Ingress", "Service", "EndpointSlice", "Secret", "ConfigMap", "IngressClass",
         "Namespace"]
# portico flag -> the "# fuzz:" word of fuzz_model.c
FLAGS = {"--configmap": "configmap", "--configmap-errorfiles": "errorfiles",
         "--configmap-tcp-services": "tcp-services", "--default-backend-service": "default-backend",
         "--default-ssl-certificate": "default-ssl", "--ingress-class": "class",
         "--controller-name": "controller", "--enable-config-snippets": "snippets",
         "--watch-ingress-without-class": "without-class", "--spare-backends": "spare"}


def write(out, target, data):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def fuzz_line(case):
    words = []
    try:
        with open(os.path.join(case, "flags")) as f:
            lines = f.read().split("\n")
    except FileNotFoundError:
        return b""
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        flag, _, val = line.partition("=")
        if flag in FLAGS:
            words.append(FLAGS[flag] + ("=" + val if val else ""))
    return ("# fuzz: " + " ".join(words) + "\n").encode() if words else b""


def json_seeds(out, docs):
    docs = [d for d in docs if isinstance(d, dict) and d.get("kind")]
    # fuzz_decode: the whole set as a List (byte 7: items as they are), and
    # each kind as a typed list, its items without kind and apiVersion
    write(out, "fuzz_decode", b"\x07" + json.dumps(
        {"kind": "List", "apiVersion": "v1", "metadata": {"resourceVersion": "1"},
         "items": docs}, default=str).encode())
    for k, kind in enumerate(KINDS):
        items = [{x: v for x, v in d.items() if x not in ("kind", "apiVersion")}
                 for d in docs if d["kind"] == kind]
        if items:
            write(out, "fuzz_decode", bytes([k]) + json.dumps(
                {"metadata": {"resourceVersion": "7", "continue": ""}, "items": items},
                default=str).encode())
    # fuzz_watch: each kind's objects as events, then changed, bookmarked and
    # deleted; chunked whole (0), by 7 bytes, and at random (200)
    for k, kind in enumerate(WATCH):
        objs = [d for d in docs if d["kind"] == kind]
        if not objs:
            continue
        lines = [{"type": "ADDED", "object": o} for o in objs]
        lines.append({"type": "MODIFIED", "object": objs[0]})
        lines.append({"type": "BOOKMARK", "object": {"kind": kind, "metadata":
                                                     {"resourceVersion": "12"}}})
        lines.append({"type": "DELETED", "object": objs[-1]})
        stream = "".join(json.dumps(x, default=str) + "\n" for x in lines).encode()
        for chunking in (0, 7, 200):
            write(out, "fuzz_watch", bytes([chunking, k]) + stream)


def key_seeds(out, docs):
    """fuzz_keys: "key\\0value\\0" records from annotations and ConfigMap data."""
    for d in docs:
        if not isinstance(d, dict):
            continue
        kv = {}
        if d.get("kind") in ("Ingress", "Service"):
            kv = (d.get("metadata") or {}).get("annotations") or {}
        elif d.get("kind") == "ConfigMap":
            kv = d.get("data") or {}
        rec = b"".join(str(k).encode() + b"\0" + str(v).encode() + b"\0"
                       for k, v in kv.items())
        if rec:
            write(out, "fuzz_keys", rec)


def main():
    out = sys.argv[1]
    try:
        import yaml
    except ImportError:
        yaml = None
        print("seeds.py: no PyYAML: JSON seeds from tests/golden left out", file=sys.stderr)
    for name in sorted(os.listdir(GOLDEN)):
        case = os.path.join(GOLDEN, name)
        path = os.path.join(case, "objects.yaml")
        if not os.path.isfile(path):
            continue
        with open(path, "rb") as f:
            text = f.read()
        write(out, "fuzz_manifests", text)
        write(out, "fuzz_model", fuzz_line(case) + text)
        if yaml is None:
            continue
        try:
            docs = list(yaml.safe_load_all(text))
        except yaml.YAMLError:
            continue
        json_seeds(out, docs)
        key_seeds(out, docs)


main()
