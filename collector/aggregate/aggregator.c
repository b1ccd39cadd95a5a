/*
 * aggregator.c - the span aggregation driver (see aggregator.h): per-span
 * dispatch to span metrics and pairing, what a pair or a lone half becomes
 * (Istio's metrics, service-graph edges, Tempo's expiry edges), the flush
 * of the derived registry into the TSDB and the restore from it.
 */
#include "aggregate/aggregator.h"

#include "aggregate/istio.h"
#include "aggregate/pairing.h"
#include "aggregate/service_graph.h"
#include "core/alloc.h"
#include "core/arena.h"
#include "core/log.h"
#include "ingest/otel_prom_names.h"
#include "model/labels.h"
#include "model/registry.h"
#include "model/sample.h"
#include "query/matcher.h"
#include "store/tsdb.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Series per ml_tsdb_append during a flush: one synced commit each, a bounded batch. */
#define FLUSH_BATCH_SERIES 4096

struct ml_aggregator {
	struct ml_registry *derived;
	struct ml_tsdb *tsdb;
	int64_t retention_ms;
	struct ml_span_metrics *spans;
	struct ml_service_graph *graph;
	struct ml_istio *istio;
	struct ml_pairing *pairing;
	_Atomic uint64_t dropped_series;
	int64_t last_flush_ms;
	/*
	 * Per family: how many of its children (in creation order) are in the
	 * TSDB already. A child beyond that gets a 0 sample 1 ms before its first
	 * value, as Tempo's metrics generator does, so that rate() and increase()
	 * see its first requests instead of starting from them.
	 */
	struct fam_seen {
		const struct ml_family_desc *f;
		size_t seen, visited;
	} * seen;
	size_t n_seen, cap_seen;
	struct self_hook {
		struct ml_aggregator *a;
		int which; /* enum self_which */
		struct ml_family *f;
	} hooks[4];
};

int64_t ml_aggregator_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- what a pair becomes --------------------------------------------------- */

static void count_dropped(struct ml_aggregator *a, size_t n)
{
	if (n)
		atomic_fetch_add(&a->dropped_series, n);
}

/*
 * The pairing callback. A complete pair: both sidecars' Istio reports and a
 * direct edge (messaging_system between a producer and its consumer). A lone
 * half: its own sidecar's Istio report, plus Tempo's expiry edges.
 */
static void on_pair(void *ctx, const struct ml_pair_half *c, const struct ml_pair_half *s,
                    enum ml_pair_outcome how)
{
	struct ml_aggregator *a = ctx;
	size_t dropped = 0;
	if (a->istio && ((c && c->mesh) || (s && s->mesh)))
		dropped += ml_istio_record(a->istio, c ? c->mesh : NULL, s ? s->mesh : NULL);
	struct ml_sg_edge e;
	memset(&e, 0, sizeof(e));
	if (how == ML_PAIR_COMPLETE) {
		e.client = c->service;
		e.server = s->service;
		e.type = c->kind == ML_SPAN_KIND_PRODUCER || s->kind == ML_SPAN_KIND_CONSUMER
		             ? ML_CONN_MESSAGING
		             : ML_CONN_DIRECT;
		e.client_seconds = c->seconds;
		e.server_seconds = s->seconds;
		e.failed = c->failed || s->failed;
	} else if (s != NULL && s->root) {
		/* A request from outside the traced world: Tempo's edge from "user". */
		e.client = ML_STR("user");
		e.server = s->service;
		e.server_seconds = s->seconds;
		e.failed = s->failed;
	} else if (c != NULL && c->peer.n > 0) {
		/* A call to something that sends no spans: Tempo's virtual node. */
		e.client = c->service;
		e.server = c->peer;
		e.type = (enum ml_connection_type)c->peer_type;
		e.client_seconds = c->seconds;
		e.server_seconds = e.type == ML_CONN_DATABASE ? c->seconds : 0;
		e.failed = c->failed;
	} else {
		count_dropped(a, dropped);
		return;
	}
	dropped += ml_service_graph_record(a->graph, &e);
	count_dropped(a, dropped);
}

/*
 * The virtual node a client span names, Tempo's peer attributes first. One
 * pass over the attributes (an Envoy span has ~20), comparing lengths first.
 */
static void peer_node(const struct ml_span *s, struct ml_pair_half *h)
{
	static const struct {
		struct ml_str key;
		enum ml_connection_type type;
	} peers[] = {
	    {ML_STR("peer.service"), ML_CONN_VIRTUAL_NODE},
	    {ML_STR("db.name"), ML_CONN_DATABASE},
	    {ML_STR("db.system"), ML_CONN_DATABASE},
	    {ML_STR("messaging.system"), ML_CONN_MESSAGING},
	};
	size_t best = sizeof(peers) / sizeof(peers[0]);
	for (uint32_t i = 0; i < s->attrs.n && best > 0; i++) {
		const struct ml_attr *at = &s->attrs.items[i];
		if (at->type != ML_VAL_STRING || at->v.s.n == 0)
			continue;
		for (size_t k = 0; k < best; k++) {
			if (ml_str_eq(at->key, peers[k].key)) {
				best = k;
				h->peer = at->v.s;
				h->peer_type = (uint8_t)peers[k].type;
				break;
			}
		}
	}
}

/* The pairing side of one span (its span metrics are counted per batch). */
static void aggregate_span(struct ml_aggregator *a, const struct ml_span *s, int64_t now_ms)
{
	bool client = s->kind == ML_SPAN_KIND_CLIENT || s->kind == ML_SPAN_KIND_PRODUCER;
	bool server = s->kind == ML_SPAN_KIND_SERVER || s->kind == ML_SPAN_KIND_CONSUMER;
	if (!client && !server)
		return;
	struct ml_pair_half h;
	memset(&h, 0, sizeof(h));
	h.service = s->resource->service_name;
	h.kind = s->kind;
	h.failed = s->status_code == ML_STATUS_ERROR;
	h.seconds = s->end_ns > s->start_ns ? (double)(s->end_ns - s->start_ns) / 1e9 : 0;
	int nomem = 0;
	h.mesh = a->istio ? ml_mesh_side_from_span(s, &nomem) : NULL;
	if (nomem)
		count_dropped(a, 1);
	if (client) {
		peer_node(s, &h);
		if (ml_pairing_add(a->pairing, s->trace_id, s->span_id, false, &h, now_ms) != 0)
			count_dropped(a, 1);
		return;
	}
	h.root = !ml_span_has_parent(s);
	if (h.root && !s->shared) {
		/* No client can pair with a root server span: count it now, not after the wait. */
		on_pair(a, NULL, &h, ML_PAIR_EXPIRED);
		ml_mesh_side_free(h.mesh);
		return;
	}
	const uint8_t *key = s->shared ? s->span_id : s->parent_id;
	if (ml_pairing_add(a->pairing, s->trace_id, key, true, &h, now_ms) != 0)
		count_dropped(a, 1);
}

void ml_aggregator_spans(struct ml_aggregator *a, const struct ml_span_batch *b, int64_t now_ms)
{
	if (a == NULL)
		return;
	count_dropped(a, ml_span_metrics_record_batch(a->spans, b->spans, b->n));
	for (size_t i = 0; i < b->n; i++)
		aggregate_span(a, &b->spans[i], now_ms);
}

size_t ml_aggregator_expire(struct ml_aggregator *a, int64_t now_ms)
{
	return a ? ml_pairing_expire(a->pairing, now_ms) : 0;
}

/* ---- health metrics -------------------------------------------------------- */

enum self_which { SELF_UNPAIRED, SELF_EXPIRED, SELF_DROPPED_EDGES, SELF_DROPPED_SERIES };

static void self_collect(void *ctx, struct ml_family *f)
{
	const struct self_hook *hk = ctx;
	struct ml_pairing_stats st;
	ml_pairing_get_stats(hk->a->pairing, &st);
	struct ml_child *c = ml_family_child(f, NULL);
	if (c == NULL)
		return;
	switch (hk->which) {
	case SELF_UNPAIRED:
		ml_child_set(c, (double)st.pending);
		break;
	case SELF_EXPIRED:
		ml_child_set(c, (double)st.expired);
		break;
	case SELF_DROPPED_EDGES:
		ml_child_set(c, (double)st.dropped);
		break;
	case SELF_DROPPED_SERIES:
		ml_child_set(c, (double)atomic_load(&hk->a->dropped_series));
		break;
	}
}

static const struct {
	const char *name;
	enum ml_metric_type type;
	const char *help;
} self_families[4] = {
    [SELF_UNPAIRED] = {"meshlens_service_graph_unpaired_edges", ML_METRIC_GAUGE,
                       "Client or server spans waiting for their peer span."},
    [SELF_EXPIRED] = {"meshlens_service_graph_expired_edges_total", ML_METRIC_COUNTER,
                      "Spans that found no peer span within --aggregation.service-graph.wait."},
    [SELF_DROPPED_EDGES] = {"meshlens_service_graph_dropped_edges_total", ML_METRIC_COUNTER,
                            "Spans pushed out of the pairing table before their wait was over "
                            "(--aggregation.service-graph.max-edges waiting)."},
    [SELF_DROPPED_SERIES] = {"meshlens_aggregation_dropped_series_total", ML_METRIC_COUNTER,
                             "Aggregate updates lost because a family had --aggregation.max-series "
                             "series (or memory ran out)."},
};

static int register_self(struct ml_aggregator *a, struct ml_registry *self, struct ml_err *err)
{
	for (int i = 0; i < 4; i++) {
		struct ml_family_desc d = {
		    .name = self_families[i].name,
		    .type = self_families[i].type,
		    .help = self_families[i].help,
		};
		struct ml_family *f = ml_registry_add(self, &d, err);
		if (f == NULL)
			return ML_EINVAL;
		a->hooks[i].a = a;
		a->hooks[i].which = i;
		a->hooks[i].f = f;
		ml_family_on_collect(f, self_collect, &a->hooks[i]);
		ml_family_child(f, NULL); /* shown at 0 before anything happened */
	}
	return 0;
}

/* ---- life cycle ---------------------------------------------------------------- */

struct ml_aggregator *ml_aggregator_create(struct ml_registry *derived, struct ml_registry *self,
                                           struct ml_tsdb *tsdb,
                                           const struct ml_aggregator_options *o,
                                           struct ml_err *err)
{
	struct ml_aggregator *a = ml_calloc(1, sizeof(*a));
	if (a == NULL) {
		ml_err_set(err, ML_ENOMEM, "aggregator: out of memory");
		goto fail;
	}
	a->derived = derived;
	a->tsdb = tsdb;
	a->retention_ms = o->retention_ms;
	if ((a->istio = ml_istio_create(derived, o->max_series, err)) == NULL)
		goto fail;
	if ((a->spans = ml_span_metrics_create(derived, o->span_metrics_names, o->max_series,
	                                       err)) == NULL)
		goto fail;
	if ((a->graph = ml_service_graph_create(derived, o->max_series, err)) == NULL)
		goto fail;
	struct ml_pairing_options po = {
	    .wait_ms = o->service_graph_wait_ms,
	    .max_edges = o->service_graph_max_edges,
	    .fn = on_pair,
	    .ctx = a,
	};
	if ((a->pairing = ml_pairing_create(&po)) == NULL) {
		ml_err_set(err, ML_ENOMEM, "aggregator: out of memory for %zu pending edges",
		           o->service_graph_max_edges);
		goto fail;
	}
	if (self != NULL && register_self(a, self, err) != 0)
		goto fail;
	return a;
fail:
	ml_aggregator_destroy(a);
	return NULL;
}

void ml_aggregator_destroy(struct ml_aggregator *a)
{
	if (a == NULL)
		return;
	/* The self registry outlives us: its collect hooks must not point here any more. */
	for (int i = 0; i < 4; i++)
		if (a->hooks[i].f != NULL)
			ml_family_on_collect(a->hooks[i].f, NULL, NULL);
	ml_pairing_destroy(a->pairing);
	ml_service_graph_destroy(a->graph);
	ml_span_metrics_destroy(a->spans);
	ml_istio_destroy(a->istio);
	ml_free(a->seen);
	ml_free(a);
}

/* ---- flush ------------------------------------------------------------------------- */

struct flush_ctx {
	struct ml_aggregator *a;
	struct ml_arena *arena;
	struct ml_sample_batch batch;
	int64_t t;
	const struct ml_family_desc *fam; /* the family the names below belong to */
	struct ml_str name, bucket_name, sum_name, count_name;
	struct ml_str *le; /* n_buckets + 1, the last "+Inf" */
	struct ml_err *err;
	uint64_t series, rejected;
	const struct ml_family_desc *cur; /* the family whose children are being counted */
	size_t idx;                       /* children of cur visited so far */
};

/* The seen-children record of family f, created on first use; NULL on ENOMEM. */
static struct fam_seen *seen_of(struct ml_aggregator *a, const struct ml_family_desc *f)
{
	for (size_t i = 0; i < a->n_seen; i++)
		if (a->seen[i].f == f)
			return &a->seen[i];
	if (a->n_seen == a->cap_seen) {
		size_t cap = a->cap_seen ? a->cap_seen * 2 : 16;
		struct fam_seen *p = ml_realloc(a->seen, cap * sizeof(*p));
		if (p == NULL)
			return NULL;
		a->seen = p;
		a->cap_seen = cap;
	}
	a->seen[a->n_seen] = (struct fam_seen){f, 0, 0};
	return &a->seen[a->n_seen++];
}

static int flush_batch(struct flush_ctx *fc)
{
	if (fc->batch.n == 0 && fc->batch.n_meta == 0)
		return 0;
	struct ml_tsdb_report rep;
	memset(&rep, 0, sizeof(rep));
	int rc = ml_tsdb_append(fc->a->tsdb, &fc->batch, &rep, fc->err);
	if (rc == 0) /* children in the batches written so far are in the TSDB now */
		for (size_t i = 0; i < fc->a->n_seen; i++)
			if (fc->a->seen[i].visited > fc->a->seen[i].seen)
				fc->a->seen[i].seen = fc->a->seen[i].visited;
	if (rc == 0 && rep.samples_rejected > 0) {
		fc->rejected += rep.samples_rejected;
		ml_log(ML_LOG_DEBUG,
		       "msg=\"aggregation flush: samples rejected\" n=%llu first=\"%s\"",
		       (unsigned long long)rep.samples_rejected, rep.first_error.msg);
	}
	ml_arena_reset(fc->arena);
	ml_sample_batch_init(&fc->batch, fc->arena);
	fc->fam = NULL; /* names were in the arena */
	return rc;
}

static struct ml_str arena_str(struct ml_arena *ar, const char *a, size_t an, const char *b,
                               size_t bn)
{
	char *p = ml_arena_alloc(ar, an + bn + 1);
	if (p == NULL)
		return ml_str_make(NULL, 0);
	memcpy(p, a, an);
	if (bn)
		memcpy(p + an, b, bn);
	p[an + bn] = '\0';
	return ml_str_make(p, an + bn);
}

/* Names of family f's series in the arena (and its metadata in the batch). */
static int family_names(struct flush_ctx *fc, const struct ml_family_desc *f)
{
	size_t n = strlen(f->name);
	fc->fam = f;
	fc->name = arena_str(fc->arena, f->name, n, NULL, 0);
	if (fc->name.p == NULL)
		return ML_ENOMEM;
	struct ml_metric_meta *m = ml_sample_batch_add_meta(&fc->batch);
	if (m == NULL)
		return ML_ENOMEM;
	m->family = fc->name;
	m->type = (uint8_t)f->type;
	m->help = arena_str(fc->arena, f->help, strlen(f->help), NULL, 0);
	if (f->type != ML_METRIC_HISTOGRAM)
		return 0;
	fc->bucket_name = arena_str(fc->arena, f->name, n, "_bucket", 7);
	fc->sum_name = arena_str(fc->arena, f->name, n, "_sum", 4);
	fc->count_name = arena_str(fc->arena, f->name, n, "_count", 6);
	fc->le = ml_arena_calloc(fc->arena, f->n_buckets + 1, sizeof(*fc->le));
	if (fc->le == NULL || fc->count_name.p == NULL)
		return ML_ENOMEM;
	for (size_t i = 0; i < f->n_buckets; i++) {
		char buf[64];
		size_t len = ml_prom_format_float(f->buckets[i], buf, sizeof(buf));
		fc->le[i] =
		    arena_str(fc->arena, buf, len < sizeof(buf) ? len : sizeof(buf) - 1, NULL, 0);
	}
	fc->le[f->n_buckets] = ML_STR("+Inf");
	return 0;
}

/* One series: name, the family's labels (+ le when le.p), one sample (after a 0 if fresh). */
static int add_series(struct flush_ctx *fc, struct ml_str name, const struct ml_str *values,
                      const struct ml_str *le, double v, bool fresh)
{
	const struct ml_family_desc *f = fc->fam;
	uint32_t nl = (uint32_t)f->n_labels + 1 + (le ? 1 : 0);
	struct ml_series_samples *s = ml_sample_batch_add(&fc->batch, nl, fresh ? 2 : 1);
	if (s == NULL)
		return ML_ENOMEM;
	s->labels[0].name = ML_STR("__name__");
	s->labels[0].value = name;
	for (size_t i = 0; i < f->n_labels; i++) {
		s->labels[i + 1].name = ml_str_make(f->label_names[i], strlen(f->label_names[i]));
		/* values are only valid during the walk's callback: copy */
		s->labels[i + 1].value =
		    arena_str(fc->arena, values[i].p ? values[i].p : "", values[i].n, NULL, 0);
	}
	if (le) {
		s->labels[nl - 1].name = ML_STR("le");
		s->labels[nl - 1].value = *le;
	}
	if (fresh) {
		s->samples[0].t_ms = fc->t - 1;
		s->samples[0].v = 0;
	}
	s->samples[fresh ? 1 : 0].t_ms = fc->t;
	s->samples[fresh ? 1 : 0].v = v;
	fc->series++;
	return 0;
}

static int flush_visit(void *ctx, const struct ml_family_desc *f, const struct ml_child_value *v)
{
	struct flush_ctx *fc = ctx;
	int rc;
	if (v == NULL)
		return 0;
	if (fc->batch.n >= FLUSH_BATCH_SERIES && (rc = flush_batch(fc)) != 0)
		return rc;
	if (fc->fam != f && (rc = family_names(fc, f)) != 0)
		return ml_err_set(fc->err, rc, "aggregation flush: out of memory");
	struct fam_seen *seen = seen_of(fc->a, f);
	if (seen == NULL)
		return ml_err_set(fc->err, ML_ENOMEM, "aggregation flush: out of memory");
	if (fc->cur != f) {
		fc->cur = f;
		fc->idx = 0;
	}
	bool fresh = f->type != ML_METRIC_GAUGE && fc->idx >= seen->seen;
	seen->visited = ++fc->idx;
	const struct ml_str *lv = v->label_values;
	if (f->type != ML_METRIC_HISTOGRAM) {
		rc = add_series(fc, fc->name, lv, NULL, v->value, fresh);
	} else {
		rc = 0;
		for (size_t i = 0; rc == 0 && i < f->n_buckets; i++)
			rc = add_series(fc, fc->bucket_name, lv, &fc->le[i], (double)v->buckets[i],
			                fresh);
		if (rc == 0)
			rc = add_series(fc, fc->bucket_name, lv, &fc->le[f->n_buckets],
			                (double)v->count, fresh);
		if (rc == 0)
			rc = add_series(fc, fc->sum_name, lv, NULL, v->sum, fresh);
		if (rc == 0)
			rc = add_series(fc, fc->count_name, lv, NULL, (double)v->count, fresh);
	}
	if (rc != 0)
		return ml_err_set(fc->err, rc, "aggregation flush: out of memory");
	return 0;
}

int ml_aggregator_flush(struct ml_aggregator *a, int64_t now_ms, struct ml_err *err)
{
	if (a == NULL || a->tsdb == NULL)
		return 0;
	struct flush_ctx fc;
	memset(&fc, 0, sizeof(fc));
	fc.a = a;
	fc.err = err;
	fc.t = now_ms > a->last_flush_ms ? now_ms : a->last_flush_ms + 1;
	fc.arena = ml_arena_create(0);
	if (fc.arena == NULL)
		return ml_err_set(err, ML_ENOMEM, "aggregation flush: out of memory");
	ml_sample_batch_init(&fc.batch, fc.arena);
	int rc = ml_registry_walk(a->derived, flush_visit, &fc);
	if (rc == 0)
		rc = flush_batch(&fc);
	else if (rc == ML_ENOMEM && err)
		ml_err_set(err, rc, "aggregation flush: out of memory");
	ml_arena_destroy(fc.arena);
	if (rc == 0)
		a->last_flush_ms = fc.t;
	return rc;
}

int ml_aggregator_shutdown(struct ml_aggregator *a, int64_t now_ms, struct ml_err *err)
{
	if (a == NULL)
		return 0;
	ml_pairing_expire(a->pairing, INT64_MAX);
	return ml_aggregator_flush(a, now_ms, err);
}

int ml_aggregator_flush_task(void *ctx, int64_t now_ms)
{
	struct ml_aggregator *a = ctx;
	struct ml_err err;
	err.msg[0] = '\0';
	ml_pairing_expire(a->pairing, now_ms);
	int rc = ml_aggregator_flush(a, now_ms, &err);
	if (rc != 0)
		ml_log(ML_LOG_WARN, "msg=\"aggregation flush failed\" err=\"%s\"", err.msg);
	return rc;
}

int ml_aggregator_expire_task(void *ctx, int64_t now_ms)
{
	ml_pairing_expire(((struct ml_aggregator *)ctx)->pairing, now_ms);
	return 0;
}

/* ---- restore ------------------------------------------------------------------------ */

/* Families of the derived registry, listed by a walk before any child exists. */
struct fam_list {
	const struct ml_family_desc **d;
	size_t n, cap;
};

static int list_visit(void *ctx, const struct ml_family_desc *f, const struct ml_child_value *v)
{
	(void)v;
	struct fam_list *l = ctx;
	if (l->n > 0 && l->d[l->n - 1] == f)
		return 0;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		const struct ml_family_desc **d = ml_realloc(l->d, cap * sizeof(*d));
		if (d == NULL)
			return ML_ENOMEM;
		l->d = d;
		l->cap = cap;
	}
	l->d[l->n++] = f;
	return 0;
}

/*
 * The values of the family's labels in the series' label set, in family
 * order ("" for an absent one), and its le. false when the series has a
 * label the family does not (another writer's series of the same name).
 */
static bool series_values(const struct ml_family_desc *f, struct ml_labels ls,
                          struct ml_str *values, struct ml_str *le)
{
	for (size_t i = 0; i < f->n_labels; i++)
		values[i] = ML_STR("");
	if (le)
		*le = ML_STR("");
	struct ml_labels_iter it;
	struct ml_str name, value;
	ml_labels_iter_init(&it, ls);
	while (ml_labels_next(&it, &name, &value)) {
		if (ml_str_eq_cstr(name, "__name__"))
			continue;
		if (le && ml_str_eq_cstr(name, "le")) {
			*le = value;
			continue;
		}
		size_t i = 0;
		while (i < f->n_labels && !ml_str_eq_cstr(name, f->label_names[i]))
			i++;
		if (i == f->n_labels)
			return false;
		values[i] = value;
	}
	return true;
}

/* The latest sample's value of the current series; false if none or stale. */
static bool latest(const struct ml_tsdb_series_set *set, double *v)
{
	const struct ml_sample *s;
	size_t n;
	ml_tsdb_series_set_samples(set, &s, &n);
	if (n == 0)
		return false;
	uint64_t bits;
	memcpy(&bits, &s[n - 1].v, 8);
	if (bits == ML_STALE_NAN_BITS || isnan(s[n - 1].v))
		return false;
	*v = s[n - 1].v;
	return true;
}

/* Selects the series named name with data since mint, each with its newest sample only. */
static int select_name(struct ml_aggregator *a, const char *name, size_t n, int64_t mint,
                       struct ml_tsdb_series_set **set, struct ml_err *err)
{
	struct ml_matcher m;
	int rc = ml_matcher_init(&m, ML_MATCH_EQ, "__name__", 8, name, n, err);
	if (rc != 0)
		return rc;
	struct ml_matcher *ms[1] = {&m};
	rc = ml_tsdb_select(a->tsdb, ms, 1, mint, INT64_MAX, ML_TSDB_SELECT_NEWEST, set, err);
	ml_matcher_fini(&m);
	return rc;
}

static int restore_plain(struct ml_aggregator *a, const struct ml_family_desc *f,
                         struct ml_family *fam, int64_t mint, struct ml_err *err)
{
	struct ml_tsdb_series_set *set = NULL;
	struct ml_str *values = ml_calloc(f->n_labels + 1, sizeof(*values));
	int rc = values ? select_name(a, f->name, strlen(f->name), mint, &set, err) : ML_ENOMEM;
	if (rc != 0)
		goto fail;
	while ((rc = ml_tsdb_series_set_next(set, err)) == 1) {
		double v;
		if (!series_values(f, ml_tsdb_series_set_labels(set), values, NULL) ||
		    !latest(set, &v))
			continue;
		struct ml_child *c = ml_family_child(fam, f->n_labels ? values : NULL);
		if (c != NULL)
			ml_child_set(c, v);
	}
fail:
	ml_tsdb_series_set_free(set);
	ml_free(values);
	return rc < 0 ? rc : 0;
}

/* One histogram piece: a bucket (slot < n_buckets), the count or the sum. */
struct piece {
	char *key; /* the label values, each as 4-byte length + bytes */
	size_t key_n;
	size_t slot;
	double v;
};

static int piece_cmp(const void *x, const void *y)
{
	const struct piece *a = x, *b = y;
	if (a->key_n != b->key_n)
		return a->key_n < b->key_n ? -1 : 1;
	int c = memcmp(a->key, b->key, a->key_n);
	if (c != 0)
		return c;
	return a->slot < b->slot ? -1 : a->slot > b->slot;
}

static int restore_histogram(struct ml_aggregator *a, const struct ml_family_desc *f,
                             struct ml_family *fam, int64_t mint, struct ml_err *err)
{
	struct ml_arena *ar = ml_arena_create(0);
	struct ml_str *values = ml_calloc(f->n_labels + 1, sizeof(*values));
	uint64_t *cum = ml_calloc(f->n_buckets + 1, sizeof(*cum));
	struct ml_str *le_text = ml_calloc(f->n_buckets + 1, sizeof(*le_text));
	struct piece *pieces = NULL;
	size_t n_pieces = 0, cap = 0;
	struct ml_tsdb_series_set *set = NULL;
	int rc = ML_ENOMEM;
	if (ar == NULL || values == NULL || cum == NULL || le_text == NULL)
		goto fail;
	for (size_t i = 0; i < f->n_buckets; i++) {
		char buf[64];
		size_t len = ml_prom_format_float(f->buckets[i], buf, sizeof(buf));
		le_text[i] = arena_str(ar, buf, len < sizeof(buf) ? len : sizeof(buf) - 1, NULL, 0);
	}
	const size_t slot_count = f->n_buckets, slot_sum = f->n_buckets + 1;
	static const char *const suffix[] = {"_bucket", "_count", "_sum"};
	size_t n = strlen(f->name);
	for (int k = 0; k < 3; k++) {
		char name[300];
		if (n + 8 > sizeof(name))
			break;
		memcpy(name, f->name, n);
		strcpy(name + n, suffix[k]);
		if ((rc = select_name(a, name, strlen(name), mint, &set, err)) != 0)
			goto fail;
		while ((rc = ml_tsdb_series_set_next(set, err)) == 1) {
			struct ml_str le;
			double v;
			if (!series_values(f, ml_tsdb_series_set_labels(set), values,
			                   k == 0 ? &le : NULL) ||
			    !latest(set, &v))
				continue;
			size_t slot = k == 1 ? slot_count : slot_sum;
			if (k == 0) {
				slot = 0;
				while (slot < f->n_buckets && !ml_str_eq(le, le_text[slot]))
					slot++;
				if (slot == f->n_buckets)
					continue; /* +Inf (the count says it) or a bucket we no
					             longer have */
			}
			if (n_pieces == cap) {
				size_t nc = cap ? cap * 2 : 256;
				struct piece *np = ml_realloc(pieces, nc * sizeof(*np));
				if (np == NULL) {
					rc = ML_ENOMEM;
					goto fail;
				}
				pieces = np;
				cap = nc;
			}
			size_t kn = 0;
			for (size_t i = 0; i < f->n_labels; i++)
				kn += 4 + values[i].n;
			char *key = ml_arena_alloc(ar, kn + 1);
			if (key == NULL) {
				rc = ML_ENOMEM;
				goto fail;
			}
			size_t off = 0;
			for (size_t i = 0; i < f->n_labels; i++) {
				uint32_t l = (uint32_t)values[i].n;
				memcpy(key + off, &l, 4);
				if (l)
					memcpy(key + off + 4, values[i].p, l);
				off += 4 + l;
			}
			pieces[n_pieces++] = (struct piece){key, kn, slot, v};
		}
		ml_tsdb_series_set_free(set);
		set = NULL;
		if (rc < 0)
			goto fail;
	}
	if (n_pieces > 1) /* qsort(NULL, 0, ...) is undefined */
		qsort(pieces, n_pieces, sizeof(*pieces), piece_cmp);
	for (size_t i = 0; i < n_pieces;) {
		size_t j = i;
		uint64_t count = 0;
		double sum = 0;
		bool have_count = false;
		memset(cum, 0, (f->n_buckets + 1) * sizeof(*cum));
		for (; j < n_pieces && pieces[j].key_n == pieces[i].key_n &&
		       memcmp(pieces[j].key, pieces[i].key, pieces[i].key_n) == 0;
		     j++) {
			double v = pieces[j].v < 0 ? 0 : pieces[j].v;
			if (pieces[j].slot < f->n_buckets)
				cum[pieces[j].slot] = (uint64_t)v;
			else if (pieces[j].slot == slot_count) {
				count = (uint64_t)v;
				have_count = true;
			} else
				sum = pieces[j].v;
		}
		if (have_count) {
			size_t off = 0;
			for (size_t l = 0; l < f->n_labels; l++) {
				uint32_t len;
				memcpy(&len, pieces[i].key + off, 4);
				values[l] = ml_str_make(pieces[i].key + off + 4, len);
				off += 4 + len;
			}
			struct ml_child *c = ml_family_child(fam, f->n_labels ? values : NULL);
			if (c != NULL)
				ml_child_add_histogram(c, cum, count, sum);
		}
		i = j;
	}
	rc = 0;
fail:
	ml_tsdb_series_set_free(set);
	ml_free(pieces);
	ml_free(le_text);
	ml_free(cum);
	ml_free(values);
	ml_arena_destroy(ar);
	return rc < 0 ? rc : 0;
}

int ml_aggregator_restore(struct ml_aggregator *a, int64_t now_ms, struct ml_err *err)
{
	if (a == NULL || a->tsdb == NULL)
		return 0;
	struct fam_list l = {NULL, 0, 0};
	int rc = ml_registry_walk(a->derived, list_visit, &l);
	if (rc != 0) {
		ml_err_set(err, rc, "aggregation restore: out of memory");
		goto fail;
	}
	int64_t mint = a->retention_ms > 0 ? now_ms - a->retention_ms : INT64_MIN;
	for (size_t i = 0; i < l.n; i++) {
		const struct ml_family_desc *f = l.d[i];
		struct ml_family *fam = ml_registry_find(a->derived, f->name);
		if (fam == NULL)
			continue;
		rc = f->type == ML_METRIC_HISTOGRAM ? restore_histogram(a, f, fam, mint, err)
		                                    : restore_plain(a, f, fam, mint, err);
		if (rc != 0) {
			ml_err_prefix(err, "aggregation restore of %s: ", f->name);
			goto fail;
		}
		/* Restored children are in the TSDB: no 0 before their next value (a reset). */
		struct fam_seen *seen = seen_of(a, f);
		if (seen == NULL) {
			rc = ml_err_set(err, ML_ENOMEM, "aggregation restore: out of memory");
			goto fail;
		}
		seen->seen = seen->visited = ml_family_children(fam);
	}
	/* A flush at the same millisecond as the newest stored sample would be a duplicate. */
	a->last_flush_ms = now_ms;
fail:
	ml_free(l.d);
	return rc;
}
