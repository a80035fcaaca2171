"""File mode lifecycle: live changes, bad input, reload economy, rejected
configurations, HAProxy supervision, clean shutdown, health endpoints."""

import json
import os
import re
import signal
import socket
import time

import pytest

from helpers import (RELOAD_RE, SOURCE, Exact, endpoint, endpoint_slice, http_get_status, ingress, path, pid_alive,
                     request, rule, service, service_with_endpoints, to_yaml, wait_for)

SERVICES = ["one", "two", "three", "base"]
ALERT_RE = re.compile(r"ALERT|Fatal errors|error", re.I)


def services(echo, names=SERVICES):
    objs = []
    for s in names:
        objs += echo.objects(s)
    return objs


@pytest.fixture(scope="module")
def stack(module_launcher):
    echo = module_launcher.echo({s: ["127.0.0.1"] for s in SERVICES})
    m = module_launcher.manifests()
    m.write("services.yaml", services(echo))
    m.write("base.yaml", ingress("base", [rule("base.live.test", path("/", "base"))]))
    px = module_launcher.portico(m)
    return px, m, echo


def test_health_endpoints(stack):
    px = stack[0]
    assert http_get_status(px.controller, "/healthz") == 200
    assert http_get_status(px.controller, "/readyz") == 200
    assert http_get_status(px.healthz, "/healthz") == 200
    r = request(px.stats, "/", host="127.0.0.1")
    assert r.status == 200, r
    r = request(px.stats, "/metrics", host="127.0.0.1")
    assert r.status == 200 and b"haproxy_process_start_time_seconds" in r.body, r


def test_new_modified_and_deleted_file(stack):
    px, m, _ = stack
    m.write("new.yaml", ingress("new", [rule("new.live.test", path("/", "one"))]))
    px.wait_service("new.live.test", "/", "one")
    m.write("new.yaml", ingress("new", [rule("new.live.test", path("/", "two"))]))
    px.wait_service("new.live.test", "/", "two", scheme="https")
    m.write("new.yaml", ingress("new", [rule("new.live.test", path("/v2", "three", Exact))]))
    px.wait_service("new.live.test", "/v2", "three")
    px.wait_service("new.live.test", "/", None)
    m.delete("new.yaml")
    px.wait_service("new.live.test", "/v2", None)
    assert px.get("/", host="base.live.test").service == "base"


@pytest.mark.file_only("file names and formats")
def test_json_yml_and_subdirectories(stack):
    px, m, _ = stack
    m.write("deep/er/ingress.json", json.dumps(ingress("json", [rule("json.live.test", path("/", "one"))])))
    m.write("deep/other.yml", ingress("yml", [rule("yml.live.test", path("/", "two"))]))
    try:
        px.wait_service("json.live.test", "/", "one")
        px.wait_service("yml.live.test", "/", "two")
    finally:
        m.delete("deep/er/ingress.json")
        m.delete("deep/other.yml")
    px.wait_service("json.live.test", "/", None)
    px.wait_service("yml.live.test", "/", None)


@pytest.mark.parametrize("fmt", ["yaml", "json"])
@pytest.mark.file_only("a List is a file format; the API server stores its items")
def test_kind_list(stack, fmt):
    px, m, _ = stack
    lst = {"apiVersion": "v1", "kind": "List",
           "items": [ingress("listed", [rule("list.live.test", path("/", "one"))]),
                     ingress("listed2", [rule("list2.live.test", path("/", "two"))])]}
    name = f"list.{fmt}"
    m.write(name, json.dumps(lst) if fmt == "json" else to_yaml(lst))
    try:
        px.wait_service("list.live.test", "/", "one")
        px.wait_service("list2.live.test", "/", "two")
    finally:
        m.delete(name)
    px.wait_service("list.live.test", "/", None)


@pytest.mark.file_only("malformed files")
def test_malformed_yaml_file_skipped_and_reported(stack):
    px, m, _ = stack
    m.write("zz-bad.yaml", "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: [unclosed\n"
                           "spec:\n  - : : :\n\t- tab\n")
    try:
        wait_for(lambda: "zz-bad.yaml" in px.log_text(), what="log naming the malformed file")
        # everything else keeps serving and later changes still apply
        assert px.get("/", host="base.live.test").service == "base"
        m.write("after-bad.yaml", ingress("after-bad", [rule("after-bad.live.test", path("/", "one"))]))
        px.wait_service("after-bad.live.test", "/", "one")
        # fixing the file brings its content in
        m.write("zz-bad.yaml", ingress("was-bad", [rule("was-bad.live.test", path("/", "two"))]))
        px.wait_service("was-bad.live.test", "/", "two")
    finally:
        for f in ("zz-bad.yaml", "after-bad.yaml"):
            if m.exists(f):
                m.delete(f)
    px.wait_service("was-bad.live.test", "/", None)


@pytest.mark.file_only("malformed files; the API server refuses the bad pathType")
def test_file_that_stops_parsing_keeps_last_good_content(stack):
    """doc/routing.md "Invalid objects": a file that stops parsing (a save in progress)
    keeps its last good content; an object that stops decoding keeps its last good version."""
    px, m, _ = stack
    good = ingress("lkg", [rule("lkg.live.test", path("/", "one"))])
    m.write("lkg.yaml", good)
    px.wait_service("lkg.live.test", "/", "one")
    try:
        n = px.log_text().count("lkg.yaml")
        m.write("lkg.yaml", to_yaml(good)[:40] + "\n  broken: [\n")
        wait_for(lambda: px.log_text().count("lkg.yaml") > n, what="log naming lkg.yaml")
        assert px.get("/", host="lkg.live.test").service == "one"
        n = px.log_text().count("lkg.yaml")
        bad = ingress("lkg", [rule("lkg.live.test", path("/", "two"))])
        bad["spec"]["rules"][0]["http"]["paths"][0]["pathType"] = "Bogus"
        m.write("lkg.yaml", bad)
        wait_for(lambda: px.log_text().count("lkg.yaml") > n, what="log naming lkg.yaml")
        assert px.get("/", host="lkg.live.test").service == "one"
        m.write("lkg.yaml", ingress("lkg", [rule("lkg.live.test", path("/", "two"))]))
        px.wait_service("lkg.live.test", "/", "two")
    finally:
        m.delete("lkg.yaml")
    px.wait_service("lkg.live.test", "/", None)


@pytest.mark.file_only("files without objects")
def test_empty_comment_only_and_foreign_kinds_are_harmless(stack):
    px, m, _ = stack
    m.write("empty.yaml", "")
    m.write("comments.yaml", "# nothing here\n---\n# still nothing\n")
    m.write("foreign.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d, namespace: default}\n"
                            "spec: {replicas: 1}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: p}\n")
    m.write("notes.txt", "not a manifest: {{{")
    try:
        m.write("sentinel.yaml", ingress("sentinel", [rule("sentinel.live.test", path("/", "one"))]))
        px.wait_service("sentinel.live.test", "/", "one")
        assert px.get("/", host="base.live.test").service == "base"
    finally:
        for f in ("empty.yaml", "comments.yaml", "foreign.yaml", "notes.txt", "sentinel.yaml"):
            m.delete(f)
    px.wait_service("sentinel.live.test", "/", None)


@pytest.mark.file_only("the API server refuses these Ingresses itself")
def test_invalid_ingress_field_reported_and_skipped(stack):
    px, m, _ = stack
    bad_type = ingress("bad-type", [rule("bad-type.live.test", path("/", "one"))])
    bad_type["spec"]["rules"][0]["http"]["paths"][0]["pathType"] = "Bogus"
    bad_path = ingress("bad-path", [rule("bad-path.live.test", path("relative", "one", Exact))])
    m.write("mixed.yaml", [
        ingress("mixed-ok", [rule("mixed-ok.live.test", path("/", "one"))]),
        bad_type,
        ingress("mixed-ok2", [rule("mixed-ok2.live.test", path("/", "two"))]),
        bad_path,
    ])
    try:
        px.wait_service("mixed-ok.live.test", "/", "one")
        px.wait_service("mixed-ok2.live.test", "/", "two")
        assert px.get("/", host="bad-type.live.test").status == 404
        assert px.get("/", host="bad-path.live.test").status == 404
        lines = px.log_text().splitlines()
        assert any("mixed.yaml" in ln and "pathType" in ln for ln in lines), \
            "log must name the file and the field (pathType):\n" + "\n".join(lines[-15:])
        assert any("mixed.yaml" in ln and re.search(r"\bpath\b", ln) and "bad-path" in ln or
                   "mixed.yaml" in ln and "relative" in ln for ln in lines), \
            "log must report the relative path of Ingress bad-path:\n" + "\n".join(lines[-15:])
        assert px.get("/", host="base.live.test").service == "base"
    finally:
        m.delete("mixed.yaml")
    px.wait_service("mixed-ok.live.test", "/", None)


@pytest.mark.file_only("rewriting a file unchanged; an unchanged apply sends no event")
def test_unchanged_content_does_not_reload(stack):
    px, m, echo = stack
    m.write("reload-probe.yaml", ingress("probe", [rule("probe.live.test", path("/", "one"))]))
    px.wait_service("probe.live.test", "/", "one")
    wait_for(lambda: px.reload_count() >= 1, what='at least one `msg="haproxy reloaded"` log line')
    before = px.settle()
    workers = px.worker_pids()
    # same objects, rewritten: identical bytes, then only a comment and key order changed
    text = m.read("reload-probe.yaml")
    m.write("reload-probe.yaml", text)
    m.write("services.yaml", "# a comment only\n" + to_yaml(services(echo)))
    time.sleep(0.6)  # give the watcher time to (wrongly) reload; absence cannot be polled
    assert px.reload_count() == before, "unchanged rendered configuration must not reload HAProxy"
    assert not px.worker_pids() - workers, "unchanged rendered configuration must not fork a new worker"
    # the watcher is still alive
    m.write("reload-probe.yaml", ingress("probe", [rule("probe.live.test", path("/", "two"))]))
    px.wait_service("probe.live.test", "/", "two")
    m.delete("reload-probe.yaml")
    px.wait_service("probe.live.test", "/", None)


# --------------------------------------------------------------------------- separate instances

def small_stack(launcher, names=("one", "two", "three")):
    echo = launcher.echo({s: ["127.0.0.1"] for s in names})
    m = launcher.manifests()
    m.write("svc-one.yaml", echo.objects("one"))
    m.write("ing-one.yaml", ingress("one", [rule("one.live.test", path("/", "one"))]))
    return echo, m


def alerts(px):
    return sum(1 for ln in px.log_text().splitlines() if ALERT_RE.search(ln))


def metrics(px):
    """Portico's own /metrics (controller port)."""
    return request(px.controller, "/metrics", host="127.0.0.1").body.decode()


def test_rejected_configuration_keeps_previous_serving(launcher):
    echo, m = small_stack(launcher)
    px = launcher.portico(m, env={"PORTICO_FAULT_AT": "render:2"})
    assert px.get("/", host="one.live.test").service == "one"
    n = alerts(px)
    # a new backend needs a new configuration: the 2nd validation, which is rejected
    m.write("two.yaml", echo.objects("two") + [ingress("two", [rule("two.live.test", path("/", "two"))])])
    wait_for(lambda: alerts(px) > n, what="HAProxy's error in the log")
    assert px.proc.poll() is None, "portico must survive a rejected configuration"
    assert px.get("/", host="one.live.test").service == "one"
    assert px.get_tls("/", host="one.live.test").service == "one"
    assert px.readyz() == 200
    # the next good change is applied normally, and includes the earlier one
    m.write("three.yaml", echo.objects("three") + [ingress("three", [rule("three.live.test", path("/", "three"))])])
    px.wait_service("three.live.test", "/", "three")
    px.wait_service("two.live.test", "/", "two")
    assert px.get("/", host="one.live.test").service == "one"


def test_first_configuration_rejected_then_recovered(launcher):
    echo, m = small_stack(launcher)
    px = launcher.portico(m, env={"PORTICO_FAULT_AT": "render:1"}, wait=False)
    wait_for(lambda: alerts(px) > 0, timeout=10, what="HAProxy's error in the log")
    assert px.proc.poll() is None, "portico must survive a rejected first configuration"
    assert http_get_status(px.controller, "/healthz") == 200
    assert px.readyz() == 503, "/readyz must be 503 until a complete configuration runs"
    # refused like any configuration haproxy -c refuses: counted, never made current
    wait_for(lambda: "haproxy -c refused generation 1" in px.log_text(), what="the refusal")
    assert not (px.config_dir / "current").exists(), "a refused generation must not stay current"
    assert "portico_config_rejected_total 1" in metrics(px)
    m.write("two.yaml", echo.objects("two") + [ingress("two", [rule("two.live.test", path("/", "two"))])])
    px.wait_ready()
    px.wait_service("one.live.test", "/", "one")
    px.wait_service("two.live.test", "/", "two")


def open_fds(px):
    return len(os.listdir(f"/proc/{px.proc.pid}/fd"))


def test_first_generation_that_cannot_be_written_is_written_again(launcher):
    """The files of the first generation cannot be written
    (PORTICO_FAULT_AT=files:1, as on a full disk): the pass is made again a
    second later, and Portico becomes ready on it."""
    echo, m = small_stack(launcher)
    px = launcher.portico(m, env={"PORTICO_FAULT_AT": "files:1"})
    assert "cannot write generation 1" in px.log_text()
    assert px.get("/", host="one.live.test").service == "one"
    assert px.stop() == 0, "exit status (the sanitizer build reports leaks in it)"


def test_haproxy_that_cannot_be_forked_is_started_again(launcher):
    """The fork of HAProxy's first start fails (PORTICO_FAULT_AT=spawn:1, as
    out of processes): the start is tried again and the configuration, which
    is not at fault, is never refused."""
    echo, m = small_stack(launcher)
    px = launcher.portico(m, env={"PORTICO_FAULT_AT": "spawn:1"})
    assert px.get("/", host="one.live.test").service == "one"
    log = px.log_text()
    assert "cannot start" in log and "refused" not in log
    assert "portico_config_rejected_total 0" in metrics(px)
    # a change after the recovery is applied as usual
    m.write("two.yaml", echo.objects("two") + [ingress("two", [rule("two.live.test", path("/", "two"))])])
    px.wait_service("two.live.test", "/", "two")
    assert px.stop() == 0, "exit status (the sanitizer build reports leaks in it)"


def test_check_that_cannot_run_is_tried_again(launcher):
    """The haproxy -c of a reload cannot be started (PORTICO_FAULT_AT=spawn:2:
    the first spawn is HAProxy's start, the second this check): nothing is
    known of the configuration, so it is not refused; the running one keeps
    serving, and the check and the reload are made again a second later."""
    echo, m = small_stack(launcher)
    px = launcher.portico(m, args=["--spare-backends=0"], env={"PORTICO_FAULT_AT": "spawn:2"})
    assert px.get("/", host="one.live.test").service == "one"
    reloads = px.settle()
    fds = open_fds(px)
    m.write("two.yaml", echo.objects("two") + [ingress("two", [rule("two.live.test", path("/", "two"))])])
    wait_for(lambda: "cannot check generation 2" in px.log_text(), what="the check that did not run")
    assert px.get("/", host="one.live.test").service == "one"
    px.wait_service("two.live.test", "/", "two")
    assert px.settle() == reloads + 1
    assert "refused" not in px.log_text()
    assert "portico_config_rejected_total 0" in metrics(px)
    # the check's pipe went with it (a Runtime API connection may be open a moment)
    wait_for(lambda: open_fds(px) == fds, what=f"{fds} open files, as before the fault")
    assert px.stop() == 0, "exit status (the sanitizer build reports leaks in it)"


def test_first_start_on_a_busy_port_is_retried(launcher):
    """HAProxy's first start fails for a reason that is not the configuration (its
    port is taken): the configuration is not refused, and the start is retried
    until the port is free."""
    echo, m = small_stack(launcher)
    blocker = socket.socket()
    blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    blocker.bind(("127.0.0.1", 0))
    blocker.listen(1)
    port = blocker.getsockname()[1]
    try:
        px = launcher.portico(m, args=[f"--http-bind-port={port}"], wait=False)
        wait_for(lambda: "haproxy exited at start" in px.log_text(), timeout=10,
                 what="the failed start logged")
        assert px.readyz() == 503
        assert "refused" not in px.log_text()
    finally:
        blocker.close()
    px.wait_ready(timeout=15)
    assert request(port, "/", host="one.live.test").service == "one"
    assert "portico_config_rejected_total 0" in metrics(px)


def test_haproxy_killed_is_restarted(launcher):
    echo, m = small_stack(launcher)
    px = launcher.portico(m)
    m.write("two.yaml", echo.objects("two") + [ingress("two", [rule("two.live.test", path("/", "two"))])])
    px.wait_service("two.live.test", "/", "two")
    old = px.haproxy_pid()
    assert old and pid_alive(old), f"no live haproxy master in {px.runtime_dir}/haproxy.pid"
    os.kill(old, signal.SIGKILL)
    new = wait_for(lambda: (p := px.haproxy_pid()) and p != old and pid_alive(p) and p, timeout=10,
                   what="a new haproxy master pid")
    px.haproxy_pids_seen.add(new)
    px.wait_service("one.live.test", "/", "one", timeout=10)
    px.wait_service("two.live.test", "/", "two", timeout=10)  # last good configuration
    px.wait_service("one.live.test", "/", "one", scheme="https", timeout=10)
    # and the restarted HAProxy still takes changes
    m.write("three.yaml", echo.objects("three") + [ingress("three", [rule("three.live.test", path("/", "three"))])])
    px.wait_service("three.live.test", "/", "three")
    assert px.proc.poll() is None


def test_sigterm_stops_everything_and_exits_zero(launcher):
    _, m = small_stack(launcher)
    px = launcher.portico(m)
    assert px.get("/", host="one.live.test").service == "one"
    master = px.haproxy_pid()
    assert master and pid_alive(master)
    rc = launcher.stop_portico(px)  # asserts exit 0 and master gone
    assert rc == 0
    assert not pid_alive(master)
    for port in (px.http, px.https):
        with socket.socket() as s:
            s.settimeout(1)
            assert s.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still accepting after shutdown"


@pytest.mark.file_only("one manifest of 2,100 Ingresses changed at once")
def test_many_route_changes_replace_whole_maps(stack):
    """More changed entries than the Runtime API is sent one by one (2,000):
    the maps are replaced whole, still without a reload."""
    px, m, _ = stack
    n = 2100

    def many(tag):
        return [ingress(f"many-{i}", [rule(f"{tag}-{i}.many.test", path("/", "one"))])
                for i in range(n)]

    m.write("many.yaml", many("a"))
    px.wait_service(f"a-{n - 1}.many.test", "/", "one")
    before = px.settle()
    workers = px.worker_pids()
    try:
        m.write("many.yaml", many("b"))
        px.wait_service(f"b-{n - 1}.many.test", "/", "one")
        assert px.get("/", host="b-0.many.test").service == "one"
        px.wait_service("a-0.many.test", "/", None)
        assert not px.worker_pids() - workers and px.reload_count() == before, \
            "host changes on existing backends must not reload HAProxy"
    finally:
        m.delete("many.yaml")
    px.wait_service(f"b-{n - 1}.many.test", "/", None)


def test_endpoint_changes_do_not_reload(stack):
    """design.md section 4: endpoint changes go through the Runtime API, never a reload."""
    px, m, echo = stack
    port = echo.ports["base"]

    def slice_objs(ready):
        return [service("base"), endpoint_slice("base", [endpoint("127.0.0.1", ready=ready)], [("http", port)])]

    objs = [o for o in services(echo) if o["metadata"]["name"] not in ("base", "base-slice")]
    m.write("services.yaml", objs + slice_objs(True))
    px.wait_service("base.live.test", "/", "base")
    before = px.settle()
    workers = px.worker_pids()
    try:
        m.write("services.yaml", objs + slice_objs(False))
        px.wait_status("base.live.test", "/", 503)
        m.write("services.yaml", objs + slice_objs(True))
        px.wait_service("base.live.test", "/", "base")
        assert not px.worker_pids() - workers and px.reload_count() == before, \
            "endpoint ready/not-ready changes must not reload HAProxy"
    finally:
        m.write("services.yaml", services(echo))
        px.wait_service("base.live.test", "/", "base")


def test_burst_of_changes_all_applied(launcher):
    """Many changes in quick succession (each needing a new backend) end up all served."""
    names = [f"burst{i}" for i in range(8)]
    echo = launcher.echo({n: ["127.0.0.1"] for n in names})
    m = launcher.manifests()
    m.write("base.yaml", echo.objects("burst0") + [ingress("base", [rule("base.live.test", path("/", "burst0"))])])
    px = launcher.portico(m)
    for i, n in enumerate(names[1:], 1):
        m.write(f"{n}.yaml", echo.objects(n) + [ingress(n, [rule(f"{n}.live.test", path("/", n))])])
        time.sleep(0.005 * (i % 3))  # 0-10 ms apart: faster than a reload
    for n in names[1:]:
        px.wait_service(f"{n}.live.test", "/", n, timeout=10)
    # and the same burst editing one file over and over: the last content wins
    for i, n in enumerate(names):
        m.write("moving.yaml", ingress("moving", [rule("moving.live.test", path("/", n))]))
    px.wait_service("moving.live.test", "/", names[-1], timeout=10)
    assert px.get("/", host="base.live.test").service == "burst0"
    px.settle()  # let queued reloads finish (see test_sigterm_during_reload_stops_haproxy_softly)


def test_sigterm_during_reload_stops_haproxy_softly(launcher):
    """SIGTERM while HAProxy is re-executing for a reload must still stop it gracefully
    (not wait out the grace period and kill the worker)."""
    echo, m = small_stack(launcher)
    px = launcher.portico(m, args=["--log-level=debug"])  # HAProxy's notices in the log
    n = px.log_text().count("Reloading HAProxy")
    m.write("two.yaml", echo.objects("two") + [ingress("two", [rule("two.live.test", path("/", "two"))])])
    wait_for(lambda: px.log_text().count("Reloading HAProxy") > n, interval=0.002,
             what="HAProxy master starting a reload")
    # asserts exit 0 and the master gone; its timeout (longer than the grace
    # period) only guards against a hang
    rc = launcher.stop_portico(px, settle=False)
    assert rc == 0
    assert "after the grace period" not in px.log_text(), \
        f"the soft stop was lost and HAProxy was stopped hard:\n{px.log_tail(12)}"


def test_path_changes_on_existing_backend_do_not_reload_and_survive_reload(launcher):
    """design.md section 4: a host or path added on an existing backend is a Runtime API map
    change (no reload); it must still be there after a later reload and after a restart."""
    echo, m = small_stack(launcher)
    px = launcher.portico(m)
    before = px.settle()
    workers = px.worker_pids()
    m.write("ing-one.yaml", ingress("one", [rule("one.live.test", path("/", "one")),
                                            rule("one-b.live.test", path("/b", "one", Exact))]))
    px.wait_service("one-b.live.test", "/b", "one")
    px.wait_service("one-b.live.test", "/c", None)
    assert not px.worker_pids() - workers and px.settle() == before, \
        "a new host/path on an existing backend must not reload HAProxy"
    # a reload for something else keeps the runtime-made entries
    m.write("two.yaml", echo.objects("two") + [ingress("two", [rule("two.live.test", path("/", "two"))])])
    px.wait_service("two.live.test", "/", "two")
    wait_for(lambda: px.worker_pids() - workers, what="a reload (new worker) for the new backend")
    px.settle()
    assert px.get("/b", host="one-b.live.test").service == "one"
    # removal at run time, then a restart of HAProxy from the files
    m.write("ing-one.yaml", ingress("one", [rule("one.live.test", path("/", "one")),
                                            rule("one-b.live.test", path("/b2", "one", Exact))]))
    px.wait_service("one-b.live.test", "/b2", "one")
    px.wait_service("one-b.live.test", "/b", None)
    px.settle()
    old = px.haproxy_pid()
    os.kill(old, signal.SIGKILL)
    new = wait_for(lambda: (p := px.haproxy_pid()) and p != old and pid_alive(p) and p, timeout=10,
                   what="a new haproxy master pid")
    px.haproxy_pids_seen.add(new)
    px.wait_service("one-b.live.test", "/b2", "one", timeout=10)
    assert px.get("/b", host="one-b.live.test").status == 404
    assert px.get("/", host="two.live.test").service == "two"


def test_hostile_values_are_rejected_not_rendered(stack):
    """doc/routing.md "Invalid objects": values that cannot be written safely into HAProxy's
    configuration skip their Ingress (or fall back to the default for annotations)."""
    px, m, _ = stack
    bad = {
        "sp": ingress("hostile-space", [rule("sp.hostile.test", path("/a b", "one"))]),
        "hash": ingress("hostile-hash", [rule("hash.hostile.test", path("/a#b", "one"))]),
        "nl": ingress("hostile-nl", [rule("nl.hostile.test", path("/a\nuse_backend x", "one"))]),
        "host": ingress("hostile-host", [rule("bad host.hostile.test", path("/", "one"))]),
        "svc": ingress("hostile-svc", [rule("svc.hostile.test", path("/", "one two"))]),
    }
    ann = ingress("hostile-ann", [rule("ann.hostile.test", path("/", "two"))],
                  annotations={"portico.dev/ssl-redirect-code": "301\n    bind :1"},
                  tls=[{"hosts": ["ann.hostile.test"], "secretName": "nope"}])
    if SOURCE == "cluster":
        # The API server refuses these two itself (not DNS names); it accepts
        # the paths, so those are what Portico has to stop there.
        del bad["host"], bad["svc"]
    ok = ingress("hostile-ok", [rule("ok.hostile.test", path("/", "one"))])
    m.write("hostile.yaml", list(bad.values()) + [ann, ok])
    try:
        px.wait_service("ok.hostile.test", "/", "one")
        for k in ("sp", "hash", "nl", "svc"):
            assert px.get("/a", host=f"{k}.hostile.test").status in (404, 503), k
        r = px.get("/x", host="ann.hostile.test")
        assert r.status == 308, f"bad annotation value: the default (308) is used: {r}"
        assert px.get("/", host="base.live.test").service == "base"
        assert px.proc.poll() is None
        text = px.log_text()
        for name in (bad[k]["metadata"]["name"] for k in bad):
            assert name in text, f"no warning names {name}"
    finally:
        m.delete("hostile.yaml")
    px.wait_service("ok.hostile.test", "/", None)


def test_runtime_map_update_carries_separators_literally(launcher):
    """security.md H5: a path holding ';' and '\\' travels through a Runtime API map
    update as one literal key; no other command runs and nothing reloads."""
    echo, m = small_stack(launcher)
    px = launcher.portico(m)
    before = px.settle()
    hostile = "/semi;show map\\x;clear map maps/hosts.map"
    m.write("ing-h5.yaml", ingress("h5", [rule("h5.live.test", path("/", "one"),
                                                path(hostile.replace(" ", ""), "one",
                                                     "ImplementationSpecific"))]))
    px.wait_service("h5.live.test", "/", "one")
    key = "h5.live.test" + hostile.replace(" ", "")
    assert key in px.admin("show map maps/prefix.map").split()
    # the hosts map, updated before the prefix map, still holds the host: no injected
    # "clear map" ran
    hosts = px.admin("show map maps/hosts.map")
    assert "h5.live.test" in hosts.split(), hosts
    assert px.settle() == before, "a path change on an existing backend must not reload"
    m.delete("ing-h5.yaml")
    px.wait_service("h5.live.test", "/", None)


def test_endpoint_scaling_uses_runtime_servers(launcher):
    """design.md section 4: endpoints added and removed reach HAProxy as servers added and
    deleted at run time; the server list HAProxy runs equals the ready endpoints."""
    echo, m = small_stack(launcher)
    px = launcher.portico(m)
    before = px.settle()
    workers = px.worker_pids()
    objs = echo.objects("one")
    slice_ = next(o for o in objs if o["kind"] == "EndpointSlice")
    ready = slice_["endpoints"][0]
    # scale 1 -> 0 (not ready) -> 1
    ready["conditions"] = {"ready": False, "serving": False, "terminating": False}
    m.write("one.yaml", objs)
    wait_for(lambda: px.get("/", host="one.live.test").status == 503, what="503 with no ready endpoint")
    # the server is deleted, or in maintenance while HAProxy still holds a connection to it
    for line in px.admin("show servers state").splitlines():
        fields = line.split()
        if len(fields) > 6 and fields[4] == ready["addresses"][0]:
            assert int(fields[6]) & 1, f"server of a not-ready endpoint still active: {line}"
    ready["conditions"] = {"ready": True}
    m.write("one.yaml", objs)
    px.wait_service("one.live.test", "/", "one")
    assert not px.worker_pids() - workers and px.settle() == before, \
        "endpoint changes must not reload HAProxy"


def test_route_moved_between_backends_without_reload(launcher):
    """An existing host + path switched to another existing backend is one
    "set map" on the running HAProxy: served by the new backend, no reload."""
    echo, m = small_stack(launcher)
    m.write("two.yaml", echo.objects("two") + [ingress("two", [rule("two.live.test", path("/", "two"))])])
    m.write("mv.yaml", ingress("mv", [rule("mv.live.test", path("/p", "one"))]))
    px = launcher.portico(m)
    px.wait_service("mv.live.test", "/p", "one")
    before = px.settle()
    reroutes = px.metric("portico_model_reroutes_total")
    m.write("mv.yaml", ingress("mv", [rule("mv.live.test", path("/p", "two"))]))
    px.wait_service("mv.live.test", "/p", "two")
    assert px.settle() == before, "moving a route between existing backends must not reload"
    # the routes of that host alone built again, in file mode as in cluster mode
    assert px.metric("portico_model_reroutes_total") == reroutes + 1
    # and the next reload keeps it
    m.write("two.yaml", echo.objects("two") + [ingress("two", [rule("two.live.test", path("/", "two"))])] +
            echo.objects("one", ns="other") +
            [ingress("o", [rule("o.live.test", path("/", "one"))], ns="other")])
    wait_for(lambda: px.reload_count() > before, what="a reload for the new backend")
    px.settle()
    assert px.get("/p", host="mv.live.test").service == "two"


def test_burst_of_new_backends_is_one_or_two_reloads(launcher):
    """--min-reload-interval (default 2 s): five new Services with their
    Ingresses, written within a second, each need a new backend; reloads are
    at least the interval apart and what waits is loaded together, so the
    burst costs at most two reloads, each logged with its reason, and every
    route is served. (No spare backends: they would serve the burst with no
    reload first; test_spare_backends.py.)"""
    names = [f"burst{i}" for i in range(5)]
    echo = launcher.echo({n: ["127.0.0.1"] for n in ["one", *names]})
    m = launcher.manifests()
    m.write("svc-one.yaml", echo.objects("one"))
    m.write("ing-one.yaml", ingress("one", [rule("one.live.test", path("/", "one"))]))
    px = launcher.portico(m, args=["--spare-backends=0"])
    before = px.settle()
    for n in names:
        m.write(f"{n}.yaml", echo.objects(n) + [ingress(n, [rule(f"{n}.burst.test", path("/", n))])])
    for n in names:
        px.wait_service(f"{n}.burst.test", "/", n)
    reloads = px.settle() - before
    assert 1 <= reloads <= 2, f"{reloads} reloads for a burst of five new backends"
    lines = [ln for ln in px.log_text().splitlines() if RELOAD_RE.search(ln)][before:]
    assert all(re.search(r"backend default_burst\d_http added", ln) for ln in lines), lines
    assert px.get("/", host="one.live.test").service == "one"


def test_endpoint_change_does_not_wait_for_a_waiting_reload(launcher):
    """While a reload waits for --min-reload-interval, an endpoint change still
    goes through the Runtime API at once: the endpoint removed gets no more
    requests before that reload, which then serves the new backend it waited
    for."""
    echo = launcher.echo({"web": ["127.0.0.1", "127.0.0.2"], "new": ["127.0.0.1"],
                          "next": ["127.0.0.1"]})
    m = launcher.manifests()

    def web(addrs):
        return (service_with_endpoints("web", addrs, echo.port("web")) +
                [ingress("web", [rule("web.wait.test", path("/", "web"))])])

    def backend(name):
        return echo.objects(name) + [ingress(name, [rule(f"{name}.wait.test", path("/", name))])]

    m.write("web.yaml", web(["127.0.0.1", "127.0.0.2"]))
    px = launcher.portico(m, args=["--spare-backends=0", "--min-reload-interval=6s"])
    px.wait_service("web.wait.test", "/", "web")
    gone = f"127.0.0.2:{echo.port('web')}"  # as the echo names itself
    wait_for(lambda: px.get("/", host="web.wait.test").endpoint == gone, what="both endpoints used")
    m.write("new.yaml", backend("new"))
    px.wait_service("new.wait.test", "/", "new")
    delayed = px.metric("portico_reloads_delayed_total")
    m.write("next.yaml", backend("next"))
    wait_for(lambda: px.metric("portico_reloads_delayed_total") > delayed,
             what="the next backend's reload waiting")
    reloads = px.reload_count()

    patches = px.metric("portico_model_patches_total")
    m.write("web.yaml", web(["127.0.0.1"]))
    wait_for(lambda: all(px.get("/", host="web.wait.test").endpoint != gone for _ in range(8)),
             what="the removed endpoint avoided")
    assert px.reload_count() == reloads and px.get("/", host="next.wait.test").status == 404, \
        "the endpoint change waited for the reload"
    assert px.metric("portico_model_patches_total") == patches + 1
    px.wait_service("next.wait.test", "/", "next", timeout=15)
