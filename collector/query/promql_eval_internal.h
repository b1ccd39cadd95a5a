/*
 * promql_eval_internal.h - what the parts of the PromQL evaluator share:
 * the evaluator state, intermediate values, label-set building, the
 * step-by-step driver (Prometheus's rangeEval) and the entry points of
 * promql_binop.c, promql_agg.c and promql_funcs_eval.c.
 *
 * Every intermediate value lives in the evaluation's arena and dies with the
 * result; scratch buffers reused across steps are heap memory owned by the
 * function that made them.
 */
#ifndef ML_QUERY_PROMQL_EVAL_INTERNAL_H
#define ML_QUERY_PROMQL_EVAL_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/error.h"
#include "model/labels.h"
#include "model/sample.h"
#include "query/promql_ast.h"
#include "query/promql_functions.h"

struct ml_tsdb;

/* The state of one evaluation (Prometheus's evaluator). */
struct ev {
	struct ml_tsdb *db;
	struct ml_arena *a;
	struct ml_err *err;
	int64_t start, end, interval; /* the steps of this (sub)evaluation */
	int64_t q_start, q_end;       /* the query's, for @ start() / end() */
	int64_t lookback;
	int64_t no_step_subq;
	int64_t max_samples;
	int64_t cur_samples;    /* samples held in memory now (approximately Prometheus's count) */
	uint64_t total_samples; /* samples loaded from the store */
	int64_t deadline_ns;    /* CLOCK_MONOTONIC; 0 = none */
	unsigned tick;
};

/* One series of an intermediate matrix: points at step times (or raw samples). */
struct ev_series {
	struct ml_labels ls;
	uint64_t hash; /* ml_labels_hash(ls) */
	struct ml_sample *pts;
	size_t n;
	uint64_t aux;         /* per-node helper: grouping key or match signature hash */
	struct ml_labels sig; /* per-node helper: match signature */
};

struct ev_matrix {
	struct ev_series *s;
	size_t n;
};

/* One element of a vector at one step. */
struct ev_sample {
	struct ml_labels ls;
	uint64_t hash;
	double v;
	int64_t t;
	uint32_t src; /* index of the input series it came from */
};

/* A growable vector (heap memory, reused across steps). */
struct ev_vector {
	struct ev_sample *s;
	size_t n, cap;
};

int ev_vector_push(struct ev *ev, struct ev_vector *v, struct ml_labels ls, uint64_t hash,
                   double val, uint32_t src);
void ev_vector_free(struct ev_vector *v);

/* Sets an error (always returns code). */
int ev_fail(struct ev *ev, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int ev_oom(struct ev *ev);
/* The timeout check; call between series and steps. Returns 0 or ML_PROMQL_ETIMEOUT. */
int ev_check_deadline(struct ev *ev);
/* Accounts n more samples; ML_ETOOBIG over the limit. */
int ev_add_samples(struct ev *ev, int64_t n);

/* ---- label sets -------------------------------------------------------- */

/* A label set being edited: sorted by name, names and values point elsewhere. */
struct lbuild {
	struct ml_label *l;
	size_t n, cap;
	uint8_t *scratch; /* lb_hash's encoding buffer */
	size_t scratch_cap;
};

int lb_reset(struct ev *ev, struct lbuild *b, struct ml_labels ls);
/* Sets name=value; an empty value deletes. */
int lb_set(struct ev *ev, struct lbuild *b, struct ml_str name, struct ml_str value);
void lb_del(struct lbuild *b, struct ml_str name);
/* Keeps only the listed names. */
void lb_keep(struct lbuild *b, const struct ml_str *names, size_t n);
/* Encodes b into the arena. */
int lb_finish(struct ev *ev, const struct lbuild *b, struct ml_labels *out, uint64_t *hash);
/* The hash lb_finish would give, without allocating in the arena. */
int lb_hash(struct ev *ev, struct lbuild *b, uint64_t *hash);
void lb_free(struct lbuild *b);

/* ls without __name__ (cached per input hash inside a node through struct lcache). */
struct lcache {
	uint64_t *keys;
	struct ml_labels *vals;
	uint64_t *hashes;
	size_t cap, n;
};
int ev_drop_name(struct ev *ev, struct lcache *c, struct ml_labels ls, uint64_t hash,
                 struct ml_labels *out, uint64_t *out_hash);
bool lcache_get(const struct lcache *c, uint64_t key, struct ml_labels *out, uint64_t *hash);
int lcache_put(struct lcache *c, uint64_t key, struct ml_labels v, uint64_t hash);
void lcache_free(struct lcache *c);

/* Prometheus's labels.String(): {__name__="x", a="b"}. Appends to buf of size n. */
void ev_labels_str(struct ml_labels ls, char *buf, size_t n);
/* Whether s is a valid label name ([a-zA-Z_][a-zA-Z0-9_]*). */
bool ev_valid_label_name(struct ml_str s);
/* The empty label set. */
extern const struct ml_labels ev_no_labels;

/* ---- hash set / map keyed by 64-bit hashes ------------------------------ */

struct hmap {
	uint64_t *keys;
	int64_t *vals;
	uint8_t *used;
	size_t cap, n;
};
/* Returns the slot value pointer for key, inserting (with *inserted) when absent; NULL on ENOMEM.
 */
int64_t *hmap_put(struct hmap *m, uint64_t key, bool *inserted);
int64_t *hmap_get(const struct hmap *m, uint64_t key);
void hmap_clear(struct hmap *m);
void hmap_free(struct hmap *m);

/* ---- evaluation --------------------------------------------------------- */

/* Evaluates n into a matrix of points at this evaluator's steps (or raw samples for ranges). */
int ev_eval(struct ev *ev, const struct ml_node *n, struct ev_matrix *out);

/*
 * The step driver: for every step t, hands fn the vectors of the inputs at t
 * (in[i] holds the elements of inputs[i] with a point at t, src = their
 * series index) and collects what fn appends to out into output series.
 * Checks that no step's output has two equal label sets.
 */
typedef int (*ev_step_fn)(struct ev *ev, void *ctx, struct ev_vector *in, int64_t t,
                          struct ev_vector *out);
int ev_range_eval(struct ev *ev, struct ev_matrix *inputs, size_t n_inputs, ev_step_fn fn,
                  void *ctx, struct ev_matrix *out);

/* The number of steps. */
static inline size_t ev_steps(const struct ev *ev)
{
	return (size_t)((ev->end - ev->start) / ev->interval) + 1;
}

/* Binary expressions (promql_binop.c). */
int ev_binary(struct ev *ev, const struct ml_node *n, struct ev_matrix *out);
/* Aggregations (promql_agg.c). */
int ev_aggregate(struct ev *ev, const struct ml_node *n, struct ev_matrix *out);
/* Function calls (promql_funcs_eval.c). */
int ev_call(struct ev *ev, const struct ml_node *n, struct ev_matrix *out);

/* Selecting series (promql_eval.c): the node's label sets and samples. */
struct ev_selected {
	struct ml_labels ls;
	uint64_t hash;
	struct ml_sample *s; /* without staleness markers when asked */
	size_t n;
};
int ev_select(struct ev *ev, const struct ml_node *vs, int64_t mint, int64_t maxt,
              struct ev_selected **out, size_t *n_out);
/*
 * The same series one at a time, for evaluations that consume a series and
 * keep only their result (selectors at steps, range functions): memory then
 * holds one series' samples instead of all of them. ev_select_next fills e
 * (labels copied into the arena; e->s points into the store's buffer, read
 * only, valid until the next call) and returns 1, 0 at the end, or an error.
 */
struct ev_select_it {
	struct ml_tsdb_series_set *set;
	struct ml_matcher **ms;
};
int ev_select_open(struct ev *ev, const struct ml_node *vs, int64_t mint, int64_t maxt,
                   struct ev_select_it *it);
int ev_select_next(struct ev *ev, struct ev_select_it *it, struct ev_selected *e);
void ev_select_close(struct ev_select_it *it);
/* Room for one more series in m (arena-allocated, doubling; *cap its capacity). */
int ev_matrix_reserve(struct ev *ev, struct ev_matrix *m, size_t *cap);
/* The reference time of a selector at step t: @ time or t, minus offset. */
int64_t ev_ref_time(const struct ev *ev, enum ml_at_kind at, int64_t at_ms, int64_t offset,
                    int64_t t);
/* Evaluates a subquery node with a child evaluator. */
int ev_subquery(struct ev *ev, const struct ml_node *sq, struct ev_matrix *out);
/* A vector selector at every step; with sample_times the value is the sample's timestamp in s. */
int ev_vector_selector(struct ev *ev, const struct ml_node *vs, bool sample_times,
                       struct ev_matrix *out);

/*
 * Series-at-a-time evaluation. Vector selectors and range functions compute
 * each output series from one stored series; instead of collecting them into
 * a matrix they can hand each one to a sink as it is made (an aggregation
 * then folds it into its groups and the matrix is never held). put gets a
 * series whose labels live in the arena and whose points are only valid
 * during the call; it returns 0 or an error that ends the evaluation.
 */
struct ev_sink {
	int (*put)(struct ev *ev, void *ctx, const struct ev_series *s);
	void *ctx;
};
/* The sink that appends to a matrix (points copied into the arena). */
struct ev_matrix_sink {
	struct ev_matrix *m;
	size_t cap;
};
int ev_matrix_sink_put(struct ev *ev, void *ctx, const struct ev_series *s);
/* Empties out and makes sink a matrix sink into it (ms its state). */
int ev_matrix_sink_init(struct ev *ev, struct ev_matrix *out, struct ev_matrix_sink *ms,
                        struct ev_sink *sink);
/* Whether n (without parentheses) can be evaluated into a sink. */
bool ev_streams(const struct ml_node *n);
/* Evaluates such an n into sink; the series come in the order ev_eval would give them. */
int ev_eval_sink(struct ev *ev, const struct ml_node *n, const struct ev_sink *sink);
/* The range-function calls among them (promql_funcs_eval.c). */
bool ev_call_streams(const struct ml_node *n);
int ev_call_sink(struct ev *ev, const struct ml_node *n, const struct ev_sink *sink);

/* Go's sort.Sort on small inputs is a stable insertion sort; this is a stable sort. */
typedef bool (*ev_less_fn)(const struct ev_sample *a, const struct ev_sample *b);
int ev_stable_sort(struct ev *ev, struct ev_sample *s, size_t n, ev_less_fn less);

/* Prometheus's quantile() over v[0..n) (sorts v); NaN for n == 0. */
double ev_quantile(struct ev *ev, double q, double *v, size_t n);

/* strconv.FormatFloat(v, 'f', -1, 64) into buf (NUL-terminated). */
void ev_format_float_f(double v, char *buf, size_t n);

/* Unwraps parentheses. */
static inline const struct ml_node *ev_unparen(const struct ml_node *n)
{
	while (n->kind == ML_NODE_PAREN)
		n = n->u.paren;
	return n;
}

#endif
