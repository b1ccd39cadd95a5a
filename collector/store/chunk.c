/*
 * chunk.c - Gorilla chunk encoder and decoder; see chunk.h for the format.
 *
 * The bucket widths for delta-of-delta (14/17/20/64 bits) are Prometheus's,
 * chosen for millisecond timestamps: a scrape jitter of a few ms fits 14
 * bits, a missed scrape fits 17 or 20.
 */
#include "store/chunk.h"
#include "core/alloc.h"
#include "core/error.h"

#include <string.h>

static uint64_t f2b(double v)
{
	uint64_t b;
	memcpy(&b, &v, sizeof(b));
	return b;
}

static double b2f(uint64_t b)
{
	double v;
	memcpy(&v, &b, sizeof(v));
	return v;
}

/*
 * Makes room for n more bytes, growing by half rather than doubling from
 * ml_buf's 256 bytes: a head chunk is open in memory for every active
 * series, and a freshly cut one holds a few bytes, a full one ~150-250.
 */
static int room_for(struct ml_buf *b, size_t n)
{
	if (b->oom)
		return ML_ENOMEM;
	if (b->cap - b->len >= n)
		return 0;
	size_t cap = b->cap ? b->cap + b->cap / 2 : 24;
	if (cap < b->len + n)
		cap = b->len + n;
	uint8_t *q = ml_realloc(b->data, cap);
	if (q == NULL) {
		b->oom = true;
		return ML_ENOMEM;
	}
	b->data = q;
	b->cap = cap;
	return 0;
}

static int put_bits(struct ml_chunk_enc *e, uint64_t v, unsigned nbits)
{
	while (nbits > 0) {
		if (e->bitpos == 8) {
			if (room_for(&e->buf, 1) != 0)
				return ML_ENOMEM;
			ml_buf_putc(&e->buf, 0);
			if (!ml_buf_ok(&e->buf))
				return ML_ENOMEM;
			e->bitpos = 0;
		}
		unsigned room = 8u - e->bitpos;
		unsigned take = nbits < room ? nbits : room;
		uint8_t chunk = (uint8_t)((v >> (nbits - take)) & ((1u << take) - 1));
		e->buf.data[e->buf.len - 1] |= (uint8_t)(chunk << (room - take));
		e->bitpos = (uint8_t)(e->bitpos + take);
		nbits -= take;
	}
	return 0;
}

void ml_chunk_enc_init(struct ml_chunk_enc *e)
{
	memset(e, 0, sizeof(*e));
	e->bitpos = 8;
}

void ml_chunk_enc_free(struct ml_chunk_enc *e)
{
	ml_buf_free(&e->buf);
	ml_chunk_enc_init(e);
}

void ml_chunk_enc_shrink(struct ml_chunk_enc *e)
{
	if (e->buf.data == NULL || e->buf.len == e->buf.cap || e->buf.len == 0)
		return;
	uint8_t *q = ml_realloc(e->buf.data, e->buf.len);
	if (q) { /* on failure the larger buffer simply stays */
		e->buf.data = q;
		e->buf.cap = e->buf.len;
	}
}

static int put_value(struct ml_chunk_enc *e, uint64_t vb)
{
	uint64_t x = vb ^ e->vbits;
	int rc;
	if (x == 0)
		return put_bits(e, 0, 1);
	unsigned lead = (unsigned)__builtin_clzll(x);
	unsigned trail = (unsigned)__builtin_ctzll(x);
	if (lead > 31)
		lead = 31;
	if (e->count > 1 && lead >= e->lead && trail >= e->trail) {
		unsigned sig = 64u - e->lead - e->trail;
		if ((rc = put_bits(e, 2, 2)) != 0)
			return rc;
		return put_bits(e, x >> e->trail, sig);
	}
	unsigned sig = 64u - lead - trail;
	if ((rc = put_bits(e, 3, 2)) != 0 || (rc = put_bits(e, lead, 5)) != 0 ||
	    (rc = put_bits(e, sig & 63u, 6)) != 0)
		return rc;
	e->lead = (uint8_t)lead;
	e->trail = (uint8_t)trail;
	return put_bits(e, x >> trail, sig);
}

int ml_chunk_enc_append(struct ml_chunk_enc *e, int64_t t, double v)
{
	uint64_t vb = f2b(v);
	int rc;
	if (e->count == ML_CHUNK_MAX_SAMPLES)
		return ML_ETOOBIG;
	if (e->count == 0) {
		ml_buf_clear(&e->buf);
		if (room_for(&e->buf, 4) != 0)
			return ML_ENOMEM;
		ml_buf_put_be32(&e->buf, 0); /* be16 count + first bitstream bytes below */
		if (!ml_buf_ok(&e->buf))
			return ML_ENOMEM;
		e->buf.len = 2;
		e->bitpos = 8;
		if ((rc = put_bits(e, (uint64_t)t, 64)) != 0 || (rc = put_bits(e, vb, 64)) != 0)
			return rc;
		e->t_delta = 0;
	} else {
		uint64_t delta = (uint64_t)t - (uint64_t)e->t;
		int64_t dod = (int64_t)(delta - (uint64_t)e->t_delta);
		if (dod == 0)
			rc = put_bits(e, 0, 1);
		else if (dod >= -(1 << 13) && dod < (1 << 13))
			rc = put_bits(e, 2, 2) ? ML_ENOMEM : put_bits(e, (uint64_t)dod, 14);
		else if (dod >= -(1 << 16) && dod < (1 << 16))
			rc = put_bits(e, 6, 3) ? ML_ENOMEM : put_bits(e, (uint64_t)dod, 17);
		else if (dod >= -(1 << 19) && dod < (1 << 19))
			rc = put_bits(e, 14, 4) ? ML_ENOMEM : put_bits(e, (uint64_t)dod, 20);
		else
			rc = put_bits(e, 15, 4) ? ML_ENOMEM : put_bits(e, (uint64_t)dod, 64);
		if (rc)
			return rc;
		if ((rc = put_value(e, vb)) != 0)
			return rc;
		e->t_delta = (int64_t)delta;
	}
	e->t = t;
	e->vbits = vb;
	e->count++;
	e->buf.data[0] = (uint8_t)(e->count >> 8);
	e->buf.data[1] = (uint8_t)e->count;
	return 0;
}

int ml_chunk_it_init(struct ml_chunk_it *it, const uint8_t *p, size_t n)
{
	memset(it, 0, sizeof(*it));
	if (n < 2) {
		it->bad = true;
		return ML_ECORRUPT;
	}
	it->count = (uint16_t)((p[0] << 8) | p[1]);
	it->p = p + 2;
	it->nbits = (n - 2) * 8;
	return 0;
}

static uint64_t get_bits(struct ml_chunk_it *it, unsigned nbits)
{
	if (it->nbits - it->pos < nbits || it->pos > it->nbits) {
		it->bad = true;
		return 0;
	}
	uint64_t v = 0;
	while (nbits > 0) {
		unsigned off = (unsigned)(it->pos & 7);
		unsigned room = 8 - off;
		unsigned take = nbits < room ? nbits : room;
		uint8_t byte = it->p[it->pos >> 3];
		uint64_t bits = (uint64_t)(byte >> (room - take)) & ((1u << take) - 1);
		v = (v << take) | bits;
		it->pos += take;
		nbits -= take;
	}
	return v;
}

/* Sign-extends the low n bits of v. */
static int64_t sext(uint64_t v, unsigned n)
{
	uint64_t m = 1ULL << (n - 1);
	return (int64_t)((v ^ m) - m);
}

int ml_chunk_it_next(struct ml_chunk_it *it, int64_t *t, double *v)
{
	if (it->bad)
		return ML_ECORRUPT;
	if (it->i >= it->count)
		return 0;
	if (it->i == 0) {
		it->t = (int64_t)get_bits(it, 64);
		it->vbits = get_bits(it, 64);
		it->t_delta = 0;
	} else {
		int64_t dod;
		if (get_bits(it, 1) == 0)
			dod = 0;
		else if (get_bits(it, 1) == 0)
			dod = sext(get_bits(it, 14), 14);
		else if (get_bits(it, 1) == 0)
			dod = sext(get_bits(it, 17), 17);
		else if (get_bits(it, 1) == 0)
			dod = sext(get_bits(it, 20), 20);
		else
			dod = (int64_t)get_bits(it, 64);
		uint64_t delta = (uint64_t)it->t_delta + (uint64_t)dod;
		it->t = (int64_t)((uint64_t)it->t + delta);
		it->t_delta = (int64_t)delta;
		if (get_bits(it, 1) != 0) {
			if (get_bits(it, 1) != 0) {
				it->lead = (uint8_t)get_bits(it, 5);
				unsigned sig = (unsigned)get_bits(it, 6);
				if (sig == 0)
					sig = 64;
				if (it->lead + sig > 64) {
					it->bad = true;
					return ML_ECORRUPT;
				}
				it->trail = (uint8_t)(64 - it->lead - sig);
			} else if (it->i == 1) {
				/* a window reference needs a window */
				it->bad = true;
				return ML_ECORRUPT;
			}
			unsigned sig = 64u - it->lead - it->trail;
			uint64_t x = get_bits(it, sig);
			it->vbits ^= x << it->trail;
		}
	}
	if (it->bad)
		return ML_ECORRUPT;
	it->i++;
	*t = it->t;
	*v = b2f(it->vbits);
	return 1;
}
