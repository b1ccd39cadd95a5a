/*
 * test_tsdb.c - the TSDB end to end on a temporary LMDB store: append and
 * select, matcher forms, out-of-order and duplicate rules, WAL replay (also
 * after SIGKILL), chunk cutting across head and chunks, cold recompression,
 * retention, label names/values, metadata, id collisions.
 */
#include <criterion/criterion.h>

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/arena.h"
#include "model/labels.h"
#include "query/matcher.h"
#include "store/env.h"
#include "store/tsdb.h"

#define T0 1700000000000LL

static char dir[64];
static struct ml_store *st;
static struct ml_tsdb *db;
static struct ml_tsdb_options opts;

static void open_all(void)
{
	struct ml_err err = {{0}};
	struct ml_store_options so = {.path = dir, .max_bytes = 1ULL << 30};
	st = ml_store_open(&so, &err);
	cr_assert_not_null(st, "%s", err.msg);
	db = ml_tsdb_open(st, &opts, &err);
	cr_assert_not_null(db, "%s", err.msg);
}

static void close_all(void)
{
	ml_tsdb_close(db);
	ml_store_close(st);
	db = NULL;
	st = NULL;
}

static void setup(void)
{
	strcpy(dir, "/tmp/ml_tsdb_XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	memset(&opts, 0, sizeof(opts));
	open_all();
}

static void teardown(void)
{
	close_all();
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}

/* Appends one series given as "name,l1=v1,l2=v2" with samples t[i], v[i]. */
static struct ml_tsdb_report append(const char *series, const int64_t *t, const double *v, size_t n)
{
	struct ml_arena *a = ml_arena_create(0);
	struct ml_sample_batch b;
	ml_sample_batch_init(&b, a);
	char *copy = ml_arena_strndup(a, series, strlen(series));
	struct ml_label ls[16];
	uint32_t nl = 0;
	char *save = NULL;
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		if (nl == 0 && eq == NULL) {
			ls[nl].name = ML_STR("__name__");
			ls[nl].value = ml_str_make(tok, strlen(tok));
		} else {
			*eq = 0;
			ls[nl].name = ml_str_make(tok, strlen(tok));
			ls[nl].value = ml_str_make(eq + 1, strlen(eq + 1));
		}
		nl++;
	}
	struct ml_series_samples *s = ml_sample_batch_add(&b, nl, (uint32_t)n);
	memcpy(s->labels, ls, nl * sizeof(*ls));
	for (size_t i = 0; i < n; i++) {
		s->samples[i].t_ms = t[i];
		s->samples[i].v = v[i];
	}
	struct ml_tsdb_report rep;
	struct ml_err err = {{0}};
	cr_assert_eq(ml_tsdb_append(db, &b, &rep, &err), 0, "%s", err.msg);
	ml_arena_destroy(a);
	return rep;
}

static struct ml_tsdb_report append1(const char *series, int64_t t, double v)
{
	return append(series, &t, &v, 1);
}

/* Selects with matchers given as "name=value" / "name!=value" / "=~" / "!~". */
struct result {
	int n_series;
	char labels[16][256];
	size_t n_samples[16];
	struct ml_sample samples[16][1200];
};

static unsigned select_hints; /* what do_select passes to ml_tsdb_select */

static int do_select(const char *const *spec, size_t n, int64_t mint, int64_t maxt, struct result *r,
		     struct ml_err *err)
{
	struct ml_matcher m[8], *mp[8];
	for (size_t i = 0; i < n; i++) {
		const char *s = spec[i], *op = strpbrk(s, "=!");
		enum ml_match_type ty = op[0] == '=' ? (op[1] == '~' ? ML_MATCH_RE : ML_MATCH_EQ)
						     : (op[1] == '~' ? ML_MATCH_NRE : ML_MATCH_NEQ);
		const char *val = op + (ty == ML_MATCH_EQ ? 1 : 2);
		cr_assert_eq(ml_matcher_init(&m[i], ty, s, (size_t)(op - s), val, strlen(val), err), 0, "%s",
			     err->msg);
		mp[i] = &m[i];
	}
	struct ml_tsdb_series_set *set = NULL;
	int rc = ml_tsdb_select(db, mp, n, mint, maxt, select_hints, &set, err);
	memset(r, 0, sizeof(*r));
	while (rc >= 0 && set && (rc = ml_tsdb_series_set_next(set, err)) == 1) {
		cr_assert_lt(r->n_series, 16);
		ml_labels_format(ml_tsdb_series_set_labels(set), r->labels[r->n_series], 256);
		const struct ml_sample *s;
		size_t ns;
		ml_tsdb_series_set_samples(set, &s, &ns);
		cr_assert_leq(ns, 1200);
		memcpy(r->samples[r->n_series], s, ns * sizeof(*s));
		r->n_samples[r->n_series] = ns;
		r->n_series++;
	}
	ml_tsdb_series_set_free(set);
	for (size_t i = 0; i < n; i++)
		ml_matcher_fini(&m[i]);
	return rc;
}

static struct result res;

static void sel(const char *const *spec, size_t n)
{
	struct ml_err err = {{0}};
	cr_assert_eq(do_select(spec, n, INT64_MIN, INT64_MAX, &res, &err), 0, "%s", err.msg);
}

#define SEL(...)                                                     \
	do {                                                         \
		const char *spec_[] = {__VA_ARGS__};                 \
		sel(spec_, sizeof(spec_) / sizeof(spec_[0]));        \
	} while (0)

static uint64_t bits(double v)
{
	uint64_t b;
	memcpy(&b, &v, 8);
	return b;
}

static double stale(void)
{
	uint64_t b = ML_STALE_NAN_BITS;
	double v;
	memcpy(&v, &b, 8);
	return v;
}

TestSuite(tsdb, .init = setup, .fini = teardown);

static void mesh_fixture(void)
{
	append1("req,svc=api,code=200", T0, 1);
	append1("req,svc=api,code=503", T0, 2);
	append1("req,svc=web,code=200", T0, 3);
	append1("req,svc=db", T0, 4);
	append1("up,svc=api", T0, 1);
}

Test(tsdb, append_then_select_in_label_order)
{
	int64_t t[] = {T0, T0 + 15000, T0 + 30000};
	double v[] = {1, 2.5, stale()};
	struct ml_tsdb_report rep = append("req,svc=api,code=200", t, v, 3);
	cr_assert_eq(rep.samples_accepted, 3);
	cr_assert_eq(rep.series_created, 1);
	append1("req,svc=api,code=404", T0, 7);
	SEL("svc=api");
	cr_assert_eq(res.n_series, 2);
	cr_assert_str_eq(res.labels[0], "req{code=\"200\", svc=\"api\"}");
	cr_assert_str_eq(res.labels[1], "req{code=\"404\", svc=\"api\"}");
	cr_assert_eq(res.n_samples[0], 3);
	cr_assert_eq(res.samples[0][1].t_ms, T0 + 15000);
	cr_assert_eq(res.samples[0][1].v, 2.5);
	cr_assert_eq(bits(res.samples[0][2].v), ML_STALE_NAN_BITS, "staleness marker bit-exact from the head");
	/* time range */
	struct ml_err err;
	const char *spec[] = {"__name__=req"};
	cr_assert_eq(do_select(spec, 1, T0 + 1, T0 + 15000, &res, &err), 0);
	cr_assert_eq(res.n_series, 1, "the 404 series has no sample in range");
	cr_assert_eq(res.n_samples[0], 1);
}

Test(tsdb, matcher_forms)
{
	mesh_fixture();
	SEL("__name__=req", "code=200");
	cr_assert_eq(res.n_series, 2);
	SEL("__name__=req", "code!=200");
	cr_assert_eq(res.n_series, 2, "503 and the series without code");
	SEL("__name__=req", "code=");
	cr_assert_eq(res.n_series, 1, "code=\"\" selects series lacking code");
	cr_assert_str_eq(res.labels[0], "req{svc=\"db\"}");
	SEL("__name__=req", "code!=");
	cr_assert_eq(res.n_series, 3);
	SEL("__name__=~req|up", "svc=api");
	cr_assert_eq(res.n_series, 3);
	SEL("__name__=req", "code=~5..");
	cr_assert_eq(res.n_series, 1);
	SEL("__name__=req", "code=~5");
	cr_assert_eq(res.n_series, 0, "regex is anchored");
	SEL("__name__=req", "code!~5..");
	cr_assert_eq(res.n_series, 3, "!~ keeps series lacking the label");
	SEL("__name__=req", "code=~2..|");
	cr_assert_eq(res.n_series, 3, "a regex matching empty keeps series lacking the label");
	SEL("svc=~a.*|w.*");
	cr_assert_eq(res.n_series, 4);
	SEL("nolabel=x");
	cr_assert_eq(res.n_series, 0);

	struct ml_err err = {{0}};
	const char *only_empty[] = {"code=~.*"};
	cr_assert_eq(do_select(only_empty, 1, INT64_MIN, INT64_MAX, &res, &err), ML_EINVAL);
	cr_assert(strstr(err.msg, "non-empty matcher"), "%s", err.msg);
}

Test(tsdb, out_of_order_and_duplicates)
{
	append1("m", T0, 1);
	append1("m", T0 + 60000, 2);
	struct ml_tsdb_report r = append1("m", T0 + 30000, 9); /* within 10 min */
	cr_assert_eq(r.samples_accepted, 1);
	r = append1("m", T0 + 60000, 2);
	cr_assert_eq(r.samples_accepted, 1, "same timestamp and value: accepted silently");
	cr_assert_eq(r.samples_rejected, 0);
	r = append1("m", T0 + 60000, 3);
	cr_assert_eq(r.duplicate, 1);
	cr_assert(strstr(r.first_error.msg, "duplicate sample for timestamp"), "%s", r.first_error.msg);
	cr_assert(strstr(r.first_error.msg, "m{}") && strstr(r.first_error.msg, "1700000060000"), "%s",
		  r.first_error.msg);
	r = append1("m", T0 + 30000, 10);
	cr_assert_eq(r.duplicate, 1, "duplicate detected for an out-of-order timestamp too");
	r = append1("m", T0 + 60000 - 11 * 60000, 5);
	cr_assert_eq(r.out_of_order, 1);
	cr_assert(strstr(r.first_error.msg, "too old sample"), "%s", r.first_error.msg);
	/* partial success within one batch */
	int64_t t[] = {T0 + 90000, T0 - 3600000, T0 + 120000};
	double v[] = {1, 1, 1};
	r = append("m", t, v, 3);
	cr_assert_eq(r.samples_accepted, 2);
	cr_assert_eq(r.samples_rejected, 1);
	SEL("__name__=m");
	cr_assert_eq(res.n_samples[0], 5);
	int64_t want[] = {T0, T0 + 30000, T0 + 60000, T0 + 90000, T0 + 120000};
	for (int i = 0; i < 5; i++)
		cr_assert_eq(res.samples[0][i].t_ms, want[i], "merged in order");
	cr_assert_eq(res.samples[0][1].v, 9);
}

Test(tsdb, out_of_order_disabled)
{
	close_all();
	opts.ooo_window_ms = -1;
	open_all();
	append1("m", T0, 1);
	struct ml_tsdb_report r = append1("m", T0 - 1, 1);
	cr_assert_eq(r.out_of_order, 1);
	cr_assert(strstr(r.first_error.msg, "out of order sample"), "%s", r.first_error.msg);
}

Test(tsdb, invalid_series_rejected_with_its_name)
{
	struct ml_arena *a = ml_arena_create(0);
	struct ml_sample_batch b;
	ml_sample_batch_init(&b, a);
	struct ml_series_samples *s = ml_sample_batch_add(&b, 2, 2);
	s->labels[0] = (struct ml_label){ML_STR("__name__"), ML_STR("ok_metric")};
	s->labels[1] = (struct ml_label){ML_STR("bad-name"), ML_STR("x")};
	s->samples[0] = (struct ml_sample){T0, 1};
	s->samples[1] = (struct ml_sample){T0 + 1, 1};
	s = ml_sample_batch_add(&b, 1, 1);
	s->labels[0] = (struct ml_label){ML_STR("__name__"), ML_STR("good")};
	s->samples[0] = (struct ml_sample){T0, 1};
	struct ml_tsdb_report rep;
	struct ml_err err = {{0}};
	cr_assert_eq(ml_tsdb_append(db, &b, &rep, &err), 0);
	cr_assert_eq(rep.series_rejected, 1);
	cr_assert_eq(rep.samples_rejected, 2);
	cr_assert_eq(rep.samples_accepted, 1);
	cr_assert(strstr(rep.first_error.msg, "ok_metric{") && strstr(rep.first_error.msg, "bad-name"), "%s",
		  rep.first_error.msg);
	ml_arena_destroy(a);
}

Test(tsdb, wal_replay_after_close)
{
	int64_t t[] = {T0, T0 + 15000};
	double v[] = {1, stale()};
	append("req,svc=api", t, v, 2);
	append1("req,svc=web", T0, 3);
	close_all();
	open_all();
	SEL("__name__=req");
	cr_assert_eq(res.n_series, 2);
	cr_assert_eq(res.n_samples[0], 2);
	cr_assert_eq(bits(res.samples[0][1].v), ML_STALE_NAN_BITS);
	/* the replayed head still judges duplicates */
	struct ml_tsdb_report r = append1("req,svc=api", T0 + 15000, 4);
	cr_assert_eq(r.duplicate, 1);
}

Test(tsdb, kill9_right_after_append_loses_nothing)
{
	close_all();
	int fds[2];
	cr_assert_eq(pipe(fds), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		close(fds[0]);
		open_all();
		for (int i = 0; i < 50; i++) {
			append1("killed,i=x", T0 + i * 1000, i);
			char c = 1;
			if (write(fds[1], &c, 1) != 1)
				_exit(2);
		}
		for (;;)
			pause();
	}
	close(fds[1]);
	char c;
	int got = 0;
	while (got < 20 && read(fds[0], &c, 1) == 1)
		got++;
	kill(pid, SIGKILL); /* appends 0..19 have returned */
	int status;
	waitpid(pid, &status, 0);
	close(fds[0]);
	open_all();
	SEL("__name__=killed");
	cr_assert_eq(res.n_series, 1);
	cr_assert_geq(res.n_samples[0], 20, "only %zu of 20 acknowledged samples survived", res.n_samples[0]);
	for (size_t i = 0; i < res.n_samples[0]; i++)
		cr_assert_eq(res.samples[0][i].t_ms, T0 + (int64_t)i * 1000);
}

Test(tsdb, chunks_cut_and_read_across_head_and_store)
{
	enum { N = 1000 };
	int64_t t[N];
	double v[N];
	for (int i = 0; i < N; i++) {
		t[i] = T0 + i * 15000LL;
		v[i] = (i == 500) ? stale() : i * 0.5;
	}
	for (int i = 0; i < N; i += 100)
		append("cpu,pod=a", t + i, v + i, 100);
	struct ml_tsdb_stats s0, s1;
	cr_assert_eq(ml_tsdb_stats(db, &s0), 0);
	cr_assert_eq(s0.stored_chunks, 0);
	cr_assert_eq(s0.wal_records, 10);
	struct ml_err err = {{0}};
	cr_assert_eq(ml_tsdb_maintain(db, t[N - 1], &err), 0, "%s", err.msg);
	cr_assert_eq(ml_tsdb_stats(db, &s1), 0);
	cr_assert_geq(s1.stored_chunks, 6, "closed chunks older than the OOO window are written");
	cr_assert_lt(s1.head_samples, 200);
	cr_assert_lt(s1.wal_records, s0.wal_records, "WAL checkpointed");
	SEL("__name__=cpu");
	cr_assert_eq(res.n_samples[0], N);
	for (int i = 0; i < N; i++) {
		cr_assert_eq(res.samples[0][i].t_ms, t[i], "sample %d", i);
		cr_assert_eq(bits(res.samples[0][i].v), bits(v[i]), "sample %d", i);
	}
	/* replay after the checkpoint: no loss, no duplicates */
	close_all();
	open_all();
	SEL("__name__=cpu");
	cr_assert_eq(res.n_samples[0], N);
	/* a sample older than the stored chunks is too old */
	struct ml_tsdb_report r = append1("cpu,pod=a", T0 + 7, 1);
	cr_assert_eq(r.out_of_order, 1);
	/* idle flush: the open chunk goes to disk too, the WAL empties */
	cr_assert_eq(ml_tsdb_maintain(db, t[N - 1] + 2 * 3600 * 1000, &err), 0, "%s", err.msg);
	cr_assert_eq(ml_tsdb_stats(db, &s1), 0);
	cr_assert_eq(s1.head_samples, 0, "head %llu samples %llu chunks", (unsigned long long)s1.head_samples, (unsigned long long)s1.head_chunks);
	cr_assert_eq(s1.wal_records, 0);
	SEL("__name__=cpu");
	cr_assert_eq(res.n_samples[0], N);
	/* the series comes back after eviction and keeps its rules */
	r = append1("cpu,pod=a", t[N - 1], 5);
	cr_assert_eq(r.out_of_order, 1);
	r = append1("cpu,pod=a", t[N - 1] + 15000, 5);
	cr_assert_eq(r.samples_accepted, 1);
	cr_assert_eq(r.series_created, 0);
	SEL("__name__=cpu");
	cr_assert_eq(res.n_samples[0], N + 1);
}

/* Reopens with chunks going cold after 1 h into 24 h groups. */
static void reopen_cold(size_t max_ops_per_txn)
{
	close_all();
	opts.max_ops_per_txn = max_ops_per_txn;
	opts.cold_after_ms = 3600 * 1000;
	opts.cold_window_ms = 24 * 3600 * 1000;
	open_all();
}

static void cold_chunks_recompressed(size_t max_ops_per_txn)
{
	reopen_cold(max_ops_per_txn);
	enum { N = 1100 };
	static int64_t t[N];
	static double v[N];
	for (int i = 0; i < N; i++) {
		t[i] = T0 + i * 15000LL;
		v[i] = (double)(i % 17);
	}
	append("disk,pod=b", t, v, N);
	struct ml_err err = {{0}};
	int64_t now = t[N - 1] + 3 * 3600 * 1000;
	cr_assert_eq(ml_tsdb_maintain(db, now, &err), 0, "%s", err.msg);
	struct ml_tsdb_stats s;
	cr_assert_eq(ml_tsdb_stats(db, &s), 0);
	cr_assert_leq(s.stored_chunks, 3, "%llu chunks: cold chunks were not grouped",
		      (unsigned long long)s.stored_chunks);
	SEL("__name__=disk");
	cr_assert_eq(res.n_samples[0], N);
	for (int i = 0; i < N; i++)
		cr_assert_eq(res.samples[0][i].v, v[i]);
	struct ml_err e2;
	const char *spec[] = {"__name__=disk"};
	cr_assert_eq(do_select(spec, 1, t[200], t[300], &res, &e2), 0);
	cr_assert_eq(res.n_samples[0], 101);
}

Test(tsdb, cold_chunks_recompressed_and_readable)
{
	cold_chunks_recompressed(opts.max_ops_per_txn);
}

/*
 * Chunks go cold one after another (a maintenance pass every few seconds):
 * each newly cold chunk joins the cold group of its series and window,
 * so a day of data ends as one zstd record, not one per pass.
 */
Test(tsdb, chunks_going_cold_one_by_one_join_their_group)
{
	close_all();
	opts.cold_after_ms = 3600 * 1000;
	opts.cold_window_ms = 24 * 3600 * 1000;
	opts.ooo_window_ms = -1;
	open_all();
	enum { N = 960 }; /* 8 chunks of 120 samples, 30 min each */
	static int64_t t[N];
	static double v[N];
	for (int i = 0; i < N; i++) {
		t[i] = T0 + i * 15000LL;
		v[i] = (double)(i * 3 % 11);
	}
	append("aging,pod=a", t, v, N);
	struct ml_err err = {{0}};
	struct ml_tsdb_stats s;
	/* Passes 30 min apart: every pass one more chunk is older than cold_after_ms. */
	for (int pass = 0; pass < 8; pass++) {
		int64_t now = T0 + 3600 * 1000LL + (pass + 1) * 1800 * 1000LL + 1;
		cr_assert_eq(ml_tsdb_maintain(db, now, &err), 0, "%s", err.msg);
	}
	cr_assert_eq(ml_tsdb_maintain(db, t[N - 1] + 3 * 3600 * 1000LL, &err), 0, "%s", err.msg);
	cr_assert_eq(ml_tsdb_stats(db, &s), 0);
	/* T0 lies 22 h 13 min into its UTC day: the 8 h of data span two windows. */
	int64_t wins = (t[N - 1] / opts.cold_window_ms) - (T0 / opts.cold_window_ms) + 1;
	cr_assert_eq(s.stored_chunks, (uint64_t)wins, "%llu records for %lld windows",
		     (unsigned long long)s.stored_chunks, (long long)wins);
	SEL("__name__=aging");
	cr_assert_eq(res.n_samples[0], N);
	for (int i = 0; i < N; i++) {
		cr_assert_eq(res.samples[0][i].t_ms, t[i]);
		cr_assert_eq(res.samples[0][i].v, v[i]);
	}
}

/* A series with more chunks than one transaction may touch must still be passed. */
Test(tsdb, cold_recompression_in_tiny_transactions_terminates)
{
	cold_chunks_recompressed(3);
}

Test(tsdb, retention_deletes_old_chunks_and_empty_series)
{
	close_all();
	opts.retention_ms = 24 * 3600 * 1000LL;
	opts.max_ops_per_txn = 3; /* many small transactions */
	open_all();
	static int64_t t[400];
	static double v[400];
	for (int i = 0; i < 400; i++) {
		t[i] = T0 + i * 15000LL;
		v[i] = i;
	}
	append("old,pod=a", t, v, 400);
	append("old,pod=b", t, v, 400);
	struct ml_err err = {{0}};
	int64_t now = t[399] + 2 * 3600 * 1000;
	cr_assert_eq(ml_tsdb_maintain(db, now, &err), 0, "%s", err.msg);
	SEL("__name__=old");
	cr_assert_eq(res.n_series, 2);
	cr_assert_eq(res.n_samples[0], 400);
	now = t[399] + 25 * 3600 * 1000LL;
	for (int i = 0; i < 400; i++)
		t[i] = now - 1000 + i;
	append("new,pod=c", t, v, 1);
	cr_assert_eq(ml_tsdb_maintain(db, now, &err), 0, "%s", err.msg);
	SEL("__name__=old");
	cr_assert_eq(res.n_series, 0);
	struct ml_arena *a = ml_arena_create(0);
	struct ml_str *vals;
	size_t nv;
	cr_assert_eq(ml_tsdb_label_values(db, "pod", 3, NULL, 0, INT64_MIN, INT64_MAX, a, &vals, &nv, &err), 0);
	cr_assert_eq(nv, 1, "series without data left the index");
	cr_assert(ml_str_eq_cstr(vals[0], "c"));
	ml_arena_destroy(a);
}

Test(tsdb, label_names_and_values)
{
	mesh_fixture();
	append1("late,zone=eu", T0 + 3600000, 1);
	struct ml_arena *a = ml_arena_create(0);
	struct ml_str *out;
	size_t n;
	struct ml_err err = {{0}};
	cr_assert_eq(ml_tsdb_label_names(db, NULL, 0, INT64_MIN, INT64_MAX, a, &out, &n, &err), 0);
	cr_assert_eq(n, 4);
	cr_assert(ml_str_eq_cstr(out[0], "__name__") && ml_str_eq_cstr(out[1], "code") &&
		  ml_str_eq_cstr(out[2], "svc") && ml_str_eq_cstr(out[3], "zone"));
	cr_assert_eq(ml_tsdb_label_values(db, "__name__", 8, NULL, 0, INT64_MIN, INT64_MAX, a, &out, &n, &err), 0);
	cr_assert_eq(n, 3);
	cr_assert(ml_str_eq_cstr(out[0], "late") && ml_str_eq_cstr(out[1], "req") && ml_str_eq_cstr(out[2], "up"));
	/* restricted by time */
	cr_assert_eq(ml_tsdb_label_names(db, NULL, 0, T0, T0 + 1000, a, &out, &n, &err), 0);
	cr_assert_eq(n, 3, "zone only exists later");
	/* restricted by matchers */
	struct ml_matcher m, *mp = &m;
	cr_assert_eq(ml_matcher_init(&m, ML_MATCH_EQ, "svc", 3, "api", 3, &err), 0);
	cr_assert_eq(ml_tsdb_label_values(db, "code", 4, &mp, 1, INT64_MIN, INT64_MAX, a, &out, &n, &err), 0);
	cr_assert_eq(n, 2);
	cr_assert(ml_str_eq_cstr(out[0], "200") && ml_str_eq_cstr(out[1], "503"));
	ml_matcher_fini(&m);
	ml_arena_destroy(a);
}

Test(tsdb, long_label_values_are_indexed)
{
	static char big[4097];
	memset(big, 'v', 4096);
	char series[4200];
	snprintf(series, sizeof(series), "m,path=%s", big);
	append1(series, T0, 1);
	append1("m,path=short", T0, 2);
	char spec[4200];
	snprintf(spec, sizeof(spec), "path=%s", big);
	SEL(spec);
	cr_assert_eq(res.n_series, 1);
	SEL("path=~v+");
	cr_assert_eq(res.n_series, 1);
	SEL("__name__=m", "path!~v+");
	cr_assert_eq(res.n_series, 1);
	cr_assert_eq(res.samples[0][0].v, 2);
}

Test(tsdb, metadata)
{
	struct ml_arena *a = ml_arena_create(0);
	struct ml_sample_batch b;
	ml_sample_batch_init(&b, a);
	struct ml_metric_meta *m = ml_sample_batch_add_meta(&b);
	m->family = ML_STR("http_requests");
	m->type = ML_METRIC_COUNTER;
	m->help = ML_STR("Requests served.");
	struct ml_series_samples *s = ml_sample_batch_add(&b, 1, 1);
	s->labels[0] = (struct ml_label){ML_STR("__name__"), ML_STR("http_requests_total")};
	s->samples[0] = (struct ml_sample){T0, 1};
	struct ml_err err = {{0}};
	cr_assert_eq(ml_tsdb_append(db, &b, NULL, &err), 0, "%s", err.msg);
	struct ml_tsdb_meta *out;
	size_t n;
	cr_assert_eq(ml_tsdb_metadata(db, NULL, 0, 0, a, &out, &n, &err), 0);
	cr_assert_eq(n, 1);
	cr_assert(ml_str_eq_cstr(out[0].family, "http_requests"));
	cr_assert_eq(out[0].type, ML_METRIC_COUNTER);
	cr_assert(ml_str_eq_cstr(out[0].help, "Requests served."));
	cr_assert_eq(ml_tsdb_metadata(db, "nope", 4, 0, a, &out, &n, &err), 0);
	cr_assert_eq(n, 0);
	ml_arena_destroy(a);
}

/* Puts a series row straight into `series`, as if another label set owned the id. */
static int squat_apply(MDB_txn *txn, void *ctx, struct ml_err *err)
{
	MDB_dbi dbi;
	if (mdb_dbi_open(txn, "series", 0, &dbi) != 0)
		return ML_EIO;
	uint8_t *k = ctx;
	/* label set __name__="other", then its be64 postings sequence number */
	static const uint8_t other[] = {8, '_', '_', 'n', 'a', 'm', 'e', '_', '_', 5, 'o', 't', 'h', 'e', 'r',
					0, 0, 0, 0, 0, 0, 0, 99};
	MDB_val key = {8, k}, val = {sizeof(other), (void *)other};
	return mdb_put(txn, dbi, &key, &val, 0) ? ML_EIO : 0;
}

Test(tsdb, series_id_collision_gets_the_next_id)
{
	struct ml_buf canon = ML_BUF_INIT;
	struct ml_label l[] = {{ML_STR("__name__"), ML_STR("victim")}};
	cr_assert_eq(ml_labels_canon(l, 1, NULL, &canon, NULL), 0);
	uint64_t h = ml_labels_hash((struct ml_labels){canon.data, canon.len});
	ml_buf_free(&canon);
	uint8_t k[8];
	for (int i = 0; i < 8; i++)
		k[i] = (uint8_t)(h >> (56 - 8 * i));
	struct ml_write_op op = {squat_apply, NULL, k};
	struct ml_err err = {{0}};
	cr_assert_eq(ml_store_write(st, &op, &err), 0);
	append1("victim", T0, 42);
	struct ml_matcher m, *mp = &m;
	cr_assert_eq(ml_matcher_init(&m, ML_MATCH_EQ, "__name__", 8, "victim", 6, &err), 0);
	struct ml_tsdb_series_set *set;
	cr_assert_eq(ml_tsdb_select(db, &mp, 1, INT64_MIN, INT64_MAX, 0, &set, &err), 0);
	cr_assert_eq(ml_tsdb_series_set_next(set, &err), 1);
	cr_assert_eq(ml_tsdb_series_set_id(set), h + 1, "the colliding label set takes the next id");
	const struct ml_sample *s;
	size_t n;
	ml_tsdb_series_set_samples(set, &s, &n);
	cr_assert_eq(n, 1);
	cr_assert_eq(s[0].v, 42);
	ml_tsdb_series_set_free(set);
	ml_matcher_fini(&m);
	close_all();
	open_all();
	struct ml_tsdb_report r = append1("victim", T0 + 1000, 43);
	cr_assert_eq(r.series_created, 0, "after replay the same label set finds its id again");
}

/*
 * The head's own accounting of an active series: 2000 Istio-like series
 * (13 labels, ~330 bytes of label set) with ten 15 s scrapes each stay
 * within 1 KiB of heap per series (the bound for the head; the
 * process RSS per series is measured by tests/bench/metrics_bench.sh).
 */
Test(tsdb, head_cost_per_active_series_is_bounded)
{
	enum { N = 2000, SCRAPES = 10 };
	static const char *wl[] = {"productpage-v1", "reviews-v1", "reviews-v2", "ratings-v1"};
	static const char *codes[] = {"200", "404", "500", "503"};
	char pods[N][40];
	for (int i = 0; i < N; i++)
		snprintf(pods[i], sizeof(pods[i]), "reviews-v2-%05x-%d", (unsigned)(i * 2654435761u) & 0xfffff, i);
	for (int sc = 0; sc < SCRAPES; sc++) {
		struct ml_arena *a = ml_arena_create(0);
		struct ml_sample_batch b;
		ml_sample_batch_init(&b, a);
		for (int i = 0; i < N; i++) {
			struct ml_series_samples *s = ml_sample_batch_add(&b, 13, 1);
			struct ml_label *l = s->labels;
			l[0] = (struct ml_label){ML_STR("__name__"), ML_STR("istio_requests_total")};
			l[1] = (struct ml_label){ML_STR("reporter"), ML_STR("destination")};
			l[2] = (struct ml_label){ML_STR("source_workload"), ml_str_make(wl[i % 4], strlen(wl[i % 4]))};
			l[3] = (struct ml_label){ML_STR("source_workload_namespace"), ML_STR("bookinfo")};
			l[4] = (struct ml_label){ML_STR("destination_workload"), ML_STR("reviews-v2")};
			l[5] = (struct ml_label){ML_STR("destination_workload_namespace"), ML_STR("bookinfo")};
			l[6] = (struct ml_label){ML_STR("destination_service"), ML_STR("reviews.bookinfo.svc.cluster.local")};
			l[7] = (struct ml_label){ML_STR("response_code"), ml_str_make(codes[(i / 4) % 4], 3)};
			l[8] = (struct ml_label){ML_STR("request_protocol"), ML_STR("http")};
			l[9] = (struct ml_label){ML_STR("connection_security_policy"), ML_STR("mutual_tls")};
			l[10] = (struct ml_label){ML_STR("pod"), ml_str_make(pods[i], strlen(pods[i]))};
			l[11] = (struct ml_label){ML_STR("job"), ML_STR("envoy-stats")};
			l[12] = (struct ml_label){ML_STR("namespace"), ML_STR("bookinfo")};
			s->samples[0].t_ms = T0 + sc * 15000LL;
			s->samples[0].v = (double)(sc * (i % 7));
		}
		struct ml_tsdb_report rep;
		struct ml_err err = {{0}};
		cr_assert_eq(ml_tsdb_append(db, &b, &rep, &err), 0, "%s", err.msg);
		cr_assert_eq(rep.samples_accepted, N);
		ml_arena_destroy(a);
	}
	struct ml_tsdb_stats s;
	cr_assert_eq(ml_tsdb_stats(db, &s), 0);
	cr_assert_eq(s.head_series, N);
	cr_assert_eq(s.head_samples, (uint64_t)N * SCRAPES);
	SEL("__name__=istio_requests_total", "pod=reviews-v2-00000-0");
	cr_assert_eq(res.n_series, 1);
	double per_series = (double)s.head_bytes / (double)s.head_series;
	cr_log_info("head: %.0f bytes per active series", per_series);
	cr_assert_leq(per_series, 1024.0, "head bytes per active series: %.0f", per_series);
}

/*
 * ML_TSDB_SELECT_NEWEST gives each series' newest sample in range, the last
 * one a full read gives, from the head, a raw stored chunk or a cold group.
 */
Test(tsdb, newest_sample_only)
{
	reopen_cold(opts.max_ops_per_txn);
	enum { N = 1100 };
	static int64_t t[N];
	static double v[N];
	for (int i = 0; i < N; i++) {
		t[i] = T0 + i * 15000LL;
		v[i] = i * 1.5;
	}
	append("net,pod=c", t, v, N);
	append("net,pod=d", t, v, 3); /* three old samples */
	struct ml_err err = {{0}};
	/* Cold groups for the oldest, raw chunks, and a head for the newest samples. */
	cr_assert_eq(ml_tsdb_maintain(db, t[N - 1] + 1800 * 1000, &err), 0, "%s", err.msg);
	append("net,pod=c", (int64_t[]){t[N - 1] + 15000}, (double[]){7}, 1);
	const char *spec[] = {"__name__=net"};
	static struct result full, newest;
	for (int64_t maxt = T0 - 1000; maxt <= t[N - 1] + 30000; maxt += 15000 * 37 + 1) {
		for (int64_t back = 0; back <= 3 * 15000; back += 15000) {
			int64_t mint = maxt - back;
			select_hints = 0;
			cr_assert_eq(do_select(spec, 1, mint, maxt, &full, &err), 0, "%s", err.msg);
			select_hints = ML_TSDB_SELECT_NEWEST;
			cr_assert_eq(do_select(spec, 1, mint, maxt, &newest, &err), 0, "%s", err.msg);
			select_hints = 0;
			cr_assert_eq(newest.n_series, full.n_series, "maxt %lld back %lld", (long long)maxt,
				     (long long)back);
			for (int k = 0; k < full.n_series; k++) {
				cr_assert_eq(newest.n_samples[k], (size_t)1);
				const struct ml_sample *last = &full.samples[k][full.n_samples[k] - 1];
				cr_assert_eq(newest.samples[k][0].t_ms, last->t_ms, "maxt %lld", (long long)maxt);
				cr_assert_eq(newest.samples[k][0].v, last->v);
			}
		}
	}
	select_hints = ML_TSDB_SELECT_NEWEST;
	cr_assert_eq(do_select(spec, 1, INT64_MIN, INT64_MAX, &newest, &err), 0, "%s", err.msg);
	select_hints = 0;
	cr_assert_eq(newest.n_series, 2);
	cr_assert_eq(newest.samples[0][0].v, 7, "the head's sample is the newest");
	cr_assert_eq(newest.samples[1][0].t_ms, t[2]);
}
