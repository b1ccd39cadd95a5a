/*
 * mesh_side.c - what one span says about its side of a request, in the terms
 * of Istio's standard metrics (implements the ml_mesh_side_* half of
 * aggregate/istio.h).
 *
 * Envoy's stats filter knows the local workload from its bootstrap metadata
 * (WORKLOAD_NAME, NAMESPACE, the pod's app/version/canonical labels,
 * CLUSTER_ID) and the request's facts from the stream (response code, gRPC
 * status, response flags, sizes, the upstream cluster's service). A span
 * carries most of the same facts as tags: Envoy's own (node_id,
 * upstream_cluster, http.status_code, response_flags, request_size, ...),
 * Istio's (istio.canonical_service, istio.namespace, ...), or, for spans of an
 * OpenTelemetry SDK, the semantic-convention resource and span attributes
 * (service.name, k8s.*, http.response.status_code, rpc.grpc.status_code,
 * server.address). This file reads them in that order of trust and keeps the
 * result as one heap object with its strings inline, so that the aggregator
 * can hold it while it waits for the peer span.
 *
 * The mapping, with its defaults and the reasons for them, is the table in
 * docs/MESH_METRICS.md; keep the two in step.
 *
 * Cost: one pass over the resource's and the span's attributes matching keys
 * against a small table, a few string splits, one allocation.
 */
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "aggregate/istio.h"
#include "model/labels.h"
#include "core/alloc.h"

/*
 * A label value longer than this (from wire data) is replaced by "unknown":
 * no real workload, namespace or host name is that long, and every distinct
 * value becomes a series.
 */
#define ML_MESH_VALUE_MAX 255

struct ml_mesh_side {
	size_t bytes; /* the whole allocation */
	uint8_t kind; /* enum ml_span_kind */
	bool dest_is_guess;
	bool gateway; /* node_id type "router": an Istio gateway */
	double duration_ms;
	double request_bytes;
	double response_bytes;
	struct ml_str f[ML_MESH_FIELD_COUNT]; /* point into data[] */
	char data[];
};

/* The attribute keys this file reads (Envoy/Istio tags, then OTel semconv). */
enum key {
	K_ISTIO_CANONICAL_SERVICE,
	K_ISTIO_CANONICAL_REVISION,
	K_ISTIO_NAMESPACE,
	K_ISTIO_CLUSTER_ID,
	K_NODE_ID,
	K_COMPONENT,
	K_UPSTREAM_CLUSTER,
	K_UPSTREAM_CLUSTER_NAME,
	K_HTTP_STATUS_CODE,
	K_RESPONSE_FLAGS,
	K_REQUEST_SIZE,
	K_RESPONSE_SIZE,
	K_GRPC_STATUS_CODE,
	K_PEER_ADDRESS,
	K_HTTP_PROTOCOL,
	K_HTTP_URL,
	K_HTTP_METHOD,
	/* OpenTelemetry resource attributes */
	K_SERVICE_NAMESPACE,
	K_SERVICE_VERSION,
	K_K8S_NAMESPACE,
	K_K8S_DEPLOYMENT,
	K_K8S_STATEFULSET,
	K_K8S_DAEMONSET,
	K_K8S_CRONJOB,
	K_K8S_JOB,
	K_K8S_REPLICASET,
	K_K8S_POD,
	K_K8S_POD_IP,
	K_K8S_CLUSTER,
	/* OpenTelemetry span attributes */
	K_HTTP_RESPONSE_STATUS_CODE,
	K_HTTP_REQUEST_METHOD,
	K_URL_FULL,
	K_RPC_SYSTEM,
	K_RPC_GRPC_STATUS_CODE,
	K_SERVER_ADDRESS,
	K_NET_PEER_NAME,
	K_PEER_SERVICE,
	K_NETWORK_PROTOCOL_NAME,
	K_NETWORK_PEER_ADDRESS,
	K_HTTP_REQUEST_BODY_SIZE,
	K_HTTP_RESPONSE_BODY_SIZE,
	K_HTTP_REQUEST_CONTENT_LENGTH,
	K_HTTP_RESPONSE_CONTENT_LENGTH,
	K_COUNT
};

struct key_def {
	const char *name;
	uint8_t len;
	uint8_t id;
};

#define KEY(s, id)                                                                                 \
	{                                                                                          \
		(s), sizeof(s) - 1, (id)                                                           \
	}
static const struct key_def keys[] = {
    KEY("istio.canonical_service", K_ISTIO_CANONICAL_SERVICE),
    KEY("istio.canonical_revision", K_ISTIO_CANONICAL_REVISION),
    KEY("istio.namespace", K_ISTIO_NAMESPACE),
    KEY("istio.cluster_id", K_ISTIO_CLUSTER_ID),
    KEY("node_id", K_NODE_ID),
    KEY("component", K_COMPONENT),
    KEY("upstream_cluster", K_UPSTREAM_CLUSTER),
    KEY("upstream_cluster.name", K_UPSTREAM_CLUSTER_NAME),
    KEY("http.status_code", K_HTTP_STATUS_CODE),
    KEY("response_flags", K_RESPONSE_FLAGS),
    KEY("request_size", K_REQUEST_SIZE),
    KEY("response_size", K_RESPONSE_SIZE),
    KEY("grpc.status_code", K_GRPC_STATUS_CODE),
    KEY("peer.address", K_PEER_ADDRESS),
    KEY("http.protocol", K_HTTP_PROTOCOL),
    KEY("http.url", K_HTTP_URL),
    KEY("http.method", K_HTTP_METHOD),
    KEY("service.namespace", K_SERVICE_NAMESPACE),
    KEY("service.version", K_SERVICE_VERSION),
    KEY("k8s.namespace.name", K_K8S_NAMESPACE),
    KEY("k8s.deployment.name", K_K8S_DEPLOYMENT),
    KEY("k8s.statefulset.name", K_K8S_STATEFULSET),
    KEY("k8s.daemonset.name", K_K8S_DAEMONSET),
    KEY("k8s.cronjob.name", K_K8S_CRONJOB),
    KEY("k8s.job.name", K_K8S_JOB),
    KEY("k8s.replicaset.name", K_K8S_REPLICASET),
    KEY("k8s.pod.name", K_K8S_POD),
    KEY("k8s.pod.ip", K_K8S_POD_IP),
    KEY("k8s.cluster.name", K_K8S_CLUSTER),
    KEY("http.response.status_code", K_HTTP_RESPONSE_STATUS_CODE),
    KEY("http.request.method", K_HTTP_REQUEST_METHOD),
    KEY("url.full", K_URL_FULL),
    KEY("rpc.system", K_RPC_SYSTEM),
    KEY("rpc.grpc.status_code", K_RPC_GRPC_STATUS_CODE),
    KEY("server.address", K_SERVER_ADDRESS),
    KEY("net.peer.name", K_NET_PEER_NAME),
    KEY("peer.service", K_PEER_SERVICE),
    KEY("network.protocol.name", K_NETWORK_PROTOCOL_NAME),
    KEY("network.peer.address", K_NETWORK_PEER_ADDRESS),
    KEY("http.request.body.size", K_HTTP_REQUEST_BODY_SIZE),
    KEY("http.response.body.size", K_HTTP_RESPONSE_BODY_SIZE),
    KEY("http.request_content_length", K_HTTP_REQUEST_CONTENT_LENGTH),
    KEY("http.response_content_length", K_HTTP_RESPONSE_CONTENT_LENGTH),
};
#undef KEY

/*
 * keys[] indexed by key length (built once): an attribute's key is compared
 * only with the few known keys of its length.
 */
#define KEY_LEN_MAX 32
static uint8_t by_len_start[KEY_LEN_MAX + 2];
static uint8_t by_len[sizeof(keys) / sizeof(keys[0])];
static pthread_once_t by_len_once = PTHREAD_ONCE_INIT;

static void by_len_build(void)
{
	size_t n = 0;
	for (size_t len = 0; len <= KEY_LEN_MAX; len++) {
		by_len_start[len] = (uint8_t)n;
		for (size_t j = 0; j < sizeof(keys) / sizeof(keys[0]); j++)
			if (keys[j].len == len)
				by_len[n++] = (uint8_t)j;
	}
	by_len_start[KEY_LEN_MAX + 1] = (uint8_t)n;
}

/* The attributes found, by key; a span attribute wins over a resource one. */
struct found {
	const struct ml_attr *a[K_COUNT];
	bool grpc_tag; /* Envoy sets grpc.* tags only on gRPC requests */
};

static void collect(struct found *fd, const struct ml_attrs *as)
{
	for (uint32_t i = 0; i < as->n; i++) {
		struct ml_str k = as->items[i].key;
		if (k.n > 5 && memcmp(k.p, "grpc.", 5) == 0)
			fd->grpc_tag = true;
		if (k.n > KEY_LEN_MAX)
			continue;
		for (size_t j = by_len_start[k.n]; j < by_len_start[k.n + 1]; j++) {
			const struct key_def *kd = &keys[by_len[j]];
			if (kd->name[0] == k.p[0] && memcmp(kd->name, k.p, k.n) == 0) {
				fd->a[kd->id] = &as->items[i];
				break;
			}
		}
	}
}

/* The string value of an attribute, or an empty string (absent or not a string). */
static struct ml_str text(const struct found *fd, enum key k)
{
	const struct ml_attr *a = fd->a[k];
	if (a == NULL || a->type != ML_VAL_STRING)
		return ml_str_make("", 0);
	return a->v.s;
}

static bool has(const struct found *fd, enum key k)
{
	return fd->a[k] != NULL;
}

/*
 * An attribute as a non-negative integer: OTLP int or integral double, or a
 * string of decimal digits (Zipkin tags are strings). false when absent or
 * not a number.
 */
static bool attr_uint(const struct found *fd, enum key k, uint64_t *out)
{
	const struct ml_attr *a = fd->a[k];
	if (a == NULL)
		return false;
	switch (a->type) {
	case ML_VAL_INT:
		if (a->v.i < 0)
			return false;
		*out = (uint64_t)a->v.i;
		return true;
	case ML_VAL_DOUBLE:
		if (!(a->v.d >= 0 && a->v.d < 1.8e19) || a->v.d != (double)(uint64_t)a->v.d)
			return false;
		*out = (uint64_t)a->v.d;
		return true;
	case ML_VAL_STRING: {
		struct ml_str s = a->v.s;
		if (s.n == 0 || s.n > 19)
			return false;
		uint64_t v = 0;
		for (size_t i = 0; i < s.n; i++) {
			if (s.p[i] < '0' || s.p[i] > '9')
				return false;
			v = v * 10 + (uint64_t)(s.p[i] - '0');
		}
		*out = v;
		return true;
	}
	default:
		return false;
	}
}

static struct ml_str first(struct ml_str a, struct ml_str b)
{
	return a.n > 0 ? a : b;
}

static bool str_has_prefix(struct ml_str s, const char *p, size_t n)
{
	return s.n >= n && memcmp(s.p, p, n) == 0;
}

static const char *str_chr(struct ml_str s, char c)
{
	return s.n > 0 ? memchr(s.p, c, s.n) : NULL;
}

static const char *str_rchr(struct ml_str s, char c)
{
	for (size_t i = s.n; i > 0; i--)
		if (s.p[i - 1] == c)
			return s.p + i - 1;
	return NULL;
}

/* Derived strings (FQDNs, numbers) live here until they are copied into the side. */
struct scratch {
	char buf[3 * (ML_MESH_VALUE_MAX + 1) + 64];
	size_t used;
};

/* a ‖ b ‖ c in the scratch buffer, or an empty string if it does not fit. */
static struct ml_str cat3(struct scratch *sc, struct ml_str a, const char *b, struct ml_str c)
{
	size_t bn = strlen(b); /* b is always a literal */
	size_t n = a.n + bn + c.n;
	if (n > ML_MESH_VALUE_MAX || sc->used + n > sizeof(sc->buf))
		return ml_str_make("", 0);
	char *p = sc->buf + sc->used;
	if (a.n)
		memcpy(p, a.p, a.n);
	memcpy(p + a.n, b, bn);
	if (c.n)
		memcpy(p + a.n + bn, c.p, c.n);
	sc->used += n;
	return ml_str_make(p, n);
}

/* Decimal text of v in the scratch buffer (no printf: this runs per span). */
static struct ml_str num(struct scratch *sc, uint64_t v)
{
	char tmp[20];
	size_t n = 0;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v > 0);
	if (sc->used + n > sizeof(sc->buf))
		return ml_str_make("", 0);
	char *p = sc->buf + sc->used;
	for (size_t i = 0; i < n; i++)
		p[i] = tmp[n - 1 - i];
	sc->used += n;
	return ml_str_make(p, n);
}

/*
 * Envoy's node id under Istio: "<type>~<ip>~<pod>.<ns>~<ns>.svc.<domain>",
 * e.g. "sidecar~10.44.0.12~reviews-v2-5f9dbcd669-x7k2p.default~default.svc.cluster.local"
 * (type "router" for gateways). Sets what it finds; leaves the rest empty.
 */
static void parse_node_id(struct ml_str id, struct ml_str *type, struct ml_str *ip,
                          struct ml_str *pod, struct ml_str *ns)
{
	struct ml_str part[4];
	size_t np = 0, start = 0;
	for (size_t i = 0; i <= id.n && np < 4; i++) {
		if (i == id.n || id.p[i] == '~') {
			part[np++] = ml_str_make(id.p + start, i - start);
			start = i + 1;
		}
	}
	if (np < 4)
		return;
	*type = part[0];
	*ip = part[1];
	const char *dot = str_chr(part[3], '.');
	*ns = dot ? ml_str_make(part[3].p, (size_t)(dot - part[3].p)) : part[3];
	struct ml_str p = part[2];
	if (ns->n > 0 && p.n > ns->n + 1 && p.p[p.n - ns->n - 1] == '.' &&
	    memcmp(p.p + p.n - ns->n, ns->p, ns->n) == 0) {
		p.n -= ns->n + 1;
	} else if ((dot = str_chr(p, '.')) != NULL) {
		p.n = (size_t)(dot - p.p);
	}
	*pod = p;
}

/* Kubernetes generates name suffixes from this alphabet (no vowels, no 0/1/3). */
static bool k8s_safe(struct ml_str s, size_t min, size_t max)
{
	static const char alphabet[] = "bcdfghjklmnpqrstvwxz2456789";
	if (s.n < min || s.n > max)
		return false;
	for (size_t i = 0; i < s.n; i++)
		if (memchr(alphabet, s.p[i], sizeof(alphabet) - 1) == NULL)
			return false;
	return true;
}

static bool all_digits(struct ml_str s)
{
	if (s.n == 0)
		return false;
	for (size_t i = 0; i < s.n; i++)
		if (s.p[i] < '0' || s.p[i] > '9')
			return false;
	return true;
}

/* Splits s at its last '-': head and tail; false when s has none. */
static bool split_last_dash(struct ml_str s, struct ml_str *head, struct ml_str *tail)
{
	const char *d = str_rchr(s, '-');
	if (d == NULL || d == s.p)
		return false;
	*head = ml_str_make(s.p, (size_t)(d - s.p));
	*tail = ml_str_make(d + 1, s.n - (size_t)(d - s.p) - 1);
	return true;
}

/*
 * A ReplicaSet name is its Deployment's name plus "-<pod-template-hash>"
 * (the hash is a uint32 in decimal, re-encoded in the safe alphabet: 6 to
 * 10 characters in practice).
 */
static struct ml_str workload_from_replicaset(struct ml_str rs)
{
	struct ml_str head, tail;
	if (split_last_dash(rs, &head, &tail) && k8s_safe(tail, 6, 10))
		return head;
	return rs;
}

/*
 * The workload (owner) of a pod, from the pod's name alone, as Kubernetes
 * names pods: Deployment "<deploy>-<hash>-<5 random>" (reviews-v2-5f9dbcd669-x7k2p
 * -> reviews-v2), DaemonSet / Job / bare ReplicaSet "<owner>-<5 random>",
 * StatefulSet "<sts>-<ordinal>". Anything else is its own workload.
 */
static struct ml_str workload_from_pod(struct ml_str pod)
{
	struct ml_str head, tail;
	if (!split_last_dash(pod, &head, &tail))
		return pod;
	if (all_digits(tail))
		return head;
	if (!k8s_safe(tail, 5, 5))
		return pod;
	return workload_from_replicaset(head);
}

static bool is_ip(struct ml_str h)
{
	if (str_chr(h, ':') != NULL)
		return true; /* IPv6 */
	for (size_t i = 0; i < h.n; i++)
		if ((h.p[i] < '0' || h.p[i] > '9') && h.p[i] != '.')
			return false;
	return h.n > 0;
}

/* host[:port] -> host ("[v6]:port" -> "v6"). */
static struct ml_str strip_port(struct ml_str h)
{
	if (h.n > 0 && h.p[0] == '[') {
		const char *e = str_chr(h, ']');
		return e ? ml_str_make(h.p + 1, (size_t)(e - h.p) - 1) : h;
	}
	const char *c = str_rchr(h, ':');
	if (c != NULL && str_chr(h, ':') == c &&
	    all_digits(ml_str_make(c + 1, h.n - (size_t)(c - h.p) - 1)))
		return ml_str_make(h.p, (size_t)(c - h.p));
	return h;
}

/* The host of an absolute URL ("http://reviews:9080/reviews/0" -> "reviews"). */
static struct ml_str url_host(struct ml_str u)
{
	for (size_t i = 0; i + 2 < u.n; i++) {
		if (u.p[i] == ':' && u.p[i + 1] == '/' && u.p[i + 2] == '/') {
			size_t b = i + 3, e = b;
			while (e < u.n && u.p[e] != '/' && u.p[e] != '?' && u.p[e] != '#')
				e++;
			struct ml_str auth = ml_str_make(u.p + b, e - b);
			const char *at = str_rchr(auth, '@');
			if (at != NULL)
				auth = ml_str_make(at + 1, auth.n - (size_t)(at - auth.p) - 1);
			return strip_port(auth);
		}
		if (u.p[i] == '/' || u.p[i] == '?')
			break;
	}
	return ml_str_make("", 0);
}

/*
 * Envoy's span name is the route decorator "<host>:<port><path>"
 * ("details.default.svc.cluster.local:9080/" and a star); its host names the service
 * only when it is a cluster service name (contains ".svc").
 */
static struct ml_str span_name_host(struct ml_str name)
{
	size_t e = 0;
	while (e < name.n && name.p[e] != ':' && name.p[e] != '/' && name.p[e] != ' ')
		e++;
	struct ml_str h = ml_str_make(name.p, e);
	for (size_t i = 0; i + 4 <= h.n; i++)
		if (memcmp(h.p + i, ".svc", 4) == 0 && (i + 4 == h.n || h.p[i + 4] == '.'))
			return h;
	return ml_str_make("", 0);
}

struct dest {
	struct ml_str service, name, ns;
};

/*
 * Destination service, name and namespace from a host as a client addressed
 * it: "<name>.<ns>.svc[.<domain>]" is a cluster service; a bare name is a
 * service in the caller's namespace (Kubernetes DNS search path) and gets the
 * FQDN Istio reports (cluster domain cluster.local assumed); an IP or any
 * other host is reported as is, its namespace unknown.
 */
static void classify_host(struct scratch *sc, struct ml_str host, struct ml_str local_ns,
                          struct dest *d)
{
	const char *dot1 = str_chr(host, '.');
	if (host.n == 0)
		return;
	d->service = host;
	d->name = host;
	if (is_ip(host))
		return;
	if (dot1 == NULL) {
		if (local_ns.n > 0) {
			struct ml_str fq = cat3(sc, host, ".", local_ns);
			fq = cat3(sc, fq, ".svc.cluster.local", ml_str_make("", 0));
			if (fq.n > 0) {
				d->service = fq;
				d->ns = local_ns;
			}
		}
		return;
	}
	struct ml_str rest = ml_str_make(dot1 + 1, host.n - (size_t)(dot1 - host.p) - 1);
	const char *dot2 = str_chr(rest, '.');
	if (dot2 == NULL || dot2 == rest.p)
		return;
	struct ml_str after = ml_str_make(dot2 + 1, rest.n - (size_t)(dot2 - rest.p) - 1);
	if (!(after.n == 3 || (after.n > 3 && after.p[3] == '.')) || memcmp(after.p, "svc", 3) != 0)
		return;
	d->name = ml_str_make(host.p, (size_t)(dot1 - host.p));
	d->ns = ml_str_make(rest.p, (size_t)(dot2 - rest.p));
	if (after.n == 3) {
		struct ml_str fq = cat3(sc, host, ".cluster.local", ml_str_make("", 0));
		if (fq.n > 0)
			d->service = fq;
	}
}

/*
 * Envoy's Grpc::Utility::httpToGrpcStatus: the gRPC status Envoy infers from
 * the HTTP status when a gRPC response carries no grpc-status.
 */
static uint64_t http_to_grpc(uint64_t code)
{
	switch (code) {
	case 400:
		return 13; /* INTERNAL */
	case 401:
		return 16; /* UNAUTHENTICATED */
	case 403:
		return 7; /* PERMISSION_DENIED */
	case 404:
		return 12; /* UNIMPLEMENTED */
	case 429:
	case 502:
	case 503:
	case 504:
		return 14; /* UNAVAILABLE */
	default:
		return 2; /* UNKNOWN */
	}
}

static bool is_unknown_service(struct ml_str s)
{
	return s.n == 0 || str_has_prefix(s, "unknown_service", 15);
}

/* The destination as a client side sees it (Envoy's upstream_cluster, then OTel). */
static void client_dest(struct scratch *sc, const struct found *fd, struct ml_str local_ns,
                        struct dest *d)
{
	struct ml_str uc = first(text(fd, K_UPSTREAM_CLUSTER), text(fd, K_UPSTREAM_CLUSTER_NAME));
	struct ml_str host = {"", 0};
	if (uc.n > 0) {
		/*
		 * "outbound|9080|v2|reviews.default.svc.cluster.local" is
		 * direction|port|subset|host; its stats form (alt_stat_name)
		 * "outbound_.9080_.v2_.reviews.default.svc.cluster.local".
		 */
		const char *bar = str_rchr(uc, '|');
		if (bar != NULL && str_has_prefix(uc, "outbound|", 9)) {
			host = ml_str_make(bar + 1, uc.n - (size_t)(bar - uc.p) - 1);
		} else if (bar == NULL && str_has_prefix(uc, "outbound_.", 10)) {
			for (size_t i = uc.n; i >= 2; i--) {
				if (uc.p[i - 2] == '_' && uc.p[i - 1] == '.') {
					host = ml_str_make(uc.p + i, uc.n - i);
					break;
				}
			}
		} else if (bar == NULL) {
			/*
			 * PassthroughCluster, BlackHoleCluster...: Istio names the
			 * service after the cluster and takes the host from the request.
			 */
			struct dest h = {{0}, {0}, {0}};
			classify_host(
			    sc,
			    first(url_host(text(fd, K_HTTP_URL)), url_host(text(fd, K_URL_FULL))),
			    local_ns, &h);
			d->service = h.service;
			d->name = uc;
			return;
		}
	}
	if (host.n == 0)
		host = strip_port(first(text(fd, K_SERVER_ADDRESS), text(fd, K_NET_PEER_NAME)));
	if (host.n == 0)
		host = first(url_host(text(fd, K_URL_FULL)), url_host(text(fd, K_HTTP_URL)));
	if (host.n == 0)
		host = text(fd, K_PEER_SERVICE);
	classify_host(sc, host, local_ns, d);
}

/*
 * The destination as the server side sees it: Envoy's inbound cluster
 * ("inbound|9080||") does not name the service, so the route decorator (span
 * name), then the request's host (http.url / url.full / server.address),
 * then, as Istio does without a host, the canonical service.
 */
static bool server_dest(struct scratch *sc, const struct ml_span *s, const struct found *fd,
                        struct ml_str local_ns, struct ml_str canonical, struct dest *d)
{
	bool guess = false;
	struct ml_str host = span_name_host(s->name);
	if (host.n == 0)
		host = first(url_host(text(fd, K_HTTP_URL)), url_host(text(fd, K_URL_FULL)));
	if (host.n == 0)
		host = strip_port(text(fd, K_SERVER_ADDRESS));
	classify_host(sc, host, local_ns, d);
	if (d->service.n == 0) {
		d->service = canonical;
		d->name = canonical;
		guess = true;
	}
	if (d->ns.n == 0)
		d->ns = local_ns;
	return guess;
}

struct ml_mesh_side *ml_mesh_side_from_span(const struct ml_span *s, int *nomem)
{
	static const struct ml_str unknown = {"unknown", 7};
	struct ml_mesh_side *m = NULL;
	if (nomem != NULL)
		*nomem = 0;
	if (s->kind != ML_SPAN_KIND_SERVER && s->kind != ML_SPAN_KIND_CLIENT &&
	    s->kind != ML_SPAN_KIND_PRODUCER && s->kind != ML_SPAN_KIND_CONSUMER)
		return NULL;
	bool client = s->kind == ML_SPAN_KIND_CLIENT || s->kind == ML_SPAN_KIND_PRODUCER;

	pthread_once(&by_len_once, by_len_build);
	struct found fd;
	memset(&fd, 0, sizeof(fd));
	if (s->resource != NULL)
		collect(&fd, &s->resource->attrs);
	collect(&fd, &s->attrs);
	struct scratch sc;
	sc.used = 0;
	struct ml_str v[ML_MESH_FIELD_COUNT];
	memset(v, 0, sizeof(v));
	bool dest_is_guess = false;

	/* Identity. */
	struct ml_str type = {"", 0}, ip = {"", 0}, pod = {"", 0}, node_ns = {"", 0};
	if (has(&fd, K_NODE_ID))
		parse_node_id(text(&fd, K_NODE_ID), &type, &ip, &pod, &node_ns);
	bool proxy = has(&fd, K_NODE_ID) || has(&fd, K_ISTIO_CANONICAL_SERVICE) ||
	             has(&fd, K_ISTIO_NAMESPACE) || ml_str_eq_cstr(text(&fd, K_COMPONENT), "proxy");

	struct ml_str ns = first(text(&fd, K_ISTIO_NAMESPACE), node_ns);
	ns = first(ns, text(&fd, K_K8S_NAMESPACE));
	ns = first(ns, text(&fd, K_SERVICE_NAMESPACE));

	/* Envoy's service name is "<app>.<namespace>" (Zipkin localEndpoint.serviceName). */
	struct ml_str local = s->resource != NULL ? s->resource->service_name : ml_str_make("", 0);
	local = first(local, s->local.service_name);
	if (is_unknown_service(local))
		local = ml_str_make("", 0);
	if (proxy && local.n > 0) {
		const char *dot = str_rchr(local, '.');
		if (ns.n == 0 && dot != NULL)
			ns = ml_str_make(dot + 1, local.n - (size_t)(dot - local.p) - 1);
		if (ns.n > 0 && local.n > ns.n + 1 && local.p[local.n - ns.n - 1] == '.' &&
		    memcmp(local.p + local.n - ns.n, ns.p, ns.n) == 0)
			local.n -= ns.n + 1;
	}

	/* An owner named by the resource is exact; a pod name is a heuristic. */
	struct ml_str wl = first(text(&fd, K_K8S_DEPLOYMENT), text(&fd, K_K8S_STATEFULSET));
	wl = first(wl, text(&fd, K_K8S_DAEMONSET));
	wl = first(wl, text(&fd, K_K8S_CRONJOB));
	wl = first(wl, text(&fd, K_K8S_JOB));
	if (wl.n == 0 && text(&fd, K_K8S_REPLICASET).n > 0)
		wl = workload_from_replicaset(text(&fd, K_K8S_REPLICASET));
	if (wl.n == 0 && pod.n > 0)
		wl = workload_from_pod(pod);
	if (wl.n == 0 && text(&fd, K_K8S_POD).n > 0)
		wl = workload_from_pod(text(&fd, K_K8S_POD));

	struct ml_str icanon = text(&fd, K_ISTIO_CANONICAL_SERVICE);
	struct ml_str irev = text(&fd, K_ISTIO_CANONICAL_REVISION);
	v[ML_MESH_WORKLOAD] = wl;
	v[ML_MESH_NAMESPACE] = ns;
	v[ML_MESH_PRINCIPAL] = unknown;
	v[ML_MESH_APP] = first(local, icanon);
	v[ML_MESH_CANONICAL_SERVICE] = first(first(icanon, local), wl);
	v[ML_MESH_VERSION] = ml_str_eq_cstr(irev, "latest")
	                         ? text(&fd, K_SERVICE_VERSION)
	                         : first(irev, text(&fd, K_SERVICE_VERSION));
	v[ML_MESH_CANONICAL_REVISION] =
	    first(first(irev, text(&fd, K_SERVICE_VERSION)), ML_STR("latest"));
	v[ML_MESH_CLUSTER] = first(text(&fd, K_ISTIO_CLUSTER_ID), text(&fd, K_K8S_CLUSTER));

	/* Protocol: Envoy tags grpc.* only on gRPC requests; OTel says rpc.system. */
	bool grpc = fd.grpc_tag || ml_str_eq_cstr(text(&fd, K_RPC_SYSTEM), "grpc");
	bool http = has(&fd, K_HTTP_STATUS_CODE) || has(&fd, K_HTTP_RESPONSE_STATUS_CODE) ||
	            has(&fd, K_HTTP_METHOD) || has(&fd, K_HTTP_REQUEST_METHOD) ||
	            has(&fd, K_HTTP_URL) || has(&fd, K_URL_FULL) || has(&fd, K_HTTP_PROTOCOL) ||
	            has(&fd, K_UPSTREAM_CLUSTER) || has(&fd, K_RESPONSE_FLAGS) ||
	            ml_str_eq_cstr(text(&fd, K_NETWORK_PROTOCOL_NAME), "http");
	v[ML_MESH_PROTOCOL] = grpc ? ML_STR("grpc") : http ? ML_STR("http") : ML_STR("tcp");

	uint64_t code = 0, gs = 0;
	bool has_code = attr_uint(&fd, K_HTTP_STATUS_CODE, &code) ||
	                attr_uint(&fd, K_HTTP_RESPONSE_STATUS_CODE, &code);
	if (has_code && code > 999)
		code = 0;
	bool has_gs = grpc && (attr_uint(&fd, K_GRPC_STATUS_CODE, &gs) ||
	                       attr_uint(&fd, K_RPC_GRPC_STATUS_CODE, &gs));
	/* An SDK's gRPC span has no HTTP status: a gRPC response is an HTTP 200. */
	if (!has_code && has_gs)
		code = 200;
	v[ML_MESH_RESPONSE_CODE] = num(&sc, code);
	if (grpc && (has_gs || code != 0))
		v[ML_MESH_GRPC_STATUS] = num(&sc, has_gs ? gs : http_to_grpc(code));
	else
		v[ML_MESH_GRPC_STATUS] = ml_str_make("", 0);
	v[ML_MESH_RESPONSE_FLAGS] = first(text(&fd, K_RESPONSE_FLAGS), ML_STR("-"));
	/* Spans do not say whether the hop was mutual TLS. */
	v[ML_MESH_SECURITY_POLICY] = unknown;

	struct dest d = {{"", 0}, {"", 0}, {"", 0}};
	if (client)
		client_dest(&sc, &fd, ns, &d);
	else
		dest_is_guess = server_dest(&sc, s, &fd, ns, v[ML_MESH_CANONICAL_SERVICE], &d);
	v[ML_MESH_DEST_SERVICE] = d.service;
	v[ML_MESH_DEST_SERVICE_NAME] = d.name;
	v[ML_MESH_DEST_SERVICE_NAMESPACE] = d.ns;

	v[ML_MESH_ADDRESS] = first(ip, text(&fd, K_K8S_POD_IP));
	v[ML_MESH_PEER_ADDRESS] =
	    first(text(&fd, K_PEER_ADDRESS), text(&fd, K_NETWORK_PEER_ADDRESS));

	/* What a missing, over-long or non-UTF-8 value becomes. */
	size_t total = 0;
	for (int i = 0; i < ML_MESH_FIELD_COUNT; i++) {
		struct ml_str dflt = unknown;
		if (i == ML_MESH_GRPC_STATUS || i == ML_MESH_ADDRESS || i == ML_MESH_PEER_ADDRESS)
			dflt = ml_str_make("", 0);
		else if (i == ML_MESH_CANONICAL_REVISION)
			dflt = ML_STR("latest");
		else if (i == ML_MESH_RESPONSE_FLAGS)
			dflt = ML_STR("-");
		/* OTLP protobuf does not check UTF-8; Prometheus refuses a label value that is not. */
		if (v[i].n == 0 || v[i].n > ML_MESH_VALUE_MAX || !ml_utf8_valid(v[i].p, v[i].n))
			v[i] = dflt;
		total += v[i].n;
	}

	m = ml_malloc(sizeof(*m) + total);
	if (m == NULL)
		goto fail;
	m->bytes = sizeof(*m) + total;
	m->kind = s->kind;
	m->dest_is_guess = dest_is_guess;
	m->gateway = ml_str_eq_cstr(type, "router");
	m->duration_ms = s->end_ns > s->start_ns ? (double)(s->end_ns - s->start_ns) / 1e6 : 0;
	uint64_t n = 0;
	m->request_bytes = attr_uint(&fd, K_REQUEST_SIZE, &n) ||
	                           attr_uint(&fd, K_HTTP_REQUEST_BODY_SIZE, &n) ||
	                           attr_uint(&fd, K_HTTP_REQUEST_CONTENT_LENGTH, &n)
	                       ? (double)n
	                       : 0;
	n = 0;
	m->response_bytes = attr_uint(&fd, K_RESPONSE_SIZE, &n) ||
	                            attr_uint(&fd, K_HTTP_RESPONSE_BODY_SIZE, &n) ||
	                            attr_uint(&fd, K_HTTP_RESPONSE_CONTENT_LENGTH, &n)
	                        ? (double)n
	                        : 0;
	size_t off = 0;
	for (int i = 0; i < ML_MESH_FIELD_COUNT; i++) {
		if (v[i].n > 0)
			memcpy(m->data + off, v[i].p, v[i].n);
		m->f[i] = ml_str_make(m->data + off, v[i].n);
		off += v[i].n;
	}
	return m;

fail:
	if (nomem != NULL)
		*nomem = 1;
	return NULL;
}

void ml_mesh_side_free(struct ml_mesh_side *m)
{
	ml_free(m);
}

size_t ml_mesh_side_bytes(const struct ml_mesh_side *m)
{
	return m != NULL ? m->bytes : 0;
}

struct ml_str ml_mesh_side_get(const struct ml_mesh_side *m, enum ml_mesh_field f)
{
	if ((unsigned)f >= ML_MESH_FIELD_COUNT)
		return ml_str_make("", 0);
	return m->f[f];
}

const struct ml_str *ml_mesh_side_fields(const struct ml_mesh_side *m)
{
	return m->f;
}

enum ml_span_kind ml_mesh_side_kind(const struct ml_mesh_side *m)
{
	return (enum ml_span_kind)m->kind;
}

bool ml_mesh_side_is_client(const struct ml_mesh_side *m)
{
	return m->kind == ML_SPAN_KIND_CLIENT || m->kind == ML_SPAN_KIND_PRODUCER;
}

double ml_mesh_side_duration_ms(const struct ml_mesh_side *m)
{
	return m->duration_ms;
}

double ml_mesh_side_request_bytes(const struct ml_mesh_side *m)
{
	return m->request_bytes;
}

double ml_mesh_side_response_bytes(const struct ml_mesh_side *m)
{
	return m->response_bytes;
}

bool ml_mesh_side_dest_is_guess(const struct ml_mesh_side *m)
{
	return m->dest_is_guess;
}

bool ml_mesh_side_is_gateway(const struct ml_mesh_side *m)
{
	return m->gateway;
}
