/*
 * duration.c - Go and Prometheus duration parsing; see duration.h.
 */
#include "core/duration.h"
#include "core/error.h"

#include <math.h>
#include <string.h>

struct unit {
	const char *name;
	double ns;
};

/* Longest names first so that "ms" wins over "m". */
static const struct unit go_units[] = {
	{"ns", 1}, {"us", 1e3}, {"\xc2\xb5s", 1e3}, {"\xce\xbcs", 1e3}, {"ms", 1e6},
	{"s", 1e9}, {"m", 60e9}, {"h", 3600e9},
};

int ml_parse_go_duration(const char *s, size_t n, uint64_t *out)
{
	size_t i = 0;
	double total = 0;
	if (n == 0)
		return ML_EINVAL;
	if (n == 1 && s[0] == '0') {
		*out = 0;
		return 0;
	}
	if (s[0] == '+')
		i++;
	if (i == n)
		return ML_EINVAL;
	while (i < n) {
		double v = 0, scale = 1;
		int digits = 0;
		while (i < n && s[i] >= '0' && s[i] <= '9') {
			v = v * 10 + (s[i++] - '0');
			digits++;
		}
		if (i < n && s[i] == '.') {
			i++;
			while (i < n && s[i] >= '0' && s[i] <= '9') {
				scale /= 10;
				v += (s[i++] - '0') * scale;
				digits++;
			}
		}
		if (digits == 0)
			return ML_EINVAL;
		const struct unit *best = NULL;
		size_t best_len = 0;
		for (size_t u = 0; u < sizeof(go_units) / sizeof(go_units[0]); u++) {
			size_t l = strlen(go_units[u].name);
			if (l <= n - i && memcmp(s + i, go_units[u].name, l) == 0 && l > best_len) {
				best = &go_units[u];
				best_len = l;
			}
		}
		if (best == NULL)
			return ML_EINVAL;
		i += best_len;
		total += v * best->ns;
	}
	if (!(total < 1.8e19))
		return ML_EINVAL;
	*out = (uint64_t)llround(total);
	return 0;
}

int ml_parse_prom_duration(const char *s, size_t n, uint64_t *out_ms)
{
	static const struct {
		const char *name;
		uint64_t ms;
	} units[] = {{"y", 365ULL * 86400000}, {"w", 7ULL * 86400000}, {"d", 86400000},
		     {"h", 3600000}, {"m", 60000}, {"s", 1000}, {"ms", 1}};
	size_t i = 0;
	uint64_t total = 0;
	int last = -1;
	if (n == 0)
		return ML_EINVAL;
	while (i < n) {
		uint64_t v = 0;
		int digits = 0;
		while (i < n && s[i] >= '0' && s[i] <= '9') {
			if (v > UINT64_MAX / 10)
				return ML_EINVAL;
			v = v * 10 + (uint64_t)(s[i++] - '0');
			digits++;
		}
		if (digits == 0)
			return ML_EINVAL;
		int found = -1;
		/* "ms" must be tried before "m". */
		if (n - i >= 2 && s[i] == 'm' && s[i + 1] == 's')
			found = 6;
		else
			for (int u = 0; u < 6; u++)
				if (i < n && s[i] == units[u].name[0])
					found = u;
		if (found < 0 || found <= last)
			return ML_EINVAL; /* unknown unit, or units out of order / repeated */
		i += strlen(units[found].name);
		if (v > (UINT64_MAX - total) / units[found].ms)
			return ML_EINVAL;
		total += v * units[found].ms;
		last = found;
	}
	*out_ms = total;
	return 0;
}
