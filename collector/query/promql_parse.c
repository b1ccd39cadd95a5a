/*
 * promql_parse.c - recursive-descent PromQL parser with precedence climbing,
 * Prometheus 2.42's type checks, and the printer behind format_query.
 *
 * The tree is allocated in the expression's arena. Label matchers compile
 * their regexes on the heap; the expression keeps a list of them so that
 * ml_promql_expr_destroy frees them.
 */
#include "query/promql_parse.h"

#include "core/arena.h"
#include "core/alloc.h"
#include "core/duration.h"
#include "query/promql_functions.h"
#include "query/promql_lex.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct parser {
	struct ml_lexer lx;
	struct ml_token tok;     /* current token */
	const char *q;
	size_t n;
	struct ml_promql_expr *e;
	struct ml_err *err;
	int failed;
	/* The first of the errors Prometheus's checkAST finds once the whole
	 * query has parsed: it shows only when no syntax error does. */
	int sem_failed;
	uint32_t sem_pos;
	char sem_msg[400];
};

/* Precedence levels, lowest first. */
enum { PREC_OR = 1, PREC_AND, PREC_CMP, PREC_ADD, PREC_MUL, PREC_POW };

static struct ml_node *parse_expr(struct parser *p, int min_prec);

/* "line:col" of a byte offset, 1-based as Prometheus prints it. */
static void position(const struct parser *p, uint32_t pos, int *line, int *col)
{
	*line = 1;
	size_t line_start = 0;
	for (size_t i = 0; i < pos && i < p->n; i++) {
		if (p->q[i] == '\n') {
			(*line)++;
			line_start = i + 1;
		}
	}
	*col = (int)(pos - line_start) + 1;
}

__attribute__((format(printf, 3, 4))) static void *fail(struct parser *p, uint32_t pos,
							 const char *fmt, ...)
{
	if (p->failed)
		return NULL;
	p->failed = 1;
	char msg[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	int line, col;
	position(p, pos, &line, &col);
	ml_err_set(p->err, ML_EINVAL, "%d:%d: parse error: %s", line, col, msg);
	return NULL;
}

static void vsem(struct parser *p, uint32_t pos, const char *fmt, va_list ap)
{
	if (p->sem_failed)
		return;
	p->sem_failed = 1;
	p->sem_pos = pos;
	vsnprintf(p->sem_msg, sizeof(p->sem_msg), fmt, ap);
}

/* A type check's error (checkAST): parsing goes on, a syntax error comes first. */
__attribute__((format(printf, 3, 4))) static void sem(struct parser *p, uint32_t pos,
						       const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsem(p, pos, fmt, ap);
	va_end(ap);
}

/* As sem, and returns n so that the caller's node stands in the tree. */
__attribute__((format(printf, 4, 5))) static struct ml_node *
sem_node(struct parser *p, struct ml_node *n, uint32_t pos, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsem(p, pos, fmt, ap);
	va_end(ap);
	return n;
}

static void *oom(struct parser *p)
{
	if (!p->failed) {
		p->failed = 1;
		ml_err_set(p->err, ML_ENOMEM, "out of memory parsing the query");
	}
	return NULL;
}

static void advance(struct parser *p)
{
	p->tok = ml_lexer_next(&p->lx);
}

/* Go's %q of text, cut to max runes first when max > 0 (%.10q). */
static size_t go_quote(char *out, size_t len, const char *s, size_t n, size_t max)
{
	size_t o = 0, runes = 0;
	if (len < 8)
		return 0;
	out[o++] = '"';
	for (size_t i = 0; i < n && o + 6 < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c & 0xc0) != 0x80 && max > 0 && runes++ == max)
			break;
		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c == '\n') {
			out[o++] = '\\';
			out[o++] = 'n';
		} else if (c == '\t') {
			out[o++] = '\\';
			out[o++] = 't';
		} else if (c < 0x20 || c == 0x7f) {
			o += (size_t)snprintf(out + o, len - o, "\\x%02x", c);
		} else {
			out[o++] = (char)c;
		}
	}
	out[o++] = '"';
	out[o] = '\0';
	return o;
}

static bool tok_is_operator(enum ml_tok t)
{
	return (t >= ML_TOK_ADD && t <= ML_TOK_NEQ_REGEX) || t == ML_TOK_AT ||
	       (t >= ML_TOK_AND && t <= ML_TOK_ATAN2);
}

/*
 * The current token as Prometheus's Item.desc() names it in "unexpected
 * ..." messages: punctuation quoted ("\"(\""), operators <op:*>, keywords
 * <by>, aggregators <aggr:sum>, other items by kind and %q of their text,
 * cut to ten characters ("number \"1234567890\"...").
 */
static void describe(const struct parser *p, char *out, size_t len)
{
	const struct ml_token *t = &p->tok;
	const char *text = p->q + t->pos;
	const char *kind = NULL;
	switch (t->type) {
	case ML_TOK_EOF:
		snprintf(out, len, "end of input");
		return;
	case ML_TOK_IDENTIFIER:
		/* Prometheus's lexer makes Inf and NaN numbers. */
		kind = t->len == 3 && (strncasecmp(text, "inf", 3) == 0 || strncasecmp(text, "nan", 3) == 0)
			       ? "number" : "identifier";
		break;
	case ML_TOK_METRIC_IDENTIFIER: kind = "metric identifier"; break;
	case ML_TOK_NUMBER: kind = "number"; break;
	case ML_TOK_DURATION: kind = "duration"; break;
	case ML_TOK_STRING: kind = "string"; break;
	default:
		if (t->type == ML_TOK_AT) /* 2.42 has no name for AT: its token number shows */
			snprintf(out, len, "\"<Item 57385>\" <op:@>");
		else if (t->type == ML_TOK_START || t->type == ML_TOK_END) /* not keywords to Go */
			go_quote(out, len, text, t->len, 0);
		else if (tok_is_operator(t->type))
			snprintf(out, len, "<op:%.*s>", (int)t->len, text);
		else if (ml_tok_is_aggregator(t->type))
			snprintf(out, len, "<aggr:%.*s>", (int)t->len, text);
		else if (ml_tok_is_keyword(t->type))
			snprintf(out, len, "<%.*s>", (int)t->len, text);
		else
			snprintf(out, len, "%s", ml_tok_desc(t->type));
		return;
	}
	size_t o = (size_t)snprintf(out, len, "%s ", kind);
	if (o >= len)
		return;
	bool ident = t->type == ML_TOK_IDENTIFIER || t->type == ML_TOK_METRIC_IDENTIFIER;
	size_t runes = 0;
	for (size_t i = 0; i < t->len; i++)
		if (((unsigned char)text[i] & 0xc0) != 0x80)
			runes++;
	bool cut = !ident && runes > 10;
	o += go_quote(out + o, len - o, text, t->len, cut ? 10 : 0);
	if (cut && o + 4 < len)
		snprintf(out + o, len - o, "...");
}

static void *unexpected(struct parser *p, const char *context, const char *expected)
{
	char what[128];
	if (p->tok.type == ML_TOK_ERROR)
		return fail(p, p->tok.pos, "%s", p->lx.error);
	describe(p, what, sizeof(what));
	if (context && expected)
		return fail(p, p->tok.pos, "unexpected %s in %s, expected %s", what, context, expected);
	if (context)
		return fail(p, p->tok.pos, "unexpected %s in %s", what, context);
	return fail(p, p->tok.pos, "unexpected %s", what);
}

static struct ml_node *node_new(struct parser *p, enum ml_node_kind kind, uint32_t pos)
{
	struct ml_node *n = ml_arena_calloc(p->e->arena, 1, sizeof(*n));
	if (n == NULL)
		return oom(p);
	n->kind = kind;
	n->pos = pos;
	return n;
}

/* ---- literals ----------------------------------------------------------- */

static int parse_number_text(const char *s, size_t n, double *out)
{
	char buf[64];
	if (n >= sizeof(buf))
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	char *end;
	/* Prometheus tries ParseInt(s, 0, 64) first: 0x1f is hex, 010 is octal. */
	errno = 0;
	long long iv = strtoll(buf, &end, 0);
	if (*end == '\0' && errno == 0) {
		*out = (double)iv;
		return 0;
	}
	errno = 0;
	*out = strtod(buf, &end);
	if (errno == ERANGE && isinf(*out))
		return -1; /* Go's ParseFloat: value out of range */
	return *end == '\0' ? 0 : -1;
}

/* Prometheus's parseNumber error: Go's strconv.ParseFloat error for the text. */
static void *number_error(struct parser *p, const struct ml_token *t)
{
	char buf[64];
	size_t n = t->len < sizeof(buf) - 1 ? t->len : sizeof(buf) - 1;
	memcpy(buf, p->q + t->pos, n);
	buf[n] = '\0';
	char *end;
	errno = 0;
	(void)strtod(buf, &end);
	bool range = *end == '\0' && errno == ERANGE;
	return fail(p, t->pos, "error parsing number: strconv.ParseFloat: parsing \"%.*s\": %s",
		    (int)t->len, p->q + t->pos, range ? "value out of range" : "invalid syntax");
}

/* Go's strconv.Unquote for '...', "..." and `...` into the arena. */
static int unquote(struct parser *p, const struct ml_token *t, struct ml_str *out)
{
	const char *s = p->q + t->pos + 1;
	size_t n = t->len - 2;
	char quote = p->q[t->pos];
	char *d = ml_arena_alloc(p->e->arena, n + 1);
	if (d == NULL)
		return ML_ENOMEM;
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c != '\\' || quote == '`') {
			d[o++] = c;
			continue;
		}
		if (++i >= n)
			return ML_EINVAL;
		char e = s[i];
		switch (e) {
		case 'a': d[o++] = '\a'; break;
		case 'b': d[o++] = '\b'; break;
		case 'f': d[o++] = '\f'; break;
		case 'n': d[o++] = '\n'; break;
		case 'r': d[o++] = '\r'; break;
		case 't': d[o++] = '\t'; break;
		case 'v': d[o++] = '\v'; break;
		case '\\': d[o++] = '\\'; break;
		case '\'': case '"':
			if (e != quote)
				return ML_EINVAL;
			d[o++] = e;
			break;
		case 'x': case 'u': case 'U': {
			size_t digits = e == 'x' ? 2 : e == 'u' ? 4 : 8;
			if (i + digits >= n)
				return ML_EINVAL;
			uint32_t v = 0;
			for (size_t k = 1; k <= digits; k++) {
				char h = s[i + k];
				int hv = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10
					: h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
				if (hv < 0)
					return ML_EINVAL;
				v = v << 4 | (uint32_t)hv;
			}
			i += digits;
			if (e == 'x') {
				d[o++] = (char)v;
			} else {
				if (v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
					return ML_EINVAL;
				/* UTF-8 encode; the escape's text is at least as long as its encoding. */
				if (v < 0x80) {
					d[o++] = (char)v;
				} else if (v < 0x800) {
					d[o++] = (char)(0xc0 | v >> 6);
					d[o++] = (char)(0x80 | (v & 0x3f));
				} else if (v < 0x10000) {
					d[o++] = (char)(0xe0 | v >> 12);
					d[o++] = (char)(0x80 | ((v >> 6) & 0x3f));
					d[o++] = (char)(0x80 | (v & 0x3f));
				} else {
					d[o++] = (char)(0xf0 | v >> 18);
					d[o++] = (char)(0x80 | ((v >> 12) & 0x3f));
					d[o++] = (char)(0x80 | ((v >> 6) & 0x3f));
					d[o++] = (char)(0x80 | (v & 0x3f));
				}
			}
			break;
		}
		default:
			if (e >= '0' && e <= '7' && i + 2 < n && s[i + 1] >= '0' && s[i + 1] <= '7' &&
			    s[i + 2] >= '0' && s[i + 2] <= '7') {
				int v = (e - '0') * 64 + (s[i + 1] - '0') * 8 + (s[i + 2] - '0');
				if (v > 255)
					return ML_EINVAL;
				d[o++] = (char)v;
				i += 2;
				break;
			}
			return ML_EINVAL;
		}
	}
	d[o] = '\0';
	out->p = d;
	out->n = o;
	return 0;
}

static int parse_duration_tok(struct parser *p, int64_t *ms)
{
	if (p->tok.type != ML_TOK_DURATION) {
		unexpected(p, NULL, NULL);
		return -1;
	}
	uint64_t v;
	if (ml_parse_prom_duration(p->q + p->tok.pos, p->tok.len, &v) != 0 || v > INT64_MAX) {
		fail(p, p->tok.pos, "not a valid duration string: \"%.*s\"", (int)p->tok.len,
		     p->q + p->tok.pos);
		return -1;
	}
	if (v == 0) { /* ranges, subquery steps and offsets alike, as in Prometheus 2.42 */
		fail(p, p->tok.pos, "duration must be greater than 0");
		return -1;
	}
	*ms = (int64_t)v;
	advance(p);
	return 0;
}

/* ---- label lists and matchers -------------------------------------------- */

static int is_label_token(enum ml_tok t)
{
	return t == ML_TOK_IDENTIFIER || ml_tok_is_keyword(t) || ml_tok_is_aggregator(t);
}

/* ( label, label, ... ) with an optional trailing comma. */
static int parse_label_list(struct parser *p, struct ml_str_list *out, const char *context)
{
	if (p->tok.type != ML_TOK_LPAREN) {
		unexpected(p, context, "\"(\"");
		return -1;
	}
	advance(p);
	size_t cap = 0;
	out->items = NULL;
	out->n = 0;
	while (p->tok.type != ML_TOK_RPAREN) {
		if (!is_label_token(p->tok.type)) {
			unexpected(p, context, "label");
			return -1;
		}
		if (out->n == cap) {
			size_t ncap = cap ? cap * 2 : 4;
			struct ml_str *items = ml_arena_calloc(p->e->arena, ncap, sizeof(*items));
			if (items == NULL) {
				oom(p);
				return -1;
			}
			if (out->n)
				memcpy(items, out->items, out->n * sizeof(*items));
			out->items = items;
			cap = ncap;
		}
		out->items[out->n++] = ml_str_make(p->q + p->tok.pos, p->tok.len);
		advance(p);
		if (p->tok.type == ML_TOK_COMMA)
			advance(p);
		else if (p->tok.type != ML_TOK_RPAREN) {
			unexpected(p, context, "\",\" or \")\"");
			return -1;
		}
	}
	advance(p);
	return 0;
}

static struct ml_matcher *matcher_new(struct parser *p, enum ml_match_type type, const char *name,
				      size_t nlen, const char *value, size_t vlen, uint32_t pos)
{
	struct ml_promql_expr *e = p->e;
	if (e->n_matchers == e->cap_matchers) {
		size_t cap = e->cap_matchers ? e->cap_matchers * 2 : 8;
		struct ml_matcher **m = ml_realloc(e->matchers, cap * sizeof(*m));
		if (m == NULL)
			return oom(p);
		e->matchers = m;
		e->cap_matchers = cap;
	}
	struct ml_matcher *m = ml_arena_calloc(e->arena, 1, sizeof(*m));
	if (m == NULL)
		return oom(p);
	struct ml_err merr;
	int rc = ml_matcher_init(m, type, name, nlen, value, vlen, &merr);
	if (rc == ML_ENOMEM)
		return oom(p);
	if (rc != 0)
		return fail(p, pos, "%s", merr.msg);
	e->matchers[e->n_matchers++] = m;
	return m;
}

/* { name op "value", ... } into vs; the metric name, if any, is already set. */
static int parse_matchers(struct parser *p, struct ml_node *vs)
{
	size_t cap = 0;
	struct ml_matcher *list = NULL;
	size_t n = 0;
	if (vs->u.vs.name.n > 0) {
		cap = 8;
		list = ml_arena_calloc(p->e->arena, cap, sizeof(*list));
		if (list == NULL) {
			oom(p);
			return -1;
		}
		struct ml_matcher *m = matcher_new(p, ML_MATCH_EQ, "__name__", 8, vs->u.vs.name.p,
						   vs->u.vs.name.n, vs->pos);
		if (m == NULL)
			return -1;
		list[n++] = *m;
	}
	if (p->tok.type == ML_TOK_LBRACE) {
		advance(p);
		while (p->tok.type != ML_TOK_RBRACE) {
			if (!is_label_token(p->tok.type)) {
				unexpected(p, "label matching", "identifier or \"}\"");
				return -1;
			}
			struct ml_token name = p->tok;
			advance(p);
			enum ml_match_type type;
			switch (p->tok.type) {
			case ML_TOK_ASSIGN: type = ML_MATCH_EQ; break;
			case ML_TOK_NEQ: type = ML_MATCH_NEQ; break;
			case ML_TOK_EQL_REGEX: type = ML_MATCH_RE; break;
			case ML_TOK_NEQ_REGEX: type = ML_MATCH_NRE; break;
			default:
				unexpected(p, "label matching", "label matching operator");
				return -1;
			}
			advance(p);
			if (p->tok.type != ML_TOK_STRING) {
				unexpected(p, "label matching", "string");
				return -1;
			}
			struct ml_str value;
			if (unquote(p, &p->tok, &value) != 0) {
				fail(p, p->tok.pos, "invalid syntax in string %.*s", (int)p->tok.len,
				     p->q + p->tok.pos);
				return -1;
			}
			if (name.len == 8 && memcmp(p->q + name.pos, "__name__", 8) == 0 &&
			    vs->u.vs.name.n > 0) {
				sem(p, vs->pos, "metric name must not be set twice: \"%.*s\" or \"%.*s\"",
				    (int)vs->u.vs.name.n, vs->u.vs.name.p, (int)value.n, value.p);
			}
			struct ml_matcher *m =
				matcher_new(p, type, p->q + name.pos, name.len, value.p, value.n, name.pos);
			if (m == NULL)
				return -1;
			if (n == cap) {
				size_t ncap = cap ? cap * 2 : 8;
				struct ml_matcher *nl = ml_arena_calloc(p->e->arena, ncap, sizeof(*nl));
				if (nl == NULL) {
					oom(p);
					return -1;
				}
				if (n)
					memcpy(nl, list, n * sizeof(*nl));
				list = nl;
				cap = ncap;
			}
			list[n++] = *m;
			advance(p);
			if (p->tok.type == ML_TOK_COMMA)
				advance(p);
			else if (p->tok.type != ML_TOK_RBRACE) {
				unexpected(p, "label matching", "\",\" or \"}\"");
				return -1;
			}
		}
		advance(p);
	}
	vs->u.vs.matchers = list;
	vs->u.vs.n_matchers = n;
	/* A selector must select something: at least one matcher must not match "". */
	bool ok = false;
	for (size_t i = 0; i < n; i++)
		if (!list[i].matches_empty)
			ok = true;
	if (!ok)
		sem(p, vs->pos, "vector selector must contain at least one non-empty matcher");
	return 0;
}

/* ---- primaries ------------------------------------------------------------ */

static enum ml_op agg_op(enum ml_tok t)
{
	switch (t) {
	case ML_TOK_SUM: return ML_AGG_SUM;
	case ML_TOK_AVG: return ML_AGG_AVG;
	case ML_TOK_COUNT: return ML_AGG_COUNT;
	case ML_TOK_MIN: return ML_AGG_MIN;
	case ML_TOK_MAX: return ML_AGG_MAX;
	case ML_TOK_GROUP: return ML_AGG_GROUP;
	case ML_TOK_STDDEV: return ML_AGG_STDDEV;
	case ML_TOK_STDVAR: return ML_AGG_STDVAR;
	case ML_TOK_TOPK: return ML_AGG_TOPK;
	case ML_TOK_BOTTOMK: return ML_AGG_BOTTOMK;
	case ML_TOK_COUNT_VALUES: return ML_AGG_COUNT_VALUES;
	case ML_TOK_QUANTILE: return ML_AGG_QUANTILE;
	default: return ML_OP_NONE;
	}
}

static bool agg_has_param(enum ml_op op)
{
	return op == ML_AGG_TOPK || op == ML_AGG_BOTTOMK || op == ML_AGG_COUNT_VALUES ||
	       op == ML_AGG_QUANTILE;
}

static int parse_grouping(struct parser *p, struct ml_node *n)
{
	n->u.agg.without = p->tok.type == ML_TOK_WITHOUT;
	n->u.agg.has_grouping = true;
	advance(p);
	return parse_label_list(p, &n->u.agg.grouping, "grouping opts");
}

/* Whether a token may begin an expression (Prometheus's grammar, with keywords as metric names). */
static bool starts_expr(enum ml_tok t)
{
	switch (t) {
	case ML_TOK_NUMBER: case ML_TOK_STRING: case ML_TOK_IDENTIFIER: case ML_TOK_METRIC_IDENTIFIER:
	case ML_TOK_LPAREN: case ML_TOK_LBRACE: case ML_TOK_ADD: case ML_TOK_SUB:
	case ML_TOK_AND: case ML_TOK_OR: case ML_TOK_UNLESS: case ML_TOK_BY: case ML_TOK_WITHOUT:
	case ML_TOK_OFFSET: case ML_TOK_START: case ML_TOK_END:
		return true;
	default:
		return ml_tok_is_aggregator(t);
	}
}

/*
 * After an argument of a call or an aggregation: ',' (not followed by ','
 * or ')': Prometheus refuses trailing commas) or ')'. context names the
 * aggregation for "unexpected ..." as Prometheus's grammar does.
 */
static int arg_separator(struct parser *p, const char *context)
{
	if (p->tok.type == ML_TOK_COMMA) {
		uint32_t comma = p->tok.pos;
		advance(p);
		if (p->tok.type != ML_TOK_ERROR && !starts_expr(p->tok.type)) {
			fail(p, comma, "trailing commas not allowed in function call args");
			return -1;
		}
		return 0;
	}
	if (p->tok.type != ML_TOK_RPAREN) {
		unexpected(p, context, NULL);
		return -1;
	}
	return 0;
}

/* A vector selector whose metric name is the token t, already passed. */
static struct ml_node *selector_named(struct parser *p, const struct ml_token *t)
{
	struct ml_node *n = node_new(p, ML_NODE_VECTOR_SELECTOR, t->pos);
	if (n == NULL)
		return NULL;
	n->u.vs.name = ml_str_make(p->q + t->pos, t->len);
	if (parse_matchers(p, n) != 0)
		return NULL;
	return n;
}

static struct ml_node *parse_aggregate(struct parser *p)
{
	struct ml_token t = p->tok;
	advance(p);
	/* Not followed by "(", by or without, an aggregator's name is a metric name (2.42). */
	if (p->tok.type != ML_TOK_LPAREN && p->tok.type != ML_TOK_BY &&
	    p->tok.type != ML_TOK_WITHOUT)
		return selector_named(p, &t);
	struct ml_node *n = node_new(p, ML_NODE_AGGREGATE, t.pos);
	if (n == NULL)
		return NULL;
	n->u.agg.op = agg_op(t.type);
	const char *name = ml_op_name(n->u.agg.op);
	if (p->tok.type == ML_TOK_BY || p->tok.type == ML_TOK_WITHOUT)
		if (parse_grouping(p, n) != 0)
			return NULL;
	if (p->tok.type != ML_TOK_LPAREN)
		return unexpected(p, p->tok.type == ML_TOK_BY || p->tok.type == ML_TOK_WITHOUT
				     ? "aggregation" : NULL, NULL);
	uint32_t lparen = p->tok.pos;
	advance(p);
	struct ml_node *args[2] = {NULL, NULL};
	int nargs = 0;
	while (p->tok.type != ML_TOK_RPAREN) {
		if (nargs == 2)
			return fail(p, n->pos,
				    "wrong number of arguments for aggregate expression provided, expected %d, got %d",
				    agg_has_param(n->u.agg.op) ? 2 : 1, 3);
		args[nargs] = parse_expr(p, PREC_OR);
		if (args[nargs] == NULL)
			return NULL;
		nargs++;
		if (arg_separator(p, "aggregation") != 0)
			return NULL;
	}
	advance(p);
	int want = agg_has_param(n->u.agg.op) ? 2 : 1;
	if (nargs != want) {
		if (nargs == 0)
			return fail(p, lparen, "no arguments for aggregate expression provided");
		return fail(p, n->pos,
			    "wrong number of arguments for aggregate expression provided, expected %d, got %d",
			    want, nargs);
	}
	if (want == 2) {
		n->u.agg.param = args[0];
		n->u.agg.expr = args[1];
	} else {
		n->u.agg.expr = args[0];
	}
	if (p->tok.type == ML_TOK_BY || p->tok.type == ML_TOK_WITHOUT) {
		if (n->u.agg.has_grouping)
			return unexpected(p, "aggregation", NULL);
		if (parse_grouping(p, n) != 0)
			return NULL;
	}
	/* Type checks (parse.go checkAST). */
	if (ml_node_type(n->u.agg.expr) != ML_TYPE_VECTOR)
		return sem_node(p, n, n->u.agg.expr->pos,
			    "expected type instant vector in aggregation expression, got %s",
			    ml_value_type_name(ml_node_type(n->u.agg.expr)));
	if (n->u.agg.param != NULL) {
		enum ml_value_type want_t =
			n->u.agg.op == ML_AGG_COUNT_VALUES ? ML_TYPE_STRING : ML_TYPE_SCALAR;
		if (ml_node_type(n->u.agg.param) != want_t)
			return sem_node(p, n, n->u.agg.param->pos,
				    "expected type %s in aggregation parameter, got %s",
				    ml_value_type_name(want_t),
				    ml_value_type_name(ml_node_type(n->u.agg.param)));
	}
	(void)name;
	return n;
}

/* f is NULL for an unknown function name (the token name). */
static struct ml_node *parse_call(struct parser *p, const struct ml_func *f,
				  const struct ml_token *name)
{
	uint32_t pos = name->pos;
	struct ml_node *n = node_new(p, ML_NODE_CALL, pos);
	if (n == NULL)
		return NULL;
	advance(p); /* ( */
	size_t cap = 0;
	while (p->tok.type != ML_TOK_RPAREN) {
		struct ml_node *a = parse_expr(p, PREC_OR);
		if (a == NULL)
			return NULL;
		if (n->u.call.n_args == cap) {
			size_t ncap = cap ? cap * 2 : 4;
			struct ml_node **args = ml_arena_calloc(p->e->arena, ncap, sizeof(*args));
			if (args == NULL)
				return oom(p);
			if (n->u.call.n_args)
				memcpy(args, n->u.call.args, n->u.call.n_args * sizeof(*args));
			n->u.call.args = args;
			cap = ncap;
		}
		n->u.call.args[n->u.call.n_args++] = a;
		if (arg_separator(p, NULL) != 0)
			return NULL;
	}
	advance(p);
	/* Prometheus looks the function up once its arguments are parsed. */
	if (f == NULL)
		return fail(p, pos, "unknown function with name \"%.*s\"", (int)name->len,
			    p->q + name->pos);
	n->u.call.func = f;
	int nargs = (int)n->u.call.n_args;
	if (f->variadic == 0) {
		if (nargs != f->n_arg_types)
			return sem_node(p, n, pos, "expected %d argument(s) in call to \"%s\", got %d",
				    f->n_arg_types, f->name, nargs);
	} else {
		int min = f->n_arg_types - 1;
		int max = f->variadic > 0 ? f->n_arg_types + f->variadic - 1 : -1;
		if (max >= 0 && nargs > max)
			return sem_node(p, n, pos, "expected at most %d argument(s) in call to \"%s\", got %d",
				    max, f->name, nargs);
		if (nargs < min)
			return sem_node(p, n, pos, "expected at least %d argument(s) in call to \"%s\", got %d",
				    min, f->name, nargs);
	}
	for (int i = 0; i < nargs; i++) {
		enum ml_value_type want =
			f->arg_types[i < f->n_arg_types ? i : f->n_arg_types - 1];
		enum ml_value_type got = ml_node_type(n->u.call.args[i]);
		if (got != want)
			return sem_node(p, n, n->u.call.args[i]->pos,
				    "expected type %s in call to function \"%s\", got %s",
				    ml_value_type_name(want), f->name, ml_value_type_name(got));
	}
	return n;
}

static struct ml_node *parse_primary(struct parser *p)
{
	struct ml_token t = p->tok;
	switch (t.type) {
	case ML_TOK_NUMBER: {
		struct ml_node *n = node_new(p, ML_NODE_NUMBER, t.pos);
		if (n == NULL)
			return NULL;
		if (parse_number_text(p->q + t.pos, t.len, &n->u.number) != 0)
			return number_error(p, &t);
		advance(p);
		return n;
	}
	case ML_TOK_STRING: {
		struct ml_node *n = node_new(p, ML_NODE_STRING, t.pos);
		if (n == NULL)
			return NULL;
		if (unquote(p, &t, &n->u.string) != 0)
			return fail(p, t.pos, "invalid syntax in string %.*s", (int)t.len, p->q + t.pos);
		advance(p);
		return n;
	}
	case ML_TOK_LPAREN: {
		advance(p);
		struct ml_node *inner = parse_expr(p, PREC_OR);
		if (inner == NULL)
			return NULL;
		if (p->tok.type != ML_TOK_RPAREN)
			return unexpected(p, NULL, NULL);
		advance(p);
		struct ml_node *n = node_new(p, ML_NODE_PAREN, t.pos);
		if (n == NULL)
			return NULL;
		n->u.paren = inner;
		return n;
	}
	case ML_TOK_LBRACE: {
		struct ml_node *n = node_new(p, ML_NODE_VECTOR_SELECTOR, t.pos);
		if (n == NULL || parse_matchers(p, n) != 0)
			return NULL;
		return n;
	}
	case ML_TOK_IDENTIFIER:
	case ML_TOK_METRIC_IDENTIFIER: {
		advance(p);
		bool inf_nan = t.type == ML_TOK_IDENTIFIER && t.len == 3 &&
			       (strncasecmp(p->q + t.pos, "inf", 3) == 0 || strncasecmp(p->q + t.pos, "nan", 3) == 0);
		if (p->tok.type == ML_TOK_LPAREN && t.type == ML_TOK_IDENTIFIER && !inf_nan) {
			return parse_call(p, ml_func_lookup(p->q + t.pos, t.len), &t);
		}
		if (inf_nan) {
			struct ml_node *n = node_new(p, ML_NODE_NUMBER, t.pos);
			if (n == NULL)
				return NULL;
			n->u.number = tolower((unsigned char)p->q[t.pos]) == 'i' ? INFINITY : NAN;
			return n;
		}
		return selector_named(p, &t);
	}
	case ML_TOK_AND: case ML_TOK_OR: case ML_TOK_UNLESS: case ML_TOK_BY:
	case ML_TOK_WITHOUT: case ML_TOK_OFFSET: case ML_TOK_START: case ML_TOK_END:
		/* 2.42's grammar (metric_identifier) takes these keywords as metric names. */
		advance(p);
		return selector_named(p, &t);
	default:
		if (ml_tok_is_aggregator(t.type))
			return parse_aggregate(p);
		return unexpected(p, NULL, NULL);
	}
}

/* offset, @, [range] and [range:step] after a primary. */
static struct ml_node *parse_postfix(struct parser *p, struct ml_node *n)
{
	for (;;) {
		if (p->tok.type == ML_TOK_LBRACKET) {
			uint32_t pos = p->tok.pos;
			advance(p);
			int64_t range;
			if (parse_duration_tok(p, &range) != 0)
				return NULL;
			if (p->tok.type == ML_TOK_COLON) {
				advance(p);
				int64_t step = 0;
				if (p->tok.type == ML_TOK_DURATION && parse_duration_tok(p, &step) != 0)
					return NULL;
				if (p->tok.type != ML_TOK_RBRACKET)
					return unexpected(p, NULL, NULL);
				advance(p);
				if (ml_node_type(n) != ML_TYPE_VECTOR)
					sem(p, n->pos, "subquery is only allowed on instant vector, got %s instead",
					    ml_value_type_name(ml_node_type(n)));
				struct ml_node *sq = node_new(p, ML_NODE_SUBQUERY, n->pos);
				if (sq == NULL)
					return NULL;
				sq->u.sq.expr = n;
				sq->u.sq.range_ms = range;
				sq->u.sq.step_ms = step;
				n = sq;
				continue;
			}
			if (p->tok.type != ML_TOK_RBRACKET)
				return unexpected(p, NULL, NULL);
			advance(p);
			if (n->kind != ML_NODE_VECTOR_SELECTOR)
				return fail(p, pos, "ranges only allowed for vector selectors");
			if (n->u.vs.offset_ms != 0)
				return fail(p, pos, "no offset modifiers allowed before range");
			if (n->u.vs.at != ML_AT_NONE)
				return fail(p, pos, "no @ modifiers allowed before range");
			struct ml_node *ms = node_new(p, ML_NODE_MATRIX_SELECTOR, n->pos);
			if (ms == NULL)
				return NULL;
			ms->u.ms.vs = n;
			ms->u.ms.range_ms = range;
			n = ms;
			continue;
		}
		if (p->tok.type == ML_TOK_OFFSET) {
			advance(p);
			int neg = 0;
			if (p->tok.type == ML_TOK_SUB) {
				neg = 1;
				advance(p);
			}
			int64_t off;
			if (p->tok.type != ML_TOK_DURATION)
				return unexpected(p, "offset", "duration");
			if (parse_duration_tok(p, &off) != 0)
				return NULL;
			if (neg)
				off = -off;
			int64_t *slot;
			if (n->kind == ML_NODE_VECTOR_SELECTOR)
				slot = &n->u.vs.offset_ms;
			else if (n->kind == ML_NODE_MATRIX_SELECTOR)
				slot = &n->u.ms.vs->u.vs.offset_ms;
			else if (n->kind == ML_NODE_SUBQUERY)
				slot = &n->u.sq.offset_ms;
			else
				return fail(p, n->pos,
					    "offset modifier must be preceded by an instant vector selector or range vector selector or a subquery");
			if (*slot != 0)
				return fail(p, n->pos, "offset may not be set multiple times");
			*slot = off;
			continue;
		}
		if (p->tok.type == ML_TOK_AT) {
			advance(p);
			enum ml_at_kind kind;
			int64_t at_ms = 0;
			if (p->tok.type == ML_TOK_START || p->tok.type == ML_TOK_END) {
				kind = p->tok.type == ML_TOK_START ? ML_AT_START : ML_AT_END;
				advance(p);
				if (p->tok.type != ML_TOK_LPAREN)
					return unexpected(p, "@", "timestamp");
				advance(p);
				if (p->tok.type != ML_TOK_RPAREN)
					return unexpected(p, "@", "timestamp");
				advance(p);
			} else {
				int neg = 0;
				if (p->tok.type == ML_TOK_SUB || p->tok.type == ML_TOK_ADD) {
					neg = p->tok.type == ML_TOK_SUB;
					advance(p);
				}
				bool inf_nan = p->tok.type == ML_TOK_IDENTIFIER && p->tok.len == 3 &&
					       (strncasecmp(p->q + p->tok.pos, "inf", 3) == 0 ||
						strncasecmp(p->q + p->tok.pos, "nan", 3) == 0);
				if (p->tok.type != ML_TOK_NUMBER && !inf_nan)
					return unexpected(p, "@", "timestamp");
				double ts;
				if (inf_nan)
					ts = tolower((unsigned char)p->q[p->tok.pos]) == 'i' ? INFINITY : NAN;
				else if (parse_number_text(p->q + p->tok.pos, p->tok.len, &ts) != 0)
					return number_error(p, &p->tok);
				advance(p);
				if (neg)
					ts = -ts;
				/* Prometheus's setTimestamp: the seconds must fit an int64, printed with %f. */
				if (isnan(ts) || ts >= 9223372036854775807.0 || ts <= -9223372036854775808.0) {
					if (isnan(ts) || isinf(ts))
						return fail(p, n->pos, "timestamp out of bounds for @ modifier: %s",
							    isnan(ts) ? "NaN" : ts > 0 ? "+Inf" : "-Inf");
					return fail(p, n->pos, "timestamp out of bounds for @ modifier: %f", ts);
				}
				double ms = round(ts * 1000.0);
				/* Go's int64 conversion of a value out of range gives MinInt64 on amd64. */
				if (ms >= 9223372036854775807.0 || ms < -9223372036854775808.0)
					ms = -9223372036854775808.0;
				kind = ML_AT_TIME;
				at_ms = (int64_t)ms;
			}
			enum ml_at_kind *slot;
			int64_t *slot_ms;
			if (n->kind == ML_NODE_VECTOR_SELECTOR) {
				slot = &n->u.vs.at;
				slot_ms = &n->u.vs.at_ms;
			} else if (n->kind == ML_NODE_MATRIX_SELECTOR) {
				slot = &n->u.ms.vs->u.vs.at;
				slot_ms = &n->u.ms.vs->u.vs.at_ms;
			} else if (n->kind == ML_NODE_SUBQUERY) {
				slot = &n->u.sq.at;
				slot_ms = &n->u.sq.at_ms;
			} else {
				return fail(p, n->pos,
					    "@ modifier must be preceded by an instant vector selector or range vector selector or a subquery");
			}
			if (*slot != ML_AT_NONE)
				return fail(p, n->pos, "@ <timestamp> may not be set multiple times");
			*slot = kind;
			*slot_ms = at_ms;
			continue;
		}
		return n;
	}
}

static struct ml_node *parse_unary(struct parser *p)
{
	if (p->tok.type == ML_TOK_ADD || p->tok.type == ML_TOK_SUB) {
		struct ml_token t = p->tok;
		advance(p);
		/* Unary minus binds like '*': -a^b is -(a^b), -a*b is (-a)*b. */
		struct ml_node *operand = parse_expr(p, PREC_POW);
		if (operand == NULL)
			return NULL;
		enum ml_value_type ty = ml_node_type(operand);
		if (ty != ML_TYPE_SCALAR && ty != ML_TYPE_VECTOR)
			sem(p, t.pos,
			    "unary expression only allowed on expressions of type scalar or instant vector, got \"%s\"",
			    ml_value_type_name(ty));
		if (operand->kind == ML_NODE_NUMBER) {
			if (t.type == ML_TOK_SUB)
				operand->u.number = -operand->u.number;
			operand->pos = t.pos;
			return operand;
		}
		struct ml_node *n = node_new(p, ML_NODE_UNARY, t.pos);
		if (n == NULL)
			return NULL;
		n->u.unary.op = t.type == ML_TOK_SUB ? ML_OP_SUB : ML_OP_ADD;
		n->u.unary.expr = operand;
		return n;
	}
	struct ml_node *n = parse_primary(p);
	return n ? parse_postfix(p, n) : NULL;
}

static int binop_prec(enum ml_tok t, enum ml_op *op)
{
	switch (t) {
	case ML_TOK_OR: *op = ML_OP_OR; return PREC_OR;
	case ML_TOK_AND: *op = ML_OP_AND; return PREC_AND;
	case ML_TOK_UNLESS: *op = ML_OP_UNLESS; return PREC_AND;
	case ML_TOK_EQLC: *op = ML_OP_EQL; return PREC_CMP;
	case ML_TOK_NEQ: *op = ML_OP_NEQ; return PREC_CMP;
	case ML_TOK_LSS: *op = ML_OP_LSS; return PREC_CMP;
	case ML_TOK_LTE: *op = ML_OP_LTE; return PREC_CMP;
	case ML_TOK_GTR: *op = ML_OP_GTR; return PREC_CMP;
	case ML_TOK_GTE: *op = ML_OP_GTE; return PREC_CMP;
	case ML_TOK_ADD: *op = ML_OP_ADD; return PREC_ADD;
	case ML_TOK_SUB: *op = ML_OP_SUB; return PREC_ADD;
	case ML_TOK_MUL: *op = ML_OP_MUL; return PREC_MUL;
	case ML_TOK_DIV: *op = ML_OP_DIV; return PREC_MUL;
	case ML_TOK_MOD: *op = ML_OP_MOD; return PREC_MUL;
	case ML_TOK_ATAN2: *op = ML_OP_ATAN2; return PREC_MUL;
	case ML_TOK_POW: *op = ML_OP_POW; return PREC_POW;
	default: return 0;
	}
}

/* bool, on/ignoring (...), group_left/group_right [(...)] after a binary operator. */
static int parse_bin_modifiers(struct parser *p, struct ml_node *n)
{
	if (p->tok.type == ML_TOK_BOOL) {
		n->u.binary.return_bool = true;
		advance(p);
	}
	if (p->tok.type != ML_TOK_ON && p->tok.type != ML_TOK_IGNORING)
		return 0;
	struct ml_vector_matching *vm = ml_arena_calloc(p->e->arena, 1, sizeof(*vm));
	if (vm == NULL) {
		oom(p);
		return -1;
	}
	n->u.binary.matching = vm;
	vm->has_modifier = true;
	vm->on = p->tok.type == ML_TOK_ON;
	advance(p);
	if (parse_label_list(p, &vm->labels, "grouping opts") != 0)
		return -1;
	if (p->tok.type == ML_TOK_GROUP_LEFT || p->tok.type == ML_TOK_GROUP_RIGHT) {
		vm->card = p->tok.type == ML_TOK_GROUP_LEFT ? ML_CARD_MANY_TO_ONE : ML_CARD_ONE_TO_MANY;
		advance(p);
		if (p->tok.type == ML_TOK_LPAREN &&
		    parse_label_list(p, &vm->include, "grouping opts") != 0)
			return -1;
	}
	return 0;
}

/*
 * Prometheus's checkAST for a binary expression, in its order: errors about
 * the operator at the operator, an operand of the wrong type at that
 * operand, the rest at the expression's start (its left-hand side).
 */
static struct ml_node *check_binary(struct parser *p, struct ml_node *n)
{
	enum ml_op op = n->u.binary.op;
	struct ml_node *lhs = n->u.binary.lhs, *rhs = n->u.binary.rhs;
	enum ml_value_type lt = ml_node_type(lhs), rt = ml_node_type(rhs);
	bool cmp = ml_op_is_comparison(op), set = ml_op_is_set(op);
	struct ml_vector_matching *vm = n->u.binary.matching;
	if (n->u.binary.return_bool && !cmp)
		return sem_node(p, n, n->pos, "bool modifier can only be used on comparison operators");
	if (cmp && lt == ML_TYPE_SCALAR && rt == ML_TYPE_SCALAR && !n->u.binary.return_bool)
		return sem_node(p, n, n->pos, "comparisons between scalars must use BOOL modifier");
	for (size_t i = 0; vm != NULL && vm->on && i < vm->labels.n; i++)
		for (size_t j = 0; j < vm->include.n; j++)
			if (ml_str_eq(vm->labels.items[i], vm->include.items[j]))
				return sem_node(p, n, n->pos,
					    "label \"%.*s\" must not occur in ON and GROUP clause at once",
					    (int)vm->include.items[j].n, vm->include.items[j].p);
	if (lt != ML_TYPE_SCALAR && lt != ML_TYPE_VECTOR)
		return sem_node(p, n, lhs->pos, "binary expression must contain only scalar and instant vector types");
	if (rt != ML_TYPE_SCALAR && rt != ML_TYPE_VECTOR)
		return sem_node(p, n, rhs->pos, "binary expression must contain only scalar and instant vector types");
	bool both_vectors = lt == ML_TYPE_VECTOR && rt == ML_TYPE_VECTOR;
	if (!both_vectors && vm != NULL) {
		if (vm->labels.n > 0)
			return sem_node(p, n, lhs->pos, "vector matching only allowed between instant vectors");
		n->u.binary.matching = vm = NULL;
	} else if (set && both_vectors && vm != NULL &&
		   (vm->card == ML_CARD_MANY_TO_ONE || vm->card == ML_CARD_ONE_TO_MANY)) {
		return sem_node(p, n, lhs->pos, "no grouping allowed for \"%s\" operation", ml_op_name(op));
	}
	if (set && (lt == ML_TYPE_SCALAR || rt == ML_TYPE_SCALAR))
		return sem_node(p, n, lhs->pos, "set operator \"%s\" not allowed in binary scalar expression",
			    ml_op_name(op));
	if (both_vectors) {
		if (vm == NULL) {
			vm = ml_arena_calloc(p->e->arena, 1, sizeof(*vm));
			if (vm == NULL)
				return oom(p);
			n->u.binary.matching = vm;
		}
		if (set)
			vm->card = ML_CARD_MANY_TO_MANY;
	}
	return n;
}

static struct ml_node *parse_expr(struct parser *p, int min_prec)
{
	struct ml_node *lhs = parse_unary(p);
	if (lhs == NULL)
		return NULL;
	for (;;) {
		enum ml_op op;
		int prec = binop_prec(p->tok.type, &op);
		if (prec == 0 || prec < min_prec)
			return lhs;
		struct ml_node *n = node_new(p, ML_NODE_BINARY, p->tok.pos);
		if (n == NULL)
			return NULL;
		n->u.binary.op = op;
		advance(p);
		if (parse_bin_modifiers(p, n) != 0)
			return NULL;
		/* '^' is right-associative; everything else left. */
		struct ml_node *rhs = parse_expr(p, op == ML_OP_POW ? prec : prec + 1);
		if (rhs == NULL)
			return NULL;
		n->u.binary.lhs = lhs;
		n->u.binary.rhs = rhs;
		if (check_binary(p, n) == NULL)
			return NULL;
		lhs = n;
	}
}

struct ml_promql_expr *ml_promql_parse(const char *q, size_t n, struct ml_err *err)
{
	struct ml_promql_expr *e = ml_calloc(1, sizeof(*e));
	if (e == NULL) {
		ml_err_set(err, ML_ENOMEM, "out of memory parsing the query");
		return NULL;
	}
	e->arena = ml_arena_create(0);
	if (e->arena == NULL) {
		ml_free(e);
		ml_err_set(err, ML_ENOMEM, "out of memory parsing the query");
		return NULL;
	}
	struct parser p;
	memset(&p, 0, sizeof(p));
	p.q = q;
	p.n = n;
	p.e = e;
	p.err = err;
	ml_lexer_init(&p.lx, q, n);
	advance(&p);
	if (p.tok.type == ML_TOK_EOF) {
		fail(&p, 0, "no expression found in input");
		goto fail;
	}
	e->root = parse_expr(&p, PREC_OR);
	if (e->root == NULL)
		goto fail;
	if (p.tok.type != ML_TOK_EOF) {
		unexpected(&p, NULL, NULL);
		goto fail;
	}
	if (p.sem_failed) {
		int line, col;
		position(&p, p.sem_pos, &line, &col);
		ml_err_set(err, ML_EINVAL, "%d:%d: parse error: %s", line, col, p.sem_msg);
		goto fail;
	}
	return e;
fail:
	ml_promql_expr_destroy(e);
	return NULL;
}

void ml_promql_expr_destroy(struct ml_promql_expr *e)
{
	if (e == NULL)
		return;
	for (size_t i = 0; i < e->n_matchers; i++)
		ml_matcher_fini(e->matchers[i]);
	ml_free(e->matchers);
	ml_arena_destroy(e->arena);
	ml_free(e);
}
