/*
 * promql_binop.c - PromQL binary operators: arithmetic, comparisons (filter
 * and bool) and the set operators and/or/unless, between scalars and
 * vectors, with on/ignoring matching and group_left/group_right.
 *
 * This follows Prometheus 2.42's VectorBinop, VectorAnd/Or/Unless,
 * VectorscalarBinop, resultMetric and shouldDropMetricName: arithmetic
 * (+ - * / % ^, not atan2) drops the metric name, a filtering comparison
 * keeps it, a bool comparison drops it; one-to-one matching with on(...)
 * keeps only the on labels. Values use C's fmod/pow/atan2, whose special
 * cases are those of Go's math.Mod/Pow/Atan2 (x/0 is ±Inf or NaN).
 */
#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "query/promql_eval_internal.h"

struct binop_ctx {
	const struct ml_node *n;
	enum ml_op op;
	bool return_bool;
	const struct ml_vector_matching *vm;
	struct ev_matrix *lhs, *rhs;
	struct lcache dmn;    /* drop-name cache */
	struct lcache result; /* resultMetric cache, keyed by both label sets */
	struct hmap sigs;     /* signature -> index in the other side's vector */
	struct hmap matched;  /* signatures (or signature+metric) already in the output */
	struct lbuild lb;
};

static bool drops_name(enum ml_op op)
{
	switch (op) {
	case ML_OP_ADD:
	case ML_OP_SUB:
	case ML_OP_MUL:
	case ML_OP_DIV:
	case ML_OP_POW:
	case ML_OP_MOD:
		return true;
	default:
		return false;
	}
}

/* vectorElemBinop: the value and whether a comparison holds. */
static double elem_binop(enum ml_op op, double l, double r, bool *keep)
{
	*keep = true;
	switch (op) {
	case ML_OP_ADD:
		return l + r;
	case ML_OP_SUB:
		return l - r;
	case ML_OP_MUL:
		return l * r;
	case ML_OP_DIV:
		return l / r;
	case ML_OP_POW:
		return pow(l, r);
	case ML_OP_MOD:
		return fmod(l, r);
	case ML_OP_ATAN2:
		return atan2(l, r);
	case ML_OP_EQL:
		*keep = l == r;
		return l;
	case ML_OP_NEQ:
		*keep = l != r;
		return l;
	case ML_OP_GTR:
		*keep = l > r;
		return l;
	case ML_OP_LSS:
		*keep = l < r;
		return l;
	case ML_OP_GTE:
		*keep = l >= r;
		return l;
	case ML_OP_LTE:
		*keep = l <= r;
		return l;
	default:
		*keep = false;
		return NAN;
	}
}

static int scalar_scalar(struct ev *ev, void *vctx, struct ev_vector *in, int64_t t,
                         struct ev_vector *out)
{
	struct binop_ctx *c = vctx;
	if (in[0].n == 0 || in[1].n == 0)
		return 0;
	bool keep;
	double v = elem_binop(c->op, in[0].s[0].v, in[1].s[0].v, &keep);
	if (ml_op_is_comparison(c->op))
		v = keep ? 1 : 0;
	return ev_vector_push(ev, out, ev_no_labels, in[0].s[0].hash, v, 0);
}

static int vector_scalar(struct ev *ev, struct binop_ctx *c, struct ev_vector *vec, double scalar,
                         bool swap, struct ev_vector *out)
{
	for (size_t i = 0; i < vec->n; i++) {
		struct ev_sample *s = &vec->s[i];
		double lv = s->v, rv = scalar;
		if (swap) {
			lv = scalar;
			rv = s->v;
		}
		bool keep;
		double v = elem_binop(c->op, lv, rv, &keep);
		/* A comparison keeps the vector element's value, whichever side it is on. */
		if (ml_op_is_comparison(c->op) && swap)
			v = rv;
		if (c->return_bool) {
			v = keep ? 1 : 0;
			keep = true;
		}
		if (!keep)
			continue;
		struct ml_labels ls = s->ls;
		uint64_t h = s->hash;
		if (drops_name(c->op) || c->return_bool) {
			int rc = ev_drop_name(ev, &c->dmn, s->ls, s->hash, &ls, &h);
			if (rc != 0)
				return rc;
		}
		int rc = ev_vector_push(ev, out, ls, h, v, s->src);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static int vec_scalar_step(struct ev *ev, void *vctx, struct ev_vector *in, int64_t t,
                           struct ev_vector *out)
{
	struct binop_ctx *c = vctx;
	if (in[1].n == 0)
		return 0;
	return vector_scalar(ev, c, &in[0], in[1].s[0].v, false, out);
}

static int scalar_vec_step(struct ev *ev, void *vctx, struct ev_vector *in, int64_t t,
                           struct ev_vector *out)
{
	struct binop_ctx *c = vctx;
	if (in[0].n == 0)
		return 0;
	return vector_scalar(ev, c, &in[1], in[0].s[0].v, true, out);
}

/* Labels used for matching: only the on(...) labels, or all but ignoring(...) and __name__. */
static int match_labels(struct ev *ev, struct lbuild *b, const struct ml_vector_matching *vm,
                        struct ml_labels ls, struct ml_labels *out, uint64_t *hash)
{
	int rc = lb_reset(ev, b, ls);
	if (rc != 0)
		return rc;
	if (vm->on) {
		lb_keep(b, vm->labels.items, vm->labels.n);
	} else {
		for (size_t i = 0; i < vm->labels.n; i++)
			lb_del(b, vm->labels.items[i]);
		lb_del(b, ML_STR("__name__"));
	}
	return lb_finish(ev, b, out, hash);
}

static int prepare_signatures(struct ev *ev, struct binop_ctx *c, struct ev_matrix *m)
{
	for (size_t i = 0; i < m->n; i++) {
		int rc = match_labels(ev, &c->lb, c->vm, m->s[i].ls, &m->s[i].sig, &m->s[i].aux);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static uint64_t mix(uint64_t a, uint64_t b)
{
	return (a ^ (b + 0x9E3779B97F4A7C15ULL + (a << 6) + (a >> 2))) * 0xff51afd7ed558ccdULL;
}

static int set_op(struct ev *ev, void *vctx, struct ev_vector *in, int64_t t, struct ev_vector *out)
{
	struct binop_ctx *c = vctx;
	struct ev_vector *l = &in[0], *r = &in[1];
	bool ins;
	int rc;
	switch (c->op) {
	case ML_OP_AND:
		if (l->n == 0 || r->n == 0)
			return 0;
		hmap_clear(&c->sigs);
		for (size_t i = 0; i < r->n; i++)
			if (hmap_put(&c->sigs, c->rhs->s[r->s[i].src].aux, &ins) == NULL)
				return ev_oom(ev);
		for (size_t i = 0; i < l->n; i++)
			if (hmap_get(&c->sigs, c->lhs->s[l->s[i].src].aux) != NULL &&
			    (rc = ev_vector_push(ev, out, l->s[i].ls, l->s[i].hash, l->s[i].v,
			                         0)) != 0)
				return rc;
		return 0;
	case ML_OP_OR:
		hmap_clear(&c->sigs);
		for (size_t i = 0; i < l->n; i++) {
			if (r->n > 0 &&
			    hmap_put(&c->sigs, c->lhs->s[l->s[i].src].aux, &ins) == NULL)
				return ev_oom(ev);
			if ((rc = ev_vector_push(ev, out, l->s[i].ls, l->s[i].hash, l->s[i].v,
			                         0)) != 0)
				return rc;
		}
		for (size_t i = 0; i < r->n; i++)
			if ((l->n == 0 || hmap_get(&c->sigs, c->rhs->s[r->s[i].src].aux) == NULL) &&
			    (rc = ev_vector_push(ev, out, r->s[i].ls, r->s[i].hash, r->s[i].v,
			                         0)) != 0)
				return rc;
		return 0;
	case ML_OP_UNLESS:
		hmap_clear(&c->sigs);
		for (size_t i = 0; i < r->n && l->n > 0; i++)
			if (hmap_put(&c->sigs, c->rhs->s[r->s[i].src].aux, &ins) == NULL)
				return ev_oom(ev);
		for (size_t i = 0; i < l->n; i++)
			if ((r->n == 0 || hmap_get(&c->sigs, c->lhs->s[l->s[i].src].aux) == NULL) &&
			    (rc = ev_vector_push(ev, out, l->s[i].ls, l->s[i].hash, l->s[i].v,
			                         0)) != 0)
				return rc;
		return 0;
	default:
		break;
	}
	return ev_fail(ev, ML_EINVAL, "unexpected set operator");
}

/* resultMetric: the output label set of a vector-vector operation. */
static int result_metric(struct ev *ev, struct binop_ctx *c, const struct ev_sample *l,
                         const struct ev_sample *r, struct ml_labels *out, uint64_t *hash)
{
	uint64_t key = mix(l->hash, r->hash);
	if (lcache_get(&c->result, key, out, hash))
		return 0;
	int rc = lb_reset(ev, &c->lb, l->ls);
	if (rc != 0)
		return rc;
	if (drops_name(c->op))
		lb_del(&c->lb, ML_STR("__name__"));
	if (c->vm->card == ML_CARD_ONE_TO_ONE) {
		if (c->vm->on) {
			lb_keep(&c->lb, c->vm->labels.items, c->vm->labels.n);
		} else {
			for (size_t i = 0; i < c->vm->labels.n; i++)
				lb_del(&c->lb, c->vm->labels.items[i]);
		}
	}
	for (size_t i = 0; i < c->vm->include.n; i++) {
		/* Included labels come from the "one" side. */
		struct ml_str v = {NULL, 0};
		ml_labels_get(r->ls, c->vm->include.items[i].p, c->vm->include.items[i].n, &v);
		if ((rc = lb_set(ev, &c->lb, c->vm->include.items[i], v)) != 0)
			return rc;
	}
	if ((rc = lb_finish(ev, &c->lb, out, hash)) != 0)
		return rc;
	if (lcache_put(&c->result, key, *out, *hash) != 0)
		return ev_oom(ev);
	return 0;
}

static int duplicate_error(struct ev *ev, struct binop_ctx *c, const struct ev_sample *rs,
                           const struct ev_sample *dup)
{
	struct ml_labels m;
	uint64_t h;
	int rc = match_labels(ev, &c->lb, c->vm, rs->ls, &m, &h);
	if (rc != 0)
		return rc;
	/* As long as the message can be (struct ml_err): Istio's label sets are long. */
	char a[sizeof(ev->err->msg)], b[sizeof(ev->err->msg)], g[sizeof(ev->err->msg)];
	ev_labels_str(m, g, sizeof(g));
	ev_labels_str(rs->ls, a, sizeof(a));
	ev_labels_str(dup->ls, b, sizeof(b));
	return ev_fail(ev, ML_EINVAL,
	               "found duplicate series for the match group %s on the %s hand-side of the "
	               "operation: [%s, %s];many-to-many matching not allowed: matching labels "
	               "must be unique on one side",
	               g, c->vm->card == ML_CARD_ONE_TO_MANY ? "left" : "right", a, b);
}

static int vector_binop(struct ev *ev, void *vctx, struct ev_vector *in, int64_t t,
                        struct ev_vector *out)
{
	struct binop_ctx *c = vctx;
	struct ev_vector *l = &in[0], *r = &in[1];
	struct ev_matrix *lm = c->lhs, *rm = c->rhs;
	if (l->n == 0 || r->n == 0)
		return 0;
	bool swap = c->vm->card == ML_CARD_ONE_TO_MANY;
	if (swap) {
		struct ev_vector *tv = l;
		l = r;
		r = tv;
		struct ev_matrix *tm = lm;
		lm = rm;
		rm = tm;
	}
	bool ins;
	hmap_clear(&c->sigs);
	for (size_t i = 0; i < r->n; i++) {
		int64_t *slot = hmap_put(&c->sigs, rm->s[r->s[i].src].aux, &ins);
		if (slot == NULL)
			return ev_oom(ev);
		if (!ins)
			return duplicate_error(ev, c, &r->s[i], &r->s[*slot]);
		*slot = (int64_t)i;
	}
	hmap_clear(&c->matched);
	for (size_t i = 0; i < l->n; i++) {
		const struct ev_sample *ls = &l->s[i];
		uint64_t sig = lm->s[ls->src].aux;
		int64_t *slot = hmap_get(&c->sigs, sig);
		if (slot == NULL)
			continue;
		const struct ev_sample *rs = &r->s[*slot];
		double vl = ls->v, vr = rs->v;
		if (swap) {
			vl = rs->v;
			vr = ls->v;
		}
		bool keep;
		double v = elem_binop(c->op, vl, vr, &keep);
		if (c->return_bool)
			v = keep ? 1 : 0;
		else if (!keep)
			continue;
		struct ml_labels m;
		uint64_t mh;
		int rc = result_metric(ev, c, ls, rs, &m, &mh);
		if (rc != 0)
			return rc;
		if (c->return_bool && (rc = ev_drop_name(ev, &c->dmn, m, mh, &m, &mh)) != 0)
			return rc;
		if (c->vm->card == ML_CARD_ONE_TO_ONE) {
			if (hmap_put(&c->matched, sig, &ins) == NULL)
				return ev_oom(ev);
			if (!ins)
				return ev_fail(ev, ML_EINVAL,
				               "multiple matches for labels: many-to-one matching "
				               "must be explicit (group_left/group_right)");
		} else {
			if (hmap_put(&c->matched, mix(sig, mh), &ins) == NULL)
				return ev_oom(ev);
			if (!ins)
				return ev_fail(ev, ML_EINVAL,
				               "multiple matches for labels: grouping labels must "
				               "ensure unique matches");
		}
		if ((rc = ev_vector_push(ev, out, m, mh, v, 0)) != 0)
			return rc;
	}
	return 0;
}

int ev_binary(struct ev *ev, const struct ml_node *n, struct ev_matrix *out)
{
	struct binop_ctx c;
	struct ev_matrix in[2] = {{0}, {0}};
	memset(&c, 0, sizeof(c));
	c.n = n;
	c.op = n->u.binary.op;
	c.return_bool = n->u.binary.return_bool;
	c.vm = n->u.binary.matching;
	c.lhs = &in[0];
	c.rhs = &in[1];
	enum ml_value_type lt = ml_node_type(n->u.binary.lhs), rt = ml_node_type(n->u.binary.rhs);
	int rc = ev_eval(ev, n->u.binary.lhs, &in[0]);
	if (rc == 0)
		rc = ev_eval(ev, n->u.binary.rhs, &in[1]);
	if (rc != 0)
		goto done;
	if (lt == ML_TYPE_SCALAR && rt == ML_TYPE_SCALAR) {
		rc = ev_range_eval(ev, in, 2, scalar_scalar, &c, out);
	} else if (lt == ML_TYPE_VECTOR && rt == ML_TYPE_VECTOR) {
		static const struct ml_vector_matching none = {0};
		if (c.vm == NULL)
			c.vm = &none;
		if ((rc = prepare_signatures(ev, &c, &in[0])) != 0 ||
		    (rc = prepare_signatures(ev, &c, &in[1])) != 0)
			goto done;
		if (ml_op_is_set(c.op))
			rc = ev_range_eval(ev, in, 2, set_op, &c, out);
		else
			rc = ev_range_eval(ev, in, 2, vector_binop, &c, out);
	} else if (lt == ML_TYPE_VECTOR) {
		rc = ev_range_eval(ev, in, 2, vec_scalar_step, &c, out);
	} else {
		rc = ev_range_eval(ev, in, 2, scalar_vec_step, &c, out);
	}
done:
	lcache_free(&c.dmn);
	lcache_free(&c.result);
	hmap_free(&c.sigs);
	hmap_free(&c.matched);
	lb_free(&c.lb);
	return rc;
}
