/*
 * otlp_metrics.c - OTLP metrics (protobuf and JSON) into Prometheus series,
 * and the delta accumulator; see otlp_metrics.h and docs/METRICS_INGEST.md.
 *
 * Both encodings are read into the same small per-point structure (struct
 * point: attributes, times, flags, and the number / histogram / summary
 * payload), and one translator turns a point into series. That keeps the
 * OpenTelemetry -> Prometheus rules in one place whichever encoding the
 * sender chose. Attribute decoding is otlp_common's; name and label
 * translation is otel_prom_names'.
 */
#include "ingest/otlp_metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <xxhash.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "ingest/json_util.h"
#include "ingest/limits.h"
#include "ingest/otel_prom_names.h"
#include "ingest/otlp_common.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb-c.h"

/* ------------------------------------------------------------------------ */
/* Delta accumulator                                                        */
/* ------------------------------------------------------------------------ */

struct acc_entry {
	uint64_t key;
	uint64_t last_end;
	double *vals;
	uint32_t n;
	uint32_t next; /* chain: index + 1, 0 = end */
	bool ref;      /* CLOCK reference bit */
};

struct ml_delta_accumulator {
	pthread_mutex_t mu;
	struct acc_entry *e;
	size_t cap, count, hand;
	uint32_t *heads; /* index + 1, 0 = empty */
	size_t mask;
};

struct ml_delta_accumulator *ml_delta_accumulator_create(size_t max_series)
{
	struct ml_delta_accumulator *acc = NULL;
	if (max_series == 0)
		max_series = 100000;
	if (max_series > UINT32_MAX - 1)
		max_series = UINT32_MAX - 1;
	acc = ml_calloc(1, sizeof(*acc));
	if (acc == NULL)
		goto fail;
	size_t nb = 16;
	while (nb < max_series)
		nb *= 2;
	acc->cap = max_series;
	acc->mask = nb - 1;
	acc->e = ml_calloc(max_series, sizeof(*acc->e));
	acc->heads = ml_calloc(nb, sizeof(*acc->heads));
	if (acc->e == NULL || acc->heads == NULL)
		goto fail;
	if (pthread_mutex_init(&acc->mu, NULL) != 0)
		goto fail;
	return acc;
fail:
	if (acc != NULL) {
		ml_free(acc->e);
		ml_free(acc->heads);
		ml_free(acc);
	}
	return NULL;
}

void ml_delta_accumulator_destroy(struct ml_delta_accumulator *acc)
{
	if (acc == NULL)
		return;
	for (size_t i = 0; i < acc->count; i++)
		ml_free(acc->e[i].vals);
	pthread_mutex_destroy(&acc->mu);
	ml_free(acc->e);
	ml_free(acc->heads);
	ml_free(acc);
}

size_t ml_delta_accumulator_size(struct ml_delta_accumulator *acc)
{
	pthread_mutex_lock(&acc->mu);
	size_t n = acc->count;
	pthread_mutex_unlock(&acc->mu);
	return n;
}

static void acc_unlink(struct ml_delta_accumulator *acc, size_t idx)
{
	uint32_t *link = &acc->heads[acc->e[idx].key & acc->mask];
	while (*link != 0) {
		if (*link - 1 == idx) {
			*link = acc->e[idx].next;
			return;
		}
		link = &acc->e[*link - 1].next;
	}
}

/* A slot for a new series: a never-used one, else the CLOCK victim. */
static size_t acc_take_slot(struct ml_delta_accumulator *acc)
{
	if (acc->count < acc->cap)
		return acc->count++;
	for (;;) {
		struct acc_entry *v = &acc->e[acc->hand];
		size_t idx = acc->hand;
		acc->hand = (acc->hand + 1) % acc->cap;
		if (v->ref) {
			v->ref = false;
			continue;
		}
		acc_unlink(acc, idx);
		return idx;
	}
}

int ml_delta_accumulator_add(struct ml_delta_accumulator *acc, uint64_t key, uint64_t start_ns,
			     uint64_t end_ns, double *vals, size_t n, bool *reset)
{
	int rc = 0;
	if (n == 0 || n > ML_DELTA_MAX_VALUES)
		return ML_EINVAL;
	pthread_mutex_lock(&acc->mu);
	struct acc_entry *e = NULL;
	for (uint32_t i = acc->heads[key & acc->mask]; i != 0; i = acc->e[i - 1].next) {
		if (acc->e[i - 1].key == key) {
			e = &acc->e[i - 1];
			break;
		}
	}
	bool cont = e != NULL && e->n == n && (start_ns == 0 || start_ns == e->last_end);
	if (e == NULL) {
		/* Allocate first so that ENOMEM leaves the table as it was. */
		double *mem = ml_malloc(n * sizeof(double));
		if (mem == NULL) {
			rc = ML_ENOMEM;
			goto fail;
		}
		size_t idx = acc_take_slot(acc);
		e = &acc->e[idx];
		ml_free(e->vals);
		e->vals = mem;
		e->n = (uint32_t)n;
		e->key = key;
		size_t b = key & acc->mask;
		e->next = acc->heads[b];
		acc->heads[b] = (uint32_t)idx + 1;
	} else if (e->n != n) {
		double *mem = ml_realloc(e->vals, n * sizeof(double));
		if (mem == NULL) {
			rc = ML_ENOMEM;
			goto fail;
		}
		e->vals = mem;
		e->n = (uint32_t)n;
	}
	for (size_t i = 0; i < n; i++) {
		e->vals[i] = cont ? e->vals[i] + vals[i] : vals[i];
		vals[i] = e->vals[i];
	}
	e->last_end = end_ns;
	e->ref = true;
	if (reset != NULL)
		*reset = !cont;
fail:
	pthread_mutex_unlock(&acc->mu);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* Decoding state                                                            */
/* ------------------------------------------------------------------------ */

enum mkind { MK_GAUGE, MK_SUM, MK_HIST, MK_EXPHIST, MK_SUMMARY };

/* One data point, whichever encoding and type it came in. */
struct point {
	struct ml_attrs attrs;
	uint64_t start_ns, time_ns;
	uint32_t flags;
	bool has_value;
	double value;            /* Gauge/Sum */
	uint64_t count;          /* histograms, summary */
	bool has_sum;
	double sum;
	/* Explicit histogram: n_bounds bounds, n_counts (= n_bounds + 1, or 0) counts. */
	size_t n_bounds, n_counts;
	double *bounds;
	double *counts;
	/* Exponential histogram. */
	int32_t scale;
	double zero_count, zero_threshold;
	int32_t pos_offset, neg_offset;
	size_t n_pos, n_neg;
	double *pos, *neg;
	/* Summary. */
	size_t n_q;
	double *q, *qv;
};

/* The metric a point belongs to, translated once. */
struct metric {
	struct ml_str raw;  /* OTLP name, for messages */
	struct ml_str name; /* Prometheus name (with _total etc.) */
	struct ml_str bucket, sum, count; /* histogram/summary series names */
	enum mkind mk;
	bool delta;
	bool unspecified; /* temporality missing on a Sum/Histogram */
};

struct dec {
	struct ml_otlp_ctx ctx;
	struct ml_arena *arena;
	struct ml_sample_batch *batch;
	struct ml_delta_accumulator *acc;
	struct ml_ingest_report *report;
	struct ml_buf key; /* hashing scratch */
	uint64_t n_points;
	/* Per resource: */
	struct ml_resource res;
	struct ml_label res_labels[2]; /* job, instance */
	uint32_t n_res_labels;
	bool any_point;
	int64_t max_t_ms;
	bool target_info_meta;
	/* Per scope: */
	struct ml_label scope_labels[2];
	uint32_t n_scope_labels;
};

static void reject(struct dec *d, const struct metric *m, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Counts a rejected point and remembers why the first one was rejected. */
static void reject(struct dec *d, const struct metric *m, const char *fmt, ...)
{
	d->report->rejected++;
	if (d->report->first_reject[0] != '\0')
		return;
	char why[200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	snprintf(d->report->first_reject, sizeof(d->report->first_reject), "%.200s (%.*s): %.180s",
		 d->ctx.path.buf, (int)(m->raw.n > 100 ? 100 : m->raw.n), m->raw.p, why);
}

static int oom(struct dec *d)
{
	return ml_err_set(d->ctx.err, ML_ENOMEM, "out of memory");
}

static int str_dup(struct dec *d, const char *p, size_t n, struct ml_str *out)
{
	char *s = ml_arena_strndup(d->arena, p, n);
	if (s == NULL)
		return oom(d);
	*out = ml_str_make(s, n);
	return 0;
}

/* name + suffix in the arena. */
static int suffixed(struct dec *d, struct ml_str name, const char *suffix, struct ml_str *out)
{
	size_t sn = strlen(suffix);
	char *s = ml_arena_alloc(d->arena, name.n + sn + 1);
	if (s == NULL)
		return oom(d);
	memcpy(s, name.p, name.n);
	memcpy(s + name.n, suffix, sn + 1);
	*out = ml_str_make(s, name.n + sn);
	return 0;
}

/* An attribute value as a label value (AnyValue.AsString of the Collector). */
static int attr_value_str(struct dec *d, const struct ml_attr *a, struct ml_str *out)
{
	char tmp[64];
	switch (a->type) {
	case ML_VAL_BOOL:
		*out = a->v.b ? ML_STR("true") : ML_STR("false");
		return 0;
	case ML_VAL_INT:
		snprintf(tmp, sizeof(tmp), "%lld", (long long)a->v.i);
		return str_dup(d, tmp, strlen(tmp), out);
	case ML_VAL_DOUBLE:
		return ml_prom_float_str(d->arena, a->v.d, out) == 0 ? 0 : oom(d);
	case ML_VAL_BYTES: {
		ml_buf_clear(&d->ctx.scratch);
		ml_otlp_base64(&d->ctx.scratch, (const uint8_t *)a->v.s.p, a->v.s.n);
		if (!ml_buf_ok(&d->ctx.scratch))
			return oom(d);
		return str_dup(d, (const char *)d->ctx.scratch.data, d->ctx.scratch.len, out);
	}
	default: /* STRING, JSON */
		*out = a->v.s;
		return 0;
	}
}

/*
 * Attributes -> sorted label list with sanitised names. Empty keys and
 * empty values are dropped (Prometheus has no empty label values).
 * Attributes whose sanitised names collide are merged, their values joined
 * with ';' in the order of the original keys, as the specification asks.
 * skip_service drops service.name/namespace/instance.id (for target_info).
 */
static int attrs_to_labels(struct dec *d, const struct ml_attrs *attrs, uint32_t extra,
			   bool skip_service, struct ml_label **out, uint32_t *n_out)
{
	struct ml_label *l = ml_arena_calloc(d->arena, (size_t)attrs->n + extra + 1, sizeof(*l));
	struct ml_str *orig = ml_arena_calloc(d->arena, (size_t)attrs->n + 1, sizeof(*orig));
	if (l == NULL || orig == NULL)
		return oom(d);
	uint32_t n = 0;
	for (uint32_t i = 0; i < attrs->n; i++) {
		const struct ml_attr *a = &attrs->items[i];
		if (a->key.n == 0)
			continue;
		if (skip_service && (ml_str_eq_cstr(a->key, "service.name") ||
				     ml_str_eq_cstr(a->key, "service.namespace") ||
				     ml_str_eq_cstr(a->key, "service.instance.id")))
			continue;
		struct ml_str v;
		if (attr_value_str(d, a, &v) != 0)
			return ML_ENOMEM;
		if (v.n == 0)
			continue;
		if (ml_otel_label_name(d->arena, a->key, &l[n].name) != 0)
			return oom(d);
		l[n].value = v;
		orig[n] = a->key;
		n++;
	}
	/* Insertion sort by (name, original key): attribute lists are short. */
	for (uint32_t i = 1; i < n; i++) {
		struct ml_label x = l[i];
		struct ml_str xo = orig[i];
		uint32_t j = i;
		while (j > 0) {
			struct ml_str a = l[j - 1].name, b = x.name;
			size_t m = a.n < b.n ? a.n : b.n;
			int c = memcmp(a.p, b.p, m);
			if (c == 0)
				c = a.n < b.n ? -1 : a.n > b.n;
			if (c == 0) {
				struct ml_str ao = orig[j - 1];
				size_t mo = ao.n < xo.n ? ao.n : xo.n;
				c = memcmp(ao.p, xo.p, mo);
				if (c == 0)
					c = ao.n < xo.n ? -1 : ao.n > xo.n;
			}
			if (c <= 0)
				break;
			l[j] = l[j - 1];
			orig[j] = orig[j - 1];
			j--;
		}
		l[j] = x;
		orig[j] = xo;
	}
	uint32_t o = 0;
	for (uint32_t i = 0; i < n; i++) {
		if (o > 0 && ml_str_eq(l[o - 1].name, l[i].name)) {
			struct ml_str a = l[o - 1].value, b = l[i].value;
			char *s = ml_arena_alloc(d->arena, a.n + b.n + 2);
			if (s == NULL)
				return oom(d);
			memcpy(s, a.p, a.n);
			s[a.n] = ';';
			memcpy(s + a.n + 1, b.p, b.n);
			l[o - 1].value = ml_str_make(s, a.n + b.n + 1);
			continue;
		}
		l[o++] = l[i];
	}
	*out = l;
	*n_out = o;
	return 0;
}

/* Sets name=value in a label list with room for it, replacing an existing one. */
static void label_set(struct ml_label *l, uint32_t *n, struct ml_label x)
{
	for (uint32_t i = 0; i < *n; i++) {
		if (ml_str_eq(l[i].name, x.name)) {
			l[i].value = x.value;
			return;
		}
	}
	l[(*n)++] = x;
}

/* Appends one series of one sample: base labels + __name__ (+ extra). */
static int emit(struct dec *d, const struct ml_label *base, uint32_t nb, struct ml_str name,
		const struct ml_label *extra, int64_t t_ms, double v)
{
	struct ml_series_samples *s = ml_sample_batch_add(d->batch, nb + 1 + (extra != NULL), 1);
	if (s == NULL)
		return oom(d);
	if (nb)
		memcpy(s->labels, base, nb * sizeof(*base));
	s->labels[nb].name = ML_STR("__name__");
	s->labels[nb].value = name;
	if (extra != NULL)
		s->labels[nb + 1] = *extra;
	s->samples[0].t_ms = t_ms;
	s->samples[0].v = v;
	return 0;
}

static double stale_nan(void)
{
	uint64_t bits = ML_STALE_NAN_BITS;
	double v;
	memcpy(&v, &bits, sizeof(v));
	return v;
}

/* The accumulator key: name, labels and (for histograms) bounds. */
static uint64_t series_key(struct dec *d, struct ml_str name, const struct ml_label *l,
			   uint32_t n, const double *bounds, size_t n_bounds)
{
	struct ml_buf *b = &d->key;
	ml_buf_clear(b);
	ml_buf_append(b, name.p, name.n);
	ml_buf_putc(b, '\0');
	for (uint32_t i = 0; i < n; i++) {
		ml_buf_append(b, l[i].name.p, l[i].name.n);
		ml_buf_putc(b, '\xff');
		ml_buf_append(b, l[i].value.p, l[i].value.n);
		ml_buf_putc(b, '\xff');
	}
	if (n_bounds)
		ml_buf_append(b, bounds, n_bounds * sizeof(double));
	return XXH3_64bits(b->data, b->len);
}

/*
 * Exponential -> explicit buckets. Bucket index i at scale s covers
 * (base^i, base^(i+1)] with base = 2^(2^-s); a negative bucket i covers
 * [-base^(i+1), -base^i). Classic bounds, ascending: the negative buckets
 * from the most negative (le = -base^i), the zero bucket (le =
 * zero_threshold), the positive buckets (le = base^(i+1)). A bound that
 * would not be strictly increasing (a zero threshold wider than the first
 * positive bucket) or would overflow to infinity folds its count into the
 * next bucket (ultimately +Inf).
 */
static double exp_bound(int32_t scale, int64_t idx)
{
	if (scale > 0)
		return exp2((double)idx / (double)(1 << scale));
	return exp2((double)idx * (double)(1 << -scale));
}

static int convert_exp(struct dec *d, const struct metric *m, struct point *p, bool *ok)
{
	*ok = false;
	if (p->scale < ML_OTLP_EXP_SCALE_MIN || p->scale > ML_OTLP_EXP_SCALE_MAX) {
		reject(d, m, "scale %d is outside [%d, %d]", p->scale, ML_OTLP_EXP_SCALE_MIN,
		       ML_OTLP_EXP_SCALE_MAX);
		return 0;
	}
	if (p->n_pos + p->n_neg + 1 > ML_OTLP_MAX_BUCKETS) {
		reject(d, m, "%zu buckets is over the limit of %u", p->n_pos + p->n_neg + 1,
		       ML_OTLP_MAX_BUCKETS);
		return 0;
	}
	size_t cap = p->n_pos + p->n_neg + 2;
	double *bounds = ml_arena_calloc(d->arena, cap, sizeof(double));
	double *counts = ml_arena_calloc(d->arena, cap, sizeof(double));
	if (bounds == NULL || counts == NULL)
		return oom(d);
	size_t nb = 0;
	double carry = 0;
	/* Adds a bucket (le, count) if le keeps the bounds strictly increasing. */
#define ADD_BUCKET(le, c)                                                                  \
	do {                                                                               \
		double le_ = (le);                                                         \
		carry += (c);                                                              \
		if (isfinite(le_) && (nb == 0 || le_ > bounds[nb - 1])) {                  \
			bounds[nb] = le_;                                                  \
			counts[nb++] = carry;                                              \
			carry = 0;                                                         \
		}                                                                          \
	} while (0)
	for (size_t k = p->n_neg; k-- > 0;)
		ADD_BUCKET(-exp_bound(p->scale, (int64_t)p->neg_offset + (int64_t)k), p->neg[k]);
	ADD_BUCKET(p->zero_threshold > 0 ? p->zero_threshold : 0.0, p->zero_count);
	for (size_t k = 0; k < p->n_pos; k++)
		ADD_BUCKET(exp_bound(p->scale, (int64_t)p->pos_offset + (int64_t)k + 1), p->pos[k]);
#undef ADD_BUCKET
	counts[nb] = carry; /* the +Inf bucket */
	p->bounds = bounds;
	p->n_bounds = nb;
	p->counts = counts;
	p->n_counts = nb + 1;
	*ok = true;
	return 0;
}

/* Base labels of a point: attributes, scope, job/instance. */
static int point_labels(struct dec *d, const struct point *p, struct ml_label **out,
			uint32_t *n)
{
	int rc = attrs_to_labels(d, &p->attrs, d->n_scope_labels + d->n_res_labels, false, out, n);
	if (rc != 0)
		return rc;
	for (uint32_t i = 0; i < d->n_scope_labels; i++)
		label_set(*out, n, d->scope_labels[i]);
	for (uint32_t i = 0; i < d->n_res_labels; i++)
		label_set(*out, n, d->res_labels[i]);
	return 0;
}

/* Translates one point into series; rejects it (counted) if it is invalid. */
static int translate_point(struct dec *d, const struct metric *m, struct point *p)
{
	int rc = 0;
	bool stale = (p->flags & 1u) != 0; /* DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK */
	if (++d->n_points > ML_OTLP_MAX_POINTS_PER_REQUEST)
		return ml_json_fail(d->ctx.err, ML_ETOOBIG, &d->ctx.path, NULL,
				    "more than %u data points in one request",
				    ML_OTLP_MAX_POINTS_PER_REQUEST);
	if (m->unspecified) {
		reject(d, m, "aggregation_temporality is unspecified");
		return 0;
	}
	if (p->time_ns == 0) {
		reject(d, m, "time_unix_nano is 0");
		return 0;
	}
	if (m->delta && d->acc == NULL && !stale) {
		reject(d, m, "delta temporality needs an accumulator");
		return 0;
	}
	int64_t t = (int64_t)(p->time_ns / 1000000u);
	struct ml_label *base = NULL;
	uint32_t nb = 0;
	if ((rc = point_labels(d, p, &base, &nb)) != 0)
		return rc;
	if (nb + 2 > ML_MAX_LABELS_PER_SERIES) {
		reject(d, m, "%u labels is over the limit of %u", nb + 2, ML_MAX_LABELS_PER_SERIES);
		return 0;
	}
	double sn = stale_nan();

	if (m->mk == MK_GAUGE || m->mk == MK_SUM) {
		if (!p->has_value && !stale) {
			reject(d, m, "data point has no value");
			return 0;
		}
		double v = stale ? sn : p->value;
		if (m->delta && !stale) {
			uint64_t key = series_key(d, m->name, base, nb, NULL, 0);
			if (ml_delta_accumulator_add(d->acc, key, p->start_ns, p->time_ns, &v, 1, NULL))
				return oom(d);
		}
		if ((rc = emit(d, base, nb, m->name, NULL, t, v)) != 0)
			return rc;
	} else if (m->mk == MK_HIST || m->mk == MK_EXPHIST) {
		if (m->mk == MK_EXPHIST) {
			bool ok;
			if ((rc = convert_exp(d, m, p, &ok)) != 0 || !ok)
				return rc;
		} else {
			if (p->n_counts != 0 && p->n_counts != p->n_bounds + 1) {
				reject(d, m, "%zu bucket_counts for %zu explicit_bounds, expected %zu",
				       p->n_counts, p->n_bounds, p->n_bounds + 1);
				return 0;
			}
			if (p->n_counts > ML_OTLP_MAX_BUCKETS) {
				reject(d, m, "%zu buckets is over the limit of %u", p->n_counts,
				       ML_OTLP_MAX_BUCKETS);
				return 0;
			}
			if (p->n_counts == 0)
				p->n_bounds = 0;
			for (size_t i = 0; i < p->n_bounds; i++) {
				if (isnan(p->bounds[i]) || (i > 0 && !(p->bounds[i] > p->bounds[i - 1]))) {
					reject(d, m, "explicit_bounds are not strictly increasing at %zu", i);
					return 0;
				}
			}
		}
		/* Values: per-bucket counts, sum, count. */
		size_t nv = p->n_counts + 2;
		double *vals = ml_arena_calloc(d->arena, nv, sizeof(double));
		if (vals == NULL)
			return oom(d);
		for (size_t i = 0; i < p->n_counts; i++)
			vals[i] = (double)p->counts[i];
		vals[nv - 2] = p->has_sum ? p->sum : 0;
		vals[nv - 1] = (double)p->count;
		if (m->delta && !stale) {
			uint64_t key = series_key(d, m->name, base, nb, p->bounds, p->n_bounds);
			if (ml_delta_accumulator_add(d->acc, key, p->start_ns, p->time_ns, vals, nv, NULL))
				return oom(d);
		}
		double cum = 0;
		for (size_t i = 0; i < p->n_bounds; i++) {
			cum += vals[i];
			struct ml_label le = {ML_STR("le"), {NULL, 0}};
			if (ml_prom_float_str(d->arena, p->bounds[i], &le.value) != 0)
				return oom(d);
			if ((rc = emit(d, base, nb, m->bucket, &le, t, stale ? sn : cum)) != 0)
				return rc;
		}
		struct ml_label inf = {ML_STR("le"), ML_STR("+Inf")};
		if ((rc = emit(d, base, nb, m->bucket, &inf, t, stale ? sn : vals[nv - 1])) != 0)
			return rc;
		if (p->has_sum && (rc = emit(d, base, nb, m->sum, NULL, t, stale ? sn : vals[nv - 2])))
			return rc;
		if ((rc = emit(d, base, nb, m->count, NULL, t, stale ? sn : vals[nv - 1])) != 0)
			return rc;
	} else { /* MK_SUMMARY */
		for (size_t i = 0; i < p->n_q; i++) {
			struct ml_label q = {ML_STR("quantile"), {NULL, 0}};
			if (ml_prom_float_str(d->arena, p->q[i], &q.value) != 0)
				return oom(d);
			if ((rc = emit(d, base, nb, m->name, &q, t, stale ? sn : p->qv[i])) != 0)
				return rc;
		}
		if ((rc = emit(d, base, nb, m->sum, NULL, t, stale ? sn : p->sum)) != 0)
			return rc;
		if ((rc = emit(d, base, nb, m->count, NULL, t, stale ? sn : (double)p->count)) != 0)
			return rc;
	}
	d->report->accepted++;
	d->any_point = true;
	if (t > d->max_t_ms)
		d->max_t_ms = t;
	return 0;
}

/* Translates name/unit/type, fills m and adds the metadata entry. */
static int begin_metric(struct dec *d, struct ml_str raw, struct ml_str desc, struct ml_str unit,
			enum mkind mk, int temporality, bool monotonic, struct metric *m)
{
	memset(m, 0, sizeof(*m));
	m->raw = raw;
	m->mk = mk;
	m->delta = temporality == 1;
	m->unspecified = (mk == MK_SUM || mk == MK_HIST || mk == MK_EXPHIST) && temporality != 1 &&
			 temporality != 2;
	enum ml_otel_kind kind = mk == MK_GAUGE ? ML_OTEL_GAUGE
				 : mk == MK_SUM ? (monotonic ? ML_OTEL_COUNTER : ML_OTEL_UPDOWN)
				 : mk == MK_SUMMARY ? ML_OTEL_SUMMARY
						    : ML_OTEL_HISTOGRAM;
	if (ml_otel_metric_name(d->arena, raw, unit, kind, &m->name) != 0)
		return oom(d);
	if (m->name.n == 0)
		return 0; /* rejected point by point by the caller */
	if (suffixed(d, m->name, "_bucket", &m->bucket) || suffixed(d, m->name, "_sum", &m->sum) ||
	    suffixed(d, m->name, "_count", &m->count))
		return ML_ENOMEM;
	struct ml_metric_meta *meta = ml_sample_batch_add_meta(d->batch);
	if (meta == NULL)
		return oom(d);
	meta->family = m->name;
	meta->type = kind == ML_OTEL_COUNTER	 ? ML_METRIC_COUNTER
		     : kind == ML_OTEL_HISTOGRAM ? ML_METRIC_HISTOGRAM
		     : kind == ML_OTEL_SUMMARY	 ? ML_METRIC_SUMMARY
						 : ML_METRIC_GAUGE;
	meta->help = desc;
	meta->unit = unit;
	return 0;
}

/* Resource-level labels (job, instance) for the points that follow. */
static void begin_resource(struct dec *d)
{
	const struct ml_attr *name = ml_attrs_find(&d->res.attrs, "service.name");
	const struct ml_attr *ns = ml_attrs_find(&d->res.attrs, "service.namespace");
	const struct ml_attr *inst = ml_attrs_find(&d->res.attrs, "service.instance.id");
	d->n_res_labels = 0;
	d->any_point = false;
	d->max_t_ms = 0;
	if (name != NULL && name->type == ML_VAL_STRING && name->v.s.n) {
		struct ml_str job = name->v.s;
		if (ns != NULL && ns->type == ML_VAL_STRING && ns->v.s.n) {
			char *s = ml_arena_alloc(d->arena, ns->v.s.n + job.n + 2);
			if (s != NULL) {
				memcpy(s, ns->v.s.p, ns->v.s.n);
				s[ns->v.s.n] = '/';
				memcpy(s + ns->v.s.n + 1, job.p, job.n);
				job = ml_str_make(s, ns->v.s.n + 1 + job.n);
			}
		}
		d->res_labels[d->n_res_labels++] = (struct ml_label){ML_STR("job"), job};
	}
	if (inst != NULL) {
		struct ml_str v;
		if (attr_value_str(d, inst, &v) == 0 && v.n)
			d->res_labels[d->n_res_labels++] = (struct ml_label){ML_STR("instance"), v};
	}
}

/* target_info{job, instance, other resource attributes} 1, if there are any. */
static int end_resource(struct dec *d)
{
	if (!d->any_point)
		return 0;
	struct ml_label *l = NULL;
	uint32_t n = 0;
	int rc = attrs_to_labels(d, &d->res.attrs, 2, true, &l, &n);
	if (rc != 0 || n == 0)
		return rc;
	for (uint32_t i = 0; i < d->n_res_labels; i++)
		label_set(l, &n, d->res_labels[i]);
	if (n + 1 > ML_MAX_LABELS_PER_SERIES)
		return 0;
	if (!d->target_info_meta) {
		struct ml_metric_meta *meta = ml_sample_batch_add_meta(d->batch);
		if (meta == NULL)
			return oom(d);
		meta->family = ML_STR("target_info");
		meta->type = ML_METRIC_GAUGE;
		meta->help = ML_STR("Target metadata");
		d->target_info_meta = true;
	}
	return emit(d, l, n, ML_STR("target_info"), NULL, d->max_t_ms, 1);
}

static void begin_scope(struct dec *d)
{
	d->n_scope_labels = 0;
	if (d->res.scope_name.n)
		d->scope_labels[d->n_scope_labels++] =
			(struct ml_label){ML_STR("otel_scope_name"), d->res.scope_name};
	if (d->res.scope_version.n)
		d->scope_labels[d->n_scope_labels++] =
			(struct ml_label){ML_STR("otel_scope_version"), d->res.scope_version};
}

/* ------------------------------------------------------------------------ */
/* Protobuf                                                                  */
/* ------------------------------------------------------------------------ */

static struct ml_str cstr(const char *s)
{
	/* protobuf-c NUL-terminates the strings it unpacks. */
	return ml_str_make(s != NULL ? s : "", s != NULL ? strlen(s) : 0);
}

static double *u64s_to_doubles(struct dec *d, const uint64_t *v, size_t n)
{
	double *out = ml_arena_calloc(d->arena, n + 1, sizeof(double));
	if (out != NULL)
		for (size_t i = 0; i < n; i++)
			out[i] = (double)v[i];
	return out;
}

static int proto_attrs(struct dec *d, Opentelemetry__Proto__Common__V1__KeyValue *const *kv,
		       size_t n, struct ml_attrs *out)
{
	size_t mark = ml_json_path_key(&d->ctx.path, "attributes");
	int rc = ml_otlp_attrs_from_proto(&d->ctx, kv, n, ML_MAX_LABELS_PER_SERIES, out);
	if (rc == 0)
		ml_json_path_pop(&d->ctx.path, mark);
	return rc;
}

static int proto_metric(struct dec *d, const Opentelemetry__Proto__Metrics__V1__Metric *pm)
{
	struct metric m;
	int rc;
	enum mkind mk;
	int temp = 0;
	bool mono = false;
	size_t np = 0;
	const char *field = "";
	switch (pm->data_case) {
	case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE:
		mk = MK_GAUGE, np = pm->gauge->n_data_points, field = "gauge";
		break;
	case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM:
		mk = MK_SUM, np = pm->sum->n_data_points, field = "sum";
		temp = (int)pm->sum->aggregation_temporality, mono = pm->sum->is_monotonic;
		break;
	case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM:
		mk = MK_HIST, np = pm->histogram->n_data_points, field = "histogram";
		temp = (int)pm->histogram->aggregation_temporality;
		break;
	case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_EXPONENTIAL_HISTOGRAM:
		mk = MK_EXPHIST, np = pm->exponential_histogram->n_data_points;
		field = "exponentialHistogram";
		temp = (int)pm->exponential_histogram->aggregation_temporality;
		break;
	case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUMMARY:
		mk = MK_SUMMARY, np = pm->summary->n_data_points, field = "summary";
		break;
	default:
		return 0; /* no data: nothing to store */
	}
	if ((rc = begin_metric(d, cstr(pm->name), cstr(pm->description), cstr(pm->unit), mk, temp,
			       mono, &m)) != 0)
		return rc;
	size_t m1 = ml_json_path_key(&d->ctx.path, field);
	size_t m2 = ml_json_path_key(&d->ctx.path, "dataPoints");
	for (size_t i = 0; i < np; i++) {
		size_t m3 = ml_json_path_index(&d->ctx.path, i);
		struct point p;
		memset(&p, 0, sizeof(p));
		if (mk == MK_GAUGE || mk == MK_SUM) {
			const Opentelemetry__Proto__Metrics__V1__NumberDataPoint *x =
				mk == MK_GAUGE ? pm->gauge->data_points[i] : pm->sum->data_points[i];
			rc = proto_attrs(d, x->attributes, x->n_attributes, &p.attrs);
			p.start_ns = x->start_time_unix_nano, p.time_ns = x->time_unix_nano;
			p.flags = x->flags;
			p.has_value = x->value_case != OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE__NOT_SET;
			p.value = x->value_case == OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_INT
					  ? (double)x->as_int
					  : x->as_double;
		} else if (mk == MK_HIST) {
			const Opentelemetry__Proto__Metrics__V1__HistogramDataPoint *x =
				pm->histogram->data_points[i];
			rc = proto_attrs(d, x->attributes, x->n_attributes, &p.attrs);
			p.start_ns = x->start_time_unix_nano, p.time_ns = x->time_unix_nano;
			p.flags = x->flags, p.count = x->count;
			p.has_sum = x->_sum_case == OPENTELEMETRY__PROTO__METRICS__V1__HISTOGRAM_DATA_POINT___SUM_SUM;
			p.sum = x->sum;
			p.n_bounds = x->n_explicit_bounds, p.bounds = x->explicit_bounds;
			p.n_counts = x->n_bucket_counts;
			if (p.n_counts <= ML_OTLP_MAX_BUCKETS &&
			    (p.counts = u64s_to_doubles(d, x->bucket_counts, p.n_counts)) == NULL)
				rc = oom(d);
		} else if (mk == MK_EXPHIST) {
			const Opentelemetry__Proto__Metrics__V1__ExponentialHistogramDataPoint *x =
				pm->exponential_histogram->data_points[i];
			rc = proto_attrs(d, x->attributes, x->n_attributes, &p.attrs);
			p.start_ns = x->start_time_unix_nano, p.time_ns = x->time_unix_nano;
			p.flags = x->flags, p.count = x->count;
			p.has_sum = x->_sum_case == OPENTELEMETRY__PROTO__METRICS__V1__EXPONENTIAL_HISTOGRAM_DATA_POINT___SUM_SUM;
			p.sum = x->sum, p.scale = x->scale;
			p.zero_count = (double)x->zero_count, p.zero_threshold = x->zero_threshold;
			if (x->positive != NULL) {
				p.pos_offset = x->positive->offset, p.n_pos = x->positive->n_bucket_counts;
				if (p.n_pos <= ML_OTLP_MAX_BUCKETS &&
				    (p.pos = u64s_to_doubles(d, x->positive->bucket_counts, p.n_pos)) == NULL)
					rc = oom(d);
			}
			if (x->negative != NULL) {
				p.neg_offset = x->negative->offset, p.n_neg = x->negative->n_bucket_counts;
				if (p.n_neg <= ML_OTLP_MAX_BUCKETS &&
				    (p.neg = u64s_to_doubles(d, x->negative->bucket_counts, p.n_neg)) == NULL)
					rc = oom(d);
			}
		} else {
			const Opentelemetry__Proto__Metrics__V1__SummaryDataPoint *x =
				pm->summary->data_points[i];
			rc = proto_attrs(d, x->attributes, x->n_attributes, &p.attrs);
			p.start_ns = x->start_time_unix_nano, p.time_ns = x->time_unix_nano;
			p.flags = x->flags, p.count = x->count, p.sum = x->sum, p.has_sum = true;
			p.n_q = x->n_quantile_values;
			p.q = ml_arena_calloc(d->arena, p.n_q + 1, sizeof(double));
			p.qv = ml_arena_calloc(d->arena, p.n_q + 1, sizeof(double));
			if (p.q == NULL || p.qv == NULL)
				rc = oom(d);
			for (size_t k = 0; rc == 0 && k < p.n_q; k++) {
				p.q[k] = x->quantile_values[k]->quantile;
				p.qv[k] = x->quantile_values[k]->value;
			}
		}
		if (rc == 0) {
			if (m.name.n == 0)
				reject(d, &m, "metric name has no letter or digit");
			else if (p.n_counts > ML_OTLP_MAX_BUCKETS || p.n_pos > ML_OTLP_MAX_BUCKETS ||
				 p.n_neg > ML_OTLP_MAX_BUCKETS)
				reject(d, &m, "more than %u buckets", ML_OTLP_MAX_BUCKETS);
			else
				rc = translate_point(d, &m, &p);
		}
		if (rc != 0)
			return rc;
		ml_json_path_pop(&d->ctx.path, m3);
	}
	ml_json_path_pop(&d->ctx.path, m2);
	ml_json_path_pop(&d->ctx.path, m1);
	return 0;
}

static int dec_init(struct dec *d, struct ml_sample_batch *batch, struct ml_delta_accumulator *acc,
		    struct ml_ingest_report *report, struct ml_err *err)
{
	memset(d, 0, sizeof(*d));
	memset(report, 0, sizeof(*report));
	d->arena = d->ctx.arena = batch->arena;
	d->ctx.err = err;
	ml_json_path_init(&d->ctx.path);
	d->batch = batch;
	d->acc = acc;
	d->report = report;
	return 0;
}

static void dec_fini(struct dec *d)
{
	ml_buf_free(&d->ctx.scratch);
	ml_buf_free(&d->key);
}

int ml_otlp_metrics_decode_proto(const uint8_t *body, size_t len, struct ml_delta_accumulator *acc,
				 struct ml_sample_batch *batch, struct ml_ingest_report *report,
				 struct ml_err *err)
{
	struct dec d;
	int rc = 0;
	dec_init(&d, batch, acc, report, err);
	const ProtobufCMessageDescriptor *desc =
		&opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__descriptor;
	if ((rc = ml_otlp_proto_check_depth(desc, body, len, ML_MAX_JSON_DEPTH, err)) != 0)
		goto fail;
	ProtobufCAllocator *pa = ml_arena_protobuf_allocator(batch->arena);
	if (pa == NULL) {
		rc = oom(&d);
		goto fail;
	}
	Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceRequest *req =
		opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__unpack(
			pa, len, body);
	if (req == NULL) {
		rc = ml_err_set(err, ML_EINVAL,
				"protobuf: the body is not a valid ExportMetricsServiceRequest");
		goto fail;
	}
	for (size_t i = 0; i < req->n_resource_metrics; i++) {
		const Opentelemetry__Proto__Metrics__V1__ResourceMetrics *rm = req->resource_metrics[i];
		size_t m1 = ml_json_path_key(&d.ctx.path, "resourceMetrics");
		size_t m2 = ml_json_path_index(&d.ctx.path, i);
		if ((rc = ml_otlp_resource_from_proto(&d.ctx, rm->resource, &d.res)) != 0)
			goto fail;
		begin_resource(&d);
		for (size_t j = 0; j < rm->n_scope_metrics; j++) {
			const Opentelemetry__Proto__Metrics__V1__ScopeMetrics *sm = rm->scope_metrics[j];
			size_t m3 = ml_json_path_key(&d.ctx.path, "scopeMetrics");
			size_t m4 = ml_json_path_index(&d.ctx.path, j);
			if ((rc = ml_otlp_scope_from_proto(&d.ctx, sm->scope, &d.res)) != 0)
				goto fail;
			begin_scope(&d);
			for (size_t k = 0; k < sm->n_metrics; k++) {
				size_t m5 = ml_json_path_key(&d.ctx.path, "metrics");
				size_t m6 = ml_json_path_index(&d.ctx.path, k);
				if ((rc = proto_metric(&d, sm->metrics[k])) != 0)
					goto fail;
				ml_json_path_pop(&d.ctx.path, m6);
				ml_json_path_pop(&d.ctx.path, m5);
			}
			ml_json_path_pop(&d.ctx.path, m4);
			ml_json_path_pop(&d.ctx.path, m3);
		}
		if ((rc = end_resource(&d)) != 0)
			goto fail;
		ml_json_path_pop(&d.ctx.path, m2);
		ml_json_path_pop(&d.ctx.path, m1);
	}
fail:
	dec_fini(&d);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* JSON                                                                      */
/* ------------------------------------------------------------------------ */

/* Reads an optional member through a typed reader; absent leaves *out alone. */
#define JGET(fn, obj, camel, snake, out)                                                   \
	do {                                                                               \
		json_t *v_ = ml_json_member((obj), (camel), (snake));                      \
		if (rc == 0 && v_ != NULL)                                                 \
			rc = fn(v_, (out), &d->ctx.path, (camel), d->ctx.err);             \
	} while (0)

static int json_u32(const json_t *v, uint32_t *out, const struct ml_json_path *path,
		    const char *key, struct ml_err *err)
{
	uint64_t x;
	int rc = ml_json_get_u64(v, &x, path, key, err);
	if (rc == 0 && x > UINT32_MAX)
		return ml_json_fail(err, ML_EINVAL, path, key, "%llu does not fit in 32 bits",
				    (unsigned long long)x);
	if (rc == 0)
		*out = (uint32_t)x;
	return rc;
}

static int json_i32(const json_t *v, int32_t *out, const struct ml_json_path *path,
		    const char *key, struct ml_err *err)
{
	int64_t x;
	int rc = ml_json_get_i64(v, &x, path, key, err);
	if (rc == 0 && (x > INT32_MAX || x < INT32_MIN))
		return ml_json_fail(err, ML_EINVAL, path, key, "%lld does not fit in 32 bits",
				    (long long)x);
	if (rc == 0)
		*out = (int32_t)x;
	return rc;
}

/* An array of u64 (as strings or numbers) or doubles, into arena doubles. */
static int json_num_array(struct dec *d, const json_t *obj, const char *camel, const char *snake,
			  bool is_u64, double **out, size_t *n)
{
	json_t *a = ml_json_member(obj, camel, snake);
	*out = NULL;
	*n = 0;
	if (a == NULL)
		return 0;
	int rc = ml_json_expect_array(a, &d->ctx.path, camel, d->ctx.err);
	if (rc != 0)
		return rc;
	size_t len = json_array_size(a);
	if (len > ML_OTLP_MAX_BUCKETS) {
		*n = len; /* rejected by the caller, point by point */
		return 0;
	}
	double *v = ml_arena_calloc(d->arena, len + 1, sizeof(double));
	if (v == NULL)
		return oom(d);
	for (size_t i = 0; i < len; i++) {
		size_t mark = ml_json_path_key(&d->ctx.path, camel);
		ml_json_path_index(&d->ctx.path, i);
		if (is_u64) {
			uint64_t x;
			rc = ml_json_get_u64(json_array_get(a, i), &x, &d->ctx.path, NULL, d->ctx.err);
			v[i] = (double)x;
		} else {
			rc = ml_json_get_double(json_array_get(a, i), &v[i], &d->ctx.path, NULL,
					    d->ctx.err);
		}
		if (rc != 0)
			return rc;
		ml_json_path_pop(&d->ctx.path, mark);
	}
	*out = v;
	*n = len;
	return 0;
}

static int json_buckets(struct dec *d, const json_t *obj, const char *key, int32_t *offset,
			double **counts, size_t *n)
{
	json_t *b = ml_json_member(obj, key, NULL);
	int rc = 0;
	if (b == NULL)
		return 0;
	size_t mark = ml_json_path_key(&d->ctx.path, key);
	if ((rc = ml_json_expect_object(b, &d->ctx.path, NULL, d->ctx.err)) != 0)
		return rc;
	JGET(json_i32, b, "offset", NULL, offset);
	if (rc == 0)
		rc = json_num_array(d, b, "bucketCounts", "bucket_counts", true, counts, n);
	if (rc == 0)
		ml_json_path_pop(&d->ctx.path, mark);
	return rc;
}

static int json_point(struct dec *d, enum mkind mk, const json_t *x, struct point *p)
{
	int rc = ml_json_expect_object(x, &d->ctx.path, NULL, d->ctx.err);
	if (rc != 0)
		return rc;
	size_t mark = ml_json_path_key(&d->ctx.path, "attributes");
	rc = ml_otlp_attrs_from_json(&d->ctx, ml_json_member(x, "attributes", NULL),
				     ML_MAX_LABELS_PER_SERIES, &p->attrs);
	if (rc != 0)
		return rc;
	ml_json_path_pop(&d->ctx.path, mark);
	JGET(ml_json_get_u64, x, "startTimeUnixNano", "start_time_unix_nano", &p->start_ns);
	JGET(ml_json_get_u64, x, "timeUnixNano", "time_unix_nano", &p->time_ns);
	JGET(json_u32, x, "flags", NULL, &p->flags);
	if (mk == MK_GAUGE || mk == MK_SUM) {
		json_t *ad = ml_json_member(x, "asDouble", "as_double");
		json_t *ai = ml_json_member(x, "asInt", "as_int");
		if (rc == 0 && ad != NULL) {
			rc = ml_json_get_double(ad, &p->value, &d->ctx.path, "asDouble", d->ctx.err);
			p->has_value = true;
		} else if (rc == 0 && ai != NULL) {
			int64_t iv = 0;
			rc = ml_json_get_i64(ai, &iv, &d->ctx.path, "asInt", d->ctx.err);
			p->value = (double)iv;
			p->has_value = true;
		}
		return rc;
	}
	JGET(ml_json_get_u64, x, "count", NULL, &p->count);
	json_t *sum = ml_json_member(x, "sum", NULL);
	if (rc == 0 && sum != NULL) {
		rc = ml_json_get_double(sum, &p->sum, &d->ctx.path, "sum", d->ctx.err);
		p->has_sum = true;
	}
	if (rc != 0)
		return rc;
	if (mk == MK_HIST) {
		rc = json_num_array(d, x, "bucketCounts", "bucket_counts", true, &p->counts,
				    &p->n_counts);
		if (rc == 0)
			rc = json_num_array(d, x, "explicitBounds", "explicit_bounds", false,
					    &p->bounds, &p->n_bounds);
	} else if (mk == MK_EXPHIST) {
		uint64_t zc = 0;
		JGET(json_i32, x, "scale", NULL, &p->scale);
		JGET(ml_json_get_u64, x, "zeroCount", "zero_count", &zc);
		JGET(ml_json_get_double, x, "zeroThreshold", "zero_threshold", &p->zero_threshold);
		p->zero_count = (double)zc;
		if (rc == 0)
			rc = json_buckets(d, x, "positive", &p->pos_offset, &p->pos, &p->n_pos);
		if (rc == 0)
			rc = json_buckets(d, x, "negative", &p->neg_offset, &p->neg, &p->n_neg);
	} else if (mk == MK_SUMMARY) {
		json_t *qs = ml_json_member(x, "quantileValues", "quantile_values");
		p->has_sum = true;
		if (qs == NULL)
			return 0;
		size_t m1 = ml_json_path_key(&d->ctx.path, "quantileValues");
		if ((rc = ml_json_expect_array(qs, &d->ctx.path, NULL, d->ctx.err)) != 0)
			return rc;
		p->n_q = json_array_size(qs);
		if (p->n_q > ML_OTLP_MAX_BUCKETS)
			return ml_json_fail(d->ctx.err, ML_ETOOBIG, &d->ctx.path, NULL,
					    "%zu quantiles is over the limit of %u", p->n_q,
					    ML_OTLP_MAX_BUCKETS);
		p->q = ml_arena_calloc(d->arena, p->n_q + 1, sizeof(double));
		p->qv = ml_arena_calloc(d->arena, p->n_q + 1, sizeof(double));
		if (p->q == NULL || p->qv == NULL)
			return oom(d);
		for (size_t k = 0; k < p->n_q; k++) {
			size_t m2 = ml_json_path_index(&d->ctx.path, k);
			const json_t *qv = json_array_get(qs, k);
			if ((rc = ml_json_expect_object(qv, &d->ctx.path, NULL, d->ctx.err)) != 0)
				return rc;
			JGET(ml_json_get_double, qv, "quantile", NULL, &p->q[k]);
			JGET(ml_json_get_double, qv, "value", NULL, &p->qv[k]);
			if (rc != 0)
				return rc;
			ml_json_path_pop(&d->ctx.path, m2);
		}
		ml_json_path_pop(&d->ctx.path, m1);
	}
	return rc;
}

/* aggregationTemporality: an integer or the enum name. */
static int json_temporality(struct dec *d, const json_t *obj, int *out)
{
	json_t *v = ml_json_member(obj, "aggregationTemporality", "aggregation_temporality");
	*out = 0;
	if (v == NULL)
		return 0;
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		size_t n = json_string_length(v);
		struct ml_str t = ml_str_make(s, n);
		if (ml_str_eq_cstr(t, "AGGREGATION_TEMPORALITY_DELTA"))
			*out = 1;
		else if (ml_str_eq_cstr(t, "AGGREGATION_TEMPORALITY_CUMULATIVE"))
			*out = 2;
		return 0;
	}
	int64_t x = 0;
	int rc = ml_json_get_i64(v, &x, &d->ctx.path, "aggregationTemporality", d->ctx.err);
	*out = (x == 1 || x == 2) ? (int)x : 0;
	return rc;
}

static int json_metric(struct dec *d, const json_t *jm)
{
	static const struct {
		const char *camel, *snake;
		enum mkind mk;
	} kinds[] = {
		{"gauge", NULL, MK_GAUGE},
		{"sum", NULL, MK_SUM},
		{"histogram", NULL, MK_HIST},
		{"exponentialHistogram", "exponential_histogram", MK_EXPHIST},
		{"summary", NULL, MK_SUMMARY},
	};
	int rc = ml_json_expect_object(jm, &d->ctx.path, NULL, d->ctx.err);
	if (rc != 0)
		return rc;
	struct ml_str name = {"", 0}, desc = {"", 0}, unit = {"", 0};
	json_t *v;
	if ((v = ml_json_member(jm, "name", NULL)) != NULL)
		rc = ml_json_get_str(v, d->arena, ML_MAX_STRING_BYTES, &name, &d->ctx.path, "name",
				 d->ctx.err);
	if (rc == 0 && (v = ml_json_member(jm, "description", NULL)) != NULL)
		rc = ml_json_get_str(v, d->arena, ML_MAX_STRING_BYTES, &desc, &d->ctx.path,
				 "description", d->ctx.err);
	if (rc == 0 && (v = ml_json_member(jm, "unit", NULL)) != NULL)
		rc = ml_json_get_str(v, d->arena, ML_MAX_STRING_BYTES, &unit, &d->ctx.path, "unit",
				 d->ctx.err);
	if (rc != 0)
		return rc;
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		json_t *data = ml_json_member(jm, kinds[k].camel, kinds[k].snake);
		if (data == NULL)
			continue;
		enum mkind mk = kinds[k].mk;
		size_t m1 = ml_json_path_key(&d->ctx.path, kinds[k].camel);
		if ((rc = ml_json_expect_object(data, &d->ctx.path, NULL, d->ctx.err)) != 0)
			return rc;
		int temp = 0;
		bool mono = false;
		if ((rc = json_temporality(d, data, &temp)) != 0)
			return rc;
		json_t *mv = ml_json_member(data, "isMonotonic", "is_monotonic");
		if (mv != NULL && (rc = ml_json_get_bool(mv, &mono, &d->ctx.path, "isMonotonic",
						     d->ctx.err)) != 0)
			return rc;
		struct metric m;
		if ((rc = begin_metric(d, name, desc, unit, mk, temp, mono, &m)) != 0)
			return rc;
		json_t *pts = ml_json_member(data, "dataPoints", "data_points");
		if (pts == NULL)
			return 0;
		size_t m2 = ml_json_path_key(&d->ctx.path, "dataPoints");
		if ((rc = ml_json_expect_array(pts, &d->ctx.path, NULL, d->ctx.err)) != 0)
			return rc;
		for (size_t i = 0; i < json_array_size(pts); i++) {
			size_t m3 = ml_json_path_index(&d->ctx.path, i);
			struct point p;
			memset(&p, 0, sizeof(p));
			if ((rc = json_point(d, mk, json_array_get(pts, i), &p)) != 0)
				return rc;
			if (m.name.n == 0)
				reject(d, &m, "metric name has no letter or digit");
			else if (p.n_counts > ML_OTLP_MAX_BUCKETS || p.n_bounds > ML_OTLP_MAX_BUCKETS ||
				 p.n_pos > ML_OTLP_MAX_BUCKETS || p.n_neg > ML_OTLP_MAX_BUCKETS)
				reject(d, &m, "more than %u buckets", ML_OTLP_MAX_BUCKETS);
			else if ((rc = translate_point(d, &m, &p)) != 0)
				return rc;
			ml_json_path_pop(&d->ctx.path, m3);
		}
		ml_json_path_pop(&d->ctx.path, m2);
		ml_json_path_pop(&d->ctx.path, m1);
		return 0; /* a oneof: the first data field present wins */
	}
	return 0;
}

/* Iterates a JSON array member, pushing "key[i]" on the path around fn. */
static int json_each(struct dec *d, const json_t *obj, const char *camel, const char *snake,
		     int (*fn)(struct dec *, const json_t *))
{
	json_t *a = ml_json_member(obj, camel, snake);
	if (a == NULL)
		return 0;
	size_t m1 = ml_json_path_key(&d->ctx.path, camel);
	int rc = ml_json_expect_array(a, &d->ctx.path, NULL, d->ctx.err);
	for (size_t i = 0; rc == 0 && i < json_array_size(a); i++) {
		size_t m2 = ml_json_path_index(&d->ctx.path, i);
		rc = fn(d, json_array_get(a, i));
		if (rc == 0)
			ml_json_path_pop(&d->ctx.path, m2);
	}
	if (rc == 0)
		ml_json_path_pop(&d->ctx.path, m1);
	return rc;
}

static int json_scope_metrics(struct dec *d, const json_t *sm)
{
	int rc = ml_json_expect_object(sm, &d->ctx.path, NULL, d->ctx.err);
	if (rc == 0)
		rc = ml_otlp_scope_from_json(&d->ctx, ml_json_member(sm, "scope", NULL), &d->res);
	if (rc != 0)
		return rc;
	begin_scope(d);
	return json_each(d, sm, "metrics", NULL, json_metric);
}

static int json_resource_metrics(struct dec *d, const json_t *rm)
{
	int rc = ml_json_expect_object(rm, &d->ctx.path, NULL, d->ctx.err);
	if (rc == 0)
		rc = ml_otlp_resource_from_json(&d->ctx, ml_json_member(rm, "resource", NULL),
						&d->res);
	if (rc != 0)
		return rc;
	begin_resource(d);
	if ((rc = json_each(d, rm, "scopeMetrics", "scope_metrics", json_scope_metrics)) != 0)
		return rc;
	return end_resource(d);
}

int ml_otlp_metrics_decode_json(const uint8_t *body, size_t len, struct ml_delta_accumulator *acc,
				struct ml_sample_batch *batch, struct ml_ingest_report *report,
				struct ml_err *err)
{
	struct dec d;
	int rc = 0;
	json_t *root = NULL;
	dec_init(&d, batch, acc, report, err);
	root = ml_json_load(body, len, ML_MAX_JSON_DEPTH, err, &rc);
	if (root == NULL)
		goto fail;
	if ((rc = ml_json_expect_object(root, &d.ctx.path, NULL, err)) != 0)
		goto fail;
	rc = json_each(&d, root, "resourceMetrics", "resource_metrics", json_resource_metrics);
fail:
	json_decref(root);
	dec_fini(&d);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* Responses                                                                 */
/* ------------------------------------------------------------------------ */

void ml_otlp_metrics_response_proto(const struct ml_ingest_report *report, struct ml_buf *out)
{
	Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceResponse resp =
		OPENTELEMETRY__PROTO__COLLECTOR__METRICS__V1__EXPORT_METRICS_SERVICE_RESPONSE__INIT;
	Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsPartialSuccess ps =
		OPENTELEMETRY__PROTO__COLLECTOR__METRICS__V1__EXPORT_METRICS_PARTIAL_SUCCESS__INIT;
	char msg[sizeof(report->first_reject)];
	if (report != NULL && report->rejected > 0) {
		snprintf(msg, sizeof(msg), "%s", report->first_reject);
		ps.rejected_data_points = (int64_t)report->rejected;
		ps.error_message = msg;
		resp.partial_success = &ps;
	}
	size_t n = opentelemetry__proto__collector__metrics__v1__export_metrics_service_response__get_packed_size(&resp);
	if (n == 0)
		return; /* an empty message: an empty body */
	uint8_t *p = ml_buf_reserve(out, n);
	if (p == NULL)
		return;
	opentelemetry__proto__collector__metrics__v1__export_metrics_service_response__pack(&resp, p);
	out->len += n;
}

void ml_otlp_metrics_response_json(const struct ml_ingest_report *report, struct ml_buf *out)
{
	if (report == NULL || report->rejected == 0) {
		ml_buf_puts(out, "{}");
		return;
	}
	size_t n = strnlen(report->first_reject, sizeof(report->first_reject));
	ml_buf_printf(out, "{\"partialSuccess\":{\"rejectedDataPoints\":\"%llu\",\"errorMessage\":",
		      (unsigned long long)report->rejected);
	ml_otlp_json_quote(out, report->first_reject, n);
	ml_buf_puts(out, "}}");
}
