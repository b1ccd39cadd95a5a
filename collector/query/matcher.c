/*
 * matcher.c - label matchers with PCRE2 regexes; see matcher.h.
 *
 * Anchoring uses PCRE2_ANCHORED | PCRE2_ENDANCHORED on "(?:re)" rather than
 * "^...$", because PCRE2's `$` also matches before a final newline and
 * Prometheus's (RE2's) anchors do not.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "query/matcher.h"
#include "query/re2_syntax.h"
#include "core/alloc.h"

#include <stdio.h>
#include <string.h>

#include <pcre2.h>

const char *ml_match_type_str(enum ml_match_type t)
{
	switch (t) {
	case ML_MATCH_EQ: return "=";
	case ML_MATCH_NEQ: return "!=";
	case ML_MATCH_RE: return "=~";
	case ML_MATCH_NRE: return "!~";
	}
	return "?";
}

static bool re_matches(struct ml_matcher *m, const char *v, size_t n)
{
	int rc = pcre2_match(m->re, (PCRE2_SPTR)(n ? v : ""), n, 0, 0, m->md, NULL);
	return rc >= 0;
}

bool ml_matcher_matches(struct ml_matcher *m, const char *v, size_t n)
{
	switch (m->type) {
	case ML_MATCH_EQ:
		return n == m->value_len && (n == 0 || memcmp(v, m->value, n) == 0);
	case ML_MATCH_NEQ:
		return !(n == m->value_len && (n == 0 || memcmp(v, m->value, n) == 0));
	case ML_MATCH_RE:
		return re_matches(m, v, n);
	case ML_MATCH_NRE:
		return !re_matches(m, v, n);
	}
	return false;
}

int ml_matcher_init(struct ml_matcher *m, enum ml_match_type type, const char *name,
		    size_t name_len, const char *value, size_t value_len, struct ml_err *err)
{
	char *pat = NULL;
	int rc;
	memset(m, 0, sizeof(*m));
	m->type = type;
	m->name = ml_strndup(name, name_len);
	m->value = ml_strndup(value, value_len);
	if (m->name == NULL || m->value == NULL) {
		rc = ml_err_set(err, ML_ENOMEM, "out of memory");
		goto fail;
	}
	m->name_len = name_len;
	m->value_len = value_len;
	if (type == ML_MATCH_RE || type == ML_MATCH_NRE) {
		int ecode;
		PCRE2_SIZE eoff;
		size_t pat_len;
		char why[sizeof(err->msg)];
		/*
		 * Prometheus compiles "^(?:" + value + ")$" with Go's regexp: refuse
		 * what Go refuses, with Go's error text, and hand PCRE2 the same
		 * pattern spelt so that PCRE2 reads it as Go does.
		 */
		rc = ml_re2_to_pcre2(value, value_len, &pat, &pat_len, why, sizeof(why));
		if (rc == ML_ENOMEM) {
			rc = ml_err_set(err, ML_ENOMEM, "out of memory");
			goto fail;
		}
		if (rc != 0) {
			rc = ml_err_set(err, ML_EINVAL, "%s", why);
			goto fail;
		}
		m->re = pcre2_compile((PCRE2_SPTR)pat, pat_len,
				      PCRE2_ANCHORED | PCRE2_ENDANCHORED | PCRE2_DOLLAR_ENDONLY |
					      PCRE2_UTF | PCRE2_MATCH_INVALID_UTF,
				      &ecode, &eoff, NULL);
		if (m->re == NULL) {
			/* Go accepted it: a construct the translation does not cover. */
			char reason[160];
			pcre2_get_error_message(ecode, (PCRE2_UCHAR *)reason, sizeof(reason));
			rc = ml_err_set(err, ML_EINVAL, "regular expression \"%.*s\" for label %.*s is not supported: %s",
					(int)(value_len > 200 ? 200 : value_len), value,
					(int)(name_len > 100 ? 100 : name_len), name, reason);
			goto fail;
		}
		(void)pcre2_jit_compile(m->re, PCRE2_JIT_COMPLETE); /* an interpreter fallback is fine */
		m->md = pcre2_match_data_create_from_pattern(m->re, NULL);
		if (m->md == NULL) {
			rc = ml_err_set(err, ML_ENOMEM, "out of memory");
			goto fail;
		}
		ml_free(pat);
		pat = NULL;
	}
	m->matches_empty = ml_matcher_matches(m, "", 0);
	return 0;
fail:
	ml_free(pat);
	ml_matcher_fini(m);
	return rc;
}

void ml_matcher_fini(struct ml_matcher *m)
{
	if (m->md)
		pcre2_match_data_free(m->md);
	if (m->re)
		pcre2_code_free(m->re);
	ml_free(m->name);
	ml_free(m->value);
	memset(m, 0, sizeof(*m));
}
