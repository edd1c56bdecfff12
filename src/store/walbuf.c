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
 * and every other file go straight to the default VFS.
 *
 * A second VFS, for `devicelog backup` (store__direct_vfs), reads the database file without
 * the page cache; see "the backup's reads" below. */
#include "store/walbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/limits.h"

/* What both kinds of file below start with: SQLite's handle and the default VFS's file it
 * wraps (stored right after the wrapping struct). */
struct wrapped {
	sqlite3_file base;
	sqlite3_file *real;
};

struct wal_file {
	struct wrapped wr;   /* wr.base.pMethods = &wal_methods */
	unsigned char *buf;  /* gathered writes: the file's bytes [off, off + len) */
	size_t len, cap;
	sqlite3_int64 off;
};

static sqlite3_vfs *base_vfs;
static sqlite3_vfs walbuf_vfs;
static const sqlite3_io_methods wal_methods;

static sqlite3_file *real_of(sqlite3_file *f)
{
	return ((struct wrapped *)f)->real;
}

/* The default VFS takes at most 128 KiB per write (its unix write masks the length with
 * 0x1ffff), so the gathered bytes go down in pieces of WRITE_MAX. */
#define WRITE_MAX (64 * 1024)

static int flush(struct wal_file *w)
{
	int rc = SQLITE_OK;

	for (size_t done = 0; rc == SQLITE_OK && done < w->len; done += WRITE_MAX) {
		size_t n = w->len - done < WRITE_MAX ? w->len - done : WRITE_MAX;

		rc = w->wr.real->pMethods->xWrite(w->wr.real, w->buf + done, (int)n,
					       w->off + (sqlite3_int64)done);
	}
	w->len = 0;
	return rc;
}

static int wb_close(sqlite3_file *f)
{
	struct wal_file *w = (struct wal_file *)f;
	int rc = flush(w);
	int rc2 = w->wr.real->pMethods->xClose(w->wr.real);

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
		return w->wr.real->pMethods->xWrite(w->wr.real, data, amt, ofst);
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

/* The rest is the default VFS's own (for both kinds of file). */
static int fw_lock(sqlite3_file *f, int l)
{
	return real_of(f)->pMethods->xLock(real_of(f), l);
}

static int fw_unlock(sqlite3_file *f, int l)
{
	return real_of(f)->pMethods->xUnlock(real_of(f), l);
}

static int fw_check_reserved(sqlite3_file *f, int *out)
{
	return real_of(f)->pMethods->xCheckReservedLock(real_of(f), out);
}

static int fw_file_control(sqlite3_file *f, int op, void *arg)
{
	return real_of(f)->pMethods->xFileControl(real_of(f), op, arg);
}

static int fw_sector_size(sqlite3_file *f)
{
	return real_of(f)->pMethods->xSectorSize(real_of(f));
}

static int fw_device_characteristics(sqlite3_file *f)
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
	.xLock = fw_lock,
	.xUnlock = fw_unlock,
	.xCheckReservedLock = fw_check_reserved,
	.xFileControl = fw_file_control,
	.xSectorSize = fw_sector_size,
	.xDeviceCharacteristics = fw_device_characteristics,
};

static int wb_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out_flags)
{
	struct wal_file *w = (struct wal_file *)f;
	int rc;

	(void)vfs;
	if ((flags & SQLITE_OPEN_WAL) == 0)
		return base_vfs->xOpen(base_vfs, name, f, flags, out_flags);
	memset(w, 0, sizeof(*w));
	w->wr.real = (sqlite3_file *)(w + 1);
	rc = base_vfs->xOpen(base_vfs, name, w->wr.real, flags, out_flags);
	w->wr.base.pMethods = rc == SQLITE_OK ? &wal_methods : NULL;
	return rc;
}

/* ---- the backup's reads ----
 *
 * `devicelog backup` reads the whole database file once. Read through the page cache, that
 * sequential read leaves the file cached in large folios (readahead makes them), and with
 * Linux 6.18's ext4 every later random 4 KiB write into a large folio, which is what a
 * checkpoint makes, costs several times the CPU of one into a 4 KiB folio: single-event
 * ingest ran a fifth slower after such a read, for as long as the file stayed cached
 * (bench/RESULTS.md, "After run 15"). So the backup's connection reads the database file
 * with O_DIRECT, DIRECT_CHUNK bytes at a time into an aligned buffer, and the page cache is
 * left as it was. Its WAL and -shm are used as usual (the WAL through walbuf above).
 *
 * Bypassing the cache reads what a checkpoint wrote: O_DIRECT reads write back dirty cached
 * pages of the range first. And no page this connection reads from the file changes under
 * its read transaction: a checkpoint copies no frame past a reader's snapshot, and the pages
 * of the snapshot that are in the WAL are read from the WAL. The chunk is dropped whenever a
 * transaction may begin or end (a WAL-index lock or a file unlock) and on any write. */

#define DIRECT_CHUNK (1024 * 1024)
#define DIRECT_ALIGN 4096

struct direct_file {
	struct wrapped wr;       /* wr.base.pMethods = &direct_methods */
	int fd;                  /* the file again, with O_DIRECT */
	unsigned char *chunk;    /* DIRECT_CHUNK bytes, DIRECT_ALIGN-aligned */
	sqlite3_int64 chunk_off; /* chunk holds the file's bytes [chunk_off, chunk_off + chunk_len) */
	size_t chunk_len;
};

static sqlite3_vfs direct_vfs;
static const sqlite3_io_methods direct_methods;

/* Make the chunk hold the byte at ofst, or set *past_end when ofst is at or past the end of
 * the file. SQLITE_OK or SQLITE_IOERR_READ. */
static int direct_fill(struct direct_file *d, sqlite3_int64 ofst, bool *past_end)
{
	sqlite3_int64 start = ofst - ofst % DIRECT_CHUNK;
	ssize_t n;

	*past_end = false;
	if (d->chunk_len > 0 && ofst >= d->chunk_off &&
	    ofst < d->chunk_off + (sqlite3_int64)d->chunk_len)
		return SQLITE_OK;
	d->chunk_len = 0;
	do
		n = pread(d->fd, d->chunk, DIRECT_CHUNK, start);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return SQLITE_IOERR_READ;
	d->chunk_off = start;
	d->chunk_len = (size_t)n;
	*past_end = ofst >= start + n;
	return SQLITE_OK;
}

static int dr_read(sqlite3_file *f, void *data, int amt, sqlite3_int64 ofst)
{
	struct direct_file *d = (struct direct_file *)f;
	unsigned char *out = data;
	size_t want = (size_t)amt;

	while (want > 0) {
		bool past_end;
		int rc = direct_fill(d, ofst, &past_end);
		size_t at, k;

		if (rc != SQLITE_OK)
			return rc;
		if (past_end) {
			memset(out, 0, want); /* SQLite requires the rest zeroed on a short read */
			return SQLITE_IOERR_SHORT_READ;
		}
		at = (size_t)(ofst - d->chunk_off);
		k = d->chunk_len - at < want ? d->chunk_len - at : want;
		memcpy(out, d->chunk + at, k);
		out += k;
		want -= k;
		ofst += (sqlite3_int64)k;
	}
	return SQLITE_OK;
}

static int dr_write(sqlite3_file *f, const void *data, int amt, sqlite3_int64 ofst)
{
	((struct direct_file *)f)->chunk_len = 0;
	return real_of(f)->pMethods->xWrite(real_of(f), data, amt, ofst);
}

static int dr_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	((struct direct_file *)f)->chunk_len = 0;
	return real_of(f)->pMethods->xTruncate(real_of(f), size);
}

static int dr_close(sqlite3_file *f)
{
	struct direct_file *d = (struct direct_file *)f;
	int rc = d->wr.real->pMethods->xClose(d->wr.real);

	close(d->fd);
	free(d->chunk);
	d->chunk = NULL;
	return rc;
}

static int dr_unlock(sqlite3_file *f, int l)
{
	if (l == SQLITE_LOCK_NONE)
		((struct direct_file *)f)->chunk_len = 0;
	return fw_unlock(f, l);
}

/* The rest is the default VFS's own (the -shm goes through the database file's methods). */
static int dr_sync(sqlite3_file *f, int flags)
{
	return real_of(f)->pMethods->xSync(real_of(f), flags);
}

static int dr_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
	return real_of(f)->pMethods->xFileSize(real_of(f), size);
}

static int dr_shm_map(sqlite3_file *f, int region, int size, int extend, void volatile **p)
{
	return real_of(f)->pMethods->xShmMap(real_of(f), region, size, extend, p);
}

/* A read transaction begins and ends with a WAL-index lock (its read mark), while the file
 * lock is kept from one to the next in WAL mode: here the chunk is dropped. */
static int dr_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
	((struct direct_file *)f)->chunk_len = 0;
	return real_of(f)->pMethods->xShmLock(real_of(f), offset, n, flags);
}

static void dr_shm_barrier(sqlite3_file *f)
{
	real_of(f)->pMethods->xShmBarrier(real_of(f));
}

static int dr_shm_unmap(sqlite3_file *f, int del)
{
	return real_of(f)->pMethods->xShmUnmap(real_of(f), del);
}

/* Version 2: no xFetch, so SQLite never maps the file on this connection. */
static const sqlite3_io_methods direct_methods = {
	.iVersion = 2,
	.xClose = dr_close,
	.xRead = dr_read,
	.xWrite = dr_write,
	.xTruncate = dr_truncate,
	.xSync = dr_sync,
	.xFileSize = dr_file_size,
	.xLock = fw_lock,
	.xUnlock = dr_unlock,
	.xCheckReservedLock = fw_check_reserved,
	.xFileControl = fw_file_control,
	.xSectorSize = fw_sector_size,
	.xDeviceCharacteristics = fw_device_characteristics,
	.xShmMap = dr_shm_map,
	.xShmLock = dr_shm_lock,
	.xShmBarrier = dr_shm_barrier,
	.xShmUnmap = dr_shm_unmap,
};

/* The database file with direct reads; every other file as walbuf_vfs opens it. When the file
 * system refuses O_DIRECT (tmpfs), the database file too is the default VFS's. */
static int dr_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out_flags)
{
	struct direct_file *d = (struct direct_file *)f;
	void *chunk = NULL;
	int fd, rc;

	if ((flags & SQLITE_OPEN_MAIN_DB) == 0 || name == NULL)
		return wb_open(vfs, name, f, flags, out_flags);
	fd = open(name, O_RDONLY | O_DIRECT | O_CLOEXEC);
	if (fd < 0)
		return base_vfs->xOpen(base_vfs, name, f, flags, out_flags);
	if (posix_memalign(&chunk, DIRECT_ALIGN, DIRECT_CHUNK) != 0) {
		close(fd);
		return SQLITE_NOMEM;
	}
	memset(d, 0, sizeof(*d));
	d->wr.real = (sqlite3_file *)(d + 1);
	rc = base_vfs->xOpen(base_vfs, name, d->wr.real, flags, out_flags);
	if (rc != SQLITE_OK || d->wr.real->pMethods->iVersion < 2) {
		if (rc == SQLITE_OK)
			d->wr.real->pMethods->xClose(d->wr.real);
		close(fd);
		free(chunk);
		d->wr.base.pMethods = NULL;
		return rc != SQLITE_OK ? rc : SQLITE_CANTOPEN;
	}
	d->fd = fd;
	d->chunk = chunk;
	d->wr.base.pMethods = &direct_methods;
	return SQLITE_OK;
}

static void walbuf_register(void)
{
	size_t wrap = sizeof(struct wal_file) > sizeof(struct direct_file)
			      ? sizeof(struct wal_file)
			      : sizeof(struct direct_file);

	base_vfs = sqlite3_vfs_find(NULL);
	if (base_vfs == NULL)
		return;
	walbuf_vfs = *base_vfs;
	walbuf_vfs.zName = "devicelog-walbuf";
	walbuf_vfs.pNext = NULL;
	walbuf_vfs.szOsFile = (int)sizeof(struct wal_file) + base_vfs->szOsFile;
	walbuf_vfs.xOpen = wb_open;
	direct_vfs = walbuf_vfs;
	direct_vfs.zName = "devicelog-direct";
	direct_vfs.szOsFile = (int)wrap + base_vfs->szOsFile;
	direct_vfs.xOpen = dr_open;
	if (sqlite3_vfs_register(&walbuf_vfs, 0) != SQLITE_OK ||
	    sqlite3_vfs_register(&direct_vfs, 0) != SQLITE_OK)
		base_vfs = NULL;
}

const char *store__walbuf_vfs(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, walbuf_register);
	return base_vfs != NULL ? walbuf_vfs.zName : NULL;
}

const char *store__direct_vfs(void)
{
	return store__walbuf_vfs() != NULL ? direct_vfs.zName : NULL;
}
