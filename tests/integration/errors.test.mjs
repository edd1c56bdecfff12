// Every error status of SPEC §1 with its full body and the X-Request-Id header, and ingest
// validation (whole request rejected, index and field named).
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { startDaemon, assertError, rawRequest, cli, createKey } from './lib/harness.mjs';

let d;
let W; // write key of account A
let R; // read key of account A
let one; // an event id of account A

before(async () => {
	d = await startDaemon({ accounts: { A: ['read', 'write', 'admin'] } });
	W = d.keys.A.write;
	R = d.keys.A.read;
	const ids = await d.ingest(
		[
			{ device_id: 'e-1', event_type: 'SYS_106', date_time: '2026-11-08T10:02:07.033Z' },
			{ device_id: 'e-2', event_type: 'UPD4_FAIL_24', data: { campaign_id: 'a'.repeat(32) } },
		],
		W,
	);
	one = ids[0];
});

after(async () => {
	if (d) await d.cleanup();
});

async function count() {
	const r = await d.get('/v3/device-events/?include=total_count&limit=2', R);
	assert.equal(r.status, 200, r.text);
	return r.body.total_count;
}

function safeDecode(s) {
	try {
		return decodeURIComponent(s);
	} catch {
		return s;
	}
}

describe('400 on the list', () => {
	const cases = [
		['limit=abc', 'limit'],
		['limit=1.5', 'limit'],
		['limit=', 'limit'],
		['limit=10x', 'limit'],
		['order=SIDEWAYS', 'order'],
		['order=', 'order'],
		['colour=red', 'colour'],
		['device_id__lt=x', 'device_id__lt'],
		['device_id__like=x', 'device_id__like'],
		['date_time__neq=2026-11-05T12:00:00Z', 'date_time__neq'],
		['event_type__lte=SYS_100', 'event_type__lte'],
		['state_change__in=true', 'state_change__in'],
		['created_at=2026-11-05T12:00:00Z', 'created_at'],
		['date_time__gte=yesterday', 'date_time__gte'],
		['date_time__lte=2026-13-01T00:00:00Z', 'date_time__lte'],
		['date_time__lte=2026-11-05T12:00:00', 'date_time__lte'],
		['date_time__lte=2026-11-05', 'date_time__lte'],
		['date_time__gte=2026-02-30T00:00:00Z', 'date_time__gte'],
		// JavaScript Date.toString() text, as the SDK sends arrays of dates
		[`date_time__in=${encodeURIComponent(new Date(Date.UTC(2016, 10, 8, 10, 2, 7)).toString())},${encodeURIComponent(new Date(Date.UTC(2016, 10, 9)).toString())}`, 'date_time__in'],
		['date_time=' + encodeURIComponent('Tue Nov 08 2016 10:02:07 GMT+0000 (Coordinated Universal Time)'), 'date_time'],
		['device_id=%FF', 'device_id'],
		['device_id=abc%C3', 'device_id'],
		['description=a%01b', 'description'],
		['event_type__in=SYS_100,%00', 'event_type__in'],
		['id=xyz', 'id'],
		['id__in=' + 'a'.repeat(32) + ',nothex', 'id__in'],
		['campaign_id__lte=x', 'campaign_id__lte'],
	];
	for (const [q, name] of cases) {
		test(`${safeDecode(q).slice(0, 80)} -> 400 naming ${name}`, async () => {
			const r = await d.get(`/v3/device-events/?${q}`, R);
			assertError(r, 400, 'validation_error', name);
		});
	}
	test('the same errors on /v3/devicelog/ and inside filter=', async () => {
		assertError(await d.get('/v3/devicelog/?colour=red', R), 400, 'validation_error', 'colour');
		const r = await d.get(`/v3/devicelog/?filter=${encodeURIComponent('device_id__lt=x')}`, R);
		assertError(r, 400, 'validation_error');
		assert.match(JSON.stringify(r.body.fields), /device_id__lt/);
		const r2 = await d.get(`/v3/devicelog/?filter=${encodeURIComponent('date_time__gte=yesterday')}`, R);
		assertError(r2, 400, 'validation_error');
		assert.match(JSON.stringify(r2.body.fields), /date_time__gte/);
	});
	test('a 1,001-value list is a 400; 1,000 values are fine', async () => {
		const vals = Array.from({ length: 1001 }, (_, i) => `d-${i}`);
		const r = await d.get(`/v3/device-events/?device_id__in=${vals.join(',')}`, R);
		assertError(r, 400, 'validation_error', 'device_id__in');
		const ok = await d.get(`/v3/device-events/?device_id__in=${vals.slice(0, 999).join(',')},e-1`, R);
		assert.equal(ok.status, 200, ok.text.slice(0, 300));
		assert.deepEqual(
			ok.body.data.map((e) => e.id),
			[one],
		);
		const idl = Array.from({ length: 1001 }, (_, i) => i.toString(16).padStart(32, '0'));
		assertError(await d.get(`/v3/device-events/?id__nin=${idl.join(',')}`, R), 400, 'validation_error', 'id__nin');
	});
	test('a non-integer limit is rejected even with valid filters around it', async () => {
		assertError(await d.get('/v3/device-events/?device_id=e-1&limit=ten', R), 400, 'validation_error', 'limit');
	});
});

describe('401 unauthorized', () => {
	const variants = [
		['no Authorization header', {}],
		['unknown key', { authorization: 'Bearer ak_' + 'x'.repeat(43) }],
		['Bearer without a key', { authorization: 'Bearer' }],
		['Bearer and a space only', { authorization: 'Bearer ' }],
		['Basic scheme', { authorization: 'Basic ' + Buffer.from('a:b').toString('base64') }],
		['key without the scheme', { authorization: 'ak_' + 'x'.repeat(43) }],
		['a huge token', { authorization: 'Bearer ak_' + 'x'.repeat(5000) }],
	];
	for (const [name, headers] of variants) {
		test(name, async () => {
			assertError(await d.request('GET', '/v3/device-events/', { headers }), 401, 'unauthorized');
			assertError(await d.request('GET', `/v3/device-events/${one}/`, { headers }), 401, 'unauthorized');
			assertError(await d.request('POST', '/v3/device-events/', { headers, body: '{"device_id":"x","event_type":"SYS_100"}', contentType: 'application/json' }), 401, 'unauthorized');
		});
	}
	test('a real key with one character changed', async () => {
		const k = R.slice(0, -1) + (R.endsWith('A') ? 'B' : 'A');
		assertError(await d.get('/v3/device-events/', k), 401, 'unauthorized');
	});
	test('a revoked key fails on the very next request', async () => {
		const k = createKey(d.store, 'A', 'read', 'to-revoke');
		assert.equal((await d.get('/v3/device-events/', k.key)).status, 200, 'a key made while serving works at once');
		const list = cli(['keys', 'list', '--store', d.store]);
		assert.equal(list.status, 0, list.stderr);
		assert.ok(!list.stdout.includes(k.key.slice(3)), 'keys list must never print a secret');
		const line = list.stdout.split('\n').find((l) => k.id && l.startsWith(k.id));
		assert.ok(line, `keys list shows the key id ${k.id}:\n${list.stdout}`);
		assert.match(line, /^[0-9a-f]{32} A read created=/);
		const rv = cli(['keys', 'revoke', '--store', d.store, k.id]);
		assert.equal(rv.status, 0, rv.stderr);
		assertError(await d.get('/v3/device-events/', k.key), 401, 'unauthorized');
		const list2 = cli(['keys', 'list', '--store', d.store]);
		assert.match(list2.stdout.split('\n').find((l) => l.startsWith(k.id)), /revoked=/);
		// the other keys are untouched
		assert.equal((await d.get('/v3/device-events/', R)).status, 200);
	});
});

describe('403 forbidden', () => {
	test('a read key cannot ingest; nothing is stored', async () => {
		const before = await count();
		const r = await d.post('/v3/device-events/', [{ device_id: 'x', event_type: 'SYS_100' }], R);
		assertError(r, 403, 'forbidden');
		const r2 = await d.post('/v3/device-events/', { device_id: 'x', event_type: 'SYS_100' }, R);
		assertError(r2, 403, 'forbidden');
		assert.equal(await count(), before);
	});
});

describe('404 not_found', () => {
	test('an unknown event id on both single-event routes', async () => {
		const missing = one.slice(0, 31) + (one[31] === '0' ? '1' : '0');
		for (const p of [`/v3/device-events/${missing}/`, `/v3/device-events/${missing}`, `/v3/devicelog/${missing}/`, `/v3/devicelog/${missing}`, `/v3/device-events/${'0'.repeat(32)}`])
			assertError(await d.get(p, R), 404, 'not_found');
		// and the known one is found on all four
		for (const p of [`/v3/device-events/${one}/`, `/v3/device-events/${one}`, `/v3/devicelog/${one}/`, `/v3/devicelog/${one}`]) {
			const r = await d.get(p, R);
			assert.equal(r.status, 200, p);
			assert.equal(r.body.id, one);
		}
	});
	test('an unknown route', async () => {
		for (const p of ['/v3/nope', '/v3/device-events-x/', '/v2/device-events/', '/v3/device-events/' + one + '/extra'])
			assertError(await d.get(p, R), 404, 'not_found');
	});
	test('an unknown event code', async () => {
		assertError(await d.get('/v3/device-event-codes/NOPE_1/', R), 404, 'not_found');
		assertError(await d.get('/v3/device-event-codes/sys_100', R), 404, 'not_found');
		assert.equal((await d.get('/v3/device-event-codes/SYS_100/', R)).status, 200);
	});
});

describe('405 method_not_supported', () => {
	test('DELETE on the list, with Allow', async () => {
		const r = await d.request('DELETE', '/v3/device-events/', { key: d.keys.A.admin });
		assertError(r, 405, 'method_not_supported');
		const allow = (r.headers.get('allow') || '').split(',').map((s) => s.trim());
		assert.ok(allow.includes('GET') && allow.includes('POST'), `Allow: ${r.headers.get('allow')}`);
		assert.ok(!allow.includes('DELETE'));
	});
	test('PUT on one event, POST on the devicelog alias and the catalog', async () => {
		for (const [m, p] of [
			['PUT', `/v3/device-events/${one}/`],
			['POST', '/v3/devicelog/'],
			['POST', '/v3/device-event-codes/'],
		]) {
			const r = await d.request(m, p, { key: d.keys.A.admin, body: '{}', contentType: 'application/json' });
			assertError(r, 405, 'method_not_supported');
			const allow = (r.headers.get('allow') || '').split(',').map((s) => s.trim());
			assert.ok(allow.includes('GET') && !allow.includes(m), `${m} ${p}: Allow: ${r.headers.get('allow')}`);
		}
	});
});

describe('409 duplicate', () => {
	test('same idempotency id with other content', async () => {
		const e = { id: 'err-idem-1', device_id: 'x', event_type: 'SYS_108', data: { campaign_id: 'b'.repeat(32) } };
		assert.equal((await d.post('/v3/device-events/', e, W)).status, 201);
		const n = await count();
		const r = await d.post('/v3/device-events/', { ...e, device_id: 'y' }, W);
		assertError(r, 409, 'duplicate');
		const r2 = await d.post('/v3/device-events/', [{ device_id: 'z', event_type: 'SYS_100' }, { ...e, data: { campaign_id: 'c'.repeat(32) } }], W);
		assertError(r2, 409, 'duplicate');
		assert.equal(await count(), n, 'nothing of the rejected batch is stored');
	});
});

describe('413 / 415', () => {
	test('a huge Content-Length gets 413 before the body is read', async () => {
		const r = await rawRequest(
			d.port,
			'POST /v3/device-events/ HTTP/1.1\r\nHost: 127.0.0.1\r\n' +
				`Authorization: Bearer ${W}\r\nContent-Type: application/json\r\nContent-Length: 10000000000\r\n\r\n[`,
		);
		r.headers.get = (h) => r.headers[h];
		assertError(r, 413);
		assert.match(r.body.type, /too_large|too_big|payload|entity/i);
	});
	test('text/plain, a missing Content-Type and form encoding get 415; nothing stored', async () => {
		const n = await count();
		const body = JSON.stringify({ device_id: 'x', event_type: 'SYS_100' });
		for (const ct of ['text/plain', 'application/x-www-form-urlencoded', undefined]) {
			// a Buffer body keeps fetch from adding its own text/plain when ct is undefined
			const r = await d.request('POST', '/v3/device-events/', { key: W, body: Buffer.from(body), contentType: ct });
			assertError(r, 415);
		}
		assert.equal(await count(), n);
	});
	test('application/json; charset=utf-8 is accepted', async () => {
		const r = await d.post('/v3/device-events/', { device_id: 'cs', event_type: 'SYS_100' }, W, 'application/json; charset=utf-8');
		assert.equal(r.status, 201, r.text);
	});
});

describe('ingest validation: 400 naming index and field, nothing stored', () => {
	const ok = { device_id: 'v-1', event_type: 'SYS_106' };
	const bad = [
		['missing device_id', { event_type: 'SYS_106' }, 'device_id'],
		['empty device_id', { device_id: '', event_type: 'SYS_106' }, 'device_id'],
		['device_id not a string', { device_id: 12, event_type: 'SYS_106' }, 'device_id'],
		['missing event_type', { device_id: 'v' }, 'event_type'],
		['unknown code without event_type_description', { device_id: 'v', event_type: 'ACME_NEW_1' }, 'event_type_description'],
		['event_type_description not a message type', { device_id: 'v', event_type: 'ACME_NEW_1', event_type_description: 'MAYBE' }, 'event_type_description'],
		['bad date_time', { device_id: 'v', event_type: 'SYS_106', date_time: 'yesterday' }, 'date_time'],
		['date_time without zone', { device_id: 'v', event_type: 'SYS_106', date_time: '2026-11-08T10:02:07' }, 'date_time'],
		['data with a number', { device_id: 'v', event_type: 'SYS_106', data: { campaign_id: 5 } }, 'data'],
		['data with an object', { device_id: 'v', event_type: 'SYS_106', data: { a: { b: 'c' } } }, 'data'],
		['data not an object', { device_id: 'v', event_type: 'SYS_106', data: 'x' }, 'data'],
		['state_change a string', { device_id: 'v', event_type: 'SYS_106', state_change: 'true' }, 'state_change'],
		['control character in description', { device_id: 'v', event_type: 'SYS_106', description: 'a\u0001b' }, 'description'],
	];
	// data errors may name the key ("data.campaign_id"); accept "data" or "data.<key>"
	const nameOk = (names, want) => names.some((n) => n === want || n.startsWith(want + '.'));
	for (const [name, e, field] of bad) {
		test(`${name}: single object names "${field}", array item [3] names "[3].${field}"`, async () => {
			const n = await count();
			const r1 = await d.post('/v3/device-events/', e, W);
			assertError(r1, 400, 'validation_error');
			assert.ok(
				nameOk(
					r1.body.fields.map((f) => f.name),
					field,
				),
				JSON.stringify(r1.body.fields),
			);
			const arr = [ok, ok, ok, e, ok];
			const r2 = await d.post('/v3/device-events/', arr, W);
			assertError(r2, 400, 'validation_error');
			assert.ok(
				nameOk(
					r2.body.fields.map((f) => f.name),
					`[3].${field}`,
				),
				JSON.stringify(r2.body.fields),
			);
			const nd = arr.map((x) => JSON.stringify(x)).join('\n');
			const r3 = await d.post('/v3/device-events/', nd, W, 'application/x-ndjson');
			assertError(r3, 400, 'validation_error');
			assert.ok(
				nameOk(
					r3.body.fields.map((f) => f.name),
					`[3].${field}`,
				),
				JSON.stringify(r3.body.fields),
			);
			assert.equal(await count(), n, 'nothing stored');
		});
	}
	test('invalid JSON, single and NDJSON line', async () => {
		const n = await count();
		assertError(await d.post('/v3/device-events/', '{"device_id": "x", "event_type": ', W), 400, 'validation_error');
		assertError(await d.post('/v3/device-events/', '[{"device_id":"x","event_type":"SYS_100"},]', W), 400, 'validation_error');
		assertError(await d.post('/v3/device-events/', '', W), 400, 'validation_error');
		assertError(await d.post('/v3/device-events/', '42', W), 400, 'validation_error');
		const nd = [JSON.stringify(ok), JSON.stringify(ok), '{"device_id":"x",', JSON.stringify(ok)].join('\n');
		const r = await d.post('/v3/device-events/', nd, W, 'application/x-ndjson');
		assertError(r, 400, 'validation_error');
		assert.match(JSON.stringify(r.body.fields), /\[2\]/, 'names the bad line as index 2');
		assert.equal(await count(), n);
	});
	test('invalid UTF-8 in a body string', async () => {
		const n = await count();
		const body = Buffer.concat([Buffer.from('{"device_id":"a'), Buffer.from([0xff, 0xfe]), Buffer.from('","event_type":"SYS_100"}')]);
		const r = await d.request('POST', '/v3/device-events/', { key: W, body, contentType: 'application/json' });
		assertError(r, 400, 'validation_error');
		assert.equal(await count(), n);
	});
	test('an empty array is not an error and stores nothing', async () => {
		const n = await count();
		const r = await d.post('/v3/device-events/', [], W);
		assert.ok(r.status === 201 || r.status === 400, `${r.status} ${r.text}`);
		if (r.status === 201) assert.equal(r.body.count, 0);
		assert.equal(await count(), n);
	});
	test('several bad items: the first one is named (the contract does not require all)', async () => {
		const r = await d.post('/v3/device-events/', [ok, { event_type: 'SYS_100' }, ok, { device_id: 'x' }], W);
		assertError(r, 400, 'validation_error');
		const names = r.body.fields.map((f) => f.name);
		assert.ok(names.includes('[1].device_id'), JSON.stringify(names));
		assert.ok(names.every((n) => n === '[1].device_id' || n === '[3].event_type'), JSON.stringify(names));
	});
});

describe('request ids', () => {
	test('every answer carries X-Request-Id; ids differ; the log line has it', async () => {
		const a = await d.get('/v3/device-events/', R);
		const b = await d.get('/v3/device-events/', R);
		const x = a.headers.get('x-request-id');
		assert.match(x || '', /^[0-9a-f]{32}$/);
		assert.notEqual(x, b.headers.get('x-request-id'));
		const e = await d.get('/v3/device-events/?limit=zz', R);
		assert.ok(await d.waitLog(x), 'stderr log line holds the request id of a 200');
		assert.ok(await d.waitLog(e.body.request_id), 'stderr log line holds the request id of a 400');
	});
	test('every answer carries the server\'s own time (Server-Timing), errors too', async () => {
		for (const path of ['/v3/device-events/', '/v3/device-events/?limit=zz', '/health']) {
			const r = await d.get(path, R);
			const m = /^app;dur=(\d+\.\d{3})$/.exec(r.headers.get('server-timing') || '');
			assert.ok(m, `${path}: Server-Timing ${r.headers.get('server-timing')}`);
			assert.ok(Number(m[1]) >= 0 && Number(m[1]) < 10000, `${path}: ${m[1]} ms`);
		}
	});
	test('the error body never echoes the key', async () => {
		const r = await d.get('/v3/device-events/?limit=zz', R);
		assert.ok(!r.text.includes(R));
		assert.ok(!d.stderr.includes(R), 'the log never holds a key');
	});
});
