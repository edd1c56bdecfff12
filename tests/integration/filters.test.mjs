// Every filter field x operator of SPEC §1 and §2, checked against the set of ids computed in JS
// from the events this file ingested.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
	startDaemon,
	qs,
	toMicros,
	assertSameIds,
	assertError,
	MTYPE,
	PORTAL_TEXT,
	rng,
	sleep,
	assertEventShape,
} from './lib/harness.mjs';

const CAMPAIGNS = ['c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1', '0123456789abcdef0123456789abcdef', 'ffffffffffffffff0000000000000000'];
const DEVICES = Array.from({ length: 20 }, (_, i) => `dev-${String(i).padStart(2, '0')}`);
DEVICES[19] = 'dév ü+19'; // non-ASCII, a space and a plus: URL encoding must round-trip
const CODES = ['UPD4_FAIL_24', 'UPD4_FAIL_33', 'SYS_101', 'SYS_112', 'UPD2_OK_18', 'SYS_110', 'SYS_106', 'SYS_108', 'SYS_100', 'ACME_CUSTOM_7'];
const CUSTOM = { code: 'ACME_CUSTOM_7', etd: 'INFO', category: 'INFO_ACME' };
const NOTES = ['Operator note A', 'Operator note B', 'Rebooted by watchdog'];
// A second with several events at it and around it.
const EDGE = [
	'2026-11-05T12:00:00Z',
	'2026-11-05T12:00:00Z',
	'2026-11-05T12:00:00.000Z',
	'2026-11-05T12:00:00.000001Z',
	'2026-11-05T12:00:00.000001Z',
	'2026-11-05T11:59:59.999999Z',
	'2026-11-05T11:59:59.999999Z',
	'2026-11-05T12:00:00.5Z',
	'2026-11-05T12:00:01Z',
	'2026-11-05T12:00:00.1234Z',
];

function makeEvents() {
	const r = rng(42);
	const pick = (a) => a[Math.floor(r() * a.length)];
	const base = Date.UTC(2026, 10, 1);
	const out = [];
	for (let i = 0; i < 600; i++) {
		const code = i % 37 === 5 ? CUSTOM.code : pick(CODES);
		const ev = { device_id: pick(DEVICES), event_type: code, state_change: r() < 0.6 };
		let dt;
		if (i >= 250 && i < 250 + EDGE.length) dt = EDGE[i - 250];
		else {
			const t = new Date(base + Math.floor(r() * 10 * 86400e3));
			const frac = pick([0, 1, 3, 6]);
			const iso = t.toISOString().slice(0, 19);
			dt = frac ? `${iso}.${String(Math.floor(r() * 1e6)).padStart(6, '0').slice(0, frac)}Z` : `${iso}Z`;
		}
		ev.date_time = dt;
		const dr = r();
		if (dr < 0.45) ev.data = { campaign_id: pick(CAMPAIGNS), fw: '1.0.' + (i % 7) };
		else if (dr < 0.6) ev.data = { fw: '2.0.0' }; // data without a campaign
		if (code === CUSTOM.code) {
			ev.event_type_description = CUSTOM.etd;
			ev.event_type_category = CUSTOM.category;
			ev.description = `Custom event ${i % 3}`;
		} else if (r() < 0.15) ev.description = pick(NOTES);
		out.push(ev);
	}
	return out;
}

const events = makeEvents();
let d;
let key;
let model = []; // {id, device_id, event_type, description, state_change, etd, category, campaign_id, dt, batch}
const marks = []; // client-clock instants between ingest batches (ISO with ms)
let catalog = {};

function isoMs(t) {
	return new Date(t).toISOString(); // ms precision, Z
}

before(async () => {
	d = await startDaemon({ accounts: { A: ['read', 'write'] } });
	key = d.keys.A.write;
	// Categories are ours (SPEC §3), so the only source for a known code's default category is
	// the catalog; the catalog itself is checked against the seed in ingest.test.mjs.
	const c = await d.get('/v3/device-event-codes/?limit=1000', key);
	assert.equal(c.status, 200, c.text);
	for (const e of c.body.data) catalog[e.code] = e;
	for (let b = 0; b < 3; b++) {
		if (b > 0) {
			await sleep(30);
			// The second mark is a whole second, so the compact date form can express it exactly.
			let mark = Date.now();
			if (b === 2) {
				mark = Math.ceil(mark / 1000) * 1000;
				while (Date.now() < mark) await sleep(5);
			}
			marks.push(mark);
			await sleep(30);
		}
		const chunk = events.slice(b * 200, (b + 1) * 200);
		const ids = await d.ingest(chunk, key);
		chunk.forEach((ev, i) => {
			model.push({
				id: ids[i],
				device_id: ev.device_id,
				event_type: ev.event_type,
				description: ev.description ?? PORTAL_TEXT[ev.event_type],
				state_change: ev.state_change,
				etd: ev.event_type_description ?? MTYPE[ev.event_type],
				category: ev.event_type_category ?? catalog[ev.event_type]?.event_type_category,
				campaign_id: ev.data?.campaign_id,
				dt: toMicros(ev.date_time),
				batch: b,
			});
		});
	}
});

after(async () => {
	if (d) await d.cleanup();
});

const ids = (pred) => model.filter(pred).map((m) => m.id);

async function check(query, pred, { path = '/v3/device-events/' } = {}) {
	const got = await d.listAll(query, key, { path });
	assertSameIds(
		got.map((e) => e.id),
		ids(pred),
		`${path}?${query}`,
	);
	return got;
}

test('fixture sanity: stored fields match what was sent', async () => {
	const got = await d.listAll('', key);
	assert.equal(got.length, 600);
	const byId = new Map(model.map((m) => [m.id, m]));
	for (const e of got) {
		assertEventShape(e);
		const m = byId.get(e.id);
		assert.ok(m, `unexpected event ${e.id}`);
		assert.equal(e.device_id, m.device_id);
		assert.equal(e.event_type, m.event_type);
		assert.equal(e.description, m.description);
		assert.equal(e.state_change, m.state_change);
		assert.equal(e.event_type_description, m.etd);
		assert.equal(e.event_type_category, m.category);
		assert.equal(toMicros(e.date_time), m.dt, `date_time ${e.date_time}`);
		assert.equal(e.data.campaign_id, m.campaign_id);
	}
	// every category filter below needs a category
	for (const m of model) assert.equal(typeof m.category, 'string', `no category for ${m.event_type}`);
});

describe('string fields: eq neq in nin and bare', () => {
	const cases = {
		device_id: [DEVICES[3], DEVICES[19], [DEVICES[0], DEVICES[19], DEVICES[7]]],
		event_type: ['UPD4_FAIL_24', CUSTOM.code, ['SYS_112', 'UPD4_FAIL_33', CUSTOM.code]],
		description: [PORTAL_TEXT.UPD4_FAIL_24, 'Operator note A', [PORTAL_TEXT.SYS_106, 'Rebooted by watchdog', 'Custom event 1']],
		event_type_description: ['FAIL', 'SKIPPED', ['SUCCESS', 'SKIPPED']],
		event_type_category: [null, CUSTOM.category, null],
		campaign_id: [CAMPAIGNS[0], CAMPAIGNS[2], [CAMPAIGNS[0], CAMPAIGNS[1]]],
	};
	for (const [field, [one, two, list]] of Object.entries(cases)) {
		const val = (m) => (field === 'campaign_id' ? m.campaign_id : field === 'event_type_description' ? m.etd : field === 'event_type_category' ? m.category : m[field]);
		// categories come from the catalog: resolved once the fixture is in
		const cat1 = () => catalog.UPD4_FAIL_24.event_type_category;
		const catList = () => [catalog.SYS_112.event_type_category, catalog.SYS_110.event_type_category, CUSTOM.category];
		const v1 = () => (one === null ? cat1() : one);
		const vl = () => (list === null ? catList() : list);
		test(`${field}=X (bare)`, async () => {
			const n = (await check(qs([[field, v1()]]), (m) => val(m) === v1())).length;
			assert.ok(n > 0, 'fixture must have matches');
		});
		test(`${field}__eq`, async () => {
			await check(qs([[`${field}__eq`, v1()]]), (m) => val(m) === v1());
			await check(qs([[`${field}__eq`, two]]), (m) => val(m) === two);
		});
		test(`${field}__neq (matches events lacking the field)`, async () => {
			await check(qs([[`${field}__neq`, v1()]]), (m) => val(m) !== v1());
		});
		test(`${field}__in`, async () => {
			const l = vl();
			await check(qs([[`${field}__in`, l.join(',')]]), (m) => l.includes(val(m)));
		});
		test(`${field}__nin (matches events lacking the field)`, async () => {
			const l = vl();
			await check(qs([[`${field}__nin`, l.join(',')]]), (m) => !l.includes(val(m)));
		});
	}
	test('value matching is exact and case-sensitive', async () => {
		await check(qs({ device_id: 'DEV-03' }), () => false);
		await check(qs({ event_type: 'upd4_fail_24' }), () => false);
		await check(qs({ device_id: 'dev-0' }), () => false);
	});
	test('campaign_id__neq / __nin include events without data or without campaign_id', async () => {
		const without = model.filter((m) => m.campaign_id === undefined).length;
		assert.ok(without > 100);
		const got = await check(qs({ campaign_id__nin: CAMPAIGNS.join(',') }), (m) => m.campaign_id === undefined);
		assert.equal(got.length, without);
	});
	test('a list separator sent as %2C splits the same as a literal comma', async () => {
		const l = ['dev-01', 'dev-02'];
		await check('device_id__in=dev-01%2Cdev-02', (m) => l.includes(m.device_id));
	});
	test('+ in a value decodes as a space; %2B as a plus', async () => {
		await check('device_id=d%C3%A9v+%C3%BC%2B19', (m) => m.device_id === DEVICES[19]);
	});
});

describe('id', () => {
	test('id / id__eq / id__neq / id__in / id__nin', async () => {
		const one = model[123].id;
		const some = model.filter((_, i) => i % 29 === 0).map((m) => m.id);
		await check(qs({ id: one }), (m) => m.id === one);
		await check(qs({ id__eq: one }), (m) => m.id === one);
		await check(qs({ id__neq: one }), (m) => m.id !== one);
		await check(qs({ id__in: some.join(',') }), (m) => some.includes(m.id));
		await check(qs({ id__nin: some.join(',') }), (m) => !some.includes(m.id));
	});
	test('an id that does not exist matches nothing', async () => {
		await check(qs({ id: '0'.repeat(32) }), () => false);
	});
});

describe('state_change', () => {
	const cases = [
		['state_change=true', (m) => m.state_change],
		['state_change=TRUE', (m) => m.state_change],
		['state_change=False', (m) => !m.state_change],
		['state_change__eq=false', (m) => !m.state_change],
		['state_change__eq=True', (m) => m.state_change],
		['state_change__neq=tRuE', (m) => !m.state_change],
		['state_change__neq=FALSE', (m) => m.state_change],
	];
	for (const [q, pred] of cases) {
		test(q, async () => {
			assert.ok((await check(q, pred)).length > 0);
		});
		test(`${q} on /v3/devicelog/`, async () => check(q, pred, { path: '/v3/devicelog/' }));
	}
	test('/v3/devicelog/ also takes state_change__in / __nin', async () => {
		await check('state_change__in=true,FALSE', () => true, { path: '/v3/devicelog/' });
		await check('state_change__in=False', (m) => !m.state_change, { path: '/v3/devicelog/' });
		await check('state_change__nin=TRUE', (m) => !m.state_change, { path: '/v3/devicelog/' });
	});
	test('state_change=yes is a 400 naming the parameter', async () => {
		const r = await d.get('/v3/device-events/?state_change=yes', key);
		assertError(r, 400, 'validation_error', 'state_change');
	});
});

describe('date_time', () => {
	const at = toMicros('2026-11-05T12:00:00Z');
	const cases = [
		// whole second: exactly that instant, inclusive; .000001 later is out
		['date_time__lte=2026-11-05T12:00:00Z', (m) => m.dt <= at],
		['date_time__gte=2026-11-05T12:00:00Z', (m) => m.dt >= at],
		['date_time__lte=20261105T120000Z', (m) => m.dt <= at],
		['date_time__gte=20261105T120000Z', (m) => m.dt >= at],
		['date_time__lte=2026-11-05T12:00:00.000000Z', (m) => m.dt <= at],
		['date_time__gte=2026-11-05T12:00:00.000001Z', (m) => m.dt >= at + 1],
		['date_time__lte=2026-11-05T12:00:00.1234Z', (m) => m.dt <= at + 123400],
		['date_time__gte=2026-11-05T12:00:00.1234Z', (m) => m.dt >= at + 123400],
		['date_time__lte=2026-11-05T11:59:59.999999Z', (m) => m.dt < at],
		['date_time__gte=2026-11-03T00:00:00Z&date_time__lte=2026-11-04T00:00:00Z', (m) => m.dt >= toMicros('2026-11-03T00:00:00Z') && m.dt <= toMicros('2026-11-04T00:00:00Z')],
		['date_time=2026-11-05T12:00:00Z', (m) => m.dt === at],
		['date_time__eq=20261105T120000Z', (m) => m.dt === at],
		['date_time=2026-11-05T12:00:00.5Z', (m) => m.dt === at + 500000],
		['date_time__in=2026-11-05T12:00:00Z,20261105T120001Z,2026-11-05T12:00:00.000001Z', (m) => [at, at + 1e6, at + 1].includes(m.dt)],
		['date_time__nin=2026-11-05T12:00:00.000Z,2026-11-05T11:59:59.999999Z', (m) => ![at, at - 1].includes(m.dt)],
	];
	for (const [q, pred] of cases) {
		test(q, async () => {
			const n = (await check(q.replaceAll(':', '%3A'), pred)).length;
			assert.ok(n > 0, 'fixture must have matches');
		});
	}
	test('the edge second is populated as designed', () => {
		assert.equal(model.filter((m) => m.dt === at).length, 3);
		assert.equal(model.filter((m) => m.dt === at + 1).length, 2);
	});
	test('unescaped colons work too', async () => {
		await check('date_time__lte=2026-11-05T12:00:00Z', (m) => m.dt <= at);
	});
});

describe('created_at', () => {
	test('created_at__lte / __gte split the ingest batches (client clock between them)', async () => {
		const [m1, m2] = marks.map(isoMs);
		await check(qs({ created_at__lte: m1 }), (m) => m.batch === 0);
		await check(qs({ created_at__gte: m1 }), (m) => m.batch >= 1);
		await check(qs({ created_at__gte: m1, created_at__lte: m2 }), (m) => m.batch === 1);
		assert.match(m2, /\.000Z$/);
		await check(qs({ created_at__gte: m2.replace(/[-:]/g, '').replace('.000', '') }), (m) => m.batch === 2);
		await check(qs({ created_at__lte: m2.replace('.000Z', 'Z') }), (m) => m.batch <= 1);
	});
	test('created_at__in is not an operator of created_at: 400', async () => {
		const r = await d.get(`/v3/device-events/?created_at__in=${encodeURIComponent(isoMs(marks[0]))}`, key);
		assertError(r, 400, 'validation_error', 'created_at__in');
	});
});

describe('AND of several filters', () => {
	test('device_id__in & event_type_description & date_time range & state_change & campaign_id__nin', async () => {
		const devs = DEVICES.slice(0, 10);
		const lo = toMicros('2026-11-02T00:00:00Z');
		const hi = toMicros('2026-11-08T00:00:00Z');
		const q = qs([
			['device_id__in', devs.join(',')],
			['event_type_description', 'FAIL'],
			['date_time__gte', '2026-11-02T00:00:00Z'],
			['date_time__lte', '20261108T000000Z'],
			['state_change', 'true'],
			['campaign_id__nin', CAMPAIGNS[1]],
		]);
		const n = (
			await check(q, (m) => devs.includes(m.device_id) && m.etd === 'FAIL' && m.dt >= lo && m.dt <= hi && m.state_change && m.campaign_id !== CAMPAIGNS[1])
		).length;
		assert.ok(n > 5);
	});
	test('repeated filter keys are ANDed', async () => {
		await check('device_id__neq=dev-01&device_id__neq=dev-02', (m) => m.device_id !== 'dev-01' && m.device_id !== 'dev-02');
	});
	test('event_type_category & description__neq & campaign_id', async () => {
		const cat = catalog.UPD4_FAIL_24.event_type_category;
		await check(qs({ event_type_category: cat, description__neq: PORTAL_TEXT.UPD4_FAIL_24, campaign_id: CAMPAIGNS[0] }), (m) => m.category === cat && m.description !== PORTAL_TEXT.UPD4_FAIL_24 && m.campaign_id === CAMPAIGNS[0]);
	});
});

describe('legacy filter= and the /v3/devicelog/ alias', () => {
	const inner = (pairs) => encodeURIComponent(qs(pairs));
	const lo = toMicros('2016-11-30T16:25:12.1234Z');
	const cases = [
		[[['device_id', 'dev-04']], (m) => m.device_id === 'dev-04'],
		[
			[
				['device_id', 'dev-05'],
				['date_time__gte', '2026-11-03T00:00:00.1234Z'],
				['event_type__in', 'UPD4_FAIL_24,SYS_112,SYS_106'],
			],
			(m) => m.device_id === 'dev-05' && m.dt >= toMicros('2026-11-03T00:00:00.1234Z') && ['UPD4_FAIL_24', 'SYS_112', 'SYS_106'].includes(m.event_type),
		],
		[
			[
				['state_change', 'True'],
				['date_time__gte', '2016-11-30T16:25:12.1234Z'],
				['event_type_description__nin', 'INFO,SKIPPED'],
			],
			(m) => m.state_change && m.dt >= lo && !['INFO', 'SKIPPED'].includes(m.etd),
		],
		[
			[
				['campaign_id__neq', CAMPAIGNS[0]],
				['date_time__lte', '20261105T120000Z'],
			],
			(m) => m.campaign_id !== CAMPAIGNS[0] && m.dt <= toMicros('2026-11-05T12:00:00Z'),
		],
		[[['description', 'Operator note B']], (m) => m.description === 'Operator note B'],
	];
	for (const path of ['/v3/devicelog/', '/v3/device-events/']) {
		cases.forEach(([pairs, pred], i) => {
			test(`${path}?filter= case ${i}: ${qs(pairs)}`, async () => {
				await check(`filter=${inner(pairs)}`, pred, { path });
			});
		});
		test(`${path}?filter= with an extra filter outside it: ANDed`, async () => {
			await check(`filter=${inner([['device_id', 'dev-06']])}&state_change=false`, (m) => m.device_id === 'dev-06' && !m.state_change, { path });
		});
		test(`${path}?filter= empty is allowed and filters nothing`, async () => {
			await check('filter=', () => true, { path });
		});
		test(`${path}?filter= with an unknown field: 400`, async () => {
			const r = await d.get(`${path}?filter=${inner([['devce_id', 'x']])}`, key);
			assertError(r, 400, 'validation_error');
			assert.match(JSON.stringify(r.body.fields), /devce_id/);
		});
	}
	test('/v3/devicelog/ takes every §2 filter directly', async () => {
		const p = { path: '/v3/devicelog/' };
		const cat = catalog.UPD4_FAIL_33.event_type_category;
		await check(qs({ campaign_id__in: CAMPAIGNS.slice(1).join(',') }), (m) => CAMPAIGNS.slice(1).includes(m.campaign_id), p);
		await check(qs({ campaign_id__nin: CAMPAIGNS[2] }), (m) => m.campaign_id !== CAMPAIGNS[2], p);
		await check(qs({ event_type_category__eq: cat }), (m) => m.category === cat, p);
		await check(qs({ event_type_category__neq: cat }), (m) => m.category !== cat, p);
		await check(qs({ event_type_description__in: 'FAIL,SKIPPED' }), (m) => ['FAIL', 'SKIPPED'].includes(m.etd), p);
		await check(qs({ created_at__gte: isoMs(marks[1]) }), (m) => m.batch === 2, p);
		await check(qs({ created_at__lte: isoMs(marks[0]) }), (m) => m.batch === 0, p);
		await check(qs({ date_time__nin: '2026-11-05T12:00:00Z' }), (m) => m.dt !== toMicros('2026-11-05T12:00:00Z'), p);
	});
	test('filter= carries §2 filters on /v3/devicelog/', async () => {
		await check(
			`filter=${inner([
				['campaign_id', CAMPAIGNS[1]],
				['event_type_description__neq', 'FAIL'],
				['created_at__gte', isoMs(marks[0])],
			])}`,
			(m) => m.campaign_id === CAMPAIGNS[1] && m.etd !== 'FAIL' && m.batch >= 1,
			{ path: '/v3/devicelog/' },
		);
	});
});

describe('total_count', () => {
	const pred = (m) => m.etd === 'FAIL';
	const q = 'event_type_description=FAIL';
	test('include=total_count equals the JS count whatever after and limit are', async () => {
		const expected = model.filter(pred).length;
		const fails = model.filter(pred).map((m) => m.id).sort();
		for (const [limit, after] of [
			[2, null],
			[1000, null],
			[7, fails[10]],
			[50, fails[fails.length - 1]],
			[3, 'f'.repeat(32)],
		]) {
			for (const order of ['ASC', 'DESC']) {
				let url = `/v3/device-events/?${q}&include=total_count&limit=${limit}&order=${order}`;
				if (after) url += `&after=${after}`;
				const r = await d.get(url, key);
				assert.equal(r.status, 200, r.text);
				assert.equal(r.body.total_count, expected, url);
			}
		}
	});
	test('include=totalCount (the JS SDK spelling), comma lists, repeats, unknown words', async () => {
		const expected = model.filter(pred).length;
		for (const inc of ['include=totalCount', 'include=foo,total_count', 'include=foo&include=total_count', 'include=bar,totalCount']) {
			const r = await d.get(`/v3/device-events/?${q}&${inc}&limit=2`, key);
			assert.equal(r.status, 200, r.text);
			assert.equal(r.body.total_count, expected, inc);
		}
		const r = await d.get(`/v3/devicelog/?filter=${encodeURIComponent(q)}&include=total_count`, key);
		assert.equal(r.body.total_count, expected, 'devicelog filter=');
	});
	test('total_count absent unless asked', async () => {
		const r = await d.get(`/v3/device-events/?${q}&include=foo`, key);
		assert.equal(r.status, 200);
		assert.equal('total_count' in r.body, false);
	});
	test('total_count with no filter is every event of the account', async () => {
		const r = await d.get('/v3/device-events/?include=total_count', key);
		assert.equal(r.body.total_count, 600);
	});
});
