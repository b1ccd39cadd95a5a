/*
 * postings.c - the label index; see postings.h for the key layout.
 *
 * Matching follows Prometheus (tsdb/querier.go PostingsForMatchers): matchers
 * that do not match "" are evaluated first as unions of their values'
 * postings and intersected; matchers that match "" then remove the series
 * whose value of that label does not match (a series lacking the label has
 * the value "" and stays).
 */
#include "store/postings.h"
#include "core/alloc.h"
#include "query/matcher.h"
#include "store/env.h"

#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#define LONG_MARK 0xFFFFu

void ml_u64s_free(struct ml_u64s *s)
{
	ml_free(s->v);
	memset(s, 0, sizeof(*s));
}

int ml_u64s_push(struct ml_u64s *s, uint64_t v)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		uint64_t *p = ml_realloc(s->v, cap * sizeof(*p));
		if (p == NULL)
			return ML_ENOMEM;
		s->v = p;
		s->cap = cap;
	}
	s->v[s->n++] = v;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

void ml_u64s_sort_unique(struct ml_u64s *s)
{
	if (s->n < 2)
		return;
	qsort(s->v, s->n, sizeof(uint64_t), cmp_u64);
	size_t k = 1;
	for (size_t i = 1; i < s->n; i++)
		if (s->v[i] != s->v[k - 1])
			s->v[k++] = s->v[i];
	s->n = k;
}

/* Builds the key prefix for name (and value, if value != NULL) into k; returns its length. */
static size_t key_prefix(uint8_t *k, const char *name, size_t nl, const char *value, size_t vl,
			 bool with_value)
{
	size_t o = 0;
	k[o++] = (uint8_t)(nl >> 8);
	k[o++] = (uint8_t)nl;
	memcpy(k + o, name, nl);
	o += nl;
	if (!with_value)
		return o;
	if (o + 2 + vl + 8 > ML_POSTINGS_INLINE_MAX) {
		k[o++] = 0xFF;
		k[o++] = 0xFF;
		ml_be64_put(k + o, XXH3_64bits(value, vl));
		return o + 8;
	}
	k[o++] = (uint8_t)(vl >> 8);
	k[o++] = (uint8_t)vl;
	if (vl)
		memcpy(k + o, value, vl);
	return o + vl;
}

static int put_or_del(MDB_txn *txn, MDB_dbi dbi, uint64_t sid, uint64_t seq, struct ml_labels ls, bool del)
{
	uint8_t k[ML_POSTINGS_INLINE_MAX + 32];
	struct ml_labels_iter it;
	struct ml_str n, v;
	bool all_done = false;
	ml_labels_iter_init(&it, ls);
	for (;;) {
		size_t o;
		if (!all_done) {
			o = key_prefix(k, "", 0, "", 0, true);
			all_done = true;
		} else if (ml_labels_next(&it, &n, &v)) {
			if (n.n > ML_LABEL_NAME_MAX)
				return ML_EINVAL;
			o = key_prefix(k, n.p, n.n, v.p, v.n, true);
		} else {
			break;
		}
		uint8_t id[16];
		ml_be64_put(id, seq);
		ml_be64_put(id + 8, sid);
		MDB_val key = {o, k}, val = {16, id};
		int mrc = del ? mdb_del(txn, dbi, &key, &val) : mdb_put(txn, dbi, &key, &val, MDB_NODUPDATA);
		if (mrc != 0 && !(del && mrc == MDB_NOTFOUND) && !(!del && mrc == MDB_KEYEXIST))
			return ml_store_errcode(mrc);
	}
	return 0;
}

int ml_postings_add(MDB_txn *txn, MDB_dbi dbi, uint64_t sid, uint64_t seq, struct ml_labels ls)
{
	return put_or_del(txn, dbi, sid, seq, ls, false);
}

int ml_postings_del(MDB_txn *txn, MDB_dbi dbi, uint64_t sid, uint64_t seq, struct ml_labels ls)
{
	return put_or_del(txn, dbi, sid, seq, ls, true);
}

int ml_postings_max_seq(MDB_txn *txn, MDB_dbi dbi, uint64_t *out)
{
	uint8_t k[4] = {0, 0, 0, 0};
	MDB_cursor *c = NULL;
	*out = 0;
	int mrc = mdb_cursor_open(txn, dbi, &c);
	if (mrc != 0)
		return ml_store_errcode(mrc);
	MDB_val key = {4, k}, val;
	mrc = mdb_cursor_get(c, &key, &val, MDB_SET);
	if (mrc == 0)
		mrc = mdb_cursor_get(c, &key, &val, MDB_LAST_DUP);
	if (mrc == 0 && val.mv_size == 16)
		*out = ml_be64_get(val.mv_data);
	mdb_cursor_close(c);
	return mrc == 0 || mrc == MDB_NOTFOUND ? 0 : ml_store_errcode(mrc);
}

/* Appends the ids of key (all its duplicates, read a page at a time; in sequence order, not sorted). */
static int scan_ids(MDB_cursor *c, const uint8_t *k, size_t klen, struct ml_u64s *out)
{
	MDB_val key = {klen, (void *)k}, val;
	int mrc = mdb_cursor_get(c, &key, &val, MDB_SET);
	if (mrc == 0)
		mrc = mdb_cursor_get(c, &key, &val, MDB_GET_MULTIPLE);
	while (mrc == 0) {
		if (val.mv_size % 16 != 0)
			return ML_ECORRUPT;
		const uint8_t *p = val.mv_data;
		for (size_t i = 0; i < val.mv_size; i += 16)
			if (ml_u64s_push(out, ml_be64_get(p + i + 8)) != 0)
				return ML_ENOMEM;
		mrc = mdb_cursor_get(c, &key, &val, MDB_NEXT_MULTIPLE);
	}
	return mrc == MDB_NOTFOUND ? 0 : ml_store_errcode(mrc);
}

/*
 * Walks every value of name: fn(ctx, value, len, sid_prefix, sid_prefix_len)
 * once per distinct inline value; for hashed values once per series with the
 * value read from the series' label set. fn returns 0 or an error.
 */
typedef int (*value_fn)(void *ctx, MDB_cursor *c, const char *v, size_t vl, const uint8_t *vprefix,
			size_t vplen, uint64_t long_sid);

static int walk_values(MDB_txn *txn, MDB_dbi dbi, MDB_dbi series_dbi, const char *name, size_t nl,
		       value_fn fn, void *ctx)
{
	uint8_t p[ML_POSTINGS_INLINE_MAX + 32];
	MDB_cursor *c = NULL, *c2 = NULL;
	int rc = 0;
	size_t plen = key_prefix(p, name, nl, NULL, 0, false);
	int mrc = mdb_cursor_open(txn, dbi, &c);
	if (mrc == 0)
		mrc = mdb_cursor_open(txn, dbi, &c2);
	if (mrc != 0) {
		rc = ml_store_errcode(mrc);
		goto fail;
	}
	MDB_val key = {plen, p}, val;
	mrc = mdb_cursor_get(c, &key, &val, MDB_SET_RANGE);
	while (mrc == 0) {
		const uint8_t *k = key.mv_data;
		if (key.mv_size < plen + 3 || memcmp(k, p, plen) != 0)
			break;
		size_t vl = ((size_t)k[plen] << 8) | k[plen + 1];
		if (vl == LONG_MARK) {
			/* Hashed values: the text is in each series' label set. */
			if (key.mv_size != plen + 10 || val.mv_size != 16) {
				rc = ML_ECORRUPT;
				goto fail;
			}
			uint64_t sid = ml_be64_get((const uint8_t *)val.mv_data + 8);
			uint8_t sk[8];
			ml_be64_put(sk, sid);
			MDB_val skey = {8, sk}, sval;
			struct ml_labels ls;
			if (mdb_get(txn, series_dbi, &skey, &sval) == 0 && ml_series_row_parse(&sval, &ls, NULL)) {
				struct ml_str v;
				if (ml_labels_get(ls, name, nl, &v) && (rc = fn(ctx, c2, v.p, v.n, NULL, 0, sid)) != 0)
					goto fail;
			}
			mrc = mdb_cursor_get(c, &key, &val, MDB_NEXT);
			continue;
		}
		if (key.mv_size != plen + 2 + vl) {
			rc = ML_ECORRUPT;
			goto fail;
		}
		uint8_t vp[ML_POSTINGS_INLINE_MAX + 32];
		size_t vplen = key.mv_size;
		memcpy(vp, k, vplen);
		if ((rc = fn(ctx, c2, (const char *)vp + plen + 2, vl, vp, vplen, 0)) != 0)
			goto fail;
		/* The next value: skip this key's ids. */
		mrc = mdb_cursor_get(c, &key, &val, MDB_NEXT_NODUP);
	}
	if (mrc != 0 && mrc != MDB_NOTFOUND)
		rc = ml_store_errcode(mrc);
fail:
	if (c2)
		mdb_cursor_close(c2);
	if (c)
		mdb_cursor_close(c);
	return rc;
}

struct match_ctx {
	struct ml_matcher *m;
	bool want;            /* collect values for which the matcher answers this */
	struct ml_u64s *out;
};

static int match_fn(void *vctx, MDB_cursor *c, const char *v, size_t vl, const uint8_t *vprefix,
		    size_t vplen, uint64_t long_sid)
{
	struct match_ctx *mc = vctx;
	if (ml_matcher_matches(mc->m, v, vl) != mc->want)
		return 0;
	if (vprefix == NULL)
		return ml_u64s_push(mc->out, long_sid);
	return scan_ids(c, vprefix, vplen, mc->out);
}

/* Intersects a (sorted) with b (sorted) into a; if subtract, a \ b instead. */
static void combine(struct ml_u64s *a, const struct ml_u64s *b, bool subtract)
{
	size_t i = 0, j = 0, k = 0;
	while (i < a->n) {
		while (j < b->n && b->v[j] < a->v[i])
			j++;
		bool in_b = j < b->n && b->v[j] == a->v[i];
		if (in_b != subtract)
			a->v[k++] = a->v[i];
		i++;
	}
	a->n = k;
}

/* The ids of series with name=value exactly (value not empty). */
static int lookup_eq(MDB_txn *txn, MDB_dbi dbi, MDB_dbi series_dbi, struct ml_matcher *m,
		     struct ml_u64s *out)
{
	uint8_t p[ML_POSTINGS_INLINE_MAX + 32];
	MDB_cursor *c = NULL;
	if (m->name_len > ML_LABEL_NAME_MAX)
		return 0;
	size_t plen = key_prefix(p, m->name, m->name_len, m->value, m->value_len, true);
	int mrc = mdb_cursor_open(txn, dbi, &c);
	if (mrc != 0)
		return ml_store_errcode(mrc);
	size_t start = out->n;
	int rc = scan_ids(c, p, plen, out);
	mdb_cursor_close(c);
	if (rc != 0 || plen == m->name_len + 2 + 2 + m->value_len)
		return rc;
	/* Hashed long value: drop hash collisions by checking the real value. */
	size_t k = start;
	for (size_t i = start; i < out->n; i++) {
		uint8_t sk[8];
		ml_be64_put(sk, out->v[i]);
		MDB_val skey = {8, sk}, sval;
		struct ml_str v;
		struct ml_labels ls;
		if (mdb_get(txn, series_dbi, &skey, &sval) == 0 && ml_series_row_parse(&sval, &ls, NULL) &&
		    ml_labels_get(ls, m->name, m->name_len, &v) &&
		    v.n == m->value_len && memcmp(v.p, m->value, v.n) == 0)
			out->v[k++] = out->v[i];
	}
	out->n = k;
	return 0;
}

static int all_ids(MDB_txn *txn, MDB_dbi dbi, struct ml_u64s *out)
{
	uint8_t p[4] = {0, 0, 0, 0};
	MDB_cursor *c = NULL;
	int mrc = mdb_cursor_open(txn, dbi, &c);
	if (mrc != 0)
		return ml_store_errcode(mrc);
	int rc = scan_ids(c, p, 4, out);
	mdb_cursor_close(c);
	return rc;
}

int ml_postings_select(MDB_txn *txn, MDB_dbi dbi, MDB_dbi series_dbi, struct ml_matcher *const *ms,
		       size_t n, struct ml_u64s *out, struct ml_err *err)
{
	struct ml_u64s tmp = {0};
	bool have = false;
	int rc = 0;
	out->n = 0;
	/* Pass 1: matchers that do not match "" (they bound the result). */
	for (size_t i = 0; i < n; i++) {
		struct ml_matcher *m = ms[i];
		if (m->matches_empty)
			continue;
		tmp.n = 0;
		if (m->type == ML_MATCH_EQ) {
			rc = lookup_eq(txn, dbi, series_dbi, m, &tmp);
		} else {
			struct match_ctx mc = {m, true, &tmp};
			rc = walk_values(txn, dbi, series_dbi, m->name, m->name_len, match_fn, &mc);
		}
		if (rc != 0)
			goto fail;
		ml_u64s_sort_unique(&tmp);
		if (!have) {
			struct ml_u64s sw = *out;
			*out = tmp;
			tmp = sw;
			have = true;
		} else {
			combine(out, &tmp, false);
		}
		if (out->n == 0)
			goto done;
	}
	if (!have) {
		if ((rc = all_ids(txn, dbi, out)) != 0)
			goto fail;
		ml_u64s_sort_unique(out);
	}
	/* Pass 2: matchers that match "": remove series with a non-matching value. */
	for (size_t i = 0; i < n; i++) {
		struct ml_matcher *m = ms[i];
		if (!m->matches_empty)
			continue;
		tmp.n = 0;
		struct match_ctx mc = {m, false, &tmp};
		if ((rc = walk_values(txn, dbi, series_dbi, m->name, m->name_len, match_fn, &mc)) != 0)
			goto fail;
		ml_u64s_sort_unique(&tmp);
		combine(out, &tmp, true);
	}
done:
	ml_u64s_free(&tmp);
	return 0;
fail:
	ml_u64s_free(&tmp);
	if (rc == ML_ENOMEM)
		return ml_err_set(err, rc, "out of memory selecting series");
	return ml_err_set(err, rc, "reading the label index failed: %s", ml_strerror(rc));
}

int ml_postings_names(MDB_txn *txn, MDB_dbi dbi, int (*fn)(void *ctx, const char *p, size_t n),
		      void *ctx)
{
	uint8_t k[ML_LABEL_NAME_MAX + 32] = {0, 1};
	MDB_cursor *c = NULL;
	int rc = 0;
	int mrc = mdb_cursor_open(txn, dbi, &c);
	if (mrc != 0)
		return ml_store_errcode(mrc);
	MDB_val key = {2, k}, val;
	mrc = mdb_cursor_get(c, &key, &val, MDB_SET_RANGE);
	while (mrc == 0) {
		const uint8_t *p = key.mv_data;
		if (key.mv_size < 2)
			break;
		size_t nl = ((size_t)p[0] << 8) | p[1];
		if (nl == 0 || nl > ML_LABEL_NAME_MAX || key.mv_size < 2 + nl) {
			rc = ML_ECORRUPT;
			goto fail;
		}
		if ((rc = fn(ctx, (const char *)p + 2, nl)) != 0)
			goto fail;
		memcpy(k, p, 2 + nl);
		memset(k + 2 + nl, 0xFF, 19);
		key.mv_size = 2 + nl + 19;
		key.mv_data = k;
		mrc = mdb_cursor_get(c, &key, &val, MDB_SET_RANGE);
	}
	if (mrc != 0 && mrc != MDB_NOTFOUND)
		rc = ml_store_errcode(mrc);
fail:
	mdb_cursor_close(c);
	return rc;
}

struct values_ctx {
	int (*fn)(void *ctx, const char *p, size_t n);
	void *ctx;
};

static int values_fn(void *vctx, MDB_cursor *c, const char *v, size_t vl, const uint8_t *vprefix,
		     size_t vplen, uint64_t long_sid)
{
	struct values_ctx *vc = vctx;
	return vc->fn(vc->ctx, v, vl);
}

int ml_postings_values(MDB_txn *txn, MDB_dbi dbi, MDB_dbi series_dbi, const char *name,
		       size_t name_len, int (*fn)(void *ctx, const char *p, size_t n), void *ctx)
{
	if (name_len == 0 || name_len > ML_LABEL_NAME_MAX)
		return 0;
	struct values_ctx vc = {fn, ctx};
	return walk_values(txn, dbi, series_dbi, name, name_len, values_fn, &vc);
}
