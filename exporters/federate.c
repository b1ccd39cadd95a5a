/*
 * federate.c - GET /federate (see federate.h), after Prometheus's
 * web/federate.go: parse every match[] as a metric selector, select the
 * series with data in the lookback window, keep each one's latest sample,
 * sort by metric name and write the text format with timestamps.
 */
#include "exporters/federate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "core/arena.h"
#include "exporters/prom_api.h"
#include "exporters/prom_expo.h"
#include "model/labels.h"
#include "model/sample.h"
#include "store/tsdb.h"

#define FED_MAX_SERIES 2000000u /* series in one answer: past this the caller must narrow */

struct fed_series {
	struct ml_labels labels; /* copy in the request arena */
	struct ml_str name;      /* __name__, inside labels */
	uint64_t id;
	struct ml_sample last;
};

static int series_cmp(const void *a, const void *b)
{
	const struct fed_series *x = a, *y = b;
	size_t n = x->name.n < y->name.n ? x->name.n : y->name.n;
	int c = memcmp(x->name.p, y->name.p, n);
	if (c != 0)
		return c;
	if (x->name.n != y->name.n)
		return x->name.n < y->name.n ? -1 : 1;
	n = x->labels.n < y->labels.n ? x->labels.n : y->labels.n;
	c = memcmp(x->labels.p, y->labels.p, n);
	if (c != 0)
		return c;
	return x->labels.n < y->labels.n ? -1 : x->labels.n > y->labels.n;
}

static bool is_stale(double v)
{
	uint64_t b;
	memcpy(&b, &v, sizeof(b));
	return b == ML_STALE_NAN_BITS;
}

/* "counter"/"gauge" when metadata names exactly this metric, else "untyped". */
static const char *type_of(struct ml_app *app, struct ml_arena *arena, struct ml_str name)
{
	struct ml_tsdb_meta *meta = NULL;
	size_t n = 0;
	struct ml_err err;
	if (ml_tsdb_metadata(app->tsdb, name.p, name.n, 1, arena, &meta, &n, &err) != 0 || n == 0)
		return "untyped";
	if (!ml_str_eq(meta[0].family, name))
		return "untyped";
	if (meta[0].type == ML_METRIC_COUNTER)
		return "counter";
	if (meta[0].type == ML_METRIC_GAUGE)
		return "gauge";
	return "untyped";
}

static void write_series(struct ml_buf *b, const struct fed_series *s)
{
	struct ml_labels_iter it;
	struct ml_str ln, lv;
	bool first = true;
	ml_buf_append(b, s->name.p, s->name.n);
	ml_labels_iter_init(&it, s->labels);
	while (ml_labels_next(&it, &ln, &lv)) {
		if (ml_str_eq_cstr(ln, "__name__"))
			continue;
		ml_buf_putc(b, first ? '{' : ',');
		first = false;
		ml_buf_append(b, ln.p, ln.n);
		ml_buf_puts(b, "=\"");
		ml_expo_put_label_value(b, lv.p, lv.n);
		ml_buf_putc(b, '"');
	}
	if (!first)
		ml_buf_putc(b, '}');
	char num[40];
	ml_buf_printf(b, " %s %lld\n", ml_expo_format_double(s->last.v, num, sizeof(num)),
	              (long long)s->last.t_ms);
}

void ml_federate_at(const struct ml_http_request *req, struct ml_http_response *resp, void *ctx,
                    int64_t now_ms)
{
	struct ml_app *app = ctx;
	struct ml_prom_selectors sel = {.n = 0};
	struct ml_tsdb_series_set *set = NULL;
	struct fed_series *all = NULL;
	size_t n_all = 0, cap = 0;
	struct ml_buf text = ML_BUF_INIT;
	struct ml_err err = {{0}};
	int rc = 0;
	char msg[700];

	if (ml_http_param(req, "match[]") == NULL) {
		ml_http_text(resp, 400, "no match[] parameter provided");
		return;
	}
	/* Prometheus's /federate answers a bad selector with the parser's text, plain. */
	rc = ml_prom_selectors_parse(req, &sel, "", msg, sizeof(msg));
	if (rc != 0) {
		ml_http_text(resp, rc == ML_ENOMEM ? 500 : 400, "invalid match[]: %s", msg);
		return;
	}
	for (size_t i = 0; i < sel.n; i++) {
		rc = ml_tsdb_select(app->tsdb, sel.m[i], sel.n_m[i], now_ms - ml_prom_api_lookback_ms(),
		                    now_ms, 0, &set, &err);
		if (rc == ML_EINVAL) {
			ml_http_text(resp, 400, "invalid match[]: %s", err.msg);
			goto out;
		}
		if (rc != 0)
			goto fail;
		while ((rc = ml_tsdb_series_set_next(set, &err)) == 1) {
			const struct ml_sample *smp;
			size_t ns;
			ml_tsdb_series_set_samples(set, &smp, &ns);
			if (ns == 0 || is_stale(smp[ns - 1].v))
				continue;
			if (n_all >= FED_MAX_SERIES) {
				rc = ml_err_set(&err, ML_ETOOBIG,
				                "more than %u series match; narrow the selectors",
				                FED_MAX_SERIES);
				goto fail;
			}
			if (n_all == cap) {
				size_t ncap = cap ? cap * 2 : 256;
				struct fed_series *nv =
				    ml_arena_alloc(req->arena, ncap * sizeof(*nv));
				if (nv == NULL) {
					rc = ML_ENOMEM;
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
				rc = ML_ENOMEM;
				goto fail;
			}
			memcpy(copy, ls.p, ls.n);
			struct fed_series *s = &all[n_all++];
			s->labels = (struct ml_labels){copy, ls.n};
			s->id = ml_tsdb_series_set_id(set);
			s->last = smp[ns - 1];
			if (!ml_labels_get(s->labels, "__name__", 8, &s->name))
				s->name = ml_str_make("", 0);
		}
		if (rc < 0)
			goto fail;
		ml_tsdb_series_set_free(set);
		set = NULL;
	}
	if (n_all > 1)
		qsort(all, n_all, sizeof(*all), series_cmp);
	for (size_t i = 0; i < n_all; i++) {
		/* Several match[] may select the same series: once is enough. */
		if (i > 0 && all[i].id == all[i - 1].id &&
		    ml_labels_equal(all[i].labels, all[i - 1].labels))
			continue;
		if (i == 0 || !ml_str_eq(all[i].name, all[i - 1].name)) {
			ml_buf_puts(&text, "# TYPE ");
			ml_buf_append(&text, all[i].name.p, all[i].name.n);
			ml_buf_printf(&text, " %s\n", type_of(app, req->arena, all[i].name));
		}
		write_series(&text, &all[i]);
	}
	if (!ml_buf_ok(&text)) {
		rc = ML_ENOMEM;
		goto fail;
	}
	if ((rc = ml_expo_respond(req, resp, &text, ml_expo_content_type(ML_EXPO_TEXT))) != 0)
		goto fail;
	goto out;
fail:
	ml_buf_clear(&resp->body);
	resp->n_extra = 0;
	ml_http_text(resp, rc == ML_ETOOBIG ? 422 : 500, "federation failed: %s",
	             err.msg[0] ? err.msg : ml_strerror(rc));
out:
	ml_tsdb_series_set_free(set);
	ml_prom_selectors_fini(&sel);
	ml_buf_free(&text);
}

void ml_federate(const struct ml_http_request *req, struct ml_http_response *resp, void *ctx)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ml_federate_at(req, resp, ctx, (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}
