/*
 * router.c - route look-up and the small request/response helpers of
 * router.h.
 */
#include "http/router.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

const char *ml_http_param(const struct ml_http_request *r, const char *name)
{
	for (size_t i = 0; i < r->n_params; i++)
		if (strcmp(r->params[i].name, name) == 0)
			return r->params[i].value;
	return NULL;
}

size_t ml_http_params(const struct ml_http_request *r, const char *name, const char **out,
		      size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < r->n_params; i++) {
		if (strcmp(r->params[i].name, name) != 0)
			continue;
		if (n < max)
			out[n] = r->params[i].value;
		n++;
	}
	return n;
}

const char *ml_http_header(const struct ml_http_request *r, const char *name)
{
	for (size_t i = 0; i < r->n_headers; i++)
		if (strcasecmp(r->headers[i].name, name) == 0)
			return r->headers[i].value;
	return NULL;
}

int ml_http_text(struct ml_http_response *resp, int status, const char *fmt, ...)
{
	char tmp[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(tmp))
		n = sizeof(tmp) - 1;
	resp->status = status;
	resp->content_type = "text/plain; charset=utf-8";
	ml_buf_clear(&resp->body);
	ml_buf_append(&resp->body, tmp, (size_t)n);
	ml_buf_putc(&resp->body, '\n');
	return status;
}

void ml_http_add_header(struct ml_http_response *resp, const char *name, const char *value)
{
	if (resp->n_extra < ML_HTTP_MAX_EXTRA_HEADERS) {
		resp->extra[resp->n_extra].name = name;
		resp->extra[resp->n_extra].value = value;
		resp->n_extra++;
	}
}

/* Does "GET|POST" contain method? */
static int method_allowed(const char *list, const char *method)
{
	size_t m = strlen(method);
	const char *p = list;
	while (*p) {
		const char *bar = strchr(p, '|');
		size_t l = bar ? (size_t)(bar - p) : strlen(p);
		if (l == m && strncmp(p, method, m) == 0)
			return 1;
		if (bar == NULL)
			break;
		p = bar + 1;
	}
	/* HEAD is answered wherever GET is. */
	return strcmp(method, "HEAD") == 0 && method_allowed(list, "GET");
}

const struct ml_route *ml_route_find(const struct ml_route *table, size_t n, const char *method,
				     const char *path, int *status, const char **allow)
{
	/* Allowed methods of every route on this path, for the Allow header. */
	static const char *const known[] = {"GET", "POST", "PUT"};
	static const char *const allow_sets[] = {
		"", "GET", "POST", "GET|POST", "PUT", "GET|PUT", "POST|PUT", "GET|POST|PUT",
	};
	unsigned mask = 0;
	int path_found = 0;
	for (size_t i = 0; i < n; i++) {
		const struct ml_route *r = &table[i];
		size_t l = strlen(r->path);
		int match = r->prefix ? strncmp(path, r->path, l) == 0 : strcmp(path, r->path) == 0;
		if (!match)
			continue;
		if (method_allowed(r->method, method))
			return r;
		path_found = 1;
		for (unsigned k = 0; k < 3; k++)
			if (method_allowed(r->method, known[k]))
				mask |= 1u << k;
	}
	*allow = allow_sets[mask & 7u];
	*status = path_found ? 405 : 404;
	return NULL;
}
