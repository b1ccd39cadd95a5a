/*
 * promql_lex.c - PromQL lexer; see promql_lex.h.
 *
 * Unlike Prometheus's lexer (a state machine emitting into a channel) this is
 * a plain pull lexer; the parser asks for one token at a time and may peek.
 * Error texts follow Prometheus's where a user is likely to see them.
 */
#include "query/promql_lex.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

void ml_lexer_init(struct ml_lexer *lx, const char *q, size_t n)
{
	memset(lx, 0, sizeof(*lx));
	lx->q = q;
	lx->n = n;
}

static const struct {
	const char *word;
	enum ml_tok tok;
} keywords[] = {
	{"and", ML_TOK_AND}, {"or", ML_TOK_OR}, {"unless", ML_TOK_UNLESS}, {"atan2", ML_TOK_ATAN2},
	{"by", ML_TOK_BY}, {"without", ML_TOK_WITHOUT}, {"on", ML_TOK_ON},
	{"ignoring", ML_TOK_IGNORING}, {"group_left", ML_TOK_GROUP_LEFT},
	{"group_right", ML_TOK_GROUP_RIGHT}, {"bool", ML_TOK_BOOL}, {"offset", ML_TOK_OFFSET},
	{"start", ML_TOK_START}, {"end", ML_TOK_END},
	{"sum", ML_TOK_SUM}, {"avg", ML_TOK_AVG}, {"count", ML_TOK_COUNT}, {"min", ML_TOK_MIN},
	{"max", ML_TOK_MAX}, {"group", ML_TOK_GROUP}, {"stddev", ML_TOK_STDDEV},
	{"stdvar", ML_TOK_STDVAR}, {"topk", ML_TOK_TOPK}, {"bottomk", ML_TOK_BOTTOMK},
	{"count_values", ML_TOK_COUNT_VALUES}, {"quantile", ML_TOK_QUANTILE},
};

int ml_tok_is_keyword(enum ml_tok t)
{
	return t >= ML_TOK_AND && t <= ML_TOK_END;
}

int ml_tok_is_aggregator(enum ml_tok t)
{
	return t >= ML_TOK_SUM && t <= ML_TOK_QUANTILE;
}

const char *ml_tok_desc(enum ml_tok t)
{
	switch (t) {
	case ML_TOK_EOF: return "end of input";
	case ML_TOK_ERROR: return "error";
	case ML_TOK_IDENTIFIER: return "identifier";
	case ML_TOK_METRIC_IDENTIFIER: return "metric identifier";
	case ML_TOK_NUMBER: return "number";
	case ML_TOK_DURATION: return "duration";
	case ML_TOK_STRING: return "string";
	case ML_TOK_LPAREN: return "\"(\"";
	case ML_TOK_RPAREN: return "\")\"";
	case ML_TOK_LBRACE: return "\"{\"";
	case ML_TOK_RBRACE: return "\"}\"";
	case ML_TOK_LBRACKET: return "\"[\"";
	case ML_TOK_RBRACKET: return "\"]\"";
	case ML_TOK_COMMA: return "\",\"";
	case ML_TOK_COLON: return "\":\"";
	case ML_TOK_ASSIGN: return "\"=\"";
	case ML_TOK_AT: return "\"@\"";
	case ML_TOK_ADD: return "\"+\"";
	case ML_TOK_SUB: return "\"-\"";
	case ML_TOK_MUL: return "\"*\"";
	case ML_TOK_DIV: return "\"/\"";
	case ML_TOK_MOD: return "\"%\"";
	case ML_TOK_POW: return "\"^\"";
	case ML_TOK_EQLC: return "\"==\"";
	case ML_TOK_NEQ: return "\"!=\"";
	case ML_TOK_LSS: return "\"<\"";
	case ML_TOK_LTE: return "\"<=\"";
	case ML_TOK_GTR: return "\">\"";
	case ML_TOK_GTE: return "\">=\"";
	case ML_TOK_EQL_REGEX: return "\"=~\"";
	case ML_TOK_NEQ_REGEX: return "\"!~\"";
	default:
		for (size_t i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++)
			if (keywords[i].tok == t)
				return keywords[i].word;
		return "token";
	}
}

static int is_ident_start(char c)
{
	return isalpha((unsigned char)c) || c == '_';
}

static int is_ident_char(char c)
{
	return isalnum((unsigned char)c) || c == '_';
}

static struct ml_token tok(struct ml_lexer *lx, enum ml_tok type, size_t start)
{
	struct ml_token t = {type, (uint32_t)start, (uint32_t)(lx->pos - start)};
	return t;
}

static struct ml_token err_tok(struct ml_lexer *lx, size_t start, const char *msg)
{
	lx->error = msg;
	return tok(lx, ML_TOK_ERROR, start);
}

/* Duration: one or more (digits unit) pairs; units ms, s, m, h, d, w, y. */
static size_t scan_duration(const char *s, size_t n)
{
	size_t i = 0, groups = 0;
	while (i < n && isdigit((unsigned char)s[i])) {
		while (i < n && isdigit((unsigned char)s[i]))
			i++;
		if (i + 1 < n && s[i] == 'm' && s[i + 1] == 's')
			i += 2;
		else if (i < n && s[i] != '\0' && strchr("smhdwy", s[i]) != NULL)
			i++;
		else
			return 0;
		groups++;
	}
	if (groups == 0 || (i < n && (is_ident_char(s[i]))))
		return 0;
	return i;
}

/* Number as Prometheus's scanNumber: decimal, hex (0x..), exponent; Inf/NaN are identifiers. */
static size_t scan_number(const char *s, size_t n)
{
	size_t i = 0;
	const char *digits = "0123456789";
	int hex = 0;
	if (n >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		i = 2;
		digits = "0123456789abcdefABCDEF";
		hex = 1;
	}
	size_t before = i;
	while (i < n && s[i] != '\0' && strchr(digits, s[i]))
		i++;
	if (i < n && s[i] == '.') {
		i++;
		while (i < n && s[i] != '\0' && strchr(digits, s[i]))
			i++;
	}
	if (i == before || (i == before + 1 && s[before] == '.'))
		return 0;
	if (!hex && i < n && (s[i] == 'e' || s[i] == 'E')) {
		size_t j = i + 1;
		if (j < n && (s[j] == '+' || s[j] == '-'))
			j++;
		size_t k = j;
		while (k < n && isdigit((unsigned char)s[k]))
			k++;
		if (k > j)
			i = k;
	}
	/* A number must not run into letters ("5m" is a duration, "5x" an error). */
	if (i < n && (is_ident_char(s[i]) || s[i] == '.'))
		return 0;
	return i;
}

static struct ml_token lex_string(struct ml_lexer *lx)
{
	size_t start = lx->pos;
	char quote = lx->q[lx->pos++];
	while (lx->pos < lx->n) {
		char c = lx->q[lx->pos];
		if (c == '\\' && quote != '`') {
			lx->pos += 2;
			continue;
		}
		if (c == '\n' && quote != '`')
			return err_tok(lx, start, "unterminated quoted string");
		lx->pos++;
		if (c == quote)
			return tok(lx, ML_TOK_STRING, start);
	}
	lx->pos = lx->n;
	return err_tok(lx, start, quote == '`' ? "unterminated raw string" : "unterminated quoted string");
}

struct ml_token ml_lexer_next(struct ml_lexer *lx)
{
	const char *q = lx->q;
	for (;;) {
		while (lx->pos < lx->n && isspace((unsigned char)q[lx->pos]))
			lx->pos++;
		if (lx->pos < lx->n && q[lx->pos] == '#') {
			while (lx->pos < lx->n && q[lx->pos] != '\n')
				lx->pos++;
			continue;
		}
		break;
	}
	size_t start = lx->pos;
	if (lx->pos >= lx->n)
		return tok(lx, ML_TOK_EOF, start);
	char c = q[lx->pos];
	char c2 = lx->pos + 1 < lx->n ? q[lx->pos + 1] : '\0';
	switch (c) {
	case '(': lx->pos++; return tok(lx, ML_TOK_LPAREN, start);
	case ')': lx->pos++; return tok(lx, ML_TOK_RPAREN, start);
	case '{': lx->pos++; return tok(lx, ML_TOK_LBRACE, start);
	case '}': lx->pos++; return tok(lx, ML_TOK_RBRACE, start);
	case '[': lx->pos++; lx->bracket_depth++; return tok(lx, ML_TOK_LBRACKET, start);
	case ']': lx->pos++; if (lx->bracket_depth > 0) lx->bracket_depth--; return tok(lx, ML_TOK_RBRACKET, start);
	case ',': lx->pos++; return tok(lx, ML_TOK_COMMA, start);
	case '@': lx->pos++; return tok(lx, ML_TOK_AT, start);
	case '+': lx->pos++; return tok(lx, ML_TOK_ADD, start);
	case '-': lx->pos++; return tok(lx, ML_TOK_SUB, start);
	case '*': lx->pos++; return tok(lx, ML_TOK_MUL, start);
	case '/': lx->pos++; return tok(lx, ML_TOK_DIV, start);
	case '%': lx->pos++; return tok(lx, ML_TOK_MOD, start);
	case '^': lx->pos++; return tok(lx, ML_TOK_POW, start);
	case '=':
		lx->pos++;
		if (c2 == '=') { lx->pos++; return tok(lx, ML_TOK_EQLC, start); }
		if (c2 == '~') { lx->pos++; return tok(lx, ML_TOK_EQL_REGEX, start); }
		return tok(lx, ML_TOK_ASSIGN, start);
	case '!':
		if (c2 == '=') { lx->pos += 2; return tok(lx, ML_TOK_NEQ, start); }
		if (c2 == '~') { lx->pos += 2; return tok(lx, ML_TOK_NEQ_REGEX, start); }
		lx->pos++;
		return err_tok(lx, start, "unexpected character after '!'");
	case '<':
		lx->pos++;
		if (c2 == '=') { lx->pos++; return tok(lx, ML_TOK_LTE, start); }
		return tok(lx, ML_TOK_LSS, start);
	case '>':
		lx->pos++;
		if (c2 == '=') { lx->pos++; return tok(lx, ML_TOK_GTE, start); }
		return tok(lx, ML_TOK_GTR, start);
	case '"': case '\'': case '`':
		return lex_string(lx);
	case ':':
		if (lx->bracket_depth > 0) {
			lx->pos++;
			return tok(lx, ML_TOK_COLON, start);
		}
		break; /* a metric name may start with ':' */
	default:
		break;
	}
	if (isdigit((unsigned char)c) || (c == '.' && isdigit((unsigned char)c2))) {
		size_t l = scan_number(q + lx->pos, lx->n - lx->pos);
		if (l > 0) {
			lx->pos += l;
			return tok(lx, ML_TOK_NUMBER, start);
		}
		l = scan_duration(q + lx->pos, lx->n - lx->pos);
		if (l > 0) {
			lx->pos += l;
			return tok(lx, ML_TOK_DURATION, start);
		}
		while (lx->pos < lx->n && (is_ident_char(q[lx->pos]) || q[lx->pos] == '.'))
			lx->pos++;
		return err_tok(lx, start, "bad number or duration syntax");
	}
	if (is_ident_start(c) || c == ':') {
		int colon = 0;
		while (lx->pos < lx->n && (is_ident_char(q[lx->pos]) || q[lx->pos] == ':')) {
			/* Inside brackets ':' is the subquery separator, never part of a name. */
			if (q[lx->pos] == ':') {
				if (lx->bracket_depth > 0)
					break;
				colon = 1;
			}
			lx->pos++;
		}
		size_t len = lx->pos - start;
		if (!colon) {
			for (size_t i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++)
				if (strlen(keywords[i].word) == len &&
				    strncasecmp(q + start, keywords[i].word, len) == 0)
					return tok(lx, keywords[i].tok, start);
		}
		return tok(lx, colon ? ML_TOK_METRIC_IDENTIFIER : ML_TOK_IDENTIFIER, start);
	}
	lx->pos++;
	return err_tok(lx, start, "unexpected character");
}
