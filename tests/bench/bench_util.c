/*
 * bench_util.c - flag table, clock, percentiles and the small keep-alive
 * HTTP/1.1 client of the benchmark tools (see bench_util.h).
 */
#include "bench_util.h"

#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"

static void print_default(const struct ml_bench_flag *f)
{
	switch (f->type) {
	case ML_BF_U64:
		printf(" (default: %llu)", (unsigned long long)*(uint64_t *)f->ptr);
		break;
	case ML_BF_F64:
		printf(" (default: %g)", *(double *)f->ptr);
		break;
	case ML_BF_STR:
		if (*(const char **)f->ptr)
			printf(" (default: %s)", *(const char **)f->ptr);
		break;
	case ML_BF_BOOL:
		break;
	}
}

static int set_flag(const struct ml_bench_flag *f, const char *v)
{
	char *end = NULL;

	errno = 0;
	switch (f->type) {
	case ML_BF_U64: {
		unsigned long long x = strtoull(v, &end, 10);
		if (errno || end == v || *end || v[0] == '-')
			goto bad;
		*(uint64_t *)f->ptr = x;
		return 0;
	}
	case ML_BF_F64: {
		double x = strtod(v, &end);
		if (errno || end == v || *end)
			goto bad;
		*(double *)f->ptr = x;
		return 0;
	}
	case ML_BF_STR:
		*(const char **)f->ptr = v;
		return 0;
	case ML_BF_BOOL:
		if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0)
			*(int *)f->ptr = 1;
		else if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0)
			*(int *)f->ptr = 0;
		else
			goto bad;
		return 0;
	}
bad:
	fprintf(stderr, "--%s: invalid value \"%s\"\n", f->name, v);
	return -1;
}

int ml_bench_flags_parse(const struct ml_bench_flag *flags, size_t n, int argc, char **argv,
                         const char *usage)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			printf("%s\n\nFlags:\n", usage);
			for (size_t k = 0; k < n; k++) {
				printf("  --%s%s\n      %s", flags[k].name,
				       flags[k].type == ML_BF_BOOL ? "" : "=VALUE", flags[k].help);
				print_default(&flags[k]);
				printf("\n");
			}
			return 1;
		}
		if (strncmp(a, "--", 2) != 0) {
			fprintf(stderr, "unexpected argument \"%s\" (see --help)\n", a);
			return -1;
		}
		a += 2;
		const char *eq = strchr(a, '=');
		size_t nl = eq ? (size_t)(eq - a) : strlen(a);
		const struct ml_bench_flag *f = NULL;
		for (size_t k = 0; k < n; k++)
			if (strlen(flags[k].name) == nl && strncmp(flags[k].name, a, nl) == 0)
				f = &flags[k];
		if (f == NULL) {
			fprintf(stderr, "unknown flag \"--%.*s\" (see --help)\n", (int)nl, a);
			return -1;
		}
		const char *v = NULL;
		if (eq)
			v = eq + 1;
		else if (f->type == ML_BF_BOOL)
			v = "true";
		else if (i + 1 < argc)
			v = argv[++i];
		else {
			fprintf(stderr, "--%s needs a value\n", f->name);
			return -1;
		}
		if (set_flag(f, v) != 0)
			return -1;
	}
	return 0;
}

double ml_bench_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

void ml_bench_sort(double *v, size_t n)
{
	if (n > 1)
		qsort(v, n, sizeof(*v), cmp_double);
}

double ml_bench_quantile_sorted(const double *v, size_t n, double q)
{
	if (n == 0)
		return 0;
	/* nearest rank: the smallest value with at least q*n values <= it */
	size_t rank = (size_t)(q * (double)n + 0.999999);
	if (rank == 0)
		rank = 1;
	if (rank > n)
		rank = n;
	return v[rank - 1];
}

/* ---- HTTP client ------------------------------------------------------------ */

int ml_bench_conn_init(struct ml_bench_conn *c, const char *hostport)
{
	const char *colon = strrchr(hostport, ':');

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	if (colon == NULL || colon == hostport || (size_t)(colon - hostport) >= sizeof(c->host) ||
	    strlen(colon + 1) == 0 || strlen(colon + 1) >= sizeof(c->port))
		return -1;
	memcpy(c->host, hostport, (size_t)(colon - hostport));
	snprintf(c->port, sizeof(c->port), "%s", colon + 1);
	return 0;
}

void ml_bench_conn_close(struct ml_bench_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->rlen = 0;
}

void ml_bench_conn_free(struct ml_bench_conn *c)
{
	ml_bench_conn_close(c);
	ml_free(c->rbuf);
	c->rbuf = NULL;
	c->rcap = 0;
}

static int conn_open(struct ml_bench_conn *c)
{
	struct addrinfo hints, *res = NULL, *ai;
	int one = 1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(c->host, c->port, &hints, &res) != 0)
		return -1;
	for (ai = res; ai; ai = ai->ai_next) {
		int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			c->fd = fd;
			break;
		}
		close(fd);
	}
	freeaddrinfo(res);
	c->rlen = 0;
	return c->fd >= 0 ? 0 : -1;
}

static int send_all(int fd, struct iovec *iov, int n)
{
	while (n > 0) {
		struct msghdr m;
		memset(&m, 0, sizeof(m));
		m.msg_iov = iov;
		m.msg_iovlen = (size_t)n;
		ssize_t w = sendmsg(fd, &m, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		size_t left = (size_t)w;
		while (n > 0 && left >= iov->iov_len) {
			left -= iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + left;
			iov->iov_len -= left;
		}
	}
	return 0;
}

/* Reads more bytes into rbuf; -1 on error or EOF. */
static int fill(struct ml_bench_conn *c)
{
	if (c->rcap - c->rlen < 16384) {
		size_t cap = c->rcap ? c->rcap * 2 : 65536;
		uint8_t *p = ml_realloc(c->rbuf, cap);
		if (p == NULL)
			return -1;
		c->rbuf = p;
		c->rcap = cap;
	}
	for (;;) {
		ssize_t r = recv(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		c->rlen += (size_t)r;
		return 0;
	}
}

static const uint8_t *find_crlf(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i++)
		if (p[i] == '\r' && p[i + 1] == '\n')
			return p + i;
	return NULL;
}

static bool header_is(const uint8_t *line, size_t n, const char *name, const uint8_t **value,
                      size_t *vlen)
{
	size_t k = strlen(name);
	if (n <= k || line[k] != ':' || strncasecmp((const char *)line, name, k) != 0)
		return false;
	size_t i = k + 1;
	while (i < n && (line[i] == ' ' || line[i] == '\t'))
		i++;
	*value = line + i;
	*vlen = n - i;
	return true;
}

/* Reads a chunked body starting at rbuf[*pos]; appends data to resp; advances *pos. */
static int read_chunked(struct ml_bench_conn *c, size_t *pos, struct ml_buf *resp)
{
	for (;;) {
		const uint8_t *eol;
		while ((eol = find_crlf(c->rbuf + *pos, c->rlen - *pos)) == NULL)
			if (fill(c) != 0)
				return -1;
		size_t size = 0;
		for (const uint8_t *p = c->rbuf + *pos; p < eol && isxdigit(*p); p++)
			size =
			    size * 16 + (size_t)(isdigit(*p) ? *p - '0' : (tolower(*p) - 'a' + 10));
		*pos = (size_t)(eol - c->rbuf) + 2;
		if (size == 0) {
			/* trailers end with an empty line */
			for (;;) {
				while ((eol = find_crlf(c->rbuf + *pos, c->rlen - *pos)) == NULL)
					if (fill(c) != 0)
						return -1;
				bool empty = eol == c->rbuf + *pos;
				*pos = (size_t)(eol - c->rbuf) + 2;
				if (empty)
					return 0;
			}
		}
		while (c->rlen - *pos < size + 2)
			if (fill(c) != 0)
				return -1;
		if (resp)
			ml_buf_append(resp, c->rbuf + *pos, size);
		*pos += size + 2;
	}
}

int ml_bench_http(struct ml_bench_conn *c, const char *method, const char *path,
                  const char *content_type, const uint8_t *body, size_t len, int *status,
                  struct ml_buf *resp)
{
	char head[1024];
	int hl;
	struct iovec iov[2];
	size_t pos, hend = 0;
	const uint8_t *eoh = NULL;
	bool chunked = false, close_after = false, have_cl = false;
	size_t cl = 0;

	if (resp)
		ml_buf_clear(resp);
	if (c->fd < 0 && conn_open(c) != 0)
		return -2;
	if (content_type)
		hl = snprintf(head, sizeof(head),
		              "%s %s HTTP/1.1\r\nHost: %s:%s\r\nUser-Agent: meshlens-bench\r\n"
		              "Content-Type: %s\r\nContent-Length: %zu\r\n\r\n",
		              method, path, c->host, c->port, content_type, len);
	else
		hl = snprintf(head, sizeof(head),
		              "%s %s HTTP/1.1\r\nHost: %s:%s\r\nUser-Agent: meshlens-bench\r\n\r\n",
		              method, path, c->host, c->port);
	if (hl < 0 || (size_t)hl >= sizeof(head))
		goto fail;
	iov[0].iov_base = head;
	iov[0].iov_len = (size_t)hl;
	iov[1].iov_base = (void *)body;
	iov[1].iov_len = content_type ? len : 0;
	if (send_all(c->fd, iov, iov[1].iov_len ? 2 : 1) != 0)
		goto fail;

	/* status line and headers */
	for (;;) {
		for (size_t i = 3; i < c->rlen; i++)
			if (memcmp(c->rbuf + i - 3, "\r\n\r\n", 4) == 0) {
				eoh = c->rbuf + i - 3;
				break;
			}
		if (eoh)
			break;
		if (c->rlen > (1u << 20) || fill(c) != 0)
			goto fail;
	}
	hend = (size_t)(eoh - c->rbuf) + 4;
	if (hend < 12 || memcmp(c->rbuf, "HTTP/1.", 7) != 0)
		goto fail;
	*status = (c->rbuf[9] - '0') * 100 + (c->rbuf[10] - '0') * 10 + (c->rbuf[11] - '0');
	pos = (size_t)(find_crlf(c->rbuf, hend) - c->rbuf) + 2;
	while (pos < hend - 2) {
		const uint8_t *line = c->rbuf + pos, *eol = find_crlf(line, hend - pos), *v;
		size_t n = (size_t)(eol - line), vl;
		if (header_is(line, n, "content-length", &v, &vl)) {
			have_cl = true;
			cl = 0;
			for (size_t i = 0; i < vl && isdigit(v[i]); i++)
				cl = cl * 10 + (size_t)(v[i] - '0');
		} else if (header_is(line, n, "transfer-encoding", &v, &vl)) {
			chunked = vl >= 7 && strncasecmp((const char *)v, "chunked", 7) == 0;
		} else if (header_is(line, n, "connection", &v, &vl)) {
			close_after = vl >= 5 && strncasecmp((const char *)v, "close", 5) == 0;
		}
		pos += n + 2;
	}
	pos = hend;

	/* body */
	if (strcmp(method, "HEAD") == 0 || *status == 204 || *status == 304 || *status < 200) {
		/* no body */
	} else if (chunked) {
		if (read_chunked(c, &pos, resp) != 0)
			goto fail;
	} else if (have_cl) {
		while (c->rlen - pos < cl)
			if (fill(c) != 0)
				goto fail;
		if (resp)
			ml_buf_append(resp, c->rbuf + pos, cl);
		pos += cl;
	} else {
		while (fill(c) == 0)
			;
		if (resp)
			ml_buf_append(resp, c->rbuf + pos, c->rlen - pos);
		pos = c->rlen;
		close_after = true;
	}
	memmove(c->rbuf, c->rbuf + pos, c->rlen - pos);
	c->rlen -= pos;
	if (close_after)
		ml_bench_conn_close(c);
	return 0;
fail:
	ml_bench_conn_close(c);
	return -1;
}
