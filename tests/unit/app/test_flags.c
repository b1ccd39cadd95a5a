/* Tests for collector/flags.c: parsing, defaults, errors, and docs/FLAGS.md kept in sync. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flags.h"


Test(flags, defaults)
{
	char *argv[] = {"meshlens", NULL};
	struct ml_config cfg;
	struct ml_err err;
	cr_assert_eq(ml_flags_parse(1, argv, &cfg, &err), 0);
	cr_assert_eq(cfg.n_listen, 1);
	cr_assert_str_eq(cfg.listen[0], "localhost:4318");
	cr_assert_str_eq(cfg.storage_path, "./data");
	cr_assert_eq(cfg.retention_ms, 7ULL * 86400000);
	cr_assert_eq(cfg.max_request_bytes, 16ULL << 20);
	cr_assert_str_eq(cfg.log_level, "info");
}

Test(flags, prometheus_style_values)
{
	char *argv[] = {"meshlens", "--web.listen-address=127.0.0.1:9000", "--web.listen-address",
			"[::1]:9000", "--storage.retention=15d", "--storage.path", "/tmp/x",
			"--web.max-request-bytes=1MiB", "--version", NULL};
	struct ml_config cfg;
	struct ml_err err;
	cr_assert_eq(ml_flags_parse(9, argv, &cfg, &err), 0, "%s", err.msg);
	cr_assert_eq(cfg.n_listen, 2);
	cr_assert_str_eq(cfg.listen[1], "[::1]:9000");
	cr_assert_eq(cfg.retention_ms, 15ULL * 86400000);
	cr_assert_str_eq(cfg.storage_path, "/tmp/x");
	cr_assert_eq(cfg.max_request_bytes, 1ULL << 20);
	cr_assert(cfg.show_version);
}

Test(flags, errors_name_the_flag)
{
	struct ml_config cfg;
	struct ml_err err;
	char *a1[] = {"meshlens", "--storage.retention=forever", NULL};
	cr_assert_eq(ml_flags_parse(2, a1, &cfg, &err), ML_EINVAL);
	cr_assert(strstr(err.msg, "--storage.retention") != NULL, "%s", err.msg);
	char *a2[] = {"meshlens", "--no.such-flag=1", NULL};
	cr_assert_eq(ml_flags_parse(2, a2, &cfg, &err), ML_EINVAL);
	cr_assert(strstr(err.msg, "no.such-flag") != NULL, "%s", err.msg);
	char *a3[] = {"meshlens", "--storage.path", NULL};
	cr_assert_eq(ml_flags_parse(2, a3, &cfg, &err), ML_EINVAL);
	cr_assert(strstr(err.msg, "needs a value") != NULL, "%s", err.msg);
}

/* docs/FLAGS.md must contain the table generated from the flag table. */
Test(flags, docs_are_current)
{
	char *gen = NULL;
	size_t genlen = 0;
	FILE *m = open_memstream(&gen, &genlen);
	ml_flags_markdown(m);
	fclose(m);
	FILE *f = fopen(ML_TEST_DATA_DIR "/../../docs/FLAGS.md", "r");
	cr_assert_not_null(f, "docs/FLAGS.md is missing");
	static char doc[65536];
	size_t n = fread(doc, 1, sizeof(doc) - 1, f);
	doc[n] = '\0';
	fclose(f);
	cr_assert(strstr(doc, gen) != NULL,
		  "docs/FLAGS.md is out of date; its table must be:\n%s", gen);
	free(gen);
}

/* The query limits take Prometheus's names and defaults, and reject what Prometheus would. */
Test(flags, query_limits)
{
	struct ml_config cfg;
	struct ml_err err;
	char *a0[] = {"meshlens", NULL};
	cr_assert_eq(ml_flags_parse(1, a0, &cfg, &err), 0, "%s", err.msg);
	cr_assert_eq(cfg.query_lookback_ms, 5ULL * 60000);
	cr_assert_eq(cfg.query_timeout_ms, 2ULL * 60000);
	cr_assert_eq(cfg.query_max_samples, 50000000ULL);
	cr_assert_eq(cfg.query_max_concurrency, 20);
	char *a1[] = {"meshlens", "--query.lookback-delta=1m30s", "--query.timeout", "10s",
		      "--query.max-samples=100000000000", "--query.max-concurrency=2", NULL};
	cr_assert_eq(ml_flags_parse(6, a1, &cfg, &err), 0, "%s", err.msg);
	cr_assert_eq(cfg.query_lookback_ms, 90000ULL);
	cr_assert_eq(cfg.query_timeout_ms, 10000ULL);
	cr_assert_eq(cfg.query_max_samples, 100000000000ULL);
	cr_assert_eq(cfg.query_max_concurrency, 2);
	char *a2[] = {"meshlens", "--query.max-samples=-5", NULL};
	cr_assert_eq(ml_flags_parse(2, a2, &cfg, &err), ML_EINVAL);
	cr_assert(strstr(err.msg, "--query.max-samples") != NULL, "%s", err.msg);
	char *a3[] = {"meshlens", "--query.max-samples=12x", NULL};
	cr_assert_eq(ml_flags_parse(2, a3, &cfg, &err), ML_EINVAL);
	char *a4[] = {"meshlens", "--query.timeout=soon", NULL};
	cr_assert_eq(ml_flags_parse(2, a4, &cfg, &err), ML_EINVAL);
	cr_assert(strstr(err.msg, "--query.timeout") != NULL, "%s", err.msg);
	char *a5[] = {"meshlens", "--query.max-concurrency=0", NULL};
	cr_assert_eq(ml_flags_parse(2, a5, &cfg, &err), ML_EINVAL);
}
