/*
 * registry.h - metric families kept in process memory: meshlens's own health
 * metrics and the aggregates derived from spans (Istio's standard metrics,
 * span metrics, the service graph).
 *
 * A family has a name, a type (counter, gauge or histogram), help text, a
 * fixed list of label names and, for a histogram, fixed bucket upper bounds.
 * A child is one combination of label values; it is created on first use and
 * lives as long as its family (families live as long as the registry).
 *
 * Threads: ml_family_child() may be called from any thread (a striped lock
 * guards the child table); updates of a child are lock-free (atomics), as in
 * Prometheus's client libraries. Readers walk a registry with
 * ml_registry_walk(); each value is read atomically, a histogram's buckets,
 * sum and count are read one after the other (a scrape may see an
 * observation in _count and not yet in a bucket, as with client_golang).
 *
 * Two users read a registry: the `/metrics` exposition (exporters/) and the
 * aggregation flush that appends the derived families to the TSDB every
 * --aggregation.interval (aggregate/).
 */
#ifndef ML_MODEL_REGISTRY_H
#define ML_MODEL_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "model/sample.h"
#include "model/span.h"

struct ml_registry;
struct ml_family;
struct ml_child;

/* What a family is. All strings are copied by ml_registry_add(). */
struct ml_family_desc {
	const char *name;              /* metric name as exposed; counters end in _total */
	enum ml_metric_type type;      /* ML_METRIC_COUNTER, ML_METRIC_GAUGE or ML_METRIC_HISTOGRAM */
	const char *help;              /* one line, no newline */
	const char *const *label_names; /* n_labels valid Prometheus label names, no __name__ */
	size_t n_labels;
	const double *buckets;         /* histogram: strictly ascending finite upper bounds, no +Inf */
	size_t n_buckets;
	size_t max_children;           /* 0 = unbounded; else ml_family_child() returns NULL beyond it */
};

struct ml_registry *ml_registry_create(void);
void ml_registry_destroy(struct ml_registry *r);

/*
 * Registers a family, or returns the family already registered under that
 * name if its type, label names and buckets are the same. NULL with err set
 * (ML_EINVAL naming the family, ML_ENOMEM) otherwise.
 */
struct ml_family *ml_registry_add(struct ml_registry *r, const struct ml_family_desc *d, struct ml_err *err);

/* The family registered under name, or NULL. */
struct ml_family *ml_registry_find(struct ml_registry *r, const char *name);

/*
 * The child for label values values[0..n_labels) (in the order of the
 * family's label names; copied on creation), created if new. NULL when the
 * family is at max_children (the caller counts the drop) or on ENOMEM.
 * A family without labels has one child: pass values = NULL.
 */
struct ml_child *ml_family_child(struct ml_family *f, const struct ml_str *values);

/* Number of children of a family. */
size_t ml_family_children(const struct ml_family *f);

/* The family's description (the registry's copies; valid as long as the registry). */
const struct ml_family_desc *ml_family_describe(const struct ml_family *f);

/* Counter (v >= 0) or gauge: value += v. */
void ml_child_add(struct ml_child *c, double v);
/* Gauge: value = v. Also seeds a counter (e.g. from the TSDB after a restart). */
void ml_child_set(struct ml_child *c, double v);
/* Histogram: one observation of v (count += 1, sum += v, its bucket += 1). */
void ml_child_observe(struct ml_child *c, double v);
/*
 * Histogram: adds a whole distribution at once. cumulative[0..n_buckets) are
 * cumulative bucket counts as exposed (le=bound), count is the +Inf bucket.
 * Used to seed a histogram after a restart and to merge pre-aggregated data.
 */
void ml_child_add_histogram(struct ml_child *c, const uint64_t *cumulative, uint64_t count, double sum);

/*
 * Called at the start of every ml_registry_walk() for the family it was set
 * on, so values that are only known when asked (process_* gauges, store
 * size, active series) can be set just in time. fn must not walk the registry.
 */
typedef void (*ml_family_collect_fn)(void *ctx, struct ml_family *f);
void ml_family_on_collect(struct ml_family *f, ml_family_collect_fn fn, void *ctx);

/* One child as a walk sees it. Pointers are valid during the callback only. */
struct ml_child_value {
	const struct ml_str *label_values; /* n_labels of the family */
	double value;                      /* counter, gauge */
	const uint64_t *buckets;           /* histogram: cumulative counts, n_buckets of them */
	uint64_t count;                    /* histogram: the +Inf bucket */
	double sum;                        /* histogram */
};

/*
 * Calls fn for every child of every family: families in registration order,
 * children in creation order; a family with no children is visited once with
 * v == NULL (so the exposition can still print HELP and TYPE). A non-zero
 * return from fn stops the walk and is returned.
 */
typedef int (*ml_registry_visit_fn)(void *ctx, const struct ml_family_desc *f, const struct ml_child_value *v);
int ml_registry_walk(struct ml_registry *r, ml_registry_visit_fn fn, void *ctx);

#endif
