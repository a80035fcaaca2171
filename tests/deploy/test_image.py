"""The images of scripts/image.sh and of the Dockerfile (built with BuildKit
by tests/deploy/dockerfile.sh), for real, each the same way: its OCI archive
is checked blob by blob, then its layers are unpacked and Portico runs from
them, as the image's user, on a read-only root with a tmpfs on /tmp (as
deploy/portico.yaml runs it: readOnlyRootFilesystem and an emptyDir), in file
mode on examples/; containerd imports it. Then the two images are compared.
The echo backends the examples name and every server run here listen on the
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

from conftest import IMAGES, REPO, image_archive

ECHO = REPO / "tests" / "echo" / "echo.py"
PORTS = {"http": 8080, "https": 8443, "stat": 1024, "healthz": 1042, "controller": 6060}
GZIP_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def sha256_file(path, opener=open):
    h = hashlib.sha256()
    with opener(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def remove(path):
    if path.is_symlink() or not path.is_dir():
        path.unlink(missing_ok=True)
    else:
        shutil.rmtree(path)


def unpack_layers(layers, root):
    """Applies the layers in order, as a container runtime does: an entry
    .wh.NAME deletes NAME of the layers below, .wh..wh..opq empties its
    directory of them."""
    for layer in layers:
        with tarfile.open(layer) as t:
            names = t.getnames()
        for name in names:
            parent, base = os.path.split(os.path.normpath(name))
            if base == ".wh..wh..opq":
                for p in (root / parent).iterdir():
                    remove(p)
            elif base.startswith(".wh."):
                remove(root / parent / base[len(".wh."):])
        subprocess.run(["tar", "-xzf", str(layer), "-C", str(root), "--exclude=.wh.*"],
                       check=True)


class Image:
    """An image archive, unpacked: its OCI layout, then (on first use) its
    root filesystem."""

    def __init__(self, kind, archive, tmp):
        self.kind, self.archive, self.tmp = kind, archive, tmp
        self.dir = tmp / "oci"
        self.dir.mkdir()
        with tarfile.open(archive) as t:
            t.extractall(self.dir)
        self.index = json.loads((self.dir / "index.json").read_text())
        [self.desc] = self.index["manifests"]
        self.manifest = json.loads(self.blob(self.desc["digest"]).read_text())
        self.config = json.loads(self.blob(self.manifest["config"]["digest"]).read_text())
        self._root = None

    def blob(self, digest):
        return self.dir / "blobs" / "sha256" / digest.split(":", 1)[1]

    @property
    def root(self):
        if self._root is None:
            root = self.tmp / "rootfs"
            root.mkdir()
            unpack_layers([self.blob(layer["digest"]) for layer in self.manifest["layers"]], root)
            self._root = root
        return self._root


@pytest.fixture(scope="session")
def images(tmp_path_factory):
    """kind -> its Image, unpacked once for the session."""
    cache = {}

    def get(kind):
        if kind not in cache:
            cache[kind] = Image(kind, image_archive(kind), tmp_path_factory.mktemp(kind))
        return cache[kind]

    return get


@pytest.fixture(scope="module", params=list(IMAGES))
def image(request, images):
    return images(request.param)


def test_archive_is_an_oci_layout_with_correct_digests(image):
    d, desc, manifest, config = image.dir, image.desc, image.manifest, image.config
    assert json.loads((d / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    # the name ctr import gives the image, and the one kubelet asks for
    assert desc["annotations"]["io.containerd.image.name"] == "docker.io/library/portico:latest"
    assert desc["annotations"]["org.opencontainers.image.ref.name"] == "latest"
    for ref in [desc, manifest["config"], *manifest["layers"]]:
        p = image.blob(ref["digest"])
        assert p.stat().st_size == ref["size"], ref
        assert sha256_file(p) == ref["digest"], ref
    assert all(layer["mediaType"] == GZIP_LAYER for layer in manifest["layers"])
    assert config["rootfs"] == {"type": "layers",
                                "diff_ids": [sha256_file(image.blob(layer["digest"]), gzip.open)
                                             for layer in manifest["layers"]]}
    if image.kind == "image.sh":
        # one layer, and a manifest.json for docker load
        [layer] = manifest["layers"]
        [dm] = json.loads((d / "manifest.json").read_text())
        assert dm["RepoTags"] == ["portico:latest"]
        assert dm["Config"] == "blobs/sha256/" + manifest["config"]["digest"][7:]
        assert dm["Layers"] == ["blobs/sha256/" + layer["digest"][7:]]


def test_image_config_matches_the_dockerfile(image):
    c = image.config["config"]
    dockerfile = (REPO / "Dockerfile").read_text()
    assert image.config["architecture"] == "amd64" and image.config["os"] == "linux"
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


def test_layers_have_user_binary_and_no_device_nodes(image):
    rootfs = image.root
    assert "portico:x:1000:1000:" in (rootfs / "etc" / "passwd").read_text()
    assert "portico:x:1000:" in (rootfs / "etc" / "group").read_text()
    assert os.access(rootfs / "usr" / "local" / "bin" / "portico", os.X_OK)
    assert os.access(rootfs / "usr" / "sbin" / "haproxy", os.X_OK)
    assert list((rootfs / "dev").iterdir()) == []
    assert (rootfs / "tmp").stat().st_mode & 0o7777 == 0o1777
    # a runtime image: nothing of the Dockerfile's build stage
    for p in ["usr/bin/gcc", "usr/bin/make", "usr/include/curl", "usr/include/jansson.h", "src"]:
        assert not (rootfs / p).exists(), p
    assert list((rootfs / "tmp").iterdir()) == []


def chroot(rootfs, *argv):
    return subprocess.run([shutil.which("chroot"), "--userspec=1000:1000", str(rootfs), *argv],
                          capture_output=True, text=True, timeout=30,
                          env={"PATH": "/usr/local/bin:/usr/bin:/bin"})


def test_binaries_find_their_libraries(image):
    rootfs = image.root
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


def test_portico_serves_examples_from_the_image(image, echo, tmp_path):
    """As a pod would run it: the image's entrypoint and user, a read-only root,
    a tmpfs on /tmp for --config-dir and --runtime-dir (their defaults)."""
    rootfs = image.root
    config = image.config["config"]
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


def test_containerd_imports_the_archive(image, tmp_path):
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
        r = subprocess.run([*ctr, "images", "import", str(image.archive)],
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


def dpkg_version(root, package):
    status = (root / "var" / "lib" / "dpkg" / "status").read_text()
    m = re.search(rf"^Package: {re.escape(package)}\n(?:[^\n]+\n)*?Version: (\S+)", status, re.M)
    return m and m.group(1)


def test_dockerfile_and_image_sh_make_the_same_image(images):
    """What a pod sees of the image is the same whichever way it was built."""
    script, dockerfile = images("image.sh"), images("Dockerfile")
    for key in ["User", "Entrypoint", "ExposedPorts", "StopSignal", "Env", "WorkingDir"]:
        assert script.config["config"].get(key) == dockerfile.config["config"].get(key), key
    # the same libraries linked: the static libcurl in both (scripts/curl.sh
    # falls back to the shared one when it cannot build it)
    linked = []
    for image in [script, dockerfile]:
        r = chroot(image.root, "/usr/bin/ldd", "/usr/local/bin/portico")
        assert r.returncode == 0, r.stderr
        linked.append(sorted(line.split()[0] for line in r.stdout.splitlines()
                             if "linux-vdso" not in line))
    assert linked[0] == linked[1]
    assert not any("libcurl" in lib for lib in linked[1]), linked[1]
    # Debian's haproxy of bookworm in both. Each root filesystem is cached
    # apart (scripts/image.sh's, BuildKit's), so a Debian update can reach one
    # before the other: the upstream version must agree, the Debian revision
    # may not.
    versions = []
    for image in [script, dockerfile]:
        r = chroot(image.root, "/usr/sbin/haproxy", "-v")
        m = re.search(r"HAProxy version (\S+)", r.stdout)
        assert m, r.stdout + r.stderr
        versions.append((m.group(1).split("-")[0], dpkg_version(image.root, "haproxy")))
    assert versions[0][0] == versions[1][0], versions
    assert all(v[1] and v[1].startswith(v[0] + "-") for v in versions), versions
