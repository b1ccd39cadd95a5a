/*
 * test_postings.c - the TSDB's label index (collector/store/postings.c) on a
 * real LMDB environment in a temporary directory: every matcher form with
 * Prometheus's rules (absent label = empty value, fully anchored regexes),
 * intersections, removal of a series, label names and values, and values too
 * long for an LMDB key (stored hashed, read back from the series' label set).
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lmdb.h>

#include "core/buf.h"
#include "model/labels.h"
#include "query/matcher.h"
#include "store/postings.h"

static char dir[64];
static MDB_env *env;
static MDB_dbi dbi_post, dbi_series;

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/ml_test_postings.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	cr_assert_eq(mdb_env_create(&env), 0);
	cr_assert_eq(mdb_env_set_maxdbs(env, 4), 0);
	cr_assert_eq(mdb_env_set_mapsize(env, 64u << 20), 0);
	cr_assert_eq(mdb_env_open(env, dir, MDB_NOSYNC, 0600), 0);
	MDB_txn *txn;
	cr_assert_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
	cr_assert_eq(mdb_dbi_open(txn, "postings", MDB_CREATE | ML_POSTINGS_DBI_FLAGS, &dbi_post), 0);
	cr_assert_eq(mdb_dbi_open(txn, "series", MDB_CREATE, &dbi_series), 0);
	cr_assert_eq(mdb_txn_commit(txn), 0);
}

static void teardown(void)
{
	char cmd[128];
	mdb_env_close(env);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(postings, .init = setup, .fini = teardown);

/* "name,a=x,b=y" -> canonical label set in out. */
static struct ml_labels canon(const char *spec, struct ml_buf *out)
{
	struct ml_label l[16];
	char copy[8192];
	uint32_t n = 0;
	snprintf(copy, sizeof(copy), "%s", spec);
	char *save = NULL;
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		char *name = n == 0 ? strdup("__name__") : strndup(tok, (size_t)(eq - tok));
		char *value = strdup(n == 0 ? tok : eq + 1);
		l[n].name = ml_str_make(name, strlen(name));
		l[n].value = ml_str_make(value, strlen(value));
		n++;
	}
	struct ml_err err;
	ml_buf_clear(out);
	cr_assert_eq(ml_labels_canon(l, n, NULL, out, &err), 0, "%s", err.msg);
	for (uint32_t i = 0; i < n; i++) {
		free((void *)l[i].name.p);
		free((void *)l[i].value.p);
	}
	return (struct ml_labels){out->data, out->len};
}

/*
 * Sequence numbers run against the ids (a later id is indexed earlier), so
 * the lists are in the opposite order of the sorted ids readers must return.
 */
static uint64_t seq_of(uint64_t sid) { return 1000 - sid; }

static void add(uint64_t sid, const char *spec)
{
	struct ml_buf b = ML_BUF_INIT;
	struct ml_labels ls = canon(spec, &b);
	MDB_txn *txn;
	cr_assert_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
	uint8_t k[8];
	ml_be64_put(k, sid);
	/* The series row as the TSDB writes it: label set, then be64 sequence. */
	ml_buf_put_be64(&b, seq_of(sid));
	MDB_val key = {8, k}, val = {b.len, b.data};
	cr_assert_eq(mdb_put(txn, dbi_series, &key, &val, 0), 0);
	cr_assert_eq(ml_postings_add(txn, dbi_post, sid, seq_of(sid), ls), 0);
	cr_assert_eq(mdb_txn_commit(txn), 0);
	ml_buf_free(&b);
}

static void del(uint64_t sid, const char *spec)
{
	struct ml_buf b = ML_BUF_INIT;
	struct ml_labels ls = canon(spec, &b);
	MDB_txn *txn;
	cr_assert_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
	uint8_t k[8];
	ml_be64_put(k, sid);
	MDB_val key = {8, k};
	cr_assert_eq(mdb_del(txn, dbi_series, &key, NULL), 0);
	cr_assert_eq(ml_postings_del(txn, dbi_post, sid, seq_of(sid), ls), 0);
	cr_assert_eq(mdb_txn_commit(txn), 0);
	ml_buf_free(&b);
}

/*
 * Selects with matchers written like "a=x", "a!=x", "a=~re", "a!~re"
 * (separated by ';') and returns the ids as "1,2,3".
 */
static const char *sel(const char *spec)
{
	static char out[512];
	struct ml_matcher m[8];
	struct ml_matcher *mp[8];
	size_t n = 0;
	char copy[1024];
	snprintf(copy, sizeof(copy), "%s", spec);
	char *save = NULL;
	for (char *tok = strtok_r(copy, ";", &save); tok; tok = strtok_r(NULL, ";", &save)) {
		char *op = strpbrk(tok, "=!");
		enum ml_match_type t;
		size_t oplen;
		if (op[0] == '!' && op[1] == '~') {
			t = ML_MATCH_NRE;
			oplen = 2;
		} else if (op[0] == '!') {
			t = ML_MATCH_NEQ;
			oplen = 2;
		} else if (op[1] == '~') {
			t = ML_MATCH_RE;
			oplen = 2;
		} else {
			t = ML_MATCH_EQ;
			oplen = 1;
		}
		struct ml_err err;
		const char *v = op + oplen;
		cr_assert_eq(ml_matcher_init(&m[n], t, tok, (size_t)(op - tok), v, strlen(v), &err), 0, "%s",
			     err.msg);
		mp[n] = &m[n];
		n++;
	}
	MDB_txn *txn;
	cr_assert_eq(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	struct ml_u64s ids = {0};
	struct ml_err err;
	cr_assert_eq(ml_postings_select(txn, dbi_post, dbi_series, mp, n, &ids, &err), 0, "%s", err.msg);
	mdb_txn_abort(txn);
	size_t o = 0;
	out[0] = 0;
	for (size_t i = 0; i < ids.n; i++)
		o += (size_t)snprintf(out + o, sizeof(out) - o, "%s%llu", i ? "," : "",
				      (unsigned long long)ids.v[i]);
	ml_u64s_free(&ids);
	for (size_t i = 0; i < n; i++)
		ml_matcher_fini(&m[i]);
	return out;
}

/* Collects names or values into a sorted "a,b,c" string. */
struct coll {
	char items[32][600];
	size_t n;
};

static int collect(void *ctx, const char *p, size_t n)
{
	struct coll *c = ctx;
	cr_assert_lt(c->n, 32);
	cr_assert_lt(n, sizeof(c->items[0]));
	memcpy(c->items[c->n], p, n);
	c->items[c->n][n] = 0;
	c->n++;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(a, b);
}

static const char *joined(struct coll *c)
{
	static char out[4096];
	size_t o = 0;
	qsort(c->items, c->n, sizeof(c->items[0]), cmp_str);
	out[0] = 0;
	for (size_t i = 0; i < c->n; i++)
		if (i == 0 || strcmp(c->items[i], c->items[i - 1]) != 0)
			o += (size_t)snprintf(out + o, sizeof(out) - o, "%s%s", o ? "," : "", c->items[i]);
	return out;
}

static const char *names(void)
{
	struct coll c = {.n = 0};
	MDB_txn *txn;
	cr_assert_eq(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	cr_assert_eq(ml_postings_names(txn, dbi_post, collect, &c), 0);
	mdb_txn_abort(txn);
	return joined(&c);
}

static const char *values(const char *name)
{
	struct coll c = {.n = 0};
	MDB_txn *txn;
	cr_assert_eq(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	cr_assert_eq(ml_postings_values(txn, dbi_post, dbi_series, name, strlen(name), collect, &c), 0);
	mdb_txn_abort(txn);
	return joined(&c);
}

static void mesh(void)
{
	add(1, "req,app=reviews,code=200");
	add(2, "req,app=reviews,code=500");
	add(3, "req,app=ratings,code=200,zone=eu");
	add(4, "req,app=reviews-v2,code=200");
	add(5, "up,app=reviews");
}

Test(postings, equality_and_inequality)
{
	mesh();
	cr_assert_str_eq(sel("__name__=req"), "1,2,3,4");
	cr_assert_str_eq(sel("app=reviews"), "1,2,5", "= is exact: reviews-v2 is not reviews");
	cr_assert_str_eq(sel("__name__=req;code=200"), "1,3,4", "matchers intersect");
	cr_assert_str_eq(sel("__name__=req;code!=200"), "2");
	cr_assert_str_eq(sel("__name__=nope"), "");
	cr_assert_str_eq(sel("__name__=req;app=nope"), "");
}

Test(postings, absent_label_is_the_empty_value)
{
	mesh();
	cr_assert_str_eq(sel("__name__=req;zone="), "1,2,4", "zone=\"\" selects series without zone");
	cr_assert_str_eq(sel("__name__=req;zone!=eu"), "1,2,4", "!= also selects series without the label");
	cr_assert_str_eq(sel("__name__=req;zone!="), "3", "zone!=\"\" selects series that have zone");
	cr_assert_str_eq(sel("__name__=req;zone=~eu|"), "1,2,3,4", "a regex matching \"\" keeps the unlabelled");
	cr_assert_str_eq(sel("code=~2.."), "1,3,4");
	cr_assert_str_eq(sel("__name__=~.+;code=~"), "5", "=~\"\" is the same as =\"\"");
}

Test(postings, regexes_are_fully_anchored)
{
	mesh();
	cr_assert_str_eq(sel("app=~rev"), "", "rev does not match reviews as a whole");
	cr_assert_str_eq(sel("app=~rev.*"), "1,2,4,5");
	cr_assert_str_eq(sel("app=~reviews|ratings"), "1,2,3,5", "alternation anchored as a whole");
	cr_assert_str_eq(sel("__name__=req;app!~rev.*"), "3");
	cr_assert_str_eq(sel("__name__=req;app!~reviews"), "3,4");
	cr_assert_str_eq(sel("__name__=~r.q"), "1,2,3,4");
	cr_assert_str_eq(sel("__name__=~RE(Q)"), "", "case-sensitive");
	cr_assert_str_eq(sel("__name__=~(?i)RE(Q)"), "1,2,3,4");
}

Test(postings, no_matcher_selects_every_series)
{
	mesh();
	cr_assert_str_eq(sel(""), "1,2,3,4,5");
}

Test(postings, deleted_series_leave_every_list)
{
	mesh();
	del(3, "req,app=ratings,code=200,zone=eu");
	cr_assert_str_eq(sel("__name__=req"), "1,2,4");
	cr_assert_str_eq(sel("zone=eu"), "");
	cr_assert_str_eq(sel(""), "1,2,4,5");
	cr_assert_str_eq(values("app"), "reviews,reviews-v2");
	cr_assert_str_eq(names(), "__name__,app,code", "zone went with its only series");
	/* Deleting what is not there is not an error. */
	MDB_txn *txn;
	struct ml_buf b = ML_BUF_INIT;
	cr_assert_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
	cr_assert_eq(ml_postings_del(txn, dbi_post, 3, seq_of(3), canon("req,app=ratings,code=200,zone=eu", &b)), 0);
	cr_assert_eq(mdb_txn_commit(txn), 0);
	ml_buf_free(&b);
}

Test(postings, names_and_values)
{
	mesh();
	cr_assert_str_eq(names(), "__name__,app,code,zone");
	cr_assert_str_eq(values("__name__"), "req,up");
	cr_assert_str_eq(values("app"), "ratings,reviews,reviews-v2");
	cr_assert_str_eq(values("code"), "200,500");
	cr_assert_str_eq(values("nope"), "");
	cr_assert_str_eq(values("ap"), "", "a name is not a prefix match");
}

Test(postings, long_values_are_hashed_and_still_match)
{
	char long_a[600], long_b[600], spec[1400];
	memset(long_a, 'a', 550);
	long_a[550] = 0;
	memcpy(long_b, long_a, 551);
	long_b[549] = 'b'; /* differs in the last byte */
	snprintf(spec, sizeof(spec), "big,path=%s", long_a);
	add(10, spec);
	snprintf(spec, sizeof(spec), "big,path=%s", long_b);
	add(11, spec);
	add(12, "big,path=short");
	char m[1400];
	snprintf(m, sizeof(m), "path=%s", long_a);
	cr_assert_str_eq(sel(m), "10", "= on a hashed value compares the text, not only the hash");
	snprintf(m, sizeof(m), "path=%s", long_b);
	cr_assert_str_eq(sel(m), "11");
	cr_assert_str_eq(sel("path=~a+b"), "11", "regexes see the whole long value");
	cr_assert_str_eq(sel("path=~a+"), "10");
	cr_assert_str_eq(sel("__name__=big;path!~a+"), "11,12");
	const char *v = values("path");
	cr_assert_eq(strlen(v), 550 + 1 + 550 + 1 + 5, "both long values listed in full: %zu", strlen(v));
	cr_assert_eq(strncmp(v, long_a, 550), 0);
	cr_assert_str_eq(v + 1102, "short");
}

Test(postings, max_seq_is_the_newest_series)
{
	MDB_txn *txn;
	uint64_t m = 1;
	cr_assert_eq(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	cr_assert_eq(ml_postings_max_seq(txn, dbi_post, &m), 0);
	mdb_txn_abort(txn);
	cr_assert_eq(m, 0, "empty index");
	add(7, "a,x=1");
	add(3, "b,x=2");
	cr_assert_eq(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	cr_assert_eq(ml_postings_max_seq(txn, dbi_post, &m), 0);
	mdb_txn_abort(txn);
	cr_assert_eq(m, seq_of(3));
}

Test(postings, sort_unique)
{
	struct ml_u64s s = {0};
	uint64_t in[] = {5, 1, 5, UINT64_MAX, 0, 1, 3};
	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++)
		cr_assert_eq(ml_u64s_push(&s, in[i]), 0);
	ml_u64s_sort_unique(&s);
	uint64_t want[] = {0, 1, 3, 5, UINT64_MAX};
	cr_assert_eq(s.n, 5);
	for (size_t i = 0; i < 5; i++)
		cr_assert_eq(s.v[i], want[i]);
	ml_u64s_free(&s);
}
