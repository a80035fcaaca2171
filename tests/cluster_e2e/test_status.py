"""Ingress status against the real kube-apiserver: --publish-address and
--publish-service fill status.loadBalancer.ingress of the Ingresses Portico
serves, and clear it from those it stops serving; Ingresses of other classes
keep theirs."""

from helpers import ingress, ingress_class, path, rule, service, wait_for

NS = "default"


def apply(cluster, objs):
    cluster.admin.apply(objs)


def delete(cluster, objs):
    cluster.admin.delete_object(objs)


def test_publish_address_written_and_cleared(cluster, pods, start_portico):
    apply(cluster, [ingress_class("portico"), ingress_class("other", controller="example.com/other")]
          + pods.objects("one"))
    ours = ingress("st-ours", [rule("st-ours.status.test", path("/", "one"))])
    theirs = ingress("st-theirs", [rule("st-theirs.status.test", path("/", "one"))], cls="other")
    apply(cluster, [ours, theirs])
    px = start_portico(extra=["--publish-address=198.18.0.200"])
    wait_for(lambda: cluster.lb_status("st-ours") == [{"ip": "198.18.0.200"}], timeout=30,
             what="the published address in the status of an Ingress Portico serves")
    # another controller's status is left alone
    cluster.admin.patch(f"/apis/networking.k8s.io/v1/namespaces/{NS}/ingresses/st-theirs/status",
                        {"status": {"loadBalancer": {"ingress": [{"hostname": "lb.example.com"}]}}})
    # no longer ours: cleared
    apply(cluster, [ingress("st-ours", [rule("st-ours.status.test", path("/", "one"))], cls="other")])
    wait_for(lambda: cluster.lb_status("st-ours") == [], timeout=30,
             what="the status cleared once the Ingress is another class's")
    assert cluster.lb_status("st-theirs") == [{"hostname": "lb.example.com"}]
    # ours again; a status someone else overwrote is put back
    apply(cluster, [ours])
    wait_for(lambda: cluster.lb_status("st-ours") == [{"ip": "198.18.0.200"}], timeout=30,
             what="the status written again")
    cluster.admin.patch(f"/apis/networking.k8s.io/v1/namespaces/{NS}/ingresses/st-ours/status",
                        {"status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}]}}})
    wait_for(lambda: cluster.lb_status("st-ours") == [{"ip": "198.18.0.200"}], timeout=30,
             what="an overwritten status repaired")
    assert "cannot write the status" not in px.log_text()
    delete(cluster, [ours, theirs])


def test_publish_service_cluster_ip_and_hostname(cluster, pods, start_portico):
    lb = service("portico-lb", [{"name": "http", "port": 80, "targetPort": 8080}])
    apply(cluster, [ingress_class("portico"), lb] + pods.objects("one"))
    svc = cluster.admin.get(f"/api/v1/namespaces/{NS}/services/portico-lb")
    cluster_ip = svc["spec"]["clusterIP"]
    ours = ingress("st-svc", [rule("st-svc.status.test", path("/", "one"))])
    apply(cluster, [ours])
    start_portico(extra=[f"--publish-service={NS}/portico-lb"])
    wait_for(lambda: cluster.lb_status("st-svc") == [{"ip": cluster_ip}], timeout=30,
             what="the Service's cluster IP in the Ingress status")
    delete(cluster, [ours, lb])


def test_publish_hostname(cluster, pods, start_portico):
    apply(cluster, [ingress_class("portico")] + pods.objects("one"))
    ours = ingress("st-host", [rule("st-host.status.test", path("/", "one"))])
    apply(cluster, [ours])
    start_portico(extra=["--publish-address=ingress.example.com"])
    wait_for(lambda: cluster.lb_status("st-host") == [{"hostname": "ingress.example.com"}],
             timeout=30, what="the published host name in the Ingress status")
    delete(cluster, [ours])
