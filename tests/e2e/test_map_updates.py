"""Routes changed at run time: a change of one entry of a map is one command
("add map", "set map", "del map"); a change of several entries of one map
is a new version of that whole map (prepare map, add map @ver, commit map),
so that no request sees it half applied. Neither reloads HAProxy."""

from helpers import ingress, path, rule, wait_for

HOST = "maps.test"



def applied(px, kind):
    return px.metric(f'portico_runtime_commands_total{{kind="{kind}",result="success"}}')


def exact_map(px):
    """The keys and values of maps/exact.map in the running HAProxy."""
    out = {}
    for ln in px.admin("show map maps/exact.map").splitlines():
        f = ln.split()
        if len(f) == 3:
            out[f[1]] = f[2]
    return out


def routes(*pairs):
    return ingress("maps", [rule(HOST, *(path(p, svc, ptype="Exact") for p, svc in pairs))])


def test_one_entry_one_command_several_entries_one_version(launcher):
    echo = launcher.echo({"one": ["127.0.0.1"], "two": ["127.0.0.1"]})
    m = launcher.manifests()
    m.write("svc.yaml", echo.objects("one") + echo.objects("two"))
    m.write("ing.yaml", routes(("/a", "one"), ("/keep", "two")))
    px = launcher.portico(m)
    px.wait_service(HOST, "/a", "one")
    reloads = px.settle()
    entries, whole = applied(px, "map_entries"), applied(px, "map")

    # one path added: one entry of exact.map, one "add map"
    m.write("ing.yaml", routes(("/a", "one"), ("/keep", "two"), ("/b", "two")))
    px.wait_service(HOST, "/b", "two")
    wait_for(lambda: applied(px, "map_entries") == entries + 1, what="one add map")
    assert applied(px, "map") == whole

    # a path renamed: a "del" and an "add" in one map, one new version of it
    m.write("ing.yaml", routes(("/c", "one"), ("/keep", "two"), ("/b", "two")))
    px.wait_service(HOST, "/c", "one")
    wait_for(lambda: applied(px, "map") == whole + 1, what="exact.map replaced as a whole")
    assert applied(px, "map_entries") == entries + 1
    assert exact_map(px) == {f"{HOST}/c": "default_one_http", f"{HOST}/keep": "default_two_http",
                             f"{HOST}/b": "default_two_http"}
    px.wait_service(HOST, "/a", None)

    # two paths moved to the other backend: one version again
    m.write("ing.yaml", routes(("/c", "two"), ("/keep", "one"), ("/b", "two")))
    px.wait_service(HOST, "/keep", "one")
    px.wait_service(HOST, "/c", "two")
    wait_for(lambda: applied(px, "map") == whole + 2, what="exact.map replaced again")
    assert applied(px, "map_entries") == entries + 1
    assert px.settle() == reloads, "route changes on existing backends must not reload"


def test_runtime_update_whose_files_fail_is_reloaded_from_files(launcher):
    """The files of a generation applied through the Runtime API are written
    after HAProxy has the updates. When they cannot be written, HAProxy keeps
    serving the update, and a reload on files that have it follows, so that
    no later reload or restart loses it."""
    echo = launcher.echo({"one": ["127.0.0.1"], "two": ["127.0.0.1"]})
    m = launcher.manifests()
    m.write("svc.yaml", echo.objects("one") + echo.objects("two"))
    m.write("ing.yaml", routes(("/a", "one")))
    # the first generation written is the start's: the second is the update's
    px = launcher.portico(m, env={"PORTICO_FAULT_AT": "files:2"})
    px.wait_service(HOST, "/a", "one")
    reloads = px.settle()
    m.write("ing.yaml", routes(("/a", "one"), ("/b", "two")))
    px.wait_service(HOST, "/b", "two")
    wait_for(lambda: "cannot write generation" in px.log_text(), what="the failed write logged")
    wait_for(lambda: px.reload_count() > reloads, what="a reload on the written files")
    # reloaded as a fresh start would be: the new backend under its own name
    current = (px.config_dir / "current" / "maps" / "exact.map").read_text()
    assert f"{HOST}/b default_two_http" in current
    px.wait_service(HOST, "/b", "two")
    px.wait_service(HOST, "/a", "one")
    # the next runtime update is written as usual
    m.write("ing.yaml", routes(("/a", "one"), ("/b", "two"), ("/c", "one")))
    px.wait_service(HOST, "/c", "one")
    wait_for(lambda: f"{HOST}/c default_one_http" in
             (px.config_dir / "current" / "maps" / "exact.map").read_text(),
             what="/c in the current generation's map")


def test_failed_runtime_command_reloads_instead(launcher):
    """A Runtime API command whose answer is a failure (injected, after the
    command ran): the change is reloaded instead, once, counted by reason,
    with the new backend that was to run in a spare under its own name; the
    next change goes through the Runtime API."""
    echo = launcher.echo({"one": ["127.0.0.1"], "two": ["127.0.0.1"]})
    m = launcher.manifests()
    m.write("svc.yaml", echo.objects("one") + echo.objects("two"))
    m.write("ing.yaml", routes(("/a", "one")))
    px = launcher.portico(m, env={"PORTICO_FAULT_AT": "runtime:1"})
    px.wait_service(HOST, "/a", "one")
    reloads = px.settle()
    failed = px.metric('portico_runtime_updates_total{result="failure"}')
    by_reason = 'portico_reloads_by_reason_total{reason="runtime_failed",result="success"}'
    assert px.metric(by_reason) == 0
    m.write("ing.yaml", routes(("/a", "one"), ("/b", "two")))
    px.wait_service(HOST, "/b", "two")
    wait_for(lambda: "runtime update failed" in px.log_text(), what="the failure logged")
    wait_for(lambda: px.reload_count() > reloads, what="a reload instead")
    wait_for(lambda: px.metric(by_reason) == 1, what="the reload counted as runtime_failed")
    assert px.metric('portico_runtime_updates_total{result="failure"}') == failed + 1
    px.wait_service(HOST, "/a", "one")
    # one reload, straight to the names a fresh start gives
    assert px.settle() == reloads + 1
    reloads += 1
    assert exact_map(px)[f"{HOST}/b"] == "default_two_http"
    assert f"{HOST}/b default_two_http" in \
        (px.config_dir / "current" / "maps" / "exact.map").read_text()
    # the fault was the first command only: the next change needs no reload
    m.write("ing.yaml", routes(("/a", "one"), ("/b", "two"), ("/c", "one")))
    px.wait_service(HOST, "/c", "one")
    assert exact_map(px)[f"{HOST}/c"] == "default_one_http"
    assert px.settle() == reloads
