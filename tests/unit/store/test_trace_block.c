/*
 * test_trace_block.c - compacted blocks: pages never split a trace, the
 * index points at the right pages, summaries describe what the block holds,
 * corrupt values are rejected; and the size a realistic Envoy span mix takes
 * on disk (bytes per span) with append and compaction throughput.
 */
#include "store_fixtures.h"

#include <time.h>

#include "core/alloc.h"
#include "core/error.h"
#include "store/span_codec.h"
#include "store/trace_block.h"
#include "store/trace_head.h"

static struct ml_arena *arena;

static void setup(void)
{
	arena = ml_arena_create(0);
}

static void teardown(void)
{
	ml_arena_destroy(arena);
}

TestSuite(trace_block, .init = setup, .fini = teardown);

/* Head spans for a batch, as append builds them. */
static struct ml_head_span **head_spans(const struct ml_span_batch *b)
{
	struct ml_head_span **hs = ml_calloc(b->n, sizeof(*hs));
	struct ml_buf one = ML_BUF_INIT;
	struct ml_span_enc e;
	ml_span_enc_init(&e, &one, false);
	for (size_t i = 0; i < b->n; i++) {
		ml_buf_clear(&one);
		ml_span_encode(&e, &b->spans[i]);
		hs[i] = ml_head_span_make(&b->spans[i], one.data, one.len);
		cr_assert_not_null(hs[i]);
	}
	ml_span_enc_free(&e);
	ml_buf_free(&one);
	return hs;
}

static void free_head_spans(struct ml_head_span **hs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		ml_free(hs[i]);
	ml_free(hs);
}

Test(trace_block, pages_index_and_summary)
{
	struct ml_span_batch b;
	uint64_t rng = 1;
	ml_span_batch_init(&b, arena);
	for (uint64_t t = 0; t < 2000; t++)
		fx_envoy_trace(&b, &rng, t, 1700000000000000000ULL + t * 1000000);
	struct ml_head_span **hs = head_spans(&b);
	struct ml_block_build blk;
	struct ml_err err = {{0}};
	cr_assert_eq(ml_block_build(hs, b.n, 42, 3, &blk, &err), 0, "%s", err.msg);
	cr_assert_gt(blk.n_pages, 1, "16,000 spans make several pages");
	cr_assert_eq(blk.n_traces, 2000);
	cr_assert_eq(blk.meta.n_spans, b.n);

	/* every page decodes; spans ascend by trace id; a trace is in one page */
	size_t total = 0;
	uint8_t prev[16] = {0};
	for (uint32_t p = 0; p < blk.n_pages; p++) {
		const uint8_t *raw;
		size_t raw_len;
		uint32_t ns;
		cr_assert_eq(ml_block_page_open(blk.pages[p].data, blk.pages[p].len, arena, &raw, &raw_len, &ns), 0);
		cr_assert_eq(ns, blk.pages[p].n_spans);
		struct ml_span_dec d;
		ml_span_dec_init(&d, raw, raw_len, true, false);
		for (uint32_t i = 0; i < ns; i++) {
			struct ml_span s;
			cr_assert_eq(ml_span_decode(&d, arena, &s), 0);
			cr_assert_geq(memcmp(s.trace_id, prev, 16), 0);
			memcpy(prev, s.trace_id, 16);
			total++;
		}
		cr_assert(ml_span_dec_done(&d));
		ml_span_dec_free(&d);
	}
	cr_assert_eq(total, b.n);
	for (size_t i = 0; i < blk.n_traces; i++)
		cr_assert_eq(blk.traces[i].first_page, blk.traces[i].last_page);

	/* the encoded summary reads back */
	struct ml_block_meta m;
	cr_assert_eq(ml_block_meta_decode(blk.meta_bytes, blk.meta_len, 42, arena, &m), 0);
	cr_assert_eq(m.id, 42);
	cr_assert_eq(m.n_spans, b.n);
	cr_assert_eq(m.n_pages, blk.n_pages);
	cr_assert_eq(m.n_entries, blk.meta.n_entries);
	cr_assert_eq(m.min_start, blk.meta.min_start);
	cr_assert_eq(m.max_start, blk.meta.max_start);
	uint64_t entry_spans = 0;
	for (uint32_t i = 0; i < m.n_entries; i++) {
		entry_spans += m.entries[i].n_spans;
		cr_assert(ml_str_eq(m.entries[i].service, blk.meta.entries[i].service));
		cr_assert_eq(m.entries[i].n_pages, blk.meta.entries[i].n_pages);
		cr_assert_leq(m.entries[i].min_dur, m.entries[i].max_dur);
	}
	cr_assert_eq(entry_spans, b.n);
	/* every client span has a server child in another service: 4 links per trace */
	uint64_t calls = 0;
	for (size_t i = 0; i < blk.n_deps; i++)
		calls += blk.deps[i].calls;
	cr_assert_eq(calls, 2000 * 4, "four client->server hops per trace, each between two services");

	/* corrupt values are refused, not crashed on */
	uint8_t *bad = ml_malloc(blk.pages[0].len);
	memcpy(bad, blk.pages[0].data, blk.pages[0].len);
	bad[blk.pages[0].len / 2] ^= 0x5a;
	const uint8_t *raw;
	size_t raw_len;
	uint32_t ns;
	cr_assert_eq(ml_block_page_open(bad, blk.pages[0].len, arena, &raw, &raw_len, &ns), ML_ECORRUPT);
	cr_assert_eq(ml_block_page_open(bad, 3, arena, &raw, &raw_len, &ns), ML_ECORRUPT);
	ml_free(bad);
	for (size_t cut = 0; cut < blk.meta_len; cut += 7)
		cr_assert_neq(ml_block_meta_decode(blk.meta_bytes, cut, 42, arena, &m), 0, "cut at %zu", cut);
	ml_block_build_free(&blk);
	free_head_spans(hs, b.n);
}

static double secs(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static uint64_t db_bytes(MDB_txn *txn, MDB_dbi dbi)
{
	MDB_stat s;
	mdb_stat(txn, dbi, &s);
	return (uint64_t)(s.ms_branch_pages + s.ms_leaf_pages + s.ms_overflow_pages) * s.ms_psize;
}

/*
 * 100,000 Envoy-like spans (12,500 traces of 8 spans, ~21 tags each) appended
 * in batches of 80 and compacted into blocks; reports what they take on disk.
 */
Test(trace_block, envoy_bytes_per_span, .timeout = 120)
{
	char dir[64];
	fx_tmpdir(dir, sizeof(dir));
	struct ml_store_options so = {.path = dir};
	struct ml_trace_store_options to = {.head_max_spans = 1000000};
	struct ml_err err = {{0}};
	struct ml_store *st = ml_store_open(&so, &err);
	cr_assert_not_null(st);
	struct ml_trace_store *ts = ml_trace_store_open(st, &to, &err);
	cr_assert_not_null(ts);

	const size_t n_traces = 12500, per_batch = 10;
	uint64_t rng = 12345;
	double t_append = 0, raw_json_bytes = 0;
	struct ml_arena *ba = ml_arena_create(0);
	for (size_t t = 0; t < n_traces; t += per_batch) {
		struct ml_span_batch b;
		ml_arena_reset(ba);
		ml_span_batch_init(&b, ba);
		for (size_t k = 0; k < per_batch; k++)
			fx_envoy_trace(&b, &rng, t + k, 1700000000000000000ULL + (t + k) * 4000000ULL);
		for (size_t i = 0; i < b.n; i++)
			for (uint32_t a = 0; a < b.spans[i].attrs.n; a++)
				raw_json_bytes += (double)(b.spans[i].attrs.items[a].key.n +
							   b.spans[i].attrs.items[a].v.s.n + 6);
		double t0 = secs();
		cr_assert_eq(ml_trace_store_append(ts, &b, &err), 0, "%s", err.msg);
		t_append += secs() - t0;
	}
	ml_arena_destroy(ba);
	double t0 = secs();
	cr_assert_eq(ml_trace_store_compact(ts, &err), 0, "%s", err.msg);
	double t_compact = secs() - t0;

	struct ml_trace_store_stats s;
	ml_trace_store_stats(ts, &s);
	size_t n = n_traces * 8;
	cr_assert_eq(s.block_spans, n);

	MDB_txn *txn;
	MDB_dbi blocks, index, meta;
	cr_assert_eq(ml_store_dbi(st, "trace_blocks", 0, &blocks, &err), 0);
	cr_assert_eq(ml_store_dbi(st, "trace_index", 0, &index, &err), 0);
	cr_assert_eq(ml_store_dbi(st, "trace_block_meta", 0, &meta, &err), 0);
	cr_assert_eq(ml_store_read_begin(st, &txn), 0);
	uint64_t b_blocks = db_bytes(txn, blocks), b_index = db_bytes(txn, index),
		 b_meta = db_bytes(txn, meta);
	uint64_t payload = 0;
	MDB_cursor *cur;
	MDB_val k, v;
	mdb_cursor_open(txn, blocks, &cur);
	for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
		payload += v.mv_size;
	mdb_cursor_close(cur);
	ml_store_read_end(txn);
	double per_span = (double)(b_blocks + b_index + b_meta) / (double)n;
	fprintf(stderr,
		"envoy mix: %zu spans; zstd page payload %.1f B/span; on disk (LMDB pages) blocks %.1f + index %.1f "
		"+ meta %.2f = %.1f B/span (tags alone ~%.0f B/span as text); append %.0f spans/s (batches of %zu, "
		"one thread, fsync each); compaction %.0f spans/s\n",
		n, (double)payload / (double)n, (double)b_blocks / (double)n, (double)b_index / (double)n,
		(double)b_meta / (double)n, per_span, raw_json_bytes / (double)n, (double)n / t_append,
		per_batch * 8, (double)n / t_compact);
	cr_assert_lt(per_span, 50.0, "%.1f bytes per span on disk", per_span);

	/* and everything reads back */
	uint64_t rng2 = 12345;
	struct ml_span_batch b;
	ml_span_batch_init(&b, arena);
	fx_envoy_trace(&b, &rng2, 0, 1700000000000000000ULL);
	struct ml_trace tr;
	cr_assert_eq(ml_trace_store_get(ts, b.spans[0].trace_id, 0, 0, arena, &tr), 0);
	cr_assert_eq(tr.n, 8);
	ml_trace_store_close(ts);
	ml_store_close(st);
	fx_rmdir(dir);
}
