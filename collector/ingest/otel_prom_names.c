/*
 * otel_prom_names.c - Prometheus name validity, the OpenTelemetry ->
 * Prometheus name and label translation, and Prometheus float formatting;
 * see otel_prom_names.h for the rules and docs/METRICS_INGEST.md for the
 * tables.
 *
 * Names are handled as bytes: only ASCII letters and digits are "word"
 * characters. A multi-byte UTF-8 character counts as one separator, so that
 * "größe" becomes "gr_e" in a label name rather than "gr___e". (The
 * Collector keeps Unicode letters; classic Prometheus names are ASCII, and
 * meshlens's query side follows classic Prometheus.)
 */
#include "ingest/otel_prom_names.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/error.h"
#include "model/sample.h"

static bool is_alpha(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static bool is_alnum(unsigned char c) { return is_alpha(c) || is_digit(c); }

bool ml_prom_valid_metric_name(const char *p, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if (!(is_alpha(c) || c == '_' || c == ':' || (i > 0 && is_digit(c))))
			return false;
	}
	return true;
}

bool ml_prom_valid_label_name(const char *p, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if (!(is_alpha(c) || c == '_' || (i > 0 && is_digit(c))))
			return false;
	}
	return true;
}

/* Length of the UTF-8 sequence starting at p[i] (1 for ASCII or a stray byte). */
static size_t utf8_len(const char *p, size_t n, size_t i)
{
	unsigned char c = (unsigned char)p[i];
	size_t want = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
	size_t k = 1;
	while (k < want && i + k < n && ((unsigned char)p[i + k] & 0xC0) == 0x80)
		k++;
	return k;
}

/* OTLP (UCUM) unit -> Prometheus unit word, as the Collector's unitMap. */
static const struct {
	const char *otel, *prom;
} unit_map[] = {
	{"d", "days"},         {"h", "hours"},       {"min", "minutes"},   {"s", "seconds"},
	{"ms", "milliseconds"}, {"us", "microseconds"}, {"ns", "nanoseconds"}, {"By", "bytes"},
	{"KiBy", "kibibytes"}, {"MiBy", "mebibytes"}, {"GiBy", "gibibytes"}, {"TiBy", "tibibytes"},
	{"KBy", "kilobytes"},  {"MBy", "megabytes"},  {"GBy", "gigabytes"},  {"TBy", "terabytes"},
	{"m", "meters"},       {"V", "volts"},       {"A", "amperes"},     {"J", "joules"},
	{"W", "watts"},        {"g", "grams"},       {"Cel", "celsius"},   {"Hz", "hertz"},
	{"1", ""},             {"%", "percent"},
};

/* The unit after '/' ("By/s" -> bytes per second). */
static const struct {
	const char *otel, *prom;
} per_unit_map[] = {
	{"s", "second"}, {"m", "minute"}, {"h", "hour"}, {"d", "day"},
	{"w", "week"},   {"mo", "month"}, {"y", "year"},
};

static struct ml_str map_unit(struct ml_str u, bool per)
{
	size_t n = per ? sizeof(per_unit_map) / sizeof(per_unit_map[0])
		       : sizeof(unit_map) / sizeof(unit_map[0]);
	for (size_t i = 0; i < n; i++) {
		const char *o = per ? per_unit_map[i].otel : unit_map[i].otel;
		const char *pr = per ? per_unit_map[i].prom : unit_map[i].prom;
		if (ml_str_eq_cstr(u, o))
			return ml_str_make(pr, strlen(pr));
	}
	return u;
}

static struct ml_str trim_space(struct ml_str s)
{
	while (s.n && (s.p[0] == ' ' || s.p[0] == '\t')) {
		s.p++;
		s.n--;
	}
	while (s.n && (s.p[s.n - 1] == ' ' || s.p[s.n - 1] == '\t'))
		s.n--;
	return s;
}

static bool has_brace(struct ml_str s)
{
	return memchr(s.p, '{', s.n) != NULL || memchr(s.p, '}', s.n) != NULL;
}

/* Token list for building a name. */
struct tokens {
	struct ml_str *t;
	size_t n, cap;
};

static void tok_push(struct tokens *tk, struct ml_str s)
{
	if (tk->n < tk->cap)
		tk->t[tk->n++] = s;
}

/* Splits s at every run of non-alphanumeric bytes and appends the words. */
static void tok_split(struct tokens *tk, struct ml_str s)
{
	size_t i = 0;
	while (i < s.n) {
		while (i < s.n && !is_alnum((unsigned char)s.p[i]))
			i++;
		size_t start = i;
		while (i < s.n && is_alnum((unsigned char)s.p[i]))
			i++;
		if (i > start)
			tok_push(tk, ml_str_make(s.p + start, i - start));
	}
}

static bool tok_contains(const struct tokens *tk, struct ml_str s)
{
	for (size_t i = 0; i < tk->n; i++)
		if (ml_str_eq(tk->t[i], s))
			return true;
	return false;
}

static void tok_remove(struct tokens *tk, const char *word)
{
	size_t o = 0;
	for (size_t i = 0; i < tk->n; i++)
		if (!ml_str_eq_cstr(tk->t[i], word))
			tk->t[o++] = tk->t[i];
	tk->n = o;
}

/*
 * "Cleans" a unit as the Collector's CleanUpString: words joined by '_'.
 * Written into arena; empty if the unit has no word.
 */
static int clean_unit(struct ml_arena *a, struct ml_str u, struct ml_str *out)
{
	char *buf = ml_arena_alloc(a, u.n + 1);
	if (buf == NULL)
		return ML_ENOMEM;
	size_t o = 0, i = 0;
	while (i < u.n) {
		while (i < u.n && !is_alnum((unsigned char)u.p[i]))
			i++;
		if (i < u.n && o > 0)
			buf[o++] = '_';
		while (i < u.n && is_alnum((unsigned char)u.p[i]))
			buf[o++] = u.p[i++];
	}
	*out = ml_str_make(buf, o);
	return 0;
}

int ml_otel_metric_name(struct ml_arena *arena, struct ml_str name, struct ml_str unit,
			enum ml_otel_kind kind, struct ml_str *out)
{
	/* Words of the name, plus at most unit, "per", per-unit, total, ratio. */
	struct tokens tk = {NULL, 0, name.n / 2 + 8};
	tk.t = ml_arena_calloc(arena, tk.cap, sizeof(*tk.t));
	if (tk.t == NULL)
		return ML_ENOMEM;
	tok_split(&tk, name);

	struct ml_str main_u = unit, per_u = {"", 0};
	const char *slash = unit.n ? memchr(unit.p, '/', unit.n) : NULL;
	if (slash != NULL) {
		main_u = ml_str_make(unit.p, (size_t)(slash - unit.p));
		per_u = ml_str_make(slash + 1, unit.n - main_u.n - 1);
	}
	main_u = trim_space(main_u);
	per_u = trim_space(per_u);
	if (main_u.n && !has_brace(main_u)) {
		struct ml_str w;
		if (clean_unit(arena, map_unit(main_u, false), &w) != 0)
			return ML_ENOMEM;
		if (w.n && !tok_contains(&tk, w))
			tok_push(&tk, w);
	}
	if (per_u.n && !has_brace(per_u)) {
		struct ml_str w;
		if (clean_unit(arena, map_unit(per_u, true), &w) != 0)
			return ML_ENOMEM;
		if (w.n && !tok_contains(&tk, w)) {
			tok_push(&tk, ML_STR("per"));
			tok_push(&tk, w);
		}
	}
	if (kind == ML_OTEL_COUNTER) {
		tok_remove(&tk, "total");
		tok_push(&tk, ML_STR("total"));
	}
	if (kind == ML_OTEL_GAUGE && ml_str_eq_cstr(unit, "1")) {
		tok_remove(&tk, "ratio");
		tok_push(&tk, ML_STR("ratio"));
	}

	size_t len = 1; /* a possible leading '_' */
	for (size_t i = 0; i < tk.n; i++)
		len += tk.t[i].n + 1;
	char *buf = ml_arena_alloc(arena, len + 1);
	if (buf == NULL)
		return ML_ENOMEM;
	size_t o = 0;
	if (tk.n && is_digit((unsigned char)tk.t[0].p[0]))
		buf[o++] = '_';
	for (size_t i = 0; i < tk.n; i++) {
		if (i)
			buf[o++] = '_';
		memcpy(buf + o, tk.t[i].p, tk.t[i].n);
		o += tk.t[i].n;
	}
	buf[o] = '\0';
	*out = ml_str_make(buf, o);
	return 0;
}

int ml_otel_label_name(struct ml_arena *arena, struct ml_str key, struct ml_str *out)
{
	char *buf = ml_arena_alloc(arena, key.n + 5);
	if (buf == NULL)
		return ML_ENOMEM;
	size_t o = 0;
	if (key.n && is_digit((unsigned char)key.p[0])) {
		memcpy(buf, "key_", 4);
		o = 4;
	} else if (key.n && key.p[0] == '_' && !(key.n > 1 && key.p[1] == '_')) {
		memcpy(buf, "key", 3);
		o = 3;
	}
	for (size_t i = 0; i < key.n;) {
		unsigned char c = (unsigned char)key.p[i];
		if (is_alnum(c)) {
			buf[o++] = (char)c;
			i++;
		} else {
			buf[o++] = '_';
			i += c >= 0x80 ? utf8_len(key.p, key.n, i) : 1;
		}
	}
	buf[o] = '\0';
	*out = ml_str_make(buf, o);
	return 0;
}

size_t ml_prom_format_float(double v, char *buf, size_t cap)
{
	if (isnan(v))
		return (size_t)snprintf(buf, cap, "NaN");
	if (isinf(v))
		return (size_t)snprintf(buf, cap, v > 0 ? "+Inf" : "-Inf");
	if (v == 0)
		return (size_t)snprintf(buf, cap, signbit(v) ? "-0" : "0");

	/* Shortest %e representation that reads back exactly. */
	char e[40];
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(e, sizeof(e), "%.*e", prec - 1, v);
		if (strtod(e, NULL) == v)
			break;
	}
	/* e is "[-]d[.ddd]e[+-]xx": collect the digits and the exponent. */
	char digits[20];
	size_t nd = 0;
	const char *p = e;
	bool neg = false;
	if (*p == '-') {
		neg = true;
		p++;
	}
	for (; *p && *p != 'e'; p++)
		if (is_digit((unsigned char)*p) && nd < sizeof(digits))
			digits[nd++] = *p;
	int exp10 = *p == 'e' ? atoi(p + 1) : 0;
	while (nd > 1 && digits[nd - 1] == '0')
		nd--;

	/* Value = 0.d1d2...dn * 10^(exp10+1); write it in positional notation. */
	char out[400];
	size_t o = 0;
	if (neg)
		out[o++] = '-';
	int point = exp10 + 1; /* digits before the decimal point */
	if (point <= 0) {
		out[o++] = '0';
		out[o++] = '.';
		for (int i = 0; i < -point && o < sizeof(out) - 24; i++)
			out[o++] = '0';
		for (size_t i = 0; i < nd; i++)
			out[o++] = digits[i];
	} else {
		for (int i = 0; i < point && o < sizeof(out) - 24; i++)
			out[o++] = (size_t)i < nd ? digits[i] : '0';
		if ((size_t)point < nd) {
			out[o++] = '.';
			for (size_t i = (size_t)point; i < nd; i++)
				out[o++] = digits[i];
		}
	}
	out[o] = '\0';
	return (size_t)snprintf(buf, cap, "%s", out);
}

int ml_prom_float_str(struct ml_arena *arena, double v, struct ml_str *out)
{
	char tmp[400];
	size_t n = ml_prom_format_float(v, tmp, sizeof(tmp));
	if (n >= sizeof(tmp))
		n = sizeof(tmp) - 1;
	char *p = ml_arena_strndup(arena, tmp, n);
	if (p == NULL)
		return ML_ENOMEM;
	*out = ml_str_make(p, n);
	return 0;
}

static int label_cmp(const void *a, const void *b)
{
	const struct ml_label *x = a, *y = b;
	size_t n = x->name.n < y->name.n ? x->name.n : y->name.n;
	int c = n ? memcmp(x->name.p, y->name.p, n) : 0;
	if (c)
		return c;
	return x->name.n < y->name.n ? -1 : x->name.n > y->name.n;
}

long ml_prom_labels_sort(struct ml_label *labels, uint32_t n)
{
	if (n > 1)
		qsort(labels, n, sizeof(*labels), label_cmp);
	for (uint32_t i = 1; i < n; i++)
		if (ml_str_eq(labels[i].name, labels[i - 1].name))
			return (long)i;
	return -1;
}
