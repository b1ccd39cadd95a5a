/*
 * postings.h - the label index of the TSDB (db `postings`) and label matching.
 *
 * One LMDB key per (label name, value), its series ids the key's sorted
 * duplicates (the db is MDB_DUPSORT | MDB_DUPFIXED, see
 * ML_POSTINGS_DBI_FLAGS; each id is 8 bytes, big-endian):
 *
 *     key: be16 name_len | name | be16 value_len | value     data: be64 series id
 *
 * so that all series with name=value are one key (read a page of ids at a
 * time) and all values of a name are consecutive keys. An id costs 8 bytes in
 * a page of ids instead of a whole key, and a new series changes one page
 * per label instead of a page anywhere in the label's range. Values too long
 * for an LMDB key (the key would pass ML_POSTINGS_INLINE_MAX - 8) are stored
 * hashed:
 *
 *     key: be16 name_len | name | 0xFFFF | be64 XXH3(value)  data: be64 series id
 *
 * and read back from the series' label set when a matcher needs the text.
 * Every series also has the key with an empty name and value (be16 0 |
 * be16 0): the list of all series.
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

/* Flags the postings db must be opened with (ml_store_dbi). */
#define ML_POSTINGS_DBI_FLAGS (MDB_DUPSORT | MDB_DUPFIXED)

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
