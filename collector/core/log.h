/*
 * log.h - logfmt logging to stderr.
 *
 *     ml_log(ML_LOG_INFO, "msg=\"store opened\" path=%s", path);
 * prints
 *     ts=2026-11-25T20:00:00.123Z level=info msg="store opened" path=./data
 * The caller writes the key=value pairs after ts and level; values with spaces
 * are quoted by the caller (ml_log_quote helps for untrusted text).
 */
#ifndef ML_CORE_LOG_H
#define ML_CORE_LOG_H

#include <stddef.h>

enum ml_log_level { ML_LOG_DEBUG = 0, ML_LOG_INFO, ML_LOG_WARN, ML_LOG_ERROR };

void ml_log_set_level(enum ml_log_level level);
/* Parses "debug", "info", "warn", "error"; returns 0 or ML_EINVAL. */
int ml_log_parse_level(const char *s, enum ml_log_level *out);
void ml_log(enum ml_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*
 * Writes s (n bytes) as a quoted logfmt value into out (size outlen, always
 * NUL-terminated), escaping quotes, backslashes and control bytes; truncates.
 */
const char *ml_log_quote(char *out, size_t outlen, const char *s, size_t n);

#endif
