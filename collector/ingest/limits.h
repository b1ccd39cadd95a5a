/*
 * limits.h - caps on untrusted input shared by every decoder.
 *
 * A decoder refuses input past these with ML_ETOOBIG (413) or ML_EINVAL (400)
 * and a message naming the cap, instead of letting one request take the
 * server's memory.
 */
#ifndef ML_INGEST_LIMITS_H
#define ML_INGEST_LIMITS_H

#define ML_MAX_SPANS_PER_REQUEST 100000u
#define ML_MAX_ATTRS_PER_SPAN 1024u
#define ML_MAX_EVENTS_PER_SPAN 1024u
#define ML_MAX_LINKS_PER_SPAN 1024u
#define ML_MAX_STRING_BYTES (64u * 1024u) /* one name, key or string value */
#define ML_MAX_JSON_DEPTH 64u

#endif
