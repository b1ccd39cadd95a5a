/*
 * tsdb_head.c - the in-memory head of the TSDB: a table of series, each a
 * short list of Gorilla chunks.
 *
 * A series costs its struct, its label set and about 1-2 bytes per sample in
 * its open chunk; out-of-order inserts decode and re-encode one chunk (at most
 * a few hundred samples), which is cheap next to keeping samples unencoded.
 */
#include "core/alloc.h"
#include "store/tsdb_internal.h"

#include <string.h>

#define TAB_MIN 1024

static size_t slot(uint64_t k, size_t nb)
{
	/* ids are hashes already; mix a little for the +1 ids of collisions */
	k ^= k >> 29;
	return (size_t)(k & (nb - 1));
}

static struct ml_hseries **chain_next(struct ml_hseries *s, bool by_sid)
{
	return by_sid ? &s->next_sid : &s->next_hash;
}

static int tab_grow(struct ml_htab *t, bool by_sid)
{
	size_t nb = t->nb ? t->nb * 2 : TAB_MIN;
	struct ml_hseries **b = ml_calloc(nb, sizeof(*b));
	if (b == NULL)
		return ML_ENOMEM;
	for (size_t i = 0; i < t->nb; i++) {
		struct ml_hseries *s = t->b[i], *next;
		for (; s; s = next) {
			next = *chain_next(s, by_sid);
			size_t j = slot(by_sid ? s->sid : s->hash, nb);
			*chain_next(s, by_sid) = b[j];
			b[j] = s;
		}
	}
	ml_free(t->b);
	t->b = b;
	t->nb = nb;
	return 0;
}

static void tab_del(struct ml_htab *t, struct ml_hseries *s, bool by_sid)
{
	if (t->nb == 0)
		return;
	struct ml_hseries **pp = &t->b[slot(by_sid ? s->sid : s->hash, t->nb)];
	while (*pp && *pp != s)
		pp = chain_next(*pp, by_sid);
	if (*pp) {
		*pp = *chain_next(s, by_sid);
		t->n--;
	}
}

struct ml_hseries *ml_head_by_hash(struct ml_tsdb *db, uint64_t hash, struct ml_labels ls)
{
	if (db->by_hash.nb == 0)
		return NULL;
	for (struct ml_hseries *s = db->by_hash.b[slot(hash, db->by_hash.nb)]; s; s = s->next_hash)
		if (s->hash == hash && s->labels_len == ls.n && memcmp(s->labels, ls.p, ls.n) == 0)
			return s;
	return NULL;
}

struct ml_hseries *ml_head_by_sid(struct ml_tsdb *db, uint64_t sid)
{
	if (db->by_sid.nb == 0)
		return NULL;
	for (struct ml_hseries *s = db->by_sid.b[slot(sid, db->by_sid.nb)]; s; s = s->next_sid)
		if (s->sid == sid)
			return s;
	return NULL;
}

struct ml_hseries *ml_head_create(struct ml_tsdb *db, uint64_t sid, uint64_t hash, struct ml_labels ls)
{
	struct ml_hseries *s = ml_calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->labels = ml_malloc(ls.n ? ls.n : 1);
	if (s->labels == NULL) {
		ml_free(s);
		return NULL;
	}
	memcpy(s->labels, ls.p, ls.n);
	s->labels_len = (uint32_t)ls.n;
	s->sid = sid;
	s->hash = hash;
	s->maxt = s->persisted_maxt = s->w_maxt = s->w_floor = INT64_MIN;
	atomic_init(&s->pending, 0);
	pthread_rwlock_wrlock(&db->lock);
	if ((db->by_hash.n >= db->by_hash.nb && tab_grow(&db->by_hash, false) != 0) ||
	    (db->by_sid.n >= db->by_sid.nb && tab_grow(&db->by_sid, true) != 0)) {
		pthread_rwlock_unlock(&db->lock);
		ml_free(s->labels);
		ml_free(s);
		return NULL;
	}
	size_t i = slot(hash, db->by_hash.nb), j = slot(sid, db->by_sid.nb);
	s->next_hash = db->by_hash.b[i];
	db->by_hash.b[i] = s;
	db->by_hash.n++;
	s->next_sid = db->by_sid.b[j];
	db->by_sid.b[j] = s;
	db->by_sid.n++;
	pthread_rwlock_unlock(&db->lock);
	return s;
}

static void free_series(struct ml_hseries *s)
{
	for (struct ml_hchunk *c = s->chunks, *next; c; c = next) {
		next = c->next;
		ml_chunk_enc_free(&c->enc);
		ml_free(c);
	}
	ml_free(s->labels);
	ml_free(s);
}

void ml_head_remove(struct ml_tsdb *db, struct ml_hseries *s)
{
	tab_del(&db->by_hash, s, false);
	tab_del(&db->by_sid, s, true);
	free_series(s);
}

void ml_head_free_all(struct ml_tsdb *db)
{
	for (size_t i = 0; i < db->by_sid.nb; i++) {
		for (struct ml_hseries *s = db->by_sid.b[i], *next; s; s = next) {
			next = s->next_sid;
			free_series(s);
		}
	}
	ml_free(db->by_sid.b);
	ml_free(db->by_hash.b);
	memset(&db->by_sid, 0, sizeof(db->by_sid));
	memset(&db->by_hash, 0, sizeof(db->by_hash));
}

static struct ml_hchunk *new_chunk(struct ml_hseries *s)
{
	struct ml_hchunk *c = ml_calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	ml_chunk_enc_init(&c->enc);
	c->mint = INT64_MAX;
	c->maxt = INT64_MIN;
	c->first_seq = UINT64_MAX;
	if (s->tail)
		s->tail->next = c;
	else
		s->chunks = c;
	s->tail = c;
	return c;
}

static uint64_t f2b(double v)
{
	uint64_t b;
	memcpy(&b, &v, 8);
	return b;
}

/* Re-encodes c with (t, v) inserted in order; drops it if t is already there. */
static int insert_into(struct ml_hchunk *c, int64_t t, double v)
{
	struct ml_chunk_enc ne;
	struct ml_chunk_it it;
	size_t len;
	const uint8_t *p = ml_chunk_enc_bytes(&c->enc, &len);
	int64_t ct;
	double cv;
	bool done = false;
	int rc;
	ml_chunk_enc_init(&ne);
	if (ml_chunk_it_init(&it, p, len) != 0) {
		rc = ML_ECORRUPT;
		goto fail;
	}
	while ((rc = ml_chunk_it_next(&it, &ct, &cv)) == 1) {
		if (!done && ct >= t) {
			done = true;
			if (ct != t && (rc = ml_chunk_enc_append(&ne, t, v)) != 0)
				goto fail;
		}
		if ((rc = ml_chunk_enc_append(&ne, ct, cv)) != 0)
			goto fail;
	}
	if (rc < 0)
		goto fail;
	if (!done && (rc = ml_chunk_enc_append(&ne, t, v)) != 0)
		goto fail;
	ml_chunk_enc_free(&c->enc);
	c->enc = ne;
	if (t < c->mint)
		c->mint = t;
	if (t > c->maxt)
		c->maxt = t;
	return 0;
fail:
	ml_chunk_enc_free(&ne);
	return rc;
}

int ml_head_add(struct ml_tsdb *db, struct ml_hseries *s, int64_t t, double v, uint64_t seq)
{
	struct ml_hchunk *c = s->tail;
	int rc;
	if (c == NULL || c->flushing || t > c->maxt) {
		if (c == NULL || c->flushing || c->enc.count >= db->opt.chunk_max_samples ||
		    (uint64_t)t - (uint64_t)c->mint >= (uint64_t)db->opt.chunk_max_range_ms) {
			if (c)
				ml_chunk_enc_shrink(&c->enc);
			if ((c = new_chunk(s)) == NULL)
				return ML_ENOMEM;
		}
		if ((rc = ml_chunk_enc_append(&c->enc, t, v)) != 0)
			return rc;
		if (t < c->mint)
			c->mint = t;
		c->maxt = t;
	} else {
		/* Out of order: the oldest chunk not being flushed that ends at or after t. */
		for (c = s->chunks; c; c = c->next)
			if (!c->flushing && c->maxt >= t)
				break;
		if (c == NULL)
			return 0;
		if ((rc = insert_into(c, t, v)) != 0)
			return rc;
	}
	if (seq < c->first_seq)
		c->first_seq = seq;
	if (t > s->maxt)
		s->maxt = t;
	return 0;
}

int ml_head_find(const struct ml_hseries *s, int64_t t, uint64_t *bits)
{
	for (const struct ml_hchunk *c = s->chunks; c; c = c->next) {
		if (t < c->mint || t > c->maxt)
			continue;
		struct ml_chunk_it it;
		size_t len;
		const uint8_t *p = ml_chunk_enc_bytes(&c->enc, &len);
		int64_t ct;
		double cv;
		int rc;
		if (ml_chunk_it_init(&it, p, len) != 0)
			return ML_ECORRUPT;
		while ((rc = ml_chunk_it_next(&it, &ct, &cv)) == 1) {
			if (ct == t) {
				*bits = f2b(cv);
				return 1;
			}
			if (ct > t)
				break;
		}
		if (rc < 0)
			return rc;
	}
	return 0;
}

size_t ml_head_series_bytes(const struct ml_hseries *s)
{
	/* malloc rounds small blocks up to 16 bytes and adds an 8-byte header. */
	size_t n = sizeof(*s) + 8 + s->labels_len + 8 + 2 * sizeof(void *);
	for (const struct ml_hchunk *c = s->chunks; c; c = c->next)
		n += sizeof(*c) + 8 + c->enc.buf.cap + 8;
	return n;
}
