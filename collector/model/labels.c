/*
 * labels.c - canonical label sets; see labels.h.
 *
 * Sorting uses insertion sort on a small index array: label sets are short
 * (a mesh series has 10-30 labels) and often arrive nearly sorted.
 */
#include "model/labels.h"
#include "core/alloc.h"

#include <stdio.h>
#include <string.h>

#include <xxhash.h>

static bool name_char(char c, bool first, bool colon)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_')
		return true;
	if (colon && c == ':')
		return true;
	return !first && c >= '0' && c <= '9';
}

static bool valid_name(struct ml_str s, bool colon)
{
	if (s.n == 0)
		return false;
	for (size_t i = 0; i < s.n; i++)
		if (!name_char(s.p[i], i == 0, colon))
			return false;
	return true;
}

static int cmp_str(struct ml_str a, struct ml_str b)
{
	size_t n = a.n < b.n ? a.n : b.n;
	int c = n ? memcmp(a.p, b.p, n) : 0;
	if (c)
		return c;
	return a.n < b.n ? -1 : a.n > b.n;
}

/* Copies a possibly hostile string into a short printable form. */
static void printable(char *out, size_t outlen, struct ml_str s)
{
	size_t j = 0;
	for (size_t i = 0; i < s.n && j + 4 < outlen; i++) {
		unsigned char c = (unsigned char)s.p[i];
		out[j++] = (c >= 0x20 && c < 0x7f && c != '"') ? (char)c : '?';
	}
	if (s.n && j + 4 >= outlen && j >= 3)
		memcpy(out + j - 3, "...", 3);
	out[j] = 0;
}

const char *ml_labels_format_raw(const struct ml_label *in, uint32_t n, char *out, size_t outlen)
{
	struct ml_buf b = ML_BUF_INIT;
	char tmp[96];
	struct ml_str metric = {NULL, 0};
	for (uint32_t i = 0; i < n; i++)
		if (ml_str_eq_cstr(in[i].name, "__name__"))
			metric = in[i].value;
	printable(tmp, sizeof(tmp), metric);
	ml_buf_puts(&b, tmp);
	ml_buf_putc(&b, '{');
	bool first = true;
	for (uint32_t i = 0; i < n && b.len < outlen; i++) {
		if (ml_str_eq_cstr(in[i].name, "__name__"))
			continue;
		if (!first)
			ml_buf_puts(&b, ", ");
		first = false;
		printable(tmp, sizeof(tmp), in[i].name);
		ml_buf_puts(&b, tmp);
		ml_buf_puts(&b, "=\"");
		printable(tmp, sizeof(tmp), in[i].value);
		ml_buf_puts(&b, tmp);
		ml_buf_putc(&b, '"');
	}
	ml_buf_putc(&b, '}');
	if (outlen) {
		size_t k = ml_buf_ok(&b) ? (b.len < outlen ? b.len : outlen - 1) : 0;
		if (k)
			memcpy(out, b.data, k);
		out[k] = 0;
		if (ml_buf_ok(&b) && b.len >= outlen && outlen > 4)
			memcpy(out + outlen - 4, "...", 3);
	}
	ml_buf_free(&b);
	return out;
}

const char *ml_labels_format(struct ml_labels ls, char *out, size_t outlen)
{
	struct ml_label tmp[ML_LABELS_MAX_DEFAULT];
	uint32_t n = 0;
	struct ml_labels_iter it;
	ml_labels_iter_init(&it, ls);
	while (n < ML_LABELS_MAX_DEFAULT && ml_labels_next(&it, &tmp[n].name, &tmp[n].value))
		n++;
	return ml_labels_format_raw(tmp, n, out, outlen);
}

int ml_labels_canon(const struct ml_label *in, uint32_t n, const struct ml_labels_limits *lim,
		    struct ml_buf *out, struct ml_err *err)
{
	uint32_t max_labels = lim && lim->max_labels ? lim->max_labels : ML_LABELS_MAX_DEFAULT;
	uint32_t max_name = lim && lim->max_name_len && lim->max_name_len < ML_LABEL_NAME_MAX
				    ? lim->max_name_len
				    : ML_LABEL_NAME_MAX;
	uint32_t max_value = lim && lim->max_value_len ? lim->max_value_len : ML_LABEL_VALUE_MAX_DEFAULT;
	char sname[256];
	uint32_t *idx = NULL;
	int rc;

	if (n > max_labels) {
		rc = ml_err_set(err, ML_EINVAL, "series %s: %u labels, at most %u allowed",
				ml_labels_format_raw(in, n, sname, sizeof(sname)), n, max_labels);
		goto fail;
	}
	idx = ml_malloc((n ? n : 1) * sizeof(*idx));
	if (idx == NULL) {
		rc = ml_err_set(err, ML_ENOMEM, "out of memory");
		goto fail;
	}
	bool have_name = false;
	uint32_t k = 0;
	for (uint32_t i = 0; i < n; i++) {
		const struct ml_label *l = &in[i];
		char what[96];
		if (l->name.n > max_name) {
			printable(what, 40, l->name);
			rc = ml_err_set(err, ML_EINVAL, "series %s: label name %s is %zu bytes, at most %u allowed",
					ml_labels_format_raw(in, n, sname, sizeof(sname)), what, l->name.n,
					max_name);
			goto fail;
		}
		if (!valid_name(l->name, false)) {
			printable(what, sizeof(what), l->name);
			rc = ml_err_set(err, ML_EINVAL,
					"series %s: invalid label name \"%s\" (must match [a-zA-Z_][a-zA-Z0-9_]*)",
					ml_labels_format_raw(in, n, sname, sizeof(sname)), what);
			goto fail;
		}
		if (l->value.n > max_value) {
			printable(what, sizeof(what), l->name);
			rc = ml_err_set(err, ML_EINVAL,
					"series %s: value of label %s is %zu bytes, at most %u allowed",
					ml_labels_format_raw(in, n, sname, sizeof(sname)), what, l->value.n,
					max_value);
			goto fail;
		}
		if (ml_str_eq_cstr(l->name, "__name__")) {
			if (!valid_name(l->value, true)) {
				printable(what, sizeof(what), l->value);
				rc = ml_err_set(err, ML_EINVAL,
						"series %s: invalid metric name \"%s\" (must match [a-zA-Z_:][a-zA-Z0-9_:]*)",
						ml_labels_format_raw(in, n, sname, sizeof(sname)), what);
				goto fail;
			}
			have_name = true;
		}
		if (l->value.n == 0)
			continue;
		/* Insertion sort by name; equal names are an error. */
		uint32_t j = k;
		while (j > 0) {
			int c = cmp_str(in[idx[j - 1]].name, l->name);
			if (c == 0) {
				printable(what, sizeof(what), l->name);
				rc = ml_err_set(err, ML_EINVAL, "series %s: label %s appears twice",
						ml_labels_format_raw(in, n, sname, sizeof(sname)), what);
				goto fail;
			}
			if (c < 0)
				break;
			idx[j] = idx[j - 1];
			j--;
		}
		idx[j] = i;
		k++;
	}
	if (!have_name) {
		rc = ml_err_set(err, ML_EINVAL, "series %s: no metric name (__name__ label)",
				ml_labels_format_raw(in, n, sname, sizeof(sname)));
		goto fail;
	}
	for (uint32_t i = 0; i < k; i++) {
		const struct ml_label *l = &in[idx[i]];
		ml_buf_put_uvarint(out, l->name.n);
		ml_buf_append(out, l->name.p, l->name.n);
		ml_buf_put_uvarint(out, l->value.n);
		ml_buf_append(out, l->value.p, l->value.n);
	}
	if (!ml_buf_ok(out)) {
		rc = ml_err_set(err, ML_ENOMEM, "out of memory");
		goto fail;
	}
	ml_free(idx);
	return 0;
fail:
	ml_free(idx);
	return rc;
}

uint64_t ml_labels_hash(struct ml_labels ls)
{
	return XXH3_64bits(ls.p, ls.n);
}

bool ml_labels_next(struct ml_labels_iter *it, struct ml_str *name, struct ml_str *value)
{
	if (it->r.p >= it->r.end || it->r.bad)
		return false;
	uint64_t nl = ml_read_uvarint(&it->r);
	const uint8_t *np = ml_read_bytes(&it->r, nl);
	uint64_t vl = ml_read_uvarint(&it->r);
	const uint8_t *vp = ml_read_bytes(&it->r, vl);
	if (it->r.bad || np == NULL || (vl && vp == NULL))
		return false;
	name->p = (const char *)np;
	name->n = nl;
	value->p = (const char *)vp;
	value->n = vl;
	return true;
}

bool ml_labels_get(struct ml_labels ls, const char *name, size_t name_len, struct ml_str *value)
{
	struct ml_labels_iter it;
	struct ml_str n, v;
	ml_labels_iter_init(&it, ls);
	while (ml_labels_next(&it, &n, &v)) {
		if (n.n == name_len && memcmp(n.p, name, name_len) == 0) {
			*value = v;
			return true;
		}
	}
	return false;
}

int ml_labels_count(struct ml_labels ls)
{
	struct ml_labels_iter it;
	struct ml_str n, v;
	int c = 0;
	ml_labels_iter_init(&it, ls);
	while (ml_labels_next(&it, &n, &v))
		c++;
	return it.r.bad || it.r.p != it.r.end ? -1 : c;
}

bool ml_labels_equal(struct ml_labels a, struct ml_labels b)
{
	return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0);
}

int ml_labels_cmp(struct ml_labels a, struct ml_labels b)
{
	struct ml_labels_iter ia, ib;
	struct ml_str an = {NULL, 0}, av = {NULL, 0}, bn = {NULL, 0}, bv = {NULL, 0};
	ml_labels_iter_init(&ia, a);
	ml_labels_iter_init(&ib, b);
	for (;;) {
		bool ha = ml_labels_next(&ia, &an, &av), hb = ml_labels_next(&ib, &bn, &bv);
		if (!ha || !hb)
			return ha - hb;
		int c = cmp_str(an, bn);
		if (c == 0)
			c = cmp_str(av, bv);
		if (c)
			return c;
	}
}

size_t ml_utf8_seq_len(const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	unsigned char c = s[0];
	size_t len;
	uint32_t cp;
	if (c < 0x80)
		return 1;
	if ((c & 0xe0) == 0xc0) {
		len = 2;
		cp = c & 0x1f;
	} else if ((c & 0xf0) == 0xe0) {
		len = 3;
		cp = c & 0x0f;
	} else if ((c & 0xf8) == 0xf0) {
		len = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

bool ml_utf8_valid(const char *s, size_t n)
{
	for (size_t i = 0, l; i < n; i += l)
		if ((l = ml_utf8_seq_len(s + i, n - i)) == 0)
			return false;
	return true;
}
