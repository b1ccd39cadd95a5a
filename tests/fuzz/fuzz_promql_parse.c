/*
 * fuzz_promql_parse.c - libFuzzer target: a PromQL query (the query= of
 * /api/v1/query, sender-controlled text) through ml_promql_parse. A failure
 * must read "<line>:<col>: parse error: ..." as Prometheus's do (or be out
 * of memory); a query that parses must print (ml_promql_format) as a query
 * that parses again. The same bytes also go through ml_re2_syntax_check,
 * the regex check every =~ matcher runs. Seeds: corpus/fuzz_promql_parse/.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/error.h"
#include "query/promql_parse.h"
#include "query/re2_syntax.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 4096)
		return 0;
	const char *q = (const char *)data;
	char why[512];
	int rc = ml_re2_syntax_check(q, size, why, sizeof(why));
	if (rc == ML_EINVAL && strncmp(why, "error parsing regexp: ", 22) != 0)
		abort();
	struct ml_err err = {{0}};
	struct ml_promql_expr *e = ml_promql_parse(q, size, &err);
	if (e == NULL) {
		int line, col, n = 0;
		if (strncmp(err.msg, "out of memory", 13) != 0 &&
		    (sscanf(err.msg, "%d:%d: parse error: %n", &line, &col, &n) != 2 || n == 0))
			abort();
		return 0;
	}
	struct ml_buf out = ML_BUF_INIT;
	ml_promql_format(e->root, &out);
	if (ml_buf_ok(&out)) {
		struct ml_promql_expr *again = ml_promql_parse((const char *)out.data, out.len, &err);
		if (again == NULL && strncmp(err.msg, "out of memory", 13) != 0) {
			fprintf(stderr, "%.*s\nprints as %.*s\nwhich fails: %s\n", (int)size, q,
				(int)out.len, (const char *)out.data, err.msg);
			abort();
		}
		ml_promql_expr_destroy(again);
	}
	ml_buf_free(&out);
	ml_promql_expr_destroy(e);
	return 0;
}
