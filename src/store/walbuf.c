/* The SQLite store's VFS: the default one, with the WAL's writes gathered. See walbuf.h.
 *
 * SQLite writes a WAL frame as two calls, its 24-byte header and its page, so a frame spans
 * two kernel pages and a commit of N pages makes 2N pwrite calls, each a partial-page write
 * for the file system. Here the writes that follow one another in the file are gathered in
 * memory and handed to the kernel as one write when SQLite syncs the WAL (every commit: the
 * store's connections are synchronous=FULL), reads it, asks its size, truncates or closes
 * it, or writes elsewhere in it. Nothing gathered is committed until that sync: a frame
 * counts only once the WAL index names it, which SQLite updates after the sync; so a crash
 * loses only what was never acknowledged, exactly as with direct writes. The database file
 * and every other file go straight to the default VFS. */
#include "store/walbuf.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/limits.h"

struct wal_file {
	sqlite3_file base;   /* pMethods = &wal_methods */
	unsigned char *buf;  /* gathered writes: the file's bytes [off, off + len) */
	size_t len, cap;
	sqlite3_int64 off;
	sqlite3_file *real;  /* the default VFS's file, stored right after this struct */
};

static sqlite3_vfs *base_vfs;
static sqlite3_vfs walbuf_vfs;
static const sqlite3_io_methods wal_methods;

static sqlite3_file *real_of(sqlite3_file *f)
{
	return ((struct wal_file *)f)->real;
}

/* The default VFS takes at most 128 KiB per write (its unix write masks the length with
 * 0x1ffff), so the gathered bytes go down in pieces of WRITE_MAX. */
#define WRITE_MAX (64 * 1024)

static int flush(struct wal_file *w)
{
	int rc = SQLITE_OK;

	for (size_t done = 0; rc == SQLITE_OK && done < w->len; done += WRITE_MAX) {
		size_t n = w->len - done < WRITE_MAX ? w->len - done : WRITE_MAX;

		rc = w->real->pMethods->xWrite(w->real, w->buf + done, (int)n,
					       w->off + (sqlite3_int64)done);
	}
	w->len = 0;
	return rc;
}

static int wb_close(sqlite3_file *f)
{
	struct wal_file *w = (struct wal_file *)f;
	int rc = flush(w);
	int rc2 = w->real->pMethods->xClose(w->real);

	free(w->buf);
	w->buf = NULL;
	w->cap = 0;
	return rc != SQLITE_OK ? rc : rc2;
}

static int wb_read(sqlite3_file *f, void *data, int amt, sqlite3_int64 ofst)
{
	int rc = flush((struct wal_file *)f);

	return rc != SQLITE_OK ? rc : real_of(f)->pMethods->xRead(real_of(f), data, amt, ofst);
}

/* Room for need bytes in w->buf, up to DLOG_SQLITE_WALBUF; false when it cannot be had. */
static bool reserve(struct wal_file *w, size_t need)
{
	size_t cap = w->cap ? w->cap : 64 * 1024;
	unsigned char *nb;

	if (need <= w->cap)
		return true;
	if (need > DLOG_SQLITE_WALBUF)
		return false;
	while (cap < need)
		cap *= 2;
	if (cap > DLOG_SQLITE_WALBUF)
		cap = DLOG_SQLITE_WALBUF;
	nb = realloc(w->buf, cap);
	if (nb == NULL)
		return false;
	w->buf = nb;
	w->cap = cap;
	return true;
}

static int wb_write(sqlite3_file *f, const void *data, int amt, sqlite3_int64 ofst)
{
	struct wal_file *w = (struct wal_file *)f;
	size_t n = (size_t)amt;
	int rc;

	if (w->len > 0 && ofst >= w->off && ofst + amt <= w->off + (sqlite3_int64)w->len) {
		/* a frame of this transaction written again: in place */
		memcpy(w->buf + (ofst - w->off), data, n);
		return SQLITE_OK;
	}
	if (w->len > 0 && ofst == w->off + (sqlite3_int64)w->len && reserve(w, w->len + n)) {
		memcpy(w->buf + w->len, data, n);
		w->len += n;
		return SQLITE_OK;
	}
	rc = flush(w);
	if (rc != SQLITE_OK)
		return rc;
	if (n > WRITE_MAX || !reserve(w, n))
		return w->real->pMethods->xWrite(w->real, data, amt, ofst);
	memcpy(w->buf, data, n);
	w->len = n;
	w->off = ofst;
	return SQLITE_OK;
}

static int wb_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	int rc = flush((struct wal_file *)f);

	return rc != SQLITE_OK ? rc : real_of(f)->pMethods->xTruncate(real_of(f), size);
}

static int wb_sync(sqlite3_file *f, int flags)
{
	int rc = flush((struct wal_file *)f);

	return rc != SQLITE_OK ? rc : real_of(f)->pMethods->xSync(real_of(f), flags);
}

static int wb_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
	int rc = flush((struct wal_file *)f);

	return rc != SQLITE_OK ? rc : real_of(f)->pMethods->xFileSize(real_of(f), size);
}

/* The rest is the default VFS's own. */
static int wb_lock(sqlite3_file *f, int l)
{
	return real_of(f)->pMethods->xLock(real_of(f), l);
}

static int wb_unlock(sqlite3_file *f, int l)
{
	return real_of(f)->pMethods->xUnlock(real_of(f), l);
}

static int wb_check_reserved(sqlite3_file *f, int *out)
{
	return real_of(f)->pMethods->xCheckReservedLock(real_of(f), out);
}

static int wb_file_control(sqlite3_file *f, int op, void *arg)
{
	return real_of(f)->pMethods->xFileControl(real_of(f), op, arg);
}

static int wb_sector_size(sqlite3_file *f)
{
	return real_of(f)->pMethods->xSectorSize(real_of(f));
}

static int wb_device_characteristics(sqlite3_file *f)
{
	return real_of(f)->pMethods->xDeviceCharacteristics(real_of(f));
}

static const sqlite3_io_methods wal_methods = {
	.iVersion = 1,
	.xClose = wb_close,
	.xRead = wb_read,
	.xWrite = wb_write,
	.xTruncate = wb_truncate,
	.xSync = wb_sync,
	.xFileSize = wb_file_size,
	.xLock = wb_lock,
	.xUnlock = wb_unlock,
	.xCheckReservedLock = wb_check_reserved,
	.xFileControl = wb_file_control,
	.xSectorSize = wb_sector_size,
	.xDeviceCharacteristics = wb_device_characteristics,
};

static int wb_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out_flags)
{
	struct wal_file *w = (struct wal_file *)f;
	int rc;

	(void)vfs;
	if ((flags & SQLITE_OPEN_WAL) == 0)
		return base_vfs->xOpen(base_vfs, name, f, flags, out_flags);
	memset(w, 0, sizeof(*w));
	w->real = (sqlite3_file *)(w + 1);
	rc = base_vfs->xOpen(base_vfs, name, w->real, flags, out_flags);
	w->base.pMethods = rc == SQLITE_OK ? &wal_methods : NULL;
	return rc;
}

static void walbuf_register(void)
{
	base_vfs = sqlite3_vfs_find(NULL);
	if (base_vfs == NULL)
		return;
	walbuf_vfs = *base_vfs;
	walbuf_vfs.zName = "devicelog-walbuf";
	walbuf_vfs.pNext = NULL;
	walbuf_vfs.szOsFile = (int)sizeof(struct wal_file) + base_vfs->szOsFile;
	walbuf_vfs.xOpen = wb_open;
	if (sqlite3_vfs_register(&walbuf_vfs, 0) != SQLITE_OK)
		base_vfs = NULL;
}

const char *store__walbuf_vfs(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, walbuf_register);
	return base_vfs != NULL ? walbuf_vfs.zName : NULL;
}
