/*
 * test_re2_syntax.c - the regexes Prometheus 2.42 (Go's regexp) accepts pass
 * the check, the PCRE-only ones it refuses do not, with Go's wording.
 */
#include <criterion/criterion.h>

#include <string.h>

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

Test(re2_syntax, says_what_go_says)
{
	char why[128];
	cr_assert_eq(check("/api\\Z", why, sizeof(why)), ML_EINVAL);
	cr_expect_str_eq(why, "invalid escape sequence: `\\Z`");
	cr_assert_eq(check("(?=/api).*", why, sizeof(why)), ML_EINVAL);
	cr_expect_str_eq(why, "invalid or unsupported Perl syntax: `(?=`");
	cr_assert_eq(check("/a++", why, sizeof(why)), ML_EINVAL);
	cr_expect_str_eq(why, "invalid nested repetition operator: `++`");
	cr_assert_eq(check("a.b", why, sizeof(why)), 0);
	cr_expect_str_eq(why, "");
}

Test(re2_syntax, reads_only_n_bytes)
{
	/* "a\\Z" cut before the escape is fine; the check must not look further. */
	cr_expect_eq(ml_re2_syntax_check("ab\\Z", 2, NULL, 0), 0);
	cr_expect_eq(ml_re2_syntax_check("ab\\Z", 4, NULL, 0), ML_EINVAL);
}
