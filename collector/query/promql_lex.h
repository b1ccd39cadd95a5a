/*
 * promql_lex.h - the PromQL lexer.
 *
 * Turns a query into tokens as Prometheus 2.42's lexer does
 * (promql/parser/lex.go): keywords and aggregators are case-insensitive
 * ("OR", "Sum"), a number directly followed by a duration unit is a
 * duration ("5m", "1h30m"), strings come in '', "" and `` quotes, and
 * '#' starts a comment running to the end of the line.
 */
#ifndef ML_QUERY_PROMQL_LEX_H
#define ML_QUERY_PROMQL_LEX_H

#include <stddef.h>
#include <stdint.h>

enum ml_tok {
	ML_TOK_EOF = 0,
	ML_TOK_ERROR,
	ML_TOK_IDENTIFIER,        /* label or function names: [a-zA-Z_][a-zA-Z0-9_]* */
	ML_TOK_METRIC_IDENTIFIER, /* with a colon: [a-zA-Z_:][a-zA-Z0-9_:]* */
	ML_TOK_NUMBER,
	ML_TOK_DURATION,
	ML_TOK_STRING,
	/* punctuation */
	ML_TOK_LPAREN, ML_TOK_RPAREN, ML_TOK_LBRACE, ML_TOK_RBRACE, ML_TOK_LBRACKET,
	ML_TOK_RBRACKET, ML_TOK_COMMA, ML_TOK_COLON, ML_TOK_ASSIGN /* = */, ML_TOK_AT,
	/* operators */
	ML_TOK_ADD, ML_TOK_SUB, ML_TOK_MUL, ML_TOK_DIV, ML_TOK_MOD, ML_TOK_POW,
	ML_TOK_EQLC /* == */, ML_TOK_NEQ /* != */, ML_TOK_LSS, ML_TOK_LTE, ML_TOK_GTR, ML_TOK_GTE,
	ML_TOK_EQL_REGEX /* =~ */, ML_TOK_NEQ_REGEX /* !~ */,
	/* keywords (case-insensitive) */
	ML_TOK_AND, ML_TOK_OR, ML_TOK_UNLESS, ML_TOK_ATAN2,
	ML_TOK_BY, ML_TOK_WITHOUT, ML_TOK_ON, ML_TOK_IGNORING, ML_TOK_GROUP_LEFT,
	ML_TOK_GROUP_RIGHT, ML_TOK_BOOL, ML_TOK_OFFSET, ML_TOK_START, ML_TOK_END,
	/* aggregators (case-insensitive) */
	ML_TOK_SUM, ML_TOK_AVG, ML_TOK_COUNT, ML_TOK_MIN, ML_TOK_MAX, ML_TOK_GROUP,
	ML_TOK_STDDEV, ML_TOK_STDVAR, ML_TOK_TOPK, ML_TOK_BOTTOMK, ML_TOK_COUNT_VALUES,
	ML_TOK_QUANTILE,
};

struct ml_token {
	enum ml_tok type;
	uint32_t pos;   /* byte offset of the first character */
	uint32_t len;   /* bytes of query text */
};

struct ml_lexer {
	const char *q;
	size_t n;
	size_t pos;
	/* Prometheus's lexer state (lex.go), which its errors depend on. */
	int paren_depth;    /* open '(' */
	int bracket_open;   /* inside [...]: ':' separates subquery range and step */
	int got_colon;      /* the ':' of [...] was seen */
	int brace_open;     /* inside {...}: only label matching tokens */
	int want_duration;  /* the token after '[' is a duration */
	const char *error;  /* message when a token is ML_TOK_ERROR (static or errbuf) */
	char errbuf[96];
};

void ml_lexer_init(struct ml_lexer *lx, const char *q, size_t n);
/* The next token; ML_TOK_ERROR with lx->error set on bad input. */
struct ml_token ml_lexer_next(struct ml_lexer *lx);
/* Printable name of a token type, as Prometheus names them in errors ("\"(\"", "identifier"). */
const char *ml_tok_desc(enum ml_tok t);
/* True for the keyword and aggregator tokens (they may also serve as label names). */
int ml_tok_is_keyword(enum ml_tok t);
int ml_tok_is_aggregator(enum ml_tok t);

#endif
