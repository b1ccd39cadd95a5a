/*
 * prom_text.c - Prometheus text 0.0.4 / OpenMetrics 1.0 text parsing; see
 * prom_text.h for the accepted grammar.
 *
 * A hand-written scanner over (pointer, length): the body is split into
 * lines with memchr, and each line is read with a cursor that never looks
 * past the line's end. Numbers are converted with strtod/strtoll on a
 * bounded, NUL-terminated copy of their token (the body is not
 * NUL-terminated and must not be read past its length).
 */
#include "ingest/prom_text.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "ingest/otel_prom_names.h"
#include "model/labels.h"

struct line {
	const char *p, *end; /* cursor and end of the current line */
	size_t no;           /* 1-based line number */
};

struct parser {
	const struct ml_prom_text_opts *o;
	struct ml_sample_batch *batch;
	struct ml_err *err;
	struct ml_label labels[ML_MAX_LABELS_PER_SERIES];
	/* The family of the last # TYPE, for OpenMetrics _created skipping. */
	struct ml_str family;
	uint8_t family_type;
};

static bool is_ws(char c) { return c == ' ' || c == '\t'; }

static void skip_ws(struct line *l)
{
	while (l->p < l->end && is_ws(*l->p))
		l->p++;
}

static bool name_char(char c, bool first, bool metric)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_')
		return true;
	if (metric && c == ':')
		return true;
	return !first && c >= '0' && c <= '9';
}

/* Reads a metric (metric = true) or label name; empty if none. */
static struct ml_str read_name(struct line *l, bool metric)
{
	const char *s = l->p;
	while (l->p < l->end && name_char(*l->p, l->p == s, metric))
		l->p++;
	return ml_str_make(s, (size_t)(l->p - s));
}

/* The next whitespace-delimited token. */
static struct ml_str read_token(struct line *l)
{
	const char *s = l->p;
	while (l->p < l->end && !is_ws(*l->p))
		l->p++;
	return ml_str_make(s, (size_t)(l->p - s));
}

static int fail(struct parser *ps, const struct line *l, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct parser *ps, const struct line *l, const char *fmt, ...)
{
	char msg[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return ml_err_set(ps->err, ML_EINVAL, "line %zu: %s", l->no, msg);
}

static int oom(struct parser *ps)
{
	return ml_err_set(ps->err, ML_ENOMEM, "out of memory");
}

/* Printable excerpt of a token for messages. */
#define SHOW(s) (int)((s).n > 64 ? 64 : (s).n), (s).p

static int copy_str(struct parser *ps, struct ml_str s, struct ml_str *out)
{
	char *p = ml_arena_strndup(ps->batch->arena, s.p, s.n);
	if (p == NULL)
		return oom(ps);
	*out = ml_str_make(p, s.n);
	return 0;
}

/* Go's strconv.ParseFloat on a token: decimal, exponent, hex, Inf, NaN. */
static bool parse_float(struct ml_str t, double *out)
{
	char buf[64];
	if (t.n == 0 || t.n >= sizeof(buf))
		return false;
	memcpy(buf, t.p, t.n);
	buf[t.n] = '\0';
	/* strtod also takes "nan(...)" and leading spaces, which Go refuses. */
	if (memchr(buf, '(', t.n) != NULL)
		return false;
	char *end;
	errno = 0;
	double v = strtod(buf, &end);
	if (end != buf + t.n)
		return false;
	/* Overflow gives ±HUGE_VAL = ±Inf, as Go's ParseFloat value (which also errors). */
	if (errno == ERANGE && isinf(v))
		return false;
	*out = v;
	return true;
}

static bool parse_int64(struct ml_str t, int64_t *out)
{
	char buf[32];
	if (t.n == 0 || t.n >= sizeof(buf))
		return false;
	memcpy(buf, t.p, t.n);
	buf[t.n] = '\0';
	char *end;
	errno = 0;
	long long v = strtoll(buf, &end, 10);
	if (end != buf + t.n || errno == ERANGE)
		return false;
	*out = (int64_t)v;
	return true;
}

/*
 * Unescapes s into the arena. Label values: \\ \" \n. HELP: \\ \n (and \"
 * in OpenMetrics). Any other backslash is kept with its character.
 */
static int unescape(struct parser *ps, struct ml_str s, bool quote, struct ml_str *out)
{
	if (memchr(s.p, '\\', s.n) == NULL)
		return copy_str(ps, s, out);
	char *buf = ml_arena_alloc(ps->batch->arena, s.n + 1);
	if (buf == NULL)
		return oom(ps);
	size_t o = 0;
	for (size_t i = 0; i < s.n; i++) {
		if (s.p[i] == '\\' && i + 1 < s.n) {
			char c = s.p[i + 1];
			if (c == '\\' || c == 'n' || (quote && c == '"')) {
				buf[o++] = c == 'n' ? '\n' : c;
				i++;
				continue;
			}
		}
		buf[o++] = s.p[i];
	}
	buf[o] = '\0';
	*out = ml_str_make(buf, o);
	return 0;
}

static const struct {
	const char *name;
	uint8_t type;
	bool om; /* OpenMetrics only */
	bool prom; /* 0.0.4 */
} types[] = {
	{"counter", ML_METRIC_COUNTER, true, true},
	{"gauge", ML_METRIC_GAUGE, true, true},
	{"histogram", ML_METRIC_HISTOGRAM, true, true},
	{"summary", ML_METRIC_SUMMARY, true, true},
	{"untyped", ML_METRIC_UNKNOWN, false, true},
	{"unknown", ML_METRIC_UNKNOWN, true, false},
	{"gaugehistogram", ML_METRIC_GAUGEHISTOGRAM, true, false},
	{"info", ML_METRIC_INFO, true, false},
	{"stateset", ML_METRIC_STATESET, true, false},
};

/* The metadata entry for family: the last one if it is the same family, else a new one. */
static struct ml_metric_meta *meta_for(struct parser *ps, struct ml_str family)
{
	struct ml_sample_batch *b = ps->batch;
	if (b->n_meta > 0 && ml_str_eq(b->meta[b->n_meta - 1].family, family))
		return &b->meta[b->n_meta - 1];
	struct ml_metric_meta *m = ml_sample_batch_add_meta(b);
	if (m == NULL)
		return NULL;
	if (copy_str(ps, family, &m->family) != 0)
		return NULL;
	return m;
}

/* A line starting with '#'. *eof is set by "# EOF". */
static int parse_comment(struct parser *ps, struct line *l, bool *eof)
{
	l->p++; /* '#' */
	skip_ws(l);
	struct ml_str kw = read_token(l);
	bool help = ml_str_eq_cstr(kw, "HELP"), type = ml_str_eq_cstr(kw, "TYPE");
	bool unit = ps->o->openmetrics && ml_str_eq_cstr(kw, "UNIT");
	if (ps->o->openmetrics && ml_str_eq_cstr(kw, "EOF")) {
		skip_ws(l);
		if (l->p != l->end)
			return fail(ps, l, "unexpected text after # EOF");
		*eof = true;
		return 0;
	}
	if (!help && !type && !unit)
		return 0; /* a plain comment */
	skip_ws(l);
	struct ml_str name = read_name(l, true);
	if (name.n == 0)
		return fail(ps, l, "# %.*s needs a metric name", SHOW(kw));
	if (l->p < l->end && !is_ws(*l->p))
		return fail(ps, l, "invalid character '%c' in metric name", *l->p);
	skip_ws(l);
	struct ml_str rest = ml_str_make(l->p, (size_t)(l->end - l->p));
	struct ml_metric_meta *m = meta_for(ps, name);
	if (m == NULL)
		return oom(ps);
	if (help)
		return unescape(ps, rest, ps->o->openmetrics, &m->help);
	if (unit)
		return copy_str(ps, rest, &m->unit);
	/* TYPE */
	while (rest.n && is_ws(rest.p[rest.n - 1]))
		rest.n--;
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		if (ml_str_eq_cstr(rest, types[i].name) &&
		    (ps->o->openmetrics ? types[i].om : types[i].prom)) {
			m->type = types[i].type;
			ps->family = m->family;
			ps->family_type = types[i].type;
			return 0;
		}
	}
	return fail(ps, l, "unknown metric type \"%.*s\"", SHOW(rest));
}

/* Reads {name="value",...} into ps->labels[*n...]. The cursor is on '{'. */
static int parse_labels(struct parser *ps, struct line *l, uint32_t *n)
{
	l->p++; /* '{' */
	for (;;) {
		skip_ws(l);
		if (l->p >= l->end)
			return fail(ps, l, "expected label name or '}'");
		if (*l->p == '}') {
			l->p++;
			return 0;
		}
		struct ml_str name = read_name(l, false);
		if (name.n == 0)
			return fail(ps, l, "expected label name, got '%c'", *l->p);
		skip_ws(l);
		if (l->p >= l->end || *l->p != '=')
			return fail(ps, l, "expected '=' after label name");
		l->p++;
		skip_ws(l);
		if (l->p >= l->end || *l->p != '"')
			return fail(ps, l, "expected '\"' to start the value of label \"%.*s\"",
				    SHOW(name));
		l->p++;
		const char *vs = l->p;
		while (l->p < l->end && *l->p != '"') {
			if (*l->p == '\\' && l->p + 1 < l->end)
				l->p++;
			l->p++;
		}
		if (l->p >= l->end)
			return fail(ps, l, "unterminated value of label \"%.*s\"", SHOW(name));
		struct ml_str raw = ml_str_make(vs, (size_t)(l->p - vs));
		l->p++; /* closing quote */
		if (!ml_utf8_valid(raw.p, raw.n))
			return fail(ps, l, "value of label \"%.*s\" is not valid UTF-8", SHOW(name));
		for (uint32_t i = 0; i < *n; i++)
			if (ml_str_eq(ps->labels[i].name, name))
				return fail(ps, l, "duplicate label name \"%.*s\"", SHOW(name));
		if (*n + 2 > ML_MAX_LABELS_PER_SERIES)
			return fail(ps, l, "more than %u labels", ML_MAX_LABELS_PER_SERIES - 1);
		/* Names point into the body until the series is built (then copied). */
		ps->labels[*n].name = name;
		ps->labels[*n].value = raw;
		(*n)++;
		skip_ws(l);
		if (l->p < l->end && *l->p == ',') {
			l->p++;
			continue;
		}
		if (l->p < l->end && *l->p == '}') {
			l->p++;
			return 0;
		}
		return fail(ps, l, "expected ',' or '}' after label value");
	}
}

static bool has_suffix(struct ml_str s, struct ml_str family, const char *suffix)
{
	size_t n = strlen(suffix);
	return s.n == family.n + n && memcmp(s.p, family.p, family.n) == 0 &&
	       memcmp(s.p + family.n, suffix, n) == 0;
}

static int parse_sample(struct parser *ps, struct line *l)
{
	struct ml_str name = read_name(l, true);
	if (name.n == 0)
		return fail(ps, l, "expected a metric name, got '%c'", *l->p);
	uint32_t n = 0;
	int rc;
	if (l->p < l->end && *l->p == '{') {
		if ((rc = parse_labels(ps, l, &n)) != 0)
			return rc;
	} else if (l->p < l->end && !is_ws(*l->p)) {
		return fail(ps, l, "invalid character '%c' in metric name", *l->p);
	}
	for (uint32_t i = 0; i < n; i++)
		if (ml_str_eq_cstr(ps->labels[i].name, "__name__"))
			return fail(ps, l, "duplicate label name \"__name__\"");
	skip_ws(l);
	struct ml_str vt = read_token(l);
	if (vt.n == 0)
		return fail(ps, l, "expected a value after the metric name");
	double v;
	if (!parse_float(vt, &v))
		return fail(ps, l, "invalid value \"%.*s\"", SHOW(vt));
	skip_ws(l);
	int64_t t = ps->o->default_t_ms;
	if (l->p < l->end && *l->p != '#') {
		struct ml_str tt = read_token(l);
		if (ps->o->openmetrics) {
			double s;
			if (!parse_float(tt, &s) || !isfinite(s) || fabs(s) > 9.2e15)
				return fail(ps, l, "invalid timestamp \"%.*s\"", SHOW(tt));
			t = (int64_t)llround(s * 1000.0);
		} else if (!parse_int64(tt, &t)) {
			return fail(ps, l, "invalid timestamp \"%.*s\"", SHOW(tt));
		}
		skip_ws(l);
	}
	if (l->p < l->end) {
		/* OpenMetrics exemplar: " # {labels} value [timestamp]", ignored. */
		if (!(ps->o->openmetrics && *l->p == '#'))
			return fail(ps, l, "unexpected text \"%.*s\" after the sample",
				    (int)((size_t)(l->end - l->p) > 64 ? 64 : (size_t)(l->end - l->p)),
				    l->p);
	}
	if (ps->o->openmetrics && ps->family.n &&
	    (ps->family_type == ML_METRIC_COUNTER || ps->family_type == ML_METRIC_HISTOGRAM ||
	     ps->family_type == ML_METRIC_SUMMARY || ps->family_type == ML_METRIC_GAUGEHISTOGRAM) &&
	    has_suffix(name, ps->family, "_created"))
		return 0;

	/* Body labels with a value and not overridden by an extra label, then __name__ and extras. */
	uint32_t keep = 0;
	for (uint32_t i = 0; i < n; i++) {
		if (ps->labels[i].value.n == 0)
			continue;
		bool over = false;
		for (uint32_t j = 0; j < ps->o->n_extra; j++)
			over = over || ml_str_eq(ps->o->extra[j].name, ps->labels[i].name);
		if (!over)
			ps->labels[keep++] = ps->labels[i];
	}
	uint32_t total = keep + 1 + ps->o->n_extra;
	if (total > ML_MAX_LABELS_PER_SERIES)
		return fail(ps, l, "more than %u labels", ML_MAX_LABELS_PER_SERIES);
	struct ml_series_samples *s = ml_sample_batch_add(ps->batch, total, 1);
	if (s == NULL)
		return oom(ps);
	for (uint32_t i = 0; i < keep; i++) {
		if (copy_str(ps, ps->labels[i].name, &s->labels[i].name) != 0 ||
		    unescape(ps, ps->labels[i].value, true, &s->labels[i].value) != 0)
			return ML_ENOMEM;
	}
	s->labels[keep].name = ML_STR("__name__");
	if (copy_str(ps, name, &s->labels[keep].value) != 0)
		return ML_ENOMEM;
	for (uint32_t j = 0; j < ps->o->n_extra; j++)
		s->labels[keep + 1 + j] = ps->o->extra[j];
	s->samples[0].t_ms = t;
	s->samples[0].v = v;
	return 0;
}

int ml_prom_text_parse(const uint8_t *body, size_t len, const struct ml_prom_text_opts *opts,
		       struct ml_sample_batch *batch, struct ml_err *err)
{
	int rc = 0;
	struct parser *ps = ml_arena_calloc(batch->arena, 1, sizeof(*ps));
	if (ps == NULL)
		return ml_err_set(err, ML_ENOMEM, "out of memory");
	ps->o = opts;
	ps->batch = batch;
	ps->err = err;
	const char *p = (const char *)body, *end = p + len;
	struct line l = {p, p, 0};
	bool eof = false;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl != NULL ? nl : end;
		l.no++;
		l.p = p;
		l.end = le;
		p = nl != NULL ? nl + 1 : end;
		if ((size_t)(le - l.p) > ML_PROM_TEXT_MAX_LINE)
			return fail(ps, &l, "longer than %u bytes", ML_PROM_TEXT_MAX_LINE);
		if (l.end > l.p && l.end[-1] == '\r')
			l.end--;
		skip_ws(&l);
		if (l.p == l.end)
			continue; /* blank line */
		if (eof)
			return fail(ps, &l, "content after # EOF");
		if (*l.p == '#')
			rc = parse_comment(ps, &l, &eof);
		else
			rc = parse_sample(ps, &l);
		if (rc != 0)
			return rc;
	}
	if (opts->openmetrics && !eof)
		return ml_err_set(err, ML_EINVAL, "line %zu: missing \"# EOF\" at the end of the body",
				  l.no);
	return 0;
}

bool ml_prom_text_is_openmetrics(const char *ct, size_t n)
{
	static const char om[] = "application/openmetrics-text";
	size_t k = sizeof(om) - 1;
	if (n < k)
		return false;
	for (size_t i = 0; i < k; i++) {
		char c = ct[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != om[i])
			return false;
	}
	return n == k || ct[k] == ';' || ct[k] == ' ';
}

int ml_prom_text_extra_label(struct ml_arena *arena, const char *s, size_t n,
			     struct ml_label *out, struct ml_err *err)
{
	const char *eq = memchr(s, '=', n);
	int shown = (int)(n > 64 ? 64 : n);
	if (eq == NULL)
		return ml_err_set(err, ML_EINVAL, "extra_label \"%.*s\": expected name=value", shown,
				  s);
	size_t nn = (size_t)(eq - s);
	if (!ml_prom_valid_label_name(s, nn) || (nn == 8 && memcmp(s, "__name__", 8) == 0))
		return ml_err_set(err, ML_EINVAL, "extra_label \"%.*s\": label name \"%.*s\" is invalid",
				  shown, s, (int)(nn > 64 ? 64 : nn), s);
	if (!ml_utf8_valid(eq + 1, n - nn - 1))
		return ml_err_set(err, ML_EINVAL, "extra_label \"%.*s\": value is not valid UTF-8",
				  shown, s);
	char *name = ml_arena_strndup(arena, s, nn);
	char *value = ml_arena_strndup(arena, eq + 1, n - nn - 1);
	if (name == NULL || value == NULL)
		return ml_err_set(err, ML_ENOMEM, "out of memory");
	out->name = ml_str_make(name, nn);
	out->value = ml_str_make(value, n - nn - 1);
	return 0;
}
