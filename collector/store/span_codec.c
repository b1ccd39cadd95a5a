/*
 * span_codec.c - binary span encoding; see span_codec.h and docs/STORAGE.md.
 *
 * One span is: a flags varint saying which optional parts follow, the ids,
 * the name, kind and status in one byte, start and duration as varints, then
 * the optional parts in a fixed order. Strings are written as a varint v: in
 * standalone mode v is the length and the bytes follow; in stream mode the
 * low bit says whether v >> 1 is a length (a literal, which then joins the
 * string table) or an index into the table of earlier literals.
 */
#include "store/span_codec.h"

#include "core/alloc.h"
#include "core/arena.h"
#include "core/error.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

enum {
	F_TRACE = 1 << 0,     /* trace id follows (else: the previous span's) */
	F_PARENT = 1 << 1,
	F_SHARED = 1 << 2,
	F_RES = 1 << 3,       /* resource follows (else: the previous span's) */
	F_EVENTS = 1 << 4,
	F_LINKS = 1 << 5,
	F_LOCAL = 1 << 6,
	F_REMOTE = 1 << 7,
	F_DROPPED = 1 << 8,
	F_STATUSMSG = 1 << 9,
	F_TSTATE = 1 << 10,
	F_FLAGS = 1 << 11,
	F_MICROS = 1 << 12,   /* start and duration are whole microseconds (Zipkin), stored / 1000 */
	F_PARENT_REF = 1 << 13, /* stream: the parent is the k-th previous span of this trace */
	F_ALL = (1 << 14) - 1,
};

/* Longest decimal string stored as a number: 18 digits always fit in 63 bits. */
#define NUM_MAX_DIGITS 18

struct strtab_slot {
	const char *p;
	uint32_t n;
	uint32_t idx;
	uint32_t gen; /* slot is live when gen == the encoder's generation */
};

#define STRTAB_SLOTS (2 * ML_SPAN_STRTAB_MAX) /* power of two, load <= 1/2 */

/* ---- encoder ---------------------------------------------------------- */

int ml_span_enc_init(struct ml_span_enc *e, struct ml_buf *out, bool stream)
{
	memset(e, 0, sizeof(*e));
	e->out = out;
	e->stream = stream;
	if (stream) {
		e->slots = ml_calloc(STRTAB_SLOTS, sizeof(*e->slots));
		if (e->slots == NULL)
			return ML_ENOMEM;
		e->n_slots = 1; /* generation; slots start at gen 0 = empty */
	}
	return 0;
}

void ml_span_enc_reset(struct ml_span_enc *e)
{
	e->have_prev = false;
	e->n_recent = 0;
	e->prev_res = NULL;
	e->n_strs = 0;
	if (e->slots != NULL) {
		e->n_slots++; /* n_slots doubles as the generation counter */
		if (e->n_slots == 0) {
			memset(e->slots, 0, STRTAB_SLOTS * sizeof(*e->slots));
			e->n_slots = 1;
		}
	}
}

void ml_span_enc_free(struct ml_span_enc *e)
{
	ml_free(e->slots);
	e->slots = NULL;
}

/* A canonical decimal (no sign, no leading zero) short enough for a varint. */
static bool is_number(struct ml_str s, uint64_t *v)
{
	if (s.n == 0 || s.n > NUM_MAX_DIGITS || (s.p[0] == '0' && s.n > 1))
		return false;
	uint64_t x = 0;
	for (size_t i = 0; i < s.n; i++) {
		if (s.p[i] < '0' || s.p[i] > '9')
			return false;
		x = x * 10 + (uint64_t)(s.p[i] - '0');
	}
	*v = x;
	return true;
}

static void put_str(struct ml_span_enc *e, struct ml_str s)
{
	uint64_t num;
	if (!e->stream) {
		ml_buf_put_uvarint(e->out, s.n);
		ml_buf_append(e->out, s.p, s.n);
		return;
	}
	if (s.n == 0) {
		ml_buf_put_uvarint(e->out, 0);
		return;
	}
	if (is_number(s, &num)) {
		/* Sizes, status codes, ports: random-ish digits that zstd
		 * cannot shrink much, but a varint can. */
		ml_buf_put_uvarint(e->out, (num << 2) | 2);
		return;
	}
	uint32_t gen = e->n_slots;
	bool tabled = s.n <= ML_SPAN_STRTAB_MAX_LEN;
	if (tabled) {
		uint64_t h = XXH3_64bits(s.p, s.n);
		uint32_t mask = STRTAB_SLOTS - 1;
		for (uint32_t i = (uint32_t)h & mask;; i = (i + 1) & mask) {
			struct strtab_slot *sl = &e->slots[i];
			if (sl->gen != gen) {
				if (e->n_strs >= ML_SPAN_STRTAB_MAX) {
					tabled = false;
					break;
				}
				sl->gen = gen;
				sl->p = s.p;
				sl->n = (uint32_t)s.n;
				sl->idx = e->n_strs++;
				break;
			}
			if (sl->n == s.n && memcmp(sl->p, s.p, s.n) == 0) {
				ml_buf_put_uvarint(e->out, ((uint64_t)sl->idx << 1) | 1);
				return;
			}
		}
	}
	(void)tabled;
	ml_buf_put_uvarint(e->out, (uint64_t)s.n << 2);
	ml_buf_append(e->out, s.p, s.n);
}

static void put_attrs(struct ml_span_enc *e, const struct ml_attrs *a)
{
	ml_buf_put_uvarint(e->out, a->n);
	for (uint32_t i = 0; i < a->n; i++) {
		const struct ml_attr *at = &a->items[i];
		put_str(e, at->key);
		uint8_t t = at->type;
		ml_buf_append(e->out, &t, 1);
		switch (at->type) {
		case ML_VAL_BOOL: {
			uint8_t b = at->v.b ? 1 : 0;
			ml_buf_append(e->out, &b, 1);
			break;
		}
		case ML_VAL_INT:
			ml_buf_put_svarint(e->out, at->v.i);
			break;
		case ML_VAL_DOUBLE: {
			uint64_t u;
			uint8_t le[8];
			memcpy(&u, &at->v.d, 8);
			for (int k = 0; k < 8; k++)
				le[k] = (uint8_t)(u >> (8 * k));
			ml_buf_append(e->out, le, 8);
			break;
		}
		default: /* STRING, BYTES, JSON */
			put_str(e, at->v.s);
			break;
		}
	}
}

static bool attrs_equal(const struct ml_attrs *a, const struct ml_attrs *b)
{
	if (a->n != b->n)
		return false;
	for (uint32_t i = 0; i < a->n; i++) {
		const struct ml_attr *x = &a->items[i], *y = &b->items[i];
		if (x->type != y->type || !ml_str_eq(x->key, y->key))
			return false;
		switch (x->type) {
		case ML_VAL_BOOL: if (x->v.b != y->v.b) return false; break;
		case ML_VAL_INT: if (x->v.i != y->v.i) return false; break;
		case ML_VAL_DOUBLE: if (memcmp(&x->v.d, &y->v.d, 8) != 0) return false; break;
		default: if (!ml_str_eq(x->v.s, y->v.s)) return false; break;
		}
	}
	return true;
}

static bool resource_equal(const struct ml_resource *a, const struct ml_resource *b)
{
	if (a == b)
		return true;
	return ml_str_eq(a->service_name, b->service_name) && ml_str_eq(a->scope_name, b->scope_name) &&
	       ml_str_eq(a->scope_version, b->scope_version) && attrs_equal(&a->attrs, &b->attrs);
}

static bool endpoint_given(const struct ml_endpoint *ep)
{
	return ep->service_name.n || ep->ipv4.n || ep->ipv6.n || ep->port;
}

static void put_endpoint(struct ml_span_enc *e, const struct ml_endpoint *ep)
{
	put_str(e, ep->service_name);
	put_str(e, ep->ipv4);
	put_str(e, ep->ipv6);
	ml_buf_put_uvarint(e->out, ep->port);
}

static const struct ml_resource empty_resource = {{"unknown_service", 15}, {NULL, 0}, {NULL, 0}, {NULL, 0}};

void ml_span_encode(struct ml_span_enc *e, const struct ml_span *s)
{
	const struct ml_resource *res = s->resource ? s->resource : &empty_resource;
	bool delta = e->stream && e->have_prev;
	uint64_t f = 0;

	if (!delta || memcmp(e->prev_trace, s->trace_id, 16) != 0)
		f |= F_TRACE;
	if (ml_span_has_parent(s))
		f |= F_PARENT;
	if (s->shared)
		f |= F_SHARED;
	if (!delta || !resource_equal(e->prev_res, res))
		f |= F_RES;
	if (s->n_events)
		f |= F_EVENTS;
	if (s->n_links)
		f |= F_LINKS;
	if (endpoint_given(&s->local))
		f |= F_LOCAL;
	if (endpoint_given(&s->remote))
		f |= F_REMOTE;
	if (s->dropped_attrs || s->dropped_events || s->dropped_links)
		f |= F_DROPPED;
	if (s->status_message.n)
		f |= F_STATUSMSG;
	if (s->trace_state.n)
		f |= F_TSTATE;
	if (s->flags)
		f |= F_FLAGS;
	uint64_t dur = s->end_ns >= s->start_ns ? s->end_ns - s->start_ns : 0;
	if (s->start_ns % 1000 == 0 && dur % 1000 == 0 && (!delta || e->prev_start % 1000 == 0))
		f |= F_MICROS;
	uint64_t pref = 0;
	if (e->stream && (f & F_PARENT) && !(f & F_TRACE)) {
		for (uint32_t k = 0; k < e->n_recent; k++) {
			if (memcmp(e->recent[(e->n_recent - 1 - k) % ML_SPAN_RECENT], s->parent_id, 8) == 0) {
				f |= F_PARENT_REF;
				pref = k;
				break;
			}
			if (k + 1 >= ML_SPAN_RECENT)
				break;
		}
	}

	ml_buf_put_uvarint(e->out, f);
	if (f & F_TRACE)
		ml_buf_append(e->out, s->trace_id, 16);
	ml_buf_append(e->out, s->span_id, 8);
	if (f & F_PARENT_REF)
		ml_buf_put_uvarint(e->out, pref);
	else if (f & F_PARENT)
		ml_buf_append(e->out, s->parent_id, 8);
	put_str(e, s->name);
	uint8_t ks = (uint8_t)((s->kind & 15) | (s->status_code << 4));
	ml_buf_append(e->out, &ks, 1);
	uint64_t unit = (f & F_MICROS) ? 1000 : 1;
	if (delta)
		ml_buf_put_svarint(e->out, (int64_t)(s->start_ns - e->prev_start) / (int64_t)unit);
	else
		ml_buf_put_uvarint(e->out, s->start_ns / unit);
	ml_buf_put_uvarint(e->out, dur / unit);
	if (f & F_FLAGS)
		ml_buf_put_uvarint(e->out, s->flags);
	if (f & F_STATUSMSG)
		put_str(e, s->status_message);
	if (f & F_TSTATE)
		put_str(e, s->trace_state);
	if (f & F_RES) {
		put_str(e, res->service_name);
		put_str(e, res->scope_name);
		put_str(e, res->scope_version);
		put_attrs(e, &res->attrs);
	}
	put_attrs(e, &s->attrs);
	if (f & F_EVENTS) {
		ml_buf_put_uvarint(e->out, s->n_events);
		for (uint32_t i = 0; i < s->n_events; i++) {
			const struct ml_event *ev = &s->events[i];
			ml_buf_put_svarint(e->out, (int64_t)(ev->time_ns - s->start_ns));
			put_str(e, ev->name);
			put_attrs(e, &ev->attrs);
		}
	}
	if (f & F_LINKS) {
		ml_buf_put_uvarint(e->out, s->n_links);
		for (uint32_t i = 0; i < s->n_links; i++) {
			const struct ml_link *l = &s->links[i];
			ml_buf_append(e->out, l->trace_id, 16);
			ml_buf_append(e->out, l->span_id, 8);
			put_str(e, l->trace_state);
			put_attrs(e, &l->attrs);
		}
	}
	if (f & F_LOCAL)
		put_endpoint(e, &s->local);
	if (f & F_REMOTE)
		put_endpoint(e, &s->remote);
	if (f & F_DROPPED) {
		ml_buf_put_uvarint(e->out, s->dropped_attrs);
		ml_buf_put_uvarint(e->out, s->dropped_events);
		ml_buf_put_uvarint(e->out, s->dropped_links);
	}
	if (e->stream) {
		if (f & F_TRACE)
			e->n_recent = 0;
		memcpy(e->recent[e->n_recent++ % ML_SPAN_RECENT], s->span_id, 8);
		e->have_prev = true;
		memcpy(e->prev_trace, s->trace_id, 16);
		e->prev_start = s->start_ns;
		e->prev_res = res;
	}
}

/* ---- decoder ---------------------------------------------------------- */

void ml_span_dec_init(struct ml_span_dec *d, const void *p, size_t n, bool stream, bool copy)
{
	memset(d, 0, sizeof(*d));
	d->r = ml_reader_make(p, n);
	d->stream = stream;
	d->copy = copy;
}

void ml_span_dec_free(struct ml_span_dec *d)
{
	ml_free(d->strs);
	d->strs = NULL;
	d->n_strs = d->cap_strs = 0;
}

static size_t left(const struct ml_span_dec *d)
{
	return (size_t)(d->r.end - d->r.p);
}

static int get_str(struct ml_span_dec *d, struct ml_arena *a, struct ml_str *out)
{
	uint64_t v = ml_read_uvarint(&d->r);
	if (d->r.bad)
		return ML_ECORRUPT;
	uint64_t len = v;
	if (d->stream) {
		if (v & 1) {
			uint64_t idx = v >> 1;
			if (idx >= d->n_strs)
				return ML_ECORRUPT;
			*out = d->strs[idx];
			return 0;
		}
		if (v & 2) {
			char num[24];
			int n = snprintf(num, sizeof(num), "%llu", (unsigned long long)(v >> 2));
			char *c = ml_arena_strndup(d->str_arena ? d->str_arena : a, num, (size_t)n);
			if (c == NULL)
				return ML_ENOMEM;
			out->p = c;
			out->n = (size_t)n;
			return 0;
		}
		len = v >> 2;
	}
	if (len > left(d))
		return ML_ECORRUPT;
	const char *p = (const char *)ml_read_bytes(&d->r, (size_t)len);
	if (p == NULL)
		return ML_ECORRUPT;
	if (len == 0) {
		out->p = NULL;
		out->n = 0;
		return 0;
	}
	if (d->copy) {
		char *c = ml_arena_strndup(a, p, (size_t)len);
		if (c == NULL)
			return ML_ENOMEM;
		p = c;
	}
	out->p = p;
	out->n = (size_t)len;
	if (d->stream && len <= ML_SPAN_STRTAB_MAX_LEN && d->n_strs < ML_SPAN_STRTAB_MAX) {
		if (d->n_strs == d->cap_strs) {
			uint32_t cap = d->cap_strs ? d->cap_strs * 2 : 256;
			struct ml_str *ns = ml_realloc(d->strs, cap * sizeof(*ns));
			if (ns == NULL)
				return ML_ENOMEM;
			d->strs = ns;
			d->cap_strs = cap;
		}
		d->strs[d->n_strs++] = *out;
	}
	return 0;
}

static int get_bytes(struct ml_span_dec *d, void *out, size_t n)
{
	const uint8_t *p = ml_read_bytes(&d->r, n);
	if (p == NULL)
		return ML_ECORRUPT;
	memcpy(out, p, n);
	return 0;
}

/* A count of items each taking at least `min` bytes: bounded by what is left. */
static int get_count(struct ml_span_dec *d, size_t min, uint32_t *out)
{
	uint64_t n = ml_read_uvarint(&d->r);
	if (d->r.bad || n > UINT32_MAX || n * min > left(d))
		return ML_ECORRUPT;
	*out = (uint32_t)n;
	return 0;
}

static int get_attrs(struct ml_span_dec *d, struct ml_arena *a, struct ml_attrs *out)
{
	int rc;
	uint32_t n;
	out->items = NULL;
	out->n = 0;
	if ((rc = get_count(d, 3, &n)) != 0)
		return rc;
	if (n == 0)
		return 0;
	struct ml_attr *items = ml_arena_calloc(a, n, sizeof(*items));
	if (items == NULL)
		return ML_ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		struct ml_attr *at = &items[i];
		uint8_t t;
		if ((rc = get_str(d, a, &at->key)) != 0 || (rc = get_bytes(d, &t, 1)) != 0)
			return rc;
		at->type = t;
		switch (t) {
		case ML_VAL_BOOL: {
			uint8_t b;
			if ((rc = get_bytes(d, &b, 1)) != 0)
				return rc;
			if (b > 1)
				return ML_ECORRUPT;
			at->v.b = b;
			break;
		}
		case ML_VAL_INT:
			at->v.i = ml_read_svarint(&d->r);
			if (d->r.bad)
				return ML_ECORRUPT;
			break;
		case ML_VAL_DOUBLE: {
			uint8_t le[8];
			uint64_t u = 0;
			if ((rc = get_bytes(d, le, 8)) != 0)
				return rc;
			for (int k = 7; k >= 0; k--)
				u = (u << 8) | le[k];
			memcpy(&at->v.d, &u, 8);
			break;
		}
		case ML_VAL_STRING:
		case ML_VAL_BYTES:
		case ML_VAL_JSON:
			if ((rc = get_str(d, a, &at->v.s)) != 0)
				return rc;
			break;
		default:
			return ML_ECORRUPT;
		}
	}
	out->items = items;
	out->n = n;
	return 0;
}

static int get_endpoint(struct ml_span_dec *d, struct ml_arena *a, struct ml_endpoint *ep)
{
	int rc;
	if ((rc = get_str(d, a, &ep->service_name)) != 0 || (rc = get_str(d, a, &ep->ipv4)) != 0 ||
	    (rc = get_str(d, a, &ep->ipv6)) != 0)
		return rc;
	uint64_t port = ml_read_uvarint(&d->r);
	if (d->r.bad || port > 65535)
		return ML_ECORRUPT;
	ep->port = (uint16_t)port;
	return 0;
}

static int get_u32(struct ml_span_dec *d, uint32_t *out)
{
	uint64_t v = ml_read_uvarint(&d->r);
	if (d->r.bad || v > UINT32_MAX)
		return ML_ECORRUPT;
	*out = (uint32_t)v;
	return 0;
}

int ml_span_decode(struct ml_span_dec *d, struct ml_arena *a, struct ml_span *s)
{
	int rc;
	memset(s, 0, sizeof(*s));
	bool delta = d->stream && d->have_prev;
	uint64_t f = ml_read_uvarint(&d->r);
	if (d->r.bad || (f & ~(uint64_t)F_ALL) != 0)
		return ML_ECORRUPT;
	if (!delta && (!(f & F_TRACE) || !(f & F_RES)))
		return ML_ECORRUPT;
	if (f & F_TRACE) {
		if ((rc = get_bytes(d, s->trace_id, 16)) != 0)
			return rc;
	} else {
		memcpy(s->trace_id, d->prev_trace, 16);
	}
	if ((rc = get_bytes(d, s->span_id, 8)) != 0)
		return rc;
	if (f & F_PARENT_REF) {
		uint64_t k = ml_read_uvarint(&d->r);
		if (d->r.bad || !delta || (f & F_TRACE) || !(f & F_PARENT) || k >= d->n_recent ||
		    k >= ML_SPAN_RECENT)
			return ML_ECORRUPT;
		memcpy(s->parent_id, d->recent[(d->n_recent - 1 - k) % ML_SPAN_RECENT], 8);
	} else if ((f & F_PARENT) && (rc = get_bytes(d, s->parent_id, 8)) != 0) {
		return rc;
	}
	if ((rc = get_str(d, a, &s->name)) != 0)
		return rc;
	uint8_t ks;
	if ((rc = get_bytes(d, &ks, 1)) != 0)
		return rc;
	s->kind = ks & 15;
	s->status_code = ks >> 4;
	if (s->kind > ML_SPAN_KIND_CONSUMER || s->status_code > ML_STATUS_ERROR)
		return ML_ECORRUPT;
	s->shared = (f & F_SHARED) != 0;
	uint64_t unit = (f & F_MICROS) ? 1000 : 1;
	if (delta)
		s->start_ns = d->prev_start + (uint64_t)ml_read_svarint(&d->r) * unit;
	else
		s->start_ns = ml_read_uvarint(&d->r) * unit;
	uint64_t dur = ml_read_uvarint(&d->r);
	if (d->r.bad || dur > (UINT64_MAX - s->start_ns) / unit)
		return ML_ECORRUPT;
	dur *= unit;
	s->end_ns = s->start_ns + dur;
	if ((f & F_FLAGS) && (rc = get_u32(d, &s->flags)) != 0)
		return rc;
	if ((f & F_STATUSMSG) && (rc = get_str(d, a, &s->status_message)) != 0)
		return rc;
	if ((f & F_TSTATE) && (rc = get_str(d, a, &s->trace_state)) != 0)
		return rc;
	if (f & F_RES) {
		struct ml_resource *res = ml_arena_calloc(a, 1, sizeof(*res));
		if (res == NULL)
			return ML_ENOMEM;
		if ((rc = get_str(d, a, &res->service_name)) != 0 ||
		    (rc = get_str(d, a, &res->scope_name)) != 0 ||
		    (rc = get_str(d, a, &res->scope_version)) != 0 ||
		    (rc = get_attrs(d, a, &res->attrs)) != 0)
			return rc;
		s->resource = res;
	} else {
		s->resource = d->prev_res;
	}
	if ((rc = get_attrs(d, a, &s->attrs)) != 0)
		return rc;
	if (f & F_EVENTS) {
		if ((rc = get_count(d, 3, &s->n_events)) != 0)
			return rc;
		s->events = ml_arena_calloc(a, s->n_events ? s->n_events : 1, sizeof(*s->events));
		if (s->events == NULL)
			return ML_ENOMEM;
		for (uint32_t i = 0; i < s->n_events; i++) {
			struct ml_event *ev = &s->events[i];
			ev->time_ns = s->start_ns + (uint64_t)ml_read_svarint(&d->r);
			if (d->r.bad)
				return ML_ECORRUPT;
			if ((rc = get_str(d, a, &ev->name)) != 0 || (rc = get_attrs(d, a, &ev->attrs)) != 0)
				return rc;
		}
	}
	if (f & F_LINKS) {
		if ((rc = get_count(d, 26, &s->n_links)) != 0)
			return rc;
		s->links = ml_arena_calloc(a, s->n_links ? s->n_links : 1, sizeof(*s->links));
		if (s->links == NULL)
			return ML_ENOMEM;
		for (uint32_t i = 0; i < s->n_links; i++) {
			struct ml_link *l = &s->links[i];
			if ((rc = get_bytes(d, l->trace_id, 16)) != 0 || (rc = get_bytes(d, l->span_id, 8)) != 0 ||
			    (rc = get_str(d, a, &l->trace_state)) != 0 || (rc = get_attrs(d, a, &l->attrs)) != 0)
				return rc;
		}
	}
	if ((f & F_LOCAL) && (rc = get_endpoint(d, a, &s->local)) != 0)
		return rc;
	if ((f & F_REMOTE) && (rc = get_endpoint(d, a, &s->remote)) != 0)
		return rc;
	if (f & F_DROPPED) {
		if ((rc = get_u32(d, &s->dropped_attrs)) != 0 || (rc = get_u32(d, &s->dropped_events)) != 0 ||
		    (rc = get_u32(d, &s->dropped_links)) != 0)
			return rc;
	}
	if (d->stream) {
		if (f & F_TRACE)
			d->n_recent = 0;
		memcpy(d->recent[d->n_recent++ % ML_SPAN_RECENT], s->span_id, 8);
		d->have_prev = true;
		memcpy(d->prev_trace, s->trace_id, 16);
		d->prev_start = s->start_ns;
		d->prev_res = s->resource;
	}
	return 0;
}

bool ml_span_is_error(const struct ml_span *s)
{
	if (s->status_code == ML_STATUS_ERROR)
		return true;
	const struct ml_attr *a = ml_attrs_find(&s->attrs, "error");
	if (a == NULL)
		return false;
	if (a->type == ML_VAL_BOOL)
		return a->v.b;
	if (a->type == ML_VAL_STRING)
		return ml_str_eq_cstr(a->v.s, "true");
	return false;
}

struct ml_str ml_attr_text(const struct ml_attr *a, char *buf, size_t buflen)
{
	struct ml_str out = {buf, 0};
	int n = 0;
	switch (a->type) {
	case ML_VAL_BOOL:
		n = snprintf(buf, buflen, "%s", a->v.b ? "true" : "false");
		break;
	case ML_VAL_INT:
		n = snprintf(buf, buflen, "%" PRId64, a->v.i);
		break;
	case ML_VAL_DOUBLE:
		n = snprintf(buf, buflen, "%.15g", a->v.d);
		if (n > 0 && (size_t)n < buflen && strtod(buf, NULL) != a->v.d)
			n = snprintf(buf, buflen, "%.17g", a->v.d);
		break;
	case ML_VAL_BYTES: {
		size_t k = a->v.s.n;
		if (buflen == 0)
			return out;
		if (2 * k + 1 > buflen)
			k = (buflen - 1) / 2;
		ml_hex_encode(buf, (const uint8_t *)a->v.s.p, k);
		out.n = 2 * k;
		return out;
	}
	default:
		return a->v.s;
	}
	if (n < 0)
		n = 0;
	if ((size_t)n >= buflen)
		n = buflen ? (int)buflen - 1 : 0;
	out.n = (size_t)n;
	return out;
}
