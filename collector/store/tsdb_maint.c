/*
 * tsdb_maint.c - TSDB housekeeping: flushing head chunks, WAL checkpoints,
 * zstd recompression of cold chunks, retention; see ml_tsdb_maintain in tsdb.h.
 *
 * Checkpoint scheme: every head chunk remembers the oldest WAL record that
 * holds one of its samples (first_seq). A record can go once no head chunk
 * needs it and it is merged into the head: the cutoff is
 *     min(first_seq of every head chunk not being flushed, committed_seq + 1)
 * and records below it are deleted in the same transaction that writes the
 * flushed chunks, so a crash at any point leaves every sample in the WAL or
 * in `chunks` (replay skips samples at or before a series' newest chunk).
 *
 * Every step works in transactions of at most opt.max_ops_per_txn changes,
 * queued like any other write, so appends wait for one short step at most.
 */
#include "core/alloc.h"
#include "core/buf.h"
#include "store/env.h"
#include "store/postings.h"
#include "store/tsdb_internal.h"

#include <errno.h>
#include <string.h>

#include <zstd.h>

struct flush_item {
	struct ml_hseries *s;
	struct ml_hchunk *c;
};

struct flush_ctx {
	struct ml_tsdb *db;
	int64_t now;
	struct flush_item *items;
	size_t n, cap;
	bool more;
};

static int put_chunk(MDB_txn *txn, struct ml_tsdb *db, struct ml_hseries *s, struct ml_hchunk *c)
{
	uint8_t k[16];
	struct ml_buf v = ML_BUF_INIT;
	size_t len;
	const uint8_t *p = ml_chunk_enc_bytes(&c->enc, &len);
	ml_be64_put(k, s->sid);
	ml_be64_put(k + 8, ml_tsdb_tkey(c->mint));
	ml_buf_putc(&v, ML_TSDB_CHUNK_RAW);
	ml_buf_put_be64(&v, ml_tsdb_tkey(c->maxt));
	ml_buf_append(&v, p, len);
	if (!ml_buf_ok(&v))
		return ML_ENOMEM;
	MDB_val key = {16, k}, val = {v.len, v.data};
	int mrc = mdb_put(txn, db->dbi_chunks, &key, &val, 0);
	ml_buf_free(&v);
	return mrc ? ml_store_errcode(mrc) : 0;
}

static int flush_apply(MDB_txn *txn, void *vctx, struct ml_err *err)
{
	struct flush_ctx *fx = vctx;
	struct ml_tsdb *db = fx->db;
	size_t ops = 0, max = db->opt.max_ops_per_txn;
	int rc = 0;
	ml_tsdb_resync_if_needed(db);
	for (size_t i = 0; i < db->by_sid.nb && ops < max; i++) {
		for (struct ml_hseries *s = db->by_sid.b[i]; s && ops < max; s = s->next_sid) {
			if (atomic_load(&s->pending) != 0)
				continue;
			for (struct ml_hchunk *c = s->chunks; c && ops < max; c = c->next) {
				if (c->flushing)
					continue;
				/* Closed chunks once no out-of-order sample can reach them;
				 * everything once the series has been idle. */
				bool closed = c != s->tail;
				bool idle = fx->now > s->w_maxt &&
					    (uint64_t)fx->now - (uint64_t)s->w_maxt > (uint64_t)db->opt.idle_flush_ms;
				bool go = idle || (closed && (uint64_t)s->w_maxt - (uint64_t)c->maxt >
									  (uint64_t)db->opt.ooo_window_ms);
				if (!go || c->enc.count == 0)
					break;
				if (fx->n == fx->cap) {
					size_t cap = fx->cap ? fx->cap * 2 : 256;
					struct flush_item *p = ml_realloc(fx->items, cap * sizeof(*p));
					if (p == NULL) {
						rc = ML_ENOMEM;
						goto fail;
					}
					fx->items = p;
					fx->cap = cap;
				}
				if ((rc = put_chunk(txn, db, s, c)) != 0)
					goto fail;
				fx->items[fx->n].s = s;
				fx->items[fx->n].c = c;
				fx->n++;
				c->flushing = true;
				if (c->maxt > s->w_floor)
					s->w_floor = c->maxt;
				ops++;
			}
		}
	}
	fx->more = ops >= max;
	/* Checkpoint. */
	uint64_t cutoff = db->committed_seq + 1;
	for (size_t i = 0; i < db->by_sid.nb; i++)
		for (struct ml_hseries *s = db->by_sid.b[i]; s; s = s->next_sid)
			for (struct ml_hchunk *c = s->chunks; c; c = c->next)
				if (!c->flushing && c->first_seq < cutoff)
					cutoff = c->first_seq;
	MDB_cursor *cur = NULL;
	int mrc = mdb_cursor_open(txn, db->dbi_wal, &cur);
	MDB_val key, val;
	if (mrc == 0)
		mrc = mdb_cursor_get(cur, &key, &val, MDB_FIRST);
	while (mrc == 0 && key.mv_size == 8 && ml_be64_get(key.mv_data) < cutoff) {
		if (ops >= max) {
			fx->more = true;
			break;
		}
		if ((mrc = mdb_cursor_del(cur, 0)) != 0)
			break;
		ops++;
		mrc = mdb_cursor_get(cur, &key, &val, MDB_GET_CURRENT);
	}
	if (cur)
		mdb_cursor_close(cur);
	if (mrc != 0 && mrc != MDB_NOTFOUND && mrc != EINVAL) {
		rc = ml_store_errcode(mrc);
		goto fail;
	}
	return 0;
fail:
	for (size_t i = 0; i < fx->n; i++)
		fx->items[i].c->flushing = false;
	fx->n = 0;
	atomic_store(&db->resync, true);
	return ml_err_set(err, rc, "tsdb: flushing chunks failed: %s", ml_strerror(rc));
}

static void flush_after_commit(void *vctx)
{
	struct flush_ctx *fx = vctx;
	struct ml_tsdb *db = fx->db;
	pthread_rwlock_wrlock(&db->lock);
	for (size_t i = 0; i < fx->n; i++) {
		struct ml_hseries *s = fx->items[i].s;
		struct ml_hchunk *c = fx->items[i].c, **pp = &s->chunks, *prev = NULL;
		while (*pp && *pp != c) {
			prev = *pp;
			pp = &(*pp)->next;
		}
		if (*pp == NULL)
			continue;
		*pp = c->next;
		if (s->tail == c)
			s->tail = prev;
		if (c->maxt > s->persisted_maxt)
			s->persisted_maxt = c->maxt;
		ml_chunk_enc_free(&c->enc);
		ml_free(c);
	}
	/* Evict series with nothing in memory that have been idle. */
	for (size_t i = 0; i < db->by_sid.nb; i++) {
		for (struct ml_hseries *s = db->by_sid.b[i], *next; s; s = next) {
			next = s->next_sid;
			if (s->chunks == NULL && s->indexed && atomic_load(&s->pending) == 0 &&
			    fx->now > s->w_maxt &&
			    (uint64_t)fx->now - (uint64_t)s->w_maxt > (uint64_t)db->opt.idle_flush_ms)
				ml_head_remove(db, s);
		}
	}
	pthread_rwlock_unlock(&db->lock);
	fx->n = 0;
}

/* --- retention ------------------------------------------------------------ */

struct sweep_ctx {
	struct ml_tsdb *db;
	int64_t cutoff;       /* retention: delete chunks ending before; compaction: cold before */
	uint8_t resume[16]; /* chunk key (sid, mint) the next transaction starts at */
	bool done;
};

/* Deletes series sid entirely if nothing of it is left. */
static int drop_series_if_empty(MDB_txn *txn, struct ml_tsdb *db, uint64_t sid, size_t *ops)
{
	if (ml_head_by_sid(db, sid) != NULL)
		return 0;
	int64_t pm;
	int rc = ml_tsdb_persisted_maxt(txn, db->dbi_chunks, sid, &pm);
	if (rc != 0 || pm != INT64_MIN)
		return rc;
	uint8_t k[8];
	ml_be64_put(k, sid);
	MDB_val key = {8, k}, val;
	int mrc = mdb_get(txn, db->dbi_series, &key, &val);
	if (mrc == MDB_NOTFOUND)
		return 0;
	if (mrc != 0)
		return ml_store_errcode(mrc);
	struct ml_labels ls;
	uint64_t pseq;
	if (!ml_series_row_parse(&val, &ls, &pseq))
		return ML_ECORRUPT;
	if ((rc = ml_postings_del(txn, db->dbi_postings, sid, pseq, ls)) != 0)
		return rc;
	*ops += (size_t)ml_labels_count(ls) + 2;
	mrc = mdb_del(txn, db->dbi_series, &key, NULL);
	return mrc && mrc != MDB_NOTFOUND ? ml_store_errcode(mrc) : 0;
}

static int retention_apply(MDB_txn *txn, void *vctx, struct ml_err *err)
{
	struct sweep_ctx *sx = vctx;
	struct ml_tsdb *db = sx->db;
	size_t ops = 0;
	MDB_cursor *c = NULL;
	uint8_t k[16];
	int rc = 0;
	int mrc = mdb_cursor_open(txn, db->dbi_chunks, &c);
	if (mrc != 0)
		goto mdb_fail;
	memcpy(k, sx->resume, 16);
	MDB_val key = {16, k}, val;
	mrc = mdb_cursor_get(c, &key, &val, MDB_SET_RANGE);
	while (mrc == 0 && ops < db->opt.max_ops_per_txn) {
		if (key.mv_size != 16 || val.mv_size < 9) {
			rc = ML_ECORRUPT;
			goto fail;
		}
		uint64_t sid = ml_be64_get(key.mv_data);
		int64_t maxt = ml_tsdb_tval(ml_be64_get((const uint8_t *)val.mv_data + 1));
		if (maxt < sx->cutoff) {
			memcpy(k, key.mv_data, 16);
			if ((mrc = mdb_cursor_del(c, 0)) != 0)
				goto mdb_fail;
			ops++;
			key.mv_size = 16;
			key.mv_data = k;
			mrc = mdb_cursor_get(c, &key, &val, MDB_SET_RANGE);
			bool same = mrc == 0 && key.mv_size == 16 && ml_be64_get(key.mv_data) == sid;
			if (!same && (rc = drop_series_if_empty(txn, db, sid, &ops)) != 0)
				goto fail;
			if (mrc != 0 && mrc != MDB_NOTFOUND)
				goto mdb_fail;
			continue;
		}
		/* Chunks of a series come in time order: the rest of sid is newer. */
		if (sid == UINT64_MAX) {
			mrc = MDB_NOTFOUND;
			break;
		}
		ml_be64_put(k, sid + 1);
		ml_be64_put(k + 8, 0);
		key.mv_size = 16;
		key.mv_data = k;
		mrc = mdb_cursor_get(c, &key, &val, MDB_SET_RANGE);
	}
	if (mrc == MDB_NOTFOUND) {
		sx->done = true;
	} else if (mrc != 0) {
		goto mdb_fail;
	} else {
		memcpy(sx->resume, key.mv_data, 16);
	}
	mdb_cursor_close(c);
	return 0;
mdb_fail:
	rc = ml_store_errcode(mrc);
fail:
	if (c)
		mdb_cursor_close(c);
	return ml_err_set(err, rc, "tsdb: retention failed: %s", ml_strerror(rc));
}

/* --- cold recompression ----------------------------------------------------- */

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/*
 * Rewrites the n records whose keys are in keys (raw chunks, and possibly one
 * earlier cold group of the same series and window first) as one zstd record
 * of count chunks at keys[0]; raw holds the chunks as {uvarint len, bytes}.
 */
static int compress_group(MDB_txn *txn, struct ml_tsdb *db, const uint8_t (*keys)[16], size_t n,
			  size_t count, struct ml_buf *raw, int64_t maxt)
{
	struct ml_buf v = ML_BUF_INIT;
	int rc = 0;
	size_t bound = ZSTD_compressBound(raw->len);
	ml_buf_putc(&v, ML_TSDB_CHUNK_ZSTD);
	ml_buf_put_be64(&v, ml_tsdb_tkey(maxt));
	ml_buf_put_uvarint(&v, count);
	uint8_t *dst = ml_buf_reserve(&v, bound);
	if (dst == NULL || !ml_buf_ok(raw)) {
		rc = ML_ENOMEM;
		goto fail;
	}
	/* db->zc: this runs on the writer thread, as the WAL appends do. */
	size_t zn = ZSTD_compressCCtx(db->zc, dst, bound, raw->data, raw->len, db->opt.zstd_level);
	if (ZSTD_isError(zn)) {
		rc = ML_EIO;
		goto fail;
	}
	v.len += zn;
	for (size_t i = 1; i < n; i++) {
		MDB_val key = {16, (void *)keys[i]};
		int mrc = mdb_del(txn, db->dbi_chunks, &key, NULL);
		if (mrc != 0) {
			rc = ml_store_errcode(mrc);
			goto fail;
		}
	}
	MDB_val key = {16, (void *)keys[0]}, val = {v.len, v.data};
	int mrc = mdb_put(txn, db->dbi_chunks, &key, &val, 0);
	if (mrc != 0)
		rc = ml_store_errcode(mrc);
fail:
	ml_buf_free(&v);
	return rc;
}

/*
 * Appends the chunks of a cold group value (p, n: kind byte onward) to raw;
 * *count gets their number. ML_ECORRUPT if it does not decode.
 */
static int unpack_group(const uint8_t *p, size_t n, struct ml_buf *raw, uint64_t *count)
{
	struct ml_reader r = ml_reader_make(p + 9, n - 9);
	*count = ml_read_uvarint(&r);
	if (r.bad)
		return ML_ECORRUPT;
	unsigned long long sz = ZSTD_getFrameContentSize(r.p, (size_t)(r.end - r.p));
	if (sz == ZSTD_CONTENTSIZE_UNKNOWN || sz == ZSTD_CONTENTSIZE_ERROR || sz > (64u << 20))
		return ML_ECORRUPT;
	uint8_t *dst = ml_buf_reserve(raw, sz ? sz : 1);
	if (dst == NULL)
		return ML_ENOMEM;
	size_t got = ZSTD_decompress(dst, sz, r.p, (size_t)(r.end - r.p));
	if (ZSTD_isError(got) || got != sz)
		return ML_ECORRUPT;
	raw->len += got;
	return 0;
}

#define GROUP_MAX 256

static int compact_apply(MDB_txn *txn, void *vctx, struct ml_err *err)
{
	struct sweep_ctx *sx = vctx;
	struct ml_tsdb *db = sx->db;
	size_t ops = 0;
	MDB_cursor *c = NULL;
	struct ml_buf raw = ML_BUF_INIT;
	uint8_t (*keys)[16] = ml_malloc(GROUP_MAX * 16);
	uint8_t k[16];
	struct ml_buf gval = ML_BUF_INIT; /* a cold group opening the group, still compressed */
	bool gpacked = false;
	size_t n = 0, n_raw = 0;
	uint64_t gsid = 0, gcount = 0;
	int64_t gwin = 0, gmax = INT64_MIN;
	int rc = 0, mrc = 0;
	if (keys == NULL) {
		rc = ML_ENOMEM;
		goto fail;
	}
	if ((mrc = mdb_cursor_open(txn, db->dbi_chunks, &c)) != 0)
		goto mdb_fail;
	memcpy(k, sx->resume, 16);
	MDB_val key = {16, k}, val;
	mrc = mdb_cursor_get(c, &key, &val, MDB_SET_RANGE);
	for (;;) {
		bool have = mrc == 0;
		uint64_t sid = 0;
		int64_t mint = 0, maxt = 0, win = 0;
		bool eligible = false, cold_group = false;
		if (have) {
			if (key.mv_size != 16 || val.mv_size < 9) {
				rc = ML_ECORRUPT;
				goto fail;
			}
			const uint8_t *vp = val.mv_data;
			sid = ml_be64_get(key.mv_data);
			mint = ml_tsdb_tval(ml_be64_get((const uint8_t *)key.mv_data + 8));
			maxt = ml_tsdb_tval(ml_be64_get(vp + 1));
			win = floor_div(mint, db->opt.cold_window_ms);
			eligible = vp[0] == ML_TSDB_CHUNK_RAW && maxt < sx->cutoff;
			/* A cold group may take in the raw chunks that went cold after it. */
			cold_group = vp[0] == ML_TSDB_CHUNK_ZSTD;
		}
		bool joins = have && eligible && n > 0 && sid == gsid && win == gwin && n < GROUP_MAX;
		if (!joins && n > 0) {
			if (n >= 2 && n_raw > 0) {
				/* The cursor may not survive the rewrite: remember where it was. */
				uint8_t here[16] = {0};
				if (have)
					memcpy(here, key.mv_data, 16);
				if ((rc = compress_group(txn, db, (const uint8_t(*)[16])keys, n, gcount, &raw, gmax)) != 0)
					goto fail;
				ops += n + 1;
				if (have) {
					key.mv_size = 16;
					key.mv_data = here;
					memcpy(k, here, 16);
					key.mv_data = k;
					if ((mrc = mdb_cursor_get(c, &key, &val, MDB_SET_RANGE)) != 0 && mrc != MDB_NOTFOUND)
						goto mdb_fail;
					n = n_raw = 0;
					gcount = 0;
					gpacked = false;
					ml_buf_clear(&raw);
					continue; /* re-read the current entry */
				}
			}
			n = n_raw = 0;
			gcount = 0;
			gpacked = false;
			ml_buf_clear(&raw);
		}
		if (!have)
			break;
		if (ops >= db->opt.max_ops_per_txn && n == 0) {
			/* Resume at this very chunk, not at the start of its series: a series
			 * with more chunks than one transaction's ops would never be passed. */
			memcpy(sx->resume, key.mv_data, 16);
			goto out;
		}
		if (eligible) {
			if (n == 0) {
				gsid = sid;
				gwin = win;
				gmax = INT64_MIN;
			}
			if (gpacked) {
				/* The first raw chunk joining a cold group: now unpack the group. */
				uint64_t cnt = 0;
				if ((rc = unpack_group(gval.data, gval.len, &raw, &cnt)) != 0)
					goto fail;
				gcount += cnt;
				gpacked = false;
			}
			memcpy(keys[n++], key.mv_data, 16);
			ml_buf_put_uvarint(&raw, val.mv_size - 9);
			ml_buf_append(&raw, (const uint8_t *)val.mv_data + 9, val.mv_size - 9);
			n_raw++;
			gcount++;
			if (maxt > gmax)
				gmax = maxt;
		} else if (cold_group && n == 0) {
			/* Start a group with it; it is unpacked and rewritten only if raw chunks join. */
			ml_buf_clear(&gval);
			ml_buf_append(&gval, val.mv_data, val.mv_size);
			if (!ml_buf_ok(&gval)) {
				rc = ML_ENOMEM;
				goto fail;
			}
			gpacked = true;
			gsid = sid;
			gwin = win;
			gmax = maxt;
			gcount = 0;
			memcpy(keys[n++], key.mv_data, 16);
		}
		ops++;
		mrc = mdb_cursor_get(c, &key, &val, MDB_NEXT);
		if (mrc != 0 && mrc != MDB_NOTFOUND)
			goto mdb_fail;
	}
	sx->done = true;
out:
	mdb_cursor_close(c);
	ml_free(keys);
	ml_buf_free(&raw);
	ml_buf_free(&gval);
	return 0;
mdb_fail:
	rc = ml_store_errcode(mrc);
fail:
	if (c)
		mdb_cursor_close(c);
	ml_free(keys);
	ml_buf_free(&raw);
	ml_buf_free(&gval);
	return ml_err_set(err, rc, "tsdb: recompressing cold chunks failed: %s", ml_strerror(rc));
}

/* --- driver ------------------------------------------------------------------- */

#define MAX_STEPS 100000

int ml_tsdb_maintain(struct ml_tsdb *db, int64_t now_ms, struct ml_err *err)
{
	struct flush_ctx fx = {db, now_ms, NULL, 0, 0, true};
	int rc = 0;
	for (int i = 0; i < MAX_STEPS && fx.more; i++) {
		struct ml_write_op op = {flush_apply, flush_after_commit, &fx};
		fx.more = false;
		fx.n = 0;
		if ((rc = ml_store_write(db->st, &op, err)) != 0) {
			atomic_store(&db->resync, true);
			goto out;
		}
	}
	if (db->opt.retention_ms > 0) {
		struct sweep_ctx sx = {db, now_ms - db->opt.retention_ms, {0}, false};
		for (int i = 0; i < MAX_STEPS && !sx.done; i++) {
			struct ml_write_op op = {retention_apply, NULL, &sx};
			if ((rc = ml_store_write(db->st, &op, err)) != 0)
				goto out;
		}
	}
	if (db->opt.cold_after_ms > 0) {
		struct sweep_ctx sx = {db, now_ms - db->opt.cold_after_ms, {0}, false};
		for (int i = 0; i < MAX_STEPS && !sx.done; i++) {
			struct ml_write_op op = {compact_apply, NULL, &sx};
			if ((rc = ml_store_write(db->st, &op, err)) != 0)
				goto out;
		}
	}
out:
	ml_free(fx.items);
	return rc;
}

/* --- stats ----------------------------------------------------------------------- */

int ml_tsdb_stats(struct ml_tsdb *db, struct ml_tsdb_stats *out)
{
	MDB_txn *txn = NULL;
	MDB_stat ms;
	memset(out, 0, sizeof(*out));
	pthread_rwlock_rdlock(&db->lock);
	out->head_bytes = sizeof(*db) + (db->by_sid.nb + db->by_hash.nb) * sizeof(void *);
	for (size_t i = 0; i < db->by_sid.nb; i++) {
		for (struct ml_hseries *s = db->by_sid.b[i]; s; s = s->next_sid) {
			out->head_series++;
			out->head_bytes += ml_head_series_bytes(s);
			for (struct ml_hchunk *c = s->chunks; c; c = c->next) {
				out->head_chunks++;
				out->head_samples += c->enc.count;
			}
		}
	}
	pthread_rwlock_unlock(&db->lock);
	int rc = ml_store_read_begin(db->st, &txn);
	if (rc != 0)
		return rc;
	if (mdb_stat(txn, db->dbi_wal, &ms) == 0)
		out->wal_records = ms.ms_entries;
	if (mdb_stat(txn, db->dbi_series, &ms) == 0)
		out->series_total = ms.ms_entries;
	MDB_cursor *c = NULL;
	MDB_val key, val;
	if (mdb_cursor_open(txn, db->dbi_chunks, &c) == 0) {
		int mrc = mdb_cursor_get(c, &key, &val, MDB_FIRST);
		while (mrc == 0) {
			out->stored_chunks++;
			out->stored_chunk_bytes += val.mv_size;
			mrc = mdb_cursor_get(c, &key, &val, MDB_NEXT);
		}
		mdb_cursor_close(c);
	}
	ml_store_read_end(txn);
	return 0;
}
