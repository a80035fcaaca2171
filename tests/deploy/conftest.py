"""Fixtures for the install tests (tests/deploy/run.sh runs them inside a
private network namespace): the image archives, helm, one real kube-apiserver
+ etcd per session. A skipped test fails the run unless PORTICO_ALLOW_SKIP=1
(tests/skip_policy.py)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "e2e"))
sys.path.insert(0, str(REPO / "tests" / "cluster"))
sys.path.insert(0, str(REPO / "tests"))

import skip_policy  # noqa: E402

CHART = REPO / "charts" / "portico"


def pytest_configure(config):
    skip_policy.register(config)


def need_env(name):
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"${name} is not set: run tests/deploy/run.sh", pytrace=False)
    return value


# The image archives tests/deploy/run.sh builds, by what builds them, and the
# variable that names each.
IMAGES = {"image.sh": "PORTICO_IMAGE", "Dockerfile": "PORTICO_DOCKERFILE_IMAGE"}


def image_archive(kind):
    p = Path(need_env(IMAGES[kind]))
    if not p.is_file():
        pytest.fail(f"image archive {p} ({kind}) not found", pytrace=False)
    return p


@pytest.fixture(scope="session")
def helm():
    h = need_env("HELM")

    def run(*args):
        r = subprocess.run([h, *args], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, f"helm {' '.join(args)}: {r.stderr}{r.stdout}"
        return r.stdout

    return run


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    from cluster_source import ApiCluster

    c = ApiCluster(tmp_path_factory.mktemp("cluster"))
    yield c
    c.stop()


def load_docs(text):
    return [d for d in yaml.safe_load_all(text) if d]
