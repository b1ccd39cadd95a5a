/*
 * labels.h - canonical label sets: validation, sorting, encoding, hashing.
 *
 * A series is identified by its label set. Decoders hand the TSDB labels in
 * whatever order the wire had them; ml_labels_canon() validates them against
 * Prometheus's rules and meshlens's caps, drops empty values (Prometheus treats
 * `a=""` as "no label a"), sorts them by name and encodes them into one
 * compact byte string:
 *
 *     repeated { uvarint name_len, name bytes, uvarint value_len, value bytes }
 *
 * That string is what the TSDB stores in its `series` database, what the
 * series id is hashed from (XXH3_64bits, ml_labels_hash) and what readers get
 * back (struct ml_labels), so two equal label sets always have equal bytes.
 */
#ifndef ML_MODEL_LABELS_H
#define ML_MODEL_LABELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/error.h"
#include "model/sample.h"

/* Caps (Prometheus has none by default; ours keep keys and memory bounded). */
#define ML_LABELS_MAX_DEFAULT 128
#define ML_LABEL_NAME_MAX 256     /* bytes; also a hard limit of the postings key */
#define ML_LABEL_VALUE_MAX_DEFAULT 4096

struct ml_labels_limits {
	uint32_t max_labels;    /* 0 = ML_LABELS_MAX_DEFAULT */
	uint32_t max_name_len;  /* 0 or over ML_LABEL_NAME_MAX = ML_LABEL_NAME_MAX */
	uint32_t max_value_len; /* 0 = ML_LABEL_VALUE_MAX_DEFAULT */
};

/* A canonical encoded label set (pointer, length); memory owned elsewhere. */
struct ml_labels {
	const uint8_t *p;
	size_t n;
};

/*
 * Validates in[0..n), then appends the canonical encoding to out (which is
 * not cleared first). Rules: label names match [a-zA-Z_][a-zA-Z0-9_]*,
 * except __name__ whose value (the metric name) matches [a-zA-Z_:][a-zA-Z0-9_:]*;
 * __name__ is required; no name twice; at most max_labels labels, names and
 * values within their length caps. Labels with an empty value are dropped.
 * Returns 0, ML_EINVAL (message in err naming the series and the label) or
 * ML_ENOMEM.
 */
int ml_labels_canon(const struct ml_label *in, uint32_t n, const struct ml_labels_limits *lim,
		    struct ml_buf *out, struct ml_err *err);

/* The stable 64-bit hash of a canonical encoding (XXH3_64bits, seed 0). */
uint64_t ml_labels_hash(struct ml_labels ls);

/* Walks a canonical encoding. */
struct ml_labels_iter {
	struct ml_reader r;
};
static inline void ml_labels_iter_init(struct ml_labels_iter *it, struct ml_labels ls)
{
	it->r = ml_reader_make(ls.p, ls.n);
}
/* Fills name and value (pointing into the encoding); false at the end or on malformed input. */
bool ml_labels_next(struct ml_labels_iter *it, struct ml_str *name, struct ml_str *value);

/* The value of label name, or false if the set has no such label. */
bool ml_labels_get(struct ml_labels ls, const char *name, size_t name_len, struct ml_str *value);

/* Number of labels; -1 if the encoding is malformed. */
int ml_labels_count(struct ml_labels ls);

/*
 * Length of the well-formed UTF-8 sequence at s (at most n bytes; RFC 3629:
 * no overlongs, no surrogates, <= U+10FFFF), or 0 if there is none.
 */
size_t ml_utf8_seq_len(const char *s, size_t n);
/* Whether s[0..n) is well-formed UTF-8, as Prometheus requires of label values. */
bool ml_utf8_valid(const char *s, size_t n);

/* Byte-wise equality of two encodings (equal sets have equal encodings). */
bool ml_labels_equal(struct ml_labels a, struct ml_labels b);

/*
 * Formats the set as Prometheus prints a series, `name{a="x", b="y"}`,
 * truncated to fit out (always NUL-terminated). For error messages.
 */
const char *ml_labels_format(struct ml_labels ls, char *out, size_t outlen);
/* The same for not yet canonical labels straight from a batch. */
const char *ml_labels_format_raw(const struct ml_label *in, uint32_t n, char *out, size_t outlen);

/*
 * Orders label sets as Prometheus does (labels.Compare): label by label,
 * name then value, byte-wise; a set that is a prefix of the other sorts first.
 */
int ml_labels_cmp(struct ml_labels a, struct ml_labels b);

#endif
