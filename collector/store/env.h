/*
 * env.h - the LMDB environment of meshlens and its single writer.
 *
 * One environment (one directory, --storage.path) holds every named database:
 * the trace head and blocks, their indexes, and later the TSDB. LMDB allows
 * one write transaction at a time; meshlens gives it to one writer thread
 * that takes every queued write request, applies each inside its own nested
 * transaction (so that one bad request cannot spoil the others), commits them
 * together with one fsync (group commit), and only then wakes the callers.
 * That is what lets an HTTP handler answer 2xx the moment ml_store_write()
 * returns 0: the data is on disk.
 *
 * The map size is set once to --storage.max-bytes (default 1 TiB of address
 * space, not of disk: the file grows only as pages are used), so no reader
 * ever sees the map move. A full map or disk turns into ML_EFULL.
 */
#ifndef ML_STORE_ENV_H
#define ML_STORE_ENV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <lmdb.h>

#include "core/error.h"

struct ml_store;

struct ml_store_options {
	const char *path;         /* directory, created if missing */
	uint64_t max_bytes;       /* LMDB map size; 0 = 1 TiB */
	unsigned max_dbs;         /* named databases; 0 = 64 */
	size_t queue_max;         /* queued write requests before ML_EFULL (0 = 4096) */
	/*
	 * Optional, for meshlens's own metrics: called on the writer thread after
	 * every successful group commit with the seconds mdb_txn_commit took and
	 * the write requests it carried. Must not block or write to the store.
	 */
	void (*on_commit)(void *hook_ctx, double seconds, size_t ops);
	void *hook_ctx;
};

/* Opens (creating if needed) the environment and starts the writer thread. */
struct ml_store *ml_store_open(const struct ml_store_options *opt, struct ml_err *err);
/* Drains queued writes, stops the writer, closes the environment. Accepts NULL. */
void ml_store_close(struct ml_store *st);

MDB_env *ml_store_env(struct ml_store *st);

/*
 * Opens (creating) a named database with the given mdb_dbi_open flags
 * (MDB_CREATE is added). Call before concurrent use; the handle stays valid
 * until ml_store_close.
 */
int ml_store_dbi(struct ml_store *st, const char *name, unsigned flags, MDB_dbi *out,
		 struct ml_err *err);

/*
 * One write request. apply() runs on the writer thread inside a nested write
 * transaction of the group commit; it returns 0 or an ML_E* code with a
 * message in err, in which case its nested transaction is aborted and nothing
 * it wrote is kept. after_commit(), if not NULL, runs on the writer thread
 * after the group committed successfully and before the caller wakes (used
 * to publish in-memory state that must not be visible before the data is
 * durable). Neither may block on another write.
 */
struct ml_write_op {
	int (*apply)(MDB_txn *txn, void *ctx, struct ml_err *err);
	void (*after_commit)(void *ctx);
	void *ctx;
};

/*
 * Queues op and waits until its group is committed. Returns apply's result,
 * ML_EFULL when the map or disk is full or the queue is over its cap,
 * ML_EIO when the commit failed, ML_ESHUTDOWN after close began.
 */
int ml_store_write(struct ml_store *st, const struct ml_write_op *op, struct ml_err *err);

/* Read transactions (MDB_RDONLY); ml_store_read_end accepts NULL. */
int ml_store_read_begin(struct ml_store *st, MDB_txn **out);
void ml_store_read_end(MDB_txn *txn);

/* Group-commit figures for /metrics and benchmarks. */
struct ml_store_stats {
	uint64_t commits;
	uint64_t write_ops;
	uint64_t queue_depth;      /* now */
	uint64_t commit_ns_total;  /* time spent in mdb_txn_commit */
	uint64_t file_bytes;       /* size of data.mdb on disk */
};
void ml_store_stats(struct ml_store *st, struct ml_store_stats *out);

/* Maps an LMDB return code to an ML_E* code. */
int ml_store_errcode(int mdb_rc);

#endif
