/* SPDX-License-Identifier: Apache-2.0 */
/* The addresses a Service publishes Ingresses with: kube/lbstatus.h. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "kube/lbstatus.h"
#include "testutil.h"

static size_t addrs(const char *json, struct k8s_lb_addr *a, size_t max, json_t **keep)
{
    *keep = tu_json(json);
    return kube_lb_from_service(*keep, a, max);
}

static void test_service_types(void **state)
{
    struct k8s_lb_addr a[8];
    json_t *j;

    (void)state;
    /* ClusterIP and NodePort: the cluster IP, unless external IPs are set */
    assert_int_equal(addrs("{\"spec\": {\"type\": \"ClusterIP\", \"clusterIP\": \"10.96.0.7\"}}",
                           a, 8, &j), 1);
    assert_string_equal(a[0].ip, "10.96.0.7");
    assert_string_equal(a[0].hostname, "");
    json_decref(j);
    assert_int_equal(addrs("{\"spec\": {\"type\": \"NodePort\", \"clusterIP\": \"10.96.0.7\", "
                           "\"externalIPs\": [\"192.0.2.1\", \"192.0.2.2\"]}}", a, 8, &j), 2);
    assert_string_equal(a[0].ip, "192.0.2.1");
    assert_string_equal(a[1].ip, "192.0.2.2");
    json_decref(j);
    /* headless: nothing to publish */
    assert_int_equal(addrs("{\"spec\": {\"clusterIP\": \"None\"}}", a, 8, &j), 0);
    json_decref(j);
    /* LoadBalancer: its load balancer's addresses, then external IPs */
    assert_int_equal(addrs("{\"spec\": {\"type\": \"LoadBalancer\", \"clusterIP\": \"10.96.0.7\", "
                           "\"externalIPs\": [\"192.0.2.9\"]}, \"status\": {\"loadBalancer\": "
                           "{\"ingress\": [{\"ip\": \"203.0.113.5\"}, {\"hostname\": "
                           "\"lb.example.com\"}, {}]}}}", a, 8, &j), 3);
    assert_string_equal(a[0].ip, "203.0.113.5");
    assert_string_equal(a[1].hostname, "lb.example.com");
    assert_string_equal(a[1].ip, "");
    assert_string_equal(a[2].ip, "192.0.2.9");
    json_decref(j);
    /* a LoadBalancer without its address yet falls back to the cluster IP */
    assert_int_equal(addrs("{\"spec\": {\"type\": \"LoadBalancer\", \"clusterIP\": \"10.96.0.7\"},"
                           " \"status\": {\"loadBalancer\": {}}}", a, 8, &j), 1);
    assert_string_equal(a[0].ip, "10.96.0.7");
    json_decref(j);
    /* ExternalName: its name */
    assert_int_equal(addrs("{\"spec\": {\"type\": \"ExternalName\", \"externalName\": "
                           "\"ingress.example.com\"}}", a, 8, &j), 1);
    assert_string_equal(a[0].hostname, "ingress.example.com");
    json_decref(j);
    /* at most <max>; garbage is no address */
    assert_int_equal(addrs("{\"spec\": {\"externalIPs\": [\"192.0.2.1\", 7, \"192.0.2.2\", "
                           "\"192.0.2.3\"]}}", a, 2, &j), 2);
    assert_string_equal(a[1].ip, "192.0.2.2");
    json_decref(j);
    assert_int_equal(addrs("{\"spec\": 5}", a, 8, &j), 0);
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_service_types),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
