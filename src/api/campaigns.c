/* /v3/update-campaigns/{campaign_id}/statistics...: how a campaign went, from the events whose
 * data.campaign_id names it.
 *
 * Answered from counters the store maintains from its event log (as of every acknowledged
 * event), not from a scan. Two counts per code: "count" is devices (each device counted once,
 * under the code of its latest event in the campaign: where it stands now), "events_count" is
 * events (every event of the code). */
#include "api/api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/limits.h"
#include "catalog/catalog.h"

/* summary_status_id values, in the order lists show them */
static const struct {
	const char *id;
	enum dlog_mtype mtype;
} statuses[] = {
	{"fail", DLOG_MTYPE_FAIL},
	{"info", DLOG_MTYPE_INFO},
	{"skipped", DLOG_MTYPE_SKIPPED},
	{"success", DLOG_MTYPE_SUCCESS},
};
#define NSTATUS (sizeof(statuses) / sizeof(statuses[0]))
#define MAX_CODES 256

struct stats {
	struct {
		char event_type[DLOG_MAX_EVENT_TYPE_LEN + 1];
		enum dlog_mtype mtype;
		int64_t events, devices;
		dlog_time first_at;
	} codes[MAX_CODES];
	size_t n;
};

static int collect(void *arg, const struct dlog_campaign_code *c)
{
	struct stats *s = arg;

	if (s->n == MAX_CODES)
		return 0; /* more distinct codes than any campaign has: keep the first */
	snprintf(s->codes[s->n].event_type, sizeof(s->codes[0].event_type), "%s", c->event_type);
	s->codes[s->n].mtype = c->mtype;
	s->codes[s->n].events = c->events;
	s->codes[s->n].devices = c->devices;
	s->codes[s->n].first_at = c->first_at;
	s->n++;
	return 0;
}

static int load(struct dlog_req *r, struct stats *s)
{
	int rc;

	s->n = 0;
	rc = dlog_store_campaign_stats(r->store, r->key.account_id, r->params[0], collect, s);
	if (rc == DLOG_ENOTFOUND)
		return dlog_http_error(r, rc, "no events of update campaign '%.64s'", r->params[0]);
	if (rc != 0)
		return dlog_http_error(r, rc, "cannot read the statistics: %s",
				       dlog_store_errmsg(r->store));
	return 0;
}

static int status_row(const char *id)
{
	for (size_t i = 0; i < NSTATUS; i++)
		if (strcmp(id, statuses[i].id) == 0)
			return (int)i;
	return -1;
}

static void summary_json(struct dlog_jw *w, const struct stats *s, const char *campaign, int st)
{
	int64_t devices = 0, events = 0;
	dlog_time first = 0;

	for (size_t i = 0; i < s->n; i++) {
		if (s->codes[i].mtype != statuses[st].mtype)
			continue;
		devices += s->codes[i].devices;
		events += s->codes[i].events;
		if (first == 0 || s->codes[i].first_at < first)
			first = s->codes[i].first_at;
	}
	dlog_jw_obj(w);
	dlog_jw_kstr(w, "object", "summary_status");
	dlog_jw_kstr(w, "id", statuses[st].id);
	dlog_jw_kstr(w, "summary_status", dlog_mtype_name(statuses[st].mtype));
	dlog_jw_kstr(w, "campaign_id", campaign);
	dlog_jw_kint(w, "count", devices);
	dlog_jw_kint(w, "events_count", events);
	if (first != 0)
		dlog_jw_ktime(w, "created_at", first);
	else
		dlog_jw_kstr(w, "created_at", NULL);
	dlog_jw_obj_end(w);
}

static void event_type_json(struct dlog_jw *w, const struct stats *s, size_t i,
			    const char *campaign, int st)
{
	const struct dlog_code *c = dlog_catalog_find(s->codes[i].event_type,
						      strlen(s->codes[i].event_type));
	char id[DLOG_MAX_EVENT_TYPE_LEN + 1];
	size_t k;

	for (k = 0; s->codes[i].event_type[k] != '\0'; k++) {
		char ch = s->codes[i].event_type[k];

		id[k] = ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
	}
	id[k] = '\0';
	dlog_jw_obj(w);
	dlog_jw_kstr(w, "object", "event-type");
	dlog_jw_kstr(w, "id", id);
	dlog_jw_kstr(w, "event_type", s->codes[i].event_type);
	dlog_jw_kstr(w, "summary_status", dlog_mtype_name(statuses[st].mtype));
	dlog_jw_kstr(w, "summary_status_id", statuses[st].id);
	dlog_jw_kstr(w, "description", c ? c->text : "");
	dlog_jw_kstr(w, "corrective_action", c ? c->action : "");
	dlog_jw_kstr(w, "campaign_id", campaign);
	dlog_jw_kint(w, "count", s->codes[i].devices);
	dlog_jw_kint(w, "events_count", s->codes[i].events);
	dlog_jw_ktime(w, "created_at", s->codes[i].first_at);
	dlog_jw_obj_end(w);
}

static void list_begin(struct dlog_jw *w, int64_t n)
{
	dlog_jw_obj(w);
	dlog_jw_kstr(w, "object", "list");
	dlog_jw_kint(w, "limit", n > 2 ? n : 2);
	dlog_jw_kstr(w, "order", "ASC");
	dlog_jw_kstr(w, "after", NULL);
	dlog_jw_kbool(w, "has_more", false);
	dlog_jw_kint(w, "total_count", n);
	dlog_jw_key(w, "data");
	dlog_jw_arr(w);
}

static int list_end(struct dlog_jw *w)
{
	dlog_jw_arr_end(w);
	dlog_jw_obj_end(w);
	return dlog_jw_finish(w);
}

static int status_param(struct dlog_req *r)
{
	int st = status_row(r->params[1]);

	if (st < 0)
		dlog_http_error(r, DLOG_ENOTFOUND,
				"no summary status '%.32s' (fail, info, skipped or success)",
				r->params[1]);
	return st;
}

/* The four routes share loading and the list frame; which part they print differs. */
enum view { VIEW_SUMMARIES, VIEW_SUMMARY, VIEW_EVENT_TYPES, VIEW_EVENT_TYPE };

static size_t find_code(const struct stats *s, int st, const char *id)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->codes[i].mtype == statuses[st].mtype &&
		    strcasecmp(s->codes[i].event_type, id) == 0)
			return i;
	return s->n;
}

static int render(struct dlog_req *r, const struct stats *s, enum view v, int st)
{
	const char *campaign = r->params[0];
	struct dlog_jw w;
	int64_t n = 0;
	size_t k;

	dlog_jw_init(&w, &r->out);
	switch (v) {
	case VIEW_SUMMARIES:
		list_begin(&w, NSTATUS);
		for (size_t i = 0; i < NSTATUS; i++)
			summary_json(&w, s, campaign, (int)i);
		return list_end(&w);
	case VIEW_SUMMARY:
		summary_json(&w, s, campaign, st);
		return dlog_jw_finish(&w);
	case VIEW_EVENT_TYPES:
		for (size_t i = 0; i < s->n; i++)
			n += s->codes[i].mtype == statuses[st].mtype;
		list_begin(&w, n);
		for (size_t i = 0; i < s->n; i++)
			if (s->codes[i].mtype == statuses[st].mtype)
				event_type_json(&w, s, i, campaign, st);
		return list_end(&w);
	case VIEW_EVENT_TYPE:
		k = find_code(s, st, r->params[2]);
		if (k == s->n)
			return dlog_http_error(r, DLOG_ENOTFOUND,
					       "no event type '%.100s' under '%s' in this campaign",
					       r->params[2], statuses[st].id);
		event_type_json(&w, s, k, campaign, st);
		return dlog_jw_finish(&w);
	}
	return DLOG_EINVAL;
}

static int answer(struct dlog_req *r, enum view v)
{
	struct stats *s = malloc(sizeof(*s));
	int st = 0;
	int rc;

	if (s == NULL)
		return dlog_http_error(r, DLOG_ENOMEM, "out of memory");
	if (v != VIEW_SUMMARIES)
		st = status_param(r);
	rc = st < 0 ? DLOG_ENOTFOUND : load(r, s);
	if (rc == 0)
		rc = render(r, s, v, st);
	free(s);
	if (rc != 0 && r->err == 0)
		dlog_http_error(r, rc, "cannot answer: %s", dlog_strerror(rc));
	return rc;
}

int dlog_api_campaign_statistics(struct dlog_req *r)
{
	return answer(r, VIEW_SUMMARIES);
}

int dlog_api_campaign_status(struct dlog_req *r)
{
	return answer(r, VIEW_SUMMARY);
}

int dlog_api_campaign_event_types(struct dlog_req *r)
{
	return answer(r, VIEW_EVENT_TYPES);
}

int dlog_api_campaign_event_type(struct dlog_req *r)
{
	return answer(r, VIEW_EVENT_TYPE);
}
