/*
 * test_remote_write.c - remote write 1.0: a WriteRequest built with the
 * generated structs, snappy-compressed, decoded and compared; metadata;
 * caps; every error message.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <snappy-c.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "ingest/limits.h"
#include "ingest/otel_prom_names.h"
#include "ingest/remote_write.h"
#include "prometheus/remote.pb-c.h"

static struct ml_arena *arena;
static struct ml_sample_batch batch;
static struct ml_err err;
static struct ml_remote_write_stats stats;

static void setup(void)
{
	arena = ml_arena_create(0);
	ml_sample_batch_init(&batch, arena);
	memset(&err, 0, sizeof(err));
	memset(&stats, 0, sizeof(stats));
}
static void teardown(void) { ml_arena_destroy(arena); }
/* A fresh batch and error within one test. */
static void setup_again(void)
{
	teardown();
	setup();
}

TestSuite(remote_write, .init = setup, .fini = teardown);

/* A small builder over the generated structs (fixed-size pools, tests only). */
struct ts_builder {
	Prometheus__Label labels[16][8];
	Prometheus__Label *label_ptrs[16][8];
	Prometheus__Sample samples[16][4];
	Prometheus__Sample *sample_ptrs[16][4];
	Prometheus__TimeSeries ts[16];
	Prometheus__TimeSeries *ts_ptrs[16];
	Prometheus__MetricMetadata md[4];
	Prometheus__MetricMetadata *md_ptrs[4];
	Prometheus__WriteRequest req;
};

static void add_series(struct ts_builder *b, const char *const *kv, size_t n_kv,
		       const double *vals, const int64_t *ts_ms, size_t n_samples)
{
	size_t i = b->req.n_timeseries++;
	prometheus__time_series__init(&b->ts[i]);
	for (size_t k = 0; k < n_kv; k++) {
		prometheus__label__init(&b->labels[i][k]);
		b->labels[i][k].name = (char *)kv[2 * k];
		b->labels[i][k].value = (char *)kv[2 * k + 1];
		b->label_ptrs[i][k] = &b->labels[i][k];
	}
	b->ts[i].n_labels = n_kv;
	b->ts[i].labels = b->label_ptrs[i];
	for (size_t k = 0; k < n_samples; k++) {
		prometheus__sample__init(&b->samples[i][k]);
		b->samples[i][k].value = vals[k];
		b->samples[i][k].timestamp = ts_ms[k];
		b->sample_ptrs[i][k] = &b->samples[i][k];
	}
	b->ts[i].n_samples = n_samples;
	b->ts[i].samples = b->sample_ptrs[i];
	b->ts_ptrs[i] = &b->ts[i];
	b->req.timeseries = b->ts_ptrs;
}

static void builder_init(struct ts_builder *b)
{
	memset(b, 0, sizeof(*b));
	prometheus__write_request__init(&b->req);
}

/* Packs and snappy-compresses; returns malloc'd bytes. */
static char *compress_req(const Prometheus__WriteRequest *req, size_t *len)
{
	size_t n = prometheus__write_request__get_packed_size(req);
	uint8_t *raw = malloc(n + 1);
	prometheus__write_request__pack(req, raw);
	size_t cap = snappy_max_compressed_length(n);
	char *out = malloc(cap);
	cr_assert_eq(snappy_compress((const char *)raw, n, out, &cap), SNAPPY_OK);
	free(raw);
	*len = cap;
	return out;
}

static int decode_req(const Prometheus__WriteRequest *req)
{
	size_t len;
	char *body = compress_req(req, &len);
	int rc = ml_remote_write_decode((const uint8_t *)body, len, ML_REMOTE_WRITE_MAX_UNCOMPRESSED,
					&batch, &stats, &err);
	free(body);
	return rc;
}

static const char *label(size_t i, const char *name)
{
	static char buf[128];
	const struct ml_series_samples *s = &batch.series[i];
	for (uint32_t k = 0; k < s->n_labels; k++) {
		if (ml_str_eq_cstr(s->labels[k].name, name)) {
			snprintf(buf, sizeof(buf), "%.*s", (int)s->labels[k].value.n, s->labels[k].value.p);
			return buf;
		}
	}
	return NULL;
}

Test(remote_write, round_trip)
{
	struct ts_builder b;
	builder_init(&b);
	const char *l1[] = {"__name__", "http_requests_total", "job", "api", "code", "200"};
	const double v1[] = {1, 2, 3};
	const int64_t t1[] = {1000, 2000, 3000};
	add_series(&b, l1, 3, v1, t1, 3);
	const char *l2[] = {"__name__", "up", "instance", "", "job", "node"};
	uint64_t stale_bits = ML_STALE_NAN_BITS;
	double stale;
	memcpy(&stale, &stale_bits, sizeof(stale));
	const double v2[] = {stale};
	const int64_t t2[] = {5000};
	add_series(&b, l2, 3, v2, t2, 1);

	cr_assert_eq(decode_req(&b.req), 0, "%s", err.msg);
	cr_assert_eq(batch.n, 2);
	cr_assert_eq(stats.series, 2);
	cr_assert_eq(stats.samples, 4);
	/* Labels come back sorted by name. */
	cr_assert_eq(batch.series[0].n_labels, 3);
	cr_assert(ml_str_eq_cstr(batch.series[0].labels[0].name, "__name__"));
	cr_assert(ml_str_eq_cstr(batch.series[0].labels[1].name, "code"));
	cr_assert(ml_str_eq_cstr(batch.series[0].labels[2].name, "job"));
	cr_assert_str_eq(label(0, "__name__"), "http_requests_total");
	cr_assert_eq(batch.series[0].n_samples, 3);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(batch.series[0].samples[i].t_ms, t1[i]);
		cr_assert_eq(batch.series[0].samples[i].v, v1[i]);
	}
	/* The empty "instance" label is dropped; the staleness NaN keeps its bits. */
	cr_assert_eq(batch.series[1].n_labels, 2);
	cr_assert_null(label(1, "instance"));
	uint64_t bits;
	memcpy(&bits, &batch.series[1].samples[0].v, sizeof(bits));
	cr_assert_eq(bits, ML_STALE_NAN_BITS);
}

Test(remote_write, metadata_types)
{
	struct ts_builder b;
	builder_init(&b);
	const int types[] = {PROMETHEUS__METRIC_METADATA__METRIC_TYPE__COUNTER,
			     PROMETHEUS__METRIC_METADATA__METRIC_TYPE__SUMMARY,
			     PROMETHEUS__METRIC_METADATA__METRIC_TYPE__GAUGEHISTOGRAM};
	const char *names[] = {"a_total", "b", "c"};
	for (int i = 0; i < 3; i++) {
		prometheus__metric_metadata__init(&b.md[i]);
		b.md[i].type = types[i];
		b.md[i].metric_family_name = (char *)names[i];
		b.md[i].help = (char *)"help text";
		b.md[i].unit = (char *)"seconds";
		b.md_ptrs[i] = &b.md[i];
	}
	b.req.n_metadata = 3;
	b.req.metadata = b.md_ptrs;
	cr_assert_eq(decode_req(&b.req), 0, "%s", err.msg);
	cr_assert_eq(batch.n_meta, 3);
	cr_assert_eq(batch.meta[0].type, ML_METRIC_COUNTER);
	cr_assert_eq(batch.meta[1].type, ML_METRIC_SUMMARY);
	cr_assert_eq(batch.meta[2].type, ML_METRIC_GAUGEHISTOGRAM);
	cr_assert(ml_str_eq_cstr(batch.meta[0].family, "a_total"));
	cr_assert(ml_str_eq_cstr(batch.meta[0].help, "help text"));
	cr_assert(ml_str_eq_cstr(batch.meta[0].unit, "seconds"));
}

Test(remote_write, histograms_and_exemplars_are_counted_and_skipped)
{
	struct ts_builder b;
	builder_init(&b);
	const char *l[] = {"__name__", "h"};
	add_series(&b, l, 1, NULL, NULL, 0);
	Prometheus__Histogram h = PROMETHEUS__HISTOGRAM__INIT;
	Prometheus__Histogram *hp = &h;
	b.ts[0].n_histograms = 1;
	b.ts[0].histograms = &hp;
	cr_assert_eq(decode_req(&b.req), 0, "%s", err.msg);
	cr_assert_eq(batch.n, 0);
	cr_assert_eq(stats.histograms, 1);
}

static void expect_series_error(const char *const *kv, size_t n, const char *msg)
{
	struct ts_builder b;
	builder_init(&b);
	const char *ok[] = {"__name__", "fine"};
	const double v[] = {1};
	const int64_t t[] = {1};
	add_series(&b, ok, 1, v, t, 1);
	add_series(&b, ok, 1, v, t, 1);
	add_series(&b, ok, 1, v, t, 1);
	add_series(&b, kv, n, v, t, 1);
	cr_assert_eq(decode_req(&b.req), ML_EINVAL);
	cr_assert_str_eq(err.msg, msg);
}

Test(remote_write, series_errors)
{
	const char *bad_name[] = {"__name__", "m", "0abc", "x"};
	expect_series_error(bad_name, 2, "series 3: label name \"0abc\" is invalid");
	const char *no_name[] = {"job", "x"};
	expect_series_error(no_name, 1, "series 3: no __name__ label");
	const char *bad_metric[] = {"__name__", "a-b"};
	expect_series_error(bad_metric, 1, "series 3: metric name \"a-b\" is invalid");
	const char *dup[] = {"__name__", "m", "a", "1", "a", "2"};
	expect_series_error(dup, 3, "series 3: duplicate label name \"a\"");
	const char *utf8[] = {"__name__", "m", "a", "\xc3\x28"};
	expect_series_error(utf8, 2, "series 3: label \"a\" has a value that is not valid UTF-8");
}

/* Series 3 with n labels (the first __name__="m", then l1="v"...), the longest value vlen bytes. */
static int decode_wide_series(size_t n, size_t vlen)
{
	struct ts_builder b;
	builder_init(&b);
	const char *ok[] = {"__name__", "fine"};
	const double v[] = {1};
	const int64_t t[] = {1};
	add_series(&b, ok, 1, v, t, 1);
	add_series(&b, ok, 1, v, t, 1);
	add_series(&b, ok, 1, v, t, 1);
	add_series(&b, ok, 1, v, t, 1);
	Prometheus__Label *labels = calloc(n, sizeof(*labels));
	Prometheus__Label **ptrs = calloc(n, sizeof(*ptrs));
	char(*names)[32] = calloc(n, 32);
	char *big = malloc(vlen + 1);
	cr_assert(labels && ptrs && names && big);
	memset(big, 'x', vlen);
	big[vlen] = 0;
	for (size_t i = 0; i < n; i++) {
		prometheus__label__init(&labels[i]);
		if (i == 0)
			snprintf(names[i], 32, "__name__");
		else
			snprintf(names[i], 32, "l%zu", i);
		labels[i].name = names[i];
		labels[i].value = i == 0 ? "m" : (i == 1 ? big : "v");
		ptrs[i] = &labels[i];
	}
	b.ts[3].n_labels = n;
	b.ts[3].labels = ptrs;
	int rc = decode_req(&b.req);
	free(labels);
	free(ptrs);
	free(names);
	free(big);
	return rc;
}

Test(remote_write, label_caps)
{
	cr_assert_eq(decode_wide_series(ML_MAX_LABELS_PER_SERIES, 1), 0, "%s", err.msg);
	cr_assert_eq(batch.series[3].n_labels, ML_MAX_LABELS_PER_SERIES, "the cap itself is allowed");
	setup_again();
	cr_assert_eq(decode_wide_series(ML_MAX_LABELS_PER_SERIES + 1, 1), ML_EINVAL);
	char msg[128];
	snprintf(msg, sizeof(msg), "series 3: %u labels, more than the limit of %u",
		 ML_MAX_LABELS_PER_SERIES + 1, ML_MAX_LABELS_PER_SERIES);
	cr_assert_str_eq(err.msg, msg);
	setup_again();
	cr_assert_eq(decode_wide_series(3, ML_MAX_STRING_BYTES), 0, "%s", err.msg);
	setup_again();
	cr_assert_eq(decode_wide_series(3, ML_MAX_STRING_BYTES + 1), ML_EINVAL);
	snprintf(msg, sizeof(msg), "series 3: label \"l1\" is longer than %u bytes", ML_MAX_STRING_BYTES);
	cr_assert_str_eq(err.msg, msg);
}

/*
 * The wire format is read by hand: every prefix of a valid request (cut at
 * any byte) decodes or is refused as protobuf, never read past its end (ASan
 * build), and unknown fields and negative timestamps are handled as protobuf
 * defines them.
 */
Test(remote_write, truncated_bodies_and_unknown_fields)
{
	struct ts_builder b;
	builder_init(&b);
	const char *l1[] = {"__name__", "m", "job", "api"};
	const double v1[] = {1.5, -2};
	const int64_t t1[] = {-1000, 1700000000000};
	add_series(&b, l1, 2, v1, t1, 2);
	add_series(&b, l1, 2, v1, t1, 1);
	size_t n = prometheus__write_request__get_packed_size(&b.req);
	uint8_t *pb = malloc(n + 16);
	cr_assert_not_null(pb);
	prometheus__write_request__pack(&b.req, pb);
	int ok = 0, refused = 0;
	for (size_t cut = 0; cut < n; cut++) {
		uint8_t *part = malloc(cut ? cut : 1);
		memcpy(part, pb, cut);
		setup_again();
		int rc = ml_remote_write_decode_raw(part, cut, &batch, &stats, &err);
		free(part);
		cr_assert(rc == 0 || rc == ML_EINVAL, "cut at %zu: rc %d", cut, rc);
		if (rc == 0)
			ok++;
		else
			refused++;
	}
	cr_assert_gt(refused, 0);
	cr_assert_gt(ok, 0, "cuts at field boundaries are valid (shorter) requests");
	/* Unknown fields of every wire type before the series: skipped. */
	uint8_t extra[] = {0x78, 0x05,                         /* field 15 varint */
			   0x81, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, /* field 16 fixed64 */
			   0x8d, 0x01, 1, 2, 3, 4,             /* field 17 fixed32 */
			   0x92, 0x01, 0x02, 0xaa, 0xbb};      /* field 18 bytes */
	uint8_t *full = malloc(sizeof(extra) + n);
	memcpy(full, extra, sizeof(extra));
	memcpy(full + sizeof(extra), pb, n);
	setup_again();
	cr_assert_eq(ml_remote_write_decode_raw(full, sizeof(extra) + n, &batch, &stats, &err), 0, "%s",
		     err.msg);
	cr_assert_eq(batch.n, 2);
	cr_assert_eq(batch.series[0].samples[0].t_ms, -1000, "negative int64 timestamps");
	cr_assert_eq(batch.series[0].samples[0].v, 1.5);
	cr_assert_eq(batch.series[0].samples[1].t_ms, 1700000000000);
	cr_assert_eq(batch.series[0].samples[1].v, -2);
	/* A group wire type (3) is not protobuf that remote write sends: refused. */
	full[0] = 0x7b;
	setup_again();
	cr_assert_eq(ml_remote_write_decode_raw(full, sizeof(extra) + n, &batch, &stats, &err), ML_EINVAL);
	cr_assert_str_eq(err.msg, "protobuf: the body is not a valid prometheus.WriteRequest");
	free(full);
	free(pb);
}

Test(remote_write, corrupt_snappy_and_protobuf)
{
	const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	cr_assert_eq(ml_remote_write_decode(junk, sizeof(junk), 1 << 20, &batch, NULL, &err), ML_EINVAL);
	cr_assert_str_eq(err.msg, "snappy: corrupt input");
	/* Valid length header (5), truncated data. */
	const uint8_t trunc[] = {0x05, 0x10, 'a'};
	cr_assert_eq(ml_remote_write_decode(trunc, sizeof(trunc), 1 << 20, &batch, NULL, &err), ML_EINVAL);
	cr_assert_str_eq(err.msg, "snappy: corrupt input");
	/* Valid snappy, invalid protobuf (field 1 length-delimited, length past the end). */
	const char pb[] = {0x0a, 0x7f, 0x01};
	char comp[64];
	size_t cl = sizeof(comp);
	cr_assert_eq(snappy_compress(pb, sizeof(pb), comp, &cl), SNAPPY_OK);
	cr_assert_eq(ml_remote_write_decode((const uint8_t *)comp, cl, 1 << 20, &batch, NULL, &err),
		     ML_EINVAL);
	cr_assert_str_eq(err.msg, "protobuf: the body is not a valid prometheus.WriteRequest");
}

Test(remote_write, uncompressed_cap_checked_before_allocating)
{
	/* A header claiming 1 GiB (varint 0x80 0x80 0x80 0x80 0x04) and nothing else. */
	const uint8_t big[] = {0x80, 0x80, 0x80, 0x80, 0x04};
	cr_assert_eq(ml_remote_write_decode(big, sizeof(big), 1 << 20, &batch, NULL, &err), ML_ETOOBIG);
	cr_assert_str_eq(err.msg, "snappy: uncompressed length 1073741824 exceeds the limit of 1048576 bytes");
	cr_assert_lt(ml_arena_used(arena), 4096);
}

Test(remote_write, empty_body_is_an_empty_request)
{
	const uint8_t empty[] = {0x00};
	cr_assert_eq(ml_remote_write_decode(empty, 1, 1 << 20, &batch, &stats, &err), 0);
	cr_assert_eq(batch.n, 0);
}
