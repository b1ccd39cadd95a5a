/*
 * prom_json.h - the number formats of Prometheus's HTTP API JSON.
 *
 * Sample values are strings formatted as Prometheus 2.42's marshalPointJSON
 * does: Go's strconv.FormatFloat(v, 'f', -1, 64) (shortest round-trip
 * digits: 1e+06 is "1000000"), but FormatFloat(v, 'e', -1, 64) when
 * |v| < 1e-6 or |v| >= 1e21 ("1.5e-07", "1e+21"), with "NaN", "+Inf",
 * "-Inf"; timestamps are seconds with the
 * milliseconds as exactly three decimals when not zero (Prometheus's
 * jsonutil.MarshalTimestamp: 1700000000.5 s is written 1700000000.500).
 */
#ifndef ML_EXPORTERS_PROM_JSON_H
#define ML_EXPORTERS_PROM_JSON_H

#include <stdint.h>

#include "core/buf.h"

/* Appends v as Prometheus formats a sample value (see above), unquoted. */
void ml_prom_json_float_text(struct ml_buf *b, double v);
/* Appends the quoted JSON string of ml_prom_json_float_text. */
void ml_prom_json_value(struct ml_buf *b, double v);
/* Appends the JSON number of t_ms in seconds, as MarshalTimestamp does. */
void ml_prom_json_time(struct ml_buf *b, int64_t t_ms);

#endif
