/* devicelog: command-line entry point. Parses arguments and wires the parts; no logic of its
 * own beyond that.
 *
 * Every option of every command is one row of options[] below: its name (the --flag, the
 * config file key and, as DEVICELOG_NAME, the environment variable), type, default, bounds
 * and help. The same rows drive argument parsing, the config file and environment, --help,
 * the commented example file (`devicelog config example`) and the man page's OPTIONS section
 * (`devicelog --help-man`, spliced into man/devicelog.8 by scripts/man.sh). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "auth/auth.h"
#include "base/limits.h"
#include "demo/demo.h"
#include "http/http.h"
#include "store/store.h"

#define VERSION "0.1.0"
#define DEFAULT_CONFIG "/etc/devicelog/devicelog.conf"
/* A config file is a few dozen lines; anything bigger is the wrong file. */
#define MAX_CONFIG_BYTES (64 * 1024)
#define MAX_ARGS 4

/* Exit statuses (devicelog(8) EXIT STATUS). */
enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2, EXIT_REJECTED = 3 };

enum cmd_bit {
	C_SERVE = 1 << 0,
	C_KEYS = 1 << 1,
	C_IMPORT = 1 << 2,
	C_DEMO = 1 << 3,
	C_CONFIG = 1 << 4,
	C_EXPORT = 1 << 5,
	C_COPY = 1 << 6,
	C_BACKUP = 1 << 7,
	C_ALL = 0xff,
};

enum opt_type { T_STR, T_INT, T_BOOL };

/* The rows of options[]; values live in struct conf at the same index. */
enum opt_id {
	OPT_CONFIG,
	OPT_LISTEN,
	OPT_STORE,
	OPT_THREADS,
	OPT_TLS_CERT,
	OPT_TLS_KEY,
	OPT_QUIET,
	OPT_TRUST_PROXY,
	OPT_ACCOUNT,
	OPT_SCOPE,
	OPT_NAME,
	OPT_DEVICES,
	OPT_DAYS,
	OPT_SEED,
	OPT_CLI_QUIET,
	OPT_RETENTION_DAYS,
	OPT_FORMAT,
	OPT_FILTER,
	OPT_FROM,
	OPT_TO,
	OPT_RATE_KEY,
	OPT_RATE_KEY_BURST,
	OPT_RATE_IP,
	OPT_RATE_IP_BURST,
	OPT_METRICS_LISTEN,
	OPT_HELP,
	NOPTS
};

struct opt {
	const char *name; /* --name; "name" in the file; DEVICELOG_NAME (upper, '-' -> '_') */
	enum opt_type type;
	const char *dflt; /* the default as text; NULL: unset */
	int64_t min, max; /* T_INT bounds */
	unsigned cmds;    /* commands taking it as a flag */
	bool setting;     /* a setting: also from the config file and the environment */
	const char *arg;  /* the value's placeholder in help */
	const char *help;
};

static const struct opt options[NOPTS] = {
    [OPT_CONFIG] = {"config", T_STR, NULL, 0, 0, C_ALL, false, "FILE",
                    "configuration file (default " DEFAULT_CONFIG " when present; also "
                    "$DEVICELOG_CONFIG)"},
    [OPT_LISTEN] = {"listen", T_STR, "127.0.0.1:8080", 0, 0, C_SERVE | C_CONFIG, true, "HOST:PORT",
                    "IPv4 address and port to listen on (port 0: any free port)"},
    [OPT_STORE] = {"store", T_STR, "sqlite:devicelog.db", 0, 0, C_ALL, true, "URL",
                   "event store: sqlite:PATH or postgresql://USER@HOST/DB"},
    [OPT_THREADS] = {"threads", T_INT, "0", 0, 16, C_SERVE | C_CONFIG, true, "N",
                     "listening threads sharing the port (0: one per CPU, at most 16)"},
    [OPT_TLS_CERT] = {"tls-cert", T_STR, NULL, 0, 0, C_SERVE | C_CONFIG, true, "FILE",
                      "PEM certificate (chain): serve HTTPS; needs tls-key; re-read on "
                      "SIGHUP"},
    [OPT_TLS_KEY] = {"tls-key", T_STR, NULL, 0, 0, C_SERVE | C_CONFIG, true, "FILE",
                     "PEM private key (unencrypted) of tls-cert; re-read on SIGHUP"},
    [OPT_QUIET] = {"quiet", T_BOOL, "false", 0, 0, C_SERVE | C_CONFIG, true, NULL,
                   "no per-request log lines"},
    [OPT_TRUST_PROXY] = {"trust-proxy", T_BOOL, "false", 0, 0, C_SERVE | C_CONFIG, true, NULL,
                         "behind a reverse proxy: log X-Forwarded-For as the client and lift "
                         "the per-address connection cap"},
    [OPT_ACCOUNT] = {"account", T_STR, NULL, 0, 0, C_KEYS | C_IMPORT | C_DEMO | C_EXPORT | C_COPY,
                     false, "NAME", "account name (created when new; demo: default 'default')"},
    [OPT_SCOPE] = {"scope", T_STR, NULL, 0, 0, C_KEYS, false, "SCOPE",
                   "keys create: read (GET), write (+ingest) or admin (+key management)"},
    [OPT_NAME] = {"name", T_STR, "", 0, 0, C_KEYS, false, "LABEL",
                  "keys create: a label for the key"},
    [OPT_DEVICES] = {"devices", T_INT, "2000", 1, 10000000, C_DEMO, false, "N",
                     "demo: number of devices"},
    [OPT_DAYS] = {"days", T_INT, "60", 1, 3650, C_DEMO, false, "D",
                  "demo: days of history ending now"},
    [OPT_SEED] = {"seed", T_INT, "1", 0, INT64_MAX, C_DEMO, false, "S",
                  "demo: random seed (same seed, same fleet)"},
    [OPT_CLI_QUIET] = {"quiet", T_BOOL, "false", 0, 0, C_IMPORT | C_DEMO | C_EXPORT | C_COPY | C_BACKUP, false,
                       NULL, "no progress line and no summary"},
    [OPT_RETENTION_DAYS] =
        {"retention-days", T_INT, "0", 0, 36500, C_SERVE | C_CONFIG, true, "N",
         "remove events created more than N days ago (0: keep every event), in small "
         "steps now and then hourly; the device directory and campaign statistics keep "
         "their lifetime counts"},
    [OPT_FORMAT] = {"format", T_STR, "ndjson", 0, 0, C_EXPORT, false, "ndjson|csv",
                    "export: NDJSON (the API's event objects, one per line) or CSV"},
    [OPT_FILTER] =
        {"filter", T_STR, NULL, 0, 0, C_EXPORT, false, "QUERY",
         "export: the list's filters as a query string, e.g. "
         "'event_type_description=FAIL&date_time__gte=2026-11-01T00:00:00Z' (order and after "
         "too)"},
    [OPT_FROM] = {"from", T_STR, NULL, 0, 0, C_COPY, false, "URL", "copy: the source store"},
    [OPT_TO] = {"to", T_STR, NULL, 0, 0, C_COPY, false, "URL",
                "copy: the target store (its accounts must have no events yet)"},
    /* defaults: DLOG_RATE_* of base/limits.h (why those values is said there) */
    [OPT_RATE_KEY] = {"rate-key", T_INT, "1000", 0, 1000000, C_SERVE | C_CONFIG, true, "N",
                      "requests per second per access key (0: no limit)"},
    [OPT_RATE_KEY_BURST] = {"rate-key-burst", T_INT, "2000", 1, 10000000, C_SERVE | C_CONFIG,
                            true, "N", "requests one key may send at once above its rate"},
    [OPT_RATE_IP] = {"rate-ip", T_INT, "50", 0, 1000000, C_SERVE | C_CONFIG, true, "N",
                     "requests per second per client address without a valid key (0: no "
                     "limit)"},
    [OPT_RATE_IP_BURST] = {"rate-ip-burst", T_INT, "100", 1, 10000000, C_SERVE | C_CONFIG,
                           true, "N", "requests one address may send at once without a key"},
    [OPT_METRICS_LISTEN] = {"metrics-listen", T_STR, NULL, 0, 0, C_SERVE | C_CONFIG, true,
                            "HOST:PORT",
                            "also serve /metrics and /health, without a key, on this "
                            "(private) address"},
    [OPT_HELP] = {"help", T_BOOL, "false", 0, 0, C_ALL, false, NULL, "show this help"},
};

/* Where a value came from, for messages and `config check`. */
enum origin { FROM_DEFAULT, FROM_FILE, FROM_ENV, FROM_FLAG };

/* The parsed configuration of one command run (the program's one parsed configuration). */
struct conf {
	const char *text[NOPTS]; /* the value as given; NULL when unset */
	int64_t num[NOPTS];      /* T_INT and T_BOOL values */
	enum origin from[NOPTS];
	unsigned line[NOPTS]; /* FROM_FILE: its line */
	const char *file;     /* the config file read, or NULL */
	char *file_text;      /* owned: text[] of FROM_FILE values point into it */
	const char *args[MAX_ARGS];
	int nargs;
};

struct command {
	const char *name;
	unsigned bit;
	const char *usage;
	const char *summary;
	int (*run)(struct conf *c, int argc, char **argv);
};

static int cmd_serve(struct conf *c, int argc, char **argv);
static int cmd_config(struct conf *c, int argc, char **argv);
static int cmd_keys(struct conf *c, int argc, char **argv);
static int cmd_import(struct conf *c, int argc, char **argv);
static int cmd_demo(struct conf *c, int argc, char **argv);
static int cmd_export(struct conf *c, int argc, char **argv);
static int cmd_copy(struct conf *c, int argc, char **argv);
static int cmd_backup(struct conf *c, int argc, char **argv);

static const struct command commands[] = {
    {"serve", C_SERVE, "serve [--config FILE] [--listen HOST:PORT] [--store URL] [options]",
     "Serve the API and the portal. On an empty store, creates account 'default' and prints\n"
     "its admin key once on stdout. SIGHUP re-reads the configuration and the TLS certificate\n"
     "without dropping connections; SIGTERM or SIGINT stops accepting, finishes the requests\n"
     "in progress and closes the store.",
     cmd_serve},
    {"config", C_CONFIG, "config check|example [--config FILE] [serve options]",
     "check: read the configuration as serve would (file, environment, flags), validate it\n"
     "without starting, and print each setting with where it came from; exit 2 when invalid.\n"
     "example: print a commented configuration file with every setting and its default\n"
     "(settings given as flags are written uncommented).",
     cmd_config},
    {"keys", C_KEYS,
     "keys create --account NAME --scope read|write|admin [--name LABEL] | keys list "
     "[--account NAME] | keys revoke KEYID  [--store URL]",
     "Manage access keys. create prints the new key alone on stdout (shown once; only its\n"
     "hash is kept) and its key id on stderr; list never shows secrets.",
     cmd_keys},
    {"import", C_IMPORT, "import --account NAME [--store URL] [--quiet] FILE|-",
     "Import NDJSON events (one object per line) with the API's validation. Shows progress on\n"
     "a terminal; reports accepted and rejected counts and the first errors; exit 3 when any\n"
     "line was rejected.",
     cmd_import},
    {"demo", C_DEMO,
     "demo [--store URL] [--devices N] [--days D] [--seed S] [--account NAME] [--quiet]",
     "Add a realistic demo fleet: registrations, bootstraps, deregistrations and three update\n"
     "campaigns using every failure code. Shows progress on a terminal.",
     cmd_demo},
    {"export", C_EXPORT,
     "export --account NAME [--store URL] [--format ndjson|csv] [--filter QUERY] [FILE|-]",
     "Write every event of the account that the filters select (all without --filter), in id\n"
     "order, as NDJSON (the API's event objects; `devicelog import` reads it back) or CSV;\n"
     "to stdout without FILE. Reads a page at a time: any size, constant memory.",
     cmd_export},
    {"copy", C_COPY, "copy --from URL --to URL [--account NAME] [--quiet]",
     "Copy an account (every account without --account) to another store, e.g. SQLite to\n"
     "PostgreSQL: its keys (they keep working), groups and members, and its events with their\n"
     "idempotency keys. Events get new ids and created_at in the target (ids are commit-order\n"
     "positions of the store holding them); the device directory and campaign statistics are\n"
     "rebuilt there. A target account must have no events yet.",
     cmd_copy},
    {"backup", C_BACKUP, "backup [--store URL] [--quiet] FILE",
     "Write a consistent copy of a SQLite store to FILE, which must not exist, while the service\n"
     "runs (one read transaction; ingest goes on). The copy is a store itself: to restore, stop\n"
     "the service, put it in place of the database file, remove PATH-wal and PATH-shm, start.\n"
     "The database file is read with O_DIRECT, past the page cache: a whole-file read through\n"
     "the cache leaves later ingest slower (docs/OPERATIONS.md). A PostgreSQL store is backed\n"
     "up with pg_dump.",
     cmd_backup},
};
static const size_t ncommands = sizeof(commands) / sizeof(commands[0]);

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < ncommands; i++)
		if (strcmp(name, commands[i].name) == 0)
			return &commands[i];
	return NULL;
}

/* ---- values ---- */

static void conf_free(struct conf *c)
{
	if (c == NULL)
		return;
	free(c->file_text);
	free(c);
}

static const char *str(const struct conf *c, enum opt_id id)
{
	return c->text[id];
}

static int64_t num(const struct conf *c, enum opt_id id)
{
	return c->num[id];
}

static bool parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"1", "true", "yes", "on"};
	static const char *const no[] = {"0", "false", "no", "off"};

	for (size_t i = 0; i < 4; i++) {
		if (dlog_word_eq(s, strlen(s), yes[i]))
			return *out = true, true;
		if (dlog_word_eq(s, strlen(s), no[i]))
			return *out = false, true;
	}
	return false;
}

/* "FILE:LINE", "$DEVICELOG_X" or "--x": where a value came from. */
static void origin_name(const struct conf *c, enum opt_id id, char *out, size_t len)
{
	const char *n = options[id].name;
	size_t k;

	switch (c->from[id]) {
	case FROM_FILE:
		snprintf(out, len, "%s:%u", c->file, c->line[id]);
		break;
	case FROM_ENV:
		k = (size_t)snprintf(out, len, "$DEVICELOG_");
		for (; *n != '\0' && k + 1 < len; n++, k++)
			out[k] = *n == '-' ? '_' : (char)(*n >= 'a' && *n <= 'z' ? *n - 32 : *n);
		out[k < len ? k : len - 1] = '\0';
		break;
	case FROM_FLAG:
		snprintf(out, len, "--%s", n);
		break;
	default:
		snprintf(out, len, "default");
	}
}

/* Set option id from text, checking its type and bounds; the message names the origin. */
static int set_value(struct conf *c, enum opt_id id, const char *text, enum origin from,
                     unsigned line)
{
	const struct opt *o = &options[id];
	char where[600];
	int64_t v = 0;
	bool b;

	c->from[id] = from;
	c->line[id] = line;
	origin_name(c, id, where, sizeof(where));
	if (o->type == T_INT && dlog_parse_i64(text, strlen(text), o->min, o->max, &v) != 0) {
		dlog_log(DLOG_LOG_ERR, "%s: %s must be a whole number from %lld to %lld, not '%s'",
		         where, o->name, (long long)o->min, (long long)o->max, text);
		return DLOG_EINVAL;
	}
	if (o->type == T_BOOL) {
		if (!parse_bool(text, &b)) {
			dlog_log(DLOG_LOG_ERR, "%s: %s must be true or false, not '%s'", where,
			         o->name, text);
			return DLOG_EINVAL;
		}
		v = b;
	}
	if (o->type == T_STR && !dlog_text_valid(text, strlen(text))) {
		dlog_log(DLOG_LOG_ERR, "%s: %s holds a control character or invalid UTF-8", where,
		         o->name);
		return DLOG_EINVAL;
	}
	c->text[id] = text;
	c->num[id] = v;
	return 0;
}

/* ---- the config file: "name = value" lines, '#' comments ---- */

static char *trim(char *s, char *end)
{
	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
		end--;
	*end = '\0';
	return s;
}

static int setting_named(const char *key, enum opt_id *out)
{
	for (int i = 0; i < NOPTS; i++) {
		const char *n = options[i].name;
		size_t k = 0;

		if (!options[i].setting)
			continue;
		/* tls_cert and tls-cert are the same key: both spellings are common in files */
		while (n[k] != '\0' && (key[k] == n[k] || (key[k] == '_' && n[k] == '-')))
			k++;
		if (n[k] == '\0' && key[k] == '\0') {
			*out = (enum opt_id)i;
			return 0;
		}
	}
	return DLOG_ENOTFOUND;
}

static int parse_line(struct conf *c, char *line, unsigned lineno, unsigned seen[NOPTS])
{
	char *eq, *key, *val;
	enum opt_id id;

	line = trim(line, line + strlen(line));
	if (line[0] == '\0' || line[0] == '#')
		return 0;
	eq = strchr(line, '=');
	if (eq == NULL) {
		dlog_log(DLOG_LOG_ERR, "%s:%u: expected 'name = value'", c->file, lineno);
		return DLOG_EINVAL;
	}
	key = trim(line, eq);
	val = trim(eq + 1, eq + 1 + strlen(eq + 1));
	if (setting_named(key, &id) != 0) {
		dlog_log(DLOG_LOG_ERR, "%s:%u: unknown setting '%s' (see devicelog config example)",
		         c->file, lineno, key);
		return DLOG_EINVAL;
	}
	if (seen[id] != 0) {
		dlog_log(DLOG_LOG_ERR, "%s:%u: %s is already set on line %u", c->file, lineno,
		         options[id].name, seen[id]);
		return DLOG_EINVAL;
	}
	seen[id] = lineno;
	if (val[0] == '\0')
		return 0; /* "name =" leaves the default */
	return set_value(c, id, val, FROM_FILE, lineno);
}

static int read_config(struct conf *c, const char *path, bool must_exist)
{
	unsigned seen[NOPTS] = {0}, lineno = 0;
	struct dlog_buf b;
	char chunk[4096], *p;
	FILE *f = fopen(path, "rb");
	size_t n;
	int rc = 0;

	if (f == NULL) {
		if (errno == ENOENT && !must_exist)
			return 0;
		dlog_log(DLOG_LOG_ERR, "%s: cannot read: %s", path, strerror(errno));
		return DLOG_EIO;
	}
	c->file = path;
	dlog_buf_init(&b, MAX_CONFIG_BYTES);
	while (rc == 0 && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		rc = dlog_buf_add(&b, chunk, n);
	if (rc == 0 && ferror(f))
		rc = DLOG_EIO;
	fclose(f);
	if (rc != 0) {
		dlog_log(DLOG_LOG_ERR, "%s: cannot read%s", path,
		         rc == DLOG_ETOOBIG ? ": larger than 64 KiB" : "");
		dlog_buf_done(&b);
		return rc;
	}
	c->file_text = dlog_buf_steal(&b, &n);
	dlog_buf_done(&b);
	if (c->file_text != NULL && memchr(c->file_text, '\0', n) != NULL) {
		dlog_log(DLOG_LOG_ERR, "%s: not a text file", path);
		return DLOG_EINVAL;
	}
	for (p = c->file_text; rc == 0 && p != NULL && *p != '\0';) {
		char *nl = strchr(p, '\n');

		if (nl != NULL)
			*nl = '\0';
		rc = parse_line(c, p, ++lineno, seen);
		p = nl ? nl + 1 : NULL;
	}
	return rc;
}

static int read_env(struct conf *c)
{
	for (int i = 0; i < NOPTS; i++) {
		char var[64];
		const char *v;
		size_t k = (size_t)snprintf(var, sizeof(var), "DEVICELOG_");

		if (!options[i].setting)
			continue;
		for (const char *n = options[i].name; *n != '\0' && k + 1 < sizeof(var); n++)
			var[k++] = *n == '-' ? '_' : (char)(*n >= 'a' && *n <= 'z' ? *n - 32 : *n);
		var[k] = '\0';
		v = getenv(var);
		if (v != NULL && v[0] != '\0' && set_value(c, (enum opt_id)i, v, FROM_ENV, 0) != 0)
			return DLOG_EINVAL;
	}
	return 0;
}

/* ---- arguments ---- */

static int flag_row(const struct command *cmd, const char *name, enum opt_id *out, bool *neg)
{
	*neg = false;
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < NOPTS; i++) {
			if ((options[i].cmds & cmd->bit) == 0 || strcmp(options[i].name, name) != 0)
				continue;
			*out = (enum opt_id)i;
			return 0;
		}
		/* --no-quiet undoes a quiet = true of the file or environment */
		if (pass == 0 && strncmp(name, "no-", 3) == 0)
			name += 3, *neg = true;
		else
			break;
	}
	return DLOG_ENOTFOUND;
}

/* Flags on top of whatever c holds already. */
static int parse_flags(const struct command *cmd, int argc, char **argv, struct conf *c)
{
	c->nargs = 0;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		enum opt_id id;
		bool neg;

		if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
			if (c->nargs == MAX_ARGS) {
				dlog_log(DLOG_LOG_ERR, "devicelog %s: too many arguments",
				         cmd->name);
				return DLOG_EINVAL;
			}
			c->args[c->nargs++] = a;
			continue;
		}
		if (flag_row(cmd, a + 2, &id, &neg) != 0 || (neg && options[id].type != T_BOOL)) {
			dlog_log(DLOG_LOG_ERR, "devicelog %s: unknown option %s (see --help)",
			         cmd->name, a);
			return DLOG_EINVAL;
		}
		if (options[id].type == T_BOOL) {
			if (set_value(c, id, neg ? "false" : "true", FROM_FLAG, 0) != 0)
				return DLOG_EINVAL;
			continue;
		}
		if (i + 1 >= argc) {
			dlog_log(DLOG_LOG_ERR, "devicelog %s: %s needs a value", cmd->name, a);
			return DLOG_EINVAL;
		}
		if (set_value(c, id, argv[++i], FROM_FLAG, 0) != 0)
			return DLOG_EINVAL;
	}
	return 0;
}

/* Build the configuration of one run: defaults, then the config file, then the environment,
 * then the flags (each later source wins). Flags are read twice: first only to find --config
 * and --help, then over everything else so they win. *out is NULL on failure. */
static int conf_load(const struct command *cmd, int argc, char **argv, struct conf **out)
{
	struct conf *c = calloc(1, sizeof(*c));
	const char *path;
	bool explicit;
	int rc;

	*out = NULL;
	if (c == NULL)
		return DLOG_ENOMEM;
	for (int i = 0; i < NOPTS; i++)
		if (options[i].dflt != NULL)
			set_value(c, (enum opt_id)i, options[i].dflt, FROM_DEFAULT, 0);
	rc = parse_flags(cmd, argc, argv, c);
	if (rc != 0) {
		conf_free(c);
		return rc;
	}
	if (num(c, OPT_HELP)) {
		*out = c;
		return 0;
	}
	path = str(c, OPT_CONFIG);
	if (path == NULL)
		path = getenv("DEVICELOG_CONFIG");
	explicit = path != NULL && path[0] != '\0';
	rc = read_config(c, explicit ? path : DEFAULT_CONFIG, explicit);
	if (rc == 0)
		rc = read_env(c);
	if (rc == 0)
		rc = parse_flags(cmd, argc, argv, c);
	if (rc != 0) {
		conf_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

/* ---- help, example file, man page: all from options[] ---- */

static void env_name(const struct opt *o, char *out, size_t len)
{
	size_t k = (size_t)snprintf(out, len, "DEVICELOG_");

	for (const char *n = o->name; *n != '\0' && k + 1 < len; n++)
		out[k++] = *n == '-' ? '_' : (char)(*n >= 'a' && *n <= 'z' ? *n - 32 : *n);
	out[k] = '\0';
}

static void usage(const struct command *cmd)
{
	printf("usage: devicelog %s\n\n%s\n\noptions:\n", cmd->usage, cmd->summary);
	for (int i = 0; i < NOPTS; i++) {
		const struct opt *o = &options[i];
		char flag[64], env[64];

		if ((o->cmds & cmd->bit) == 0)
			continue;
		snprintf(flag, sizeof(flag), "--%s%s%s", o->name, o->arg ? " " : "",
		         o->arg ? o->arg : "");
		printf("  %-20s %s", flag, o->help);
		if (o->dflt != NULL && o->dflt[0] != '\0' && o->type != T_BOOL)
			printf(" (default %s)", o->dflt);
		printf("\n");
		if (o->setting && (cmd->bit & (C_SERVE | C_CONFIG))) {
			env_name(o, env, sizeof(env));
			printf("  %-20s   file: %s = ...; environment: %s\n", "", o->name, env);
		}
	}
	if (cmd->bit & (C_SERVE | C_CONFIG))
		printf(
		    "\nPrecedence: flags, then DEVICELOG_* variables, then the config file, then "
		    "defaults.\n");
}

/* `devicelog config example`: the commented example file; settings given as flags are
 * written active (dist/devicelog.conf is made this way, see Makefile). */
static void print_example(const struct conf *c)
{
	printf("# devicelog configuration (read by 'devicelog serve' and the other commands).\n"
	       "# Format: 'name = value' lines; '#' starts a comment line. Each setting may also\n"
	       "# come from the environment (DEVICELOG_NAME, e.g. DEVICELOG_TLS_CERT) or a flag\n"
	       "# (--name); flags win over the environment, the environment over this file.\n"
	       "# Check a file with: devicelog config check --config FILE\n"
	       "# Reload: systemctl reload devicelog (SIGHUP) re-reads this file and the TLS\n"
	       "# certificate; the other settings need a restart.\n");
	for (int i = 0; i < NOPTS; i++) {
		const struct opt *o = &options[i];
		char env[64];

		if (!o->setting)
			continue;
		env_name(o, env, sizeof(env));
		printf("\n# %s", o->help);
		if (o->type == T_INT)
			printf(" [%lld..%lld]", (long long)o->min, (long long)o->max);
		printf(".\n# Environment: %s.\n", env);
		if (c->from[i] == FROM_FLAG)
			printf("%s = %s\n", o->name, c->text[i]);
		else
			printf("#%s = %s\n", o->name, o->dflt ? o->dflt : "");
	}
}

/* roff text: backslashes and hyphens escaped; a line never starts with a control char. */
static void roff(const char *s)
{
	if (*s == '.' || *s == '\'')
		printf("\\&");
	for (; *s != '\0'; s++) {
		if (*s == '\\')
			printf("\\e");
		else if (*s == '-')
			printf("\\-");
		else
			putchar(*s);
	}
}

/* `devicelog --help-man`: the COMMANDS, OPTIONS and ENVIRONMENT sections of devicelog(8). */
static void print_man_sections(void)
{
	printf(".SH COMMANDS\n");
	for (size_t k = 0; k < ncommands; k++) {
		printf(".TP\n.B devicelog ");
		roff(commands[k].usage);
		printf("\n");
		for (const char *p = commands[k].summary; *p != '\0';) {
			const char *nl = strchr(p, '\n');
			char line[512];
			size_t n = nl ? (size_t)(nl - p) : strlen(p);

			snprintf(line, sizeof(line), "%.*s", (int)n, p);
			roff(line);
			printf("\n");
			p += n + (nl != NULL);
		}
	}
	printf(".SH OPTIONS\nEvery option is written\n.BI \\-\\- name\n.IR value ;\n"
	       "boolean options take no value, and\n.BI \\-\\-no\\- name\nturns one off.\n"
	       "Settings (marked \\(lqsetting\\(rq) may also come from the configuration file and "
	       "the environment; see\n.BR CONFIGURATION .\n");
	for (int i = 0; i < NOPTS; i++) {
		const struct opt *o = &options[i];
		bool first = true;

		printf(".TP\n.BR \\-\\-");
		roff(o->name);
		if (o->arg != NULL) {
			printf(" \" \" ");
			roff(o->arg);
		}
		printf("\n");
		roff(o->help);
		printf(".\n");
		if (o->type == T_INT)
			printf("From %lld to %lld.\n", (long long)o->min, (long long)o->max);
		if (o->dflt != NULL && o->dflt[0] != '\0' && o->type != T_BOOL) {
			printf("Default: ");
			roff(o->dflt);
			printf(".\n");
		}
		printf("Commands: ");
		for (size_t k = 0; k < ncommands; k++) {
			if ((o->cmds & commands[k].bit) == 0)
				continue;
			printf("%s%s", first ? "" : ", ", commands[k].name);
			first = false;
		}
		printf(".%s\n", o->setting ? " Setting." : "");
	}
	printf(".SH ENVIRONMENT\n.TP\n.B DEVICELOG_CONFIG\nThe configuration file, when no\n"
	       ".B \\-\\-config\nis given.\n");
	for (int i = 0; i < NOPTS; i++) {
		char env[64];

		if (!options[i].setting)
			continue;
		env_name(&options[i], env, sizeof(env));
		printf(".TP\n.B %s\nThe setting\n.BR %s .\n", env, options[i].name);
	}
	printf(".TP\n.B JOURNAL_STREAM\nSet by systemd when standard error is the journal: log "
	       "lines then carry\nsd\\-daemon priority prefixes (<6>, <4>, <3>) instead of "
	       "\\(lqinfo: \\(rq, \\(lqwarning: \\(rq, \\(lqerror: \\(rq.\n"
	       ".TP\n.B NOTIFY_SOCKET\nSet by systemd for Type=notify services: READY=1 is sent "
	       "once the server listens,\nRELOADING=1 and READY=1 around a reload, STOPPING=1 at "
	       "the end.\n");
}

/* ---- progress on a terminal ---- */

struct progress {
	bool on;          /* stderr is a terminal and not --quiet */
	const char *what; /* "import", "demo" */
	const char *unit; /* "events", "lines" */
	dlog_time start, last;
	bool drawn;
};

static void progress_init(struct progress *p, const struct conf *c, const char *what,
                          const char *unit)
{
	memset(p, 0, sizeof(*p));
	p->on = !num(c, OPT_CLI_QUIET) && isatty(STDERR_FILENO);
	p->what = what;
	p->unit = unit;
	p->start = dlog_time_now();
}

/* done of total units; total 0 when unknown. Redrawn at most 5 times a second. */
static void progress_show(struct progress *p, size_t done, size_t total)
{
	dlog_time now = dlog_time_now(), took = now - p->start;
	double rate = took > 0 ? (double)done * 1e6 / (double)took : 0;
	char eta[32] = "";

	if (!p->on || (now - p->last < 200000 && done != total))
		return;
	p->last = now;
	if (total > 0 && done > 0 && done < total && rate > 0) {
		long s = (long)((double)(total - done) / rate);

		snprintf(eta, sizeof(eta), ", ETA %ld:%02ld", s / 60, s % 60);
	}
	fprintf(stderr, "\r\033[K%s: %zu", p->what, done);
	if (total > 0)
		fprintf(stderr, "/%zu %s (%.0f%%)", total, p->unit,
		        100.0 * (double)done / (double)total);
	else
		fprintf(stderr, " %s", p->unit);
	fprintf(stderr, ", %.0f/s%s", rate, eta);
	p->drawn = true;
}

static void progress_end(struct progress *p)
{
	if (p->drawn)
		fprintf(stderr, "\r\033[K");
	p->drawn = false;
}

static double progress_seconds(const struct progress *p)
{
	return (double)(dlog_time_now() - p->start) / 1e6;
}

static void demo_progress(void *arg, size_t done, size_t total)
{
	progress_show(arg, done, total);
}

/* ---- shared by the commands ---- */

static int open_store(const struct conf *c, struct dlog_store **s)
{
	char err[512];
	int rc = dlog_store_open(str(c, OPT_STORE), s, err, sizeof(err));

	if (rc != 0)
		dlog_log(DLOG_LOG_ERR, "cannot open store: %s", err);
	return rc;
}

/* ---- serve ---- */

/* An empty store gets one account and an admin key, printed once. */
static int first_start(struct dlog_store *s)
{
	int64_t n = 0, account;
	char key[DLOG_KEY_STRLEN];
	int rc = dlog_store_account_count(s, &n);

	if (rc != 0 || n > 0)
		return rc;
	rc = dlog_store_account(s, "default", true, &account);
	if (rc == 0)
		rc = dlog_auth_key_create(s, account, DLOG_SCOPE_ADMIN, "initial admin key", key,
		                          NULL);
	if (rc == 0) {
		printf("admin key: %s\n", key);
		fflush(stdout);
		dlog_log(DLOG_LOG_INFO, "empty store: created account 'default'; its admin key is "
		                        "printed once on stdout");
	}
	return rc;
}

static bool same(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* SIGHUP: read the configuration again (same flags, current environment and file). An invalid
 * one is logged and changes nothing. The TLS pair is re-read even when its paths did not
 * change: a renewed certificate is the usual reason to reload. Everything else a running
 * server cannot change is reported as waiting for a restart. */
static void reload(const struct command *cmd, int argc, char **argv, struct dlog_server *srv,
                   const struct conf *running)
{
	static const enum opt_id restart_only[] = {OPT_LISTEN, OPT_STORE, OPT_THREADS, OPT_QUIET,
	                                           OPT_TRUST_PROXY, OPT_RETENTION_DAYS,
	                                           OPT_RATE_KEY, OPT_RATE_KEY_BURST, OPT_RATE_IP,
	                                           OPT_RATE_IP_BURST, OPT_METRICS_LISTEN};
	struct conf *c = NULL;
	char err[512];

	sd_notify(0, "RELOADING=1\nSTATUS=reloading the configuration");
	if (conf_load(cmd, argc, argv, &c) != 0) {
		dlog_log(DLOG_LOG_ERR, "reload: the configuration is not valid; nothing changed");
		goto done;
	}
	for (size_t i = 0; i < sizeof(restart_only) / sizeof(restart_only[0]); i++)
		if (!same(str(c, restart_only[i]), str(running, restart_only[i])))
			dlog_log(DLOG_LOG_WARNING,
			         "reload: %s changed: it takes effect at the next "
			         "restart",
			         options[restart_only[i]].name);
	if ((str(c, OPT_TLS_CERT) == NULL) != (str(running, OPT_TLS_CERT) == NULL) ||
	    (str(c, OPT_TLS_KEY) == NULL) != (str(running, OPT_TLS_KEY) == NULL)) {
		dlog_log(DLOG_LOG_WARNING, "reload: turning TLS on or off takes a restart");
	} else if (str(c, OPT_TLS_CERT) != NULL) {
		if (dlog_server_reload_tls(srv, str(c, OPT_TLS_CERT), str(c, OPT_TLS_KEY), err,
		                           sizeof(err)) != 0)
			dlog_log(DLOG_LOG_ERR, "reload: %s; still serving the previous certificate",
			         err);
		else
			dlog_log(DLOG_LOG_INFO, "reload: serving the certificate of %s",
			         str(c, OPT_TLS_CERT));
	}
	dlog_log(DLOG_LOG_INFO, "reload: done");
done:
	conf_free(c);
	sd_notify(0, "READY=1\nSTATUS=serving");
}

static int cmd_serve(struct conf *c, int argc, char **argv)
{
	struct dlog_server_config cfg = {0};
	struct dlog_server *srv = NULL;
	struct dlog_store *s = NULL;
	struct dlog_retention *retention = NULL;
	const char *listen = str(c, OPT_LISTEN);
	char err[512];
	sigset_t set;
	int sig, rc;

	if (c->nargs != 0) {
		dlog_log(DLOG_LOG_ERR, "devicelog serve: takes no arguments");
		return EXIT_USAGE;
	}
	/* Block the signals before any thread starts so only sigwait below sees them. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (open_store(c, &s) != 0)
		return EXIT_FAIL;
	cfg.listen = listen;
	cfg.store = s;
	cfg.threads = (unsigned)num(c, OPT_THREADS);
	cfg.tls_cert = str(c, OPT_TLS_CERT);
	cfg.tls_key = str(c, OPT_TLS_KEY);
	cfg.log_requests = !num(c, OPT_QUIET);
	cfg.trust_proxy = num(c, OPT_TRUST_PROXY) != 0;
	/* 0 on the command line turns a limit off; in the server's config 0 means the default */
	cfg.rate_key = num(c, OPT_RATE_KEY) ? (int)num(c, OPT_RATE_KEY) : -1;
	cfg.rate_key_burst = (int)num(c, OPT_RATE_KEY_BURST);
	cfg.rate_ip = num(c, OPT_RATE_IP) ? (int)num(c, OPT_RATE_IP) : -1;
	cfg.rate_ip_burst = (int)num(c, OPT_RATE_IP_BURST);
	cfg.metrics_listen = str(c, OPT_METRICS_LISTEN);
	rc = dlog_server_start(&cfg, &srv, err, sizeof(err));
	if (rc != 0) {
		dlog_log(DLOG_LOG_ERR, "%s", err);
		dlog_store_close(s);
		return EXIT_FAIL;
	}
	/* Only once the server could start (address free, TLS pair valid): a once-shown admin key
	 * printed just before a start-up error is easy to miss, and is never shown again. */
	rc = first_start(s);
	if (rc != 0) {
		dlog_log(DLOG_LOG_ERR, "cannot initialise the store: %s", dlog_store_errmsg(s));
		dlog_server_stop(srv);
		dlog_store_close(s);
		return EXIT_FAIL;
	}
	if (num(c, OPT_RETENTION_DAYS) > 0 &&
	    dlog_retention_start(s, (int)num(c, OPT_RETENTION_DAYS), &retention) != 0) {
		dlog_log(DLOG_LOG_ERR, "cannot start retention: out of memory");
		dlog_server_stop(srv);
		dlog_store_close(s);
		return EXIT_FAIL;
	}
	dlog_log(DLOG_LOG_INFO, "devicelog %s listening on %s://%.*s:%u%s%s", VERSION,
	         cfg.tls_cert ? "https" : "http", (int)(strrchr(listen, ':') - listen), listen,
	         dlog_server_port(srv), c->file ? " config=" : "", c->file ? c->file : "");
	sd_notifyf(0, "READY=1\nSTATUS=serving on port %u\nMAINPID=%lu", dlog_server_port(srv),
	           (unsigned long)getpid());
	for (;;) {
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig != SIGHUP)
			break;
		dlog_log(DLOG_LOG_INFO, "SIGHUP: reloading the configuration");
		reload(find_command("serve"), argc, argv, srv, c);
	}
	sd_notify(0, "STOPPING=1");
	dlog_log(DLOG_LOG_INFO, "signal %d: stopping", sig);
	dlog_retention_stop(retention);
	dlog_server_stop(srv);
	dlog_store_close(s);
	dlog_log(DLOG_LOG_INFO, "stopped");
	return EXIT_OK;
}

/* ---- config ---- */

static bool listen_valid(const char *l)
{
	const char *colon = strrchr(l, ':');
	int64_t port;

	return colon != NULL && colon != l &&
	       dlog_parse_i64(colon + 1, strlen(colon + 1), 0, 65535, &port) == 0;
}

static bool readable(const char *path, const char *what)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		dlog_log(DLOG_LOG_ERR, "%s %s: %s", what, path, strerror(errno));
		return false;
	}
	close(fd);
	return true;
}

/* Semantic checks that need no server: what a start would refuse, found beforehand. */
static int check_settings(const struct conf *c)
{
	const char *store = str(c, OPT_STORE);
	int bad = 0;

	if (!listen_valid(str(c, OPT_LISTEN))) {
		dlog_log(DLOG_LOG_ERR, "listen '%s': expected IPV4:PORT, e.g. 127.0.0.1:8080",
		         str(c, OPT_LISTEN));
		bad++;
	}
	if (strncmp(store, "sqlite:", 7) != 0 && strncmp(store, "postgresql://", 13) != 0 &&
	    strncmp(store, "postgres://", 11) != 0) {
		dlog_log(DLOG_LOG_ERR, "store '%s': expected sqlite:PATH or postgresql://...",
		         store);
		bad++;
	}
	if ((str(c, OPT_TLS_CERT) == NULL) != (str(c, OPT_TLS_KEY) == NULL)) {
		dlog_log(DLOG_LOG_ERR, "tls-cert and tls-key go together");
		bad++;
	}
	if (str(c, OPT_TLS_CERT) != NULL && !readable(str(c, OPT_TLS_CERT), "tls-cert"))
		bad++;
	if (str(c, OPT_TLS_KEY) != NULL && !readable(str(c, OPT_TLS_KEY), "tls-key"))
		bad++;
	return bad ? DLOG_EINVAL : 0;
}

static int cmd_config(struct conf *c, int argc, char **argv)
{
	const char *sub = c->nargs > 0 ? c->args[0] : "";

	(void)argc;
	(void)argv;
	if (c->nargs != 1 || (strcmp(sub, "check") != 0 && strcmp(sub, "example") != 0)) {
		dlog_log(DLOG_LOG_ERR, "devicelog config: expected check or example (see --help)");
		return EXIT_USAGE;
	}
	if (strcmp(sub, "example") == 0) {
		print_example(c);
		return EXIT_OK;
	}
	if (check_settings(c) != 0)
		return EXIT_USAGE;
	for (int i = 0; i < NOPTS; i++) {
		const char *v = c->text[i] ? c->text[i] : "";
		char where[600];
		int pad;

		if (!options[i].setting)
			continue;
		if (options[i].type == T_BOOL)
			v = c->num[i] ? "true" : "false";
		origin_name(c, (enum opt_id)i, where, sizeof(where));
		/* values line up in a column: easier to read the origins */
		pad = 30 - (int)(strlen(options[i].name) + strlen(v));
		printf("%s = %s%*s# %s\n", options[i].name, v, pad > 1 ? pad : 1, "", where);
	}
	dlog_log(DLOG_LOG_INFO, "configuration ok (%s)", c->file ? c->file : "no file");
	return EXIT_OK;
}

/* ---- keys ---- */

static int print_key(void *arg, const struct dlog_key_info *k)
{
	char created[DLOG_TIME_STRLEN], revoked[DLOG_TIME_STRLEN];

	(void)arg;
	printf("%s %s %s created=%s", k->key_id, k->account, dlog_scope_name(k->scope),
	       dlog_time_format(k->created_at, created));
	if (k->revoked_at != 0)
		printf(" revoked=%s", dlog_time_format(k->revoked_at, revoked));
	if (k->name[0] != '\0')
		printf(" name=%s", k->name);
	printf("\n");
	return 0;
}

static int keys_create(const struct conf *c, struct dlog_store *s)
{
	const char *account = str(c, OPT_ACCOUNT), *scope_text = str(c, OPT_SCOPE);
	enum dlog_scope scope;
	struct dlog_key_info info;
	char key[DLOG_KEY_STRLEN];
	int64_t id;
	int rc;

	if (account == NULL || scope_text == NULL || dlog_scope_parse(scope_text, &scope) != 0) {
		dlog_log(DLOG_LOG_ERR, "devicelog keys create: --account NAME and --scope "
		                       "read|write|admin are required");
		return EXIT_USAGE;
	}
	if (strlen(account) == 0 || strlen(account) > DLOG_MAX_ACCOUNT_NAME_LEN) {
		dlog_log(DLOG_LOG_ERR,
		         "devicelog keys create: --account must be 1..%d bytes of text",
		         DLOG_MAX_ACCOUNT_NAME_LEN);
		return EXIT_USAGE;
	}
	rc = dlog_store_account(s, account, true, &id);
	if (rc == 0)
		rc = dlog_auth_key_create(s, id, scope, str(c, OPT_NAME), key, &info);
	if (rc != 0) {
		dlog_log(DLOG_LOG_ERR, "devicelog keys create: %s", dlog_store_errmsg(s));
		return EXIT_FAIL;
	}
	printf("%s\n", key);
	dlog_log(DLOG_LOG_INFO, "key id: %s", info.key_id);
	return EXIT_OK;
}

static int keys_list(const struct conf *c, struct dlog_store *s)
{
	int64_t account = 0;

	if (str(c, OPT_ACCOUNT) != NULL &&
	    dlog_store_account(s, str(c, OPT_ACCOUNT), false, &account) != 0) {
		dlog_log(DLOG_LOG_ERR, "devicelog keys list: no account '%s'", str(c, OPT_ACCOUNT));
		return EXIT_FAIL;
	}
	if (dlog_store_key_list(s, account, print_key, NULL) != 0) {
		dlog_log(DLOG_LOG_ERR, "devicelog keys list: %s", dlog_store_errmsg(s));
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

static int keys_revoke(const struct conf *c, struct dlog_store *s)
{
	int rc = dlog_store_key_revoke(s, 0, c->args[1]);

	if (rc == DLOG_ENOTFOUND)
		dlog_log(DLOG_LOG_ERR, "devicelog keys revoke: no key '%s'", c->args[1]);
	else if (rc != 0)
		dlog_log(DLOG_LOG_ERR, "devicelog keys revoke: %s", dlog_store_errmsg(s));
	else
		dlog_log(DLOG_LOG_INFO, "revoked %s", c->args[1]);
	return rc == 0 ? EXIT_OK : EXIT_FAIL;
}

static int cmd_keys(struct conf *c, int argc, char **argv)
{
	static const struct {
		const char *name;
		int nargs;
		int (*fn)(const struct conf *c, struct dlog_store *s);
	} subs[] = {{"create", 1, keys_create}, {"list", 1, keys_list}, {"revoke", 2, keys_revoke}};
	const char *sub = c->nargs > 0 ? c->args[0] : "";
	struct dlog_store *s = NULL;
	int rc;

	(void)argc;
	(void)argv;
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		if (strcmp(sub, subs[i].name) != 0)
			continue;
		if (c->nargs != subs[i].nargs) {
			dlog_log(DLOG_LOG_ERR, "devicelog keys %s: %s", sub,
			         subs[i].nargs == 2 ? "expected one KEYID" : "takes no arguments");
			return EXIT_USAGE;
		}
		if (open_store(c, &s) != 0)
			return EXIT_FAIL;
		rc = subs[i].fn(c, s);
		dlog_store_close(s);
		return rc;
	}
	dlog_log(DLOG_LOG_ERR, "devicelog keys: expected create, list or revoke (see --help)");
	return EXIT_USAGE;
}

/* ---- import ---- */

static int read_all(const char *path, struct dlog_buf *b)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	char chunk[65536];
	size_t n;
	int rc = 0;

	if (f == NULL) {
		dlog_log(DLOG_LOG_ERR, "devicelog import: cannot open %s: %s", path,
		         strerror(errno));
		return DLOG_EIO;
	}
	while (rc == 0 && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		rc = dlog_buf_add(b, chunk, n);
	if (f != stdin)
		fclose(f);
	return rc;
}

struct import_counts {
	size_t ok, rejected, dups;
};

/* Lines go through the store's group committer in windows: every valid line of a window is
 * submitted (each line all-or-nothing on its own, many lines per durable commit), then the
 * window's outcomes are counted and reported in line order. */
#define IMPORT_WINDOW 8192

struct import_window {
	pthread_mutex_t lock;
	pthread_cond_t all_done;
	size_t pending;
	struct {
		struct dlog_ingest *in;
		size_t line;
		int rc; /* parse outcome; 0 = submitted */
		struct dlog_ingest_error e;
	} slot[IMPORT_WINDOW];
	size_t n;
};

static void import_done(struct dlog_ingest *in, void *arg)
{
	struct import_window *w = arg;

	(void)in;
	pthread_mutex_lock(&w->lock);
	if (--w->pending == 0)
		pthread_cond_signal(&w->all_done);
	pthread_mutex_unlock(&w->lock);
}

static void import_reject(struct import_counts *n, struct progress *pr, size_t line,
			  const struct dlog_ingest_error *e)
{
	if (n->rejected < 10) {
		progress_end(pr);
		dlog_log(DLOG_LOG_WARNING, "line %zu: %s%s%s", line, e->field,
			 e->field[0] ? ": " : "", e->message);
	}
	n->rejected++;
}

/* Wait for the window's commits, count and report in line order, free. */
static int import_settle(struct dlog_store *s, struct import_window *w, struct import_counts *n,
			 struct progress *pr)
{
	int failed = 0;

	pthread_mutex_lock(&w->lock);
	while (w->pending > 0)
		pthread_cond_wait(&w->all_done, &w->lock);
	pthread_mutex_unlock(&w->lock);
	for (size_t i = 0; i < w->n; i++) {
		size_t count = 0, dups = 0;
		const char *detail = "";
		int rc = w->slot[i].rc;

		if (rc == 0)
			rc = dlog_ingest_outcome(w->slot[i].in, &count, &dups, &w->slot[i].e, &detail);
		if (rc == 0) {
			n->ok += count;
			n->dups += dups;
		} else if (rc == DLOG_EINVAL || rc == DLOG_ECONFLICT) {
			import_reject(n, pr, w->slot[i].line, &w->slot[i].e);
		} else if (failed == 0) {
			progress_end(pr);
			dlog_log(DLOG_LOG_ERR, "devicelog import: line %zu: %s", w->slot[i].line,
				 w->slot[i].in != NULL ? detail : dlog_store_errmsg(s));
			failed = rc;
		}
		dlog_ingest_free(w->slot[i].in);
	}
	w->n = 0;
	return failed;
}

static bool blank(const char *p, const char *le)
{
	while (p < le && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
		p++;
	return p == le;
}

/* Parse one line into the window and submit it when valid. */
static void import_line(struct dlog_store *s, int64_t account, struct import_window *w,
			const char *p, size_t len, size_t line)
{
	size_t i = w->n++;

	w->slot[i].line = line;
	w->slot[i].in = NULL;
	w->slot[i].rc = dlog_ingest_parse(p, len, true, &w->slot[i].in, &w->slot[i].e);
	if (w->slot[i].rc != 0)
		return;
	pthread_mutex_lock(&w->lock);
	w->pending++;
	pthread_mutex_unlock(&w->lock);
	w->slot[i].rc = dlog_ingest_submit(s, account, w->slot[i].in, import_done, w);
	if (w->slot[i].rc != 0) {
		pthread_mutex_lock(&w->lock);
		w->pending--;
		pthread_mutex_unlock(&w->lock);
	}
}

static int import_lines(struct dlog_store *s, int64_t account, const char *p, size_t len,
			struct import_counts *n, struct progress *pr)
{
	const char *start = p, *end = p + len;
	struct import_window *w = calloc(1, sizeof(*w));
	size_t line = 0;
	int rc = 0;

	if (w == NULL)
		return DLOG_ENOMEM;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->all_done, NULL);
	while (p < end && rc == 0) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl + 1 : end;

		line++;
		if (!blank(p, le))
			import_line(s, account, w, p, (size_t)(le - p), line);
		p = le;
		if (w->n == IMPORT_WINDOW || p >= end) {
			rc = import_settle(s, w, n, pr);
			/* bytes are the known total: the rate and ETA are in bytes' proportion */
			progress_show(pr, (size_t)(p - start), len);
		}
	}
	pthread_cond_destroy(&w->all_done);
	pthread_mutex_destroy(&w->lock);
	free(w);
	return rc;
}

static int cmd_import(struct conf *c, int argc, char **argv)
{
	struct dlog_store *s = NULL;
	struct import_counts n = {0};
	struct progress pr;
	struct dlog_buf b;
	int64_t account;
	int rc;

	(void)argc;
	(void)argv;
	if (str(c, OPT_ACCOUNT) == NULL || c->nargs != 1) {
		dlog_log(DLOG_LOG_ERR,
		         "devicelog import: --account NAME and one FILE (or -) required");
		return EXIT_USAGE;
	}
	progress_init(&pr, c, "import", "bytes");
	dlog_buf_init(&b, (size_t)1 << 34);
	rc = read_all(c->args[0], &b);
	if (rc == 0)
		rc = open_store(c, &s);
	if (rc == 0)
		rc = dlog_store_account(s, str(c, OPT_ACCOUNT), true, &account);
	if (rc == 0)
		rc = import_lines(s, account, b.data ? b.data : "", b.len, &n, &pr);
	progress_end(&pr);
	dlog_buf_done(&b);
	dlog_store_close(s);
	if (!num(c, OPT_CLI_QUIET) || rc != 0 || n.rejected > 0)
		dlog_log(n.rejected > 0 || rc != 0 ? DLOG_LOG_WARNING : DLOG_LOG_INFO,
		         "accepted %zu (%zu already present), rejected %zu in %.1f s", n.ok, n.dups,
		         n.rejected, progress_seconds(&pr));
	if (rc != 0)
		return EXIT_FAIL;
	return n.rejected > 0 ? EXIT_REJECTED : EXIT_OK;
}

/* ---- export ---- */

static int write_file(void *arg, const char *data, size_t len)
{
	return fwrite(data, 1, len, arg) == len ? 0 : DLOG_EIO;
}

static int cmd_export(struct conf *c, int argc, char **argv)
{
	const char *filter = str(c, OPT_FILTER) ? str(c, OPT_FILTER) : "";
	const char *path = c->nargs == 1 ? c->args[0] : "-";
	const char *fmt = str(c, OPT_FORMAT);
	enum dlog_export_format format;
	struct dlog_query_error qe;
	struct dlog_store *s = NULL;
	struct dlog_query q;
	struct progress pr;
	uint64_t rows = 0;
	int64_t account = 0;
	FILE *f;
	int rc;

	(void)argc;
	(void)argv;
	if (str(c, OPT_ACCOUNT) == NULL || c->nargs > 1 ||
	    dlog_export_format_parse(fmt, strlen(fmt), &format) != 0) {
		dlog_log(DLOG_LOG_ERR, "devicelog export: --account NAME, --format ndjson|csv and at "
				       "most one FILE (or -)");
		return EXIT_USAGE;
	}
	if (dlog_query_parse(filter, strlen(filter), DLOG_DIALECT_EVENTS, &q, &qe) != 0) {
		dlog_log(DLOG_LOG_ERR, "devicelog export: --filter: %s: %s", qe.name, qe.message);
		return EXIT_USAGE;
	}
	if (open_store(c, &s) != 0) {
		dlog_query_done(&q);
		return EXIT_FAIL;
	}
	progress_init(&pr, c, "export", "events");
	rc = dlog_store_account(s, str(c, OPT_ACCOUNT), false, &account);
	if (rc != 0) {
		dlog_log(DLOG_LOG_ERR, "devicelog export: no account '%s'", str(c, OPT_ACCOUNT));
		dlog_query_done(&q);
		goto out;
	}
	f = strcmp(path, "-") == 0 ? stdout : fopen(path, "wb");
	if (f == NULL) {
		dlog_log(DLOG_LOG_ERR, "devicelog export: cannot write %s: %s", path, strerror(errno));
		dlog_query_done(&q);
		rc = DLOG_EIO;
		goto out;
	}
	rc = dlog_export(s, account, &q, format, write_file, f, &rows);
	if ((f == stdout ? fflush(f) : fclose(f)) != 0 && rc == 0)
		rc = DLOG_EIO;
	if (rc != 0)
		dlog_log(DLOG_LOG_ERR, "devicelog export: %s",
			 rc == DLOG_EIO ? strerror(errno) : dlog_store_errmsg(s));
	else if (!num(c, OPT_CLI_QUIET))
		dlog_log(DLOG_LOG_INFO, "exported %llu events in %.1f s", (unsigned long long)rows,
			 progress_seconds(&pr));
out:
	dlog_store_close(s);
	return rc == 0 ? EXIT_OK : EXIT_FAIL;
}

/* ---- copy ---- */

static void copy_progress(void *arg, const struct dlog_copy_stats *st)
{
	progress_show(arg, (size_t)st->events, 0);
}

static int cmd_copy(struct conf *c, int argc, char **argv)
{
	struct dlog_store *from = NULL, *to = NULL;
	struct dlog_copy_stats st;
	struct progress pr;
	char err[512];
	int rc;

	(void)argc;
	(void)argv;
	if (str(c, OPT_FROM) == NULL || str(c, OPT_TO) == NULL || c->nargs != 0) {
		dlog_log(DLOG_LOG_ERR, "devicelog copy: --from URL and --to URL are required");
		return EXIT_USAGE;
	}
	rc = dlog_store_open(str(c, OPT_FROM), &from, err, sizeof(err));
	if (rc == 0)
		rc = dlog_store_open(str(c, OPT_TO), &to, err, sizeof(err));
	if (rc != 0) {
		dlog_log(DLOG_LOG_ERR, "devicelog copy: cannot open store: %s", err);
		goto out;
	}
	progress_init(&pr, c, "copy", "events");
	rc = dlog_store_copy(from, to, str(c, OPT_ACCOUNT), copy_progress, &pr, &st, err,
			     sizeof(err));
	progress_end(&pr);
	if (rc != 0)
		dlog_log(DLOG_LOG_ERR, "devicelog copy: %s", err);
	if (rc != 0 || !num(c, OPT_CLI_QUIET))
		dlog_log(rc != 0 ? DLOG_LOG_WARNING : DLOG_LOG_INFO,
			 "copied %llu accounts, %llu keys, %llu groups, %llu members, %llu events "
			 "in %.1f s", (unsigned long long)st.accounts, (unsigned long long)st.keys,
			 (unsigned long long)st.groups, (unsigned long long)st.members,
			 (unsigned long long)st.events, progress_seconds(&pr));
out:
	dlog_store_close(to);
	dlog_store_close(from);
	return rc == 0 ? EXIT_OK : EXIT_FAIL;
}

/* ---- backup ---- */

static int cmd_backup(struct conf *c, int argc, char **argv)
{
	struct dlog_store *s = NULL;
	struct progress pr;
	int64_t bytes = 0;
	int rc;

	(void)argc;
	(void)argv;
	if (c->nargs != 1 || strcmp(c->args[0], "-") == 0) {
		dlog_log(DLOG_LOG_ERR, "devicelog backup: one FILE to write the copy to");
		return EXIT_USAGE;
	}
	if (open_store(c, &s) != 0)
		return EXIT_FAIL;
	progress_init(&pr, c, "backup", "bytes");
	rc = dlog_store_backup(s, c->args[0], &bytes);
	if (rc == DLOG_EUNAVAIL && strncmp(str(c, OPT_STORE), "sqlite:", 7) != 0)
		dlog_log(DLOG_LOG_ERR, "devicelog backup: only a SQLite store is backed up this "
				       "way; back up PostgreSQL with pg_dump");
	else if (rc != 0)
		dlog_log(DLOG_LOG_ERR, "devicelog backup: %s", dlog_store_errmsg(s));
	else if (!num(c, OPT_CLI_QUIET))
		dlog_log(DLOG_LOG_INFO, "wrote %s: %lld bytes in %.1f s", c->args[0],
			 (long long)bytes, progress_seconds(&pr));
	dlog_store_close(s);
	return rc == 0 ? EXIT_OK : EXIT_FAIL;
}

/* ---- demo ---- */

static int cmd_demo(struct conf *c, int argc, char **argv)
{
	struct dlog_demo_config cfg;
	struct dlog_store *s = NULL;
	const char *account = str(c, OPT_ACCOUNT) ? str(c, OPT_ACCOUNT) : "default";
	struct progress pr;
	int64_t id;
	size_t n = 0;
	int rc;

	(void)argc;
	(void)argv;
	cfg.devices = (unsigned)num(c, OPT_DEVICES);
	cfg.days = (unsigned)num(c, OPT_DAYS);
	cfg.seed = (uint64_t)num(c, OPT_SEED);
	if (open_store(c, &s) != 0)
		return EXIT_FAIL;
	progress_init(&pr, c, "demo", "events");
	rc = dlog_store_account(s, account, true, &id);
	if (rc == 0)
		rc = dlog_demo_generate(s, id, &cfg, &n, demo_progress, &pr);
	progress_end(&pr);
	if (rc != 0)
		dlog_log(DLOG_LOG_ERR, "devicelog demo: %s", dlog_store_errmsg(s));
	else if (!num(c, OPT_CLI_QUIET))
		dlog_log(DLOG_LOG_INFO, "demo fleet: %u devices, %u days, %zu events in %.1f s",
		         cfg.devices, cfg.days, n, progress_seconds(&pr));
	dlog_store_close(s);
	return rc == 0 ? EXIT_OK : EXIT_FAIL;
}

static void main_usage(FILE *f)
{
	fprintf(f,
	        "devicelog %s: a device event log service\n\nusage: devicelog COMMAND "
	        "[options]\n\ncommands:\n",
	        VERSION);
	for (size_t i = 0; i < ncommands; i++)
		fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].usage);
	fprintf(f, "\n'devicelog COMMAND --help' describes each command; man 8 devicelog the "
	           "rest.\n");
}

int main(int argc, char **argv)
{
	const struct command *cmd;
	struct conf *c = NULL;
	int rc;

	dlog_log_init(-1);
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		main_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : EXIT_OK;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("devicelog %s\n", VERSION);
		return EXIT_OK;
	}
	if (strcmp(argv[1], "--help-man") == 0) {
		print_man_sections();
		return EXIT_OK;
	}
	cmd = find_command(argv[1]);
	if (cmd == NULL) {
		dlog_log(DLOG_LOG_ERR, "devicelog: unknown command '%s'", argv[1]);
		main_usage(stderr);
		return EXIT_USAGE;
	}
	rc = conf_load(cmd, argc - 2, argv + 2, &c);
	if (rc != 0)
		return rc == DLOG_ENOMEM ? EXIT_FAIL : EXIT_USAGE;
	if (num(c, OPT_HELP)) {
		usage(cmd);
		conf_free(c);
		return EXIT_OK;
	}
	rc = cmd->run(c, argc - 2, argv + 2);
	conf_free(c);
	return rc;
}
