/*
 * bench_util.h - what the benchmark tools share: a flag table with --help,
 * a monotonic clock, percentiles, and a minimal blocking HTTP/1.1 keep-alive
 * client (one connection, one request at a time) over plain sockets.
 *
 * The client is for driving meshlens on loopback in benchmarks, not a
 * general HTTP client: it understands Content-Length and chunked responses
 * and "Connection: close", nothing else.
 */
#ifndef ML_BENCH_UTIL_H
#define ML_BENCH_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

enum ml_bench_flag_type { ML_BF_U64, ML_BF_F64, ML_BF_STR, ML_BF_BOOL };

struct ml_bench_flag {
	const char *name; /* without the leading "--" */
	enum ml_bench_flag_type type;
	void *ptr; /* uint64_t *, double *, const char **, int * */
	const char *help;
};

/*
 * Parses --name=value / --name value into the table's pointers (which hold
 * the defaults on entry). Returns 0, 1 when --help was printed (usage line,
 * then every flag with its default), or -1 after printing an error to stderr.
 */
int ml_bench_flags_parse(const struct ml_bench_flag *flags, size_t n, int argc, char **argv,
                         const char *usage);

/* Seconds on CLOCK_MONOTONIC. */
double ml_bench_now(void);

/* Sorts v (n values) and returns the q-quantile (0..1) by nearest rank; 0 if n == 0. */
double ml_bench_quantile_sorted(const double *v, size_t n, double q);
void ml_bench_sort(double *v, size_t n);

struct ml_bench_conn {
	int fd; /* -1 when not connected */
	char host[256];
	char port[16];
	uint8_t *rbuf;
	size_t rlen, rcap;
};

/* Splits "host:port" into c (not connected yet). -1 if malformed. */
int ml_bench_conn_init(struct ml_bench_conn *c, const char *hostport);
void ml_bench_conn_close(struct ml_bench_conn *c);
/* Frees the buffers too. */
void ml_bench_conn_free(struct ml_bench_conn *c);

/*
 * Sends one request (connecting first if needed) and reads the whole
 * response. *status gets the HTTP status; the body is appended to resp
 * (cleared first) when resp is not NULL. content_type may be NULL (no body).
 * Returns 0; -2 when it cannot connect (nothing was sent); -1 on a
 * connection or protocol error after connecting (the connection is closed;
 * the next call reconnects).
 */
int ml_bench_http(struct ml_bench_conn *c, const char *method, const char *path,
                  const char *content_type, const uint8_t *body, size_t len, int *status,
                  struct ml_buf *resp);

#endif
