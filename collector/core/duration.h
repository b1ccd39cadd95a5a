/*
 * duration.h - parsing the duration texts users and tools send.
 */
#ifndef ML_CORE_DURATION_H
#define ML_CORE_DURATION_H

#include <stddef.h>
#include <stdint.h>

/*
 * Go's time.ParseDuration syntax, as Jaeger's query API takes it
 * (minDuration=1.2s, lookback=1h30m): a sequence of decimal numbers with
 * units ns, us, µs, ms, s, m, h. Negative durations are rejected.
 * Returns 0 and *out in nanoseconds, or ML_EINVAL.
 */
int ml_parse_go_duration(const char *s, size_t n, uint64_t *out);

/*
 * Prometheus's duration syntax (--storage.retention=15d, [5m], 1h30m):
 * integers with units ms, s, m, h, d, w, y (y = 365d), largest first.
 * Returns 0 and *out in milliseconds, or ML_EINVAL.
 */
int ml_parse_prom_duration(const char *s, size_t n, uint64_t *out_ms);

#endif
