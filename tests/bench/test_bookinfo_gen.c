/*
 * test_bookinfo_gen.c - the benchmark's traffic is what it claims to be:
 * bodies that meshlens's OTLP and Zipkin decoders accept in full, one
 * sidecar per body, complete traces whose parent links resolve (CLIENT in
 * the caller, SERVER in the callee), Envoy's tags, a few percent errors,
 * the same bytes for the same seed, and epochs that replay the pool as new
 * traces with the same shape.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bookinfo_gen.h"
#include "core/arena.h"
#include "core/error.h"
#include "ingest/otlp_trace.h"
#include "ingest/zipkin.h"
#include "model/span.h"

struct flat {
	uint8_t trace[16], span[8], parent[8];
	uint8_t kind;
	bool error;
	uint64_t start, end;
	char service[48];
	uint32_t sidecar;
	uint32_t n_attrs;
};

static int cmp_flat(const void *a, const void *b)
{
	const struct flat *x = a, *y = b;
	int c = memcmp(x->trace, y->trace, 16);
	return c ? c : memcmp(x->span, y->span, 8);
}

/* Decodes every body of the pool (as rendered in `epoch`) into a flat, sorted span list. */
static struct flat *decode_all(const struct ml_bench_pool *p, uint64_t epoch, size_t *n_out)
{
	struct flat *all = calloc(p->n_spans, sizeof(*all));
	struct ml_arena *a = ml_arena_create(0);
	size_t n = 0;

	cr_assert_not_null(all);
	cr_assert_not_null(a);
	for (size_t i = 0; i < p->n; i++) {
		const struct ml_bench_payload *pl = &p->items[i];
		uint8_t *body = malloc(pl->len);
		struct ml_span_batch b;
		struct ml_ingest_report rep = {0};
		struct ml_err err = {{0}};
		int rc;

		cr_assert_not_null(body);
		ml_bench_pool_render(p, i, epoch, body);
		ml_arena_reset(a);
		ml_span_batch_init(&b, a);
		if (p->opt.format == ML_BENCH_OTLP_PROTO)
			rc = ml_otlp_trace_decode_proto(body, pl->len, &b, &rep, &err);
		else
			rc = ml_zipkin_decode_json(body, pl->len, &b, &rep, &err);
		cr_assert_eq(rc, 0, "body %zu: %s", i, err.msg);
		cr_assert_eq(rep.rejected, 0, "body %zu: %s", i, rep.first_reject);
		cr_assert_eq(b.n, pl->n_spans, "body %zu: %zu spans decoded, %u generated", i, b.n,
		             pl->n_spans);
		cr_assert_leq(pl->n_spans, p->opt.spans_per_request);
		const char *svc = ml_bench_sidecar_service(&p->opt, pl->sidecar);
		for (size_t k = 0; k < b.n; k++) {
			const struct ml_span *s = &b.spans[k];
			struct flat *f = &all[n++];
			cr_assert(ml_str_eq_cstr(s->resource->service_name, svc),
			          "body %zu mixes services: %.*s in a body of %s", i,
			          (int)s->resource->service_name.n, s->resource->service_name.p,
			          svc);
			memcpy(f->trace, s->trace_id, 16);
			memcpy(f->span, s->span_id, 8);
			memcpy(f->parent, s->parent_id, 8);
			f->kind = s->kind;
			f->error = s->status_code == ML_STATUS_ERROR;
			f->start = s->start_ns;
			f->end = s->end_ns;
			snprintf(f->service, sizeof(f->service), "%s", svc);
			f->sidecar = pl->sidecar;
			f->n_attrs = s->attrs.n;
			static const char *const envoy_tags[] = {"node_id",
			                                         "zone",
			                                         "component",
			                                         "guid:x-request-id",
			                                         "http.url",
			                                         "http.method",
			                                         "http.protocol",
			                                         "downstream_cluster",
			                                         "user_agent",
			                                         "peer.address",
			                                         "request_size",
			                                         "response_size",
			                                         "http.status_code",
			                                         "response_flags",
			                                         "upstream_cluster",
			                                         "istio.canonical_service",
			                                         "istio.canonical_revision",
			                                         "istio.mesh_id",
			                                         "istio.namespace",
			                                         "istio.cluster_id"};
			for (size_t t = 0; t < sizeof(envoy_tags) / sizeof(envoy_tags[0]); t++)
				cr_assert_not_null(ml_attrs_find(&s->attrs, envoy_tags[t]),
				                   "span lacks %s", envoy_tags[t]);
		}
		free(body);
	}
	ml_arena_destroy(a);
	cr_assert_eq(n, p->n_spans);
	qsort(all, n, sizeof(*all), cmp_flat);
	*n_out = n;
	return all;
}

static struct flat *find_span(struct flat *all, size_t n, const uint8_t *trace, const uint8_t *span)
{
	struct flat key;
	memcpy(key.trace, trace, 16);
	memcpy(key.span, span, 8);
	return bsearch(&key, all, n, sizeof(*all), cmp_flat);
}

static struct ml_bench_pool *build(enum ml_bench_format f, uint64_t seed, uint64_t min_spans)
{
	struct ml_bench_gen_options o;
	ml_bench_gen_defaults(&o);
	o.format = f;
	o.seed = seed;
	struct ml_bench_pool *p = ml_bench_pool_build(&o, min_spans);
	cr_assert_not_null(p);
	return p;
}

Test(bookinfo_gen, otlp_bodies_decode_into_complete_traces)
{
	struct ml_bench_pool *p = build(ML_BENCH_OTLP_PROTO, 7, 20000);
	size_t n, roots = 0, clients = 0, servers = 0, errors = 0;
	struct flat *all = decode_all(p, 0, &n);

	for (size_t i = 0; i < n; i++) {
		struct flat *s = &all[i];
		cr_assert(i == 0 || cmp_flat(&all[i - 1], s) != 0, "duplicate span id");
		cr_assert_geq(s->end, s->start);
		errors += s->error;
		if (s->kind == ML_SPAN_KIND_CLIENT)
			clients++;
		else
			servers++;
		static const uint8_t zero[8];
		if (memcmp(s->parent, zero, 8) == 0) {
			/* the root: the ingress gateway's SERVER span */
			cr_assert_eq(s->kind, ML_SPAN_KIND_SERVER);
			cr_assert_str_eq(s->service, "istio-ingressgateway.istio-system");
			roots++;
			continue;
		}
		struct flat *parent = find_span(all, n, s->trace, s->parent);
		cr_assert_not_null(parent, "span %zu: parent missing from the pool", i);
		cr_assert_leq(parent->start, s->start);
		cr_assert_geq(parent->end, s->end);
		if (s->kind == ML_SPAN_KIND_SERVER) {
			/* callee's inbound span under the caller's outbound span, from another
			 * sidecar */
			cr_assert_eq(parent->kind, ML_SPAN_KIND_CLIENT);
			cr_assert_neq(parent->sidecar, s->sidecar);
		} else {
			/* a sidecar's outbound call hangs under its own inbound span */
			cr_assert_eq(parent->kind, ML_SPAN_KIND_SERVER);
			cr_assert_eq(parent->sidecar, s->sidecar);
		}
	}
	cr_assert_eq(roots, p->n_traces);
	cr_assert_eq(errors, p->n_error_spans);
	/* Bookinfo: 7 spans per trace with reviews v1, 9 with v2/v3 (fewer when a call fails) */
	double per_trace = (double)n / (double)roots;
	cr_assert(per_trace > 7.5 && per_trace < 8.8, "%.2f spans per trace", per_trace);
	cr_assert(clients > n / 3 && servers > n / 3, "%zu client, %zu server spans", clients,
	          servers);
	/* 2 % of calls fail: each failure marks one or two spans */
	cr_assert(errors > n / 400 && errors < n / 40, "%zu error spans of %zu", errors, n);
	free(all);
	ml_bench_pool_destroy(p);
}

Test(bookinfo_gen, each_trace_arrives_in_pieces_from_several_sidecars)
{
	struct ml_bench_pool *p = build(ML_BENCH_OTLP_PROTO, 3, 5000);
	size_t n;
	struct flat *all = decode_all(p, 0, &n);
	size_t first = 0, multi = 0, traces = 0;

	for (size_t i = 1; i <= n; i++) {
		if (i < n && memcmp(all[i].trace, all[first].trace, 16) == 0)
			continue;
		uint32_t senders = 0, seen[64];
		for (size_t k = first; k < i; k++) {
			bool dup = false;
			for (uint32_t j = 0; j < senders; j++)
				dup |= seen[j] == all[k].sidecar;
			if (!dup && senders < 64)
				seen[senders++] = all[k].sidecar;
		}
		traces++;
		multi += senders >= 3;
		first = i;
	}
	cr_assert_eq(traces, p->n_traces);
	cr_assert_gt(multi, traces * 9 / 10, "%zu of %zu traces came from 3+ sidecars", multi,
	             traces);
	free(all);
	ml_bench_pool_destroy(p);
}

Test(bookinfo_gen, same_seed_same_bytes_other_seed_other_bytes)
{
	struct ml_bench_pool *a = build(ML_BENCH_OTLP_PROTO, 11, 3000);
	struct ml_bench_pool *b = build(ML_BENCH_OTLP_PROTO, 11, 3000);
	struct ml_bench_pool *c = build(ML_BENCH_OTLP_PROTO, 12, 3000);

	cr_assert_eq(a->n, b->n);
	for (size_t i = 0; i < a->n; i++) {
		cr_assert_eq(a->items[i].len, b->items[i].len);
		cr_assert(memcmp(a->items[i].body, b->items[i].body, a->items[i].len) == 0);
	}
	cr_assert(a->items[0].len != c->items[0].len ||
	          memcmp(a->items[0].body, c->items[0].body, a->items[0].len) != 0);
	ml_bench_pool_destroy(a);
	ml_bench_pool_destroy(b);
	ml_bench_pool_destroy(c);
}

Test(bookinfo_gen, zipkin_bodies_carry_the_same_spans_as_otlp)
{
	struct ml_bench_pool *po = build(ML_BENCH_OTLP_PROTO, 5, 3000);
	struct ml_bench_pool *pz = build(ML_BENCH_ZIPKIN_JSON, 5, 3000);
	size_t no, nz;
	struct flat *o = decode_all(po, 0, &no);
	struct flat *z = decode_all(pz, 0, &nz);

	cr_assert_eq(no, nz);
	for (size_t i = 0; i < no; i++) {
		cr_assert(cmp_flat(&o[i], &z[i]) == 0, "span %zu differs", i);
		cr_assert(memcmp(o[i].parent, z[i].parent, 8) == 0);
		cr_assert_eq(o[i].kind, z[i].kind);
		cr_assert_eq(o[i].start, z[i].start);
		cr_assert_eq(o[i].end, z[i].end);
		cr_assert_eq(o[i].error, z[i].error);
		cr_assert_eq(o[i].n_attrs, z[i].n_attrs);
		cr_assert_str_eq(o[i].service, z[i].service);
	}
	free(o);
	free(z);
	ml_bench_pool_destroy(po);
	ml_bench_pool_destroy(pz);
}

static void check_epoch(enum ml_bench_format f)
{
	struct ml_bench_pool *p = build(f, 9, 2000);
	size_t n0, n3;
	struct flat *e0 = decode_all(p, 0, &n0);
	struct flat *e3 = decode_all(p, 3, &n3);
	uint64_t min0 = UINT64_MAX, min3 = UINT64_MAX, max0 = 0;

	cr_assert_eq(n0, n3);
	for (size_t i = 0; i < n3; i++) {
		static const uint8_t zero[8];
		cr_assert_null(find_span(e0, n0, e3[i].trace, e3[i].span), "epoch 3 repeats an id");
		if (memcmp(e3[i].parent, zero, 8) != 0)
			cr_assert_not_null(find_span(e3, n3, e3[i].trace, e3[i].parent),
			                   "epoch 3 broke a parent link");
		if (e3[i].start < min3)
			min3 = e3[i].start;
		if (e0[i].start < min0)
			min0 = e0[i].start;
		if (e0[i].end > max0)
			max0 = e0[i].end;
	}
	cr_assert_eq(min3 - min0, 3 * p->span_ns);
	cr_assert_gt(min0 + p->span_ns, max0, "epochs overlap in time");
	free(e0);
	free(e3);
	ml_bench_pool_destroy(p);
}

Test(bookinfo_gen, otlp_epochs_are_new_traces_of_the_same_shape)
{
	check_epoch(ML_BENCH_OTLP_PROTO);
}

Test(bookinfo_gen, zipkin_epochs_are_new_traces_of_the_same_shape)
{
	check_epoch(ML_BENCH_ZIPKIN_JSON);
}

Test(bookinfo_gen, error_rate_zero_means_no_errors)
{
	struct ml_bench_gen_options o;
	ml_bench_gen_defaults(&o);
	o.error_rate = 0;
	struct ml_bench_pool *p = ml_bench_pool_build(&o, 5000);
	cr_assert_not_null(p);
	cr_assert_eq(p->n_error_spans, 0);
	cr_assert_geq(p->n_spans, 5000);
	ml_bench_pool_destroy(p);
}
