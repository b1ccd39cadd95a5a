/*
 * trace_block.h - compacted trace blocks: building them from head spans and
 * reading their pages and summaries back.
 *
 * A block is what one compaction writes: the head's spans sorted by
 * (trace id, start), cut into pages of about ML_BLOCK_PAGE_TARGET encoded
 * bytes at trace boundaries (a trace is split only when it alone outgrows a
 * page several times over), each page one span_codec stream compressed with
 * zstd. Next to the pages a block has a trace index (trace id -> the pages
 * holding it) and a summary (block meta) that lets search skip the block, or
 * most of its pages, without decompressing anything. Byte layouts are in
 * docs/STORAGE.md.
 *
 * This module only builds and parses bytes; trace_store.c writes them into
 * LMDB and reads them back.
 */
#ifndef ML_STORE_TRACE_BLOCK_H
#define ML_STORE_TRACE_BLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "model/span.h"

struct ml_arena;
struct ml_head_span;

/* Encoded (pre-zstd) bytes per page; bigger pages compress better but cost
 * more to decompress for a one-trace read (256 KiB: ~0.2 ms). */
#define ML_BLOCK_PAGE_TARGET (256 * 1024)
/* A decompressed page is never accepted above this (corrupt length guard). */
#define ML_BLOCK_PAGE_MAX (256u * 1024 * 1024)
/* Names longer than this are not entered into the name indexes (LMDB keys <= 511 bytes). */
#define ML_BLOCK_NAME_MAX 200

struct ml_block_page {
	uint8_t *data;   /* the LMDB value: header + zstd frame (ml_malloc) */
	size_t len;
	uint32_t n_spans;
};

/* trace_index entry: the trace occupies pages first..last of the block. */
struct ml_block_trace {
	uint8_t trace_id[16];
	uint32_t first_page, last_page;
};

/* Distinct (service, operation, kind) of a block with what search prunes by. */
struct ml_block_entry {
	struct ml_str service, operation;
	uint8_t kind;
	uint64_t min_start, max_start, min_dur, max_dur;
	uint64_t n_spans;
	uint32_t *pages;  /* sorted page numbers holding such spans */
	uint32_t n_pages;
};

struct ml_block_meta {
	uint32_t id;
	uint64_t min_start, max_start;
	uint64_t n_spans, n_traces;
	uint32_t n_pages;
	uint64_t *page_min, *page_max; /* per page start-time range */
	struct ml_block_entry *entries;
	uint32_t n_entries;
};

/* A (service, remote service) pair or a dependency link, with the newest start. */
struct ml_block_remote {
	struct ml_str service, remote;
	uint64_t last_ns;
};
struct ml_block_dep {
	uint32_t hour;          /* start_ns / 1 hour */
	struct ml_str parent, child;
	uint64_t calls, errors;
};

/*
 * A span whose caller is not in its block (the trace's spans straddle two
 * compactions: Envoy's client and server halves come seconds apart): the
 * parent span's key and, for a server span, the key of a client half sharing
 * its id; 0 when there is none to look for. trace_store.c looks them up in
 * the neighbouring blocks' callers.
 */
struct ml_block_orphan {
	uint64_t client_key, parent_key;
	struct ml_str service;
	uint32_t hour;
	bool error;
};
/* A span of the block as the possible caller of another block's orphan. */
struct ml_block_caller {
	uint64_t key;
	struct ml_str service;
	bool client;
};
/* The key of span span_id of trace trace_id (a 64-bit hash). */
uint64_t ml_block_span_key(const uint8_t trace_id[16], const uint8_t span_id[8]);

/*
 * Everything one compaction writes. Strings point into the head spans the
 * block was built from, which must outlive it. ml_block_build_free releases it.
 */
struct ml_block_build {
	struct ml_block_page *pages;
	uint32_t n_pages;
	struct ml_block_trace *traces;
	size_t n_traces;
	struct ml_block_meta meta;        /* entries double as the operations list */
	uint8_t *meta_bytes;              /* encoded meta (ml_malloc) */
	size_t meta_len;
	struct ml_block_remote *remotes;
	size_t n_remotes;
	struct ml_block_dep *deps;
	size_t n_deps, cap_deps;
	struct ml_block_orphan *orphans;  /* links this block could not close */
	size_t n_orphans;
	struct ml_block_caller *callers;  /* every span, sorted by key */
	size_t n_callers;
	uint64_t raw_bytes;               /* encoded bytes before zstd, for stats */
	/* private */
	struct ml_arena *arena;
};

/*
 * Builds block `id` from n head spans (any order; they are sorted here by
 * trace id and start). zstd_level: zstd compression level of the pages.
 * Returns 0, ML_ENOMEM or ML_ECORRUPT (a head span failed to decode).
 */
int ml_block_build(struct ml_head_span *const *spans, size_t n, uint32_t id, int zstd_level,
		   struct ml_block_build *out, struct ml_err *err);
void ml_block_build_free(struct ml_block_build *b);

/*
 * Decompresses a page value into arena. *raw then holds n_spans spans as one
 * span_codec stream. ML_ECORRUPT on a malformed value.
 */
int ml_block_page_open(const void *val, size_t len, struct ml_arena *arena, const uint8_t **raw,
		       size_t *raw_len, uint32_t *n_spans);

/* Parses a meta value into arena (id is the caller's, from the key). */
int ml_block_meta_decode(const void *val, size_t len, uint32_t id, struct ml_arena *arena,
			 struct ml_block_meta *out);

/* trace_index value: the page range. */
int ml_block_index_decode(const void *val, size_t len, uint32_t *first, uint32_t *last);

/*
 * Dependency links of one trace's spans (group, n spans, any order) whose
 * child span starts in [start_ns, end_ns], appended to out (one item per
 * link, calls = 1; the same rules as compaction uses: a span whose parent
 * belongs to another service, and a Zipkin shared span's client -> server).
 */
struct ml_block_dep_list {
	struct ml_block_dep *deps;
	size_t n_deps, cap_deps;
	struct ml_head_span **tmp;
	size_t tmp_cap;
};
int ml_block_trace_deps(struct ml_head_span *const *group, size_t n, uint64_t start_ns,
			uint64_t end_ns, struct ml_block_dep_list *out);
void ml_block_dep_list_free(struct ml_block_dep_list *l);

/* Sorts and sums equal (hour, parent, child) links; returns the new count. */
size_t ml_block_merge_deps(struct ml_block_dep *d, size_t n);

/* Hour bucket of the dependency table. */
#define ML_BLOCK_DEP_BUCKET_NS 3600000000000ULL

#endif
