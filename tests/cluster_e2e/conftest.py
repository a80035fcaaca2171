"""Fixtures for the cluster-mode tests: one real kube-apiserver + etcd per
session (tests/cluster/cluster.sh), echo "pods" on 198.18.0.x, and Portico
with the portico ServiceAccount's kubeconfig, so RBAC applies to it. A
skipped test fails the run unless PORTICO_ALLOW_SKIP=1 (tests/skip_policy.py)."""

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "e2e"))
sys.path.insert(0, str(REPO / "tests" / "cluster"))
sys.path.insert(0, str(REPO / "tests"))

import skip_policy  # noqa: E402
from portico_bin import portico_binary  # noqa: E402
from cluster_source import ApiCluster  # noqa: E402
from helpers import Echo, Portico  # noqa: E402


def pytest_configure(config):
    skip_policy.register(config)


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    c = ApiCluster(tmp_path_factory.mktemp("cluster"))
    yield c
    c.stop()


@pytest.fixture(scope="session")
def pods(tmp_path_factory):
    e = Echo({"one": ["198.18.0.2", "198.18.0.3"], "two": ["198.18.0.4"]},
             tmp_path_factory.mktemp("pods"))
    yield e
    e.stop()


@pytest.fixture(scope="session")
def portico_bin():
    return portico_binary()


@pytest.fixture
def start_portico(tmp_path_factory, portico_bin, cluster):
    started = []

    def start(ready=True, extra=(), env=None):
        px = Portico(portico_bin, None, tmp_path_factory.mktemp("px"),
                     extra_args=[f"--kubeconfig={cluster.kubeconfig}", *extra], env=env)
        started.append(px)
        if ready:
            px.wait_ready(timeout=30)
        return px

    yield start
    for px in started:
        if px.proc.poll() is None:
            px.proc.terminate()
            assert px.proc.wait(20) == 0, px.log_tail()


@pytest.fixture(scope="session")
def certs(tmp_path_factory):
    from helpers import make_cert

    directory = tmp_path_factory.mktemp("certs")
    made = {}

    class Certs:
        def get(self, name):
            if name not in made:
                made[name] = make_cert(directory, name, name, [name])
            return made[name]

    return Certs()
