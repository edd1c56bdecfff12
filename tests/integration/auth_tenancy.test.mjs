// Tenancy (SPEC §1 Auth): an account sees only its own events, everywhere; idempotency keys are
// per account; scopes gate what a key may do.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { startDaemon, assertError, assertSameIds, qs } from './lib/harness.mjs';

let d;
const A = {};
const B = {};
const CAMP = 'ab'.repeat(16);

function evs(prefix, n) {
	// Both accounts use the same device ids, codes, campaign and times on purpose.
	return Array.from({ length: n }, (_, i) => ({
		device_id: `shared-${i % 5}`,
		event_type: ['UPD4_FAIL_24', 'SYS_112', 'SYS_106'][i % 3],
		date_time: new Date(Date.UTC(2026, 5, 1) + i * 60e3).toISOString(),
		state_change: i % 2 === 0,
		data: i % 2 ? { campaign_id: CAMP } : undefined,
		description: i % 7 === 0 ? `${prefix} note` : undefined,
	}));
}

before(async () => {
	d = await startDaemon({ accounts: { A: ['read', 'write', 'admin'], B: ['read', 'write'] } });
	// interleave the batches so both accounts' ids mix in the global id order
	A.ids = [];
	B.ids = [];
	for (let i = 0; i < 4; i++) {
		A.ids.push(...(await d.ingest(evs('A', 50), d.keys.A.write)));
		B.ids.push(...(await d.ingest(evs('B', 30), d.keys.B.write)));
	}
});

after(async () => {
	if (d) await d.cleanup();
});

const queries = [
	'',
	'device_id=shared-1',
	'device_id__in=shared-1,shared-2',
	'device_id__neq=nobody',
	'event_type__nin=SYS_106',
	'state_change=true',
	`campaign_id=${CAMP}`,
	`campaign_id__neq=${CAMP}`,
	'event_type_description__in=FAIL,SUCCESS,INFO',
	'date_time__gte=2026-01-01T00:00:00Z',
	'description__neq=x',
	'created_at__gte=2000-01-01T00:00:00Z',
	'include=total_count',
];

describe('A never sees B', () => {
	for (const q of queries) {
		for (const path of ['/v3/device-events/', '/v3/devicelog/']) {
			test(`${path}?${q}`, async () => {
				const a = await d.listAll(q, d.keys.A.read, { path });
				const b = await d.listAll(q, d.keys.B.read, { path });
				const aset = new Set(A.ids);
				const bset = new Set(B.ids);
				assert.ok(a.length > 0 && b.length > 0, 'both accounts have matches');
				assert.ok(
					a.every((e) => aset.has(e.id)),
					'A sees only A',
				);
				assert.ok(
					b.every((e) => bset.has(e.id)),
					'B sees only B',
				);
			});
		}
		if (q.startsWith('include')) continue; // filter= holds filters only
		test(`/v3/devicelog/?filter=${q}`, async () => {
			const a = await d.listAll(`filter=${encodeURIComponent(q)}`, d.keys.A.read, { path: '/v3/devicelog/' });
			const aset = new Set(A.ids);
			assert.ok(a.length > 0);
			assert.ok(a.every((e) => aset.has(e.id)));
		});
	}
	test('unfiltered lists are exactly each account’s events', async () => {
		assertSameIds(
			(await d.listAll('', d.keys.A.read)).map((e) => e.id),
			A.ids,
			'A',
		);
		assertSameIds(
			(await d.listAll('', d.keys.B.read)).map((e) => e.id),
			B.ids,
			'B',
		);
	});
	test('filtering on the other account’s ids finds nothing', async () => {
		const some = B.ids.slice(0, 20);
		for (const q of [qs({ id__in: some.join(',') }), `id=${B.ids[0]}`])
			assert.deepEqual(await d.listAll(q, d.keys.A.read), []);
		const nin = await d.listAll(qs({ id__nin: some.join(',') }), d.keys.A.read);
		assertSameIds(
			nin.map((e) => e.id),
			A.ids,
			'A id__nin of B ids',
		);
	});
	test('total_count counts only the caller’s events', async () => {
		const r = await d.get('/v3/device-events/?include=total_count&limit=2', d.keys.A.read);
		assert.equal(r.body.total_count, A.ids.length);
		const r2 = await d.get('/v3/devicelog/?include=total_count&limit=2&device_id=shared-0', d.keys.B.read);
		assert.equal(r2.body.total_count, evs('B', 30).filter((e) => e.device_id === 'shared-0').length * 4);
	});
	test('paging with a cursor taken from the other account does not leak', async () => {
		const r = await d.get(`/v3/device-events/?after=${B.ids[10]}&limit=1000`, d.keys.A.read);
		assert.equal(r.status, 200);
		assertSameIds(
			r.body.data.map((e) => e.id),
			A.ids.filter((id) => id > B.ids[10]),
			'A after a B id',
		);
	});
	test('B’s event ids are 404 for A on both single-event routes', async () => {
		for (const id of [B.ids[0], B.ids[B.ids.length - 1]]) {
			for (const p of [`/v3/device-events/${id}/`, `/v3/device-events/${id}`, `/v3/devicelog/${id}/`, `/v3/devicelog/${id}`]) {
				assertError(await d.get(p, d.keys.A.read), 404, 'not_found');
				assertError(await d.get(p, d.keys.A.admin), 404, 'not_found');
			}
			assert.equal((await d.get(`/v3/device-events/${id}/`, d.keys.B.read)).status, 200);
		}
	});
});

describe('idempotency keys are per account', () => {
	test('the same id in A and B creates one event in each', async () => {
		const e = { id: 'shared-idem-1', device_id: 'x', event_type: 'SYS_107' };
		const ra = await d.post('/v3/device-events/', e, d.keys.A.write);
		const rb = await d.post('/v3/device-events/', e, d.keys.B.write);
		assert.equal(ra.status, 201, ra.text);
		assert.equal(rb.status, 201, rb.text);
		assert.notEqual(ra.body.id, rb.body.id);
		assert.equal(ra.body.idempotency_key, 'shared-idem-1');
		assert.equal(rb.body.idempotency_key, 'shared-idem-1');
		// other content in B is still fine for A's retry
		const rb2 = await d.post('/v3/device-events/', [{ ...e, id: 'shared-idem-2', device_id: 'y' }], d.keys.B.write);
		const ra2 = await d.post('/v3/device-events/', [{ ...e, id: 'shared-idem-2' }], d.keys.A.write);
		assert.equal(rb2.status, 201);
		assert.equal(ra2.status, 201);
		assert.equal(ra2.body.created, 1);
		assert.equal(ra2.body.duplicates, 0);
		// the retry in A is a duplicate in A only
		const ra3 = await d.post('/v3/device-events/', e, d.keys.A.write);
		assert.equal(ra3.status, 200, ra3.text);
		assert.equal(ra3.body.id, ra.body.id);
		A.ids.push(ra.body.id, ...ra2.body.ids);
		B.ids.push(rb.body.id, ...rb2.body.ids);
	});
});

describe('scopes', () => {
	test('read key: GET yes, POST no', async () => {
		assert.equal((await d.get('/v3/device-events/', d.keys.A.read)).status, 200);
		assertError(await d.post('/v3/device-events/', { device_id: 'x', event_type: 'SYS_100' }, d.keys.A.read), 403, 'forbidden');
	});
	test('write and admin keys read and ingest', async () => {
		for (const k of [d.keys.A.write, d.keys.A.admin]) {
			assert.equal((await d.get('/v3/device-events/?limit=2', k)).status, 200);
			const r = await d.post('/v3/device-events/', { device_id: 'scope', event_type: 'SYS_100' }, k);
			assert.equal(r.status, 201, r.text);
			A.ids.push(r.body.id);
		}
	});
	test('the catalog needs a key too', async () => {
		assertError(await d.get('/v3/device-event-codes/'), 401, 'unauthorized');
		assert.equal((await d.get('/v3/device-event-codes/', d.keys.B.read)).status, 200);
	});
});

describe('first start on an empty store', () => {
	test('creates account default and prints its admin key once', async () => {
		const e = await startDaemon({ accounts: {} });
		try {
			const m = /admin key: (ak_\S+)/.exec(e.stdout);
			assert.ok(m, `stdout: ${JSON.stringify(e.stdout)}`);
			const k = m[1];
			assert.equal((e.stdout.match(/ak_/g) || []).length, 1, 'the key is printed once');
			const r = await e.post('/v3/device-events/', { device_id: 'boot', event_type: 'SYS_107' }, k);
			assert.equal(r.status, 201, r.text);
			const list = (await import('./lib/harness.mjs')).cli(['keys', 'list', '--store', e.store]);
			assert.match(list.stdout, /^[0-9a-f]{32} default admin created=/m);
			await e.restart();
			assert.ok(!/admin key:/.test(e.stdout), 'second start prints no key');
			assert.equal((await e.get('/v3/device-events/', k)).body.data[0].device_id, 'boot');
			// the default account does not see other accounts' data and vice versa
			const k2 = e.addKey('other', 'read').key;
			assert.deepEqual((await e.get('/v3/device-events/', k2)).body.data, []);
		} finally {
			await e.cleanup();
		}
	});
});
