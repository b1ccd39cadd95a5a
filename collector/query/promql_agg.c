/*
 * promql_agg.c - PromQL aggregation operators: sum, min, max, avg, group,
 * stddev, stdvar, count, count_values, topk, bottomk, quantile, with by and
 * without.
 *
 * This is Prometheus 2.42's evaluator.aggregation step for step: groups come
 * out in the order their first element was seen; avg is the incremental mean
 * with its infinity rules; stddev/stdvar use Welford's method; topk/bottomk
 * keep a binary heap exactly as Go's container/heap does (so ties resolve as
 * in Prometheus) and output it sorted as sort.Sort(sort.Reverse(heap)) does;
 * without(...) also drops __name__.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "query/promql_eval_internal.h"
#include "query/promql_parse.h"

/* The running state of one group at one step for the folding ops (and count_values). */
struct acc {
	double value, mean;
	int64_t count;
};

struct group {
	struct ml_labels ls;
	uint64_t hash;
	struct acc acc;        /* the folding ops, count_values */
	struct ev_vector heap; /* topk, bottomk, quantile */
};

struct agg_ctx {
	const struct ml_node *n;
	enum ml_op op;
	bool has_param;            /* a scalar parameter is input 0 */
	struct ml_str value_label; /* count_values */
	struct ev_matrix *expr;
	struct hmap groups;
	struct group *g;
	size_t ng, capg;
	struct lbuild lb;
	struct ml_str *grouping; /* by/without labels, plus count_values' label for by */
	size_t n_grouping;
};

/* Makes c->lb the group's label set of ls. */
static int group_edit(struct ev *ev, struct agg_ctx *c, struct ml_labels ls)
{
	int rc = lb_reset(ev, &c->lb, ls);
	if (rc != 0)
		return rc;
	if (c->n->u.agg.without) {
		for (size_t i = 0; i < c->n_grouping; i++)
			lb_del(&c->lb, c->grouping[i]);
		lb_del(&c->lb, ML_STR("__name__"));
	} else {
		lb_keep(&c->lb, c->grouping, c->n_grouping);
	}
	return 0;
}

/* The group's labels and key of a label set. */
static int group_of(struct ev *ev, struct agg_ctx *c, struct ml_labels ls, struct ml_labels *out,
                    uint64_t *key)
{
	int rc = group_edit(ev, c, ls);
	return rc != 0 ? rc : lb_finish(ev, &c->lb, out, key);
}

/* container/heap with vectorByValueHeap (topk) or vectorByReverseValueHeap (bottomk) order. */
static bool heap_less(bool reverse, const struct ev_sample *a, const struct ev_sample *b)
{
	if (isnan(a->v))
		return true;
	return reverse ? a->v > b->v : a->v < b->v;
}

static void heap_swap(struct ev_sample *s, size_t i, size_t j)
{
	struct ev_sample t = s[i];
	s[i] = s[j];
	s[j] = t;
}

static void heap_up(bool rev, struct ev_sample *s, size_t j)
{
	while (j > 0) {
		size_t i = (j - 1) / 2;
		if (!heap_less(rev, &s[j], &s[i]))
			break;
		heap_swap(s, i, j);
		j = i;
	}
}

static void heap_down(bool rev, struct ev_sample *s, size_t i, size_t n)
{
	for (;;) {
		size_t j1 = 2 * i + 1;
		if (j1 >= n)
			break;
		size_t j = j1;
		if (j1 + 1 < n && heap_less(rev, &s[j1 + 1], &s[j1]))
			j = j1 + 1;
		if (!heap_less(rev, &s[j], &s[i]))
			break;
		heap_swap(s, i, j);
		i = j;
	}
}

/* sort.Reverse of the heaps' Less. */
static bool rev_topk_less(const struct ev_sample *a, const struct ev_sample *b)
{
	return heap_less(false, b, a);
}

static bool rev_bottomk_less(const struct ev_sample *a, const struct ev_sample *b)
{
	return heap_less(true, b, a);
}

static int cmp_nan_first(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;
	if (isnan(a))
		return isnan(b) ? 0 : -1;
	if (isnan(b))
		return 1;
	return a < b ? -1 : a > b;
}

/* Prometheus's quantile(): linear interpolation between the closest ranks. */
double ev_quantile(struct ev *ev, double q, double *v, size_t n)
{
	(void)ev;
	if (n == 0 || isnan(q))
		return NAN;
	if (q < 0)
		return -INFINITY;
	if (q > 1)
		return INFINITY;
	qsort(v, n, sizeof(*v), cmp_nan_first);
	double rank = q * (double)(n - 1);
	double lower = fmax(0, floor(rank));
	double upper = fmin((double)(n - 1), lower + 1);
	double weight = rank - floor(rank);
	return v[(size_t)lower] * (1 - weight) + v[(size_t)upper] * weight;
}

/* Whether op folds its group into one running value (no per-element state). */
static bool op_folds(enum ml_op op)
{
	switch (op) {
	case ML_AGG_SUM:
	case ML_AGG_AVG:
	case ML_AGG_GROUP:
	case ML_AGG_MAX:
	case ML_AGG_MIN:
	case ML_AGG_COUNT:
	case ML_AGG_STDVAR:
	case ML_AGG_STDDEV:
		return true;
	default:
		return false;
	}
}

/* Adds v to a's group, the first element when a->count is 0 (Prometheus's rules). */
static void acc_add(enum ml_op op, struct acc *a, double v)
{
	if (a->count == 0) {
		a->count = 1;
		a->value = op == ML_AGG_STDVAR || op == ML_AGG_STDDEV ? 0 : op == ML_AGG_GROUP ? 1 : v;
		a->mean = v;
		return;
	}
	switch (op) {
	case ML_AGG_SUM:
		a->value += v;
		break;
	case ML_AGG_AVG:
		a->count++;
		if (isinf(a->mean)) {
			if (isinf(v) && (a->mean > 0) == (v > 0))
				break;
			if (!isinf(v) && !isnan(v))
				break;
		}
		/* Divided on each side to avoid overflow, as Prometheus does. */
		a->mean += v / (double)a->count - a->mean / (double)a->count;
		break;
	case ML_AGG_MAX:
		if (a->value < v || isnan(a->value))
			a->value = v;
		break;
	case ML_AGG_MIN:
		if (a->value > v || isnan(a->value))
			a->value = v;
		break;
	case ML_AGG_STDVAR:
	case ML_AGG_STDDEV: {
		a->count++;
		double delta = v - a->mean;
		a->mean += delta / (double)a->count;
		a->value += delta * (v - a->mean);
		break;
	}
	default: /* group; count and count_values count */
		a->count++;
		break;
	}
}

/* A group's value for the folding ops and count_values. */
static double acc_result(enum ml_op op, const struct acc *a)
{
	switch (op) {
	case ML_AGG_AVG:
		return a->mean;
	case ML_AGG_COUNT:
	case ML_AGG_COUNT_VALUES:
		return (double)a->count;
	case ML_AGG_STDVAR:
		return a->value / (double)a->count;
	case ML_AGG_STDDEV:
		return sqrt(a->value / (double)a->count);
	default:
		return a->value;
	}
}

static int agg_step(struct ev *ev, void *vctx, struct ev_vector *in, int64_t t,
                    struct ev_vector *out)
{
	struct agg_ctx *c = vctx;
	struct ev_vector *vec = c->has_param ? &in[1] : &in[0];
	double param = c->has_param && in[0].n > 0 ? in[0].s[0].v : 0;
	int64_t k = 0;
	int rc;
	if (c->op == ML_AGG_TOPK || c->op == ML_AGG_BOTTOMK) {
		if (!(param <= 9223372036854775807.0 && param >= -9223372036854775808.0)) {
			struct ml_buf b = ML_BUF_INIT;
			ml_format_go_float(param, &b);
			ml_buf_putc(&b, 0);
			rc = ev_fail(ev, ML_EINVAL, "Scalar value %s overflows int64",
			             b.data ? (char *)b.data : "?");
			ml_buf_free(&b);
			return rc;
		}
		k = (int64_t)param;
		if (k < 1)
			return 0;
	}
	if (c->op == ML_AGG_COUNT_VALUES && !ev_valid_label_name(c->value_label))
		return ev_fail(ev, ML_EINVAL, "invalid label name \"%.*s\"", (int)c->value_label.n,
		               c->value_label.p);
	bool rev = c->op == ML_AGG_BOTTOMK;
	hmap_clear(&c->groups);
	c->ng = 0;
	for (size_t i = 0; i < vec->n; i++) {
		const struct ev_sample *s = &vec->s[i];
		struct ml_labels gl = c->expr->s[s->src].sig;
		uint64_t key = c->expr->s[s->src].aux;
		if (c->op == ML_AGG_COUNT_VALUES) {
			char num[400];
			ev_format_float_f(s->v, num, sizeof(num));
			struct ml_labels m;
			uint64_t mh;
			if ((rc = lb_reset(ev, &c->lb, s->ls)) != 0 ||
			    (rc = lb_set(ev, &c->lb, c->value_label,
			                 ml_str_make(num, strlen(num)))) != 0 ||
			    (rc = lb_finish(ev, &c->lb, &m, &mh)) != 0 ||
			    (rc = group_of(ev, c, m, &gl, &key)) != 0)
				return rc;
		}
		bool ins;
		int64_t *slot = hmap_put(&c->groups, key, &ins);
		if (slot == NULL)
			return ev_oom(ev);
		if (ins) {
			if (ml_grow(&c->g, &c->capg, c->ng + 1, sizeof(*c->g)) != 0)
				return ev_oom(ev);
			*slot = (int64_t)c->ng;
			struct group *g = &c->g[c->ng++];
			g->ls = gl;
			g->hash = ml_labels_hash(gl);
			g->acc.count = 0;
			g->heap.n = 0;
		}
		struct group *g = &c->g[*slot];
		switch (c->op) {
		case ML_AGG_TOPK:
		case ML_AGG_BOTTOMK:
			if ((int64_t)g->heap.n < k || heap_less(rev, &g->heap.s[0], s) ||
			    isnan(g->heap.s[0].v)) {
				/* heap[0].V < s.V (topk) or > (bottomk): heap_less without its NaN
				 * rule. */
				if ((int64_t)g->heap.n == k) {
					if (k == 1) {
						g->heap.s[0] = *s;
						break;
					}
					/* heap.Pop: swap the root to the end, fix the rest, drop
					 * it. */
					heap_swap(g->heap.s, 0, g->heap.n - 1);
					heap_down(rev, g->heap.s, 0, g->heap.n - 1);
					g->heap.n--;
				}
				if ((rc = ev_vector_push(ev, &g->heap, s->ls, s->hash, s->v,
				                         s->src)) != 0)
					return rc;
				heap_up(rev, g->heap.s, g->heap.n - 1);
			}
			break;
		case ML_AGG_QUANTILE:
			if ((rc = ev_vector_push(ev, &g->heap, s->ls, s->hash, s->v, s->src)) != 0)
				return rc;
			break;
		default:
			acc_add(c->op, &g->acc, s->v);
			break;
		}
	}
	for (size_t i = 0; i < c->ng; i++) {
		struct group *g = &c->g[i];
		double v;
		switch (c->op) {
		case ML_AGG_TOPK:
		case ML_AGG_BOTTOMK:
			if ((rc = ev_stable_sort(ev, g->heap.s, g->heap.n,
			                         rev ? rev_bottomk_less : rev_topk_less)) != 0)
				return rc;
			for (size_t j = 0; j < g->heap.n; j++)
				if ((rc = ev_vector_push(ev, out, g->heap.s[j].ls,
				                         g->heap.s[j].hash, g->heap.s[j].v, 0)) !=
				    0)
					return rc;
			continue;
		case ML_AGG_QUANTILE: {
			double *vals = ml_malloc(g->heap.n * sizeof(double));
			if (vals == NULL)
				return ev_oom(ev);
			for (size_t j = 0; j < g->heap.n; j++)
				vals[j] = g->heap.s[j].v;
			v = ev_quantile(ev, param, vals, g->heap.n);
			ml_free(vals);
			break;
		}
		default:
			v = acc_result(c->op, &g->acc);
			break;
		}
		if ((rc = ev_vector_push(ev, out, g->ls, g->hash, v, 0)) != 0)
			return rc;
	}
	return 0;
}

/* ---- series-at-a-time folding -------------------------------------------------
 *
 * A folding aggregation (sum, avg, count, min, max, group, stddev, stdvar)
 * of a selector or range function takes its argument one series at a time
 * (ev_eval_sink) and adds each point to its group's accumulator for that
 * step, so the argument's matrix is never held: memory is groups x steps.
 * Every step still sees its elements in series order, so values are the
 * ones agg_step gives; the groups are put out in the order ev_range_eval
 * would give them: by the first step they have an element at, then by the
 * first series with an element at that step.
 */

struct fgroup {
	struct ml_labels ls;
	uint64_t hash;
	size_t first_step;
	uint64_t first_src;
	struct acc *acc; /* one per step; count 0: no element at that step */
	size_t np;       /* steps with an element */
};

struct fold {
	struct agg_ctx *c;
	size_t steps;
	struct fgroup *g;
	size_t ng, capg;
	uint64_t nsrc; /* series seen */
};

static int fold_put(struct ev *ev, void *vctx, const struct ev_series *s)
{
	struct fold *f = vctx;
	struct agg_ctx *c = f->c;
	uint64_t key;
	int rc = ev_check_deadline(ev);
	if (rc != 0 || (rc = group_edit(ev, c, s->ls)) != 0 || (rc = lb_hash(ev, &c->lb, &key)) != 0)
		return rc;
	bool ins;
	int64_t *slot = hmap_put(&c->groups, key, &ins);
	if (slot == NULL)
		return ev_oom(ev);
	if (ins) {
		if (ml_grow(&f->g, &f->capg, f->ng + 1, sizeof(*f->g)) != 0)
			return ev_oom(ev);
		struct fgroup *g = &f->g[f->ng];
		g->first_step = SIZE_MAX;
		g->acc = ml_calloc(f->steps, sizeof(*g->acc));
		if (g->acc == NULL)
			return ev_oom(ev);
		f->ng++;
		*slot = (int64_t)(f->ng - 1);
		if ((rc = lb_finish(ev, &c->lb, &g->ls, &g->hash)) != 0)
			return rc;
	}
	struct fgroup *g = &f->g[*slot];
	for (size_t i = 0; i < s->n; i++) {
		size_t step = (size_t)((s->pts[i].t_ms - ev->start) / ev->interval);
		g->np += g->acc[step].count == 0;
		acc_add(c->op, &g->acc[step], s->pts[i].v);
		if (step < g->first_step) {
			g->first_step = step;
			g->first_src = f->nsrc;
		}
	}
	f->nsrc++;
	return 0;
}

static int cmp_fgroup(const void *x, const void *y)
{
	const struct fgroup *a = x, *b = y;
	if (a->first_step != b->first_step)
		return a->first_step < b->first_step ? -1 : 1;
	return a->first_src < b->first_src ? -1 : a->first_src > b->first_src;
}

static int fold_stream(struct ev *ev, struct agg_ctx *c, struct ev_matrix *out)
{
	struct fold f = {.c = c, .steps = ev_steps(ev)};
	struct ev_sink sink = {fold_put, &f};
	int rc = ev_eval_sink(ev, c->n->u.agg.expr, &sink);
	if (rc != 0)
		goto done;
	if (f.ng > 1)
		qsort(f.g, f.ng, sizeof(*f.g), cmp_fgroup);
	int64_t held = 0;
	for (size_t i = 0; i < f.ng; i++)
		held += (int64_t)f.g[i].np;
	if (ev->cur_samples + held > ev->max_samples) {
		rc = ev_fail(ev, ML_ETOOBIG,
		             "query processing would load too many samples into memory in query "
		             "execution");
		goto done;
	}
	out->s = ml_arena_alloc(ev->a, (f.ng ? f.ng : 1) * sizeof(*out->s));
	if (out->s == NULL) {
		rc = ev_oom(ev);
		goto done;
	}
	for (size_t i = 0; i < f.ng; i++) {
		const struct fgroup *g = &f.g[i];
		struct ev_series *o = &out->s[i];
		memset(o, 0, sizeof(*o));
		o->ls = g->ls;
		o->hash = g->hash;
		o->pts = ml_arena_alloc(ev->a, (g->np ? g->np : 1) * sizeof(*o->pts));
		if (o->pts == NULL) {
			rc = ev_oom(ev);
			goto done;
		}
		for (size_t j = 0; j < f.steps; j++) {
			if (g->acc[j].count == 0)
				continue;
			o->pts[o->n].t_ms = ev->start + (int64_t)j * ev->interval;
			o->pts[o->n].v = acc_result(c->op, &g->acc[j]);
			o->n++;
		}
	}
	out->n = f.ng;
	ev->cur_samples += held;
done:
	for (size_t i = 0; i < f.ng; i++)
		ml_free(f.g[i].acc);
	ml_free(f.g);
	if (rc != 0)
		out->n = 0;
	return rc;
}

int ev_aggregate(struct ev *ev, const struct ml_node *n, struct ev_matrix *out)
{
	struct agg_ctx c;
	struct ev_matrix in[2] = {{0}, {0}};
	int rc;
	memset(&c, 0, sizeof(c));
	c.n = n;
	c.op = n->u.agg.op;
	const struct ml_node *param = n->u.agg.param ? ev_unparen(n->u.agg.param) : NULL;
	c.n_grouping = n->u.agg.grouping.n;
	c.grouping = ml_arena_calloc(ev->a, c.n_grouping + 1, sizeof(*c.grouping));
	if (c.grouping == NULL)
		return ev_oom(ev);
	for (size_t i = 0; i < c.n_grouping; i++)
		c.grouping[i] = n->u.agg.grouping.items[i];
	if (param != NULL && param->kind == ML_NODE_STRING) {
		c.value_label = param->u.string;
		/* count_values by (...) also groups by its own label. */
		if (!n->u.agg.without)
			c.grouping[c.n_grouping++] = c.value_label;
	} else if (param != NULL) {
		c.has_param = true;
	}
	if (!c.has_param && c.value_label.n == 0 && op_folds(c.op) && ev_streams(n->u.agg.expr)) {
		rc = fold_stream(ev, &c, out);
		goto done;
	}
	struct ev_matrix *expr = c.has_param ? &in[1] : &in[0];
	c.expr = expr;
	if (c.has_param && (rc = ev_eval(ev, param, &in[0])) != 0)
		goto done;
	if ((rc = ev_eval(ev, n->u.agg.expr, expr)) != 0)
		goto done;
	/* Each series' group (labels and key) is fixed: work it out once. */
	for (size_t i = 0; i < expr->n; i++)
		if ((rc = group_of(ev, &c, expr->s[i].ls, &expr->s[i].sig, &expr->s[i].aux)) != 0)
			goto done;
	rc = ev_range_eval(ev, in, c.has_param ? 2 : 1, agg_step, &c, out);
done:
	for (size_t i = 0; i < c.capg; i++)
		ev_vector_free(&c.g[i].heap);
	ml_free(c.g);
	hmap_free(&c.groups);
	lb_free(&c.lb);
	return rc;
}
