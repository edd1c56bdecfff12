// Cursor paging (SPEC §1): every event exactly once, in id order, with has_more/after/limit
// as documented, over 10,000 events ingested in one NDJSON request.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { startDaemon, assertError, HEX32 } from './lib/harness.mjs';

const N = 10_000;
const CODES = ['UPD4_FAIL_24', 'SYS_112', 'SYS_106', 'UPD2_OK_18', 'SYS_110'];
let d;
let ids = []; // ingested ids in input order
let sorted = []; // ids ascending
let p3 = []; // ids of device p-3, ascending (1,000 of them)

function ev(i, prefix = 'p') {
	const t = new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString();
	return { device_id: `${prefix}-${i % 10}`, event_type: CODES[i % CODES.length], date_time: t, state_change: i % 2 === 0, data: { seq: String(i) } };
}

before(async () => {
	d = await startDaemon({ accounts: { A: ['read', 'write'], B: ['read', 'write'] } });
	const body = Array.from({ length: N }, (_, i) => JSON.stringify(ev(i))).join('\n') + '\n';
	const r = await d.post('/v3/device-events/', body, d.keys.A.write, 'application/x-ndjson');
	assert.equal(r.status, 201, r.text.slice(0, 500));
	assert.equal(r.body.object, 'ingest');
	assert.equal(r.body.count, N);
	assert.equal(r.body.created, N);
	assert.equal(r.body.duplicates, 0);
	ids = r.body.ids;
	assert.equal(ids.length, N);
	sorted = [...ids].sort();
	p3 = ids.filter((_, i) => i % 10 === 3).sort();
});

after(async () => {
	if (d) await d.cleanup();
});

test('ingest answer: 10,000 distinct 32-hex ids', () => {
	for (const id of ids) assert.match(id, HEX32);
	assert.equal(new Set(ids).size, N);
});

test('ids of one batch increase in input order (ids sorted = creation order)', () => {
	for (let i = 1; i < N; i++) assert.ok(ids[i - 1] < ids[i], `ids[${i - 1}]=${ids[i - 1]} !< ids[${i}]=${ids[i]}`);
});

// Pages through with the SDK's algorithm and checks every page.
async function pageThrough(query, limit, order, key = d.keys.A.read) {
	const seen = [];
	let after = null;
	let page = 0;
	for (;;) {
		let url = `/v3/device-events/?limit=${limit}&order=${order}${query ? '&' + query : ''}`;
		if (after) url += `&after=${after}`;
		const r = await d.get(url, key);
		assert.equal(r.status, 200, `${url}: ${r.text.slice(0, 300)}`);
		const b = r.body;
		assert.equal(b.object, 'list');
		assert.equal(b.limit, limit);
		assert.equal(b.order, order);
		assert.equal(b.after, after, 'after echoes the request cursor (null on the first page)');
		assert.equal(typeof b.has_more, 'boolean');
		assert.ok(b.data.length <= limit);
		seen.push(...b.data.map((e) => e.id));
		page++;
		if (!b.has_more) break;
		assert.equal(b.data.length, limit, `page ${page} is short but has_more is true`);
		after = b.data[b.data.length - 1].id;
	}
	return { seen, pages: page };
}

function expectOrder(seen, expectedAsc, order, what) {
	const exp = order === 'ASC' ? expectedAsc : [...expectedAsc].reverse();
	assert.equal(seen.length, exp.length, `${what}: ${seen.length} items, expected ${exp.length}`);
	assert.equal(new Set(seen).size, seen.length, `${what}: an event was returned twice`);
	for (let i = 0; i < exp.length; i++) if (seen[i] !== exp[i]) assert.fail(`${what}: item ${i} is ${seen[i]}, expected ${exp[i]}`);
}

describe('every event exactly once, in id order', () => {
	for (const order of ['ASC', 'DESC']) {
		for (const limit of [7, 50, 1000]) {
			test(`all 10,000, limit ${limit}, ${order}`, async () => {
				const { seen, pages } = await pageThrough('', limit, order);
				expectOrder(seen, sorted, order, `limit ${limit} ${order}`);
				assert.equal(pages, Math.ceil(N / limit), 'has_more must be false on the last page, exactly');
			});
		}
		test(`device p-3 (1,000 events), limit 2, ${order}`, async () => {
			const { seen, pages } = await pageThrough('device_id=p-3', 2, order);
			expectOrder(seen, p3, order, `limit 2 ${order}`);
			assert.equal(pages, 500);
		});
	}
	test('the last page is exactly full: has_more false on it (no trailing empty page needed)', async () => {
		// 10,000 / 1000: the 10th page holds the last 1000 events
		const r = await d.get(`/v3/device-events/?limit=1000&after=${sorted[N - 1001]}`, d.keys.A.read);
		assert.equal(r.body.data.length, 1000);
		assert.equal(r.body.has_more, false);
		const r2 = await d.get(`/v3/device-events/?limit=1000&after=${sorted[N - 1002]}`, d.keys.A.read);
		assert.equal(r2.body.data.length, 1000);
		assert.equal(r2.body.has_more, true);
	});
	test('after the newest event: empty page, has_more false', async () => {
		const r = await d.get(`/v3/device-events/?after=${sorted[N - 1]}`, d.keys.A.read);
		assert.equal(r.status, 200);
		assert.deepEqual(r.body.data, []);
		assert.equal(r.body.has_more, false);
		assert.equal(r.body.after, sorted[N - 1]);
	});
});

describe('limit clamp and default', () => {
	for (const [q, want] of [
		['', 50],
		['limit=1', 2],
		['limit=0', 2],
		['limit=-5', 2],
		['limit=2', 2],
		['limit=1000', 1000],
		['limit=1001', 1000],
		['limit=5000', 1000],
	]) {
		test(`${q || 'no limit'} -> ${want}`, async () => {
			const r = await d.get(`/v3/device-events/?${q}`, d.keys.A.read);
			assert.equal(r.status, 200, r.text.slice(0, 300));
			assert.equal(r.body.limit, want);
			assert.equal(r.body.data.length, want);
			assert.equal(r.body.has_more, true);
			assert.deepEqual(
				r.body.data.map((e) => e.id),
				sorted.slice(0, want),
			);
		});
	}
	test('default order is ASC, after null', async () => {
		const r = await d.get('/v3/device-events', d.keys.A.read);
		assert.equal(r.body.order, 'ASC');
		assert.equal(r.body.after, null);
	});
});

describe('an after id that matches no event still pages by position', () => {
	// Returns the first `limit` ids strictly after x in the order.
	const expectAfter = (x, order, limit) =>
		order === 'ASC'
			? sorted.filter((id) => id > x).slice(0, limit)
			: [...sorted]
					.reverse()
					.filter((id) => id < x)
					.slice(0, limit);
	const nearby = () => {
		// an existing id with its last hex digit changed to a value that is not an event; when
		// ids are dense there, the first gap after it (or one past the newest id)
		const set = new Set(sorted);
		for (const c of '0123456789abcdef') {
			const x = sorted[4321].slice(0, 31) + c;
			if (!set.has(x)) return x;
		}
		const next = (id) => (BigInt('0x' + id) + 1n).toString(16).padStart(32, '0');
		for (let i = 4321; i < N - 1; i++) if (next(sorted[i]) !== sorted[i + 1]) return next(sorted[i]);
		return next(sorted[N - 1]);
	};
	for (const order of ['ASC', 'DESC']) {
		for (const [name, mk] of [
			['existing id with the last digit changed', nearby],
			['all zeros', () => '0'.repeat(32)],
			['all f', () => 'f'.repeat(32)],
		]) {
			test(`${name}, ${order}`, async () => {
				const x = mk();
				assert.ok(!sorted.includes(x));
				const r = await d.get(`/v3/device-events/?limit=50&order=${order}&after=${x}`, d.keys.A.read);
				assert.equal(r.status, 200, r.text.slice(0, 300));
				const exp = expectAfter(x, order, 50);
				assert.deepEqual(
					r.body.data.map((e) => e.id),
					exp,
				);
				assert.equal(r.body.after, x);
				const rest = order === 'ASC' ? sorted.filter((id) => id > x).length : sorted.filter((id) => id < x).length;
				assert.equal(r.body.has_more, rest > 50);
			});
		}
	}
	test('a deleted-looking cursor inside a filtered subset', async () => {
		const x = p3[500].slice(0, 31) + (p3[500][31] === '0' ? '1' : '0');
		const r = await d.get(`/v3/device-events/?device_id=p-3&limit=5&after=${x}`, d.keys.A.read);
		assert.equal(r.status, 200);
		assert.deepEqual(
			r.body.data.map((e) => e.id),
			p3.filter((id) => id > x).slice(0, 5),
		);
	});
});

describe('after that is not 32 lowercase hex: 400', () => {
	const good = () => sorted[10];
	for (const [name, mk] of [
		['upper case', () => good().toUpperCase()],
		['31 digits', () => good().slice(0, 31)],
		['33 digits', () => good() + '0'],
		['non-hex', () => 'g'.repeat(32)],
		['a word', () => 'next'],
	]) {
		test(name, async () => {
			const r = await d.get(`/v3/device-events/?after=${mk()}`, d.keys.A.read);
			assertError(r, 400, 'validation_error', 'after');
		});
	}
});

describe('a 10,000-event JSON array in another account', () => {
	test('one request, all-or-nothing, counted in that account only', async () => {
		const body = Array.from({ length: N }, (_, i) => ev(i, 'b'));
		const r = await d.post('/v3/device-events', body, d.keys.B.write);
		assert.equal(r.status, 201, r.text.slice(0, 300));
		assert.equal(r.body.count, N);
		assert.equal(r.body.created, N);
		assert.equal(r.body.ids.length, N);
		const rb = await d.get('/v3/device-events/?include=total_count&limit=2', d.keys.B.read);
		assert.equal(rb.body.total_count, N);
		const ra = await d.get('/v3/device-events/?include=total_count&limit=2', d.keys.A.read);
		assert.equal(ra.body.total_count, N);
		// B's ids interleave nowhere with A's listing
		const page = await d.get('/v3/device-events/?limit=1000&order=DESC', d.keys.A.read);
		const bset = new Set(r.body.ids);
		assert.ok(page.body.data.every((e) => !bset.has(e.id)));
		assert.ok(r.body.ids[0] > sorted[N - 1], 'a later commit gets higher ids');
	});
});
