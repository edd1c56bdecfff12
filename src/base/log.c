/* The logger: the one mutable global besides the parsed configuration (STYLE.md). */
#include "base/base.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* -1 not decided yet, 0 plain prefixes, 1 sd-daemon "<N>" prefixes. Atomic: request lines are
 * logged from every daemon thread, and the first one may race with main's first line. */
static atomic_int journal_style = -1;

/* systemd sets JOURNAL_STREAM=DEV:INODE for a service whose stderr is the journal. Checking the
 * inode (not just the variable) keeps a child whose stderr was redirected to a file, or a shell
 * started from a unit, from writing "<6>" into a terminal or a log file. */
static int detect(void)
{
	const char *v = getenv("JOURNAL_STREAM");
	uintmax_t dev, ino;
	struct stat st;
	char *end;

	if (v == NULL || v[0] == '\0' || fstat(STDERR_FILENO, &st) != 0)
		return 0;
	dev = strtoumax(v, &end, 10);
	if (*end != ':')
		return 0;
	ino = strtoumax(end + 1, &end, 10);
	return *end == '\0' && dev == (uintmax_t)st.st_dev && ino == (uintmax_t)st.st_ino;
}

void dlog_log_init(int journal)
{
	atomic_store(&journal_style, journal < 0 ? detect() : journal != 0);
}

static const char *prefix(enum dlog_log_level level, int journal)
{
	switch (level) {
	case DLOG_LOG_ERR:
		return journal ? "<3>" : "error: ";
	case DLOG_LOG_WARNING:
		return journal ? "<4>" : "warning: ";
	default:
		return journal ? "<6>" : "info: ";
	}
}

void dlog_log(enum dlog_log_level level, const char *fmt, ...)
{
	char line[DLOG_LOG_LINE_MAX];
	int style = atomic_load(&journal_style);
	size_t n;
	va_list ap;
	int len;

	if (style < 0) {
		style = detect();
		atomic_store(&journal_style, style);
	}
	n = (size_t)snprintf(line, sizeof(line), "%s", prefix(level, style));
	va_start(ap, fmt);
	len = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	va_end(ap);
	if (len < 0)
		len = 0;
	n += (size_t)len;
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	for (size_t i = 0; i < n; i++)
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	line[n++] = '\n';
	/* one write: lines of concurrent threads never interleave; nothing to do if it fails */
	if (write(STDERR_FILENO, line, n) < 0)
		return;
}
