/*
 * error.h - meshlens error codes.
 *
 * Every function that can fail returns an int: 0 on success or a negative
 * ML_E* code. Constructors return NULL instead. Messages meant for a user
 * (an HTTP 4xx body, a log line) are written by the failing function into a
 * caller-supplied buffer (struct ml_err), so that the code says *what kind* of
 * failure and the message says *what exactly* was wrong and where.
 */
#ifndef ML_CORE_ERROR_H
#define ML_CORE_ERROR_H

#include <stddef.h>

enum ml_errcode {
	ML_OK = 0,
	ML_ENOMEM = -1,     /* allocation failed */
	ML_EINVAL = -2,     /* malformed input: the caller's data is wrong (HTTP 400) */
	ML_ETOOBIG = -3,    /* input over a size cap (HTTP 413) */
	ML_EUNSUPP = -4,    /* unsupported content type or encoding (HTTP 415) */
	ML_ENOTFOUND = -5,  /* no such object (HTTP 404) */
	ML_EIO = -6,        /* storage or system I/O failed (HTTP 500) */
	ML_EFULL = -7,      /* store or queue full: retry later (HTTP 503/507) */
	ML_ESHUTDOWN = -8,  /* the component is shutting down (HTTP 503) */
	ML_ECORRUPT = -9,   /* stored data failed to decode: a bug or disk damage */
	ML_ETIMEOUT = -10,  /* a deadline passed before the work finished (HTTP 503) */
};

/* Static text for a code; never NULL. */
const char *ml_strerror(int code);

/*
 * A message for the user, filled by the function that detected the problem.
 * Fixed size so that it can live on the stack of a request handler.
 */
struct ml_err {
	char msg[512];
};

/*
 * Formats a message into err (if err is not NULL) and returns code, so that a
 * failure can be reported in one statement:
 *     return ml_err_set(err, ML_EINVAL, "span %zu: trace_id must be 16 bytes, got %zu", i, n);
 */
int ml_err_set(struct ml_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prefixes an existing message: "resourceSpans[2]: " + old message. */
void ml_err_prefix(struct ml_err *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
