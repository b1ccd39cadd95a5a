/*
 * tsdb.c - opening the TSDB, the append path and WAL replay; see tsdb.h.
 *
 * Append runs in two halves. On the caller's thread the label sets are
 * validated and canonicalised (parallel across requests). On the writer
 * thread, apply() finds or creates each series (series id = XXH3 of the
 * canonical label set, probing id+1, id+2... when another label set already
 * owns the id), judges every sample against the series' writer view
 * (w_maxt, w_floor: they include samples accepted by earlier ops of the same
 * group commit, which the head does not show yet), writes the accepted
 * samples as one WAL record and any new series' index rows, and counts the
 * rest in the report. after_commit() then merges the accepted samples into
 * the head, so readers never see a sample that is not yet durable.
 *
 * WAL record (db tsdb_wal, key be64 sequence): byte 1, then zstd of
 *     uvarint series count, repeated { be64 id, uvarint n, n x { svarint t
 *     delta from the previous t (from 0 for the first), be64 value bits } }
 */
#include "store/tsdb.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/log.h"
#include "store/env.h"
#include "store/postings.h"
#include "store/tsdb_internal.h"

#include <math.h>
#include <string.h>

#include <zstd.h>

#define WAL_FORMAT 1
#define WAL_MAX_DECOMPRESSED (256u << 20)

static uint64_t f2b(double v)
{
	uint64_t b;
	memcpy(&b, &v, 8);
	return b;
}

static double b2f(uint64_t b)
{
	double v;
	memcpy(&v, &b, 8);
	return v;
}

/* --- stored chunk values -------------------------------------------------- */

/* Room for more samples after the *ns in *s. */
static int reserve(struct ml_sample **s, size_t *ns, size_t *cap, size_t more)
{
	if (*cap - *ns >= more)
		return 0;
	size_t nc = *cap ? *cap : 256;
	while (nc - *ns < more)
		nc *= 2;
	struct ml_sample *g = ml_realloc(*s, nc * sizeof(*g));
	if (g == NULL)
		return ML_ENOMEM;
	*s = g;
	*cap = nc;
	return 0;
}

int ml_tsdb_decode_chunk(const uint8_t *p, size_t n, int64_t mint, int64_t maxt,
			 struct ml_sample **s, size_t *ns, size_t *cap)
{
	size_t got;
	if (n < 2)
		return ML_ECORRUPT;
	int rc = reserve(s, ns, cap, (size_t)(p[0] << 8 | p[1]));
	if (rc == 0 && (rc = ml_chunk_decode(p, n, mint, maxt, *s + *ns, &got)) == 0)
		*ns += got;
	return rc;
}

int ml_tsdb_decode_value(const uint8_t *p, size_t n, int64_t mint, int64_t maxt,
			 struct ml_sample **s, size_t *ns, size_t *cap)
{
	uint8_t *raw = NULL;
	int rc = ML_ECORRUPT;
	if (n < 9)
		goto fail;
	if (p[0] == ML_TSDB_CHUNK_RAW) {
		rc = ml_tsdb_decode_chunk(p + 9, n - 9, mint, maxt, s, ns, cap);
	} else if (p[0] == ML_TSDB_CHUNK_ZSTD) {
		struct ml_reader r = ml_reader_make(p + 9, n - 9);
		uint64_t count = ml_read_uvarint(&r);
		if (r.bad)
			goto fail;
		unsigned long long sz = ZSTD_getFrameContentSize(r.p, (size_t)(r.end - r.p));
		if (sz == ZSTD_CONTENTSIZE_UNKNOWN || sz == ZSTD_CONTENTSIZE_ERROR || sz > (64u << 20))
			goto fail;
		raw = ml_malloc(sz ? sz : 1);
		if (raw == NULL) {
			rc = ML_ENOMEM;
			goto fail;
		}
		size_t got = ZSTD_decompress(raw, sz, r.p, (size_t)(r.end - r.p));
		if (ZSTD_isError(got) || got != sz)
			goto fail;
		struct ml_reader cr = ml_reader_make(raw, got);
		for (uint64_t i = 0; i < count; i++) {
			uint64_t len = ml_read_uvarint(&cr);
			const uint8_t *cp = ml_read_bytes(&cr, len);
			if (cr.bad || cp == NULL)
				goto fail;
			if ((rc = ml_tsdb_decode_chunk(cp, len, mint, maxt, s, ns, cap)) != 0)
				goto fail;
		}
		rc = 0;
	}
fail:
	ml_free(raw);
	return rc;
}

int ml_tsdb_persisted_maxt(MDB_txn *txn, MDB_dbi chunks, uint64_t sid, int64_t *out)
{
	MDB_cursor *c = NULL;
	uint8_t k[16];
	*out = INT64_MIN;
	int mrc = mdb_cursor_open(txn, chunks, &c);
	if (mrc != 0)
		return ml_store_errcode(mrc);
	/* The last key of sid: step back from the first key after it. */
	MDB_val key = {8, k}, val;
	ml_be64_put(k, sid + 1);
	if (sid == UINT64_MAX)
		mrc = mdb_cursor_get(c, &key, &val, MDB_LAST);
	else if ((mrc = mdb_cursor_get(c, &key, &val, MDB_SET_RANGE)) == 0)
		mrc = mdb_cursor_get(c, &key, &val, MDB_PREV);
	else if (mrc == MDB_NOTFOUND)
		mrc = mdb_cursor_get(c, &key, &val, MDB_LAST);
	/* Chunks of one series never overlap much, but OOO merges may make an
	 * older key end later: look at a few keys back. */
	for (int i = 0; i < 4 && mrc == 0; i++) {
		if (key.mv_size != 16 || ml_be64_get(key.mv_data) != sid || val.mv_size < 9)
			break;
		int64_t mt = ml_tsdb_tval(ml_be64_get((const uint8_t *)val.mv_data + 1));
		if (mt > *out)
			*out = mt;
		mrc = mdb_cursor_get(c, &key, &val, MDB_PREV);
	}
	mdb_cursor_close(c);
	return mrc == 0 || mrc == MDB_NOTFOUND ? 0 : ml_store_errcode(mrc);
}

/* --- open / close --------------------------------------------------------- */

static int replay(struct ml_tsdb *db, struct ml_err *err);

struct ml_tsdb *ml_tsdb_open(struct ml_store *st, const struct ml_tsdb_options *opt,
			     struct ml_err *err)
{
	struct ml_tsdb *db = ml_calloc(1, sizeof(*db));
	if (db == NULL) {
		ml_err_set(err, ML_ENOMEM, "tsdb: out of memory");
		return NULL;
	}
	db->st = st;
	if (opt)
		db->opt = *opt;
	struct ml_tsdb_options *o = &db->opt;
	if (o->ooo_window_ms == 0)
		o->ooo_window_ms = 10 * 60 * 1000;
	else if (o->ooo_window_ms < 0)
		o->ooo_window_ms = 0;
	if (o->chunk_max_samples == 0 || o->chunk_max_samples > ML_CHUNK_MAX_SAMPLES)
		o->chunk_max_samples = 120;
	if (o->chunk_max_range_ms <= 0)
		o->chunk_max_range_ms = 2 * 3600 * 1000;
	if (o->idle_flush_ms <= 0)
		o->idle_flush_ms = 3600 * 1000;
	if (o->cold_after_ms == 0)
		o->cold_after_ms = 6 * 3600 * 1000;
	if (o->cold_window_ms <= 0)
		o->cold_window_ms = 24 * 3600 * 1000;
	if (o->max_ops_per_txn == 0)
		o->max_ops_per_txn = 2000;
	if (o->zstd_level == 0)
		o->zstd_level = 3;
	pthread_rwlock_init(&db->lock, NULL);
	atomic_init(&db->resync, false);
	db->zc = ZSTD_createCCtx();
	if (db->zc == NULL) {
		ml_err_set(err, ML_ENOMEM, "tsdb: out of memory");
		goto fail;
	}
	if (ml_store_dbi(st, "series", 0, &db->dbi_series, err) != 0 ||
	    ml_store_dbi(st, "postings", ML_POSTINGS_DBI_FLAGS, &db->dbi_postings, err) != 0 ||
	    ml_store_dbi(st, "chunks", 0, &db->dbi_chunks, err) != 0 ||
	    ml_store_dbi(st, "tsdb_wal", 0, &db->dbi_wal, err) != 0 ||
	    ml_store_dbi(st, "metric_meta", 0, &db->dbi_meta, err) != 0)
		goto fail;
	MDB_txn *rtxn = NULL;
	uint64_t max_seq = 0;
	int rc = ml_store_read_begin(st, &rtxn);
	if (rc == 0)
		rc = ml_postings_max_seq(rtxn, db->dbi_postings, &max_seq);
	ml_store_read_end(rtxn);
	if (rc != 0) {
		ml_err_set(err, rc, "tsdb: reading the label index: %s", ml_strerror(rc));
		goto fail;
	}
	db->next_series_seq = max_seq + 1;
	if (replay(db, err) != 0)
		goto fail;
	return db;
fail:
	ml_tsdb_close(db);
	return NULL;
}

void ml_tsdb_close(struct ml_tsdb *db)
{
	if (db == NULL)
		return;
	ml_head_free_all(db);
	ZSTD_freeCCtx(db->zc);
	pthread_rwlock_destroy(&db->lock);
	ml_free(db);
}

/* --- WAL replay ----------------------------------------------------------- */

/* Finds sid in the head or loads it from `series` (NULL if the series is gone). */
static int load_series(struct ml_tsdb *db, MDB_txn *txn, uint64_t sid, struct ml_hseries **out)
{
	*out = ml_head_by_sid(db, sid);
	if (*out)
		return 0;
	uint8_t k[8];
	ml_be64_put(k, sid);
	MDB_val key = {8, k}, val;
	int mrc = mdb_get(txn, db->dbi_series, &key, &val);
	if (mrc == MDB_NOTFOUND)
		return 0;
	if (mrc != 0)
		return ml_store_errcode(mrc);
	struct ml_labels ls;
	if (!ml_series_row_parse(&val, &ls, NULL))
		return ML_ECORRUPT;
	int64_t pm;
	int rc = ml_tsdb_persisted_maxt(txn, db->dbi_chunks, sid, &pm);
	if (rc != 0)
		return rc;
	struct ml_hseries *s = ml_head_create(db, sid, ml_labels_hash(ls), ls);
	if (s == NULL)
		return ML_ENOMEM;
	s->persisted_maxt = s->w_floor = s->w_maxt = pm;
	s->indexed = true;
	*out = s;
	return 0;
}

static int replay_record(struct ml_tsdb *db, MDB_txn *txn, uint64_t seq, const uint8_t *p, size_t n,
			 struct ml_buf *raw)
{
	if (n < 1 || p[0] != WAL_FORMAT)
		return ML_ECORRUPT;
	unsigned long long sz = ZSTD_getFrameContentSize(p + 1, n - 1);
	if (sz == ZSTD_CONTENTSIZE_UNKNOWN || sz == ZSTD_CONTENTSIZE_ERROR || sz > WAL_MAX_DECOMPRESSED)
		return ML_ECORRUPT;
	ml_buf_clear(raw);
	if (ml_buf_reserve(raw, sz + 1) == NULL)
		return ML_ENOMEM;
	size_t got = ZSTD_decompress(raw->data, sz + 1, p + 1, n - 1);
	if (ZSTD_isError(got) || got != sz)
		return ML_ECORRUPT;
	struct ml_reader r = ml_reader_make(raw->data, got);
	uint64_t ns = ml_read_uvarint(&r);
	for (uint64_t i = 0; i < ns && !r.bad; i++) {
		uint64_t sid = ml_read_be64(&r);
		uint64_t cnt = ml_read_uvarint(&r);
		struct ml_hseries *s = NULL;
		int rc;
		if (r.bad)
			break;
		if ((rc = load_series(db, txn, sid, &s)) != 0)
			return rc;
		int64_t t = 0;
		for (uint64_t j = 0; j < cnt && !r.bad; j++) {
			t = (int64_t)((uint64_t)t + (uint64_t)ml_read_svarint(&r));
			uint64_t vb = ml_read_be64(&r);
			if (r.bad || s == NULL || t <= s->persisted_maxt)
				continue;
			if ((rc = ml_head_add(db, s, t, b2f(vb), seq)) != 0)
				return rc;
			if (t >= s->w_maxt) {
				s->w_maxt = t;
				s->w_lastbits = vb;
			}
		}
	}
	return r.bad ? ML_ECORRUPT : 0;
}

static int replay(struct ml_tsdb *db, struct ml_err *err)
{
	MDB_txn *txn = NULL;
	MDB_cursor *c = NULL;
	struct ml_buf raw = ML_BUF_INIT;
	uint64_t records = 0;
	int rc = ml_store_read_begin(db->st, &txn);
	if (rc != 0) {
		ml_err_set(err, rc, "tsdb: cannot read the store");
		goto fail;
	}
	int mrc = mdb_cursor_open(txn, db->dbi_wal, &c);
	MDB_val key, val;
	if (mrc == 0)
		mrc = mdb_cursor_get(c, &key, &val, MDB_FIRST);
	while (mrc == 0) {
		if (key.mv_size != 8) {
			rc = ml_err_set(err, ML_ECORRUPT, "tsdb: WAL key of %zu bytes", key.mv_size);
			goto fail;
		}
		uint64_t seq = ml_be64_get(key.mv_data);
		rc = replay_record(db, txn, seq, val.mv_data, val.mv_size, &raw);
		if (rc != 0) {
			ml_err_set(err, rc, "tsdb: WAL record %llu cannot be replayed: %s",
				   (unsigned long long)seq, ml_strerror(rc));
			goto fail;
		}
		db->next_seq = seq + 1;
		db->committed_seq = seq;
		records++;
		mrc = mdb_cursor_get(c, &key, &val, MDB_NEXT);
	}
	if (mrc != MDB_NOTFOUND) {
		rc = ml_err_set(err, ml_store_errcode(mrc), "tsdb: reading the WAL: %s", mdb_strerror(mrc));
		goto fail;
	}
	if (db->next_seq == 0)
		db->next_seq = 1;
	if (records)
		ml_log(ML_LOG_INFO, "msg=\"tsdb WAL replayed\" records=%llu series=%zu",
		       (unsigned long long)records, db->by_sid.n);
	rc = 0;
fail:
	if (c)
		mdb_cursor_close(c);
	ml_store_read_end(txn);
	ml_buf_free(&raw);
	return rc;
}

/* --- append ---------------------------------------------------------------- */

struct acc {
	struct ml_hseries *s;
	uint32_t off, n;        /* accepted samples in ctx->samples */
	bool index;             /* this op wrote the index rows */
};

struct append_ctx {
	struct ml_tsdb *db;
	const struct ml_sample_batch *b;
	struct ml_tsdb_report *rep;
	uint32_t *canon_off;    /* per batch series: offset in canon, UINT32_MAX if rejected */
	uint32_t *canon_len;
	struct ml_buf canon;
	struct acc *accs;
	size_t n_accs;
	struct ml_sample *samples;
	size_t n_samples, cap_samples;
	uint64_t seq;
	struct ml_buf wal, walz;
};

static void reject(struct append_ctx *cx, uint64_t *counter, const struct ml_hseries *s, int64_t t,
		   const char *what)
{
	(*counter)++;
	cx->rep->samples_rejected++;
	if (cx->rep->first_error.msg[0] == 0) {
		char name[300];
		ml_labels_format((struct ml_labels){s->labels, s->labels_len}, name, sizeof(name));
		ml_err_set(&cx->rep->first_error, ML_EINVAL, "%s for series %s, timestamp %lld", what, name,
			   (long long)t);
	}
}

/* Finds the series of canonical label set ls, creating it (id probing) if new. */
static int find_series(struct append_ctx *cx, MDB_txn *txn, struct ml_labels ls, struct ml_hseries **out,
		       bool *created)
{
	struct ml_tsdb *db = cx->db;
	uint64_t h = ml_labels_hash(ls);
	*created = false;
	*out = ml_head_by_hash(db, h, ls);
	if (*out)
		return 0;
	for (uint64_t sid = h;; sid++) {
		struct ml_hseries *hs = ml_head_by_sid(db, sid);
		if (hs)
			continue; /* another label set owns this id */
		uint8_t k[8];
		ml_be64_put(k, sid);
		MDB_val key = {8, k}, val;
		int mrc = mdb_get(txn, db->dbi_series, &key, &val);
		if (mrc == 0) {
			struct ml_labels have;
			if (!ml_series_row_parse(&val, &have, NULL))
				return ML_ECORRUPT;
			if (!ml_labels_equal(ls, have))
				continue;
			return load_series(db, txn, sid, out) != 0 || *out == NULL ? ML_ENOMEM : 0;
		}
		if (mrc != MDB_NOTFOUND)
			return ml_store_errcode(mrc);
		*out = ml_head_create(db, sid, h, ls);
		if (*out == NULL)
			return ML_ENOMEM;
		*created = true;
		return 0;
	}
}

static int push_sample(struct append_ctx *cx, int64_t t, double v)
{
	if (cx->n_samples == cx->cap_samples) {
		size_t cap = cx->cap_samples ? cx->cap_samples * 2 : 256;
		struct ml_sample *p = ml_realloc(cx->samples, cap * sizeof(*p));
		if (p == NULL)
			return ML_ENOMEM;
		cx->samples = p;
		cx->cap_samples = cap;
	}
	cx->samples[cx->n_samples].t_ms = t;
	cx->samples[cx->n_samples].v = v;
	cx->n_samples++;
	return 0;
}

void ml_tsdb_resync_if_needed(struct ml_tsdb *db)
{
	if (!atomic_exchange(&db->resync, false))
		return;
	for (size_t i = 0; i < db->by_sid.nb; i++) {
		for (struct ml_hseries *s = db->by_sid.b[i]; s; s = s->next_sid) {
			for (struct ml_hchunk *c = s->chunks; c; c = c->next)
				c->flushing = false;
			s->w_floor = s->persisted_maxt;
			if (atomic_load(&s->pending) != 0)
				continue;
			s->w_maxt = s->maxt > s->persisted_maxt ? s->maxt : s->persisted_maxt;
			uint64_t bits = 0;
			if (ml_head_find(s, s->maxt, &bits) == 1)
				s->w_lastbits = bits;
		}
	}
}

/* Judges the samples of one series; appends the accepted ones to cx->samples. */
static int judge(struct append_ctx *cx, struct ml_hseries *s, const struct ml_series_samples *in)
{
	struct ml_tsdb *db = cx->db;
	struct ml_tsdb_report *rep = cx->rep;
	uint32_t first = (uint32_t)cx->n_samples;
	int rc;
	for (uint32_t j = 0; j < in->n_samples; j++) {
		int64_t t = in->samples[j].t_ms;
		double v = in->samples[j].v;
		uint64_t vb = f2b(v);
		if (t <= s->w_floor) {
			reject(cx, &rep->out_of_order, s, t, db->opt.ooo_window_ms ? "too old sample" : "out of order sample");
			continue;
		}
		if (t > s->w_maxt) {
			if ((rc = push_sample(cx, t, v)) != 0)
				return rc;
			s->w_maxt = t;
			s->w_lastbits = vb;
			rep->samples_accepted++;
			continue;
		}
		if (t == s->w_maxt) {
			if (vb == s->w_lastbits)
				rep->samples_accepted++;
			else
				reject(cx, &rep->duplicate, s, t, "duplicate sample for timestamp");
			continue;
		}
		if (db->opt.ooo_window_ms == 0) {
			reject(cx, &rep->out_of_order, s, t, "out of order sample");
			continue;
		}
		if ((uint64_t)s->w_maxt - (uint64_t)t > (uint64_t)db->opt.ooo_window_ms) {
			reject(cx, &rep->out_of_order, s, t, "too old sample");
			continue;
		}
		/* In the window: is the timestamp taken already (head or this op)? */
		uint64_t have = 0;
		int found = ml_head_find(s, t, &have);
		if (found < 0)
			return found;
		for (size_t k = first; !found && k < cx->n_samples; k++) {
			if (cx->samples[k].t_ms == t) {
				found = 1;
				have = f2b(cx->samples[k].v);
			}
		}
		if (found) {
			if (have == vb)
				rep->samples_accepted++;
			else
				reject(cx, &rep->duplicate, s, t, "duplicate sample for timestamp");
			continue;
		}
		if ((rc = push_sample(cx, t, v)) != 0)
			return rc;
		rep->samples_accepted++;
	}
	return 0;
}

static int put_meta(struct append_ctx *cx, MDB_txn *txn)
{
	const struct ml_sample_batch *b = cx->b;
	struct ml_buf v = ML_BUF_INIT;
	int rc = 0;
	for (size_t i = 0; i < b->n_meta; i++) {
		const struct ml_metric_meta *m = &b->meta[i];
		if (m->family.n == 0 || m->family.n > 480)
			continue;
		ml_buf_clear(&v);
		ml_buf_putc(&v, (char)m->type);
		ml_buf_put_uvarint(&v, m->help.n);
		ml_buf_append(&v, m->help.p, m->help.n);
		ml_buf_put_uvarint(&v, m->unit.n);
		ml_buf_append(&v, m->unit.p, m->unit.n);
		if (!ml_buf_ok(&v)) {
			rc = ML_ENOMEM;
			goto fail;
		}
		MDB_val key = {m->family.n, (void *)m->family.p}, old, val = {v.len, v.data};
		int mrc = mdb_get(txn, cx->db->dbi_meta, &key, &old);
		if (mrc == 0 && old.mv_size == v.len && memcmp(old.mv_data, v.data, v.len) == 0)
			continue;
		if ((mrc = mdb_put(txn, cx->db->dbi_meta, &key, &val, 0)) != 0) {
			rc = ml_store_errcode(mrc);
			goto fail;
		}
	}
fail:
	ml_buf_free(&v);
	return rc;
}

static int append_apply(MDB_txn *txn, void *vctx, struct ml_err *err)
{
	struct append_ctx *cx = vctx;
	struct ml_tsdb *db = cx->db;
	const struct ml_sample_batch *b = cx->b;
	int rc = 0, mrc;

	ml_tsdb_resync_if_needed(db);
	cx->accs = ml_calloc(b->n ? b->n : 1, sizeof(*cx->accs));
	if (cx->accs == NULL) {
		rc = ML_ENOMEM;
		goto fail;
	}
	cx->seq = db->next_seq;
	for (size_t i = 0; i < b->n; i++) {
		if (cx->canon_off[i] == UINT32_MAX)
			continue;
		struct ml_labels ls = {cx->canon.data + cx->canon_off[i], cx->canon_len[i]};
		struct ml_hseries *s;
		bool created;
		if ((rc = find_series(cx, txn, ls, &s, &created)) != 0)
			goto fail;
		if (created)
			cx->rep->series_created++;
		atomic_fetch_add(&s->pending, 1);
		struct acc *a = &cx->accs[cx->n_accs++];
		a->s = s;
		a->off = (uint32_t)cx->n_samples;
		if ((rc = judge(cx, s, &b->series[i])) != 0)
			goto fail;
		a->n = (uint32_t)(cx->n_samples - a->off);
		if (!s->indexed && a->n > 0) {
			/* The series row: label set, then the postings sequence number. */
			uint64_t pseq = db->next_series_seq++;
			uint8_t k[8];
			ml_be64_put(k, s->sid);
			MDB_val key = {8, k}, val = {s->labels_len + 8, NULL};
			if ((mrc = mdb_put(txn, db->dbi_series, &key, &val, MDB_RESERVE)) != 0) {
				rc = ml_store_errcode(mrc);
				goto fail;
			}
			memcpy(val.mv_data, s->labels, s->labels_len);
			ml_be64_put((uint8_t *)val.mv_data + s->labels_len, pseq);
			if ((rc = ml_postings_add(txn, db->dbi_postings, s->sid, pseq,
						   (struct ml_labels){s->labels, s->labels_len})) != 0)
				goto fail;
			a->index = true;
		}
	}
	if ((rc = put_meta(cx, txn)) != 0)
		goto fail;
	if (cx->n_samples == 0)
		return 0;
	/* The WAL record. */
	ml_buf_put_uvarint(&cx->wal, cx->n_accs);
	for (size_t i = 0; i < cx->n_accs; i++) {
		struct acc *a = &cx->accs[i];
		ml_buf_put_be64(&cx->wal, a->s->sid);
		ml_buf_put_uvarint(&cx->wal, a->n);
		int64_t prev = 0;
		for (uint32_t j = 0; j < a->n; j++) {
			const struct ml_sample *sm = &cx->samples[a->off + j];
			ml_buf_put_svarint(&cx->wal, (int64_t)((uint64_t)sm->t_ms - (uint64_t)prev));
			ml_buf_put_be64(&cx->wal, f2b(sm->v));
			prev = sm->t_ms;
		}
	}
	size_t bound = ZSTD_compressBound(cx->wal.len);
	ml_buf_putc(&cx->walz, WAL_FORMAT);
	uint8_t *dst = ml_buf_reserve(&cx->walz, bound);
	if (!ml_buf_ok(&cx->wal) || dst == NULL) {
		rc = ML_ENOMEM;
		goto fail;
	}
	size_t zn = ZSTD_compressCCtx(db->zc, dst, bound, cx->wal.data, cx->wal.len, 1);
	if (ZSTD_isError(zn)) {
		rc = ML_EIO;
		goto fail;
	}
	cx->walz.len += zn;
	uint8_t k[8];
	ml_be64_put(k, cx->seq);
	MDB_val key = {8, k}, val = {cx->walz.len, cx->walz.data};
	if ((mrc = mdb_put(txn, db->dbi_wal, &key, &val, MDB_APPEND)) != 0) {
		rc = ml_store_errcode(mrc);
		goto fail;
	}
	db->next_seq++;
	return 0;
fail:
	/* Nothing of this op stays: undo the pending marks, rebuild the writer view. */
	for (size_t i = 0; i < cx->n_accs; i++)
		atomic_fetch_sub(&cx->accs[i].s->pending, 1);
	cx->n_accs = 0;
	atomic_store(&db->resync, true);
	return ml_err_set(err, rc, "tsdb: storing samples failed: %s", ml_strerror(rc));
}

static void append_after_commit(void *vctx)
{
	struct append_ctx *cx = vctx;
	struct ml_tsdb *db = cx->db;
	pthread_rwlock_wrlock(&db->lock);
	for (size_t i = 0; i < cx->n_accs; i++) {
		struct acc *a = &cx->accs[i];
		for (uint32_t j = 0; j < a->n; j++) {
			const struct ml_sample *sm = &cx->samples[a->off + j];
			if (ml_head_add(db, a->s, sm->t_ms, sm->v, cx->seq) != 0)
				ml_log(ML_LOG_ERROR, "msg=\"tsdb head out of memory; sample only in the WAL\" t=%lld",
				       (long long)sm->t_ms);
		}
		if (a->index)
			a->s->indexed = true;
		atomic_fetch_sub(&a->s->pending, 1);
	}
	cx->n_accs = 0;
	if (cx->n_samples)
		db->committed_seq = cx->seq;
	pthread_rwlock_unlock(&db->lock);
}

int ml_tsdb_append(struct ml_tsdb *db, const struct ml_sample_batch *batch,
		   struct ml_tsdb_report *report, struct ml_err *err)
{
	struct ml_tsdb_report local;
	struct append_ctx cx;
	int rc;
	if (report == NULL)
		report = &local;
	memset(report, 0, sizeof(*report));
	memset(&cx, 0, sizeof(cx));
	cx.db = db;
	cx.b = batch;
	cx.rep = report;
	cx.canon_off = ml_malloc((batch->n ? batch->n : 1) * sizeof(uint32_t));
	cx.canon_len = ml_malloc((batch->n ? batch->n : 1) * sizeof(uint32_t));
	if (cx.canon_off == NULL || cx.canon_len == NULL) {
		rc = ml_err_set(err, ML_ENOMEM, "tsdb: out of memory");
		goto fail;
	}
	/* Size the canonical label sets up front: growing by doubling copied them over and over. */
	size_t canon_bytes = 0;
	for (size_t i = 0; i < batch->n; i++)
		for (uint32_t j = 0; j < batch->series[i].n_labels; j++)
			canon_bytes += batch->series[i].labels[j].name.n + batch->series[i].labels[j].value.n + 4;
	if (ml_buf_reserve(&cx.canon, canon_bytes + 16) == NULL) {
		rc = ml_err_set(err, ML_ENOMEM, "tsdb: out of memory");
		goto fail;
	}
	for (size_t i = 0; i < batch->n; i++) {
		const struct ml_series_samples *s = &batch->series[i];
		size_t before = cx.canon.len;
		struct ml_err lerr;
		rc = ml_labels_canon(s->labels, s->n_labels, &db->opt.limits, &cx.canon, &lerr);
		if (rc == ML_ENOMEM || cx.canon.len > UINT32_MAX) {
			rc = ml_err_set(err, ML_ENOMEM, "tsdb: out of memory");
			goto fail;
		}
		if (rc != 0) {
			cx.canon.len = before;
			cx.canon_off[i] = UINT32_MAX;
			report->series_rejected++;
			report->invalid_series += s->n_samples;
			report->samples_rejected += s->n_samples;
			if (report->first_error.msg[0] == 0)
				report->first_error = lerr;
			continue;
		}
		cx.canon_off[i] = (uint32_t)before;
		cx.canon_len[i] = (uint32_t)(cx.canon.len - before);
	}
	struct ml_write_op op = {append_apply, append_after_commit, &cx};
	rc = ml_store_write(db->st, &op, err);
	if (rc != 0) {
		/* apply succeeded but the group failed: nothing was merged. */
		for (size_t i = 0; i < cx.n_accs; i++)
			atomic_fetch_sub(&cx.accs[i].s->pending, 1);
		atomic_store(&db->resync, true);
		uint64_t created = report->series_created;
		memset(report, 0, sizeof(*report));
		report->series_created = created;
		goto fail;
	}
	if (report->first_error.msg[0] && err)
		*err = report->first_error;
	rc = 0;
fail:
	ml_free(cx.canon_off);
	ml_free(cx.canon_len);
	ml_free(cx.accs);
	ml_free(cx.samples);
	ml_buf_free(&cx.canon);
	ml_buf_free(&cx.wal);
	ml_buf_free(&cx.walz);
	return rc;
}
