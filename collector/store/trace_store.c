/*
 * trace_store.c - the write side of the trace store: append (the head, which
 * is the trace WAL), replay on open, compaction into blocks, retention, and
 * the background thread that triggers the last two. Reads are in
 * trace_read.c; layouts in trace_store_internal.h and docs/STORAGE.md.
 *
 * Append encodes and compresses the batch on the caller's thread, then hands
 * one small op to the store's writer: apply() puts the record under the next
 * sequence number (MDB_APPEND, always at the end of the B-tree), and
 * after_commit() publishes the spans in the in-memory head. A span is
 * therefore readable exactly when it is durable.
 *
 * Compaction takes a prefix of the head (whole records), builds a block from
 * it outside every lock (trace_block.c), and writes the block, its index and
 * summaries and the deletion of the compacted head records in one
 * transaction; its after_commit() drops the prefix from memory. Readers look
 * at the head before they open their LMDB snapshot, so a span is always in
 * one or the other (sometimes both: reads deduplicate).
 */
#include "store/trace_store.h"

#include "core/alloc.h"
#include "core/arena.h"
#include "core/buf.h"
#include "core/log.h"
#include "store/span_codec.h"
#include "store/trace_block.h"
#include "store/trace_store_internal.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include <zstd.h>

#define HEAD_VERSION 1

uint64_t ml_trace_now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return (uint64_t)t.tv_sec * 1000000000ULL + (uint64_t)t.tv_nsec;
}

size_t ml_trace_name_key(uint8_t *key, size_t cap, struct ml_str service, const uint8_t *mid,
			 size_t mid_n, struct ml_str name)
{
	if (service.n > ML_BLOCK_NAME_MAX || name.n > ML_BLOCK_NAME_MAX ||
	    2 + service.n + mid_n + name.n > cap)
		return 0;
	key[0] = (uint8_t)(service.n >> 8);
	key[1] = (uint8_t)service.n;
	size_t k = 2;
	if (service.n)
		memcpy(key + k, service.p, service.n);
	k += service.n;
	if (mid_n)
		memcpy(key + k, mid, mid_n);
	k += mid_n;
	if (name.n)
		memcpy(key + k, name.p, name.n);
	return k + name.n;
}

static int mdb_fail(struct ml_err *err, int mrc, const char *what)
{
	return ml_err_set(err, ml_store_errcode(mrc), "trace store: %s: %s", what, mdb_strerror(mrc));
}

/* ---- append ----------------------------------------------------------- */

struct append_op {
	struct ml_trace_store *ts;
	const uint8_t *val;
	size_t len;
	struct ml_head_span **spans;
	size_t n;
	uint64_t time_ns;
	uint64_t seq;
	bool published;
};

static int append_apply(MDB_txn *txn, void *ctx, struct ml_err *err)
{
	struct append_op *op = ctx;
	uint8_t kb[8];
	/* The sequence number is spent even if the group later fails: gaps are harmless. */
	op->seq = op->ts->next_seq++;
	ml_be64_put(kb, op->seq);
	MDB_val k = {8, kb}, v = {op->len, (void *)op->val};
	int mrc = mdb_put(txn, op->ts->db_head, &k, &v, MDB_APPEND);
	return mrc ? mdb_fail(err, mrc, "writing the head record") : 0;
}

static void append_published(void *ctx)
{
	struct append_op *op = ctx;
	struct ml_trace_store *ts = op->ts;
	pthread_rwlock_wrlock(&ts->head.lock);
	int rc = ml_trace_head_push(&ts->head, op->seq, op->time_ns, op->spans, op->n);
	size_t n_head = ts->head.n_spans;
	pthread_rwlock_unlock(&ts->head.lock);
	if (rc != 0) {
		/* Durable but not in memory: reads miss it until the next start replays it. */
		ml_log(ML_LOG_ERROR, "msg=\"trace head out of memory; batch readable after restart\" spans=%zu",
		       op->n);
		return;
	}
	op->published = true;
	atomic_fetch_add(&ts->spans_appended, op->n);
	if (n_head >= ts->opt.head_max_spans)
		pthread_cond_signal(&ts->bg_cv);
}

/*
 * Encodes spans standalone, each prefixed with its length, into raw, and
 * builds their head copies. Also used by replay (with the spans decoded).
 */
static int encode_batch(const struct ml_span *spans, size_t n, struct ml_buf *raw,
			struct ml_head_span **hs, struct ml_err *err)
{
	struct ml_buf one = ML_BUF_INIT;
	struct ml_span_enc enc;
	int rc = 0;
	ml_span_enc_init(&enc, &one, false);
	for (size_t i = 0; i < n; i++) {
		ml_buf_clear(&one);
		ml_span_encode(&enc, &spans[i]);
		if (!ml_buf_ok(&one) || one.len > UINT32_MAX) {
			rc = ml_err_set(err, ML_ENOMEM, "trace store: out of memory encoding span %zu", i);
			goto fail;
		}
		ml_buf_put_uvarint(raw, one.len);
		ml_buf_append(raw, one.data, one.len);
		hs[i] = ml_head_span_make(&spans[i], one.data, one.len);
		if (hs[i] == NULL) {
			rc = ml_err_set(err, ML_ENOMEM, "trace store: out of memory");
			goto fail;
		}
	}
	if (!ml_buf_ok(raw))
		rc = ml_err_set(err, ML_ENOMEM, "trace store: out of memory");
fail:
	ml_buf_free(&one);
	ml_span_enc_free(&enc);
	return rc;
}

/*
 * One zstd compression context per thread, kept for the thread's life: a
 * fresh context per request costs an allocation and the clearing of its
 * tables on every append. Freed by the key destructor when the thread ends.
 */
static pthread_key_t cctx_key;
static pthread_once_t cctx_once = PTHREAD_ONCE_INIT;
static int cctx_key_rc = -1;

static void cctx_free(void *p)
{
	ZSTD_freeCCtx(p);
}

static void cctx_key_init(void)
{
	cctx_key_rc = pthread_key_create(&cctx_key, cctx_free);
}

/* The calling thread's context (NULL when out of memory). */
static ZSTD_CCtx *thread_cctx(void)
{
	if (pthread_once(&cctx_once, cctx_key_init) != 0 || cctx_key_rc != 0)
		return NULL;
	ZSTD_CCtx *c = pthread_getspecific(cctx_key);
	if (c != NULL)
		return c;
	c = ZSTD_createCCtx();
	if (c != NULL && pthread_setspecific(cctx_key, c) != 0) {
		ZSTD_freeCCtx(c);
		c = NULL;
	}
	return c;
}

int ml_trace_store_append(struct ml_trace_store *ts, const struct ml_span_batch *batch,
			  struct ml_err *err)
{
	struct ml_buf raw = ML_BUF_INIT;
	struct ml_head_span **hs = NULL;
	uint8_t *val = NULL;
	ZSTD_CCtx *cctx = NULL;
	struct append_op op;
	int rc = 0;

	memset(&op, 0, sizeof(op));
	if (batch->n == 0)
		return 0;
	hs = ml_calloc(batch->n, sizeof(*hs));
	if (hs == NULL) {
		rc = ml_err_set(err, ML_ENOMEM, "trace store: out of memory");
		goto fail;
	}
	for (size_t i = 0; i < batch->n; i++) {
		const struct ml_span *s = &batch->spans[i];
		if (s->end_ns < s->start_ns) {
			rc = ml_err_set(err, ML_EINVAL, "span %zu: end time is before start time", i);
			goto fail;
		}
	}
	if ((rc = encode_batch(batch->spans, batch->n, &raw, hs, err)) != 0)
		goto fail;
	uint64_t now = ml_trace_now_ns();
	size_t bound = ZSTD_compressBound(raw.len) + 32;
	val = ml_malloc(bound);
	if (val == NULL) {
		rc = ml_err_set(err, ML_ENOMEM, "trace store: out of memory");
		goto fail;
	}
	struct ml_buf hdr = {val, 0, bound, false};
	uint8_t ver = HEAD_VERSION;
	ml_buf_append(&hdr, &ver, 1);
	ml_buf_put_uvarint(&hdr, batch->n);
	ml_buf_put_uvarint(&hdr, now);
	ml_buf_put_uvarint(&hdr, raw.len);
	cctx = thread_cctx();
	if (cctx == NULL) {
		rc = ml_err_set(err, ML_ENOMEM, "trace store: out of memory");
		goto fail;
	}
	ZSTD_CCtx_reset(cctx, ZSTD_reset_session_and_parameters);
	ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, ts->opt.zstd_level_head);
	ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
	size_t z = ZSTD_compress2(cctx, val + hdr.len, bound - hdr.len, raw.data, raw.len);
	if (ZSTD_isError(z)) {
		rc = ml_err_set(err, ML_ENOMEM, "trace store: zstd: %s", ZSTD_getErrorName(z));
		goto fail;
	}
	op.ts = ts;
	op.val = val;
	op.len = hdr.len + z;
	op.spans = hs;
	op.n = batch->n;
	op.time_ns = now;
	struct ml_write_op wop = {append_apply, append_published, &op};
	rc = ml_store_write(ts->env, &wop, err);
fail:
	if (hs != NULL && !op.published)
		for (size_t i = 0; i < batch->n; i++)
			ml_free(hs[i]);
	ml_free(hs);
	ml_free(val);
	ml_buf_free(&raw);
	return rc;
}

/* ---- replay ----------------------------------------------------------- */

/* Publishes one trace_head record into the in-memory head. */
static int replay_record(struct ml_trace_store *ts, uint64_t seq, const uint8_t *val, size_t len,
			 struct ml_arena *scratch)
{
	struct ml_head_span **hs = NULL;
	uint8_t *raw = NULL;
	struct ml_buf enc_buf = ML_BUF_INIT;
	size_t n = 0, made = 0;
	int rc = ML_ECORRUPT;

	struct ml_reader r = ml_reader_make(val, len);
	const uint8_t *ver = ml_read_bytes(&r, 1);
	uint64_t n_spans = ml_read_uvarint(&r);
	uint64_t time_ns = ml_read_uvarint(&r);
	uint64_t raw_len = ml_read_uvarint(&r);
	if (r.bad || *ver != HEAD_VERSION || raw_len > ML_TRACE_HEAD_RECORD_MAX || n_spans > raw_len)
		goto fail;
	raw = ml_malloc(raw_len ? raw_len : 1);
	hs = ml_calloc(n_spans ? n_spans : 1, sizeof(*hs));
	if (raw == NULL || hs == NULL) {
		rc = ML_ENOMEM;
		goto fail;
	}
	size_t got = ZSTD_decompress(raw, raw_len, r.p, (size_t)(r.end - r.p));
	if (ZSTD_isError(got) || got != raw_len)
		goto fail;
	struct ml_reader rr = ml_reader_make(raw, raw_len);
	for (n = 0; n < n_spans; n++) {
		uint64_t sl = ml_read_uvarint(&rr);
		const uint8_t *sp = rr.bad || sl > (size_t)(rr.end - rr.p) ? NULL : ml_read_bytes(&rr, sl);
		if (sp == NULL)
			goto fail;
		struct ml_span_dec d;
		struct ml_span s;
		ml_span_dec_init(&d, sp, sl, false, false);
		rc = ml_span_decode(&d, scratch, &s);
		bool trailing = !ml_span_dec_done(&d);
		ml_span_dec_free(&d);
		if (rc != 0 || trailing) {
			rc = rc ? rc : ML_ECORRUPT;
			goto fail;
		}
		hs[n] = ml_head_span_make(&s, sp, sl);
		if (hs[n] == NULL) {
			rc = ML_ENOMEM;
			goto fail;
		}
		made = n + 1;
	}
	if (rr.p != rr.end) {
		rc = ML_ECORRUPT;
		goto fail;
	}
	pthread_rwlock_wrlock(&ts->head.lock);
	rc = ml_trace_head_push(&ts->head, seq, time_ns, hs, n_spans);
	pthread_rwlock_unlock(&ts->head.lock);
	if (rc == 0)
		made = 0; /* the head owns them now */
fail:
	for (size_t i = 0; i < made; i++)
		ml_free(hs[i]);
	ml_free(hs);
	ml_free(raw);
	ml_buf_free(&enc_buf);
	ml_arena_reset(scratch);
	return rc;
}

static int replay_head(struct ml_trace_store *ts, struct ml_err *err)
{
	MDB_txn *txn = NULL;
	MDB_cursor *cur = NULL;
	struct ml_arena *scratch = ml_arena_create(0);
	MDB_val k, v;
	int rc = 0, mrc;
	size_t records = 0, bad = 0;

	if (scratch == NULL) {
		rc = ml_err_set(err, ML_ENOMEM, "trace store: out of memory");
		goto fail;
	}
	if ((rc = ml_store_read_begin(ts->env, &txn)) != 0) {
		ml_err_set(err, rc, "trace store: cannot begin a read transaction");
		goto fail;
	}
	if ((mrc = mdb_cursor_open(txn, ts->db_head, &cur)) != 0) {
		rc = mdb_fail(err, mrc, "opening a cursor on trace_head");
		goto fail;
	}
	ts->next_seq = 1;
	for (mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrc == 0;
	     mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size != 8) {
			bad++;
			continue;
		}
		uint64_t seq = ml_be64_get(k.mv_data);
		ts->next_seq = seq + 1;
		rc = replay_record(ts, seq, v.mv_data, v.mv_size, scratch);
		if (rc == ML_ENOMEM) {
			ml_err_set(err, rc, "trace store: out of memory replaying the head");
			goto fail;
		}
		if (rc != 0) {
			/* Kept on disk for inspection; it is never compacted. */
			ml_log(ML_LOG_ERROR, "msg=\"corrupt trace head record skipped\" seq=%llu",
			       (unsigned long long)seq);
			bad++;
		}
		records++;
		rc = 0;
	}
	if (mrc != MDB_NOTFOUND)
		rc = mdb_fail(err, mrc, "reading trace_head");
	if (records)
		ml_log(ML_LOG_INFO, "msg=\"trace head replayed\" records=%zu spans=%zu corrupt=%zu",
		       records, ts->head.n_spans, bad);
fail:
	if (cur != NULL)
		mdb_cursor_close(cur);
	ml_store_read_end(txn);
	ml_arena_destroy(scratch);
	return rc;
}

/* Block counters and the next block id, from the block summaries. */
static int scan_blocks(struct ml_trace_store *ts, struct ml_err *err)
{
	MDB_txn *txn = NULL;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	int rc, mrc;
	uint64_t blocks = 0, spans = 0;

	if ((rc = ml_store_read_begin(ts->env, &txn)) != 0)
		return ml_err_set(err, rc, "trace store: cannot begin a read transaction");
	if ((mrc = mdb_cursor_open(txn, ts->db_meta, &cur)) != 0) {
		rc = mdb_fail(err, mrc, "opening a cursor on trace_block_meta");
		goto fail;
	}
	ts->next_block = 1;
	for (mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrc == 0;
	     mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size != 4)
			continue;
		struct ml_reader r = ml_reader_make(v.mv_data, v.mv_size);
		ml_read_bytes(&r, 1);
		ml_read_uvarint(&r);
		ml_read_uvarint(&r);
		uint64_t n = ml_read_uvarint(&r);
		blocks++;
		if (!r.bad)
			spans += n;
		ts->next_block = ml_be32_get(k.mv_data) + 1;
	}
	rc = mrc == MDB_NOTFOUND ? 0 : mdb_fail(err, mrc, "reading trace_block_meta");
	atomic_store(&ts->blocks, blocks);
	atomic_store(&ts->block_spans, spans);
fail:
	if (cur != NULL)
		mdb_cursor_close(cur);
	ml_store_read_end(txn);
	return rc;
}

/* ---- compaction ------------------------------------------------------- */

struct compact_op {
	struct ml_trace_store *ts;
	struct ml_block_build *b;
	const uint64_t *seqs;
	size_t n_recs;
};

/* Stores v = max(stored, t) as be64 under key. */
static int put_newest(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t klen, uint64_t t)
{
	MDB_val k = {klen, (void *)key}, v;
	int mrc = mdb_get(txn, dbi, &k, &v);
	if (mrc == 0 && v.mv_size == 8 && ml_be64_get(v.mv_data) >= t)
		return 0;
	if (mrc != 0 && mrc != MDB_NOTFOUND)
		return mrc;
	uint8_t vb[8];
	ml_be64_put(vb, t);
	v.mv_size = 8;
	v.mv_data = vb;
	return mdb_put(txn, dbi, &k, &v, 0);
}

static int compact_apply(MDB_txn *txn, void *ctx, struct ml_err *err)
{
	struct compact_op *op = ctx;
	struct ml_trace_store *ts = op->ts;
	struct ml_block_build *b = op->b;
	uint32_t id = b->meta.id;
	uint8_t kb[512];
	MDB_val k, v;
	int mrc = 0;

	for (uint32_t p = 0; p < b->n_pages; p++) {
		ml_be32_put(kb, id);
		ml_be32_put(kb + 4, p);
		k = (MDB_val){8, kb};
		v = (MDB_val){b->pages[p].len, b->pages[p].data};
		if ((mrc = mdb_put(txn, ts->db_blocks, &k, &v, MDB_APPEND)) != 0)
			return mdb_fail(err, mrc, "writing a block page");
	}
	MDB_cursor *cur = NULL;
	if ((mrc = mdb_cursor_open(txn, ts->db_index, &cur)) != 0)
		return mdb_fail(err, mrc, "opening trace_index");
	for (size_t i = 0; i < b->n_traces; i++) {
		uint8_t vb[12];
		struct ml_buf vbuf = {vb, 0, sizeof(vb), false};
		memcpy(kb, b->traces[i].trace_id, 16);
		ml_be32_put(kb + 16, id);
		ml_buf_put_uvarint(&vbuf, b->traces[i].first_page);
		ml_buf_put_uvarint(&vbuf, b->traces[i].last_page - b->traces[i].first_page);
		k = (MDB_val){20, kb};
		v = (MDB_val){vbuf.len, vb};
		if ((mrc = mdb_cursor_put(cur, &k, &v, 0)) != 0)
			break;
	}
	mdb_cursor_close(cur);
	if (mrc != 0)
		return mdb_fail(err, mrc, "writing trace_index");
	ml_be32_put(kb, id);
	k = (MDB_val){4, kb};
	v = (MDB_val){b->meta_len, b->meta_bytes};
	if ((mrc = mdb_put(txn, ts->db_meta, &k, &v, MDB_APPEND)) != 0)
		return mdb_fail(err, mrc, "writing trace_block_meta");

	for (uint32_t i = 0; i < b->meta.n_entries; i++) {
		const struct ml_block_entry *e = &b->meta.entries[i];
		if (e->service.n <= ML_BLOCK_NAME_MAX &&
		    (mrc = put_newest(txn, ts->db_services, e->service.p, e->service.n, e->max_start)) != 0)
			return mdb_fail(err, mrc, "writing trace_services");
		size_t kl = ml_trace_name_key(kb, sizeof(kb), e->service, &e->kind, 1, e->operation);
		if (kl && (mrc = put_newest(txn, ts->db_ops, kb, kl, e->max_start)) != 0)
			return mdb_fail(err, mrc, "writing trace_operations");
	}
	for (size_t i = 0; i < b->n_remotes; i++) {
		const struct ml_block_remote *r = &b->remotes[i];
		size_t kl = ml_trace_name_key(kb, sizeof(kb), r->service, NULL, 0, r->remote);
		if (kl && (mrc = put_newest(txn, ts->db_remote, kb, kl, r->last_ns)) != 0)
			return mdb_fail(err, mrc, "writing trace_remote_services");
	}
	for (size_t i = 0; i < b->n_deps; i++) {
		const struct ml_block_dep *d = &b->deps[i];
		ml_be32_put(kb, d->hour);
		size_t kl = ml_trace_name_key(kb + 4, sizeof(kb) - 4, d->parent, NULL, 0, d->child);
		if (kl == 0)
			continue;
		k = (MDB_val){kl + 4, kb};
		uint64_t calls = d->calls, errors = d->errors;
		if ((mrc = mdb_get(txn, ts->db_deps, &k, &v)) == 0) {
			struct ml_reader r = ml_reader_make(v.mv_data, v.mv_size);
			uint64_t c0 = ml_read_uvarint(&r), e0 = ml_read_uvarint(&r);
			if (!r.bad) {
				calls += c0;
				errors += e0;
			}
		} else if (mrc != MDB_NOTFOUND) {
			return mdb_fail(err, mrc, "reading trace_deps");
		}
		uint8_t vb[20];
		struct ml_buf vbuf = {vb, 0, sizeof(vb), false};
		ml_buf_put_uvarint(&vbuf, calls);
		ml_buf_put_uvarint(&vbuf, errors);
		v = (MDB_val){vbuf.len, vb};
		if ((mrc = mdb_put(txn, ts->db_deps, &k, &v, 0)) != 0)
			return mdb_fail(err, mrc, "writing trace_deps");
	}
	for (size_t i = 0; i < op->n_recs; i++) {
		ml_be64_put(kb, op->seqs[i]);
		k = (MDB_val){8, kb};
		mrc = mdb_del(txn, ts->db_head, &k, NULL);
		if (mrc != 0 && mrc != MDB_NOTFOUND)
			return mdb_fail(err, mrc, "deleting compacted head records");
	}
	return 0;
}

static void compact_published(void *ctx)
{
	struct compact_op *op = ctx;
	struct ml_trace_store *ts = op->ts;
	pthread_rwlock_wrlock(&ts->head.lock);
	ml_trace_head_drop(&ts->head, op->n_recs);
	pthread_rwlock_unlock(&ts->head.lock);
	atomic_fetch_add(&ts->blocks, 1);
	atomic_fetch_add(&ts->block_spans, op->b->meta.n_spans);
	atomic_fetch_add(&ts->compactions, 1);
}

/*
 * Compacts the oldest head records holding up to max_spans spans (at least
 * one record) into one block. compact_mu held. *done = spans compacted.
 */
static int compact_once(struct ml_trace_store *ts, size_t max_spans, size_t *done, struct ml_err *err)
{
	struct ml_head_span **spans = NULL;
	uint64_t *seqs = NULL;
	bool *closed = NULL;
	struct ml_dep_carry next = {0};
	struct ml_block_build b;
	size_t n_recs = 0, n = 0;
	int rc = 0;

	memset(&b, 0, sizeof(b));
	*done = 0;
	pthread_rwlock_rdlock(&ts->head.lock);
	while (n_recs < ts->head.n_recs && (n_recs == 0 || n + ml_trace_head_rec(&ts->head, n_recs)->n_spans <= max_spans))
		n += ml_trace_head_rec(&ts->head, n_recs++)->n_spans;
	spans = ml_malloc((n ? n : 1) * sizeof(*spans));
	seqs = ml_malloc((n_recs ? n_recs : 1) * sizeof(*seqs));
	if (spans != NULL && seqs != NULL) {
		/* Only compaction frees head spans, and it is serialised by
		 * compact_mu, so the pointers stay valid after unlocking. */
		for (size_t i = 0; i < n; i++)
			spans[i] = ml_trace_head_span(&ts->head, i);
		for (size_t i = 0; i < n_recs; i++)
			seqs[i] = ml_trace_head_rec(&ts->head, i)->seq;
	}
	pthread_rwlock_unlock(&ts->head.lock);
	if (spans == NULL || seqs == NULL) {
		rc = ml_err_set(err, ML_ENOMEM, "compaction: out of memory");
		goto fail;
	}
	if (n_recs == 0)
		goto fail;
	rc = ml_block_build(spans, n, ts->next_block, ts->opt.zstd_level_block, &b, err);
	if (rc != 0)
		goto fail;
	closed = ml_calloc(b.n_orphans ? b.n_orphans : 1, sizeof(*closed));
	if (closed == NULL || ml_dep_carry_link(&ts->carry, &b, closed) != 0 ||
	    ml_dep_carry_make(&next, &b, closed) != 0) {
		rc = ml_err_set(err, ML_ENOMEM, "compaction: out of memory");
		goto fail;
	}
	struct compact_op op = {ts, &b, seqs, n_recs};
	struct ml_write_op wop = {compact_apply, compact_published, &op};
	rc = ml_store_write(ts->env, &wop, err);
	if (rc != 0)
		goto fail;
	ts->next_block++;
	*done = n;
	ml_dep_carry_free(&ts->carry);
	ts->carry = next;
	memset(&next, 0, sizeof(next));
fail:
	ml_dep_carry_free(&next);
	ml_block_build_free(&b);
	ml_free(closed);
	ml_free(spans);
	ml_free(seqs);
	return rc;
}

static int compact_all_locked(struct ml_trace_store *ts, struct ml_err *err)
{
	pthread_rwlock_rdlock(&ts->head.lock);
	size_t left = ts->head.n_spans;
	pthread_rwlock_unlock(&ts->head.lock);
	while (left > 0) {
		size_t done = 0;
		int rc = compact_once(ts, ts->opt.head_max_spans, &done, err);
		if (rc != 0)
			return rc;
		if (done == 0)
			break;
		left = done >= left ? 0 : left - done;
	}
	return 0;
}

int ml_trace_store_compact(struct ml_trace_store *ts, struct ml_err *err)
{
	pthread_mutex_lock(&ts->compact_mu);
	int rc = compact_all_locked(ts, err);
	pthread_mutex_unlock(&ts->compact_mu);
	return rc;
}

/* ---- retention -------------------------------------------------------- */

/* Keys to delete, each as be16 length ‖ bytes. */
struct keylist {
	struct ml_buf b;
	size_t n;
};

static void keylist_add(struct keylist *l, const void *k, size_t n)
{
	uint8_t len[2] = {(uint8_t)(n >> 8), (uint8_t)n};
	ml_buf_append(&l->b, len, 2);
	ml_buf_append(&l->b, k, n);
	l->n++;
}

struct del_op {
	MDB_dbi dbi;
	const uint8_t *p, *end, *stopped;
};

static int del_apply(MDB_txn *txn, void *ctx, struct ml_err *err)
{
	struct del_op *op = ctx;
	const uint8_t *q = op->p;
	for (size_t i = 0; i < ML_TRACE_RETENTION_BATCH && q + 2 <= op->end; i++) {
		size_t n = ((size_t)q[0] << 8) | q[1];
		MDB_val k = {n, (void *)(q + 2)};
		int mrc = mdb_del(txn, op->dbi, &k, NULL);
		if (mrc != 0 && mrc != MDB_NOTFOUND)
			return mdb_fail(err, mrc, "retention delete");
		q += 2 + n;
	}
	op->stopped = q;
	return 0;
}

/* Deletes the listed keys from dbi in transactions of bounded size. */
static int delete_keys(struct ml_trace_store *ts, MDB_dbi dbi, const struct keylist *l,
		       struct ml_err *err)
{
	if (!ml_buf_ok(&l->b))
		return ml_err_set(err, ML_ENOMEM, "retention: out of memory");
	struct del_op op = {dbi, l->b.data, l->b.data + l->b.len, NULL};
	while (op.p < op.end) {
		struct ml_write_op wop = {del_apply, NULL, &op};
		int rc = ml_store_write(ts->env, &wop, err);
		if (rc != 0)
			return rc;
		op.p = op.stopped;
	}
	return 0;
}

/* The index keys of every trace in a block, read from its pages. */
static int block_index_keys(struct ml_trace_store *ts, uint32_t id, uint32_t n_pages,
			    struct keylist *out)
{
	MDB_txn *txn = NULL;
	struct ml_arena *a = ml_arena_create(0);
	int rc = a == NULL ? ML_ENOMEM : ml_store_read_begin(ts->env, &txn);
	uint8_t key[20];
	bool have_last = false;

	for (uint32_t p = 0; rc == 0 && p < n_pages; p++) {
		uint8_t kb[8];
		ml_be32_put(kb, id);
		ml_be32_put(kb + 4, p);
		MDB_val k = {8, kb}, v;
		if (mdb_get(txn, ts->db_blocks, &k, &v) != 0)
			continue;
		const uint8_t *raw;
		size_t raw_len;
		uint32_t ns;
		if (ml_block_page_open(v.mv_data, v.mv_size, a, &raw, &raw_len, &ns) != 0)
			continue; /* unreadable: its index entries stay, harmlessly */
		struct ml_span_dec d;
		ml_span_dec_init(&d, raw, raw_len, true, false);
		for (uint32_t i = 0; i < ns; i++) {
			struct ml_span s;
			if (ml_span_decode(&d, a, &s) != 0)
				break;
			if (have_last && memcmp(key, s.trace_id, 16) == 0)
				continue;
			memcpy(key, s.trace_id, 16);
			ml_be32_put(key + 16, id);
			have_last = true;
			keylist_add(out, key, 20);
		}
		ml_span_dec_free(&d);
		ml_arena_reset(a);
	}
	ml_store_read_end(txn);
	ml_arena_destroy(a);
	if (rc == 0 && !ml_buf_ok(&out->b))
		rc = ML_ENOMEM;
	return rc;
}

/* Deletes name-index entries last seen before cutoff, and dependency hours before it. */
static int expire_names(struct ml_trace_store *ts, uint64_t cutoff, struct ml_err *err)
{
	MDB_dbi dbis[4] = {ts->db_services, ts->db_ops, ts->db_remote, ts->db_deps};
	for (int d = 0; d < 4; d++) {
		MDB_txn *txn = NULL;
		MDB_cursor *cur = NULL;
		MDB_val k, v;
		struct keylist l = {ML_BUF_INIT, 0};
		int rc = ml_store_read_begin(ts->env, &txn);
		if (rc == 0 && mdb_cursor_open(txn, dbis[d], &cur) != 0)
			rc = ML_EIO;
		for (int mrc = rc ? MDB_NOTFOUND : mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrc == 0;
		     mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
			if (d < 3) {
				if (v.mv_size == 8 && ml_be64_get(v.mv_data) < cutoff)
					keylist_add(&l, k.mv_data, k.mv_size);
			} else {
				/* Keys start with the hour: stop at the first one kept. */
				if (k.mv_size < 4 ||
				    (uint64_t)ml_be32_get(k.mv_data) + 1 > cutoff / ML_BLOCK_DEP_BUCKET_NS)
					break;
				keylist_add(&l, k.mv_data, k.mv_size);
			}
		}
		if (cur != NULL)
			mdb_cursor_close(cur);
		ml_store_read_end(txn);
		if (rc == 0 && l.n)
			rc = delete_keys(ts, dbis[d], &l, err);
		else if (rc != 0)
			ml_err_set(err, rc, "retention: cannot read the name indexes");
		ml_buf_free(&l.b);
		if (rc != 0)
			return rc;
	}
	return 0;
}

struct old_block {
	uint32_t id, n_pages;
	uint64_t n_spans;
};

int ml_trace_store_apply_retention(struct ml_trace_store *ts, uint64_t now_ns, struct ml_err *err)
{
	struct old_block *old = NULL;
	size_t n_old = 0, cap_old = 0;
	struct keylist l = {ML_BUF_INIT, 0};
	MDB_txn *txn = NULL;
	MDB_cursor *cur = NULL;
	struct ml_arena *a = NULL;
	int rc = 0;

	if (ts->opt.retention_ns == 0 || now_ns <= ts->opt.retention_ns)
		return 0;
	uint64_t cutoff = now_ns - ts->opt.retention_ns;
	pthread_mutex_lock(&ts->compact_mu);
	pthread_rwlock_rdlock(&ts->head.lock);
	bool head_old = ts->head.n_spans > 0 && ts->head.min_start_ns < cutoff;
	pthread_rwlock_unlock(&ts->head.lock);
	if (head_old && (rc = compact_all_locked(ts, err)) != 0)
		goto fail;

	a = ml_arena_create(0);
	if (a == NULL || (rc = ml_store_read_begin(ts->env, &txn)) != 0 ||
	    mdb_cursor_open(txn, ts->db_meta, &cur) != 0) {
		rc = ml_err_set(err, rc ? rc : ML_ENOMEM, "retention: cannot read block summaries");
		goto fail;
	}
	MDB_val k, v;
	for (int mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrc == 0;
	     mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		struct ml_block_meta m;
		if (k.mv_size != 4 ||
		    ml_block_meta_decode(v.mv_data, v.mv_size, ml_be32_get(k.mv_data), a, &m) != 0)
			continue;
		ml_arena_reset(a);
		if (m.max_start >= cutoff)
			continue;
		if (n_old == cap_old) {
			size_t nc = cap_old ? cap_old * 2 : 16;
			void *no = ml_realloc(old, nc * sizeof(*old));
			if (no == NULL) {
				rc = ml_err_set(err, ML_ENOMEM, "retention: out of memory");
				goto fail;
			}
			old = no;
			cap_old = nc;
		}
		old[n_old++] = (struct old_block){m.id, m.n_pages, m.n_spans};
	}
	mdb_cursor_close(cur);
	cur = NULL;
	ml_store_read_end(txn);
	txn = NULL;

	for (size_t b = 0; b < n_old; b++) {
		ml_buf_clear(&l.b);
		l.n = 0;
		if ((rc = block_index_keys(ts, old[b].id, old[b].n_pages, &l)) != 0) {
			ml_err_set(err, rc, "retention: cannot list the traces of block %u", old[b].id);
			goto fail;
		}
		if ((rc = delete_keys(ts, ts->db_index, &l, err)) != 0)
			goto fail;
		/* Pages and the summary go last: until then a crash leaves a
		 * block that the next pass finds and deletes again. */
		ml_buf_clear(&l.b);
		l.n = 0;
		uint8_t kb[8];
		for (uint32_t p = 0; p < old[b].n_pages; p++) {
			ml_be32_put(kb, old[b].id);
			ml_be32_put(kb + 4, p);
			keylist_add(&l, kb, 8);
		}
		if ((rc = delete_keys(ts, ts->db_blocks, &l, err)) != 0)
			goto fail;
		ml_buf_clear(&l.b);
		l.n = 0;
		ml_be32_put(kb, old[b].id);
		keylist_add(&l, kb, 4);
		if ((rc = delete_keys(ts, ts->db_meta, &l, err)) != 0)
			goto fail;
		atomic_fetch_sub(&ts->blocks, 1);
		atomic_fetch_sub(&ts->block_spans, old[b].n_spans);
		atomic_fetch_add(&ts->retention_deleted, old[b].n_spans);
	}
	rc = expire_names(ts, cutoff, err);
fail:
	if (cur != NULL)
		mdb_cursor_close(cur);
	ml_store_read_end(txn);
	pthread_mutex_unlock(&ts->compact_mu);
	ml_arena_destroy(a);
	ml_free(old);
	ml_buf_free(&l.b);
	return rc;
}

/* ---- background thread ------------------------------------------------ */

#define BG_TICK_NS 1000000000ULL
#define RETENTION_EVERY_NS (60ULL * 1000000000ULL)

static void *bg_main(void *arg)
{
	struct ml_trace_store *ts = arg;
	uint64_t last_retention = 0;
	pthread_mutex_lock(&ts->bg_mu);
	while (!ts->bg_stop) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 1;
		pthread_cond_timedwait(&ts->bg_cv, &ts->bg_mu, &until);
		if (ts->bg_stop)
			break;
		pthread_mutex_unlock(&ts->bg_mu);

		uint64_t now = ml_trace_now_ns();
		pthread_rwlock_rdlock(&ts->head.lock);
		size_t n = ts->head.n_spans;
		uint64_t oldest = ts->head.n_recs ? ml_trace_head_rec(&ts->head, 0)->time_ns : now;
		pthread_rwlock_unlock(&ts->head.lock);
		struct ml_err err = {{0}};
		if (n > 0 && (n >= ts->opt.head_max_spans || now - oldest >= ts->opt.head_max_age_ns ||
			      oldest > now)) {
			size_t done = 0;
			pthread_mutex_lock(&ts->compact_mu);
			int rc = compact_once(ts, ts->opt.head_max_spans, &done, &err);
			pthread_mutex_unlock(&ts->compact_mu);
			if (rc != 0 && rc != ML_ESHUTDOWN)
				ml_log(ML_LOG_ERROR, "msg=\"trace compaction failed\" err=\"%s\"", err.msg);
		}
		if (ts->opt.retention_ns && now - last_retention >= RETENTION_EVERY_NS) {
			last_retention = now;
			int rc = ml_trace_store_apply_retention(ts, now, &err);
			if (rc != 0 && rc != ML_ESHUTDOWN)
				ml_log(ML_LOG_ERROR, "msg=\"trace retention failed\" err=\"%s\"", err.msg);
		}
		pthread_mutex_lock(&ts->bg_mu);
	}
	pthread_mutex_unlock(&ts->bg_mu);
	return NULL;
}

/* ---- open / close / stats --------------------------------------------- */

struct ml_trace_store *ml_trace_store_open(struct ml_store *env,
					   const struct ml_trace_store_options *opt,
					   struct ml_err *err)
{
	struct ml_trace_store *ts = ml_calloc(1, sizeof(*ts));
	if (ts == NULL) {
		ml_err_set(err, ML_ENOMEM, "trace store: out of memory");
		return NULL;
	}
	ts->env = env;
	if (opt != NULL)
		ts->opt = *opt;
	if (ts->opt.head_max_spans == 0)
		ts->opt.head_max_spans = ML_TRACE_DEFAULT_HEAD_SPANS;
	if (ts->opt.head_max_age_ns == 0)
		ts->opt.head_max_age_ns = ML_TRACE_DEFAULT_HEAD_AGE_NS;
	if (ts->opt.zstd_level_head == 0)
		ts->opt.zstd_level_head = ML_TRACE_DEFAULT_LEVEL_HEAD;
	if (ts->opt.zstd_level_block == 0)
		ts->opt.zstd_level_block = ML_TRACE_DEFAULT_LEVEL_BLOCK;
	pthread_mutex_init(&ts->compact_mu, NULL);
	pthread_mutex_init(&ts->bg_mu, NULL);
	pthread_cond_init(&ts->bg_cv, NULL);
	if (ml_trace_head_init(&ts->head) != 0) {
		ml_err_set(err, ML_ENOMEM, "trace store: out of memory");
		ml_free(ts);
		return NULL;
	}
	struct {
		const char *name;
		MDB_dbi *dbi;
	} dbs[] = {
		{"trace_head", &ts->db_head},
		{"trace_blocks", &ts->db_blocks},
		{"trace_index", &ts->db_index},
		{"trace_block_meta", &ts->db_meta},
		{"trace_services", &ts->db_services},
		{"trace_operations", &ts->db_ops},
		{"trace_remote_services", &ts->db_remote},
		{"trace_deps", &ts->db_deps},
	};
	for (size_t i = 0; i < sizeof(dbs) / sizeof(dbs[0]); i++)
		if (ml_store_dbi(env, dbs[i].name, 0, dbs[i].dbi, err) != 0)
			goto fail;
	if (replay_head(ts, err) != 0 || scan_blocks(ts, err) != 0)
		goto fail;
	if (pthread_create(&ts->bg, NULL, bg_main, ts) != 0) {
		ml_err_set(err, ML_EIO, "trace store: cannot start the compaction thread");
		goto fail;
	}
	ts->bg_started = true;
	return ts;
fail:
	ml_trace_store_close(ts);
	return NULL;
}

void ml_trace_store_close(struct ml_trace_store *ts)
{
	if (ts == NULL)
		return;
	if (ts->bg_started) {
		pthread_mutex_lock(&ts->bg_mu);
		ts->bg_stop = true;
		pthread_cond_signal(&ts->bg_cv);
		pthread_mutex_unlock(&ts->bg_mu);
		pthread_join(ts->bg, NULL);
	}
	ml_trace_head_free(&ts->head);
	ml_dep_carry_free(&ts->carry);
	pthread_mutex_destroy(&ts->compact_mu);
	pthread_mutex_destroy(&ts->bg_mu);
	pthread_cond_destroy(&ts->bg_cv);
	ml_free(ts);
}

void ml_trace_store_stats(struct ml_trace_store *ts, struct ml_trace_store_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->spans_appended = atomic_load(&ts->spans_appended);
	pthread_rwlock_rdlock(&ts->head.lock);
	out->head_spans = ts->head.n_spans;
	pthread_rwlock_unlock(&ts->head.lock);
	out->blocks = atomic_load(&ts->blocks);
	out->block_spans = atomic_load(&ts->block_spans);
	out->compactions = atomic_load(&ts->compactions);
	out->retention_deleted_spans = atomic_load(&ts->retention_deleted);
}
