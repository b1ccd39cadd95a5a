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

struct group {
	struct ml_labels ls;
	uint64_t hash;
	double value, mean;
	int64_t count;
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

/* The group's labels and key of a label set. */
static int group_of(struct ev *ev, struct agg_ctx *c, struct ml_labels ls, struct ml_labels *out,
                    uint64_t *key)
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
	return lb_finish(ev, &c->lb, out, key);
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
			if (c->ng == c->capg) {
				size_t cap = c->capg ? c->capg * 2 : 16;
				struct group *g = ml_realloc(c->g, cap * sizeof(*g));
				if (g == NULL)
					return ev_oom(ev);
				memset(g + c->capg, 0, (cap - c->capg) * sizeof(*g));
				c->g = g;
				c->capg = cap;
			}
			*slot = (int64_t)c->ng;
			struct group *g = &c->g[c->ng++];
			g->ls = gl;
			g->hash = ml_labels_hash(gl);
			g->value = s->v;
			g->mean = s->v;
			g->count = 1;
			g->heap.n = 0;
			switch (c->op) {
			case ML_AGG_STDVAR:
			case ML_AGG_STDDEV:
				g->value = 0;
				break;
			case ML_AGG_GROUP:
				g->value = 1;
				break;
			case ML_AGG_TOPK:
			case ML_AGG_BOTTOMK:
			case ML_AGG_QUANTILE:
				if ((rc = ev_vector_push(ev, &g->heap, s->ls, s->hash, s->v,
				                         s->src)) != 0)
					return rc;
				break;
			default:
				break;
			}
			continue;
		}
		struct group *g = &c->g[*slot];
		switch (c->op) {
		case ML_AGG_SUM:
			g->value += s->v;
			break;
		case ML_AGG_AVG:
			g->count++;
			if (isinf(g->mean)) {
				if (isinf(s->v) && (g->mean > 0) == (s->v > 0))
					break;
				if (!isinf(s->v) && !isnan(s->v))
					break;
			}
			/* Divided on each side to avoid overflow, as Prometheus does. */
			g->mean += s->v / (double)g->count - g->mean / (double)g->count;
			break;
		case ML_AGG_GROUP:
			break;
		case ML_AGG_MAX:
			if (g->value < s->v || isnan(g->value))
				g->value = s->v;
			break;
		case ML_AGG_MIN:
			if (g->value > s->v || isnan(g->value))
				g->value = s->v;
			break;
		case ML_AGG_COUNT:
		case ML_AGG_COUNT_VALUES:
			g->count++;
			break;
		case ML_AGG_STDVAR:
		case ML_AGG_STDDEV: {
			g->count++;
			double delta = s->v - g->mean;
			g->mean += delta / (double)g->count;
			g->value += delta * (s->v - g->mean);
			break;
		}
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
			return ev_fail(ev, ML_EINVAL, "unexpected aggregation");
		}
	}
	for (size_t i = 0; i < c->ng; i++) {
		struct group *g = &c->g[i];
		double v = g->value;
		switch (c->op) {
		case ML_AGG_AVG:
			v = g->mean;
			break;
		case ML_AGG_COUNT:
		case ML_AGG_COUNT_VALUES:
			v = (double)g->count;
			break;
		case ML_AGG_STDVAR:
			v = g->value / (double)g->count;
			break;
		case ML_AGG_STDDEV:
			v = sqrt(g->value / (double)g->count);
			break;
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
			break;
		}
		if ((rc = ev_vector_push(ev, out, g->ls, g->hash, v, 0)) != 0)
			return rc;
	}
	return 0;
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
