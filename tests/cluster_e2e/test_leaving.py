"""Objects on their way out, against the real kube-apiserver: an Ingress
being deleted, or in a namespace being deleted, wins no conflict, so that the
next candidate serves at once. Nothing runs the namespace controller here,
so a deleted namespace stays Terminating with its objects, and a finalizer
keeps an Ingress being deleted: the in-between state lasts as long as the
test needs."""

import time

from helpers import backend, ingress, ingress_class, meta, path, rule, wait_for

FINALIZER = "example.com/hold"
OLD_PATH = "/apis/networking.k8s.io/v1/namespaces/default/ingresses/claim-old"


def apply(cluster, objs):
    cluster.admin.apply(objs)


def namespace(name):
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta(name, ns=None)}


def test_catch_all_of_a_namespace_being_deleted_gives_way(cluster, pods, start_portico):
    """The blue/green pattern (and the conformance suite's default-backend
    scenarios): the old namespace's catch-all is replaced by a new one's."""
    apply(cluster, [ingress_class("portico"), namespace("blue"), namespace("green")]
          + pods.objects("one", ns="blue") + pods.objects("two", ns="green"))
    px = start_portico()
    try:
        apply(cluster, [ingress("catch", [], ns="blue", default_backend=backend("one"))])
        px.wait_service("anything.leaving.test", "/", "one")
        time.sleep(1.1)  # creation times have a one-second resolution: green is newer
        apply(cluster, [ingress("catch", [], ns="green", default_backend=backend("two"))])
        # the oldest catch-all wins while both live
        for _ in range(3):
            assert px.get("/", host="anything.leaving.test").service == "one"
        cluster.admin.delete("/api/v1/namespaces/blue")
        # a hang guard: the change is applied in milliseconds
        px.wait_service("anything.leaving.test", "/", "two", timeout=30)
        # blue's Ingress still exists, in a namespace being deleted
        ns = cluster.admin.get("/api/v1/namespaces/blue")
        assert ns["status"]["phase"] == "Terminating"
        cluster.admin.get("/apis/networking.k8s.io/v1/namespaces/blue/ingresses/catch")
        assert "takes it over: this Ingress is being deleted" in px.log_text()
    finally:
        # what the namespace controller would do: the other tests share this
        # API server, and a catch-all left here would answer their 404s
        cluster.admin.delete_object([ingress("catch", [], ns="green"),
                                     ingress("catch", [], ns="blue")]
                                    + pods.objects("one", ns="blue")
                                    + pods.objects("two", ns="green"))


def test_path_of_an_ingress_being_deleted_goes_to_the_next_claim(cluster, pods, start_portico):
    apply(cluster, [ingress_class("portico")] + pods.objects("one") + pods.objects("two"))
    px = start_portico()
    old = ingress("claim-old", [rule("claim.leaving.test", path("/", "one"),
                                     path("/own", "one", "Exact"))])
    old["metadata"]["finalizers"] = [FINALIZER]
    apply(cluster, [old])
    try:
        claim_over(cluster, px, old)
    finally:
        # whatever happened: no finalizer, no Ingress left for the other tests
        cluster.admin.request("PATCH", OLD_PATH, {"metadata": {"finalizers": None}},
                              content_type="application/merge-patch+json")
        cluster.admin.delete_object([ingress("claim-old", []), ingress("claim-new", [])])


def claim_over(cluster, px, old):
    px.wait_service("claim.leaving.test", "/", "one")
    time.sleep(1.1)
    apply(cluster, [ingress("claim-new", [rule("claim.leaving.test", path("/", "two"))])])
    for _ in range(3):
        assert px.get("/", host="claim.leaving.test").service == "one"
    cluster.admin.delete_object([old])
    px.wait_service("claim.leaving.test", "/", "two", timeout=30)
    # what only the old Ingress defines keeps serving until it is gone
    assert px.get("/own", host="claim.leaving.test").service == "one"
    got = cluster.admin.get(OLD_PATH)
    assert got["metadata"].get("deletionTimestamp")
    # the finalizer removed, it goes: nothing changes for the new claim
    cluster.admin.patch(OLD_PATH, {"metadata": {"finalizers": None}})
    wait_for(lambda: px.get("/own", host="claim.leaving.test").service != "one", timeout=30,
             what="the old Ingress's own path gone with it")
    assert px.get("/", host="claim.leaving.test").service == "two"
