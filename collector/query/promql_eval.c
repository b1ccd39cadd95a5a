/*
 * promql_eval.c - the PromQL evaluator's core: the public entry points, the
 * step driver (Prometheus's rangeEval), selectors, subqueries, unary minus,
 * literals, label-set building and the small containers the other parts use.
 *
 * Like Prometheus 2.42 every node is evaluated for all steps of its
 * evaluator at once into a matrix whose points sit at step times; a parent
 * walks its children's matrices step by step. The @ modifier is applied
 * directly (a selector with @ looks at the same reference time at every
 * step), which gives the results Prometheus's step-invariant rewriting gives.
 */
#include "query/promql_eval.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/fmtfloat.h"
#include "core/arena.h"
#include "core/buf.h"
#include "query/matcher.h"
#include "query/promql_eval_internal.h"
#include "store/tsdb.h"

#define DEFAULT_LOOKBACK_MS (5 * 60 * 1000)
#define DEFAULT_MAX_SAMPLES 50000000
#define DEFAULT_SUBQ_STEP_MS (60 * 1000)

const struct ml_labels ev_no_labels = {(const uint8_t *)"", 0};

/* ---- errors, deadline, sample accounting ---------------------------------- */

int ev_fail(struct ev *ev, int code, const char *fmt, ...)
{
	if (ev->err != NULL) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(ev->err->msg, sizeof(ev->err->msg), fmt, ap);
		va_end(ap);
	}
	return code;
}

int ev_oom(struct ev *ev)
{
	return ev_fail(ev, ML_ENOMEM, "out of memory");
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int ev_check_deadline(struct ev *ev)
{
	if (ev->deadline_ns == 0)
		return 0;
	/* Reading the clock costs ~20 ns; every 16th call is plenty. */
	if ((ev->tick++ & 15) != 0)
		return 0;
	if (now_ns() > ev->deadline_ns)
		return ev_fail(ev, ML_PROMQL_ETIMEOUT, "query timed out in expression evaluation");
	return 0;
}

int ev_add_samples(struct ev *ev, int64_t n)
{
	ev->cur_samples += n;
	if (ev->cur_samples > ev->max_samples)
		return ev_fail(
		    ev, ML_ETOOBIG,
		    "query processing would load too many samples into memory in query execution");
	return 0;
}

const char *ml_promql_error_type(int rc)
{
	switch (rc) {
	case ML_EINVAL:
	case ML_ETOOBIG:
		return "execution";
	case ML_PROMQL_ETIMEOUT:
		return "timeout";
	case ML_EUNSUPP:
		return "bad_data";
	default:
		return "internal";
	}
}

int ml_promql_http_status(int rc)
{
	switch (rc) {
	case ML_EINVAL:
	case ML_ETOOBIG:
		return 422;
	case ML_PROMQL_ETIMEOUT:
		return 503;
	case ML_EUNSUPP:
		return 400;
	default:
		return 500;
	}
}

/* ---- vectors --------------------------------------------------------------- */

int ev_vector_push(struct ev *ev, struct ev_vector *v, struct ml_labels ls, uint64_t hash,
                   double val, uint32_t src)
{
	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 16;
		struct ev_sample *s = ml_realloc(v->s, cap * sizeof(*s));
		if (s == NULL)
			return ev_oom(ev);
		v->s = s;
		v->cap = cap;
	}
	struct ev_sample *e = &v->s[v->n++];
	e->ls = ls;
	e->hash = hash;
	e->v = val;
	e->t = 0;
	e->src = src;
	return 0;
}

void ev_vector_free(struct ev_vector *v)
{
	ml_free(v->s);
	v->s = NULL;
	v->n = v->cap = 0;
}

/* ---- hash map ---------------------------------------------------------------- */

static int hmap_grow(struct hmap *m)
{
	size_t cap = m->cap ? m->cap * 2 : 64;
	uint64_t *keys = ml_calloc(cap, sizeof(*keys));
	int64_t *vals = ml_calloc(cap, sizeof(*vals));
	uint8_t *used = ml_calloc(cap, 1);
	if (keys == NULL || vals == NULL || used == NULL) {
		ml_free(keys);
		ml_free(vals);
		ml_free(used);
		return -1;
	}
	for (size_t i = 0; i < m->cap; i++) {
		if (!m->used[i])
			continue;
		size_t j = (size_t)(m->keys[i] * 0x9E3779B97F4A7C15ULL) & (cap - 1);
		while (used[j])
			j = (j + 1) & (cap - 1);
		used[j] = 1;
		keys[j] = m->keys[i];
		vals[j] = m->vals[i];
	}
	ml_free(m->keys);
	ml_free(m->vals);
	ml_free(m->used);
	m->keys = keys;
	m->vals = vals;
	m->used = used;
	m->cap = cap;
	return 0;
}

int64_t *hmap_put(struct hmap *m, uint64_t key, bool *inserted)
{
	if ((m->n + 1) * 2 > m->cap && hmap_grow(m) != 0)
		return NULL;
	size_t j = (size_t)(key * 0x9E3779B97F4A7C15ULL) & (m->cap - 1);
	while (m->used[j]) {
		if (m->keys[j] == key) {
			*inserted = false;
			return &m->vals[j];
		}
		j = (j + 1) & (m->cap - 1);
	}
	m->used[j] = 1;
	m->keys[j] = key;
	m->vals[j] = 0;
	m->n++;
	*inserted = true;
	return &m->vals[j];
}

int64_t *hmap_get(const struct hmap *m, uint64_t key)
{
	if (m->cap == 0)
		return NULL;
	size_t j = (size_t)(key * 0x9E3779B97F4A7C15ULL) & (m->cap - 1);
	while (m->used[j]) {
		if (m->keys[j] == key)
			return &m->vals[j];
		j = (j + 1) & (m->cap - 1);
	}
	return NULL;
}

void hmap_clear(struct hmap *m)
{
	if (m->n == 0)
		return;
	memset(m->used, 0, m->cap);
	m->n = 0;
}

void hmap_free(struct hmap *m)
{
	ml_free(m->keys);
	ml_free(m->vals);
	ml_free(m->used);
	memset(m, 0, sizeof(*m));
}

/* ---- label sets ---------------------------------------------------------------- */

static int str_cmp(struct ml_str a, struct ml_str b)
{
	size_t n = a.n < b.n ? a.n : b.n;
	int c = n ? memcmp(a.p, b.p, n) : 0;
	if (c)
		return c;
	return a.n < b.n ? -1 : a.n > b.n;
}

static int lb_reserve(struct ev *ev, struct lbuild *b, size_t n)
{
	if (n <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 16;
	while (cap < n)
		cap *= 2;
	struct ml_label *l = ml_realloc(b->l, cap * sizeof(*l));
	if (l == NULL)
		return ev_oom(ev);
	b->l = l;
	b->cap = cap;
	return 0;
}

int lb_reset(struct ev *ev, struct lbuild *b, struct ml_labels ls)
{
	b->n = 0;
	struct ml_labels_iter it;
	struct ml_str name, value;
	ml_labels_iter_init(&it, ls);
	while (ml_labels_next(&it, &name, &value)) {
		if (lb_reserve(ev, b, b->n + 1) != 0)
			return ML_ENOMEM;
		b->l[b->n].name = name;
		b->l[b->n].value = value;
		b->n++;
	}
	return 0;
}

int lb_set(struct ev *ev, struct lbuild *b, struct ml_str name, struct ml_str value)
{
	if (value.n == 0) {
		lb_del(b, name);
		return 0;
	}
	size_t i = 0;
	while (i < b->n && str_cmp(b->l[i].name, name) < 0)
		i++;
	if (i < b->n && str_cmp(b->l[i].name, name) == 0) {
		b->l[i].value = value;
		return 0;
	}
	if (lb_reserve(ev, b, b->n + 1) != 0)
		return ML_ENOMEM;
	memmove(&b->l[i + 1], &b->l[i], (b->n - i) * sizeof(b->l[0]));
	b->l[i].name = name;
	b->l[i].value = value;
	b->n++;
	return 0;
}

void lb_del(struct lbuild *b, struct ml_str name)
{
	for (size_t i = 0; i < b->n; i++) {
		if (ml_str_eq(b->l[i].name, name)) {
			memmove(&b->l[i], &b->l[i + 1], (b->n - i - 1) * sizeof(b->l[0]));
			b->n--;
			return;
		}
	}
}

void lb_keep(struct lbuild *b, const struct ml_str *names, size_t n)
{
	size_t j = 0;
	for (size_t i = 0; i < b->n; i++) {
		bool keep = false;
		for (size_t k = 0; k < n && !keep; k++)
			keep = ml_str_eq(b->l[i].name, names[k]);
		if (keep)
			b->l[j++] = b->l[i];
	}
	b->n = j;
}

static size_t uvarint_len(uint64_t v)
{
	size_t n = 1;
	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static uint8_t *put_uvarint(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

static size_t lb_encoded_len(const struct lbuild *b)
{
	size_t len = 0;
	for (size_t i = 0; i < b->n; i++)
		len += uvarint_len(b->l[i].name.n) + b->l[i].name.n + uvarint_len(b->l[i].value.n) +
		       b->l[i].value.n;
	return len;
}

static void lb_encode(const struct lbuild *b, uint8_t *w)
{
	for (size_t i = 0; i < b->n; i++) {
		w = put_uvarint(w, b->l[i].name.n);
		if (b->l[i].name.n)
			memcpy(w, b->l[i].name.p, b->l[i].name.n);
		w += b->l[i].name.n;
		w = put_uvarint(w, b->l[i].value.n);
		if (b->l[i].value.n)
			memcpy(w, b->l[i].value.p, b->l[i].value.n);
		w += b->l[i].value.n;
	}
}

int lb_finish(struct ev *ev, const struct lbuild *b, struct ml_labels *out, uint64_t *hash)
{
	size_t len = lb_encoded_len(b);
	uint8_t *p = ml_arena_alloc(ev->a, len ? len : 1);
	if (p == NULL)
		return ev_oom(ev);
	lb_encode(b, p);
	out->p = p;
	out->n = len;
	if (hash != NULL)
		*hash = ml_labels_hash(*out);
	return 0;
}

int lb_hash(struct ev *ev, struct lbuild *b, uint64_t *hash)
{
	size_t len = lb_encoded_len(b);
	if (len > b->scratch_cap) {
		uint8_t *p = ml_realloc(b->scratch, len);
		if (p == NULL)
			return ev_oom(ev);
		b->scratch = p;
		b->scratch_cap = len;
	}
	lb_encode(b, b->scratch);
	struct ml_labels ls = {b->scratch ? b->scratch : (const uint8_t *)"", len};
	*hash = ml_labels_hash(ls);
	return 0;
}

void lb_free(struct lbuild *b)
{
	ml_free(b->l);
	ml_free(b->scratch);
	memset(b, 0, sizeof(*b));
}

bool lcache_get(const struct lcache *c, uint64_t key, struct ml_labels *out, uint64_t *hash)
{
	if (c->cap == 0)
		return false;
	size_t j = (size_t)(key * 0x9E3779B97F4A7C15ULL) & (c->cap - 1);
	while (c->vals[j].p != NULL) {
		if (c->keys[j] == key) {
			*out = c->vals[j];
			*hash = c->hashes[j];
			return true;
		}
		j = (j + 1) & (c->cap - 1);
	}
	return false;
}

int lcache_put(struct lcache *c, uint64_t key, struct ml_labels v, uint64_t hash)
{
	if ((c->n + 1) * 2 > c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		uint64_t *keys = ml_calloc(cap, sizeof(*keys));
		struct ml_labels *vals = ml_calloc(cap, sizeof(*vals));
		uint64_t *hashes = ml_calloc(cap, sizeof(*hashes));
		if (keys == NULL || vals == NULL || hashes == NULL) {
			ml_free(keys);
			ml_free(vals);
			ml_free(hashes);
			return ML_ENOMEM;
		}
		for (size_t i = 0; i < c->cap; i++) {
			if (c->vals[i].p == NULL)
				continue;
			size_t j = (size_t)(c->keys[i] * 0x9E3779B97F4A7C15ULL) & (cap - 1);
			while (vals[j].p != NULL)
				j = (j + 1) & (cap - 1);
			keys[j] = c->keys[i];
			vals[j] = c->vals[i];
			hashes[j] = c->hashes[i];
		}
		ml_free(c->keys);
		ml_free(c->vals);
		ml_free(c->hashes);
		c->keys = keys;
		c->vals = vals;
		c->hashes = hashes;
		c->cap = cap;
	}
	size_t j = (size_t)(key * 0x9E3779B97F4A7C15ULL) & (c->cap - 1);
	while (c->vals[j].p != NULL && c->keys[j] != key)
		j = (j + 1) & (c->cap - 1);
	if (c->vals[j].p == NULL)
		c->n++;
	c->keys[j] = key;
	c->vals[j] = v;
	c->hashes[j] = hash;
	return 0;
}

void lcache_free(struct lcache *c)
{
	ml_free(c->keys);
	ml_free(c->vals);
	ml_free(c->hashes);
	memset(c, 0, sizeof(*c));
}

int ev_drop_name(struct ev *ev, struct lcache *c, struct ml_labels ls, uint64_t hash,
                 struct ml_labels *out, uint64_t *out_hash)
{
	if (c != NULL && lcache_get(c, hash, out, out_hash))
		return 0;
	struct ml_str v;
	if (!ml_labels_get(ls, "__name__", 8, &v)) {
		*out = ls;
		*out_hash = hash;
	} else {
		/* The name is the first label of most sets; rebuild without it. */
		struct lbuild b = {0};
		int rc = lb_reset(ev, &b, ls);
		if (rc == 0) {
			lb_del(&b, ML_STR("__name__"));
			rc = lb_finish(ev, &b, out, out_hash);
		}
		lb_free(&b);
		if (rc != 0)
			return rc;
	}
	if (c != NULL && lcache_put(c, hash, *out, *out_hash) != 0)
		return ev_oom(ev);
	return 0;
}

void ev_labels_str(struct ml_labels ls, char *buf, size_t n)
{
	struct ml_buf b = ML_BUF_INIT;
	struct ml_labels_iter it;
	struct ml_str name, value;
	bool first = true;
	ml_buf_putc(&b, '{');
	ml_labels_iter_init(&it, ls);
	while (ml_labels_next(&it, &name, &value)) {
		if (!first)
			ml_buf_puts(&b, ", ");
		first = false;
		ml_buf_append(&b, name.p, name.n);
		ml_buf_puts(&b, "=\"");
		for (size_t i = 0; i < value.n; i++) {
			unsigned char c = (unsigned char)value.p[i];
			if (c == '"' || c == '\\') {
				ml_buf_putc(&b, '\\');
				ml_buf_putc(&b, (char)c);
			} else if (c == '\n') {
				ml_buf_puts(&b, "\\n");
			} else if (c < 0x20 || c == 0x7f) {
				ml_buf_printf(&b, "\\x%02x", c);
			} else {
				ml_buf_putc(&b, (char)c);
			}
		}
		ml_buf_putc(&b, '"');
	}
	ml_buf_putc(&b, '}');
	size_t len = b.len < n - 1 ? b.len : n - 1;
	if (b.data != NULL && ml_buf_ok(&b))
		memcpy(buf, b.data, len);
	else
		len = 0;
	buf[len] = 0;
	ml_buf_free(&b);
}

bool ev_valid_label_name(struct ml_str s)
{
	if (s.n == 0)
		return false;
	for (size_t i = 0; i < s.n; i++) {
		char c = s.p[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
		          (i > 0 && c >= '0' && c <= '9');
		if (!ok)
			return false;
	}
	return true;
}

/* ---- sorting and number formatting ---------------------------------------- */

int ev_stable_sort(struct ev *ev, struct ev_sample *s, size_t n, ev_less_fn less)
{
	if (n < 2)
		return 0;
	if (n <= 12) {
		/* Exactly Go's insertionSort, which sort.Sort uses up to 12 elements. */
		for (size_t i = 1; i < n; i++)
			for (size_t j = i; j > 0 && less(&s[j], &s[j - 1]); j--) {
				struct ev_sample t = s[j];
				s[j] = s[j - 1];
				s[j - 1] = t;
			}
		return 0;
	}
	struct ev_sample *tmp = ml_malloc(n * sizeof(*tmp));
	if (tmp == NULL)
		return ev_oom(ev);
	/* Bottom-up merge sort: stable. */
	for (size_t w = 1; w < n; w *= 2) {
		for (size_t lo = 0; lo < n; lo += 2 * w) {
			size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
			size_t i = lo, j = mid, k = lo;
			while (i < mid && j < hi)
				tmp[k++] = less(&s[j], &s[i]) ? s[j++] : s[i++];
			while (i < mid)
				tmp[k++] = s[i++];
			while (j < hi)
				tmp[k++] = s[j++];
		}
		memcpy(s, tmp, n * sizeof(*s));
	}
	ml_free(tmp);
	return 0;
}

void ev_format_float_f(double v, char *buf, size_t n)
{
	if (isnan(v)) {
		snprintf(buf, n, "NaN");
		return;
	}
	if (isinf(v)) {
		snprintf(buf, n, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	/* The shortest digits that read back as v, printed without an exponent. */
	ml_float_format(v, ML_FLOAT_PLAIN, buf, n);
}

/* ---- selecting series ---------------------------------------------------------- */

int64_t ev_ref_time(const struct ev *ev, enum ml_at_kind at, int64_t at_ms, int64_t offset,
                    int64_t t)
{
	switch (at) {
	case ML_AT_TIME:
		t = at_ms;
		break;
	case ML_AT_START:
		t = ev->q_start;
		break;
	case ML_AT_END:
		t = ev->q_end;
		break;
	case ML_AT_NONE:
		break;
	}
	return t - offset;
}

int ev_select_open(struct ev *ev, const struct ml_node *vs, int64_t mint, int64_t maxt,
                   struct ev_select_it *it)
{
	it->set = NULL;
	it->ms = ml_malloc((vs->u.vs.n_matchers + 1) * sizeof(*it->ms));
	if (it->ms == NULL)
		return ev_oom(ev);
	for (size_t i = 0; i < vs->u.vs.n_matchers; i++)
		it->ms[i] = &vs->u.vs.matchers[i];
	int rc = ml_tsdb_select(ev->db, it->ms, vs->u.vs.n_matchers, mint, maxt, 0, &it->set, ev->err);
	if (rc != 0) {
		ev_select_close(it);
		return rc;
	}
	return 0;
}

int ev_select_next(struct ev *ev, struct ev_select_it *it, struct ev_selected *e)
{
	for (;;) {
		int rc = ml_tsdb_series_set_next(it->set, ev->err);
		if (rc <= 0)
			return rc;
		if ((rc = ev_check_deadline(ev)) != 0)
			return rc;
		const struct ml_sample *s;
		size_t ns;
		ml_tsdb_series_set_samples(it->set, &s, &ns);
		if (ns == 0)
			continue;
		struct ml_labels ls = ml_tsdb_series_set_labels(it->set);
		uint8_t *lp = ml_arena_alloc(ev->a, ls.n ? ls.n : 1);
		if (lp == NULL)
			return ev_oom(ev);
		memcpy(lp, ls.p, ls.n);
		e->ls.p = lp;
		e->ls.n = ls.n;
		e->hash = ml_labels_hash(e->ls);
		e->s = (struct ml_sample *)(uintptr_t)s; /* read only: see the contract */
		e->n = ns;
		ev->total_samples += ns;
		return 1;
	}
}

void ev_select_close(struct ev_select_it *it)
{
	ml_tsdb_series_set_free(it->set);
	ml_free(it->ms);
	it->set = NULL;
	it->ms = NULL;
}

int ev_select(struct ev *ev, const struct ml_node *vs, int64_t mint, int64_t maxt,
              struct ev_selected **out, size_t *n_out)
{
	struct ev_select_it it;
	struct ev_selected *sel = NULL, e;
	size_t n = 0, cap = 0;
	*out = NULL;
	*n_out = 0;
	int rc = ev_select_open(ev, vs, mint, maxt, &it);
	if (rc != 0)
		return rc;
	while ((rc = ev_select_next(ev, &it, &e)) == 1) {
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			struct ev_selected *g = ml_realloc(sel, cap * sizeof(*sel));
			if (g == NULL) {
				rc = ev_oom(ev);
				goto fail;
			}
			sel = g;
		}
		/* The caller may keep (and filter) the samples: copy them out of the store's buffer. */
		struct ml_sample *own = ml_arena_alloc(ev->a, e.n * sizeof(*own));
		if (own == NULL) {
			rc = ev_oom(ev);
			goto fail;
		}
		memcpy(own, e.s, e.n * sizeof(*own));
		e.s = own;
		sel[n++] = e;
	}
	if (rc < 0)
		goto fail;
	ev_select_close(&it);
	/* The caller keeps the array in the arena. */
	*out = ml_arena_alloc(ev->a, (n ? n : 1) * sizeof(*sel));
	if (*out == NULL) {
		ml_free(sel);
		return ev_oom(ev);
	}
	if (n)
		memcpy(*out, sel, n * sizeof(*sel));
	ml_free(sel);
	*n_out = n;
	return 0;
fail:
	ev_select_close(&it);
	ml_free(sel);
	return rc;
}

static bool is_stale(double v)
{
	uint64_t b;
	memcpy(&b, &v, sizeof(b));
	return b == ML_STALE_NAN_BITS;
}

int ev_matrix_reserve(struct ev *ev, struct ev_matrix *m, size_t *cap)
{
	if (m->n < *cap)
		return 0;
	size_t nc = *cap ? *cap * 2 : 64;
	struct ev_series *g = ml_arena_alloc(ev->a, nc * sizeof(*g));
	if (g == NULL)
		return ev_oom(ev);
	if (m->n)
		memcpy(g, m->s, m->n * sizeof(*g));
	memset(g + m->n, 0, (nc - m->n) * sizeof(*g));
	m->s = g;
	*cap = nc;
	return 0;
}

int ev_matrix_sink_put(struct ev *ev, void *ctx, const struct ev_series *s)
{
	struct ev_matrix_sink *ms = ctx;
	int rc = ev_matrix_reserve(ev, ms->m, &ms->cap);
	if (rc != 0)
		return rc;
	struct ev_series *d = &ms->m->s[ms->m->n];
	*d = *s;
	d->pts = ml_arena_alloc(ev->a, s->n * sizeof(*s->pts));
	if (d->pts == NULL)
		return ev_oom(ev);
	memcpy(d->pts, s->pts, s->n * sizeof(*s->pts));
	ms->m->n++;
	return 0;
}

/* A vector selector at every step, series by series into sink. */
static int vector_selector_sink(struct ev *ev, const struct ml_node *vs, bool sample_times,
                                const struct ev_sink *sink)
{
	struct ev_select_it it;
	struct ev_selected cur;
	const int64_t off = vs->u.vs.offset_ms;
	int64_t ref0 = ev_ref_time(ev, vs->u.vs.at, vs->u.vs.at_ms, off, ev->start);
	int64_t ref1 = ev_ref_time(ev, vs->u.vs.at, vs->u.vs.at_ms, off, ev->end);
	int rc = ev_select_open(ev, vs, ref0 - ev->lookback, ref1, &it);
	if (rc != 0)
		return rc;
	size_t steps = ev_steps(ev);
	struct ml_sample *buf = ml_malloc(steps * sizeof(*buf));
	if (buf == NULL) {
		rc = ev_oom(ev);
		goto done;
	}
	/* Series by series: only the current one's samples are held. */
	while ((rc = ev_select_next(ev, &it, &cur)) == 1) {
		const struct ev_selected *e = &cur;
		size_t np = 0, j = 0; /* j: samples with t <= ref */
		for (int64_t t = ev->start; t <= ev->end; t += ev->interval) {
			int64_t ref = ev_ref_time(ev, vs->u.vs.at, vs->u.vs.at_ms, off, t);
			while (j < e->n && e->s[j].t_ms <= ref)
				j++;
			if (j == 0)
				continue;
			const struct ml_sample *smp = &e->s[j - 1];
			/* Prometheus 2.42 keeps a sample exactly lookback old. */
			if (smp->t_ms < ref - ev->lookback || is_stale(smp->v))
				continue;
			buf[np].t_ms = t;
			buf[np].v = sample_times ? (double)smp->t_ms / 1000.0 : smp->v;
			np++;
		}
		if (np == 0)
			continue;
		if ((rc = ev_add_samples(ev, (int64_t)np)) != 0)
			goto done;
		struct ev_series s = {.ls = e->ls, .hash = e->hash, .pts = buf, .n = np};
		if ((rc = sink->put(ev, sink->ctx, &s)) != 0)
			goto done;
	}
done:
	ev_select_close(&it);
	ml_free(buf);
	return rc;
}

int ev_matrix_sink_init(struct ev *ev, struct ev_matrix *out, struct ev_matrix_sink *ms,
                        struct ev_sink *sink)
{
	out->s = NULL;
	out->n = 0;
	ms->m = out;
	ms->cap = 0;
	sink->put = ev_matrix_sink_put;
	sink->ctx = ms;
	return ev_matrix_reserve(ev, out, &ms->cap);
}

int ev_vector_selector(struct ev *ev, const struct ml_node *vs, bool sample_times,
                       struct ev_matrix *out)
{
	struct ev_matrix_sink ms;
	struct ev_sink sink;
	int rc = ev_matrix_sink_init(ev, out, &ms, &sink);
	if (rc == 0)
		rc = vector_selector_sink(ev, vs, sample_times, &sink);
	if (rc != 0)
		out->n = 0;
	return rc;
}

bool ev_streams(const struct ml_node *n)
{
	n = ev_unparen(n);
	return n->kind == ML_NODE_VECTOR_SELECTOR || ev_call_streams(n);
}

int ev_eval_sink(struct ev *ev, const struct ml_node *n, const struct ev_sink *sink)
{
	int rc = ev_check_deadline(ev);
	if (rc != 0)
		return rc;
	n = ev_unparen(n);
	if (n->kind == ML_NODE_VECTOR_SELECTOR)
		return vector_selector_sink(ev, n, false, sink);
	return ev_call_sink(ev, n, sink);
}

/* A range selector evaluated on its own (instant queries only). */
static int matrix_selector(struct ev *ev, const struct ml_node *ms, struct ev_matrix *out)
{
	const struct ml_node *vs = ms->u.ms.vs;
	if (ev->start != ev->end)
		return ev_fail(ev, ML_EINVAL, "cannot do range evaluation of matrix selector");
	int64_t maxt = ev_ref_time(ev, vs->u.vs.at, vs->u.vs.at_ms, vs->u.vs.offset_ms, ev->start);
	int64_t mint = maxt - ms->u.ms.range_ms;
	struct ev_selected *sel;
	size_t nsel;
	int rc = ev_select(ev, vs, mint, maxt, &sel, &nsel);
	if (rc != 0)
		return rc;
	out->s = ml_arena_calloc(ev->a, nsel ? nsel : 1, sizeof(*out->s));
	if (out->s == NULL)
		return ev_oom(ev);
	out->n = 0;
	for (size_t i = 0; i < nsel; i++) {
		if ((rc = ev_check_deadline(ev)) != 0)
			return rc;
		struct ev_selected *e = &sel[i];
		size_t np = 0;
		for (size_t j = 0; j < e->n; j++)
			if (e->s[j].t_ms >= mint && e->s[j].t_ms <= maxt && !is_stale(e->s[j].v))
				e->s[np++] = e->s[j];
		if (np == 0)
			continue;
		if ((rc = ev_add_samples(ev, (int64_t)np)) != 0)
			return rc;
		struct ev_series *s = &out->s[out->n++];
		s->ls = e->ls;
		s->hash = e->hash;
		s->pts = e->s;
		s->n = np;
	}
	return 0;
}

int ev_subquery(struct ev *ev, const struct ml_node *sq, struct ev_matrix *out)
{
	struct ev sub = *ev;
	int64_t off = sq->u.sq.offset_ms, range = sq->u.sq.range_ms;
	int64_t base_start = ev->start, base_end = ev->end;
	if (sq->u.sq.at != ML_AT_NONE)
		base_start = base_end = ev_ref_time(ev, sq->u.sq.at, sq->u.sq.at_ms, 0, ev->start);
	sub.interval = sq->u.sq.step_ms > 0 ? sq->u.sq.step_ms : ev->no_step_subq;
	sub.end = base_end - off;
	/* The first multiple of the step at or after start - offset - range (Go's truncating
	 * division). */
	int64_t lo = base_start - off - range;
	sub.start = sub.interval * (lo / sub.interval);
	if (sub.start < lo)
		sub.start += sub.interval;
	if (sub.start > sub.end) {
		out->s = NULL;
		out->n = 0;
		return 0;
	}
	int rc = ev_eval(&sub, sq->u.sq.expr, out);
	ev->cur_samples = sub.cur_samples;
	ev->total_samples = sub.total_samples;
	ev->tick = sub.tick;
	return rc;
}

/* ---- the step driver ------------------------------------------------------------ */

struct out_point {
	uint32_t series;
	int64_t t;
	double v;
};

int ev_range_eval(struct ev *ev, struct ev_matrix *inputs, size_t n_inputs, ev_step_fn fn,
                  void *ctx, struct ev_matrix *out)
{
	struct ev_vector in[ML_FUNC_MAX_ARGS + 1];
	size_t *cursor[ML_FUNC_MAX_ARGS + 1];
	struct ev_vector res = {0};
	struct hmap dup = {0}, byhash = {0};
	struct out_point *pts = NULL;
	size_t npts = 0, cappts = 0;
	struct ev_series *os = NULL;
	size_t nos = 0, capos = 0;
	int64_t orig = ev->cur_samples;
	int rc = 0;
	memset(in, 0, sizeof(in));
	memset(cursor, 0, sizeof(cursor));
	out->s = NULL;
	out->n = 0;
	if (n_inputs > ML_FUNC_MAX_ARGS + 1)
		return ev_fail(ev, ML_EINVAL, "too many arguments");
	for (size_t i = 0; i < n_inputs; i++) {
		cursor[i] = ml_calloc(inputs[i].n ? inputs[i].n : 1, sizeof(size_t));
		if (cursor[i] == NULL) {
			rc = ev_oom(ev);
			goto fail;
		}
	}
	int64_t held = 0; /* output samples so far */
	for (int64_t t = ev->start; t <= ev->end; t += ev->interval) {
		if ((rc = ev_check_deadline(ev)) != 0)
			goto fail;
		for (size_t i = 0; i < n_inputs; i++) {
			in[i].n = 0;
			for (size_t si = 0; si < inputs[i].n; si++) {
				struct ev_series *s = &inputs[i].s[si];
				size_t c = cursor[i][si];
				while (c < s->n && s->pts[c].t_ms < t)
					c++;
				if (c < s->n && s->pts[c].t_ms == t) {
					if ((rc = ev_vector_push(ev, &in[i], s->ls, s->hash,
					                         s->pts[c].v, (uint32_t)si)) != 0)
						goto fail;
					in[i].s[in[i].n - 1].t = t;
					c++;
				}
				cursor[i][si] = c;
			}
		}
		res.n = 0;
		if ((rc = fn(ev, ctx, in, t, &res)) != 0)
			goto fail;
		if (res.n >= 2) {
			hmap_clear(&dup);
			for (size_t k = 0; k < res.n; k++) {
				bool ins;
				if (hmap_put(&dup, res.s[k].hash, &ins) == NULL) {
					rc = ev_oom(ev);
					goto fail;
				}
				if (!ins) {
					rc = ev_fail(
					    ev, ML_EINVAL,
					    "vector cannot contain metrics with the same labelset");
					goto fail;
				}
			}
		}
		held += (int64_t)res.n;
		if (orig + held > ev->max_samples) {
			rc = ev_fail(ev, ML_ETOOBIG,
			             "query processing would load too many samples into memory in "
			             "query execution");
			goto fail;
		}
		for (size_t k = 0; k < res.n; k++) {
			bool ins;
			int64_t *slot = hmap_put(&byhash, res.s[k].hash, &ins);
			if (slot == NULL) {
				rc = ev_oom(ev);
				goto fail;
			}
			if (ins) {
				if (nos == capos) {
					capos = capos ? capos * 2 : 16;
					struct ev_series *g = ml_realloc(os, capos * sizeof(*os));
					if (g == NULL) {
						rc = ev_oom(ev);
						goto fail;
					}
					os = g;
				}
				memset(&os[nos], 0, sizeof(os[nos]));
				os[nos].ls = res.s[k].ls;
				os[nos].hash = res.s[k].hash;
				*slot = (int64_t)nos++;
			}
			if (npts == cappts) {
				cappts = cappts ? cappts * 2 : 64;
				struct out_point *g = ml_realloc(pts, cappts * sizeof(*pts));
				if (g == NULL) {
					rc = ev_oom(ev);
					goto fail;
				}
				pts = g;
			}
			pts[npts].series = (uint32_t)*slot;
			pts[npts].t = t;
			pts[npts].v = res.s[k].v;
			npts++;
			os[*slot].n++;
		}
	}
	/* Lay the points out per series, in the arena. */
	out->s = ml_arena_alloc(ev->a, (nos ? nos : 1) * sizeof(*out->s));
	if (out->s == NULL) {
		rc = ev_oom(ev);
		goto fail;
	}
	for (size_t i = 0; i < nos; i++) {
		out->s[i] = os[i];
		out->s[i].pts = ml_arena_alloc(ev->a, os[i].n * sizeof(struct ml_sample));
		if (out->s[i].pts == NULL) {
			rc = ev_oom(ev);
			goto fail;
		}
		out->s[i].n = 0;
	}
	for (size_t k = 0; k < npts; k++) {
		struct ev_series *s = &out->s[pts[k].series];
		s->pts[s->n].t_ms = pts[k].t;
		s->pts[s->n].v = pts[k].v;
		s->n++;
	}
	out->n = nos;
	ev->cur_samples = orig + (int64_t)npts;
fail:
	for (size_t i = 0; i < ML_FUNC_MAX_ARGS + 1; i++) {
		ev_vector_free(&in[i]);
		ml_free(cursor[i]);
	}
	ev_vector_free(&res);
	hmap_free(&dup);
	hmap_free(&byhash);
	ml_free(pts);
	ml_free(os);
	if (rc != 0) {
		out->s = NULL;
		out->n = 0;
	}
	return rc;
}

/* ---- nodes ---------------------------------------------------------------------- */

static int number_literal(struct ev *ev, double v, struct ev_matrix *out)
{
	size_t steps = ev_steps(ev);
	int rc = ev_add_samples(ev, (int64_t)steps);
	if (rc != 0)
		return rc;
	out->s = ml_arena_calloc(ev->a, 1, sizeof(*out->s));
	if (out->s == NULL)
		return ev_oom(ev);
	out->s[0].ls = ev_no_labels;
	out->s[0].hash = ml_labels_hash(ev_no_labels);
	out->s[0].pts = ml_arena_alloc(ev->a, steps * sizeof(struct ml_sample));
	if (out->s[0].pts == NULL)
		return ev_oom(ev);
	size_t i = 0;
	for (int64_t t = ev->start; t <= ev->end; t += ev->interval) {
		out->s[0].pts[i].t_ms = t;
		out->s[0].pts[i].v = v;
		i++;
	}
	out->s[0].n = i;
	out->n = 1;
	return 0;
}

static int unary(struct ev *ev, const struct ml_node *n, struct ev_matrix *out)
{
	int rc = ev_eval(ev, n->u.unary.expr, out);
	if (rc != 0 || n->u.unary.op != ML_OP_SUB)
		return rc;
	struct hmap seen = {0};
	for (size_t i = 0; i < out->n; i++) {
		struct ev_series *s = &out->s[i];
		if ((rc = ev_drop_name(ev, NULL, s->ls, s->hash, &s->ls, &s->hash)) != 0)
			goto done;
		for (size_t j = 0; j < s->n; j++)
			s->pts[j].v = -s->pts[j].v;
		bool ins;
		if (hmap_put(&seen, s->hash, &ins) == NULL) {
			rc = ev_oom(ev);
			goto done;
		}
		if (!ins) {
			rc = ev_fail(ev, ML_EINVAL,
			             "vector cannot contain metrics with the same labelset");
			goto done;
		}
	}
done:
	hmap_free(&seen);
	return rc;
}

int ev_eval(struct ev *ev, const struct ml_node *n, struct ev_matrix *out)
{
	int rc = ev_check_deadline(ev);
	out->s = NULL;
	out->n = 0;
	if (rc != 0)
		return rc;
	switch (n->kind) {
	case ML_NODE_NUMBER:
		return number_literal(ev, n->u.number, out);
	case ML_NODE_PAREN:
		return ev_eval(ev, n->u.paren, out);
	case ML_NODE_UNARY:
		return unary(ev, n, out);
	case ML_NODE_VECTOR_SELECTOR:
		return ev_vector_selector(ev, n, false, out);
	case ML_NODE_MATRIX_SELECTOR:
		return matrix_selector(ev, n, out);
	case ML_NODE_SUBQUERY:
		return ev_subquery(ev, n, out);
	case ML_NODE_BINARY:
		return ev_binary(ev, n, out);
	case ML_NODE_AGGREGATE:
		return ev_aggregate(ev, n, out);
	case ML_NODE_CALL:
		return ev_call(ev, n, out);
	default:
		break;
	}
	return ev_fail(ev, ML_EINVAL, "unexpected expression in evaluation");
}

/* ---- the public API --------------------------------------------------------------- */

static int cmp_series(const void *a, const void *b)
{
	const struct ml_promql_series *x = a, *y = b;
	return ml_labels_cmp(x->labels, y->labels);
}

static int run(struct ml_tsdb *db, const struct ml_node *root, int64_t start, int64_t end,
               int64_t interval, bool instant, const struct ml_promql_opts *opts,
               struct ml_promql_result **out, struct ml_err *err)
{
	struct ml_promql_result *r = NULL;
	struct ml_arena *a = NULL;
	struct ev_matrix mat = {0};
	int rc;
	*out = NULL;
	a = ml_arena_create(256 * 1024);
	if (a == NULL)
		return ml_err_set(err, ML_ENOMEM, "out of memory");
	r = ml_arena_calloc(a, 1, sizeof(*r));
	if (r == NULL) {
		rc = ml_err_set(err, ML_ENOMEM, "out of memory");
		goto fail;
	}
	r->arena = a;
	struct ev ev = {0};
	ev.db = db;
	ev.a = a;
	ev.err = err;
	ev.start = start;
	ev.end = end;
	ev.interval = interval;
	ev.q_start = start;
	ev.q_end = end;
	ev.lookback =
	    opts && opts->lookback_delta_ms > 0 ? opts->lookback_delta_ms : DEFAULT_LOOKBACK_MS;
	ev.max_samples = opts && opts->max_samples > 0 ? opts->max_samples : DEFAULT_MAX_SAMPLES;
	ev.no_step_subq = opts && opts->no_step_subquery_interval_ms > 0
	                      ? opts->no_step_subquery_interval_ms
	                      : DEFAULT_SUBQ_STEP_MS;
	if (opts && opts->timeout_ms > 0)
		ev.deadline_ns = now_ns() + opts->timeout_ms * 1000000LL;

	const struct ml_node *top = ev_unparen(root);
	enum ml_value_type type = ml_node_type(root);
	r->t_ms = start;
	if (top->kind == ML_NODE_STRING) {
		r->type = ML_TYPE_STRING;
		r->string.p = ml_arena_strndup(a, top->u.string.p, top->u.string.n);
		r->string.n = top->u.string.n;
		if (r->string.p == NULL) {
			rc = ml_err_set(err, ML_ENOMEM, "out of memory");
			goto fail;
		}
		*out = r;
		return 0;
	}
	if ((rc = ev_eval(&ev, root, &mat)) != 0)
		goto fail;
	/* The deadline is also checked once more at the end, as Prometheus does. */
	if (ev.deadline_ns != 0 && now_ns() > ev.deadline_ns) {
		rc =
		    ml_err_set(err, ML_PROMQL_ETIMEOUT, "query timed out in expression evaluation");
		goto fail;
	}
	r->samples_total = ev.total_samples;
	if (instant && type == ML_TYPE_SCALAR) {
		r->type = ML_TYPE_SCALAR;
		r->scalar = mat.n > 0 && mat.s[0].n > 0 ? mat.s[0].pts[0].v : NAN;
		*out = r;
		return 0;
	}
	r->type = instant ? type : ML_TYPE_MATRIX;
	r->series = ml_arena_calloc(a, mat.n ? mat.n : 1, sizeof(*r->series));
	if (r->series == NULL) {
		rc = ml_err_set(err, ML_ENOMEM, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < mat.n; i++) {
		struct ml_promql_series *s = &r->series[r->n_series];
		if (mat.s[i].n == 0)
			continue;
		s->labels = mat.s[i].ls;
		if (instant && type == ML_TYPE_VECTOR) {
			/* The point's time is the evaluation time. */
			mat.s[i].pts[0].t_ms = start;
			s->n_points = 1;
		} else {
			s->n_points = mat.s[i].n;
		}
		s->points = mat.s[i].pts;
		r->n_series++;
	}
	if (!instant)
		qsort(r->series, r->n_series, sizeof(*r->series), cmp_series);
	*out = r;
	return 0;
fail:
	ml_arena_destroy(a);
	return rc;
}

int ml_promql_eval_instant(struct ml_tsdb *db, const struct ml_node *root, int64_t t_ms,
                           const struct ml_promql_opts *opts, struct ml_promql_result **out,
                           struct ml_err *err)
{
	/* Prometheus runs an instant query as a range query of one step with interval 1. */
	return run(db, root, t_ms, t_ms, 1, true, opts, out, err);
}

int ml_promql_eval_range(struct ml_tsdb *db, const struct ml_node *root, int64_t start_ms,
                         int64_t end_ms, int64_t step_ms, const struct ml_promql_opts *opts,
                         struct ml_promql_result **out, struct ml_err *err)
{
	*out = NULL;
	enum ml_value_type type = ml_node_type(root);
	if (type != ML_TYPE_SCALAR && type != ML_TYPE_VECTOR)
		return ml_err_set(err, ML_EINVAL,
		                  "invalid expression type \"%s\" for range query, must be Scalar "
		                  "or instant Vector",
		                  ml_value_type_name(type));
	if (step_ms <= 0)
		return ml_err_set(err, ML_EINVAL,
		                  "zero or negative query resolution step widths are not accepted. "
		                  "Try a positive integer");
	if (end_ms < start_ms)
		return ml_err_set(err, ML_EINVAL, "end timestamp must not be before start time");
	return run(db, root, start_ms, end_ms, step_ms, false, opts, out, err);
}

void ml_promql_result_destroy(struct ml_promql_result *r)
{
	if (r != NULL)
		ml_arena_destroy(r->arena);
}
