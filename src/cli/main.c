/* devicelog: command-line entry point. Parses arguments and wires the parts; no logic of its
 * own beyond that. Every command's options come from one table, which also prints --help. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "auth/auth.h"
#include "base/limits.h"
#include "demo/demo.h"
#include "http/http.h"
#include "store/store.h"

#define VERSION "0.1.0"

/* Parsed options of every command (the program's one parsed configuration). */
struct opts {
	const char *listen;
	const char *store;
	const char *account;
	const char *scope;
	const char *name;
	const char *tls_cert;
	const char *tls_key;
	const char *threads;
	const char *devices;
	const char *days;
	const char *seed;
	int quiet;
	int help;
	const char *args[4]; /* positional arguments */
	int nargs;
};

struct opt {
	const char *name;   /* without the leading -- */
	size_t offset;      /* of a const char * (or int for flags) in struct opts */
	int flag;           /* takes no value */
	const char *help;
};

#define O(field) offsetof(struct opts, field)
static const struct opt store_opt = {"store", O(store), 0,
				     "store URL: sqlite:PATH (default $DEVICELOG_STORE or "
				     "sqlite:devicelog.db)"};
static const struct opt help_opt = {"help", O(help), 1, "show this help"};

struct command {
	const char *name;
	const char *usage;
	const char *summary;
	int (*run)(struct opts *o);
	struct opt opts[8];
};

static void *field(struct opts *o, size_t off)
{
	return (char *)o + off;
}

static int parse_args(const struct command *c, int argc, char **argv, struct opts *o)
{
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		const struct opt *hit = NULL;

		if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
			if (o->nargs == (int)(sizeof(o->args) / sizeof(o->args[0]))) {
				fprintf(stderr, "devicelog %s: too many arguments\n", c->name);
				return -1;
			}
			o->args[o->nargs++] = a;
			continue;
		}
		for (const struct opt *p = c->opts; p->name != NULL; p++)
			if (strcmp(a + 2, p->name) == 0)
				hit = p;
		if (hit == NULL) {
			fprintf(stderr, "devicelog %s: unknown option %s (see --help)\n", c->name, a);
			return -1;
		}
		if (hit->flag) {
			*(int *)field(o, hit->offset) = 1;
			continue;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "devicelog %s: %s needs a value\n", c->name, a);
			return -1;
		}
		*(const char **)field(o, hit->offset) = argv[++i];
	}
	return 0;
}

static void usage(const struct command *c)
{
	printf("usage: devicelog %s\n\n%s\n\noptions:\n", c->usage, c->summary);
	for (const struct opt *p = c->opts; p->name != NULL; p++)
		printf("  --%-12s %s\n", p->name, p->help);
}

static int open_store(struct opts *o, struct dlog_store **s)
{
	char err[512];
	const char *url = o->store ? o->store : getenv("DEVICELOG_STORE");
	int rc;

	if (url == NULL || url[0] == '\0')
		url = "sqlite:devicelog.db";
	rc = dlog_store_open(url, s, err, sizeof(err));
	if (rc != 0)
		fprintf(stderr, "devicelog: cannot open store: %s\n", err);
	return rc;
}

static int number(const char *what, const char *s, int64_t min, int64_t max, int64_t dflt,
		  int64_t *out)
{
	if (s == NULL) {
		*out = dflt;
		return 0;
	}
	if (dlog_parse_i64(s, strlen(s), min, max, out) != 0) {
		fprintf(stderr, "devicelog: --%s must be a whole number from %lld to %lld\n", what,
			(long long)min, (long long)max);
		return DLOG_EINVAL;
	}
	return 0;
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
		fprintf(stderr, "info: empty store: created account 'default'; its admin key is "
				"printed once on stdout\n");
	}
	return rc;
}

static int cmd_serve(struct opts *o)
{
	struct dlog_server_config cfg = {0};
	struct dlog_server *srv = NULL;
	struct dlog_store *s = NULL;
	char err[512];
	int64_t threads;
	sigset_t set;
	int sig, rc;

	if (number("threads", o->threads, 0, 16, 0, &threads) != 0)
		return 2;
	/* Block the stop signals before any thread starts so only sigwait below sees them. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (open_store(o, &s) != 0)
		return 1;
	rc = first_start(s);
	if (rc != 0) {
		fprintf(stderr, "devicelog: cannot initialise the store: %s\n", dlog_store_errmsg(s));
		dlog_store_close(s);
		return 1;
	}
	cfg.listen = o->listen ? o->listen : "127.0.0.1:8080";
	cfg.store = s;
	cfg.threads = (unsigned)threads;
	cfg.tls_cert = o->tls_cert;
	cfg.tls_key = o->tls_key;
	cfg.log_requests = !o->quiet;
	rc = dlog_server_start(&cfg, &srv, err, sizeof(err));
	if (rc != 0) {
		fprintf(stderr, "devicelog: %s\n", err);
		dlog_store_close(s);
		return 1;
	}
	fprintf(stderr, "info: devicelog %s listening on %s://%.*s:%u\n", VERSION,
		o->tls_cert ? "https" : "http", (int)(strrchr(cfg.listen, ':') - cfg.listen),
		cfg.listen, dlog_server_port(srv));
	while (sigwait(&set, &sig) != 0)
		;
	fprintf(stderr, "info: signal %d: stopping\n", sig);
	dlog_server_stop(srv);
	dlog_store_close(s);
	fprintf(stderr, "info: stopped\n");
	return 0;
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

static int keys_create(struct opts *o, struct dlog_store *s)
{
	enum dlog_scope scope;
	struct dlog_key_info info;
	char key[DLOG_KEY_STRLEN];
	int64_t account;
	int rc;

	if (o->account == NULL || o->scope == NULL || dlog_scope_parse(o->scope, &scope) != 0) {
		fprintf(stderr, "devicelog keys create: --account NAME and --scope "
				"read|write|admin are required\n");
		return 2;
	}
	if (strlen(o->account) == 0 || strlen(o->account) > DLOG_MAX_ACCOUNT_NAME_LEN ||
	    !dlog_text_valid(o->account, strlen(o->account))) {
		fprintf(stderr, "devicelog keys create: --account must be 1..%d bytes of text\n",
			DLOG_MAX_ACCOUNT_NAME_LEN);
		return 2;
	}
	rc = dlog_store_account(s, o->account, true, &account);
	if (rc == 0)
		rc = dlog_auth_key_create(s, account, scope, o->name ? o->name : "", key, &info);
	if (rc != 0) {
		fprintf(stderr, "devicelog keys create: %s\n", dlog_store_errmsg(s));
		return 1;
	}
	printf("%s\n", key);
	fprintf(stderr, "key id: %s\n", info.key_id);
	return 0;
}

static int cmd_keys(struct opts *o)
{
	struct dlog_store *s = NULL;
	const char *sub = o->nargs > 0 ? o->args[0] : "";
	int rc = 2;

	if (strcmp(sub, "create") != 0 && strcmp(sub, "list") != 0 && strcmp(sub, "revoke") != 0) {
		fprintf(stderr, "devicelog keys: expected create, list or revoke (see --help)\n");
		return 2;
	}
	if (strcmp(sub, "revoke") == 0 && o->nargs != 2) {
		fprintf(stderr, "devicelog keys revoke: expected one KEYID\n");
		return 2;
	}
	if (open_store(o, &s) != 0)
		return 1;
	if (strcmp(sub, "create") == 0) {
		rc = keys_create(o, s);
	} else if (strcmp(sub, "list") == 0) {
		int64_t account = 0;

		rc = 0;
		if (o->account != NULL && dlog_store_account(s, o->account, false, &account) != 0) {
			fprintf(stderr, "devicelog keys list: no account '%s'\n", o->account);
			rc = 1;
		}
		if (rc == 0 && dlog_store_key_list(s, account, print_key, NULL) != 0) {
			fprintf(stderr, "devicelog keys list: %s\n", dlog_store_errmsg(s));
			rc = 1;
		}
	} else {
		rc = dlog_store_key_revoke(s, 0, o->args[1]);
		if (rc == DLOG_ENOTFOUND)
			fprintf(stderr, "devicelog keys revoke: no key '%s'\n", o->args[1]);
		else if (rc != 0)
			fprintf(stderr, "devicelog keys revoke: %s\n", dlog_store_errmsg(s));
		else
			fprintf(stderr, "revoked %s\n", o->args[1]);
		rc = rc == 0 ? 0 : 1;
	}
	dlog_store_close(s);
	return rc;
}

/* ---- import ---- */

static int read_all(const char *path, struct dlog_buf *b)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	char chunk[65536];
	size_t n;
	int rc = 0;

	if (f == NULL) {
		fprintf(stderr, "devicelog import: cannot open %s: %s\n", path, strerror(errno));
		return DLOG_EIO;
	}
	while (rc == 0 && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		rc = dlog_buf_add(b, chunk, n);
	if (f != stdin)
		fclose(f);
	return rc;
}

/* Import line by line in batches; a bad line is reported and skipped, the rest go in. */
static int import_lines(struct dlog_store *s, int64_t account, const char *p, size_t len,
			size_t *ok, size_t *rejected, size_t *dup_total)
{
	const char *end = p + len;
	size_t line = 0;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl + 1 : end;
		struct dlog_ingest_error e;
		size_t count = 0, dups = 0;
		bool single;
		int rc;

		line++;
		rc = dlog_ingest(s, account, p, (size_t)(le - p), true, &count, &dups, NULL,
				 &single, &e);
		if (rc == 0) {
			*ok += count;
			*dup_total += dups;
		} else if (rc == DLOG_EINVAL && e.message[0] == 't' &&
			   strstr(e.message, "no events")) {
			/* a blank line */
		} else if (rc == DLOG_EINVAL || rc == DLOG_ECONFLICT) {
			if (*rejected < 10)
				fprintf(stderr, "line %zu: %s%s%s\n", line, e.field,
					e.field[0] ? ": " : "", e.message);
			(*rejected)++;
		} else {
			fprintf(stderr, "devicelog import: line %zu: %s\n", line,
				dlog_store_errmsg(s));
			return rc;
		}
		p = le;
	}
	return 0;
}

static int cmd_import(struct opts *o)
{
	struct dlog_store *s = NULL;
	struct dlog_buf b;
	size_t ok = 0, rejected = 0, dups = 0;
	int64_t account;
	int rc;

	if (o->account == NULL || o->nargs != 1) {
		fprintf(stderr, "devicelog import: --account NAME and one FILE (or -) required\n");
		return 2;
	}
	dlog_buf_init(&b, (size_t)1 << 34);
	rc = read_all(o->args[0], &b);
	if (rc == 0)
		rc = open_store(o, &s);
	if (rc == 0)
		rc = dlog_store_account(s, o->account, true, &account);
	if (rc == 0)
		rc = import_lines(s, account, b.data ? b.data : "", b.len, &ok, &rejected, &dups);
	dlog_buf_done(&b);
	dlog_store_close(s);
	fprintf(stderr, "accepted %zu (%zu already present), rejected %zu\n", ok, dups, rejected);
	if (rc != 0)
		return 1;
	return rejected > 0 ? 3 : 0;
}

/* ---- demo ---- */

static int cmd_demo(struct opts *o)
{
	struct dlog_demo_config cfg;
	struct dlog_store *s = NULL;
	int64_t devices, days, seed, account;
	size_t n = 0;
	int rc;

	if (number("devices", o->devices, 1, 10000000, 2000, &devices) != 0 ||
	    number("days", o->days, 1, 3650, 60, &days) != 0 ||
	    number("seed", o->seed, 0, INT64_MAX, 1, &seed) != 0)
		return 2;
	cfg.devices = (unsigned)devices;
	cfg.days = (unsigned)days;
	cfg.seed = (uint64_t)seed;
	if (open_store(o, &s) != 0)
		return 1;
	rc = dlog_store_account(s, o->account ? o->account : "default", true, &account);
	if (rc == 0)
		rc = dlog_demo_generate(s, account, &cfg, &n, NULL, NULL);
	if (rc != 0)
		fprintf(stderr, "devicelog demo: %s\n", dlog_store_errmsg(s));
	else if (!o->quiet)
		fprintf(stderr, "demo fleet: %lld devices, %lld days, %zu events\n",
			(long long)devices, (long long)days, n);
	dlog_store_close(s);
	return rc == 0 ? 0 : 1;
}

static const struct command commands[] = {
	{"serve", "serve [--listen HOST:PORT] [--store URL] [options]",
	 "Serve the API and the portal. On an empty store, creates account 'default' and prints "
	 "its admin key once.\nSIGTERM/SIGINT: stop accepting, finish requests, close the store.",
	 cmd_serve,
	 {{"listen", O(listen), 0, "address to listen on (default 127.0.0.1:8080; port 0: any)"},
	  store_opt,
	  {"threads", O(threads), 0, "listening threads (default: one per CPU, at most 16)"},
	  {"tls-cert", O(tls_cert), 0, "PEM certificate: serve HTTPS (with --tls-key)"},
	  {"tls-key", O(tls_key), 0, "PEM private key"},
	  {"quiet", O(quiet), 1, "no per-request log lines"},
	  help_opt}},
	{"keys", "keys create --account NAME --scope read|write|admin [--name LABEL] | keys list "
		 "[--account NAME] | keys revoke KEYID  [--store URL]",
	 "Manage access keys. create prints the new key alone on stdout (shown once; only its "
	 "hash is kept)\nand its key id on stderr; list never shows secrets.",
	 cmd_keys,
	 {store_opt,
	  {"account", O(account), 0, "account name (created when new)"},
	  {"scope", O(scope), 0, "read (GET), write (+ingest) or admin (+key management)"},
	  {"name", O(name), 0, "a label for the key"},
	  help_opt}},
	{"import", "import --account NAME [--store URL] FILE|-",
	 "Import NDJSON events (one object per line) with the API's validation. Reports accepted "
	 "and\nrejected counts and the first errors; exit 3 when any line was rejected.",
	 cmd_import,
	 {store_opt, {"account", O(account), 0, "account name (created when new)"}, help_opt}},
	{"demo", "demo [--store URL] [--devices N] [--days D] [--seed S] [--account NAME]",
	 "Add a realistic demo fleet: registrations, bootstraps, deregistrations and three "
	 "update\ncampaigns using every failure code.",
	 cmd_demo,
	 {store_opt,
	  {"devices", O(devices), 0, "number of devices (default 2000)"},
	  {"days", O(days), 0, "days of history ending now (default 60)"},
	  {"seed", O(seed), 0, "random seed (default 1)"},
	  {"account", O(account), 0, "account (default 'default')"},
	  {"quiet", O(quiet), 1, "no summary"},
	  help_opt}},
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void main_usage(FILE *f)
{
	fprintf(f, "devicelog %s: a device event log service\n\nusage: devicelog COMMAND "
		   "[options]\n\ncommands:\n", VERSION);
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].usage);
	fprintf(f, "\n'devicelog COMMAND --help' describes each command.\n");
}

int main(int argc, char **argv)
{
	struct opts o;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		main_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("devicelog %s\n", VERSION);
		return 0;
	}
	for (size_t i = 0; i < NCOMMANDS; i++) {
		if (strcmp(argv[1], commands[i].name) != 0)
			continue;
		memset(&o, 0, sizeof(o));
		if (parse_args(&commands[i], argc - 2, argv + 2, &o) != 0)
			return 2;
		if (o.help) {
			usage(&commands[i]);
			return 0;
		}
		return commands[i].run(&o);
	}
	fprintf(stderr, "devicelog: unknown command '%s'\n", argv[1]);
	main_usage(stderr);
	return 2;
}
