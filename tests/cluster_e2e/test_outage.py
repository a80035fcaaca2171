"""API server outages against the real kube-apiserver: while it is down the
whole controller probes it once a second (not each informer on its own
backoff), the outage is logged once when it begins and once when it ends, and
changes made once it answers are served, a second outage soon after the first
included (no backoff grown by the first)."""

import os
import re
import signal
import time

from helpers import ingress, path, rule

NS = "default"
OUTAGE_S = 6


def apply(cluster, objs):
    cluster.admin.apply(objs)


def delete(cluster, objs):
    cluster.admin.delete_object(objs)


def probes(px):
    return len(re.findall(r'msg="GET [^ ]*/readyz: ', px.log_text()))


def own_backoffs(px):
    """Retries of an informer on its own backoff, but those for a refusal: a
    restarted API server can answer /readyz a moment before its authorizer
    has caught up, and refuse a watch (403) for that moment."""
    return sum(1 for ln in px.log_text().splitlines()
               if "retrying in" in ln and "forbidden" not in ln and "Unauthorized" not in ln)


def test_outages_probed_once_a_second_and_logged_once(cluster, pods, start_portico):
    from helpers import ingress_class

    apply(cluster, [ingress_class("portico")] + pods.objects("one") + pods.objects("two"))
    px = start_portico(extra=["--log-level=debug"])
    apply(cluster, [ingress("steady", [rule("steady.outage.test", path("/", "one"))])])
    px.wait_service("steady.outage.test", "/", "one", timeout=30)
    for n in range(2):
        before_probes = probes(px)
        before_retries = own_backoffs(px)
        os.kill(cluster.apiserver_pid(), signal.SIGKILL)
        down = time.monotonic()
        time.sleep(OUTAGE_S)
        assert px.get("/", host="steady.outage.test").service == "one", \
            "HAProxy keeps serving while the API server is down"
        cluster.sh("restart-apiserver", timeout=120)
        outage = time.monotonic() - down
        host = f"after{n}.outage.test"
        apply(cluster, [ingress(f"after{n}", [rule(host, path("/", "two"))])])
        # a hang guard, far above the figure bench/outage_recovery.py measures
        px.wait_service(host, "/", "two", timeout=60)
        text = px.log_text()
        assert text.count("API server unavailable") == n + 1, "one line when an outage begins"
        assert text.count("API server answers again") == n + 1, "one line when it ends"
        # every informer waited for the probe: none backed off on its own
        assert own_backoffs(px) == before_retries
        # the probes: at most one a second, the whole controller together
        sent = probes(px) - before_probes
        assert 1 <= sent <= outage + 3, f"{sent} probes for an outage of {outage:.0f} s"
    assert px.get("/", host="steady.outage.test").service == "one"
    delete(cluster, [ingress("steady", []), ingress("after0", []), ingress("after1", [])])
