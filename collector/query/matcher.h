/*
 * matcher.h - Prometheus label matchers: =, !=, =~, !~.
 *
 * Semantics are Prometheus's: a label that a series lacks has the value "",
 * so `a!="x"`, `a=""` and `a=~"x|"` also select series without label a.
 * Regexes are fully anchored as in RE2/Prometheus 2.42 (the value must match
 * as a whole; Prometheus wraps the pattern in `^(?:...)$`), `.` does not
 * match a newline unless the regex says `(?s)`, and syntax RE2 refuses
 * (lookaround, backreferences, ...) is refused with Go's error text
 * (ml_re2_to_pcre2); they are compiled with PCRE2 (JIT when available) as
 * that function spells them.
 *
 * A matcher owns copies of its name and value. It is not thread-safe (the
 * regex match data lives in it): one matcher, one thread at a time.
 */
#ifndef ML_QUERY_MATCHER_H
#define ML_QUERY_MATCHER_H

#include <stdbool.h>
#include <stddef.h>

#include "core/error.h"

enum ml_match_type {
	ML_MATCH_EQ = 0, /* =  */
	ML_MATCH_NEQ,    /* != */
	ML_MATCH_RE,     /* =~ */
	ML_MATCH_NRE,    /* !~ */
};

struct ml_matcher {
	enum ml_match_type type;
	char *name;          /* NUL-terminated copy */
	size_t name_len;
	char *value;         /* NUL-terminated copy (the regex source for =~ and !~) */
	size_t value_len;
	bool matches_empty;  /* whether "" (an absent label) matches */
	void *re;            /* pcre2_code_8 * for =~ and !~ */
	void *md;            /* pcre2_match_data_8 * */
};

/*
 * Fills m. Returns 0, ML_EINVAL for a regex that does not compile (message
 * in err with the pattern and PCRE2's reason and offset), or ML_ENOMEM.
 * On failure m needs no ml_matcher_fini.
 */
int ml_matcher_init(struct ml_matcher *m, enum ml_match_type type, const char *name,
		    size_t name_len, const char *value, size_t value_len, struct ml_err *err);
/* Frees what m owns. Accepts a zeroed matcher. */
void ml_matcher_fini(struct ml_matcher *m);

/* Whether the label value (v, n) matches; pass ("", 0) for an absent label. */
bool ml_matcher_matches(struct ml_matcher *m, const char *v, size_t n);

/* "=", "!=", "=~", "!~" */
const char *ml_match_type_str(enum ml_match_type t);

#endif
