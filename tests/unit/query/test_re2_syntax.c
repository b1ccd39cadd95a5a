/*
 * test_re2_syntax.c - the regexes Prometheus 2.42 (Go's regexp) accepts pass
 * the check, the PCRE-only ones it refuses do not, with Go's wording.
 */
#include <criterion/criterion.h>

#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "query/re2_syntax.h"

static int check(const char *re, char *why, size_t why_len)
{
	return ml_re2_syntax_check(re, strlen(re), why, why_len);
}

Test(re2_syntax, accepts_what_dashboards_and_go_accept)
{
	static const char *ok[] = {
	    "",
	    "5.*",
	    "source|waypoint",
	    "[5|4].*",
	    "spiffe.*",
	    ".+",
	    "(productpage|reviews)",
	    "(?P<name>.)",
	    "(?i)/API.*",
	    "(?U)/.*",
	    "(?s:a.b)",
	    "(?i-s)x",
	    "\\p{L}+ .*",
	    "\\pL",
	    "[[:alpha:]]+",
	    "[^a]*",
	    "[]a]",
	    "[^]a]",
	    "\\Q/api(\\E.*",
	    "\\A/api.*\\z",
	    ".*\\bv1\\b.*",
	    "\\d\\D\\s\\S\\w\\W",
	    "\\x2f\\x{2f}",
	    "\\/\\-\\.\\\\",
	    "a\\012",
	    "\\0",
	    "a*?",
	    "a+?",
	    "a??",
	    "a{2}",
	    "a{2,}",
	    "a{2,5}",
	    "a{2,5}?",
	    "a{,2}",
	    "{",
	    "a{x}",
	    "a{1000}",
	    "[\\d-z]+",
	    "héllo",
	    "\\a\\f\\t\\n\\r\\v",
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		cr_expect_eq(check(ok[i], NULL, 0), 0, "refused %s", ok[i]);
}

Test(re2_syntax, refuses_pcre_only_syntax)
{
	static const char *bad[] = {
	    "/api\\Z",      "(?=/api).*", "(?!x)",   "(?<=a)b",   "(?<n>/api).*", "(?>a)",
	    "(?#comment)a", "(?x) a",     "(?|a)",   "(/a)\\1.*", "\\g1",         "\\k<n>",
	    "/a++.*",       "a*+",        "a**",     "a{2}*",     "a{2}{3}",      "h\\Xllo",
	    "\\C",          "\\e",        "\\h",     "\\R",       "\\K",          "\\G",
	    "\\E",          "\\8",        "a{1001}", "a{5,2}",    "\\",           "(?P=n)",
	    "\\é",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_eq(check(bad[i], NULL, 0), ML_EINVAL, "accepted %s", bad[i]);
}

static void says(const char *re, const char *want)
{
	char why[256];
	cr_assert_eq(check(re, why, sizeof(why)), ML_EINVAL, "accepted %s", re);
	cr_expect_str_eq(why, want, "for %s", re);
}

/* Texts as Prometheus 2.42 printed them for these matchers (Go's regexp.Error). */
Test(re2_syntax, says_what_go_says)
{
	says("/api\\Z", "error parsing regexp: invalid escape sequence: `\\Z`");
	says("(?=/api).*", "error parsing regexp: invalid or unsupported Perl syntax: `(?=`");
	says("/a++", "error parsing regexp: invalid nested repetition operator: `++`");
	says("x{2}{3}", "error parsing regexp: invalid nested repetition operator: `{2}{3}`");
	/* Missing and unexpected parentheses name the whole anchored pattern. */
	says("(", "error parsing regexp: missing closing ): `^(?:()$`");
	says("(?i", "error parsing regexp: missing closing ): `^(?:(?i)$`");
	says("a))", "error parsing regexp: unexpected ): `^(?:a)))$`");
	/* A class runs to the end of the anchored pattern. */
	says("[a", "error parsing regexp: missing closing ]: `[a)$`");
	says("[^]", "error parsing regexp: missing closing ]: `[^])$`");
	says("[a-", "error parsing regexp: invalid character class range: `a-)`");
	says("[z-a]", "error parsing regexp: invalid character class range: `z-a`");
	says("[[:foo:]]", "error parsing regexp: invalid character class range: `[:foo:]`");
	says("\\p{Foo}", "error parsing regexp: invalid character class range: `\\p{Foo}`");
	says("*", "error parsing regexp: missing argument to repetition operator: `*`");
	says("a|*", "error parsing regexp: missing argument to repetition operator: `*`");
	says("a{2,1}", "error parsing regexp: invalid repeat count: `{2,1}`");
	says("a{1001}", "error parsing regexp: invalid repeat count: `{1001}`");
	says("(a{100}){100}", "error parsing regexp: invalid repeat count: `{100}`");
	says("(?P<n", "error parsing regexp: invalid named capture: `(?P<n)$`");
	says("(?P<>a)", "error parsing regexp: invalid named capture: `(?P<>`");
	says("(?P>a)", "error parsing regexp: invalid or unsupported Perl syntax: `(?P`");
	/* Go 1.19's scripts: Unicode 13, exact spelling. */
	says("\\p{Toto}", "error parsing regexp: invalid character class range: `\\p{Toto}`");
	says("\\p{Latn}", "error parsing regexp: invalid character class range: `\\p{Latn}`");
	says("\\p{greek}", "error parsing regexp: invalid character class range: `\\p{greek}`");
	cr_expect_eq(check("\\p{Yezidi}\\p{^Greek}\\PL\\p{Any}[\\p{Han}]", NULL, 0), 0);
	char why[64];
	cr_assert_eq(check("a.b", why, sizeof(why)), 0);
	cr_expect_str_eq(why, "");
}

Test(re2_syntax, nesting_depth_is_go_s)
{
	char re[2 * 1000 + 1];
	for (int depth = 998; depth <= 999; depth++) {
		memset(re, '(', (size_t)depth);
		memset(re + depth, ')', (size_t)depth);
		int rc = ml_re2_syntax_check(re, 2 * (size_t)depth, NULL, 0);
		/* ^, 999 groups, a literal and the concatenation: one level over 1000. */
		cr_expect_eq(rc, depth == 998 ? 0 : ML_EINVAL, "depth %d", depth);
	}
}

Test(re2_syntax, spells_the_pattern_for_pcre2)
{
	static const struct {
		const char *re, *pcre;
	} cases[] = {
	    {"a", "(?:^)(?:a)(?:$)"},
	    {"(?P<1>a)", "(?:^)(?:(a))(?:$)"},
	    {"[\\d-z]", "(?:^)(?:[\\d\\-z])(?:$)"},
	    {"a\\12\\v", "(?:^)(?:a\\x{a}\\x{b})(?:$)"},
	    {"^*\\b", "(?:^)(?:(?:^)*(?:\\b))(?:$)"},
	    {"\\s", "(?:^)(?:[\\t\\n\\f\\r ])(?:$)"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *pcre;
		size_t len;
		cr_assert_eq(
		    ml_re2_to_pcre2(cases[i].re, strlen(cases[i].re), &pcre, &len, NULL, 0), 0);
		cr_expect_str_eq(pcre, cases[i].pcre);
		cr_expect_eq(len, strlen(pcre));
		ml_free(pcre);
	}
}

Test(re2_syntax, reads_only_n_bytes)
{
	/* "a\\Z" cut before the escape is fine; the check must not look further. */
	cr_expect_eq(ml_re2_syntax_check("ab\\Z", 2, NULL, 0), 0);
	cr_expect_eq(ml_re2_syntax_check("ab\\Z", 4, NULL, 0), ML_EINVAL);
}
