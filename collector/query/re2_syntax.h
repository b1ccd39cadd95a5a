/*
 * re2_syntax.h - Go's regexp syntax (RE2, what Prometheus 2.42 compiles)
 * checked with Go's error texts, and spelt for PCRE2.
 *
 * meshlens compiles PromQL regexes with PCRE2, which reads a superset of
 * RE2 (lookaround, backreferences, possessive repetition, \Z, \X, ...)
 * and reads a few RE2 constructs otherwise (\v, \12, [\d-z], ^*). This
 * module runs Go's parser's checks over the pattern Prometheus compiles,
 * so that meshlens refuses what Prometheus refuses with the same message,
 * and rewrites the accepted pattern so that PCRE2 matches what Go matches.
 */
#ifndef ML_QUERY_RE2_SYNTAX_H
#define ML_QUERY_RE2_SYNTAX_H

#include <stddef.h>

/*
 * Returns 0 when Go's regexp (Perl flags, as Prometheus 2.42 compiles a
 * matcher or label_replace regex) accepts "^(?:" + re + ")$", re being n
 * bytes, not NUL-terminated; else ML_EINVAL with why (a buffer of why_len
 * bytes, NUL-terminated, may be NULL) set to Go's error text, as
 * Prometheus prints it: "error parsing regexp: missing closing ):
 * `^(?:()$`", "error parsing regexp: invalid escape sequence: `\Z`".
 * ML_ENOMEM when out of memory.
 */
int ml_re2_syntax_check(const char *re, size_t n, char *why, size_t why_len);

/*
 * As ml_re2_syntax_check, then, as a Prometheus matcher does, the bare re
 * parsed too ("a)|(b": "unexpected ): `a)|(b`"); on success *pcre is the whole anchored
 * pattern spelt for PCRE2 (compile it with PCRE2_UTF | PCRE2_ANCHORED |
 * PCRE2_ENDANCHORED | PCRE2_DOLLAR_ENDONLY), *pcre_len its length: named
 * groups as plain groups, octal escapes and \v as \x{..}, assertions
 * grouped so that they may be repeated, a lone '-' in a class escaped, \s
 * as Go's [\t\n\f\r ]. The caller frees *pcre with ml_free; NULL on error.
 */
int ml_re2_to_pcre2(const char *re, size_t n, char **pcre, size_t *pcre_len, char *why,
                    size_t why_len);

#endif
