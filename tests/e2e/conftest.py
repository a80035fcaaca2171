"""Fixtures for Portico's end-to-end tests.

Run: make -C <repo> && python3 -m pytest -q tests/e2e
The binary is taken from $PORTICO_BIN, else <repo>/portico. A missing binary
is an error, never a skip; a skipped or xfail test fails the run unless
PORTICO_ALLOW_SKIP=1 (tests/skip_policy.py).

With PORTICO_E2E_SOURCE=cluster each stack gets a real API server instead of a
manifests directory (cluster_source.py); tests marked `file_only` (they test
the directory itself) are then deselected, and the count is printed.
"""

import shutil
import sys
from pathlib import Path

import pytest

from helpers import REPO, SOURCE, Echo, Manifests, Portico, ingress_class, make_cert

sys.path.insert(0, str(REPO / "tests"))
import skip_policy  # noqa: E402
from portico_bin import portico_binary  # noqa: E402

_RUNNING = []  # porticos alive right now, for failure reports


def pytest_configure(config):
    skip_policy.register(config)
    config.addinivalue_line("markers", "file_only(reason): tests the manifests directory "
                            "itself; not run with PORTICO_E2E_SOURCE=cluster")


def pytest_collection_modifyitems(config, items):
    if SOURCE != "cluster":
        return
    keep, drop = [], []
    for item in items:
        (drop if item.get_closest_marker("file_only") else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(scope="session")
def portico_bin():
    return portico_binary()


@pytest.fixture(scope="session", autouse=True)
def _tools():
    for tool in ("openssl", "haproxy"):
        if shutil.which(tool) is None and not Path("/usr/sbin/" + tool).exists():
            pytest.fail(f"{tool} is required by the e2e tests", pytrace=False)


# --------------------------------------------------------------------------- certificates

class CertSet:
    """Test certificates made once per session with the openssl CLI."""

    def __init__(self, directory):
        self.dir = Path(directory)
        self._cache = {}

    def get(self, name, cn=None, sans=None):
        if name not in self._cache:
            cn = cn or name
            sans = sans if sans is not None else [cn]
            self._cache[name] = make_cert(self.dir, name.replace("*", "star"), cn, sans)
        return self._cache[name]


@pytest.fixture(scope="session")
def certs(tmp_path_factory):
    return CertSet(tmp_path_factory.mktemp("certs"))


# --------------------------------------------------------------------------- stacks

class Launcher:
    """Starts echo backends and porticos; stops them (checking clean exit) on close()."""

    def __init__(self, tmp_factory, binary, name):
        self.tmp_factory = tmp_factory
        self.binary = binary
        self.name = name
        self.porticos = []
        self.echos = []
        self.clusters = []

    def workdir(self):
        return self.tmp_factory.mktemp(self.name)

    def echo(self, services):
        e = Echo(services, self.workdir())
        self.echos.append(e)
        return e

    def manifests(self, with_class=True):
        """A fresh manifests dir (or API server); by default with IngressClass
        "portico" (ours, not default)."""
        if SOURCE == "cluster":
            from cluster_source import ApiCluster, ApiManifests

            cluster = ApiCluster(self.workdir())
            self.clusters.append(cluster)
            m = ApiManifests(cluster)
        else:
            m = Manifests(self.workdir() / "manifests")
        if with_class:
            m.write("00-ingressclass.yaml", ingress_class("portico"))
        return m

    def portico(self, manifests, args=(), env=None, wait=True):
        if isinstance(manifests, Manifests):
            md = manifests.dir
        elif hasattr(manifests, "cluster"):
            manifests.start()
            md, args = None, [f"--kubeconfig={manifests.cluster.kubeconfig}", *args]
        else:
            md = Path(manifests)
        p = Portico(self.binary, md, self.workdir(), extra_args=args, env=env)
        self.porticos.append(p)
        _RUNNING.append(p)
        if wait:
            p.wait_ready()
        return p

    def stop_portico(self, p, check=True, settle=True):
        try:
            return p.stop(check=check, settle=settle)
        finally:
            if p in _RUNNING:
                _RUNNING.remove(p)

    def close(self):
        errors = []
        for p in self.porticos:
            try:
                self.stop_portico(p)
            except AssertionError as e:
                errors.append(str(e))
        for e in self.echos:
            e.stop()
        for c in self.clusters:
            c.stop()
        if errors:
            pytest.fail("teardown: " + "\n".join(errors), pytrace=False)


@pytest.fixture(scope="module")
def module_launcher(tmp_path_factory, portico_bin, request):
    lz = Launcher(tmp_path_factory, portico_bin, request.module.__name__.rsplit(".", 1)[-1])
    yield lz
    lz.close()


@pytest.fixture
def launcher(tmp_path_factory, portico_bin, request):
    lz = Launcher(tmp_path_factory, portico_bin, request.node.name[:40])
    yield lz
    lz.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    rep = yield
    if rep.failed and _RUNNING:
        for i, p in enumerate(_RUNNING):
            try:
                rep.sections.append((f"portico #{i} log tail ({p.log_path})", p.log_tail(60)))
            except OSError:
                pass
    return rep
