/*
 * test_pairing.c - collector/aggregate/pairing.c: client and server halves
 * meet under one key in either order (parent-id and Zipkin shared-id keys),
 * lone halves leave after the wait and not before, the table never holds
 * more than max_edges keys (the oldest leaves early, counted as dropped),
 * a half sent twice is counted once per copy, and concurrent adders from
 * several threads pair everything exactly once.
 */
#include <criterion/criterion.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "aggregate/pairing.h"
#include "agg_fixtures.h"

#define T0 1764000000000LL

struct event {
	char client[32], server[32];
	enum ml_pair_outcome how;
};

static struct event events[64];
static size_t n_events;

static void record(void *ctx, const struct ml_pair_half *c, const struct ml_pair_half *s,
                   enum ml_pair_outcome how)
{
	(void)ctx;
	cr_assert_lt(n_events, 64);
	struct event *e = &events[n_events++];
	memset(e, 0, sizeof(*e));
	if (c)
		snprintf(e->client, sizeof(e->client), "%.*s", (int)c->service.n, c->service.p);
	if (s)
		snprintf(e->server, sizeof(e->server), "%.*s", (int)s->service.n, s->service.p);
	e->how = how;
}

static struct ml_pairing *make(int64_t wait_ms, size_t max_edges)
{
	n_events = 0;
	struct ml_pairing_options o = {.wait_ms = wait_ms, .max_edges = max_edges, .fn = record};
	struct ml_pairing *p = ml_pairing_create(&o);
	cr_assert_not_null(p);
	return p;
}

static void add(struct ml_pairing *p, uint64_t trace, uint64_t id, bool server, const char *svc,
                int64_t now)
{
	uint8_t t[16], k[8];
	fx_id16(t, trace);
	fx_id8(k, id);
	struct ml_pair_half h = {.service = ml_str_make(svc, strlen(svc)), .seconds = 0.01};
	cr_assert_eq(ml_pairing_add(p, t, k, server, &h, now), 0);
}

static struct ml_pairing_stats stats(struct ml_pairing *p)
{
	struct ml_pairing_stats s;
	ml_pairing_get_stats(p, &s);
	return s;
}

Test(pairing, client_then_server_completes_once)
{
	struct ml_pairing *p = make(10000, 100);
	add(p, 1, 0xc1, false, "frontend", T0);
	cr_assert_eq(n_events, 0);
	cr_assert_eq(stats(p).pending, 1);
	add(p, 1, 0xc1, true, "backend", T0 + 5);
	cr_assert_eq(n_events, 1);
	cr_assert_str_eq(events[0].client, "frontend");
	cr_assert_str_eq(events[0].server, "backend");
	cr_assert_eq(events[0].how, ML_PAIR_COMPLETE);
	cr_assert_eq(stats(p).pending, 0);
	cr_assert_eq(stats(p).paired, 1);
	/* nothing is left to expire */
	cr_assert_eq(ml_pairing_expire(p, INT64_MAX), 0);
	cr_assert_eq(n_events, 1);
	ml_pairing_destroy(p);
}

Test(pairing, server_first_and_other_traces_do_not_mix)
{
	struct ml_pairing *p = make(10000, 100);
	add(p, 7, 0xc1, true, "backend", T0);
	add(p, 8, 0xc1, false, "other-trace", T0); /* same span id, another trace */
	cr_assert_eq(n_events, 0);
	add(p, 7, 0xc1, false, "frontend", T0 + 1);
	cr_assert_eq(n_events, 1);
	cr_assert_str_eq(events[0].client, "frontend");
	cr_assert_str_eq(events[0].server, "backend");
	cr_assert_eq(stats(p).pending, 1);
	ml_pairing_destroy(p);
}

Test(pairing, lone_half_waits_exactly_the_wait)
{
	struct ml_pairing *p = make(2000, 100);
	add(p, 1, 0xc1, false, "frontend", T0);
	add(p, 2, 0xa1, true, "backend", T0 + 500);
	cr_assert_eq(ml_pairing_expire(p, T0 + 1999), 0);
	cr_assert_eq(n_events, 0);
	cr_assert_eq(ml_pairing_expire(p, T0 + 2000), 1);
	cr_assert_eq(n_events, 1);
	cr_assert_str_eq(events[0].client, "frontend");
	cr_assert_str_eq(events[0].server, "");
	cr_assert_eq(events[0].how, ML_PAIR_EXPIRED);
	cr_assert_eq(ml_pairing_expire(p, T0 + 2500), 1);
	cr_assert_str_eq(events[1].server, "backend");
	cr_assert_str_eq(events[1].client, "");
	cr_assert_eq(stats(p).expired, 2);
	cr_assert_eq(stats(p).pending, 0);
	ml_pairing_destroy(p);
}

Test(pairing, adding_expires_overdue_keys_on_the_way)
{
	struct ml_pairing *p = make(1000, 100);
	add(p, 1, 0xc1, false, "old", T0);
	add(p, 2, 0xc2, false, "new", T0 + 1000);
	cr_assert_eq(n_events, 1);
	cr_assert_str_eq(events[0].client, "old");
	cr_assert_eq(events[0].how, ML_PAIR_EXPIRED);
	cr_assert_eq(stats(p).pending, 1);
	ml_pairing_destroy(p);
}

Test(pairing, full_table_pushes_the_oldest_out_as_dropped)
{
	struct ml_pairing *p = make(10000, 4);
	for (uint64_t i = 1; i <= 6; i++) {
		char svc[16];
		snprintf(svc, sizeof(svc), "c%llu", (unsigned long long)i);
		add(p, i, i, false, svc, T0 + (int64_t)i);
		cr_assert_leq(stats(p).pending, 4);
	}
	cr_assert_eq(n_events, 2);
	cr_assert_str_eq(events[0].client, "c1");
	cr_assert_str_eq(events[1].client, "c2");
	cr_assert_eq(events[0].how, ML_PAIR_DROPPED);
	cr_assert_eq(stats(p).dropped, 2);
	cr_assert_eq(stats(p).pending, 4);
	/* the keys still waiting still pair */
	add(p, 6, 6, true, "s6", T0 + 10);
	cr_assert_eq(events[2].how, ML_PAIR_COMPLETE);
	cr_assert_str_eq(events[2].client, "c6");
	/* and shutdown hands out every one left, each once */
	cr_assert_eq(ml_pairing_expire(p, INT64_MAX), 3);
	cr_assert_eq(n_events, 6);
	ml_pairing_destroy(p);
}

Test(pairing, a_half_sent_twice_is_handed_out_once_per_copy)
{
	struct ml_pairing *p = make(10000, 100);
	add(p, 1, 0xc1, false, "first", T0);
	add(p, 1, 0xc1, false, "again", T0 + 1);
	cr_assert_eq(n_events, 1);
	cr_assert_str_eq(events[0].client, "first");
	cr_assert_eq(events[0].how, ML_PAIR_EXPIRED);
	add(p, 1, 0xc1, true, "server", T0 + 2);
	cr_assert_eq(n_events, 2);
	cr_assert_str_eq(events[1].client, "again");
	cr_assert_eq(events[1].how, ML_PAIR_COMPLETE);
	ml_pairing_destroy(p);
}

Test(pairing, destroy_frees_pending_without_callbacks)
{
	struct ml_pairing *p = make(10000, 100);
	for (uint64_t i = 0; i < 50; i++)
		add(p, i, i, i % 2, "x", T0);
	ml_pairing_destroy(p); /* ASan reports leaks */
	cr_assert_eq(n_events, 0);
}

/* ---- threads ---------------------------------------------------------------- */

static _Atomic uint64_t complete_n, other_n;

static void count_cb(void *ctx, const struct ml_pair_half *c, const struct ml_pair_half *s,
                     enum ml_pair_outcome how)
{
	(void)ctx;
	if (how == ML_PAIR_COMPLETE && c && s && c->seconds == s->seconds)
		atomic_fetch_add(&complete_n, 1);
	else
		atomic_fetch_add(&other_n, 1);
}

struct worker {
	struct ml_pairing *p;
	int id;
};

#define PER_THREAD 5000

static void *adder(void *arg)
{
	struct worker *w = arg;
	/* Thread 2k adds the client halves, thread 2k+1 the server halves, of the same keys. */
	uint64_t base = (uint64_t)(w->id / 2) * 1000000;
	bool server = w->id % 2;
	for (uint64_t i = 0; i < PER_THREAD; i++) {
		uint8_t t[16], k[8];
		fx_id16(t, base + i);
		fx_id8(k, (base + i) * 31 + 7);
		struct ml_pair_half h = {.service = ML_STR("svc"), .seconds = (double)(base + i)};
		cr_assert_eq(ml_pairing_add(w->p, t, k, server, &h, T0), 0);
	}
	return NULL;
}

Test(pairing, concurrent_adders_pair_everything_once)
{
	struct ml_pairing_options o = {
	    .wait_ms = 60000, .max_edges = 4 * PER_THREAD, .fn = count_cb};
	struct ml_pairing *p = ml_pairing_create(&o);
	cr_assert_not_null(p);
	pthread_t th[4];
	struct worker w[4];
	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){p, i};
		pthread_create(&th[i], NULL, adder, &w[i]);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	cr_assert_eq(atomic_load(&complete_n), 2 * PER_THREAD);
	cr_assert_eq(atomic_load(&other_n), 0);
	struct ml_pairing_stats st;
	ml_pairing_get_stats(p, &st);
	cr_assert_eq(st.pending, 0);
	cr_assert_eq(st.paired, 2 * PER_THREAD);
	ml_pairing_destroy(p);
}
