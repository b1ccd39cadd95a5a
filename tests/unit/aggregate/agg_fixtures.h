/*
 * agg_fixtures.h - helpers for the aggregation tests: spans built by hand
 * in an arena, and reading one child of a registry family back by its label
 * values (what /metrics and the flush would see).
 */
#ifndef ML_TESTS_AGG_FIXTURES_H
#define ML_TESTS_AGG_FIXTURES_H

#include <criterion/criterion.h>

#include <math.h>
#include <string.h>

#include "core/arena.h"
#include "model/registry.h"
#include "model/span.h"

#define FX_T0_NS 1764000000000000000ULL

static inline void fx_id8(uint8_t out[8], uint64_t v)
{
	for (int i = 0; i < 8; i++)
		out[7 - i] = (uint8_t)(v >> (8 * i));
}

static inline void fx_id16(uint8_t out[16], uint64_t v)
{
	memset(out, 0, 16);
	out[0] = 0x5a;
	fx_id8(out + 8, v);
}

/* A span of service svc with kind, ids (parent 0 = root), duration ms and status. */
static inline struct ml_span *fx_span(struct ml_span_batch *b, const char *svc, uint8_t kind,
                                      uint64_t trace, uint64_t id, uint64_t parent, double ms,
                                      uint8_t status)
{
	struct ml_resource *res = ml_arena_calloc(b->arena, 1, sizeof(*res));
	res->service_name = ml_str_make(svc, strlen(svc));
	struct ml_span *s = ml_span_batch_add(b);
	cr_assert_not_null(s);
	s->resource = res;
	fx_id16(s->trace_id, trace);
	fx_id8(s->span_id, id);
	if (parent)
		fx_id8(s->parent_id, parent);
	s->name = ML_STR("GET /items");
	s->kind = kind;
	s->status_code = status;
	s->start_ns = FX_T0_NS;
	s->end_ns = FX_T0_NS + (uint64_t)(ms * 1e6);
	s->local.service_name = res->service_name;
	return s;
}

/* Adds string attribute k=v to s (room for 8). */
static inline void fx_attr(struct ml_span_batch *b, struct ml_span *s, const char *k, const char *v)
{
	if (s->attrs.items == NULL)
		s->attrs.items = ml_arena_calloc(b->arena, 8, sizeof(struct ml_attr));
	struct ml_attr *a = &s->attrs.items[s->attrs.n++];
	a->key = ml_str_make(k, strlen(k));
	a->type = ML_VAL_STRING;
	a->v.s = ml_str_make(v, strlen(v));
}

struct fx_find {
	const char *family;
	const char *const *values; /* NULL: any child; a NULL value: any value (sums them) */
	size_t bucket;             /* histogram: which cumulative bucket to report */
	int found;
	double value, sum, bucket_value;
	uint64_t count;
};

static inline int fx_find_visit(void *ctx, const struct ml_family_desc *f,
                                const struct ml_child_value *v)
{
	struct fx_find *q = ctx;
	if (v == NULL || strcmp(f->name, q->family) != 0)
		return 0;
	if (q->values != NULL)
		for (size_t i = 0; i < f->n_labels; i++)
			if (q->values[i] != NULL &&
			    !ml_str_eq_cstr(v->label_values[i], q->values[i]))
				return 0;
	q->found++;
	q->value += v->value;
	if (f->type == ML_METRIC_HISTOGRAM) {
		q->count += v->count;
		q->sum += v->sum;
		q->bucket_value +=
		    q->bucket < f->n_buckets ? (double)v->buckets[q->bucket] : (double)v->count;
	}
	return 0;
}

/* The value (counter/gauge) of family's child with these label values; NAN if none. */
static inline double fx_value(struct ml_registry *r, const char *family, const char *const *values)
{
	struct fx_find q = {.family = family, .values = values};
	ml_registry_walk(r, fx_find_visit, &q);
	return q.found ? q.value : NAN;
}

/* A histogram child: count, sum and cumulative bucket i (n_buckets = +Inf). */
static inline struct fx_find fx_hist(struct ml_registry *r, const char *family,
                                     const char *const *values, size_t bucket)
{
	struct fx_find q = {.family = family, .values = values, .bucket = bucket};
	ml_registry_walk(r, fx_find_visit, &q);
	return q;
}

/* Children of a family. */
static inline size_t fx_children(struct ml_registry *r, const char *family)
{
	struct ml_family *f = ml_registry_find(r, family);
	return f ? ml_family_children(f) : 0;
}

#endif
