/*
 * span.h - the one span model every trace format is normalised into.
 *
 * OTLP and Zipkin v2 spans both decode into struct ml_span; the store encodes
 * it, the query APIs (Jaeger, Zipkin) render it. Field meanings follow OTLP
 * (opentelemetry/proto/trace/v1/trace.proto); Zipkin specifics that have no
 * OTLP field (endpoints, the `shared` flag) are kept explicitly so that a
 * Zipkin span reads back as it was sent.
 *
 * Strings are (pointer, length) pairs, not NUL-terminated, and point into
 * memory owned by whoever built the span: a decoder's arena or the store's
 * decode arena. A span never owns memory.
 */
#ifndef ML_MODEL_SPAN_H
#define ML_MODEL_SPAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct ml_arena;

struct ml_str {
	const char *p;
	size_t n;
};

#define ML_STR(lit) ((struct ml_str){(lit), sizeof(lit) - 1})
static inline struct ml_str ml_str_make(const char *p, size_t n)
{
	struct ml_str s = {p, n};
	return s;
}
static inline bool ml_str_eq(struct ml_str a, struct ml_str b)
{
	return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0);
}
static inline bool ml_str_eq_cstr(struct ml_str a, const char *b)
{
	size_t n = strlen(b);
	return a.n == n && (n == 0 || memcmp(a.p, b, n) == 0);
}

/* OTLP SpanKind numbering. */
enum ml_span_kind {
	ML_SPAN_KIND_UNSPECIFIED = 0,
	ML_SPAN_KIND_INTERNAL = 1,
	ML_SPAN_KIND_SERVER = 2,
	ML_SPAN_KIND_CLIENT = 3,
	ML_SPAN_KIND_PRODUCER = 4,
	ML_SPAN_KIND_CONSUMER = 5,
};

/* OTLP Status.StatusCode numbering. */
enum ml_status_code {
	ML_STATUS_UNSET = 0,
	ML_STATUS_OK = 1,
	ML_STATUS_ERROR = 2,
};

/*
 * Attribute value types. Arrays and key-value lists (OTLP AnyValue
 * array_value/kvlist_value) are kept as their OTLP JSON text in `s` with
 * type ML_VAL_JSON: no query API has a richer type to show them as.
 */
enum ml_val_type {
	ML_VAL_STRING = 0,
	ML_VAL_BOOL = 1,
	ML_VAL_INT = 2,
	ML_VAL_DOUBLE = 3,
	ML_VAL_BYTES = 4,
	ML_VAL_JSON = 5,
};

struct ml_attr {
	struct ml_str key;
	uint8_t type;      /* enum ml_val_type */
	union {
		struct ml_str s; /* STRING, BYTES (raw bytes), JSON */
		int64_t i;       /* INT */
		double d;        /* DOUBLE */
		bool b;          /* BOOL */
	} v;
};

struct ml_attrs {
	struct ml_attr *items;
	uint32_t n;
};

struct ml_event {
	uint64_t time_ns;
	struct ml_str name;
	struct ml_attrs attrs;
};

struct ml_link {
	uint8_t trace_id[16];
	uint8_t span_id[8];
	struct ml_str trace_state;
	struct ml_attrs attrs;
};

/* A Zipkin endpoint; empty strings and port 0 mean "not given". */
struct ml_endpoint {
	struct ml_str service_name;
	struct ml_str ipv4;
	struct ml_str ipv6;
	uint16_t port;
};

/*
 * What a batch of spans shares: OTLP Resource + InstrumentationScope.
 * service_name is the resource's service.name (OTLP) or the local endpoint's
 * serviceName (Zipkin); "unknown_service" when absent, as OTLP specifies.
 */
struct ml_resource {
	struct ml_str service_name;
	struct ml_attrs attrs; /* all resource attributes, service.name included */
	struct ml_str scope_name;
	struct ml_str scope_version;
};

struct ml_span {
	uint8_t trace_id[16];   /* a 64-bit Zipkin id is left-padded with zeros */
	uint8_t span_id[8];
	uint8_t parent_id[8];   /* all zero: no parent (a root span) */
	struct ml_str name;
	uint8_t kind;           /* enum ml_span_kind */
	uint8_t status_code;    /* enum ml_status_code */
	bool shared;            /* Zipkin "shared": server half of a shared span id */
	uint32_t flags;         /* OTLP Span.flags */
	uint64_t start_ns;      /* unix nanoseconds */
	uint64_t end_ns;        /* >= start_ns */
	struct ml_str status_message;
	struct ml_str trace_state;
	const struct ml_resource *resource; /* never NULL; may be shared by many spans */
	struct ml_attrs attrs;
	struct ml_event *events;
	uint32_t n_events;
	struct ml_link *links;
	uint32_t n_links;
	struct ml_endpoint local;  /* Zipkin localEndpoint (service_name mirrors resource) */
	struct ml_endpoint remote; /* Zipkin remoteEndpoint */
	/* Counts OTLP reports as dropped; kept so that readers can show them. */
	uint32_t dropped_attrs, dropped_events, dropped_links;
};

static inline bool ml_span_has_parent(const struct ml_span *s)
{
	static const uint8_t zero[8];
	return memcmp(s->parent_id, zero, 8) != 0;
}

/*
 * A decoded request: spans plus the arena that owns everything they point at.
 * Built by the ingest decoders, consumed by the store.
 */
struct ml_span_batch {
	struct ml_arena *arena;
	struct ml_span *spans;
	size_t n;
	size_t cap;
};

/* Initialises an empty batch that allocates from arena (not owned). */
void ml_span_batch_init(struct ml_span_batch *b, struct ml_arena *arena);
/* Appends a zeroed span and returns it, or NULL on ENOMEM. */
struct ml_span *ml_span_batch_add(struct ml_span_batch *b);

/* Looks an attribute up by key; NULL if absent. */
const struct ml_attr *ml_attrs_find(const struct ml_attrs *a, const char *key);

/* Lowercase hex of n bytes into out (2n chars + NUL). */
void ml_hex_encode(char *out, const uint8_t *in, size_t n);
/*
 * Decodes hex text (either case) into out, right-aligned in outlen bytes and
 * left-padded with zeros when shorter (Zipkin 64-bit trace ids). Returns 0, or
 * ML_EINVAL when text has odd length, a non-hex digit, or more than 2*outlen digits.
 */
int ml_hex_decode(uint8_t *out, size_t outlen, const char *text, size_t n);

/* Stable names: "SPAN_KIND_SERVER", "server" (Jaeger), "SERVER" (Zipkin). */
const char *ml_span_kind_otlp_name(enum ml_span_kind k);
const char *ml_span_kind_lower(enum ml_span_kind k); /* "" for unspecified */
const char *ml_span_kind_zipkin(enum ml_span_kind k); /* NULL if Zipkin has none */

#endif
