/*
 * istio.h - Istio's standard request metrics derived from spans.
 *
 * Envoy's stats filter reports every request twice: the client's sidecar
 * with reporter="source", the server's with reporter="destination", each
 * labelled with both workloads' identities (learnt through Istio's metadata
 * exchange). From spans, meshlens learns a span's own side from its tags and
 * resource (Envoy/Istio tags, OpenTelemetry semantic conventions) and the
 * peer's side from the span it pairs with in the same trace (the server span
 * whose parent is the client span, or which shares its id).
 *
 * A struct ml_mesh_side is what one span says about its side of a request:
 * the local workload's identity and the request's facts (protocol, codes,
 * flags, sizes, duration, destination service). It is a self-contained heap
 * object, so the aggregator can keep it while it waits for the peer span
 * after the request that carried the span has been answered.
 *
 * The label mapping is documented in docs/MESH_METRICS.md.
 */
#ifndef ML_AGGREGATE_ISTIO_H
#define ML_AGGREGATE_ISTIO_H

#include <stdbool.h>
#include <stddef.h>

#include "core/error.h"
#include "model/span.h"

struct ml_registry;
struct ml_mesh_side;
struct ml_istio;

/*
 * What span s says about its side of a request, or NULL when s is not one
 * side of a request (kind INTERNAL or UNSPECIFIED) or on ENOMEM (*nomem set
 * then). The result is owned by the caller (ml_mesh_side_free) and does not
 * point into s.
 */
struct ml_mesh_side *ml_mesh_side_from_span(const struct ml_span *s, int *nomem);
void ml_mesh_side_free(struct ml_mesh_side *m);

/* Bytes held by m (for the aggregator's memory bound). */
size_t ml_mesh_side_bytes(const struct ml_mesh_side *m);

/*
 * What a side knows, one string each (never empty except GRPC_STATUS for a
 * request that is not gRPC and ADDRESS / PEER_ADDRESS when not given).
 * The first eight are the local workload's identity, the rest the request's
 * facts as the local sidecar or SDK saw them.
 */
enum ml_mesh_field {
	ML_MESH_WORKLOAD = 0,       /* owning deployment/statefulset/... or "unknown" */
	ML_MESH_NAMESPACE,          /* workload namespace or "unknown" */
	ML_MESH_PRINCIPAL,          /* SPIFFE identity; spans do not carry it: "unknown" */
	ML_MESH_APP,                /* app label or "unknown" */
	ML_MESH_VERSION,            /* version label or "unknown" */
	ML_MESH_CANONICAL_SERVICE,  /* or "unknown" */
	ML_MESH_CANONICAL_REVISION, /* or "latest" */
	ML_MESH_CLUSTER,            /* Istio cluster id or "unknown" */
	ML_MESH_DEST_SERVICE,       /* destination service host (FQDN when known) or "unknown" */
	ML_MESH_DEST_SERVICE_NAME,
	ML_MESH_DEST_SERVICE_NAMESPACE,
	ML_MESH_PROTOCOL,           /* "http", "grpc" or "tcp" */
	ML_MESH_RESPONSE_CODE,      /* HTTP status, "0" when there was no response */
	ML_MESH_GRPC_STATUS,        /* gRPC status number, "" when not gRPC or unknown */
	ML_MESH_RESPONSE_FLAGS,     /* Envoy response flags, "-" when none */
	ML_MESH_SECURITY_POLICY,    /* "mutual_tls", "none" or "unknown" */
	ML_MESH_ADDRESS,            /* the local proxy's IP (node_id), "" if unknown */
	ML_MESH_PEER_ADDRESS,       /* peer.address as the span gives it, "" if absent */
	ML_MESH_FIELD_COUNT
};

/* Field f of m; points into m (valid until ml_mesh_side_free). */
struct ml_str ml_mesh_side_get(const struct ml_mesh_side *m, enum ml_mesh_field f);
/* All ML_MESH_FIELD_COUNT fields, indexed by enum ml_mesh_field; owned by m. */
const struct ml_str *ml_mesh_side_fields(const struct ml_mesh_side *m);
/* The kind of the span m was made from (SERVER, CLIENT, PRODUCER, CONSUMER). */
enum ml_span_kind ml_mesh_side_kind(const struct ml_mesh_side *m);
/* true for CLIENT and PRODUCER sides (reporter="source"). */
bool ml_mesh_side_is_client(const struct ml_mesh_side *m);
/*
 * true when the span came from an Istio gateway (node_id "router~..."):
 * a gateway's stats filter reports only as the source of the requests it
 * forwards, never as a destination.
 */
bool ml_mesh_side_is_gateway(const struct ml_mesh_side *m);
/* Request duration in milliseconds (span end - start). */
double ml_mesh_side_duration_ms(const struct ml_mesh_side *m);
/*
 * true when a SERVER side's destination service is only its canonical
 * service (the span named no host), so a paired client's is better.
 */
bool ml_mesh_side_dest_is_guess(const struct ml_mesh_side *m);
/* Request and response body sizes in bytes, 0 when the span does not say. */
double ml_mesh_side_request_bytes(const struct ml_mesh_side *m);
double ml_mesh_side_response_bytes(const struct ml_mesh_side *m);

/*
 * Registers istio_requests_total, istio_request_duration_milliseconds,
 * istio_request_bytes and istio_response_bytes (Envoy's default buckets,
 * Istio's label names in Istio's order) in registry r (not owned).
 * max_series caps each family's children (0 = unbounded).
 */
struct ml_istio *ml_istio_create(struct ml_registry *r, size_t max_series, struct ml_err *err);
void ml_istio_destroy(struct ml_istio *m);

/*
 * Records one request as the two sidecars of a hop would report it:
 * client (a CLIENT or PRODUCER side, may be NULL) reports reporter="source",
 * with server's identity as the destination when server is known;
 * server (a SERVER or CONSUMER side, may be NULL) reports
 * reporter="destination", with client's identity as the source when known,
 * unless it is a gateway's (see ml_mesh_side_is_gateway).
 * A missing peer's labels are "unknown", as in Istio. Returns how many
 * series updates were dropped because a family was at max_series.
 */
size_t ml_istio_record(struct ml_istio *m, const struct ml_mesh_side *client, const struct ml_mesh_side *server);

#endif
