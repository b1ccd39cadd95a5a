/*
 * tsdb_internal.h - what the TSDB's files (tsdb.c, tsdb_head.c, tsdb_read.c,
 * tsdb_maint.c) share. Not for other modules: use store/tsdb.h.
 *
 * Who may touch what: the head (series table, their chunks) changes only on
 * the store's writer thread (inside apply/after_commit of a write op), always
 * with db->lock held for writing. Readers hold db->lock for reading while
 * they copy. Fields marked "writer" are read and written on the writer thread
 * only and need no lock.
 */
#ifndef ML_STORE_TSDB_INTERNAL_H
#define ML_STORE_TSDB_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <lmdb.h>

#include "store/chunk.h"
#include "store/tsdb.h"

/* A head chunk: samples in time order, Gorilla-encoded. */
struct ml_hchunk {
	struct ml_hchunk *next; /* the next newer chunk */
	int64_t mint, maxt;
	uint64_t first_seq;     /* the oldest WAL record holding one of its samples */
	struct ml_chunk_enc enc;
	bool flushing;          /* writer: written by a maintenance op not yet committed */
};

struct ml_hseries {
	struct ml_hseries *next_hash; /* chain in db->by_hash */
	struct ml_hseries *next_sid;  /* chain in db->by_sid */
	uint64_t sid, hash;
	uint8_t *labels;              /* canonical label set (model/labels.h), owned */
	uint32_t labels_len;
	struct ml_hchunk *chunks, *tail; /* oldest first */
	int64_t maxt;                 /* newest committed sample; INT64_MIN if none */
	int64_t persisted_maxt;       /* newest sample in `chunks`; INT64_MIN if none */
	/* writer */
	int64_t w_maxt;               /* newest accepted sample (committed or not) */
	uint64_t w_lastbits;          /* its value bits */
	int64_t w_floor;              /* samples at or before this are too old */
	bool indexed;                 /* `series` and `postings` rows are committed */
	atomic_int pending;           /* write ops that applied samples not yet merged */
};

struct ml_htab {
	struct ml_hseries **b;
	size_t nb, n;
};

struct ml_tsdb {
	struct ml_store *st;
	struct ml_tsdb_options opt;
	MDB_dbi dbi_series, dbi_postings, dbi_chunks, dbi_wal, dbi_meta;
	pthread_rwlock_t lock;
	struct ml_htab by_hash, by_sid;
	/* writer */
	uint64_t next_seq;            /* key of the next WAL record */
	uint64_t committed_seq;       /* newest WAL record merged into the head */
	uint64_t next_series_seq;     /* postings sequence number of the next indexed series */
	void *zc;                     /* ZSTD_CCtx for the WAL */
	atomic_bool resync;           /* a write failed: rebuild writer fields from committed state */
};

/* Chunk values in `chunks`: kind byte, be64 flipped maxt, then the payload. */
#define ML_TSDB_CHUNK_RAW 1  /* one Gorilla chunk */
#define ML_TSDB_CHUNK_ZSTD 2 /* uvarint count, zstd(repeated {uvarint len, Gorilla chunk}) */

/* Timestamps in keys: sign bit flipped so that big-endian bytes sort as int64. */
static inline uint64_t ml_tsdb_tkey(int64_t t) { return (uint64_t)t ^ 0x8000000000000000ULL; }
static inline int64_t ml_tsdb_tval(uint64_t k) { return (int64_t)(k ^ 0x8000000000000000ULL); }

/* tsdb_head.c */
struct ml_hseries *ml_head_by_hash(struct ml_tsdb *db, uint64_t hash, struct ml_labels ls);
struct ml_hseries *ml_head_by_sid(struct ml_tsdb *db, uint64_t sid);
/* Creates and inserts a series (takes db->lock); NULL on ENOMEM. */
struct ml_hseries *ml_head_create(struct ml_tsdb *db, uint64_t sid, uint64_t hash, struct ml_labels ls);
/* Removes and frees s (caller holds db->lock for writing). */
void ml_head_remove(struct ml_tsdb *db, struct ml_hseries *s);
void ml_head_free_all(struct ml_tsdb *db);
/*
 * Merges one sample into s's chunks (caller holds db->lock for writing):
 * appended when newest, else inserted into the chunk it belongs to; a sample
 * whose timestamp is already there is dropped. Returns 0 or ML_ENOMEM.
 */
int ml_head_add(struct ml_tsdb *db, struct ml_hseries *s, int64_t t, double v, uint64_t seq);
/*
 * Looks for timestamp t among s's head samples: 1 and its value bits in *bits,
 * 0 if absent, or ML_ECORRUPT.
 */
int ml_head_find(const struct ml_hseries *s, int64_t t, uint64_t *bits);
/* Heap bytes of s (struct, labels, chunks). */
size_t ml_head_series_bytes(const struct ml_hseries *s);

/* Rebuilds the writer fields from committed state after a failed write (writer thread). */
void ml_tsdb_resync_if_needed(struct ml_tsdb *db);

/*
 * Appends the samples in [mint, maxt] of a stored chunk value (or, _chunk, of
 * one Gorilla chunk) to the growable array *s of *ns samples, capacity *cap.
 */
int ml_tsdb_decode_value(const uint8_t *p, size_t n, int64_t mint, int64_t maxt,
			 struct ml_sample **s, size_t *ns, size_t *cap);
int ml_tsdb_decode_chunk(const uint8_t *p, size_t n, int64_t mint, int64_t maxt,
			 struct ml_sample **s, size_t *ns, size_t *cap);
/* The newest persisted sample time of sid, INT64_MIN if none. */
int ml_tsdb_persisted_maxt(MDB_txn *txn, MDB_dbi chunks, uint64_t sid, int64_t *out);

#endif
