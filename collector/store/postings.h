/*
 * postings.h - the label index of the TSDB (db `postings`) and label matching.
 *
 * One LMDB key per (label name, value), its series the key's sorted
 * duplicates (the db is MDB_DUPSORT | MDB_DUPFIXED, see
 * ML_POSTINGS_DBI_FLAGS), each 16 bytes: the series' sequence number (the
 * order in which series were indexed) and its id, both big-endian:
 *
 *     key: be16 name_len | name | be16 value_len | value     data: be64 seq | be64 series id
 *
 * All series with name=value are one key, read a page of ids at a time, and
 * the values of a name are consecutive keys. Ordering the duplicates by
 * sequence rather than by id (a hash) makes every new series an append at
 * the end of each of its labels' lists: creating series dirties the last
 * page of each list, not a random page of it. Readers sort the ids they
 * collect. Values too long for an LMDB key (the key would pass
 * ML_POSTINGS_INLINE_MAX - 8) are stored hashed:
 *
 *     key: be16 name_len | name | 0xFFFF | be64 XXH3(value)  data: as above
 *
 * and read back from the series' label set when a matcher needs the text.
 * Every series also has the key with an empty name and value (be16 0 |
 * be16 0): the list of all series, whose last duplicate has the highest
 * sequence number in use.
 *
 * A `series` row (db `series`, key be64 id) is the canonical label set
 * followed by the series' be64 sequence number (ml_series_row_parse), so
 * that removing a series finds its postings entries.
 */
#ifndef ML_STORE_POSTINGS_H
#define ML_STORE_POSTINGS_H

#include <stdbool.h>
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

/*
 * Adds / removes the entries of series sid with sequence number seq and
 * label set ls. Add expects seq to be higher than every seq in the index
 * (then each entry is an append); a lower one works, only slower.
 */
int ml_postings_add(MDB_txn *txn, MDB_dbi dbi, uint64_t sid, uint64_t seq, struct ml_labels ls);
int ml_postings_del(MDB_txn *txn, MDB_dbi dbi, uint64_t sid, uint64_t seq, struct ml_labels ls);

/* The highest sequence number in the index, 0 if it is empty. */
int ml_postings_max_seq(MDB_txn *txn, MDB_dbi dbi, uint64_t *out);

/* Splits a `series` row into its label set and sequence number; false if malformed. */
static inline bool ml_series_row_parse(const MDB_val *v, struct ml_labels *ls, uint64_t *seq)
{
	if (v->mv_size < 8)
		return false;
	const uint8_t *p = (const uint8_t *)v->mv_data;
	ls->p = p;
	ls->n = v->mv_size - 8;
	if (seq) {
		uint64_t x = 0;
		for (int i = 0; i < 8; i++)
			x = x << 8 | p[ls->n + (size_t)i];
		*seq = x;
	}
	return true;
}

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
