"""Drift repair: servers changed behind Portico's back with raw Runtime API
commands (one disabled, one added) are put back as the running model has
them, without a reload, and counted."""

import urllib.request

from helpers import ingress, path, rule, wait_for

BACKEND = "default_web_http"


def servers(px):
    """name -> srv_admin_state of the backend's servers (show servers state)."""
    out = {}
    for ln in px.admin(f"show servers state {BACKEND}").splitlines():
        f = ln.split()
        if len(f) > 6 and f[1] == BACKEND:
            out[f[3]] = int(f[6])
    return out


def repairs(px):
    with urllib.request.urlopen(f"http://127.0.0.1:{px.controller}/metrics", timeout=5) as r:
        text = r.read().decode()
    return {kind: int(float(ln.rsplit(" ", 1)[1])) for kind in ("server_added", "server_removed")
            for ln in text.splitlines()
            if ln.startswith(f'portico_drift_repairs_total{{kind="{kind}"}}')}


def test_drift_repaired(launcher):
    echo = launcher.echo({"web": ["127.0.0.1", "127.0.0.2"]})
    m = launcher.manifests()
    m.write("svc.yaml", echo.objects("web"))
    m.write("ing.yaml", ingress("web", [rule("drift.test", path("/", "web"))]))
    px = launcher.portico(m, env={"PORTICO_DRIFT_INTERVAL_MS": "300"})
    px.wait_service("drift.test", "/", "web")
    reloads = px.settle()
    model = servers(px)
    assert len(model) == 2 and not any(model.values()), model
    first = sorted(model)[0]

    # one disabled, one that nothing asked for added and enabled
    assert px.admin(f"disable server {BACKEND}/{first}").strip() == ""
    px.admin(f"add server {BACKEND}/127.0.0.9:1 127.0.0.9:1")
    px.admin(f"enable server {BACKEND}/127.0.0.9:1")
    wait_for(lambda: servers(px) == model, what="the servers as the model has them")
    assert repairs(px) == {"server_added": 1, "server_removed": 1}
    assert "drift: 1 servers missing or disabled, 1 serving that should not: repaired" \
        in px.log_text()
    assert px.settle() == reloads
    seen = {px.get("/", host="drift.test").json["endpoint"].split(":")[0] for _ in range(10)}
    assert seen == {"127.0.0.1", "127.0.0.2"}
