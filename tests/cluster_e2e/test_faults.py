"""API requests whose answer is lost (PORTICO_FAULT_AT=api:N: the N-th request
to the real kube-apiserver fails as on a connection closed before the answer).
Whichever request it is (the list or the watch of a kind, a Secret's data, an
Ingress status), Portico tries it again, serves every route, applies the
changes made after it, publishes the status, and exits cleanly: the sanitizer
build the tests run reports a leak in the exit status."""

import pytest

from helpers import ingress, ingress_class, path, rule, tls_secret, wait_for

NS = "default"
ADDR = "198.18.0.201"


def apply(cluster, objs):
    cluster.admin.apply(objs)


def delete(cluster, objs):
    cluster.admin.delete_object(objs)


# Requests 1-6 list the kinds (1 Ingresses, 6 Secrets), 7-12 watch them, 13
# and 14 write the two Ingresses' status
@pytest.mark.parametrize("n", [1, 4, 6, 9, 12, 13, 14])
def test_lost_api_answer_is_tried_again(cluster, pods, certs, start_portico, n):
    cert = certs.get("fault.cluster.test")
    objs = [ingress_class("portico"), tls_secret("fault", cert),
            ingress("fault", [rule("fault.cluster.test", path("/", "one"))],
                    tls=[{"hosts": ["fault.cluster.test"], "secretName": "fault"}])]
    apply(cluster, pods.objects("one") + pods.objects("two") + objs)
    px = start_portico(ready=False, extra=[f"--publish-address={ADDR}", "--log-level=debug"],
                       env={"PORTICO_FAULT_AT": f"api:{n}"})
    px.wait_ready(timeout=60)
    px.wait_service("fault.cluster.test", "/", "one", scheme="https", timeout=30)
    # a change after the fault is applied, and the status is published
    apply(cluster, [ingress("fault-after", [rule("after.fault.test", path("/", "two"))])])
    px.wait_service("after.fault.test", "/", "two", timeout=30)
    for name in ("fault", "fault-after"):
        wait_for(lambda: cluster.lb_status(name) == [{"ip": ADDR}], timeout=30,
                 what=f"the status of {name} published")
    assert f"pass {n} through api fails now" in px.log_text()
    assert px.stop() == 0, "exit status (the sanitizer build reports leaks in it)"
    delete(cluster, [ingress("fault-after", [])] + objs[1:])
