/*
 * error.c - error code names and the user-message helpers of error.h.
 */
#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *ml_strerror(int code)
{
	switch (code) {
	case ML_OK: return "success";
	case ML_ENOMEM: return "out of memory";
	case ML_EINVAL: return "invalid input";
	case ML_ETOOBIG: return "input too large";
	case ML_EUNSUPP: return "unsupported media type or encoding";
	case ML_ENOTFOUND: return "not found";
	case ML_EIO: return "I/O error";
	case ML_EFULL: return "storage full";
	case ML_ESHUTDOWN: return "shutting down";
	case ML_ECORRUPT: return "stored data is corrupt";
	case ML_ETIMEOUT: return "timed out";
	default: return "unknown error";
	}
}

int ml_err_set(struct ml_err *err, int code, const char *fmt, ...)
{
	if (err != NULL) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
	}
	return code;
}

void ml_err_prefix(struct ml_err *err, const char *fmt, ...)
{
	char prefix[256];
	char old[sizeof(err->msg)];
	va_list ap;

	if (err == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	size_t plen = strlen(prefix);
	if (plen >= sizeof(err->msg))
		plen = sizeof(err->msg) - 1;
	memcpy(old, err->msg, sizeof(old));
	memcpy(err->msg, prefix, plen);
	size_t olen = strnlen(old, sizeof(old) - 1);
	if (olen > sizeof(err->msg) - 1 - plen)
		olen = sizeof(err->msg) - 1 - plen;
	memcpy(err->msg + plen, old, olen);
	err->msg[plen + olen] = '\0';
}
