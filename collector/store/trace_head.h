/*
 * trace_head.h - the in-memory mirror of the trace store's head.
 *
 * Every committed `trace_head` record (one appended batch) is mirrored here
 * until compaction moves it into a block: each span as its standalone
 * encoding (span_codec.h) plus the summary that search needs without
 * decoding (ids, service, name, kind, start, duration, error), and a hash
 * map trace id -> the trace's spans so that reading a recent trace touches
 * no disk.
 *
 * Spans and records are kept in append order; compaction removes a prefix of
 * whole records. The head does no locking of its own: the caller holds
 * `lock` (read for lookups and iteration, write for push and drop).
 */
#ifndef ML_STORE_TRACE_HEAD_H
#define ML_STORE_TRACE_HEAD_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/span.h"

/* One span in the head: one allocation holding the summary, strings and encoding. */
struct ml_head_span {
	struct ml_head_span *next;  /* next span of the same trace (append order) */
	struct ml_head_span *hnext; /* hash chain (first span of a trace only) */
	struct ml_head_span *last;  /* last span of the trace (first span only) */
	uint8_t trace_id[16];
	uint8_t span_id[8];
	uint8_t parent_id[8];
	uint64_t start_ns;
	uint64_t dur_ns;
	struct ml_str service;      /* these point into the same allocation */
	struct ml_str name;
	struct ml_str remote;       /* remote endpoint service or peer.service */
	uint8_t kind;
	bool error;
	bool shared;
	bool has_parent;
	uint32_t enc_len;
	const uint8_t *enc;         /* standalone span encoding */
};

/* One committed batch: `trace_head` key seq, n_spans spans. */
struct ml_head_rec {
	uint64_t seq;
	uint64_t time_ns;  /* wall clock when it was appended */
	uint32_t n_spans;
};

struct ml_trace_head {
	pthread_rwlock_t lock;
	struct ml_head_span **spans; /* live: spans[spans_off .. spans_off + n_spans) */
	size_t spans_off, n_spans, cap_spans;
	struct ml_head_rec *recs;    /* live: recs[recs_off .. recs_off + n_recs) */
	size_t recs_off, n_recs, cap_recs;
	struct ml_head_span **buckets;
	size_t n_buckets, n_traces;
	uint64_t min_start_ns;       /* smallest start of any live span (0 = empty) */
};

int ml_trace_head_init(struct ml_trace_head *h);
/* Frees every span. */
void ml_trace_head_free(struct ml_trace_head *h);

/*
 * Builds a head span from a span and its standalone encoding (both copied).
 * Free with ml_free unless pushed. NULL on ENOMEM.
 */
struct ml_head_span *ml_head_span_make(const struct ml_span *s, const uint8_t *enc, size_t n);

/*
 * Appends one record and its spans (write lock held). On success the head
 * owns the spans; on ML_ENOMEM nothing changed and the caller still owns them.
 */
int ml_trace_head_push(struct ml_trace_head *h, uint64_t seq, uint64_t time_ns,
		       struct ml_head_span **spans, size_t n);

/* Removes and frees the oldest n_recs records and their spans (write lock held). */
void ml_trace_head_drop(struct ml_trace_head *h, size_t n_recs);

/* First span of a trace, or NULL (read lock held). Follow ->next. */
const struct ml_head_span *ml_trace_head_find(const struct ml_trace_head *h, const uint8_t id[16]);

static inline struct ml_head_span *ml_trace_head_span(const struct ml_trace_head *h, size_t i)
{
	return h->spans[h->spans_off + i];
}
static inline const struct ml_head_rec *ml_trace_head_rec(const struct ml_trace_head *h, size_t i)
{
	return &h->recs[h->recs_off + i];
}

#endif
