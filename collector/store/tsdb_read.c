/*
 * tsdb_read.c - the TSDB's read interface: series selection, label names and
 * values, metadata; see tsdb.h.
 *
 * Consistency between the head and `chunks`: a maintenance op writes a chunk
 * to LMDB and drops it from the head after the commit. A reader therefore
 * copies the head FIRST and begins its read transaction AFTER: if the copy
 * missed the chunk, the chunk was committed before the copy and the later
 * transaction sees it. Seeing a sample twice is possible and harmless: the
 * merged samples are sorted and equal timestamps collapse.
 */
#include "core/alloc.h"
#include "core/arena.h"
#include "query/matcher.h"
#include "store/env.h"
#include "store/postings.h"
#include "store/tsdb_internal.h"

#include <stdlib.h>
#include <string.h>

struct sel_entry {
	uint64_t sid;
	uint8_t *labels;
	size_t len;
};

struct ml_tsdb_series_set {
	struct ml_tsdb *db;
	int64_t mint, maxt;
	unsigned hints;
	struct sel_entry *e;
	size_t n, next;
	struct sel_entry *cur;
	struct ml_sample *s;
	size_t ns, cap;
	struct ml_sample *tmp; /* merge buffer, tmp_cap samples */
	size_t tmp_cap;
	/* A read transaction and cursor on chunks, reset between series and renewed. */
	MDB_txn *txn;
	MDB_cursor *cursor;
};

const struct ml_sample *ml_sample_it_seek(struct ml_sample_it *it, int64_t t)
{
	size_t lo = it->i, hi = it->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (it->s[mid].t_ms < t)
			lo = mid + 1;
		else
			hi = mid;
	}
	it->i = lo;
	return lo < it->n ? &it->s[lo] : NULL;
}

static int cmp_entry(const void *a, const void *b)
{
	const struct sel_entry *x = a, *y = b;
	return ml_labels_cmp((struct ml_labels){x->labels, x->len}, (struct ml_labels){y->labels, y->len});
}

void ml_tsdb_series_set_free(struct ml_tsdb_series_set *set)
{
	if (set == NULL)
		return;
	for (size_t i = 0; i < set->n; i++)
		ml_free(set->e[i].labels);
	ml_free(set->e);
	ml_free(set->s);
	ml_free(set->tmp);
	if (set->cursor != NULL)
		mdb_cursor_close(set->cursor);
	ml_store_read_end(set->txn);
	ml_free(set);
}

/* Selection without the "one non-empty matcher" rule (label APIs may list everything). */
static int select_any(struct ml_tsdb *db, struct ml_matcher *const *ms, size_t n, int64_t mint,
		      int64_t maxt, unsigned hints, struct ml_tsdb_series_set **out, struct ml_err *err)
{
	struct ml_tsdb_series_set *set = NULL;
	struct ml_u64s ids = {0};
	MDB_txn *txn = NULL;
	int rc;
	*out = NULL;
	set = ml_calloc(1, sizeof(*set));
	if (set == NULL) {
		rc = ml_err_set(err, ML_ENOMEM, "out of memory");
		goto fail;
	}
	set->db = db;
	set->mint = mint;
	set->maxt = maxt;
	set->hints = hints;
	if ((rc = ml_store_read_begin(db->st, &txn)) != 0) {
		ml_err_set(err, rc, "tsdb: cannot begin a read transaction");
		goto fail;
	}
	if ((rc = ml_postings_select(txn, db->dbi_postings, db->dbi_series, ms, n, &ids, err)) != 0)
		goto fail;
	set->e = ml_calloc(ids.n ? ids.n : 1, sizeof(*set->e));
	if (set->e == NULL) {
		rc = ml_err_set(err, ML_ENOMEM, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < ids.n; i++) {
		uint8_t k[8];
		ml_be64_put(k, ids.v[i]);
		MDB_val key = {8, k}, val;
		struct ml_labels row;
		if (mdb_get(txn, db->dbi_series, &key, &val) != 0 || !ml_series_row_parse(&val, &row, NULL))
			continue; /* deleted by retention meanwhile */
		struct sel_entry *e = &set->e[set->n];
		e->labels = ml_malloc(row.n ? row.n : 1);
		if (e->labels == NULL) {
			rc = ml_err_set(err, ML_ENOMEM, "out of memory");
			goto fail;
		}
		memcpy(e->labels, row.p, row.n);
		e->len = row.n;
		e->sid = ids.v[i];
		set->n++;
	}
	ml_store_read_end(txn);
	txn = NULL;
	qsort(set->e, set->n, sizeof(*set->e), cmp_entry);
	ml_u64s_free(&ids);
	*out = set;
	return 0;
fail:
	ml_store_read_end(txn);
	ml_u64s_free(&ids);
	ml_tsdb_series_set_free(set);
	return rc;
}

int ml_tsdb_select(struct ml_tsdb *db, struct ml_matcher *const *matchers, size_t n, int64_t mint,
		   int64_t maxt, unsigned hints, struct ml_tsdb_series_set **out, struct ml_err *err)
{
	bool ok = false;
	for (size_t i = 0; i < n; i++)
		if (!matchers[i]->matches_empty)
			ok = true;
	if (!ok) {
		*out = NULL;
		return ml_err_set(err, ML_EINVAL,
				  "vector selector must contain at least one non-empty matcher");
	}
	return select_any(db, matchers, n, mint, maxt, hints, out, err);
}

static int cmp_sample(const void *a, const void *b)
{
	const struct ml_sample *x = a, *y = b;
	return x->t_ms < y->t_ms ? -1 : x->t_ms > y->t_ms;
}

/* Copies the head samples of sid in range (or, with count_only, whether there are any). */
static int read_head(struct ml_tsdb_series_set *set, uint64_t sid, bool count_only, bool *any)
{
	struct ml_tsdb *db = set->db;
	int rc = 0;
	pthread_rwlock_rdlock(&db->lock);
	struct ml_hseries *s = ml_head_by_sid(db, sid);
	for (struct ml_hchunk *c = s ? s->chunks : NULL; c && rc == 0; c = c->next) {
		if (c->enc.count == 0 || c->maxt < set->mint || c->mint > set->maxt)
			continue;
		*any = true;
		if (count_only)
			break;
		size_t len;
		const uint8_t *p = ml_chunk_enc_bytes(&c->enc, &len);
		rc = ml_tsdb_decode_chunk(p, len, set->mint, set->maxt, &set->s, &set->ns, &set->cap);
	}
	pthread_rwlock_unlock(&db->lock);
	return rc;
}

/*
 * A snapshot begun after the series' head was read (see the file comment):
 * the set's transaction renewed, so a series costs no allocation.
 */
static int chunks_cursor(struct ml_tsdb_series_set *set, MDB_cursor **out)
{
	int mrc;
	if (set->txn == NULL) {
		int rc = ml_store_read_begin(set->db->st, &set->txn);
		if (rc != 0)
			return rc;
		mrc = mdb_cursor_open(set->txn, set->db->dbi_chunks, &set->cursor);
	} else if ((mrc = mdb_txn_renew(set->txn)) == 0) {
		mrc = mdb_cursor_renew(set->txn, set->cursor);
	}
	if (mrc != 0) {
		if (set->cursor != NULL)
			mdb_cursor_close(set->cursor);
		ml_store_read_end(set->txn);
		set->cursor = NULL;
		set->txn = NULL;
		return ml_store_errcode(mrc);
	}
	*out = set->cursor;
	return 0;
}

static int read_chunks(struct ml_tsdb_series_set *set, uint64_t sid, bool count_only, bool *any)
{
	MDB_cursor *c = NULL;
	uint8_t k[16];
	int rc = chunks_cursor(set, &c);
	if (rc != 0)
		return rc;
	int mrc;
	MDB_val key = {16, k}, val;
	if (set->hints & ML_TSDB_SELECT_NEWEST) {
		/* Only the chunk that starts last at or before maxt: it holds the newest sample. */
		ml_be64_put(k, sid);
		ml_be64_put(k + 8, ml_tsdb_tkey(set->maxt));
		mrc = mdb_cursor_get(c, &key, &val, MDB_SET_RANGE);
		if (mrc == MDB_NOTFOUND)
			mrc = mdb_cursor_get(c, &key, &val, MDB_LAST);
		else if (mrc == 0 && (key.mv_size != 16 || memcmp(key.mv_data, k, 16) != 0))
			mrc = mdb_cursor_get(c, &key, &val, MDB_PREV);
	} else {
		ml_be64_put(k, sid);
		ml_be64_put(k + 8, 0);
		mrc = mdb_cursor_get(c, &key, &val, MDB_SET_RANGE);
	}
	while (mrc == 0) {
		const uint8_t *kp = key.mv_data;
		if (key.mv_size != 16 || ml_be64_get(kp) != sid)
			break;
		if (ml_tsdb_tval(ml_be64_get(kp + 8)) > set->maxt)
			break;
		if (val.mv_size < 9) {
			rc = ML_ECORRUPT;
			goto fail;
		}
		int64_t cmax = ml_tsdb_tval(ml_be64_get((const uint8_t *)val.mv_data + 1));
		if (cmax >= set->mint) {
			*any = true;
			if (count_only)
				break;
			if ((rc = ml_tsdb_decode_value(val.mv_data, val.mv_size, set->mint, set->maxt,
						       &set->s, &set->ns, &set->cap)) != 0)
				goto fail;
		}
		if (set->hints & ML_TSDB_SELECT_NEWEST)
			break;
		mrc = mdb_cursor_get(c, &key, &val, MDB_NEXT);
	}
	if (mrc != 0 && mrc != MDB_NOTFOUND)
		rc = ml_store_errcode(mrc);
fail:
	mdb_txn_reset(set->txn);
	return rc;
}

static bool run_sorted(const struct ml_sample *s, size_t n)
{
	for (size_t i = 1; i < n; i++)
		if (s[i].t_ms <= s[i - 1].t_ms)
			return false;
	return true;
}

/*
 * Puts the samples of one series in time order without duplicates. They come
 * as two runs: [0, nh) from the head (newest, usually) and [nh, ns) from the
 * stored chunks, each normally in order already, so they are merged in linear
 * time; a run out of order (out-of-order appends) falls back to sorting.
 * A sample present in both runs (a chunk flushed while being read) is kept once.
 */
static int order_samples(struct ml_tsdb_series_set *set, size_t nh)
{
	struct ml_sample *s = set->s;
	size_t n = set->ns;
	if (run_sorted(s, n))
		return 0;
	if (run_sorted(s, nh) && run_sorted(s + nh, n - nh)) {
		if (set->tmp_cap < n) {
			struct ml_sample *t = ml_realloc(set->tmp, n * sizeof(*t));
			if (t == NULL)
				return ML_ENOMEM;
			set->tmp = t;
			set->tmp_cap = n;
		}
		struct ml_sample *out = set->tmp;
		size_t i = 0, j = nh, k = 0;
		while (i < nh || j < n) {
			const struct ml_sample *next;
			if (j == n || (i < nh && s[i].t_ms <= s[j].t_ms))
				next = &s[i++];
			else
				next = &s[j++];
			if (k == 0 || next->t_ms != out[k - 1].t_ms)
				out[k++] = *next;
		}
		set->tmp = s;
		set->s = out;
		size_t cap = set->cap;
		set->cap = set->tmp_cap;
		set->tmp_cap = cap;
		set->ns = k;
		return 0;
	}
	qsort(s, n, sizeof(*s), cmp_sample);
	size_t k = n ? 1 : 0;
	for (size_t i = 1; i < n; i++)
		if (s[i].t_ms != s[k - 1].t_ms)
			s[k++] = s[i];
	set->ns = k;
	return 0;
}

int ml_tsdb_series_set_next(struct ml_tsdb_series_set *set, struct ml_err *err)
{
	bool count_only = (set->hints & ML_TSDB_SELECT_NO_SAMPLES) != 0;
	while (set->next < set->n) {
		struct sel_entry *e = &set->e[set->next++];
		bool any = false;
		int rc;
		set->ns = 0;
		set->cur = e;
		/* Head first, then the transaction: see the file comment. */
		size_t nh = 0;
		if ((rc = read_head(set, e->sid, count_only, &any)) == 0) {
			nh = set->ns;
			if (!(count_only && any))
				rc = read_chunks(set, e->sid, count_only, &any);
		}
		if (rc != 0) {
			char name[256];
			ml_labels_format((struct ml_labels){e->labels, e->len}, name, sizeof(name));
			return ml_err_set(err, rc, "tsdb: reading series %s: %s", name, ml_strerror(rc));
		}
		if (!any)
			continue;
		if (count_only)
			return 1;
		if ((rc = order_samples(set, nh)) != 0)
			return ml_err_set(err, rc, "tsdb: reading series: %s", ml_strerror(rc));
		if (set->ns == 0)
			continue;
		if (set->hints & ML_TSDB_SELECT_NEWEST) {
			set->s[0] = set->s[set->ns - 1];
			set->ns = 1;
		}
		return 1;
	}
	set->cur = NULL;
	return 0;
}

struct ml_labels ml_tsdb_series_set_labels(const struct ml_tsdb_series_set *set)
{
	struct ml_labels ls = {NULL, 0};
	if (set->cur) {
		ls.p = set->cur->labels;
		ls.n = set->cur->len;
	}
	return ls;
}

uint64_t ml_tsdb_series_set_id(const struct ml_tsdb_series_set *set)
{
	return set->cur ? set->cur->sid : 0;
}

void ml_tsdb_series_set_samples(const struct ml_tsdb_series_set *set, const struct ml_sample **samples,
				size_t *n)
{
	*samples = set->s;
	*n = set->cur && !(set->hints & ML_TSDB_SELECT_NO_SAMPLES) ? set->ns : 0;
}

/* --- label names and values ------------------------------------------------ */

struct strset {
	struct ml_arena *arena;
	struct ml_str *v;
	size_t n, cap;
};

static int strset_add(void *ctx, const char *p, size_t n)
{
	struct strset *s = ctx;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		struct ml_str *nv = ml_arena_alloc(s->arena, cap * sizeof(*nv));
		if (nv == NULL)
			return ML_ENOMEM;
		if (s->n)
			memcpy(nv, s->v, s->n * sizeof(*nv));
		s->v = nv;
		s->cap = cap;
	}
	char *c = ml_arena_strndup(s->arena, p, n);
	if (c == NULL)
		return ML_ENOMEM;
	s->v[s->n++] = ml_str_make(c, n);
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	const struct ml_str *x = a, *y = b;
	size_t n = x->n < y->n ? x->n : y->n;
	int c = n ? memcmp(x->p, y->p, n) : 0;
	return c ? c : (x->n < y->n ? -1 : x->n > y->n);
}

static void strset_finish(struct strset *s, struct ml_str **out, size_t *n_out)
{
	if (s->n > 1) {
		qsort(s->v, s->n, sizeof(*s->v), cmp_str);
		size_t k = 1;
		for (size_t i = 1; i < s->n; i++)
			if (cmp_str(&s->v[i], &s->v[k - 1]) != 0)
				s->v[k++] = s->v[i];
		s->n = k;
	}
	*out = s->v;
	*n_out = s->n;
}

static int label_query(struct ml_tsdb *db, const char *name, size_t name_len,
		       struct ml_matcher *const *ms, size_t n, int64_t mint, int64_t maxt,
		       struct ml_arena *arena, struct ml_str **out, size_t *n_out, struct ml_err *err)
{
	struct strset set = {arena, NULL, 0, 0};
	struct ml_tsdb_series_set *ss = NULL;
	MDB_txn *txn = NULL;
	int rc;
	*out = NULL;
	*n_out = 0;
	if (n == 0 && mint == INT64_MIN && maxt == INT64_MAX) {
		if ((rc = ml_store_read_begin(db->st, &txn)) != 0) {
			ml_err_set(err, rc, "tsdb: cannot begin a read transaction");
			goto fail;
		}
		rc = name ? ml_postings_values(txn, db->dbi_postings, db->dbi_series, name, name_len,
					       strset_add, &set)
			  : ml_postings_names(txn, db->dbi_postings, strset_add, &set);
		if (rc != 0) {
			ml_err_set(err, rc, "tsdb: reading the label index: %s", ml_strerror(rc));
			goto fail;
		}
	} else {
		if ((rc = select_any(db, ms, n, mint, maxt, ML_TSDB_SELECT_NO_SAMPLES, &ss, err)) != 0)
			goto fail;
		while ((rc = ml_tsdb_series_set_next(ss, err)) == 1) {
			struct ml_labels ls = ml_tsdb_series_set_labels(ss);
			struct ml_labels_iter it;
			struct ml_str ln, lv;
			ml_labels_iter_init(&it, ls);
			while (ml_labels_next(&it, &ln, &lv)) {
				if (name && (ln.n != name_len || memcmp(ln.p, name, name_len) != 0))
					continue;
				if ((rc = strset_add(&set, name ? lv.p : ln.p, name ? lv.n : ln.n)) != 0) {
					ml_err_set(err, rc, "out of memory");
					goto fail;
				}
			}
		}
		if (rc < 0)
			goto fail;
	}
	strset_finish(&set, out, n_out);
	rc = 0;
fail:
	ml_store_read_end(txn);
	ml_tsdb_series_set_free(ss);
	return rc;
}

int ml_tsdb_label_names(struct ml_tsdb *db, struct ml_matcher *const *matchers, size_t n, int64_t mint,
			int64_t maxt, struct ml_arena *arena, struct ml_str **out, size_t *n_out,
			struct ml_err *err)
{
	return label_query(db, NULL, 0, matchers, n, mint, maxt, arena, out, n_out, err);
}

int ml_tsdb_label_values(struct ml_tsdb *db, const char *name, size_t name_len,
			 struct ml_matcher *const *matchers, size_t n, int64_t mint, int64_t maxt,
			 struct ml_arena *arena, struct ml_str **out, size_t *n_out, struct ml_err *err)
{
	static const char empty = 0;
	return label_query(db, name ? name : &empty, name ? name_len : 0, matchers, n, mint, maxt, arena,
			   out, n_out, err);
}

/* --- metadata ---------------------------------------------------------------- */

int ml_tsdb_metadata(struct ml_tsdb *db, const char *family, size_t family_len, size_t limit,
		     struct ml_arena *arena, struct ml_tsdb_meta **out, size_t *n_out,
		     struct ml_err *err)
{
	MDB_txn *txn = NULL;
	MDB_cursor *c = NULL;
	struct ml_tsdb_meta *v = NULL;
	size_t n = 0, cap = 0;
	int rc = ml_store_read_begin(db->st, &txn);
	*out = NULL;
	*n_out = 0;
	if (rc != 0) {
		ml_err_set(err, rc, "tsdb: cannot begin a read transaction");
		goto fail;
	}
	int mrc = mdb_cursor_open(txn, db->dbi_meta, &c);
	MDB_val key = {family_len, (void *)family}, val;
	if (mrc == 0)
		mrc = mdb_cursor_get(c, &key, &val, family_len ? MDB_SET_KEY : MDB_FIRST);
	while (mrc == 0 && (limit == 0 || n < limit)) {
		struct ml_reader r = ml_reader_make(val.mv_data, val.mv_size);
		const uint8_t *tp = ml_read_bytes(&r, 1);
		uint64_t hl = ml_read_uvarint(&r);
		const uint8_t *hp = ml_read_bytes(&r, hl);
		uint64_t ul = ml_read_uvarint(&r);
		const uint8_t *up = ml_read_bytes(&r, ul);
		if (r.bad || tp == NULL) {
			rc = ml_err_set(err, ML_ECORRUPT, "tsdb: metadata record of %.*s is corrupt",
					(int)(key.mv_size > 200 ? 200 : key.mv_size), (const char *)key.mv_data);
			goto fail;
		}
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			struct ml_tsdb_meta *nv = ml_arena_alloc(arena, ncap * sizeof(*nv));
			if (nv == NULL)
				goto nomem;
			if (n)
				memcpy(nv, v, n * sizeof(*nv));
			v = nv;
			cap = ncap;
		}
		struct ml_tsdb_meta *m = &v[n];
		char *f = ml_arena_strndup(arena, key.mv_data, key.mv_size);
		char *h = ml_arena_strndup(arena, (const char *)hp, hl);
		char *u = ml_arena_strndup(arena, (const char *)up, ul);
		if (f == NULL || h == NULL || u == NULL)
			goto nomem;
		m->family = ml_str_make(f, key.mv_size);
		m->type = tp[0];
		m->help = ml_str_make(h, hl);
		m->unit = ml_str_make(u, ul);
		n++;
		if (family_len)
			break;
		mrc = mdb_cursor_get(c, &key, &val, MDB_NEXT);
	}
	if (mrc != 0 && mrc != MDB_NOTFOUND) {
		rc = ml_err_set(err, ml_store_errcode(mrc), "tsdb: reading metadata: %s", mdb_strerror(mrc));
		goto fail;
	}
	*out = v;
	*n_out = n;
	rc = 0;
	goto fail;
nomem:
	rc = ml_err_set(err, ML_ENOMEM, "out of memory");
fail:
	if (c)
		mdb_cursor_close(c);
	ml_store_read_end(txn);
	return rc;
}
