/*
 * jaeger_api.c - Jaeger's HTTP query API (/api/services, /api/operations,
 * /api/traces, /api/dependencies) answered from the trace store; see
 * jaeger_api.h.
 *
 * Parameter handling, defaults and error texts follow Jaeger's query service
 * (cmd/query/app/http_handler.go and query_parser.go) so that the Jaeger UI
 * and Grafana's Jaeger data source see the answers they expect:
 *   - start/end are unix microseconds; end defaults to now, start to
 *     end - lookback, where lookback is what the client sent (a Go duration,
 *     or 2d/1w as the Jaeger UI offers) and otherwise Jaeger's default of
 *     48 hours. Jaeger itself ignores `lookback`; it is only read here when
 *     `start` is absent, so a value Jaeger would accept is never an error.
 *   - minDuration/maxDuration are Go durations; tags a JSON object of
 *     strings, tag repeated key:value; traceID repeated trace ids.
 *   - service is required unless traceID is given ("parameter 'service' is
 *     required").
 *   - A bad parameter answers 400 with Jaeger's envelope and a message that
 *     names it ("unable to parse param 'minDuration': time: invalid duration
 *     \"x\"").
 * Everything per request is allocated from req->arena; the rendering of
 * traces lives in jaeger_json.c.
 */
#include "exporters/jaeger_api.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "core/arena.h"
#include "core/duration.h"
#include "core/error.h"
#include "exporters/jaeger_json.h"
#include "exporters/json_writer.h"
#include "exporters/trace_params.h"
#include "store/trace_store.h"

/* Longest parameter value read; query strings are far shorter in practice. */
#define PARAM_MAX (64u * 1024u)
/* How much of a bad value an error message quotes. */
#define QUOTE_MAX 64
/* Most traceID= parameters one search may carry (each is a store read). */
#define MAX_TRACE_IDS 1024u
/* Largest limit= accepted: every trace found is returned whole. */
#define MAX_LIMIT 100000u

#define NS_PER_US 1000ULL
#define NS_PER_MS 1000000ULL
#define NS_PER_HOUR (3600ULL * 1000000000ULL)
/* Jaeger's defaultTraceQueryLookbackDuration and defaultDependencyLookbackDuration. */
#define DEFAULT_SEARCH_LOOKBACK_NS (48 * NS_PER_HOUR)
#define DEFAULT_DEPS_LOOKBACK_NS (24 * NS_PER_HOUR)

static int quote_len(size_t n)
{
	return (int)(n < QUOTE_MAX ? n : QUOTE_MAX);
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* ---- responses -------------------------------------------------------- */

static void reply_error(struct ml_http_response *resp, int status, const char *msg)
{
	struct ml_buf *b = &resp->body;
	ml_buf_clear(b);
	resp->status = status;
	resp->content_type = "application/json";
	ml_buf_puts(b, "{\"data\":null,\"total\":0,\"limit\":0,\"offset\":0,\"errors\":[{\"code\":");
	ml_json_i64(b, status);
	ml_buf_puts(b, ",\"msg\":");
	ml_json_cstr(b, msg);
	ml_buf_puts(b, "}]}");
}

/* An error of the store (or of rendering) as the status it deserves. */
static void reply_rc(struct ml_http_response *resp, int rc, const char *what)
{
	char msg[256];
	int status;
	switch (rc) {
	case ML_EINVAL: status = 400; break;
	case ML_ENOTFOUND: status = 404; break;
	case ML_EFULL:
	case ML_ESHUTDOWN: status = 503; break;
	default: status = 500; break;
	}
	snprintf(msg, sizeof(msg), "%s: %s", what, ml_strerror(rc));
	reply_error(resp, status, msg);
}

static int store_of(void *ctx, struct ml_trace_store **ts, struct ml_http_response *resp)
{
	const struct ml_app *app = ctx;
	*ts = app != NULL ? app->traces : NULL;
	if (*ts == NULL) {
		reply_error(resp, 503, "the trace store is not open yet");
		return ML_ESHUTDOWN;
	}
	return 0;
}

static void begin_data(struct ml_http_response *resp)
{
	resp->status = 200;
	resp->content_type = "application/json";
	ml_buf_clear(&resp->body);
	ml_buf_puts(&resp->body, "{\"data\":");
}

/* Closes the envelope; errors_json is the text of "errors" (NULL = null). */
static void end_data(struct ml_http_response *resp, size_t total, const struct ml_buf *errors_json)
{
	struct ml_buf *b = &resp->body;
	ml_buf_puts(b, ",\"total\":");
	ml_json_u64(b, total);
	ml_buf_puts(b, ",\"limit\":0,\"offset\":0,\"errors\":");
	if (errors_json != NULL && errors_json->len > 0)
		ml_buf_append(b, errors_json->data, errors_json->len);
	else
		ml_buf_puts(b, "null");
	ml_buf_putc(b, '}');
	if (!ml_buf_ok(b) || (errors_json != NULL && !ml_buf_ok(errors_json)))
		reply_error(resp, 500, "out of memory writing the response");
}

static void json_strs(struct ml_buf *b, const struct ml_str *s, size_t n)
{
	ml_buf_putc(b, '[');
	for (size_t i = 0; i < n; i++) {
		if (i)
			ml_buf_putc(b, ',');
		ml_json_str(b, s[i].p, s[i].n);
	}
	ml_buf_putc(b, ']');
}

/* ---- parameters ------------------------------------------------------- */

struct pval {
	const char *p;
	size_t n;
};

/*
 * The value of parameter name; absent and empty are the same (Go's
 * FormValue). Values arrive NUL-terminated from the server; strnlen bounds
 * the scan. Returns 0 or ML_EINVAL for a value over PARAM_MAX.
 */
static int param(const struct ml_http_request *req, const char *name, struct pval *out,
		 struct ml_err *err)
{
	const char *v = ml_http_param(req, name);
	out->p = v;
	out->n = v != NULL ? strnlen(v, PARAM_MAX + 1) : 0;
	if (out->n > PARAM_MAX)
		return ml_err_set(err, ML_EINVAL, "unable to parse param '%s': longer than %u bytes",
				  name, PARAM_MAX);
	return 0;
}

/*
 * An integer time parameter in units of unit_ns, converted to nanoseconds.
 * *given says whether it was there; absent leaves *out_ns alone.
 */
static int param_time(const struct ml_http_request *req, const char *name, uint64_t unit_ns,
		      uint64_t *out_ns, int *given, struct ml_err *err)
{
	struct pval v;
	uint64_t x;
	int rc = param(req, name, &v, err);
	*given = 0;
	if (rc || v.n == 0)
		return rc;
	if (ml_trace_param_u64(name, v.p, v.n, &x, NULL) != 0)
		return ml_err_set(err, ML_EINVAL,
				  "unable to parse param '%s': strconv.ParseInt: parsing \"%.*s\": invalid syntax",
				  name, quote_len(v.n), v.p);
	if (x > UINT64_MAX / unit_ns)
		return ml_err_set(err, ML_EINVAL,
				  "unable to parse param '%s': strconv.ParseInt: parsing \"%.*s\": value out of range",
				  name, quote_len(v.n), v.p);
	*out_ns = x * unit_ns;
	*given = 1;
	return 0;
}

/* A Go duration parameter (minDuration=1.2s); absent leaves *out_ns alone. */
static int param_go_duration(const struct ml_http_request *req, const char *name,
			     uint64_t *out_ns, struct ml_err *err)
{
	struct pval v;
	int rc = param(req, name, &v, err);
	if (rc || v.n == 0)
		return rc;
	if (ml_parse_go_duration(v.p, v.n, out_ns) != 0)
		return ml_err_set(err, ML_EINVAL,
				  "unable to parse param '%s': time: invalid duration \"%.*s\"", name,
				  quote_len(v.n), v.p);
	return 0;
}

/*
 * Jaeger UI lookbacks: a Go duration ("1h") or a number of days or weeks
 * ("2d", "1w", which Go cannot parse and Prometheus's syntax can).
 */
static int parse_lookback(struct pval v, uint64_t *out_ns, struct ml_err *err)
{
	uint64_t ms;
	if (ml_parse_go_duration(v.p, v.n, out_ns) == 0)
		return 0;
	if (ml_parse_prom_duration(v.p, v.n, &ms) == 0 && ms <= UINT64_MAX / NS_PER_MS) {
		*out_ns = ms * NS_PER_MS;
		return 0;
	}
	return ml_err_set(err, ML_EINVAL, "unable to parse param 'lookback': time: invalid duration \"%.*s\"",
			  quote_len(v.n), v.p);
}

static int parse_limit(const struct ml_http_request *req, size_t *out, struct ml_err *err)
{
	struct pval v;
	uint64_t x;
	int rc = param(req, "limit", &v, err);
	if (rc || v.n == 0)
		return rc;
	if (ml_trace_param_u64("limit", v.p, v.n, &x, NULL) != 0)
		return ml_err_set(err, ML_EINVAL,
				  "unable to parse param 'limit': strconv.ParseInt: parsing \"%.*s\": invalid syntax",
				  quote_len(v.n), v.p);
	if (x > MAX_LIMIT)
		return ml_err_set(err, ML_EINVAL, "unable to parse param 'limit': %llu is over the maximum of %u",
				  (unsigned long long)x, MAX_LIMIT);
	*out = (size_t)x; /* 0 = the store's default (20) */
	return 0;
}

/* spanKind=server|client|producer|consumer|internal, "" = any. */
static int parse_span_kind(struct pval v, uint8_t *kind, struct ml_err *err)
{
	*kind = ML_SPAN_KIND_UNSPECIFIED;
	if (v.n == 0)
		return 0;
	for (int k = ML_SPAN_KIND_INTERNAL; k <= ML_SPAN_KIND_CONSUMER; k++) {
		const char *name = ml_span_kind_lower((enum ml_span_kind)k);
		if (strlen(name) == v.n && memcmp(name, v.p, v.n) == 0) {
			*kind = (uint8_t)k;
			return 0;
		}
	}
	return ml_err_set(err, ML_EINVAL,
			  "unable to parse param 'spanKind': unsupported span kind: '%.*s' "
			  "(expected server, client, producer, consumer or internal)",
			  quote_len(v.n), v.p);
}

/* Every value of a repeated parameter, in the arena. */
static int param_all(const struct ml_http_request *req, const char *name, size_t max,
		     const char ***out, size_t *n, struct ml_err *err)
{
	size_t count = ml_http_params(req, name, NULL, 0);
	*out = NULL;
	*n = 0;
	if (count == 0)
		return 0;
	if (count > max)
		return ml_err_set(err, ML_EINVAL, "unable to parse param '%s': at most %zu values, got %zu",
				  name, max, count);
	*out = ml_arena_calloc(req->arena, count, sizeof(**out));
	if (*out == NULL)
		return ml_err_set(err, ML_ENOMEM, "out of memory reading parameter '%s'", name);
	*n = ml_http_params(req, name, *out, count);
	return 0;
}

struct search_params {
	struct ml_trace_query q;
	uint8_t (*ids)[16];
	size_t n_ids;
	int times_given; /* start or end was sent: pass them to by-id reads as a hint */
};

static int parse_search(const struct ml_http_request *req, struct search_params *sp,
			struct ml_err *err)
{
	struct ml_trace_query *q = &sp->q;
	struct pval service, operation, lookback;
	const char **vals = NULL;
	size_t n_vals = 0;
	int start_given = 0, end_given = 0;
	int rc;

	if ((rc = param(req, "service", &service, err)) != 0 ||
	    (rc = param(req, "operation", &operation, err)) != 0 ||
	    (rc = param(req, "lookback", &lookback, err)) != 0)
		goto fail;
	q->service = ml_str_make(service.p, service.n);
	q->operation = ml_str_make(operation.p, operation.n);

	q->end_ns = now_ns();
	if ((rc = param_time(req, "start", NS_PER_US, &q->start_ns, &start_given, err)) != 0 ||
	    (rc = param_time(req, "end", NS_PER_US, &q->end_ns, &end_given, err)) != 0)
		goto fail;
	if (!start_given) {
		uint64_t lb = DEFAULT_SEARCH_LOOKBACK_NS;
		if (lookback.n > 0 && !(lookback.n == 6 && memcmp(lookback.p, "custom", 6) == 0)) {
			rc = parse_lookback(lookback, &lb, err);
			if (rc)
				goto fail;
		}
		q->start_ns = q->end_ns > lb ? q->end_ns - lb : 0;
	}
	if (q->start_ns > q->end_ns) {
		rc = ml_err_set(err, ML_EINVAL, "'end' (%llu) should not be before 'start' (%llu)",
				(unsigned long long)(q->end_ns / NS_PER_US),
				(unsigned long long)(q->start_ns / NS_PER_US));
		goto fail;
	}
	sp->times_given = start_given || end_given;

	if ((rc = param_go_duration(req, "minDuration", &q->min_duration_ns, err)) != 0 ||
	    (rc = param_go_duration(req, "maxDuration", &q->max_duration_ns, err)) != 0)
		goto fail;
	if (q->min_duration_ns != 0 && q->max_duration_ns != 0 &&
	    q->max_duration_ns < q->min_duration_ns) {
		rc = ml_err_set(err, ML_EINVAL, "'maxDuration' should be greater than 'minDuration'");
		goto fail;
	}
	if ((rc = parse_limit(req, &q->limit, err)) != 0)
		goto fail;

	/* tag=key:value (repeated) and tags={"k":"v"} (possibly repeated), as Jaeger merges them. */
	if ((rc = param_all(req, "tag", ML_TRACE_MAX_TAG_FILTERS, &vals, &n_vals, err)) != 0)
		goto fail;
	for (size_t i = 0; i < n_vals; i++) {
		rc = ml_trace_tag_kv(vals[i], strnlen(vals[i], PARAM_MAX), req->arena, &q->tags,
				     &q->n_tags, err);
		if (rc)
			goto fail;
	}
	if ((rc = param_all(req, "tags", ML_TRACE_MAX_TAG_FILTERS, &vals, &n_vals, err)) != 0)
		goto fail;
	for (size_t i = 0; i < n_vals; i++) {
		size_t n = strnlen(vals[i], PARAM_MAX);
		if (n == 0)
			continue;
		rc = ml_trace_tags_json(vals[i], n, req->arena, &q->tags, &q->n_tags, err);
		if (rc)
			goto fail;
	}

	if ((rc = param_all(req, "traceID", MAX_TRACE_IDS, &vals, &n_vals, err)) != 0)
		goto fail;
	if (n_vals > 0) {
		sp->ids = ml_arena_alloc(req->arena, n_vals * sizeof(*sp->ids));
		if (sp->ids == NULL) {
			rc = ml_err_set(err, ML_ENOMEM, "out of memory reading parameter 'traceID'");
			goto fail;
		}
	}
	for (size_t i = 0; i < n_vals; i++) {
		rc = ml_trace_id_parse(vals[i], strnlen(vals[i], PARAM_MAX), sp->ids[i], err);
		if (rc) {
			ml_err_prefix(err, "cannot parse traceID param: ");
			goto fail;
		}
	}
	sp->n_ids = n_vals;

	if (sp->n_ids == 0 && q->service.n == 0) {
		rc = ml_err_set(err, ML_EINVAL, "parameter 'service' is required");
		goto fail;
	}
	return 0;
fail:
	return rc;
}

/* ---- handlers --------------------------------------------------------- */

void ml_jaeger_services(const struct ml_http_request *req, struct ml_http_response *resp, void *ctx)
{
	struct ml_trace_store *ts;
	struct ml_str *names = NULL;
	size_t n = 0;
	if (store_of(ctx, &ts, resp) != 0)
		return;
	int rc = ml_trace_store_services(ts, req->arena, &names, &n);
	if (rc) {
		reply_rc(resp, rc, "reading service names");
		return;
	}
	begin_data(resp);
	json_strs(&resp->body, names, n);
	end_data(resp, n, NULL);
}

/* Operation names of a service, each once (the store lists one per kind). */
static void reply_operation_names(const struct ml_http_request *req, struct ml_http_response *resp,
				  struct ml_trace_store *ts, struct ml_str service)
{
	struct ml_operation *ops = NULL;
	size_t n = 0, n_names = 0;
	int rc = ml_trace_store_operations(ts, service, 0, req->arena, &ops, &n);
	if (rc) {
		reply_rc(resp, rc, "reading operations");
		return;
	}
	begin_data(resp);
	ml_buf_putc(&resp->body, '[');
	for (size_t i = 0; i < n; i++) {
		/* Sorted by name, so a repeated name is adjacent. */
		if (i > 0 && ml_str_eq(ops[i].name, ops[i - 1].name))
			continue;
		if (n_names++)
			ml_buf_putc(&resp->body, ',');
		ml_json_str(&resp->body, ops[i].name.p, ops[i].name.n);
	}
	ml_buf_putc(&resp->body, ']');
	end_data(resp, n_names, NULL);
}

void ml_jaeger_service_operations(const struct ml_http_request *req, struct ml_http_response *resp,
				  void *ctx)
{
	static const char suffix[] = "/operations";
	const size_t sl = sizeof(suffix) - 1;
	const char *rest = req->path_rest != NULL ? req->path_rest : "";
	size_t n = strnlen(rest, PARAM_MAX + 1);
	struct ml_trace_store *ts;
	char msg[160];

	if (n > PARAM_MAX || n <= sl || memcmp(rest + n - sl, suffix, sl) != 0) {
		snprintf(msg, sizeof(msg), "no such endpoint: /api/services/%.*s (expected /api/services/{service}/operations)",
			 quote_len(n), rest);
		reply_error(resp, 404, msg);
		return;
	}
	if (store_of(ctx, &ts, resp) != 0)
		return;
	reply_operation_names(req, resp, ts, ml_str_make(rest, n - sl));
}

void ml_jaeger_operations(const struct ml_http_request *req, struct ml_http_response *resp, void *ctx)
{
	struct ml_trace_store *ts;
	struct ml_err err = {{0}};
	struct pval service, kind_text;
	struct ml_operation *ops = NULL;
	size_t n = 0;
	uint8_t kind;

	if (param(req, "service", &service, &err) != 0 || param(req, "spanKind", &kind_text, &err) != 0 ||
	    parse_span_kind(kind_text, &kind, &err) != 0) {
		reply_error(resp, 400, err.msg);
		return;
	}
	if (service.n == 0) {
		reply_error(resp, 400, "parameter 'service' is required");
		return;
	}
	if (store_of(ctx, &ts, resp) != 0)
		return;
	int rc = ml_trace_store_operations(ts, ml_str_make(service.p, service.n), kind, req->arena,
					   &ops, &n);
	if (rc) {
		reply_rc(resp, rc, "reading operations");
		return;
	}
	begin_data(resp);
	ml_buf_putc(&resp->body, '[');
	for (size_t i = 0; i < n; i++) {
		if (i)
			ml_buf_putc(&resp->body, ',');
		ml_buf_puts(&resp->body, "{\"name\":");
		ml_json_str(&resp->body, ops[i].name.p, ops[i].name.n);
		ml_buf_puts(&resp->body, ",\"spanKind\":");
		ml_json_cstr(&resp->body, ml_span_kind_lower((enum ml_span_kind)ops[i].kind));
		ml_buf_putc(&resp->body, '}');
	}
	ml_buf_putc(&resp->body, ']');
	end_data(resp, n, NULL);
}

/* Appends traces[0..n) as a JSON array; 0 or an error code. */
static int traces_json(struct ml_buf *b, const struct ml_trace *traces, size_t n,
		       struct ml_arena *arena)
{
	size_t written = 0;
	ml_buf_putc(b, '[');
	for (size_t i = 0; i < n; i++) {
		if (traces[i].n == 0) /* clients need a root span in every trace */
			continue;
		if (written++)
			ml_buf_putc(b, ',');
		int rc = ml_jaeger_trace_json(b, &traces[i], arena);
		if (rc)
			return rc;
	}
	ml_buf_putc(b, ']');
	return 0;
}

void ml_jaeger_search(const struct ml_http_request *req, struct ml_http_response *resp, void *ctx)
{
	struct ml_trace_store *ts;
	struct ml_err err = {{0}};
	struct search_params sp;
	struct ml_trace *traces = NULL;
	struct ml_buf errors = ML_BUF_INIT;
	size_t n_traces = 0;
	int rc;

	memset(&sp, 0, sizeof(sp));
	rc = parse_search(req, &sp, &err);
	if (rc) {
		reply_error(resp, rc == ML_ENOMEM ? 500 : 400, err.msg);
		goto done;
	}
	if (store_of(ctx, &ts, resp) != 0)
		goto done;

	if (sp.n_ids > 0) {
		/* Jaeger's tracesByIDs: the traces found, and one error entry per id not found. */
		traces = ml_arena_calloc(req->arena, sp.n_ids, sizeof(*traces));
		if (traces == NULL) {
			reply_error(resp, 500, "out of memory");
			goto done;
		}
		for (size_t i = 0; i < sp.n_ids; i++) {
			rc = ml_trace_store_get(ts, sp.ids[i], sp.times_given ? sp.q.start_ns : 0,
						sp.times_given ? sp.q.end_ns : 0, req->arena,
						&traces[n_traces]);
			if (rc == 0) {
				n_traces++;
				continue;
			}
			if (rc != ML_ENOTFOUND) {
				reply_rc(resp, rc, "reading a trace");
				goto done;
			}
			ml_buf_puts(&errors, errors.len ? "," : "[");
			ml_buf_puts(&errors, "{\"msg\":\"trace not found\",\"traceID\":");
			ml_jaeger_trace_id_json(&errors, sp.ids[i]);
			ml_buf_putc(&errors, '}');
		}
		if (errors.len)
			ml_buf_putc(&errors, ']');
	} else {
		rc = ml_trace_store_search(ts, &sp.q, req->arena, &traces, &n_traces);
		if (rc) {
			reply_rc(resp, rc, "searching traces");
			goto done;
		}
	}

	begin_data(resp);
	rc = traces_json(&resp->body, traces, n_traces, req->arena);
	if (rc) {
		reply_rc(resp, rc, "writing traces");
		goto done;
	}
	/* Jaeger leaves total at 0 for traces. */
	end_data(resp, 0, &errors);
done:
	ml_buf_free(&errors);
}

/* A start/end hint of /api/traces/{id} in ns: below 1e14 milliseconds, else microseconds. */
static uint64_t hint_ns(uint64_t v)
{
	if (v < 100000000000000ULL)
		return v * NS_PER_MS;
	return v <= UINT64_MAX / NS_PER_US ? v * NS_PER_US : 0;
}

void ml_jaeger_trace(const struct ml_http_request *req, struct ml_http_response *resp, void *ctx)
{
	struct ml_trace_store *ts;
	struct ml_err err = {{0}};
	struct ml_trace trace;
	uint8_t id[16];
	uint64_t start_ns = 0, end_ns = 0;
	int given;
	const char *rest = req->path_rest != NULL ? req->path_rest : "";
	size_t n = strnlen(rest, PARAM_MAX + 1);

	if (ml_trace_id_parse(rest, n, id, &err) != 0) {
		ml_err_prefix(&err, "cannot parse traceID: ");
		reply_error(resp, 400, err.msg);
		return;
	}
	/*
	 * Optional start/end narrow the read. Older Grafana sends microseconds,
	 * newer milliseconds: a value below 1e14 is taken as milliseconds (1e14
	 * µs is 1973, 1e14 ms is year 5138).
	 */
	if (param_time(req, "start", 1, &start_ns, &given, &err) != 0 ||
	    param_time(req, "end", 1, &end_ns, &given, &err) != 0) {
		reply_error(resp, 400, err.msg);
		return;
	}
	start_ns = hint_ns(start_ns);
	end_ns = hint_ns(end_ns);
	if (end_ns != 0 && start_ns > end_ns)
		start_ns = end_ns = 0; /* a hint only: a nonsense range reads everything */
	if (store_of(ctx, &ts, resp) != 0)
		return;
	int rc = ml_trace_store_get(ts, id, start_ns, end_ns, req->arena, &trace);
	if (rc == ML_ENOTFOUND) {
		reply_error(resp, 404, "trace not found");
		return;
	}
	if (rc) {
		reply_rc(resp, rc, "reading the trace");
		return;
	}
	begin_data(resp);
	rc = traces_json(&resp->body, &trace, 1, req->arena);
	if (rc) {
		reply_rc(resp, rc, "writing the trace");
		return;
	}
	end_data(resp, 0, NULL);
}

void ml_jaeger_dependencies(const struct ml_http_request *req, struct ml_http_response *resp,
			    void *ctx)
{
	struct ml_trace_store *ts;
	struct ml_err err = {{0}};
	struct ml_dependency *deps = NULL;
	struct pval service;
	size_t n = 0, written = 0;
	uint64_t end_ns = now_ns(), lookback_ns = DEFAULT_DEPS_LOOKBACK_NS;
	int given;

	if (param_time(req, "endTs", NS_PER_MS, &end_ns, &given, &err) != 0 ||
	    param_time(req, "lookback", NS_PER_MS, &lookback_ns, &given, &err) != 0 ||
	    param(req, "service", &service, &err) != 0) {
		reply_error(resp, 400, err.msg);
		return;
	}
	if (store_of(ctx, &ts, resp) != 0)
		return;
	uint64_t start_ns = end_ns > lookback_ns ? end_ns - lookback_ns : 0;
	int rc = ml_trace_store_dependencies(ts, start_ns, end_ns, req->arena, &deps, &n);
	if (rc) {
		reply_rc(resp, rc, "reading dependencies");
		return;
	}
	struct ml_buf *b = &resp->body;
	begin_data(resp);
	ml_buf_putc(b, '[');
	for (size_t i = 0; i < n; i++) {
		struct ml_str svc = ml_str_make(service.p, service.n);
		/* Jaeger's ?service= filter: links into or out of that service. */
		if (service.n > 0 && !ml_str_eq(deps[i].parent, svc) && !ml_str_eq(deps[i].child, svc))
			continue;
		/* Sum links listed more than once (Jaeger deduplicates the same way). */
		uint64_t calls = deps[i].call_count;
		while (i + 1 < n && ml_str_eq(deps[i + 1].parent, deps[i].parent) &&
		       ml_str_eq(deps[i + 1].child, deps[i].child))
			calls += deps[++i].call_count;
		if (written++)
			ml_buf_putc(b, ',');
		ml_buf_puts(b, "{\"parent\":");
		ml_json_str(b, deps[i].parent.p, deps[i].parent.n);
		ml_buf_puts(b, ",\"child\":");
		ml_json_str(b, deps[i].child.p, deps[i].child.n);
		ml_buf_puts(b, ",\"callCount\":");
		ml_json_u64(b, calls);
		ml_buf_putc(b, '}');
	}
	ml_buf_putc(b, ']');
	end_data(resp, 0, NULL);
}
