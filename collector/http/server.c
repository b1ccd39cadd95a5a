/*
 * server.c - libmicrohttpd glue: one daemon per listen address, each with
 * an internal epoll thread pool. See server.h for what the server does for
 * handlers.
 *
 * Per connection-request state (struct req_state) lives from the first
 * access-handler call to MHD's completion callback: the body accumulates in
 * a buffer, and the request arena is freed when MHD reports the request done.
 */
#include "http/server.h"

#include "core/alloc.h"
#include "core/arena.h"
#include "core/buf.h"
#include "core/log.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#define ML_HTTP_MAX_DAEMONS 16

struct ml_http_server {
	struct MHD_Daemon *daemons[ML_HTTP_MAX_DAEMONS];
	size_t n_daemons;
	struct ml_http_options opt;
};

struct req_state {
	struct ml_arena *arena;
	struct ml_buf body;
	int too_big;          /* the raw body passed max_request_bytes */
};

static void request_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			      enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)conn;
	(void)toe;
	struct req_state *st = *con_cls;
	if (st == NULL)
		return;
	ml_buf_free(&st->body);
	ml_arena_destroy(st->arena);
	ml_free(st);
	*con_cls = NULL;
}

struct kv_collect {
	struct ml_arena *arena;
	struct ml_http_header *items; /* used for params too: same layout */
	size_t n, cap;
	int oom;
};

static enum MHD_Result collect_kv(void *cls, enum MHD_ValueKind kind, const char *key,
				  const char *value)
{
	(void)kind;
	struct kv_collect *c = cls;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;
		struct ml_http_header *items = ml_arena_calloc(c->arena, cap, sizeof(*items));
		if (items == NULL) {
			c->oom = 1;
			return MHD_NO;
		}
		if (c->n)
			memcpy(items, c->items, c->n * sizeof(*items));
		c->items = items;
		c->cap = cap;
	}
	c->items[c->n].name = key;
	c->items[c->n].value = value ? value : "";
	c->n++;
	return MHD_YES;
}

static enum MHD_Result send_response(struct MHD_Connection *conn, struct ml_http_response *resp)
{
	size_t len = resp->body.len;
	uint8_t *data = ml_buf_steal(&resp->body, NULL);
	struct MHD_Response *r =
		MHD_create_response_from_buffer(len, data ? data : (void *)"", data ? MHD_RESPMEM_MUST_FREE
										: MHD_RESPMEM_PERSISTENT);
	if (r == NULL) {
		ml_free(data);
		return MHD_NO;
	}
	if (resp->content_type != NULL)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, resp->content_type);
	for (size_t i = 0; i < resp->n_extra; i++)
		MHD_add_response_header(r, resp->extra[i].name, resp->extra[i].value);
	enum MHD_Result ret = MHD_queue_response(conn, (unsigned)resp->status, r);
	MHD_destroy_response(r);
	return ret;
}

/* "GET|POST" -> "GET, POST" for the Allow header, in the request arena. */
static const char *allow_header(struct ml_arena *arena, const char *methods)
{
	size_t n = strlen(methods);
	char *out = ml_arena_alloc(arena, 2 * n + 1);
	if (out == NULL)
		return methods;
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		if (methods[i] == '|') {
			out[o++] = ',';
			out[o++] = ' ';
		} else {
			out[o++] = methods[i];
		}
	}
	out[o] = '\0';
	return out;
}

/* Media type without parameters, lowercased, in the arena ("" if none). */
static const char *media_type(struct ml_arena *arena, const char *ct)
{
	if (ct == NULL)
		return "";
	while (*ct == ' ')
		ct++;
	size_t n = strcspn(ct, ";");
	while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
		n--;
	char *out = ml_arena_strndup(arena, ct, n);
	if (out == NULL)
		return "";
	for (size_t i = 0; i < n; i++)
		out[i] = (char)tolower((unsigned char)out[i]);
	return out;
}

static enum MHD_Result dispatch(struct ml_http_server *srv, struct MHD_Connection *conn,
				const char *url, const char *method, struct req_state *st)
{
	struct ml_http_response resp;
	memset(&resp, 0, sizeof(resp));
	resp.status = 200;
	resp.content_type = "application/json";

	struct ml_http_request req;
	memset(&req, 0, sizeof(req));
	req.method = method;
	req.path = url;
	req.arena = st->arena;

	struct kv_collect hdrs = {st->arena, NULL, 0, 0, 0};
	MHD_get_connection_values(conn, MHD_HEADER_KIND, collect_kv, &hdrs);
	struct kv_collect args = {st->arena, NULL, 0, 0, 0};
	MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_kv, &args);
	if (hdrs.oom || args.oom) {
		ml_http_text(&resp, 500, "out of memory");
		return send_response(conn, &resp);
	}
	req.headers = hdrs.items;
	req.n_headers = hdrs.n;
	/* struct ml_http_header and struct ml_http_param have the same layout. */
	req.params = (struct ml_http_param *)args.items;
	req.n_params = args.n;
	req.content_type = media_type(st->arena, ml_http_header(&req, "Content-Type"));

	int status = 0;
	const char *allow = NULL;
	const struct ml_route *route =
		ml_route_find(srv->opt.routes, srv->opt.n_routes, method, url, &status, &allow);
	if (route == NULL) {
		if (status == 405) {
			ml_http_text(&resp, 405, "method %s not allowed for %s", method, url);
			ml_http_add_header(&resp, "Allow", allow_header(st->arena, allow));
		} else {
			ml_http_text(&resp, 404, "no such endpoint: %s", url);
		}
		return send_response(conn, &resp);
	}
	if (st->too_big) {
		ml_http_text(&resp, 413, "request body exceeds the limit of %zu bytes",
			     srv->opt.max_request_bytes);
		return send_response(conn, &resp);
	}

	uint8_t *body = NULL;
	size_t body_len = 0;
	struct ml_err err;
	int rc = ml_http_decode_body(ml_http_header(&req, "Content-Encoding"), st->body.data,
				     st->body.len, srv->opt.max_decompressed_bytes, &body, &body_len,
				     &err);
	if (rc != 0) {
		int code = rc == ML_ETOOBIG ? 413 : rc == ML_EUNSUPP ? 415 : rc == ML_ENOMEM ? 500 : 400;
		ml_http_text(&resp, code, "%s", err.msg);
		return send_response(conn, &resp);
	}
	ml_buf_free(&st->body);
	req.body = body;
	req.body_len = body_len;
	if (strcmp(req.content_type, "application/x-www-form-urlencoded") == 0 && body_len > 0) {
		if (ml_http_parse_form(st->arena, (const char *)body, body_len, &req.params,
				       &req.n_params) != 0) {
			ml_free(body);
			ml_http_text(&resp, 500, "out of memory");
			return send_response(conn, &resp);
		}
	}
	req.path_rest = route->prefix ? url + strlen(route->path) : "";
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	route->handler(&req, &resp, srv->opt.ctx);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (srv->opt.on_request != NULL)
		srv->opt.on_request(srv->opt.hook_ctx, route->path, resp.status,
				    (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	ml_free(body);
	if (strcmp(method, "HEAD") == 0)
		ml_buf_clear(&resp.body);
	return send_response(conn, &resp);
}

static enum MHD_Result access_handler(void *cls, struct MHD_Connection *conn, const char *url,
				      const char *method, const char *version,
				      const char *upload_data, size_t *upload_data_size,
				      void **con_cls)
{
	(void)version;
	struct ml_http_server *srv = cls;
	struct req_state *st = *con_cls;
	if (st == NULL) {
		st = ml_calloc(1, sizeof(*st));
		if (st == NULL)
			return MHD_NO;
		st->arena = ml_arena_create(0);
		if (st->arena == NULL) {
			ml_free(st);
			return MHD_NO;
		}
		*con_cls = st;
		const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
							     MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl != NULL && strtoull(cl, NULL, 10) > srv->opt.max_request_bytes)
			st->too_big = 1;
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		if (!st->too_big && st->body.len + *upload_data_size > srv->opt.max_request_bytes) {
			st->too_big = 1;
			ml_buf_free(&st->body);
		}
		if (!st->too_big) {
			ml_buf_append(&st->body, upload_data, *upload_data_size);
			if (!ml_buf_ok(&st->body))
				return MHD_NO;
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	return dispatch(srv, conn, url, method, st);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	char msg[512];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	size_t n = strlen(msg);
	while (n > 0 && msg[n - 1] == '\n')
		msg[--n] = '\0';
	char q[600];
	ml_log(ML_LOG_DEBUG, "component=http msg=%s", ml_log_quote(q, sizeof(q), msg, n));
}

/* Splits "host:port", "[v6]:port" or ":port"; host "" means every address. */
static int split_host_port(const char *addr, char *host, size_t hostlen, char *port,
			   size_t portlen)
{
	const char *colon;
	if (addr[0] == '[') {
		const char *end = strchr(addr, ']');
		if (end == NULL || end[1] != ':')
			return ML_EINVAL;
		snprintf(host, hostlen, "%.*s", (int)(end - addr - 1), addr + 1);
		colon = end + 1;
	} else {
		colon = strrchr(addr, ':');
		if (colon == NULL)
			return ML_EINVAL;
		snprintf(host, hostlen, "%.*s", (int)(colon - addr), addr);
	}
	if (colon[1] == '\0')
		return ML_EINVAL;
	snprintf(port, portlen, "%s", colon + 1);
	return 0;
}

static int start_one(struct ml_http_server *srv, const struct sockaddr *sa, socklen_t salen,
		     const char *what, struct ml_err *err)
{
	if (srv->n_daemons == ML_HTTP_MAX_DAEMONS)
		return ml_err_set(err, ML_EINVAL, "too many listen addresses");
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
	if (sa->sa_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	(void)salen;
	struct MHD_Daemon *d = MHD_start_daemon(
		flags, 0, NULL, NULL, access_handler, srv,
		MHD_OPTION_SOCK_ADDR, sa,
		MHD_OPTION_THREAD_POOL_SIZE, srv->opt.threads,
		MHD_OPTION_CONNECTION_TIMEOUT, srv->opt.connection_timeout_s,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)10000,
		MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
		MHD_OPTION_NOTIFY_COMPLETED, request_completed, NULL,
		MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
		MHD_OPTION_END);
	if (d == NULL)
		return ml_err_set(err, ML_EIO, "cannot listen on %s (address in use or not available)", what);
	srv->daemons[srv->n_daemons++] = d;
	return 0;
}

struct ml_http_server *ml_http_server_start(const struct ml_http_options *opt, struct ml_err *err)
{
	struct ml_http_server *srv = ml_calloc(1, sizeof(*srv));
	if (srv == NULL) {
		ml_err_set(err, ML_ENOMEM, "out of memory");
		return NULL;
	}
	srv->opt = *opt;
	if (srv->opt.threads == 0)
		srv->opt.threads = 16;
	if (srv->opt.max_request_bytes == 0)
		srv->opt.max_request_bytes = 16u << 20;
	if (srv->opt.max_decompressed_bytes == 0)
		srv->opt.max_decompressed_bytes = 64u << 20;
	if (srv->opt.connection_timeout_s == 0)
		srv->opt.connection_timeout_s = 120;

	for (size_t i = 0; i < opt->n_listen; i++) {
		char host[256], port[32];
		if (split_host_port(opt->listen[i], host, sizeof(host), port, sizeof(port)) != 0) {
			ml_err_set(err, ML_EINVAL,
				   "--web.listen-address \"%s\": expected host:port", opt->listen[i]);
			goto fail;
		}
		struct addrinfo hints, *res = NULL;
		memset(&hints, 0, sizeof(hints));
		hints.ai_family = AF_UNSPEC;
		hints.ai_socktype = SOCK_STREAM;
		hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
		int g = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
		if (g != 0) {
			ml_err_set(err, ML_EINVAL, "--web.listen-address \"%s\": %s", opt->listen[i],
				   gai_strerror(g));
			goto fail;
		}
		/* Bind each distinct address the name resolves to (localhost: 127.0.0.1 and ::1). */
		int bound = 0;
		struct ml_err first;
		first.msg[0] = '\0';
		for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
			int dup = 0;
			for (struct addrinfo *p = res; p != ai; p = p->ai_next)
				if (p->ai_addrlen == ai->ai_addrlen &&
				    memcmp(p->ai_addr, ai->ai_addr, ai->ai_addrlen) == 0)
					dup = 1;
			if (dup)
				continue;
			if (start_one(srv, ai->ai_addr, ai->ai_addrlen, opt->listen[i], &first) == 0)
				bound++;
		}
		freeaddrinfo(res);
		if (bound == 0) {
			ml_err_set(err, ML_EIO, "%s", first.msg);
			goto fail;
		}
		char q[300];
		ml_log(ML_LOG_INFO, "msg=\"listening\" address=%s",
		       ml_log_quote(q, sizeof(q), opt->listen[i], strlen(opt->listen[i])));
	}
	return srv;
fail:
	ml_http_server_stop(srv);
	return NULL;
}

void ml_http_server_stop(struct ml_http_server *srv)
{
	if (srv == NULL)
		return;
	for (size_t i = 0; i < srv->n_daemons; i++)
		MHD_quiesce_daemon(srv->daemons[i]);
	for (size_t i = 0; i < srv->n_daemons; i++)
		MHD_stop_daemon(srv->daemons[i]);
	ml_free(srv);
}
