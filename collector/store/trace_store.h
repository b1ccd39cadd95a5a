/*
 * trace_store.h - durable span storage in LMDB, and the reads the trace query
 * APIs (Jaeger, Zipkin) need.
 *
 * Write path: ml_trace_store_append() hands a decoded batch to the store's
 * writer; it returns only after the batch is committed (fsynced) to LMDB, so a
 * caller may acknowledge the push the moment it returns 0. Concurrent appends
 * share commits (group commit).
 *
 * Layout (see docs/ARCHITECTURE.md): recent spans live in a "head": each
 * committed batch is one zstd-compressed record in the `trace_head` database,
 * mirrored in memory for fast reads. When the head is large or old enough it is
 * compacted into a block: spans sorted by trace id, cut into pages of a few
 * dozen KiB compressed with zstd, with a trace-id index and per-block
 * service/operation/time summaries for search. Retention deletes whole blocks.
 *
 * Threads: append may be called from any number of threads. Reads may be
 * called from any thread concurrently with writes; they see a consistent
 * snapshot. All functions are thread-safe.
 */
#ifndef ML_STORE_TRACE_STORE_H
#define ML_STORE_TRACE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "model/span.h"

struct ml_store;        /* the LMDB environment, store/env.h */
struct ml_trace_store;
struct ml_arena;

struct ml_trace_store_options {
	uint64_t retention_ns;        /* spans older than now - retention are deleted; 0 = keep */
	size_t head_max_spans;        /* compact when the head holds this many spans (0 = default) */
	uint64_t head_max_age_ns;     /* or when its oldest record is this old (0 = default) */
	int zstd_level_head;          /* 0 = default (1) */
	int zstd_level_block;         /* 0 = default (6) */
};

/*
 * Opens the trace store inside an opened store environment, replays the
 * head from LMDB into memory and starts the compaction/retention thread.
 * NULL on failure, with the reason in err.
 */
struct ml_trace_store *ml_trace_store_open(struct ml_store *env,
					   const struct ml_trace_store_options *opt,
					   struct ml_err *err);
/* Stops the background thread and frees memory. Accepts NULL. Appends must have returned. */
void ml_trace_store_close(struct ml_trace_store *ts);

/*
 * Durably stores every span of batch (the batch and its arena stay the
 * caller's). Returns 0 once committed; ML_EFULL when the disk or map is
 * full (nothing of the batch is stored), ML_ESHUTDOWN during shutdown,
 * ML_EIO on storage failure, with a message in err.
 */
int ml_trace_store_append(struct ml_trace_store *ts, const struct ml_span_batch *batch,
			  struct ml_err *err);

/*
 * A trace as read back: all spans with that trace id, from head and blocks,
 * deduplicated (the same span pushed twice, identical in trace id, span id,
 * kind and start time, appears once) and sorted by start time.
 * Spans and everything they point to live in `arena` (the caller's).
 */
struct ml_trace {
	uint8_t trace_id[16];
	struct ml_span *spans;
	size_t n;
};

/*
 * Reads one trace. Returns 0 and fills out (n == 0 is never returned: a trace
 * with no spans gives ML_ENOTFOUND). start_ns/end_ns, when non-zero, are a
 * hint that may narrow the blocks read; spans outside are still returned.
 */
int ml_trace_store_get(struct ml_trace_store *ts, const uint8_t trace_id[16],
		       uint64_t start_ns, uint64_t end_ns, struct ml_arena *arena,
		       struct ml_trace *out);

/*
 * Search criteria shared by the Jaeger and Zipkin APIs. A trace matches when
 * ONE of its spans satisfies every criterion given (Jaeger's semantics):
 * service (exact, empty = any), operation name (exact, empty = any), span kind
 * (0 = any), every tag (a span attribute, resource attribute, or for "error"
 * also status ERROR; values compared as text), duration bounds (0 = none),
 * and start time within [start_ns, end_ns].
 */
struct ml_tag_filter {
	struct ml_str key;
	struct ml_str value; /* n == 0 and p == NULL: the key only has to exist */
};

struct ml_trace_query {
	struct ml_str service;
	struct ml_str operation;
	uint8_t kind;
	struct ml_tag_filter *tags;
	size_t n_tags;
	uint64_t min_duration_ns; /* 0 = no bound */
	uint64_t max_duration_ns; /* 0 = no bound */
	uint64_t start_ns;
	uint64_t end_ns;
	size_t limit;             /* 0 = default 20 */
};

/*
 * Finds up to q->limit traces, newest first (by the matching span's start
 * time), and returns them whole (as ml_trace_store_get). out and the spans
 * live in arena. Returns 0 (possibly with *n_out == 0) or an error.
 */
int ml_trace_store_search(struct ml_trace_store *ts, const struct ml_trace_query *q,
			  struct ml_arena *arena, struct ml_trace **out, size_t *n_out);

/*
 * Service names seen within retention, sorted. Array and strings in arena.
 */
int ml_trace_store_services(struct ml_trace_store *ts, struct ml_arena *arena,
			    struct ml_str **out, size_t *n_out);

struct ml_operation {
	struct ml_str name;
	uint8_t kind; /* enum ml_span_kind */
};

/*
 * Operations (span name + kind) seen for a service, sorted by name then kind.
 * kind 0 = all kinds. In arena.
 */
int ml_trace_store_operations(struct ml_trace_store *ts, struct ml_str service, uint8_t kind,
			      struct ml_arena *arena, struct ml_operation **out, size_t *n_out);

/* Remote service names seen for a service (Zipkin remoteEndpoint / peer.service). */
int ml_trace_store_remote_services(struct ml_trace_store *ts, struct ml_str service,
				   struct ml_arena *arena, struct ml_str **out, size_t *n_out);

/*
 * Service dependency links for spans starting in [start_ns, end_ns]: a link
 * parent -> child counts each pair of spans of one trace where the child span's
 * parent is a span of another service, plus each Zipkin shared span pair
 * (client span and server span with the same id). error_count counts child
 * spans with status ERROR. Sorted by parent, child. In arena.
 */
struct ml_dependency {
	struct ml_str parent;
	struct ml_str child;
	uint64_t call_count;
	uint64_t error_count;
};
int ml_trace_store_dependencies(struct ml_trace_store *ts, uint64_t start_ns, uint64_t end_ns,
				struct ml_arena *arena, struct ml_dependency **out, size_t *n_out);

/* Figures for /metrics and the benchmarks. */
struct ml_trace_store_stats {
	uint64_t spans_appended;   /* since start */
	uint64_t head_spans;       /* spans in the head now */
	uint64_t blocks;           /* compacted blocks stored */
	uint64_t block_spans;      /* spans in compacted blocks */
	uint64_t compactions;      /* since start */
	uint64_t retention_deleted_spans; /* since start */
};
void ml_trace_store_stats(struct ml_trace_store *ts, struct ml_trace_store_stats *out);

/* Compacts the whole head into a block now (tests, benchmarks, shutdown). */
int ml_trace_store_compact(struct ml_trace_store *ts, struct ml_err *err);
/* Runs retention now against the given clock (tests). */
int ml_trace_store_apply_retention(struct ml_trace_store *ts, uint64_t now_ns, struct ml_err *err);

#endif
