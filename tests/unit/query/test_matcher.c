/*
 * test_matcher.c - Prometheus matcher semantics.
 */
#include <criterion/criterion.h>

#include <string.h>

#include "query/matcher.h"

static struct ml_matcher mk(enum ml_match_type t, const char *v)
{
	struct ml_matcher m;
	struct ml_err err;
	cr_assert_eq(ml_matcher_init(&m, t, "a", 1, v, strlen(v), &err), 0, "%s", err.msg);
	return m;
}

static bool match(struct ml_matcher *m, const char *v)
{
	return ml_matcher_matches(m, v, strlen(v));
}

Test(matcher, equality_and_empty_rules)
{
	struct ml_matcher eq = mk(ML_MATCH_EQ, "x"), eqe = mk(ML_MATCH_EQ, ""), ne = mk(ML_MATCH_NEQ, "x"),
			  nee = mk(ML_MATCH_NEQ, "");
	cr_assert(match(&eq, "x"));
	cr_assert_not(match(&eq, "xy"));
	cr_assert_not(eq.matches_empty);
	cr_assert(eqe.matches_empty);
	cr_assert(ne.matches_empty);
	cr_assert_not(match(&ne, "x"));
	cr_assert(match(&ne, "y"));
	cr_assert_not(nee.matches_empty);
	cr_assert(match(&nee, "y"));
	ml_matcher_fini(&eq);
	ml_matcher_fini(&eqe);
	ml_matcher_fini(&ne);
	ml_matcher_fini(&nee);
}

Test(matcher, regex_is_fully_anchored)
{
	struct ml_matcher m = mk(ML_MATCH_RE, "foo|bar");
	cr_assert(match(&m, "foo"));
	cr_assert(match(&m, "bar"));
	cr_assert_not(match(&m, "foobar"));
	cr_assert_not(match(&m, "xfoo"));
	cr_assert_not(match(&m, "foo\n"), "PCRE2's $ must not match before a final newline");
	cr_assert_not(m.matches_empty);
	ml_matcher_fini(&m);

	m = mk(ML_MATCH_RE, "a.*");
	cr_assert_not(match(&m, "a\nb"), "dot does not match a newline in Prometheus 2.42 (RE2 without s)");
	ml_matcher_fini(&m);
	m = mk(ML_MATCH_RE, "(?s)a.*");
	cr_assert(match(&m, "a\nb"), "unless the regex asks for it");
	ml_matcher_fini(&m);

	m = mk(ML_MATCH_RE, "x|");
	cr_assert(m.matches_empty);
	ml_matcher_fini(&m);
	m = mk(ML_MATCH_RE, ".*");
	cr_assert(m.matches_empty);
	ml_matcher_fini(&m);
	m = mk(ML_MATCH_RE, ".+");
	cr_assert_not(m.matches_empty);
	ml_matcher_fini(&m);
}

Test(matcher, negative_regex)
{
	struct ml_matcher m = mk(ML_MATCH_NRE, "5..");
	cr_assert(match(&m, "200"));
	cr_assert_not(match(&m, "503"));
	cr_assert(match(&m, "5000"));
	cr_assert(m.matches_empty);
	ml_matcher_fini(&m);
}

Test(matcher, invalid_regex_is_a_clear_error)
{
	struct ml_matcher m;
	struct ml_err err = {{0}};
	cr_assert_eq(ml_matcher_init(&m, ML_MATCH_RE, "job", 3, "a(b", 3, &err), ML_EINVAL);
	/* Go's text for the pattern Prometheus compiles, "^(?:" + value + ")$". */
	cr_assert_str_eq(err.msg, "error parsing regexp: missing closing ): `^(?:a(b)$`");
	cr_assert_eq(ml_matcher_init(&m, ML_MATCH_RE, "job", 3, "a)|(b", 5, &err), ML_EINVAL,
		     "unbalanced parentheses must not be rescued by the anchoring group");
	/* PCRE2 reads these; Prometheus (RE2) refuses them with "error parsing regexp". */
	static const char *const pcre_only[] = {"(?=/api).*", "(/a)\\1", "/a++", "x\\Z", "(?<n>a)"};
	for (size_t i = 0; i < sizeof(pcre_only) / sizeof(pcre_only[0]); i++) {
		cr_assert_eq(ml_matcher_init(&m, ML_MATCH_RE, "path", 4, pcre_only[i], strlen(pcre_only[i]), &err),
			     ML_EINVAL, "%s was accepted", pcre_only[i]);
		cr_assert(strstr(err.msg, "error parsing regexp"), "%s", err.msg);
	}
}

Test(matcher, utf8_values)
{
	struct ml_matcher m = mk(ML_MATCH_RE, "caf.");
	cr_assert(match(&m, "caf\xc3\xa9"), "dot matches one code point");
	cr_assert_not(match(&m, "caf\xff"), "invalid UTF-8 does not crash");
	ml_matcher_fini(&m);
}

/* RE2 constructs PCRE2 reads otherwise: they must match as Go's regexp matches them. */
Test(matcher, re2_constructs_match_as_go_s)
{
	struct ml_matcher m = mk(ML_MATCH_RE, "a\\12"); /* octal, not a backreference */
	cr_assert(match(&m, "a\n"));
	ml_matcher_fini(&m);
	m = mk(ML_MATCH_RE, "\\v"); /* the vertical tab alone, not any vertical space */
	cr_assert(match(&m, "\v"));
	cr_assert_not(match(&m, "\n"));
	ml_matcher_fini(&m);
	m = mk(ML_MATCH_RE, "a\\sb"); /* Go's \s leaves \v out */
	cr_assert(match(&m, "a b"));
	cr_assert_not(match(&m, "a\vb"));
	ml_matcher_fini(&m);
	m = mk(ML_MATCH_RE, "[\\d-z]+"); /* three items: a digit, '-', 'z' */
	cr_assert(match(&m, "1-z"));
	cr_assert_not(match(&m, "a"));
	ml_matcher_fini(&m);
	m = mk(ML_MATCH_RE, "^*a"); /* a repeated assertion */
	cr_assert(match(&m, "a"));
	ml_matcher_fini(&m);
	m = mk(ML_MATCH_RE, "(?P<1>a)(?P<1>b)"); /* names Go takes and PCRE2 does not */
	cr_assert(match(&m, "ab"));
	ml_matcher_fini(&m);
	m = mk(ML_MATCH_RE, "a$"); /* $ is the end of the text, not before a final newline */
	cr_assert(match(&m, "a"));
	cr_assert_not(match(&m, "a\n"));
	ml_matcher_fini(&m);
}
