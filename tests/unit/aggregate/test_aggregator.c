/*
 * test_aggregator.c - collector/aggregate/aggregator.c end to end: Zipkin
 * spans as Envoy sends them (decoded by the real decoder) become span
 * metrics, Istio's standard metrics from both reporters and service-graph
 * edges, for non-shared and shared span ids; Tempo's expiry edges (user,
 * virtual node, database, messaging system); bounded pending halves with
 * the health metrics that count them; the flush into a real temporary TSDB
 * read back by select; and counters that continue across a restart.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aggregate/aggregator.h"
#include "agg_fixtures.h"
#include "ingest/zipkin.h"
#include "model/labels.h"
#include "query/matcher.h"
#include "store/env.h"
#include "store/tsdb.h"

#define T0 1764000000000LL
#define WAIT 2000

static struct ml_registry *derived, *self;
static struct ml_aggregator *agg;
static struct ml_arena *arena;
static char dir[64];
static struct ml_store *st;
static struct ml_tsdb *db;

static void open_store(void)
{
	struct ml_err err = {{0}};
	struct ml_store_options so = {.path = dir, .max_bytes = 1ULL << 30};
	st = ml_store_open(&so, &err);
	cr_assert_not_null(st, "%s", err.msg);
	db = ml_tsdb_open(st, NULL, &err);
	cr_assert_not_null(db, "%s", err.msg);
}

static void close_store(void)
{
	ml_tsdb_close(db);
	ml_store_close(st);
	db = NULL;
	st = NULL;
}

static void make_agg(size_t max_edges)
{
	struct ml_err err = {{0}};
	derived = ml_registry_create();
	self = ml_registry_create();
	struct ml_aggregator_options o = {
	    .span_metrics_names = ML_SPAN_METRICS_TEMPO,
	    .service_graph_wait_ms = WAIT,
	    .service_graph_max_edges = max_edges,
	    .max_series = 1000,
	};
	agg = ml_aggregator_create(derived, self, db, &o, &err);
	cr_assert_not_null(agg, "%s", err.msg);
}

static void free_agg(void)
{
	ml_aggregator_destroy(agg);
	ml_registry_destroy(derived);
	ml_registry_destroy(self);
	agg = NULL;
}

static void setup(void)
{
	arena = ml_arena_create(0);
	db = NULL;
	make_agg(100);
}

static void teardown(void)
{
	free_agg();
	ml_arena_destroy(arena);
}

static void setup_store(void)
{
	strcpy(dir, "/tmp/ml_agg_XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	arena = ml_arena_create(0);
	open_store();
	make_agg(100);
}

static void teardown_store(void)
{
	free_agg();
	close_store();
	ml_arena_destroy(arena);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}

/* Decodes a Zipkin v2 JSON array (as Envoy posts it) and aggregates it at now. */
static void post_zipkin(const char *json, int64_t now)
{
	struct ml_span_batch b;
	struct ml_ingest_report rep;
	struct ml_err err = {{0}};
	memset(&rep, 0, sizeof(rep));
	ml_span_batch_init(&b, arena);
	cr_assert_eq(ml_zipkin_decode_json((const uint8_t *)json, strlen(json), &b, &rep, &err), 0,
	             "%s", err.msg);
	cr_assert_eq(rep.rejected, 0, "%s", rep.first_reject);
	ml_aggregator_spans(agg, &b, now);
}

#define TRACE "\"traceId\":\"463ac35c9f6413ad48485a3953bb6124\""
#define EP(svc, ip) "\"localEndpoint\":{\"serviceName\":\"" svc "\",\"ipv4\":\"" ip "\"}"
#define ENVOY_TAGS(status, flags)                                                                  \
	"\"tags\":{\"component\":\"proxy\",\"http.method\":\"GET\",\"http.protocol\":\"HTTP/"      \
	"1.1\","                                                                                   \
	"\"http.status_code\":\"" status "\",\"response_flags\":\"" flags "\"}"

/* productpage's sidecar: its CLIENT span of a call to reviews */
static const char *client_span =
    "[{" TRACE ",\"id\":\"00000000000000c1\",\"parentId\":\"00000000000000a1\","
    "\"name\":\"reviews.default.svc.cluster.local:9080/*\",\"kind\":\"CLIENT\","
    "\"timestamp\":1764000000000000,\"duration\":150000," EP(
        "productpage.default", "10.1.0.5") "," ENVOY_TAGS("200", "-") "}]";
/* reviews' sidecar, Istio's default: a new span id, parentId = the client span */
static const char *server_span =
    "[{" TRACE ",\"id\":\"00000000000000d1\",\"parentId\":\"00000000000000c1\","
    "\"name\":\"reviews.default.svc.cluster.local:9080/*\",\"kind\":\"SERVER\","
    "\"timestamp\":1764000000001000,\"duration\":90000," EP(
        "reviews.default", "10.1.1.7") "," ENVOY_TAGS("200", "-") "}]";
/* Envoy's own default: the server span reuses the client's id, shared=true */
static const char *shared_pair =
    "[{" TRACE ",\"id\":\"00000000000000e1\",\"parentId\":\"00000000000000a1\","
    "\"name\":\"ratings\",\"kind\":\"CLIENT\",\"timestamp\":1764000000000000,\"duration\":"
    "30000," EP("reviews.default", "10.1.1.7") "," ENVOY_TAGS(
        "500",
        "URX") "},"
               "{" TRACE
               ",\"id\":\"00000000000000e1\",\"parentId\":\"00000000000000a1\",\"shared\":true,"
               "\"name\":\"ratings\",\"kind\":\"SERVER\",\"timestamp\":1764000000001000,"
               "\"duration\":20000," EP(
                   "ratings.default",
                   "10.1.2.9") ",\"tags\":{\"http.status_code\":\"500\",\"error\":\"true\"}}]";

static const char *const src[25] = {"source"};
static const char *const dst[25] = {"destination"};

static double self_value(const char *name)
{
	return fx_value(self, name, NULL);
}

TestSuite(aggregator, .init = setup, .fini = teardown);

Test(aggregator, zipkin_client_and_server_from_two_sidecars_pair)
{
	post_zipkin(client_span, T0);
	const char *edge[] = {"productpage.default", "reviews.default", ""};
	cr_assert(isnan(fx_value(derived, "traces_service_graph_request_total", edge)));
	cr_assert_eq(self_value("meshlens_service_graph_unpaired_edges"), 1);
	post_zipkin(server_span, T0 + 300);
	cr_assert_eq(fx_value(derived, "traces_service_graph_request_total", edge), 1);
	cr_assert_eq(
	    fx_hist(derived, "traces_service_graph_request_client_seconds", edge, 1).bucket_value,
	    1, "150 ms is within le=0.2");
	cr_assert_eq(
	    fx_hist(derived, "traces_service_graph_request_server_seconds", edge, 0).bucket_value,
	    1, "90 ms is within le=0.1");
	cr_assert_eq(fx_children(derived, "traces_service_graph_request_failed_total"), 0);
	/* each sidecar reports the request once */
	cr_assert_eq(fx_value(derived, "istio_requests_total", src), 1);
	cr_assert_eq(fx_value(derived, "istio_requests_total", dst), 1);
	const char *sm[] = {"reviews.default", NULL, "SPAN_KIND_SERVER", "STATUS_CODE_UNSET"};
	cr_assert_eq(fx_value(derived, "traces_spanmetrics_calls_total", sm), 1);
	cr_assert_eq(self_value("meshlens_service_graph_unpaired_edges"), 0);
	/* nothing left to expire, nothing counted twice */
	cr_assert_eq(ml_aggregator_expire(agg, INT64_MAX), 0);
	cr_assert_eq(fx_value(derived, "istio_requests_total", src), 1);
}

Test(aggregator, zipkin_shared_span_pairs_and_fails_on_error)
{
	post_zipkin(shared_pair, T0);
	const char *edge[] = {"reviews.default", "ratings.default", ""};
	cr_assert_eq(fx_value(derived, "traces_service_graph_request_total", edge), 1);
	cr_assert_eq(fx_value(derived, "traces_service_graph_request_failed_total", edge), 1,
	             "Zipkin error=true is status ERROR");
	cr_assert_eq(self_value("meshlens_service_graph_unpaired_edges"), 0);
	cr_assert_eq(fx_value(derived, "istio_requests_total", src), 1);
	cr_assert_eq(fx_value(derived, "istio_requests_total", dst), 1);
	/* no edge from "user": the shared server span has a client */
	cr_assert_eq(fx_children(derived, "traces_service_graph_request_total"), 1);
}

Test(aggregator, shared_root_server_pairs_instead_of_coming_from_user)
{
	const char *json =
	    "[{" TRACE ",\"id\":\"00000000000000f1\",\"name\":\"x\",\"kind\":\"CLIENT\","
	    "\"timestamp\":1764000000000000,\"duration\":1000," EP(
	        "web", "10.0.0.1") "},"
	                           "{" TRACE ",\"id\":\"00000000000000f1\",\"shared\":true,"
	                                     "\"name\":\"x\",\"kind\":\"SERVER\","
	                           "\"timestamp\":1764000000000000,\"duration\":900," EP(
	                               "api", "10.0.0.2") "}]";
	post_zipkin(json, T0);
	const char *edge[] = {"web", "api", ""};
	cr_assert_eq(fx_value(derived, "traces_service_graph_request_total", edge), 1);
	cr_assert_eq(fx_children(derived, "traces_service_graph_request_total"), 1);
}

Test(aggregator, tempo_expiry_edges)
{
	struct ml_span_batch b;
	ml_span_batch_init(&b, arena);
	/* a root server span: called from outside, an edge from "user" */
	fx_span(&b, "gateway", ML_SPAN_KIND_SERVER, 1, 0x10, 0, 50, ML_STATUS_UNSET);
	/* lone clients naming what they call */
	struct ml_span *s = fx_span(&b, "shop", ML_SPAN_KIND_CLIENT, 2, 0x20, 0x1, 20, 0);
	fx_attr(&b, s, "peer.service", "payments-api");
	s = fx_span(&b, "shop", ML_SPAN_KIND_CLIENT, 3, 0x30, 0x1, 4, ML_STATUS_ERROR);
	fx_attr(&b, s, "db.system", "postgresql");
	s = fx_span(&b, "shop", ML_SPAN_KIND_PRODUCER, 4, 0x40, 0x1, 1, 0);
	fx_attr(&b, s, "messaging.system", "kafka");
	/* a lone client naming nothing, a lone non-root server: no edge */
	fx_span(&b, "shop", ML_SPAN_KIND_CLIENT, 5, 0x50, 0x1, 1, 0);
	fx_span(&b, "mailer", ML_SPAN_KIND_SERVER, 6, 0x60, 0x61, 1, 0);
	ml_aggregator_spans(agg, &b, T0);

	const char *user[] = {"user", "gateway", ""};
	cr_assert_eq(fx_value(derived, "traces_service_graph_request_total", user), 1,
	             "a root server span needs no wait");
	cr_assert_eq(fx_children(derived, "traces_service_graph_request_total"), 1);
	cr_assert_eq(self_value("meshlens_service_graph_unpaired_edges"), 5);
	cr_assert_eq(ml_aggregator_expire(agg, T0 + WAIT - 1), 0);
	cr_assert_eq(ml_aggregator_expire(agg, T0 + WAIT), 5);

	const char *vn[] = {"shop", "payments-api", "virtual_node"};
	const char *dbe[] = {"shop", "postgresql", "database"};
	const char *mq[] = {"shop", "kafka", "messaging_system"};
	cr_assert_eq(fx_value(derived, "traces_service_graph_request_total", vn), 1);
	cr_assert_eq(fx_value(derived, "traces_service_graph_request_total", dbe), 1);
	cr_assert_eq(fx_value(derived, "traces_service_graph_request_failed_total", dbe), 1);
	cr_assert_eq(fx_value(derived, "traces_service_graph_request_total", mq), 1);
	cr_assert_eq(fx_children(derived, "traces_service_graph_request_total"), 4);
	cr_assert_eq(self_value("meshlens_service_graph_expired_edges_total"), 5);
	cr_assert_eq(self_value("meshlens_service_graph_unpaired_edges"), 0);
	/* every lone half is still one request for its own sidecar */
	cr_assert_eq(fx_value(derived, "istio_requests_total", src), 4);
	cr_assert_eq(fx_value(derived, "istio_requests_total", dst), 2);
}

Test(aggregator, pending_halves_are_bounded)
{
	free_agg();
	make_agg(8);
	struct ml_span_batch b;
	ml_span_batch_init(&b, arena);
	for (uint64_t i = 1; i <= 20; i++)
		fx_span(&b, "lonely", ML_SPAN_KIND_CLIENT, i, i, 1, 1, 0);
	ml_aggregator_spans(agg, &b, T0);
	cr_assert_eq(self_value("meshlens_service_graph_unpaired_edges"), 8);
	cr_assert_eq(self_value("meshlens_service_graph_dropped_edges_total"), 12);
	cr_assert_eq(fx_value(derived, "istio_requests_total", src), 12,
	             "a half pushed out early still counts for its sidecar");
	ml_aggregator_expire(agg, INT64_MAX);
	cr_assert_eq(fx_value(derived, "istio_requests_total", src), 20);
	cr_assert_eq(self_value("meshlens_aggregation_dropped_series_total"), 0);
}

Test(aggregator, off_means_nothing_happens)
{
	struct ml_span_batch b;
	ml_span_batch_init(&b, arena);
	fx_span(&b, "x", ML_SPAN_KIND_SERVER, 1, 1, 0, 1, 0);
	ml_aggregator_spans(NULL, &b, T0);
	cr_assert_eq(ml_aggregator_expire(NULL, T0), 0);
	cr_assert_eq(fx_children(derived, "traces_spanmetrics_calls_total"), 0);
}

/* ---- with a TSDB -------------------------------------------------------------------- */

/* The samples of the one series selected by name and label=value pairs (NULL-terminated). */
static size_t select_series(const char *name, const char *const *kv, struct ml_sample *out,
                            size_t cap, char *labels_out, size_t labels_cap)
{
	struct ml_err err = {{0}};
	struct ml_matcher ms[8];
	struct ml_matcher *mp[8];
	size_t n = 0;
	cr_assert_eq(ml_matcher_init(&ms[n], ML_MATCH_EQ, "__name__", 8, name, strlen(name), &err),
	             0);
	mp[n] = &ms[n];
	n++;
	for (size_t i = 0; kv && kv[i]; i += 2, n++) {
		cr_assert_eq(ml_matcher_init(&ms[n], ML_MATCH_EQ, kv[i], strlen(kv[i]), kv[i + 1],
		                             strlen(kv[i + 1]), &err),
		             0);
		mp[n] = &ms[n];
	}
	struct ml_tsdb_series_set *set = NULL;
	cr_assert_eq(ml_tsdb_select(db, mp, n, INT64_MIN, INT64_MAX, 0, &set, &err), 0, "%s",
	             err.msg);
	size_t got = 0;
	int series = 0;
	while (ml_tsdb_series_set_next(set, &err) == 1) {
		series++;
		const struct ml_sample *s;
		size_t ns;
		ml_tsdb_series_set_samples(set, &s, &ns);
		for (size_t i = 0; i < ns && got < cap; i++)
			out[got++] = s[i];
		if (labels_out)
			ml_labels_format(ml_tsdb_series_set_labels(set), labels_out, labels_cap);
	}
	ml_tsdb_series_set_free(set);
	for (size_t i = 0; i < n; i++)
		ml_matcher_fini(&ms[i]);
	cr_assert_leq(series, 1, "%s: %d series", name, series);
	return got;
}

TestSuite(aggregator_tsdb, .init = setup_store, .fini = teardown_store);

Test(aggregator_tsdb, flush_writes_cumulative_series_read_back_by_select)
{
	struct ml_err err = {{0}};
	post_zipkin(client_span, T0);
	post_zipkin(server_span, T0);
	cr_assert_eq(ml_aggregator_flush(agg, T0 + 1000, &err), 0, "%s", err.msg);
	post_zipkin(shared_pair, T0 + 1500);
	cr_assert_eq(ml_aggregator_flush(agg, T0 + 2000, &err), 0, "%s", err.msg);

	struct ml_sample s[8];
	char labels[512];
	const char *kv[] = {"client", "productpage.default", NULL};
	size_t n =
	    select_series("traces_service_graph_request_total", kv, s, 8, labels, sizeof(labels));
	cr_assert_eq(n, 3, "a 0 before the first value, then one sample per flush");
	cr_assert_eq(s[0].t_ms, T0 + 999);
	cr_assert_eq(s[0].v, 0, "a new series starts from 0, so rate() sees its first requests");
	cr_assert_eq(s[1].t_ms, T0 + 1000);
	cr_assert_eq(s[1].v, 1);
	cr_assert_eq(s[2].t_ms, T0 + 2000);
	cr_assert_eq(s[2].v, 1, "cumulative: the same request is not counted again");
	cr_assert_str_eq(labels,
	                 "traces_service_graph_request_total{client=\"productpage.default\", "
	                 "server=\"reviews.default\"}",
	                 "an empty connection_type is no label, as in Prometheus");

	const char *le01[] = {"client", "productpage.default", "le", "0.1", NULL};
	n = select_series("traces_service_graph_request_server_seconds_bucket", le01, s, 8, NULL,
	                  0);
	cr_assert_eq(n, 3);
	cr_assert_eq(s[0].v, 0);
	cr_assert_eq(s[1].v, 1);
	const char *le02[] = {"client", "productpage.default", "le", "0.2", NULL};
	cr_assert_eq(select_series("traces_service_graph_request_client_seconds_bucket", le02, s, 8,
	                           NULL, 0),
	             3);
	cr_assert_eq(s[1].v, 1);
	const char *le01c[] = {"client", "productpage.default", "le", "0.1", NULL};
	cr_assert_eq(select_series("traces_service_graph_request_client_seconds_bucket", le01c, s,
	                           8, NULL, 0),
	             3);
	cr_assert_eq(s[1].v, 0, "150 ms is not within le=0.1");
	const char *inf[] = {"client", "productpage.default", "le", "+Inf", NULL};
	cr_assert_eq(
	    select_series("traces_service_graph_request_client_seconds_bucket", inf, s, 8, NULL, 0),
	    3);
	cr_assert_eq(s[1].v, 1);
	const char *le128[] = {"client", "productpage.default", "le", "12.8", NULL};
	cr_assert_eq(select_series("traces_service_graph_request_client_seconds_bucket", le128, s,
	                           8, NULL, 0),
	             3);
	cr_assert_eq(
	    select_series("traces_service_graph_request_client_seconds_count", kv, s, 8, NULL, 0),
	    3);
	cr_assert_eq(s[2].v, 1);
	cr_assert_eq(
	    select_series("traces_service_graph_request_client_seconds_sum", kv, s, 8, NULL, 0), 3);
	cr_assert_float_eq(s[2].v, 0.15, 1e-9);

	/* the shared pair only exists from the second flush on */
	const char *failed[] = {"client", "reviews.default", "server", "ratings.default", NULL};
	cr_assert_eq(
	    select_series("traces_service_graph_request_failed_total", failed, s, 8, NULL, 0), 2);
	cr_assert_eq(s[0].t_ms, T0 + 1999);
	cr_assert_eq(s[1].t_ms, T0 + 2000);
	cr_assert_eq(s[1].v, 1);
	/* Envoy's buckets print as Prometheus prints them */
	const char *big[] = {"reporter", "destination", "response_code", "500", "le",
	                     "3600000",  NULL};
	cr_assert_eq(
	    select_series("istio_request_duration_milliseconds_bucket", big, s, 8, NULL, 0), 2);
	cr_assert_eq(s[1].v, 1);
	const char *half[] = {"reporter", "destination", "response_code", "500", "le", "0.5", NULL};
	cr_assert_eq(
	    select_series("istio_request_duration_milliseconds_bucket", half, s, 8, NULL, 0), 2);
	cr_assert_eq(s[1].v, 0);

	/* metadata: type and help per family */
	struct ml_tsdb_meta *meta = NULL;
	size_t n_meta = 0;
	const char *fam = "traces_service_graph_request_server_seconds";
	cr_assert_eq(ml_tsdb_metadata(db, fam, strlen(fam), 0, arena, &meta, &n_meta, &err), 0);
	cr_assert_eq(n_meta, 1);
	cr_assert_eq(meta[0].type, ML_METRIC_HISTOGRAM);
	cr_assert(meta[0].help.n > 0);
}

Test(aggregator_tsdb, flush_twice_in_one_millisecond_moves_forward)
{
	struct ml_err err = {{0}};
	post_zipkin(client_span, T0);
	post_zipkin(server_span, T0);
	cr_assert_eq(ml_aggregator_flush(agg, T0, &err), 0, "%s", err.msg);
	post_zipkin(shared_pair, T0);
	cr_assert_eq(ml_aggregator_flush(agg, T0, &err), 0, "%s", err.msg);
	struct ml_sample s[4];
	const char *kv[] = {"client", "reviews.default", NULL};
	cr_assert_eq(select_series("traces_service_graph_request_total", kv, s, 4, NULL, 0), 2);
	cr_assert_eq(s[1].t_ms, T0 + 1, "a second flush at the same ms is written 1 ms later");
	cr_assert_eq(s[1].v, 1);
	const char *old[] = {"client", "productpage.default", NULL};
	cr_assert_eq(select_series("traces_service_graph_request_total", old, s, 4, NULL, 0), 3);
	cr_assert_eq(s[2].t_ms, T0 + 1);
}

Test(aggregator_tsdb, restart_keeps_counters_monotonic)
{
	struct ml_err err = {{0}};
	post_zipkin(client_span, T0);
	post_zipkin(server_span, T0);
	post_zipkin(shared_pair, T0);
	cr_assert_eq(ml_aggregator_shutdown(agg, T0 + 1000, &err), 0, "%s", err.msg);
	/* another writer's series of the same name, with labels the family does not have */
	{
		struct ml_sample_batch sb;
		ml_sample_batch_init(&sb, arena);
		struct ml_series_samples *ss = ml_sample_batch_add(&sb, 4, 1);
		ss->labels[0] = (struct ml_label){ML_STR("__name__"),
		                                  ML_STR("traces_service_graph_request_total")};
		ss->labels[1] = (struct ml_label){ML_STR("client"), ML_STR("x")};
		ss->labels[2] = (struct ml_label){ML_STR("server"), ML_STR("y")};
		ss->labels[3] = (struct ml_label){ML_STR("job"), ML_STR("tempo")};
		ss->samples[0] = (struct ml_sample){T0 + 1000, 100};
		cr_assert_eq(ml_tsdb_append(db, &sb, NULL, &err), 0, "%s", err.msg);
	}
	const char *edge[] = {"productpage.default", "reviews.default", ""};
	double before_total = fx_value(derived, "istio_requests_total", NULL);
	struct fx_find before_h =
	    fx_hist(derived, "traces_service_graph_request_server_seconds", edge, 0);
	cr_assert_eq(before_total, 4);

	/* restart: everything in memory is gone, the store is reopened */
	free_agg();
	close_store();
	open_store();
	make_agg(100);
	cr_assert_eq(ml_aggregator_restore(agg, T0 + 5000, &err), 0, "%s", err.msg);
	cr_assert_eq(fx_value(derived, "traces_service_graph_request_total", edge), 1);
	cr_assert_eq(fx_value(derived, "istio_requests_total", NULL), before_total);
	struct fx_find h = fx_hist(derived, "traces_service_graph_request_server_seconds", edge, 0);
	cr_assert_eq(h.count, before_h.count);
	cr_assert_eq(h.bucket_value, before_h.bucket_value);
	cr_assert_float_eq(h.sum, before_h.sum, 1e-12);
	const char *foreign[] = {"x", "y", ""};
	cr_assert(isnan(fx_value(derived, "traces_service_graph_request_total", foreign)),
	          "series with labels the family lacks are not ours");

	/* more traffic after the restart continues the counters */
	const char *again =
	    "[{\"traceId\":\"563ac35c9f6413ad48485a3953bb6124\",\"id\":\"00000000000000c1\","
	    "\"parentId\":\"00000000000000a1\",\"name\":\"r\",\"kind\":\"CLIENT\","
	    "\"timestamp\":1764000000000000,\"duration\":150000,"
	    "\"localEndpoint\":{\"serviceName\":\"productpage.default\"}},"
	    "{\"traceId\":\"563ac35c9f6413ad48485a3953bb6124\",\"id\":\"00000000000000d1\","
	    "\"parentId\":\"00000000000000c1\",\"name\":\"r\",\"kind\":\"SERVER\","
	    "\"timestamp\":1764000000000000,\"duration\":150000,"
	    "\"localEndpoint\":{\"serviceName\":\"reviews.default\"}}]";
	post_zipkin(again, T0 + 6000);
	cr_assert_eq(ml_aggregator_flush(agg, T0 + 7000, &err), 0, "%s", err.msg);
	struct ml_sample s[8];
	const char *kv[] = {"client", "productpage.default", "server", "reviews.default", NULL};
	size_t n = select_series("traces_service_graph_request_total", kv, s, 8, NULL, 0);
	/* 0 before the first flush, 1 at shutdown, 2 after the restart: never a reset */
	cr_assert_eq(n, 3);
	cr_assert_eq(s[0].v, 0);
	cr_assert_eq(s[1].v, 1);
	cr_assert_eq(s[2].v, 2);
	cr_assert_eq(s[2].t_ms, T0 + 7000);
	const char *c[] = {"client", "productpage.default", NULL};
	n = select_series("traces_service_graph_request_server_seconds_count", c, s, 8, NULL, 0);
	cr_assert_eq(n, 3);
	cr_assert_eq(s[2].v, 2);
	const char *le04[] = {"client", "productpage.default", "le", "0.4", NULL};
	n = select_series("traces_service_graph_request_server_seconds_bucket", le04, s, 8, NULL,
	                  0);
	cr_assert_eq(n, 3);
	cr_assert_eq(s[1].v, 1);
	cr_assert_eq(s[2].v, 2);
}
