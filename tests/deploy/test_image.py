"""The image of scripts/image.sh, for real: its OCI archive is checked blob by
blob, then its layer is unpacked and Portico runs from it, as the image's
user, on a read-only root with a tmpfs on /tmp (as deploy/portico.yaml runs
it: readOnlyRootFilesystem and an emptyDir), in file mode on examples/. The
echo backends the examples name and every server run here listen on the
loopback of the private network namespace tests/deploy/run.sh made."""

import gzip
import hashlib
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from conftest import REPO

ECHO = REPO / "tests" / "echo" / "echo.py"
PORTS = {"http": 8080, "https": 8443, "stat": 1024, "healthz": 1042, "controller": 6060}


def sha256_file(path, opener=open):
    h = hashlib.sha256()
    with opener(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


@pytest.fixture(scope="module")
def oci(image_archive, tmp_path_factory):
    d = tmp_path_factory.mktemp("oci")
    with tarfile.open(image_archive) as t:
        t.extractall(d)
    index = json.loads((d / "index.json").read_text())
    [desc] = index["manifests"]
    blob = lambda digest: d / "blobs" / "sha256" / digest.split(":", 1)[1]  # noqa: E731
    manifest = json.loads(blob(desc["digest"]).read_text())
    config = json.loads(blob(manifest["config"]["digest"]).read_text())
    return {"dir": d, "index": index, "desc": desc, "manifest": manifest, "config": config,
            "blob": blob}


@pytest.fixture(scope="module")
def rootfs(oci, tmp_path_factory):
    root = tmp_path_factory.mktemp("rootfs")
    [layer] = oci["manifest"]["layers"]
    subprocess.run(["tar", "-xzf", str(oci["blob"](layer["digest"])), "-C", str(root)],
                   check=True)
    return root


def test_archive_is_an_oci_layout_with_correct_digests(oci):
    d, desc, manifest, config = oci["dir"], oci["desc"], oci["manifest"], oci["config"]
    assert json.loads((d / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    # the name ctr import gives the image, and the one kubelet asks for
    assert desc["annotations"]["io.containerd.image.name"] == "docker.io/library/portico:latest"
    assert desc["annotations"]["org.opencontainers.image.ref.name"] == "latest"
    for ref in [desc, manifest["config"], *manifest["layers"]]:
        p = oci["blob"](ref["digest"])
        assert p.stat().st_size == ref["size"], ref
        assert sha256_file(p) == ref["digest"], ref
    [layer] = manifest["layers"]
    assert layer["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip"
    assert config["rootfs"] == {"type": "layers",
                                "diff_ids": [sha256_file(oci["blob"](layer["digest"]),
                                                         gzip.open)]}
    # docker load reads manifest.json
    [dm] = json.loads((d / "manifest.json").read_text())
    assert dm["RepoTags"] == ["portico:latest"]
    assert dm["Config"] == "blobs/sha256/" + manifest["config"]["digest"][7:]
    assert dm["Layers"] == ["blobs/sha256/" + layer["digest"][7:]]


def test_image_config_matches_the_dockerfile(oci):
    c = oci["config"]["config"]
    dockerfile = (REPO / "Dockerfile").read_text()
    assert oci["config"]["architecture"] == "amd64" and oci["config"]["os"] == "linux"
    assert f"USER {c['User']}\n" in dockerfile and c["User"] == "1000:1000"
    assert f"ENTRYPOINT {json.dumps(c['Entrypoint'])}\n" in dockerfile
    exposed = re.search(r"^EXPOSE (.*)$", dockerfile, re.M).group(1).split()
    assert sorted(c["ExposedPorts"]) == sorted(f"{p}/tcp" for p in exposed)
    assert sorted(int(p) for p in exposed) == sorted(PORTS.values())
    # the defaults of the binary are the ports the image exposes
    help_text = subprocess.run([os.environ.get("PORTICO_BIN", str(REPO / "portico")), "--help"],
                               capture_output=True, text=True).stdout
    for flag, port in [("http-bind-port", 8080), ("https-bind-port", 8443),
                       ("stats-bind-port", 1024), ("healthz-bind-port", 1042),
                       ("controller-port", 6060)]:
        assert re.search(rf"--{flag}=PORT .*\(default {port}\)", help_text), flag


def test_layer_has_user_binary_and_no_device_nodes(rootfs):
    assert "portico:x:1000:1000:" in (rootfs / "etc" / "passwd").read_text()
    assert "portico:x:1000:" in (rootfs / "etc" / "group").read_text()
    assert os.access(rootfs / "usr" / "local" / "bin" / "portico", os.X_OK)
    assert os.access(rootfs / "usr" / "sbin" / "haproxy", os.X_OK)
    assert list((rootfs / "dev").iterdir()) == []
    assert (rootfs / "tmp").stat().st_mode & 0o7777 == 0o1777


def chroot(rootfs, *argv):
    return subprocess.run([shutil.which("chroot"), "--userspec=1000:1000", str(rootfs), *argv],
                          capture_output=True, text=True, timeout=30,
                          env={"PATH": "/usr/local/bin:/usr/bin:/bin"})


def test_binaries_find_their_libraries(rootfs):
    r = chroot(rootfs, "/usr/local/bin/portico", "version")
    assert r.returncode == 0 and r.stdout.startswith("portico "), r.stderr
    r = chroot(rootfs, "/usr/sbin/haproxy", "-v")
    assert r.returncode == 0 and re.search(r"HAProxy version 2\.6\.", r.stdout), r.stderr


def get(port, path, host=None, timeout=5):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path, headers={"Host": host} if host else {})
        r = c.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        c.close()


def uid_of(pid):
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"^Uid:\s+(\d+)", status, re.M).group(1))


def children(pid):
    out = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                stat = (p / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(p.name))
    return out


@pytest.fixture
def echo(tmp_path):
    """The backends examples/ names: web on 127.0.0.2-3:9001, api on
    127.0.0.4:9002, static on 127.0.0.5:9003."""
    log = open(tmp_path / "echo.stderr", "wb")
    p = subprocess.Popen([sys.executable, str(ECHO),
                          "--backend", "web=127.0.0.2:9001", "--backend", "web=127.0.0.3:9001",
                          "--backend", "api=127.0.0.4:9002", "--backend", "static=127.0.0.5:9003"],
                         stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        for line in p.stdout:
            if line.strip() == "ready":
                break
        else:
            pytest.fail(f"echo.py exited: {(tmp_path / 'echo.stderr').read_text()}")
        yield p
    finally:
        p.terminate()
        p.wait(10)
        log.close()


def test_portico_serves_examples_from_the_image(rootfs, oci, echo, tmp_path):
    """As a pod would run it: the image's entrypoint and user, a read-only root,
    a tmpfs on /tmp for --config-dir and --runtime-dir (their defaults)."""
    config = oci["config"]["config"]
    manifests = rootfs / "manifests"
    manifests.mkdir(exist_ok=True)
    for f in sorted((REPO / "examples").glob("*.yaml")):
        shutil.copy(f, manifests / f.name)
    uid, gid = config["User"].split(":")
    argv = [*config["Entrypoint"], "--manifests=/manifests",
            "--ipv4-bind-address=127.0.0.1", "--disable-ipv6"]
    # a mount namespace of its own: the mounts vanish with the process; each
    # exec keeps the PID, so the PID is Portico's
    script = """
        set -e
        r=$1; shift
        mount --bind "$r" "$r"
        mount -o remount,bind,ro "$r"
        mount -t tmpfs -o mode=1777 tmpfs "$r/tmp"
        mount --rbind /dev "$r/dev"
        mount -t proc proc "$r/proc"
        exec chroot --userspec="$USERSPEC" "$r" "$@"
    """
    env = {k.split("=", 1)[0]: k.split("=", 1)[1] for k in config["Env"]}
    env["USERSPEC"] = f"{uid}:{gid}"
    log = open(tmp_path / "portico.log", "wb")
    proc = subprocess.Popen(["unshare", "-m", "sh", "-c", script, "sh", str(rootfs), *argv],
                            stdout=log, stderr=subprocess.STDOUT, env=env)

    def log_tail():
        return (tmp_path / "portico.log").read_text()[-3000:]

    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, f"portico exited {proc.returncode}:\n{log_tail()}"
            try:
                if get(PORTS["controller"], "/readyz")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, f"/readyz never 200:\n{log_tail()}"
            time.sleep(0.1)

        # Portico and HAProxy run as the image's user
        assert uid_of(proc.pid) == int(uid)
        haproxy = children(proc.pid)
        assert haproxy, "no HAProxy child"
        assert all(uid_of(p) == int(uid) for p in haproxy)
        assert Path(f"/proc/{haproxy[0]}/exe").resolve().name == "haproxy"

        # the default backend: HAProxy answers 404 itself
        status, _, _ = get(PORTS["http"], "/", host="nothing.example.test")
        assert status == 404
        # routes of examples/20-ingresses.yaml
        status, headers, body = get(PORTS["http"], "/", host="web.example.test")
        assert status == 200 and json.loads(body)["service"] == "web", body
        status, headers, body = get(PORTS["http"], "/v1/users", host="api.example.test")
        assert status == 200 and json.loads(body)["service"] == "api"
        status, headers, body = get(PORTS["http"], "/static/logo.png", host="10.0.0.1")
        assert status == 200 and json.loads(body)["service"] == "static"
        # the data plane's health, the stats port's Prometheus metrics
        assert get(PORTS["healthz"], "/healthz")[0] == 200
        status, _, body = get(PORTS["stat"], "/metrics")
        assert status == 200 and b"haproxy_" in body
        status, _, body = get(PORTS["controller"], "/metrics")
        assert status == 200

        # written only under /tmp: the root stayed read-only for it
        assert "read-only" not in log_tail().lower(), log_tail()

        # SIGTERM: stops HAProxy and exits 0
        proc.terminate()
        assert proc.wait(30) == 0, log_tail()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        log.close()


def test_containerd_imports_the_archive(image_archive, tmp_path):
    """What a node does with it: `ctr -n k8s.io images import` into a
    containerd of its own (Debian's), under the name a pod's
    `image: portico:latest` resolves to, unpacked into a snapshot."""
    d = tmp_path / "containerd"
    d.mkdir()
    sock = d / "containerd.sock"
    (d / "config.toml").write_text(
        f'version = 2\nroot = "{d}/root"\nstate = "{d}/state"\n'
        f'[grpc]\n  address = "{sock}"\n[ttrpc]\n  address = "{sock}.ttrpc"\n')
    log = open(d / "containerd.log", "wb")
    daemon = subprocess.Popen(["containerd", "--config", str(d / "config.toml")],
                              stdout=log, stderr=subprocess.STDOUT)
    ctr = ["ctr", "--address", str(sock), "-n", "k8s.io"]
    try:
        deadline = time.monotonic() + 30
        while subprocess.run([*ctr, "version"], capture_output=True).returncode != 0:
            assert daemon.poll() is None, (d / "containerd.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "containerd did not answer"
            time.sleep(0.2)
        r = subprocess.run([*ctr, "images", "import", str(image_archive)],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        r = subprocess.run([*ctr, "images", "check", "name==docker.io/library/portico:latest"],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        [line] = [ln for ln in r.stdout.splitlines()
                  if ln.startswith("docker.io/library/portico:latest ")]
        assert "complete" in line and line.split()[-1] == "true", r.stdout  # unpacked
    finally:
        daemon.terminate()
        daemon.wait(20)
        log.close()
