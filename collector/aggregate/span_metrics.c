/*
 * span_metrics.c - span metrics (calls and duration per service, span name,
 * kind and status) in Tempo's or the OpenTelemetry spanmetrics connector's
 * names. See span_metrics.h for the two namings and where their defaults
 * come from.
 */
#include "aggregate/span_metrics.h"

#include "core/alloc.h"
#include "model/registry.h"

#include <string.h>

/* Tempo's metrics generator: exponential from 2 ms, factor 2, 14 buckets (seconds). */
static const double tempo_buckets[] = {0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128,
                                       0.256, 0.512, 1.024, 2.048, 4.096, 8.192, 16.384};
/* The spanmetrics connector's defaultHistogramBucketsMs. */
static const double otel_buckets[] = {2,   4,   6,    8,    10,   50,   100,   200,
                                      400, 800, 1000, 1400, 2000, 5000, 10000, 15000};

static const char *const tempo_labels[] = {"service", "span_name", "span_kind", "status_code"};
static const char *const otel_labels[] = {"service_name", "span_name", "span_kind", "status_code"};

struct ml_span_metrics {
	enum ml_span_metrics_naming naming;
	struct ml_family *calls;
	struct ml_family *duration;
};

int ml_span_metrics_parse_naming(const char *s, enum ml_span_metrics_naming *out)
{
	if (strcmp(s, "tempo") == 0)
		*out = ML_SPAN_METRICS_TEMPO;
	else if (strcmp(s, "otel") == 0)
		*out = ML_SPAN_METRICS_OTEL;
	else
		return ML_EINVAL;
	return 0;
}

struct ml_span_metrics *ml_span_metrics_create(struct ml_registry *r,
                                               enum ml_span_metrics_naming naming,
                                               size_t max_series, struct ml_err *err)
{
	struct ml_span_metrics *m = ml_calloc(1, sizeof(*m));
	if (m == NULL) {
		ml_err_set(err, ML_ENOMEM, "span metrics: out of memory");
		goto fail;
	}
	m->naming = naming;
	bool tempo = naming == ML_SPAN_METRICS_TEMPO;
	struct ml_family_desc calls = {
	    .name = tempo ? "traces_spanmetrics_calls_total" : "traces_span_metrics_calls_total",
	    .type = ML_METRIC_COUNTER,
	    .help = "Spans received, by service, span name, span kind and status.",
	    .label_names = tempo ? tempo_labels : otel_labels,
	    .n_labels = 4,
	    .max_children = max_series,
	};
	struct ml_family_desc dur = {
	    .name =
	        tempo ? "traces_spanmetrics_latency" : "traces_span_metrics_duration_milliseconds",
	    .type = ML_METRIC_HISTOGRAM,
	    .help = tempo ? "Span durations in seconds." : "Span durations in milliseconds.",
	    .label_names = tempo ? tempo_labels : otel_labels,
	    .n_labels = 4,
	    .buckets = tempo ? tempo_buckets : otel_buckets,
	    .n_buckets = tempo ? sizeof(tempo_buckets) / sizeof(tempo_buckets[0])
	                       : sizeof(otel_buckets) / sizeof(otel_buckets[0]),
	    .max_children = max_series,
	};
	if ((m->calls = ml_registry_add(r, &calls, err)) == NULL ||
	    (m->duration = ml_registry_add(r, &dur, err)) == NULL)
		goto fail;
	return m;
fail:
	ml_free(m);
	return NULL;
}

void ml_span_metrics_destroy(struct ml_span_metrics *m)
{
	ml_free(m);
}

static struct ml_str status_name(uint8_t code)
{
	switch (code) {
	case ML_STATUS_OK:
		return ML_STR("STATUS_CODE_OK");
	case ML_STATUS_ERROR:
		return ML_STR("STATUS_CODE_ERROR");
	default:
		return ML_STR("STATUS_CODE_UNSET");
	}
}

/* A series of this call: its labels (pointing into the batch) and its two children. */
struct recent {
	struct ml_str service, name;
	uint8_t kind, status;
	struct ml_child *calls, *duration;
};

#define RECENT 8

size_t ml_span_metrics_record_batch(struct ml_span_metrics *m, const struct ml_span *spans,
                                    size_t n)
{
	struct recent cache[RECENT];
	size_t n_cache = 0, next = 0, dropped = 0;
	for (size_t i = 0; i < n; i++) {
		const struct ml_span *s = &spans[i];
		struct recent *r = NULL;
		for (size_t j = 0; j < n_cache; j++) {
			struct recent *c = &cache[j];
			if (c->kind == s->kind && c->status == s->status_code &&
			    ml_str_eq(c->name, s->name) &&
			    ml_str_eq(c->service, s->resource->service_name)) {
				r = c;
				break;
			}
		}
		if (r == NULL) {
			const char *kind = ml_span_kind_otlp_name((enum ml_span_kind)s->kind);
			struct ml_str values[4] = {
			    s->resource->service_name,
			    s->name,
			    ml_str_make(kind, strlen(kind)),
			    status_name(s->status_code),
			};
			r = &cache[next];
			next = (next + 1) % RECENT;
			if (n_cache < RECENT)
				n_cache++;
			*r = (struct recent){
			    .service = s->resource->service_name,
			    .name = s->name,
			    .kind = s->kind,
			    .status = s->status_code,
			    .calls = ml_family_child(m->calls, values),
			    .duration = ml_family_child(m->duration, values),
			};
		}
		uint64_t ns = s->end_ns >= s->start_ns ? s->end_ns - s->start_ns : 0;
		double d = m->naming == ML_SPAN_METRICS_TEMPO ? (double)ns / 1e9 : (double)ns / 1e6;
		if (r->calls != NULL)
			ml_child_add(r->calls, 1);
		else
			dropped++;
		if (r->duration != NULL)
			ml_child_observe(r->duration, d);
		else
			dropped++;
	}
	return dropped;
}

size_t ml_span_metrics_record(struct ml_span_metrics *m, const struct ml_span *s)
{
	return ml_span_metrics_record_batch(m, s, 1);
}
