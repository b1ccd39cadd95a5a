/*
 * federate.h - GET /federate?match[]=..., as Prometheus serves it for
 * hierarchical set-ups: the latest sample of every series that any match[]
 * selector selects, looked back at most --query.lookback-delta (5 minutes
 * by default, as Prometheus), in the text format 0.0.4 with timestamps.
 *
 * Output is grouped by metric name (names sorted, series in label order
 * within a name), each group opened by "# TYPE <name> <type>": the type is
 * the metadata meshlens received for exactly that name (counter or gauge),
 * else untyped, as Prometheus's federation writes untyped. Series whose
 * latest sample is a staleness marker are left out, as Prometheus does.
 * A missing or unparsable match[] is a 400 naming the selector.
 */
#ifndef ML_EXPORTERS_FEDERATE_H
#define ML_EXPORTERS_FEDERATE_H

#include <stdint.h>

#include "http/router.h"

/* GET /federate; ctx is struct ml_app (uses app->tsdb). */
void ml_federate(const struct ml_http_request *req, struct ml_http_response *resp, void *ctx);

/*
 * The same at a given time (unix ms) instead of now: for tests. Fills resp
 * exactly as ml_federate does.
 */
void ml_federate_at(const struct ml_http_request *req, struct ml_http_response *resp, void *ctx,
		    int64_t now_ms);

#endif
