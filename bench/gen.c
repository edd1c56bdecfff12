/* gen: a deterministic fleet of device events for the benchmark (bench/run.sh).
 *
 * Writes NDJSON in request-sized blocks. Each block belongs to one account and starts with a
 * directive line "#<account index>" (load.c sends the lines after it with that account's key;
 * a line starting with '#' is never an event). Blocks come in time order: block round i holds
 * the i-th slice of every account's two years, so the store grows the way a fleet's log grows,
 * with date_times roughly increasing and jittered (within a block by up to an hour; across
 * accounts by up to one slice).
 *
 * Everything derives from one splitmix64 seed, so two runs with the same arguments write the
 * same bytes; device and campaign ids are 32 lowercase hex. */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_ACCOUNTS 10000
#define CAMPAIGNS_PER_ACCOUNT 20
/* 11 % of events carry a campaign id (the fleet shape) */
#define CAMPAIGN_PERMILLE 110

struct code {
	const char *code;
	unsigned weight; /* relative frequency */
};

/* 30 of the catalog's codes, every seed code family among them. Weights: a fleet's log is
 * mostly lifecycle and campaign notices and successes; each failure code is rarer. */
static const struct code codes[] = {
	{"SYS_100", 20},      {"SYS_101", 4},       {"SYS_102", 4},       {"SYS_103", 3},
	{"SYS_104", 3},       {"SYS_105", 20},      {"SYS_106", 120},     {"SYS_107", 120},
	{"SYS_108", 90},      {"SYS_109", 60},      {"SYS_110", 25},      {"SYS_111", 4},
	{"SYS_112", 150},     {"UPD2_OK_18", 150},  {"UPD4_FAIL_21", 10}, {"UPD4_FAIL_22", 10},
	{"UPD4_FAIL_23", 10}, {"UPD4_FAIL_24", 40}, {"UPD4_FAIL_25", 10}, {"UPD4_FAIL_26", 10},
	{"UPD4_FAIL_27", 8},  {"UPD4_FAIL_28", 8},  {"UPD4_FAIL_29", 8},  {"UPD4_FAIL_30", 8},
	{"UPD4_FAIL_31", 8},  {"UPD4_FAIL_32", 8},  {"UPD4_FAIL_33", 15}, {"UPD4_FAIL_34", 15},
	{"UPD4_FAIL_35", 15}, {"UPD4_FAIL_36", 15},
};
#define NCODES (sizeof(codes) / sizeof(codes[0]))

static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* A stable 32-hex id for (kind, index): the same device or campaign in every run. */
static void hex_id(uint64_t seed, uint64_t kind, uint64_t index, char out[33])
{
	uint64_t s = seed ^ (kind << 56) ^ (index * 0x2545f4914f6cdd1dULL);
	uint64_t a = splitmix64(&s), b = splitmix64(&s);

	snprintf(out, 33, "%016" PRIx64 "%016" PRIx64, a, b);
}

static int parse_u64(const char *name, const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
		fprintf(stderr, "gen: %s must be a whole number from %" PRIu64 " to %" PRIu64 "\n",
			name, min, max);
		return -1;
	}
	*out = v;
	return 0;
}

struct cfg {
	uint64_t events, accounts, devices, batch, end, days, seed;
};

static int parse(int argc, char **argv, struct cfg *c)
{
	static const struct {
		const char *name;
		size_t off;
		uint64_t min, max;
	} opts[] = {
		{"--events", offsetof(struct cfg, events), 1, 1000000000},
		{"--accounts", offsetof(struct cfg, accounts), 1, MAX_ACCOUNTS},
		{"--devices", offsetof(struct cfg, devices), 1, 100000000},
		{"--batch", offsetof(struct cfg, batch), 1, 10000},
		{"--end", offsetof(struct cfg, end), 86400, 10000000000},
		{"--days", offsetof(struct cfg, days), 1, 36500},
		{"--seed", offsetof(struct cfg, seed), 0, UINT64_MAX},
	};

	for (int i = 1; i < argc; i += 2) {
		size_t k = 0;

		while (k < sizeof(opts) / sizeof(opts[0]) && strcmp(argv[i], opts[k].name) != 0)
			k++;
		if (k == sizeof(opts) / sizeof(opts[0]) || i + 1 >= argc) {
			fprintf(stderr, "usage: gen [--events N] [--accounts A] [--devices D] "
					"[--batch B] [--end UNIXSEC] [--days D] [--seed S] > out\n");
			return -1;
		}
		if (parse_u64(opts[k].name, argv[i + 1], opts[k].min, opts[k].max,
			      (uint64_t *)((char *)c + opts[k].off)) != 0)
			return -1;
	}
	if (c->devices < c->accounts) {
		fprintf(stderr, "gen: need at least one device per account\n");
		return -1;
	}
	return 0;
}

/* One event line. t: microseconds since the epoch. */
static void event_line(FILE *out, const char *dev, const char *code, int64_t t, const char *camp)
{
	time_t secs = (time_t)(t / 1000000);
	struct tm tm;

	gmtime_r(&secs, &tm);
	fprintf(out,
		"{\"device_id\":\"%s\",\"event_type\":\"%s\",\"date_time\":"
		"\"%04d-%02d-%02dT%02d:%02d:%02d.%06dZ\"",
		dev, code, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
		tm.tm_sec, (int)(t % 1000000));
	if (camp != NULL)
		fprintf(out, ",\"data\":{\"campaign_id\":\"%s\"}", camp);
	fputs("}\n", out);
}

static const char *pick_code(uint64_t r, unsigned total)
{
	unsigned x = (unsigned)(r % total);

	for (size_t i = 0; i < NCODES; i++) {
		if (x < codes[i].weight)
			return codes[i].code;
		x -= codes[i].weight;
	}
	return codes[0].code;
}

int main(int argc, char **argv)
{
	struct cfg c = {1000000, 100, 100000, 10000, 0, 730, 1};
	uint64_t per_account, rounds, rng, devs_per_account;
	unsigned total = 0;
	int64_t start, span;
	static char buf[1 << 20];

	c.end = (uint64_t)time(NULL);
	if (parse(argc, argv, &c) != 0)
		return 2;
	setvbuf(stdout, buf, _IOFBF, sizeof(buf));
	for (size_t i = 0; i < NCODES; i++)
		total += codes[i].weight;
	per_account = c.events / c.accounts;
	if (per_account == 0) {
		fprintf(stderr, "gen: fewer events than accounts\n");
		return 2;
	}
	rounds = (per_account + c.batch - 1) / c.batch;
	devs_per_account = c.devices / c.accounts;
	span = (int64_t)c.days * 86400 * 1000000;
	start = (int64_t)c.end * 1000000 - span;
	rng = c.seed;
	for (uint64_t r = 0; r < rounds; r++) {
		uint64_t first = r * c.batch;
		uint64_t n = per_account - first < c.batch ? per_account - first : c.batch;

		for (uint64_t a = 0; a < c.accounts; a++) {
			printf("#%" PRIu64 "\n", a);
			for (uint64_t j = 0; j < n; j++) {
				uint64_t k = first + j; /* the account's k-th event */
				/* evenly spaced over the two years, plus up to an hour of jitter */
				int64_t t = start + (int64_t)((double)span * (double)k /
							      (double)per_account);
				uint64_t r1 = splitmix64(&rng), r2 = splitmix64(&rng);
				char dev[33], camp[33];
				bool has_camp = r2 % 1000 < CAMPAIGN_PERMILLE;

				t += (int64_t)(r1 % 3600000000ULL);
				if (t >= (int64_t)c.end * 1000000)
					t = (int64_t)c.end * 1000000 - 1;
				hex_id(c.seed, 1, a * devs_per_account + (r1 >> 32) % devs_per_account,
				       dev);
				/* campaigns run one after another: the one of this slice of time */
				if (has_camp)
					hex_id(c.seed, 2,
					       a * CAMPAIGNS_PER_ACCOUNT +
						       k * CAMPAIGNS_PER_ACCOUNT / per_account,
					       camp);
				event_line(stdout, dev, pick_code(r2 >> 16, total), t,
					   has_camp ? camp : NULL);
			}
		}
	}
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "gen: write error: %s\n", strerror(errno));
		return 1;
	}
	return 0;
}
