/*
 * test_labels.c - label validation, canonical order, hashing.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "model/labels.h"

#define L(n, v) {ML_STR(n), ML_STR(v)}

Test(labels, canonical_encoding_is_sorted_and_stable)
{
	struct ml_label a[] = {L("job", "api"), L("__name__", "up"), L("instance", "x:1")};
	struct ml_label b[] = {L("instance", "x:1"), L("job", "api"), L("__name__", "up")};
	struct ml_buf ba = ML_BUF_INIT, bb = ML_BUF_INIT;
	struct ml_err err;
	cr_assert_eq(ml_labels_canon(a, 3, NULL, &ba, &err), 0, "%s", err.msg);
	cr_assert_eq(ml_labels_canon(b, 3, NULL, &bb, &err), 0, "%s", err.msg);
	struct ml_labels la = {ba.data, ba.len}, lb = {bb.data, bb.len};
	cr_assert(ml_labels_equal(la, lb));
	cr_assert_eq(ml_labels_hash(la), ml_labels_hash(lb));
	cr_assert_eq(ml_labels_count(la), 3);
	struct ml_labels_iter it;
	struct ml_str n, v;
	ml_labels_iter_init(&it, la);
	cr_assert(ml_labels_next(&it, &n, &v));
	cr_assert(ml_str_eq_cstr(n, "__name__"));
	cr_assert(ml_labels_next(&it, &n, &v));
	cr_assert(ml_str_eq_cstr(n, "instance"));
	cr_assert(ml_labels_get(la, "job", 3, &v));
	cr_assert(ml_str_eq_cstr(v, "api"));
	cr_assert_not(ml_labels_get(la, "zone", 4, &v));
	char out[128];
	cr_assert_str_eq(ml_labels_format(la, out, sizeof(out)), "up{instance=\"x:1\", job=\"api\"}");
	ml_buf_free(&ba);
	ml_buf_free(&bb);
}

Test(labels, empty_values_are_dropped)
{
	struct ml_label a[] = {L("__name__", "up"), L("zone", "")};
	struct ml_label b[] = {L("__name__", "up")};
	struct ml_buf ba = ML_BUF_INIT, bb = ML_BUF_INIT;
	cr_assert_eq(ml_labels_canon(a, 2, NULL, &ba, NULL), 0);
	cr_assert_eq(ml_labels_canon(b, 1, NULL, &bb, NULL), 0);
	cr_assert(ml_labels_equal((struct ml_labels){ba.data, ba.len}, (struct ml_labels){bb.data, bb.len}));
	ml_buf_free(&ba);
	ml_buf_free(&bb);
}

static void expect_invalid(struct ml_label *ls, uint32_t n, const char *needle)
{
	struct ml_buf b = ML_BUF_INIT;
	struct ml_err err = {{0}};
	cr_assert_eq(ml_labels_canon(ls, n, NULL, &b, &err), ML_EINVAL);
	cr_assert(strstr(err.msg, needle) != NULL, "message \"%s\" lacks \"%s\"", err.msg, needle);
	ml_buf_free(&b);
}

Test(labels, invalid_sets_are_rejected_with_the_series_named)
{
	struct ml_label bad_name[] = {L("__name__", "up"), L("0job", "x")};
	expect_invalid(bad_name, 2, "invalid label name \"0job\"");
	struct ml_label dash[] = {L("__name__", "up"), L("a-b", "x")};
	expect_invalid(dash, 2, "up{");
	struct ml_label bad_metric[] = {L("__name__", "http-requests")};
	expect_invalid(bad_metric, 1, "invalid metric name");
	struct ml_label dup[] = {L("__name__", "up"), L("a", "1"), L("a", "2")};
	expect_invalid(dup, 3, "label a appears twice");
	struct ml_label noname[] = {L("a", "1")};
	expect_invalid(noname, 1, "no metric name");
	/* colons are allowed in metric names, not in label names */
	struct ml_label colon[] = {L("__name__", "job:rate5m"), L("a:b", "1")};
	expect_invalid(colon, 2, "invalid label name");
	struct ml_label ok[] = {L("__name__", "job:rate5m"), L("_a1", "1")};
	struct ml_buf b = ML_BUF_INIT;
	cr_assert_eq(ml_labels_canon(ok, 2, NULL, &b, NULL), 0);
	ml_buf_free(&b);
}

Test(labels, caps)
{
	struct ml_label many[130];
	char names[130][8];
	many[0] = (struct ml_label)L("__name__", "m");
	for (int i = 1; i < 130; i++) {
		snprintf(names[i], sizeof(names[i]), "l%d", i);
		many[i].name = ml_str_make(names[i], strlen(names[i]));
		many[i].value = ML_STR("v");
	}
	expect_invalid(many, 130, "130 labels, at most 128");
	static char big[5000];
	memset(big, 'x', sizeof(big));
	struct ml_label longv[] = {L("__name__", "m"), {ML_STR("a"), {big, 4097}}};
	expect_invalid(longv, 2, "value of label a is 4097 bytes");
	struct ml_label longn[] = {L("__name__", "m"), {{big, 300}, ML_STR("v")}};
	expect_invalid(longn, 2, "is 300 bytes");
	struct ml_label okv[] = {L("__name__", "m"), {ML_STR("a"), {big, 4096}}};
	struct ml_buf b = ML_BUF_INIT;
	cr_assert_eq(ml_labels_canon(okv, 2, NULL, &b, NULL), 0);
	ml_buf_free(&b);
}
