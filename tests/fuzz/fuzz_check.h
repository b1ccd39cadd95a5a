/*
 * fuzz_check.h - what every span-decoder fuzz target checks after a decode:
 * the decoder's promises in otlp_trace.h / zipkin.h, not just "no crash".
 */
#ifndef ML_FUZZ_CHECK_H
#define ML_FUZZ_CHECK_H

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "ingest/otlp_trace.h"
#include "model/span.h"

/*
 * empty_on_failure: the decoder promises an empty batch after a failed
 * decode (the OTLP decoders do; zipkin.h does not say).
 */
static inline void ml_fuzz_check_batch(int rc, const struct ml_span_batch *b,
				       const struct ml_ingest_report *r, const struct ml_err *e,
				       bool empty_on_failure)
{
	if (rc != 0) {
		/* a failed request always says why */
		if ((empty_on_failure && b->n != 0) || e->msg[0] == '\0' ||
		    memchr(e->msg, '\0', sizeof(e->msg)) == NULL)
			abort();
		return;
	}
	if (b->n != r->accepted)
		abort();
	if ((r->rejected == 0) != (r->first_reject[0] == '\0'))
		abort();
	for (size_t i = 0; i < b->n; i++) {
		const struct ml_span *s = &b->spans[i];
		static const uint8_t zero[16];
		if (s->resource == NULL || s->end_ns < s->start_ns)
			abort();
		if (memcmp(s->trace_id, zero, 16) == 0 || memcmp(s->span_id, zero, 8) == 0)
			abort();
		/* touch every byte the span points at, so ASan sees bad pointers */
		volatile uint8_t sink = 0;
		for (size_t k = 0; k < s->name.n; k++)
			sink ^= (uint8_t)s->name.p[k];
		for (uint32_t a = 0; a < s->attrs.n; a++) {
			const struct ml_attr *at = &s->attrs.items[a];
			for (size_t k = 0; k < at->key.n; k++)
				sink ^= (uint8_t)at->key.p[k];
			if (at->type == ML_VAL_STRING || at->type == ML_VAL_BYTES ||
			    at->type == ML_VAL_JSON)
				for (size_t k = 0; k < at->v.s.n; k++)
					sink ^= (uint8_t)at->v.s.p[k];
		}
		for (size_t k = 0; k < s->resource->service_name.n; k++)
			sink ^= (uint8_t)s->resource->service_name.p[k];
		for (uint32_t ev = 0; ev < s->n_events; ev++)
			for (size_t k = 0; k < s->events[ev].name.n; k++)
				sink ^= (uint8_t)s->events[ev].name.p[k];
		(void)sink;
	}
	/* the responses for this report encode */
	struct ml_buf out = ML_BUF_INIT;
	ml_otlp_trace_response_proto(r, &out);
	ml_otlp_trace_response_json(r, &out);
	if (!ml_buf_ok(&out))
		abort();
	ml_buf_free(&out);
}

#endif
