/*
 * prom_expo.c - registries in the Prometheus text format 0.0.4 and
 * OpenMetrics 1.0.0, content negotiation and gzip, GET /metrics.
 *
 * The text follows client_golang's expfmt encoders line for line (HELP,
 * TYPE, samples; histogram buckets with a trailing le="+Inf", then _sum and
 * _count) so that promtool and Prometheus's scraper read it as they read any
 * Go exporter.
 */
#include "exporters/prom_expo.h"
#include "exporters/json_writer.h"
#include "model/labels.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <zlib.h>

#include "app.h"
#include "core/error.h"
#include "model/registry.h"

enum ml_expo_format ml_expo_negotiate(const char *accept)
{
	double q_om = -1, q_text = -1;
	int first = -1; /* which of the two was listed first at its final q */
	if (accept == NULL)
		return ML_EXPO_TEXT;
	const char *p = accept;
	while (*p) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		/* One media range: type/subtype *( ; param ) */
		char item[256];
		size_t k = len < sizeof(item) - 1 ? len : sizeof(item) - 1;
		memcpy(item, p, k);
		item[k] = 0;
		double q = 1;
		const char *version = NULL;
		char *save = NULL;
		char *tok = strtok_r(item, ";", &save);
		char type[128] = "";
		if (tok) {
			while (*tok == ' ' || *tok == '\t')
				tok++;
			snprintf(type, sizeof(type), "%s", tok);
			for (char *t = type + strlen(type);
			     t > type && (t[-1] == ' ' || t[-1] == '\t');)
				*--t = 0;
		}
		while ((tok = strtok_r(NULL, ";", &save)) != NULL) {
			while (*tok == ' ' || *tok == '\t')
				tok++;
			if (strncasecmp(tok, "q=", 2) == 0)
				q = strtod(tok + 2, NULL);
			else if (strncasecmp(tok, "version=", 8) == 0)
				version = tok + 8;
		}
		if (strcasecmp(type, "application/openmetrics-text") == 0) {
			bool known = version == NULL || strncmp(version, "1.0.0", 5) == 0 ||
			             strncmp(version, "0.0.1", 5) == 0;
			if (known && q > q_om) {
				q_om = q;
				if (first < 0 || q_om > q_text)
					first = ML_EXPO_OPENMETRICS;
			}
		} else if (strcasecmp(type, "text/plain") == 0 || strcasecmp(type, "text/*") == 0 ||
		           strcmp(type, "*/*") == 0) {
			if (q > q_text) {
				q_text = q;
				if (first < 0 || q_text > q_om)
					first = ML_EXPO_TEXT;
			}
		}
		if (!end)
			break;
		p = end + 1;
	}
	if (q_om > 0 && (q_om > q_text || (q_om == q_text && first == ML_EXPO_OPENMETRICS)))
		return ML_EXPO_OPENMETRICS;
	return ML_EXPO_TEXT;
}

const char *ml_expo_content_type(enum ml_expo_format f)
{
	return f == ML_EXPO_OPENMETRICS
	           ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
	           : "text/plain; version=0.0.4; charset=utf-8";
}

bool ml_expo_accepts_gzip(const char *ae)
{
	if (ae == NULL)
		return false;
	const char *p = ae;
	while (*p) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		const char *tok = p;
		while (*p && *p != ',' && *p != ';' && *p != ' ')
			p++;
		size_t n = (size_t)(p - tok);
		double q = 1;
		while (*p && *p != ',') {
			if (*p == ';') {
				const char *s = p + 1;
				while (*s == ' ')
					s++;
				if (strncasecmp(s, "q=", 2) == 0)
					q = strtod(s + 2, NULL);
			}
			p++;
		}
		if (((n == 4 && strncasecmp(tok, "gzip", 4) == 0) || (n == 1 && *tok == '*')) &&
		    q > 0)
			return true;
	}
	return false;
}

char *ml_expo_format_double(double v, char *out, size_t n)
{
	if (isnan(v)) {
		snprintf(out, n, "NaN");
	} else if (isinf(v)) {
		snprintf(out, n, v > 0 ? "+Inf" : "-Inf");
	} else if (v == floor(v) && fabs(v) < 1e15) {
		/* Integral and exactly representable: no exponent, no fraction. */
		snprintf(out, n, "%.0f", v);
		if (strcmp(out, "-0") == 0)
			snprintf(out, n, "0");
	} else {
		/* Shortest form that reads back to v, as Go's 'g' with precision -1. */
		ml_shortest_g(v, out, n);
	}
	return out;
}

/*
 * Escapes as the text formats want (\\ \" \n) and replaces each byte that is
 * not part of valid UTF-8 with U+FFFD: span names and tags come from senders,
 * and one invalid label value would make Prometheus reject the whole scrape.
 */
static void put_escaped(struct ml_buf *b, const char *s, size_t n, bool quote)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t run = 0;
	for (size_t i = 0; i < n; i++) {
		const char *esc = NULL;
		if (s[i] == '\\') {
			esc = "\\\\";
		} else if (s[i] == '\n') {
			esc = "\\n";
		} else if (quote && s[i] == '"') {
			esc = "\\\"";
		} else if (u[i] >= 0x80) {
			size_t l = ml_utf8_seq_len(s + i, n - i);
			if (l > 0) {
				i += l - 1;
				continue;
			}
			esc = "\xef\xbf\xbd";
		}
		if (!esc)
			continue;
		ml_buf_append(b, s + run, i - run);
		ml_buf_puts(b, esc);
		run = i + 1;
	}
	ml_buf_append(b, s + run, n - run);
}

void ml_expo_put_label_value(struct ml_buf *b, const char *s, size_t n)
{
	put_escaped(b, s, n, true);
}

static void put_double(struct ml_buf *b, double v)
{
	char tmp[40];
	ml_buf_puts(b, ml_expo_format_double(v, tmp, sizeof(tmp)));
}

struct writer {
	struct ml_buf *out;
	enum ml_expo_format fmt;
	const struct ml_family_desc *last; /* family whose HELP/TYPE were written */
};

static const char *type_name(enum ml_metric_type t)
{
	switch (t) {
	case ML_METRIC_COUNTER:
		return "counter";
	case ML_METRIC_GAUGE:
		return "gauge";
	case ML_METRIC_HISTOGRAM:
		return "histogram";
	default:
		return "untyped";
	}
}

/* The family name of # TYPE / # HELP: OpenMetrics drops a counter's _total. */
static size_t family_name_len(const struct writer *w, const struct ml_family_desc *f)
{
	size_t n = strlen(f->name);
	if (w->fmt == ML_EXPO_OPENMETRICS && f->type == ML_METRIC_COUNTER && n > 6 &&
	    strcmp(f->name + n - 6, "_total") == 0)
		n -= 6;
	return n;
}

static void put_header(struct writer *w, const struct ml_family_desc *f)
{
	size_t n = family_name_len(w, f);
	if (f->help && *f->help) {
		ml_buf_puts(w->out, "# HELP ");
		ml_buf_append(w->out, f->name, n);
		ml_buf_putc(w->out, ' ');
		put_escaped(w->out, f->help, strlen(f->help), w->fmt == ML_EXPO_OPENMETRICS);
		ml_buf_putc(w->out, '\n');
	}
	ml_buf_puts(w->out, "# TYPE ");
	ml_buf_append(w->out, f->name, n);
	ml_buf_printf(w->out, " %s\n", type_name(f->type));
}

/* name{l1="v1",...[,le="x"]} */
static void put_series(struct writer *w, const struct ml_family_desc *f, const char *suffix,
                       const struct ml_child_value *v, const char *le)
{
	ml_buf_puts(w->out, f->name);
	ml_buf_puts(w->out, suffix);
	if (f->n_labels == 0 && le == NULL)
		return;
	ml_buf_putc(w->out, '{');
	for (size_t i = 0; i < f->n_labels; i++) {
		if (i)
			ml_buf_putc(w->out, ',');
		ml_buf_puts(w->out, f->label_names[i]);
		ml_buf_puts(w->out, "=\"");
		put_escaped(w->out, v->label_values[i].p, v->label_values[i].n, true);
		ml_buf_putc(w->out, '"');
	}
	if (le) {
		if (f->n_labels)
			ml_buf_putc(w->out, ',');
		ml_buf_printf(w->out, "le=\"%s\"", le);
	}
	ml_buf_putc(w->out, '}');
}

static int visit(void *ctx, const struct ml_family_desc *f, const struct ml_child_value *v)
{
	struct writer *w = ctx;
	if (w->last != f) {
		put_header(w, f);
		w->last = f;
	}
	if (!v)
		return 0;
	if (f->type != ML_METRIC_HISTOGRAM) {
		put_series(w, f, "", v, NULL);
		ml_buf_putc(w->out, ' ');
		put_double(w->out, v->value);
		ml_buf_putc(w->out, '\n');
		return ml_buf_ok(w->out) ? 0 : ML_ENOMEM;
	}
	char le[40];
	for (size_t i = 0; i < f->n_buckets; i++) {
		put_series(w, f, "_bucket", v,
		           ml_expo_format_double(f->buckets[i], le, sizeof(le)));
		ml_buf_printf(w->out, " %llu\n", (unsigned long long)v->buckets[i]);
	}
	put_series(w, f, "_bucket", v, "+Inf");
	ml_buf_printf(w->out, " %llu\n", (unsigned long long)v->count);
	put_series(w, f, "_sum", v, NULL);
	ml_buf_putc(w->out, ' ');
	put_double(w->out, v->sum);
	ml_buf_putc(w->out, '\n');
	put_series(w, f, "_count", v, NULL);
	ml_buf_printf(w->out, " %llu\n", (unsigned long long)v->count);
	return ml_buf_ok(w->out) ? 0 : ML_ENOMEM;
}

int ml_expo_write(struct ml_buf *out, struct ml_registry *r, enum ml_expo_format f)
{
	struct writer w = {.out = out, .fmt = f};
	if (r == NULL)
		return 0;
	int rc = ml_registry_walk(r, visit, &w);
	if (rc == 0 && !ml_buf_ok(out))
		rc = ML_ENOMEM;
	return rc;
}

void ml_expo_finish(struct ml_buf *out, enum ml_expo_format f)
{
	if (f == ML_EXPO_OPENMETRICS)
		ml_buf_puts(out, "# EOF\n");
}

int ml_expo_gzip(const uint8_t *in, size_t n, struct ml_buf *out)
{
	z_stream zs;
	memset(&zs, 0, sizeof(zs));
	/* windowBits 15 + 16: a gzip header and trailer instead of zlib's. */
	if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
	    Z_OK)
		return ML_ENOMEM;
	int rc = 0;
	uLong bound = deflateBound(&zs, (uLong)n);
	uint8_t *dst = ml_buf_reserve(out, bound);
	if (dst == NULL) {
		rc = ML_ENOMEM;
		goto fail;
	}
	zs.next_in = (Bytef *)in;
	zs.avail_in = (uInt)n;
	zs.next_out = dst;
	zs.avail_out = (uInt)bound;
	if (deflate(&zs, Z_FINISH) != Z_STREAM_END) {
		rc = ML_EIO;
		goto fail;
	}
	out->len += zs.total_out;
fail:
	deflateEnd(&zs);
	return rc;
}

int ml_expo_respond(const struct ml_http_request *req, struct ml_http_response *resp,
		    const struct ml_buf *text, const char *ct)
{
	ml_http_add_header(resp, "Vary", "Accept-Encoding");
	if (ml_expo_accepts_gzip(ml_http_header(req, "Accept-Encoding"))) {
		int rc = ml_expo_gzip(text->data, text->len, &resp->body);
		if (rc != 0)
			return rc;
		ml_http_add_header(resp, "Content-Encoding", "gzip");
	} else {
		ml_buf_append(&resp->body, text->data, text->len);
	}
	resp->status = 200;
	resp->content_type = ct;
	return 0;
}

void ml_expo_metrics(const struct ml_http_request *req, struct ml_http_response *resp, void *ctx)
{
	struct ml_app *app = ctx;
	struct ml_buf text = ML_BUF_INIT;
	enum ml_expo_format f = ml_expo_negotiate(ml_http_header(req, "Accept"));
	int rc = ml_expo_write(&text, app->derived, f);
	if (rc == 0)
		rc = ml_expo_write(&text, app->self, f);
	ml_expo_finish(&text, f);
	if (rc != 0 || !ml_buf_ok(&text))
		goto fail;
	if ((rc = ml_expo_respond(req, resp, &text, ml_expo_content_type(f))) != 0)
		goto fail;
	ml_buf_free(&text);
	return;
fail:
	ml_buf_free(&text);
	ml_buf_clear(&resp->body);
	resp->n_extra = 0;
	ml_http_text(resp, 500, "cannot write the metrics: %s", ml_strerror(rc ? rc : ML_ENOMEM));
}
