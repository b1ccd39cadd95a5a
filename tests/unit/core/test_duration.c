/* Tests for collector/core/duration.c: Go and Prometheus duration syntax. */
#include <criterion/criterion.h>
#include <string.h>

#include "core/duration.h"
#include "core/error.h"

static int go(const char *s, uint64_t *out) { return ml_parse_go_duration(s, strlen(s), out); }
static int prom(const char *s, uint64_t *out) { return ml_parse_prom_duration(s, strlen(s), out); }

Test(duration, go_units_and_fractions)
{
	uint64_t v;
	cr_assert_eq(go("100ms", &v), 0);
	cr_assert_eq(v, 100000000ULL);
	cr_assert_eq(go("1.2s", &v), 0);
	cr_assert_eq(v, 1200000000ULL);
	cr_assert_eq(go("1h30m", &v), 0);
	cr_assert_eq(v, 5400ULL * 1000000000ULL);
	cr_assert_eq(go("250us", &v), 0);
	cr_assert_eq(v, 250000ULL);
	cr_assert_eq(go("250\xc2\xb5s", &v), 0);
	cr_assert_eq(v, 250000ULL);
	cr_assert_eq(go("0", &v), 0);
	cr_assert_eq(v, 0);
}

Test(duration, go_rejects_garbage)
{
	uint64_t v;
	cr_assert_eq(go("", &v), ML_EINVAL);
	cr_assert_eq(go("10", &v), ML_EINVAL);
	cr_assert_eq(go("-1s", &v), ML_EINVAL);
	cr_assert_eq(go("1x", &v), ML_EINVAL);
	cr_assert_eq(go("s", &v), ML_EINVAL);
}

Test(duration, prometheus_units)
{
	uint64_t v;
	cr_assert_eq(prom("7d", &v), 0);
	cr_assert_eq(v, 7ULL * 86400000);
	cr_assert_eq(prom("1h30m", &v), 0);
	cr_assert_eq(v, 5400000ULL);
	cr_assert_eq(prom("500ms", &v), 0);
	cr_assert_eq(v, 500ULL);
	cr_assert_eq(prom("1y", &v), 0);
	cr_assert_eq(v, 365ULL * 86400000);
	cr_assert_eq(prom("2w1d", &v), 0);
	cr_assert_eq(v, 15ULL * 86400000);
}

Test(duration, prometheus_rejects_misordered_and_unknown)
{
	uint64_t v;
	cr_assert_eq(prom("30m1h", &v), ML_EINVAL);
	cr_assert_eq(prom("5", &v), ML_EINVAL);
	cr_assert_eq(prom("1.5h", &v), ML_EINVAL);
	cr_assert_eq(prom("3x", &v), ML_EINVAL);
	cr_assert_eq(prom("", &v), ML_EINVAL);
}
