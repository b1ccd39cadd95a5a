/*
 * test_registry.c - metric families: registration rules, children by label
 * values, max_children, counter/gauge/histogram arithmetic, walk order,
 * on_collect, and exact totals under concurrent updates.
 */
#include <criterion/criterion.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/registry.h"

static const char *const two_labels[] = {"method", "code"};
static const double bounds[] = {0.1, 1, 10};

static struct ml_family *add_or_die(struct ml_registry *r, const struct ml_family_desc *d)
{
	struct ml_err err = {{0}};
	struct ml_family *f = ml_registry_add(r, d, &err);
	cr_assert_not_null(f, "%s", err.msg);
	return f;
}

/* Collects what a walk shows, as lines "name{v1,v2} value" or
 * "name{..} [b1 b2 b3] count sum", or "name (empty)". */
struct dump {
	char text[8192];
	size_t len;
	int stop_after; /* stop the walk after this many visits (0 = never) */
	int visits;
};

static int dump_visit(void *ctx, const struct ml_family_desc *f, const struct ml_child_value *v)
{
	struct dump *d = ctx;
	char *p = d->text + d->len;
	size_t room = sizeof(d->text) - d->len;
	int n;
	if (!v) {
		n = snprintf(p, room, "%s (empty)\n", f->name);
	} else {
		n = snprintf(p, room, "%s{", f->name);
		for (size_t i = 0; i < f->n_labels; i++)
			n += snprintf(p + n, room - n, "%s%.*s", i ? "," : "",
			              (int)v->label_values[i].n, v->label_values[i].p);
		n += snprintf(p + n, room - n, "}");
		if (f->type == ML_METRIC_HISTOGRAM) {
			n += snprintf(p + n, room - n, " [");
			for (size_t i = 0; i < f->n_buckets; i++)
				n += snprintf(p + n, room - n, "%s%llu", i ? " " : "",
				              (unsigned long long)v->buckets[i]);
			n += snprintf(p + n, room - n, "] %llu %g\n", (unsigned long long)v->count,
			              v->sum);
		} else {
			n += snprintf(p + n, room - n, " %g\n", v->value);
		}
	}
	d->len += (size_t)n;
	d->visits++;
	if (d->stop_after && d->visits >= d->stop_after)
		return 42;
	return 0;
}

Test(registry, counters_gauges_and_children_by_label_values)
{
	struct ml_registry *r = ml_registry_create();
	struct ml_family *c = add_or_die(r, &(struct ml_family_desc){
	                                        .name = "http_requests_total",
	                                        .type = ML_METRIC_COUNTER,
	                                        .help = "Requests.",
	                                        .label_names = two_labels,
	                                        .n_labels = 2,
	                                    });
	struct ml_family *g = add_or_die(r, &(struct ml_family_desc){
	                                        .name = "queue_depth",
	                                        .type = ML_METRIC_GAUGE,
	                                        .help = "Depth.",
	                                    });
	struct ml_str get200[] = {ML_STR("GET"), ML_STR("200")};
	struct ml_str get500[] = {ML_STR("GET"), ML_STR("500")};
	/* Same bytes in another buffer: must be the same child. */
	char buf[] = "GET200";
	struct ml_str get200b[] = {{buf, 3}, {buf + 3, 3}};
	/* A split that concatenates to the same bytes is another child. */
	struct ml_str ge_t200[] = {ML_STR("GE"), ML_STR("T200")};

	struct ml_child *a = ml_family_child(c, get200);
	cr_assert_not_null(a);
	cr_assert_eq(ml_family_child(c, get200b), a);
	struct ml_child *b = ml_family_child(c, get500);
	cr_assert_neq(a, b);
	cr_assert_neq(ml_family_child(c, ge_t200), a);
	cr_assert_eq(ml_family_children(c), 3);
	cr_assert_null(ml_family_child(c, NULL), "a labelled family needs values");

	ml_child_add(a, 1);
	ml_child_add(a, 2.5);
	ml_child_add(a, -7); /* a counter never goes down */
	ml_child_add(a, NAN);
	ml_child_add(b, 1);

	struct ml_child *q = ml_family_child(g, NULL);
	cr_assert_not_null(q);
	cr_assert_eq(ml_family_child(g, NULL), q);
	ml_child_set(q, 10);
	ml_child_add(q, -3); /* a gauge may go down */

	struct dump d = {0};
	cr_assert_eq(ml_registry_walk(r, dump_visit, &d), 0);
	cr_assert_str_eq(d.text, "http_requests_total{GET,200} 3.5\n"
	                         "http_requests_total{GET,500} 1\n"
	                         "http_requests_total{GE,T200} 0\n"
	                         "queue_depth{} 7\n");
	ml_registry_destroy(r);
}

Test(registry, registration_rules)
{
	struct ml_registry *r = ml_registry_create();
	struct ml_err err = {{0}};
	struct ml_family_desc d = {.name = "a_total",
	                           .type = ML_METRIC_COUNTER,
	                           .help = "x",
	                           .label_names = two_labels,
	                           .n_labels = 2};
	struct ml_family *f = add_or_die(r, &d);
	/* Same shape again: the same family. */
	cr_assert_eq(ml_registry_add(r, &d, &err), f);
	cr_assert_eq(ml_registry_find(r, "a_total"), f);
	cr_assert_null(ml_registry_find(r, "b_total"));
	cr_assert_str_eq(ml_family_describe(f)->name, "a_total");
	/* Same name, other labels: refused, message names the family. */
	struct ml_family_desc other = d;
	other.n_labels = 1;
	cr_assert_null(ml_registry_add(r, &other, &err));
	cr_assert(strstr(err.msg, "a_total"), "%s", err.msg);

	struct ml_family_desc bad[] = {
	    {.name = "requests", .type = ML_METRIC_COUNTER}, /* counter without _total */
	    {.name = "9lives", .type = ML_METRIC_GAUGE},     /* bad metric name */
	    {.name = "x", .type = ML_METRIC_SUMMARY},        /* unsupported type */
	    {.name = "h",
	     .type = ML_METRIC_HISTOGRAM,
	     .label_names = (const char *const[]){"le"},
	     .n_labels = 1},
	    {.name = "g",
	     .type = ML_METRIC_GAUGE,
	     .label_names = (const char *const[]){"__x"},
	     .n_labels = 1},
	    {.name = "g2",
	     .type = ML_METRIC_GAUGE,
	     .label_names = (const char *const[]){"a", "a"},
	     .n_labels = 2},
	    {.name = "h2",
	     .type = ML_METRIC_HISTOGRAM,
	     .buckets = (const double[]){1, 1},
	     .n_buckets = 2},
	    {.name = "h3",
	     .type = ML_METRIC_HISTOGRAM,
	     .buckets = (const double[]){1, INFINITY},
	     .n_buckets = 2},
	    {.name = "g3", .type = ML_METRIC_GAUGE, .help = "two\nlines"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err.msg[0] = 0;
		cr_assert_null(ml_registry_add(r, &bad[i], &err), "bad[%zu] accepted", i);
		cr_assert(strstr(err.msg, bad[i].name), "bad[%zu]: %s", i, err.msg);
	}
	ml_registry_destroy(r);
}

Test(registry, max_children_bounds_a_family)
{
	struct ml_registry *r = ml_registry_create();
	struct ml_family *f = add_or_die(r, &(struct ml_family_desc){
	                                        .name = "edges_total",
	                                        .type = ML_METRIC_COUNTER,
	                                        .label_names = (const char *const[]){"client"},
	                                        .n_labels = 1,
	                                        .max_children = 3,
	                                    });
	char name[16];
	for (int i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "svc%d", i);
		struct ml_str v = ml_str_make(name, strlen(name));
		cr_assert_not_null(ml_family_child(f, &v));
	}
	struct ml_str v4 = ML_STR("svc3");
	cr_assert_null(ml_family_child(f, &v4));
	/* Existing children stay reachable at the limit. */
	struct ml_str v0 = ML_STR("svc0");
	cr_assert_not_null(ml_family_child(f, &v0));
	cr_assert_eq(ml_family_children(f), 3);
	ml_registry_destroy(r);
}

Test(registry, histogram_observe_and_add_histogram)
{
	struct ml_registry *r = ml_registry_create();
	struct ml_family *f = add_or_die(r, &(struct ml_family_desc){
	                                        .name = "latency_seconds",
	                                        .type = ML_METRIC_HISTOGRAM,
	                                        .label_names = (const char *const[]){"op"},
	                                        .n_labels = 1,
	                                        .buckets = bounds,
	                                        .n_buckets = 3,
	                                    });
	struct ml_str op = ML_STR("read");
	struct ml_child *c = ml_family_child(f, &op);
	ml_child_observe(c, 0.05); /* le 0.1 */
	ml_child_observe(c, 0.1);  /* le is inclusive: le 0.1 */
	ml_child_observe(c, 5);    /* le 10 */
	ml_child_observe(c, 100);  /* +Inf only */
	struct dump d = {0};
	ml_registry_walk(r, dump_visit, &d);
	cr_assert_str_eq(d.text, "latency_seconds{read} [2 2 3] 4 105.15\n");

	/* Seeding after a restart: cumulative buckets as exposed. */
	const uint64_t cum[] = {1, 4, 4};
	ml_child_add_histogram(c, cum, 6, 20);
	d = (struct dump){0};
	ml_registry_walk(r, dump_visit, &d);
	cr_assert_str_eq(d.text, "latency_seconds{read} [3 6 7] 10 125.15\n");
	ml_registry_destroy(r);
}

static void set_from_ctx(void *ctx, struct ml_family *f)
{
	int *calls = ctx;
	(*calls)++;
	ml_child_set(ml_family_child(f, NULL), 100 + *calls);
}

Test(registry, walk_order_empty_families_on_collect_and_stop)
{
	struct ml_registry *r = ml_registry_create();
	struct ml_family *z =
	    add_or_die(r, &(struct ml_family_desc){.name = "z_total",
	                                           .type = ML_METRIC_COUNTER,
	                                           .label_names = (const char *const[]){"k"},
	                                           .n_labels = 1});
	add_or_die(r, &(struct ml_family_desc){.name = "a_empty", .type = ML_METRIC_GAUGE});
	struct ml_family *m =
	    add_or_die(r, &(struct ml_family_desc){.name = "m_collected", .type = ML_METRIC_GAUGE});
	int calls = 0;
	ml_family_on_collect(m, set_from_ctx, &calls);
	/* Creation order, not sorted order. */
	struct ml_str k[] = {ML_STR("y"), ML_STR("b"), ML_STR("x")};
	for (int i = 0; i < 3; i++)
		ml_child_add(ml_family_child(z, &k[i]), i + 1);

	struct dump d = {0};
	cr_assert_eq(ml_registry_walk(r, dump_visit, &d), 0);
	cr_assert_str_eq(d.text, "z_total{y} 1\nz_total{b} 2\nz_total{x} 3\n"
	                         "a_empty (empty)\n"
	                         "m_collected{} 101\n");
	d = (struct dump){0};
	ml_registry_walk(r, dump_visit, &d);
	cr_assert_eq(calls, 2, "on_collect runs on every walk");
	cr_assert(strstr(d.text, "m_collected{} 102\n"), "%s", d.text);

	d = (struct dump){.stop_after = 2};
	cr_assert_eq(ml_registry_walk(r, dump_visit, &d), 42);
	cr_assert_eq(d.visits, 2);
	ml_registry_destroy(r);
}

#define THREADS 4
#define ROUNDS 20000

struct worker {
	struct ml_family *counter, *hist;
	int id;
};

static void *work(void *arg)
{
	struct worker *w = arg;
	char val[8];
	for (int i = 0; i < ROUNDS; i++) {
		/* 8 label values shared by all threads, created concurrently. */
		snprintf(val, sizeof(val), "v%d", (i * 7 + w->id) % 8);
		struct ml_str v = ml_str_make(val, strlen(val));
		ml_child_add(ml_family_child(w->counter, &v), 0.5);
		ml_child_observe(ml_family_child(w->hist, NULL), (double)(i % 4) * 0.5);
	}
	return NULL;
}

Test(registry, concurrent_updates_keep_exact_totals)
{
	struct ml_registry *r = ml_registry_create();
	struct ml_family *c =
	    add_or_die(r, &(struct ml_family_desc){.name = "spans_total",
	                                           .type = ML_METRIC_COUNTER,
	                                           .label_names = (const char *const[]){"k"},
	                                           .n_labels = 1});
	struct ml_family *h = add_or_die(
	    r, &(struct ml_family_desc){
	           .name = "obs", .type = ML_METRIC_HISTOGRAM, .buckets = bounds, .n_buckets = 3});
	pthread_t t[THREADS];
	struct worker w[THREADS];
	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct worker){c, h, i};
		cr_assert_eq(pthread_create(&t[i], NULL, work, &w[i]), 0);
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	cr_assert_eq(ml_family_children(c), 8);
	double total = 0;
	struct dump d = {0};
	ml_registry_walk(r, dump_visit, &d);
	/* Every thread hits each of the 8 values ROUNDS/8 times. */
	for (char *p = d.text; (p = strstr(p, "spans_total{")); p++) {
		double v = strtod(strchr(p, ' ') + 1, NULL);
		cr_assert_eq(v, THREADS * (ROUNDS / 8) * 0.5, "%s", d.text);
		total += v;
	}
	cr_assert_eq(total, THREADS * ROUNDS * 0.5);
	/* Observations 0, 0.5, 1, 1.5 in turn: le 0.1 gets 1/4, le 1 gets 3/4. */
	char want[128];
	snprintf(want, sizeof(want), "obs{} [%d %d %d] %d %g\n", THREADS * ROUNDS / 4,
	         THREADS * ROUNDS * 3 / 4, THREADS * ROUNDS, THREADS * ROUNDS,
	         THREADS * (ROUNDS / 4) * 3.0);
	cr_assert(strstr(d.text, want), "want %s in\n%s", want, d.text);
	ml_registry_destroy(r);
}
