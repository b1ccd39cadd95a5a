/*
 * postings.h - the label index of the TSDB (db `postings`) and label matching.
 *
 * One empty-valued LMDB entry per (series, label):
 *
 *     be16 name_len | name | be16 value_len | value | be64 series id
 *
 * so that all series with name=value are one prefix scan and all values of a
 * name are a scan that skips from value to value. Values too long for an
 * LMDB key (the key would pass ML_POSTINGS_INLINE_MAX) are stored hashed:
 *
 *     be16 name_len | name | 0xFFFF | be64 XXH3(value) | be64 series id
 *
 * and read back from the series' label set when a matcher needs the text.
 * Every series also has the entry with an empty name and value (be16 0 |
 * be16 0 | id): the list of all series.
 */
#ifndef ML_STORE_POSTINGS_H
#define ML_STORE_POSTINGS_H

#include <stddef.h>
#include <stdint.h>

#include <lmdb.h>

#include "core/error.h"
#include "model/labels.h"

struct ml_matcher;
struct ml_arena;

#define ML_POSTINGS_INLINE_MAX 480 /* LMDB's default key limit is 511 */

/* A sorted set of series ids. */
struct ml_u64s {
	uint64_t *v;
	size_t n, cap;
};
void ml_u64s_free(struct ml_u64s *s);
int ml_u64s_push(struct ml_u64s *s, uint64_t v);
/* Sorts and removes duplicates. */
void ml_u64s_sort_unique(struct ml_u64s *s);

/* Adds / removes the entries of series sid with label set ls. */
int ml_postings_add(MDB_txn *txn, MDB_dbi dbi, uint64_t sid, struct ml_labels ls);
int ml_postings_del(MDB_txn *txn, MDB_dbi dbi, uint64_t sid, struct ml_labels ls);

/*
 * The ids of the series matched by all matchers (sorted). series_dbi maps
 * id -> label set (for hashed long values). With n == 0: every series.
 */
int ml_postings_select(MDB_txn *txn, MDB_dbi dbi, MDB_dbi series_dbi, struct ml_matcher *const *ms,
		       size_t n, struct ml_u64s *out, struct ml_err *err);

/* Calls fn for every distinct label name in the index (unsorted). */
int ml_postings_names(MDB_txn *txn, MDB_dbi dbi, int (*fn)(void *ctx, const char *p, size_t n),
		      void *ctx);
/* Calls fn for every distinct value of name (unsorted, may repeat long values). */
int ml_postings_values(MDB_txn *txn, MDB_dbi dbi, MDB_dbi series_dbi, const char *name,
		       size_t name_len, int (*fn)(void *ctx, const char *p, size_t n), void *ctx);

#endif
