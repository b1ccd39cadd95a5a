/*
 * promql_lex.c - PromQL lexer; see promql_lex.h.
 *
 * Unlike Prometheus's lexer (a state machine emitting into a channel) this is
 * a plain pull lexer; the parser asks for one token at a time and may peek.
 * Error texts follow Prometheus's where a user is likely to see them.
 */
#include "query/promql_lex.h"

#include <ctype.h>
#include <stdio.h>
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

/* Bytes of the UTF-8 character at q[i] (1 for a stray byte), 0 at the end. */
static size_t char_len(const struct ml_lexer *lx, size_t i)
{
	if (i >= lx->n)
		return 0;
	unsigned char c = (unsigned char)lx->q[i];
	size_t l = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
	return i + l <= lx->n ? l : 1;
}

/*
 * The character at q[i] as Go's %q prints a rune ('x', '\n', '\x01'); the
 * end of input is Go's eof rune, printed as the replacement character.
 */
static void quote_char(const struct ml_lexer *lx, size_t i, char *out, size_t len)
{
	size_t l = char_len(lx, i);
	if (l == 0) {
		snprintf(out, len, "'\xef\xbf\xbd'");
		return;
	}
	unsigned char c = (unsigned char)lx->q[i];
	static const char esc[] = "\a a\b b\f f\n n\r r\t t\v v";
	const char *e = c ? strchr(esc, c) : NULL;
	if (l > 1)
		snprintf(out, len, "'%.*s'", (int)l, lx->q + i);
	else if (c == '\'' || c == '\\')
		snprintf(out, len, "'\\%c'", c);
	else if (e != NULL && (e - esc) % 3 == 0)
		snprintf(out, len, "'\\%c'", e[1]);
	else if (c < 0x20 || c >= 0x7f)
		snprintf(out, len, "'\\x%02x'", c);
	else
		snprintf(out, len, "'%c'", c);
}

/* An error whose text ends in the character at q[i], as Go's %q. */
static struct ml_token char_err(struct ml_lexer *lx, size_t start, const char *prefix, size_t i)
{
	char q[16];
	quote_char(lx, i, q, sizeof(q));
	snprintf(lx->errbuf, sizeof(lx->errbuf), "%s%s", prefix, q);
	return err_tok(lx, start, lx->errbuf);
}

/* An error whose text ends in q[from, lx->pos) as Go's %q. */
static struct ml_token text_err(struct ml_lexer *lx, size_t start, const char *prefix, size_t from)
{
	size_t o = (size_t)snprintf(lx->errbuf, sizeof(lx->errbuf), "%s\"", prefix);
	for (size_t i = from; i < lx->pos && o + 6 < sizeof(lx->errbuf); i++) {
		char c = lx->q[i];
		if (c == '"' || c == '\\')
			lx->errbuf[o++] = '\\';
		lx->errbuf[o++] = c;
	}
	snprintf(lx->errbuf + o, sizeof(lx->errbuf) - o, "\"");
	return err_tok(lx, start, lx->errbuf);
}

static int accept(struct ml_lexer *lx, const char *valid)
{
	if (lx->pos < lx->n && lx->q[lx->pos] != '\0' && strchr(valid, lx->q[lx->pos])) {
		lx->pos++;
		return 1;
	}
	return 0;
}

static void accept_run(struct ml_lexer *lx, const char *valid)
{
	while (accept(lx, valid))
		;
}

/*
 * Prometheus's scanNumber: decimal, hex (0x..), a fraction and an
 * exponent, not followed by a letter, digit or '_'. It consumes what it
 * read even when it fails; the parser validates the number's text.
 */
static int scan_number(struct ml_lexer *lx)
{
	const char *digits = "0123456789";
	if (accept(lx, "0") && accept(lx, "xX"))
		digits = "0123456789abcdefABCDEF";
	accept_run(lx, digits);
	if (accept(lx, "."))
		accept_run(lx, digits);
	if (accept(lx, "eE")) {
		accept(lx, "+-");
		accept_run(lx, "0123456789");
	}
	return lx->pos >= lx->n || !is_ident_char(lx->q[lx->pos]);
}

/* Prometheus's acceptRemainingDuration: units after the number scan_number read. */
static int accept_remaining_duration(struct ml_lexer *lx)
{
	if (!accept(lx, "smhdwy"))
		return 0;
	accept(lx, "s");
	while (accept(lx, "0123456789")) {
		accept_run(lx, "0123456789");
		if (!accept(lx, "smhdw"))
			return 0;
		accept(lx, "s");
	}
	if (lx->pos < lx->n && is_ident_char(lx->q[lx->pos])) {
		lx->pos++; /* Go's l.next() before the error */
		return 0;
	}
	return 1;
}

/* After '[': a range duration (lexDuration). */
static struct ml_token lex_duration(struct ml_lexer *lx)
{
	size_t start = lx->pos;
	if (scan_number(lx))
		return err_tok(lx, start, "missing unit character in duration");
	if (!accept_remaining_duration(lx))
		return text_err(lx, start, "bad duration syntax: ", start);
	return tok(lx, ML_TOK_DURATION, start);
}

static int hex_digit(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10 : 16;
}

/* Go's %#U of the character at q[i]: U+0071 'q'. */
static struct ml_token escape_err(struct ml_lexer *lx, size_t start, const char *prefix, size_t i,
				  const char *suffix)
{
	size_t l = char_len(lx, i);
	uint32_t r = (unsigned char)lx->q[i];
	if (l > 1) { /* decode the UTF-8 character */
		r &= 0x7f >> l;
		for (size_t k = 1; k < l; k++)
			r = r << 6 | ((unsigned char)lx->q[i + k] & 0x3f);
	}
	if (r >= 0x20 && r != 0x7f && (r < 0x80 || r >= 0xa0))
		snprintf(lx->errbuf, sizeof(lx->errbuf), "%sU+%04X '%.*s'%s", prefix, (unsigned)r,
			 (int)l, lx->q + i, suffix);
	else
		snprintf(lx->errbuf, sizeof(lx->errbuf), "%sU+%04X%s", prefix, (unsigned)r, suffix);
	return err_tok(lx, start, lx->errbuf);
}

/*
 * A quoted string, checking its escapes as Prometheus's lexEscape does
 * (so an unknown escape is a lexer error at the string's start).
 */
static struct ml_token lex_string(struct ml_lexer *lx)
{
	size_t start = lx->pos;
	char quote = lx->q[lx->pos++];
	while (lx->pos < lx->n) {
		char c = lx->q[lx->pos];
		if (c == '\\' && quote != '`') {
			lx->pos++;
			if (lx->pos >= lx->n)
				return err_tok(lx, start, "escape sequence not terminated");
			char e = lx->q[lx->pos++];
			int digits = 0, base = 16;
			uint32_t max = 0x10ffff;
			if ((e != '\0' && strchr("abfnrtv\\", e) != NULL) || e == quote)
				continue;
			if (e >= '0' && e <= '7') {
				digits = 3;
				base = 8;
				max = 255;
				lx->pos--;
			} else if (e == 'x') {
				digits = 2;
				max = 255;
			} else if (e == 'u') {
				digits = 4;
			} else if (e == 'U') {
				digits = 8;
			} else {
				return escape_err(lx, start, "unknown escape sequence ", lx->pos - 1, "");
			}
			uint32_t v = 0;
			for (int k = 0; k < digits; k++) {
				if (lx->pos >= lx->n)
					return err_tok(lx, start, "escape sequence not terminated");
				int d = hex_digit(lx->q[lx->pos]);
				if (d >= base)
					return escape_err(lx, start, "illegal character ", lx->pos,
							  " in escape sequence");
				v = v * (uint32_t)base + (uint32_t)d;
				lx->pos++;
			}
			if (v > max || (v >= 0xd800 && v < 0xe000))
				return err_tok(lx, start, "escape sequence is an invalid Unicode code point");
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

static void skip_space_and_comments(struct ml_lexer *lx)
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
}

/* Inside {...} (lexInsideBraces): keywords are plain identifiers there. */
static struct ml_token lex_inside_braces(struct ml_lexer *lx)
{
	const char *q = lx->q;
	size_t start = lx->pos;
	if (lx->pos >= lx->n)
		return err_tok(lx, start, "unexpected end of input inside braces");
	char c = q[lx->pos];
	char c2 = lx->pos + 1 < lx->n ? q[lx->pos + 1] : '\0';
	if (is_ident_start(c)) {
		while (lx->pos < lx->n && is_ident_char(q[lx->pos]))
			lx->pos++;
		return tok(lx, ML_TOK_IDENTIFIER, start);
	}
	switch (c) {
	case ',': lx->pos++; return tok(lx, ML_TOK_COMMA, start);
	case '"': case '\'': case '`': return lex_string(lx);
	case '=':
		lx->pos++;
		if (c2 == '~') { lx->pos++; return tok(lx, ML_TOK_EQL_REGEX, start); }
		return tok(lx, ML_TOK_ASSIGN, start);
	case '!':
		if (c2 == '~') { lx->pos += 2; return tok(lx, ML_TOK_NEQ_REGEX, start); }
		if (c2 == '=') { lx->pos += 2; return tok(lx, ML_TOK_NEQ, start); }
		return char_err(lx, start, "unexpected character after '!' inside braces: ", lx->pos + 1);
	case '{':
		return char_err(lx, start, "unexpected left brace ", lx->pos);
	case '}':
		lx->pos++;
		lx->brace_open = 0;
		return tok(lx, ML_TOK_RBRACE, start);
	default:
		return char_err(lx, start, "unexpected character inside braces: ", lx->pos);
	}
}

struct ml_token ml_lexer_next(struct ml_lexer *lx)
{
	const char *q = lx->q;
	if (lx->want_duration) { /* right after '[': spaces, but no comment, may come first */
		lx->want_duration = 0;
		while (lx->pos < lx->n && isspace((unsigned char)q[lx->pos]))
			lx->pos++;
		return lex_duration(lx);
	}
	skip_space_and_comments(lx);
	if (lx->brace_open)
		return lex_inside_braces(lx);
	size_t start = lx->pos;
	if (lx->pos >= lx->n) {
		if (lx->paren_depth != 0)
			return err_tok(lx, start, "unclosed left parenthesis");
		if (lx->bracket_open)
			return err_tok(lx, start, "unclosed left bracket");
		return tok(lx, ML_TOK_EOF, start);
	}
	char c = q[lx->pos];
	char c2 = lx->pos + 1 < lx->n ? q[lx->pos + 1] : '\0';
	switch (c) {
	case '(': lx->pos++; lx->paren_depth++; return tok(lx, ML_TOK_LPAREN, start);
	case ')':
		lx->pos++;
		if (--lx->paren_depth < 0) /* Go reports it after the ')' */
			return err_tok(lx, lx->pos, "unexpected right parenthesis ')'");
		return tok(lx, ML_TOK_RPAREN, start);
	case '{': lx->pos++; lx->brace_open = 1; return tok(lx, ML_TOK_LBRACE, start);
	case '[':
		if (lx->bracket_open)
			return char_err(lx, start, "unexpected left bracket ", lx->pos);
		lx->pos++;
		lx->got_colon = 0;
		lx->bracket_open = 1;
		lx->want_duration = 1;
		return tok(lx, ML_TOK_LBRACKET, start);
	case ']':
		if (!lx->bracket_open)
			return char_err(lx, start, "unexpected right bracket ", lx->pos);
		lx->pos++;
		lx->bracket_open = 0;
		return tok(lx, ML_TOK_RBRACKET, start);
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
		if (c2 == '~')
			return char_err(lx, start, "unexpected character after '=': ", lx->pos);
		return tok(lx, ML_TOK_ASSIGN, start);
	case '!':
		if (c2 == '=') { lx->pos += 2; return tok(lx, ML_TOK_NEQ, start); }
		return char_err(lx, start, "unexpected character after '!': ", lx->pos + 1);
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
	default:
		break;
	}
	if (isdigit((unsigned char)c) || (c == '.' && isdigit((unsigned char)c2))) {
		if (scan_number(lx))
			return tok(lx, ML_TOK_NUMBER, start);
		if (accept_remaining_duration(lx))
			return tok(lx, ML_TOK_DURATION, start);
		return text_err(lx, start, "bad number or duration syntax: ", start);
	}
	if (is_ident_start(c) || c == ':') {
		if (lx->bracket_open) {
			/*
			 * Inside [...] Prometheus 2.42 reads any letter or ':' as the
			 * subquery's colon, one character at a time.
			 */
			if (lx->got_colon)
				return char_err(lx, start, "unexpected colon ", lx->pos);
			lx->pos++;
			lx->got_colon = 1;
			return tok(lx, ML_TOK_COLON, start);
		}
		int colon = 0;
		while (lx->pos < lx->n && (is_ident_char(q[lx->pos]) || q[lx->pos] == ':')) {
			if (q[lx->pos] == ':')
				colon = 1;
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
	return char_err(lx, start, "unexpected character: ", lx->pos);
}
