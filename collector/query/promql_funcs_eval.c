/*
 * promql_funcs_eval.c - the PromQL functions of promql_functions.h's table.
 *
 * Two kinds, as in Prometheus 2.42's engine: functions of a range vector
 * (rate, *_over_time, ...) run per input series over a sliding window
 * [t - offset - range, t - offset] of its samples (staleness markers dropped)
 * and drop the metric name except last_over_time; the others run once per
 * step on the instant vectors of their arguments. Formulas are
 * promql/functions.go's: extrapolatedRate with its counter-reset and
 * zero-point rules, linearRegression with Kahan sums and the intercept at the
 * first sample (deriv) or at the step (predict_linear), bucketQuantile for
 * classic histograms, Go's Regexp.ExpandString for label_replace.
 */
#define PCRE2_CODE_UNIT_WIDTH 8

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pcre2.h>

#include "core/alloc.h"
#include "query/promql_eval_internal.h"
#include "query/promql_parse.h"
#include "query/re2_syntax.h"

/* ---- Go's math.Max / math.Min (NaN propagates, ±Inf wins over NaN) ---------- */

static double go_max(double x, double y)
{
	if (isinf(x) && x > 0)
		return x;
	if (isinf(y) && y > 0)
		return y;
	if (isnan(x) || isnan(y))
		return NAN;
	if (x == 0 && x == y)
		return signbit(x) ? y : x;
	return x > y ? x : y;
}

static double go_min(double x, double y)
{
	if (isinf(x) && x < 0)
		return x;
	if (isinf(y) && y < 0)
		return y;
	if (isnan(x) || isnan(y))
		return NAN;
	if (x == 0 && x == y)
		return signbit(x) ? x : y;
	return x < y ? x : y;
}

static void kahan_inc(double inc, double *sum, double *c)
{
	double t = *sum + inc;
	/* Neumaier's improvement: compensate with the smaller of the two. */
	if (fabs(*sum) >= fabs(inc))
		*c += (*sum - t) + inc;
	else
		*c += (inc - t) + *sum;
	*sum = t;
}

/* ---- range-vector functions ----------------------------------------------------- */

struct window {
	const struct ml_sample *s;
	size_t n;
	int64_t t;          /* the step */
	int64_t mint, maxt; /* the window, after offset and @ */
	int64_t range;
	double arg;  /* the scalar argument (quantile_over_time's q, predict_linear's t) */
	double arg2; /* holt_winters' tf */
	struct ev *ev;
	/*
	 * Counter functions: the value before each reset inside the window
	 * (s[j - 1].v for every j > 0 with s[j].v < s[j - 1].v), in order; NULL
	 * when not worked out (then the samples are scanned).
	 */
	const double *resets;
	size_t n_resets;
};

typedef int (*range_fn)(const struct window *w, double *out, bool *ok);

static int extrapolated_rate(const struct window *w, double *out, bool *ok, bool counter, bool rate)
{
	const struct ml_sample *s = w->s;
	size_t n = w->n;
	if (n < 2)
		return 0;
	double result = s[n - 1].v - s[0].v;
	if (counter && w->resets != NULL) {
		/* The same additions in the same order as the scan below. */
		for (size_t i = 0; i < w->n_resets; i++)
			result += w->resets[i];
	} else if (counter) {
		double last = 0;
		for (size_t i = 0; i < n; i++) {
			if (s[i].v < last)
				result += last;
			last = s[i].v;
		}
	}
	double to_start = (double)(s[0].t_ms - w->mint) / 1000;
	double to_end = (double)(w->maxt - s[n - 1].t_ms) / 1000;
	double sampled = (double)(s[n - 1].t_ms - s[0].t_ms) / 1000;
	double avg = sampled / (double)(n - 1);
	if (counter && result > 0 && s[0].v >= 0) {
		/* A counter cannot go below zero: do not extrapolate past its zero point. */
		double to_zero = sampled * (s[0].v / result);
		if (to_zero < to_start)
			to_start = to_zero;
	}
	double threshold = avg * 1.1;
	double interval = sampled;
	interval += to_start < threshold ? to_start : avg / 2;
	interval += to_end < threshold ? to_end : avg / 2;
	/* One factor, as 2.42 computes it (the rounding differs otherwise). */
	double factor = interval / sampled;
	if (rate)
		factor /= (double)w->range / 1000;
	*out = result * factor;
	*ok = true;
	return 0;
}

static int f_rate(const struct window *w, double *o, bool *ok)
{
	return extrapolated_rate(w, o, ok, true, true);
}
static int f_increase(const struct window *w, double *o, bool *ok)
{
	return extrapolated_rate(w, o, ok, true, false);
}
static int f_delta(const struct window *w, double *o, bool *ok)
{
	return extrapolated_rate(w, o, ok, false, false);
}

static int instant_value(const struct window *w, double *out, bool *ok, bool rate)
{
	if (w->n < 2)
		return 0;
	const struct ml_sample *last = &w->s[w->n - 1], *prev = &w->s[w->n - 2];
	double v = rate && last->v < prev->v ? last->v : last->v - prev->v;
	int64_t dt = last->t_ms - prev->t_ms;
	if (dt == 0)
		return 0;
	if (rate)
		v /= (double)dt / 1000;
	*out = v;
	*ok = true;
	return 0;
}

static int f_irate(const struct window *w, double *o, bool *ok)
{
	return instant_value(w, o, ok, true);
}
static int f_idelta(const struct window *w, double *o, bool *ok)
{
	return instant_value(w, o, ok, false);
}

static void linear_regression(const struct ml_sample *s, size_t n, int64_t at, double *slope,
                              double *intercept)
{
	double cnt = 0, sx = 0, cx = 0, sy = 0, cy = 0, sxy = 0, cxy = 0, sx2 = 0, cx2 = 0;
	double init = s[0].v;
	bool consty = true;
	for (size_t i = 0; i < n; i++) {
		if (consty && i > 0 && s[i].v != init)
			consty = false;
		cnt += 1;
		double x = (double)(s[i].t_ms - at) / 1e3;
		kahan_inc(x, &sx, &cx);
		kahan_inc(s[i].v, &sy, &cy);
		kahan_inc(x * s[i].v, &sxy, &cxy);
		kahan_inc(x * x, &sx2, &cx2);
	}
	if (consty) {
		if (isinf(init)) {
			*slope = NAN;
			*intercept = NAN;
		} else {
			*slope = 0;
			*intercept = init;
		}
		return;
	}
	sx += cx;
	sy += cy;
	sxy += cxy;
	sx2 += cx2;
	double cov = sxy - sx * sy / cnt;
	double var = sx2 - sx * sx / cnt;
	*slope = cov / var;
	*intercept = sy / cnt - *slope * sx / cnt;
}

static int f_deriv(const struct window *w, double *o, bool *ok)
{
	if (w->n < 2)
		return 0;
	double slope, icpt;
	linear_regression(w->s, w->n, w->s[0].t_ms, &slope, &icpt);
	*o = slope;
	*ok = true;
	return 0;
}

static int f_predict_linear(const struct window *w, double *o, bool *ok)
{
	if (w->n < 2)
		return 0;
	double slope, icpt;
	linear_regression(w->s, w->n, w->t, &slope, &icpt);
	*o = slope * w->arg + icpt;
	*ok = true;
	return 0;
}

static int f_holt_winters(const struct window *w, double *o, bool *ok)
{
	double sf = w->arg, tf = w->arg2;
	if (sf <= 0 || sf >= 1)
		return ev_fail(w->ev, ML_EINVAL,
		               "invalid smoothing factor. Expected: 0 < sf < 1, got: %f", sf);
	if (tf <= 0 || tf >= 1)
		return ev_fail(w->ev, ML_EINVAL,
		               "invalid trend factor. Expected: 0 < tf < 1, got: %f", tf);
	if (w->n < 2)
		return 0;
	double s0 = 0, s1 = w->s[0].v, b = w->s[1].v - w->s[0].v;
	for (size_t i = 1; i < w->n; i++) {
		double x = sf * w->s[i].v;
		/* calcTrendValue(i-1, ...): the raw trend on the first round. */
		if (i - 1 != 0)
			b = tf * (s1 - s0) + (1 - tf) * b;
		double y = (1 - sf) * (s1 + b);
		s0 = s1;
		s1 = x + y;
	}
	*o = s1;
	*ok = true;
	return 0;
}

static int f_resets(const struct window *w, double *o, bool *ok)
{
	size_t r = 0;
	for (size_t i = 1; i < w->n; i++)
		if (w->s[i].v < w->s[i - 1].v)
			r++;
	*o = (double)r;
	*ok = true;
	return 0;
}

static int f_changes(const struct window *w, double *o, bool *ok)
{
	size_t c = 0;
	for (size_t i = 1; i < w->n; i++) {
		double cur = w->s[i].v, prev = w->s[i - 1].v;
		if (cur != prev && !(isnan(cur) && isnan(prev)))
			c++;
	}
	*o = (double)c;
	*ok = true;
	return 0;
}

static int f_avg_over_time(const struct window *w, double *o, bool *ok)
{
	double mean = 0, count = 0, c = 0;
	for (size_t i = 0; i < w->n; i++) {
		double v = w->s[i].v;
		count++;
		if (isinf(mean)) {
			if (isinf(v) && (mean > 0) == (v > 0))
				continue;
			if (!isinf(v) && !isnan(v))
				continue;
		}
		kahan_inc(v / count - mean / count, &mean, &c);
	}
	*o = isinf(mean) ? mean : mean + c;
	*ok = true;
	return 0;
}

static int f_sum_over_time(const struct window *w, double *o, bool *ok)
{
	double sum = 0, c = 0;
	for (size_t i = 0; i < w->n; i++)
		kahan_inc(w->s[i].v, &sum, &c);
	*o = isinf(sum) ? sum : sum + c;
	*ok = true;
	return 0;
}

static int f_count_over_time(const struct window *w, double *o, bool *ok)
{
	*o = (double)w->n;
	*ok = true;
	return 0;
}

static int f_min_over_time(const struct window *w, double *o, bool *ok)
{
	double m = w->s[0].v;
	for (size_t i = 0; i < w->n; i++)
		if (w->s[i].v < m || isnan(m))
			m = w->s[i].v;
	*o = m;
	*ok = true;
	return 0;
}

static int f_max_over_time(const struct window *w, double *o, bool *ok)
{
	double m = w->s[0].v;
	for (size_t i = 0; i < w->n; i++)
		if (w->s[i].v > m || isnan(m))
			m = w->s[i].v;
	*o = m;
	*ok = true;
	return 0;
}

static int f_last_over_time(const struct window *w, double *o, bool *ok)
{
	*o = w->s[w->n - 1].v;
	*ok = true;
	return 0;
}

static int f_one(const struct window *w, double *o, bool *ok)
{
	*o = 1;
	*ok = true;
	return 0;
}

static int f_quantile_over_time(const struct window *w, double *o, bool *ok)
{
	double *v = ml_malloc(w->n * sizeof(double));
	if (v == NULL)
		return ev_oom(w->ev);
	for (size_t i = 0; i < w->n; i++)
		v[i] = w->s[i].v;
	*o = ev_quantile(w->ev, w->arg, v, w->n);
	ml_free(v);
	*ok = true;
	return 0;
}

static void std_over_time(const struct window *w, double *aux_out, double *count_out)
{
	double count = 0, mean = 0, cmean = 0, aux = 0, caux = 0;
	for (size_t i = 0; i < w->n; i++) {
		double v = w->s[i].v;
		count++;
		double delta = v - (mean + cmean);
		kahan_inc(delta / count, &mean, &cmean);
		kahan_inc(delta * (v - (mean + cmean)), &aux, &caux);
	}
	*aux_out = aux + caux;
	*count_out = count;
}

static int f_stddev_over_time(const struct window *w, double *o, bool *ok)
{
	double aux, count;
	std_over_time(w, &aux, &count);
	*o = sqrt(aux / count);
	*ok = true;
	return 0;
}

static int f_stdvar_over_time(const struct window *w, double *o, bool *ok)
{
	double aux, count;
	std_over_time(w, &aux, &count);
	*o = aux / count;
	*ok = true;
	return 0;
}

/* ---- instant-vector functions ------------------------------------------------- */

struct call_ctx {
	const struct ml_node *n;
	const struct fdef *f;
	struct lcache dmn;
	struct lbuild lb;
	pcre2_code *re;
	pcre2_match_data *md;
	struct hmap hq; /* histogram_quantile: signature -> bucket set */
	struct hq_set *sets;
	size_t nsets, capsets;
	/* rate/increase: the series' resets (index, value before), rs_cap each */
	size_t *rs_at;
	double *rs_val;
	size_t rs_cap;
};

typedef int (*inst_fn)(struct ev *ev, struct call_ctx *c, struct ev_vector *in, int64_t t,
                       struct ev_vector *out);

struct fdef {
	const char *name;
	range_fn range;           /* functions of a range vector */
	inst_fn inst;             /* the others */
	double (*simple)(double); /* inst == f_simple: the per-value function */
};

static int push_dropped(struct ev *ev, struct call_ctx *c, const struct ev_sample *s, double v,
                        struct ev_vector *out)
{
	struct ml_labels ls;
	uint64_t h;
	int rc = ev_drop_name(ev, &c->dmn, s->ls, s->hash, &ls, &h);
	if (rc != 0)
		return rc;
	return ev_vector_push(ev, out, ls, h, v, s->src);
}

static int f_simple(struct ev *ev, struct call_ctx *c, struct ev_vector *in, int64_t t,
                    struct ev_vector *out)
{
	for (size_t i = 0; i < in[0].n; i++) {
		int rc = push_dropped(ev, c, &in[0].s[i], c->f->simple(in[0].s[i].v), out);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static double m_rad(double v)
{
	return v * M_PI / 180;
}
static double m_deg(double v)
{
	return v * 180 / M_PI;
}
static double m_sgn(double v)
{
	return v < 0 ? -1 : v > 0 ? 1 : v;
}

static int f_clamp(struct ev *ev, struct call_ctx *c, struct ev_vector *in, int64_t t,
                   struct ev_vector *out)
{
	const char *name = c->f->name;
	bool has_min = strcmp(name, "clamp_max") != 0, has_max = strcmp(name, "clamp_min") != 0;
	double lo = -INFINITY, hi = INFINITY;
	if (strcmp(name, "clamp") == 0) {
		if (in[1].n == 0 || in[2].n == 0)
			return 0;
		lo = in[1].s[0].v;
		hi = in[2].s[0].v;
		if (hi < lo)
			return 0;
	} else if (in[1].n == 0) {
		return 0;
	} else if (has_min) {
		lo = in[1].s[0].v;
	} else {
		hi = in[1].s[0].v;
	}
	for (size_t i = 0; i < in[0].n; i++) {
		double v = in[0].s[i].v;
		if (has_max)
			v = go_min(hi, v);
		if (has_min)
			v = go_max(lo, v);
		int rc = push_dropped(ev, c, &in[0].s[i], v, out);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static int f_round(struct ev *ev, struct call_ctx *c, struct ev_vector *in, int64_t t,
                   struct ev_vector *out)
{
	double to = 1;
	if (c->n->u.call.n_args >= 2) {
		if (in[1].n == 0)
			return 0;
		to = in[1].s[0].v;
	}
	double inv = 1.0 / to; /* Prometheus inverts first: fewer rounding surprises */
	for (size_t i = 0; i < in[0].n; i++) {
		int rc =
		    push_dropped(ev, c, &in[0].s[i], floor(in[0].s[i].v * inv + 0.5) / inv, out);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static int f_scalar(struct ev *ev, struct call_ctx *c, struct ev_vector *in, int64_t t,
                    struct ev_vector *out)
{
	double v = in[0].n == 1 ? in[0].s[0].v : NAN;
	return ev_vector_push(ev, out, ev_no_labels, ml_labels_hash(ev_no_labels), v, 0);
}

static int f_vector(struct ev *ev, struct call_ctx *c, struct ev_vector *in, int64_t t,
                    struct ev_vector *out)
{
	if (in[0].n == 0)
		return 0;
	return ev_vector_push(ev, out, ev_no_labels, ml_labels_hash(ev_no_labels), in[0].s[0].v, 0);
}

static int f_time(struct ev *ev, struct call_ctx *c, struct ev_vector *in, int64_t t,
                  struct ev_vector *out)
{
	return ev_vector_push(ev, out, ev_no_labels, ml_labels_hash(ev_no_labels), (double)t / 1000,
	                      0);
}

static int f_pi(struct ev *ev, struct call_ctx *c, struct ev_vector *in, int64_t t,
                struct ev_vector *out)
{
	return ev_vector_push(ev, out, ev_no_labels, ml_labels_hash(ev_no_labels), M_PI, 0);
}

static int f_timestamp(struct ev *ev, struct call_ctx *c, struct ev_vector *in, int64_t t,
                       struct ev_vector *out)
{
	/* Not a plain selector: the argument's points sit at the step. */
	for (size_t i = 0; i < in[0].n; i++) {
		int rc = push_dropped(ev, c, &in[0].s[i], (double)in[0].s[i].t / 1000, out);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* timestamp(selector): the selector already put each sample's time in its value. */
static int timestamp_sel_step(struct ev *ev, void *vctx, struct ev_vector *in, int64_t t,
                              struct ev_vector *out)
{
	for (size_t i = 0; i < in[0].n; i++) {
		int rc = push_dropped(ev, vctx, &in[0].s[i], in[0].s[i].v, out);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static int f_nothing(struct ev *ev, struct call_ctx *c, struct ev_vector *in, int64_t t,
                     struct ev_vector *out)
{
	/* histogram_count/sum/fraction: only native histograms, which meshlens does not store. */
	return 0;
}

static bool sort_asc_less(const struct ev_sample *a, const struct ev_sample *b)
{
	return isnan(b->v) || b->v > a->v;
}

static bool sort_desc_less(const struct ev_sample *a, const struct ev_sample *b)
{
	return isnan(b->v) || b->v < a->v;
}

static int f_sort(struct ev *ev, struct call_ctx *c, struct ev_vector *in, int64_t t,
                  struct ev_vector *out)
{
	for (size_t i = 0; i < in[0].n; i++) {
		int rc = ev_vector_push(ev, out, in[0].s[i].ls, in[0].s[i].hash, in[0].s[i].v, 0);
		if (rc != 0)
			return rc;
	}
	bool desc = strcmp(c->f->name, "sort_desc") == 0;
	return ev_stable_sort(ev, out->s, out->n, desc ? sort_desc_less : sort_asc_less);
}

/* createLabelsForAbsentFunction: the labels of equality matchers, except repeated names. */
static int absent_labels(struct ev *ev, struct call_ctx *c, const struct ml_node *arg,
                         struct ml_labels *out, uint64_t *hash)
{
	arg = ev_unparen(arg);
	if (arg->kind == ML_NODE_MATRIX_SELECTOR)
		arg = arg->u.ms.vs;
	c->lb.n = 0;
	if (arg->kind == ML_NODE_VECTOR_SELECTOR) {
		size_t nm = arg->u.vs.n_matchers;
		for (size_t i = 0; i < nm; i++) {
			const struct ml_matcher *m = &arg->u.vs.matchers[i];
			struct ml_str name = ml_str_make(m->name, m->name_len);
			if (ml_str_eq_cstr(name, "__name__"))
				continue;
			bool seen = false;
			for (size_t j = 0; j < i; j++)
				if (arg->u.vs.matchers[j].name_len == m->name_len &&
				    memcmp(arg->u.vs.matchers[j].name, m->name, m->name_len) == 0)
					seen = true;
			int rc = 0;
			if (m->type == ML_MATCH_EQ && !seen)
				rc = lb_set(ev, &c->lb, name, ml_str_make(m->value, m->value_len));
			else
				lb_del(&c->lb, name);
			if (rc != 0)
				return rc;
		}
	}
	return lb_finish(ev, &c->lb, out, hash);
}

static int f_absent(struct ev *ev, struct call_ctx *c, struct ev_vector *in, int64_t t,
                    struct ev_vector *out)
{
	if (in[0].n > 0)
		return 0;
	struct ml_labels ls;
	uint64_t h;
	int rc = absent_labels(ev, c, c->n->u.call.args[0], &ls, &h);
	if (rc != 0)
		return rc;
	return ev_vector_push(ev, out, ls, h, 1, 0);
}

static struct ml_str str_arg(const struct ml_node *n)
{
	return ev_unparen(n)->u.string;
}

/* Go's Regexp.ExpandString for $1, ${1}, $name, ${name} and $$. */
static int expand(struct ev *ev, struct call_ctx *c, struct ml_str tmpl, struct ml_str src,
                  const PCRE2_SIZE *ov, uint32_t ngroups, struct ml_buf *out)
{
	size_t i = 0;
	while (i < tmpl.n) {
		const char *d = memchr(tmpl.p + i, '$', tmpl.n - i);
		if (d == NULL)
			break;
		size_t di = (size_t)(d - tmpl.p);
		ml_buf_append(out, tmpl.p + i, di - i);
		i = di + 1;
		if (i < tmpl.n && tmpl.p[i] == '$') {
			ml_buf_putc(out, '$');
			i++;
			continue;
		}
		bool brace = i < tmpl.n && tmpl.p[i] == '{';
		size_t ns = brace ? i + 1 : i, ne = ns;
		while (ne < tmpl.n) {
			unsigned char ch = (unsigned char)tmpl.p[ne];
			if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			      (ch >= '0' && ch <= '9') || ch == '_' || ch >= 0x80))
				break;
			ne++;
		}
		bool okname = ne > ns && (!brace || (ne < tmpl.n && tmpl.p[ne] == '}'));
		if (!okname) {
			ml_buf_putc(out, '$'); /* malformed: the $ is literal text */
			continue;
		}
		struct ml_str name = ml_str_make(tmpl.p + ns, ne - ns);
		i = brace ? ne + 1 : ne;
		long num = 0;
		for (size_t k = 0; k < name.n; k++) {
			if (name.p[k] < '0' || name.p[k] > '9' || num >= 100000000) {
				num = -1;
				break;
			}
			num = num * 10 + (name.p[k] - '0');
		}
		if (name.n > 1 && name.p[0] == '0')
			num = -1;
		if (num < 0) {
			/* A named group. */
			uint32_t count = 0, esize = 0;
			PCRE2_SPTR table = NULL;
			pcre2_pattern_info(c->re, PCRE2_INFO_NAMECOUNT, &count);
			pcre2_pattern_info(c->re, PCRE2_INFO_NAMEENTRYSIZE, &esize);
			pcre2_pattern_info(c->re, PCRE2_INFO_NAMETABLE, &table);
			for (uint32_t k = 0; k < count; k++) {
				PCRE2_SPTR e = table + (size_t)k * esize;
				const char *gn = (const char *)e + 2;
				if (strlen(gn) == name.n && memcmp(gn, name.p, name.n) == 0) {
					num = (e[0] << 8) | e[1];
					break;
				}
			}
		}
		if (num >= 0 && (uint32_t)num < ngroups && ov[2 * num] != PCRE2_UNSET)
			ml_buf_append(out, src.p + ov[2 * num], ov[2 * num + 1] - ov[2 * num]);
	}
	if (i < tmpl.n)
		ml_buf_append(out, tmpl.p + i, tmpl.n - i);
	return ml_buf_ok(out) ? 0 : ev_oom(ev);
}

static int compile_label_replace(struct ev *ev, struct call_ctx *c)
{
	struct ml_str dst = str_arg(c->n->u.call.args[1]);
	struct ml_str re = str_arg(c->n->u.call.args[4]);
	struct ml_buf pat = ML_BUF_INIT;
	int errcode;
	PCRE2_SIZE erroff;
	/* Go's regexp refuses PCRE-only syntax (lookaround, \1, ...): so does Prometheus. */
	if (ml_re2_syntax_check(re.p, re.n, NULL, 0) != 0)
		return ev_fail(ev, ML_EINVAL, "invalid regular expression in label_replace(): %.*s",
		               (int)re.n, re.p);
	ml_buf_puts(&pat, "(?:");
	ml_buf_append(&pat, re.p, re.n);
	ml_buf_putc(&pat, ')');
	if (!ml_buf_ok(&pat)) {
		ml_buf_free(&pat);
		return ev_oom(ev);
	}
	c->re = pcre2_compile((PCRE2_SPTR)pat.data, pat.len,
	                      PCRE2_ANCHORED | PCRE2_ENDANCHORED | PCRE2_UTF | PCRE2_DUPNAMES,
	                      &errcode, &erroff, NULL);
	ml_buf_free(&pat);
	if (c->re == NULL)
		return ev_fail(ev, ML_EINVAL, "invalid regular expression in label_replace(): %.*s",
		               (int)re.n, re.p);
	if (!ev_valid_label_name(dst))
		return ev_fail(ev, ML_EINVAL,
		               "invalid destination label name in label_replace(): %.*s",
		               (int)dst.n, dst.p);
	c->md = pcre2_match_data_create_from_pattern(c->re, NULL);
	if (c->md == NULL)
		return ev_oom(ev);
	return 0;
}

static int f_label_replace(struct ev *ev, struct call_ctx *c, struct ev_vector *in, int64_t t,
                           struct ev_vector *out)
{
	struct ml_str dst = str_arg(c->n->u.call.args[1]);
	struct ml_str repl = str_arg(c->n->u.call.args[2]);
	struct ml_str srcname = str_arg(c->n->u.call.args[3]);
	int rc;
	if (c->re == NULL && (rc = compile_label_replace(ev, c)) != 0)
		return rc;
	for (size_t i = 0; i < in[0].n; i++) {
		const struct ev_sample *s = &in[0].s[i];
		struct ml_labels ls = s->ls;
		uint64_t h = s->hash;
		if (!lcache_get(&c->dmn, s->hash, &ls, &h)) {
			struct ml_str v = {"", 0};
			ml_labels_get(s->ls, srcname.p, srcname.n, &v);
			int m = pcre2_match(c->re, (PCRE2_SPTR)(v.n ? v.p : ""), v.n, 0, 0, c->md,
			                    NULL);
			if (m >= 0) {
				struct ml_buf b = ML_BUF_INIT;
				rc = expand(ev, c, repl, v, pcre2_get_ovector_pointer(c->md),
				            pcre2_get_ovector_count(c->md), &b);
				char *val = NULL;
				if (rc == 0 && b.len > 0) {
					val = ml_arena_strndup(ev->a, (const char *)b.data, b.len);
					if (val == NULL)
						rc = ev_oom(ev);
				}
				size_t vlen = b.len;
				ml_buf_free(&b);
				if (rc != 0)
					return rc;
				if ((rc = lb_reset(ev, &c->lb, s->ls)) != 0)
					return rc;
				lb_del(&c->lb, dst);
				if (vlen > 0 &&
				    (rc = lb_set(ev, &c->lb, dst, ml_str_make(val, vlen))) != 0)
					return rc;
				if ((rc = lb_finish(ev, &c->lb, &ls, &h)) != 0)
					return rc;
			}
			if (lcache_put(&c->dmn, s->hash, ls, h) != 0)
				return ev_oom(ev);
		}
		if ((rc = ev_vector_push(ev, out, ls, h, s->v, s->src)) != 0)
			return rc;
	}
	return 0;
}

static int f_label_join(struct ev *ev, struct call_ctx *c, struct ev_vector *in, int64_t t,
                        struct ev_vector *out)
{
	struct ml_str dst = str_arg(c->n->u.call.args[1]);
	struct ml_str sep = str_arg(c->n->u.call.args[2]);
	size_t nargs = c->n->u.call.n_args;
	int rc;
	for (size_t k = 3; k < nargs; k++) {
		struct ml_str src = str_arg(c->n->u.call.args[k]);
		if (!ev_valid_label_name(src))
			return ev_fail(ev, ML_EINVAL,
			               "invalid source label name in label_join(): %.*s",
			               (int)src.n, src.p);
	}
	if (!ev_valid_label_name(dst))
		return ev_fail(ev, ML_EINVAL,
		               "invalid destination label name in label_join(): %.*s", (int)dst.n,
		               dst.p);
	for (size_t i = 0; i < in[0].n; i++) {
		const struct ev_sample *s = &in[0].s[i];
		struct ml_labels ls;
		uint64_t h;
		if (!lcache_get(&c->dmn, s->hash, &ls, &h)) {
			struct ml_buf b = ML_BUF_INIT;
			for (size_t k = 3; k < nargs; k++) {
				struct ml_str src = str_arg(c->n->u.call.args[k]), v = {"", 0};
				if (k > 3)
					ml_buf_append(&b, sep.p, sep.n);
				if (ml_labels_get(s->ls, src.p, src.n, &v))
					ml_buf_append(&b, v.p, v.n);
			}
			if (!ml_buf_ok(&b)) {
				ml_buf_free(&b);
				return ev_oom(ev);
			}
			char *val =
			    b.len ? ml_arena_strndup(ev->a, (const char *)b.data, b.len) : "";
			size_t vlen = b.len;
			ml_buf_free(&b);
			if (val == NULL)
				return ev_oom(ev);
			if ((rc = lb_reset(ev, &c->lb, s->ls)) != 0 ||
			    (rc = lb_set(ev, &c->lb, dst, ml_str_make(val, vlen))) != 0 ||
			    (rc = lb_finish(ev, &c->lb, &ls, &h)) != 0)
				return rc;
			if (lcache_put(&c->dmn, s->hash, ls, h) != 0)
				return ev_oom(ev);
		}
		if ((rc = ev_vector_push(ev, out, ls, h, s->v, s->src)) != 0)
			return rc;
	}
	return 0;
}

/* ---- histogram_quantile ---------------------------------------------------------- */

struct bucket {
	double upper, count;
};

struct hq_set {
	struct ml_labels ls; /* without __name__ and le */
	uint64_t hash;
	struct bucket *b;
	size_t n, cap;
};

static int cmp_bucket(const void *x, const void *y)
{
	const struct bucket *a = x, *b = y;
	return a->upper < b->upper ? -1 : a->upper > b->upper;
}

/* Prometheus 2.42's bucketQuantile. */
static double bucket_quantile(double q, struct bucket *b, size_t n)
{
	/* Without this, rank = NaN * obs would pick the last finite bound. */
	if (isnan(q))
		return NAN;
	if (q < 0)
		return -INFINITY;
	if (q > 1)
		return INFINITY;
	/* Go's sort is not stable either; equal bounds are merged below anyway. */
	qsort(b, n, sizeof(*b), cmp_bucket);
	if (!(isinf(b[n - 1].upper) && b[n - 1].upper > 0))
		return NAN;
	/* coalesceBuckets: add up buckets with the same bound. */
	size_t m = 0;
	struct bucket last = b[0];
	for (size_t i = 1; i < n; i++) {
		if (b[i].upper == last.upper) {
			last.count += b[i].count;
		} else {
			b[m++] = last;
			last = b[i];
		}
	}
	b[m++] = last;
	n = m;
	/* ensureMonotonic */
	double max = -INFINITY;
	for (size_t i = 0; i < n; i++) {
		if (b[i].count > max)
			max = b[i].count;
		else if (b[i].count < max)
			b[i].count = max;
	}
	if (n < 2)
		return NAN;
	double obs = b[n - 1].count;
	if (obs == 0)
		return NAN;
	double rank = q * obs;
	/* sort.Search over the first n-1 buckets: the first with count >= rank. */
	size_t lo = 0, hi = n - 1;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (!(b[mid].count >= rank))
			lo = mid + 1;
		else
			hi = mid;
	}
	size_t k = lo;
	if (k == n - 1)
		return b[n - 2].upper;
	if (k == 0 && b[0].upper <= 0)
		return b[0].upper;
	double start = 0, end = b[k].upper, count = b[k].count;
	if (k > 0) {
		start = b[k - 1].upper;
		count -= b[k - 1].count;
		rank -= b[k - 1].count;
	}
	return start + (end - start) * (rank / count);
}

/* strconv.ParseFloat: the whole string must be a number. */
static bool parse_float(struct ml_str s, double *out)
{
	char buf[64];
	if (s.n == 0 || s.n >= sizeof(buf) || s.p[0] == ' ' || s.p[0] == '\t' || s.p[0] == '\n')
		return false;
	memcpy(buf, s.p, s.n);
	buf[s.n] = 0;
	char *end;
	*out = strtod(buf, &end);
	return end == buf + s.n;
}

static int f_histogram_quantile(struct ev *ev, struct call_ctx *c, struct ev_vector *in, int64_t t,
                                struct ev_vector *out)
{
	if (in[0].n == 0)
		return 0;
	double q = in[0].s[0].v;
	int rc;
	hmap_clear(&c->hq);
	for (size_t i = 0; i < c->nsets; i++)
		c->sets[i].n = 0;
	size_t nsets = 0;
	for (size_t i = 0; i < in[1].n; i++) {
		const struct ev_sample *s = &in[1].s[i];
		struct ml_str le;
		double upper;
		if (!ml_labels_get(s->ls, "le", 2, &le) || !parse_float(le, &upper))
			continue;
		/* The group: every label but le (the name included, as Prometheus keys it). */
		uint64_t kh;
		if ((rc = lb_reset(ev, &c->lb, s->ls)) != 0)
			return rc;
		lb_del(&c->lb, ML_STR("le"));
		if ((rc = lb_hash(ev, &c->lb, &kh)) != 0)
			return rc;
		bool ins;
		int64_t *slot = hmap_put(&c->hq, kh, &ins);
		if (slot == NULL)
			return ev_oom(ev);
		if (ins) {
			if (nsets == c->capsets) {
				size_t cap = c->capsets ? c->capsets * 2 : 16;
				struct hq_set *g = ml_realloc(c->sets, cap * sizeof(*g));
				if (g == NULL)
					return ev_oom(ev);
				memset(g + c->capsets, 0, (cap - c->capsets) * sizeof(*g));
				c->sets = g;
				c->capsets = cap;
			}
			struct hq_set *set = &c->sets[nsets];
			set->n = 0;
			/* Output labels: also without __name__; made once per group and query. */
			if (!lcache_get(&c->dmn, kh, &set->ls, &set->hash)) {
				lb_del(&c->lb, ML_STR("__name__"));
				if ((rc = lb_finish(ev, &c->lb, &set->ls, &set->hash)) != 0)
					return rc;
				if (lcache_put(&c->dmn, kh, set->ls, set->hash) != 0)
					return ev_oom(ev);
			}
			*slot = (int64_t)nsets++;
			if (nsets > c->nsets)
				c->nsets = nsets;
		}
		struct hq_set *set = &c->sets[*slot];
		if (set->n == set->cap) {
			size_t cap = set->cap ? set->cap * 2 : 16;
			struct bucket *b = ml_realloc(set->b, cap * sizeof(*b));
			if (b == NULL)
				return ev_oom(ev);
			set->b = b;
			set->cap = cap;
		}
		set->b[set->n].upper = upper;
		set->b[set->n].count = s->v;
		set->n++;
	}
	for (size_t i = 0; i < nsets; i++) {
		struct hq_set *set = &c->sets[i];
		if (set->n == 0)
			continue;
		if ((rc = ev_vector_push(ev, out, set->ls, set->hash,
		                         bucket_quantile(q, set->b, set->n), 0)) != 0)
			return rc;
	}
	return 0;
}

/* ---- date functions ---------------------------------------------------------------- */

static double date_part(const char *fn, double v)
{
	/* Go's int64(f) then time.Unix(.., 0).UTC(). */
	if (isnan(v) || v >= 9.2e18 || v <= -9.2e18)
		return NAN;
	time_t secs = (time_t)(int64_t)v;
	struct tm tm;
	if (gmtime_r(&secs, &tm) == NULL)
		return NAN;
	if (strcmp(fn, "day_of_month") == 0)
		return tm.tm_mday;
	if (strcmp(fn, "day_of_week") == 0)
		return tm.tm_wday;
	if (strcmp(fn, "day_of_year") == 0)
		return tm.tm_yday + 1;
	if (strcmp(fn, "hour") == 0)
		return tm.tm_hour;
	if (strcmp(fn, "minute") == 0)
		return tm.tm_min;
	if (strcmp(fn, "month") == 0)
		return tm.tm_mon + 1;
	if (strcmp(fn, "year") == 0)
		return (double)tm.tm_year + 1900;
	/* days_in_month */
	static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	long y = (long)tm.tm_year + 1900;
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return days[tm.tm_mon] + (tm.tm_mon == 1 && leap ? 1 : 0);
}

static int f_date(struct ev *ev, struct call_ctx *c, struct ev_vector *in, int64_t t,
                  struct ev_vector *out)
{
	if (c->n->u.call.n_args == 0) {
		/* vector(time()) */
		int64_t secs = t / 1000;
		return ev_vector_push(ev, out, ev_no_labels, ml_labels_hash(ev_no_labels),
		                      date_part(c->f->name, (double)secs), 0);
	}
	for (size_t i = 0; i < in[0].n; i++) {
		int rc = push_dropped(ev, c, &in[0].s[i], date_part(c->f->name, in[0].s[i].v), out);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* ---- the table -------------------------------------------------------------------- */

static const struct fdef fdefs[] = {
    {"abs", NULL, f_simple, fabs},
    {"absent", NULL, f_absent, NULL},
    {"absent_over_time", f_one, NULL, NULL},
    {"acos", NULL, f_simple, acos},
    {"acosh", NULL, f_simple, acosh},
    {"asin", NULL, f_simple, asin},
    {"asinh", NULL, f_simple, asinh},
    {"atan", NULL, f_simple, atan},
    {"atanh", NULL, f_simple, atanh},
    {"avg_over_time", f_avg_over_time, NULL, NULL},
    {"ceil", NULL, f_simple, ceil},
    {"changes", f_changes, NULL, NULL},
    {"clamp", NULL, f_clamp, NULL},
    {"clamp_max", NULL, f_clamp, NULL},
    {"clamp_min", NULL, f_clamp, NULL},
    {"cos", NULL, f_simple, cos},
    {"cosh", NULL, f_simple, cosh},
    {"count_over_time", f_count_over_time, NULL, NULL},
    {"days_in_month", NULL, f_date, NULL},
    {"day_of_month", NULL, f_date, NULL},
    {"day_of_week", NULL, f_date, NULL},
    {"day_of_year", NULL, f_date, NULL},
    {"deg", NULL, f_simple, m_deg},
    {"delta", f_delta, NULL, NULL},
    {"deriv", f_deriv, NULL, NULL},
    {"exp", NULL, f_simple, exp},
    {"floor", NULL, f_simple, floor},
    {"histogram_count", NULL, f_nothing, NULL},
    {"histogram_sum", NULL, f_nothing, NULL},
    {"histogram_fraction", NULL, f_nothing, NULL},
    {"histogram_quantile", NULL, f_histogram_quantile, NULL},
    {"holt_winters", f_holt_winters, NULL, NULL},
    {"hour", NULL, f_date, NULL},
    {"idelta", f_idelta, NULL, NULL},
    {"increase", f_increase, NULL, NULL},
    {"irate", f_irate, NULL, NULL},
    {"label_replace", NULL, f_label_replace, NULL},
    {"label_join", NULL, f_label_join, NULL},
    {"last_over_time", f_last_over_time, NULL, NULL},
    {"ln", NULL, f_simple, log},
    {"log10", NULL, f_simple, log10},
    {"log2", NULL, f_simple, log2},
    {"max_over_time", f_max_over_time, NULL, NULL},
    {"min_over_time", f_min_over_time, NULL, NULL},
    {"minute", NULL, f_date, NULL},
    {"month", NULL, f_date, NULL},
    {"pi", NULL, f_pi, NULL},
    {"predict_linear", f_predict_linear, NULL, NULL},
    {"present_over_time", f_one, NULL, NULL},
    {"quantile_over_time", f_quantile_over_time, NULL, NULL},
    {"rad", NULL, f_simple, m_rad},
    {"rate", f_rate, NULL, NULL},
    {"resets", f_resets, NULL, NULL},
    {"round", NULL, f_round, NULL},
    {"scalar", NULL, f_scalar, NULL},
    {"sgn", NULL, f_simple, m_sgn},
    {"sin", NULL, f_simple, sin},
    {"sinh", NULL, f_simple, sinh},
    {"sort", NULL, f_sort, NULL},
    {"sort_desc", NULL, f_sort, NULL},
    {"sqrt", NULL, f_simple, sqrt},
    {"stddev_over_time", f_stddev_over_time, NULL, NULL},
    {"stdvar_over_time", f_stdvar_over_time, NULL, NULL},
    {"sum_over_time", f_sum_over_time, NULL, NULL},
    {"tan", NULL, f_simple, tan},
    {"tanh", NULL, f_simple, tanh},
    {"time", NULL, f_time, NULL},
    {"timestamp", NULL, f_timestamp, NULL},
    {"vector", NULL, f_vector, NULL},
    {"year", NULL, f_date, NULL},
};

static const struct fdef *fdef_lookup(const char *name)
{
	for (size_t i = 0; i < sizeof(fdefs) / sizeof(fdefs[0]); i++)
		if (strcmp(fdefs[i].name, name) == 0)
			return &fdefs[i];
	return NULL;
}

/* ---- evaluation ---------------------------------------------------------------------- */

static int inst_step(struct ev *ev, void *vctx, struct ev_vector *in, int64_t t,
                     struct ev_vector *out)
{
	struct call_ctx *c = vctx;
	return c->f->inst(ev, c, in, t, out);
}

static bool is_stale(double v)
{
	uint64_t b;
	memcpy(&b, &v, sizeof(b));
	return b == ML_STALE_NAN_BITS;
}

/* One series through a range function at every step. */
static int range_series(struct ev *ev, struct call_ctx *c, struct ev_matrix *args, size_t mi,
                        const struct ml_sample *s, size_t n, enum ml_at_kind at, int64_t at_ms,
                        int64_t offset, int64_t range, struct ml_sample *buf, size_t *np)
{
	struct window w = {0};
	w.ev = ev;
	w.range = range;
	size_t lo = 0, hi = 0, step = 0, nr = 0, r0 = 0, r1 = 0;
	*np = 0;
	if (c->f->range == f_rate || c->f->range == f_increase) {
		/* Each window adds the values before its resets: find them once per series. */
		if (c->rs_cap < n) {
			size_t *idx = ml_realloc(c->rs_at, n * sizeof(*idx));
			if (idx != NULL)
				c->rs_at = idx;
			double *val = ml_realloc(c->rs_val, n * sizeof(*val));
			if (val != NULL)
				c->rs_val = val;
			if (idx == NULL || val == NULL)
				return ev_oom(ev);
			c->rs_cap = n;
		}
		for (size_t j = 1; j < n; j++)
			if (s[j].v < s[j - 1].v) {
				c->rs_at[nr] = j;
				c->rs_val[nr++] = s[j - 1].v;
			}
		w.resets = c->rs_val; /* n_resets 0 until a window has some */
	}
	for (int64_t t = ev->start; t <= ev->end; t += ev->interval, step++) {
		int64_t maxt = ev_ref_time(ev, at, at_ms, offset, t);
		int64_t mint = maxt - range;
		while (hi < n && s[hi].t_ms <= maxt)
			hi++;
		while (lo < hi && s[lo].t_ms < mint)
			lo++;
		if (hi == lo)
			continue;
		int rc;
		if (ev->cur_samples + (int64_t)(hi - lo) > ev->max_samples)
			return ev_add_samples(ev, (int64_t)(hi - lo));
		w.s = s + lo;
		w.n = hi - lo;
		if (w.resets != NULL) {
			/* The resets j with lo < j < hi. */
			while (r0 < nr && c->rs_at[r0] <= lo)
				r0++;
			if (r1 < r0)
				r1 = r0;
			while (r1 < nr && c->rs_at[r1] < hi)
				r1++;
			w.resets = c->rs_val + r0;
			w.n_resets = r1 - r0;
		}
		w.t = t;
		w.mint = mint;
		w.maxt = maxt;
		/* The scalar arguments at this step (scalars have a point at every step). */
		size_t k = 0;
		for (size_t a = 0; a < c->n->u.call.n_args; a++) {
			if (a == mi || args[a].n == 0)
				continue;
			double v = step < args[a].s[0].n ? args[a].s[0].pts[step].v : NAN;
			if (k++ == 0)
				w.arg = v;
			else
				w.arg2 = v;
		}
		double v;
		bool ok = false;
		if ((rc = c->f->range(&w, &v, &ok)) != 0)
			return rc;
		if (ok) {
			buf[*np].t_ms = t;
			buf[*np].v = v;
			(*np)++;
		}
	}
	return 0;
}

/* Where a range function's output series go, and the label sets seen so far. */
struct range_out {
	const struct ev_sink *sink;
	struct hmap seen;
	bool dup; /* two output series with one label set */
};

/* One input series of a range function: its output series handed to the sink. */
static int range_one(struct ev *ev, struct call_ctx *c, struct ev_matrix *args, size_t mi,
                     const struct ml_sample *smp, size_t n, struct ml_labels ls, uint64_t hash,
                     enum ml_at_kind at, int64_t at_ms, int64_t offset, int64_t range,
                     struct ml_sample *buf, struct range_out *ro)
{
	size_t np;
	int rc = range_series(ev, c, args, mi, smp, n, at, at_ms, offset, range, buf, &np);
	if (rc != 0 || np == 0)
		return rc;
	if ((rc = ev_add_samples(ev, (int64_t)np)) != 0)
		return rc;
	struct ev_series s = {.ls = ls, .hash = hash, .pts = buf, .n = np};
	if (strcmp(c->f->name, "last_over_time") != 0 &&
	    (rc = ev_drop_name(ev, NULL, s.ls, s.hash, &s.ls, &s.hash)) != 0)
		return rc;
	bool ins;
	if (hmap_put(&ro->seen, s.hash, &ins) == NULL)
		return ev_oom(ev);
	ro->dup |= !ins;
	return ro->sink->put(ev, ro->sink->ctx, &s);
}

/*
 * A range function whose argument mi is a range: series by series into
 * sink. Two output series with one label set fail the call once all are
 * made, as Prometheus checks the finished matrix.
 */
static int range_stream(struct ev *ev, struct call_ctx *c, size_t mi, const struct ev_sink *sink)
{
	const struct ml_node *arg = ev_unparen(c->n->u.call.args[mi]);
	struct ev_matrix args[ML_FUNC_MAX_ARGS] = {{0}};
	struct ev_matrix sq = {0};
	struct ev_select_it it = {0};
	struct range_out ro = {.sink = sink};
	struct ml_sample *buf = NULL, *live = NULL;
	size_t live_cap = 0;
	int rc = 0;
	size_t nargs = c->n->u.call.n_args;
	for (size_t a = 0; a < nargs && a < ML_FUNC_MAX_ARGS; a++)
		if (a != mi && (rc = ev_eval(ev, c->n->u.call.args[a], &args[a])) != 0)
			return rc;
	buf = ml_malloc(ev_steps(ev) * sizeof(*buf));
	if (buf == NULL) {
		rc = ev_oom(ev);
		goto done;
	}
	if (arg->kind == ML_NODE_MATRIX_SELECTOR) {
		/* Series by series from the store: only the current one's samples are held. */
		const struct ml_node *vs = arg->u.ms.vs;
		enum ml_at_kind at = vs->u.vs.at;
		int64_t at_ms = vs->u.vs.at_ms, offset = vs->u.vs.offset_ms, range = arg->u.ms.range_ms;
		int64_t maxt = ev_ref_time(ev, at, at_ms, offset, ev->end);
		int64_t mint = ev_ref_time(ev, at, at_ms, offset, ev->start) - range;
		struct ev_selected e;
		if ((rc = ev_select_open(ev, vs, mint, maxt, &it)) != 0)
			goto done;
		while ((rc = ev_select_next(ev, &it, &e)) == 1) {
			if (live_cap < e.n) {
				struct ml_sample *g = ml_realloc(live, e.n * sizeof(*g));
				if (g == NULL) {
					rc = ev_oom(ev);
					goto done;
				}
				live = g;
				live_cap = e.n;
			}
			size_t k = 0;
			for (size_t j = 0; j < e.n; j++)
				if (!is_stale(e.s[j].v))
					live[k++] = e.s[j];
			if ((rc = range_one(ev, c, args, mi, live, k, e.ls, e.hash, at, at_ms, offset,
			                    range, buf, &ro)) != 0)
				goto done;
		}
		if (rc < 0)
			goto done;
		rc = 0;
	} else {
		if ((rc = ev_subquery(ev, arg, &sq)) != 0)
			goto done;
		for (size_t i = 0; i < sq.n; i++) {
			if ((rc = ev_check_deadline(ev)) != 0 ||
			    (rc = range_one(ev, c, args, mi, sq.s[i].pts, sq.s[i].n, sq.s[i].ls,
			                    sq.s[i].hash, arg->u.sq.at, arg->u.sq.at_ms,
			                    arg->u.sq.offset_ms, arg->u.sq.range_ms, buf, &ro)) != 0)
				goto done;
		}
	}
	if (ro.dup && strcmp(c->f->name, "absent_over_time") != 0)
		rc = ev_fail(ev, ML_EINVAL, "vector cannot contain metrics with the same labelset");
done:
	ev_select_close(&it);
	hmap_free(&ro.seen);
	ml_free(buf);
	ml_free(live);
	return rc;
}

/* absent_over_time: 1 at the steps where no series of out had a point, with the
 * selector's equality labels; replaces out. */
static int absent_over_time(struct ev *ev, struct call_ctx *c, const struct ml_node *arg,
                            struct ev_matrix *out)
{
	struct hmap seen = {0};
	struct ml_labels ls;
	uint64_t h;
	int rc = 0;
	struct ml_sample *pts = ml_arena_alloc(ev->a, ev_steps(ev) * sizeof(*pts));
	if (pts == NULL)
		return ev_oom(ev);
	size_t np = 0;
	for (size_t i = 0; i < out->n; i++)
		for (size_t j = 0; j < out->s[i].n; j++) {
			bool ins;
			if (hmap_put(&seen, (uint64_t)out->s[i].pts[j].t_ms, &ins) == NULL) {
				rc = ev_oom(ev);
				goto done;
			}
		}
	for (int64_t t = ev->start; t <= ev->end; t += ev->interval) {
		if (hmap_get(&seen, (uint64_t)t) == NULL) {
			pts[np].t_ms = t;
			pts[np].v = 1;
			np++;
		}
	}
	out->n = 0;
	if (np == 0)
		goto done;
	if (arg->kind == ML_NODE_SUBQUERY) {
		ls = ev_no_labels;
		h = ml_labels_hash(ls);
	} else if ((rc = absent_labels(ev, c, arg, &ls, &h)) != 0) {
		goto done;
	}
	out->s[0].ls = ls;
	out->s[0].hash = h;
	out->s[0].pts = pts;
	out->s[0].n = np;
	out->n = 1;
done:
	hmap_free(&seen);
	return rc;
}

static int range_call(struct ev *ev, struct call_ctx *c, size_t mi, struct ev_matrix *out)
{
	struct ev_matrix_sink ms;
	struct ev_sink sink;
	int rc = ev_matrix_sink_init(ev, out, &ms, &sink);
	if (rc == 0)
		rc = range_stream(ev, c, mi, &sink);
	if (rc == 0 && strcmp(c->f->name, "absent_over_time") == 0)
		rc = absent_over_time(ev, c, ev_unparen(c->n->u.call.args[mi]), out);
	if (rc != 0)
		out->n = 0;
	return rc;
}

static void call_ctx_free(struct call_ctx *c)
{
	ml_free(c->rs_at);
	ml_free(c->rs_val);
	lcache_free(&c->dmn);
	lb_free(&c->lb);
	hmap_free(&c->hq);
	for (size_t i = 0; i < c->capsets; i++)
		ml_free(c->sets[i].b);
	ml_free(c->sets);
	if (c->md != NULL)
		pcre2_match_data_free(c->md);
	if (c->re != NULL)
		pcre2_code_free(c->re);
}

/* The argument of a range function that is a range (matrix selector or subquery), or -1. */
static int range_arg(const struct ml_node *n)
{
	for (size_t a = 0; a < n->u.call.n_args; a++) {
		const struct ml_node *arg = ev_unparen(n->u.call.args[a]);
		if (arg->kind == ML_NODE_MATRIX_SELECTOR || arg->kind == ML_NODE_SUBQUERY)
			return (int)a;
	}
	return -1;
}

bool ev_call_streams(const struct ml_node *n)
{
	if (n->kind != ML_NODE_CALL)
		return false;
	const struct fdef *f = fdef_lookup(n->u.call.func->name);
	return f != NULL && f->range != NULL && strcmp(f->name, "absent_over_time") != 0 &&
	       range_arg(n) >= 0;
}

int ev_call_sink(struct ev *ev, const struct ml_node *n, const struct ev_sink *sink)
{
	struct call_ctx c;
	memset(&c, 0, sizeof(c));
	c.n = n;
	c.f = fdef_lookup(n->u.call.func->name);
	int mi = range_arg(n);
	if (c.f == NULL || c.f->range == NULL || mi < 0)
		return ev_fail(ev, ML_EINVAL, "unexpected expression in evaluation");
	int rc = range_stream(ev, &c, (size_t)mi, sink);
	call_ctx_free(&c);
	return rc;
}

int ev_call(struct ev *ev, const struct ml_node *n, struct ev_matrix *out)
{
	struct call_ctx c;
	struct ev_matrix args[ML_FUNC_MAX_ARGS] = {{0}};
	int rc = 0;
	memset(&c, 0, sizeof(c));
	c.n = n;
	c.f = fdef_lookup(n->u.call.func->name);
	if (c.f == NULL)
		return ev_fail(ev, ML_EINVAL, "function \"%s\" is not implemented",
		               n->u.call.func->name);
	size_t nargs = n->u.call.n_args;
	if (strcmp(c.f->name, "timestamp") == 0 && nargs == 1 &&
	    ev_unparen(n->u.call.args[0])->kind == ML_NODE_VECTOR_SELECTOR) {
		/* The sample's own time, not the step's. */
		struct ev_matrix m;
		if ((rc = ev_vector_selector(ev, ev_unparen(n->u.call.args[0]), true, &m)) != 0)
			goto done;
		rc = ev_range_eval(ev, &m, 1, timestamp_sel_step, &c, out);
		goto done;
	}
	if (c.f->range != NULL) {
		int mi = range_arg(n);
		rc = mi >= 0 ? range_call(ev, &c, (size_t)mi, out)
		             : ev_fail(ev, ML_EINVAL, "function \"%s\" needs a range vector", c.f->name);
		goto done;
	}
	if (nargs > ML_FUNC_MAX_ARGS && strcmp(c.f->name, "label_join") != 0) {
		rc = ev_fail(ev, ML_EINVAL, "too many arguments");
		goto done;
	}
	/* String arguments are read from the tree; only the others are evaluated. */
	size_t n_in = 0;
	for (size_t a = 0; a < nargs && a < ML_FUNC_MAX_ARGS; a++) {
		if (ml_node_type(n->u.call.args[a]) != ML_TYPE_STRING &&
		    (rc = ev_eval(ev, n->u.call.args[a], &args[a])) != 0)
			goto done;
		n_in = a + 1;
	}
	rc = ev_range_eval(ev, args, n_in, inst_step, &c, out);
done:
	call_ctx_free(&c);
	return rc;
}
