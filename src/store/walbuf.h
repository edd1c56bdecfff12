/* Private to src/store/: the SQLite store's VFS, the default one with the WAL's writes
 * gathered into one write per commit (walbuf.c). */
#ifndef DLOG_STORE_WALBUF_H
#define DLOG_STORE_WALBUF_H

#include <sqlite3.h>

/* The VFS name to open the store's connections with (registered on first use), or NULL to use
 * the default VFS when it could not be registered. Correct only for connections that sync
 * the WAL at every commit (synchronous=FULL). */
const char *store__walbuf_vfs(void);

/* The same VFS, except that the database file is read with O_DIRECT (bypassing the page
 * cache), for a connection that reads the whole file once: `devicelog backup`. For read-only
 * connections; NULL when the VFS could not be registered. */
const char *store__direct_vfs(void);

#endif
