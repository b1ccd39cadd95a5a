/*
 * trace_block.c - building compacted trace blocks and parsing their pages,
 * index entries and summaries; see trace_block.h and docs/STORAGE.md.
 *
 * Building works from the head spans' summaries for everything that needs no
 * tags (sorting, the per-(service, operation, kind) summary, dependency links,
 * remote services), and decodes each span only to re-encode it into its page
 * stream. Sorting by trace id puts the spans of one trace (same trace id,
 * close start times, the same request id tag) next to each other, and
 * grouping by trace lets the dependency links be computed in the same pass.
 */
#include "store/trace_block.h"

#include "core/alloc.h"
#include "core/arena.h"
#include "core/buf.h"
#include "store/span_codec.h"
#include "store/trace_head.h"

#include <stdlib.h>
#include <string.h>

#include <xxhash.h>
#include <zstd.h>

#define PAGE_VERSION 1
#define META_VERSION 1
/* A single trace is split across pages only beyond this many bytes. */
#define TRACE_SPLIT_BYTES (4 * ML_BLOCK_PAGE_TARGET)

/* ---- small helpers ---------------------------------------------------- */

static int str_cmp(struct ml_str a, struct ml_str b)
{
	size_t n = a.n < b.n ? a.n : b.n;
	int c = n ? memcmp(a.p, b.p, n) : 0;
	if (c != 0)
		return c;
	return a.n < b.n ? -1 : a.n > b.n;
}

static int u64_cmp(uint64_t a, uint64_t b)
{
	return a < b ? -1 : a > b;
}

static int span_order(const void *a, const void *b)
{
	const struct ml_head_span *x = *(struct ml_head_span *const *)a;
	const struct ml_head_span *y = *(struct ml_head_span *const *)b;
	int c = memcmp(x->trace_id, y->trace_id, 16);
	if (c == 0)
		c = u64_cmp(x->start_ns, y->start_ns);
	if (c == 0)
		c = memcmp(x->span_id, y->span_id, 8);
	if (c == 0)
		c = (int)x->kind - (int)y->kind;
	return c;
}

static int span_id_order(const void *a, const void *b)
{
	const struct ml_head_span *x = *(struct ml_head_span *const *)a;
	const struct ml_head_span *y = *(struct ml_head_span *const *)b;
	int c = memcmp(x->span_id, y->span_id, 8);
	/* Among spans sharing an id (Zipkin shared spans) the server half
	 * comes first: it is the parent of what the callee does next. */
	if (c == 0)
		c = (x->kind == ML_SPAN_KIND_CLIENT) - (y->kind == ML_SPAN_KIND_CLIENT);
	return c;
}

/* ---- dependency links ------------------------------------------------- */

static int dep_order(const void *a, const void *b)
{
	const struct ml_block_dep *x = a, *y = b;
	int c = (int)(x->hour > y->hour) - (int)(x->hour < y->hour);
	if (c == 0)
		c = str_cmp(x->parent, y->parent);
	if (c == 0)
		c = str_cmp(x->child, y->child);
	return c;
}

/* First span with this id in a span-id-sorted group, or NULL. */
static struct ml_head_span *by_id(struct ml_head_span **v, size_t n, const uint8_t id[8])
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (memcmp(v[mid]->span_id, id, 8) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && memcmp(v[lo]->span_id, id, 8) == 0 ? v[lo] : NULL;
}

static struct ml_head_span *client_with_id(struct ml_head_span **v, size_t n, const uint8_t id[8])
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (memcmp(v[mid]->span_id, id, 8) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < n && memcmp(v[lo]->span_id, id, 8) == 0; lo++)
		if (v[lo]->kind == ML_SPAN_KIND_CLIENT)
			return v[lo];
	return NULL;
}

/*
 * Links of one trace (group, n spans): parent -> child for each span whose
 * parent span belongs to another service, and client -> server for each
 * shared span id (Zipkin: the server half reuses the client's id). A shared
 * server span counts once, through its client half.
 */
uint64_t ml_block_span_key(const uint8_t trace_id[16], const uint8_t span_id[8])
{
	uint8_t k[24];
	memcpy(k, trace_id, 16);
	memcpy(k + 16, span_id, 8);
	uint64_t h = XXH3_64bits(k, sizeof(k));
	return h ? h : 1; /* 0 means "none" */
}

/* Records c as an orphan of b (when b is given and c has a caller to look for). */
static int add_orphan(struct ml_block_build *b, size_t *cap, const struct ml_head_span *c)
{
	if (b == NULL || (c->kind != ML_SPAN_KIND_SERVER && !c->has_parent))
		return 0;
	int rc = ml_grow(&b->orphans, cap, b->n_orphans + 1, sizeof(*b->orphans));
	if (rc != 0)
		return rc;
	struct ml_block_orphan *o = &b->orphans[b->n_orphans++];
	o->client_key = c->kind == ML_SPAN_KIND_SERVER ? ml_block_span_key(c->trace_id, c->span_id) : 0;
	o->parent_key = c->has_parent ? ml_block_span_key(c->trace_id, c->parent_id) : 0;
	o->service = c->service;
	o->hour = (uint32_t)(c->start_ns / ML_BLOCK_DEP_BUCKET_NS);
	o->error = c->error;
	return 0;
}

static int trace_deps(struct ml_head_span *const *group, size_t n, uint64_t start_ns,
		      uint64_t end_ns, struct ml_head_span ***tmp, size_t *tmp_cap,
		      struct ml_block_dep **deps, size_t *n_deps, size_t *cap_deps,
		      struct ml_block_build *orphans_to, size_t *cap_orphans)
{
	int rc = ml_grow(tmp, tmp_cap, n, sizeof(**tmp));
	if (rc != 0)
		return rc;
	struct ml_head_span **v = *tmp;
	memcpy(v, group, n * sizeof(*v));
	qsort(v, n, sizeof(*v), span_id_order);
	for (size_t i = 0; i < n; i++) {
		const struct ml_head_span *c = v[i], *p = NULL;
		if (c->start_ns < start_ns || c->start_ns > end_ns)
			continue;
		if (c->kind == ML_SPAN_KIND_SERVER)
			p = client_with_id(v, n, c->span_id);
		if (p == NULL && c->has_parent)
			p = by_id(v, n, c->parent_id);
		if (p == NULL && (rc = add_orphan(orphans_to, cap_orphans, c)) != 0)
			return rc;
		if (p == NULL || p == c || ml_str_eq(p->service, c->service))
			continue;
		rc = ml_grow(deps, cap_deps, *n_deps + 1, sizeof(**deps));
		if (rc != 0)
			return rc;
		struct ml_block_dep *dp = &(*deps)[(*n_deps)++];
		dp->hour = (uint32_t)(c->start_ns / ML_BLOCK_DEP_BUCKET_NS);
		dp->parent = p->service;
		dp->child = c->service;
		dp->calls = 1;
		dp->errors = c->error ? 1 : 0;
	}
	return 0;
}

int ml_block_trace_deps(struct ml_head_span *const *group, size_t n, uint64_t start_ns,
			uint64_t end_ns, struct ml_block_dep_list *out)
{
	return trace_deps(group, n, start_ns, end_ns, &out->tmp, &out->tmp_cap, &out->deps,
			  &out->n_deps, &out->cap_deps, NULL, NULL);
}

void ml_block_dep_list_free(struct ml_block_dep_list *l)
{
	ml_free(l->tmp);
	ml_free(l->deps);
	memset(l, 0, sizeof(*l));
}

/* By key; of equal keys (a client and a server half sharing an id) the client first. */
static int caller_order(const void *a, const void *b)
{
	const struct ml_block_caller *x = a, *y = b;
	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return (int)y->client - (int)x->client;
}

size_t ml_block_merge_deps(struct ml_block_dep *d, size_t n)
{
	if (n == 0)
		return 0;
	qsort(d, n, sizeof(*d), dep_order);
	size_t w = 0;
	for (size_t i = 1; i < n; i++) {
		if (dep_order(&d[w], &d[i]) == 0) {
			d[w].calls += d[i].calls;
			d[w].errors += d[i].errors;
		} else {
			d[++w] = d[i];
		}
	}
	return w + 1;
}

/* ---- summary entries and remote services ------------------------------ */

struct entry_item {
	const struct ml_head_span *s;
	uint32_t page;
};

static int entry_item_order(const void *a, const void *b)
{
	const struct entry_item *x = a, *y = b;
	int c = str_cmp(x->s->service, y->s->service);
	if (c == 0)
		c = str_cmp(x->s->name, y->s->name);
	if (c == 0)
		c = (int)x->s->kind - (int)y->s->kind;
	if (c == 0)
		c = (int)(x->page > y->page) - (int)(x->page < y->page);
	return c;
}

static int remote_order(const void *a, const void *b)
{
	const struct ml_block_remote *x = a, *y = b;
	int c = str_cmp(x->service, y->service);
	return c ? c : str_cmp(x->remote, y->remote);
}

static int build_entries(struct ml_block_build *b, struct entry_item *items, size_t n)
{
	qsort(items, n, sizeof(*items), entry_item_order);
	size_t n_ent = 0;
	for (size_t i = 0; i < n; i++)
		if (i == 0 || !ml_str_eq(items[i - 1].s->service, items[i].s->service) ||
		    !ml_str_eq(items[i - 1].s->name, items[i].s->name) ||
		    items[i - 1].s->kind != items[i].s->kind)
			n_ent++;
	b->meta.entries = ml_arena_calloc(b->arena, n_ent ? n_ent : 1, sizeof(*b->meta.entries));
	if (b->meta.entries == NULL)
		return ML_ENOMEM;
	size_t i = 0;
	uint32_t e_no = 0;
	while (i < n) {
		size_t j = i;
		const struct ml_head_span *s0 = items[i].s;
		while (j < n && ml_str_eq(items[j].s->service, s0->service) &&
		       ml_str_eq(items[j].s->name, s0->name) && items[j].s->kind == s0->kind)
			j++;
		struct ml_block_entry *e = &b->meta.entries[e_no++];
		e->service = s0->service;
		e->operation = s0->name;
		e->kind = s0->kind;
		e->min_start = e->max_start = s0->start_ns;
		e->min_dur = e->max_dur = s0->dur_ns;
		uint32_t np = 0;
		for (size_t k = i; k < j; k++) {
			const struct ml_head_span *s = items[k].s;
			if (s->start_ns < e->min_start) e->min_start = s->start_ns;
			if (s->start_ns > e->max_start) e->max_start = s->start_ns;
			if (s->dur_ns < e->min_dur) e->min_dur = s->dur_ns;
			if (s->dur_ns > e->max_dur) e->max_dur = s->dur_ns;
			if (k == i || items[k].page != items[k - 1].page)
				np++;
		}
		e->n_spans = j - i;
		e->pages = ml_arena_calloc(b->arena, np, sizeof(*e->pages));
		if (e->pages == NULL)
			return ML_ENOMEM;
		for (size_t k = i; k < j; k++)
			if (k == i || items[k].page != items[k - 1].page)
				e->pages[e->n_pages++] = items[k].page;
		i = j;
	}
	b->meta.n_entries = e_no;
	return 0;
}

static void put_name(struct ml_buf *out, struct ml_str s)
{
	ml_buf_put_uvarint(out, s.n);
	ml_buf_append(out, s.p, s.n);
}

static int encode_meta(struct ml_block_build *b)
{
	struct ml_buf out = ML_BUF_INIT;
	const struct ml_block_meta *m = &b->meta;
	uint8_t v = META_VERSION;
	ml_buf_append(&out, &v, 1);
	ml_buf_put_uvarint(&out, m->min_start);
	ml_buf_put_uvarint(&out, m->max_start - m->min_start);
	ml_buf_put_uvarint(&out, m->n_spans);
	ml_buf_put_uvarint(&out, m->n_traces);
	ml_buf_put_uvarint(&out, m->n_pages);
	for (uint32_t p = 0; p < m->n_pages; p++) {
		ml_buf_put_uvarint(&out, m->page_min[p] - m->min_start);
		ml_buf_put_uvarint(&out, m->page_max[p] - m->page_min[p]);
	}
	ml_buf_put_uvarint(&out, m->n_entries);
	for (uint32_t i = 0; i < m->n_entries; i++) {
		const struct ml_block_entry *e = &m->entries[i];
		put_name(&out, e->service);
		put_name(&out, e->operation);
		ml_buf_append(&out, &e->kind, 1);
		ml_buf_put_uvarint(&out, e->min_start - m->min_start);
		ml_buf_put_uvarint(&out, e->max_start - e->min_start);
		ml_buf_put_uvarint(&out, e->min_dur);
		ml_buf_put_uvarint(&out, e->max_dur - e->min_dur);
		ml_buf_put_uvarint(&out, e->n_spans);
		ml_buf_put_uvarint(&out, e->n_pages);
		for (uint32_t k = 0; k < e->n_pages; k++)
			ml_buf_put_uvarint(&out, k ? e->pages[k] - e->pages[k - 1] : e->pages[0]);
	}
	if (!ml_buf_ok(&out)) {
		ml_buf_free(&out);
		return ML_ENOMEM;
	}
	b->meta_bytes = ml_buf_steal(&out, &b->meta_len);
	return 0;
}

/* ---- pages ------------------------------------------------------------ */

struct page_writer {
	struct ml_block_build *b;
	size_t cap_pages;
	struct ml_buf raw;
	struct ml_span_enc enc;
	struct ml_arena *scratch;
	ZSTD_CCtx *cctx;
	int level;
	uint32_t n_spans;
	uint64_t min_start, max_start;
	size_t cap_page_times;
};

static int page_flush(struct page_writer *w)
{
	struct ml_block_build *b = w->b;
	int rc;
	if (w->n_spans == 0)
		return 0;
	if (!ml_buf_ok(&w->raw))
		return ML_ENOMEM;
	rc = ml_grow(&b->pages, &w->cap_pages, b->n_pages + 1, sizeof(*b->pages));
	if (rc != 0)
		return rc;
	size_t times_cap = w->cap_page_times;
	rc = ml_grow(&b->meta.page_min, &times_cap, b->n_pages + 1, sizeof(uint64_t));
	if (rc != 0)
		return rc;
	times_cap = w->cap_page_times;
	rc = ml_grow(&b->meta.page_max, &times_cap, b->n_pages + 1, sizeof(uint64_t));
	if (rc != 0)
		return rc;
	w->cap_page_times = times_cap;

	size_t bound = ZSTD_compressBound(w->raw.len) + 24;
	uint8_t *val = ml_malloc(bound);
	if (val == NULL)
		return ML_ENOMEM;
	struct ml_buf hdr = {val, 0, bound, false};
	uint8_t v = PAGE_VERSION;
	ml_buf_append(&hdr, &v, 1);
	ml_buf_put_uvarint(&hdr, w->raw.len);
	ml_buf_put_uvarint(&hdr, w->n_spans);
	size_t z = ZSTD_compress2(w->cctx, val + hdr.len, bound - hdr.len, w->raw.data, w->raw.len);
	if (ZSTD_isError(z) || hdr.data != val) {
		ml_free(hdr.data != val ? hdr.data : val);
		return ML_ENOMEM;
	}
	struct ml_block_page *pg = &b->pages[b->n_pages];
	pg->data = val;
	pg->len = hdr.len + z;
	pg->n_spans = w->n_spans;
	b->meta.page_min[b->n_pages] = w->min_start;
	b->meta.page_max[b->n_pages] = w->max_start;
	b->n_pages++;
	b->raw_bytes += w->raw.len;
	ml_buf_clear(&w->raw);
	ml_span_enc_reset(&w->enc);
	ml_arena_reset(w->scratch);
	w->n_spans = 0;
	return 0;
}

static int page_add(struct page_writer *w, const struct ml_head_span *hs)
{
	struct ml_span_dec d;
	struct ml_span s;
	ml_span_dec_init(&d, hs->enc, hs->enc_len, false, false);
	int rc = ml_span_decode(&d, w->scratch, &s);
	ml_span_dec_free(&d);
	if (rc != 0)
		return rc;
	ml_span_encode(&w->enc, &s);
	if (w->n_spans == 0 || hs->start_ns < w->min_start)
		w->min_start = hs->start_ns;
	if (w->n_spans == 0 || hs->start_ns > w->max_start)
		w->max_start = hs->start_ns;
	w->n_spans++;
	return 0;
}

int ml_block_build(struct ml_head_span *const *spans, size_t n, uint32_t id, int zstd_level,
		   struct ml_block_build *b, struct ml_err *err)
{
	struct ml_head_span **v = NULL, **tmp = NULL;
	struct entry_item *items = NULL;
	size_t tmp_cap = 0, cap_traces = 0, cap_remotes = 0, cap_orphans = 0;
	struct page_writer w;
	int rc = 0;

	memset(b, 0, sizeof(*b));
	memset(&w, 0, sizeof(w));
	b->meta.id = id;
	b->arena = ml_arena_create(256 * 1024);
	w.scratch = ml_arena_create(0);
	w.cctx = ZSTD_createCCtx();
	v = ml_malloc((n ? n : 1) * sizeof(*v));
	items = ml_malloc((n ? n : 1) * sizeof(*items));
	if (b->arena == NULL || w.scratch == NULL || w.cctx == NULL || v == NULL || items == NULL ||
	    ml_span_enc_init(&w.enc, &w.raw, true) != 0) {
		rc = ML_ENOMEM;
		goto fail;
	}
	w.b = b;
	w.level = zstd_level;
	/* A checksum per page: disk damage must read as ML_ECORRUPT, not as
	 * other spans. */
	if (ZSTD_isError(ZSTD_CCtx_setParameter(w.cctx, ZSTD_c_compressionLevel, zstd_level)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(w.cctx, ZSTD_c_checksumFlag, 1))) {
		rc = ML_ENOMEM;
		goto fail;
	}
	memcpy(v, spans, n * sizeof(*v));
	qsort(v, n, sizeof(*v), span_order);

	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j < n && memcmp(v[j]->trace_id, v[i]->trace_id, 16) == 0)
			j++;
		rc = trace_deps(v + i, j - i, 0, UINT64_MAX, &tmp, &tmp_cap, &b->deps, &b->n_deps,
				&b->cap_deps, b, &cap_orphans);
		if (rc != 0)
			goto fail;
		rc = ml_grow(&b->traces, &cap_traces, b->n_traces + 1, sizeof(*b->traces));
		if (rc != 0)
			goto fail;
		struct ml_block_trace *t = &b->traces[b->n_traces++];
		memcpy(t->trace_id, v[i]->trace_id, 16);
		t->first_page = b->n_pages;
		for (size_t k = i; k < j; k++) {
			if (w.raw.len >= TRACE_SPLIT_BYTES && (rc = page_flush(&w)) != 0)
				goto fail;
			if ((rc = page_add(&w, v[k])) != 0) {
				ml_err_set(err, rc, "compaction: a head span does not decode");
				goto fail;
			}
			items[k].s = v[k];
			items[k].page = b->n_pages;
			if (v[k]->remote.n) {
				rc = ml_grow(&b->remotes, &cap_remotes, b->n_remotes + 1, sizeof(*b->remotes));
				if (rc != 0)
					goto fail;
				struct ml_block_remote *r = &b->remotes[b->n_remotes++];
				r->service = v[k]->service;
				r->remote = v[k]->remote;
				r->last_ns = v[k]->start_ns;
			}
		}
		t->last_page = b->n_pages;
		if (w.raw.len >= ML_BLOCK_PAGE_TARGET && (rc = page_flush(&w)) != 0)
			goto fail;
		i = j;
	}
	if ((rc = page_flush(&w)) != 0)
		goto fail;

	b->n_deps = ml_block_merge_deps(b->deps, b->n_deps);
	b->callers = ml_malloc((n ? n : 1) * sizeof(*b->callers));
	if (b->callers == NULL) {
		rc = ML_ENOMEM;
		goto fail;
	}
	for (size_t k = 0; k < n; k++) {
		struct ml_block_caller *c = &b->callers[k];
		c->key = ml_block_span_key(v[k]->trace_id, v[k]->span_id);
		c->service = v[k]->service;
		c->client = v[k]->kind == ML_SPAN_KIND_CLIENT;
	}
	b->n_callers = n;
	qsort(b->callers, n, sizeof(*b->callers), caller_order);
	if (b->n_remotes) {
		qsort(b->remotes, b->n_remotes, sizeof(*b->remotes), remote_order);
		size_t o = 0;
		for (size_t k = 1; k < b->n_remotes; k++) {
			if (remote_order(&b->remotes[o], &b->remotes[k]) == 0) {
				if (b->remotes[k].last_ns > b->remotes[o].last_ns)
					b->remotes[o].last_ns = b->remotes[k].last_ns;
			} else {
				b->remotes[++o] = b->remotes[k];
			}
		}
		b->n_remotes = o + 1;
	}
	b->meta.n_spans = n;
	b->meta.n_traces = b->n_traces;
	b->meta.n_pages = b->n_pages;
	for (size_t k = 0; k < n; k++) {
		if (k == 0 || v[k]->start_ns < b->meta.min_start)
			b->meta.min_start = v[k]->start_ns;
		if (k == 0 || v[k]->start_ns > b->meta.max_start)
			b->meta.max_start = v[k]->start_ns;
	}
	if ((rc = build_entries(b, items, n)) != 0 || (rc = encode_meta(b)) != 0)
		goto fail;

fail:
	if (rc != 0) {
		if (rc == ML_ENOMEM)
			ml_err_set(err, rc, "compaction: out of memory");
		ml_block_build_free(b);
	}
	ml_span_enc_free(&w.enc);
	ml_buf_free(&w.raw);
	ml_arena_destroy(w.scratch);
	ZSTD_freeCCtx(w.cctx);
	ml_free(v);
	ml_free(tmp);
	ml_free(items);
	return rc;
}

void ml_block_build_free(struct ml_block_build *b)
{
	for (uint32_t i = 0; i < b->n_pages; i++)
		ml_free(b->pages[i].data);
	ml_free(b->pages);
	ml_free(b->traces);
	ml_free(b->meta.page_min);
	ml_free(b->meta.page_max);
	ml_free(b->meta_bytes);
	ml_free(b->remotes);
	ml_free(b->deps);
	ml_free(b->orphans);
	ml_free(b->callers);
	ml_arena_destroy(b->arena);
	memset(b, 0, sizeof(*b));
}

/* ---- reading ---------------------------------------------------------- */

int ml_block_page_open(const void *val, size_t len, struct ml_arena *arena, const uint8_t **raw,
		       size_t *raw_len, uint32_t *n_spans)
{
	struct ml_reader r = ml_reader_make(val, len);
	const uint8_t *ver = ml_read_bytes(&r, 1);
	uint64_t rl = ml_read_uvarint(&r);
	uint64_t ns = ml_read_uvarint(&r);
	if (r.bad || *ver != PAGE_VERSION || rl > ML_BLOCK_PAGE_MAX || ns > rl)
		return ML_ECORRUPT;
	uint8_t *out = ml_arena_alloc(arena, rl ? rl : 1);
	if (out == NULL)
		return ML_ENOMEM;
	size_t got = ZSTD_decompress(out, rl, r.p, (size_t)(r.end - r.p));
	if (ZSTD_isError(got) || got != rl)
		return ML_ECORRUPT;
	*raw = out;
	*raw_len = rl;
	*n_spans = (uint32_t)ns;
	return 0;
}

int ml_block_index_decode(const void *val, size_t len, uint32_t *first, uint32_t *last)
{
	struct ml_reader r = ml_reader_make(val, len);
	uint64_t f = ml_read_uvarint(&r);
	uint64_t d = ml_read_uvarint(&r);
	if (r.bad || f > UINT32_MAX || d > UINT32_MAX - f)
		return ML_ECORRUPT;
	*first = (uint32_t)f;
	*last = (uint32_t)(f + d);
	return 0;
}

static int get_name(struct ml_reader *r, struct ml_str *out)
{
	uint64_t n = ml_read_uvarint(r);
	if (r->bad || n > (size_t)(r->end - r->p))
		return ML_ECORRUPT;
	out->p = (const char *)ml_read_bytes(r, (size_t)n);
	out->n = (size_t)n;
	return r->bad ? ML_ECORRUPT : 0;
}

int ml_block_meta_decode(const void *val, size_t len, uint32_t id, struct ml_arena *a,
			 struct ml_block_meta *m)
{
	struct ml_reader r = ml_reader_make(val, len);
	memset(m, 0, sizeof(*m));
	m->id = id;
	const uint8_t *ver = ml_read_bytes(&r, 1);
	if (ver == NULL || *ver != META_VERSION)
		return ML_ECORRUPT;
	m->min_start = ml_read_uvarint(&r);
	m->max_start = m->min_start + ml_read_uvarint(&r);
	m->n_spans = ml_read_uvarint(&r);
	m->n_traces = ml_read_uvarint(&r);
	uint64_t np = ml_read_uvarint(&r);
	if (r.bad || np > (size_t)(r.end - r.p) / 2 || m->max_start < m->min_start)
		return ML_ECORRUPT;
	m->n_pages = (uint32_t)np;
	m->page_min = ml_arena_calloc(a, np + 1, sizeof(uint64_t));
	m->page_max = ml_arena_calloc(a, np + 1, sizeof(uint64_t));
	if (m->page_min == NULL || m->page_max == NULL)
		return ML_ENOMEM;
	for (uint32_t p = 0; p < np; p++) {
		m->page_min[p] = m->min_start + ml_read_uvarint(&r);
		m->page_max[p] = m->page_min[p] + ml_read_uvarint(&r);
	}
	uint64_t ne = ml_read_uvarint(&r);
	if (r.bad || ne > (size_t)(r.end - r.p) / 9)
		return ML_ECORRUPT;
	m->entries = ml_arena_calloc(a, ne + 1, sizeof(*m->entries));
	if (m->entries == NULL)
		return ML_ENOMEM;
	m->n_entries = (uint32_t)ne;
	for (uint32_t i = 0; i < ne; i++) {
		struct ml_block_entry *e = &m->entries[i];
		const uint8_t *kind;
		if (get_name(&r, &e->service) != 0 || get_name(&r, &e->operation) != 0 ||
		    (kind = ml_read_bytes(&r, 1)) == NULL)
			return ML_ECORRUPT;
		e->kind = *kind;
		e->min_start = m->min_start + ml_read_uvarint(&r);
		e->max_start = e->min_start + ml_read_uvarint(&r);
		e->min_dur = ml_read_uvarint(&r);
		e->max_dur = e->min_dur + ml_read_uvarint(&r);
		e->n_spans = ml_read_uvarint(&r);
		uint64_t n = ml_read_uvarint(&r);
		if (r.bad || n > (size_t)(r.end - r.p) || n > np)
			return ML_ECORRUPT;
		e->n_pages = (uint32_t)n;
		e->pages = ml_arena_calloc(a, n + 1, sizeof(*e->pages));
		if (e->pages == NULL)
			return ML_ENOMEM;
		uint64_t pg = 0;
		for (uint32_t k = 0; k < n; k++) {
			pg += ml_read_uvarint(&r);
			if (r.bad || pg >= np)
				return ML_ECORRUPT;
			e->pages[k] = (uint32_t)pg;
		}
	}
	return r.bad ? ML_ECORRUPT : 0;
}
