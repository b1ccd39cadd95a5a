/*
 * pairing.h - pairs the client and server spans of one request, as Grafana
 * Tempo's service-graph processor does, in bounded memory.
 *
 * A request between two instrumented services leaves two spans in one
 * trace: the caller's CLIENT (or PRODUCER) span and the callee's SERVER (or
 * CONSUMER) span. They meet under one key (trace id, span id):
 *   - a client half under (trace id, its own span id);
 *   - a server half under (trace id, its parent id), the client span being
 *     its parent (Istio's default, OpenTelemetry SDKs);
 *   - a server half of a Zipkin shared span (shared=true, Envoy's own
 *     default) under (trace id, its own span id), which it shares with the
 *     client.
 * The halves of one trace arrive in any order, from different senders,
 * seconds apart. When both are there the pair is handed to the callback at
 * once. A half alone waits wait_ms and is then handed alone (expired), so
 * that every request is counted once per reporter even when its peer never
 * comes. At most max_edges keys wait at a time: when the table is full the
 * oldest waiting key is handed out early and counted as dropped.
 *
 * Threads: every function may be called from any number of threads at once.
 * Keys are spread over shards by hash, each with its own mutex, so HTTP
 * threads do not serialize; the callback runs outside any lock, possibly on
 * several threads at once.
 */
#ifndef ML_AGGREGATE_PAIRING_H
#define ML_AGGREGATE_PAIRING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/span.h"

struct ml_mesh_side;
struct ml_pairing;

/*
 * What one span contributes to its pair. Given to ml_pairing_add with
 * strings pointing anywhere (they are copied); handed to the callback as
 * pairing's own copy, valid during the callback only.
 */
struct ml_pair_half {
	struct ml_str service; /* the span's service name */
	struct ml_str peer;    /* client: a virtual node named by its attributes, or "" */
	uint8_t peer_type;     /* client: enum ml_connection_type of that node */
	uint8_t kind;          /* enum ml_span_kind */
	bool failed;           /* status ERROR */
	bool root;             /* server: the span has no parent */
	double seconds;        /* the span's duration */
	struct ml_mesh_side
	    *mesh; /* Istio's view of the span, or NULL; ownership moves to
	              pairing with ml_pairing_add, which frees it after the callback */
};

enum ml_pair_outcome {
	ML_PAIR_COMPLETE = 0, /* both halves */
	ML_PAIR_EXPIRED,      /* one half, waited wait_ms (or replaced by a duplicate half) */
	ML_PAIR_DROPPED,      /* one half, pushed out early because max_edges keys were waiting */
};

/*
 * Called once per key leaving the table: client and server both set for a
 * complete pair, one of them NULL otherwise. Runs outside pairing's locks
 * and may be called from several threads at once; must not call back into
 * the same pairing.
 */
typedef void (*ml_pairing_fn)(void *ctx, const struct ml_pair_half *client,
                              const struct ml_pair_half *server, enum ml_pair_outcome how);

struct ml_pairing_options {
	int64_t wait_ms;  /* how long a lone half waits; 0 = 10 s */
	size_t max_edges; /* keys waiting at most; 0 = 10000 */
	ml_pairing_fn fn;
	void *ctx;
};

/* NULL on ENOMEM. All pending keys' memory is allocated up front (bounded). */
struct ml_pairing *ml_pairing_create(const struct ml_pairing_options *o);
/* Frees everything still waiting without calling the callback. Accepts NULL. */
void ml_pairing_destroy(struct ml_pairing *p);

/*
 * Adds one half under (trace_id, id) (see the file header for which id):
 * completes the key if the other half waits, else waits. A second half of
 * the same side under one key (a span sent twice) hands the first out as
 * expired. Also expires a few keys whose wait is over (now_ms is the
 * current unix time in ms). Returns 0 or ML_ENOMEM (nothing kept; h->mesh
 * is freed then too).
 */
int ml_pairing_add(struct ml_pairing *p, const uint8_t trace_id[16], const uint8_t id[8],
                   bool server, const struct ml_pair_half *h, int64_t now_ms);

/*
 * Hands out every key that has waited wait_ms at now_ms (INT64_MAX: every
 * waiting key, for shutdown). Returns how many.
 */
size_t ml_pairing_expire(struct ml_pairing *p, int64_t now_ms);

struct ml_pairing_stats {
	uint64_t pending; /* keys waiting now */
	uint64_t paired;  /* complete pairs so far */
	uint64_t expired; /* lone halves handed out after their wait */
	uint64_t dropped; /* lone halves pushed out early (table full) */
};
void ml_pairing_get_stats(struct ml_pairing *p, struct ml_pairing_stats *out);

#endif
