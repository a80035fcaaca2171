"""Leader election against the real kube-apiserver: of three replicas with
--leader-elect one holds the Lease and alone writes Ingress status; all three
serve. A leader stopped with SIGTERM gives the Lease up and another takes it
at once; one killed with SIGKILL is replaced once its Lease expires."""

import os
import signal

from helpers import Portico, ingress, ingress_class, path, rule, wait_for

LEASE_NS = "portico-system"
ADDR = "198.18.0.202"


def apply(cluster, objs):
    cluster.admin.apply(objs)


def delete(cluster, objs):
    cluster.admin.delete_object(objs)


def holder(cluster):
    lease = cluster.admin.get(f"/apis/coordination.k8s.io/v1/namespaces/{LEASE_NS}/leases/"
                              "portico-leader")
    return lease["spec"].get("holderIdentity") or ""


def leaders(replicas):
    return [p for p in replicas if p.proc.poll() is None and "is the leader" in p.log_text()
            and p.log_text().rfind("is the leader") > p.log_text().rfind("no longer the leader")]


def test_one_leader_writes_status_and_hands_over(cluster, pods, portico_bin, tmp_path_factory):
    apply(cluster, [ingress_class("portico")] + pods.objects("one"))
    apply(cluster, [ingress("le-0", [rule("le-0.leader.test", path("/", "one"))])])
    replicas = []
    try:
        for i in range(3):
            px = Portico(portico_bin, None, tmp_path_factory.mktemp(f"le{i}"),
                         extra_args=[f"--kubeconfig={cluster.kubeconfig}", "--leader-elect",
                                     f"--publish-address={ADDR}", "--log-level=debug"],
                         env={"POD_NAME": f"portico-{i}", "POD_NAMESPACE": LEASE_NS})
            px.name = f"portico-{i}"
            replicas.append(px)
        for px in replicas:
            px.wait_ready(timeout=60)
        first = wait_for(lambda: len(leaders(replicas)) == 1 and leaders(replicas)[0],
                         timeout=60, what="one leader")
        assert holder(cluster) == first.name
        wait_for(lambda: cluster.lb_status("le-0") == [{"ip": ADDR}], timeout=30,
                 what="the status written by the leader")
        for px in replicas:
            written = "status written" in px.log_text()
            assert written == (px is first), f"{px.name} wrote status: {written}"
            px.wait_service("le-0.leader.test", "/", "one")

        # SIGTERM: the Lease is given up, another replica takes it at once
        first.proc.send_signal(signal.SIGTERM)
        assert first.proc.wait(30) == 0
        assert "lease released" in first.log_text()
        rest = [p for p in replicas if p is not first]
        second = wait_for(lambda: len(leaders(rest)) == 1 and leaders(rest)[0], timeout=30,
                          what="a new leader after SIGTERM")
        apply(cluster, [ingress("le-1", [rule("le-1.leader.test", path("/", "one"))])])
        wait_for(lambda: cluster.lb_status("le-1") == [{"ip": ADDR}], timeout=30,
                 what="status written by the new leader")
        for px in rest:
            px.wait_service("le-1.leader.test", "/", "one")

        # SIGKILL: nobody gives the Lease up; it is taken once it expires
        second.proc.send_signal(signal.SIGKILL)
        second.proc.wait(10)
        last = [p for p in rest if p is not second]
        wait_for(lambda: len(leaders(last)) == 1, timeout=60,
                 what="the last replica leading once the Lease expired")
        assert holder(cluster) == last[0].name
        apply(cluster, [ingress("le-2", [rule("le-2.leader.test", path("/", "one"))])])
        wait_for(lambda: cluster.lb_status("le-2") == [{"ip": ADDR}], timeout=30,
                 what="status written by the last leader")
        last[0].wait_service("le-0.leader.test", "/", "one")
    finally:
        for px in replicas:
            if px.proc.poll() is None:
                px.proc.terminate()
                px.proc.wait(20)
        delete(cluster, [ingress("le-0", []), ingress("le-1", []), ingress("le-2", [])])


def test_new_leader_records_the_events_of_problems_already_there(cluster, pods, portico_bin,
                                                                  tmp_path_factory):
    """A problem that appeared while a replica followed is recorded as an Event
    once that replica leads: the old leader may have stopped before sending it."""
    broken = ingress("le-broken", [rule("le-broken.leader.test", path("/", "no-such-service"))])
    apply(cluster, [ingress_class("portico")] + pods.objects("one"))
    replicas = []

    def events(instance):
        sel = "involvedObject.name=le-broken,involvedObject.kind=Ingress"
        return [e for e in cluster.admin.get(f"/api/v1/namespaces/default/events?fieldSelector={sel}")
                ["items"] if e.get("reportingInstance") == instance]

    try:
        for i in range(2):
            px = Portico(portico_bin, None, tmp_path_factory.mktemp(f"lev{i}"),
                         extra_args=[f"--kubeconfig={cluster.kubeconfig}", "--leader-elect",
                                     f"--publish-address={ADDR}"],
                         env={"POD_NAME": f"portico-ev{i}", "POD_NAMESPACE": LEASE_NS})
            px.name = f"portico-ev{i}"
            replicas.append(px)
            px.wait_ready(timeout=60)
            if i == 0:
                wait_for(lambda: leaders(replicas) == [px], timeout=30, what="the first leader")
        first, second = replicas
        apply(cluster, [broken])
        wait_for(lambda: events("portico-ev0"), timeout=30, what="the leader's Event")
        assert "no-such-service" in second.log_text()  # the follower saw it too
        assert not events("portico-ev1")
        first.proc.send_signal(signal.SIGTERM)
        assert first.proc.wait(30) == 0
        wait_for(lambda: leaders([second]) == [second], timeout=30, what="the second leader")
        (ev,) = wait_for(lambda: events("portico-ev1"), timeout=30,
                         what="the new leader's Event for the problem it saw as a follower")
        assert ev["type"] == "Warning" and "no-such-service" in ev["message"], ev
    finally:
        for px in replicas:
            if px.proc.poll() is None:
                px.proc.terminate()
                px.proc.wait(20)
        delete(cluster, [broken])


def test_leader_stopped_while_the_api_server_hangs(cluster, pods, portico_bin, tmp_path_factory):
    """The API server does not answer when the leader stops (stopped with
    SIGSTOP): giving the Lease up cannot finish. Portico waits for it a
    while, then exits cleanly, saying so: no leak (the sanitizer build
    reports one in the exit status), no hang."""
    apply(cluster, [ingress_class("portico")] + pods.objects("one"))
    px = Portico(portico_bin, None, tmp_path_factory.mktemp("lehang"),
                 extra_args=[f"--kubeconfig={cluster.kubeconfig}", "--leader-elect"],
                 env={"POD_NAME": "portico-hang", "POD_NAMESPACE": LEASE_NS})
    apiserver = cluster.apiserver_pid()
    try:
        px.wait_ready(timeout=60)
        wait_for(lambda: leaders([px]) == [px], timeout=60, what="the leader")
        os.kill(apiserver, signal.SIGSTOP)
        px.proc.send_signal(signal.SIGTERM)
        assert px.proc.wait(30) == 0, px.log_tail()
        assert "lease not released" in px.log_text()
    finally:
        os.kill(apiserver, signal.SIGCONT)
        if px.proc.poll() is None:
            px.proc.kill()
            px.proc.wait(20)
    # not given up: it runs out on its own, and the next replica takes it then
    assert wait_for(lambda: holder(cluster), what="the API server answering") == "portico-hang"
