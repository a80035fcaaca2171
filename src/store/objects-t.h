/* SPDX-License-Identifier: Apache-2.0 */
/* Kubernetes objects as Portico keeps them: only the fields routing needs,
 * decoded once at the edge (kube/decode.c) and shared by every source. */
#ifndef SRC_STORE_OBJECTS_T_H
#define SRC_STORE_OBJECTS_T_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum k8s_kind {
    K8S_INGRESS = 0,
    K8S_INGRESS_CLASS,
    K8S_SERVICE,
    K8S_ENDPOINT_SLICE,
    K8S_SECRET,
    K8S_CONFIGMAP,
    K8S_NAMESPACE,
    K8S_KIND_COUNT, /* number of kinds */
};

struct k8s_kv {
    char *key;
    char *val;
};

/* Counts are 32 bits or less and fields ordered to leave no padding: a
 * store holds tens of thousands of these, and every 8 bytes is a quarter MiB
 * at 30,000. */
struct k8s_meta {
    char *ns;                     /* "" for cluster-scoped objects */
    char *key;                    /* "ns/name" ("/name" cluster-scoped): the store's key;
                                   * the name is its end (k8s_name()) */
    struct k8s_kv *annotations;   /* sorted by key, n_annotations of them */
};

/* Common head of every object; must be the first member. Its small fields
 * share its first 8 bytes. No content hash: whether an update changes
 * anything is found by comparing the objects (k8s_obj_same()). */
struct k8s_obj {
    uint8_t kind;                 /* enum k8s_kind */
    uint8_t flags;                /* K8S_F_* */
    uint16_t n_annotations;       /* of meta.annotations */
    uint32_t created;             /* creationTimestamp, unix seconds (to 2106); 0 when absent */
    struct k8s_meta meta;
};

#define K8S_F_PACKED 0x1u   /* one allocation with all it points to (k8s_obj_pack) */
#define K8S_F_DELETING 0x2u /* metadata.deletionTimestamp is set: on its way out */

enum k8s_path_type {
    K8S_PATH_EXACT = 0,
    K8S_PATH_PREFIX,
    K8S_PATH_IMPL,                /* ImplementationSpecific */
};

struct k8s_ingress_backend {
    char *svc;                    /* service.name; NULL: a backend.resource (unsupported) */
    char *port_name;              /* service.port.name, or NULL */
    int32_t port_num;             /* service.port.number, or 0 */
};

/* The fields of its backend in line, the type where the backend's padding
 * would be: 32 bytes, not 40 (k8s_path_backend() gives the backend). */
struct k8s_ingress_path {
    char *path;                   /* "" when absent */
    char *svc;                    /* as in struct k8s_ingress_backend */
    char *port_name;
    int32_t port_num;
    uint8_t type;                 /* enum k8s_path_type */
};

struct k8s_ingress_rule {
    char *host;                   /* NULL: rule without host */
    struct k8s_ingress_path *paths;
    uint32_t n_paths;
};

struct k8s_ingress_tls {
    char **hosts;
    char *secret;                 /* NULL when absent */
    uint32_t n_hosts;
};

struct k8s_ingress {
    struct k8s_obj obj;
    char *class_name;             /* spec.ingressClassName, or NULL */
    struct k8s_ingress_backend *default_backend; /* spec.defaultBackend, or NULL */
    struct k8s_ingress_rule *rules;
    struct k8s_ingress_tls *tls;
    uint32_t n_rules;
    uint32_t n_tls;
    uint32_t lb_status;           /* k8s_lb_hash() of status.loadBalancer.ingress: what
                                   * Portico would write there is compared with it; not
                                   * a change for a build (k8s_obj_same()) */
};

/* An entry of status.loadBalancer.ingress. */
struct k8s_lb_addr {
    const char *ip;               /* "" when absent */
    const char *hostname;         /* "" when absent */
};

struct k8s_ingress_class {
    struct k8s_obj obj;
    char *controller;             /* spec.controller */
};

/* A Service and an EndpointSlice keep only what a build reads: the
 * EndpointSlices carry where a port leads (targetPort), and routing does not
 * depend on a port's protocol. */
struct k8s_service_port {
    char *name;                   /* "" when unnamed */
    int32_t port;
};

struct k8s_service {
    struct k8s_obj obj;
    struct k8s_service_port *ports;
    uint32_t n_ports;
    bool external_name;           /* spec.type ExternalName: a name, no endpoints */
};

struct k8s_slice_port {
    char *name;                   /* "" when unnamed */
    int32_t port;                 /* 0 when absent */
};

enum k8s_addr_type {
    K8S_ADDR_IPV4 = 0,
    K8S_ADDR_IPV6,
    K8S_ADDR_FQDN,
};

/* Bytes of an address of the type in binary: 4, 16, or none for names. */
#define K8S_ADDR_LEN(t) ((t) == K8S_ADDR_IPV4 ? 4 : (t) == K8S_ADDR_IPV6 ? 16 : 0)

/* 8 bytes, its addresses in the slice's array: 50,000 of them at the
 * scale Portico is measured at, where a pointer each to its own was 20 bytes
 * an IPv4 endpoint, not 12. */
struct k8s_endpoint {
    uint32_t addr_at;             /* its first address in the slice's addrs */
    uint8_t n_addresses;          /* the API allows 100 */
    bool ready;                   /* nil is true */
    bool serving;                 /* nil follows ready */
    bool terminating;             /* nil is false */
};

struct k8s_endpoint_slice {
    struct k8s_obj obj;
    char *service;                /* label kubernetes.io/service-name, or NULL (the only
                                   * label Portico reads: labels are not kept) */
    struct k8s_slice_port *ports;
    struct k8s_endpoint *endpoints;
    unsigned char *addrs;         /* the endpoints' addresses, one after the other, in
                                   * binary (K8S_ADDR_LEN() bytes each, network order);
                                   * text that is no such address is left out, as are
                                   * the names of an FQDN slice (NULL) */
    uint32_t n_endpoints;
    uint16_t n_ports;             /* the API allows 100 */
    uint8_t addr_type;            /* enum k8s_addr_type */
};

struct k8s_secret {
    struct k8s_obj obj;
    char *type;
    unsigned char *crt;           /* tls.crt bytes, or NULL */
    size_t crt_len;
    unsigned char *key;           /* tls.key bytes, or NULL */
    size_t key_len;
    unsigned char *ca;            /* ca.crt bytes, or NULL */
    size_t ca_len;
    struct k8s_kv *users;         /* basic authentication entries, sorted by key: "auth"
                                   * (an htpasswd file), or user -> crypt(3) hash; only
                                   * short text values are kept (decode.c) */
    uint64_t data_hash;           /* of tls.crt and tls.key, kept when they are dropped:
                                   * the parsed form's id (a rotation changes it) */
    uint32_t n_users;
    bool data_dropped;            /* crt, key, ca and users left out: nothing referenced it */
};

struct k8s_configmap {
    struct k8s_obj obj;
    struct k8s_kv *data;          /* sorted by key */
    uint32_t n_data;
};
/* A Namespace: only whether it is being deleted (status.phase Terminating,
 * or obj.flags K8S_F_DELETING). */
struct k8s_namespace {
    struct k8s_obj obj;
    bool terminating;
};
#endif
