// devicelog portal: one page, hash routing, no libraries, no build step.
//
// Views (each a shareable URL):
//   #/events?<filters>[&device=ID[&tab=device]][&live=1]   Device events (+ device details pane)
//   #/devices?<filters>[&device=ID[&tab=device]]          the device directory
//   #/groups[?group=ID][&device=ID]                        device groups, one group's devices
//   #/campaigns[?campaign=ID[&status=fail]]                update-campaign statistics
//   #/summary?days=30                                      the month in one picture
//   #/codes[?code=UPD4_FAIL_24]                            code reference
// The access key lives in sessionStorage only. Nothing fetches more than a page of 50 events or
// devices at a time, apart from the one summary call, which the server aggregates.
'use strict';

const KEY_STORE = 'devicelog.key';
const PAGE = 50;
const MTYPES = ['SUCCESS', 'FAIL', 'SKIPPED', 'INFO'];
const DAY_MS = 86400000;
const MONTH_DAYS = 30;
const FILTER_KEYS = ['event_type_description', 'event_type', 'event_type_category', 'device_id',
	'campaign_id', 'device_group_id', 'date_time__gte', 'date_time__lte'];
// The device directory's filters, by their API names (also the URL's).
const DEVICE_FILTER_KEYS = ['state', 'last_event_type_description', 'last_event_type', 'id',
	'created_at__gte', 'created_at__lte', 'updated_at__gte', 'updated_at__lte'];
const DEVICE_STATES = ['registered', 'bootstrapped', 'deregistered', 'unenrolled'];
const VIEWS = ['events', 'devices', 'groups', 'campaigns', 'summary', 'codes'];
// Views where a device row opens the device details pane.
const PANE_VIEWS = ['events', 'devices', 'groups'];
const CAMPAIGN_STATUSES = ['fail', 'success', 'skipped', 'info'];
const LIVE_RETRY_MS = 2000;
const LIVE_RETRY_MAX_MS = 30000;

const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

// ---------- small helpers ----------

// Builds an element. attrs: plain attributes, plus `text`, `class`, `on<event>` handlers.
// Children are nodes or strings (always text, never parsed as markup).
function h(tag, attrs, ...children) {
	const el = document.createElement(tag);
	for (const [k, v] of Object.entries(attrs || {})) {
		if (v === null || v === undefined || v === false) continue;
		if (k === 'text') el.textContent = v;
		else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
		else el.setAttribute(k, v === true ? '' : String(v));
	}
	for (const c of children.flat()) {
		if (c === null || c === undefined || c === false) continue;
		el.append(c instanceof Node ? c : String(c));
	}
	return el;
}

const SVG_NS = 'http://www.w3.org/2000/svg';
function s(tag, attrs, ...children) {
	const el = document.createElementNS(SVG_NS, tag);
	for (const [k, v] of Object.entries(attrs || {})) {
		if (k === 'text') el.textContent = v;
		else el.setAttribute(k, String(v));
	}
	for (const c of children.flat()) if (c) el.append(c);
	return el;
}

const pad = (n, w = 2) => String(n).padStart(w, '0');
const nf = new Intl.NumberFormat();
const fmtNum = (n) => nf.format(n);

// The API's timestamps carry 6 fraction digits; Date keeps milliseconds.
function parseTs(iso) {
	return new Date(String(iso).replace(/(\.\d{3})\d*Z$/, '$1Z'));
}

function localTime(iso) {
	const d = parseTs(iso);
	if (Number.isNaN(d.getTime())) return String(iso);
	return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
		`${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

function utcText(iso) {
	return String(iso).replace('T', ' ').replace('Z', ' UTC');
}

function zoneLabel() {
	const off = -new Date().getTimezoneOffset();
	const sign = off < 0 ? '-' : '+';
	const a = Math.abs(off);
	const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || '';
	return `(${zone ? zone + ', ' : ''}UTC${sign}${pad(Math.floor(a / 60))}:${pad(a % 60)})`;
}

// datetime-local value <-> ISO instant in UTC
function isoToLocalInput(iso) {
	const d = parseTs(iso);
	if (Number.isNaN(d.getTime())) return '';
	return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T` +
		`${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

function localInputToIso(v) {
	if (!v) return '';
	const d = new Date(v); // a date-time without an offset is local time
	return Number.isNaN(d.getTime()) ? '' : d.toISOString();
}

function sleep(ms, signal) {
	return new Promise((resolve) => {
		const t = setTimeout(resolve, ms);
		signal?.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
	});
}

// Query strings: values percent-encoded, except that commas stay literal (they separate the
// values of __in lists) and colons stay readable in the URL bar.
function qs(pairs) {
	return pairs.filter(([, v]) => v !== '' && v !== null && v !== undefined)
		.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))
			.replace(/%2C/gi, ',').replace(/%3A/gi, ':')}`)
		.join('&');
}

function announce(text) {
	const el = $('#announce');
	el.textContent = '';
	setTimeout(() => { el.textContent = text; }, 30);
}

// ---------- API ----------

class ApiError extends Error {
	constructor(status, body) {
		const msg = body && typeof body.message === 'string' && body.message
			? body.message : `the server answered ${status}`;
		super(msg);
		this.status = status;
		this.body = body;
	}
}

function authHeader() {
	return { Authorization: `Bearer ${sessionStorage.getItem(KEY_STORE) || ''}` };
}

async function api(path, pairs = [], { signal, key, method = 'GET', body } = {}) {
	const q = qs(pairs);
	const headers = key ? { Authorization: `Bearer ${key}` } : authHeader();
	headers.Accept = 'application/json';
	const init = { method, headers, signal, cache: 'no-store' };
	if (body !== undefined) {
		headers['Content-Type'] = 'application/json';
		init.body = JSON.stringify(body);
	}
	const res = await fetch(q ? `${path}?${q}` : path, init);
	let out = null;
	if (res.status !== 204) {
		try {
			out = await res.json();
		} catch {
			out = null;
		}
	}
	if (!res.ok) {
		const err = new ApiError(res.status, out);
		if (res.status === 401 && !key) signOut(`Your access key was refused: ${err.message}. ` +
			'Sign in again.');
		throw err;
	}
	return out;
}

const isAbort = (e) => e && e.name === 'AbortError';

function errorText(e) {
	if (e instanceof ApiError) {
		const fields = (e.body?.fields || []).map((f) => `${f.name}: ${f.message}`);
		return fields.length && !e.message.includes(fields[0].split(': ')[1])
			? `${e.message} (${fields.join('; ')})` : e.message;
	}
	return `Cannot reach the server (${e.message || e}).`;
}

// A refused write: the API's message, and what to do about a read-only key.
function writeErrorText(e) {
	if (e instanceof ApiError && e.status === 403)
		return `Not saved: ${e.message}. Changes need an access key with write scope.`;
	return `Not saved: ${errorText(e)}`;
}

const enc = encodeURIComponent;

// ---------- state ----------

const state = {
	codes: [],
	codeMap: new Map(),
	view: null,
	events: { gen: 0, ctrl: null, key: null, query: [], ids: new Set(), cursor: null,
		hasMore: false, total: null, top: null, busy: false },
	live: { gen: 0, ctrl: null, cursor: null, on: false },
	pane: { device: null, gen: 0, ctrl: null, ids: new Set(), cursor: null, hasMore: false,
		total: null, facts: null, busy: false },
	summary: { key: null, ctrl: null },
	devices: { key: null },
	groups: { key: null, group: null, groupKey: null, ctrl: null, current: null },
	groupOptions: { loaded: false, busy: null, list: [] },
	campaigns: { key: null, ctrl: null, stats: null, recent: null },
	opener: null,
};

// ---------- routing ----------

function parseHash() {
	let raw = location.hash.replace(/^#/, '');
	if (!raw.startsWith('/')) raw = '/events';
	const i = raw.indexOf('?');
	const path = i < 0 ? raw : raw.slice(0, i);
	const params = new URLSearchParams(i < 0 ? '' : raw.slice(i + 1));
	let view = path.replace(/^\/+|\/+$/g, '') || 'events';
	if (!VIEWS.includes(view)) view = 'events';
	return { view, params };
}

function hashFor(view, params) {
	const q = qs(Array.from(params.entries()));
	return `#/${view}${q ? '?' + q : ''}`;
}

// Go to a view. replace: no new history entry (tab switches, the live switch).
function navigate(view, params, { replace = false } = {}) {
	const target = hashFor(view, params);
	if (location.hash === target) {
		route();
	} else if (replace) {
		history.replaceState(null, '', target);
		route();
	} else {
		location.hash = target;
	}
}

function signedIn() {
	return !!sessionStorage.getItem(KEY_STORE);
}

function showView(name) {
	for (const v of $$('.view')) v.hidden = v.id !== `view-${name}`;
	for (const a of $$('#nav a')) {
		if (a.dataset.view === name) a.setAttribute('aria-current', 'page');
		else a.removeAttribute('aria-current');
	}
	$('#nav').hidden = name === 'signin';
	$('#signout').hidden = name === 'signin';
}

function route() {
	if (!signedIn()) {
		stopAll();
		showView('signin');
		document.title = 'Sign in · devicelog';
		$('#signin-key').focus();
		return;
	}
	const { view, params } = parseHash();
	const changed = state.view !== view;
	state.view = view;
	showView(view);
	if (view !== 'events') {
		stopLive();
		state.events.key = null; // coming back reloads the list
	}
	if (!PANE_VIEWS.includes(view)) closePane(false);
	if (view !== 'devices') state.devices.key = null;
	if (view !== 'groups') { state.groups.key = null; state.groups.groupKey = null; }
	if (view !== 'campaigns') state.campaigns.key = null;
	if (view === 'events') routeEvents(params);
	else if (view === 'devices') routeDevices(params);
	else if (view === 'groups') routeGroups(params);
	else if (view === 'campaigns') routeCampaigns(params);
	else if (view === 'summary') routeSummary(params);
	else routeCodes(params);
	if (changed) $('#main').focus({ preventScroll: true });
}

// ---------- sign-in ----------

async function loadCodes(key) {
	const list = await api('/v3/device-event-codes/', [['limit', 1000]], { key });
	state.codes = list.data || [];
	state.codeMap = new Map(state.codes.map((c) => [c.code, c]));
	fillCodeSelects();
}

async function onSignIn(ev) {
	ev.preventDefault();
	const input = $('#signin-key');
	const err = $('#signin-error');
	const key = input.value.trim();
	err.textContent = '';
	if (!key) {
		err.textContent = 'Enter an access key.';
		input.focus();
		return;
	}
	const button = $('#signin-form button');
	button.disabled = true;
	try {
		await loadCodes(key);
		sessionStorage.setItem(KEY_STORE, key);
		input.value = '';
		route();
	} catch (e) {
		if (e instanceof ApiError && e.status === 401)
			err.textContent = /revoked/.test(e.message)
				? `Sign-in refused: ${e.message}.`
				: `Sign-in refused: this access key is not valid or was revoked (${e.message}).`;
		else if (e instanceof ApiError && e.status === 403)
			err.textContent = `This access key may not read events (${e.message}).`;
		else
			err.textContent = errorText(e);
		input.select();
		input.focus();
	} finally {
		button.disabled = false;
	}
}

function stopAll() {
	stopLive();
	state.events.ctrl?.abort();
	state.events.key = null;
	state.summary.ctrl?.abort();
	state.summary.key = null;
	for (const l of Object.values(lists)) l.reset();
	state.devices.key = null;
	state.groups.ctrl?.abort();
	state.groups.key = null;
	state.groups.groupKey = null;
	state.campaigns.ctrl?.abort();
	state.campaigns.key = null;
	state.campaigns.recent = null;
	state.groupOptions = { loaded: false, busy: null, list: [] };
	closePane(false);
}

function signOut(message) {
	const was = signedIn();
	sessionStorage.removeItem(KEY_STORE);
	stopAll();
	state.view = null;
	$('#events-table tbody').replaceChildren();
	$('#signin-error').textContent = message || '';
	if (was || message) route();
}

// ---------- shared event rendering ----------

function badge(mtype) {
	const t = MTYPES.includes(mtype) ? mtype : 'INFO';
	return h('span', { class: `badge ${t}`, text: mtype || '?' });
}

function timeCell(iso) {
	return h('td', { class: 'c-time' },
		h('time', { datetime: iso, title: utcText(iso), text: localTime(iso) }));
}

// The message; a FAIL row opens onto its corrective action.
function messageCell(e) {
	const code = state.codeMap.get(e.event_type);
	const text = e.description || code?.description || '';
	const fix = code?.corrective_action;
	if (e.event_type_description !== 'FAIL' || !fix || fix === '—')
		return h('td', { class: 'c-msg' }, text);
	return h('td', { class: 'c-msg' },
		h('details', { class: 'fix' },
			h('summary', { title: 'Show the corrective action' }, text),
			h('p', {}, h('strong', { text: 'Corrective action: ' }), fix),
			code.explanation ? h('p', { class: 'muted' }, code.explanation) : null));
}

function codeCell(e) {
	const code = state.codeMap.get(e.event_type);
	return h('td', { class: 'c-code' },
		h('a', { href: `#/codes?code=${encodeURIComponent(e.event_type)}`,
			title: code ? code.explanation || code.description : 'Unknown code',
			tabindex: '-1', text: e.event_type }));
}

function campaignHref(id, status) {
	return hashFor('campaigns', new URLSearchParams(status ? { campaign: id, status } : { campaign: id }));
}

// A campaign id linking to its statistics.
function campaignLink(c) {
	return h('a', { href: campaignHref(c), title: `Statistics of campaign ${c}`, class: 'camp' },
		h('code', { text: c }));
}

function campaignCell(e) {
	const c = e.data && e.data.campaign_id;
	if (!c) return h('td', { class: 'c-camp muted' }, h('span', { class: 'sr-only', text: 'none' }));
	return h('td', { class: 'c-camp' }, campaignLink(c));
}

// ---------- Device events ----------

function eventFilters(params) {
	const q = [];
	const types = (params.get('event_type_description') || '').split(',')
		.filter((t) => MTYPES.includes(t));
	if (types.length) q.push(['event_type_description__in', types.join(',')]);
	for (const k of ['event_type', 'event_type_category', 'device_id', 'campaign_id', 'device_group_id']) {
		const v = (params.get(k) || '').trim();
		if (v) q.push([k, v]);
	}
	const gte = params.get('date_time__gte') ||
		new Date(Date.now() - MONTH_DAYS * DAY_MS).toISOString();
	q.push(['date_time__gte', gte]);
	if (params.get('date_time__lte')) q.push(['date_time__lte', params.get('date_time__lte')]);
	return q;
}

function filterKey(params) {
	return FILTER_KEYS.map((k) => `${k}=${params.get(k) || ''}`).join('&');
}

function routeEvents(params) {
	const key = filterKey(params);
	paramsToForm(params);
	$('#live').checked = params.get('live') === '1';
	if (key !== state.events.key) {
		state.events.key = key;
		loadEvents(params);
	} else if ($('#live').checked !== state.live.on) {
		if ($('#live').checked) startLive();
		else stopLive();
	}
	ensureGroupOptions();
	routePane(params, 'Device events');
}

// The device pane of a view that lists devices: open when the URL names a device.
function routePane(params, title) {
	const device = params.get('device');
	if (device) openPane(device, params.get('tab') === 'device' ? 'device' : 'log');
	else closePane(true);
	document.title = device ? `Device ${device} · devicelog` : `${title} · devicelog`;
}

function eventRow(e) {
	const tr = h('tr', { tabindex: '0', 'data-id': e.id, 'data-device': e.device_id,
		'data-type': e.event_type, 'data-mtype': e.event_type_description },
	timeCell(e.date_time),
	h('td', { class: 'c-dev' }, h('button', { type: 'button', class: 'link device',
		'data-device': e.device_id, title: 'Open the device details', text: e.device_id })),
	h('td', {}, badge(e.event_type_description)),
	messageCell(e),
	codeCell(e),
	campaignCell(e));
	return tr;
}

function updateEventsCount() {
	const st = state.events;
	const shown = st.ids.size;
	const el = $('#events-count');
	el.dataset.total = st.total ?? '';
	el.dataset.shown = shown;
	const since = st.query.find(([k]) => k === 'date_time__gte');
	el.dataset.since = since ? since[1] : '';
	const until = st.query.find(([k]) => k === 'date_time__lte');
	const range = `${since ? ' from ' + localTime(since[1]) : ''}${until ? ' to ' + localTime(until[1]) : ''}`;
	if (st.total === null) el.textContent = shown ? `Showing ${fmtNum(shown)} events${range}, newest first (counting…)` : '';
	else if (st.total === 0) el.textContent = `No events match${range}.`;
	else el.textContent = `Showing ${fmtNum(shown)} of ${fmtNum(st.total)} events${range}, newest first.`;
	$('#events-more').hidden = !st.hasMore;
}

async function loadEvents(params) {
	const st = state.events;
	stopLive();
	st.ctrl?.abort();
	st.ctrl = new AbortController();
	const gen = ++st.gen;
	st.query = eventFilters(params);
	st.ids = new Set();
	st.cursor = null;
	st.top = null;
	st.total = null;
	st.hasMore = false;
	const tbody = $('#events-table tbody');
	tbody.replaceChildren();
	$('#events-error').textContent = '';
	$('#events-more').hidden = true;
	$('#events-count').textContent = 'Loading…';
	$('#events-table').setAttribute('aria-busy', 'true');
	performance.mark('devicelog:events-start');
	const signal = st.ctrl.signal;
	try {
		// The rows first, the total after: counting a month of events costs far more than
		// reading the newest 50 (and a busy server thread would hold the rows back).
		const page = await api('/v3/device-events/', [...st.query, ['order', 'DESC'],
			['limit', PAGE]], { signal });
		if (gen !== st.gen) return;
		appendEvents(page);
		performance.measure('devicelog:first-page', 'devicelog:events-start');
		$('#events-table').removeAttribute('aria-busy');
		const c = await api('/v3/device-events/', [...st.query, ['limit', 2],
			['include', 'total_count']], { signal });
		if (gen !== st.gen) return;
		st.total = c.total_count ?? null;
		updateEventsCount();
		document.body.dataset.eventsLoaded = String(gen);
		if ($('#live').checked) startLive();
	} catch (e) {
		if (isAbort(e) || gen !== st.gen) return;
		updateEventsCount();
		$('#events-error').textContent = errorText(e);
	} finally {
		if (gen === st.gen) $('#events-table').removeAttribute('aria-busy');
	}
}

function appendEvents(page) {
	const st = state.events;
	const frag = document.createDocumentFragment();
	for (const e of page.data || []) {
		if (!st.top || e.id > st.top) st.top = e.id;
		if (st.ids.has(e.id)) continue;
		st.ids.add(e.id);
		frag.append(eventRow(e));
	}
	$('#events-table tbody').append(frag);
	const data = page.data || [];
	if (data.length) st.cursor = data[data.length - 1].id;
	st.hasMore = !!page.has_more;
	updateEventsCount();
}

async function moreEvents() {
	const st = state.events;
	if (!st.hasMore || st.busy || !st.cursor) return;
	st.busy = true;
	const gen = st.gen;
	const button = $('#events-more');
	button.disabled = true;
	try {
		const page = await api('/v3/device-events/', [...st.query, ['order', 'DESC'],
			['limit', PAGE], ['after', st.cursor]], { signal: st.ctrl.signal });
		if (gen !== st.gen) return;
		appendEvents(page);
		announce(`Loaded ${page.data.length} more events.`);
	} catch (e) {
		if (!isAbort(e)) $('#events-error').textContent = errorText(e);
	} finally {
		st.busy = false;
		button.disabled = false;
	}
}

// ---------- filters form ----------

function fillCodeSelects() {
	const codeSel = $('#f-code');
	const catSel = $('#f-category');
	codeSel.replaceChildren(h('option', { value: '', text: 'Any code' }));
	catSel.replaceChildren(h('option', { value: '', text: 'Any category' }));
	for (const t of MTYPES) {
		const group = h('optgroup', { label: t });
		for (const c of state.codes.filter((x) => x.event_type_description === t))
			group.append(h('option', { value: c.code, text: `${c.code} · ${c.description}` }));
		if (group.children.length) codeSel.append(group);
	}
	const devCode = $('#d-code');
	devCode.replaceChildren(h('option', { value: '', text: 'Any code' }),
		...[...codeSel.children].slice(1).map((g) => g.cloneNode(true)));
	const cats = [...new Set(state.codes.map((c) => c.event_type_category))].sort();
	for (const c of cats) catSel.append(h('option', { value: c, text: c }));
}

function ensureOption(sel, value) {
	if (value && !$$('option', sel).some((o) => o.value === value))
		sel.append(h('option', { value, text: value }));
	sel.value = value;
}

function paramsToForm(params) {
	const f = $('#filters');
	const types = (params.get('event_type_description') || '').split(',');
	for (const cb of $$('input[name=mtype]', f)) cb.checked = types.includes(cb.value);
	ensureOption($('#f-code'), params.get('event_type') || '');
	ensureOption($('#f-category'), params.get('event_type_category') || '');
	$('#f-device').value = params.get('device_id') || '';
	$('#f-campaign').value = params.get('campaign_id') || '';
	ensureGroupOption(params.get('device_group_id') || '');
	$('#f-from').value = params.get('date_time__gte') ? isoToLocalInput(params.get('date_time__gte')) : '';
	$('#f-to').value = params.get('date_time__lte') ? isoToLocalInput(params.get('date_time__lte')) : '';
}

function formToParams() {
	const cur = parseHash().params;
	const p = new URLSearchParams();
	const types = $$('#filters input[name=mtype]:checked').map((c) => c.value);
	if (types.length && types.length < MTYPES.length) p.set('event_type_description', types.join(','));
	const set = (k, v) => { if (v) p.set(k, v.trim()); };
	set('event_type', $('#f-code').value);
	set('event_type_category', $('#f-category').value);
	set('device_id', $('#f-device').value);
	set('campaign_id', $('#f-campaign').value);
	set('device_group_id', $('#f-group').value);
	set('date_time__gte', localInputToIso($('#f-from').value));
	set('date_time__lte', localInputToIso($('#f-to').value));
	for (const k of ['device', 'tab', 'live']) if (cur.get(k)) p.set(k, cur.get(k));
	return p;
}

// ---------- live follow ----------

function setLiveStatus(text) {
	$('#live-status').textContent = text;
}

function stopLive() {
	const lv = state.live;
	lv.gen++;
	lv.ctrl?.abort();
	lv.ctrl = null;
	lv.on = false;
	setLiveStatus('');
}

// Follows GET /v3/device-events/stream with the list's filters. EventSource cannot send an
// Authorization header, so this reads the SSE text from a fetch() body. The cursor starts at
// the newest event shown and moves with every message, and goes back as Last-Event-ID on each
// reconnect: nothing is lost between the first page and the stream, nothing is shown twice.
async function startLive() {
	stopLive();
	const lv = state.live;
	const gen = lv.gen;
	lv.on = true;
	lv.ctrl = new AbortController();
	const signal = lv.ctrl.signal;
	lv.cursor = state.events.top;
	const query = state.events.query;
	let delay = LIVE_RETRY_MS;
	while (!signal.aborted && gen === lv.gen) {
		setLiveStatus('connecting…');
		try {
			const headers = { ...authHeader(), Accept: 'text/event-stream' };
			if (lv.cursor) headers['Last-Event-ID'] = lv.cursor;
			const res = await fetch(`/v3/device-events/stream?${qs(query)}`,
				{ headers, signal, cache: 'no-store' });
			if (!res.ok) {
				let body = null;
				try { body = await res.json(); } catch { body = null; }
				const err = new ApiError(res.status, body);
				if (res.status === 401) { signOut(`Your access key was refused: ${err.message}.`); return; }
				if (res.status === 400) { setLiveStatus(`off: ${err.message}`); return; }
				throw err;
			}
			setLiveStatus('on: new events appear at the top');
			await readSse(res.body, (msg) => {
				if (gen !== lv.gen) return;
				if (msg.retry) delay = msg.retry;
				if (msg.id) lv.cursor = msg.id;
				if (msg.event === 'device-event' && msg.data) {
					delay = LIVE_RETRY_MS;
					onLiveEvent(JSON.parse(msg.data));
				}
			});
		} catch (e) {
			if (signal.aborted || gen !== lv.gen) return;
			setLiveStatus(`reconnecting (${errorText(e)})`);
		}
		if (signal.aborted || gen !== lv.gen) return;
		setLiveStatus('reconnecting…');
		await sleep(delay, signal);
		delay = Math.min(delay * 2, LIVE_RETRY_MAX_MS);
	}
}

// Reads an SSE body and calls onMessage({id, event, data, retry}) per message.
async function readSse(body, onMessage) {
	const reader = body.pipeThrough(new TextDecoderStream()).getReader();
	let buf = '';
	for (;;) {
		const { value, done } = await reader.read();
		if (done) return;
		buf += value;
		// normalise line ends, but keep a trailing \r: its \n may be in the next chunk
		buf = buf.replace(/\r\n|\r(?!$)/g, '\n');
		let end;
		while ((end = buf.indexOf('\n\n')) >= 0) {
			const block = buf.slice(0, end);
			buf = buf.slice(end + 2);
			const msg = { event: 'message', data: null, id: null, retry: null };
			const data = [];
			for (const line of block.split('\n')) {
				if (line === '' || line.startsWith(':')) continue;
				const i = line.indexOf(':');
				const field = i < 0 ? line : line.slice(0, i);
				let v = i < 0 ? '' : line.slice(i + 1);
				if (v.startsWith(' ')) v = v.slice(1);
				if (field === 'data') data.push(v);
				else if (field === 'event') msg.event = v;
				else if (field === 'id') msg.id = v;
				else if (field === 'retry' && /^\d+$/.test(v)) msg.retry = Number(v);
			}
			if (data.length) msg.data = data.join('\n');
			if (msg.data !== null || msg.id !== null || msg.retry !== null) onMessage(msg);
		}
	}
}

function onLiveEvent(e) {
	const st = state.events;
	if (!e || !e.id) return;
	if (!st.top || e.id > st.top) st.top = e.id;
	if (!st.ids.has(e.id)) {
		st.ids.add(e.id);
		if (st.total !== null) st.total++;
		const tr = eventRow(e);
		tr.classList.add('new');
		$('#events-table tbody').prepend(tr);
		updateEventsCount();
		announce(`New event: ${e.event_type_description} ${e.event_type} on device ${e.device_id}.`);
	}
	// the open pane of that device shows it too
	const p = state.pane;
	if (p.device === e.device_id && p.total !== null && !p.ids.has(e.id)) {
		p.ids.add(e.id);
		p.total++;
		const tr = logRow(e);
		tr.classList.add('new');
		$('#log-table tbody').prepend(tr);
		updateLogCount();
		p.facts = null;
		if (!$('#panel-device').hidden) loadFacts();
	}
}

// ---------- device details pane ----------

function openPane(device, tab) {
	const pane = $('#pane');
	const p = state.pane;
	const fresh = p.device !== device || pane.hidden;
	if (p.device !== device) {
		p.device = device;
		p.facts = null;
		$('#pane-device').textContent = device;
		$('#device-events-link').href = hashFor('events', new URLSearchParams({ device_id: device }));
		loadLog();
	}
	pane.hidden = false;
	document.body.classList.add('pane-open');
	selectTab(tab, false);
	if (fresh) $(`#tab-${tab}`).focus();
}

// keepFocus: give focus back to what opened the pane.
function closePane(keepFocus) {
	const pane = $('#pane');
	const p = state.pane;
	p.ctrl?.abort();
	p.gen++;
	const was = !pane.hidden;
	pane.hidden = true;
	document.body.classList.remove('pane-open');
	const device = p.device;
	p.device = null;
	p.total = null;
	p.facts = null;
	if (was && keepFocus) {
		let target = state.opener && document.contains(state.opener) ? state.opener : null;
		if (!target && device) target = $(`#view-${state.view} tbody tr[data-device="${CSS.escape(device)}"]`);
		target?.focus();
	}
	state.opener = null;
}

function setPaneParams(mut, replace) {
	const { view, params } = parseHash();
	mut(params);
	navigate(view, params, { replace });
}

function requestPane(device, opener) {
	state.opener = opener || null;
	setPaneParams((p) => { p.set('device', device); p.delete('tab'); }, false);
}

function requestClose() {
	setPaneParams((p) => { p.delete('device'); p.delete('tab'); }, false);
}

function selectTab(tab, focus) {
	for (const t of ['log', 'device']) {
		const btn = $(`#tab-${t}`);
		const on = t === tab;
		btn.setAttribute('aria-selected', on ? 'true' : 'false');
		btn.tabIndex = on ? 0 : -1;
		$(`#panel-${t}`).hidden = !on;
	}
	if (focus) $(`#tab-${tab}`).focus();
	if (tab === 'device' && !state.pane.facts) loadFacts();
}

function onTabKey(ev) {
	const tabs = ['log', 'device'];
	const cur = tabs.indexOf(ev.target.id.replace('tab-', ''));
	let next = null;
	if (ev.key === 'ArrowRight' || ev.key === 'ArrowDown') next = (cur + 1) % tabs.length;
	else if (ev.key === 'ArrowLeft' || ev.key === 'ArrowUp') next = (cur + tabs.length - 1) % tabs.length;
	else if (ev.key === 'Home') next = 0;
	else if (ev.key === 'End') next = tabs.length - 1;
	if (next === null) return;
	ev.preventDefault();
	chooseTab(tabs[next]);
	$(`#tab-${tabs[next]}`).focus();
}

function chooseTab(tab) {
	setPaneParams((p) => { if (tab === 'device') p.set('tab', 'device'); else p.delete('tab'); }, true);
}

function logRow(e) {
	return h('tr', { tabindex: '0', 'data-id': e.id, 'data-type': e.event_type,
		'data-mtype': e.event_type_description },
	timeCell(e.date_time),
	h('td', {}, badge(e.event_type_description)),
	messageCell(e),
	codeCell(e),
	campaignCell(e));
}

function updateLogCount() {
	const p = state.pane;
	const el = $('#log-count');
	el.dataset.total = p.total ?? '';
	el.dataset.shown = p.ids.size;
	el.textContent = p.total === null
		? (p.ids.size ? `Showing ${fmtNum(p.ids.size)} events, newest first (counting…)` : '')
		: p.total === 0 ? 'This device has no events.'
		: `Showing ${fmtNum(p.ids.size)} of ${fmtNum(p.total)} events in this device's lifetime, newest first.`;
	$('#log-more').hidden = !p.hasMore;
}

function logQuery() {
	return [['device_id', state.pane.device], ['order', 'DESC'], ['limit', PAGE]];
}

async function loadLog() {
	const p = state.pane;
	p.ctrl?.abort();
	p.ctrl = new AbortController();
	const gen = ++p.gen;
	p.ids = new Set();
	p.cursor = null;
	p.total = null;
	p.hasMore = false;
	$('#log-table tbody').replaceChildren();
	$('#log-error').textContent = '';
	$('#log-count').textContent = 'Loading…';
	$('#log-more').hidden = true;
	$('#device-facts').replaceChildren();
	const signal = p.ctrl.signal;
	try {
		const page = await api('/v3/device-events/', logQuery(), { signal });
		if (gen !== p.gen) return;
		appendLog(page);
		const c = await api('/v3/device-events/', [['device_id', p.device], ['limit', 2],
			['include', 'total_count']], { signal });
		if (gen !== p.gen) return;
		p.total = c.total_count ?? null;
		updateLogCount();
		$('#pane').dataset.loaded = p.device;
	} catch (e) {
		if (isAbort(e) || gen !== p.gen) return;
		updateLogCount();
		$('#log-error').textContent = errorText(e);
	}
}

function appendLog(page) {
	const p = state.pane;
	const frag = document.createDocumentFragment();
	for (const e of page.data || []) {
		if (p.ids.has(e.id)) continue;
		p.ids.add(e.id);
		frag.append(logRow(e));
	}
	$('#log-table tbody').append(frag);
	const data = page.data || [];
	if (data.length) p.cursor = data[data.length - 1].id;
	p.hasMore = !!page.has_more;
	updateLogCount();
}

async function moreLog() {
	const p = state.pane;
	if (!p.hasMore || p.busy || !p.cursor) return;
	p.busy = true;
	const gen = p.gen;
	try {
		const page = await api('/v3/device-events/', [...logQuery(), ['after', p.cursor]],
			{ signal: p.ctrl.signal });
		if (gen !== p.gen) return;
		appendLog(page);
		announce(`Loaded ${page.data.length} more events.`);
	} catch (e) {
		if (!isAbort(e)) $('#log-error').textContent = errorText(e);
	} finally {
		p.busy = false;
	}
}

// The latest update outcome: the newest SUCCESS/FAIL/SKIPPED event that names a campaign.
// Outcomes without a campaign are rare, so this looks at a few small pages at most.
async function lastOutcome(device, signal) {
	let after = null;
	for (let i = 0; i < 5; i++) {
		const page = await api('/v3/device-events/', [['device_id', device],
			['event_type_description__in', 'SUCCESS,FAIL,SKIPPED'], ['order', 'DESC'],
			['limit', 20], ['after', after]], { signal });
		const hit = (page.data || []).find((e) => e.data && e.data.campaign_id);
		if (hit || !page.has_more || !page.data.length) return hit || null;
		after = page.data[page.data.length - 1].id;
	}
	return null;
}

// The Device tab: the directory's record (GET /v3/devices/{id}/) and the last update outcome.
async function loadFacts() {
	const p = state.pane;
	const device = p.device;
	const gen = p.gen;
	const signal = p.ctrl?.signal;
	const dl = $('#device-facts');
	$('#device-error').textContent = '';
	dl.setAttribute('aria-busy', 'true');
	p.facts = 'loading';
	try {
		const [dev, outcome] = await Promise.all([
			api(`/v3/devices/${enc(device)}/`, [], { signal }),
			lastOutcome(device, signal),
		]);
		if (gen !== p.gen || device !== p.device) return;
		p.facts = { dev, outcome };
		renderFacts(p.facts);
	} catch (e) {
		if (isAbort(e) || gen !== p.gen) return;
		p.facts = null;
		$('#device-error').textContent = errorText(e);
	} finally {
		dl.removeAttribute('aria-busy');
	}
}

function eventSummary(e) {
	if (!e) return h('span', { class: 'muted', text: 'none' });
	return h('span', {}, h('time', { datetime: e.date_time, title: utcText(e.date_time),
		text: localTime(e.date_time) }), ' · ', badge(e.event_type_description), ' ',
	e.description, ' ', h('code', { text: `(${e.event_type})` }));
}

function timeEl(iso) {
	return iso ? h('time', { datetime: iso, title: utcText(iso), text: localTime(iso) })
		: h('span', { class: 'muted', text: '—' });
}

function stateEl(st) {
	const name = DEVICE_STATES.includes(st) ? st : 'unenrolled';
	return h('strong', { class: `state ${name}`, 'data-state': name, text: st || 'unknown' });
}

// Counts per message type, each written out: "SUCCESS 2 · FAIL 0 · …".
function countsEl(counts) {
	const c = counts || {};
	const parts = [];
	MTYPES.forEach((t, i) => {
		if (i) parts.push(' ');
		parts.push(h('span', { class: 'count-pair', 'data-type': t }, badge(t), ' ', fmtNum(c[t] || 0)));
	});
	return h('span', { class: 'counts' }, ...parts);
}

function renderFacts(f) {
	const dl = $('#device-facts');
	const d = f.dev;
	const row = (term, ...dd) => [h('dt', { text: term }), h('dd', {}, ...dd)];
	const stateDd = d.state === 'unenrolled'
		? [stateEl(d.state), h('span', { class: 'muted', text: ': no lifecycle event yet' })]
		: [stateEl(d.state)];
	const out = f.outcome;
	let outDd = [h('span', { class: 'muted', text: 'no update yet' })];
	if (out) {
		const code = state.codeMap.get(out.event_type);
		outDd = [eventSummary(out), h('br'), 'Campaign ', campaignLink(out.data.campaign_id)];
		if (out.event_type_description === 'FAIL' && code?.corrective_action &&
			code.corrective_action !== '—')
			outDd.push(h('br'), h('strong', { text: 'Corrective action: ' }), code.corrective_action);
	}
	const lastCode = state.codeMap.get(d.last_event_type);
	const total = MTYPES.reduce((n, t) => n + ((d.event_counts || {})[t] || 0), 0);
	dl.replaceChildren(
		...row('Device ID', h('code', { text: d.id })),
		...row('State', ...stateDd),
		...row('First seen', timeEl(d.created_at)),
		...row('Last event', d.last_event_type
			? h('span', {}, timeEl(d.updated_at), ' · ', badge(d.last_event_type_description), ' ',
				lastCode?.description || '', ' ', h('code', { text: `(${d.last_event_type})` }))
			: h('span', { class: 'muted', text: 'none' })),
		...row('Last campaign', d.last_campaign_id ? campaignLink(d.last_campaign_id)
			: h('span', { class: 'muted', text: 'none' })),
		...row('Last update outcome', ...outDd),
		...row('Events by message type', countsEl(d.event_counts)),
		...row('Events in its lifetime', fmtNum(total)));
	dl.dataset.state = d.state || 'unknown';
}

// ---------- paged tables (devices, groups, a group's devices) ----------

let loadSeq = 0;

// A table filled 50 rows at a time by cursor (after = the id of the last row), ordered by id;
// the total is asked for right after the first rows, like the events list.
class Pager {
	constructor(o) {
		Object.assign(this, o);
		this.gen = 0;
		this.ctrl = null;
		this.query = [];
		this.reset();
	}

	reset() {
		this.ctrl?.abort();
		this.gen++;
		this.cursor = null;
		this.total = null;
		this.hasMore = false;
		this.shown = 0;
		this.busy = false;
	}

	get tbody() { return $(`${this.table} tbody`); }

	async load(query) {
		this.reset();
		this.ctrl = new AbortController();
		const gen = this.gen;
		const signal = this.ctrl.signal;
		const path = this.path();
		this.query = query;
		this.tbody.replaceChildren();
		$(this.error).textContent = '';
		$(this.more).hidden = true;
		$(this.count).textContent = 'Loading…';
		$(this.table).setAttribute('aria-busy', 'true');
		try {
			const page = await api(path, [...query, ['limit', PAGE]], { signal });
			if (gen !== this.gen) return;
			this.append(page);
			$(this.table).removeAttribute('aria-busy');
			const c = await api(path, [...query, ['limit', 2], ['include', 'total_count']], { signal });
			if (gen !== this.gen) return;
			this.total = c.total_count ?? null;
			this.updateCount();
			$(this.table).dataset.loaded = String(++loadSeq);
		} catch (e) {
			if (isAbort(e) || gen !== this.gen) return;
			this.updateCount();
			$(this.error).textContent = errorText(e);
		} finally {
			if (gen === this.gen) $(this.table).removeAttribute('aria-busy');
		}
	}

	append(page) {
		const data = page.data || [];
		this.tbody.append(...data.map((x) => this.row(x)));
		this.shown += data.length;
		if (data.length) this.cursor = data[data.length - 1].id;
		this.hasMore = !!page.has_more;
		this.updateCount();
	}

	updateCount() {
		const el = $(this.count);
		el.dataset.total = this.total ?? '';
		el.dataset.shown = this.shown;
		const n = this.noun;
		if (this.total === null) el.textContent = this.shown ? `Showing ${fmtNum(this.shown)} ${n} (counting…)` : '';
		else if (this.total === 0) el.textContent = this.empty;
		else el.textContent = `Showing ${fmtNum(this.shown)} of ${fmtNum(this.total)} ${n}.`;
		$(this.more).hidden = !this.hasMore;
	}

	async loadMore() {
		if (!this.hasMore || this.busy || !this.cursor) return;
		this.busy = true;
		const gen = this.gen;
		const button = $(this.more);
		button.disabled = true;
		try {
			const page = await api(this.path(), [...this.query, ['limit', PAGE], ['after', this.cursor]],
				{ signal: this.ctrl.signal });
			if (gen !== this.gen) return;
			this.append(page);
			$(this.table).dataset.loaded = String(++loadSeq);
			announce(`Loaded ${page.data.length} more ${this.noun}.`);
		} catch (e) {
			if (!isAbort(e)) $(this.error).textContent = errorText(e);
		} finally {
			this.busy = false;
			button.disabled = false;
		}
	}
}

// ---------- devices ----------

function deviceButton(id) {
	return h('button', { type: 'button', class: 'link device', 'data-device': id,
		title: 'Open the device details', text: id });
}

function lastEventCell(d) {
	if (!d.last_event_type) return h('td', { class: 'muted', text: '—' });
	const code = state.codeMap.get(d.last_event_type);
	return h('td', { class: 'c-last' },
		h('a', { href: `#/codes?code=${enc(d.last_event_type)}`, class: 'code', tabindex: '-1',
			title: code ? code.description : 'Unknown code' }, h('code', { text: d.last_event_type })),
		' ', badge(d.last_event_type_description));
}

function deviceRow(d) {
	const c = d.event_counts || {};
	return h('tr', { tabindex: '0', 'data-device': d.id, 'data-id': d.id, 'data-state': d.state,
		'data-mtype': d.last_event_type_description || '' },
	h('td', { class: 'c-dev' }, deviceButton(d.id)),
	h('td', {}, stateEl(d.state)),
	lastEventCell(d),
	h('td', { class: 'c-camp' }, d.last_campaign_id ? campaignLink(d.last_campaign_id)
		: h('span', { class: 'muted' }, h('span', { 'aria-hidden': 'true', text: '—' }),
			h('span', { class: 'sr-only', text: 'none' }))),
	h('td', { class: 'c-time' }, timeEl(d.updated_at)),
	...MTYPES.map((t) => h('td', { class: `num n-${t}`, 'data-type': t, text: fmtNum(c[t] || 0) })));
}

function groupDeviceRow(d) {
	return h('tr', { tabindex: '0', 'data-device': d.id, 'data-id': d.id, 'data-state': d.state },
		h('td', { class: 'c-dev' }, deviceButton(d.id)),
		h('td', {}, stateEl(d.state)),
		lastEventCell(d),
		h('td', { class: 'c-time' }, timeEl(d.updated_at)),
		h('td', {}, h('button', { type: 'button', class: 'ghost small remove', 'data-device': d.id,
			'aria-label': `Remove device ${d.id} from the group`, text: 'Remove' })));
}

function groupRow(g) {
	return h('tr', { 'data-id': g.id, 'data-group': g.id, 'data-name': g.name },
		h('th', { scope: 'row' }, h('a', { href: hashFor('groups', new URLSearchParams({ group: g.id })),
			text: g.name })),
		h('td', { text: g.description || '' }),
		h('td', { class: 'num', text: fmtNum(g.devices_count ?? 0) }),
		h('td', { class: 'c-time' }, timeEl(g.updated_at)));
}

const lists = {
	devices: new Pager({ path: () => '/v3/devices/', table: '#devices-table', count: '#devices-count',
		more: '#devices-more', error: '#devices-error', row: deviceRow, noun: 'devices',
		empty: 'No devices match.' }),
	groups: new Pager({ path: () => '/v3/device-groups/', table: '#groups-table', count: '#groups-count',
		more: '#groups-more', error: '#groups-error', row: groupRow, noun: 'groups',
		empty: 'No groups yet: create one above.' }),
	groupDevices: new Pager({ path: () => `/v3/device-groups/${enc(state.groups.groupKey || '')}/devices/`,
		table: '#group-devices-table', count: '#group-devices-count', more: '#group-devices-more',
		error: '#group-error', row: groupDeviceRow, noun: 'devices',
		empty: 'This group has no devices yet: add one by its ID above.' }),
};

const DEVICE_INPUTS = {
	state: '#d-state', last_event_type_description: '#d-mtype', last_event_type: '#d-code', id: '#d-id',
	created_at__gte: '#d-created-from', created_at__lte: '#d-created-to',
	updated_at__gte: '#d-updated-from', updated_at__lte: '#d-updated-to',
};
const isTimeKey = (k) => /_at__(gte|lte)$/.test(k);

function deviceFilters(params) {
	const q = [];
	for (const k of DEVICE_FILTER_KEYS) {
		const v = (params.get(k) || '').trim();
		if (!v) continue;
		if (k === 'id' && v.includes(','))
			q.push(['id__in', v.split(',').map((x) => x.trim()).filter(Boolean).join(',')]);
		else q.push([k, v]);
	}
	return q;
}

function routeDevices(params) {
	for (const [k, sel] of Object.entries(DEVICE_INPUTS)) {
		const v = params.get(k) || '';
		if (isTimeKey(k)) $(sel).value = v ? isoToLocalInput(v) : '';
		else if ($(sel).tagName === 'SELECT') ensureOption($(sel), v);
		else $(sel).value = v;
	}
	const key = DEVICE_FILTER_KEYS.map((k) => `${k}=${params.get(k) || ''}`).join('&');
	if (key !== state.devices.key) {
		state.devices.key = key;
		lists.devices.load(deviceFilters(params));
	}
	routePane(params, 'Devices');
}

function deviceFormToParams() {
	const cur = parseHash().params;
	const p = new URLSearchParams();
	for (const [k, sel] of Object.entries(DEVICE_INPUTS)) {
		const v = isTimeKey(k) ? localInputToIso($(sel).value) : $(sel).value.trim();
		if (v) p.set(k, v);
	}
	for (const k of ['device', 'tab']) if (cur.get(k)) p.set(k, cur.get(k));
	return p;
}

// A click anywhere on a device row (but on its links and buttons) opens the device pane.
function onDeviceTableClick(ev) {
	const b = ev.target.closest('button.device');
	if (b) { requestPane(b.dataset.device, b); return; }
	if (ev.target.closest('a, button, input, summary')) return;
	const tr = ev.target.closest('tbody tr[data-device]');
	if (tr) requestPane(tr.dataset.device, tr);
}

// ---------- device groups ----------

function setGroupsStatus(text) {
	$('#groups-status').textContent = text || '';
}

function routeGroups(params) {
	const gs = state.groups;
	const id = params.get('group') || '';
	$('#groups-list').hidden = !!id;
	$('#group-detail').hidden = !id;
	if (!id) {
		gs.groupKey = null;
		gs.current = null;
		if (gs.key !== 'list') {
			gs.key = 'list';
			lists.groups.load([]);
		}
		routePane(params, 'Device groups');
		return;
	}
	gs.key = null; // the list reloads when shown again (counts and names may have changed)
	if (gs.groupKey !== id) {
		gs.groupKey = id;
		$('#group-delete-confirm').hidden = true;
		$('#group-error').textContent = '';
		loadGroup(id);
		lists.groupDevices.load([]);
	}
	routePane(params, gs.current ? `Group ${gs.current.name}` : 'Device group');
}

async function loadGroup(id) {
	const gs = state.groups;
	gs.ctrl?.abort();
	gs.ctrl = new AbortController();
	$('#group-events-link').href = hashFor('events', new URLSearchParams({ device_group_id: id }));
	try {
		const g = await api(`/v3/device-groups/${enc(id)}/`, [], { signal: gs.ctrl.signal });
		if (gs.groupKey !== id) return;
		gs.current = g;
		renderGroup(g);
	} catch (e) {
		if (isAbort(e)) return;
		$('#group-name').textContent = 'Device group';
		$('#group-info').textContent = '';
		$('#group-error').textContent = errorText(e);
	}
}

function renderGroup(g) {
	$('#group-name').textContent = g.name;
	$('#group-detail').dataset.group = g.id;
	$('#group-detail').dataset.devices = g.devices_count ?? 0;
	$('#group-info').replaceChildren(
		g.description ? h('span', { text: g.description }) : null, g.description ? h('br') : null,
		`${fmtNum(g.devices_count ?? 0)} ${g.devices_count === 1 ? 'device' : 'devices'} · created `,
		timeEl(g.created_at), ' · ID ', h('code', { text: g.id }));
	$('#ge-name').value = g.name;
	$('#ge-desc').value = g.description || '';
	$('#group-delete-q').textContent =
		`Delete the group “${g.name}”? Its devices and their events stay.`;
	if (state.view === 'groups' && !parseHash().params.get('device')) document.title = `Group ${g.name} · devicelog`;
}

// Runs a write with its button disabled; the API's message goes to errEl when refused.
async function writeAction(button, errEl, fn) {
	$(errEl).textContent = '';
	setGroupsStatus('');
	if (button) button.disabled = true;
	try {
		return await fn();
	} catch (e) {
		$(errEl).textContent = writeErrorText(e);
		return undefined;
	} finally {
		if (button) button.disabled = false;
	}
}

async function onGroupCreate(ev) {
	ev.preventDefault();
	const name = $('#gc-name').value.trim();
	const description = $('#gc-desc').value.trim();
	if (!name) {
		$('#groups-error').textContent = 'Enter a name for the group.';
		$('#gc-name').focus();
		return;
	}
	const g = await writeAction($('#group-create button[type=submit]'), '#groups-error', () =>
		api('/v3/device-groups/', [], { method: 'POST', body: { name, description } }));
	if (!g) return;
	$('#gc-name').value = '';
	$('#gc-desc').value = '';
	state.groupOptions.loaded = false;
	navigate('groups', new URLSearchParams({ group: g.id }));
	setGroupsStatus(`Group “${g.name}” created.`);
	$('#ga-device').focus();
}

async function onGroupEdit(ev) {
	ev.preventDefault();
	const id = state.groups.groupKey;
	const name = $('#ge-name').value.trim();
	if (!name) {
		$('#group-error').textContent = 'The name must not be empty.';
		$('#ge-name').focus();
		return;
	}
	const g = await writeAction($('#group-edit button[type=submit]'), '#group-error', () =>
		api(`/v3/device-groups/${enc(id)}/`, [], { method: 'PUT',
			body: { name, description: $('#ge-desc').value.trim() } }));
	if (!g || state.groups.groupKey !== id) return;
	state.groups.current = g;
	state.groupOptions.loaded = false;
	renderGroup(g);
	setGroupsStatus(`Group “${g.name}” saved.`);
}

async function onGroupDelete() {
	const id = state.groups.groupKey;
	const name = state.groups.current?.name || id;
	const ok = await writeAction($('#group-delete-yes'), '#group-error', async () => {
		await api(`/v3/device-groups/${enc(id)}/`, [], { method: 'DELETE' });
		return true;
	});
	$('#group-delete-confirm').hidden = true;
	if (!ok) return;
	state.groupOptions.loaded = false;
	navigate('groups', new URLSearchParams());
	setGroupsStatus(`Group “${name}” deleted.`);
}

async function membership(action, device, button) {
	const id = state.groups.groupKey;
	const ok = await writeAction(button, '#group-error', async () => {
		await api(`/v3/device-groups/${enc(id)}/devices/${action}/`, [], { method: 'POST',
			body: { device_id: device } });
		return true;
	});
	if (!ok || state.groups.groupKey !== id) return false;
	loadGroup(id);
	await lists.groupDevices.load([]);
	setGroupsStatus(action === 'add' ? `Device ${device} added to the group.`
		: `Device ${device} removed from the group.`);
	return true;
}

async function onGroupAdd(ev) {
	ev.preventDefault();
	const device = $('#ga-device').value.trim();
	if (!device) {
		$('#group-error').textContent = 'Enter the ID of a device.';
		$('#ga-device').focus();
		return;
	}
	if (await membership('add', device, $('#group-add button[type=submit]'))) $('#ga-device').value = '';
}

function onGroupDevicesClick(ev) {
	const rm = ev.target.closest('button.remove');
	if (rm) {
		membership('remove', rm.dataset.device, rm).then((ok) => { if (ok) $('#ga-device').focus(); });
		return;
	}
	onDeviceTableClick(ev);
}

// The events page's group filter: the account's groups by name (one call, loaded when needed).
function ensureGroupOptions() {
	const go = state.groupOptions;
	if (go.loaded || go.busy) return go.busy;
	go.busy = api('/v3/device-groups/', [['limit', 200]]).then((r) => {
		go.list = r.data || [];
		go.loaded = true;
		const sel = $('#f-group');
		const cur = parseHash().params.get('device_group_id') || sel.value;
		sel.replaceChildren(h('option', { value: '', text: 'Any group' }),
			...go.list.map((g) => h('option', { value: g.id, text: g.name })));
		ensureGroupOption(cur);
	}).catch((e) => {
		if (!isAbort(e)) $('#events-error').textContent = errorText(e);
	}).finally(() => { go.busy = null; });
	return go.busy;
}

function ensureGroupOption(value) {
	const sel = $('#f-group');
	if (value && !$$('option', sel).some((o) => o.value === value))
		sel.append(h('option', { value, text: `group ${value}` }));
	sel.value = value;
}

// ---------- update campaigns ----------

function routeCampaigns(params) {
	const cs = state.campaigns;
	const id = (params.get('campaign') || '').trim();
	let status = (params.get('status') || 'fail').toLowerCase();
	if (!CAMPAIGN_STATUSES.includes(status)) status = 'fail';
	$('#c-id').value = id;
	loadRecentCampaigns();
	document.title = id ? `Campaign ${id} · devicelog` : 'Update campaigns · devicelog';
	if (!id) {
		cs.ctrl?.abort();
		cs.key = null;
		$('#campaign-detail').hidden = true;
		$('#campaign-error').textContent = '';
		return;
	}
	if (cs.key !== id) {
		cs.key = id;
		cs.status = status;
		loadCampaign(id, status);
	} else if (cs.status !== status) {
		cs.status = status;
		if (cs.stats) loadCampaignCodes(id, status);
	}
}

async function loadCampaign(id, status) {
	const cs = state.campaigns;
	cs.ctrl?.abort();
	cs.ctrl = new AbortController();
	cs.stats = null;
	$('#campaign-error').textContent = '';
	$('#campaign-detail').setAttribute('aria-busy', 'true');
	try {
		const r = await api(`/v3/update-campaigns/${enc(id)}/statistics`, [], { signal: cs.ctrl.signal });
		if (cs.key !== id) return;
		cs.stats = r.data || [];
		renderCampaign(id, cs.stats);
		$('#campaign-detail').hidden = false;
		await loadCampaignCodes(id, cs.status || status);
	} catch (e) {
		if (isAbort(e) || cs.key !== id) return;
		$('#campaign-detail').hidden = true;
		$('#campaign-error').textContent = e instanceof ApiError && e.status === 404
			? `No statistics: ${e.message}. Check the campaign ID.` : errorText(e);
	} finally {
		$('#campaign-detail').removeAttribute('aria-busy');
	}
}

// Statistics in the API's order of message types, shown in the portal's order.
function statsByType(stats) {
	const by = new Map(stats.map((x) => [x.summary_status, x]));
	return MTYPES.map((t) => by.get(t) || { summary_status: t, id: t.toLowerCase(), count: 0,
		events_count: 0, created_at: null });
}

function renderCampaign(id, stats) {
	const rows = statsByType(stats);
	$('#campaign-name').textContent = id;
	$('#campaign-events-link').href = hashFor('events', new URLSearchParams({ campaign_id: id }));
	const devices = rows.reduce((n, x) => n + (x.count || 0), 0);
	const events = rows.reduce((n, x) => n + (x.events_count || 0), 0);
	$('#campaign-totals').textContent = `${fmtNum(devices)} ${devices === 1 ? 'device' : 'devices'}, ` +
		`${fmtNum(events)} ${events === 1 ? 'event' : 'events'} in this campaign ·`;
	$('#cchart').replaceChildren(campaignChart(id, rows));
	$('#campaign-table tbody').replaceChildren(...rows.map((x) => h('tr', {
		'data-type': x.summary_status, 'data-devices': x.count, 'data-events': x.events_count },
	h('th', { scope: 'row' }, badge(x.summary_status)),
	h('td', { class: 'num c-devices', text: fmtNum(x.count) }),
	h('td', { class: 'num c-events', text: fmtNum(x.events_count) }),
	h('td', { class: 'c-time' }, timeEl(x.created_at)),
	h('td', {}, h('a', { href: campaignHref(id, x.id), text: `${x.summary_status} codes`,
		'aria-label': `Codes of the ${x.summary_status} events` })))));
	$('#campaign-detail').dataset.campaign = id;
}

// A horizontal bar per message type: its length is the devices count; the tooltip and the
// accessible name give devices and events. Each bar links to that type's codes.
function campaignChart(id, rows) {
	const W = 720, L = 92, R = 200, T = 8, BH = 26, GAP = 14;
	const H = T * 2 + rows.length * (BH + GAP) - GAP;
	const pw = W - L - R;
	const max = Math.max(1, ...rows.map((x) => x.count));
	const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'hbars', role: 'group',
		'aria-labelledby': 'cchart-title', preserveAspectRatio: 'xMinYMid meet' });
	rows.forEach((x, i) => {
		const y = T + i * (BH + GAP);
		const w = x.count ? Math.max(2, (x.count / max) * pw) : 0;
		const label = `${x.summary_status}: ${fmtNum(x.count)} ${x.count === 1 ? 'device' : 'devices'}, ` +
			`${fmtNum(x.events_count)} ${x.events_count === 1 ? 'event' : 'events'}`;
		const a = s('a', { href: campaignHref(id, x.id), 'aria-label': label, class: 'bar',
			'data-type': x.summary_status, 'data-devices': x.count, 'data-events': x.events_count });
		a.append(s('title', { text: label }));
		a.append(s('rect', { x: 0, y: y - GAP / 2, width: W, height: BH + GAP, class: 'hit' }));
		a.append(s('text', { x: L - 10, y: y + BH / 2 + 5, 'text-anchor': 'end', class: 'ylabel',
			text: x.summary_status }));
		a.append(s('rect', { x: L, y, width: pw, height: BH, class: 'track' }));
		if (w) a.append(s('rect', { x: L, y, width: w, height: BH, class: `seg ${x.summary_status}` }));
		a.append(s('text', { x: L + w + 8, y: y + BH / 2 + 5, class: 'vlabel',
			text: `${fmtNum(x.count)} devices · ${fmtNum(x.events_count)} events` }));
		svg.append(a);
	});
	return svg;
}

async function loadCampaignCodes(id, status) {
	const cs = state.campaigns;
	const tbody = $('#campaign-codes tbody');
	const type = status.toUpperCase();
	$('#ccodes-title').textContent = `${type} codes of this campaign`;
	$('#c-status').replaceChildren(...CAMPAIGN_STATUSES.map((st) => h('li', {},
		h('a', { href: campaignHref(id, st), 'aria-current': st === status ? 'true' : null,
			class: `seg-link ${st.toUpperCase()}` }, st.toUpperCase()))));
	tbody.replaceChildren();
	$('#campaign-codes').setAttribute('aria-busy', 'true');
	const empty = (text) => [h('tr', {}, h('td', { colspan: '5', class: 'muted', text }))];
	try {
		let list = [];
		try {
			const r = await api(`/v3/update-campaigns/${enc(id)}/statistics/${status}/event_types`, [],
				{ signal: cs.ctrl?.signal });
			list = r.data || [];
		} catch (e) {
			if (!(e instanceof ApiError && e.status === 404)) throw e;
		}
		if (cs.key !== id || cs.status !== status) return;
		const dash = (v) => (v && v !== '—' ? v : h('span', { class: 'muted', text: '—' }));
		tbody.replaceChildren(...(list.length ? list.map((c) => h('tr', {
			'data-code': c.event_type, 'data-devices': c.count, 'data-events': c.events_count },
		h('th', { scope: 'row' }, h('a', { href: `#/codes?code=${enc(c.event_type)}`,
			title: 'Code reference' }, h('code', { text: c.event_type })), h('br'),
		h('a', { class: 'small', href: eventsLink([['campaign_id', id], ['event_type', c.event_type]]),
			'aria-label': `Events of ${c.event_type} in this campaign`, text: 'events' })),
		h('td', { text: c.description || '' }),
		h('td', {}, dash(c.corrective_action)),
		h('td', { class: 'num', text: fmtNum(c.count) }),
		h('td', { class: 'num', text: fmtNum(c.events_count) })))
			: empty(`No ${type} events in this campaign.`)));
		$('#campaign-codes').dataset.loaded = `${id}/${status}`;
	} catch (e) {
		if (isAbort(e)) return;
		tbody.replaceChildren(...empty(errorText(e)));
	} finally {
		$('#campaign-codes').removeAttribute('aria-busy');
	}
}

// Recent campaigns, to pick from: the newest "device added to campaign" (SYS_108) event of the
// last 90 days, then the newest of another campaign, and so on: a few 2-row queries, no scan
// of the month in the browser.
async function loadRecentCampaigns() {
	const cs = state.campaigns;
	if (cs.recent) return;
	cs.recent = [];
	const since = new Date(Date.now() - 90 * DAY_MS).toISOString();
	const list = $('#c-recent ul');
	list.replaceChildren();
	$('#c-recent-list').replaceChildren();
	try {
		for (let i = 0; i < 5; i++) {
			const page = await api('/v3/device-events/', [['event_type', 'SYS_108'],
				['date_time__gte', since], ['campaign_id__nin', cs.recent.join(',')],
				['order', 'DESC'], ['limit', 2]]);
			const e = (page.data || []).find((x) => x.data?.campaign_id &&
				!cs.recent.includes(x.data.campaign_id));
			if (!e) break;
			const c = e.data.campaign_id;
			cs.recent.push(c);
			list.append(h('li', {}, campaignLink(c), ' ', h('span', { class: 'muted small' },
				'devices added until ', timeEl(e.date_time))));
			$('#c-recent-list').append(h('option', { value: c }));
			$('#c-recent').hidden = false;
		}
	} catch (e) {
		if (!isAbort(e)) cs.recent = null; // try again next time
	}
}

// ---------- summary ----------

function summaryRange(days) {
	const now = new Date();
	const start = new Date(now.getFullYear(), now.getMonth(), now.getDate() - (days - 1));
	return { start, end: now };
}

function routeSummary(params) {
	let days = Number(params.get('days') || MONTH_DAYS);
	if (![7, 30, 60, 90].includes(days)) days = MONTH_DAYS;
	$('#s-days').value = String(days);
	document.title = 'Summary · devicelog';
	const key = String(days);
	if (state.summary.key === key) return;
	state.summary.key = key;
	loadSummary(days);
}

async function loadSummary(days) {
	const sm = state.summary;
	sm.ctrl?.abort();
	sm.ctrl = new AbortController();
	const { start, end } = summaryRange(days);
	$('#summary-error').textContent = '';
	$('#chart').setAttribute('aria-busy', 'true');
	try {
		const r = await api('/v3/device-events/summary', [
			['date_time__gte', start.toISOString()], ['date_time__lte', end.toISOString()],
			['utc_offset_minutes', -end.getTimezoneOffset()]], { signal: sm.ctrl.signal });
		renderSummary(r, start, days);
		document.body.dataset.summaryLoaded = String(days);
	} catch (e) {
		if (isAbort(e)) return;
		sm.key = null;
		$('#summary-error').textContent = errorText(e);
	} finally {
		$('#chart').removeAttribute('aria-busy');
	}
}

function dayKey(d) {
	return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

// Every day of the period, with zeros where the server had nothing.
function fillDays(r, start, days) {
	const byDate = new Map((r.days || []).map((d) => [d.date, d]));
	const out = [];
	for (let i = 0; i < days; i++) {
		const d = new Date(start.getFullYear(), start.getMonth(), start.getDate() + i);
		const k = dayKey(d);
		const got = byDate.get(k) || {};
		const row = { date: k, start: d, end: new Date(d.getFullYear(), d.getMonth(), d.getDate() + 1), total: 0 };
		for (const t of MTYPES) { row[t] = got[t] || 0; row.total += row[t]; }
		out.push(row);
	}
	return out;
}

function eventsLink(pairs) {
	return hashFor('events', new URLSearchParams(pairs.filter(([, v]) => v)));
}

function dayLink(day, mtype) {
	return eventsLink([['event_type_description', mtype], ['date_time__gte', day.start.toISOString()],
		['date_time__lte', new Date(day.end.getTime() - 1).toISOString()]]);
}

function renderSummary(r, start, days) {
	const rows = fillDays(r, start, days);
	const since = start.toISOString();
	const totals = r.totals || {};
	const all = MTYPES.reduce((n, t) => n + (totals[t] || 0), 0);
	$('#summary-totals').replaceChildren(
		h('li', { class: 'total all' }, h('a', { href: eventsLink([['date_time__gte', since]]) },
			h('span', { class: 'n', text: fmtNum(all) }), h('span', { text: 'events' }))),
		...MTYPES.map((t) => h('li', { class: `total ${t}` },
			h('a', { href: eventsLink([['event_type_description', t], ['date_time__gte', since]]) },
				h('span', { class: 'n', 'data-type': t, text: fmtNum(totals[t] || 0) }), badge(t)))));
	$('#chart').replaceChildren(barChart(rows));
	$('#days-table tbody').replaceChildren(...rows.map((d) => h('tr', {},
		h('th', { scope: 'row' }, h('a', { href: dayLink(d, ''), text: d.date })),
		...MTYPES.map((t) => h('td', { class: 'num', text: fmtNum(d[t]) })),
		h('td', { class: 'num', text: fmtNum(d.total) }))));
	const fails = r.top_failures || [];
	$('#failures-table tbody').replaceChildren(...(fails.length ? fails.map((f) => h('tr', {},
		h('td', {}, h('a', { href: eventsLink([['event_type', f.event_type], ['date_time__gte', since]]),
			title: 'Show these events', text: f.event_type })),
		h('td', { class: 'num', text: fmtNum(f.count) }),
		h('td', { text: f.description || '' }),
		h('td', {}, h('code', { text: f.event_type_category || '' })),
		h('td', { text: f.corrective_action || '—' }))) : [h('tr', {},
		h('td', { colspan: '5', class: 'muted', text: 'No failures in this period.' }))]));
}

// Round a maximum up to a "nice" axis top: 1, 2 or 5 times a power of ten per step.
function niceScale(max, ticks = 5) {
	if (max <= 0) return { top: ticks, step: 1 };
	const raw = max / ticks;
	const p = 10 ** Math.floor(Math.log10(raw));
	const step = [1, 2, 5, 10].map((m) => m * p).find((v) => v >= raw);
	return { top: Math.ceil(max / step) * step, step };
}

const dayFmt = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric' });

// A stacked bar per day; each bar links to that day's events.
function barChart(rows) {
	const W = 960, H = 280, L = 56, R = 12, T = 12, B = 36;
	const pw = W - L - R, ph = H - T - B;
	const { top, step } = niceScale(Math.max(0, ...rows.map((d) => d.total)));
	const y = (v) => T + ph - (v / top) * ph;
	const slot = pw / rows.length;
	const bw = Math.max(2, Math.min(28, slot * 0.7));
	const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'bars', role: 'group',
		'aria-labelledby': 'chart-title', preserveAspectRatio: 'xMidYMid meet' });
	const grid = s('g', { class: 'grid', 'aria-hidden': 'true' });
	for (let v = 0; v <= top; v += step) {
		grid.append(s('line', { x1: L, x2: W - R, y1: y(v), y2: y(v) }),
			s('text', { x: L - 8, y: y(v) + 4, 'text-anchor': 'end', text: fmtNum(v) }));
	}
	svg.append(grid);
	const labelEvery = Math.ceil(rows.length / 10);
	rows.forEach((d, i) => {
		const x = L + i * slot + (slot - bw) / 2;
		const parts = MTYPES.filter((t) => d[t] > 0).map((t) => `${t} ${fmtNum(d[t])}`);
		const label = `${dayFmt.format(d.start)}: ${fmtNum(d.total)} events` +
			(parts.length ? ` (${parts.join(', ')})` : '');
		const a = s('a', { href: dayLink(d, ''), 'aria-label': label, class: 'bar', 'data-date': d.date });
		a.append(s('title', { text: label }));
		// an invisible full-height target, so small bars are easy to hit
		a.append(s('rect', { x: L + i * slot, y: T, width: slot, height: ph, class: 'hit' }));
		let acc = 0;
		for (const t of MTYPES) {
			if (!d[t]) continue;
			const y0 = y(acc), y1 = y(acc + d[t]);
			a.append(s('rect', { x, y: y1, width: bw, height: Math.max(0.5, y0 - y1), class: `seg ${t}` }));
			acc += d[t];
		}
		svg.append(a);
		if (i % labelEvery === 0)
			svg.append(s('text', { x: L + i * slot + slot / 2, y: H - B + 18, 'text-anchor': 'middle',
				class: 'xlabel', 'aria-hidden': 'true', text: dayFmt.format(d.start) }));
	});
	svg.append(s('line', { x1: L, x2: W - R, y1: T + ph, y2: T + ph, class: 'axis' }));
	return svg;
}

// ---------- code reference ----------

function routeCodes(params) {
	document.title = 'Code reference · devicelog';
	const tbody = $('#codes-table tbody');
	if (tbody.children.length !== state.codes.length) renderCodes();
	filterCodes();
	const want = params.get('code');
	for (const tr of $$('tr', tbody)) tr.classList.toggle('target', tr.dataset.code === want);
	if (want) {
		const tr = $(`tr[data-code="${CSS.escape(want)}"]`, tbody);
		if (tr) {
			tr.hidden = false;
			tr.scrollIntoView({ block: 'center' });
			tr.focus({ preventScroll: true });
		}
	}
}

function renderCodes() {
	const dash = (v) => (v && v !== '—' ? v : h('span', { class: 'muted', text: '—' }));
	$('#codes-table tbody').replaceChildren(...state.codes.map((c) => h('tr', {
		'data-code': c.code, tabindex: '-1',
		'data-search': [c.code, c.description, c.explanation, c.corrective_action,
			c.event_type_category, c.event_type_description].join(' ').toLowerCase() },
	h('th', { scope: 'row' }, h('code', { text: c.code }), h('br'),
		h('a', { class: 'small', href: eventsLink([['event_type', c.code]]), text: 'events' })),
	h('td', {}, badge(c.event_type_description)),
	h('td', {}, h('code', { text: c.event_type_category, title: c.category_summary || '' })),
	h('td', { text: c.description }),
	h('td', {}, dash(c.explanation)),
	h('td', {}, dash(c.corrective_action)),
	h('td', { text: c.source || '' }),
	h('td', { text: c.state_change ? 'yes' : 'no' }))));
	const cats = new Map();
	for (const c of state.codes) {
		if (!cats.has(c.event_type_category)) cats.set(c.event_type_category, { ...c, list: [] });
		cats.get(c.event_type_category).list.push(c.code);
	}
	$('#categories-table tbody').replaceChildren(...[...cats.values()].map((c) => h('tr', {},
		h('th', { scope: 'row' }, h('code', { text: c.event_type_category })),
		h('td', {}, badge(c.event_type_description)),
		h('td', { text: c.list.join(', ') }),
		h('td', { text: c.category_summary || '' }),
		h('td', { text: c.category_reason || '' }))));
}

function filterCodes() {
	const q = $('#codes-search').value.trim().toLowerCase();
	for (const tr of $$('#codes-table tbody tr')) tr.hidden = !!q && !tr.dataset.search.includes(q);
}

// ---------- keyboard ----------

function onTableKey(ev) {
	const tr = ev.target.closest('tr');
	if (!tr || ev.target !== tr) return;
	if (ev.key === 'Enter' && tr.dataset.device) {
		ev.preventDefault();
		requestPane(tr.dataset.device, tr);
	} else if (ev.key === 'ArrowDown' || ev.key === 'ArrowUp') {
		const next = ev.key === 'ArrowDown' ? tr.nextElementSibling : tr.previousElementSibling;
		if (next) {
			ev.preventDefault();
			next.focus();
		}
	}
}

function onGlobalKey(ev) {
	if (ev.key === 'Escape' && !$('#pane').hidden && !ev.defaultPrevented) {
		ev.preventDefault();
		requestClose();
	}
}

// ---------- wiring ----------

function wire() {
	$('#signin-form').addEventListener('submit', onSignIn);
	$('#signout').addEventListener('click', () => signOut('You signed out.'));
	$('#filters').addEventListener('submit', (ev) => {
		ev.preventDefault();
		state.events.key = null; // Apply also refreshes an unchanged view
		navigate('events', formToParams());
	});
	$('#filters').addEventListener('change', (ev) => {
		if (ev.target.matches('input[type=checkbox], select')) $('#filters').requestSubmit();
	});
	$('#f-reset').addEventListener('click', () => {
		const cur = parseHash().params;
		const p = new URLSearchParams();
		if (cur.get('live')) p.set('live', '1');
		state.events.key = null;
		navigate('events', p);
	});
	$('#live').addEventListener('change', () => {
		const { params } = parseHash();
		if ($('#live').checked) params.set('live', '1');
		else params.delete('live');
		navigate('events', params, { replace: true });
	});
	$('#events-more').addEventListener('click', moreEvents);
	$('#log-more').addEventListener('click', moreLog);
	$('#events-table').addEventListener('click', (ev) => {
		const b = ev.target.closest('button.device');
		if (b) requestPane(b.dataset.device, b);
	});
	$('#events-table').addEventListener('keydown', onTableKey);
	$('#log-table').addEventListener('keydown', onTableKey);
	$('#pane-close').addEventListener('click', requestClose);
	for (const t of $$('[role=tab]')) {
		t.addEventListener('click', () => chooseTab(t.id.replace('tab-', '')));
		t.addEventListener('keydown', onTabKey);
	}
	// devices
	$('#d-filters').addEventListener('submit', (ev) => {
		ev.preventDefault();
		state.devices.key = null; // Apply also refreshes an unchanged view
		navigate('devices', deviceFormToParams());
	});
	$('#d-filters').addEventListener('change', (ev) => {
		if (ev.target.matches('select')) $('#d-filters').requestSubmit();
	});
	$('#d-reset').addEventListener('click', () => {
		state.devices.key = null;
		navigate('devices', new URLSearchParams());
	});
	$('#devices-more').addEventListener('click', () => lists.devices.loadMore());
	$('#devices-table').addEventListener('click', onDeviceTableClick);
	$('#devices-table').addEventListener('keydown', onTableKey);
	// groups
	$('#group-create').addEventListener('submit', onGroupCreate);
	$('#group-edit').addEventListener('submit', onGroupEdit);
	$('#group-add').addEventListener('submit', onGroupAdd);
	$('#group-delete').addEventListener('click', () => {
		$('#group-delete-confirm').hidden = false;
		$('#group-delete-no').focus();
	});
	$('#group-delete-no').addEventListener('click', () => {
		$('#group-delete-confirm').hidden = true;
		$('#group-delete').focus();
	});
	$('#group-delete-yes').addEventListener('click', onGroupDelete);
	$('#groups-more').addEventListener('click', () => lists.groups.loadMore());
	$('#group-devices-more').addEventListener('click', () => lists.groupDevices.loadMore());
	$('#group-devices-table').addEventListener('click', onGroupDevicesClick);
	$('#group-devices-table').addEventListener('keydown', onTableKey);
	// campaigns
	$('#campaign-form').addEventListener('submit', (ev) => {
		ev.preventDefault();
		const id = $('#c-id').value.trim();
		if (!id) {
			$('#campaign-error').textContent = 'Enter a campaign ID.';
			$('#c-id').focus();
			return;
		}
		state.campaigns.key = null; // Show also refreshes an unchanged view
		navigate('campaigns', new URLSearchParams({ campaign: id }));
	});
	$('#s-days').addEventListener('change', () =>
		navigate('summary', new URLSearchParams({ days: $('#s-days').value })));
	$('#codes-search').addEventListener('input', filterCodes);
	document.addEventListener('keydown', onGlobalKey);
	window.addEventListener('hashchange', route);
	for (const el of $$('.tz')) el.textContent = zoneLabel();
}

async function start() {
	wire();
	const key = sessionStorage.getItem(KEY_STORE);
	if (key) {
		try {
			await loadCodes(key);
		} catch (e) {
			if (e instanceof ApiError && e.status === 401) {
				signOut(`Your access key was refused: ${e.message}. Sign in again.`);
				return;
			}
			$('#events-error').textContent = errorText(e);
		}
	}
	route();
}

start();
