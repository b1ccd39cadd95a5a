/*
 * trace_store_internal.h - the trace store's state, shared by its write side
 * (trace_store.c: append, replay, compaction, retention) and its read side
 * (trace_read.c: get, search, names, dependencies). Not for other modules.
 *
 * Named databases (key -> value; docs/STORAGE.md has the encodings):
 *   trace_head            be64 seq -> head record (one appended batch)
 *   trace_blocks          be32 block ‖ be32 page -> compressed page
 *   trace_index           trace id (16) ‖ be32 block -> page range
 *   trace_block_meta      be32 block -> block summary
 *   trace_services        service -> be64 newest start
 *   trace_operations      be16 len ‖ service ‖ kind ‖ name -> be64 newest start
 *   trace_remote_services be16 len ‖ service ‖ remote -> be64 newest start
 *   trace_deps            be32 hour ‖ be16 len ‖ parent ‖ child -> calls, errors (varints)
 */
#ifndef ML_STORE_TRACE_STORE_INTERNAL_H
#define ML_STORE_TRACE_STORE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <lmdb.h>

#include "store/env.h"
#include "store/trace_block.h"
#include "store/trace_head.h"
#include "store/trace_store.h"

#define ML_TRACE_DEFAULT_HEAD_SPANS 200000
#define ML_TRACE_DEFAULT_HEAD_AGE_NS (60ULL * 1000000000ULL)
#define ML_TRACE_DEFAULT_LEVEL_HEAD 1
#define ML_TRACE_DEFAULT_LEVEL_BLOCK 6 /* measured: 3 -> 6 saves ~4 bytes per span, compaction stays > 80k spans/s */
/* Deletes per retention transaction: small enough that appends queued
 * behind it wait milliseconds, not seconds. */
#define ML_TRACE_RETENTION_BATCH 10000
/* A head record never decompresses to more than this (corrupt length guard). */
#define ML_TRACE_HEAD_RECORD_MAX (512u * 1024 * 1024)

struct ml_arena;

/*
 * The last compacted block's callers and the links it left open, for the
 * dependency links that straddle two compactions (trace_deps.c). Service
 * names are copies in strings.
 */
struct ml_dep_carry {
	struct ml_block_caller *callers; /* sorted by key */
	size_t n_callers;
	struct ml_block_orphan *orphans;
	size_t n_orphans;
	struct ml_arena *strings;
};
/*
 * Adds to b->deps the links between b's orphans and the carried callers and
 * between the carried orphans and b's callers; closed[i] tells whether b's
 * orphan i found its caller (b->n_orphans entries). 0 or ML_ENOMEM.
 */
int ml_dep_carry_link(const struct ml_dep_carry *c, struct ml_block_build *b, bool *closed);
/*
 * The carry of b: its callers and its orphans still open, with their own
 * copies of the names (b's point into head spans that compaction frees).
 * 0 or ML_ENOMEM.
 */
int ml_dep_carry_make(struct ml_dep_carry *out, const struct ml_block_build *b, const bool *closed);
void ml_dep_carry_free(struct ml_dep_carry *c);

struct ml_trace_store {
	struct ml_store *env;
	struct ml_trace_store_options opt; /* defaults filled in */
	MDB_dbi db_head, db_blocks, db_index, db_meta, db_services, db_ops, db_remote, db_deps;

	struct ml_trace_head head;
	uint64_t next_seq;      /* next trace_head key; writer thread only after open */

	pthread_mutex_t compact_mu; /* one compaction or retention pass at a time */
	uint32_t next_block;        /* under compact_mu */
	struct ml_dep_carry carry;  /* under compact_mu */

	pthread_mutex_t bg_mu;
	pthread_cond_t bg_cv;
	bool bg_stop, bg_started;
	pthread_t bg;

	atomic_uint_fast64_t spans_appended, blocks, block_spans, compactions, retention_deleted;
};

uint64_t ml_trace_now_ns(void);

/* Key helpers shared by both sides. Return the key length, 0 if the names are too long. */
size_t ml_trace_name_key(uint8_t *key, size_t cap, struct ml_str service, const uint8_t *mid,
			 size_t mid_n, struct ml_str name);

#endif
