"""Changes under load (issue 20 item 6, design.md section 4): endpoints
scaled and rolled, hundreds of routes added, and a new backend, while our own
keep-alive client sends at least 200 requests a second through HAProxy to the
echo backends. Every request is checked; endpoint and route changes must not
reload HAProxy (counted from the log and from the master's own counter), a
new backend reloads it exactly once, and a WebSocket and an idle keep-alive
connection opened before that reload still work after it."""

import json
import select
import socket
import threading
import time
from dataclasses import dataclass

from helpers import (LOOPBACK, Manifests, WebSocket, _read_response, endpoint, endpoint_slice, ingress,
                     path, rule, service, wait_for)

RATE = 250        # requests a second, all connections together
CONNS = 10        # keep-alive connections of the load
HANG = 30.0       # hang guard for any wait below
STEADY = 150      # requests checked after each change has converged


@dataclass
class Result:
    phase0: str      # phase when the request was sent
    phase1: str      # phase when its answer (or error) came
    host: str
    path: str
    want: str        # the echo service that must answer
    status: int = 0
    service: str = None
    endpoint: str = None
    echoed_path: str = None
    error: str = None
    closed: bool = False  # the answer said "Connection: close"


class Load:
    """CONNS threads, each one keep-alive connection to HAProxy, paced to RATE
    requests a second in all, round robin over <routes> [(host, path,
    service)], which may grow while it runs. A connection the proxy closed
    while idle is noticed before the next request (as curl does) and counted
    in closed_idle; any other close, error or timeout is a failed request."""

    def __init__(self, port, routes):
        self.port = port
        self.routes = list(routes)
        self.phase = "start"
        self.results = []
        self.closed_idle = 0
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(k,), daemon=True) for k in range(CONNS)]
        self.started = None

    def __enter__(self):
        self.started = time.monotonic()
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        if not self.stopping.is_set():
            self.stopping.set()
            for t in self.threads:
                t.join(HANG)
            self.elapsed = time.monotonic() - self.started
        return self

    def rate(self):
        return len(self.results) / self.elapsed

    def _run(self, k):
        interval = CONNS / RATE
        next_at = time.monotonic() + k * interval / CONNS
        sock = rfile = None
        i = k
        while not self.stopping.is_set():
            now = time.monotonic()
            if next_at > now:
                time.sleep(next_at - now)
            next_at = max(next_at + interval, time.monotonic() - 1.0)
            host, p, want = self.routes[i % len(self.routes)]
            i += CONNS
            if sock is not None and select.select([sock], [], [], 0)[0]:
                # readable while idle: the proxy closed it (an answer cannot be pending)
                self.closed_idle += 1
                rfile.close()
                sock.close()
                sock = None
            r = Result(self.phase, None, host, p, want)
            try:
                if sock is None:
                    sock = socket.create_connection((LOOPBACK, self.port), timeout=HANG)
                    rfile = sock.makefile("rb")
                sock.sendall(f"GET {p} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
                resp = _read_response(rfile, "GET")
                r.status = resp.status
                if resp.header("X-Echo-Service") is not None and resp.status == 200:
                    body = resp.json
                    r.service, r.endpoint, r.echoed_path = body["service"], resp.endpoint, body["path"]
                r.closed = "close" in (resp.header("Connection") or "").lower()
                if r.closed:
                    rfile.close()
                    sock.close()
                    sock = None
            except (OSError, ValueError, KeyError, IndexError) as e:
                r.error = f"{type(e).__name__}: {e}"
                if sock is not None:
                    rfile.close()
                    sock.close()
                sock = None
            r.phase1 = self.phase
            self.results.append(r)
        if sock is not None:
            rfile.close()
            sock.close()

    # -- waiting on the traffic itself, never on the clock
    def wait_count(self, n, what):
        start = len(self.results)
        wait_for(lambda: len(self.results) >= start + n, timeout=HANG, what=what)

    def since(self, mark):
        return self.results[mark:]


def failures(results, ok=lambda r: False):
    """Requests that failed: errors, or anything but a 200 from the wanted
    service for the path asked, unless ok(r) allows it."""
    return [r for r in results
            if (r.error or r.status != 200 or r.service != r.want or r.echoed_path != r.path) and not ok(r)]


def fmt(rs, n=10):
    return f"{len(rs)}: {rs[:n]}"


def write_json(m, name, objs):
    """A manifest written as JSON text (YAML's superset: Portico reads it), far
    faster than PyYAML for the big Ingresses of the route test; the API
    server bridge gets the objects."""
    if isinstance(m, Manifests):
        m.write(name + ".json", json.dumps(objs))
    else:
        m.write(name + ".json", objs)


def no_reload_marks(px):
    return px.reload_count(), px.master_reloads(), px.worker_pids()


def assert_no_reload(px, marks):
    log, master, workers = marks
    assert px.settle() == log, f"{px.reload_count() - log} reload(s) logged"
    assert px.master_reloads() == master, px.master("show proc")
    assert px.worker_pids() == workers, "a new HAProxy worker: a reload"


# --------------------------------------------------------------------------- endpoints

def test_scale_and_roll_endpoints_under_load(launcher):
    """1 -> 50 endpoints, all 50 replaced twice, 0, then 3 new ones: no
    failed request (503 only while there is no endpoint), no reload, and
    every endpoint of each step answers, no other once the step converged."""
    addrs = [f"127.0.0.{i}" for i in range(2, 2 + 153)]
    echo = launcher.echo({"load": addrs})
    port = echo.port("load")
    steps = [("one", addrs[:1]), ("fifty", addrs[:50]), ("roll1", addrs[50:100]),
             ("roll2", addrs[100:150]), ("zero", []), ("three", addrs[150:153])]
    m = launcher.manifests()

    def write_endpoints(addrs):
        m.write("load.yaml", [service("load"),
                              endpoint_slice("load", [endpoint(a) for a in addrs], [("http", port)])])

    write_endpoints(steps[0][1])
    m.write("ing.yaml", ingress("load", [rule("load.test", path("/", "load"))]))
    px = launcher.portico(m)
    px.wait_service("load.test", "/", "load")
    marks = no_reload_marks(px)
    prev = {f"{addrs[0]}:{port}"}
    allowed = {"start": prev}  # phase -> endpoints that may answer in it
    with Load(px.http, [("load.test", "/", "load")]) as load:
        for name, step in steps:
            new = {f"{a}:{port}" for a in step}
            mark = len(load.results)
            load.phase = f"to-{name}"
            allowed[load.phase] = prev | new
            write_endpoints(step)
            if new:
                # converged: each new endpoint answered, and the last answers came from them only
                def converged():
                    rs = load.since(mark)
                    seen = {r.endpoint for r in rs}
                    return new <= seen and all(r.endpoint in new for r in rs[-2 * len(new) - 20:])
            else:
                def converged():
                    rs = load.since(mark)
                    return len(rs) > 20 and all(r.status == 503 for r in rs[-20:])
            wait_for(converged, timeout=HANG, what=f"{name}: traffic on exactly {len(new)} endpoints")
            load.phase = name
            allowed[name] = new
            # steady: every endpoint of the step keeps serving requests sent after convergence
            mark = len(load.results)
            wait_for(lambda: len(load.since(mark)) >= STEADY
                     and new <= {r.endpoint for r in load.since(mark)},
                     timeout=HANG, what=f"{name}: {STEADY} requests, on each of its endpoints")
            prev = new
    print(f"scale: {len(load.results)} requests at {load.rate():.0f}/s")

    # a 503 only where no endpoint existed; an answer only from the endpoints of its phase
    def no_endpoint(r):
        # sent or answered between the write of 0 endpoints and the convergence on 3
        window = ("to-zero", "zero", "to-three")
        return r.status == 503 and not r.error and (r.phase0 in window or r.phase1 in window)
    assert not failures(load.results, no_endpoint), fmt(failures(load.results, no_endpoint))
    stray = [r for r in load.results if r.status == 200
             and not (r.endpoint in allowed[r.phase0] or r.endpoint in allowed[r.phase1])]
    assert not stray, f"answered by an endpoint outside its step: {fmt(stray)}"
    assert load.closed_idle == 0, f"{load.closed_idle} keep-alive connections closed by the proxy"
    assert_no_reload(px, marks)


# --------------------------------------------------------------------------- routes

N_PATHS = 700
N_HOSTS = 200


def test_routes_added_one_by_one_under_load(launcher):
    """700 paths added one at a time to one Ingress, then 200 hosts as 200
    new Ingresses, all on the two existing backends: each new route is served
    (and stays served: the load asks every route added so far), no request
    fails, no reload."""
    echo = launcher.echo({"web": ["127.0.0.2"], "api": ["127.0.0.3"]})
    m = launcher.manifests()
    m.write("services.yaml", echo.objects("web") + echo.objects("api"))
    m.write("base.yaml", ingress("base", [rule("routes.test", path("/", "web")),
                                          rule("api.routes.test", path("/", "api"))]))
    px = launcher.portico(m)
    px.wait_service("api.routes.test", "/", "api")
    marks = no_reload_marks(px)

    def served(host, p, svc):
        # a fresh connection, so a route shows as soon as HAProxy has it
        wait_for(lambda: (r := px.get(p, host=host)).service == svc and r.json["path"] == p,
                 timeout=HANG, what=f"http://{host}{p} -> {svc}")

    with Load(px.http, [("routes.test", "/", "web"), ("api.routes.test", "/", "api")]) as load:
        paths = []
        for i in range(N_PATHS):
            # Exact, so that "/" (web) answers a path until it is routed to api
            route = ("routes.test", f"/p/{i}", "api" if i % 2 else "web")
            paths.append(path(route[1], route[2], "Exact"))
            write_json(m, "paths", ingress("paths", [rule("routes.test", *paths)]))
            served(*route)
            load.routes.append(route)
        for j in range(N_HOSTS):
            route = (f"h{j}.routes.test", "/", "api" if j % 2 else "web")
            write_json(m, f"host-{j}", ingress(f"host-{j}", [rule(route[0], path("/", route[2]))]))
            served(*route)
            load.routes.append(route)
        load.wait_count(2 * len(load.routes), "every route asked again")
    print(f"routes: {len(load.results)} requests at {load.rate():.0f}/s")

    assert not failures(load.results), fmt(failures(load.results))
    asked = {(r.host, r.path) for r in load.results}
    assert asked == {(h, p) for h, p, _ in load.routes}, "a route the load never asked"
    assert load.closed_idle == 0, f"{load.closed_idle} keep-alive connections closed by the proxy"
    assert_no_reload(px, marks)


# --------------------------------------------------------------------------- a reload

def test_new_backend_under_load_one_reload(launcher):
    """A new Service and its Ingress (a new backend) under load: exactly one
    reload, no failed request, and a WebSocket and an idle keep-alive
    connection opened before it still work after it (the old worker keeps
    them: master-worker socket passing, hard-stop-after)."""
    echo = launcher.echo({"web": ["127.0.0.2", "127.0.0.3"], "fresh": ["127.0.0.4"]})
    m = launcher.manifests()
    m.write("web.yaml", echo.objects("web"))
    m.write("web-ing.yaml", ingress("web", [rule("reload.test", path("/", "web"))]))
    px = launcher.portico(m)
    px.wait_service("reload.test", "/", "web")
    log0, master0, workers0 = px.settle(), px.master_reloads(), px.worker_pids()

    ws = WebSocket(px.http, "reload.test", "/ws")
    assert ws.response.header("X-Echo-Service") == "web"
    ws.send_text("before")
    assert ws.recv_text() == "before"
    idle = socket.create_connection((LOOPBACK, px.http), timeout=HANG)
    idle_r = idle.makefile("rb")
    idle.sendall(b"GET /idle HTTP/1.1\r\nHost: reload.test\r\n\r\n")
    assert _read_response(idle_r, "GET").status == 200

    with Load(px.http, [("reload.test", "/", "web")]) as load:
        load.wait_count(STEADY, "load before the change")
        load.phase = "change"
        m.write("fresh.yaml", [*echo.objects("fresh"),
                               ingress("fresh", [rule("fresh.test", path("/", "fresh"))])])
        px.wait_service("fresh.test", "/", "fresh", timeout=HANG)
        load.routes.append(("fresh.test", "/", "fresh"))
        wait_for(lambda: px.master_reloads() == master0 + 1 and px.worker_pids() - workers0,
                 timeout=HANG, what="the reload confirmed by the master, a new worker")
        load.phase = "after"
        load.wait_count(STEADY, "load after the reload")
    print(f"reload: {len(load.results)} requests at {load.rate():.0f}/s, "
          f"{load.closed_idle} connections closed while idle")

    # the WebSocket, opened before the reload, still carries frames both ways
    for text in ("after", "x" * 200):
        ws.send_text(text)
        assert ws.recv_text() == text
    ws.close()
    # so does the idle keep-alive connection: the old worker answers once more, and closes it
    idle.sendall(b"GET /idle-after HTTP/1.1\r\nHost: reload.test\r\n\r\n")
    r = _read_response(idle_r, "GET")
    assert r.status == 200 and r.json["path"] == "/idle-after", r
    assert r.header("Connection") == "close", "answered by the new worker: the connection did not span the reload"
    idle_r.close()
    idle.close()

    # An old connection's next request goes to the old worker, which answers it
    # with the old configuration and "Connection: close": the new host is not
    # there yet. Once per connection at most; every other request succeeds.
    def old_worker_last(r):
        return r.host == "fresh.test" and r.status == 404 and r.closed and not r.error
    assert not failures(load.results, old_worker_last), fmt(failures(load.results, old_worker_last))
    assert len([r for r in load.results if old_worker_last(r)]) <= CONNS
    # the old worker closed no idle connection: each was ended after an answer
    assert load.closed_idle == 0, f"{load.closed_idle} keep-alive connections closed while idle"
    assert any(r.service == "fresh" for r in load.results), "the new backend under load"
    assert px.settle() == log0 + 1, "one reload logged"
    assert px.master_reloads() == master0 + 1, px.master("show proc")
