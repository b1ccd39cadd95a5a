/*
 * test_env.c - the LMDB environment and its group-commit writer: concurrent
 * writers share commits, a failing op fails alone, after_commit runs only
 * after a successful commit, a full map answers ML_EFULL and the store stays
 * usable, and the queue cap and shutdown answer as documented.
 */
#include "store_fixtures.h"

#include <errno.h>
#include <pthread.h>

#include "core/buf.h"
#include "core/error.h"
#include "store/env.h"

static char dir[64];
static struct ml_store *st;
static MDB_dbi dbi;

static void open_store(uint64_t max_bytes, size_t queue_max)
{
	struct ml_store_options o = {.path = dir, .max_bytes = max_bytes, .queue_max = queue_max};
	struct ml_err err = {{0}};
	st = ml_store_open(&o, &err);
	cr_assert_not_null(st, "%s", err.msg);
	cr_assert_eq(ml_store_dbi(st, "test", 0, &dbi, &err), 0, "%s", err.msg);
}

static void setup(void)
{
	fx_tmpdir(dir, sizeof(dir));
}

static void teardown(void)
{
	ml_store_close(st);
	st = NULL;
	fx_rmdir(dir);
}

TestSuite(env, .init = setup, .fini = teardown);

struct put_ctx {
	uint32_t key;
	size_t val_len;
	bool fail;
	bool published;
};

static int put_apply(MDB_txn *txn, void *ctx, struct ml_err *err)
{
	struct put_ctx *c = ctx;
	uint8_t kb[4];
	ml_be32_put(kb, c->key);
	MDB_val k = {4, kb}, v = {c->val_len, NULL};
	int mrc = mdb_put(txn, dbi, &k, &v, MDB_RESERVE);
	if (mrc != 0)
		return ml_err_set(err, ml_store_errcode(mrc), "put %u: %s", c->key, mdb_strerror(mrc));
	memset(v.mv_data, (int)(c->key & 0xff), c->val_len);
	if (c->fail) /* wrote, then failed: the write must vanish */
		return ml_err_set(err, ML_EINVAL, "op %u refuses", c->key);
	return 0;
}

static void put_published(void *ctx)
{
	((struct put_ctx *)ctx)->published = true;
}

static int put(uint32_t key, size_t len, bool fail, struct ml_err *err)
{
	struct put_ctx c = {key, len, fail, false};
	struct ml_write_op op = {put_apply, put_published, &c};
	int rc = ml_store_write(st, &op, err);
	cr_assert_eq(c.published, rc == 0, "after_commit ran exactly when the op succeeded");
	return rc;
}

static bool has_key(uint32_t key)
{
	MDB_txn *txn;
	uint8_t kb[4];
	ml_be32_put(kb, key);
	MDB_val k = {4, kb}, v;
	cr_assert_eq(ml_store_read_begin(st, &txn), 0);
	bool found = mdb_get(txn, dbi, &k, &v) == 0;
	ml_store_read_end(txn);
	return found;
}

#define THREADS 8
#define PER_THREAD 200

static void *writer_thread(void *arg)
{
	uint32_t t = (uint32_t)(uintptr_t)arg;
	for (uint32_t i = 0; i < PER_THREAD; i++) {
		uint32_t key = t * 100000 + i;
		bool fail = i % 10 == 3;
		struct ml_err err = {{0}};
		int rc = put(key, 64, fail, &err);
		if (fail) {
			cr_assert_eq(rc, ML_EINVAL);
			cr_assert(strstr(err.msg, "refuses") != NULL, "message is the op's own: %s", err.msg);
		} else {
			cr_assert_eq(rc, 0, "%s", err.msg);
		}
	}
	return NULL;
}

Test(env, concurrent_writers_share_commits_and_failures_stay_alone)
{
	open_store(0, 0);
	pthread_t th[THREADS];
	for (uintptr_t t = 0; t < THREADS; t++)
		pthread_create(&th[t], NULL, writer_thread, (void *)t);
	for (int t = 0; t < THREADS; t++)
		pthread_join(th[t], NULL);
	for (uint32_t t = 0; t < THREADS; t++)
		for (uint32_t i = 0; i < PER_THREAD; i++)
			cr_assert_eq(has_key(t * 100000 + i), i % 10 != 3, "key %u/%u", t, i);
	struct ml_store_stats s;
	ml_store_stats(st, &s);
	cr_assert_eq(s.write_ops, THREADS * PER_THREAD);
	/* group commit: with 8 writers waiting, commits carry several ops each */
	cr_assert_lt(s.commits, s.write_ops, "commits %llu for %llu ops",
		     (unsigned long long)s.commits, (unsigned long long)s.write_ops);
	cr_assert_gt(s.file_bytes, 0);
	cr_assert_eq(s.queue_depth, 0);
}

Test(env, data_survives_reopen)
{
	open_store(0, 0);
	cr_assert_eq(put(1, 10, false, NULL), 0);
	ml_store_close(st);
	open_store(0, 0);
	cr_assert(has_key(1));
}

Test(env, full_map_is_efull_and_store_stays_usable)
{
	open_store(1 << 20, 0); /* 1 MiB map */
	struct ml_err err = {{0}};
	int rc = 0;
	uint32_t k;
	for (k = 0; k < 1000 && rc == 0; k++)
		rc = put(k, 16 * 1024, false, &err);
	cr_assert_eq(rc, ML_EFULL, "got %d after %u puts: %s", rc, k, err.msg);
	cr_assert_not(has_key(k - 1), "the failed op left nothing behind");
	/* deleting makes room again */
	for (uint32_t i = 0; i + 1 < k; i++) {
		MDB_txn *txn;
		cr_assert_eq(mdb_txn_begin(ml_store_env(st), NULL, 0, &txn), 0);
		uint8_t kb[4];
		ml_be32_put(kb, i);
		MDB_val key = {4, kb};
		mdb_del(txn, dbi, &key, NULL);
		cr_assert_eq(mdb_txn_commit(txn), 0);
	}
	cr_assert_eq(put(5000, 100, false, &err), 0, "%s", err.msg);
	cr_assert(has_key(5000));
}

struct slow_ctx {
	pthread_mutex_t *mu;
};

static int slow_apply(MDB_txn *txn, void *ctx, struct ml_err *err)
{
	struct slow_ctx *c = ctx;
	pthread_mutex_lock(c->mu); /* held by the test until the queue is checked */
	pthread_mutex_unlock(c->mu);
	return 0;
}

static void *slow_writer(void *arg)
{
	struct ml_write_op *op = arg;
	ml_store_write(st, op, NULL);
	return NULL;
}

static void *plain_writer(void *arg)
{
	put((uint32_t)(uintptr_t)arg, 8, false, NULL);
	return NULL;
}

Test(env, queue_cap_answers_efull)
{
	open_store(0, 2);
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	pthread_mutex_lock(&mu);
	struct slow_ctx c = {&mu};
	struct ml_write_op op = {slow_apply, NULL, &c};
	pthread_t blocker, q[2];
	pthread_create(&blocker, NULL, slow_writer, &op);
	/* wait until the writer took the blocker off the queue */
	struct ml_store_stats s;
	do {
		usleep(1000);
		ml_store_stats(st, &s);
	} while (s.queue_depth != 0);
	usleep(20000);
	pthread_create(&q[0], NULL, plain_writer, (void *)1);
	pthread_create(&q[1], NULL, plain_writer, (void *)2);
	do {
		usleep(1000);
		ml_store_stats(st, &s);
	} while (s.queue_depth < 2);
	struct ml_err err = {{0}};
	struct put_ctx pc = {3, 8, false, false};
	struct ml_write_op pop = {put_apply, put_published, &pc};
	cr_assert_eq(ml_store_write(st, &pop, &err), ML_EFULL);
	cr_assert(strstr(err.msg, "queue") != NULL, "%s", err.msg);
	pthread_mutex_unlock(&mu);
	pthread_join(blocker, NULL);
	pthread_join(q[0], NULL);
	pthread_join(q[1], NULL);
	cr_assert(has_key(1) && has_key(2));
	cr_assert_not(has_key(3));
}

Test(env, errcodes)
{
	cr_assert_eq(ml_store_errcode(0), 0);
	cr_assert_eq(ml_store_errcode(MDB_MAP_FULL), ML_EFULL);
	cr_assert_eq(ml_store_errcode(ENOSPC), ML_EFULL);
	cr_assert_eq(ml_store_errcode(MDB_NOTFOUND), ML_ENOTFOUND);
	cr_assert_eq(ml_store_errcode(MDB_CORRUPTED), ML_ECORRUPT);
	cr_assert_eq(ml_store_errcode(EIO), ML_EIO);
}

Test(env, open_fails_with_a_message_on_a_bad_path)
{
	struct ml_store_options o = {.path = "/proc/meshlens-no-such/dir"};
	struct ml_err err = {{0}};
	cr_assert_null(ml_store_open(&o, &err));
	cr_assert(strstr(err.msg, "/proc/meshlens-no-such/dir") != NULL, "%s", err.msg);
}
