/*
 * sample.c - growing sample batches in their arena; see sample.h.
 */
#include "model/sample.h"
#include "core/arena.h"

#include <string.h>

void ml_sample_batch_init(struct ml_sample_batch *b, struct ml_arena *arena)
{
	memset(b, 0, sizeof(*b));
	b->arena = arena;
}

/* Grows an arena array of elem-sized items to hold one more. */
static void *grow(struct ml_arena *a, void *items, size_t n, size_t *cap, size_t elem)
{
	if (n < *cap)
		return items;
	size_t ncap = *cap ? *cap * 2 : 64;
	void *p = ml_arena_calloc(a, ncap, elem);
	if (p == NULL)
		return NULL;
	if (n)
		memcpy(p, items, n * elem);
	*cap = ncap;
	return p;
}

struct ml_series_samples *ml_sample_batch_add(struct ml_sample_batch *b, uint32_t n_labels,
					      uint32_t n_samples)
{
	struct ml_series_samples *s = grow(b->arena, b->series, b->n, &b->cap, sizeof(*s));
	if (s == NULL)
		return NULL;
	b->series = s;
	struct ml_label *labels = ml_arena_calloc(b->arena, n_labels, sizeof(*labels));
	struct ml_sample *samples = ml_arena_calloc(b->arena, n_samples, sizeof(*samples));
	if ((n_labels && labels == NULL) || (n_samples && samples == NULL))
		return NULL;
	struct ml_series_samples *out = &b->series[b->n++];
	out->labels = labels;
	out->n_labels = n_labels;
	out->samples = samples;
	out->n_samples = n_samples;
	return out;
}

struct ml_metric_meta *ml_sample_batch_add_meta(struct ml_sample_batch *b)
{
	struct ml_metric_meta *m = grow(b->arena, b->meta, b->n_meta, &b->cap_meta, sizeof(*m));
	if (m == NULL)
		return NULL;
	b->meta = m;
	memset(&b->meta[b->n_meta], 0, sizeof(*m));
	return &b->meta[b->n_meta++];
}
