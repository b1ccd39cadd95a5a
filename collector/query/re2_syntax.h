/*
 * re2_syntax.h - refuses the regular expression syntax that PCRE2 accepts
 * and Go's regexp (RE2 syntax, what Prometheus 2.42 compiles) does not.
 *
 * meshlens compiles PromQL regexes with PCRE2, which reads a superset of
 * RE2: lookaround, backreferences, possessive and stacked repetition,
 * atomic groups, comments, extended mode, (?<name>...) and escapes such as
 * \Z, \X, \C, \e, \h, \R, \K, \G. Prometheus answers such a regex with an
 * error ("error parsing regexp: ..."); this check lets meshlens do the same
 * before handing the regex to PCRE2. It does not validate everything RE2
 * would: PCRE2's own parse still runs afterwards and refuses the rest.
 */
#ifndef ML_QUERY_RE2_SYNTAX_H
#define ML_QUERY_RE2_SYNTAX_H

#include <stddef.h>

/*
 * Returns 0 when re (n bytes, not NUL-terminated) uses only syntax RE2
 * accepts as far as this check sees, else ML_EINVAL with why (a buffer of
 * why_len bytes, NUL-terminated, may be NULL) naming the construct in Go's
 * words ("invalid escape sequence: `\Z`", "invalid or unsupported Perl
 * syntax: `(?=`", "invalid nested repetition operator: `++`").
 */
int ml_re2_syntax_check(const char *re, size_t n, char *why, size_t why_len);

#endif
