/*
 * service_graph.h - Tempo-compatible service-graph metrics: one edge per
 * request from a client service to a server service.
 *
 * Families (Grafana's service-graph view and Kiali-like tools query these
 * names), labels client, server, connection_type:
 *   traces_service_graph_request_total          counter
 *   traces_service_graph_request_failed_total   counter (either side's status ERROR)
 *   traces_service_graph_request_server_seconds histogram of the server span's duration
 *   traces_service_graph_request_client_seconds histogram of the client span's duration
 * Buckets are Tempo's defaults: 0.1 s doubling 8 times (0.1 .. 12.8).
 * connection_type is "" for a direct call (the TSDB drops the empty label
 * as Prometheus does), "virtual_node", "database" or "messaging_system".
 *
 * Which spans make an edge (pairing, expiry, virtual nodes) is decided in
 * pairing.c and aggregator.c; this file only counts edges.
 */
#ifndef ML_AGGREGATE_SERVICE_GRAPH_H
#define ML_AGGREGATE_SERVICE_GRAPH_H

#include <stdbool.h>
#include <stddef.h>

#include "core/error.h"
#include "model/span.h"

struct ml_registry;
struct ml_service_graph;

/* Tempo's connection types. */
enum ml_connection_type {
	ML_CONN_DIRECT = 0,   /* "" */
	ML_CONN_VIRTUAL_NODE, /* "virtual_node" */
	ML_CONN_DATABASE,     /* "database" */
	ML_CONN_MESSAGING,    /* "messaging_system" */
};

/* The label value of a connection type. */
struct ml_str ml_connection_type_name(enum ml_connection_type t);

/* One request between two services. Strings are read during the call only. */
struct ml_sg_edge {
	struct ml_str client; /* client's service name, or "user" */
	struct ml_str server; /* server's service name, or the virtual node */
	enum ml_connection_type type;
	double client_seconds; /* duration of the client span (0 if none) */
	double server_seconds; /* duration of the server span (0 if none) */
	bool failed;
};

/*
 * Registers the four families in r (not owned; must outlive the result);
 * max_series caps each family's children (0 = unbounded). NULL with err set
 * on failure.
 */
struct ml_service_graph *ml_service_graph_create(struct ml_registry *r, size_t max_series,
                                                 struct ml_err *err);
/* Accepts NULL. */
void ml_service_graph_destroy(struct ml_service_graph *g);

/*
 * Counts one edge. Thread-safe. Returns how many series updates were dropped
 * because a family was at max_series (or on ENOMEM).
 */
size_t ml_service_graph_record(struct ml_service_graph *g, const struct ml_sg_edge *e);

#endif
