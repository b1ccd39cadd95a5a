/*
 * span_codec.h - the binary encoding of struct ml_span used on disk.
 *
 * Two flavours share one format (docs/STORAGE.md has the byte layout):
 *  - standalone: each span decodes on its own; used for the head (the WAL
 *    records in `trace_head` and the in-memory copy of every head span);
 *  - stream: a run of spans (one block page) sharing a string table and
 *    delta state. A string already seen in the stream is written as a small
 *    back-reference, consecutive spans of one trace omit the trace id, start
 *    times are deltas. This is what makes zstd on a page effective: the
 *    repeated tag keys and values of mesh spans shrink to one or two bytes
 *    before zstd even starts.
 *
 * The decoder reads data from disk, so it treats its input as untrusted:
 * every length and count is checked against the bytes left, and anything
 * malformed gives ML_ECORRUPT, never a crash.
 */
#ifndef ML_STORE_SPAN_CODEC_H
#define ML_STORE_SPAN_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "model/span.h"

struct ml_arena;

/* Strings longer than this are never entered into a stream's string table. */
#define ML_SPAN_STRTAB_MAX_LEN 256
/* Entries of a stream's string table; later strings are written literally. */
#define ML_SPAN_STRTAB_MAX 65536

/* Span ids remembered per trace in a stream, for parent back-references. */
#define ML_SPAN_RECENT 32

/*
 * Encoder state. Zero-initialised plus ml_span_enc_init. out is the caller's
 * buffer; the encoder appends to it (check ml_buf_ok(out) at the end).
 */
struct ml_span_enc {
	struct ml_buf *out;
	bool stream;            /* string table and delta state in use */
	/* stream state */
	bool have_prev;
	uint8_t prev_trace[16];
	uint64_t prev_start;
	const struct ml_resource *prev_res;
	uint8_t recent[ML_SPAN_RECENT][8]; /* span ids of the current trace */
	uint32_t n_recent;
	struct strtab_slot *slots; /* open-addressing hash of strings seen */
	uint32_t n_slots, n_strs;
};

/* stream=false: every span standalone. Returns 0 or ML_ENOMEM. */
int ml_span_enc_init(struct ml_span_enc *e, struct ml_buf *out, bool stream);
/* Forgets the stream state (a new page) and keeps the memory. */
void ml_span_enc_reset(struct ml_span_enc *e);
void ml_span_enc_free(struct ml_span_enc *e);
/*
 * Appends one span. In stream mode the string table refers to the bytes of
 * earlier spans of the same stream, so the spans must stay valid until the
 * stream is done (the table points into them).
 */
void ml_span_encode(struct ml_span_enc *e, const struct ml_span *s);

/*
 * Decoder state over one input buffer. For a stream, the input must stay
 * valid while decoded spans are used unless copy is set: without copy,
 * decoded strings point into the input.
 */
struct ml_span_dec {
	struct ml_reader r;
	bool stream;
	bool copy;              /* copy strings into the arena */
	bool have_prev;
	uint8_t prev_trace[16];
	uint64_t prev_start;
	const struct ml_resource *prev_res;
	uint8_t recent[ML_SPAN_RECENT][8];
	uint32_t n_recent;
	struct ml_arena *str_arena; /* where decimal strings stored as numbers are
				     * rebuilt; NULL = the decode arena */
	struct ml_str *strs;    /* stream string table (heap, ml_span_dec_free) */
	uint32_t n_strs, cap_strs;
};

void ml_span_dec_init(struct ml_span_dec *d, const void *p, size_t n, bool stream, bool copy);
void ml_span_dec_free(struct ml_span_dec *d);
static inline bool ml_span_dec_done(const struct ml_span_dec *d)
{
	return d->r.p >= d->r.end;
}
/*
 * Decodes the next span into *s, allocating arrays (and strings when copy)
 * from arena. Returns 0, ML_ECORRUPT on malformed input or ML_ENOMEM. The
 * resource pointer may be shared with earlier spans of the same stream.
 * After an error the decoder must not be used again.
 */
int ml_span_decode(struct ml_span_dec *d, struct ml_arena *arena, struct ml_span *s);

/* True when status is ERROR or the span has an attribute error=true (Zipkin). */
bool ml_span_is_error(const struct ml_span *s);

/*
 * Writes an attribute value as text (what tag filters compare against):
 * strings as is, ints in decimal, doubles shortest round-trip, bools
 * "true"/"false", bytes as lowercase hex. Returns the text, which points into
 * the attribute or into buf (size >= 40, or at most 2*40 hex for bytes: longer
 * bytes are cut).
 */
struct ml_str ml_attr_text(const struct ml_attr *a, char *buf, size_t buflen);

#endif
