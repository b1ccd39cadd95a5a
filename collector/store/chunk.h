/*
 * chunk.h - the Gorilla codec for a chunk of float samples.
 *
 * A chunk holds up to 65535 samples of one series in strictly increasing
 * time order, compressed as in Facebook's Gorilla paper (and Prometheus's
 * XOR chunks): timestamps as delta-of-deltas in variable-width buckets,
 * values XORed with the previous value with the leading/trailing zero window
 * reused when it fits. Values are kept bit-exact, so Prometheus's staleness
 * marker (NaN with bits 0x7ff0000000000002) and every other NaN survive.
 *
 * Layout:  be16 count | bitstream
 *   sample 0:  64 bits t, 64 bits v
 *   sample i:  dod = (t_i - t_{i-1}) - (t_{i-1} - t_{i-2})   (mod 2^64; delta_0 = 0)
 *              '0' (dod 0) | '10'+14b | '110'+17b | '1110'+20b | '1111'+64b (two's complement)
 *              x = bits(v_i) ^ bits(v_{i-1})
 *              '0' (x 0) | '10' + meaningful bits in the previous window
 *              | '11' + 5b leading zeros + 6b length (0 means 64) + bits
 * Arithmetic is modulo 2^64, so any int64 timestamps round-trip exactly.
 */
#ifndef ML_STORE_CHUNK_H
#define ML_STORE_CHUNK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "model/sample.h"

#define ML_CHUNK_MAX_SAMPLES 65535

/* An appendable chunk. It owns buf (free with ml_chunk_enc_free). */
struct ml_chunk_enc {
	struct ml_buf buf;   /* be16 count, then the bitstream */
	uint8_t bitpos;      /* bits used in the last byte (0..8; 8 = full) */
	uint16_t count;
	uint8_t lead, trail; /* current XOR window */
	int64_t t, t_delta;  /* last timestamp and delta */
	uint64_t vbits;      /* last value bits */
};

void ml_chunk_enc_init(struct ml_chunk_enc *e);
void ml_chunk_enc_free(struct ml_chunk_enc *e);
/*
 * Appends one sample. t must be greater than the previous sample's t (the
 * caller orders samples). Returns 0, ML_ETOOBIG when the chunk holds
 * ML_CHUNK_MAX_SAMPLES, or ML_ENOMEM.
 */
int ml_chunk_enc_append(struct ml_chunk_enc *e, int64_t t, double v);
/* The encoded bytes so far (valid until the next append or free). */
static inline const uint8_t *ml_chunk_enc_bytes(const struct ml_chunk_enc *e, size_t *len)
{
	*len = e->buf.len;
	return e->buf.data;
}
/* Shrinks the buffer to its length (for chunks that will not grow again). */
void ml_chunk_enc_shrink(struct ml_chunk_enc *e);

/* Reads a chunk from (p, n); never reads outside it. */
struct ml_chunk_it {
	const uint8_t *p;
	size_t nbits, pos;
	uint16_t count, i;
	uint8_t lead, trail;
	int64_t t, t_delta;
	uint64_t vbits;
	bool bad;
};

/* Returns 0, or ML_ECORRUPT if (p, n) is too short to be a chunk. */
int ml_chunk_it_init(struct ml_chunk_it *it, const uint8_t *p, size_t n);
/* Number of samples the chunk says it holds. */
static inline uint16_t ml_chunk_it_count(const struct ml_chunk_it *it) { return it->count; }
/* 1 and the next sample, 0 at the end, ML_ECORRUPT on malformed data. */
int ml_chunk_it_next(struct ml_chunk_it *it, int64_t *t, double *v);
/*
 * Decodes the samples with mint <= t <= maxt of the chunk (p, n) into out,
 * which has room for the chunk's count (the be16 at p), and stops at the
 * first sample after maxt. 0 with *n_out set, or ML_ECORRUPT.
 */
int ml_chunk_decode(const uint8_t *p, size_t n, int64_t mint, int64_t maxt, struct ml_sample *out,
                    size_t *n_out);

#endif
