/*
 * istio.c - Istio's standard request metrics from pairs of mesh sides
 * (implements ml_istio_* of aggregate/istio.h).
 *
 * Envoy's stats filter (istio/proxy, istio_stats) reports every request once
 * per sidecar: the client's with reporter="source", its own identity as
 * source_* and the peer's (learnt by metadata exchange) as destination_*; the
 * server's with reporter="destination" and the roles of the identities
 * swapped. The aggregator hands this file both sides of a hop when it could
 * pair their spans, or one side when the other never came; a missing peer's
 * labels are "unknown" (canonical revision "latest"), as Istio reports a
 * peer without metadata.
 *
 * This runs for every span, so a record builds its 25 label values as a
 * stack array of struct ml_str pointing into the sides (no formatting: the
 * sides hold their values as text already). Four registry lookups per
 * report would hash the 25 values four times; instead the values are packed
 * into one key, hashed once, and looked up in a small cache of the four
 * families' children for that label set (entries are added once, never
 * changed, and bounded by the families' own child counts). Allocation only
 * happens when a label set is new.
 */
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include <xxhash.h>

#include "aggregate/istio.h"
#include "core/alloc.h"
#include "model/registry.h"

/* Istio's label names in Istio's order (istio_stats all_tags_, docs). */
enum {
	L_REPORTER = 0,
	L_SOURCE = 1,        /* 8 identity labels: workload .. cluster */
	L_DEST_WORKLOAD = 9, /* workload, namespace, principal, app, version */
	L_DEST_SERVICE = 14,
	L_DEST_SERVICE_NAME,
	L_DEST_SERVICE_NAMESPACE,
	L_DEST_CANONICAL_SERVICE,
	L_DEST_CANONICAL_REVISION,
	L_DEST_CLUSTER,
	L_REQUEST_PROTOCOL,
	L_RESPONSE_FLAGS,
	L_SECURITY_POLICY,
	L_RESPONSE_CODE,
	L_GRPC_STATUS,
	L_COUNT
};

static const char *const label_names[L_COUNT] = {
    "reporter",
    "source_workload",
    "source_workload_namespace",
    "source_principal",
    "source_app",
    "source_version",
    "source_canonical_service",
    "source_canonical_revision",
    "source_cluster",
    "destination_workload",
    "destination_workload_namespace",
    "destination_principal",
    "destination_app",
    "destination_version",
    "destination_service",
    "destination_service_name",
    "destination_service_namespace",
    "destination_canonical_service",
    "destination_canonical_revision",
    "destination_cluster",
    "request_protocol",
    "response_flags",
    "connection_security_policy",
    "response_code",
    "grpc_response_status",
};

/*
 * Envoy's default histogram buckets (envoy stats histogram_bucket_settings
 * default). Istio's telemetry v2 uses them for all three histograms,
 * durations in ms and sizes in bytes alike (istio_request_bytes_bucket shows
 * le="0.5" ... le="3600000" on a real sidecar).
 */
static const double envoy_buckets[] = {0.5,   1,      5,      10,      25,     50,    100,
                                       250,   500,    1000,   2500,    5000,   10000, 30000,
                                       60000, 300000, 600000, 1800000, 3600000};
#define N_BUCKETS (sizeof(envoy_buckets) / sizeof(envoy_buckets[0]))

/* The families of one report, in this order. */
enum { F_REQUESTS, F_DURATION, F_REQUEST_BYTES, F_RESPONSE_BYTES, F_COUNT };

/*
 * A label set's children. key is the label values, each as one length byte
 * and its bytes (values are at most 255 bytes: mesh_side.c caps them).
 */
struct cached {
	uint64_t hash;
	struct ml_child *child[F_COUNT];
	size_t key_len;
	unsigned char key[];
};

/* Cache stripes: lookups take a shared lock on one, as in the registry. */
#define CACHE_STRIPES 16
#define KEY_MAX (L_COUNT * 256)

struct cache_stripe {
	pthread_rwlock_t lock;
	struct cached **slots; /* open addressing, cap a power of two or 0 */
	size_t cap, n;
};

struct ml_istio {
	struct ml_family *family[F_COUNT];
	struct cache_stripe stripes[CACHE_STRIPES];
};

static struct ml_family *add(struct ml_registry *r, const char *name, enum ml_metric_type type,
                             const char *help, size_t max_series, struct ml_err *err)
{
	struct ml_family_desc d = {
	    .name = name,
	    .type = type,
	    .help = help,
	    .label_names = label_names,
	    .n_labels = L_COUNT,
	    .buckets = type == ML_METRIC_HISTOGRAM ? envoy_buckets : NULL,
	    .n_buckets = type == ML_METRIC_HISTOGRAM ? N_BUCKETS : 0,
	    .max_children = max_series,
	};
	return ml_registry_add(r, &d, err);
}

struct ml_istio *ml_istio_create(struct ml_registry *r, size_t max_series, struct ml_err *err)
{
	static const struct {
		const char *name;
		enum ml_metric_type type;
		const char *help;
	} fams[F_COUNT] = {
	    {"istio_requests_total", ML_METRIC_COUNTER,
	     "Requests between workloads as their sidecars report them, derived from spans"},
	    {"istio_request_duration_milliseconds", ML_METRIC_HISTOGRAM,
	     "Request duration in milliseconds, derived from spans"},
	    {"istio_request_bytes", ML_METRIC_HISTOGRAM,
	     "Request body size in bytes, derived from spans"},
	    {"istio_response_bytes", ML_METRIC_HISTOGRAM,
	     "Response body size in bytes, derived from spans"},
	};
	int locks = 0;
	struct ml_istio *m = ml_calloc(1, sizeof(*m));
	if (m == NULL) {
		ml_err_set(err, ML_ENOMEM, "istio metrics: out of memory");
		goto fail;
	}
	for (int i = 0; i < F_COUNT; i++) {
		m->family[i] = add(r, fams[i].name, fams[i].type, fams[i].help, max_series, err);
		if (m->family[i] == NULL)
			goto fail;
	}
	for (; locks < CACHE_STRIPES; locks++) {
		if (pthread_rwlock_init(&m->stripes[locks].lock, NULL) != 0) {
			ml_err_set(err, ML_ENOMEM, "istio metrics: cannot create a lock");
			goto fail;
		}
	}
	return m;

fail:
	for (int i = 0; m != NULL && i < locks; i++)
		pthread_rwlock_destroy(&m->stripes[i].lock);
	ml_free(m);
	return NULL;
}

void ml_istio_destroy(struct ml_istio *m)
{
	if (m == NULL)
		return;
	/* The families and their children belong to the registry. */
	for (int i = 0; i < CACHE_STRIPES; i++) {
		struct cache_stripe *s = &m->stripes[i];
		for (size_t j = 0; j < s->cap; j++)
			ml_free(s->slots[j]);
		ml_free(s->slots);
		pthread_rwlock_destroy(&s->lock);
	}
	ml_free(m);
}

/* A peer Istio knows nothing about: "unknown", canonical revision "latest". */
static const struct ml_str unknown_side[ML_MESH_CANONICAL_REVISION + 2] = {
    [ML_MESH_WORKLOAD] = {"unknown", 7},          [ML_MESH_NAMESPACE] = {"unknown", 7},
    [ML_MESH_PRINCIPAL] = {"unknown", 7},         [ML_MESH_APP] = {"unknown", 7},
    [ML_MESH_VERSION] = {"unknown", 7},           [ML_MESH_CANONICAL_SERVICE] = {"unknown", 7},
    [ML_MESH_CANONICAL_REVISION] = {"latest", 6}, [ML_MESH_CLUSTER] = {"unknown", 7},
};

static bool is_unknown(struct ml_str s)
{
	return s.n == 7 && memcmp(s.p, "unknown", 7) == 0;
}

/*
 * The label values of one report. rep is the reporting side (its request
 * facts are used), peer the other side or NULL.
 */
static void labels(struct ml_str *out, const struct ml_mesh_side *rep,
                   const struct ml_mesh_side *peer)
{
	bool source = ml_mesh_side_is_client(rep);
	const struct ml_str *rf = ml_mesh_side_fields(rep);
	const struct ml_str *pf = peer != NULL ? ml_mesh_side_fields(peer) : unknown_side;
	const struct ml_str *src = source ? rf : pf;
	const struct ml_str *dst = source ? pf : rf;

	out[L_REPORTER] = source ? ML_STR("source") : ML_STR("destination");
	/* The identity fields and the source_* labels are in the same order. */
	memcpy(&out[L_SOURCE], &src[ML_MESH_WORKLOAD], 8 * sizeof(struct ml_str));
	memcpy(&out[L_DEST_WORKLOAD], &dst[ML_MESH_WORKLOAD], 5 * sizeof(struct ml_str));
	out[L_DEST_CANONICAL_SERVICE] = dst[ML_MESH_CANONICAL_SERVICE];
	out[L_DEST_CANONICAL_REVISION] = dst[ML_MESH_CANONICAL_REVISION];
	out[L_DEST_CLUSTER] = dst[ML_MESH_CLUSTER];

	/*
	 * The destination service as the reporter saw it; the peer's when the
	 * reporter could not tell (an SDK client span without server.address,
	 * a server span that named no host).
	 */
	const struct ml_str *svc = rf;
	if (peer != NULL &&
	    (is_unknown(rf[ML_MESH_DEST_SERVICE]) ||
	     (!source && ml_mesh_side_dest_is_guess(rep))) &&
	    !is_unknown(pf[ML_MESH_DEST_SERVICE]) && !(source && ml_mesh_side_dest_is_guess(peer)))
		svc = pf;
	out[L_DEST_SERVICE] = svc[ML_MESH_DEST_SERVICE];
	out[L_DEST_SERVICE_NAME] = svc[ML_MESH_DEST_SERVICE_NAME];
	out[L_DEST_SERVICE_NAMESPACE] = svc[ML_MESH_DEST_SERVICE_NAMESPACE];

	out[L_REQUEST_PROTOCOL] = rf[ML_MESH_PROTOCOL];
	out[L_RESPONSE_FLAGS] = rf[ML_MESH_RESPONSE_FLAGS];
	out[L_SECURITY_POLICY] = rf[ML_MESH_SECURITY_POLICY];
	out[L_RESPONSE_CODE] = rf[ML_MESH_RESPONSE_CODE];
	out[L_GRPC_STATUS] = rf[ML_MESH_GRPC_STATUS];
}

/* Packs the label values into key; 0 when a value is too long to pack. */
static size_t pack(unsigned char *key, const struct ml_str *v)
{
	size_t n = 0;
	for (int i = 0; i < L_COUNT; i++) {
		if (v[i].n > 255)
			return 0;
		key[n++] = (unsigned char)v[i].n;
		if (v[i].n > 0)
			memcpy(key + n, v[i].p, v[i].n);
		n += v[i].n;
	}
	return n;
}

/* Caller holds s->lock. */
static struct cached *cache_find(const struct cache_stripe *s, uint64_t h, const unsigned char *key,
                                 size_t n)
{
	if (s->cap == 0)
		return NULL;
	size_t mask = s->cap - 1;
	for (size_t i = (size_t)(h >> 4) & mask;; i = (i + 1) & mask) {
		struct cached *e = s->slots[i];
		if (e == NULL)
			return NULL;
		if (e->hash == h && e->key_len == n && memcmp(e->key, key, n) == 0)
			return e;
	}
}

/* Caller holds s->lock exclusively. Gives e to the stripe, or frees it (ENOMEM). */
static void cache_insert(struct cache_stripe *s, struct cached *e)
{
	if (2 * (s->n + 1) > s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 64;
		struct cached **slots = ml_calloc(cap, sizeof(*slots));
		if (slots == NULL) {
			ml_free(e); /* only the cache is lost: the next report looks the children up
			               again */
			return;
		}
		for (size_t i = 0; i < s->cap; i++) {
			struct cached *o = s->slots[i];
			if (o == NULL)
				continue;
			size_t j = (size_t)(o->hash >> 4) & (cap - 1);
			while (slots[j] != NULL)
				j = (j + 1) & (cap - 1);
			slots[j] = o;
		}
		ml_free(s->slots);
		s->slots = slots;
		s->cap = cap;
	}
	size_t j = (size_t)(e->hash >> 4) & (s->cap - 1);
	while (s->slots[j] != NULL)
		j = (j + 1) & (s->cap - 1);
	s->slots[j] = e;
	s->n++;
}

/*
 * The four children of label set v (NULL for a family at max_series),
 * from the cache or the registry.
 */
static void children(struct ml_istio *m, const struct ml_str *v, struct ml_child **out)
{
	unsigned char key[KEY_MAX];
	size_t n = pack(key, v);
	uint64_t h = n > 0 ? XXH3_64bits(key, n) : 0;
	struct cache_stripe *s = &m->stripes[h & (CACHE_STRIPES - 1)];
	if (n > 0) {
		pthread_rwlock_rdlock(&s->lock);
		struct cached *e = cache_find(s, h, key, n);
		if (e != NULL)
			memcpy(out, e->child, sizeof(e->child));
		pthread_rwlock_unlock(&s->lock);
		if (e != NULL)
			return;
	}
	bool all = true;
	for (int i = 0; i < F_COUNT; i++) {
		out[i] = ml_family_child(m->family[i], v);
		all = all && out[i] != NULL;
	}
	/* A label set with a dropped family is not cached: it is retried each time. */
	if (n == 0 || !all)
		return;
	struct cached *e = ml_malloc(sizeof(*e) + n);
	if (e == NULL)
		return;
	e->hash = h;
	memcpy(e->child, out, sizeof(e->child));
	e->key_len = n;
	memcpy(e->key, key, n);
	pthread_rwlock_wrlock(&s->lock);
	if (cache_find(s, h, key, n) != NULL)
		ml_free(e); /* another thread cached it meanwhile */
	else
		cache_insert(s, e);
	pthread_rwlock_unlock(&s->lock);
}

/* One report: the counter and the three histograms. Returns the drops. */
static size_t report(struct ml_istio *m, const struct ml_mesh_side *rep,
                     const struct ml_mesh_side *peer)
{
	struct ml_str v[L_COUNT];
	struct ml_child *c[F_COUNT];
	size_t dropped = 0;
	labels(v, rep, peer);
	children(m, v, c);
	if (c[F_REQUESTS] != NULL)
		ml_child_add(c[F_REQUESTS], 1);
	if (c[F_DURATION] != NULL)
		ml_child_observe(c[F_DURATION], ml_mesh_side_duration_ms(rep));
	if (c[F_REQUEST_BYTES] != NULL)
		ml_child_observe(c[F_REQUEST_BYTES], ml_mesh_side_request_bytes(rep));
	if (c[F_RESPONSE_BYTES] != NULL)
		ml_child_observe(c[F_RESPONSE_BYTES], ml_mesh_side_response_bytes(rep));
	for (int i = 0; i < F_COUNT; i++)
		dropped += c[i] == NULL;
	return dropped;
}

size_t ml_istio_record(struct ml_istio *m, const struct ml_mesh_side *client,
                       const struct ml_mesh_side *server)
{
	size_t dropped = 0;
	if (client != NULL)
		dropped += report(m, client, server);
	/*
	 * A gateway's listeners are outbound: its stats filter reports the
	 * requests it forwards as their source (its CLIENT span) and nothing
	 * as a destination.
	 */
	if (server != NULL && !ml_mesh_side_is_gateway(server))
		dropped += report(m, server, client);
	return dropped;
}
