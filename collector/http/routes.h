/*
 * routes.h - the one table of every HTTP endpoint meshlens serves.
 */
#ifndef ML_HTTP_ROUTES_H
#define ML_HTTP_ROUTES_H

#include <stddef.h>

#include "http/router.h"

extern const struct ml_route ml_routes[];
extern const size_t ml_routes_count;

/* Writes the route table as Markdown (docs/API.md's endpoint list). */
#include <stdio.h>
void ml_routes_markdown(FILE *out);

#endif
