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
 * stack array of struct ml_str pointing into the sides (no allocation, no
 * formatting: the sides hold their values as text already) and the only
 * allocation is the registry's, when a label combination is new.
 */
#include <string.h>

#include "aggregate/istio.h"
#include "core/alloc.h"
#include "model/registry.h"

/* Istio's label names in Istio's order (istio_stats all_tags_, docs). */
enum {
	L_REPORTER = 0,
	L_SOURCE = 1,       /* 8 identity labels: workload .. cluster */
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
static const double envoy_buckets[] = {0.5,  1,    5,     10,    25,     50,     100,     250,     500,    1000,
				       2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000};
#define N_BUCKETS (sizeof(envoy_buckets) / sizeof(envoy_buckets[0]))

struct ml_istio {
	struct ml_family *requests;
	struct ml_family *duration;
	struct ml_family *request_bytes;
	struct ml_family *response_bytes;
};

static struct ml_family *add(struct ml_registry *r, const char *name, enum ml_metric_type type, const char *help,
			     size_t max_series, struct ml_err *err)
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
	struct ml_istio *m = ml_calloc(1, sizeof(*m));
	if (m == NULL) {
		ml_err_set(err, ML_ENOMEM, "istio metrics: out of memory");
		goto fail;
	}
	m->requests = add(r, "istio_requests_total", ML_METRIC_COUNTER,
			  "Requests between workloads as their sidecars report them, derived from spans", max_series,
			  err);
	if (m->requests == NULL)
		goto fail;
	m->duration = add(r, "istio_request_duration_milliseconds", ML_METRIC_HISTOGRAM,
			  "Request duration in milliseconds, derived from spans", max_series, err);
	if (m->duration == NULL)
		goto fail;
	m->request_bytes = add(r, "istio_request_bytes", ML_METRIC_HISTOGRAM,
			       "Request body size in bytes, derived from spans", max_series, err);
	if (m->request_bytes == NULL)
		goto fail;
	m->response_bytes = add(r, "istio_response_bytes", ML_METRIC_HISTOGRAM,
				"Response body size in bytes, derived from spans", max_series, err);
	if (m->response_bytes == NULL)
		goto fail;
	return m;

fail:
	ml_free(m);
	return NULL;
}

void ml_istio_destroy(struct ml_istio *m)
{
	ml_free(m); /* the families belong to the registry */
}

/* A peer Istio knows nothing about: "unknown", canonical revision "latest". */
static const struct ml_str unknown_side[ML_MESH_CANONICAL_REVISION + 2] = {
	[ML_MESH_WORKLOAD] = {"unknown", 7},
	[ML_MESH_NAMESPACE] = {"unknown", 7},
	[ML_MESH_PRINCIPAL] = {"unknown", 7},
	[ML_MESH_APP] = {"unknown", 7},
	[ML_MESH_VERSION] = {"unknown", 7},
	[ML_MESH_CANONICAL_SERVICE] = {"unknown", 7},
	[ML_MESH_CANONICAL_REVISION] = {"latest", 6},
	[ML_MESH_CLUSTER] = {"unknown", 7},
};

static bool is_unknown(struct ml_str s)
{
	return s.n == 7 && memcmp(s.p, "unknown", 7) == 0;
}

/*
 * The label values of one report. rep is the reporting side (its request
 * facts are used), peer the other side or NULL.
 */
static void labels(struct ml_str *out, const struct ml_mesh_side *rep, const struct ml_mesh_side *peer)
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
	if (peer != NULL && (is_unknown(rf[ML_MESH_DEST_SERVICE]) ||
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

/* One report: the counter and the three histograms. Returns the drops. */
static size_t report(struct ml_istio *m, const struct ml_mesh_side *rep, const struct ml_mesh_side *peer)
{
	struct ml_str v[L_COUNT];
	size_t dropped = 0;
	struct ml_child *c;
	labels(v, rep, peer);
	if ((c = ml_family_child(m->requests, v)) != NULL)
		ml_child_add(c, 1);
	else
		dropped++;
	if ((c = ml_family_child(m->duration, v)) != NULL)
		ml_child_observe(c, ml_mesh_side_duration_ms(rep));
	else
		dropped++;
	if ((c = ml_family_child(m->request_bytes, v)) != NULL)
		ml_child_observe(c, ml_mesh_side_request_bytes(rep));
	else
		dropped++;
	if ((c = ml_family_child(m->response_bytes, v)) != NULL)
		ml_child_observe(c, ml_mesh_side_response_bytes(rep));
	else
		dropped++;
	return dropped;
}

size_t ml_istio_record(struct ml_istio *m, const struct ml_mesh_side *client, const struct ml_mesh_side *server)
{
	size_t dropped = 0;
	if (client != NULL)
		dropped += report(m, client, server);
	if (server != NULL)
		dropped += report(m, server, client);
	return dropped;
}
