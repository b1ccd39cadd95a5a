/*
 * re2_syntax.c - a scan of a regex for the PCRE-only syntax that Go's
 * regexp/syntax (Perl flags, as regexp.Compile uses) refuses; see
 * re2_syntax.h. The rules follow Go's parser: the escapes of parseEscape
 * and the \A \b \B \z \Q anchors of the main loop, the group forms
 * (?P<name>, (?flags) and (?flags: with flags from "imsU-", and the rule
 * that a repetition operator may not follow another (but for the lazy ?).
 */
#include "query/re2_syntax.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"

/* Go's largest {n,m} count (regexp/syntax maxRepeat... 1000). */
#define RE2_MAX_REPEAT 1000

static int refuse(char *why, size_t why_len, const char *what, const char *s, size_t n)
{
	if (why && why_len)
		snprintf(why, why_len, "%s: `%.*s`", what, (int)n, s);
	return ML_EINVAL;
}

static bool is_alnum(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Reads "{n}", "{n,}" or "{n,m}" at re[i]; returns its length or 0 (a literal "{"). */
static size_t repeat_len(const char *re, size_t n, size_t i, long *lo, long *hi)
{
	size_t j = i + 1;
	long a = 0, b = -1;
	size_t d = 0;
	while (j < n && re[j] >= '0' && re[j] <= '9' && a <= 100000) {
		a = a * 10 + (re[j++] - '0');
		d++;
	}
	if (d == 0 || j >= n)
		return 0;
	if (re[j] == ',') {
		j++;
		size_t e = 0;
		long m = 0;
		while (j < n && re[j] >= '0' && re[j] <= '9' && m <= 100000) {
			m = m * 10 + (re[j++] - '0');
			e++;
		}
		b = e ? m : -1;
	} else {
		b = a;
	}
	if (j >= n || re[j] != '}')
		return 0;
	*lo = a;
	*hi = b;
	return j - i + 1;
}

/* The escape at re[i] (a backslash): its length, or 0 when Go refuses it. */
static size_t escape_len(const char *re, size_t n, size_t i)
{
	if (i + 1 >= n)
		return 0;
	unsigned char c = (unsigned char)re[i + 1];
	if (c < 0x80 && !is_alnum(c))
		return 2; /* escaped punctuation */
	/* The letters of Go's parseEscape and of the \A \b \B \z anchors. */
	if (c != '\0' && strchr("aftnrvxdDsSwWpPbBAz0", c))
		return 2;
	/* A single non-zero digit is a backreference; two are octal. */
	if (c >= '1' && c <= '7')
		return i + 2 < n && re[i + 2] >= '0' && re[i + 2] <= '7' ? 2 : 0;
	return 0;
}

int ml_re2_syntax_check(const char *re, size_t n, char *why, size_t why_len)
{
	bool in_class = false, class_first = false;
	bool after_repeat = false, lazy_seen = false;
	size_t repeat_at = 0;
	if (why && why_len)
		why[0] = '\0';
	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)re[i];
		if (c == '\\') {
			if (i + 1 >= n)
				return refuse(why, why_len,
				              "trailing backslash at end of expression", "", 0);
			if (!in_class && re[i + 1] == 'Q') {
				/* \Q...\E: literal text up to \E or the end. */
				size_t j = i + 2;
				while (j + 1 < n && !(re[j] == '\\' && re[j + 1] == 'E'))
					j++;
				i = j + 1 < n ? j + 2 : n;
				after_repeat = false;
				continue;
			}
			size_t e = escape_len(re, n, i);
			if (e == 0) {
				size_t show = 2;
				while (i + show < n && show < 6 &&
				       ((unsigned char)re[i + show] & 0xc0) == 0x80)
					show++; /* the whole UTF-8 character */
				return refuse(why, why_len, "invalid escape sequence", re + i,
				              show);
			}
			i += e;
			class_first = false;
			after_repeat = false;
			continue;
		}
		if (in_class) {
			if (c == '[' && i + 1 < n && re[i + 1] == ':') {
				/* [:alpha:] */
				const char *end = memchr(re + i + 2, ']', n - i - 2);
				if (end && end[-1] == ':') {
					i = (size_t)(end - re) + 1;
					class_first = false;
					continue;
				}
			}
			if (c == ']' && !class_first)
				in_class = false;
			class_first = false;
			i++;
			continue;
		}
		switch (c) {
		case '[':
			in_class = true;
			class_first = true;
			i++;
			if (i < n && re[i] == '^')
				i++;
			after_repeat = false;
			continue;
		case '(':
			if (i + 1 < n && re[i + 1] == '?') {
				size_t j = i + 2;
				if (j < n && re[j] == 'P') {
					if (j + 1 >= n || re[j + 1] != '<')
						return refuse(why, why_len, "invalid named capture",
						              re + i, j + 2 <= n ? 4 : n - i);
				} else {
					while (j < n && re[j] != '\0' && strchr("imsU-", re[j]))
						j++;
					if (j >= n)
						return refuse(why, why_len, "missing closing )",
						              re + i, n - i);
					if (re[j] != ':' && re[j] != ')')
						return refuse(why, why_len,
						              "invalid or unsupported Perl syntax",
						              re + i, j - i + 1);
				}
			}
			i++;
			after_repeat = false;
			continue;
		case '*':
		case '+':
		case '?':
		case '{': {
			size_t len = 1;
			long lo = 0, hi = 0;
			if (c == '{') {
				len = repeat_len(re, n, i, &lo, &hi);
				if (len == 0) { /* a literal { */
					i++;
					after_repeat = false;
					continue;
				}
				if (lo > RE2_MAX_REPEAT || hi > RE2_MAX_REPEAT ||
				    (hi >= 0 && hi < lo))
					return refuse(why, why_len, "invalid repeat count", re + i,
					              len);
			}
			if (after_repeat) {
				if (c == '?' && !lazy_seen) {
					lazy_seen = true;
					i++;
					continue;
				}
				return refuse(why, why_len, "invalid nested repetition operator",
				              re + repeat_at, i + len - repeat_at);
			}
			after_repeat = true;
			lazy_seen = false;
			repeat_at = i;
			i += len;
			continue;
		}
		default:
			after_repeat = false;
			i++;
			continue;
		}
	}
	return 0;
}
