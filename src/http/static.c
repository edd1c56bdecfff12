/* The portal: the files of web/, embedded at build time (scripts/embed.sh), served read-only.
 *
 * Paths are matched exactly against the embedded set and never touch the file system, so
 * there is nothing to normalise beyond refusing anything that is not a plain file name. */
#include "http/http_int.h"

#include <string.h>

#include "http/assets.h"

/* The page may load only its own files; nothing may frame it (clickjacking). */
#define PORTAL_CSP                                                                                 \
	"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "          \
	"connect-src 'self'; frame-ancestors 'none'"

/* r->path is the URI path as received. The embedded names are plain ("/app.js"), so anything
 * with a traversal, an empty segment, a backslash or an escape cannot be one of them. */
static bool path_ok(const char *p)
{
	return p[0] == '/' && strstr(p, "..") == NULL && strstr(p, "//") == NULL &&
	       strchr(p, '\\') == NULL && strchr(p, '%') == NULL;
}

static const struct dlog_asset *find_asset(const char *path)
{
	for (size_t i = 0; i < dlog_nassets; i++)
		if (strcmp(dlog_assets[i].path, path) == 0)
			return &dlog_assets[i];
	return NULL;
}

int http__static(struct dlog_req *r)
{
	const char *path = r->path;
	const struct dlog_asset *a;
	int rc;

	if (strcmp(path, "/") == 0)
		path = "/index.html";
	a = path_ok(path) ? find_asset(path) : NULL;
	if (a == NULL)
		return dlog_http_error(r, DLOG_ENOTFOUND, "no such resource: %s", r->path);
	dlog_buf_reset(&r->out);
	rc = dlog_buf_add(&r->out, a->data, a->len);
	if (rc != 0)
		return dlog_http_error(r, rc, "cannot serve %s", a->path);
	r->resp_type = a->mime;
	if (strncmp(a->mime, "text/html", 9) == 0)
		r->csp = PORTAL_CSP;
	r->status = 200;
	return 0;
}
