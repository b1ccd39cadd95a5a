/*
 * remote_write.c - Prometheus remote write 1.0 decoding; see remote_write.h.
 *
 * Order of work: read the uncompressed length from the snappy header and
 * check it against the cap, decompress into the request arena, unpack the
 * protobuf with the arena allocator, then validate and copy series by
 * series. The label strings are not copied: protobuf-c already put them
 * (NUL-terminated) in the arena, and the batch points at them.
 */
#include "ingest/remote_write.h"

#include <math.h>
#include <string.h>

#include <snappy-c.h>

#include "core/arena.h"
#include "ingest/limits.h"
#include "ingest/otel_prom_names.h"
#include "prometheus/remote.pb-c.h"

/* prometheus.MetricMetadata.MetricType -> enum ml_metric_type. */
static uint8_t meta_type(int t)
{
	switch (t) {
	case PROMETHEUS__METRIC_METADATA__METRIC_TYPE__COUNTER:
		return ML_METRIC_COUNTER;
	case PROMETHEUS__METRIC_METADATA__METRIC_TYPE__GAUGE:
		return ML_METRIC_GAUGE;
	case PROMETHEUS__METRIC_METADATA__METRIC_TYPE__HISTOGRAM:
		return ML_METRIC_HISTOGRAM;
	case PROMETHEUS__METRIC_METADATA__METRIC_TYPE__GAUGEHISTOGRAM:
		return ML_METRIC_GAUGEHISTOGRAM;
	case PROMETHEUS__METRIC_METADATA__METRIC_TYPE__SUMMARY:
		return ML_METRIC_SUMMARY;
	case PROMETHEUS__METRIC_METADATA__METRIC_TYPE__INFO:
		return ML_METRIC_INFO;
	case PROMETHEUS__METRIC_METADATA__METRIC_TYPE__STATESET:
		return ML_METRIC_STATESET;
	default:
		return ML_METRIC_UNKNOWN;
	}
}

static struct ml_str cstr(const char *s)
{
	/* protobuf-c NUL-terminates every string it unpacks into the arena. */
	return ml_str_make(s, s ? strlen(s) : 0);
}

static int decode_series(size_t i, const Prometheus__TimeSeries *ts, struct ml_sample_batch *batch,
			 struct ml_remote_write_stats *st, struct ml_err *err)
{
	st->histograms += ts->n_histograms;
	st->exemplars += ts->n_exemplars;
	if (ts->n_labels > ML_MAX_LABELS_PER_SERIES)
		return ml_err_set(err, ML_EINVAL, "series %zu: %zu labels, more than the limit of %u",
				  i, ts->n_labels, ML_MAX_LABELS_PER_SERIES);
	if (ts->n_samples > UINT32_MAX)
		return ml_err_set(err, ML_ETOOBIG, "series %zu: too many samples", i);

	/* Validate first, so that a rejected series adds nothing. */
	uint32_t n_labels = 0;
	bool has_name = false;
	for (size_t j = 0; j < ts->n_labels; j++) {
		struct ml_str name = cstr(ts->labels[j]->name);
		struct ml_str value = cstr(ts->labels[j]->value);
		if (!ml_prom_valid_label_name(name.p, name.n))
			return ml_err_set(err, ML_EINVAL, "series %zu: label name \"%.*s\" is invalid", i,
					  (int)(name.n > 128 ? 128 : name.n), name.p);
		if (name.n > ML_MAX_STRING_BYTES || value.n > ML_MAX_STRING_BYTES)
			return ml_err_set(err, ML_EINVAL,
					  "series %zu: label \"%.*s\" is longer than %u bytes", i,
					  (int)(name.n > 128 ? 128 : name.n), name.p,
					  ML_MAX_STRING_BYTES);
		if (!ml_prom_valid_utf8(value.p, value.n))
			return ml_err_set(err, ML_EINVAL,
					  "series %zu: label \"%.*s\" has a value that is not valid UTF-8",
					  i, (int)name.n, name.p);
		if (ml_str_eq_cstr(name, "__name__")) {
			if (!ml_prom_valid_metric_name(value.p, value.n))
				return ml_err_set(err, ML_EINVAL,
						  "series %zu: metric name \"%.*s\" is invalid", i,
						  (int)(value.n > 128 ? 128 : value.n), value.p);
			has_name = true;
		}
		if (value.n)
			n_labels++;
	}
	if (!has_name)
		return ml_err_set(err, ML_EINVAL, "series %zu: no __name__ label", i);
	if (ts->n_samples == 0)
		return 0;

	struct ml_series_samples *s = ml_sample_batch_add(batch, n_labels, (uint32_t)ts->n_samples);
	if (s == NULL)
		return ml_err_set(err, ML_ENOMEM, "out of memory");
	uint32_t k = 0;
	for (size_t j = 0; j < ts->n_labels; j++) {
		struct ml_str value = cstr(ts->labels[j]->value);
		if (value.n == 0)
			continue;
		s->labels[k].name = cstr(ts->labels[j]->name);
		s->labels[k].value = value;
		k++;
	}
	long dup = ml_prom_labels_sort(s->labels, s->n_labels);
	if (dup >= 0) {
		batch->n--; /* the series was the last one added */
		return ml_err_set(err, ML_EINVAL, "series %zu: duplicate label name \"%.*s\"", i,
				  (int)s->labels[dup].name.n, s->labels[dup].name.p);
	}
	for (size_t j = 0; j < ts->n_samples; j++) {
		s->samples[j].t_ms = ts->samples[j]->timestamp;
		s->samples[j].v = ts->samples[j]->value;
	}
	st->series++;
	st->samples += ts->n_samples;
	return 0;
}

int ml_remote_write_decode_raw(const uint8_t *pb, size_t len, struct ml_sample_batch *batch,
			       struct ml_remote_write_stats *stats, struct ml_err *err)
{
	struct ml_remote_write_stats local;
	struct ml_remote_write_stats *st = stats ? stats : &local;
	memset(st, 0, sizeof(*st));

	ProtobufCAllocator *pa = ml_arena_protobuf_allocator(batch->arena);
	if (pa == NULL)
		return ml_err_set(err, ML_ENOMEM, "out of memory");
	Prometheus__WriteRequest *req = prometheus__write_request__unpack(pa, len, pb);
	if (req == NULL)
		return ml_err_set(err, ML_EINVAL,
				  "protobuf: the body is not a valid prometheus.WriteRequest");

	for (size_t i = 0; i < req->n_timeseries; i++) {
		int rc = decode_series(i, req->timeseries[i], batch, st, err);
		if (rc != 0)
			return rc;
	}
	for (size_t i = 0; i < req->n_metadata; i++) {
		const Prometheus__MetricMetadata *md = req->metadata[i];
		struct ml_str family = cstr(md->metric_family_name);
		if (!ml_prom_valid_metric_name(family.p, family.n))
			return ml_err_set(err, ML_EINVAL,
					  "metadata %zu: metric family name \"%.*s\" is invalid", i,
					  (int)(family.n > 128 ? 128 : family.n), family.p);
		struct ml_metric_meta *m = ml_sample_batch_add_meta(batch);
		if (m == NULL)
			return ml_err_set(err, ML_ENOMEM, "out of memory");
		m->family = family;
		m->type = meta_type(md->type);
		m->help = cstr(md->help);
		m->unit = cstr(md->unit);
		st->metadata++;
	}
	return 0;
}

int ml_remote_write_decode(const uint8_t *body, size_t len, size_t max_uncompressed,
			   struct ml_sample_batch *batch, struct ml_remote_write_stats *stats,
			   struct ml_err *err)
{
	size_t ulen = 0;
	if (snappy_uncompressed_length((const char *)body, len, &ulen) != SNAPPY_OK)
		return ml_err_set(err, ML_EINVAL, "snappy: corrupt input");
	if (ulen > max_uncompressed)
		return ml_err_set(err, ML_ETOOBIG,
				  "snappy: uncompressed length %zu exceeds the limit of %zu bytes",
				  ulen, max_uncompressed);
	/* One spare byte so that an empty body still gets a valid pointer. */
	char *raw = ml_arena_alloc(batch->arena, ulen + 1);
	if (raw == NULL)
		return ml_err_set(err, ML_ENOMEM, "out of memory (%zu bytes uncompressed)", ulen);
	size_t got = ulen;
	if (snappy_uncompress((const char *)body, len, raw, &got) != SNAPPY_OK || got != ulen)
		return ml_err_set(err, ML_EINVAL, "snappy: corrupt input");
	return ml_remote_write_decode_raw((const uint8_t *)raw, ulen, batch, stats, err);
}
