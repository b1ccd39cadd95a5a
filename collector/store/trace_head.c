/*
 * trace_head.c - the in-memory head of the trace store; see trace_head.h.
 *
 * The trace map needs no allocation per trace: the first head span of each
 * trace is the hash-chain node itself (hnext) and keeps a pointer to the
 * trace's last span, so push can only fail while growing arrays, before
 * anything changed. Because compaction drops spans in append order, a dropped
 * span is always the first of its trace, and its successor takes its place
 * in the hash chain.
 */
#include "store/trace_head.h"

#include "core/alloc.h"
#include "core/error.h"
#include "store/span_codec.h"

#include <string.h>


int ml_trace_head_init(struct ml_trace_head *h)
{
	memset(h, 0, sizeof(*h));
	if (pthread_rwlock_init(&h->lock, NULL) != 0)
		return ML_ENOMEM;
	h->n_buckets = 1024;
	h->buckets = ml_calloc(h->n_buckets, sizeof(*h->buckets));
	if (h->buckets == NULL) {
		pthread_rwlock_destroy(&h->lock);
		return ML_ENOMEM;
	}
	return 0;
}

void ml_trace_head_free(struct ml_trace_head *h)
{
	for (size_t i = 0; i < h->n_spans; i++)
		ml_free(ml_trace_head_span(h, i));
	ml_free(h->spans);
	ml_free(h->recs);
	ml_free(h->buckets);
	pthread_rwlock_destroy(&h->lock);
	memset(h, 0, sizeof(*h));
}

static size_t bucket_of(const struct ml_trace_head *h, const uint8_t id[16])
{
	/* Trace ids are random; their low bytes are a fine hash, but 64-bit
	 * Zipkin ids are zero-padded on the left, so use the tail. */
	uint64_t v;
	memcpy(&v, id + 8, 8);
	return (size_t)(v ^ (v >> 29)) & (h->n_buckets - 1);
}

static struct ml_str remote_service(const struct ml_span *s)
{
	if (s->remote.service_name.n)
		return s->remote.service_name;
	const struct ml_attr *a = ml_attrs_find(&s->attrs, "peer.service");
	if (a != NULL && a->type == ML_VAL_STRING)
		return a->v.s;
	return (struct ml_str){NULL, 0};
}

struct ml_head_span *ml_head_span_make(const struct ml_span *s, const uint8_t *enc, size_t n)
{
	struct ml_str svc = s->resource ? s->resource->service_name : ML_STR("unknown_service");
	struct ml_str rem = remote_service(s);
	size_t total = sizeof(struct ml_head_span) + n + svc.n + s->name.n + rem.n;
	struct ml_head_span *h = ml_malloc(total);
	if (h == NULL)
		return NULL;
	memset(h, 0, sizeof(*h));
	memcpy(h->trace_id, s->trace_id, 16);
	memcpy(h->span_id, s->span_id, 8);
	memcpy(h->parent_id, s->parent_id, 8);
	h->start_ns = s->start_ns;
	h->dur_ns = s->end_ns >= s->start_ns ? s->end_ns - s->start_ns : 0;
	h->kind = s->kind;
	h->error = ml_span_is_error(s);
	h->shared = s->shared;
	h->has_parent = ml_span_has_parent(s);
	char *p = (char *)(h + 1);
	memcpy(p, enc, n);
	h->enc = (const uint8_t *)p;
	h->enc_len = (uint32_t)n;
	p += n;
	struct ml_str *dst[3] = {&h->service, &h->name, &h->remote};
	struct ml_str src[3] = {svc, s->name, rem};
	for (int i = 0; i < 3; i++) {
		if (src[i].n)
			memcpy(p, src[i].p, src[i].n);
		dst[i]->p = p;
		dst[i]->n = src[i].n;
		p += src[i].n;
	}
	return h;
}

/* Makes room for `more` items at the end of a deque of `size`-byte items. */
static int deque_reserve(void **arr, size_t *off, size_t n, size_t *cap, size_t size, size_t more)
{
	if (*off + n + more <= *cap)
		return 0;
	if (*off > 0 && n + more <= *cap) {
		memmove(*arr, (char *)*arr + *off * size, n * size);
		*off = 0;
		return 0;
	}
	size_t ncap = *cap ? *cap : 256;
	while (ncap < n + more)
		ncap *= 2;
	void *na = ml_malloc(ncap * size);
	if (na == NULL)
		return ML_ENOMEM;
	if (n)
		memcpy(na, (char *)*arr + *off * size, n * size);
	ml_free(*arr);
	*arr = na;
	*off = 0;
	*cap = ncap;
	return 0;
}

static int rehash(struct ml_trace_head *h, size_t n_buckets)
{
	struct ml_head_span **nb = ml_calloc(n_buckets, sizeof(*nb));
	if (nb == NULL)
		return ML_ENOMEM;
	struct ml_head_span **old = h->buckets;
	size_t old_n = h->n_buckets;
	h->buckets = nb;
	h->n_buckets = n_buckets;
	for (size_t i = 0; i < old_n; i++) {
		for (struct ml_head_span *s = old[i], *next; s; s = next) {
			next = s->hnext;
			size_t b = bucket_of(h, s->trace_id);
			s->hnext = nb[b];
			nb[b] = s;
		}
	}
	ml_free(old);
	return 0;
}

static struct ml_head_span **find_slot(const struct ml_trace_head *h, const uint8_t id[16])
{
	struct ml_head_span **pp = &h->buckets[bucket_of(h, id)];
	while (*pp != NULL && memcmp((*pp)->trace_id, id, 16) != 0)
		pp = &(*pp)->hnext;
	return pp;
}

int ml_trace_head_push(struct ml_trace_head *h, uint64_t seq, uint64_t time_ns,
		       struct ml_head_span **spans, size_t n)
{
	void *arr = h->spans;
	int rc = deque_reserve(&arr, &h->spans_off, h->n_spans, &h->cap_spans, sizeof(*h->spans), n);
	h->spans = arr;
	if (rc != 0)
		return rc;
	arr = h->recs;
	rc = deque_reserve(&arr, &h->recs_off, h->n_recs, &h->cap_recs, sizeof(*h->recs), 1);
	h->recs = arr;
	if (rc != 0)
		return rc;
	if (h->n_traces + n > h->n_buckets) {
		size_t nb = h->n_buckets;
		while (nb < h->n_traces + n)
			nb *= 2;
		if (rehash(h, nb) != 0 && h->n_traces >= 4 * h->n_buckets)
			return ML_ENOMEM; /* long chains are only slow; refuse when absurd */
	}
	for (size_t i = 0; i < n; i++) {
		struct ml_head_span *s = spans[i];
		s->next = s->hnext = s->last = NULL;
		struct ml_head_span **pp = find_slot(h, s->trace_id);
		if (*pp == NULL) {
			s->last = s;
			*pp = s;
			h->n_traces++;
		} else {
			(*pp)->last->next = s;
			(*pp)->last = s;
		}
		h->spans[h->spans_off + h->n_spans++] = s;
		if (h->min_start_ns == 0 || s->start_ns < h->min_start_ns)
			h->min_start_ns = s->start_ns;
	}
	struct ml_head_rec *r = &h->recs[h->recs_off + h->n_recs++];
	r->seq = seq;
	r->time_ns = time_ns;
	r->n_spans = (uint32_t)n;
	return 0;
}

void ml_trace_head_drop(struct ml_trace_head *h, size_t n_recs)
{
	if (n_recs > h->n_recs)
		n_recs = h->n_recs;
	size_t n = 0;
	for (size_t i = 0; i < n_recs; i++)
		n += ml_trace_head_rec(h, i)->n_spans;
	for (size_t i = 0; i < n; i++) {
		struct ml_head_span *s = ml_trace_head_span(h, i);
		struct ml_head_span **pp = find_slot(h, s->trace_id);
		/* s is the first span of its trace: drops go in append order. */
		if (s->next != NULL) {
			struct ml_head_span *nx = s->next;
			nx->last = s->last;
			nx->hnext = s->hnext;
			*pp = nx;
		} else {
			*pp = s->hnext;
			h->n_traces--;
		}
		ml_free(s);
	}
	h->spans_off += n;
	h->n_spans -= n;
	h->recs_off += n_recs;
	h->n_recs -= n_recs;
	h->min_start_ns = 0;
	for (size_t i = 0; i < h->n_spans; i++) {
		uint64_t st = ml_trace_head_span(h, i)->start_ns;
		if (h->min_start_ns == 0 || st < h->min_start_ns)
			h->min_start_ns = st;
	}
}

const struct ml_head_span *ml_trace_head_find(const struct ml_trace_head *h, const uint8_t id[16])
{
	return *find_slot(h, id);
}
