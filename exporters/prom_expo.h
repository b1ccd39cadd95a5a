/*
 * prom_expo.h - Prometheus exposition of in-process registries: the text
 * format 0.0.4 and OpenMetrics 1.0.0, chosen from the scraper's Accept
 * header, gzip-compressed when Accept-Encoding allows; and GET /metrics.
 *
 * Formatting follows what Prometheus's client libraries write (client_golang
 * expfmt): label values escape \ " and newline; 0.0.4 HELP escapes \ and
 * newline, OpenMetrics HELP also "; floats are +Inf, -Inf, NaN, integers are
 * written without exponent or fraction ("1500000"), other values in the
 * shortest form that reads back to the same double ("0.25", "1e-07").
 * OpenMetrics names a counter's family without _total in # TYPE and # HELP
 * and ends with "# EOF"; _created samples are not written.
 */
#ifndef ML_EXPORTERS_PROM_EXPO_H
#define ML_EXPORTERS_PROM_EXPO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "http/router.h"

struct ml_registry;

enum ml_expo_format {
	ML_EXPO_TEXT = 0,    /* text/plain; version=0.0.4 */
	ML_EXPO_OPENMETRICS, /* application/openmetrics-text; version=1.0.0 */
};

/*
 * The format for an Accept header value (NULL or "" = text): OpenMetrics when
 * application/openmetrics-text (version 1.0.0, 0.0.1 or none) has a higher q
 * than text/plain and the wildcards (any type, text/any), or the same q and
 * comes first.
 */
enum ml_expo_format ml_expo_negotiate(const char *accept);

/* The Content-Type of a format (static string). */
const char *ml_expo_content_type(enum ml_expo_format f);

/* Whether an Accept-Encoding value allows gzip (present with q > 0, or "*"). */
bool ml_expo_accepts_gzip(const char *accept_encoding);

/* Appends a label value escaped as the text formats want (\\ \" \n). */
void ml_expo_put_label_value(struct ml_buf *b, const char *s, size_t n);

/* Writes v as Prometheus's clients do into out (at least 32 bytes); returns out. */
char *ml_expo_format_double(double v, char *out, size_t n);

/*
 * Appends every family of r to out in format f. Writes no "# EOF": call
 * ml_expo_finish once after the last registry. Returns 0 or ML_ENOMEM.
 */
int ml_expo_write(struct ml_buf *out, struct ml_registry *r, enum ml_expo_format f);
void ml_expo_finish(struct ml_buf *out, enum ml_expo_format f);

/* gzip (RFC 1952) of in[0..n) appended to out. Returns 0, ML_ENOMEM or ML_EIO. */
int ml_expo_gzip(const uint8_t *in, size_t n, struct ml_buf *out);

/*
 * Answers 200 with text as content type ct, gzip-compressed when the
 * request's Accept-Encoding allows it (with Vary: Accept-Encoding).
 * Returns 0, or ML_ENOMEM / ML_EIO with resp untouched but its headers.
 */
int ml_expo_respond(const struct ml_http_request *req, struct ml_http_response *resp,
		    const struct ml_buf *text, const char *ct);

/* GET /metrics: app->derived, then app->self (either may be NULL). ctx is struct ml_app. */
void ml_expo_metrics(const struct ml_http_request *req, struct ml_http_response *resp, void *ctx);

#endif
