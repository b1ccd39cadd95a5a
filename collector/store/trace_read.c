/*
 * trace_read.c - the read side of the trace store: one trace by id, search,
 * service / operation / remote-service names and dependency links. See
 * trace_store.h for the contracts and trace_store_internal.h for the layout.
 *
 * Every read looks at the in-memory head first (under its read lock) and
 * opens its LMDB snapshot afterwards. Compaction publishes a block before it
 * drops the same spans from the head, so this order can see a span twice
 * (deduplicated) but never miss one. Readers never wait for the writer.
 */
#include "store/trace_store.h"

#include "core/alloc.h"
#include "core/arena.h"
#include "core/buf.h"
#include "store/span_codec.h"
#include "store/trace_block.h"
#include "store/trace_store_internal.h"

#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#define DEFAULT_LIMIT 20

/* ---- helpers ---------------------------------------------------------- */

struct spanvec {
	struct ml_span *v;
	size_t n, cap;
};

static struct ml_span *spanvec_add(struct spanvec *sv)
{
	if (sv->n == sv->cap) {
		size_t nc = sv->cap ? sv->cap * 2 : 32;
		struct ml_span *nv = ml_realloc(sv->v, nc * sizeof(*nv));
		if (nv == NULL)
			return NULL;
		sv->v = nv;
		sv->cap = nc;
	}
	return &sv->v[sv->n++];
}

static int attrs_clone(struct ml_arena *a, struct ml_attrs *at)
{
	if (at->n == 0)
		return 0;
	struct ml_attr *items = ml_arena_alloc(a, at->n * sizeof(*items));
	if (items == NULL)
		return ML_ENOMEM;
	memcpy(items, at->items, at->n * sizeof(*items));
	at->items = items;
	return 0;
}

/*
 * Moves a span decoded into a scratch arena into `a`: its arrays are copied,
 * its strings (which point into the page buffer, already in `a`) are not.
 */
static int span_clone(struct ml_arena *a, struct ml_span *s)
{
	struct ml_resource *res = ml_arena_alloc(a, sizeof(*res));
	if (res == NULL)
		return ML_ENOMEM;
	*res = *s->resource;
	if (attrs_clone(a, &res->attrs) != 0 || attrs_clone(a, &s->attrs) != 0)
		return ML_ENOMEM;
	s->resource = res;
	if (s->n_events) {
		struct ml_event *ev = ml_arena_alloc(a, s->n_events * sizeof(*ev));
		if (ev == NULL)
			return ML_ENOMEM;
		memcpy(ev, s->events, s->n_events * sizeof(*ev));
		for (uint32_t i = 0; i < s->n_events; i++)
			if (attrs_clone(a, &ev[i].attrs) != 0)
				return ML_ENOMEM;
		s->events = ev;
	}
	if (s->n_links) {
		struct ml_link *l = ml_arena_alloc(a, s->n_links * sizeof(*l));
		if (l == NULL)
			return ML_ENOMEM;
		memcpy(l, s->links, s->n_links * sizeof(*l));
		for (uint32_t i = 0; i < s->n_links; i++)
			if (attrs_clone(a, &l[i].attrs) != 0)
				return ML_ENOMEM;
		s->links = l;
	}
	return 0;
}

static struct ml_str str_dup(struct ml_arena *a, struct ml_str s)
{
	struct ml_str out = {NULL, 0};
	char *p = ml_arena_strndup(a, s.p ? s.p : "", s.n);
	if (p != NULL) {
		out.p = p;
		out.n = s.n;
	}
	return out;
}

static int str_cmp(struct ml_str a, struct ml_str b)
{
	size_t n = a.n < b.n ? a.n : b.n;
	int c = n ? memcmp(a.p, b.p, n) : 0;
	if (c != 0)
		return c;
	return a.n < b.n ? -1 : a.n > b.n;
}

/* ---- get -------------------------------------------------------------- */

static int head_spans_of(struct ml_trace_store *ts, const uint8_t id[16], struct ml_arena *a,
			 struct spanvec *sv)
{
	int rc = 0;
	pthread_rwlock_rdlock(&ts->head.lock);
	for (const struct ml_head_span *h = ml_trace_head_find(&ts->head, id); h && rc == 0; h = h->next) {
		struct ml_span_dec d;
		struct ml_span *s = spanvec_add(sv);
		if (s == NULL) {
			rc = ML_ENOMEM;
			break;
		}
		ml_span_dec_init(&d, h->enc, h->enc_len, false, true);
		rc = ml_span_decode(&d, a, s);
		ml_span_dec_free(&d);
	}
	pthread_rwlock_unlock(&ts->head.lock);
	return rc;
}

/* Spans of trace id in page (block, page) appended to sv, living in a. */
static int page_spans_of(struct ml_trace_store *ts, MDB_txn *txn, uint32_t block, uint32_t page,
			 const uint8_t id[16], struct ml_arena *a, struct ml_arena *scratch,
			 struct spanvec *sv)
{
	uint8_t kb[8];
	ml_be32_put(kb, block);
	ml_be32_put(kb + 4, page);
	MDB_val k = {8, kb}, v;
	if (mdb_get(txn, ts->db_blocks, &k, &v) != 0)
		return 0; /* deleted by retention after the index was read */
	const uint8_t *raw;
	size_t raw_len;
	uint32_t ns;
	int rc = ml_block_page_open(v.mv_data, v.mv_size, a, &raw, &raw_len, &ns);
	if (rc != 0)
		return rc;
	struct ml_span_dec d;
	ml_span_dec_init(&d, raw, raw_len, true, false);
	d.str_arena = a; /* the spans kept must not point into scratch */
	for (uint32_t i = 0; i < ns; i++) {
		struct ml_span s;
		if ((rc = ml_span_decode(&d, scratch, &s)) != 0)
			break;
		int c = memcmp(s.trace_id, id, 16);
		if (c > 0)
			break; /* pages are sorted by trace id */
		if (c < 0)
			continue;
		struct ml_span *out = spanvec_add(sv);
		if (out == NULL || span_clone(a, &s) != 0) {
			rc = ML_ENOMEM;
			break;
		}
		*out = s;
	}
	ml_span_dec_free(&d);
	ml_arena_reset(scratch);
	return rc;
}

static int block_spans_of(struct ml_trace_store *ts, MDB_txn *txn, const uint8_t id[16],
			  struct ml_arena *a, struct ml_arena *scratch, struct spanvec *sv)
{
	MDB_cursor *cur = NULL;
	uint8_t kb[20];
	MDB_val k = {20, kb}, v;
	int rc = 0;
	memcpy(kb, id, 16);
	memset(kb + 16, 0, 4);
	if (mdb_cursor_open(txn, ts->db_index, &cur) != 0)
		return ML_EIO;
	for (int mrc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); mrc == 0 && rc == 0;
	     mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size != 20 || memcmp(k.mv_data, id, 16) != 0)
			break;
		uint32_t block = ml_be32_get((const uint8_t *)k.mv_data + 16), first, last;
		if (ml_block_index_decode(v.mv_data, v.mv_size, &first, &last) != 0) {
			rc = ML_ECORRUPT;
			break;
		}
		for (uint32_t p = first; p <= last && rc == 0; p++)
			rc = page_spans_of(ts, txn, block, p, id, a, scratch, sv);
	}
	mdb_cursor_close(cur);
	return rc;
}

static int span_time_order(const void *a, const void *b)
{
	const struct ml_span *x = a, *y = b;
	if (x->start_ns != y->start_ns)
		return x->start_ns < y->start_ns ? -1 : 1;
	int c = memcmp(x->span_id, y->span_id, 8);
	if (c == 0)
		c = (int)x->kind - (int)y->kind;
	return c;
}

int ml_trace_store_get(struct ml_trace_store *ts, const uint8_t trace_id[16], uint64_t start_ns,
		       uint64_t end_ns, struct ml_arena *arena, struct ml_trace *out)
{
	struct spanvec sv = {NULL, 0, 0};
	struct ml_arena *scratch = NULL;
	MDB_txn *txn = NULL;
	int rc;
	(void)start_ns;
	(void)end_ns;

	memset(out, 0, sizeof(*out));
	/* Head first, snapshot second: see the file comment. */
	if ((rc = head_spans_of(ts, trace_id, arena, &sv)) != 0)
		goto fail;
	scratch = ml_arena_create(0);
	if (scratch == NULL) {
		rc = ML_ENOMEM;
		goto fail;
	}
	if ((rc = ml_store_read_begin(ts->env, &txn)) != 0)
		goto fail;
	if ((rc = block_spans_of(ts, txn, trace_id, arena, scratch, &sv)) != 0)
		goto fail;
	if (sv.n == 0) {
		rc = ML_ENOTFOUND;
		goto fail;
	}
	qsort(sv.v, sv.n, sizeof(*sv.v), span_time_order);
	size_t w = 0;
	for (size_t i = 0; i < sv.n; i++)
		if (w == 0 || span_time_order(&sv.v[w - 1], &sv.v[i]) != 0)
			sv.v[w++] = sv.v[i];
	out->spans = ml_arena_alloc(arena, w * sizeof(*out->spans));
	if (out->spans == NULL) {
		rc = ML_ENOMEM;
		goto fail;
	}
	memcpy(out->spans, sv.v, w * sizeof(*out->spans));
	memcpy(out->trace_id, trace_id, 16);
	out->n = w;
fail:
	ml_store_read_end(txn);
	ml_arena_destroy(scratch);
	ml_free(sv.v);
	return rc;
}

/* ---- search ----------------------------------------------------------- */

struct cand {
	uint8_t id[16];
	uint64_t start; /* newest matching span */
};

struct candset {
	struct cand *v;
	size_t n, cap;
	size_t limit;
};

static int cand_add(struct candset *cs, const uint8_t id[16], uint64_t start)
{
	if (cs->n == cs->cap) {
		size_t nc = cs->cap ? cs->cap * 2 : 64;
		struct cand *nv = ml_realloc(cs->v, nc * sizeof(*nv));
		if (nv == NULL)
			return ML_ENOMEM;
		cs->v = nv;
		cs->cap = nc;
	}
	memcpy(cs->v[cs->n].id, id, 16);
	cs->v[cs->n++].start = start;
	return 0;
}

static int cand_by_id(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;
	int c = memcmp(x->id, y->id, 16);
	if (c == 0) /* newest first, so that dedup keeps it */
		c = x->start > y->start ? -1 : x->start < y->start;
	return c;
}

static int cand_by_start(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;
	if (x->start != y->start)
		return x->start > y->start ? -1 : 1;
	return memcmp(x->id, y->id, 16);
}

/* One entry per trace (its newest match), newest first, at most limit. */
static void cand_prune(struct candset *cs)
{
	if (cs->n == 0)
		return;
	qsort(cs->v, cs->n, sizeof(*cs->v), cand_by_id);
	size_t w = 1;
	for (size_t i = 1; i < cs->n; i++)
		if (memcmp(cs->v[w - 1].id, cs->v[i].id, 16) != 0)
			cs->v[w++] = cs->v[i];
	qsort(cs->v, w, sizeof(*cs->v), cand_by_start);
	cs->n = w < cs->limit ? w : cs->limit;
}

static bool match_summary(const struct ml_trace_query *q, struct ml_str svc, struct ml_str name,
			  uint8_t kind, uint64_t start, uint64_t dur)
{
	if (q->service.n && !ml_str_eq(q->service, svc))
		return false;
	if (q->operation.n && !ml_str_eq(q->operation, name))
		return false;
	if (q->kind && q->kind != kind)
		return false;
	if (q->min_duration_ns && dur < q->min_duration_ns)
		return false;
	if (q->max_duration_ns && dur > q->max_duration_ns)
		return false;
	if (start < q->start_ns || (q->end_ns && start > q->end_ns))
		return false;
	return true;
}

static const struct ml_attr *find_attr(const struct ml_attrs *a, struct ml_str key)
{
	for (uint32_t i = 0; i < a->n; i++)
		if (ml_str_eq(a->items[i].key, key))
			return &a->items[i];
	return NULL;
}

static bool match_tags(const struct ml_trace_query *q, const struct ml_span *s)
{
	for (size_t i = 0; i < q->n_tags; i++) {
		const struct ml_tag_filter *t = &q->tags[i];
		bool any_value = t->value.p == NULL && t->value.n == 0;
		if (ml_str_eq_cstr(t->key, "error") && s->status_code == ML_STATUS_ERROR &&
		    (any_value || ml_str_eq_cstr(t->value, "true")))
			continue;
		const struct ml_attr *a = find_attr(&s->attrs, t->key);
		if (a == NULL && s->resource != NULL)
			a = find_attr(&s->resource->attrs, t->key);
		if (a == NULL)
			return false;
		if (any_value)
			continue;
		char buf[96];
		if (!ml_str_eq(ml_attr_text(a, buf, sizeof(buf)), t->value))
			return false;
	}
	return true;
}

static int search_head(struct ml_trace_store *ts, const struct ml_trace_query *q,
		       struct ml_arena *scratch, struct candset *cs)
{
	int rc = 0;
	pthread_rwlock_rdlock(&ts->head.lock);
	for (size_t i = ts->head.n_spans; i-- > 0 && rc == 0;) {
		const struct ml_head_span *h = ml_trace_head_span(&ts->head, i);
		if (!match_summary(q, h->service, h->name, h->kind, h->start_ns, h->dur_ns))
			continue;
		if (q->n_tags) {
			struct ml_span_dec d;
			struct ml_span s;
			ml_span_dec_init(&d, h->enc, h->enc_len, false, false);
			rc = ml_span_decode(&d, scratch, &s);
			ml_span_dec_free(&d);
			ml_arena_reset(scratch);
			if (rc != 0 || !match_tags(q, &s))
				continue;
		}
		rc = cand_add(cs, h->trace_id, h->start_ns);
		if (rc == 0 && cs->n >= 4 * cs->limit + 1024)
			cand_prune(cs);
	}
	pthread_rwlock_unlock(&ts->head.lock);
	return rc;
}

static bool entry_matches(const struct ml_trace_query *q, const struct ml_block_entry *e)
{
	if (q->service.n && !ml_str_eq(q->service, e->service))
		return false;
	if (q->operation.n && !ml_str_eq(q->operation, e->operation))
		return false;
	if (q->kind && q->kind != e->kind)
		return false;
	if (q->min_duration_ns && e->max_dur < q->min_duration_ns)
		return false;
	if (q->max_duration_ns && e->min_dur > q->max_duration_ns)
		return false;
	if (e->max_start < q->start_ns || (q->end_ns && e->min_start > q->end_ns))
		return false;
	return true;
}

static int search_page(struct ml_trace_store *ts, MDB_txn *txn, const struct ml_trace_query *q,
		       uint32_t block, uint32_t page, struct ml_arena *scratch, struct candset *cs)
{
	uint8_t kb[8];
	ml_be32_put(kb, block);
	ml_be32_put(kb + 4, page);
	MDB_val k = {8, kb}, v;
	if (mdb_get(txn, ts->db_blocks, &k, &v) != 0)
		return 0;
	const uint8_t *raw;
	size_t raw_len;
	uint32_t ns;
	int rc = ml_block_page_open(v.mv_data, v.mv_size, scratch, &raw, &raw_len, &ns);
	if (rc != 0)
		return rc;
	struct ml_span_dec d;
	ml_span_dec_init(&d, raw, raw_len, true, false);
	for (uint32_t i = 0; i < ns && rc == 0; i++) {
		struct ml_span s;
		if ((rc = ml_span_decode(&d, scratch, &s)) != 0)
			break;
		if (match_summary(q, s.resource->service_name, s.name, s.kind, s.start_ns,
				  s.end_ns - s.start_ns) &&
		    match_tags(q, &s))
			rc = cand_add(cs, s.trace_id, s.start_ns);
	}
	ml_span_dec_free(&d);
	ml_arena_reset(scratch);
	return rc;
}

static int meta_by_newest(const void *a, const void *b)
{
	const struct ml_block_meta *x = a, *y = b;
	if (x->max_start != y->max_start)
		return x->max_start > y->max_start ? -1 : 1;
	return (x->id < y->id) - (x->id > y->id);
}

static int search_blocks(struct ml_trace_store *ts, MDB_txn *txn, const struct ml_trace_query *q,
			 struct ml_arena *scratch, struct candset *cs)
{
	struct ml_arena *ma = ml_arena_create(0);
	struct ml_block_meta *metas = NULL;
	uint8_t *want = NULL;
	size_t n = 0, cap = 0;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	int rc = 0;

	if (ma == NULL || mdb_cursor_open(txn, ts->db_meta, &cur) != 0) {
		rc = ma == NULL ? ML_ENOMEM : ML_EIO;
		goto fail;
	}
	for (int mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrc == 0;
	     mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		struct ml_block_meta m;
		if (k.mv_size != 4 ||
		    ml_block_meta_decode(v.mv_data, v.mv_size, ml_be32_get(k.mv_data), ma, &m) != 0)
			continue;
		if (m.max_start < q->start_ns || (q->end_ns && m.min_start > q->end_ns))
			continue;
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 64;
			struct ml_block_meta *nm = ml_realloc(metas, nc * sizeof(*nm));
			if (nm == NULL) {
				rc = ML_ENOMEM;
				goto fail;
			}
			metas = nm;
			cap = nc;
		}
		metas[n++] = m;
	}
	if (n)
		qsort(metas, n, sizeof(*metas), meta_by_newest);
	for (size_t b = 0; b < n && rc == 0; b++) {
		const struct ml_block_meta *m = &metas[b];
		cand_prune(cs);
		/* Every later block holds only older spans than the limit-th best. */
		if (cs->n >= cs->limit && m->max_start < cs->v[cs->n - 1].start)
			break;
		want = ml_calloc(m->n_pages ? m->n_pages : 1, 1);
		if (want == NULL) {
			rc = ML_ENOMEM;
			break;
		}
		for (uint32_t e = 0; e < m->n_entries; e++)
			if (entry_matches(q, &m->entries[e]))
				for (uint32_t p = 0; p < m->entries[e].n_pages; p++)
					want[m->entries[e].pages[p]] = 1;
		for (uint32_t p = m->n_pages; p-- > 0 && rc == 0;) {
			if (!want[p] || m->page_max[p] < q->start_ns ||
			    (q->end_ns && m->page_min[p] > q->end_ns))
				continue;
			rc = search_page(ts, txn, q, m->id, p, scratch, cs);
		}
		ml_free(want);
		want = NULL;
	}
fail:
	if (cur != NULL)
		mdb_cursor_close(cur);
	ml_free(metas);
	ml_free(want);
	ml_arena_destroy(ma);
	return rc;
}

int ml_trace_store_search(struct ml_trace_store *ts, const struct ml_trace_query *q,
			  struct ml_arena *arena, struct ml_trace **out, size_t *n_out)
{
	struct candset cs = {NULL, 0, 0, q->limit ? q->limit : DEFAULT_LIMIT};
	struct ml_arena *scratch = ml_arena_create(0);
	MDB_txn *txn = NULL;
	int rc = 0;

	*out = NULL;
	*n_out = 0;
	if (scratch == NULL) {
		rc = ML_ENOMEM;
		goto fail;
	}
	if ((rc = search_head(ts, q, scratch, &cs)) != 0)
		goto fail;
	if ((rc = ml_store_read_begin(ts->env, &txn)) != 0)
		goto fail;
	if ((rc = search_blocks(ts, txn, q, scratch, &cs)) != 0)
		goto fail;
	ml_store_read_end(txn);
	txn = NULL;
	cand_prune(&cs);
	if (cs.n == 0)
		goto fail;
	*out = ml_arena_calloc(arena, cs.n, sizeof(**out));
	if (*out == NULL) {
		rc = ML_ENOMEM;
		goto fail;
	}
	for (size_t i = 0; i < cs.n; i++) {
		rc = ml_trace_store_get(ts, cs.v[i].id, 0, 0, arena, &(*out)[*n_out]);
		if (rc == ML_ENOTFOUND) /* removed by retention meanwhile */
			continue;
		if (rc != 0)
			goto fail;
		(*n_out)++;
	}
	rc = 0;
fail:
	ml_store_read_end(txn);
	ml_arena_destroy(scratch);
	ml_free(cs.v);
	return rc;
}

/* ---- names ------------------------------------------------------------ */

/* A set of (string, small tag) pairs whose strings are copied into an arena. */
struct nameset {
	struct ml_arena *a;
	struct ml_str *s;
	uint8_t *tag;
	uint32_t *slots; /* index + 1, 0 = empty */
	size_t n, cap, n_slots;
};

static uint32_t *nameset_slot(struct nameset *ns, struct ml_str s, uint8_t tag)
{
	uint64_t h = XXH3_64bits(s.p ? s.p : "", s.n) ^ tag;
	for (size_t i = (size_t)h & (ns->n_slots - 1);; i = (i + 1) & (ns->n_slots - 1)) {
		uint32_t x = ns->slots[i];
		if (x == 0 || (ns->tag[x - 1] == tag && ml_str_eq(ns->s[x - 1], s)))
			return &ns->slots[i];
	}
}

static int nameset_add(struct nameset *ns, struct ml_str s, uint8_t tag)
{
	if (2 * (ns->n + 1) > ns->n_slots) {
		size_t nn = ns->n_slots ? ns->n_slots * 2 : 256;
		uint32_t *nsl = ml_calloc(nn, sizeof(*nsl));
		if (nsl == NULL)
			return ML_ENOMEM;
		ml_free(ns->slots);
		ns->slots = nsl;
		ns->n_slots = nn;
		for (size_t i = 0; i < ns->n; i++)
			*nameset_slot(ns, ns->s[i], ns->tag[i]) = (uint32_t)i + 1;
	}
	uint32_t *slot = nameset_slot(ns, s, tag);
	if (*slot != 0)
		return 0;
	if (ns->n == ns->cap) {
		size_t nc = ns->cap ? ns->cap * 2 : 64;
		struct ml_str *nstr = ml_realloc(ns->s, nc * sizeof(*nstr));
		if (nstr == NULL)
			return ML_ENOMEM;
		ns->s = nstr;
		uint8_t *ntag = ml_realloc(ns->tag, nc);
		if (ntag == NULL)
			return ML_ENOMEM;
		ns->tag = ntag;
		ns->cap = nc;
	}
	struct ml_str c = str_dup(ns->a, s);
	if (c.p == NULL)
		return ML_ENOMEM;
	ns->s[ns->n] = c;
	ns->tag[ns->n] = tag;
	*slot = (uint32_t)++ns->n;
	return 0;
}

static void nameset_free(struct nameset *ns)
{
	ml_free(ns->s);
	ml_free(ns->tag);
	ml_free(ns->slots);
}

static uint64_t retention_cutoff(const struct ml_trace_store *ts)
{
	uint64_t now = ml_trace_now_ns();
	return ts->opt.retention_ns && now > ts->opt.retention_ns ? now - ts->opt.retention_ns : 0;
}

/*
 * Adds names from a name index: keys that start with prefix (plen bytes),
 * whose value (be64 newest start) is not older than cutoff. The remainder of
 * each key after prefix is the name; with tagged, its first byte is the tag.
 */
static int scan_names(MDB_txn *txn, MDB_dbi dbi, const uint8_t *prefix, size_t plen, bool tagged,
		      uint64_t cutoff, struct nameset *ns)
{
	MDB_cursor *cur = NULL;
	MDB_val k = {plen, (void *)prefix}, v;
	int rc = 0;
	if (mdb_cursor_open(txn, dbi, &cur) != 0)
		return ML_EIO;
	int mrc = plen ? mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE) : mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	for (; mrc == 0 && rc == 0; mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size < plen + (tagged ? 1 : 0) || (plen && memcmp(k.mv_data, prefix, plen) != 0))
			break;
		if (v.mv_size == 8 && ml_be64_get(v.mv_data) < cutoff)
			continue;
		const char *p = (const char *)k.mv_data + plen;
		size_t n = k.mv_size - plen;
		uint8_t tag = 0;
		if (tagged) {
			tag = (uint8_t)*p++;
			n--;
		}
		rc = nameset_add(ns, ml_str_make(p, n), tag);
	}
	mdb_cursor_close(cur);
	return rc;
}

struct named {
	struct ml_str s;
	uint8_t tag;
};

static int named_order(const void *a, const void *b)
{
	const struct named *x = a, *y = b;
	int c = str_cmp(x->s, y->s);
	return c ? c : (int)x->tag - (int)y->tag;
}

/* Sorted (name, tag) pairs of the set, in arena. */
static struct named *nameset_sorted(struct nameset *ns)
{
	struct named *v = ml_arena_calloc(ns->a, ns->n ? ns->n : 1, sizeof(*v));
	if (v == NULL)
		return NULL;
	for (size_t i = 0; i < ns->n; i++) {
		v[i].s = ns->s[i];
		v[i].tag = ns->tag[i];
	}
	qsort(v, ns->n, sizeof(*v), named_order);
	return v;
}

enum name_kind { NAMES_SERVICES, NAMES_OPERATIONS, NAMES_REMOTES };

static int collect_names(struct ml_trace_store *ts, enum name_kind what, struct ml_str service,
			 uint8_t kind, struct nameset *ns)
{
	MDB_txn *txn = NULL;
	int rc = 0;
	uint64_t cutoff = retention_cutoff(ts);

	pthread_rwlock_rdlock(&ts->head.lock);
	for (size_t i = 0; i < ts->head.n_spans && rc == 0; i++) {
		const struct ml_head_span *h = ml_trace_head_span(&ts->head, i);
		if (what == NAMES_SERVICES) {
			rc = nameset_add(ns, h->service, 0);
			continue;
		}
		if (!ml_str_eq(h->service, service))
			continue;
		if (what == NAMES_OPERATIONS && (kind == 0 || h->kind == kind))
			rc = nameset_add(ns, h->name, h->kind);
		else if (what == NAMES_REMOTES && h->remote.n)
			rc = nameset_add(ns, h->remote, 0);
	}
	pthread_rwlock_unlock(&ts->head.lock);
	if (rc != 0 || (rc = ml_store_read_begin(ts->env, &txn)) != 0)
		goto fail;
	if (what == NAMES_SERVICES) {
		rc = scan_names(txn, ts->db_services, NULL, 0, false, cutoff, ns);
	} else {
		uint8_t prefix[512];
		uint8_t k = kind;
		size_t plen = ml_trace_name_key(prefix, sizeof(prefix), service, &k,
						what == NAMES_OPERATIONS && kind ? 1 : 0, ML_STR(""));
		if (plen == 0)
			goto fail;
		if (what == NAMES_OPERATIONS)
			rc = scan_names(txn, ts->db_ops, prefix, plen - (kind ? 1 : 0), true, cutoff, ns);
		else
			rc = scan_names(txn, ts->db_remote, prefix, plen, false, cutoff, ns);
	}
fail:
	ml_store_read_end(txn);
	return rc;
}

/*
 * Collects the names of one kind, sorted, and allocates an output array of
 * ns->n elements of elem bytes from the arena. On success *v holds the sorted
 * names and *out the (zeroed) array; the caller fills it and frees ns.
 */
static int sorted_names(struct ml_trace_store *ts, enum name_kind which, struct ml_str service,
			uint8_t kind, struct nameset *ns, struct named **v, void **out, size_t elem)
{
	int rc = collect_names(ts, which, service, kind, ns);
	*v = rc == 0 ? nameset_sorted(ns) : NULL;
	*out = NULL;
	if (rc == 0 && *v == NULL)
		rc = ML_ENOMEM;
	if (rc == 0 && (*out = ml_arena_calloc(ns->a, ns->n ? ns->n : 1, elem)) == NULL)
		rc = ML_ENOMEM;
	return rc;
}

static int name_list(struct ml_trace_store *ts, enum name_kind which, struct ml_str service,
		     struct ml_arena *arena, struct ml_str **out, size_t *n_out)
{
	struct nameset ns = {.a = arena};
	struct named *v;
	void *arr;
	int rc = sorted_names(ts, which, service, 0, &ns, &v, &arr, sizeof(**out));
	*out = arr;
	*n_out = 0;
	for (size_t i = 0; rc == 0 && i < ns.n; i++)
		(*out)[(*n_out)++] = v[i].s;
	nameset_free(&ns);
	return rc;
}

int ml_trace_store_services(struct ml_trace_store *ts, struct ml_arena *arena, struct ml_str **out,
			    size_t *n_out)
{
	return name_list(ts, NAMES_SERVICES, ML_STR(""), arena, out, n_out);
}

int ml_trace_store_operations(struct ml_trace_store *ts, struct ml_str service, uint8_t kind,
			      struct ml_arena *arena, struct ml_operation **out, size_t *n_out)
{
	struct nameset ns = {.a = arena};
	struct named *v;
	void *arr;
	int rc = sorted_names(ts, NAMES_OPERATIONS, service, kind, &ns, &v, &arr, sizeof(**out));
	*out = arr;
	*n_out = 0;
	for (size_t i = 0; rc == 0 && i < ns.n; i++) {
		if (kind && v[i].tag != kind)
			continue;
		(*out)[*n_out].name = v[i].s;
		(*out)[(*n_out)++].kind = v[i].tag;
	}
	nameset_free(&ns);
	return rc;
}

int ml_trace_store_remote_services(struct ml_trace_store *ts, struct ml_str service,
				   struct ml_arena *arena, struct ml_str **out, size_t *n_out)
{
	return name_list(ts, NAMES_REMOTES, service, arena, out, n_out);
}

/* ---- dependencies ----------------------------------------------------- */

static int dep_pair_order(const void *a, const void *b)
{
	const struct ml_dependency *x = a, *y = b;
	int c = str_cmp(x->parent, y->parent);
	return c ? c : str_cmp(x->child, y->child);
}

static int deps_push(struct ml_dependency **v, size_t *n, size_t *cap, struct ml_arena *a,
		     struct ml_str parent, struct ml_str child, uint64_t calls, uint64_t errors)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 64;
		struct ml_dependency *nv = ml_realloc(*v, nc * sizeof(*nv));
		if (nv == NULL)
			return ML_ENOMEM;
		*v = nv;
		*cap = nc;
	}
	struct ml_dependency *d = &(*v)[(*n)++];
	d->parent = str_dup(a, parent);
	d->child = str_dup(a, child);
	d->call_count = calls;
	d->error_count = errors;
	return d->parent.p && d->child.p ? 0 : ML_ENOMEM;
}

int ml_trace_store_dependencies(struct ml_trace_store *ts, uint64_t start_ns, uint64_t end_ns,
				struct ml_arena *arena, struct ml_dependency **out, size_t *n_out)
{
	struct ml_dependency *v = NULL;
	size_t n = 0, cap = 0;
	struct ml_block_dep_list dl;
	struct ml_head_span **group = NULL;
	size_t group_cap = 0;
	MDB_txn *txn = NULL;
	MDB_cursor *cur = NULL;
	int rc = 0;

	memset(&dl, 0, sizeof(dl));
	*out = NULL;
	*n_out = 0;
	if (end_ns == 0)
		end_ns = UINT64_MAX;
	pthread_rwlock_rdlock(&ts->head.lock);
	for (size_t b = 0; b < ts->head.n_buckets && rc == 0; b++) {
		for (struct ml_head_span *first = ts->head.buckets[b]; first && rc == 0; first = first->hnext) {
			size_t gn = 0;
			for (struct ml_head_span *s = first; s; s = s->next) {
				if (gn == group_cap) {
					size_t nc = group_cap ? group_cap * 2 : 64;
					void *ng = ml_realloc(group, nc * sizeof(*group));
					if (ng == NULL) {
						rc = ML_ENOMEM;
						break;
					}
					group = ng;
					group_cap = nc;
				}
				group[gn++] = s;
			}
			if (rc == 0 && gn > 1)
				rc = ml_block_trace_deps(group, gn, start_ns, end_ns, &dl);
		}
	}
	for (size_t i = 0; i < dl.n_deps && rc == 0; i++)
		rc = deps_push(&v, &n, &cap, arena, dl.deps[i].parent, dl.deps[i].child,
			       dl.deps[i].calls, dl.deps[i].errors);
	pthread_rwlock_unlock(&ts->head.lock);
	if (rc != 0 || (rc = ml_store_read_begin(ts->env, &txn)) != 0)
		goto fail;
	if (mdb_cursor_open(txn, ts->db_deps, &cur) != 0) {
		rc = ML_EIO;
		goto fail;
	}
	uint8_t kb[4];
	uint64_t h0 = start_ns / ML_BLOCK_DEP_BUCKET_NS, h1 = end_ns / ML_BLOCK_DEP_BUCKET_NS;
	ml_be32_put(kb, (uint32_t)(h0 > UINT32_MAX ? UINT32_MAX : h0));
	MDB_val k = {4, kb}, val;
	for (int mrc = mdb_cursor_get(cur, &k, &val, MDB_SET_RANGE); mrc == 0 && rc == 0;
	     mrc = mdb_cursor_get(cur, &k, &val, MDB_NEXT)) {
		const uint8_t *p = k.mv_data;
		if (k.mv_size < 6 || ml_be32_get(p) > h1)
			break;
		size_t pl = ((size_t)p[4] << 8) | p[5];
		if (6 + pl > k.mv_size)
			continue;
		struct ml_reader r = ml_reader_make(val.mv_data, val.mv_size);
		uint64_t calls = ml_read_uvarint(&r), errors = ml_read_uvarint(&r);
		if (r.bad)
			continue;
		rc = deps_push(&v, &n, &cap, arena, ml_str_make((const char *)p + 6, pl),
			       ml_str_make((const char *)p + 6 + pl, k.mv_size - 6 - pl), calls, errors);
	}
	if (rc != 0 || n == 0)
		goto fail;
	qsort(v, n, sizeof(*v), dep_pair_order);
	size_t w = 0;
	for (size_t i = 1; i < n; i++) {
		if (dep_pair_order(&v[w], &v[i]) == 0) {
			v[w].call_count += v[i].call_count;
			v[w].error_count += v[i].error_count;
		} else {
			v[++w] = v[i];
		}
	}
	*out = ml_arena_alloc(arena, (w + 1) * sizeof(**out));
	if (*out == NULL) {
		rc = ML_ENOMEM;
		goto fail;
	}
	memcpy(*out, v, (w + 1) * sizeof(**out));
	*n_out = w + 1;
fail:
	if (cur != NULL)
		mdb_cursor_close(cur);
	ml_store_read_end(txn);
	ml_block_dep_list_free(&dl);
	ml_free(group);
	ml_free(v);
	return rc;
}
