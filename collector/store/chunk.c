/*
 * chunk.c - Gorilla chunk encoder and decoder; see chunk.h for the format.
 *
 * The bucket widths for delta-of-delta (14/17/20/64 bits) are Prometheus's,
 * chosen for millisecond timestamps: a scrape jitter of a few ms fits 14
 * bits, a missed scrape fits 17 or 20.
 */
#include "store/chunk.h"
#include "core/alloc.h"
#include "core/buf.h"
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

/* 8 bytes big-endian: one load and a byte swap where the compiler allows. */
static inline uint64_t load_be64(const uint8_t *p)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	uint64_t v;
	memcpy(&v, p, 8);
	return __builtin_bswap64(v);
#else
	return ml_be64_get(p);
#endif
}

/*
 * The 64 bits from bit position pos on, the bit at pos the most significant;
 * bytes past the end read as zero. At least 57 of them are the stream's.
 */
static inline uint64_t window_at(const struct ml_chunk_it *it)
{
	size_t byte = it->pos >> 3, nbytes = it->nbits >> 3;
	uint64_t w = 0;
	if (byte + 8 <= nbytes) {
		w = load_be64(it->p + byte);
	} else {
		for (size_t i = 0; byte + i < nbytes; i++)
			w |= (uint64_t)it->p[byte + i] << (56 - 8 * i);
	}
	return w << (it->pos & 7);
}

/* The next n (1..64) bits; the caller checks pos against nbits afterwards. */
static inline uint64_t take_bits(struct ml_chunk_it *it, unsigned n)
{
	uint64_t w = window_at(it);
	if (n <= 56) {
		it->pos += n;
		return w >> (64 - n);
	}
	uint64_t hi = w >> 32;
	it->pos += 32;
	unsigned lo = n - 32;
	w = window_at(it);
	it->pos += lo;
	return (hi << lo) | (w >> (64 - lo));
}

/* Sign-extends the low n bits of v. */
static inline int64_t sext(uint64_t v, unsigned n)
{
	uint64_t m = 1ULL << (n - 1);
	return (int64_t)((v ^ m) - m);
}

/* Decodes the next sample into it->t and it->vbits; false when the stream is malformed. */
static inline bool step(struct ml_chunk_it *it)
{
	if (it->i == 0) {
		it->t = (int64_t)take_bits(it, 64);
		it->vbits = take_bits(it, 64);
		it->t_delta = 0;
		return it->pos <= it->nbits;
	}
	/* Timestamp: the control bits ('0', '10', '110', '1110', '1111') are the leading ones. */
	uint64_t w = window_at(it);
	unsigned ones = w == ~0ULL ? 64 : (unsigned)__builtin_clzll(~w);
	int64_t dod;
	switch (ones) {
	case 0:
		it->pos += 1;
		dod = 0;
		break;
	case 1:
		it->pos += 2 + 14;
		dod = sext((w << 2) >> (64 - 14), 14);
		break;
	case 2:
		it->pos += 3 + 17;
		dod = sext((w << 3) >> (64 - 17), 17);
		break;
	case 3:
		it->pos += 4 + 20;
		dod = sext((w << 4) >> (64 - 20), 20);
		break;
	default:
		it->pos += 4;
		dod = (int64_t)take_bits(it, 64);
		break;
	}
	uint64_t delta = (uint64_t)it->t_delta + (uint64_t)dod;
	it->t = (int64_t)((uint64_t)it->t + delta);
	it->t_delta = (int64_t)delta;
	/* Value: '0', '10' (the previous window) or '11' + 5b leading + 6b length. */
	w = window_at(it);
	if ((w >> 63) == 0) {
		it->pos += 1;
	} else {
		if (((w >> 62) & 1) != 0) {
			it->lead = (uint8_t)((w >> 57) & 31);
			unsigned sig = (unsigned)((w >> 51) & 63);
			if (sig == 0)
				sig = 64;
			if (it->lead + sig > 64)
				return false;
			it->trail = (uint8_t)(64 - it->lead - sig);
			it->pos += 13;
		} else {
			if (it->i == 1) /* a window reference needs a window */
				return false;
			it->pos += 2;
		}
		unsigned sig = 64u - it->lead - it->trail;
		it->vbits ^= take_bits(it, sig) << it->trail;
	}
	return it->pos <= it->nbits;
}

int ml_chunk_it_next(struct ml_chunk_it *it, int64_t *t, double *v)
{
	if (it->bad)
		return ML_ECORRUPT;
	if (it->i >= it->count)
		return 0;
	if (!step(it)) {
		it->bad = true;
		return ML_ECORRUPT;
	}
	it->i++;
	*t = it->t;
	*v = b2f(it->vbits);
	return 1;
}

int ml_chunk_decode(const uint8_t *p, size_t n, int64_t mint, int64_t maxt, struct ml_sample *out,
                    size_t *n_out)
{
	struct ml_chunk_it it;
	size_t k = 0;
	*n_out = 0;
	if (ml_chunk_it_init(&it, p, n) != 0)
		return ML_ECORRUPT;
	for (; it.i < it.count; it.i++) {
		if (!step(&it))
			return ML_ECORRUPT;
		if (it.t > maxt)
			break;
		if (it.t >= mint) {
			out[k].t_ms = it.t;
			out[k].v = b2f(it.vbits);
			k++;
		}
	}
	*n_out = k;
	return 0;
}
