/*
 * test_trace_store.c - the trace store as its users see it: what is appended
 * can be read back by id and found by search, before and after compaction
 * and across restarts (including a kill -9 right after an append returned);
 * names and dependency links; retention deletes old blocks only.
 */
#include "store_fixtures.h"

#include <signal.h>
#include <sys/wait.h>

#include "core/error.h"
#include "store/env.h"
#include "store/trace_store.h"

#define T0 1700000000000000000ULL /* a start time, ns */
#define MS 1000000ULL

static char dir[64];
static struct ml_store *st;
static struct ml_trace_store *ts;
static struct ml_arena *arena;

static void open_all(uint64_t retention_ns)
{
	struct ml_store_options so = {.path = dir};
	struct ml_trace_store_options to = {.retention_ns = retention_ns};
	struct ml_err err = {{0}};
	st = ml_store_open(&so, &err);
	cr_assert_not_null(st, "%s", err.msg);
	ts = ml_trace_store_open(st, &to, &err);
	cr_assert_not_null(ts, "%s", err.msg);
}

static void close_all(void)
{
	ml_trace_store_close(ts);
	ml_store_close(st);
	ts = NULL;
	st = NULL;
}

static void setup(void)
{
	fx_tmpdir(dir, sizeof(dir));
	arena = ml_arena_create(0);
	open_all(0);
}

static void teardown(void)
{
	close_all();
	ml_arena_destroy(arena);
	fx_rmdir(dir);
}

TestSuite(trace_store, .init = setup, .fini = teardown);

static struct ml_resource *resource(const char *svc)
{
	struct ml_resource *r = ml_arena_calloc(arena, 1, sizeof(*r));
	r->service_name = ml_str_make(svc, strlen(svc));
	r->attrs.n = 2;
	r->attrs.items = ml_arena_calloc(arena, 2, sizeof(struct ml_attr));
	fx_attr_s(&r->attrs.items[0], ML_STR("service.name"), r->service_name);
	fx_attr_s(&r->attrs.items[1], ML_STR("k8s.namespace.name"), ML_STR("shop"));
	return r;
}

/* A span of trace t, id sid, parent pid (0 = root), with up to two string tags. */
static struct ml_span *add(struct ml_span_batch *b, uint64_t t, uint64_t sid, uint64_t pid,
			   const char *svc, const char *name, uint8_t kind, uint64_t start, uint64_t dur,
			   const char *tag, const char *val)
{
	struct ml_span *s = ml_span_batch_add(b);
	fx_id(s->trace_id, 16, t);
	fx_id(s->span_id, 8, sid);
	if (pid)
		fx_id(s->parent_id, 8, pid);
	s->resource = resource(svc);
	s->name = ml_str_make(name, strlen(name));
	s->kind = kind;
	s->start_ns = start;
	s->end_ns = start + dur;
	if (tag) {
		s->attrs.n = 1;
		s->attrs.items = ml_arena_calloc(arena, 1, sizeof(struct ml_attr));
		fx_attr_s(&s->attrs.items[0], ml_str_make(tag, strlen(tag)), ml_str_make(val, strlen(val)));
	}
	return s;
}

static void append(struct ml_span_batch *b)
{
	struct ml_err err = {{0}};
	cr_assert_eq(ml_trace_store_append(ts, b, &err), 0, "%s", err.msg);
}

static void compact(void)
{
	struct ml_err err = {{0}};
	cr_assert_eq(ml_trace_store_compact(ts, &err), 0, "%s", err.msg);
	struct ml_trace_store_stats s;
	ml_trace_store_stats(ts, &s);
	cr_assert_eq(s.head_spans, 0);
}

static struct ml_trace get(uint64_t t)
{
	uint8_t id[16];
	struct ml_trace tr;
	fx_id(id, 16, t);
	int rc = ml_trace_store_get(ts, id, 0, 0, arena, &tr);
	cr_assert_eq(rc, 0, "trace %llu: %s", (unsigned long long)t, ml_strerror(rc));
	return tr;
}

static bool exists(uint64_t t)
{
	uint8_t id[16];
	struct ml_trace tr;
	fx_id(id, 16, t);
	return ml_trace_store_get(ts, id, 0, 0, arena, &tr) == 0;
}

Test(trace_store, append_then_get_returns_every_field)
{
	struct ml_span_batch b;
	ml_span_batch_init(&b, arena);
	struct ml_span full;
	fx_full_span(arena, &full, 1);
	*ml_span_batch_add(&b) = full;
	append(&b);
	struct ml_trace tr;
	cr_assert_eq(ml_trace_store_get(ts, full.trace_id, 0, 0, arena, &tr), 0);
	cr_assert_eq(tr.n, 1);
	cr_assert_eq(memcmp(tr.trace_id, full.trace_id, 16), 0);
	fx_assert_span_eq(&full, &tr.spans[0]);

	compact();
	cr_assert_eq(ml_trace_store_get(ts, full.trace_id, 0, 0, arena, &tr), 0);
	cr_assert_eq(tr.n, 1);
	fx_assert_span_eq(&full, &tr.spans[0]);

	uint8_t other[16] = {1};
	cr_assert_eq(ml_trace_store_get(ts, other, 0, 0, arena, &tr), ML_ENOTFOUND);
	struct ml_trace_store_stats s;
	ml_trace_store_stats(ts, &s);
	cr_assert_eq(s.spans_appended, 1);
	cr_assert_eq(s.blocks, 1);
	cr_assert_eq(s.block_spans, 1);
	cr_assert_eq(s.compactions, 1);
}

Test(trace_store, trace_in_pieces_across_appends_and_compactions)
{
	struct ml_span_batch b;
	ml_span_batch_init(&b, arena);
	add(&b, 7, 1, 0, "gateway", "GET /", ML_SPAN_KIND_SERVER, T0, 50 * MS, NULL, NULL);
	add(&b, 8, 1, 0, "gateway", "GET /x", ML_SPAN_KIND_SERVER, T0, 5 * MS, NULL, NULL);
	append(&b);
	ml_span_batch_init(&b, arena);
	/* Envoy's shared span: client and server halves with one id */
	add(&b, 7, 2, 1, "gateway", "cart", ML_SPAN_KIND_CLIENT, T0 + 1 * MS, 40 * MS, NULL, NULL);
	add(&b, 7, 2, 1, "cart", "cart", ML_SPAN_KIND_SERVER, T0 + 2 * MS, 38 * MS, NULL, NULL)->shared = true;
	append(&b);
	compact();
	ml_span_batch_init(&b, arena);
	add(&b, 7, 3, 2, "cart", "redis GET", ML_SPAN_KIND_CLIENT, T0 + 3 * MS, 1 * MS, NULL, NULL);
	/* the root span pushed again (a retry): stored twice, read once */
	add(&b, 7, 1, 0, "gateway", "GET /", ML_SPAN_KIND_SERVER, T0, 50 * MS, NULL, NULL);
	append(&b);

	struct ml_trace tr = get(7);
	cr_assert_eq(tr.n, 4, "got %zu spans", tr.n);
	for (size_t i = 1; i < tr.n; i++)
		cr_assert_leq(tr.spans[i - 1].start_ns, tr.spans[i].start_ns, "sorted by start");
	cr_assert_eq(tr.spans[1].kind, ML_SPAN_KIND_CLIENT);
	cr_assert_eq(tr.spans[2].kind, ML_SPAN_KIND_SERVER);
	cr_assert(tr.spans[2].shared);
	cr_assert(ml_str_eq_cstr(tr.spans[2].resource->service_name, "cart"));

	compact();
	tr = get(7);
	cr_assert_eq(tr.n, 4, "after the second compaction: %zu spans", tr.n);
	cr_assert_eq(get(8).n, 1);
	struct ml_trace_store_stats s;
	ml_trace_store_stats(ts, &s);
	cr_assert_eq(s.blocks, 2);
	cr_assert_eq(s.block_spans, 6);
}

/* Data set for search: 30 traces, newest last. */
static void search_data(void)
{
	struct ml_span_batch b;
	ml_span_batch_init(&b, arena);
	for (uint64_t t = 1; t <= 30; t++) {
		uint64_t start = T0 + t * 1000 * MS;
		const char *status = t % 10 == 0 ? "500" : "200";
		add(&b, t, 1, 0, "frontend", t % 2 ? "GET /home" : "GET /cart", ML_SPAN_KIND_SERVER, start,
		    (t * 10) * MS, "http.status_code", status);
		struct ml_span *c = add(&b, t, 2, 1, "frontend", "cart.Get", ML_SPAN_KIND_CLIENT,
					start + MS, 5 * MS, NULL, NULL);
		c->remote.service_name = ML_STR("cart");
		struct ml_span *srv = add(&b, t, 3, 2, "cart", "cart.Get", ML_SPAN_KIND_SERVER,
					  start + 2 * MS, 3 * MS, "db", t % 3 ? "redis" : "mysql");
		if (t == 17)
			srv->status_code = ML_STATUS_ERROR;
		if (b.n > 20) {
			append(&b);
			ml_span_batch_init(&b, arena);
		}
	}
	append(&b);
}

static size_t search(struct ml_trace_query *q, struct ml_trace **out)
{
	size_t n = 0;
	cr_assert_eq(ml_trace_store_search(ts, q, arena, out, &n), 0);
	return n;
}

static uint64_t trace_no(const struct ml_trace *t)
{
	uint64_t v = 0;
	for (int i = 8; i < 16; i++)
		v = (v << 8) | t->trace_id[i];
	return v;
}

static void check_search(void)
{
	struct ml_trace *r;
	struct ml_trace_query q = {.service = ML_STR("frontend"), .limit = 5};
	size_t n = search(&q, &r);
	cr_assert_eq(n, 5);
	for (size_t i = 0; i < n; i++) {
		cr_assert_eq(trace_no(&r[i]), 30 - i, "newest first: %zu is trace %llu", i,
			     (unsigned long long)trace_no(&r[i]));
		cr_assert_eq(r[i].n, 3, "whole traces");
	}

	memset(&q, 0, sizeof(q));
	q.service = ML_STR("frontend");
	q.operation = ML_STR("GET /cart");
	q.limit = 100;
	n = search(&q, &r);
	cr_assert_eq(n, 15);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(trace_no(&r[i]) % 2, 0);

	/* kind: cart.Get exists as CLIENT (frontend) and SERVER (cart) */
	memset(&q, 0, sizeof(q));
	q.operation = ML_STR("cart.Get");
	q.kind = ML_SPAN_KIND_SERVER;
	q.service = ML_STR("frontend");
	cr_assert_eq(search(&q, &r), 0);
	q.kind = ML_SPAN_KIND_CLIENT;
	cr_assert_eq(search(&q, &r), 20, "default limit 20");

	/* tags: span attribute, resource attribute, error status */
	struct ml_tag_filter tf[2] = {{ML_STR("http.status_code"), ML_STR("500")}};
	memset(&q, 0, sizeof(q));
	q.tags = tf;
	q.n_tags = 1;
	n = search(&q, &r);
	cr_assert_eq(n, 3);
	tf[1] = (struct ml_tag_filter){ML_STR("k8s.namespace.name"), ML_STR("shop")};
	q.n_tags = 2;
	cr_assert_eq(search(&q, &r), 3);
	tf[1].value = ML_STR("prod");
	cr_assert_eq(search(&q, &r), 0);
	/* both tags must hold on ONE span */
	tf[0] = (struct ml_tag_filter){ML_STR("db"), ML_STR("mysql")};
	tf[1] = (struct ml_tag_filter){ML_STR("http.status_code"), {NULL, 0}};
	cr_assert_eq(search(&q, &r), 0);
	q.n_tags = 1;
	cr_assert_eq(search(&q, &r), 10);
	tf[0] = (struct ml_tag_filter){ML_STR("error"), ML_STR("true")};
	n = search(&q, &r);
	cr_assert_eq(n, 1);
	cr_assert_eq(trace_no(&r[0]), 17);
	tf[0] = (struct ml_tag_filter){ML_STR("db"), {NULL, 0}};
	q.limit = 100;
	cr_assert_eq(search(&q, &r), 30, "key-only filter");

	/* duration */
	memset(&q, 0, sizeof(q));
	q.service = ML_STR("frontend");
	q.min_duration_ns = 200 * MS;
	q.max_duration_ns = 250 * MS;
	q.limit = 100;
	n = search(&q, &r);
	cr_assert_eq(n, 6, "traces 20..25, got %zu", n);

	/* time range: traces 10..12 start within it */
	memset(&q, 0, sizeof(q));
	q.start_ns = T0 + 10 * 1000 * MS;
	q.end_ns = T0 + 12 * 1000 * MS + 10 * MS;
	q.limit = 100;
	n = search(&q, &r);
	cr_assert_eq(n, 3);
	cr_assert_eq(trace_no(&r[0]), 12);
	cr_assert_eq(trace_no(&r[2]), 10);

	memset(&q, 0, sizeof(q));
	q.service = ML_STR("nobody");
	cr_assert_eq(search(&q, &r), 0);
}

Test(trace_store, search_head)
{
	search_data();
	check_search();
}

Test(trace_store, search_blocks)
{
	search_data();
	compact();
	check_search();
}

Test(trace_store, search_head_and_blocks_mixed)
{
	search_data();
	compact();
	/* a newer trace in the head */
	struct ml_span_batch b;
	ml_span_batch_init(&b, arena);
	add(&b, 99, 1, 0, "frontend", "GET /home", ML_SPAN_KIND_SERVER, T0 + 99 * 1000 * MS, MS, NULL, NULL);
	append(&b);
	struct ml_trace *r;
	struct ml_trace_query q = {.service = ML_STR("frontend"), .limit = 3};
	cr_assert_eq(search(&q, &r), 3);
	cr_assert_eq(trace_no(&r[0]), 99);
	cr_assert_eq(trace_no(&r[1]), 30);
	cr_assert_eq(trace_no(&r[2]), 29);
}

static void check_names(void)
{
	struct ml_str *names;
	size_t n;
	cr_assert_eq(ml_trace_store_services(ts, arena, &names, &n), 0);
	cr_assert_eq(n, 2);
	cr_assert(ml_str_eq_cstr(names[0], "cart"));
	cr_assert(ml_str_eq_cstr(names[1], "frontend"));

	struct ml_operation *ops;
	cr_assert_eq(ml_trace_store_operations(ts, ML_STR("frontend"), 0, arena, &ops, &n), 0);
	cr_assert_eq(n, 3);
	cr_assert(ml_str_eq_cstr(ops[0].name, "GET /cart"));
	cr_assert(ml_str_eq_cstr(ops[1].name, "GET /home"));
	cr_assert(ml_str_eq_cstr(ops[2].name, "cart.Get"));
	cr_assert_eq(ops[2].kind, ML_SPAN_KIND_CLIENT);
	cr_assert_eq(ml_trace_store_operations(ts, ML_STR("frontend"), ML_SPAN_KIND_CLIENT, arena, &ops, &n), 0);
	cr_assert_eq(n, 1);
	cr_assert(ml_str_eq_cstr(ops[0].name, "cart.Get"));
	cr_assert_eq(ml_trace_store_operations(ts, ML_STR("cart"), 0, arena, &ops, &n), 0);
	cr_assert_eq(n, 1);
	cr_assert_eq(ops[0].kind, ML_SPAN_KIND_SERVER);
	cr_assert_eq(ml_trace_store_operations(ts, ML_STR("nobody"), 0, arena, &ops, &n), 0);
	cr_assert_eq(n, 0);

	cr_assert_eq(ml_trace_store_remote_services(ts, ML_STR("frontend"), arena, &names, &n), 0);
	cr_assert_eq(n, 1);
	cr_assert(ml_str_eq_cstr(names[0], "cart"));
	cr_assert_eq(ml_trace_store_remote_services(ts, ML_STR("cart"), arena, &names, &n), 0);
	cr_assert_eq(n, 0);
}

Test(trace_store, names_from_head_and_blocks)
{
	search_data();
	check_names();
	compact();
	check_names();
	close_all();
	open_all(0);
	check_names();
}

static void dep_data(void)
{
	struct ml_span_batch b;
	ml_span_batch_init(&b, arena);
	for (uint64_t t = 1; t <= 4; t++) {
		uint64_t s0 = T0 + t * MS;
		add(&b, t, 1, 0, "gateway", "in", ML_SPAN_KIND_SERVER, s0, 10 * MS, NULL, NULL);
		add(&b, t, 2, 1, "gateway", "out", ML_SPAN_KIND_CLIENT, s0, 9 * MS, NULL, NULL);
		/* Istio: the callee's server span is the client's child */
		struct ml_span *s = add(&b, t, 3, 2, "cart", "in", ML_SPAN_KIND_SERVER, s0, 8 * MS, NULL, NULL);
		if (t == 1)
			s->status_code = ML_STATUS_ERROR;
		add(&b, t, 4, 3, "cart", "db", ML_SPAN_KIND_CLIENT, s0, 1 * MS, NULL, NULL);
		/* Zipkin shared span: the server half reuses the client's id */
		add(&b, t, 5, 3, "cart", "pay", ML_SPAN_KIND_CLIENT, s0, 2 * MS, NULL, NULL);
		add(&b, t, 5, 3, "payment", "pay", ML_SPAN_KIND_SERVER, s0, 1 * MS, NULL, NULL)->shared = true;
	}
	append(&b);
}

static void check_deps(void)
{
	struct ml_dependency *d;
	size_t n;
	cr_assert_eq(ml_trace_store_dependencies(ts, T0, T0 + 3600 * 1000 * MS, arena, &d, &n), 0);
	cr_assert_eq(n, 2, "got %zu links", n);
	cr_assert(ml_str_eq_cstr(d[0].parent, "cart") && ml_str_eq_cstr(d[0].child, "payment"));
	cr_assert_eq(d[0].call_count, 4);
	cr_assert_eq(d[0].error_count, 0);
	cr_assert(ml_str_eq_cstr(d[1].parent, "gateway") && ml_str_eq_cstr(d[1].child, "cart"));
	cr_assert_eq(d[1].call_count, 4);
	cr_assert_eq(d[1].error_count, 1);
	/* a window far away sees nothing */
	cr_assert_eq(ml_trace_store_dependencies(ts, T0 + 100 * 3600 * 1000 * MS,
						 T0 + 101 * 3600 * 1000 * MS, arena, &d, &n), 0);
	cr_assert_eq(n, 0);
}

Test(trace_store, dependencies_head_and_blocks)
{
	dep_data();
	check_deps();
	compact();
	check_deps();
}

/*
 * The same traces with each call's halves in two compactions (Envoy reports
 * the client and the server span from two proxies, seconds apart): part 0 is
 * the gateway's spans and cart's shared client half, part 1 cart's server and
 * client spans and payment's shared server half. Every link is counted once,
 * whichever half comes first, and survives a restart.
 */
static void dep_data_part(int part)
{
	struct ml_span_batch b;
	ml_span_batch_init(&b, arena);
	for (uint64_t t = 1; t <= 4; t++) {
		uint64_t s0 = T0 + t * MS;
		if (part == 0) {
			add(&b, t, 1, 0, "gateway", "in", ML_SPAN_KIND_SERVER, s0, 10 * MS, NULL, NULL);
			add(&b, t, 2, 1, "gateway", "out", ML_SPAN_KIND_CLIENT, s0, 9 * MS, NULL, NULL);
			add(&b, t, 5, 3, "cart", "pay", ML_SPAN_KIND_CLIENT, s0, 2 * MS, NULL, NULL);
		} else {
			struct ml_span *s = add(&b, t, 3, 2, "cart", "in", ML_SPAN_KIND_SERVER, s0, 8 * MS, NULL, NULL);
			if (t == 1)
				s->status_code = ML_STATUS_ERROR;
			add(&b, t, 4, 3, "cart", "db", ML_SPAN_KIND_CLIENT, s0, 1 * MS, NULL, NULL);
			add(&b, t, 5, 3, "payment", "pay", ML_SPAN_KIND_SERVER, s0, 1 * MS, NULL, NULL)->shared = true;
		}
	}
	append(&b);
}

Test(trace_store, dependencies_across_two_compactions)
{
	for (int first = 0; first < 2; first++) {
		if (first == 1) { /* a fresh store */
			close_all();
			fx_rmdir(dir);
			fx_tmpdir(dir, sizeof(dir));
			open_all(0);
		}
		dep_data_part(first);
		compact();
		dep_data_part(1 - first);
		compact();
		check_deps();
		close_all();
		open_all(0);
		check_deps();
	}
}

/*
 * A caller two compactions away is not looked for: the carry spans one
 * boundary. (payment's shared server span still finds cart through its
 * parent, cart's server span, in its own block.)
 */
Test(trace_store, dependencies_carry_one_boundary_only)
{
	dep_data_part(1);
	compact();
	struct ml_span_batch b;
	ml_span_batch_init(&b, arena);
	add(&b, 99, 1, 0, "other", "x", ML_SPAN_KIND_SERVER, T0 + 99 * MS, MS, NULL, NULL);
	append(&b);
	compact();
	dep_data_part(0);
	compact();
	struct ml_dependency *d;
	size_t n;
	cr_assert_eq(ml_trace_store_dependencies(ts, T0, T0 + 3600 * 1000 * MS, arena, &d, &n), 0);
	cr_assert_eq(n, 1, "got %zu links", n);
	cr_assert(ml_str_eq_cstr(d[0].parent, "cart") && ml_str_eq_cstr(d[0].child, "payment"));
	cr_assert_eq(d[0].call_count, 4);
}

Test(trace_store, retention_deletes_old_blocks_only)
{
	close_all();
	open_all(24 * 3600 * 1000 * MS); /* one day */
	uint64_t day = 24 * 3600 * 1000 * MS;
	struct ml_span_batch b;
	ml_span_batch_init(&b, arena);
	add(&b, 1, 1, 0, "old", "op", ML_SPAN_KIND_SERVER, T0, MS, NULL, NULL);
	add(&b, 2, 1, 0, "old", "op", ML_SPAN_KIND_SERVER, T0 + MS, MS, NULL, NULL);
	append(&b);
	compact();
	ml_span_batch_init(&b, arena);
	add(&b, 3, 1, 0, "new", "op", ML_SPAN_KIND_SERVER, T0 + 2 * day, MS, NULL, NULL);
	append(&b);
	compact();
	/* still in the head: an old span arriving late, compacted first */
	ml_span_batch_init(&b, arena);
	add(&b, 4, 1, 0, "old", "late", ML_SPAN_KIND_SERVER, T0 + 2 * MS, MS, NULL, NULL);
	append(&b);

	struct ml_err err = {{0}};
	cr_assert_eq(ml_trace_store_apply_retention(ts, T0 + 2 * day + MS, &err), 0, "%s", err.msg);
	cr_assert_not(exists(1));
	cr_assert_not(exists(2));
	cr_assert_not(exists(4));
	cr_assert(exists(3));
	struct ml_trace_store_stats s;
	ml_trace_store_stats(ts, &s);
	cr_assert_eq(s.retention_deleted_spans, 3);
	cr_assert_eq(s.blocks, 1);
	cr_assert_eq(s.block_spans, 1);
	cr_assert_eq(s.head_spans, 0);

	/* the index entries are gone too */
	MDB_txn *txn;
	MDB_dbi idx;
	cr_assert_eq(ml_store_dbi(st, "trace_index", 0, &idx, &err), 0);
	cr_assert_eq(ml_store_read_begin(st, &txn), 0);
	MDB_stat ms;
	mdb_stat(txn, idx, &ms);
	ml_store_read_end(txn);
	cr_assert_eq(ms.ms_entries, 1);

	/* a later pass changes nothing */
	cr_assert_eq(ml_trace_store_apply_retention(ts, T0 + 2 * day + 2 * MS, &err), 0);
	cr_assert(exists(3));
}

Test(trace_store, reopen_finds_head_and_blocks)
{
	search_data();
	compact();
	struct ml_span_batch b;
	ml_span_batch_init(&b, arena);
	add(&b, 5, 9, 1, "frontend", "late child", ML_SPAN_KIND_INTERNAL, T0 + 5000 * MS, MS, NULL, NULL);
	add(&b, 50, 1, 0, "other", "head only", ML_SPAN_KIND_SERVER, T0 + 50000 * MS, MS, NULL, NULL);
	append(&b);
	close_all();
	open_all(0);
	struct ml_trace_store_stats s;
	ml_trace_store_stats(ts, &s);
	cr_assert_eq(s.head_spans, 2, "head replayed");
	cr_assert_eq(s.block_spans, 90);
	cr_assert_eq(get(5).n, 4);
	cr_assert_eq(get(50).n, 1);
	cr_assert_eq(get(30).n, 3);
	check_search();
	/* new blocks after a restart get new ids */
	compact();
	close_all();
	open_all(0);
	cr_assert_eq(get(5).n, 4);
	cr_assert_eq(get(50).n, 1);
	ml_trace_store_stats(ts, &s);
	cr_assert_eq(s.blocks, 2);
}

Test(trace_store, kill9_after_append_loses_nothing)
{
	close_all();
	int pfd[2];
	cr_assert_eq(pipe(pfd), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		close(pfd[0]);
		open_all(0);
		for (uint64_t t = 1; t <= 50; t++) {
			struct ml_span_batch b;
			ml_span_batch_init(&b, arena);
			add(&b, t, 1, 0, "svc", "op", ML_SPAN_KIND_SERVER, T0 + t, MS, NULL, NULL);
			add(&b, t, 2, 1, "svc", "op2", ML_SPAN_KIND_CLIENT, T0 + t, MS, NULL, NULL);
			struct ml_err err;
			if (ml_trace_store_append(ts, &b, &err) != 0)
				_exit(3);
			if (t == 25) {
				/* half compacted, half in the head */
				if (ml_trace_store_compact(ts, &err) != 0)
					_exit(4);
			}
			uint8_t done = (uint8_t)t;
			if (write(pfd[1], &done, 1) != 1)
				_exit(5);
		}
		for (;;)
			pause(); /* killed here, with the store open */
	}
	close(pfd[1]);
	uint8_t last = 0, c;
	while (last < 50 && read(pfd[0], &c, 1) == 1)
		last = c;
	kill(pid, SIGKILL);
	int status;
	waitpid(pid, &status, 0);
	close(pfd[0]);
	cr_assert(WIFSIGNALED(status), "child was killed, not exited (status %d)", status);
	cr_assert_eq(last, 50);
	open_all(0);
	for (uint64_t t = 1; t <= 50; t++)
		cr_assert_eq(get(t).n, 2, "trace %llu", (unsigned long long)t);
}

Test(trace_store, empty_batch_and_bad_span)
{
	struct ml_span_batch b;
	ml_span_batch_init(&b, arena);
	append(&b);
	struct ml_span *s = add(&b, 1, 1, 0, "svc", "op", ML_SPAN_KIND_SERVER, T0, MS, NULL, NULL);
	s->end_ns = s->start_ns - 1;
	struct ml_err err = {{0}};
	cr_assert_eq(ml_trace_store_append(ts, &b, &err), ML_EINVAL);
	cr_assert(strstr(err.msg, "span 0") != NULL, "%s", err.msg);
	cr_assert_not(exists(1));
}
