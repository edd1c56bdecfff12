// Issue 6: the device directory derived from the event log, device groups, and update-campaign
// statistics. Every expectation is computed here, in JS, from the events this file ingests:
// "latest" is the greatest (date_time, id) and ids order as the events were committed.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { startDaemon, assertError, assertSameIds, qs, toMicros, MTYPE, PORTAL_TEXT, rng, sleep, HEX32, TS6 } from './lib/harness.mjs';

let d;

// ---- time helpers ----

const US = 1_000_000;
const T0 = Date.UTC(2026, 2, 1) * 1000; // 2026-03-01, micro-seconds; all fixture events are in the past

// Micro-seconds since the epoch -> the wire form (6 fraction digits, Z). Also our ingest form.
function fmt(us) {
	const s = new Date(Math.floor(us / 1000)).toISOString().slice(0, 19);
	return `${s}.${String(us % US).padStart(6, '0')}Z`;
}

// ---- the model: every event of account A (and, separately, of B) ----

// {id, device_id, event_type, dt (micro-seconds), campaign (string|null)}
const model = { A: [], B: [] };

function record(acct, inputs, ids) {
	assert.equal(inputs.length, ids.length);
	inputs.forEach((e, i) =>
		model[acct].push({
			id: ids[i],
			device_id: e.device_id,
			event_type: e.event_type,
			dt: toMicros(e.date_time),
			campaign: e.data?.campaign_id ?? null,
		}),
	);
}

async function ingest(acct, events, opts) {
	const ids = await d.ingest(events, d.keys[acct].write, opts);
	record(acct, events, ids);
	return ids;
}

const later = (a, b) => a.dt > b.dt || (a.dt === b.dt && a.id > b.id); // a after b by (date_time, id)
const LIFECYCLE = { SYS_106: 'registered', SYS_107: 'bootstrapped', SYS_105: 'deregistered' };

// The directory entry of every device, from the events alone.
function directory(events) {
	const by = new Map();
	for (const e of events) {
		let x = by.get(e.device_id);
		if (!x) by.set(e.device_id, (x = { events: [] }));
		x.events.push(e);
	}
	const out = new Map();
	for (const [id, { events: evs }] of by) {
		let last = null, lastLife = null, lastCamp = null, first = Infinity;
		const counts = { SUCCESS: 0, FAIL: 0, SKIPPED: 0, INFO: 0 };
		for (const e of evs) {
			counts[MTYPE[e.event_type]]++;
			if (e.dt < first) first = e.dt;
			if (!last || later(e, last)) last = e;
			if (LIFECYCLE[e.event_type] && (!lastLife || later(e, lastLife))) lastLife = e;
			if (e.campaign && (!lastCamp || later(e, lastCamp))) lastCamp = e;
		}
		out.set(id, {
			object: 'device',
			id,
			state: lastLife ? LIFECYCLE[lastLife.event_type] : 'unenrolled',
			created_at: fmt(first),
			updated_at: fmt(last.dt),
			last_event_type: last.event_type,
			last_event_type_description: MTYPE[last.event_type],
			last_campaign_id: lastCamp ? lastCamp.campaign : null,
			event_counts: counts,
		});
	}
	return out;
}

const byId = (a, b) => (a < b ? -1 : a > b ? 1 : 0);

function assertDevice(got, want, what) {
	assert.ok(got && typeof got === 'object', `${what}: not an object`);
	assert.match(got.etag ?? '', TS6, `${what}: etag ${got.etag}`);
	const { etag, ...rest } = got;
	assert.deepEqual(rest, want, `${what}`);
}

// ---- fixtures ----

// Lifecycle scenarios: [device, [[code, seconds after T0, campaign?], ...] in ingest batches]
const DIR = 'dir-';
const SCEN = {
	// 106 then 107 -> bootstrapped
	boot: { batches: [[['SYS_106', 10], ['SYS_107', 20]]], state: 'bootstrapped', last: 'SYS_107' },
	// 107 then 106 -> registered
	reg: { batches: [[['SYS_107', 10], ['SYS_106', 20]]], state: 'registered', last: 'SYS_106' },
	// 106, 107, 105 -> deregistered
	dereg: { batches: [[['SYS_106', 10], ['SYS_107', 20], ['SYS_105', 30]]], state: 'deregistered', last: 'SYS_105' },
	// a late-arriving older SYS_105 must not override the newer SYS_106
	late: { batches: [[['SYS_106', 50]], [['UPD4_FAIL_24', 5, 'late']], [['SYS_105', 40]]], state: 'registered', last: 'SYS_106' },
	// a late-arriving newer SYS_105 does
	late2: { batches: [[['SYS_106', 50]], [['SYS_105', 60]]], state: 'deregistered', last: 'SYS_105' },
	// ingested newest first
	rev: { batches: [[['SYS_105', 300], ['SYS_107', 200], ['SYS_106', 100]]], state: 'deregistered', last: 'SYS_105' },
	// only campaign events -> unenrolled
	camp: { batches: [[['SYS_108', 10, 'x'], ['UPD4_FAIL_33', 20, 'x'], ['SYS_111', 30, 'x']]], state: 'unenrolled', last: 'SYS_111' },
	// same date_time: the later ingested wins (id order), within one batch ...
	tie1: { batches: [[['SYS_107', 70], ['SYS_105', 70]]], state: 'deregistered', last: 'SYS_105' },
	// ... and across batches
	tie2: { batches: [[['SYS_105', 70]], [['SYS_107', 70]]], state: 'bootstrapped', last: 'SYS_107' },
	// the state comes from the latest lifecycle event, not the latest event
	after: { batches: [[['SYS_107', 10], ['SYS_112', 90, 'y'], ['SYS_100', 95]]], state: 'bootstrapped', last: 'SYS_100', lastCampaign: 'y' },
	// last_event_type on a date_time tie: the later ingested
	lasttie: { batches: [[['SYS_106', 10], ['UPD4_FAIL_40', 80]], [['SYS_110', 80]]], state: 'registered', last: 'SYS_110' },
	// last_campaign_id: the campaign of the latest event that has one, by date_time, not arrival
	lastcamp: {
		batches: [[['SYS_108', 500, 'z1'], ['UPD2_OK_18', 510, 'z1']], [['SYS_108', 400, 'z2'], ['UPD4_FAIL_24', 410, 'z2']], [['SYS_100', 600]]],
		state: 'unenrolled',
		last: 'SYS_100',
		lastCampaign: 'z1',
	},
	none: { batches: [[['SYS_100', 1]]], state: 'unenrolled', last: 'SYS_100', lastCampaign: null },
};
const campOf = (tag) => tag && `${tag}`.padEnd(32, '0'); // scenario campaigns, distinct from CAMPS below

// The campaign mix: 60 devices, 4 campaigns, attempts, outcomes, shuffled arrival.
const CAMPS = ['0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a', '1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b', '2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c', '3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d'];
const CDEV = Array.from({ length: 60 }, (_, i) => `c-${String(i).padStart(2, '0')}`);

function campaignMix() {
	const r = rng(6);
	const pick = (a) => a[Math.floor(r() * a.length)];
	const out = [];
	const fails = ['UPD4_FAIL_24', 'UPD4_FAIL_33', 'UPD4_FAIL_23', 'UPD4_FAIL_40', 'UPD4_FAIL_41'];
	CAMPS.forEach((camp, ci) => {
		const base = T0 + (ci + 1) * 10 * 86400 * US;
		const devs = CDEV.filter(() => r() < 0.65);
		for (const dev of devs) {
			let t = base + Math.floor(r() * 86400) * US + Math.floor(r() * US);
			const attempts = 1 + Math.floor(r() * 3);
			for (let a = 0; a < attempts; a++) {
				const ev = (code, dt) => out.push({ device_id: dev, event_type: code, date_time: fmt(dt), data: { campaign_id: camp } });
				ev('SYS_108', t);
				if (r() < 0.1) ev('SYS_100', (t += 5 * US));
				const o = r();
				// 8%: the outcome has the very same date_time as the previous event (a tie)
				const dt = r() < 0.08 ? t : (t += Math.floor(r() * 600 + 1) * US + Math.floor(r() * US));
				if (o < 0.25) ev('UPD2_OK_18', dt);
				else if (o < 0.4) ev('SYS_112', dt);
				else if (o < 0.5) ev('SYS_110', dt);
				else if (o < 0.6) ev('SYS_111', dt);
				else {
					ev(pick(fails), dt);
					if (r() < 0.5) ev('SYS_111', (t += 2 * US));
				}
				if (r() < 0.05) ev('SYS_109', (t += 3 * US));
				t += Math.floor(r() * 3600 + 60) * US;
			}
		}
	});
	// lifecycle events for some of these devices, outside any campaign
	for (const dev of CDEV) {
		const k = Math.floor(r() * 4);
		for (let i = 0; i < k; i++)
			out.push({ device_id: dev, event_type: pick(['SYS_106', 'SYS_107', 'SYS_105']), date_time: fmt(T0 + Math.floor(r() * 60 * 86400) * US) });
	}
	// shuffled arrival: out of date_time order, across batches
	for (let i = out.length - 1; i > 0; i--) {
		const j = Math.floor(r() * (i + 1));
		[out[i], out[j]] = [out[j], out[i]];
	}
	out.forEach((e, i) => (e.id = `mix-${i}`)); // idempotency keys, for the re-send below
	return out;
}
const MIX = campaignMix();
const MIX_BATCH = 40;

// Account B: some of A's device ids and one of A's campaign ids, with other events.
const B_CAMP = 'b0'.repeat(16);
function bEvents() {
	const out = [];
	const add = (dev, code, s, camp) => out.push({ device_id: dev, event_type: code, date_time: fmt(T0 + s * US), ...(camp ? { data: { campaign_id: camp } } : {}) });
	add(`${DIR}boot`, 'SYS_105', 99999); // A's dir-boot is bootstrapped; B's is deregistered
	add('c-00', 'SYS_107', 5);
	add('c-00', 'UPD4_FAIL_49', 6, CAMPS[0]);
	add('c-01', 'SYS_112', 7, CAMPS[0]);
	add('b-only', 'SYS_108', 8, B_CAMP);
	add('b-only', 'SYS_110', 9, B_CAMP);
	add('b-only-2', 'SYS_106', 10);
	return out;
}

before(async () => {
	d = await startDaemon({ accounts: { A: ['read', 'write', 'admin'], B: ['read', 'write'] } });
	// scenarios: batch k of every scenario goes in request k, so arrival order is as written
	const maxB = Math.max(...Object.values(SCEN).map((s) => s.batches.length));
	for (let k = 0; k < maxB; k++) {
		const evs = [];
		for (const [name, s] of Object.entries(SCEN))
			for (const [code, sec, camp] of s.batches[k] ?? [])
				evs.push({ device_id: DIR + name, event_type: code, date_time: fmt(T0 + sec * US + 123456), ...(camp ? { data: { campaign_id: campOf(camp) } } : {}) });
		await ingest('A', evs);
	}
	// the mix, interleaved with B's events so both accounts' ids mix
	const bev = bEvents();
	for (let i = 0, k = 0; i < MIX.length; i += MIX_BATCH, k++) {
		await ingest('A', MIX.slice(i, i + MIX_BATCH));
		if (k < bev.length) await ingest('B', [bev[k]]);
	}
	for (let k = Math.ceil(MIX.length / MIX_BATCH); k < bev.length; k++) await ingest('B', [bev[k]]);
});

after(async () => {
	if (d) await d.cleanup();
});

// Compares GET /v3/devices/ (every page) and GET /v3/devices/{id}/ with the model.
async function checkDirectory(acct, what) {
	const want = directory(model[acct]);
	const key = d.keys[acct].read;
	const list = await d.listAll('', key, { path: '/v3/devices/', limit: 17 });
	assert.deepEqual(
		list.map((x) => x.id),
		[...want.keys()].sort(byId),
		`${what}: the directory lists every device with events, by device id`,
	);
	for (const x of list) assertDevice(x, want.get(x.id), `${what}: list item ${x.id}`);
	for (const [id, w] of want) {
		const r = await d.get(`/v3/devices/${encodeURIComponent(id)}/`, key);
		assert.equal(r.status, 200, `${what}: GET device ${id}: ${r.text}`);
		assertDevice(r.body, w, `${what}: GET device ${id}`);
	}
	return want;
}

// ---- 1. the directory ----

describe('device directory', () => {
	test('lifecycle scenarios give the stated state and latest event', async () => {
		for (const [name, s] of Object.entries(SCEN)) {
			const r = await d.get(`/v3/devices/${DIR}${name}/`, d.keys.A.read);
			assert.equal(r.status, 200, `${name}: ${r.text}`);
			assert.equal(r.body.object, 'device');
			assert.equal(r.body.id, DIR + name);
			assert.equal(r.body.state, s.state, `${name}: state`);
			assert.equal(r.body.last_event_type, s.last, `${name}: last_event_type`);
			assert.equal(r.body.last_event_type_description, MTYPE[s.last], `${name}: last_event_type_description`);
			if ('lastCampaign' in s) assert.equal(r.body.last_campaign_id, s.lastCampaign && campOf(s.lastCampaign), `${name}: last_campaign_id`);
			const secs = s.batches.flat().map((x) => x[1]);
			assert.equal(r.body.created_at, fmt(T0 + Math.min(...secs) * US + 123456), `${name}: created_at`);
			assert.equal(r.body.updated_at, fmt(T0 + Math.max(...secs) * US + 123456), `${name}: updated_at`);
			const n = { SUCCESS: 0, FAIL: 0, SKIPPED: 0, INFO: 0 };
			for (const [code] of s.batches.flat()) n[MTYPE[code]]++;
			assert.deepEqual(r.body.event_counts, n, `${name}: event_counts`);
		}
	});

	test('every device, listed and one by one, equals the model', async () => {
		const want = await checkDirectory('A', 'A');
		assert.ok(want.size >= 70);
		const states = new Set([...want.values()].map((x) => x.state));
		assert.deepEqual([...states].sort(), ['bootstrapped', 'deregistered', 'registered', 'unenrolled']);
	});

	test('with and without the trailing slash', async () => {
		const a = await d.get('/v3/devices?limit=5', d.keys.A.read);
		const b = await d.get('/v3/devices/?limit=5', d.keys.A.read);
		assert.equal(a.status, 200);
		assert.deepEqual(a.body, b.body);
		const c = await d.get(`/v3/devices/${DIR}boot`, d.keys.A.read);
		assert.equal(c.status, 200);
		assert.equal(c.body.state, 'bootstrapped');
	});

	test('unknown device: 404', async () => {
		assertError(await d.get('/v3/devices/no-such-device/', d.keys.A.read), 404, 'not_found');
	});

	describe('filters match the JS-computed sets', () => {
		const cases = [];
		const all = () => [...directory(model.A).values()];
		const S = ['unenrolled', 'registered', 'bootstrapped', 'deregistered'];
		const MT = ['SUCCESS', 'FAIL', 'SKIPPED', 'INFO'];
		for (const s of S) {
			cases.push([`state=${s}`, (x) => x.state === s]);
			cases.push([`state__eq=${s}`, (x) => x.state === s]);
			cases.push([`state__neq=${s}`, (x) => x.state !== s]);
		}
		cases.push(['state__in=registered,bootstrapped', (x) => ['registered', 'bootstrapped'].includes(x.state)]);
		cases.push(['state__nin=registered,unenrolled', (x) => !['registered', 'unenrolled'].includes(x.state)]);
		for (const m of MT) {
			cases.push([`last_event_type_description=${m}`, (x) => x.last_event_type_description === m]);
			cases.push([`last_event_type_description__neq=${m}`, (x) => x.last_event_type_description !== m]);
		}
		cases.push(['last_event_type_description__in=FAIL,SKIPPED', (x) => ['FAIL', 'SKIPPED'].includes(x.last_event_type_description)]);
		cases.push(['last_event_type_description__nin=FAIL,INFO', (x) => !['FAIL', 'INFO'].includes(x.last_event_type_description)]);
		for (const c of ['SYS_111', 'UPD2_OK_18', 'SYS_105', 'SYS_110']) {
			cases.push([`last_event_type=${c}`, (x) => x.last_event_type === c]);
			cases.push([`last_event_type__eq=${c}`, (x) => x.last_event_type === c]);
			cases.push([`last_event_type__neq=${c}`, (x) => x.last_event_type !== c]);
		}
		cases.push(['last_event_type__in=SYS_111,SYS_112,UPD4_FAIL_24', (x) => ['SYS_111', 'SYS_112', 'UPD4_FAIL_24'].includes(x.last_event_type)]);
		cases.push(['last_event_type__nin=SYS_111,SYS_112,UPD4_FAIL_24', (x) => !['SYS_111', 'SYS_112', 'UPD4_FAIL_24'].includes(x.last_event_type)]);
		cases.push([`id=${DIR}late`, (x) => x.id === `${DIR}late`]);
		cases.push([`id__eq=c-07`, (x) => x.id === 'c-07']);
		cases.push([`id__neq=c-07`, (x) => x.id !== 'c-07']);
		cases.push([`id__in=c-07,${DIR}rev,nobody`, (x) => ['c-07', `${DIR}rev`].includes(x.id)]);
		cases.push([`id__nin=c-07,${DIR}rev,nobody`, (x) => !['c-07', `${DIR}rev`].includes(x.id)]);
		cases.push(['state=registered&last_event_type_description=FAIL', (x) => x.state === 'registered' && x.last_event_type_description === 'FAIL']);
		for (const [name, fn] of cases) {
			test(name, async () => {
				const want = all().filter(fn).map((x) => x.id);
				const got = await d.listAll(name, d.keys.A.read, { path: '/v3/devices/', limit: 13 });
				assert.deepEqual(
					got.map((x) => x.id),
					want.sort(byId),
					name,
				);
				const tc = await d.get(`/v3/devices/?${name}&include=total_count&limit=2`, d.keys.A.read);
				assert.equal(tc.body.total_count, want.length, `${name}: total_count`);
			});
		}
		test('created_at / updated_at __lte / __gte, boundaries included', async () => {
			const devs = all();
			const times = [...new Set(devs.flatMap((x) => [x.created_at, x.updated_at]))].sort();
			const picks = [times[0], times[Math.floor(times.length / 3)], times[Math.floor(times.length / 2)], times[times.length - 1]];
			let nonEmpty = 0;
			for (const t of picks) {
				const us = toMicros(t);
				for (const [f, op] of [
					['created_at', 'lte'],
					['created_at', 'gte'],
					['updated_at', 'lte'],
					['updated_at', 'gte'],
				]) {
					const q = `${f}__${op}=${t}`;
					const want = devs.filter((x) => (op === 'lte' ? toMicros(x[f]) <= us : toMicros(x[f]) >= us)).map((x) => x.id);
					const got = await d.listAll(q, d.keys.A.read, { path: '/v3/devices/' });
					assertSameIds(
						got.map((x) => x.id),
						want,
						q,
					);
					if (want.length) nonEmpty++;
				}
			}
			assert.ok(nonEmpty > 8);
			// a window, both bounds, combined with a state
			const lo = picks[1], hi = picks[2];
			const q = `created_at__gte=${lo}&updated_at__lte=${hi}&state__neq=unenrolled`;
			const want = devs.filter((x) => x.created_at >= lo && x.updated_at <= hi && x.state !== 'unenrolled').map((x) => x.id);
			assertSameIds(
				(await d.listAll(q, d.keys.A.read, { path: '/v3/devices/' })).map((x) => x.id),
				want,
				q,
			);
		});
	});

	test('paging: after is a device id, ASC and DESC, has_more, total_count', async () => {
		const ids = [...directory(model.A).keys()].sort(byId);
		for (const order of ['ASC', 'DESC']) {
			const want = order === 'ASC' ? ids : [...ids].reverse();
			const got = [];
			let after = null;
			for (let page = 0; page < 100; page++) {
				const q = `limit=7&order=${order}&include=total_count${after ? `&after=${encodeURIComponent(after)}` : ''}`;
				const r = await d.get(`/v3/devices/?${q}`, d.keys.A.read);
				assert.equal(r.status, 200, r.text);
				assert.equal(r.body.object, 'list');
				assert.equal(r.body.order, order);
				assert.equal(r.body.limit, 7);
				assert.equal(r.body.after, after);
				assert.equal(r.body.total_count, ids.length);
				assert.ok(r.body.data.length <= 7);
				got.push(...r.body.data.map((x) => x.id));
				assert.equal(r.body.has_more, got.length < ids.length, `has_more after ${got.length}`);
				if (!r.body.has_more) break;
				after = r.body.data[r.body.data.length - 1].id;
			}
			assert.deepEqual(got, want, order);
		}
		const lim = await d.get('/v3/devices/?limit=1', d.keys.A.read);
		assert.equal(lim.body.limit, 2, 'limit is clamped, not rejected');
		assert.equal(lim.body.data.length, 2);
		// an id that is no device pages by position
		for (const [after, order] of [
			['c-305', 'ASC'],
			['c-305', 'DESC'],
			['a', 'ASC'],
			['zzz', 'DESC'],
		]) {
			const r = await d.get(`/v3/devices/?limit=1000&order=${order}&after=${after}`, d.keys.A.read);
			assert.equal(r.status, 200, r.text);
			const want = order === 'ASC' ? ids.filter((x) => x > after) : ids.filter((x) => x < after).reverse();
			assert.deepEqual(
				r.body.data.map((x) => x.id),
				want,
				`after=${after} ${order}`,
			);
		}
		// a filter and paging together
		const want = [...directory(model.A).values()].filter((x) => x.state === 'registered').map((x) => x.id).sort(byId);
		const got = await d.listAll('state=registered', d.keys.A.read, { path: '/v3/devices/', limit: 2 });
		assert.deepEqual(
			got.map((x) => x.id),
			want,
		);
	});

	test('bad device queries are 400 naming the parameter', async () => {
		for (const [q, name] of [
			['state__lte=registered', 'state__lte'],
			['device_id=x', 'device_id'],
			['event_type=SYS_106', 'event_type'],
			['created_at=2026-01-01T00:00:00Z', 'created_at'],
			['updated_at__gte=yesterday', 'updated_at__gte'],
			['limit=x', 'limit'],
			['order=up', 'order'],
		])
			assertError(await d.get(`/v3/devices/?${q}`, d.keys.A.read), 400, 'validation_error', name);
	});
});

// ---- 2. POST / DELETE /v3/devices ----

// The newest event of a device with a code (the ones POST/DELETE record), added to the model.
async function recordServerEvent(acct, device, code, t0, t1) {
	const r = await d.get(`/v3/device-events/?${qs({ device_id: device, event_type: code, order: 'DESC', limit: 2 })}`, d.keys[acct].read);
	assert.equal(r.status, 200);
	const e = r.body.data[0];
	assert.ok(e, `no ${code} event for ${device}`);
	assert.ok(!model[acct].some((x) => x.id === e.id), `the ${code} event of ${device} is not a new one`);
	const dt = toMicros(e.date_time);
	assert.ok(dt >= t0 - 2 * US && dt <= t1 + 2 * US, `${code} date_time ${e.date_time} is "now"`);
	assert.equal(e.event_type_description, 'INFO');
	assert.deepEqual(e.data, {});
	model[acct].push({ id: e.id, device_id: device, event_type: code, dt, campaign: null });
	return e;
}

describe('POST / DELETE /v3/devices', () => {
	test('POST registers a new device: 201 with the device, a SYS_106 event', async () => {
		const t0 = Date.now() * 1000;
		const r = await d.post('/v3/devices/', { id: 'new-1' }, d.keys.A.write);
		const t1 = Date.now() * 1000;
		assert.equal(r.status, 201, r.text);
		await recordServerEvent('A', 'new-1', 'SYS_106', t0, t1);
		const want = directory(model.A).get('new-1');
		assertDevice(r.body, want, 'POST answer');
		assert.equal(r.body.state, 'registered');
		assert.deepEqual(r.body.event_counts, { SUCCESS: 0, FAIL: 0, SKIPPED: 0, INFO: 1 });
		assert.equal(r.body.last_event_type, 'SYS_106');
		const ev = await d.listAll('device_id=new-1', d.keys.A.read);
		assert.deepEqual(
			ev.map((e) => e.event_type),
			['SYS_106'],
		);
		assertDevice((await d.get('/v3/devices/new-1/', d.keys.A.read)).body, want, 'GET after POST');
	});

	test('POST on a deregistered device registers it again; the history stays', async () => {
		const before_ = (await d.listAll(`device_id=${DIR}dereg`, d.keys.A.read)).map((e) => e.id);
		const t0 = Date.now() * 1000;
		const r = await d.post('/v3/devices', { id: `${DIR}dereg` }, d.keys.A.admin);
		const t1 = Date.now() * 1000;
		assert.equal(r.status, 201, r.text);
		const e = await recordServerEvent('A', `${DIR}dereg`, 'SYS_106', t0, t1);
		assert.equal(r.body.state, 'registered');
		assertDevice(r.body, directory(model.A).get(`${DIR}dereg`), 'POST answer');
		const after_ = (await d.listAll(`device_id=${DIR}dereg`, d.keys.A.read)).map((x) => x.id);
		assert.deepEqual(after_, [...before_, e.id]);
	});

	test('DELETE deregisters: 204, a SYS_105 event, the history stays', async () => {
		for (const dev of [`${DIR}boot`, 'new-1', 'c-03']) {
			const before_ = (await d.listAll(`device_id=${dev}`, d.keys.A.read)).map((e) => e.id);
			const t0 = Date.now() * 1000;
			const r = await d.request('DELETE', `/v3/devices/${dev}/`, { key: d.keys.A.write });
			const t1 = Date.now() * 1000;
			assert.equal(r.status, 204, `${dev}: ${r.text}`);
			assert.equal(r.text, '');
			const e = await recordServerEvent('A', dev, 'SYS_105', t0, t1);
			const g = await d.get(`/v3/devices/${dev}/`, d.keys.A.read);
			assert.equal(g.status, 200, 'the device is still listed');
			assert.equal(g.body.state, 'deregistered', dev);
			assert.equal(g.body.last_event_type, 'SYS_105');
			assertDevice(g.body, directory(model.A).get(dev), `after DELETE ${dev}`);
			const after_ = (await d.listAll(`device_id=${dev}`, d.keys.A.read)).map((x) => x.id);
			assert.deepEqual(after_, [...before_, e.id], `${dev}: history + one SYS_105`);
		}
		// without the trailing slash, twice: still 204 (a second SYS_105)
		const t0 = Date.now() * 1000;
		const r = await d.request('DELETE', `/v3/devices/${DIR}boot`, { key: d.keys.A.admin });
		assert.equal(r.status, 204, r.text);
		await recordServerEvent('A', `${DIR}boot`, 'SYS_105', t0, Date.now() * 1000);
	});

	test('DELETE of an unknown device: 404 and nothing recorded', async () => {
		const n = (await d.get('/v3/device-events/?include=total_count&limit=2', d.keys.A.read)).body.total_count;
		assertError(await d.request('DELETE', '/v3/devices/never-seen/', { key: d.keys.A.write }), 404, 'not_found');
		assertError(await d.get('/v3/devices/never-seen/', d.keys.A.read), 404, 'not_found');
		assert.equal((await d.get('/v3/device-events/?include=total_count&limit=2', d.keys.A.read)).body.total_count, n);
		assert.equal(n, model.A.length);
	});

	test('POST without an id: 400; read key: 403', async () => {
		for (const body of [{}, { id: '' }, { id: 7 }, { name: 'x' }])
			assertError(await d.post('/v3/devices/', body, d.keys.A.write), 400, 'validation_error', 'id');
		assertError(await d.post('/v3/devices/', '[1]', d.keys.A.write), 400, 'validation_error');
		assertError(await d.post('/v3/devices/', { id: 'ro-1' }, d.keys.A.read), 403, 'forbidden');
		assertError(await d.request('DELETE', `/v3/devices/${DIR}reg/`, { key: d.keys.A.read }), 403, 'forbidden');
		assertError(await d.get('/v3/devices/'), 401, 'unauthorized');
		assertError(await d.get('/v3/devices/ro-1/', d.keys.A.read), 404, 'not_found');
		assert.equal((await d.get(`/v3/devices/${DIR}reg/`, d.keys.A.read)).body.state, 'registered');
	});

	test('the directory still equals the model', async () => {
		await checkDirectory('A', 'after POST/DELETE');
	});
});

// ---- 3. groups ----

const G = {}; // name -> group object as created
const members = new Map(); // group id -> Set of device ids

function groupEventIds(gids, pred = () => true) {
	const devs = new Set(gids.flatMap((g) => [...(members.get(g) ?? [])]));
	return model.A.filter((e) => devs.has(e.device_id) && pred(e)).map((e) => e.id);
}

async function checkGroupFilter(gids, what) {
	const want = groupEventIds(gids);
	const v = gids.length === 1 ? [`device_group_id=${gids[0]}`, `device_group_id__eq=${gids[0]}`] : [];
	v.push(`device_group_id__in=${gids.join(',')}`);
	for (const q of v) {
		for (const path of ['/v3/device-events/', '/v3/devicelog/']) {
			assertSameIds(
				(await d.listAll(q, d.keys.A.read, { path })).map((e) => e.id),
				want,
				`${what}: ${path}?${q}`,
			);
			assertSameIds(
				(await d.listAll(`filter=${encodeURIComponent(q)}`, d.keys.A.read, { path })).map((e) => e.id),
				want,
				`${what}: ${path}?filter=${q}`,
			);
		}
	}
	// combined with other filters
	const fails = groupEventIds(gids, (e) => MTYPE[e.event_type] === 'FAIL');
	const q = `device_group_id__in=${gids.join(',')}&event_type_description=FAIL`;
	assertSameIds(
		(await d.listAll(q, d.keys.A.read)).map((e) => e.id),
		fails,
		`${what}: ${q}`,
	);
	const tc = await d.get(`/v3/device-events/?device_group_id__in=${gids.join(',')}&include=total_count&limit=2`, d.keys.A.read);
	assert.equal(tc.body.total_count, want.length, `${what}: total_count`);
	return want;
}

async function checkGroupDevices(gid, what) {
	const want = directory(model.A);
	const ids = [...(members.get(gid) ?? [])].sort(byId);
	const got = await d.listAll('', d.keys.A.read, { path: `/v3/device-groups/${gid}/devices/`, limit: 3 });
	assert.deepEqual(
		got.map((x) => x.id),
		ids,
		`${what}: group devices`,
	);
	for (const x of got) assertDevice(x, want.get(x.id), `${what}: group device ${x.id}`);
	const g = await d.get(`/v3/device-groups/${gid}/`, d.keys.A.read);
	assert.equal(g.status, 200);
	assert.equal(g.body.devices_count, ids.length, `${what}: devices_count`);
	const tc = await d.get(`/v3/device-groups/${gid}/devices?include=total_count&limit=2`, d.keys.A.read);
	assert.equal(tc.body.total_count, ids.length);
}

async function member(gid, dev, add, key = d.keys.A.write) {
	const r = await d.post(`/v3/device-groups/${gid}/devices/${add ? 'add' : 'remove'}/`, { device_id: dev }, key);
	assert.equal(r.status, 204, `${add ? 'add' : 'remove'} ${dev}: ${r.status} ${r.text}`);
	assert.equal(r.text, '');
	let s = members.get(gid);
	if (!s) members.set(gid, (s = new Set()));
	if (add) s.add(dev);
	else s.delete(dev);
}

function assertGroupShape(g) {
	assert.equal(g.object, 'device-group');
	assert.match(g.id, HEX32);
	assert.equal(typeof g.name, 'string');
	assert.equal(typeof g.description, 'string');
	assert.ok(g.custom_attributes && typeof g.custom_attributes === 'object' && !Array.isArray(g.custom_attributes));
	assert.equal(typeof g.devices_count, 'number');
	assert.match(g.created_at, TS6);
	assert.match(g.updated_at, TS6);
	assert.equal(typeof g.etag, 'string');
}

describe('device groups', () => {
	test('create, get, duplicate name, missing name', async () => {
		const r = await d.post('/v3/device-groups/', { name: 'north', description: 'North site', custom_attributes: { site: 'n', tier: '1' } }, d.keys.A.write);
		assert.equal(r.status, 201, r.text);
		assertGroupShape(r.body);
		assert.equal(r.body.name, 'north');
		assert.equal(r.body.description, 'North site');
		assert.deepEqual(r.body.custom_attributes, { site: 'n', tier: '1' });
		assert.equal(r.body.devices_count, 0);
		G.north = r.body;
		const g = await d.get(`/v3/device-groups/${r.body.id}/`, d.keys.A.read);
		assert.equal(g.status, 200);
		assert.deepEqual(g.body, r.body);
		assert.deepEqual((await d.get(`/v3/device-groups/${r.body.id}`, d.keys.A.read)).body, r.body);
		const s = await d.post('/v3/device-groups', { name: 'south' }, d.keys.A.admin);
		assert.equal(s.status, 201, s.text);
		assert.equal(s.body.description, '');
		assert.deepEqual(s.body.custom_attributes, {});
		G.south = s.body;
		assert.notEqual(s.body.id, r.body.id);
		assertError(await d.post('/v3/device-groups/', { name: 'north', description: 'again' }, d.keys.A.write), 409, 'duplicate');
		for (const body of [{}, { name: '' }, { description: 'x' }, { name: 5 }])
			assertError(await d.post('/v3/device-groups/', body, d.keys.A.write), 400, 'validation_error', 'name');
		assertError(await d.post('/v3/device-groups/', { name: 'ro' }, d.keys.A.read), 403, 'forbidden');
		assertError(await d.get('/v3/device-groups/' + '0'.repeat(32) + '/', d.keys.A.read), 404, 'not_found');
	});

	test('PUT updates the given members; 409 on a name taken; 404 unknown', async () => {
		const id = G.north.id;
		await sleep(5);
		const r = await d.request('PUT', `/v3/device-groups/${id}/`, { key: d.keys.A.write, body: JSON.stringify({ description: 'North site, all racks' }), contentType: 'application/json' });
		assert.equal(r.status, 200, r.text);
		assert.equal(r.body.name, 'north');
		assert.equal(r.body.description, 'North site, all racks');
		assert.deepEqual(r.body.custom_attributes, { site: 'n', tier: '1' });
		assert.equal(r.body.created_at, G.north.created_at);
		assert.ok(r.body.updated_at > G.north.updated_at, 'updated_at moves');
		const r2 = await d.request('PUT', `/v3/device-groups/${id}`, { key: d.keys.A.write, body: JSON.stringify({ name: 'north-1', custom_attributes: { site: 'N' } }), contentType: 'application/json' });
		assert.equal(r2.status, 200, r2.text);
		assert.equal(r2.body.name, 'north-1');
		assert.deepEqual(r2.body.custom_attributes, { site: 'N' });
		assert.deepEqual((await d.get(`/v3/device-groups/${id}/`, d.keys.A.read)).body, r2.body);
		G.north = r2.body;
		assertError(
			await d.request('PUT', `/v3/device-groups/${id}/`, { key: d.keys.A.write, body: JSON.stringify({ name: 'south' }), contentType: 'application/json' }),
			409,
			'duplicate',
		);
		assert.equal((await d.get(`/v3/device-groups/${id}/`, d.keys.A.read)).body.name, 'north-1');
		assertError(
			await d.request('PUT', `/v3/device-groups/${'f'.repeat(32)}/`, { key: d.keys.A.write, body: '{"name":"x"}', contentType: 'application/json' }),
			404,
			'not_found',
		);
		assertError(await d.request('PUT', `/v3/device-groups/${id}/`, { key: d.keys.A.read, body: '{"name":"x"}', contentType: 'application/json' }), 403, 'forbidden');
		// the old name is free again
		const again = await d.post('/v3/device-groups/', { name: 'north' }, d.keys.A.write);
		assert.equal(again.status, 201, again.text);
		G.north2 = again.body;
	});

	test('list: creation order, paging with a group id, DESC, total_count', async () => {
		for (let i = 0; i < 4; i++) {
			const r = await d.post('/v3/device-groups/', { name: `page-${i}` }, d.keys.A.write);
			assert.equal(r.status, 201);
			G[`page${i}`] = r.body;
		}
		const order = [G.north.id, G.south.id, G.north2.id, G.page0.id, G.page1.id, G.page2.id, G.page3.id];
		const all = await d.listAll('', d.keys.A.read, { path: '/v3/device-groups/', limit: 2 });
		assert.deepEqual(
			all.map((g) => g.id),
			order,
		);
		all.forEach(assertGroupShape);
		assert.equal(all[0].name, 'north-1');
		const desc = await d.listAll('order=DESC', d.keys.A.read, { path: '/v3/device-groups', limit: 3 });
		assert.deepEqual(
			desc.map((g) => g.id),
			[...order].reverse(),
		);
		const r = await d.get(`/v3/device-groups/?include=total_count&limit=2&after=${G.north2.id}`, d.keys.A.read);
		assert.equal(r.body.total_count, order.length);
		assert.deepEqual(
			r.body.data.map((g) => g.id),
			[G.page0.id, G.page1.id],
		);
		assert.equal(r.body.has_more, true);
	});

	test('membership: add/remove, idempotent, 404 for an unknown device or group, devices_count', async () => {
		const n = G.north.id, s = G.south.id;
		for (const dev of ['c-01', 'c-02', 'c-05', `${DIR}late`, `${DIR}camp`]) await member(n, dev, true);
		await member(n, 'c-01', true); // again: no change
		await member(n, 'c-01', true);
		for (const dev of ['c-05', 'c-10', 'c-11', 'new-1']) await member(s, dev, true);
		await checkGroupDevices(n, 'north');
		await checkGroupDevices(s, 'south');
		await member(n, 'c-02', false);
		await member(n, 'c-02', false); // again
		await member(n, 'c-59', false); // never a member
		await checkGroupDevices(n, 'north after remove');
		assertError(await d.post(`/v3/device-groups/${n}/devices/add/`, { device_id: 'never-seen' }, d.keys.A.write), 404, 'not_found');
		assertError(await d.post(`/v3/device-groups/${n}/devices/remove/`, { device_id: 'never-seen' }, d.keys.A.write), 404, 'not_found');
		assertError(await d.post(`/v3/device-groups/${'e'.repeat(32)}/devices/add/`, { device_id: 'c-01' }, d.keys.A.write), 404, 'not_found');
		assertError(await d.post(`/v3/device-groups/${'e'.repeat(32)}/devices/remove`, { device_id: 'c-01' }, d.keys.A.write), 404, 'not_found');
		assertError(await d.get(`/v3/device-groups/${'e'.repeat(32)}/devices/`, d.keys.A.read), 404, 'not_found');
		assertError(await d.post(`/v3/device-groups/${n}/devices/add/`, {}, d.keys.A.write), 400, 'validation_error', 'device_id');
		assertError(await d.post(`/v3/device-groups/${n}/devices/add/`, { device_id: 'c-09' }, d.keys.A.read), 403, 'forbidden');
		await checkGroupDevices(n, 'north after errors');
		// the group's devices list takes the directory's filters
		const dir = directory(model.A);
		const want = [...members.get(s)].filter((x) => dir.get(x).state === 'deregistered').sort(byId);
		const got = await d.listAll('state=deregistered', d.keys.A.read, { path: `/v3/device-groups/${s}/devices/` });
		assert.deepEqual(
			got.map((x) => x.id),
			want,
		);
	});

	test('device_group_id selects the events of the current members (eq, in, filter=, both routes)', async () => {
		const n = G.north.id, s = G.south.id;
		const wn = await checkGroupFilter([n], 'north');
		assert.ok(wn.length > 10);
		await checkGroupFilter([s], 'south');
		await checkGroupFilter([n, s], 'north+south');
		assert.deepEqual(await d.listAll(`device_group_id=${G.page0.id}`, d.keys.A.read), [], 'empty group: no events');
		// membership changes show at once
		await member(n, 'c-30', true);
		await member(n, `${DIR}late`, false);
		await checkGroupFilter([n], 'north after changes');
		// new events of a member show too
		await ingest('A', [{ device_id: 'c-30', event_type: 'UPD4_FAIL_24', date_time: fmt(T0 + 7 * US), data: { campaign_id: campOf('grp') } }]);
		await checkGroupFilter([n, s], 'after a new event');
		// only eq and in
		assertError(await d.get(`/v3/device-events/?device_group_id__neq=${n}`, d.keys.A.read), 400, 'validation_error', 'device_group_id__neq');
		assertError(await d.get(`/v3/device-events/?device_group_id__nin=${n}`, d.keys.A.read), 400, 'validation_error', 'device_group_id__nin');
	});

	test('device_group_id on the stream', async () => {
		const n = G.north.id;
		const start = model.A.reduce((m, e) => (e.id < m ? e.id : m), model.A[0].id);
		const want = groupEventIds([n]).filter((id) => id > start).sort(byId);
		const got = await readSSE(`/v3/device-events/stream?device_group_id=${n}&after=${start}`, d.keys.A.read, want.length);
		assert.deepEqual(
			got.map((m) => m.id),
			want,
		);
		for (const m of got) assert.equal(m.data.id, m.id);
	});

	test('device_group_id on the summary', async () => {
		const n = G.north.id;
		const devs = members.get(n);
		const want = { SUCCESS: 0, FAIL: 0, SKIPPED: 0, INFO: 0 };
		for (const e of model.A) if (devs.has(e.device_id)) want[MTYPE[e.event_type]]++;
		const r = await d.get(`/v3/device-events/summary?device_group_id=${n}&date_time__gte=2026-01-01T00:00:00Z`, d.keys.A.read);
		assert.equal(r.status, 200, r.text);
		assert.deepEqual(r.body.totals, want);
	});

	test('delete: 204, then 404 everywhere; the devices and events stay', async () => {
		const id = G.south.id;
		const evs = groupEventIds([id]);
		const r = await d.request('DELETE', `/v3/device-groups/${id}/`, { key: d.keys.A.write });
		assert.equal(r.status, 204, r.text);
		members.delete(id);
		assertError(await d.get(`/v3/device-groups/${id}/`, d.keys.A.read), 404, 'not_found');
		assertError(await d.get(`/v3/device-groups/${id}/devices/`, d.keys.A.read), 404, 'not_found');
		assertError(await d.request('DELETE', `/v3/device-groups/${id}`, { key: d.keys.A.write }), 404, 'not_found');
		assertError(await d.post(`/v3/device-groups/${id}/devices/add/`, { device_id: 'c-05' }, d.keys.A.write), 404, 'not_found');
		assertError(await d.request('DELETE', `/v3/device-groups/${G.north.id}/`, { key: d.keys.A.read }), 403, 'forbidden');
		const q = await d.get(`/v3/device-events/?device_group_id=${id}`, d.keys.A.read);
		assert.equal(q.status, 200, q.text);
		assert.deepEqual(q.body.data, [], 'a deleted group selects no events');
		assertSameIds(
			(await d.listAll('device_id__in=c-05,c-10,c-11,new-1', d.keys.A.read)).map((e) => e.id),
			evs,
			'the members’ events stay',
		);
		assert.equal((await d.get('/v3/devices/c-10/', d.keys.A.read)).status, 200);
		// c-05 is still in north... no: it was in both; north still has it
		await checkGroupDevices(G.north.id, 'north after south is deleted');
		await checkGroupFilter([G.north.id], 'north after south is deleted');
		const list = await d.listAll('', d.keys.A.read, { path: '/v3/device-groups/' });
		assert.ok(!list.some((g) => g.id === id));
	});
});

// SSE: reads messages until `want` have come, then waits a little for extra ones.
async function readSSE(p, key, want, { ms = 5000, quietMs = 400 } = {}) {
	const ac = new AbortController();
	const res = await fetch(d.base + p, { headers: { authorization: `Bearer ${key}` }, signal: ac.signal });
	assert.equal(res.status, 200, `stream ${p}`);
	const reader = res.body.getReader();
	const dec = new TextDecoder();
	const out = [];
	let buf = '';
	const deadline = Date.now() + ms;
	let quiet = null;
	try {
		for (;;) {
			const now = Date.now();
			if (out.length >= want && quiet === null) quiet = now + quietMs;
			const limit = quiet ?? deadline;
			if (now >= Math.min(limit, deadline)) break;
			let timer;
			const c = await Promise.race([reader.read(), new Promise((r) => (timer = setTimeout(() => r(null), Math.min(limit, deadline) - now)))]);
			clearTimeout(timer);
			if (c === null || c.done) break;
			buf += dec.decode(c.value, { stream: true }).replace(/\r\n/g, '\n');
			let i;
			while ((i = buf.indexOf('\n\n')) >= 0) {
				const msg = buf.slice(0, i);
				buf = buf.slice(i + 2);
				const m = { id: null, data: null };
				for (const line of msg.split('\n')) {
					if (line.startsWith('id:')) m.id = line.slice(3).trim();
					else if (line.startsWith('data:')) m.data = JSON.parse(line.slice(5).trim());
				}
				if (m.data) out.push(m);
			}
		}
	} finally {
		ac.abort();
	}
	return out;
}

// ---- 4. campaign statistics ----

const STATUS = [
	['fail', 'FAIL'],
	['info', 'INFO'],
	['skipped', 'SKIPPED'],
	['success', 'SUCCESS'],
];

function campaignStats(events, camp) {
	const evs = events.filter((e) => e.campaign === camp);
	const codes = new Map(); // code -> {events, devices, first}
	const latest = new Map(); // device -> latest event in the campaign
	for (const e of evs) {
		let c = codes.get(e.event_type);
		if (!c) codes.set(e.event_type, (c = { events: 0, devices: 0, first: Infinity }));
		c.events++;
		c.first = Math.min(c.first, e.dt);
		const l = latest.get(e.device_id);
		if (!l || later(e, l)) latest.set(e.device_id, e);
	}
	for (const e of latest.values()) codes.get(e.event_type).devices++;
	const summaries = STATUS.map(([id, S]) => {
		let count = 0, events_count = 0, first = Infinity;
		for (const [code, c] of codes)
			if (MTYPE[code] === S) {
				count += c.devices;
				events_count += c.events;
				first = Math.min(first, c.first);
			}
		return { object: 'summary_status', id, summary_status: S, campaign_id: camp, count, events_count, created_at: first === Infinity ? null : fmt(first) };
	});
	return { codes, summaries, devices: latest.size, events: evs.length };
}

async function checkCampaign(acct, camp, what) {
	const key = d.keys[acct].read;
	const want = campaignStats(model[acct], camp);
	assert.ok(want.events > 0, `${what}: the fixture has events in ${camp}`);
	const base = `/v3/update-campaigns/${camp}/statistics`;
	for (const p of [base, base + '/']) {
		const r = await d.get(p, key);
		assert.equal(r.status, 200, `${what}: ${p}: ${r.text}`);
		assert.equal(r.body.object, 'list');
		assert.equal(r.body.has_more, false);
		assert.deepEqual(r.body.data, want.summaries, `${what}: ${p}`);
	}
	assert.equal(
		want.summaries.reduce((s, x) => s + x.count, 0),
		want.devices,
		'each device counted once',
	);
	for (const [i, [st, S]] of STATUS.entries()) {
		const r = await d.get(`${base}/${st}`, key);
		assert.equal(r.status, 200, `${what}: ${st}: ${r.text}`);
		assert.deepEqual(r.body, want.summaries[i], `${what}: ${base}/${st}`);
		const l = await d.get(`${base}/${st}/event_types/`, key);
		assert.equal(l.status, 200, `${what}: ${st}/event_types: ${l.text}`);
		assert.equal(l.body.object, 'list');
		const codes = [...want.codes.entries()].filter(([c]) => MTYPE[c] === S);
		assert.deepEqual(
			l.body.data.map((x) => x.event_type).sort(),
			codes.map(([c]) => c).sort(),
			`${what}: ${st}: the codes`,
		);
		if ('total_count' in l.body) assert.equal(l.body.total_count, codes.length);
		for (const [code, c] of codes) {
			const exp = {
				object: 'event-type',
				id: code.toLowerCase(),
				event_type: code,
				summary_status: S,
				summary_status_id: st,
				description: PORTAL_TEXT[code],
				campaign_id: camp,
				count: c.devices,
				events_count: c.events,
				created_at: fmt(c.first),
			};
			const item = l.body.data.find((x) => x.event_type === code);
			assert.equal(typeof item.corrective_action, 'string');
			const { corrective_action, ...rest } = item;
			assert.deepEqual(rest, exp, `${what}: ${st}/event_types item ${code}`);
			for (const id of [code.toLowerCase(), code]) {
				const one = await d.get(`${base}/${st}/event_types/${id}`, key);
				assert.equal(one.status, 200, `${what}: event_types/${id}: ${one.text}`);
				assert.deepEqual(one.body, item, `${what}: ${st}/event_types/${id}`);
			}
		}
	}
	// the events behind it
	const tc = await d.get(`/v3/device-events/?campaign_id=${camp}&include=total_count&limit=2`, key);
	assert.equal(tc.body.total_count, want.events);
	return want;
}

async function checkAllCampaigns(what) {
	for (const c of CAMPS) await checkCampaign('A', c, what);
	for (const c of ['z1', 'z2', 'x', 'grp']) await checkCampaign('A', campOf(c), what);
	await checkCampaign('B', CAMPS[0], what);
	await checkCampaign('B', B_CAMP, what);
}

describe('update-campaign statistics', () => {
	test('the mix has what it is meant to have', () => {
		for (const c of CAMPS) {
			const s = campaignStats(model.A, c);
			assert.ok(s.devices >= 25, `${c}: ${s.devices} devices`);
			assert.ok(s.summaries.every((x) => x.events_count > 0), `${c}: every message type occurs`);
			// a code whose events all moved on: events but no devices
			assert.ok([...s.codes.values()].some((x) => x.events > 0 && x.devices === 0) || c !== CAMPS[0]);
		}
		const stats = CAMPS.map((c) => campaignStats(model.A, c));
		assert.ok(stats.reduce((s, x) => s + x.events, 0) >= 300);
	});

	test('every number of every route equals the JS count', async () => {
		await checkAllCampaigns('first');
	});

	test('404: a campaign without events, an unknown status, an unknown or other-status code', async () => {
		const key = d.keys.A.read;
		const none = 'ee'.repeat(16);
		for (const p of ['', '/fail', '/fail/event_types', '/fail/event_types/upd4_fail_24'])
			assertError(await d.get(`/v3/update-campaigns/${none}/statistics${p}`, key), 404, 'not_found');
		const c = CAMPS[0];
		const want = campaignStats(model.A, c);
		for (const p of ['/failed', '/FAIL', '/errors/event_types', '/pending/event_types/sys_112'])
			assertError(await d.get(`/v3/update-campaigns/${c}/statistics${p}`, key), 404, 'not_found');
		const absent = Object.keys(MTYPE).find((code) => MTYPE[code] === 'FAIL' && !want.codes.has(code));
		assert.ok(absent);
		assertError(await d.get(`/v3/update-campaigns/${c}/statistics/fail/event_types/${absent.toLowerCase()}`, key), 404, 'not_found');
		assertError(await d.get(`/v3/update-campaigns/${c}/statistics/fail/event_types/not_a_code`, key), 404, 'not_found');
		// a code of the campaign, under another status
		assert.ok(want.codes.has('SYS_112'));
		assertError(await d.get(`/v3/update-campaigns/${c}/statistics/fail/event_types/sys_112`, key), 404, 'not_found');
		assertError(await d.get(`/v3/update-campaigns/${c}/statistics/success/event_types/sys_111`, key), 404, 'not_found');
		assertError(await d.get(`/v3/update-campaigns/${c}/statistics`), 401, 'unauthorized');
	});

	test('re-sent batches (same idempotency ids) change nothing', async () => {
		const key = d.keys.A.write;
		for (let i = 0; i < MIX.length; i += MIX_BATCH * 3) {
			const chunk = MIX.slice(i, i + MIX_BATCH);
			const r = await d.post('/v3/device-events/', chunk, key);
			assert.equal(r.status, 200, `re-send: ${r.status} ${r.text.slice(0, 300)}`);
			assert.equal(r.body.created, 0);
			assert.equal(r.body.duplicates, chunk.length);
		}
		// and as NDJSON, one at a time
		const one = MIX[7];
		const r = await d.post('/v3/device-events/', JSON.stringify(one) + '\n', key, 'application/x-ndjson');
		assert.equal(r.status, 200, r.text);
		// other content under a used id: 409, nothing stored
		const bad = { ...MIX[3], event_type: MIX[3].event_type === 'SYS_112' ? 'SYS_111' : 'SYS_112' };
		assertError(await d.post('/v3/device-events/', [bad], key), 409, 'duplicate');
		const tc = await d.get('/v3/device-events/?include=total_count&limit=2', d.keys.A.read);
		assert.equal(tc.body.total_count, model.A.length);
		await checkAllCampaigns('after re-sends');
		await checkDirectory('A', 'after re-sends');
	});

	test('after a restart: the same numbers', async () => {
		await d.restart();
		await checkAllCampaigns('after restart');
		await checkDirectory('A', 'after restart');
		await checkDirectory('B', 'B after restart');
		await checkGroupDevices(G.north.id, 'north after restart');
		await checkGroupFilter([G.north.id], 'north after restart');
	});
});

// ---- 5. tenancy ----

describe('tenancy on every new route', () => {
	test('B’s directory holds B’s devices only, computed from B’s events', async () => {
		const want = await checkDirectory('B', 'B');
		assert.equal(want.get(`${DIR}boot`).state, 'deregistered');
		assert.equal(want.get('c-00').event_counts.FAIL, 1);
		for (const id of [`${DIR}reg`, 'c-30', 'new-1'])
			assertError(await d.get(`/v3/devices/${id}/`, d.keys.B.read), 404, 'not_found');
		for (const q of [`id=${DIR}reg`, 'id__in=c-30,new-1', 'state=registered', 'last_event_type=SYS_111']) {
			const got = await d.listAll(q, d.keys.B.read, { path: '/v3/devices/' });
			assert.ok(
				got.every((x) => want.has(x.id)),
				q,
			);
		}
		const tc = await d.get('/v3/devices/?include=total_count&limit=2', d.keys.B.read);
		assert.equal(tc.body.total_count, want.size);
	});

	test('B cannot deregister A’s device; B registering the same id leaves A’s alone', async () => {
		const before_ = (await d.get(`/v3/devices/${DIR}reg/`, d.keys.A.read)).body;
		assertError(await d.request('DELETE', `/v3/devices/${DIR}reg/`, { key: d.keys.B.write }), 404, 'not_found');
		const t0 = Date.now() * 1000;
		const r = await d.post('/v3/devices/', { id: `${DIR}reg` }, d.keys.B.write);
		assert.equal(r.status, 201, r.text);
		await recordServerEvent('B', `${DIR}reg`, 'SYS_106', t0, Date.now() * 1000);
		assert.deepEqual(r.body.event_counts, { SUCCESS: 0, FAIL: 0, SKIPPED: 0, INFO: 1 });
		const t1 = Date.now() * 1000;
		assert.equal((await d.request('DELETE', `/v3/devices/${DIR}reg/`, { key: d.keys.B.write })).status, 204);
		await recordServerEvent('B', `${DIR}reg`, 'SYS_105', t1, Date.now() * 1000);
		assert.deepEqual((await d.get(`/v3/devices/${DIR}reg/`, d.keys.A.read)).body, before_);
		await checkDirectory('A', 'A after B’s POST/DELETE');
		await checkDirectory('B', 'B after B’s POST/DELETE');
	});

	test('A’s groups are 404 for B on every group route', async () => {
		const gid = G.north.id;
		const kB = d.keys.B.write;
		const json = { contentType: 'application/json' };
		assertError(await d.get(`/v3/device-groups/${gid}/`, d.keys.B.read), 404, 'not_found');
		assertError(await d.get(`/v3/device-groups/${gid}/devices/`, d.keys.B.read), 404, 'not_found');
		assertError(await d.request('PUT', `/v3/device-groups/${gid}/`, { key: kB, body: '{"name":"stolen"}', ...json }), 404, 'not_found');
		// c-00 and c-01 are B's devices too
		assertError(await d.post(`/v3/device-groups/${gid}/devices/add/`, { device_id: 'c-00' }, kB), 404, 'not_found');
		assertError(await d.post(`/v3/device-groups/${gid}/devices/remove/`, { device_id: 'c-01' }, kB), 404, 'not_found');
		assertError(await d.request('DELETE', `/v3/device-groups/${gid}/`, { key: kB }), 404, 'not_found');
		// nothing changed for A
		const g = await d.get(`/v3/device-groups/${gid}/`, d.keys.A.read);
		assert.equal(g.status, 200);
		assert.deepEqual(g.body, { ...G.north, devices_count: members.get(gid).size });
		await checkGroupDevices(gid, 'north after B tried');
		assert.deepEqual(await d.listAll('', d.keys.B.read, { path: '/v3/device-groups/' }), []);
		const tc = await d.get('/v3/device-groups/?include=total_count', d.keys.B.read);
		assert.equal(tc.body.total_count, 0);
	});

	test('B’s groups: own names, own devices only; A’s group id selects none of A’s events for B', async () => {
		const r = await d.post('/v3/device-groups/', { name: 'north-1' }, d.keys.B.write); // A has this name
		assert.equal(r.status, 201, r.text);
		const bg = r.body.id;
		// A's device ids that B does not have: 404; B's own: 204
		assertError(await d.post(`/v3/device-groups/${bg}/devices/add/`, { device_id: 'c-30' }, d.keys.B.write), 404, 'not_found');
		for (const dev of ['c-00', 'c-01', 'b-only'])
			assert.equal((await d.post(`/v3/device-groups/${bg}/devices/add/`, { device_id: dev }, d.keys.B.write)).status, 204);
		const got = await d.listAll('', d.keys.B.read, { path: `/v3/device-groups/${bg}/devices/` });
		const dirB = directory(model.B);
		assert.deepEqual(
			got.map((x) => x.id),
			['b-only', 'c-00', 'c-01'],
		);
		for (const x of got) assertDevice(x, dirB.get(x.id), `B group device ${x.id}`);
		const wantB = model.B.filter((e) => ['c-00', 'c-01', 'b-only'].includes(e.device_id)).map((e) => e.id);
		assertSameIds(
			(await d.listAll(`device_group_id=${bg}`, d.keys.B.read)).map((e) => e.id),
			wantB,
			'B group events',
		);
		// A's group in B's queries: no event of A (the daemon answers 200 with nothing)
		const aIds = new Set(model.A.map((e) => e.id));
		for (const [path, q] of [
			['/v3/device-events/', `device_group_id=${G.north.id}`],
			['/v3/device-events/', `device_group_id__in=${G.north.id},${G.north2.id}`],
			['/v3/devicelog/', `device_group_id=${G.north.id}`],
			['/v3/devicelog/', `filter=${encodeURIComponent(`device_group_id=${G.north.id}`)}`],
			['/v3/device-events/', `filter=${encodeURIComponent(`device_group_id__in=${G.north.id}`)}`],
		]) {
			const res = await d.get(`${path}?${q}&include=total_count`, d.keys.B.read);
			assert.equal(res.status, 200, `${path}?${q}: ${res.text}`);
			assert.deepEqual(res.body.data, [], `${path}?${q}`);
			assert.equal(res.body.total_count, 0);
		}
		// mixed: B's group and A's group: exactly B's group's events
		const mixed = await d.listAll(`device_group_id__in=${bg},${G.north.id}`, d.keys.B.read);
		assert.ok(mixed.every((e) => !aIds.has(e.id)));
		assertSameIds(
			mixed.map((e) => e.id),
			wantB,
			'B+A groups for B',
		);
		// and A's view of A's group is unchanged by B's group of the same devices
		await checkGroupFilter([G.north.id], 'A north after B grouped the same ids');
		assertError(await d.get(`/v3/device-groups/${bg}/`, d.keys.A.read), 404, 'not_found');
		const sse = await readSSE(`/v3/device-events/stream?device_group_id=${G.north.id}&after=${'0'.repeat(32)}`, d.keys.B.read, 0, { quietMs: 300 });
		assert.deepEqual(sse, [], 'B’s stream with A’s group id');
	});

	test('campaign statistics: B sees only its own; A’s campaign is 404 for B and B’s for A', async () => {
		// CAMPS[1] has events in A only
		for (const p of ['', '/', '/fail', '/success/event_types', '/fail/event_types/upd4_fail_24'])
			assertError(await d.get(`/v3/update-campaigns/${CAMPS[1]}/statistics${p}`, d.keys.B.read), 404, 'not_found');
		for (const p of ['', '/skipped', '/skipped/event_types', '/skipped/event_types/sys_110'])
			assertError(await d.get(`/v3/update-campaigns/${B_CAMP}/statistics${p}`, d.keys.A.read), 404, 'not_found');
		// CAMPS[0] has events in both: each sees its own numbers
		const b = await checkCampaign('B', CAMPS[0], 'B in a shared campaign id');
		assert.equal(b.devices, 2);
		assert.deepEqual(
			[...b.codes.keys()].sort(),
			['SYS_112', 'UPD4_FAIL_49'],
		);
		await checkCampaign('A', CAMPS[0], 'A in a shared campaign id');
		// a code only B has in the shared campaign is 404 for A
		assert.ok(!campaignStats(model.A, CAMPS[0]).codes.has('UPD4_FAIL_49'));
		assertError(await d.get(`/v3/update-campaigns/${CAMPS[0]}/statistics/fail/event_types/upd4_fail_49`, d.keys.A.read), 404, 'not_found');
	});
});
