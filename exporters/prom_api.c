/*
 * prom_api.c - the Prometheus HTTP API: the metadata endpoints answered
 * from the TSDB, and /api/v1/query and /api/v1/query_range handed to the
 * PromQL evaluator under the --query.* limits; see prom_api.h.
 *
 * Behaviour follows Prometheus 2.42's web/api/v1/api.go: match[] selectors
 * are parsed as PromQL and must be plain vector selectors; with several
 * match[] the results are the union; start/end default to the whole time
 * range; label names and values come back sorted and unique; parameters are
 * checked in Prometheus's order and errors carry its texts, prefixes
 * included (`invalid parameter "time": Invalid time value for 'time': ...`),
 * because clients show them (tests/integration/prom_api.test.mjs compares
 * them with a live Prometheus). A query's deadline (--query.timeout, lowered
 * by timeout=) covers its wait for one of --query.max-concurrency slots.
 */
#include "exporters/prom_api.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "core/arena.h"
#include "core/error.h"
#include "core/duration.h"
#include "exporters/json_writer.h"
#include "exporters/prom_json.h"
#include "flags.h"
#include "model/labels.h"
#include "query/matcher.h"
#include "query/promql_eval.h"
#include "query/promql_parse.h"
#include "self_metrics.h"
#include "store/tsdb.h"

/* Bounds on one request's work. */
#define PROM_MAX_SERIES 1000000u /* series listed by one /api/v1/series */
#define PROM_MAX_POINTS 11000     /* steps of one range query, as Prometheus */

static const struct ml_config *g_config;

void ml_prom_api_set_config(const struct ml_config *cfg)
{
	g_config = cfg;
}

int64_t ml_prom_api_lookback_ms(void)
{
	if (g_config != NULL && g_config->query_lookback_ms > 0)
		return (int64_t)g_config->query_lookback_ms;
	return 5 * 60 * 1000;
}

/* ---------------------------------------------------------------------------
 * Envelope
 */

static void begin_success(struct ml_http_response *resp)
{
	resp->status = 200;
	resp->content_type = "application/json";
	ml_buf_clear(&resp->body);
	ml_buf_puts(&resp->body, "{\"status\":\"success\",\"data\":");
}

static void end_success(struct ml_http_response *resp)
{
	ml_buf_putc(&resp->body, '}');
	if (!ml_buf_ok(&resp->body)) {
		ml_buf_clear(&resp->body);
		ml_buf_puts(&resp->body, "{\"status\":\"error\",\"errorType\":\"internal\","
					 "\"error\":\"out of memory\"}");
		resp->status = 500;
	}
}

static void api_error(struct ml_http_response *resp, int status, const char *type, const char *msg)
{
	resp->status = status;
	resp->content_type = "application/json";
	ml_buf_clear(&resp->body);
	ml_buf_puts(&resp->body, "{\"status\":\"error\",\"errorType\":");
	ml_json_cstr(&resp->body, type);
	ml_buf_puts(&resp->body, ",\"error\":");
	ml_json_cstr(&resp->body, msg);
	ml_buf_putc(&resp->body, '}');
}

static void bad_data(struct ml_http_response *resp, const char *msg)
{
	api_error(resp, 400, "bad_data", msg);
}

/* A store error: the caller's fault (EINVAL) is bad_data, the rest internal. */
static void store_error(struct ml_http_response *resp, int rc, const struct ml_err *err)
{
	const char *msg = err->msg[0] ? err->msg : ml_strerror(rc);
	if (rc == ML_EINVAL)
		bad_data(resp, msg);
	else if (rc == ML_EFULL || rc == ML_ESHUTDOWN)
		api_error(resp, 503, "unavailable", msg);
	else
		api_error(resp, 500, "internal", msg);
}

/* ---------------------------------------------------------------------------
 * Parameters
 */

static int digits(const char **p, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return -1;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

/* RFC3339 with optional fraction and Z or ±hh:mm. */
static int parse_rfc3339(const char *s, int64_t *out)
{
	int Y, M, D, h, m, sec;
	const char *p = s;
	if (digits(&p, 4, &Y) || *p++ != '-' || digits(&p, 2, &M) || *p++ != '-' ||
	    digits(&p, 2, &D) || (*p != 'T' && *p != 't'))
		return ML_EINVAL;
	p++;
	if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &m) || *p++ != ':' ||
	    digits(&p, 2, &sec))
		return ML_EINVAL;
	if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
		return ML_EINVAL;
	int64_t frac_ms = 0;
	if (*p == '.') {
		p++;
		int nd = 0;
		double scale = 100;
		double f = 0;
		while (isdigit((unsigned char)*p)) {
			f += (*p - '0') * scale;
			scale /= 10;
			p++;
			nd++;
		}
		if (nd == 0)
			return ML_EINVAL;
		frac_ms = (int64_t)llround(f);
	}
	int64_t off_s = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p++ == '-' ? -1 : 1;
		int oh, om;
		if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om) || oh > 23 || om > 59)
			return ML_EINVAL;
		off_s = sign * (oh * 3600 + om * 60);
	} else {
		return ML_EINVAL;
	}
	if (*p != '\0')
		return ML_EINVAL;
	struct tm tm = {0};
	tm.tm_year = Y - 1900;
	tm.tm_mon = M - 1;
	tm.tm_mday = D;
	tm.tm_hour = h;
	tm.tm_min = m;
	tm.tm_sec = sec;
	time_t t = timegm(&tm);
	*out = ((int64_t)t - off_s) * 1000 + frac_ms;
	return 0;
}

int ml_prom_parse_time(const char *s, int64_t *out)
{
	if (s == NULL || *s == '\0')
		return ML_EINVAL;
	char *end = NULL;
	errno = 0;
	double v = strtod(s, &end);
	if (end != s && *end == '\0') {
		/* Within what fits in int64 milliseconds. */
		if (errno != 0 || !isfinite(v) || fabs(v) > 9.2e15)
			return ML_EINVAL;
		*out = (int64_t)llround(v * 1000.0);
		return 0;
	}
	return parse_rfc3339(s, out);
}

/* Reads an optional time parameter; returns false after answering 400. */
static bool time_param(const struct ml_http_request *req, struct ml_http_response *resp,
		       const char *name, int64_t dflt, int64_t *out)
{
	const char *s = ml_http_param(req, name);
	*out = dflt;
	if (s == NULL || *s == '\0')
		return true;
	if (ml_prom_parse_time(s, out) == 0)
		return true;
	/* Prometheus's parseTimeParam wraps parseTime's error, then invalidParamError wraps that. */
	char msg[700];
	snprintf(msg, sizeof(msg),
		 "invalid parameter \"%s\": Invalid time value for '%s': cannot parse \"%.500s\" to a "
		 "valid timestamp",
		 name, name, s);
	bad_data(resp, msg);
	return false;
}

/*
 * start= and end= of the metadata endpoints (whole range by default). An end
 * before start is not an error there: Prometheus's querier then selects
 * nothing, and the caller answers an empty list.
 */
static bool range_params(const struct ml_http_request *req, struct ml_http_response *resp,
			 int64_t *mint, int64_t *maxt)
{
	return time_param(req, resp, "start", INT64_MIN, mint) &&
	       time_param(req, resp, "end", INT64_MAX, maxt);
}

/* Optional limit=: 0 when absent; false after answering 400. */
static bool limit_param(const struct ml_http_request *req, struct ml_http_response *resp,
			size_t *out)
{
	const char *s = ml_http_param(req, "limit");
	*out = 0;
	if (s == NULL || *s == '\0')
		return true;
	char *end = NULL;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (end == s || *end != '\0' || errno != 0) {
		bad_data(resp, "limit must be a number");
		return false;
	}
	*out = v > 0 ? (size_t)v : 0;
	return true;
}

void ml_prom_selectors_fini(struct ml_prom_selectors *s)
{
	for (size_t i = 0; i < s->n; i++)
		ml_promql_expr_destroy(s->expr[i]);
	s->n = 0;
}

int ml_prom_selectors_parse(const struct ml_http_request *req, struct ml_prom_selectors *s,
			    const char *pfx, char *msg, size_t msg_size)
{
	const char *q[ML_PROM_MAX_MATCH + 1];
	size_t n = ml_http_params(req, "match[]", q, ML_PROM_MAX_MATCH + 1);
	s->n = 0;
	if (n > ML_PROM_MAX_MATCH) {
		snprintf(msg, msg_size, "too many match[] parameters (at most %d)", ML_PROM_MAX_MATCH);
		return ML_EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		struct ml_err err = {{0}};
		size_t qn = strlen(q[i]);
		/* Prometheus parses match[] with ParseMetricSelector, whose texts differ here. */
		if (qn == 0) {
			snprintf(msg, msg_size, "%s1:1: parse error: unexpected end of input", pfx);
			goto fail;
		}
		struct ml_promql_expr *e = ml_promql_parse(q[i], qn, &err);
		if (e == NULL) {
			if (strstr(err.msg, "must contain at least one non-empty matcher") != NULL)
				snprintf(msg, msg_size,
					 "%smatch[] must contain at least one non-empty matcher", pfx);
			else
				snprintf(msg, msg_size, "%s%s", pfx, err.msg);
			goto fail;
		}
		s->expr[s->n++] = e;
		if (e->root == NULL || e->root->kind != ML_NODE_VECTOR_SELECTOR) {
			snprintf(msg, msg_size, "%s%.500s is not a vector selector", pfx, q[i]);
			goto fail;
		}
		size_t nm = e->root->u.vs.n_matchers;
		struct ml_matcher **pm = ml_arena_calloc(req->arena, nm ? nm : 1, sizeof(*pm));
		if (pm == NULL) {
			snprintf(msg, msg_size, "out of memory");
			ml_prom_selectors_fini(s);
			return ML_ENOMEM;
		}
		for (size_t j = 0; j < nm; j++)
			pm[j] = &e->root->u.vs.matchers[j];
		s->m[i] = pm;
		s->n_m[i] = nm;
	}
	return 0;
fail:
	ml_prom_selectors_fini(s);
	return ML_EINVAL;
}

/*
 * ml_prom_selectors_parse, answering 400 bad_data (500 internal) itself;
 * false then. Prometheus's /api/v1/series prefixes the error with
 * `invalid parameter "match[]": `, /api/v1/labels and label values do not
 * (web/api/v1/api.go); `prefixed` chooses.
 */
static bool parse_selectors(const struct ml_http_request *req, struct ml_http_response *resp,
			    struct ml_prom_selectors *s, bool prefixed)
{
	char msg[700];
	int rc = ml_prom_selectors_parse(req, s, prefixed ? "invalid parameter \"match[]\": " : "", msg,
					 sizeof(msg));
	if (rc == ML_ENOMEM)
		api_error(resp, 500, "internal", msg);
	else if (rc != 0)
		bad_data(resp, msg);
	return rc == 0;
}

/* ---------------------------------------------------------------------------
 * Sorted string sets
 */

static int str_cmp(const void *a, const void *b)
{
	const struct ml_str *x = a, *y = b;
	size_t n = x->n < y->n ? x->n : y->n;
	int c = memcmp(x->p, y->p, n);
	if (c != 0)
		return c;
	return x->n < y->n ? -1 : x->n > y->n;
}

/* Sorts and de-duplicates v in place; returns the new count. */
static size_t str_uniq(struct ml_str *v, size_t n)
{
	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), str_cmp);
	size_t k = 1;
	for (size_t i = 1; i < n; i++)
		if (str_cmp(&v[i], &v[k - 1]) != 0)
			v[k++] = v[i];
	return k;
}

static void write_str_array(struct ml_buf *b, const struct ml_str *v, size_t n, size_t limit)
{
	if (limit > 0 && n > limit)
		n = limit;
	ml_buf_putc(b, '[');
	for (size_t i = 0; i < n; i++) {
		if (i)
			ml_buf_putc(b, ',');
		ml_json_str(b, v[i].p, v[i].n);
	}
	ml_buf_putc(b, ']');
}

/* Appends src to *acc (growing it in the arena). */
static int str_concat(struct ml_arena *a, struct ml_str **acc, size_t *n_acc,
		      const struct ml_str *src, size_t n_src)
{
	if (n_src == 0)
		return 0;
	struct ml_str *v = ml_arena_alloc(a, (*n_acc + n_src) * sizeof(*v));
	if (v == NULL)
		return ML_ENOMEM;
	if (*n_acc)
		memcpy(v, *acc, *n_acc * sizeof(*v));
	memcpy(v + *n_acc, src, n_src * sizeof(*v));
	*acc = v;
	*n_acc += n_src;
	return 0;
}

/* Prometheus's (legacy) label name rule: [a-zA-Z_][a-zA-Z0-9_]*. */
static bool valid_label_name(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!(isalpha(c) || c == '_' || (i > 0 && isdigit(c))))
			return false;
	}
	return true;
}

/* ---------------------------------------------------------------------------
 * /api/v1/series
 */

static int labels_qcmp(const void *a, const void *b)
{
	return ml_labels_cmp(*(const struct ml_labels *)a, *(const struct ml_labels *)b);
}

static void write_labels_object(struct ml_buf *b, struct ml_labels ls)
{
	struct ml_labels_iter it;
	struct ml_str name, value;
	bool first = true;
	ml_labels_iter_init(&it, ls);
	ml_buf_putc(b, '{');
	while (ml_labels_next(&it, &name, &value)) {
		if (!first)
			ml_buf_putc(b, ',');
		first = false;
		ml_json_str(b, name.p, name.n);
		ml_buf_putc(b, ':');
		ml_json_str(b, value.p, value.n);
	}
	ml_buf_putc(b, '}');
}

void ml_prom_series(const struct ml_http_request *req, struct ml_http_response *resp, void *ctx)
{
	struct ml_app *app = ctx;
	struct ml_prom_selectors sel = {.n = 0};
	struct ml_tsdb_series_set *set = NULL;
	struct ml_labels *all = NULL;
	size_t n_all = 0, cap = 0;
	struct ml_err err = {{0}};
	int64_t mint, maxt;
	int rc = 0;

	if (ml_http_param(req, "match[]") == NULL) {
		bad_data(resp, "no match[] parameter provided");
		return;
	}
	if (!range_params(req, resp, &mint, &maxt))
		return;
	if (!parse_selectors(req, resp, &sel, true))
		return;
	for (size_t i = 0; i < sel.n && mint <= maxt; i++) {
		rc = ml_tsdb_select(app->tsdb, sel.m[i], sel.n_m[i], mint, maxt,
				    ML_TSDB_SELECT_NO_SAMPLES, &set, &err);
		if (rc != 0)
			goto fail;
		while ((rc = ml_tsdb_series_set_next(set, &err)) == 1) {
			if (n_all >= PROM_MAX_SERIES) {
				rc = ml_err_set(&err, ML_EINVAL,
						"more than %u series match; narrow the selector",
						PROM_MAX_SERIES);
				goto fail;
			}
			if (n_all == cap) {
				size_t ncap = cap ? cap * 2 : 64;
				struct ml_labels *nv = ml_arena_alloc(req->arena, ncap * sizeof(*nv));
				if (nv == NULL) {
					rc = ml_err_set(&err, ML_ENOMEM, "out of memory");
					goto fail;
				}
				if (n_all)
					memcpy(nv, all, n_all * sizeof(*nv));
				all = nv;
				cap = ncap;
			}
			struct ml_labels ls = ml_tsdb_series_set_labels(set);
			uint8_t *copy = ml_arena_alloc(req->arena, ls.n ? ls.n : 1);
			if (copy == NULL) {
				rc = ml_err_set(&err, ML_ENOMEM, "out of memory");
				goto fail;
			}
			memcpy(copy, ls.p, ls.n);
			all[n_all].p = copy;
			all[n_all].n = ls.n;
			n_all++;
		}
		if (rc < 0)
			goto fail;
		ml_tsdb_series_set_free(set);
		set = NULL;
	}
	if (sel.n > 1 && n_all > 1) {
		qsort(all, n_all, sizeof(*all), labels_qcmp);
		size_t k = 1;
		for (size_t i = 1; i < n_all; i++)
			if (!ml_labels_equal(all[i], all[k - 1]))
				all[k++] = all[i];
		n_all = k;
	}
	begin_success(resp);
	ml_buf_putc(&resp->body, '[');
	for (size_t i = 0; i < n_all; i++) {
		if (i)
			ml_buf_putc(&resp->body, ',');
		write_labels_object(&resp->body, all[i]);
	}
	ml_buf_putc(&resp->body, ']');
	end_success(resp);
	ml_prom_selectors_fini(&sel);
	return;
fail:
	ml_tsdb_series_set_free(set);
	ml_prom_selectors_fini(&sel);
	store_error(resp, rc, &err);
}

/* ---------------------------------------------------------------------------
 * /api/v1/labels and /api/v1/label/<name>/values
 */

/* name == NULL: label names; else the values of label name. */
static void label_query(const struct ml_http_request *req, struct ml_http_response *resp,
			struct ml_app *app, const char *name, size_t name_len)
{
	struct ml_prom_selectors sel = {.n = 0};
	struct ml_str *acc = NULL;
	size_t n_acc = 0, limit;
	struct ml_err err = {{0}};
	int64_t mint, maxt;
	int rc = 0;

	if (!range_params(req, resp, &mint, &maxt) || !limit_param(req, resp, &limit))
		return;
	if (!parse_selectors(req, resp, &sel, false))
		return;
	size_t rounds = mint <= maxt ? (sel.n ? sel.n : 1) : 0;
	for (size_t i = 0; i < rounds; i++) {
		struct ml_str *v = NULL;
		size_t n = 0;
		struct ml_matcher *const *m = sel.n ? sel.m[i] : NULL;
		size_t nm = sel.n ? sel.n_m[i] : 0;
		if (name == NULL)
			rc = ml_tsdb_label_names(app->tsdb, m, nm, mint, maxt, req->arena, &v, &n,
						 &err);
		else
			rc = ml_tsdb_label_values(app->tsdb, name, name_len, m, nm, mint, maxt,
						  req->arena, &v, &n, &err);
		if (rc != 0)
			goto fail;
		if (rounds == 1) {
			acc = v;
			n_acc = n;
		} else if ((rc = str_concat(req->arena, &acc, &n_acc, v, n)) != 0) {
			ml_err_set(&err, rc, "out of memory");
			goto fail;
		}
	}
	if (rounds > 1)
		n_acc = str_uniq(acc, n_acc);
	if (rounds == 0)
		n_acc = 0;
	begin_success(resp);
	write_str_array(&resp->body, acc, n_acc, limit);
	end_success(resp);
	ml_prom_selectors_fini(&sel);
	return;
fail:
	ml_prom_selectors_fini(&sel);
	store_error(resp, rc, &err);
}

void ml_prom_labels(const struct ml_http_request *req, struct ml_http_response *resp, void *ctx)
{
	label_query(req, resp, ctx, NULL, 0);
}

void ml_prom_label_values(const struct ml_http_request *req, struct ml_http_response *resp,
			  void *ctx)
{
	static const char suffix[] = "/values";
	const char *rest = req->path_rest ? req->path_rest : "";
	size_t n = strlen(rest);
	size_t sl = sizeof(suffix) - 1;
	if (n < sl || memcmp(rest + n - sl, suffix, sl) != 0) {
		/* What Prometheus's router answers for a path it has no route for. */
		resp->status = 404;
		resp->content_type = "text/plain; charset=utf-8";
		ml_buf_clear(&resp->body);
		ml_buf_puts(&resp->body, "404 page not found\n");
		return;
	}
	size_t name_len = n - sl;
	if (!valid_label_name(rest, name_len)) {
		char msg[400];
		snprintf(msg, sizeof(msg), "invalid label name: \"%.*s\"",
			 (int)(name_len > 300 ? 300 : name_len), rest);
		bad_data(resp, msg);
		return;
	}
	label_query(req, resp, ctx, rest, name_len);
}

/* ---------------------------------------------------------------------------
 * /api/v1/metadata
 */

static const char *metric_type_name(uint8_t t)
{
	static const char *const names[] = {"unknown", "counter", "gauge",   "histogram",
					    "summary", "gaugehistogram", "info", "stateset"};
	return t < sizeof(names) / sizeof(names[0]) ? names[t] : "unknown";
}

void ml_prom_metadata(const struct ml_http_request *req, struct ml_http_response *resp, void *ctx)
{
	struct ml_app *app = ctx;
	struct ml_tsdb_meta *meta = NULL;
	size_t n = 0, limit;
	struct ml_err err = {{0}};
	if (!limit_param(req, resp, &limit))
		return;
	const char *metric = ml_http_param(req, "metric");
	size_t mlen = metric ? strlen(metric) : 0;
	int rc = ml_tsdb_metadata(app->tsdb, metric ? metric : "", mlen, limit, req->arena, &meta,
				  &n, &err);
	if (rc != 0) {
		store_error(resp, rc, &err);
		return;
	}
	struct ml_buf *b = &resp->body;
	begin_success(resp);
	ml_buf_putc(b, '{');
	for (size_t i = 0; i < n; i++) {
		if (i)
			ml_buf_putc(b, ',');
		ml_json_str(b, meta[i].family.p, meta[i].family.n);
		ml_buf_puts(b, ":[{\"type\":");
		ml_json_cstr(b, metric_type_name(meta[i].type));
		ml_buf_puts(b, ",\"help\":");
		ml_json_str(b, meta[i].help.p, meta[i].help.n);
		ml_buf_puts(b, ",\"unit\":");
		ml_json_str(b, meta[i].unit.p, meta[i].unit.n);
		ml_buf_puts(b, "}]");
	}
	ml_buf_putc(b, '}');
	end_success(resp);
}

/* ---------------------------------------------------------------------------
 * Status pages and placeholders
 */

void ml_prom_buildinfo(const struct ml_http_request *req, struct ml_http_response *resp, void *ctx)
{
	(void)req;
	(void)ctx;
	begin_success(resp);
	ml_buf_puts(&resp->body, "{\"version\":");
	ml_json_cstr(&resp->body, MESHLENS_VERSION);
	ml_buf_puts(&resp->body, ",\"revision\":\"\",\"branch\":\"\",\"buildUser\":\"\","
				 "\"buildDate\":\"\",\"goVersion\":\"\"}");
	end_success(resp);
}

static void rfc3339_ms(struct ml_buf *b, int64_t ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	char tmp[64];
	gmtime_r(&t, &tm);
	strftime(tmp, sizeof(tmp), "%Y-%m-%dT%H:%M:%S", &tm);
	ml_buf_printf(b, "\"%s.%03dZ\"", tmp, (int)(ms % 1000));
}

static void duration_text(struct ml_buf *b, uint64_t ms)
{
	struct ml_buf tmp = {0};
	ml_promql_format_duration((int64_t)ms, &tmp);
	ml_json_str(b, (const char *)tmp.data, tmp.len);
	ml_buf_free(&tmp);
}

void ml_prom_runtimeinfo(const struct ml_http_request *req, struct ml_http_response *resp,
			 void *ctx)
{
	(void)req;
	struct ml_app *app = ctx;
	struct ml_buf *b = &resp->body;
	char cwd[4096];
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		cwd[0] = '\0';
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	begin_success(resp);
	ml_buf_puts(b, "{\"startTime\":");
	rfc3339_ms(b, (int64_t)(app->start_time_ns / 1000000u));
	ml_buf_puts(b, ",\"CWD\":");
	ml_json_cstr(b, cwd);
	ml_buf_puts(b, ",\"reloadConfigSuccess\":true,\"lastConfigTime\":");
	rfc3339_ms(b, (int64_t)(app->start_time_ns / 1000000u));
	ml_buf_printf(b, ",\"corruptionCount\":0,\"goroutineCount\":0,\"GOMAXPROCS\":%ld,"
			 "\"GOGC\":\"\",\"GODEBUG\":\"\",\"storageRetention\":",
		      cpus > 0 ? cpus : 1);
	if (g_config != NULL && g_config->retention_ms > 0)
		duration_text(b, g_config->retention_ms);
	else
		ml_json_cstr(b, g_config != NULL ? "0s" : "");
	ml_buf_putc(b, '}');
	end_success(resp);
}

static void flag_str(struct ml_buf *b, bool *first, const char *name, const char *value)
{
	if (!*first)
		ml_buf_putc(b, ',');
	*first = false;
	ml_json_key(b, name);
	ml_json_cstr(b, value ? value : "");
}

void ml_prom_flags(const struct ml_http_request *req, struct ml_http_response *resp, void *ctx)
{
	(void)req;
	(void)ctx;
	struct ml_buf *b = &resp->body;
	const struct ml_config *c = g_config;
	char tmp[64];
	bool first = true;
	begin_success(resp);
	ml_buf_putc(b, '{');
	/* Sorted by name, as Go's encoding/json writes Prometheus's flag map. */
	if (c != NULL) {
		flag_str(b, &first, "log.level", c->log_level);
		ml_buf_puts(b, ",\"query.lookback-delta\":");
		duration_text(b, c->query_lookback_ms);
		snprintf(tmp, sizeof(tmp), "%u", c->query_max_concurrency);
		flag_str(b, &first, "query.max-concurrency", tmp);
		snprintf(tmp, sizeof(tmp), "%llu", (unsigned long long)c->query_max_samples);
		flag_str(b, &first, "query.max-samples", tmp);
		ml_buf_puts(b, ",\"query.timeout\":");
		duration_text(b, c->query_timeout_ms);
		snprintf(tmp, sizeof(tmp), "%llu", (unsigned long long)c->storage_max_bytes);
		flag_str(b, &first, "storage.max-bytes", tmp);
		flag_str(b, &first, "storage.path", c->storage_path);
		ml_buf_puts(b, ",\"storage.retention\":");
		duration_text(b, c->retention_ms);
		struct ml_buf list = {0};
		for (size_t i = 0; i < c->n_listen; i++) {
			if (i)
				ml_buf_putc(&list, ',');
			ml_buf_puts(&list, c->listen[i]);
		}
		ml_buf_putc(&list, '\0');
		flag_str(b, &first, "web.listen-address", list.data ? (const char *)list.data : "");
		ml_buf_free(&list);
		snprintf(tmp, sizeof(tmp), "%llu", (unsigned long long)c->max_decompressed_bytes);
		flag_str(b, &first, "web.max-decompressed-bytes", tmp);
		snprintf(tmp, sizeof(tmp), "%llu", (unsigned long long)c->max_request_bytes);
		flag_str(b, &first, "web.max-request-bytes", tmp);
		snprintf(tmp, sizeof(tmp), "%u", c->web_threads);
		flag_str(b, &first, "web.threads", tmp);
	}
	ml_buf_putc(b, '}');
	end_success(resp);
}

void ml_prom_rules(const struct ml_http_request *req, struct ml_http_response *resp, void *ctx)
{
	(void)req;
	(void)ctx;
	begin_success(resp);
	ml_buf_puts(&resp->body, "{\"groups\":[]}");
	end_success(resp);
}

void ml_prom_alerts(const struct ml_http_request *req, struct ml_http_response *resp, void *ctx)
{
	(void)req;
	(void)ctx;
	begin_success(resp);
	ml_buf_puts(&resp->body, "{\"alerts\":[]}");
	end_success(resp);
}

void ml_prom_query_exemplars(const struct ml_http_request *req, struct ml_http_response *resp,
			     void *ctx)
{
	(void)ctx;
	const char *q = ml_http_param(req, "query");
	struct ml_err err = {{0}};
	int64_t mint, maxt;
	if (!range_params(req, resp, &mint, &maxt))
		return;
	if (maxt < mint) {
		bad_data(resp, "end timestamp must not be before start timestamp");
		return;
	}
	if (q == NULL)
		q = "";
	struct ml_promql_expr *e = ml_promql_parse(q, strlen(q), &err);
	if (e == NULL) {
		if (err.msg[0] == '\0')
			api_error(resp, 500, "internal", ml_strerror(ML_ENOMEM));
		else
			bad_data(resp, err.msg);
		return;
	}
	ml_promql_expr_destroy(e);
	begin_success(resp);
	ml_buf_puts(&resp->body, "[]");
	end_success(resp);
}

void ml_prom_format_query(const struct ml_http_request *req, struct ml_http_response *resp,
			  void *ctx)
{
	(void)ctx;
	const char *q = ml_http_param(req, "query");
	struct ml_err err = {{0}};
	struct ml_buf out = {0};
	if (q == NULL)
		q = "";
	struct ml_promql_expr *e = ml_promql_parse(q, strlen(q), &err);
	if (e == NULL) {
		char msg[700];
		snprintf(msg, sizeof(msg), "invalid parameter \"query\": %s",
			 err.msg[0] ? err.msg : "parse error");
		bad_data(resp, msg);
		return;
	}
	ml_promql_pretty(e->root, &out);
	begin_success(resp);
	ml_json_str(&resp->body, out.data ? (const char *)out.data : "", out.len);
	end_success(resp);
	ml_buf_free(&out);
	ml_promql_expr_destroy(e);
}

/* ---------------------------------------------------------------------------
 * /api/v1/query and /api/v1/query_range
 */

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Prometheus's parseDuration (web/api/v1/api.go) for step= and timeout=:
 * float seconds (any sign; the caller judges), else a Prometheus duration
 * ("1m30s", never negative). Nanoseconds in *out_ns. On failure msg gets
 * Prometheus's text: `cannot parse "x" to a valid duration`, with
 * ". It overflows int64" for a number out of range.
 */
static int parse_go_duration(const char *s, int64_t *out_ns, char *msg, size_t msg_size)
{
	char *end = NULL;
	errno = 0;
	double v = *s ? strtod(s, &end) : 0;
	/* Go's ParseFloat also fails on out-of-range numbers (ERANGE); hex floats are rare enough. */
	if (*s && end != s && *end == '\0' && errno != ERANGE) {
		double ns = v * 1e9;
		if (isnan(ns) || ns >= 9223372036854775807.0 || ns < -9223372036854775808.0) {
			snprintf(msg, msg_size,
				 "cannot parse \"%.300s\" to a valid duration. It overflows int64", s);
			return ML_EINVAL;
		}
		*out_ns = (int64_t)ns;
		return 0;
	}
	uint64_t ms = 0;
	if (ml_parse_prom_duration(s, strlen(s), &ms) != 0 || ms > (uint64_t)(INT64_MAX / 1000000)) {
		snprintf(msg, msg_size, "cannot parse \"%.300s\" to a valid duration", s);
		return ML_EINVAL;
	}
	*out_ns = (int64_t)ms * 1000000;
	return 0;
}

/* ---------------------------------------------------------------------------
 * Query limits: the --query.* flags, the timeout= parameter and the gate that
 * bounds concurrent evaluations (Prometheus's ActiveQueryTracker / gate).
 */

static int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static pthread_once_t gate_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv;
static unsigned gate_running;

static void gate_init(void)
{
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&gate_cv, &ca);
	pthread_condattr_destroy(&ca);
}

static unsigned gate_limit(void)
{
	return g_config != NULL && g_config->query_max_concurrency > 0
		   ? g_config->query_max_concurrency
		   : 20;
}

/*
 * Takes one of --query.max-concurrency evaluation slots, waiting for one
 * until deadline_ns (CLOCK_MONOTONIC; 0 = no deadline). Returns 0 or
 * ML_ETIMEOUT. A free slot is taken even when the deadline has passed; the
 * caller's next check reports that ("query execution"), one of the two
 * answers Prometheus gives then.
 */
static int gate_enter(int64_t deadline_ns)
{
	pthread_once(&gate_once, gate_init);
	pthread_mutex_lock(&gate_mu);
	while (gate_running >= gate_limit()) {
		if (deadline_ns == 0) {
			pthread_cond_wait(&gate_cv, &gate_mu);
			continue;
		}
		struct timespec ts = {(time_t)(deadline_ns / 1000000000LL),
				      (long)(deadline_ns % 1000000000LL)};
		if (pthread_cond_timedwait(&gate_cv, &gate_mu, &ts) != 0 &&
		    gate_running >= gate_limit()) {
			pthread_mutex_unlock(&gate_mu);
			return ML_ETIMEOUT;
		}
	}
	gate_running++;
	pthread_mutex_unlock(&gate_mu);
	return 0;
}

static void gate_leave(void)
{
	pthread_mutex_lock(&gate_mu);
	gate_running--;
	pthread_cond_signal(&gate_cv);
	pthread_mutex_unlock(&gate_mu);
}

/*
 * The deadline of one query: --query.timeout, lowered by the request's
 * timeout= (Prometheus applies both as nested contexts, so the earlier one
 * wins). *deadline_ns = 0 when neither sets one. False after answering 400.
 */
static bool query_deadline(const struct ml_http_request *req, struct ml_http_response *resp,
			   int64_t *deadline_ns)
{
	int64_t now = mono_ns();
	int64_t limit_ns = -1; /* -1: none */
	if (g_config != NULL && g_config->query_timeout_ms > 0 &&
	    g_config->query_timeout_ms < (uint64_t)(INT64_MAX / 2000000))
		limit_ns = (int64_t)g_config->query_timeout_ms * 1000000;
	const char *to = ml_http_param(req, "timeout");
	if (to != NULL && *to != '\0') {
		char why[400], msg[500];
		int64_t ns;
		if (parse_go_duration(to, &ns, why, sizeof(why)) != 0) {
			snprintf(msg, sizeof(msg), "invalid parameter \"timeout\": %s", why);
			bad_data(resp, msg);
			return false;
		}
		if (ns < 0)
			ns = 0; /* an expired context, as Go's context.WithTimeout gives */
		if (limit_ns < 0 || ns < limit_ns)
			limit_ns = ns;
	}
	*deadline_ns = limit_ns < 0 ? 0 : now + (limit_ns > INT64_MAX - now ? INT64_MAX - now : limit_ns);
	if (*deadline_ns == 0 && limit_ns >= 0)
		*deadline_ns = 1;
	return true;
}

/*
 * Evaluates e under the query limits: waits for a slot, then runs the
 * instant (step_ms == 0) or range evaluation with --query.lookback-delta,
 * --query.max-samples and what is left of the deadline. Codes and err as
 * ml_promql_eval_*.
 */
static int eval_limited(struct ml_app *app, const struct ml_promql_expr *e, int64_t start_ms,
			int64_t end_ms, int64_t step_ms, int64_t deadline_ns,
			struct ml_promql_result **r, struct ml_err *err)
{
	struct ml_promql_opts opts = {0};
	if (g_config != NULL) {
		opts.lookback_delta_ms = (int64_t)g_config->query_lookback_ms;
		opts.max_samples = (int64_t)g_config->query_max_samples;
	}
	int rc = gate_enter(deadline_ns);
	if (rc != 0)
		return ml_err_set(err, ML_PROMQL_ETIMEOUT, "query timed out in query queue");
	if (deadline_ns != 0) {
		int64_t left = deadline_ns - mono_ns();
		if (left <= 0) {
			gate_leave();
			return ml_err_set(err, ML_PROMQL_ETIMEOUT, "query timed out in query execution");
		}
		opts.timeout_ms = (left + 999999) / 1000000;
	}
	if (step_ms == 0)
		rc = ml_promql_eval_instant(app->tsdb, e->root, start_ms, &opts, r, err);
	else
		rc = ml_promql_eval_range(app->tsdb, e->root, start_ms, end_ms, step_ms, &opts, r,
					  err);
	gate_leave();
	return rc;
}

static const char *result_type_name(enum ml_value_type t)
{
	switch (t) {
	case ML_TYPE_SCALAR:
		return "scalar";
	case ML_TYPE_VECTOR:
		return "vector";
	case ML_TYPE_MATRIX:
		return "matrix";
	case ML_TYPE_STRING:
		return "string";
	default:
		return "none";
	}
}

static void write_point(struct ml_buf *b, const struct ml_sample *p)
{
	ml_buf_putc(b, '[');
	ml_prom_json_time(b, p->t_ms);
	ml_buf_putc(b, ',');
	ml_prom_json_value(b, p->v);
	ml_buf_putc(b, ']');
}

static void write_result(struct ml_http_response *resp, const struct ml_promql_result *r)
{
	struct ml_buf *b = &resp->body;
	begin_success(resp);
	ml_buf_puts(b, "{\"resultType\":");
	ml_json_cstr(b, result_type_name(r->type));
	ml_buf_puts(b, ",\"result\":");
	if (r->type == ML_TYPE_SCALAR) {
		struct ml_sample p = {r->t_ms, r->scalar};
		write_point(b, &p);
	} else if (r->type == ML_TYPE_STRING) {
		ml_buf_putc(b, '[');
		ml_prom_json_time(b, r->t_ms);
		ml_buf_putc(b, ',');
		ml_json_str(b, r->string.p, r->string.n);
		ml_buf_putc(b, ']');
	} else {
		bool vector = r->type == ML_TYPE_VECTOR;
		ml_buf_putc(b, '[');
		for (size_t i = 0; i < r->n_series; i++) {
			const struct ml_promql_series *s = &r->series[i];
			if (i)
				ml_buf_putc(b, ',');
			ml_buf_puts(b, "{\"metric\":");
			write_labels_object(b, s->labels);
			if (vector) {
				ml_buf_puts(b, ",\"value\":");
				if (s->n_points > 0) {
					write_point(b, &s->points[0]);
				} else {
					struct ml_sample p = {r->t_ms, NAN};
					write_point(b, &p);
				}
			} else {
				ml_buf_puts(b, ",\"values\":[");
				for (size_t k = 0; k < s->n_points; k++) {
					if (k)
						ml_buf_putc(b, ',');
					write_point(b, &s->points[k]);
				}
				ml_buf_putc(b, ']');
			}
			ml_buf_putc(b, '}');
		}
		ml_buf_putc(b, ']');
	}
	ml_buf_putc(b, '}');
	end_success(resp);
}

static void eval_error(struct ml_http_response *resp, int rc, const struct ml_err *err)
{
	api_error(resp, ml_promql_http_status(rc), ml_promql_error_type(rc),
		  err->msg[0] ? err->msg : ml_strerror(rc));
}

/*
 * Parses query=; NULL after answering 400. /api/v1/query prefixes parse
 * errors with `invalid parameter "query": `, /api/v1/query_range does not
 * (Prometheus 2.42's api.go); `prefixed` chooses.
 */
static struct ml_promql_expr *parse_query(const struct ml_http_request *req,
					  struct ml_http_response *resp, bool prefixed)
{
	const char *q = ml_http_param(req, "query");
	struct ml_err err = {{0}};
	if (q == NULL)
		q = "";
	struct ml_promql_expr *e = ml_promql_parse(q, strlen(q), &err);
	if (e == NULL) {
		char msg[700];
		snprintf(msg, sizeof(msg), "%s%s", prefixed ? "invalid parameter \"query\": " : "",
			 err.msg);
		if (err.msg[0] == '\0')
			api_error(resp, 500, "internal", ml_strerror(ML_ENOMEM));
		else
			bad_data(resp, msg);
	}
	return e;
}

void ml_prom_query(const struct ml_http_request *req, struct ml_http_response *resp, void *ctx)
{
	struct ml_app *app = ctx;
	struct ml_promql_expr *e = NULL;
	struct ml_promql_result *r = NULL;
	struct ml_err err = {{0}};
	int64_t t, deadline;
	/* Prometheus's order: time, timeout, query. */
	if (!time_param(req, resp, "time", now_ms(), &t) || !query_deadline(req, resp, &deadline))
		return;
	e = parse_query(req, resp, true);
	if (e == NULL)
		return;
	int64_t t0 = mono_ns();
	int rc = eval_limited(app, e, t, t, 0, deadline, &r, &err);
	ml_self_observe_query(app->self, "query", (double)(mono_ns() - t0) / 1e9);
	if (rc != 0)
		eval_error(resp, rc, &err);
	else
		write_result(resp, r);
	ml_promql_result_destroy(r);
	ml_promql_expr_destroy(e);
}

void ml_prom_query_range(const struct ml_http_request *req, struct ml_http_response *resp,
			 void *ctx)
{
	struct ml_app *app = ctx;
	struct ml_promql_expr *e = NULL;
	struct ml_promql_result *r = NULL;
	struct ml_err err = {{0}};
	char msg[600];
	int64_t start, end, step, step_ns, deadline;
	const char *s;

	s = ml_http_param(req, "start");
	if (s == NULL || ml_prom_parse_time(s, &start) != 0) {
		snprintf(msg, sizeof(msg),
			 "invalid parameter \"start\": cannot parse \"%.500s\" to a valid timestamp",
			 s ? s : "");
		bad_data(resp, msg);
		return;
	}
	s = ml_http_param(req, "end");
	if (s == NULL || ml_prom_parse_time(s, &end) != 0) {
		snprintf(msg, sizeof(msg),
			 "invalid parameter \"end\": cannot parse \"%.500s\" to a valid timestamp",
			 s ? s : "");
		bad_data(resp, msg);
		return;
	}
	if (end < start) {
		bad_data(resp, "invalid parameter \"end\": end timestamp must not be before start time");
		return;
	}
	s = ml_http_param(req, "step");
	char why[400];
	if (parse_go_duration(s ? s : "", &step_ns, why, sizeof(why)) != 0) {
		snprintf(msg, sizeof(msg), "invalid parameter \"step\": %s", why);
		bad_data(resp, msg);
		return;
	}
	if (step_ns <= 0) {
		bad_data(resp, "invalid parameter \"step\": zero or negative query resolution step "
			       "widths are not accepted. Try a positive integer");
		return;
	}
	/*
	 * Prometheus: end.Sub(start)/step > 11000, integer division of
	 * nanosecond durations, i.e. end - start >= 11001 * step.
	 */
	double span_ns = ((double)end - (double)start) * 1e6;
	if (span_ns >= (PROM_MAX_POINTS + 1.0) * (double)step_ns) {
		bad_data(resp, "exceeded maximum resolution of 11,000 points per timeseries. "
			       "Try decreasing the query resolution (?step=XX)");
		return;
	}
	if (!query_deadline(req, resp, &deadline))
		return;
	/* Prometheus truncates the step to whole milliseconds for evaluation. */
	step = step_ns / 1000000;
	if (step == 0) {
		bad_data(resp, "invalid parameter \"step\": steps under 1ms are not supported");
		return;
	}
	e = parse_query(req, resp, false);
	if (e == NULL)
		return;
	enum ml_value_type t = ml_node_type(e->root);
	if (t != ML_TYPE_SCALAR && t != ML_TYPE_VECTOR) {
		snprintf(msg, sizeof(msg),
			 "invalid expression type \"%s\" for range query, must be Scalar or instant "
			 "Vector",
			 ml_value_type_name(t));
		bad_data(resp, msg);
		goto done;
	}
	int64_t t0 = mono_ns();
	int rc = eval_limited(app, e, start, end, step, deadline, &r, &err);
	ml_self_observe_query(app->self, "query_range", (double)(mono_ns() - t0) / 1e9);
	if (rc != 0)
		eval_error(resp, rc, &err);
	else
		write_result(resp, r);
done:
	ml_promql_result_destroy(r);
	ml_promql_expr_destroy(e);
}
