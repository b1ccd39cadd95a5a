/*
 * service_graph.c - counts service-graph edges into Tempo's four families
 * (see service_graph.h). Tempo's servicegraphs processor observes both
 * latency histograms for every completed edge, with 0 for a side it never
 * saw (an edge from "user" has no client span); meshlens does the same so
 * that _count of both histograms equals request_total, as in Tempo.
 */
#include "aggregate/service_graph.h"

#include "core/alloc.h"
#include "model/registry.h"

/* Tempo's default service-graph buckets: 0.1 s doubling, 8 buckets. */
static const double sg_buckets[] = {0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8};
static const char *const sg_labels[] = {"client", "server", "connection_type"};

struct ml_service_graph {
	struct ml_family *total;
	struct ml_family *failed;
	struct ml_family *server_seconds;
	struct ml_family *client_seconds;
};

struct ml_str ml_connection_type_name(enum ml_connection_type t)
{
	switch (t) {
	case ML_CONN_VIRTUAL_NODE:
		return ML_STR("virtual_node");
	case ML_CONN_DATABASE:
		return ML_STR("database");
	case ML_CONN_MESSAGING:
		return ML_STR("messaging_system");
	default:
		return ML_STR("");
	}
}

struct ml_service_graph *ml_service_graph_create(struct ml_registry *r, size_t max_series,
                                                 struct ml_err *err)
{
	struct ml_service_graph *g = ml_calloc(1, sizeof(*g));
	if (g == NULL) {
		ml_err_set(err, ML_ENOMEM, "service graph: out of memory");
		goto fail;
	}
	struct ml_family_desc d = {
	    .type = ML_METRIC_COUNTER,
	    .label_names = sg_labels,
	    .n_labels = 3,
	    .max_children = max_series,
	};
	d.name = "traces_service_graph_request_total";
	d.help = "Requests between two services (a client span paired with its server span).";
	if ((g->total = ml_registry_add(r, &d, err)) == NULL)
		goto fail;
	d.name = "traces_service_graph_request_failed_total";
	d.help = "Requests between two services where either span has status ERROR.";
	if ((g->failed = ml_registry_add(r, &d, err)) == NULL)
		goto fail;
	d.type = ML_METRIC_HISTOGRAM;
	d.buckets = sg_buckets;
	d.n_buckets = sizeof(sg_buckets) / sizeof(sg_buckets[0]);
	d.name = "traces_service_graph_request_server_seconds";
	d.help = "Duration of the server span of requests between two services, in seconds.";
	if ((g->server_seconds = ml_registry_add(r, &d, err)) == NULL)
		goto fail;
	d.name = "traces_service_graph_request_client_seconds";
	d.help = "Duration of the client span of requests between two services, in seconds.";
	if ((g->client_seconds = ml_registry_add(r, &d, err)) == NULL)
		goto fail;
	return g;
fail:
	ml_free(g);
	return NULL;
}

void ml_service_graph_destroy(struct ml_service_graph *g)
{
	ml_free(g);
}

size_t ml_service_graph_record(struct ml_service_graph *g, const struct ml_sg_edge *e)
{
	struct ml_str values[3] = {e->client, e->server, ml_connection_type_name(e->type)};
	size_t dropped = 0;
	struct ml_child *c = ml_family_child(g->total, values);
	if (c != NULL)
		ml_child_add(c, 1);
	else
		dropped++;
	if (e->failed) {
		c = ml_family_child(g->failed, values);
		if (c != NULL)
			ml_child_add(c, 1);
		else
			dropped++;
	}
	c = ml_family_child(g->server_seconds, values);
	if (c != NULL)
		ml_child_observe(c, e->server_seconds);
	else
		dropped++;
	c = ml_family_child(g->client_seconds, values);
	if (c != NULL)
		ml_child_observe(c, e->client_seconds);
	else
		dropped++;
	return dropped;
}
