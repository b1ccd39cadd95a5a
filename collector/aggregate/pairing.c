/*
 * pairing.c - Tempo's client/server span pairing (see pairing.h) in a
 * sharded, fixed-size table.
 *
 * Each shard owns a preallocated pool of entries (its share of max_edges),
 * a chained hash index over them (entry indices, no pointers) and a FIFO
 * list in arrival order, so the oldest key - the first to expire, and the
 * one pushed out when the pool is full - is always at the list's head.
 * Memory is bounded by max_edges entries plus the halves they hold.
 *
 * Nothing user-visible runs under a shard lock: keys leaving the table are
 * detached under the lock into a small local array and handed to the
 * callback (which updates registries) after unlocking.
 */
#include "aggregate/pairing.h"

#include "aggregate/istio.h"
#include "core/alloc.h"
#include "core/error.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <xxhash.h>

#define NIL UINT32_MAX
#define MAX_SHARDS 16
/* A shard smaller than this would make "the oldest is pushed out" too local. */
#define MIN_SHARD_ENTRIES 256
/* Keys ml_pairing_add expires on its way, so expiry keeps up under load without a timer. */
#define ADD_EXPIRE_BUDGET 4
/* Keys detached per lock hold in ml_pairing_expire. */
#define EXPIRE_BATCH 64

struct pend {
	uint8_t key[24]; /* trace id, span id */
	uint32_t hnext;  /* hash chain, or free list */
	uint32_t older, newer;
	int64_t born_ms;
	struct ml_pair_half *client, *server;
};

struct shard {
	pthread_mutex_t mu;
	struct pend *e;
	uint32_t cap;
	uint32_t *heads; /* mask + 1 chains */
	uint32_t mask;
	uint32_t free_head;
	uint32_t oldest, newest;
};

struct ml_pairing {
	int64_t wait_ms;
	ml_pairing_fn fn;
	void *ctx;
	size_t n_shards;
	struct shard *shards;
	_Atomic uint64_t pending, paired, expired, dropped;
};

/* A key leaving the table, handed to the callback after the lock is released. */
struct out {
	struct ml_pair_half *client, *server;
	enum ml_pair_outcome how;
};

static void half_free(struct ml_pair_half *h)
{
	if (h == NULL)
		return;
	ml_mesh_side_free(h->mesh);
	ml_free(h);
}

/* One allocation: the half and its two strings. */
static struct ml_pair_half *half_copy(const struct ml_pair_half *h)
{
	struct ml_pair_half *c = ml_malloc(sizeof(*c) + h->service.n + h->peer.n);
	if (c == NULL)
		return NULL;
	*c = *h;
	char *p = (char *)(c + 1);
	if (h->service.n)
		memcpy(p, h->service.p, h->service.n);
	c->service = ml_str_make(p, h->service.n);
	p += h->service.n;
	if (h->peer.n)
		memcpy(p, h->peer.p, h->peer.n);
	c->peer = ml_str_make(p, h->peer.n);
	return c;
}

struct ml_pairing *ml_pairing_create(const struct ml_pairing_options *o)
{
	struct ml_pairing *p = ml_calloc(1, sizeof(*p));
	if (p == NULL)
		goto fail;
	size_t max = o->max_edges ? o->max_edges : 10000;
	if (max > (size_t)NIL / 2)
		max = NIL / 2;
	p->wait_ms = o->wait_ms > 0 ? o->wait_ms : 10000;
	p->fn = o->fn;
	p->ctx = o->ctx;
	p->n_shards = MAX_SHARDS;
	while (p->n_shards > 1 && max / p->n_shards < MIN_SHARD_ENTRIES)
		p->n_shards /= 2;
	p->shards = ml_calloc(p->n_shards, sizeof(*p->shards));
	if (p->shards == NULL)
		goto fail;
	for (size_t i = 0; i < p->n_shards; i++) {
		struct shard *s = &p->shards[i];
		s->cap = (uint32_t)(max / p->n_shards + (i < max % p->n_shards ? 1 : 0));
		uint32_t nb = 1;
		while (nb < s->cap * 2)
			nb <<= 1;
		s->mask = nb - 1;
		s->e = ml_calloc(s->cap ? s->cap : 1, sizeof(*s->e));
		s->heads = ml_malloc(nb * sizeof(*s->heads));
		if (s->e == NULL || s->heads == NULL || pthread_mutex_init(&s->mu, NULL) != 0) {
			ml_free(s->e);
			ml_free(s->heads);
			s->e = NULL;
			s->heads = NULL;
			goto fail;
		}
		memset(s->heads, 0xff, nb * sizeof(*s->heads));
		for (uint32_t j = 0; j < s->cap; j++)
			s->e[j].hnext = j + 1 < s->cap ? j + 1 : NIL;
		s->free_head = s->cap ? 0 : NIL;
		s->oldest = s->newest = NIL;
	}
	return p;
fail:
	ml_pairing_destroy(p);
	return NULL;
}

void ml_pairing_destroy(struct ml_pairing *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; p->shards && i < p->n_shards; i++) {
		struct shard *s = &p->shards[i];
		if (s->e == NULL)
			continue;
		for (uint32_t j = s->oldest; j != NIL; j = s->e[j].newer) {
			half_free(s->e[j].client);
			half_free(s->e[j].server);
		}
		pthread_mutex_destroy(&s->mu);
		ml_free(s->e);
		ml_free(s->heads);
	}
	ml_free(p->shards);
	ml_free(p);
}

/* Unlinks entry i from its chain and the FIFO list and frees its slot. Shard locked. */
static void detach(struct shard *s, uint32_t i, uint64_t hash)
{
	struct pend *e = &s->e[i];
	uint32_t *link = &s->heads[hash & s->mask];
	while (*link != i)
		link = &s->e[*link].hnext;
	*link = e->hnext;
	if (e->older != NIL)
		s->e[e->older].newer = e->newer;
	else
		s->oldest = e->newer;
	if (e->newer != NIL)
		s->e[e->newer].older = e->older;
	else
		s->newest = e->older;
	e->client = e->server = NULL;
	e->hnext = s->free_head;
	s->free_head = i;
}

static uint64_t key_hash(const uint8_t key[24])
{
	return XXH3_64bits(key, 24);
}

/* Detaches the oldest entry into *o as a lone half with outcome how. Shard locked. */
static void take_oldest(struct shard *s, struct out *o, enum ml_pair_outcome how)
{
	uint32_t i = s->oldest;
	struct pend *e = &s->e[i];
	o->client = e->client;
	o->server = e->server;
	o->how = how;
	detach(s, i, key_hash(e->key));
}

/* Hands detached keys to the callback, counts them and frees their halves. */
static void deliver(struct ml_pairing *p, struct out *outs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct out *o = &outs[i];
		if (o->client == NULL && o->server == NULL)
			continue;
		switch (o->how) {
		case ML_PAIR_COMPLETE:
			atomic_fetch_add(&p->paired, 1);
			break;
		case ML_PAIR_EXPIRED:
			atomic_fetch_add(&p->expired, 1);
			break;
		case ML_PAIR_DROPPED:
			atomic_fetch_add(&p->dropped, 1);
			break;
		}
		if (p->fn) {
			if (o->how == ML_PAIR_COMPLETE || o->client == NULL || o->server == NULL) {
				p->fn(p->ctx, o->client, o->server, o->how);
			} else {
				/* Never both halves unless complete; keep the contract anyway. */
				p->fn(p->ctx, o->client, NULL, o->how);
				p->fn(p->ctx, NULL, o->server, o->how);
			}
		}
		half_free(o->client);
		half_free(o->server);
	}
}

int ml_pairing_add(struct ml_pairing *p, const uint8_t trace_id[16], const uint8_t id[8],
                   bool server, const struct ml_pair_half *h, int64_t now_ms)
{
	struct ml_pair_half *copy = half_copy(h);
	if (copy == NULL) {
		ml_mesh_side_free(h->mesh);
		return ML_ENOMEM;
	}
	uint8_t key[24];
	memcpy(key, trace_id, 16);
	memcpy(key + 16, id, 8);
	uint64_t hash = key_hash(key);
	struct shard *s = &p->shards[(hash >> 40) & (p->n_shards - 1)];
	struct out outs[ADD_EXPIRE_BUDGET + 2];
	size_t n_out = 0;
	int64_t pending_delta = 0;

	pthread_mutex_lock(&s->mu);
	for (int k = 0; k < ADD_EXPIRE_BUDGET && s->oldest != NIL; k++) {
		if (s->e[s->oldest].born_ms > now_ms - p->wait_ms)
			break;
		take_oldest(s, &outs[n_out++], ML_PAIR_EXPIRED);
		pending_delta--;
	}
	uint32_t i = s->heads[hash & s->mask];
	while (i != NIL && memcmp(s->e[i].key, key, 24) != 0)
		i = s->e[i].hnext;
	if (i != NIL) {
		struct pend *e = &s->e[i];
		struct ml_pair_half **slot = server ? &e->server : &e->client;
		if (*slot != NULL) {
			/* The same side twice (a span sent again): the first goes out alone. */
			struct out *o = &outs[n_out++];
			o->client = server ? NULL : *slot;
			o->server = server ? *slot : NULL;
			o->how = ML_PAIR_EXPIRED;
		}
		*slot = copy;
		if (e->client != NULL && e->server != NULL) {
			struct out *o = &outs[n_out++];
			o->client = e->client;
			o->server = e->server;
			o->how = ML_PAIR_COMPLETE;
			detach(s, i, hash);
			pending_delta--;
		}
	} else {
		if (s->free_head == NIL) {
			take_oldest(s, &outs[n_out++], ML_PAIR_DROPPED);
			pending_delta--;
		}
		i = s->free_head;
		struct pend *e = &s->e[i];
		s->free_head = e->hnext;
		memcpy(e->key, key, 24);
		e->born_ms = now_ms;
		e->client = server ? NULL : copy;
		e->server = server ? copy : NULL;
		e->hnext = s->heads[hash & s->mask];
		s->heads[hash & s->mask] = i;
		e->newer = NIL;
		e->older = s->newest;
		if (s->newest != NIL)
			s->e[s->newest].newer = i;
		else
			s->oldest = i;
		s->newest = i;
		pending_delta++;
	}
	pthread_mutex_unlock(&s->mu);

	if (pending_delta >= 0)
		atomic_fetch_add(&p->pending, (uint64_t)pending_delta);
	else
		atomic_fetch_sub(&p->pending, (uint64_t)-pending_delta);
	deliver(p, outs, n_out);
	return 0;
}

size_t ml_pairing_expire(struct ml_pairing *p, int64_t now_ms)
{
	size_t total = 0;
	int64_t limit = now_ms == INT64_MAX ? INT64_MAX : now_ms - p->wait_ms;
	for (size_t si = 0; si < p->n_shards; si++) {
		struct shard *s = &p->shards[si];
		for (;;) {
			struct out outs[EXPIRE_BATCH];
			size_t n = 0;
			pthread_mutex_lock(&s->mu);
			while (n < EXPIRE_BATCH && s->oldest != NIL &&
			       s->e[s->oldest].born_ms <= limit)
				take_oldest(s, &outs[n++], ML_PAIR_EXPIRED);
			pthread_mutex_unlock(&s->mu);
			atomic_fetch_sub(&p->pending, n);
			deliver(p, outs, n);
			total += n;
			if (n < EXPIRE_BATCH)
				break;
		}
	}
	return total;
}

void ml_pairing_get_stats(struct ml_pairing *p, struct ml_pairing_stats *out)
{
	out->pending = atomic_load(&p->pending);
	out->paired = atomic_load(&p->paired);
	out->expired = atomic_load(&p->expired);
	out->dropped = atomic_load(&p->dropped);
}
