/*
 * server.h - the HTTP listener: libmicrohttpd with its internal epoll
 * thread pool, keep-alive, body caps, Content-Encoding, dispatch through the
 * route table.
 *
 * The server owns everything between the socket and a handler: it reads the
 * body up to --web.max-request-bytes (413 past it), removes gzip/deflate/zstd
 * Content-Encoding up to --web.max-decompressed-bytes (413 past it, 415 for
 * an encoding it does not know, 400 for a corrupt stream), parses the query
 * string and form bodies, finds the route (404/405 with Allow), calls the
 * handler on the connection's thread and sends its response. Handlers may
 * block (an ingest handler waits for its commit), which is why the pool has
 * more threads than cores.
 */
#ifndef ML_HTTP_SERVER_H
#define ML_HTTP_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "http/router.h"

struct ml_http_server;

struct ml_http_options {
	const char *const *listen;   /* "host:port" entries ("localhost:4318", "[::1]:4318", ":4318") */
	size_t n_listen;
	unsigned threads;            /* thread pool size; 0 = 16 */
	size_t max_request_bytes;    /* raw body cap; 0 = 16 MiB */
	size_t max_decompressed_bytes; /* cap after Content-Encoding; 0 = 64 MiB */
	unsigned connection_timeout_s; /* idle keep-alive timeout; 0 = 120 */
	const struct ml_route *routes;
	size_t n_routes;
	void *ctx;                   /* passed to every handler */
	/*
	 * Optional, for meshlens's own metrics: called after every request that
	 * reached a route, with the route's path as in the table ("/api/traces/"
	 * for a prefix route), the status and the handler's seconds.
	 */
	void (*on_request)(void *hook_ctx, const char *route_path, int status, double seconds);
	void *hook_ctx;
};

/* Binds every address and starts serving. NULL with a message in err. */
struct ml_http_server *ml_http_server_start(const struct ml_http_options *opt, struct ml_err *err);
/*
 * Stops accepting, lets in-flight requests finish, joins the threads and
 * frees the server. Accepts NULL.
 */
void ml_http_server_stop(struct ml_http_server *srv);

/*
 * Removes a Content-Encoding ("gzip", "x-gzip", "deflate", "zstd",
 * "snappy" (block format, as remote write sends it), "identity") from in[0..len) into a new ml_malloc'ed buffer (*out, *out_len,
 * the caller frees it) of at most max bytes. Returns 0, ML_EUNSUPP (unknown
 * encoding), ML_ETOOBIG (over max) or ML_EINVAL (corrupt stream) with a
 * message in err. Exposed for tests.
 */
int ml_http_decode_body(const char *encoding, const uint8_t *in, size_t len, size_t max,
			uint8_t **out, size_t *out_len, struct ml_err *err);

/*
 * Parses an application/x-www-form-urlencoded string (also a URL query
 * string) into params allocated in arena, appended after *n existing ones
 * (the array is reallocated in the arena). Returns 0 or ML_ENOMEM / ML_EINVAL.
 */
struct ml_arena;
int ml_http_parse_form(struct ml_arena *arena, const char *s, size_t len,
		       struct ml_http_param **params, size_t *n);

#endif
