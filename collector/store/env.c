/*
 * env.c - the LMDB environment and its group-commit writer; see env.h.
 *
 * LMDB serialises write transactions. Instead of letting every request
 * thread take the write lock and fsync on its own (about 3,000 commits/s on
 * the disks meshlens runs on), one writer thread owns writing: callers queue
 * a struct ml_write_op and sleep; the writer takes everything queued, opens
 * one transaction, runs each op in a nested transaction (a failing op is
 * aborted alone), commits once - one fsync for the whole group - and then
 * wakes every caller with its own result. Under load a group holds hundreds
 * of requests, so the fsync cost per request falls with the load.
 *
 * A full map (MDB_MAP_FULL) or a full disk (ENOSPC at commit) fails the
 * whole group with ML_EFULL; the transaction is aborted, nothing half-written
 * stays, and the next group starts from a clean state.
 */
#include "store/env.h"

#include "core/alloc.h"
#include "core/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define ML_STORE_DEFAULT_MAP (1ULL << 40) /* 1 TiB of address space */
#define ML_STORE_DEFAULT_DBS 64
#define ML_STORE_DEFAULT_QUEUE 4096
/* MHD's thread pool, exporters and background threads all read at once. */
#define ML_STORE_MAX_READERS 1024

/* A queued request; lives on the caller's stack until done is set. */
struct pending {
	const struct ml_write_op *op;
	struct pending *next;
	int rc;
	bool done;
	struct ml_err err;
};

struct ml_store {
	MDB_env *env;
	char *path;
	pthread_t writer;
	bool writer_started;

	pthread_mutex_t mu;       /* guards everything below */
	pthread_cond_t work_cv;   /* the writer waits here for work */
	pthread_cond_t done_cv;   /* callers wait here for their group */
	struct pending *q_head, *q_tail;
	size_t q_len, q_max;
	bool stopping;

	pthread_mutex_t dbi_mu;   /* mdb_dbi_open must not run concurrently */

	uint64_t commits, write_ops, commit_ns_total;
	void (*on_commit)(void *hook_ctx, double seconds, size_t ops);
	void *hook_ctx;
};

static uint64_t mono_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ULL + (uint64_t)t.tv_nsec;
}

int ml_store_errcode(int mdb_rc)
{
	switch (mdb_rc) {
	case MDB_SUCCESS: return ML_OK;
	case MDB_NOTFOUND: return ML_ENOTFOUND;
	case MDB_MAP_FULL:
	case MDB_TXN_FULL:
	case MDB_DBS_FULL:
	case MDB_READERS_FULL:
	case ENOSPC:
	case EDQUOT:
		return ML_EFULL;
	case ENOMEM: return ML_ENOMEM;
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
	case MDB_INVALID:
	case MDB_VERSION_MISMATCH:
		return ML_ECORRUPT;
	case MDB_BAD_VALSIZE: return ML_EINVAL;
	default: return ML_EIO;
	}
}

/*
 * Runs one group: every op in its own nested transaction, one commit,
 * after_commit hooks, results into each pending. Called without st->mu.
 */
static void run_group(struct ml_store *st, struct pending *list)
{
	MDB_txn *txn = NULL;
	int group_rc = 0;
	size_t n = 0;

	int mrc = mdb_txn_begin(st->env, NULL, 0, &txn);
	if (mrc != 0) {
		group_rc = ml_store_errcode(mrc);
		for (struct pending *p = list; p; p = p->next)
			ml_err_set(&p->err, group_rc, "store: cannot begin write transaction: %s",
				   mdb_strerror(mrc));
		goto finish;
	}
	for (struct pending *p = list; p; p = p->next) {
		MDB_txn *child = NULL;
		n++;
		mrc = mdb_txn_begin(st->env, txn, 0, &child);
		if (mrc != 0) {
			p->rc = ml_err_set(&p->err, ml_store_errcode(mrc),
					   "store: cannot begin nested transaction: %s", mdb_strerror(mrc));
			continue;
		}
		p->rc = p->op->apply(child, p->op->ctx, &p->err);
		if (p->rc == 0) {
			mrc = mdb_txn_commit(child);
			if (mrc != 0)
				p->rc = ml_err_set(&p->err, ml_store_errcode(mrc),
						   "store: nested commit failed: %s", mdb_strerror(mrc));
		} else {
			mdb_txn_abort(child);
		}
		if (p->rc == ML_EFULL) {
			/* The map is full: later ops would fail the same way, and
			 * the group must not half-succeed on a full disk. */
			group_rc = ML_EFULL;
			mdb_txn_abort(txn);
			txn = NULL;
			for (struct pending *q = list; q; q = q->next)
				if (q != p)
					ml_err_set(&q->err, ML_EFULL,
						   "store: storage is full (map size or disk)");
			goto finish;
		}
	}
	uint64_t t0 = mono_ns();
	mrc = mdb_txn_commit(txn);
	txn = NULL;
	uint64_t dt = mono_ns() - t0;
	if (mrc != 0) {
		group_rc = ml_store_errcode(mrc);
		if (group_rc != ML_EFULL)
			group_rc = ML_EIO;
		for (struct pending *p = list; p; p = p->next)
			ml_err_set(&p->err, group_rc, "store: commit failed: %s", mdb_strerror(mrc));
		ml_log(ML_LOG_ERROR, "msg=\"store commit failed\" err=\"%s\"", mdb_strerror(mrc));
		goto finish;
	}
	for (struct pending *p = list; p; p = p->next)
		if (p->rc == 0 && p->op->after_commit != NULL)
			p->op->after_commit(p->op->ctx);
	pthread_mutex_lock(&st->mu);
	st->commits++;
	st->write_ops += n;
	st->commit_ns_total += dt;
	pthread_mutex_unlock(&st->mu);
	if (st->on_commit != NULL)
		st->on_commit(st->hook_ctx, (double)dt / 1e9, n);

finish:
	if (txn != NULL)
		mdb_txn_abort(txn);
	pthread_mutex_lock(&st->mu);
	for (struct pending *p = list, *next; p; p = next) {
		next = p->next; /* p may vanish once done is seen */
		if (group_rc != 0)
			p->rc = group_rc;
		p->done = true;
	}
	pthread_cond_broadcast(&st->done_cv);
	pthread_mutex_unlock(&st->mu);
}

/*
 * pthread_cond_wait with a 200 ms ceiling. Every wait here sits in a loop
 * that re-checks its predicate, so a wake-up that never arrives costs at
 * most 200 ms instead of hanging a writer or a caller forever (a lost
 * futex wake-up was seen on this platform under ASan in CI).
 */
static void cond_wait_bounded(pthread_cond_t *cv, pthread_mutex_t *mu)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += 200 * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(cv, mu, &ts);
}

static void *writer_main(void *arg)
{
	struct ml_store *st = arg;
	pthread_mutex_lock(&st->mu);
	for (;;) {
		while (st->q_head == NULL && !st->stopping)
			cond_wait_bounded(&st->work_cv, &st->mu);
		if (st->q_head == NULL)
			break; /* stopping and drained */
		struct pending *list = st->q_head;
		st->q_head = st->q_tail = NULL;
		st->q_len = 0;
		pthread_mutex_unlock(&st->mu);
		run_group(st, list);
		pthread_mutex_lock(&st->mu);
	}
	pthread_mutex_unlock(&st->mu);
	return NULL;
}

struct ml_store *ml_store_open(const struct ml_store_options *opt, struct ml_err *err)
{
	struct ml_store *st = NULL;
	int mrc;

	if (opt == NULL || opt->path == NULL || opt->path[0] == '\0') {
		ml_err_set(err, ML_EINVAL, "store: no storage path given");
		goto fail;
	}
	st = ml_calloc(1, sizeof(*st));
	if (st == NULL) {
		ml_err_set(err, ML_ENOMEM, "store: out of memory");
		goto fail;
	}
	pthread_mutex_init(&st->mu, NULL);
	pthread_mutex_init(&st->dbi_mu, NULL);
	pthread_cond_init(&st->work_cv, NULL);
	pthread_cond_init(&st->done_cv, NULL);
	st->q_max = opt->queue_max ? opt->queue_max : ML_STORE_DEFAULT_QUEUE;
	st->on_commit = opt->on_commit;
	st->hook_ctx = opt->hook_ctx;
	st->path = ml_strndup(opt->path, strlen(opt->path));
	if (st->path == NULL) {
		ml_err_set(err, ML_ENOMEM, "store: out of memory");
		goto fail;
	}
	if (mkdir(opt->path, 0755) != 0 && errno != EEXIST) {
		ml_err_set(err, ML_EIO, "store: cannot create directory %s: %s", opt->path,
			   strerror(errno));
		goto fail;
	}
	mrc = mdb_env_create(&st->env);
	if (mrc != 0) {
		ml_err_set(err, ML_EIO, "store: mdb_env_create: %s", mdb_strerror(mrc));
		goto fail;
	}
	uint64_t map = opt->max_bytes ? opt->max_bytes : ML_STORE_DEFAULT_MAP;
	if ((mrc = mdb_env_set_mapsize(st->env, (size_t)map)) != 0 ||
	    (mrc = mdb_env_set_maxdbs(st->env, opt->max_dbs ? opt->max_dbs : ML_STORE_DEFAULT_DBS)) != 0 ||
	    (mrc = mdb_env_set_maxreaders(st->env, ML_STORE_MAX_READERS)) != 0) {
		ml_err_set(err, ML_EIO, "store: configuring LMDB: %s", mdb_strerror(mrc));
		goto fail;
	}
	/* MDB_NOTLS: read transactions are not tied to a thread (MHD's pool
	 * may finish a request on another thread than the one that began it).
	 * No MDB_NOSYNC: a commit is durable when it returns. */
	mrc = mdb_env_open(st->env, opt->path, MDB_NOTLS, 0644);
	if (mrc != 0) {
		ml_err_set(err, ml_store_errcode(mrc) == ML_ECORRUPT ? ML_ECORRUPT : ML_EIO,
			   "store: cannot open LMDB environment in %s: %s", opt->path,
			   mdb_strerror(mrc));
		goto fail;
	}
	/* Readers left behind by a killed process would pin old pages. */
	int dead = 0;
	mdb_reader_check(st->env, &dead);
	if (pthread_create(&st->writer, NULL, writer_main, st) != 0) {
		ml_err_set(err, ML_EIO, "store: cannot start the writer thread");
		goto fail;
	}
	st->writer_started = true;
	return st;

fail:
	ml_store_close(st);
	return NULL;
}

void ml_store_close(struct ml_store *st)
{
	if (st == NULL)
		return;
	if (st->writer_started) {
		pthread_mutex_lock(&st->mu);
		st->stopping = true;
		pthread_cond_signal(&st->work_cv);
		pthread_mutex_unlock(&st->mu);
		pthread_join(st->writer, NULL);
	}
	if (st->env != NULL)
		mdb_env_close(st->env);
	pthread_cond_destroy(&st->work_cv);
	pthread_cond_destroy(&st->done_cv);
	pthread_mutex_destroy(&st->mu);
	pthread_mutex_destroy(&st->dbi_mu);
	ml_free(st->path);
	ml_free(st);
}

MDB_env *ml_store_env(struct ml_store *st)
{
	return st->env;
}

/*
 * Opening a handle needs a write transaction. It is taken here, on the
 * caller's thread: LMDB's own write lock makes it wait for the writer's
 * current group, and the writer's next group sees the new handle. dbi_mu
 * keeps two mdb_dbi_open calls from overlapping, as LMDB requires.
 */
int ml_store_dbi(struct ml_store *st, const char *name, unsigned flags, MDB_dbi *out,
		 struct ml_err *err)
{
	MDB_txn *txn = NULL;
	int rc = 0;

	pthread_mutex_lock(&st->dbi_mu);
	int mrc = mdb_txn_begin(st->env, NULL, 0, &txn);
	if (mrc == 0)
		mrc = mdb_dbi_open(txn, name, flags | MDB_CREATE, out);
	if (mrc != 0) {
		rc = ml_err_set(err, ml_store_errcode(mrc), "store: cannot open database %s: %s", name,
				mdb_strerror(mrc));
		goto fail;
	}
	mrc = mdb_txn_commit(txn);
	txn = NULL;
	if (mrc != 0)
		rc = ml_err_set(err, ml_store_errcode(mrc), "store: cannot create database %s: %s",
				name, mdb_strerror(mrc));
fail:
	if (txn != NULL)
		mdb_txn_abort(txn);
	pthread_mutex_unlock(&st->dbi_mu);
	return rc;
}

int ml_store_write(struct ml_store *st, const struct ml_write_op *op, struct ml_err *err)
{
	struct pending p;
	memset(&p, 0, sizeof(p));
	p.op = op;

	pthread_mutex_lock(&st->mu);
	if (st->stopping) {
		pthread_mutex_unlock(&st->mu);
		return ml_err_set(err, ML_ESHUTDOWN, "store: shutting down");
	}
	if (st->q_len >= st->q_max) {
		size_t n = st->q_len;
		pthread_mutex_unlock(&st->mu);
		return ml_err_set(err, ML_EFULL, "store: write queue is full (%zu requests waiting)", n);
	}
	if (st->q_tail != NULL)
		st->q_tail->next = &p;
	else
		st->q_head = &p;
	st->q_tail = &p;
	st->q_len++;
	pthread_cond_signal(&st->work_cv);
	while (!p.done)
		cond_wait_bounded(&st->done_cv, &st->mu);
	pthread_mutex_unlock(&st->mu);
	if (p.rc != 0 && err != NULL)
		memcpy(err->msg, p.err.msg, sizeof(err->msg));
	return p.rc;
}

int ml_store_read_begin(struct ml_store *st, MDB_txn **out)
{
	*out = NULL;
	int mrc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, out);
	return mrc ? ml_store_errcode(mrc) : 0;
}

void ml_store_read_end(MDB_txn *txn)
{
	if (txn != NULL)
		mdb_txn_abort(txn);
}

void ml_store_stats(struct ml_store *st, struct ml_store_stats *out)
{
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&st->mu);
	out->commits = st->commits;
	out->write_ops = st->write_ops;
	out->queue_depth = st->q_len;
	out->commit_ns_total = st->commit_ns_total;
	pthread_mutex_unlock(&st->mu);
	char file[4096];
	struct stat sb;
	snprintf(file, sizeof(file), "%s/data.mdb", st->path);
	if (stat(file, &sb) == 0)
		out->file_bytes = (uint64_t)sb.st_blocks * 512;
}
