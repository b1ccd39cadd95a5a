/*
 * ui_assets.h - the built-in web UI's files, embedded at build time from
 * dashboards/ui by cmake/embed_files.cmake.
 */
#ifndef ML_HTTP_UI_ASSETS_H
#define ML_HTTP_UI_ASSETS_H

#include <stddef.h>

struct ml_ui_asset {
	const char *path;          /* "/index.html" */
	const unsigned char *data; /* size bytes, followed by a NUL */
	size_t size;
};

/* Terminated by an entry with path == NULL. */
extern const struct ml_ui_asset ml_ui_assets[];

#endif
