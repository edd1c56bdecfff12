/* Private to src/http/: the portal's files, embedded at build time by scripts/embed.sh. */
#ifndef DLOG_HTTP_ASSETS_H
#define DLOG_HTTP_ASSETS_H

#include <stddef.h>

struct dlog_asset {
	const char *path; /* "/index.html" */
	const char *mime; /* from the fixed table in embed.sh */
	const unsigned char *data;
	size_t len;
};

extern const struct dlog_asset dlog_assets[];
extern const size_t dlog_nassets;

#endif
