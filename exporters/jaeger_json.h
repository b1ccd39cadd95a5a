/*
 * jaeger_json.h - rendering traces in the JSON model of Jaeger's HTTP query
 * API (Jaeger's model/json: what the Jaeger UI and Grafana's Jaeger data
 * source read).
 *
 * A trace renders as
 *   {"traceID":..,"spans":[..],"processes":{"p1":{"serviceName":..,"tags":[..]}},"warnings":null}
 * with spans mapped from the span model the way Jaeger's OTLP translator
 * maps OTLP (kind, status, scope and trace state become tags, events become
 * logs, links become FOLLOWS_FROM references) and with Zipkin's shared
 * client/server span ids made unique the way Jaeger's query service does
 * (the server half gets a fresh id and becomes the child of the client half),
 * because the Jaeger UI needs every span id to be unique within a trace.
 */
#ifndef ML_EXPORTERS_JAEGER_JSON_H
#define ML_EXPORTERS_JAEGER_JSON_H

#include <stdint.h>

#include "core/buf.h"
#include "store/trace_store.h"

struct ml_arena;

/*
 * Appends a trace id as Jaeger writes it, quoted: 16 hex digits when its
 * high 8 bytes are zero (a 64-bit id), else 32.
 */
void ml_jaeger_trace_id_json(struct ml_buf *out, const uint8_t id[16]);

/*
 * Appends trace t (t->n >= 1) as one Jaeger trace object. Scratch memory
 * (span id maps, the process table) comes from arena and may be released
 * with it once this returns; nothing of t is modified. Returns 0, or
 * ML_ENOMEM when the arena is exhausted (out is then partly written and
 * must be discarded). A failed growth of out shows in ml_buf_ok(out).
 */
int ml_jaeger_trace_json(struct ml_buf *out, const struct ml_trace *t, struct ml_arena *arena);

#endif
