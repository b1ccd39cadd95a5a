/* Tests for collector/http/router.c and the route table of routes.c. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/router.h"
#include "http/routes.h"

Test(router, exact_prefix_404_405)
{
	int status = 0;
	const char *allow = NULL;
	const struct ml_route *r =
		ml_route_find(ml_routes, ml_routes_count, "POST", "/v1/traces", &status, &allow);
	cr_assert_not_null(r);
	cr_assert_str_eq(r->path, "/v1/traces");

	r = ml_route_find(ml_routes, ml_routes_count, "GET", "/api/traces", &status, &allow);
	cr_assert_not_null(r);
	cr_assert_not(r->prefix, "the exact search route wins over the by-id prefix");
	r = ml_route_find(ml_routes, ml_routes_count, "GET", "/api/traces/abc", &status, &allow);
	cr_assert_not_null(r);
	cr_assert(r->prefix);

	r = ml_route_find(ml_routes, ml_routes_count, "GET", "/v1/traces", &status, &allow);
	cr_assert_null(r);
	cr_assert_eq(status, 405);
	cr_assert_str_eq(allow, "POST");

	r = ml_route_find(ml_routes, ml_routes_count, "GET", "/nope", &status, &allow);
	cr_assert_null(r);
	cr_assert_eq(status, 404);

	r = ml_route_find(ml_routes, ml_routes_count, "HEAD", "/-/healthy", &status, &allow);
	cr_assert_not_null(r, "HEAD is served wherever GET is");
}

Test(router, params_and_headers)
{
	struct ml_http_param params[] = {{"match[]", "a"}, {"q", "1"}, {"match[]", "b"}};
	struct ml_http_header headers[] = {{"Content-Type", "application/json"}};
	struct ml_http_request req;
	memset(&req, 0, sizeof(req));
	req.params = params;
	req.n_params = 3;
	req.headers = headers;
	req.n_headers = 1;
	const char *vals[4];
	cr_assert_eq(ml_http_params(&req, "match[]", vals, 4), 2);
	cr_assert_str_eq(vals[1], "b");
	cr_assert_str_eq(ml_http_param(&req, "q"), "1");
	cr_assert_null(ml_http_param(&req, "missing"));
	cr_assert_str_eq(ml_http_header(&req, "content-type"), "application/json");
}

/* docs/API.md must contain the table generated from the route table. */
Test(router, docs_are_current)
{
	char *gen = NULL;
	size_t genlen = 0;
	FILE *m = open_memstream(&gen, &genlen);
	ml_routes_markdown(m);
	fclose(m);
	FILE *f = fopen(ML_TEST_DATA_DIR "/../../docs/API.md", "r");
	cr_assert_not_null(f, "docs/API.md is missing");
	static char doc[65536];
	size_t n = fread(doc, 1, sizeof(doc) - 1, f);
	doc[n] = '\0';
	fclose(f);
	cr_assert(strstr(doc, gen) != NULL, "docs/API.md is out of date; its table must be:\n%s", gen);
	free(gen);
}
