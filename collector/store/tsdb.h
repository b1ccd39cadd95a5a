/*
 * tsdb.h - the time-series store: durable float samples in LMDB, and the
 * reads the PromQL engine and the Prometheus HTTP API need.
 *
 * Write path: ml_tsdb_append() validates a decoded struct ml_sample_batch,
 * then does one ml_store_write(): in that transaction the accepted samples go
 * to the write-ahead log (db `tsdb_wal`, one zstd record per batch) and new
 * series to `series` and `postings`; after the commit they are merged into
 * the in-memory head. A return of 0 means every sample the report counts as
 * accepted is on disk: a kill -9 right after loses nothing, ml_tsdb_open()
 * replays the WAL into the head.
 *
 * Head and chunks: each series keeps its recent samples in memory as Gorilla
 * chunks (store/chunk.h). A chunk is closed at opt.chunk_max_samples samples
 * or opt.chunk_max_range_ms of time; ml_tsdb_maintain() writes closed chunks
 * that no out-of-order sample can reach any more to db `chunks`, deletes the
 * WAL records nothing in the head needs (checkpoint), recompresses cold
 * chunks with zstd and applies retention, each in bounded transactions.
 * docs/STORAGE.md, section "Time-series store", has the key layouts.
 *
 * Prometheus semantics: staleness markers (NaN with bits 0x7ff0000000000002)
 * are stored and returned bit-exact. A sample older than the series' newest
 * is accepted if it is within opt.ooo_window_ms of it (merged in order),
 * else rejected ("too old sample", or "out of order sample" when the window
 * is 0). A sample whose timestamp exists with another value is rejected
 * ("duplicate sample for timestamp"); with the same value it is accepted
 * silently. Rejections are per sample and counted in the report.
 *
 * Threads: ml_tsdb_append, ml_tsdb_maintain and every read may be called
 * from any number of threads at once. Head changes run on the store's
 * writer thread; readers take the head lock only to copy a series' head
 * samples, and read LMDB through their own read transactions, so readers
 * never block the writer for longer than a copy.
 */
#ifndef ML_STORE_TSDB_H
#define ML_STORE_TSDB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "model/labels.h"
#include "model/sample.h"

struct ml_store;
struct ml_arena;
struct ml_matcher;
struct ml_tsdb;

struct ml_tsdb_options {
	int64_t retention_ms;        /* chunks whose newest sample is older than now - this are deleted; 0 = keep */
	int64_t ooo_window_ms;       /* out-of-order window; 0 = default 10 min; negative = none */
	uint32_t chunk_max_samples;  /* close a head chunk at this many samples; 0 = 120 */
	int64_t chunk_max_range_ms;  /* or when it spans this long; 0 = 2 h */
	int64_t idle_flush_ms;       /* flush a series' open chunk when it got nothing for this long; 0 = 1 h */
	int64_t cold_after_ms;       /* recompress chunks older than this with zstd; 0 = 6 h; negative = never */
	int64_t cold_window_ms;      /* one zstd record per series and window of this length; 0 = 24 h */
	size_t max_ops_per_txn;      /* deletes/puts per maintenance transaction; 0 = 2000 */
	int zstd_level;              /* 0 = 3 for cold chunks (the WAL always uses 1) */
	struct ml_labels_limits limits; /* label caps, see model/labels.h */
};

/*
 * Opens the TSDB inside an opened store environment: opens its databases and
 * replays the WAL into the head. NULL on failure, with the reason in err.
 * opt may be NULL (all defaults).
 */
struct ml_tsdb *ml_tsdb_open(struct ml_store *st, const struct ml_tsdb_options *opt,
			     struct ml_err *err);
/* Frees the head. Accepts NULL. No call may be running on db. */
void ml_tsdb_close(struct ml_tsdb *db);

/* What happened to the samples of one ml_tsdb_append. */
struct ml_tsdb_report {
	uint64_t samples_accepted;   /* durable when append returned 0 (includes silent duplicates) */
	uint64_t samples_rejected;   /* sum of the reasons below */
	uint64_t out_of_order;       /* "out of order sample" / "too old sample" */
	uint64_t duplicate;          /* "duplicate sample for timestamp" (different value) */
	uint64_t invalid_series;     /* samples of series whose label set was rejected */
	uint64_t series_rejected;    /* label sets rejected (invalid name, caps) */
	uint64_t series_created;     /* series seen for the first time */
	struct ml_err first_error;   /* message of the first rejection ("" if none) */
};

/*
 * Appends every series of batch (the batch stays the caller's). Returns 0
 * when the samples counted as accepted in report (may be all, some or none)
 * are durably committed; rejected samples are only counted in report, with
 * the first reason in report->first_error (and in err): the caller answers
 * partial success from it. Returns ML_EFULL (store full: nothing stored),
 * ML_ESHUTDOWN, ML_EIO or ML_ENOMEM with a message in err; then nothing
 * of the batch is stored. report may be NULL.
 */
int ml_tsdb_append(struct ml_tsdb *db, const struct ml_sample_batch *batch,
		   struct ml_tsdb_report *report, struct ml_err *err);

/*
 * Housekeeping, to be called every few seconds to minutes from one timer
 * thread with the current time in unix ms: closes idle chunks, writes
 * flushable head chunks to `chunks`, checkpoints the WAL, recompresses cold
 * chunks and deletes data older than the retention, each in transactions of
 * at most opt.max_ops_per_txn changes so that appends are never starved.
 * Returns 0 or the first storage error.
 */
int ml_tsdb_maintain(struct ml_tsdb *db, int64_t now_ms, struct ml_err *err);

/* --- reading ------------------------------------------------------------- */

/* Select hints. */
#define ML_TSDB_SELECT_NO_SAMPLES 1u /* only the label sets of series with data in range */
#define ML_TSDB_SELECT_NEWEST 2u     /* of each series only its newest sample in range */

struct ml_tsdb_series_set;

/*
 * Selects the series matched by all n matchers that have at least one sample
 * in [mint, maxt] (inclusive, unix ms). At least one matcher must not match
 * the empty string (Prometheus's rule), else ML_EINVAL. The matchers are used
 * during the call only. On success *out is an iterator positioned before the
 * first series, in label-set order; free it with ml_tsdb_series_set_free.
 * Returns 0, ML_EINVAL, ML_ENOMEM, ML_EIO.
 */
int ml_tsdb_select(struct ml_tsdb *db, struct ml_matcher *const *matchers, size_t n,
		   int64_t mint, int64_t maxt, unsigned hints, struct ml_tsdb_series_set **out,
		   struct ml_err *err);

/*
 * Advances to the next series: 1, 0 at the end, or a negative ML_E* (e.g.
 * ML_ECORRUPT) with a message in err. Each call reads that series' head
 * samples (under the head lock, briefly) and its stored chunks (in a read
 * transaction of its own), merges them in time order and keeps the samples in
 * [mint, maxt]. An iterator is used by one thread at a time.
 */
int ml_tsdb_series_set_next(struct ml_tsdb_series_set *set, struct ml_err *err);
/* The current series' canonical label set; valid until the next _next or _free. */
struct ml_labels ml_tsdb_series_set_labels(const struct ml_tsdb_series_set *set);
/* The current series' id (stable while the series exists). */
uint64_t ml_tsdb_series_set_id(const struct ml_tsdb_series_set *set);
/*
 * The current series' samples sorted by time, no two with the same time;
 * valid until the next _next or _free. None with ML_TSDB_SELECT_NO_SAMPLES.
 */
void ml_tsdb_series_set_samples(const struct ml_tsdb_series_set *set,
				const struct ml_sample **samples, size_t *n);
/* Accepts NULL. */
void ml_tsdb_series_set_free(struct ml_tsdb_series_set *set);

/* A cursor over a sample array for evaluators: next and seek. */
struct ml_sample_it {
	const struct ml_sample *s;
	size_t n, i;
};
static inline void ml_sample_it_init(struct ml_sample_it *it, const struct ml_sample *s, size_t n)
{
	it->s = s;
	it->n = n;
	it->i = 0;
}
/* The next sample or NULL at the end. */
static inline const struct ml_sample *ml_sample_it_next(struct ml_sample_it *it)
{
	return it->i < it->n ? &it->s[it->i++] : NULL;
}
/* Moves to the first sample with t_ms >= t (binary search); NULL if none. Never moves back. */
const struct ml_sample *ml_sample_it_seek(struct ml_sample_it *it, int64_t t);

/*
 * Label names (sorted, unique, including "__name__") of the series matched by
 * the matchers with data in [mint, maxt]; with n == 0 all series. Strings are
 * copied into arena and valid as long as it. Returns 0 or ML_E*.
 * With n == 0 and mint == INT64_MIN and maxt == INT64_MAX the answer comes from
 * the index alone (cheap); otherwise the series are selected first.
 */
int ml_tsdb_label_names(struct ml_tsdb *db, struct ml_matcher *const *matchers, size_t n,
			int64_t mint, int64_t maxt, struct ml_arena *arena, struct ml_str **out,
			size_t *n_out, struct ml_err *err);
/* The values (sorted, unique) of label name, restricted the same way. */
int ml_tsdb_label_values(struct ml_tsdb *db, const char *name, size_t name_len,
			 struct ml_matcher *const *matchers, size_t n, int64_t mint, int64_t maxt,
			 struct ml_arena *arena, struct ml_str **out, size_t *n_out,
			 struct ml_err *err);

/* Metric metadata as last received (OTLP, remote write v1 metadata, text). */
struct ml_tsdb_meta {
	struct ml_str family;
	uint8_t type; /* enum ml_metric_type */
	struct ml_str help;
	struct ml_str unit;
};
/*
 * Metadata of one metric family (family_len > 0) or of all (family_len ==
 * 0), at most limit entries (0 = no limit), sorted by family name, copied
 * into arena. Returns 0 or ML_E*.
 */
int ml_tsdb_metadata(struct ml_tsdb *db, const char *family, size_t family_len, size_t limit,
		     struct ml_arena *arena, struct ml_tsdb_meta **out, size_t *n_out,
		     struct ml_err *err);

/* Head and store figures for /metrics and the benchmarks. */
struct ml_tsdb_stats {
	uint64_t head_series;   /* series in memory */
	uint64_t head_chunks;
	uint64_t head_samples;
	uint64_t head_bytes;    /* heap bytes of the head (series, label sets, chunks, tables) */
	uint64_t wal_records;   /* records in tsdb_wal */
	uint64_t stored_chunks; /* entries in `chunks` */
	uint64_t stored_chunk_bytes; /* their value bytes */
	uint64_t series_total;  /* entries in `series` */
};
int ml_tsdb_stats(struct ml_tsdb *db, struct ml_tsdb_stats *out);

#endif
