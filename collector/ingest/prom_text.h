/*
 * prom_text.h - the Prometheus text exposition format 0.0.4 and OpenMetrics
 * 1.0 text, parsed into a sample batch (POST of scraped or hand-written
 * metrics: an import endpoint, a pushgateway-like endpoint).
 *
 * Spec: "Exposition formats" (prometheus.io/docs/instrumenting/
 * exposition_formats, text format 0.0.4) and the OpenMetrics 1.0
 * specification. Per line:
 *   # HELP <name> <text>       (\\ and \n escapes; \" too in OpenMetrics)
 *   # TYPE <name> <type>
 *   # UNIT <name> <unit>       (OpenMetrics)
 *   # EOF                      (OpenMetrics: required, and last)
 *   # anything else            a comment, ignored
 *   <name>[{l="v",...[,]}] <value> [<timestamp>]
 * Label values escape \\, \" and \n (other backslashes are kept as they
 * are, as Prometheus does). Values are Go floats: 1, -2.5e3, +Inf, -Inf,
 * NaN. Timestamps are integer milliseconds in 0.0.4 and float seconds in
 * OpenMetrics; a sample without one gets the caller's default time. In
 * OpenMetrics the <family>_created samples of counters, histograms,
 * summaries and gauge histograms are skipped (they are not samples) and
 * exemplars (" # {...} v [t]" after the value) are ignored. Blank lines are
 * ignored in both formats. Labels with an empty value are dropped, as
 * Prometheus treats them as absent.
 *
 * The body is all or nothing: the first error fails the request with
 * ML_EINVAL and a message naming the line ("line 12: expected '=' after
 * label name"). Parsing works on (pointer, length) and copies every string
 * it keeps into batch->arena, so the body may be freed afterwards.
 */
#ifndef ML_INGEST_PROM_TEXT_H
#define ML_INGEST_PROM_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "model/sample.h"

/* Longest line accepted (a line is one sample or one comment). */
#define ML_PROM_TEXT_MAX_LINE (256u * 1024u)

struct ml_prom_text_opts {
	bool openmetrics;     /* OpenMetrics 1.0 text rather than 0.0.4 */
	int64_t default_t_ms; /* time of samples without a timestamp (unix ms) */
	/*
	 * Labels added to every series (the URL's extra_label=name=value);
	 * they replace labels of the same name from the body. Not copied: they
	 * must live as long as the batch.
	 */
	const struct ml_label *extra;
	uint32_t n_extra;
};

/*
 * Parses len bytes into batch (initialised by the caller). Every sample
 * line becomes one series of one sample; # HELP / # TYPE / # UNIT become
 * metadata entries (one per family, merged when they follow each other).
 * Returns 0, ML_EINVAL (with "line N: ..." in err) or ML_ENOMEM. On error
 * the batch holds part of the body: discard it.
 */
int ml_prom_text_parse(const uint8_t *body, size_t len, const struct ml_prom_text_opts *opts,
		       struct ml_sample_batch *batch, struct ml_err *err);

/*
 * True when a Content-Type names OpenMetrics text
 * ("application/openmetrics-text; version=1.0.0; charset=utf-8"),
 * false for text/plain (0.0.4) or anything else.
 */
bool ml_prom_text_is_openmetrics(const char *content_type, size_t n);

/*
 * Parses one extra label given as "name=value" (the extra_label URL
 * parameter, already URL-decoded) into out, with both strings copied into
 * arena. Returns 0 or ML_EINVAL ("extra_label \"x\": expected name=value",
 * "extra_label \"0a=b\": label name \"0a\" is invalid"), ML_ENOMEM.
 */
int ml_prom_text_extra_label(struct ml_arena *arena, const char *s, size_t n,
			     struct ml_label *out, struct ml_err *err);

#endif
