/*
 * flags.c - the flag table and its parser.
 *
 * Each flag is one row: name, kind, default, where the value goes and the
 * help text. Parsing, defaults, --help and the Markdown documentation all
 * read this table, so a flag cannot exist without being documented.
 */
#include "flags.h"

#include "core/duration.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum flag_kind {
	FLAG_STRING,
	FLAG_STRING_LIST,
	FLAG_DURATION_MS,
	FLAG_BYTES,
	FLAG_UINT,  /* 1..1024 (threads, concurrency) */
	FLAG_COUNT, /* 1..2^63-1 (sample counts) */
	FLAG_BOOL
};

struct flag {
	const char *name;
	enum flag_kind kind;
	const char *def;     /* default, as text; NULL = none */
	size_t offset;       /* into struct ml_config */
	const char *help;
};

#define F(field) offsetof(struct ml_config, field)

static const struct flag flag_table[] = {
	{"web.listen-address", FLAG_STRING_LIST, "localhost:4318", F(listen),
	 "Address to listen on for pushes, queries and the UI (host:port). Repeatable."},
	{"web.threads", FLAG_UINT, "16", F(web_threads),
	 "HTTP worker threads (requests wait for their commit on these)."},
	{"web.max-request-bytes", FLAG_BYTES, "16MiB", F(max_request_bytes),
	 "Largest accepted request body as sent (413 beyond)."},
	{"web.max-decompressed-bytes", FLAG_BYTES, "64MiB", F(max_decompressed_bytes),
	 "Largest accepted request body after removing Content-Encoding (413 beyond)."},
	{"storage.path", FLAG_STRING, "./data", F(storage_path),
	 "Directory of the LMDB store (created if missing)."},
	{"storage.retention", FLAG_DURATION_MS, "7d", F(retention_ms),
	 "How long to keep spans and samples (Prometheus duration: 15d, 12h, 1w)."},
	{"storage.max-bytes", FLAG_BYTES, "1TiB", F(storage_max_bytes),
	 "Upper bound of the store's size on disk (LMDB map size); pushes get 503 when it is reached."},
	{"query.lookback-delta", FLAG_DURATION_MS, "5m", F(query_lookback_ms),
	 "The maximum lookback duration for retrieving metrics during expression evaluations."},
	{"query.timeout", FLAG_DURATION_MS, "2m", F(query_timeout_ms),
	 "Maximum time a query may take before being aborted (503 \"timeout\"); a query's own "
	 "timeout= parameter can only lower it."},
	{"query.max-samples", FLAG_COUNT, "50000000", F(query_max_samples),
	 "Maximum number of samples a single query can load into memory (422 \"execution\" "
	 "beyond); this also limits the number of samples a query can return."},
	{"query.max-concurrency", FLAG_UINT, "20", F(query_max_concurrency),
	 "Maximum number of queries executed concurrently; further ones wait, within their timeout."},
	{"aggregation.disabled", FLAG_BOOL, NULL, F(aggregation_disabled),
	 "Do not derive metrics from spans (Istio's standard metrics, span metrics, service graph)."},
	{"aggregation.interval", FLAG_DURATION_MS, "15s", F(aggregation_interval_ms),
	 "How often the metrics derived from spans are written to the time-series store."},
	{"aggregation.span-metrics-names", FLAG_STRING, "tempo", F(aggregation_span_metrics_names),
	 "Span metrics names: tempo (traces_spanmetrics_*, Grafana Tempo) or otel "
	 "(traces_span_metrics_*, the OpenTelemetry Collector's spanmetrics connector)."},
	{"aggregation.service-graph.wait", FLAG_DURATION_MS, "10s", F(aggregation_sg_wait_ms),
	 "How long a client or server span waits for its peer span before it counts alone."},
	{"aggregation.service-graph.max-edges", FLAG_COUNT, "10000", F(aggregation_sg_max_edges),
	 "Spans waiting for their peer span at most; beyond, the oldest is counted alone early."},
	{"aggregation.max-series", FLAG_COUNT, "100000", F(aggregation_max_series),
	 "Series per derived metric family at most; updates of further series are dropped and counted."},
	{"log.level", FLAG_STRING, "info", F(log_level),
	 "Only log messages with this or higher severity: debug, info, warn, error."},
	{"version", FLAG_BOOL, NULL, F(show_version), "Print version and exit."},
	{"help", FLAG_BOOL, NULL, F(show_help), "Print this help and exit."},
};

#define N_FLAGS (sizeof(flag_table) / sizeof(flag_table[0]))

/* "16MiB", "1TiB", "4096", "64KB" -> bytes. */
static int parse_bytes(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (end == s || errno != 0 || s[0] == '-')
		return ML_EINVAL;
	static const struct {
		const char *suffix;
		uint64_t mult;
	} units[] = {{"", 1}, {"B", 1}, {"KB", 1000}, {"MB", 1000000}, {"GB", 1000000000},
		     {"TB", 1000000000000ULL}, {"KiB", 1ULL << 10}, {"MiB", 1ULL << 20},
		     {"GiB", 1ULL << 30}, {"TiB", 1ULL << 40}};
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].suffix) == 0) {
			if (v > UINT64_MAX / units[i].mult)
				return ML_EINVAL;
			*out = v * units[i].mult;
			return 0;
		}
	}
	return ML_EINVAL;
}

static int set_flag(const struct flag *f, const char *value, struct ml_config *cfg,
		    struct ml_err *err)
{
	char *base = (char *)cfg + f->offset;
	switch (f->kind) {
	case FLAG_STRING:
		*(const char **)base = value;
		return 0;
	case FLAG_STRING_LIST:
		if (cfg->n_listen == ML_MAX_LISTEN)
			return ml_err_set(err, ML_EINVAL, "--%s: at most %d values", f->name,
					  ML_MAX_LISTEN);
		cfg->listen[cfg->n_listen++] = value;
		return 0;
	case FLAG_DURATION_MS:
		if (ml_parse_prom_duration(value, strlen(value), (uint64_t *)(void *)base) != 0)
			return ml_err_set(err, ML_EINVAL,
					  "--%s: invalid duration \"%s\" (examples: 15d, 12h, 90m)",
					  f->name, value);
		return 0;
	case FLAG_BYTES:
		if (parse_bytes(value, (uint64_t *)(void *)base) != 0)
			return ml_err_set(err, ML_EINVAL,
					  "--%s: invalid size \"%s\" (examples: 4096, 16MiB, 1GB)",
					  f->name, value);
		return 0;
	case FLAG_UINT: {
		char *end;
		errno = 0;
		unsigned long v = strtoul(value, &end, 10);
		if (*value == '\0' || *end != '\0' || errno != 0 || v == 0 || v > 1024)
			return ml_err_set(err, ML_EINVAL,
					  "--%s: expected a whole number from 1 to 1024, got \"%s\"",
					  f->name, value);
		*(unsigned *)(void *)base = (unsigned)v;
		return 0;
	}
	case FLAG_COUNT: {
		char *end;
		errno = 0;
		unsigned long long v = strtoull(value, &end, 10);
		if (*value == '\0' || *value == '-' || *end != '\0' || errno != 0 || v == 0 ||
		    v > (unsigned long long)INT64_MAX)
			return ml_err_set(err, ML_EINVAL,
					  "--%s: expected a positive whole number, got \"%s\"", f->name,
					  value);
		*(uint64_t *)(void *)base = (uint64_t)v;
		return 0;
	}
	case FLAG_BOOL:
		if (strcmp(value, "true") == 0 || strcmp(value, "") == 0)
			*(bool *)(void *)base = true;
		else if (strcmp(value, "false") == 0)
			*(bool *)(void *)base = false;
		else
			return ml_err_set(err, ML_EINVAL, "--%s: expected true or false, got \"%s\"",
					  f->name, value);
		return 0;
	}
	return ML_EINVAL;
}

int ml_flags_parse(int argc, char **argv, struct ml_config *cfg, struct ml_err *err)
{
	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < N_FLAGS; i++) {
		if (flag_table[i].def == NULL || flag_table[i].kind == FLAG_STRING_LIST)
			continue;
		int rc = set_flag(&flag_table[i], flag_table[i].def, cfg, err);
		if (rc != 0)
			return rc;
	}
	for (int a = 1; a < argc; a++) {
		const char *arg = argv[a];
		if (strncmp(arg, "--", 2) != 0 && strcmp(arg, "-h") != 0)
			return ml_err_set(err, ML_EINVAL, "unexpected argument \"%s\" (see --help)", arg);
		if (strcmp(arg, "-h") == 0)
			arg = "--help";
		const char *name = arg + 2;
		const char *eq = strchr(name, '=');
		size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
		const struct flag *f = NULL;
		for (size_t i = 0; i < N_FLAGS; i++)
			if (strlen(flag_table[i].name) == nlen &&
			    strncmp(flag_table[i].name, name, nlen) == 0)
				f = &flag_table[i];
		if (f == NULL)
			return ml_err_set(err, ML_EINVAL, "unknown flag \"--%.*s\" (see --help)",
					  (int)nlen, name);
		const char *value;
		if (eq != NULL)
			value = eq + 1;
		else if (f->kind == FLAG_BOOL)
			value = "true";
		else if (a + 1 < argc)
			value = argv[++a];
		else
			return ml_err_set(err, ML_EINVAL, "--%s needs a value", f->name);
		int rc = set_flag(f, value, cfg, err);
		if (rc != 0)
			return rc;
	}
	if (cfg->n_listen == 0)
		cfg->listen[cfg->n_listen++] = "localhost:4318";
	return 0;
}

void ml_flags_usage(FILE *out)
{
	fprintf(out, "usage: meshlens [<flags>]\n\n"
		     "Telemetry and observability collector for service meshes.\n\nFlags:\n");
	for (size_t i = 0; i < N_FLAGS; i++) {
		const struct flag *f = &flag_table[i];
		fprintf(out, "  --%s%s\n      %s", f->name, f->kind == FLAG_BOOL ? "" : "=VALUE",
			f->help);
		if (f->def != NULL)
			fprintf(out, " (default: %s)", f->def);
		fputc('\n', out);
	}
}

void ml_flags_markdown(FILE *out)
{
	fprintf(out, "| flag | default | meaning |\n|---|---|---|\n");
	for (size_t i = 0; i < N_FLAGS; i++)
		fprintf(out, "| `--%s` | %s | %s |\n", flag_table[i].name,
			flag_table[i].def ? flag_table[i].def : "", flag_table[i].help);
}
