/* Private to src/store/: the SQLite store's VFS, the default one with the WAL's writes
 * gathered into one write per commit (walbuf.c). */
#ifndef DLOG_STORE_WALBUF_H
#define DLOG_STORE_WALBUF_H

#include <sqlite3.h>

/* The VFS name to open the store's connections with (registered on first use), or NULL to use
 * the default VFS when it could not be registered. Correct only for connections that sync
 * the WAL at every commit (synchronous=FULL). */
const char *store__walbuf_vfs(void);

#endif
