/* walpages: which tables and indexes a store's commits write, read off a copy of its WAL.
 *
 *   walpages DB WAL [N]
 *
 * Reads the WAL's valid frames (salts and running checksums as SQLite checks them), groups them
 * into commits, and for the last N commits (default 500) prints the pages written per commit,
 * in all and per table or index of DB (SQLite's dbstat table names the owner of each page).
 * Single-event ingest writes each page it dirties to the WAL once per commit, and the sync of
 * those pages is what each group waits for, so this is its cost in a form that does not depend
 * on the disk. Pages dbstat does not know (freed since, or past the end of DB) count as "other".
 *
 * Output, one line each: "commits N frames_per_commit F", then "NAME P" per owner, most first
 * (P: distinct pages of NAME per commit, one decimal). */
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WAL_HDR 32
#define FRAME_HDR 24

struct owner {
	char *name;
	uint64_t pages; /* distinct pages over the commits counted */
};

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* SQLite's WAL checksum over n bytes (a multiple of 8), continuing from s[2]; big-endian words
 * when the magic number says so, else the machine's. */
static void checksum(const unsigned char *p, size_t n, int big, uint32_t s[2])
{
	for (size_t i = 0; i < n; i += 8) {
		uint32_t a, b;

		if (big) {
			a = get32(p + i);
			b = get32(p + i + 4);
		} else {
			memcpy(&a, p + i, 4);
			memcpy(&b, p + i + 4, 4);
		}
		s[0] += a + s[1];
		s[1] += b + s[0];
	}
}

static unsigned char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf = NULL;
	size_t cap = 0, n = 0, got;

	if (f == NULL)
		return NULL;
	do {
		if (n == cap) {
			unsigned char *nb = realloc(buf, cap ? cap * 2 : 1 << 20);

			if (nb == NULL) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = nb;
			cap = cap ? cap * 2 : 1 << 20;
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
	} while (got > 0);
	fclose(f);
	*len = n;
	return buf;
}

/* The owner of every page of db: index into owners by page number (0: unknown). */
static int load_owners(const char *db, struct owner **owners, size_t *nowners, uint32_t **by_page,
		       uint32_t *npages)
{
	sqlite3 *h;
	sqlite3_stmt *st;
	int rc = sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL);

	*owners = calloc(1, sizeof(**owners));
	*nowners = 1;
	(*owners)[0].name = strdup("other");
	*by_page = NULL;
	*npages = 0;
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(h, "SELECT max(pageno) FROM dbstat", -1, &st, NULL);
	if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		*npages = (uint32_t)sqlite3_column_int64(st, 0) + 1;
	if (rc == SQLITE_OK)
		sqlite3_finalize(st);
	if (rc == SQLITE_OK)
		*by_page = calloc(*npages, sizeof(**by_page));
	if (rc == SQLITE_OK && *by_page == NULL)
		rc = SQLITE_NOMEM;
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(h, "SELECT name, pageno FROM dbstat ORDER BY name", -1, &st,
					NULL);
	while (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		int64_t pg = sqlite3_column_int64(st, 1);

		if (strcmp(name, (*owners)[*nowners - 1].name) != 0) {
			struct owner *no = realloc(*owners, (*nowners + 1) * sizeof(**owners));

			if (no == NULL) {
				rc = SQLITE_NOMEM;
				break;
			}
			*owners = no;
			(*owners)[*nowners].name = strdup(name);
			(*owners)[*nowners].pages = 0;
			(*nowners)++;
		}
		if (pg > 0 && (uint64_t)pg < *npages)
			(*by_page)[pg] = (uint32_t)(*nowners - 1);
	}
	if (rc == SQLITE_OK)
		sqlite3_finalize(st);
	if (rc != SQLITE_OK)
		fprintf(stderr, "walpages: %s: %s\n", db, sqlite3_errmsg(h));
	sqlite3_close(h);
	return rc == SQLITE_OK ? 0 : -1;
}

static int by_pages(const void *a, const void *b)
{
	const struct owner *x = a, *y = b;

	return x->pages < y->pages ? 1 : x->pages > y->pages ? -1 : strcmp(x->name, y->name);
}

int main(int argc, char **argv)
{
	size_t len, nowners, nframes = 0, ncommits = 0, want, first;
	unsigned char *wal;
	uint32_t psz, salt[2], s[2] = {0, 0}, *by_page, npages, *pgno, *seen;
	size_t *commit_end; /* frame index after each commit */
	struct owner *owners;
	int big;

	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: walpages DB WAL [N]\n");
		return 2;
	}
	want = argc == 4 ? strtoul(argv[3], NULL, 10) : 500;
	wal = slurp(argv[2], &len);
	if (wal == NULL || len < WAL_HDR || (get32(wal) & ~1u) != 0x377f0682u) {
		fprintf(stderr, "walpages: %s: not a WAL file\n", argv[2]);
		return 1;
	}
	big = get32(wal) & 1;
	psz = get32(wal + 8);
	salt[0] = get32(wal + 16);
	salt[1] = get32(wal + 20);
	checksum(wal, 24, big, s);
	if (s[0] != get32(wal + 24) || s[1] != get32(wal + 28) || psz < 512 ||
	    (psz & (psz - 1)) != 0) {
		fprintf(stderr, "walpages: %s: bad WAL header\n", argv[2]);
		return 1;
	}
	if (load_owners(argv[1], &owners, &nowners, &by_page, &npages) != 0)
		return 1;
	pgno = malloc((len / (FRAME_HDR + psz) + 1) * sizeof(*pgno));
	commit_end = malloc((len / (FRAME_HDR + psz) + 1) * sizeof(*commit_end));
	seen = calloc(npages + 1, sizeof(*seen));
	if (pgno == NULL || commit_end == NULL || seen == NULL)
		return 1;
	/* the valid frames: this WAL's salts, running checksum; a commit frame ends a commit */
	for (size_t off = WAL_HDR; off + FRAME_HDR + psz <= len; off += FRAME_HDR + psz) {
		const unsigned char *f = wal + off;

		if (get32(f + 8) != salt[0] || get32(f + 12) != salt[1])
			break;
		checksum(f, 8, big, s);
		checksum(f + FRAME_HDR, psz, big, s);
		if (s[0] != get32(f + 16) || s[1] != get32(f + 20))
			break;
		pgno[nframes++] = get32(f);
		if (get32(f + 4) != 0)
			commit_end[ncommits++] = nframes;
	}
	if (ncommits == 0) {
		printf("commits 0 frames_per_commit 0\n");
		return 0;
	}
	first = ncommits > want ? ncommits - want : 0;
	for (size_t c = first; c < ncommits; c++) {
		size_t from = c == 0 ? 0 : commit_end[c - 1];

		for (size_t i = from; i < commit_end[c]; i++) {
			uint32_t p = pgno[i];

			if (p <= npages && seen[p] == c + 1)
				continue; /* written again in the same commit */
			if (p <= npages)
				seen[p] = (uint32_t)(c + 1);
			owners[p < npages ? by_page[p] : 0].pages++;
		}
	}
	printf("commits %zu frames_per_commit %.1f\n", ncommits - first,
	       (double)(commit_end[ncommits - 1] - (first == 0 ? 0 : commit_end[first - 1])) /
		       (double)(ncommits - first));
	qsort(owners, nowners, sizeof(*owners), by_pages);
	for (size_t i = 0; i < nowners && owners[i].pages > 0; i++)
		printf("%s %.1f\n", owners[i].name, (double)owners[i].pages / (double)(ncommits - first));
	return 0;
}
