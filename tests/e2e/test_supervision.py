"""HAProxy under Portico's supervision: it never outlives Portico, a master left
by an earlier run is stopped, a generation HAProxy refuses never becomes the one
a restart loads, and each reload is logged once with its reason."""

import os
import re
import signal
import stat
import subprocess

import pytest

from helpers import ingress, path, pid_alive, request, rule, wait_for

pytestmark = pytest.mark.file_only("HAProxy supervision does not depend on the source")


def small_stack(launcher, names=("one", "two", "three")):
    echo = launcher.echo({s: ["127.0.0.1"] for s in names})
    m = launcher.manifests()
    m.write("svc-one.yaml", echo.objects("one"))
    m.write("ing-one.yaml", ingress("one", [rule("one.sup.test", path("/", "one"))]))
    return echo, m


def add_route(m, echo, name):
    m.write(f"{name}.yaml", echo.objects(name) + [ingress(name, [rule(f"{name}.sup.test", path("/", name))])])


def haproxy_processes(master):
    """The master and its children (workers)."""
    pids = {master}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except (FileNotFoundError, IndexError):
                continue
            if int(fields[1]) == master:
                pids.add(int(d))
    return pids


def test_haproxy_dies_with_portico(launcher):
    """Portico killed with SIGKILL (no chance to stop HAProxy): HAProxy goes too,
    and its ports are free for the next Portico."""
    _, m = small_stack(launcher)
    px = launcher.portico(m)
    master = px.haproxy_pid()
    procs = haproxy_processes(master)
    assert len(procs) >= 2, f"no HAProxy worker under master {master}"
    os.kill(px.proc.pid, signal.SIGKILL)
    px.proc.wait(10)
    # a hang guard only: the kernel signals HAProxy at once
    wait_for(lambda: not any(pid_alive(p) for p in procs), timeout=30,
             what=f"HAProxy processes {sorted(procs)} gone after Portico was killed")
    launcher.stop_portico(px, check=False)
    same = [f"--config-dir={px.config_dir}", f"--runtime-dir={px.runtime_dir}",
            f"--http-bind-port={px.http}", f"--https-bind-port={px.https}",
            f"--stats-bind-port={px.stats}", f"--healthz-bind-port={px.healthz}"]
    px2 = launcher.portico(m, args=same)
    assert request(px.http, "/", host="one.sup.test").service == "one"
    assert "haproxy exited at start" not in px2.log_text()


def test_leftover_master_is_stopped(launcher):
    """An HAProxy master that an earlier run left on the runtime directory (an
    older Portico, or one started by hand) holds the ports: the next Portico
    stops it, then serves."""
    _, m = small_stack(launcher)
    px = launcher.portico(m)
    cfg = px.config_dir / "current" / "haproxy.cfg"
    launcher.stop_portico(px)
    sock = px.runtime_dir / "master.sock"
    pidfile = px.runtime_dir / "haproxy.pid"
    with open(px.workdir / "leftover.log", "wb") as log:
        leftover = subprocess.Popen(["haproxy", "-W", "-db", "-S", f"{sock},mode,600", "-p", str(pidfile),
                                     "-f", str(cfg)], stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)
    try:
        wait_for(lambda: request(px.http, "/", host="one.sup.test").service == "one",
                 what="the leftover HAProxy serving")
        same = [f"--config-dir={px.config_dir}", f"--runtime-dir={px.runtime_dir}",
                f"--http-bind-port={px.http}", f"--https-bind-port={px.https}",
                f"--stats-bind-port={px.stats}", f"--healthz-bind-port={px.healthz}"]
        px2 = launcher.portico(m, args=same)
        assert leftover.wait(30) is not None
        assert f"stopping haproxy (pid {leftover.pid}) left running by an earlier run" in px2.log_text()
        assert px2.haproxy_pid() != leftover.pid
        assert request(px.http, "/", host="one.sup.test").service == "one"
    finally:
        if leftover.poll() is None:
            leftover.kill()
            leftover.wait(5)


def test_haproxy_of_another_socket_is_left_alone(launcher, tmp_path):
    """The pid file alone is not enough: a process that is not HAProxy on our
    master socket (a reused pid) is never signalled."""
    _, m = small_stack(launcher)
    sleeper = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        run = tmp_path / "run"
        run.mkdir()
        (run / "haproxy.pid").write_text(f"{sleeper.pid}\n")
        px = launcher.portico(m, args=[f"--runtime-dir={run}"])
        assert sleeper.poll() is None
        assert "left running by an earlier run" not in px.log_text()
    finally:
        sleeper.kill()
        sleeper.wait(5)


@pytest.fixture
def lenient_haproxy(tmp_path):
    """An haproxy whose -c accepts everything: only the master's own parse, at
    reload, can refuse a configuration."""
    real = subprocess.run(["sh", "-c", "command -v haproxy"], capture_output=True, text=True,
                          check=True).stdout.strip()
    p = tmp_path / "haproxy"
    p.write_text(f'#!/bin/sh\n[ "$1" = -c ] && exit 0\nexec {real} "$@"\n')
    p.chmod(p.stat().st_mode | stat.S_IXUSR)
    return p


def metrics(px):
    return request(px.controller, "/metrics", host="127.0.0.1").body.decode()


def test_refused_reload_never_becomes_current(launcher, lenient_haproxy):
    """HAProxy refuses a reload that haproxy -c let through: the generation it
    refused stops being "current", so HAProxy restarted after a crash loads the
    last good one, and later changes are applied on top of that."""
    echo, m = small_stack(launcher)
    px = launcher.portico(m, args=[f"--haproxy-binary={lenient_haproxy}"],
                          env={"PORTICO_FAULT_AT": "render:2"})
    assert "fault injection" in px.log_text(), \
        "PORTICO_FAULT_AT needs a test build (make FAULTS=1, or build-san/portico)"
    assert os.readlink(px.config_dir / "current") == "gen-1"
    add_route(m, echo, "two")  # a new backend: a reload, of an invalid configuration
    wait_for(lambda: "configuration generation 2 not loaded" in px.log_text(),
             what="the refused reload logged")
    assert os.readlink(px.config_dir / "current") == "gen-1"
    assert 'portico_reloads_total{result="failure"} 1' in metrics(px)
    assert request(px.http, "/", host="one.sup.test").service == "one"
    # HAProxy crashes: it comes back on the last good configuration
    old = px.haproxy_pid()
    os.kill(old, signal.SIGKILL)
    new = wait_for(lambda: (p := px.haproxy_pid()) and p != old and pid_alive(p) and p, timeout=15,
                   what="a new haproxy master")
    px.haproxy_pids_seen.add(new)
    px.wait_service("one.sup.test", "/", "one", timeout=15)
    assert "configuration generation 2 not loaded" in px.log_text()
    # the next change is applied, and carries the refused one's route too
    add_route(m, echo, "three")
    px.wait_service("three.sup.test", "/", "three")
    px.wait_service("two.sup.test", "/", "two")


def test_reload_killed_midway_is_applied_again(launcher):
    """HAProxy dies while a reload is being confirmed: it restarts on the last
    good generation, then the pending one is applied again, with no change."""
    echo, m = small_stack(launcher)
    px = launcher.portico(m)
    master = px.haproxy_pid()
    add_route(m, echo, "two")
    # the reload starts with the master re-executing; kill it then
    wait_for(lambda: os.readlink(px.config_dir / "current") == "gen-2", interval=0.002,
             what="generation 2 made current for its reload")
    os.kill(master, signal.SIGKILL)
    px.wait_service("two.sup.test", "/", "two", timeout=20)
    px.wait_service("one.sup.test", "/", "one")
    px.remember_haproxy()


def test_each_reload_logged_once_with_its_reason(launcher):
    """One info line per reload, naming why; HAProxy's lifecycle lines ("Proxy x
    stopped", one per proxy) are not copied into the log, only counted. New
    backends reload: no spare backend serves them first."""
    echo, m = small_stack(launcher)
    px = launcher.portico(m, args=["--spare-backends=0"])
    add_route(m, echo, "two")
    px.wait_service("two.sup.test", "/", "two")
    wait_for(lambda: px.reload_count() == 1, what="the reload logged")
    add_route(m, echo, "three")
    px.wait_service("three.sup.test", "/", "three")
    wait_for(lambda: px.reload_count() == 2, what="the second reload logged")
    text = px.log_text()
    reloads = [ln for ln in text.splitlines() if "haproxy reloaded" in ln]
    assert len(reloads) == 2, reloads
    assert re.search(r"haproxy reloaded \(generation \d+\): backend default_two_http added; \d+ ms; "
                     r"haproxy printed \d+ routine lines, 0 warnings, 0 alerts", reloads[0]), reloads[0]
    assert "backend default_three_http added" in reloads[1]
    assert " stopped (cumulated conns" not in text
    assert "[NOTICE]" not in text
    # the second reload's count includes the old worker's "Proxy x stopped" lines
    routine = int(re.search(r"printed (\d+) routine lines", reloads[1]).group(1))
    assert routine >= 3


def test_haproxy_lines_in_debug_log(launcher):
    """--log-level=debug shows HAProxy's own lines, each in a logfmt line."""
    echo, m = small_stack(launcher)
    px = launcher.portico(m, args=["--log-level=debug"])
    add_route(m, echo, "two")
    px.wait_service("two.sup.test", "/", "two")
    wait_for(lambda: re.search(r'level=debug mod=haproxy msg="\[NOTICE\] +\(\d+\) : Loading success.',
                               px.log_text()), what="HAProxy's notice in the debug log")


def metric(px, series):
    for ln in metrics(px).splitlines():
        if ln.startswith(series + " "):
            return float(ln.split()[-1])
    raise AssertionError(f"no {series} in /metrics")


def test_metrics_count_reloads_by_reason_and_runtime_commands_by_kind(launcher):
    """A new backend is one reload counted under its reason; an endpoint added
    is a server added through the Runtime API, counted under its kind; both
    are observed in the change -> applied histogram."""
    echo, m = small_stack(launcher)
    px = launcher.portico(m)
    add_route(m, echo, "two")
    px.wait_service("two.sup.test", "/", "two")
    wait_for(lambda: metric(px, 'portico_reloads_by_reason_total{reason="backends",result="success"}')
             == 1, what="the reload counted under its reason")
    assert metric(px, 'portico_reloads_total{result="success"}') == 1
    applied = metric(px, "portico_change_applied_seconds_count")
    assert applied >= 1
    objs = echo.objects("two")
    objs[1]["endpoints"].append({"addresses": ["127.0.0.9"], "conditions": {"ready": True}})
    m.write("two.yaml", objs + [ingress("two", [rule("two.sup.test", path("/", "two"))])])
    wait_for(lambda: metric(px, 'portico_runtime_commands_total{kind="server_add",result="success"}')
             == 1, what="the server added, counted under its kind")
    wait_for(lambda: metric(px, "portico_change_applied_seconds_count") == applied + 1,
             what="the endpoint change observed in the histogram")
    assert metric(px, 'portico_change_applied_seconds_bucket{le="+Inf"}') == applied + 1
    assert metric(px, 'portico_reloads_total{result="success"}') == 1
