"""The hostile-input corpus (issue 19, items 5 and 6; README.md here).

Every field an object can carry to the HAProxy configuration (hosts, paths,
every annotation of the key table under each prefix, the ingress-nginx
annotations Portico translates, Service annotations, names, TLS Secret data,
every ConfigMap key) gets every payload of corpus.PAYLOADS. Each fixture must
be either

  rejected: a warning names its file and the field, nothing of the payload
            reaches the files, and everything but that object renders
            byte-identically to the baseline; or
  emitted:  the object renders with the lines the benign value gives (same
            directives, same word counts) and every byte that differs reads
            back, through HAProxy's tokenizer (hcfg.py), as bytes of the value.

and `haproxy -c` accepts every rendering.

Run: tests/security/run.sh (PORTICO_BIN=/path/to/portico to override).
"""

import os
import re
import shutil
import subprocess
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import conftest
import corpus as C
import hcfg as H
from portico_bin import portico_binary

REPO = Path(__file__).resolve().parents[2]
BATCH = 1500            # Ingress fixtures per rendering: ~1 s of portico each
CM_FLAG = "--configmap=default/portico"
# Payloads made of separators only: trimming them is not losing data.
BLANK_PAYLOADS = {"leading-spaces", "trailing-spaces"}
# Keys whose value is one entry per line: a payload's line break adds an entry.
MULTI_LINE_TYPES = {"header lines", "regex and replacement"}
OWN_FID = re.compile(r"(?<![0-9a-f])f\d{5}(?![0-9a-f])")
HASH = re.compile(r"(?<=_)[0-9a-f]{12}(?![0-9a-z])")
NAME = re.compile(r"[A-Za-z0-9_.:-]+")  # backend names, map values
PEM_ONLY = re.compile(rb"(-----BEGIN ([A-Z ]+)-----\n([A-Za-z0-9+/=]{1,64}\n)+-----END \2-----\n)+")


# --------------------------------------------------------------------------- tools

def _haproxy():
    h = os.environ.get("HAPROXY_BIN") or shutil.which("haproxy") or "/usr/sbin/haproxy"
    if not shutil.which(h):
        pytest.fail(f"haproxy not found ({h}); install haproxy 2.6 or set HAPROXY_BIN",
                    pytrace=False)
    return h


def _cert(directory, name):
    key, crt, der = (directory / f"{name}.{e}" for e in ("key", "crt", "der"))
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256",
                    "-days", "30", "-subj", f"/CN={name}.test", "-keyout", str(key),
                    "-out", str(crt)], check=True, capture_output=True, timeout=60)
    subprocess.run(["openssl", "x509", "-in", str(crt), "-outform", "DER", "-out", str(der)],
                   check=True, capture_output=True, timeout=60)
    return {"crt": crt.read_text(), "key": key.read_text(), "der": der.read_bytes()}


def lat(v):
    """<v> as the files hold it: one character per byte."""
    return (v if isinstance(v, bytes) else v.encode()).decode("latin-1")


# --------------------------------------------------------------------------- fields

def service_fields(docs):
    """Service annotations: the keys a Service may carry, on the Service an
    Ingress routes to (corpus.ingress_fields covers the Ingress side)."""
    out = []
    for d in docs:
        if "Service annotation" not in d.scopes:
            continue
        p = "portico.dev/"

        def build(fid, v, name=d.name):
            svc = C.service(f"{fid}-svc")
            svc["metadata"]["annotations"] = {p + name: v, **C.companions(p, name)}
            return [svc, C.slice_for(f"{fid}-1", f"{fid}-svc"),
                    C.ingress(fid, f"{fid}.test", paths=[
                        {"path": "/", "pathType": "Prefix", "backend": C.backend(f"{fid}-svc")}])]
        out.append(C.Field(f"Service annotation {p}{d.name}", d.annotation_example or "true",
                           build, f'metadata.annotations["{p}{d.name}"]', key_type=d.type))
    return out


def secret_special_field(cert):
    return C.Field("Secret data (whole values)", None, None, "spec.tls[0]", reencoded=True)


def family(field):
    label = field.label
    if field.kind == "configmap":
        return "configmap"
    for prefix, fam in (("spec.rules[].host", "host"), ("spec.tls[].hosts[]", "host"),
                        ("path ", "path"), ("annotation name ", "annotation name"),
                        ("annotation " + C.NGINX, "ingress-nginx annotation"),
                        ("canary ", "canary"),
                        ("annotation ", "annotation"), ("Service annotation", "service annotation"),
                        ("Secret", "secret")):
        if label.startswith(prefix):
            return fam
    return "names"


# --------------------------------------------------------------------------- renderings

class Line:
    """One line a fixture owns: a configuration line, or a map or crt-list
    line (words separated by single spaces, read literally)."""
    __slots__ = ("kind", "text", "words", "problems", "shape")

    def __init__(self, kind, text):
        self.kind, self.text = kind, text
        if kind == "cfg":
            self.words, self.problems = H.tokenize(text)
            self.shape = ("cfg",) + H.shape(self.words)
            if text.startswith("backend "):
                # names are Portico's (hashes of the keys): checked apart
                self.shape = ("cfg", "backend", len(self.words))
                if not NAME.fullmatch(text[len("backend "):]):
                    self.problems = self.problems + ["backend name of other characters than "
                                                     "[A-Za-z0-9_.:-]"]
        else:
            self.words = [H.Word(w, w, False) for w in text.split(" ")]
            self.problems = H.map_line_problems(text)
            self.shape = (kind, len(self.words))
            if kind.startswith("map:") and len(self.words) == 2 and not NAME.fullmatch(
                    self.words[1].text):
                self.problems = self.problems + ["map value of other characters than "
                                                 "[A-Za-z0-9_.:-]"]


def norm(s, fid):
    return HASH.sub("HASH", s.replace(C.canary_id(fid), "CID").replace(fid, "FID"))


def map_backends(value):
    """The backends a map value names: one, or with a canary
    "MAIN:CANARY:WEIGHT:TOTAL:ID" the first two."""
    return value.split(":")[:2]


class Rendering:
    """What one fixture put in an output: its map and crt-list lines (found
    by its host fNNNNN.test), the backends they lead to, its certificates."""

    def __init__(self, out, index, fid):
        self.lines, self.certs, self.backends = [], {}, set()
        for mname, line in index["maps"].get(fid, []):
            self.lines.append(Line("map:" + mname, norm(line, fid)))
            parts = line.split(" ")
            if len(parts) == 2:
                self.backends |= {b for b in map_backends(parts[1]) if b in out.blocks}
        # a canary's own frontend lines
        for line in out.canary_lines.get(C.canary_id(fid), []):
            self.lines.append(Line("cfg", norm(line, fid)))
        for line in index["crt"].get(fid, []):
            self.lines.append(Line("crt", norm(line, fid)))
        for name in sorted(self.backends):
            self.lines.append(Line("cfg", norm("backend " + name, fid)))
            self.lines += [Line("cfg", norm(x, fid)) for x in out.blocks[name]]
        for name, data in out.certs.items():
            if fid in name:
                self.certs[norm(name, fid)] = data

    def texts(self):
        return sorted((ln.kind, ln.text) for ln in self.lines)


def index_output(out):
    """fid -> the map and crt-list lines naming it."""
    idx = {"maps": defaultdict(list), "crt": defaultdict(list)}
    for mname, lines in out.maps.items():
        for line in lines:
            for fid in set(OWN_FID.findall(line)):
                idx["maps"][fid].append((mname, line))
    for line in out.crt_list:
        for fid in set(OWN_FID.findall(line)):
            idx["crt"][fid].append(line)
    return idx


# --------------------------------------------------------------------------- read-back

def lf_items(word):
    """The items HAProxy makes of a word: characters, and for a log-format
    argument "%%" as "%" and each "%[...]", "%{..}x" or "%x" as one expression."""
    s = word.text
    if not word.lf:
        return [("L", c) for c in s]
    out, i = [], 0
    while i < len(s):
        if s[i] != "%":
            out.append(("L", s[i]))
            i += 1
        elif s[i + 1:i + 2] == "%":
            out.append(("L", "%"))
            i += 2
        else:
            m = re.match(r"%(\{[^}]*\})?(\[[^\]]*\]|[A-Za-z]+)?", s[i:])
            out.append(("E", m.group(0)))
            i += max(1, len(m.group(0)))
    return out


def inserted(hw, bw):
    """What <hw> has that <bw> has not, around their common start and end:
    (literal text, expressions)."""
    h, b = lf_items(hw), lf_items(bw) if bw is not None else []
    p = 0
    while p < min(len(h), len(b)) and h[p] == b[p]:
        p += 1
    s = 0
    while s < min(len(h), len(b)) - p and h[-1 - s] == b[-1 - s]:
        s += 1
    mid = h[p:len(h) - s]
    return "".join(t for k, t in mid if k == "L"), [t for k, t in mid if k == "E"]


def compare_emitted(hostile, benign, fx):
    """Problems of an accepted value: lines or directives the benign value
    does not give, and bytes that do not read back as the value's.
    Returns (problems, read-back text found)."""
    problems, found = [], []
    val = norm(lat(fx.value), fx.fid)
    btexts = Counter(ln.text for ln in benign.lines)
    by_shape = defaultdict(list)
    for ln in benign.lines:
        by_shape[ln.shape].append(ln)
    extra = len(hostile.lines) - len(benign.lines)
    multi = fx.field.key_type in MULTI_LINE_TYPES
    if extra and not (multi and extra > 0 and re.search(r"[\r\n]", lat(fx.injected()))):
        problems.append(f"{len(hostile.lines)} lines where the benign value gives "
                        f"{len(benign.lines)}")
    for ln in hostile.lines:
        if btexts[ln.text] > 0:
            btexts[ln.text] -= 1
            continue
        if ln.problems:
            problems.append(f"line {ln.text[:200]!r}: {', '.join(ln.problems)}")
            continue
        # a word HAProxy takes as a name (cookie NAME) is part of the shape:
        # then any line of the same directive and length is the peer, and
        # that word is checked as the value's below
        peers = by_shape.get(ln.shape) or [b for b in benign.lines if b.kind == ln.kind and len(
            b.words) == len(ln.words) and b.words[:1] and ln.words[:1]
            and b.words[0].text == ln.words[0].text]
        if not peers:
            problems.append(f"new directive {ln.text[:200]!r} (shape {ln.shape})")
            continue
        peer = min(peers, key=lambda b: sum(x.text != y.text for x, y in zip(ln.words, b.words)))
        for k, w in enumerate(ln.words):
            if ln.shape[1] == "backend" or ln.kind.startswith("map:") and k == 1:
                continue  # a backend name: Portico's, checked in Line
            bw = peer.words[k] if k < len(peer.words) else None
            if bw is not None and bw.text == w.text:
                continue
            # a log-format key's value is a log-format: HAProxy expanding it
            # is its meaning; the word must be the value as written
            if fx.field.key_type == "log-format string":
                if w.text not in val:
                    problems.append(f"{w.raw[:120]!r} is not the value as written")
                found.append(w.text)
                continue
            text, exprs = inserted(w, bw)
            if exprs:
                problems.append(f"{w.raw[:120]!r}: HAProxy expands {exprs[:3]} (log-format)")
            elif text and text not in val and not set(C.tokens(text)) <= set(C.tokens(val)):
                # (a list may be written back joined by ", ": its items must
                # still be the value's)
                problems.append(f"{w.raw[:120]!r} reads back as {text[:120]!r}, "
                                f"not bytes of the value")
            found.append("".join(t for _, t in lf_items(w)))
    if set(hostile.certs) != set(benign.certs):
        problems.append(f"certificate files {sorted(hostile.certs)} instead of "
                        f"{sorted(benign.certs)}")
    for name, data in hostile.certs.items():
        if not PEM_ONLY.fullmatch(data):
            problems.append(f"{name} holds more than PEM blocks")
    return problems, "\n".join(found)


def injected_tokens(fx):
    inj = fx.injected()
    return [t for t in C.tokens(lat(inj) if inj else "") if t]


def leaks(rendering, fx):
    """Lines of a rejected fixture that carry its payload."""
    inj = lat(fx.injected()) if fx.payload else ""
    if fx.payload is None or fx.payload.name in BLANK_PAYLOADS or len(inj.strip()) < 2:
        return []
    inj = norm(inj, fx.fid)
    out = []
    for ln in rendering.lines:
        for w in ln.words:
            try:
                rb = H.readback(w)
            except H.LogFormatExpansion:
                rb = w.text
            if inj in rb:
                out.append(ln.text[:200])
                break
    return out


# --------------------------------------------------------------------------- running

def cm_object(data):
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "portico", "namespace": "default"}, "data": data}


def render(binary, haproxy, mdir, outdir, flags=()):
    rc, err = C.run_render(binary, mdir, outdir, flags)
    if rc != 0 or not (outdir / "haproxy.cfg").is_file():
        return rc, err, None, ""
    hrc, hout = C.run_haproxy(haproxy, outdir)
    return hrc, err, C.Output(outdir, err), hout


def write_manifests(mdir, common, fixtures):
    mdir.mkdir(parents=True)
    (mdir / "common.yaml").write_bytes(C.dump_docs(common))
    for fx in fixtures:
        (mdir / f"{fx.fid}.yaml").write_bytes(C.dump_docs(fx.objs))


def haproxy_lines(hout, out):
    """The lines `haproxy -c` complains about, with their text."""
    out_lines = []
    for m in re.finditer(r"\[([\w./-]+):(\d+)\]", hout):
        fname, n = m.group(1), int(m.group(2))
        if fname.endswith("haproxy.cfg"):
            text = out.cfg_lines[n - 1] if 0 < n <= len(out.cfg_lines) else "?"
        else:
            p = out.dir / fname
            ls = p.read_bytes().decode("latin-1").split("\n") if p.is_file() else []
            text = ls[n - 1] if 0 < n <= len(ls) else "?"
        out_lines.append(f"{fname}:{n}: {text[:200]}")
    return out_lines


class Corpus:
    def __init__(self, tmp):
        self.tmp = tmp
        self.binary, self.haproxy = portico_binary(), _haproxy()
        self.cert, self.cert2 = _cert(tmp, "one"), _cert(tmp, "two")
        self.docs = C.key_docs(str(self.binary))
        self.nginx = C.nginx_annotations(REPO)
        self.fields = (C.ingress_fields(self.docs, self.nginx, self.cert, self.cert2)
                       + service_fields(self.docs))
        self.cm_fields = C.configmap_fields(self.docs)
        self.violations = []      # (fixture label or batch, message)
        self.outcome = {}         # fid -> rejected / emitted / normalized
        self.fixtures = []
        self.haproxy_runs = 0
        self._make_fixtures()
        self.family_of = {fx.label: family(fx.field) for fx in self.fixtures}

    # fixtures --------------------------------------------------------------

    def _make_fixtures(self):
        self.benign = {}
        for f in self.fields + self.cm_fields:
            fid = f"f{90000 + len(self.benign):05d}"
            value = f.render_benign(fid)
            self.benign[f.label] = C.Fixture(fid, f, None, value, value,
                                             objs=f.build(fid, value) if f.build else None)
        n = 0
        for f in self.fields + self.cm_fields:
            for p in C.PAYLOADS:
                fid = f"f{n:05d}"
                n += 1
                b = f.render_benign(fid)
                v = p.apply(b)
                self.fixtures.append(C.Fixture(fid, f, p, v, b,
                                               objs=f.build(fid, v) if f.build else None))
        sf = secret_special_field(self.cert)
        for name, crt, key in C.secret_specials(self.cert, self.cert2):
            fid = f"f{n:05d}"
            n += 1
            objs = [C.tls_secret(f"{fid}-tls", crt, key),
                    C.ingress(fid, f"{fid}.test",
                              tls=[{"hosts": [f"{fid}.test"], "secretName": f"{fid}-tls"}])]
            self.fixtures.append(C.Fixture(fid, sf, None, crt + key, b"", special=name,
                                           objs=objs))
        self.benign[sf.label] = self.benign["Secret data[tls.crt]"]

    # runs ------------------------------------------------------------------

    def run(self):
        ing = [fx for fx in self.fixtures if fx.field.kind == "ingress"]
        cms = [fx for fx in self.fixtures if fx.field.kind == "configmap"]
        jobs = [("baseline", C.common_objects(self.cert), [], ()),
                ("benign", C.common_objects(self.cert),
                 [b for b in self.benign.values() if b.field.kind == "ingress"], ())]
        for i in range(0, len(ing), BATCH):
            jobs.append((f"batch{i // BATCH}", C.common_objects(self.cert), ing[i:i + BATCH], ()))
        # the ConfigMap is in the fixture's own file: a file libyaml refuses
        # must not take the common objects with it
        jobs.append(("cm-empty", C.common_objects(self.cert),
                     [C.Fixture("f99999", None, None, None, None, objs=[cm_object({})])],
                     (CM_FLAG,)))
        # what a refused key leaves: its companions alone
        for key, data in C.CM_COMPANIONS.items():
            jobs.append((f"cm-companions-{key}", C.common_objects(self.cert),
                         [C.Fixture("f99998", None, None, None, None, objs=[cm_object(data)])],
                         (CM_FLAG,)))
        for f in self.cm_fields:
            b = self.benign[f.label]
            b.objs = [cm_object(self._cm_data(f, b.value))]
            jobs.append((f"cm-benign-{f.label}", C.common_objects(self.cert), [b], (CM_FLAG,)))
        for fx in cms:
            fx.objs = [cm_object(self._cm_data(fx.field, fx.value))]
            jobs.append((f"cm-{fx.fid}", C.common_objects(self.cert), [fx], (CM_FLAG,)))
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
            results = dict(pool.map(self._job, jobs))
        self.results = results
        base = results["baseline"]
        if base[2] is None or base[0] != 0:
            pytest.fail(f"the baseline does not render or pass haproxy -c: {base[3]}")
        self._check_batch("benign", results["benign"], base, benign=True)
        self.benign_index = index_output(results["benign"][2])
        self.allowed_shapes = self._shapes(results.values())
        for name, res in results.items():
            if name.startswith("batch"):
                self._check_batch(name, res, base)
        for fx in cms:
            self._check_cm(fx, results[f"cm-{fx.fid}"], results["cm-empty"],
                           results.get(f"cm-companions-{fx.field.cm_key}"),
                           results[f"cm-benign-{fx.field.label}"])

    @staticmethod
    def _cm_data(field, value):
        if field.cm_key is None:     # the data key itself is the hostile value
            return {value: "10s"}
        return {**C.CM_COMPANIONS.get(field.cm_key, {}), field.cm_key: value}

    def _job(self, job):
        name, common, fixtures, flags = job
        mdir = self.tmp / name / "m"
        write_manifests(mdir, common, fixtures if fixtures and fixtures[0].objs else [])
        hrc, err, out, hout = render(self.binary, self.haproxy, mdir, self.tmp / name / "out",
                                     flags)
        self.haproxy_runs += 1
        return name, (hrc, err, out, hout, fixtures)

    def _shapes(self, results):
        """Every line shape the benign renderings have: a rejected value may
        give the default, or close its route, but never a line of a kind
        Portico does not write for benign input."""
        shapes = set()
        for name, res in self.results.items():
            if name in ("baseline", "benign", "cm-empty") or name.startswith(
                    ("cm-benign", "cm-companions")):
                out = res[2]
                if out is None:
                    continue
                shapes |= {Line("cfg", x).shape for x in out.lines}
                shapes |= {Line("map:" + m, x).shape for m, ls in out.maps.items() for x in ls}
                shapes |= {Line("crt", x).shape for x in out.crt_list}
        return shapes

    # checks ----------------------------------------------------------------

    def _bad(self, who, msg):
        """<who>: a fixture's label, or a rendering's name (family "batch")."""
        fam = self.family_of.get(who, "batch")
        self.violations.append((fam, who, msg))

    def _check_batch(self, name, res, base, benign=False):
        hrc, err, out, hout, fixtures = res
        if out is None:
            self._bad(name, f"portico render failed (rc {hrc}): {err[-2000:]!r}")
            return
        if hrc != 0:
            where = haproxy_lines(hout, out)
            fids = sorted({f for w in where for f in OWN_FID.findall(w)})
            labels = [fx.label for fx in fixtures if fx.fid in fids] or [name]
            self._bad(", ".join(labels), "haproxy -c refuses the rendering: "
                      + ("; ".join(where) or hout[-1500:]))
        self._check_rest(name, out, base[2], fixtures)
        logs = defaultdict(list)
        for d in out.log:
            # by file (fNNNNN.yaml) or by object (a Service's warning names
            # only the object: service/default/fNNNNN-svc)
            m = C.FILE_RE.search(d["msg"] + ";")
            fids = {m.group(1)} if m else set(OWN_FID.findall(d.get("obj", "")))
            for fid in fids:
                logs[fid].append(d)
        idx = index_output(out)
        for fx in fixtures:
            r = Rendering(out, idx, fx.fid)
            if benign:
                continue
            b = self.benign[fx.field.label]
            brend = Rendering(self.results["benign"][2], self.benign_index, b.fid)
            self._judge(fx, logs.get(fx.fid, []), r, brend)

    def _check_rest(self, name, out, base, fixtures):
        """Everything no fixture owns renders as in the baseline."""
        if out.head != base.head:
            diff = [x for x in out.head if x not in base.head][:5]
            self._bad(name, f"global, defaults or frontend lines differ from the baseline: "
                      f"{diff or 'order or missing lines'}")
        for m, lines in base.maps.items():
            rest = [x for x in out.maps.get(m, []) if not OWN_FID.search(x)]
            if rest != lines:
                self._bad(name, f"maps/{m}: lines no fixture owns differ from the baseline")
        owned_backends = set()
        for m, lines in out.maps.items():
            for x in lines:
                if OWN_FID.search(x) and len(x.split(" ")) == 2:
                    owned_backends |= set(map_backends(x.split(" ")[1]))
        # the canaries' frontend lines: the shared ones exactly, once, when
        # there is a canary; each canary's own belong to a fixture's canary
        if out.canary_common != (C.CANARY_COMMON if out.canary_lines else []):
            self._bad(name, f"the canaries' shared frontend lines are not Portico's: "
                      f"{out.canary_common[:8]}")
        ids = {C.canary_id(fx.fid) for fx in fixtures if fx.fid}
        for cid, lines in out.canary_lines.items():
            if cid not in ids:
                self._bad(name, f"canary lines of no fixture: {lines[:2]}")
        for b, lines in out.blocks.items():
            if b in base.blocks:
                if lines != base.blocks[b]:
                    self._bad(name, f"backend {b} of the baseline changed")
            elif b not in owned_backends and not OWN_FID.search(b):
                self._bad(name, f"backend {b} belongs to no fixture and not to the baseline")
        if [x for x in out.crt_list if not OWN_FID.search(x)] != base.crt_list:
            self._bad(name, "crt-list lines no fixture owns differ from the baseline")
        for c, data in base.certs.items():
            if out.certs.get(c) != data:
                self._bad(name, f"certificate {c} of the baseline changed")

    def _judge(self, fx, logs, r, brend):
        # A file libyaml cannot read (invalid UTF-8) is refused whole, by file,
        # document and line: its fields are never read.
        named = [d for d in logs if any(h in d["msg"] for h in fx.field.hint.split("|"))
                 or d.get("mod") == "source" and "rest of the file skipped" in d["msg"]]
        for ln in r.lines:
            if ln.problems:
                self._bad(fx.label, f"line {ln.text[:200]!r}: {', '.join(ln.problems)}")
        if logs:
            self.outcome[fx.fid] = "rejected"
            if not named:
                self._bad(fx.label, f"warned without naming {fx.field.hint!r}: "
                          f"{[d['msg'][:200] for d in logs]}")
            for ln in r.lines:
                if ln.shape not in self.allowed_shapes:
                    self._bad(fx.label, f"rejected, yet renders a line of a kind no benign "
                              f"object gives: {ln.text[:200]!r}")
            for text in leaks(r, fx):
                self._bad(fx.label, f"rejected, yet its payload reaches the output: {text!r}")
            return
        self._judge_emitted(fx, r, brend)

    def _judge_emitted(self, fx, r, brend):
        problems, found = compare_emitted(r, brend, fx)
        for p in problems:
            self._bad(fx.label, f"accepted without a warning: {p}")
        same = r.texts() == brend.texts() and r.certs == brend.certs
        toks = injected_tokens(fx)
        if fx.field.reencoded:
            # Secret data: Portico writes its own PEM; what HAProxy reads
            # is the certificate and key, never the payload's bytes.
            if any(len(t) > 1 and t.encode() in b"".join(r.certs.values()) for t in toks):
                self._bad(fx.label, "the payload reaches the certificate file")
            self.outcome[fx.fid] = "normalized" if same else "emitted"
            return
        if same:
            self.outcome[fx.fid] = "normalized"
            if fx.payload.name not in BLANK_PAYLOADS:
                self._bad(fx.label, "accepted without a warning, but the payload was dropped: "
                          "the output is the benign value's")
            return
        missing = [t[:40] for t in toks if t not in found]
        if missing:
            self._bad(fx.label, f"accepted, but {missing} does not read back from the output")
        self.outcome[fx.fid] = "emitted"

    def _check_cm(self, fx, res, empty, companions, bres):
        hrc, err, out, hout, _ = res
        if out is None:
            self._bad(fx.label, f"portico render failed (rc {hrc}): {err[-2000:]!r}")
            return
        if hrc != 0:
            self._bad(fx.label, "haproxy -c refuses the rendering: "
                      + ("; ".join(haproxy_lines(hout, out)) or hout[-1500:]))
        logs = [d for d in out.log if d.get("obj") == "configmap/default/portico"
                or fx.fid in d["msg"]]
        cfg = Rendering.__new__(Rendering)
        cfg.lines = [Line("cfg", x) for x in out.lines]
        cfg.certs = {}
        if logs:
            self.outcome[fx.fid] = "rejected"
            # a key refused leaves its companions; a file refused, nothing
            if companions and not any(d.get("mod") == "source" for d in logs):
                empty = companions
            if not any(fx.field.hint in d["msg"] or d.get("mod") == "source" for d in logs):
                self._bad(fx.label, f"warned without naming {fx.field.hint!r}: "
                          f"{[d['msg'][:200] for d in logs]}")
            if out.files_except_default_cert() != empty[2].files_except_default_cert():
                diff = [x for x in out.lines if x not in empty[2].lines][:5]
                self._bad(fx.label, f"rejected, yet the output is not the one without the "
                          f"ConfigMap key: {diff}")
            return
        bout = bres[2]
        bcfg = Rendering.__new__(Rendering)
        bcfg.lines = [Line("cfg", x) for x in bout.lines]
        bcfg.certs = {}
        others = {k: v for k, v in out.files_except_default_cert().items() if k != "haproxy.cfg"}
        bothers = {k: v for k, v in bout.files_except_default_cert().items()
                   if k != "haproxy.cfg"}
        if others != bothers:
            self._bad(fx.label, "maps or certificates differ from the benign value's")
        self._judge_emitted(fx, cfg, bcfg)

    # totals ----------------------------------------------------------------

    def totals(self):
        fam = defaultdict(Counter)
        for fx in self.fixtures:
            fam[family(fx.field)][self.outcome.get(fx.fid, "unjudged")] += 1
        all_ = Counter()
        for c in fam.values():
            all_ += c
        lines = [f"{len(self.fixtures)} fixtures over {len(self.fields) + len(self.cm_fields) + 1}"
                 f" fields x {len(C.PAYLOADS)} payloads (+ {len(C.secret_specials(self.cert, self.cert2))}"
                 f" whole Secret values): {all_['rejected']} rejected, {all_['emitted']} emitted "
                 f"and read back, {all_['normalized']} accepted with the benign value's output, "
                 f"{all_['unjudged']} unjudged; {self.haproxy_runs} renderings, each through "
                 f"haproxy -c; {len(self.violations)} violations"]
        for name in sorted(fam):
            c = fam[name]
            lines.append(f"  {name:26} {sum(c.values()):5} fixtures: {c['rejected']:5} rejected, "
                         f"{c['emitted']:5} emitted, {c['normalized']:4} normalized"
                         + (f", {c['unjudged']} unjudged" if c["unjudged"] else ""))
        return lines


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    c = Corpus(tmp_path_factory.mktemp("corpus"))
    c.run()
    conftest.TOTALS[:] = c.totals()
    if os.environ.get("CORPUS_DUMP"):  # every violation, for triage
        Path(os.environ["CORPUS_DUMP"]).write_text(
            "".join(f"{f}\t{w}\t{m}\n" for f, w, m in c.violations))
    return c


# --------------------------------------------------------------------------- tests

def test_corpus_covers_every_field(corpus):
    """At least 300 fixtures, and every key of the key table, every translated
    ingress-nginx annotation and every field family has its payloads."""
    assert len(corpus.fixtures) >= 300
    labels = {fx.field.label for fx in corpus.fixtures}
    missing = [d.name for d in corpus.docs
               if not any(lab.endswith("/" + d.name) or lab == f"ConfigMap data[{d.name}]"
                          for lab in labels)]
    assert not missing, f"keys without fixtures: {missing}"
    nginx = [n for n in corpus.nginx if f"annotation {C.NGINX}{n}" not in labels]
    assert not nginx, f"ingress-nginx annotations without fixtures: {nginx}"
    fams = {family(fx.field) for fx in corpus.fixtures}
    assert fams >= {"host", "path", "annotation", "ingress-nginx annotation", "annotation name",
                    "service annotation", "names", "secret", "configmap", "canary"}, fams
    # every canary annotation on a canary beside its main Ingress
    canary = [n for n in corpus.nginx if n.startswith("canary")
              and f"canary {C.NGINX}{n}" not in labels]
    assert not canary, f"canary annotations without canary fixtures: {canary}"
    # more than 20 keys: a broken `portico docs keys` must not shrink the corpus
    assert len(corpus.docs) >= 20


def test_benign_values_render_as_documented(corpus):
    """The reference renderings are sound: the benign batch passes haproxy -c
    and each benign value of an Ingress-side key renders something (else a
    rejected payload could not be told from an accepted one)."""
    hrc, err, out, hout, fixtures = corpus.results["benign"]
    assert out is not None and hrc == 0, hout
    idx = corpus.benign_index
    silent = [fx.field.label for fx in fixtures if not idx["maps"].get(fx.fid)
              and not any(fx.fid in d["msg"] for d in out.log)]
    assert not silent, f"benign fixtures that render nothing and say nothing: {silent}"


def test_every_fixture_is_judged(corpus):
    unjudged = [fx.label for fx in corpus.fixtures if fx.fid not in corpus.outcome]
    assert not unjudged, f"{len(unjudged)} fixtures not judged: {unjudged[:20]}"


@pytest.mark.parametrize("fam", ["host", "path", "annotation", "ingress-nginx annotation",
                                 "canary", "annotation name", "service annotation", "names",
                                 "secret", "configmap", "batch"])
def test_no_violation(corpus, fam):
    """Rejected or read back exactly, no new directive, haproxy -c passes."""
    mine = [(who, msg) for f, who, msg in corpus.violations if f == fam]
    assert not mine, f"{len(mine)} violations:\n" + "\n".join(
        f"{who}: {msg}" for who, msg in mine[:60])


def test_checker_catches_an_injection(corpus):
    """The read-back check itself: a rendering with one more directive, a
    comment, or a '%[' the value did not hold must be reported."""
    fx = next(f for f in corpus.fixtures
              if f.field.label == "annotation portico.dev/request-set-header"
              and f.payload.name == "second-word")
    b = corpus.benign[fx.field.label]
    brend = Rendering(corpus.results["benign"][2], corpus.benign_index, b.fid)
    good = [ln.text for ln in brend.lines]
    for bad in (good + ["    http-request deny"],
                [x.replace("'payments'", "'payments x' # y") for x in good],
                [x.replace("'payments'", "'payments %[env(HOME)]'") for x in good]):
        r = Rendering.__new__(Rendering)
        r.lines, r.certs = [Line(ln.kind, t) for ln, t in zip(brend.lines + brend.lines[-1:],
                                                              bad)], {}
        problems, _ = compare_emitted(r, brend, fx)
        assert problems, f"not caught: {bad}"
