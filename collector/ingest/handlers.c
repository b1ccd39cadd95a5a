/*
 * handlers.c - the push endpoints: traces (OTLP/HTTP, Zipkin v2) and
 * metrics (OTLP/HTTP, Prometheus remote write, text exposition import).
 *
 * Each request: pick the decoder by Content-Type, decode into the request
 * arena, append the batch to the trace store or TSDB (which return only once the
 * batch is committed to disk), then answer. So a 2xx always means durable;
 * anything else means nothing of the request was stored, except spans a
 * partial-success answer names as accepted.
 */
#include "ingest/handlers.h"

#include "aggregate/aggregator.h"
#include "app.h"
#include "self_metrics.h"
#include "core/log.h"
#include "ingest/otlp_metrics.h"
#include "ingest/otlp_trace.h"
#include "ingest/prom_text.h"
#include "ingest/remote_write.h"
#include "ingest/zipkin.h"
#include "model/sample.h"
#include "store/trace_store.h"
#include "store/tsdb.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* HTTP status for a store or decoder error code. */
static int status_for(int rc)
{
	switch (rc) {
	case ML_EINVAL: return 400;
	case ML_ETOOBIG: return 413;
	case ML_EUNSUPP: return 415;
	case ML_EFULL: return 503;
	case ML_ESHUTDOWN: return 503;
	default: return 500;
	}
}

/* gRPC status code for the OTLP Status body of an HTTP error. */
static int grpc_code_for(int http)
{
	switch (http) {
	case 400: return 3;  /* INVALID_ARGUMENT */
	case 413: return 8;  /* RESOURCE_EXHAUSTED */
	case 415: return 3;
	case 503: return 14; /* UNAVAILABLE */
	default: return 13;  /* INTERNAL */
	}
}

static void otlp_error(struct ml_http_response *resp, bool json, int http, const char *msg)
{
	resp->status = http;
	ml_buf_clear(&resp->body);
	if (json) {
		resp->content_type = "application/json";
		ml_otlp_status_json(grpc_code_for(http), msg, &resp->body);
	} else {
		resp->content_type = "application/x-protobuf";
		ml_otlp_status_proto(grpc_code_for(http), msg, &resp->body);
	}
	if (http == 503)
		ml_http_add_header(resp, "Retry-After", "5");
}

static void log_reject(const char *format, int http, const char *msg)
{
	char q[600];
	ml_log(ML_LOG_DEBUG, "msg=\"push rejected\" format=%s status=%d reason=%s", format, http,
	       ml_log_quote(q, sizeof(q), msg, strlen(msg)));
}

/*
 * OTLP/HTTP bodies are protobuf or JSON, told apart by Content-Type. Sets
 * *json and returns true, or answers 415 and returns false.
 */
static bool otlp_content_type(const struct ml_http_request *req, struct ml_http_response *resp,
			      bool *json)
{
	if (strcmp(req->content_type, "application/x-protobuf") == 0 ||
	    strcmp(req->content_type, "application/protobuf") == 0) {
		*json = false;
		return true;
	}
	if (strcmp(req->content_type, "application/json") == 0) {
		*json = true;
		return true;
	}
	ml_http_text(resp, 415,
		     "unsupported Content-Type \"%.64s\": use application/x-protobuf or application/json",
		     req->content_type);
	log_reject("otlp", 415, "unsupported Content-Type");
	return false;
}

void ml_ingest_otlp_traces(const struct ml_http_request *req, struct ml_http_response *resp,
			   void *ctx)
{
	struct ml_app *app = ctx;
	bool json;
	if (!otlp_content_type(req, resp, &json))
		return;

	struct ml_span_batch batch;
	struct ml_ingest_report report;
	struct ml_err err;
	memset(&report, 0, sizeof(report));
	err.msg[0] = '\0';
	ml_span_batch_init(&batch, req->arena);
	int rc = json ? ml_otlp_trace_decode_json(req->body, req->body_len, &batch, &report, &err)
		      : ml_otlp_trace_decode_proto(req->body, req->body_len, &batch, &report, &err);
	if (rc == 0 && batch.n == 0 && report.rejected > 0)
		/* Nothing usable: OTLP wants a 400 for bad data, not a partial success. */
		rc = ml_err_set(&err, ML_EINVAL, "%s", report.first_reject);
	if (rc == 0 && batch.n > 0)
		rc = ml_trace_store_append(app->traces, &batch, &err);
	if (rc == 0 && batch.n > 0) /* only acknowledged spans count */
		ml_aggregator_spans(app->agg, &batch, ml_aggregator_now_ms());
	const char *format = json ? "otlp_json" : "otlp_proto";
	if (rc != 0) {
		int http = status_for(rc);
		otlp_error(resp, json, http, err.msg);
		log_reject("otlp", http, err.msg);
		ml_self_ingest(app->self, ML_SELF_SPANS, format, 0, report.rejected + batch.n, http);
		return;
	}
	ml_self_ingest(app->self, ML_SELF_SPANS, format, batch.n, report.rejected, 200);
	resp->status = 200;
	if (json) {
		resp->content_type = "application/json";
		ml_otlp_trace_response_json(&report, &resp->body);
	} else {
		resp->content_type = "application/x-protobuf";
		ml_otlp_trace_response_proto(&report, &resp->body);
	}
}

void ml_ingest_zipkin_spans(const struct ml_http_request *req, struct ml_http_response *resp,
			    void *ctx)
{
	struct ml_app *app = ctx;
	/* Envoy and most Zipkin senders say application/json; an absent type is tolerated. */
	if (req->content_type[0] != '\0' && strcmp(req->content_type, "application/json") != 0) {
		ml_http_text(resp, 415,
			     "unsupported Content-Type \"%.64s\": Zipkin v2 spans must be application/json",
			     req->content_type);
		return;
	}
	struct ml_span_batch batch;
	struct ml_ingest_report report;
	struct ml_err err;
	memset(&report, 0, sizeof(report));
	err.msg[0] = '\0';
	ml_span_batch_init(&batch, req->arena);
	int rc = ml_zipkin_decode_json(req->body, req->body_len, &batch, &report, &err);
	if (rc == 0 && batch.n > 0)
		rc = ml_trace_store_append(app->traces, &batch, &err);
	if (rc == 0 && batch.n > 0) /* only acknowledged spans count */
		ml_aggregator_spans(app->agg, &batch, ml_aggregator_now_ms());
	if (rc != 0) {
		int http = status_for(rc);
		ml_http_text(resp, http, "%s", err.msg);
		if (http == 503)
			ml_http_add_header(resp, "Retry-After", "5");
		log_reject("zipkin", http, err.msg);
		ml_self_ingest(app->self, ML_SELF_SPANS, "zipkin", 0, report.rejected + batch.n, http);
		return;
	}
	ml_self_ingest(app->self, ML_SELF_SPANS, "zipkin", batch.n, report.rejected, 400);
	if (report.rejected > 0) {
		/*
		 * Zipkin has no partial success: the valid spans are stored, and the
		 * sender learns which were not through a 400 naming the first.
		 */
		ml_http_text(resp, 400, "%llu of %llu spans rejected (the others were stored): %s",
			     (unsigned long long)report.rejected,
			     (unsigned long long)(report.rejected + report.accepted),
			     report.first_reject);
		log_reject("zipkin", 400, report.first_reject);
		return;
	}
	resp->status = 202;
	resp->content_type = NULL;
	ml_buf_clear(&resp->body);
}

/* ---- metrics ------------------------------------------------------------- */

/*
 * Appends a decoded sample batch. Returns 0 when every sample was stored;
 * otherwise fills resp with the error and returns the HTTP status. Samples
 * the TSDB rejected one by one (out of order, duplicate, invalid series) are
 * reported through *report; the others are stored.
 */
static int append_samples(struct ml_app *app, const struct ml_sample_batch *batch,
			  struct ml_tsdb_report *report, struct ml_err *err)
{
	memset(report, 0, sizeof(*report));
	if (batch->n == 0 && batch->n_meta == 0)
		return 0;
	return ml_tsdb_append(app->tsdb, batch, report, err);
}

/* The TSDB's per-sample rejections, by its reasons, in meshlens's own metrics. */
static void count_tsdb_rejects(struct ml_app *app, enum ml_self_kind kind, const char *format,
			       const struct ml_tsdb_report *tr)
{
	ml_self_reject(app->self, kind, format, "out_of_order", tr->out_of_order);
	ml_self_reject(app->self, kind, format, "duplicate", tr->duplicate);
	ml_self_reject(app->self, kind, format, "invalid_series", tr->invalid_series);
}

void ml_ingest_otlp_metrics(const struct ml_http_request *req, struct ml_http_response *resp,
			    void *ctx)
{
	struct ml_app *app = ctx;
	bool json;
	if (!otlp_content_type(req, resp, &json))
		return;
	struct ml_sample_batch batch;
	struct ml_ingest_report report;
	struct ml_tsdb_report tr;
	struct ml_err err;
	memset(&report, 0, sizeof(report));
	err.msg[0] = '\0';
	ml_sample_batch_init(&batch, req->arena);
	int rc = json ? ml_otlp_metrics_decode_json(req->body, req->body_len, app->deltas, &batch,
						    &report, &err)
		      : ml_otlp_metrics_decode_proto(req->body, req->body_len, app->deltas, &batch,
						     &report, &err);
	if (rc == 0)
		rc = append_samples(app, &batch, &tr, &err);
	const char *format = json ? "otlp_json" : "otlp_proto";
	if (rc != 0) {
		int http = status_for(rc);
		otlp_error(resp, json, http, err.msg);
		log_reject("otlp_metrics", http, err.msg);
		ml_self_ingest(app->self, ML_SELF_POINTS, format, 0, report.accepted + report.rejected,
			       http);
		return;
	}
	ml_self_ingest(app->self, ML_SELF_POINTS, format, report.accepted, report.rejected, 400);
	count_tsdb_rejects(app, ML_SELF_POINTS, format, &tr);
	if (tr.samples_rejected > 0) {
		/*
		 * OTLP counts data points; the TSDB counts samples (a histogram
		 * point is many). Report the samples: the message says so.
		 */
		report.rejected += tr.samples_rejected;
		if (report.first_reject[0] == '\0')
			snprintf(report.first_reject, sizeof(report.first_reject), "%llu samples rejected: %.400s",
				 (unsigned long long)tr.samples_rejected, tr.first_error.msg);
	}
	resp->status = 200;
	if (json) {
		resp->content_type = "application/json";
		ml_otlp_metrics_response_json(&report, &resp->body);
	} else {
		resp->content_type = "application/x-protobuf";
		ml_otlp_metrics_response_proto(&report, &resp->body);
	}
}

/* 204, or 400 naming the first rejected sample (the others were stored). */
static void samples_done(struct ml_app *app, struct ml_http_response *resp, const char *format,
			 const struct ml_tsdb_report *tr)
{
	ml_self_ingest(app->self, ML_SELF_SAMPLES, format, tr->samples_accepted, 0, 204);
	count_tsdb_rejects(app, ML_SELF_SAMPLES, format, tr);
	if (tr->samples_rejected > 0) {
		ml_http_text(resp, 400, "%llu of %llu samples rejected (the others were stored): %s",
			     (unsigned long long)tr->samples_rejected,
			     (unsigned long long)(tr->samples_rejected + tr->samples_accepted),
			     tr->first_error.msg);
		log_reject(format, 400, tr->first_error.msg);
		return;
	}
	resp->status = 204;
	resp->content_type = NULL;
	ml_buf_clear(&resp->body);
}

void ml_ingest_remote_write(const struct ml_http_request *req, struct ml_http_response *resp,
			    void *ctx)
{
	struct ml_app *app = ctx;
	if (req->content_type[0] != '\0' && strcmp(req->content_type, "application/x-protobuf") != 0) {
		ml_http_text(resp, 415,
			     "unsupported Content-Type \"%.64s\": remote write needs application/x-protobuf",
			     req->content_type);
		return;
	}
	/*
	 * The body is snappy by protocol. Prometheus says so with
	 * Content-Encoding: snappy, which the server already removed; a sender
	 * that leaves the header out still sends snappy.
	 */
	struct ml_sample_batch batch;
	struct ml_tsdb_report tr;
	struct ml_err err;
	err.msg[0] = '\0';
	ml_sample_batch_init(&batch, req->arena);
	const char *enc = ml_http_header(req, "Content-Encoding");
	int rc = enc != NULL && strcasecmp(enc, "snappy") == 0
			 ? ml_remote_write_decode_raw(req->body, req->body_len, &batch, NULL, &err)
			 : ml_remote_write_decode(req->body, req->body_len,
						  ML_REMOTE_WRITE_MAX_UNCOMPRESSED, &batch, NULL, &err);
	if (rc == 0)
		rc = append_samples(app, &batch, &tr, &err);
	if (rc != 0) {
		int http = status_for(rc);
		ml_http_text(resp, http, "%s", err.msg);
		if (http == 503)
			ml_http_add_header(resp, "Retry-After", "5");
		log_reject("remote_write", http, err.msg);
		ml_self_ingest(app->self, ML_SELF_SAMPLES, "remote_write", 0, batch.n, http);
		return;
	}
	samples_done(app, resp, "remote_write", &tr);
}

void ml_ingest_prom_text(const struct ml_http_request *req, struct ml_http_response *resp,
			 void *ctx)
{
	struct ml_app *app = ctx;
	struct ml_prom_text_opts opts;
	memset(&opts, 0, sizeof(opts));
	opts.openmetrics = ml_prom_text_is_openmetrics(req->content_type, strlen(req->content_type));
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	opts.default_t_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;

	struct ml_err err;
	err.msg[0] = '\0';
	const char *extra[32];
	size_t n_extra = ml_http_params(req, "extra_label", extra, 32);
	if (n_extra > 32) {
		ml_http_text(resp, 400, "at most 32 extra_label parameters, got %zu", n_extra);
		return;
	}
	struct ml_label labels[32];
	for (size_t i = 0; i < n_extra; i++) {
		int rc = ml_prom_text_extra_label(req->arena, extra[i], strlen(extra[i]), &labels[i], &err);
		if (rc != 0) {
			ml_http_text(resp, status_for(rc), "%s", err.msg);
			return;
		}
	}
	opts.extra = labels;
	opts.n_extra = (uint32_t)n_extra;

	struct ml_sample_batch batch;
	struct ml_tsdb_report tr;
	ml_sample_batch_init(&batch, req->arena);
	int rc = ml_prom_text_parse(req->body, req->body_len, &opts, &batch, &err);
	if (rc == 0)
		rc = append_samples(app, &batch, &tr, &err);
	if (rc != 0) {
		int http = status_for(rc);
		ml_http_text(resp, http, "%s", err.msg);
		log_reject("prometheus_text", http, err.msg);
		ml_self_ingest(app->self, ML_SELF_SAMPLES, "prometheus_text", 0, batch.n, http);
		return;
	}
	samples_done(app, resp, "prometheus_text", &tr);
}
