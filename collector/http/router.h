/*
 * router.h - the request/response types every HTTP handler sees, and the
 * route table.
 *
 * Handlers never see libmicrohttpd: the server (http/server.c) gathers the
 * method, path, query and form parameters, headers and the decompressed body
 * into struct ml_http_request, calls the handler, and sends what it put in
 * struct ml_http_response. That keeps handlers testable as plain functions.
 *
 * Routes live in one table (ml_routes) so that the set of endpoints, their
 * methods and the role each needs (push or read, for authentication later)
 * are visible in one place.
 */
#ifndef ML_HTTP_ROUTER_H
#define ML_HTTP_ROUTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "model/span.h"

struct ml_arena;

struct ml_http_param {
	const char *name;  /* NUL-terminated, decoded */
	const char *value; /* NUL-terminated, decoded */
};

struct ml_http_header {
	const char *name;
	const char *value;
};

struct ml_http_request {
	const char *method;         /* "GET", "POST", ... */
	const char *path;           /* decoded path, without the query string */
	const char *content_type;   /* media type only, lowercased, no parameters; "" if none */
	const uint8_t *body;        /* decompressed body (Content-Encoding removed) */
	size_t body_len;
	struct ml_http_param *params; /* URL query parameters, then form body ones */
	size_t n_params;
	struct ml_http_header *headers;
	size_t n_headers;
	const char *path_rest;      /* for prefix routes: the part after the prefix */
	struct ml_arena *arena;     /* request arena: freed after the response is sent */
};

/* First value of a parameter, or NULL. */
const char *ml_http_param(const struct ml_http_request *r, const char *name);
/* All values of a parameter (match[]): fills up to max, returns the count found. */
size_t ml_http_params(const struct ml_http_request *r, const char *name, const char **out,
		      size_t max);
/* A header's value (case-insensitive name), or NULL. */
const char *ml_http_header(const struct ml_http_request *r, const char *name);

#define ML_HTTP_MAX_EXTRA_HEADERS 4

struct ml_http_response {
	int status;                 /* default 200 */
	const char *content_type;   /* static string; default "application/json" */
	struct ml_buf body;         /* owned by the response; freed by the server */
	struct ml_http_header extra[ML_HTTP_MAX_EXTRA_HEADERS]; /* static strings or in the request arena */
	size_t n_extra;
};

/* Sets status and a text/plain body "msg\n". Returns status for convenience. */
int ml_http_text(struct ml_http_response *resp, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Adds a response header (name and value must outlive the response). */
void ml_http_add_header(struct ml_http_response *resp, const char *name, const char *value);

typedef void (*ml_http_handler)(const struct ml_http_request *req, struct ml_http_response *resp,
				void *ctx);

enum ml_http_role { ML_ROLE_PUBLIC = 0, ML_ROLE_PUSH, ML_ROLE_READ };

struct ml_route {
	const char *method;   /* "GET", "POST" or "GET|POST" */
	const char *path;     /* exact path, or a prefix when prefix is true */
	bool prefix;
	enum ml_http_role role;
	ml_http_handler handler;
	const char *help;     /* one line for docs/API.md */
};

/*
 * Finds the route for (method, path). Returns it, or NULL with *status set
 * to 404 (no such path) or 405 (path exists, method not allowed; *allow then
 * holds the allowed methods, a static string).
 */
const struct ml_route *ml_route_find(const struct ml_route *table, size_t n, const char *method,
				     const char *path, int *status, const char **allow);

#endif
