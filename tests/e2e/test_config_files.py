"""haproxy.cfg holds the first 256 backends; the next ones are in
backends/NNNNN.cfg, 256 in each, which HAProxy reads after it
(doc/operations.md "Generations"). An endpoint change rewrites the file of its
backend alone, in the running generation and without a reload; HAProxy runs
the servers of all the files, and started again from them serves every
backend."""

import os
import signal

import pytest

from helpers import endpoint, endpoint_slice, ingress, path, pid_alive, rule, service, wait_for

pytestmark = pytest.mark.file_only("300 Services: the layout of the files does not depend on "
                                   "the source")

N = 300          # Services: with the spare backends, 256 in haproxy.cfg, the rest in
                 # backends/00001.cfg
PER_FILE = 256
ADDRS = ["127.0.0.2", "127.0.0.3"]


def objects(port, name, addrs):
    return [service(name), endpoint_slice(name, [endpoint(a) for a in addrs], [("http", port)]),
            ingress(name, [rule(f"{name}.files.test", path("/", name))])]


def config_files(px):
    gen = px.config_dir / "current"
    return [gen / "haproxy.cfg"] + sorted((gen / "backends").glob("*.cfg"))


def sections(f):
    """{backend: [server lines]} of one file."""
    out, backend = {}, None
    for ln in f.read_text().splitlines():
        w = ln.split()
        if w[:1] == ["backend"]:
            backend = w[1]
            out[backend] = []
        elif w[:1] == ["server"] and backend:
            out[backend].append(w[1])
    return out


def written_servers(px):
    return {(b, s) for f in config_files(px) for b, servers in sections(f).items() for s in servers}


def running_servers(px):
    out = set()
    for ln in px.admin("show servers state").splitlines():
        f = ln.split()
        if len(f) > 6 and f[0].isdigit():
            out.add((f[1], f[3]))
    return out


def test_backends_past_the_first_256_are_in_files_of_their_own(launcher):
    echo = launcher.echo({"web": ADDRS})
    port = echo.port("web")
    m = launcher.manifests()
    m.write("all.yaml", [o for i in range(N - 1) for o in objects(port, f"s{i:03d}", ADDRS[:1])])
    svc = f"s{N - 1:03d}"
    m.write("last.yaml", objects(port, svc, ADDRS[:1]))
    px = launcher.portico(m)
    reloads = px.settle()
    files = config_files(px)
    assert [f.name for f in files] == ["haproxy.cfg", "00001.cfg"]
    first, second = sections(files[0]), sections(files[1])
    # the backends of Services and the spare ones (--spare-backends), not
    # Portico's own (_default_404, _redirect_301, ...)
    model = [b for b in first if b.startswith(("default_", "_spare_"))]
    assert len(model) == PER_FILE
    spares = sum(b.startswith("_spare_") for b in model)
    assert len(second) == N + spares - PER_FILE
    assert all(b.startswith("default_s") for b in second)
    # paths relative to the generation's directory, as in haproxy.cfg
    assert files[1].read_text().startswith("global\n    default-path parent\n")
    assert running_servers(px) >= written_servers(px)
    last = f"default_{svc}_http"
    assert last in second
    for host in ("s000.files.test", f"{svc}.files.test"):
        assert px.get(host=host).status == 200, host

    # an endpoint of a backend of backends/00001.cfg: that file alone, in place
    gen = os.readlink(px.config_dir / "current")
    inodes = [f.stat().st_ino for f in files]
    master = px.master_reloads()
    m.write("last.yaml", objects(port, svc, ADDRS))
    wait_for(lambda: len(sections(config_files(px)[1])[last]) == 2,
             what=f"the new server of {last} written")
    assert os.readlink(px.config_dir / "current") == gen
    now = [f.stat().st_ino for f in config_files(px)]
    assert now[0] == inodes[0], "haproxy.cfg written again"
    assert now[1] != inodes[1]
    assert px.master_reloads() == master
    assert px.reload_count() == reloads
    assert {s for b, s in running_servers(px) if b == last} == set(sections(config_files(px)[1])[last])

    # HAProxy started again from the files: every backend, with its servers
    old = px.haproxy_pid()
    os.kill(old, signal.SIGKILL)
    new = wait_for(lambda: (p := px.haproxy_pid()) and p != old and pid_alive(p) and p, timeout=10,
                   what="a new haproxy master pid")
    px.haproxy_pids_seen.add(new)
    wait_for(lambda: px.get(host=f"{svc}.files.test").status == 200, what="served after the restart")
    assert running_servers(px) >= written_servers(px)
    assert {s for b, s in running_servers(px) if b == last} == set(sections(config_files(px)[1])[last])


def test_files_half_replaced_are_written_whole_again(launcher):
    """Two backends in two files changed in one burst, and the second file
    cannot be replaced (PORTICO_FAULT_AT=cfg-file:2: the first is
    backends/00001.cfg, replaced; then haproxy.cfg): nothing is spliced from
    files the running generation no longer describes. The next writing
    renders them whole, and the files hold the servers HAProxy runs."""
    echo = launcher.echo({"web": ADDRS})
    port = echo.port("web")
    m = launcher.manifests()
    m.write("all.yaml", [o for i in range(1, N - 1) for o in objects(port, f"s{i:03d}", ADDRS[:1])])
    first, last = "s000", f"s{N - 1:03d}"
    m.write("first.yaml", objects(port, first, ADDRS[:1]))
    m.write("last.yaml", objects(port, last, ADDRS[:1]))
    px = launcher.portico(m, env={"PORTICO_FAULT_AT": "cfg-file:2"})
    reloads = px.settle()
    gen = os.readlink(px.config_dir / "current")
    m.write("first.yaml", objects(port, first, ADDRS))
    m.write("last.yaml", objects(port, last, ADDRS))

    def both_written():
        files = config_files(px)
        return (len(sections(files[0])[f"default_{first}_http"]) == 2 and
                len(sections(files[1])[f"default_{last}_http"]) == 2)

    wait_for(both_written, timeout=10, what="both backends' new servers written")
    assert "pass 2 through cfg-file fails now" in px.log_text()
    assert os.readlink(px.config_dir / "current") == gen
    assert px.reload_count() == reloads
    assert running_servers(px) == written_servers(px)
    # and spliced again afterwards: one file, from the files written whole
    inode = config_files(px)[0].stat().st_ino
    m.write("last.yaml", objects(port, last, ADDRS[1:]))
    wait_for(lambda: sections(config_files(px)[1])[f"default_{last}_http"] ==
             [s for b, s in running_servers(px) if b == f"default_{last}_http"] and
             len(sections(config_files(px)[1])[f"default_{last}_http"]) == 1,
             what="the last backend's server written")
    assert config_files(px)[0].stat().st_ino == inode
    assert running_servers(px) == written_servers(px)
    assert px.stop() == 0, "exit status (the sanitizer build reports leaks in it)"
