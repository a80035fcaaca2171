"""Warning Events against the real kube-apiserver: a problem on an object is
recorded once, as an Event that `kubectl describe` finds (it names the
object's uid), naming the field and the reason."""

from helpers import ingress, ingress_class, path, request, rule, wait_for

NS = "default"


def apply(cluster, objs):
    cluster.admin.apply(objs)


def delete(cluster, objs):
    cluster.admin.delete_object(objs)


def events_of(cluster, name):
    sel = f"involvedObject.name={name},involvedObject.kind=Ingress"
    return cluster.admin.get(f"/api/v1/namespaces/{NS}/events?fieldSelector={sel}")["items"]


def test_problem_recorded_once_as_an_event(cluster, pods, start_portico):
    apply(cluster, [ingress_class("portico")] + pods.objects("one"))
    px = start_portico()
    broken = ingress("ev-broken", [rule("ev.events.test", path("/", "one"),
                                        path("/ghost", "no-such-service"))])
    apply(cluster, [broken])
    px.wait_service("ev.events.test", "/", "one")
    uid = cluster.admin.get(f"/apis/networking.k8s.io/v1/namespaces/{NS}/ingresses/ev-broken")[
        "metadata"]["uid"]
    evs = wait_for(lambda: events_of(cluster, "ev-broken"), timeout=30, what="the Event")
    assert len(evs) == 1, evs
    ev = evs[0]
    assert ev["type"] == "Warning"
    assert ev["reason"] == "Incomplete"
    assert ev["involvedObject"]["uid"] == uid
    assert "spec.rules[0].http.paths[1]" in ev["message"], ev["message"]
    assert "no-such-service" in ev["message"], ev["message"]
    assert ev["reportingComponent"] == "portico.dev/ingress-controller"
    # more passes: the same problem is not recorded again
    for i in range(3):
        apply(cluster, [ingress(f"ev-other{i}", [rule(f"o{i}.events.test", path("/", "one"))])])
        px.wait_service(f"o{i}.events.test", "/", "one")
    assert len(events_of(cluster, "ev-broken")) == 1
    assert 'portico_events_total{result="success"} 1' in \
        request(px.controller, "/metrics", host="127.0.0.1").body.decode()
    delete(cluster, [broken] + [ingress(f"ev-other{i}", []) for i in range(3)])
