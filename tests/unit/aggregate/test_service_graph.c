/*
 * test_service_graph.c - collector/aggregate/service_graph.c: Tempo's four
 * families and labels, failures counted only for failed edges, both latency
 * histograms in Tempo's 0.1 s doubling buckets, connection type values, and
 * the series cap.
 */
#include <criterion/criterion.h>

#include "aggregate/service_graph.h"
#include "agg_fixtures.h"

static struct ml_registry *reg;
static struct ml_service_graph *g;

static void setup(void)
{
	reg = ml_registry_create();
	struct ml_err err;
	g = ml_service_graph_create(reg, 3, &err);
	cr_assert_not_null(g, "%s", err.msg);
}

static void teardown(void)
{
	ml_service_graph_destroy(g);
	ml_registry_destroy(reg);
}

TestSuite(service_graph, .init = setup, .fini = teardown);

Test(service_graph, counts_requests_failures_and_latencies)
{
	struct ml_sg_edge e = {.client = ML_STR("productpage"),
	                       .server = ML_STR("reviews"),
	                       .client_seconds = 0.15,
	                       .server_seconds = 0.09};
	cr_assert_eq(ml_service_graph_record(g, &e), 0);
	e.failed = true;
	e.client_seconds = 3.0;
	e.server_seconds = 13.0;
	cr_assert_eq(ml_service_graph_record(g, &e), 0);
	const char *v[] = {"productpage", "reviews", ""};
	cr_assert_eq(fx_value(reg, "traces_service_graph_request_total", v), 2);
	cr_assert_eq(fx_value(reg, "traces_service_graph_request_failed_total", v), 1);
	/* buckets 0.1 0.2 0.4 0.8 1.6 3.2 6.4 12.8 */
	cr_assert_eq(fx_hist(reg, "traces_service_graph_request_server_seconds", v, 0).bucket_value,
	             1);
	cr_assert_eq(fx_hist(reg, "traces_service_graph_request_server_seconds", v, 7).bucket_value,
	             1, "13 s is beyond le=12.8");
	cr_assert_eq(fx_hist(reg, "traces_service_graph_request_server_seconds", v, 8).bucket_value,
	             2);
	cr_assert_eq(fx_hist(reg, "traces_service_graph_request_client_seconds", v, 0).bucket_value,
	             0);
	cr_assert_eq(fx_hist(reg, "traces_service_graph_request_client_seconds", v, 1).bucket_value,
	             1);
	cr_assert_eq(fx_hist(reg, "traces_service_graph_request_client_seconds", v, 5).bucket_value,
	             2);
	cr_assert_float_eq(fx_hist(reg, "traces_service_graph_request_client_seconds", v, 0).sum,
	                   3.15, 1e-9);
}

Test(service_graph, no_failed_series_without_a_failure)
{
	struct ml_sg_edge e = {.client = ML_STR("a"), .server = ML_STR("b")};
	ml_service_graph_record(g, &e);
	cr_assert_eq(fx_children(reg, "traces_service_graph_request_failed_total"), 0);
}

Test(service_graph, connection_types)
{
	cr_assert(ml_str_eq_cstr(ml_connection_type_name(ML_CONN_DIRECT), ""));
	cr_assert(ml_str_eq_cstr(ml_connection_type_name(ML_CONN_VIRTUAL_NODE), "virtual_node"));
	cr_assert(ml_str_eq_cstr(ml_connection_type_name(ML_CONN_DATABASE), "database"));
	cr_assert(ml_str_eq_cstr(ml_connection_type_name(ML_CONN_MESSAGING), "messaging_system"));
	struct ml_sg_edge e = {
	    .client = ML_STR("api"), .server = ML_STR("postgresql"), .type = ML_CONN_DATABASE};
	ml_service_graph_record(g, &e);
	const char *v[] = {"api", "postgresql", "database"};
	cr_assert_eq(fx_value(reg, "traces_service_graph_request_total", v), 1);
}

Test(service_graph, series_cap)
{
	const char *names[] = {"a", "b", "c", "d"};
	size_t dropped = 0;
	for (int i = 0; i < 4; i++) {
		struct ml_sg_edge e = {.client = ML_STR("x"), .server = ml_str_make(names[i], 1)};
		dropped += ml_service_graph_record(g, &e);
	}
	cr_assert_eq(dropped, 3, "total, server and client histograms of the 4th edge");
	cr_assert_eq(fx_children(reg, "traces_service_graph_request_total"), 3);
}
