/*
 * remote_write.h - Prometheus remote write 1.0 requests decoded into a
 * sample batch.
 *
 * Spec: "Prometheus Remote-Write Specification" 1.0: the body is a
 * prometheus.WriteRequest (schemas/prometheus/remote.proto) compressed with
 * snappy's block format (not the framed format), sent with
 * Content-Encoding: snappy and Content-Type: application/x-protobuf.
 * Each TimeSeries becomes one series of the batch, each MetricMetadata one
 * metadata entry. Native histograms and exemplars are not stored yet: they
 * are counted in the stats and skipped, so that a sender mixing them with
 * float samples is not refused altogether.
 *
 * The request is all or nothing: any invalid series fails the whole request
 * with ML_EINVAL and a message naming the series ("series 3: label name
 * \"0abc\" is invalid"), which a handler answers with 400 so that the
 * sender drops it rather than retrying forever.
 */
#ifndef ML_INGEST_REMOTE_WRITE_H
#define ML_INGEST_REMOTE_WRITE_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "model/sample.h"

/* Default cap on the uncompressed body (Prometheus's receivers use 32-64 MiB). */
#define ML_REMOTE_WRITE_MAX_UNCOMPRESSED (64u * 1024u * 1024u)

struct ml_remote_write_stats {
	uint64_t series;     /* series added to the batch */
	uint64_t samples;    /* float samples added */
	uint64_t histograms; /* native histogram samples skipped */
	uint64_t exemplars;  /* exemplars skipped */
	uint64_t metadata;   /* metadata entries added */
};

/*
 * Decodes a snappy-compressed WriteRequest of len bytes into batch
 * (initialised by the caller with ml_sample_batch_init). The uncompressed
 * body lives in batch->arena and the batch's label strings point into it,
 * so nothing is freed separately. Labels with an empty value are dropped
 * (Prometheus treats them as absent); the remaining labels of a series are
 * sorted by name. Series without samples are skipped. stats may be NULL.
 *
 * Returns 0, or
 *   ML_ETOOBIG "snappy: uncompressed length N exceeds the limit of M bytes"
 *              (checked from the snappy header before anything is allocated),
 *   ML_EINVAL  "snappy: corrupt input", "protobuf: ...", "series I: ...",
 *              "metadata I: ...",
 *   ML_ENOMEM,
 * with err set. On error the batch may hold part of the request: discard it.
 */
int ml_remote_write_decode(const uint8_t *body, size_t len, size_t max_uncompressed,
			   struct ml_sample_batch *batch, struct ml_remote_write_stats *stats,
			   struct ml_err *err);

/*
 * Decodes an uncompressed WriteRequest (the same rules without snappy): for
 * tests and for callers that already decompressed the body. The batch's
 * label strings point into pb, which must outlive the batch; they are not
 * NUL-terminated.
 */
int ml_remote_write_decode_raw(const uint8_t *pb, size_t len, struct ml_sample_batch *batch,
			       struct ml_remote_write_stats *stats, struct ml_err *err);

#endif
