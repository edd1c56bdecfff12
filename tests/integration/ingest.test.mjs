// Ingest (SPEC §2): the three body forms, catalog defaults, idempotent retries, 409.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startDaemon, cli, assertError, assertEventShape, toMicros, MTYPE, PORTAL_TEXT, HEX32, TS6 } from './lib/harness.mjs';

let d;
let W;
let R;

before(async () => {
	d = await startDaemon({ accounts: { A: ['read', 'write'] } });
	W = d.keys.A.write;
	R = d.keys.A.read;
});

after(async () => {
	if (d) await d.cleanup();
});

async function total() {
	const r = await d.get('/v3/device-events/?include=total_count&limit=2', R);
	assert.equal(r.status, 200, r.text);
	return r.body.total_count;
}

async function fetchEvent(id) {
	const r = await d.get(`/v3/device-events/${id}/`, R);
	assert.equal(r.status, 200, r.text);
	return r.body;
}

describe('body forms', () => {
	test('one object -> 201 with the stored event', async () => {
		const n = await total();
		const e = { device_id: 'one-1', event_type: 'UPD4_FAIL_24', date_time: '2026-11-08T10:02:07.033Z', data: { campaign_id: '9'.repeat(32) }, state_change: true };
		const r = await d.post('/v3/device-events/', e, W);
		assert.equal(r.status, 201, r.text);
		assertEventShape(r.body);
		assert.equal(r.body.device_id, 'one-1');
		assert.equal(r.body.event_type, 'UPD4_FAIL_24');
		assert.equal(r.body.date_time, '2026-11-08T10:02:07.033000Z');
		assert.deepEqual(r.body.data, { campaign_id: '9'.repeat(32) });
		assert.equal(r.body.state_change, true);
		assert.equal(r.body.idempotency_key, null);
		assert.equal(await total(), n + 1);
		assert.deepEqual(await fetchEvent(r.body.id), r.body, 'GET returns what POST answered');
	});
	test('no trailing slash works the same', async () => {
		const r = await d.post('/v3/device-events', { device_id: 'one-2', event_type: 'SYS_106' }, W);
		assert.equal(r.status, 201, r.text);
		assert.equal((await fetchEvent(r.body.id)).device_id, 'one-2');
	});
	test('JSON array -> 201 ingest summary, ids in input order', async () => {
		const n = await total();
		const arr = Array.from({ length: 25 }, (_, i) => ({ device_id: `arr-${i}`, event_type: 'SYS_108' }));
		const r = await d.post('/v3/device-events/', arr, W);
		assert.equal(r.status, 201, r.text);
		assert.equal(r.body.object, 'ingest');
		assert.equal(r.body.count, 25);
		assert.equal(r.body.created, 25);
		assert.equal(r.body.duplicates, 0);
		assert.equal(r.body.ids.length, 25);
		for (let i = 0; i < 25; i++) {
			assert.match(r.body.ids[i], HEX32);
			assert.equal((await fetchEvent(r.body.ids[i])).device_id, `arr-${i}`, `ids[${i}] is input item ${i}`);
		}
		assert.equal(await total(), n + 25);
	});
	test('a one-element array answers the summary form', async () => {
		const r = await d.post('/v3/device-events/', [{ device_id: 'arr-one', event_type: 'SYS_108' }], W);
		assert.equal(r.status, 201);
		assert.equal(r.body.object, 'ingest');
		assert.equal(r.body.count, 1);
	});
	test('NDJSON -> 201 summary; blank lines and a missing final newline are fine', async () => {
		const n = await total();
		const lines = Array.from({ length: 10 }, (_, i) => JSON.stringify({ device_id: `nd-${i}`, event_type: 'SYS_109' }));
		const body = lines.slice(0, 5).join('\n') + '\n\n' + lines.slice(5).join('\r\n');
		const r = await d.post('/v3/device-events/', body, W, 'application/x-ndjson');
		assert.equal(r.status, 201, r.text);
		assert.equal(r.body.object, 'ingest');
		assert.equal(r.body.count, 10);
		assert.equal(r.body.created, 10);
		for (let i = 0; i < 10; i++) assert.equal((await fetchEvent(r.body.ids[i])).device_id, `nd-${i}`);
		assert.equal(await total(), n + 10);
	});
	test('a later request gets higher ids', async () => {
		const a = await d.post('/v3/device-events/', { device_id: 'o', event_type: 'SYS_100' }, W);
		const b = await d.post('/v3/device-events/', [{ device_id: 'o', event_type: 'SYS_100' }], W);
		assert.ok(a.body.id < b.body.ids[0]);
	});
});

describe('catalog defaults', () => {
	test('known codes get message type and portal text from the catalog', async () => {
		const codes = Object.keys(MTYPE);
		const r = await d.post(
			'/v3/device-events/',
			codes.map((c) => ({ device_id: 'cat', event_type: c })),
			W,
		);
		assert.equal(r.status, 201, r.text);
		for (let i = 0; i < codes.length; i++) {
			const e = await fetchEvent(r.body.ids[i]);
			assert.equal(e.event_type_description, MTYPE[codes[i]], codes[i]);
			assert.equal(e.description, PORTAL_TEXT[codes[i]], codes[i]);
			// categories are ours; their family follows the message type (SPEC §3)
			const cat = e.event_type_category;
			if (MTYPE[codes[i]] === 'FAIL') assert.match(cat, /^FAIL_[A-Z_]+$/, codes[i]);
			else if (MTYPE[codes[i]] === 'INFO') assert.match(cat, /^INFO(_[A-Z_]+)?$/, codes[i]);
			else assert.equal(cat, MTYPE[codes[i]], codes[i]);
		}
	});
	test('the catalog lists every seed code with seed text and SPEC §3 type, and agrees with ingest defaults', async () => {
		const r = await d.get('/v3/device-event-codes/', R);
		assert.equal(r.status, 200, r.text);
		assert.equal(r.body.object, 'list');
		const byCode = Object.fromEntries(r.body.data.map((c) => [c.code, c]));
		for (const code of Object.keys(MTYPE)) {
			const c = byCode[code];
			assert.ok(c, `catalog lacks ${code}`);
			assert.equal(c.object, 'device-event-code');
			assert.equal(c.event_type_description, MTYPE[code], code);
			assert.equal(c.description, PORTAL_TEXT[code], code);
			assert.equal(c.source, code.startsWith('SYS_') ? 'service' : 'client', code);
			for (const k of ['explanation', 'corrective_action', 'event_type_category']) assert.equal(typeof c[k], 'string', `${code}.${k}`);
			assert.equal(typeof c.state_change, 'boolean');
		}
		assert.equal(byCode.UPD4_FAIL_24.explanation, 'Network connection was lost during the download of the updated image.');
		assert.equal(byCode.UPD4_FAIL_24.corrective_action, "Check the device's connectivity.");
		const one = await d.get('/v3/device-event-codes/UPD4_FAIL_33/', R);
		assert.equal(one.status, 200);
		assert.deepEqual(one.body, byCode.UPD4_FAIL_33);
		const noslash = await d.get('/v3/device-event-codes/UPD4_FAIL_33', R);
		assert.deepEqual(noslash.body, byCode.UPD4_FAIL_33);
		// ingest defaults equal the catalog entry, state_change included
		const e = await d.post('/v3/device-events/', { device_id: 'cat2', event_type: 'UPD4_FAIL_33' }, W);
		assert.equal(e.body.event_type_category, byCode.UPD4_FAIL_33.event_type_category);
		assert.equal(e.body.state_change, byCode.UPD4_FAIL_33.state_change);
	});
	test('a producer description is kept; given category kept', async () => {
		const r = await d.post('/v3/device-events/', { device_id: 'p', event_type: 'UPD4_FAIL_24', description: 'Wi-Fi dropped at 43 %', event_type_category: 'FAIL_WIFI' }, W);
		assert.equal(r.status, 201, r.text);
		const e = await fetchEvent(r.body.id);
		assert.equal(e.description, 'Wi-Fi dropped at 43 %');
		assert.equal(e.event_type_category, 'FAIL_WIFI');
		assert.equal(e.event_type_description, 'FAIL');
	});
	test('non-ASCII text round-trips', async () => {
		const r = await d.post('/v3/device-events/', { device_id: 'дев-ü-🚀', event_type: 'SYS_106', description: 'Gerät registriert ✓', data: { ort: 'Zürich' } }, W);
		assert.equal(r.status, 201, r.text);
		const e = await fetchEvent(r.body.id);
		assert.equal(e.device_id, 'дев-ü-🚀');
		assert.equal(e.description, 'Gerät registriert ✓');
		assert.deepEqual(e.data, { ort: 'Zürich' });
		const l = await d.get(`/v3/device-events/?device_id=${encodeURIComponent('дев-ü-🚀')}`, R);
		assert.deepEqual(
			l.body.data.map((x) => x.id),
			[r.body.id],
		);
	});
	test('an unknown code with event_type_description is accepted as given', async () => {
		const r = await d.post(
			'/v3/device-events/',
			{ device_id: 'u', event_type: 'ACME_BATTERY_LOW', event_type_description: 'INFO', event_type_category: 'INFO_POWER', description: 'Battery below 10 %', state_change: false },
			W,
		);
		assert.equal(r.status, 201, r.text);
		const e = await fetchEvent(r.body.id);
		assert.equal(e.event_type, 'ACME_BATTERY_LOW');
		assert.equal(e.event_type_description, 'INFO');
		assert.equal(e.event_type_category, 'INFO_POWER');
		assert.equal(e.description, 'Battery below 10 %');
		assert.equal(e.state_change, false);
		const r2 = await d.post('/v3/device-events/', { device_id: 'u', event_type: 'ACME_BATTERY_LOW', event_type_description: 'FAIL' }, W);
		assert.equal(r2.status, 201, r2.text);
		assertEventShape(r2.body);
	});
	test('state_change given false is kept', async () => {
		const r = await d.post('/v3/device-events/', { device_id: 's', event_type: 'UPD4_FAIL_24', state_change: false }, W);
		assert.equal(r.body.state_change, false);
		const r2 = await d.post('/v3/device-events/', { device_id: 's', event_type: 'UPD4_FAIL_24', state_change: true }, W);
		assert.equal(r2.body.state_change, true);
	});
});

describe('date_time', () => {
	test('default is about now', async () => {
		const t0 = Date.now();
		const r = await d.post('/v3/device-events/', { device_id: 'now', event_type: 'SYS_100' }, W);
		const t1 = Date.now();
		assert.match(r.body.date_time, TS6);
		const t = toMicros(r.body.date_time) / 1000;
		assert.ok(t >= t0 - 1000 && t <= t1 + 1000, `${r.body.date_time} not within [${new Date(t0).toISOString()}, ${new Date(t1).toISOString()}]`);
		const c = toMicros(r.body.created_at) / 1000;
		assert.ok(c >= t0 - 1000 && c <= t1 + 1000, `created_at ${r.body.created_at}`);
	});
	test('fractions of 0..6 digits are kept to the microsecond', async () => {
		const cases = {
			'2026-11-08T10:02:07Z': '2026-11-08T10:02:07.000000Z',
			'2026-11-08T10:02:07.1Z': '2026-11-08T10:02:07.100000Z',
			'2026-11-08T10:02:07.033Z': '2026-11-08T10:02:07.033000Z',
			'2026-11-08T10:02:07.123456Z': '2026-11-08T10:02:07.123456Z',
			'2016-02-29T23:59:59.999999Z': '2016-02-29T23:59:59.999999Z',
		};
		const inputs = Object.keys(cases);
		const r = await d.post(
			'/v3/device-events/',
			inputs.map((t) => ({ device_id: 'frac', event_type: 'SYS_100', date_time: t })),
			W,
		);
		assert.equal(r.status, 201, r.text);
		for (let i = 0; i < inputs.length; i++) assert.equal((await fetchEvent(r.body.ids[i])).date_time, cases[inputs[i]]);
	});
});

describe('idempotency', () => {
	test('same id, same content: one copy; 200 with the existing event', async () => {
		const e = { id: 'retry-001', device_id: 'idem', event_type: 'UPD2_OK_18', date_time: '2026-11-08T10:02:07Z', data: { campaign_id: '1'.repeat(32) } };
		const r1 = await d.post('/v3/device-events/', e, W);
		assert.equal(r1.status, 201, r1.text);
		assert.equal(r1.body.idempotency_key, 'retry-001');
		assert.notEqual(r1.body.id, 'retry-001');
		assert.match(r1.body.id, HEX32);
		const n = await total();
		const r2 = await d.post('/v3/device-events/', e, W);
		assert.equal(r2.status, 200, r2.text);
		assert.deepEqual(r2.body, r1.body);
		assert.equal(await total(), n, 'no second copy');
		// the same key as part of a batch counts as a duplicate and reports the existing id
		const r3 = await d.post('/v3/device-events/', [{ device_id: 'idem', event_type: 'SYS_100' }, e], W);
		assert.equal(r3.status, 201, r3.text);
		assert.equal(r3.body.count, 2);
		assert.equal(r3.body.created, 1);
		assert.equal(r3.body.duplicates, 1);
		assert.equal(r3.body.ids[1], r1.body.id);
		assert.equal(await total(), n + 1);
		// the list shows exactly one event with that key
		const l = await d.listAll('device_id=idem&event_type=UPD2_OK_18', R);
		assert.equal(l.length, 1);
	});
	test('a batch retried whole: all duplicates, same ids', async () => {
		const arr = Array.from({ length: 20 }, (_, i) => ({ id: `batch-retry-${i}`, device_id: 'br', event_type: 'SYS_108' }));
		const r1 = await d.post('/v3/device-events/', arr, W);
		assert.equal(r1.body.created, 20);
		const n = await total();
		const r2 = await d.post('/v3/device-events/', arr.map((x) => JSON.stringify(x)).join('\n'), W, 'application/x-ndjson');
		// nothing new was stored: 200, as for a single repeated event (docs/API.md)
		assert.equal(r2.status, 200, r2.text);
		assert.equal(r2.body.created, 0);
		assert.equal(r2.body.duplicates, 20);
		assert.deepEqual(r2.body.ids, r1.body.ids);
		assert.equal(await total(), n);
	});
	test('the same id twice inside one batch with the same content is one event', async () => {
		const e = { id: 'twice-in-batch', device_id: 'tb', event_type: 'SYS_108' };
		const n = await total();
		const r = await d.post('/v3/device-events/', [e, e], W);
		assert.equal(r.status, 201, r.text);
		assert.equal(r.body.created, 1);
		assert.equal(r.body.duplicates, 1);
		assert.equal(r.body.ids[0], r.body.ids[1]);
		assert.equal(await total(), n + 1);
	});
	test('same id, other content: 409, nothing stored', async () => {
		const e = { id: 'conflict-1', device_id: 'c', event_type: 'SYS_106', date_time: '2026-01-01T00:00:00Z' };
		assert.equal((await d.post('/v3/device-events/', e, W)).status, 201);
		const n = await total();
		for (const other of [{ ...e, device_id: 'c2' }, { ...e, event_type: 'SYS_105' }, { ...e, date_time: '2026-01-01T00:00:01Z' }, { ...e, data: { k: 'v' } }, { ...e, description: 'different' }])
			assertError(await d.post('/v3/device-events/', other, W), 409, 'duplicate');
		assertError(await d.post('/v3/device-events/', [{ id: 'conflict-2', device_id: 'c', event_type: 'SYS_106' }, { ...e, device_id: 'c3' }], W), 409, 'duplicate');
		assert.equal(await total(), n);
		// conflict-2 was not stored: it can be sent now with any content
		const r = await d.post('/v3/device-events/', { id: 'conflict-2', device_id: 'c-new', event_type: 'SYS_107' }, W);
		assert.equal(r.status, 201, r.text);
	});
	test('idempotency_key is not the event id and is not an id filter', async () => {
		const r = await d.get('/v3/device-events/?id=retry-001', R);
		assert.equal(r.status, 400, 'id filter takes event ids only');
	});
});

describe('devicelog import (CLI) while the daemon serves', () => {
	test('NDJSON from stdin and from a file land in the named account only', async () => {
		const n = await total();
		const lines = Array.from({ length: 50 }, (_, i) => JSON.stringify({ device_id: `imp-${i % 5}`, event_type: 'SYS_107', date_time: `2026-03-01T00:00:${String(i).padStart(2, '0')}Z` }));
		const r = cli(['import', '--store', d.store, '--account', 'A', '-'], lines.join('\n') + '\n');
		assert.equal(r.status, 0, r.stderr);
		assert.equal(await total(), n + 50);
		const got = await d.listAll('device_id__in=imp-0,imp-1,imp-2,imp-3,imp-4', R);
		assert.equal(got.length, 50);
		assert.ok(got.every((e) => e.event_type === 'SYS_107' && e.event_type_description === 'INFO' && e.description === 'Device bootstrapped.'));
		const f = path.join(d.dir, 'other.ndjson');
		fs.writeFileSync(f, lines.slice(0, 7).join('\n') + '\n');
		const r2 = cli(['import', '--store', d.store, '--account', 'someone-else', f]);
		assert.equal(r2.status, 0, r2.stderr);
		assert.equal(await total(), n + 50, 'another account’s import is invisible to A');
	});
	test('a bad line makes import fail (non-zero exit)', async () => {
		const f = path.join(d.dir, 'bad.ndjson');
		fs.writeFileSync(f, JSON.stringify({ device_id: 'imp-bad', event_type: 'SYS_107' }) + '\n{"device_id": "x"}\nnot json\n');
		const r = cli(['import', '--store', d.store, '--account', 'A', f]);
		assert.notEqual(r.status, 0, 'exit status reports the rejected lines');
		assert.match(r.stdout + r.stderr, /reject|error|invalid/i);
	});
});
