/*
 * handlers.c - the trace push endpoints (OTLP/HTTP and Zipkin v2).
 *
 * Each request: pick the decoder by Content-Type, decode into the request
 * arena, append the batch to the trace store (which returns only once the
 * batch is committed to disk), then answer. So a 2xx always means durable;
 * anything else means nothing of the request was stored, except spans a
 * partial-success answer names as accepted.
 */
#include "ingest/handlers.h"

#include "app.h"
#include "core/log.h"
#include "ingest/otlp_trace.h"
#include "ingest/zipkin.h"
#include "store/trace_store.h"

#include <stdio.h>
#include <string.h>

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

void ml_ingest_otlp_traces(const struct ml_http_request *req, struct ml_http_response *resp,
			   void *ctx)
{
	struct ml_app *app = ctx;
	bool json;
	if (strcmp(req->content_type, "application/x-protobuf") == 0 ||
	    strcmp(req->content_type, "application/protobuf") == 0) {
		json = false;
	} else if (strcmp(req->content_type, "application/json") == 0) {
		json = true;
	} else {
		char msg[256];
		snprintf(msg, sizeof(msg),
			 "unsupported Content-Type \"%.64s\": use application/x-protobuf or application/json",
			 req->content_type);
		resp->status = 415;
		ml_http_text(resp, 415, "%s", msg);
		log_reject("otlp", 415, msg);
		return;
	}

	struct ml_span_batch batch;
	struct ml_ingest_report report;
	struct ml_err err;
	memset(&report, 0, sizeof(report));
	err.msg[0] = '\0';
	ml_span_batch_init(&batch, req->arena);
	int rc = json ? ml_otlp_trace_decode_json(req->body, req->body_len, &batch, &report, &err)
		      : ml_otlp_trace_decode_proto(req->body, req->body_len, &batch, &report, &err);
	if (rc == 0 && batch.n > 0)
		rc = ml_trace_store_append(app->traces, &batch, &err);
	if (rc != 0) {
		int http = status_for(rc);
		otlp_error(resp, json, http, err.msg);
		log_reject("otlp", http, err.msg);
		return;
	}
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
	if (rc != 0) {
		int http = status_for(rc);
		ml_http_text(resp, http, "%s", err.msg);
		if (http == 503)
			ml_http_add_header(resp, "Retry-After", "5");
		log_reject("zipkin", http, err.msg);
		return;
	}
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
