/*
 * registry.c - metric families in process memory (see registry.h).
 *
 * Layout. A registry is an append-only linked list of families; a family is
 * an append-only linked list of children (creation order, what a walk
 * follows) plus a hash table of the same children split in ML_REG_STRIPES
 * stripes. Nothing is ever removed before ml_registry_destroy(), so readers
 * follow the lists, and probe the open-addressing tables, with acquire loads
 * and no lock at all: ml_family_child() for an existing child (the per-span
 * case) is a hash and a few loads. Creating a child takes its stripe's mutex;
 * a table that grows is replaced by a copy and the old one is kept (linked
 * from the new) until destroy, so a reader still probing it stays safe; a
 * reader that misses a child because it saw the old table retries under the
 * mutex. Tables stay at most half full, so a probe always ends.
 *
 * Values. A counter or gauge is one 64-bit atomic holding the bit pattern of
 * a double; adding is a compare-and-swap loop on that pattern (C11 has no
 * atomic double add), as client_golang does. A histogram keeps per-bucket
 * (non-cumulative) atomic counts, the +Inf count and the sum; an observation
 * bumps count first, then sum, then its bucket, and a reader reads buckets
 * first and count last, so a scrape never shows a bucket above _count.
 */
#include "model/registry.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#include <xxhash.h>

#include "core/alloc.h"

/* Stripes of a family's child table: a power of two, more than the cores we
 * expect to update one family at once. */
#define ML_REG_STRIPES 16
#define ML_REG_SEED 0x6d6c7265676973ULL

struct ml_child {
	struct ml_child *_Atomic next; /* creation order */
	uint64_t hash;
	struct ml_str *values;     /* n_labels, bytes in the same allocation */
	_Atomic uint64_t value;    /* counter, gauge: bits of a double */
	_Atomic uint64_t count;    /* histogram: +Inf bucket */
	_Atomic uint64_t sum;      /* histogram: bits of a double */
	_Atomic uint64_t *buckets; /* histogram: n_buckets non-cumulative counts */
	struct ml_family *family;
};

struct ml_table {
	struct ml_table *older; /* replaced tables, freed at destroy */
	size_t cap;             /* a power of two */
	struct ml_child *_Atomic slots[];
};

/* Padded so that two stripes' hot words never share a cache line (heap
 * memory is not 64-byte aligned, so padding rather than alignment). */
struct ml_stripe {
	union {
		struct {
			pthread_mutex_t lock;           /* creation of children in this stripe */
			struct ml_table *_Atomic table; /* NULL until the first child */
			size_t n;                       /* children in the table (under lock) */
		};
		char line[128];
	};
};

struct ml_family {
	struct ml_family *_Atomic next; /* registration order */
	struct ml_family_desc desc;     /* strings and arrays owned */
	struct ml_stripe stripes[ML_REG_STRIPES];
	pthread_mutex_t list_lock; /* appends to the children list */
	struct ml_child *_Atomic head;
	struct ml_child *tail;
	_Atomic size_t n_children;
	struct ml_child *_Atomic only; /* the child of a family without labels */
	ml_family_collect_fn collect;
	void *collect_ctx;
};

struct ml_registry {
	pthread_mutex_t lock; /* registration */
	struct ml_family *_Atomic head;
	struct ml_family *tail;
};

static inline double bits_to_double(uint64_t b)
{
	double d;
	memcpy(&d, &b, sizeof(d));
	return d;
}

static inline uint64_t double_to_bits(double d)
{
	uint64_t b;
	memcpy(&b, &d, sizeof(b));
	return b;
}

static void atomic_add_double(_Atomic uint64_t *a, double v)
{
	uint64_t old = atomic_load_explicit(a, memory_order_relaxed);
	while (!atomic_compare_exchange_weak_explicit(a, &old,
	                                              double_to_bits(bits_to_double(old) + v),
	                                              memory_order_relaxed, memory_order_relaxed))
		;
}

struct ml_registry *ml_registry_create(void)
{
	struct ml_registry *r = ml_calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	if (pthread_mutex_init(&r->lock, NULL) != 0) {
		ml_free(r);
		return NULL;
	}
	atomic_init(&r->head, NULL);
	return r;
}

static void family_free(struct ml_family *f)
{
	if (!f)
		return;
	struct ml_child *c = atomic_load(&f->head);
	while (c) {
		struct ml_child *next = atomic_load(&c->next);
		ml_free(c->buckets);
		ml_free(c);
		c = next;
	}
	for (size_t i = 0; i < ML_REG_STRIPES; i++) {
		pthread_mutex_destroy(&f->stripes[i].lock);
		struct ml_table *t = atomic_load(&f->stripes[i].table);
		while (t) {
			struct ml_table *older = t->older;
			ml_free(t);
			t = older;
		}
	}
	pthread_mutex_destroy(&f->list_lock);
	for (size_t i = 0; i < f->desc.n_labels; i++)
		ml_free((char *)f->desc.label_names[i]);
	ml_free((void *)f->desc.label_names);
	ml_free((void *)f->desc.buckets);
	ml_free((char *)f->desc.name);
	ml_free((char *)f->desc.help);
	ml_free(f);
}

void ml_registry_destroy(struct ml_registry *r)
{
	if (!r)
		return;
	struct ml_family *f = atomic_load(&r->head);
	while (f) {
		struct ml_family *next = atomic_load(&f->next);
		family_free(f);
		f = next;
	}
	pthread_mutex_destroy(&r->lock);
	ml_free(r);
}

static bool valid_name(const char *s, bool colon)
{
	if (!s || !*s)
		return false;
	for (size_t i = 0; s[i]; i++) {
		char c = s[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
		          (colon && c == ':') || (i > 0 && c >= '0' && c <= '9');
		if (!ok)
			return false;
	}
	return true;
}

static int check_desc(const struct ml_family_desc *d, struct ml_err *err)
{
	if (!d->name || !valid_name(d->name, true))
		return ml_err_set(err, ML_EINVAL, "metric family \"%s\": invalid metric name",
		                  d->name ? d->name : "(null)");
	if (d->type != ML_METRIC_COUNTER && d->type != ML_METRIC_GAUGE &&
	    d->type != ML_METRIC_HISTOGRAM)
		return ml_err_set(err, ML_EINVAL,
		                  "metric family %s: type must be counter, gauge or histogram",
		                  d->name);
	size_t nl = strlen(d->name);
	if (d->type == ML_METRIC_COUNTER && (nl < 7 || strcmp(d->name + nl - 6, "_total") != 0))
		return ml_err_set(err, ML_EINVAL,
		                  "metric family %s: a counter's name must end in _total", d->name);
	if (d->help && strchr(d->help, '\n'))
		return ml_err_set(err, ML_EINVAL, "metric family %s: help must be one line",
		                  d->name);
	if (d->n_labels && !d->label_names)
		return ml_err_set(err, ML_EINVAL, "metric family %s: %zu labels but no names",
		                  d->name, d->n_labels);
	for (size_t i = 0; i < d->n_labels; i++) {
		const char *ln = d->label_names[i];
		if (!valid_name(ln, false) || strncmp(ln, "__", 2) == 0)
			return ml_err_set(err, ML_EINVAL,
			                  "metric family %s: invalid label name \"%s\"", d->name,
			                  ln ? ln : "(null)");
		if (d->type == ML_METRIC_HISTOGRAM && strcmp(ln, "le") == 0)
			return ml_err_set(
			    err, ML_EINVAL,
			    "metric family %s: a histogram cannot have a label \"le\"", d->name);
		for (size_t j = 0; j < i; j++)
			if (strcmp(ln, d->label_names[j]) == 0)
				return ml_err_set(err, ML_EINVAL,
				                  "metric family %s: duplicate label name \"%s\"",
				                  d->name, ln);
	}
	if (d->type == ML_METRIC_HISTOGRAM) {
		if (d->n_buckets && !d->buckets)
			return ml_err_set(err, ML_EINVAL,
			                  "metric family %s: %zu buckets but no bounds", d->name,
			                  d->n_buckets);
		for (size_t i = 0; i < d->n_buckets; i++) {
			if (!isfinite(d->buckets[i]) ||
			    (i > 0 && d->buckets[i] <= d->buckets[i - 1]))
				return ml_err_set(
				    err, ML_EINVAL,
				    "metric family %s: bucket %zu: bounds must be finite "
				    "and strictly ascending",
				    d->name, i);
		}
	}
	return 0;
}

static bool same_shape(const struct ml_family_desc *a, const struct ml_family_desc *b)
{
	if (a->type != b->type || a->n_labels != b->n_labels)
		return false;
	for (size_t i = 0; i < a->n_labels; i++)
		if (strcmp(a->label_names[i], b->label_names[i]) != 0)
			return false;
	if (a->type == ML_METRIC_HISTOGRAM) {
		if (a->n_buckets != b->n_buckets)
			return false;
		for (size_t i = 0; i < a->n_buckets; i++)
			if (a->buckets[i] != b->buckets[i])
				return false;
	}
	return true;
}

static char *dup_cstr(const char *s)
{
	return ml_strndup(s ? s : "", s ? strlen(s) : 0);
}

struct ml_family *ml_registry_add(struct ml_registry *r, const struct ml_family_desc *d,
                                  struct ml_err *err)
{
	struct ml_family *f = NULL;
	size_t stripes_ok = 0;
	bool list_lock_ok = false;
	if (check_desc(d, err) != 0)
		return NULL;
	pthread_mutex_lock(&r->lock);
	struct ml_family *old = ml_registry_find(r, d->name);
	if (old) {
		pthread_mutex_unlock(&r->lock);
		if (same_shape(&old->desc, d))
			return old;
		ml_err_set(err, ML_EINVAL,
		           "metric family %s: already registered with another type, labels or "
		           "buckets",
		           d->name);
		return NULL;
	}
	f = ml_calloc(1, sizeof(*f));
	if (!f)
		goto fail;
	f->desc = *d;
	f->desc.label_names = NULL;
	f->desc.buckets = NULL;
	f->desc.name = NULL;
	f->desc.help = NULL;
	f->desc.n_labels = 0;
	f->desc.n_buckets = 0;
	if (!(f->desc.name = dup_cstr(d->name)) || !(f->desc.help = dup_cstr(d->help)))
		goto fail;
	if (d->n_labels) {
		const char **names = ml_calloc(d->n_labels, sizeof(*names));
		if (!names)
			goto fail;
		f->desc.label_names = names;
		for (size_t i = 0; i < d->n_labels; i++) {
			if (!(names[i] = dup_cstr(d->label_names[i])))
				goto fail;
			f->desc.n_labels = i + 1;
		}
	}
	if (d->type == ML_METRIC_HISTOGRAM && d->n_buckets) {
		double *b = ml_malloc(d->n_buckets * sizeof(*b));
		if (!b)
			goto fail;
		memcpy(b, d->buckets, d->n_buckets * sizeof(*b));
		f->desc.buckets = b;
		f->desc.n_buckets = d->n_buckets;
	}
	if (pthread_mutex_init(&f->list_lock, NULL) != 0)
		goto fail;
	list_lock_ok = true;
	for (; stripes_ok < ML_REG_STRIPES; stripes_ok++)
		if (pthread_mutex_init(&f->stripes[stripes_ok].lock, NULL) != 0)
			goto fail;
	for (size_t i = 0; i < ML_REG_STRIPES; i++)
		atomic_init(&f->stripes[i].table, NULL);
	atomic_init(&f->head, NULL);
	atomic_init(&f->next, NULL);
	atomic_init(&f->only, NULL);
	atomic_init(&f->n_children, 0);
	if (r->tail)
		atomic_store_explicit(&r->tail->next, f, memory_order_release);
	else
		atomic_store_explicit(&r->head, f, memory_order_release);
	r->tail = f;
	pthread_mutex_unlock(&r->lock);
	return f;
fail:
	pthread_mutex_unlock(&r->lock);
	if (f) {
		for (size_t i = 0; i < stripes_ok; i++)
			pthread_mutex_destroy(&f->stripes[i].lock);
		if (list_lock_ok)
			pthread_mutex_destroy(&f->list_lock);
		for (size_t i = 0; i < f->desc.n_labels; i++)
			ml_free((char *)f->desc.label_names[i]);
		ml_free((void *)f->desc.label_names);
		ml_free((void *)f->desc.buckets);
		ml_free((char *)f->desc.name);
		ml_free((char *)f->desc.help);
		ml_free(f);
	}
	ml_err_set(err, ML_ENOMEM, "metric family %s: out of memory", d->name);
	return NULL;
}

struct ml_family *ml_registry_find(struct ml_registry *r, const char *name)
{
	for (struct ml_family *f = atomic_load_explicit(&r->head, memory_order_acquire); f;
	     f = atomic_load_explicit(&f->next, memory_order_acquire))
		if (strcmp(f->desc.name, name) == 0)
			return f;
	return NULL;
}

const struct ml_family_desc *ml_family_describe(const struct ml_family *f)
{
	return &f->desc;
}

static uint64_t hash_values(const struct ml_str *values, size_t n)
{
	uint64_t h = ML_REG_SEED;
	for (size_t i = 0; i < n; i++)
		h = XXH3_64bits_withSeed(values[i].p, values[i].n, h ^ (uint64_t)values[i].n);
	return h;
}

static bool values_eq(const struct ml_child *c, const struct ml_str *values, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!ml_str_eq(c->values[i], values[i]))
			return false;
	return true;
}

/* Lock-free probe of one table (NULL = empty). */
static struct ml_child *table_find(const struct ml_table *t, uint64_t h,
                                   const struct ml_str *values, size_t n)
{
	if (!t)
		return NULL;
	size_t mask = t->cap - 1;
	for (size_t i = (size_t)(h >> 4) & mask;; i = (i + 1) & mask) {
		struct ml_child *c = atomic_load_explicit(&t->slots[i], memory_order_acquire);
		if (!c)
			return NULL;
		if (c->hash == h && values_eq(c, values, n))
			return c;
	}
}

static void table_put(struct ml_table *t, struct ml_child *c)
{
	size_t mask = t->cap - 1;
	size_t j = (size_t)(c->hash >> 4) & mask;
	while (atomic_load_explicit(&t->slots[j], memory_order_relaxed))
		j = (j + 1) & mask;
	atomic_store_explicit(&t->slots[j], c, memory_order_release);
}

/* Caller holds s->lock. Publishes c to lock-free readers. */
static int stripe_insert(struct ml_stripe *s, struct ml_child *c)
{
	struct ml_table *t = atomic_load_explicit(&s->table, memory_order_relaxed);
	if (!t || (s->n + 1) * 2 > t->cap) {
		size_t ncap = t ? t->cap * 2 : 16;
		struct ml_table *nt = ml_calloc(1, sizeof(*nt) + ncap * sizeof(nt->slots[0]));
		if (!nt)
			return ML_ENOMEM;
		nt->cap = ncap;
		nt->older = t;
		for (size_t i = 0; t && i < t->cap; i++) {
			struct ml_child *o =
			    atomic_load_explicit(&t->slots[i], memory_order_relaxed);
			if (o)
				table_put(nt, o);
		}
		table_put(nt, c);
		atomic_store_explicit(&s->table, nt, memory_order_release);
	} else {
		table_put(t, c);
	}
	s->n++;
	return 0;
}

static struct ml_child *child_new(struct ml_family *f, uint64_t h, const struct ml_str *values)
{
	size_t n = f->desc.n_labels, bytes = 0;
	for (size_t i = 0; i < n; i++)
		bytes += values[i].n;
	struct ml_child *c = ml_calloc(1, sizeof(*c) + n * sizeof(struct ml_str) + bytes);
	if (!c)
		return NULL;
	if (f->desc.type == ML_METRIC_HISTOGRAM && f->desc.n_buckets) {
		c->buckets = ml_calloc(f->desc.n_buckets, sizeof(*c->buckets));
		if (!c->buckets) {
			ml_free(c);
			return NULL;
		}
		for (size_t i = 0; i < f->desc.n_buckets; i++)
			atomic_init(&c->buckets[i], 0);
	}
	c->values = (struct ml_str *)(c + 1);
	char *p = (char *)(c->values + n);
	for (size_t i = 0; i < n; i++) {
		if (values[i].n)
			memcpy(p, values[i].p, values[i].n);
		c->values[i] = ml_str_make(p, values[i].n);
		p += values[i].n;
	}
	c->hash = h;
	c->family = f;
	atomic_init(&c->next, NULL);
	atomic_init(&c->value, double_to_bits(0.0));
	atomic_init(&c->count, 0);
	atomic_init(&c->sum, double_to_bits(0.0));
	return c;
}

struct ml_child *ml_family_child(struct ml_family *f, const struct ml_str *values)
{
	size_t n = f->desc.n_labels;
	struct ml_child *c;
	if (n == 0) {
		c = atomic_load_explicit(&f->only, memory_order_acquire);
		if (c)
			return c;
	} else if (!values) {
		return NULL;
	}
	uint64_t h = hash_values(values, n);
	struct ml_stripe *s = &f->stripes[h & (ML_REG_STRIPES - 1)];
	c = table_find(atomic_load_explicit(&s->table, memory_order_acquire), h, values, n);
	if (c)
		return c;

	pthread_mutex_lock(&s->lock);
	c = table_find(atomic_load_explicit(&s->table, memory_order_acquire), h, values, n);
	if (c)
		goto out;
	pthread_mutex_lock(&f->list_lock);
	size_t have = atomic_load(&f->n_children);
	if (f->desc.max_children && have >= f->desc.max_children) {
		pthread_mutex_unlock(&f->list_lock);
		goto out;
	}
	c = child_new(f, h, values);
	if (c && stripe_insert(s, c) != 0) {
		ml_free(c->buckets);
		ml_free(c);
		c = NULL;
	}
	if (c) {
		if (f->tail)
			atomic_store_explicit(&f->tail->next, c, memory_order_release);
		else
			atomic_store_explicit(&f->head, c, memory_order_release);
		f->tail = c;
		atomic_store(&f->n_children, have + 1);
		if (n == 0)
			atomic_store_explicit(&f->only, c, memory_order_release);
	}
	pthread_mutex_unlock(&f->list_lock);
out:
	pthread_mutex_unlock(&s->lock);
	return c;
}

size_t ml_family_children(const struct ml_family *f)
{
	return atomic_load(&((struct ml_family *)f)->n_children);
}

void ml_child_add(struct ml_child *c, double v)
{
	if (!c)
		return;
	/* A counter only goes up (Prometheus client libraries reject a
	 * negative increment); a NaN would poison it for good. */
	if (c->family->desc.type == ML_METRIC_COUNTER && !(v >= 0))
		return;
	atomic_add_double(&c->value, v);
}

void ml_child_set(struct ml_child *c, double v)
{
	if (!c)
		return;
	atomic_store_explicit(&c->value, double_to_bits(v), memory_order_relaxed);
}

void ml_child_observe(struct ml_child *c, double v)
{
	if (!c || c->family->desc.type != ML_METRIC_HISTOGRAM)
		return;
	const double *b = c->family->desc.buckets;
	size_t lo = 0, hi = c->family->desc.n_buckets;
	/* First bucket whose upper bound is >= v (le is inclusive). */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (b[mid] >= v)
			hi = mid;
		else
			lo = mid + 1;
	}
	atomic_fetch_add(&c->count, 1);
	atomic_add_double(&c->sum, v);
	if (lo < c->family->desc.n_buckets && !isnan(v))
		atomic_fetch_add(&c->buckets[lo], 1);
}

void ml_child_add_histogram(struct ml_child *c, const uint64_t *cumulative, uint64_t count,
                            double sum)
{
	if (!c || c->family->desc.type != ML_METRIC_HISTOGRAM)
		return;
	atomic_fetch_add(&c->count, count);
	atomic_add_double(&c->sum, sum);
	uint64_t prev = 0;
	for (size_t i = 0; i < c->family->desc.n_buckets; i++) {
		uint64_t cum = cumulative[i] > prev ? cumulative[i] : prev;
		if (cum > count)
			cum = count;
		if (cum > prev)
			atomic_fetch_add(&c->buckets[i], cum - prev);
		prev = cum;
	}
}

void ml_family_on_collect(struct ml_family *f, ml_family_collect_fn fn, void *ctx)
{
	f->collect_ctx = ctx;
	f->collect = fn;
}

int ml_registry_walk(struct ml_registry *r, ml_registry_visit_fn fn, void *ctx)
{
	uint64_t *cum = NULL;
	size_t cum_cap = 0;
	int rc = 0;
	for (struct ml_family *f = atomic_load_explicit(&r->head, memory_order_acquire); f;
	     f = atomic_load_explicit(&f->next, memory_order_acquire)) {
		if (f->collect)
			f->collect(f->collect_ctx, f);
		size_t nb = f->desc.type == ML_METRIC_HISTOGRAM ? f->desc.n_buckets : 0;
		if (nb > cum_cap) {
			uint64_t *p = ml_realloc(cum, nb * sizeof(*cum));
			if (!p) {
				rc = ML_ENOMEM;
				goto fail;
			}
			cum = p;
			cum_cap = nb;
		}
		struct ml_child *c = atomic_load_explicit(&f->head, memory_order_acquire);
		if (!c) {
			if ((rc = fn(ctx, &f->desc, NULL)) != 0)
				goto fail;
			continue;
		}
		for (; c; c = atomic_load_explicit(&c->next, memory_order_acquire)) {
			struct ml_child_value v = {.label_values = c->values};
			if (f->desc.type == ML_METRIC_HISTOGRAM) {
				uint64_t run = 0;
				for (size_t i = 0; i < nb; i++) {
					run += atomic_load(&c->buckets[i]);
					cum[i] = run;
				}
				v.sum = bits_to_double(atomic_load(&c->sum));
				v.count = atomic_load(&c->count);
				if (nb && v.count < cum[nb - 1])
					v.count = cum[nb - 1];
				v.buckets = cum;
			} else {
				v.value = bits_to_double(atomic_load(&c->value));
			}
			if ((rc = fn(ctx, &f->desc, &v)) != 0)
				goto fail;
		}
	}
fail:
	ml_free(cum);
	return rc;
}
