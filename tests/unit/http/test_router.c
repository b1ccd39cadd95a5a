/* Tests for collector/http/router.c and the route table of routes.c. */
#include <criterion/criterion.h>
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
