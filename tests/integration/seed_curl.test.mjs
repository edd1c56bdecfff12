// The seed's own example, run with the real curl: the documented list shape.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { startDaemon, assertEventShape } from './lib/harness.mjs';

let d;
let ids;

before(async () => {
	d = await startDaemon({ accounts: { A: ['read', 'write'] } });
	const evs = Array.from({ length: 60 }, (_, i) => ({
		device_id: '0'.repeat(31) + (i % 2),
		event_type: i % 2 ? 'UPD4_FAIL_24' : 'SYS_112',
		date_time: '2016-11-08T10:02:07.033Z',
		data: { campaign_id: '0'.repeat(32) },
	}));
	ids = await d.ingest(evs, d.keys.A.write);
});

after(async () => {
	if (d) await d.cleanup();
});

function curl(path, key) {
	// exactly the seed's command line, against our port
	const out = execFileSync('curl', ['-s', '-X', 'GET', `http://127.0.0.1:${d.port}${path}`, '-H', `Authorization: Bearer ${key}`], { encoding: 'utf8', timeout: 10_000 });
	return JSON.parse(out); // throws on invalid JSON
}

function checkPage(b) {
	assert.equal(b.object, 'list');
	assert.equal(b.limit, 50);
	assert.equal(b.after, null);
	assert.equal(b.order, 'ASC');
	assert.equal(typeof b.has_more, 'boolean');
	assert.equal(b.has_more, true, '60 events, page of 50');
	assert.equal(b.data.length, 50);
	for (const k of ['object', 'limit', 'order', 'after', 'has_more', 'data']) assert.ok(k in b, `list key ${k}`);
	assert.deepEqual(
		b.data.map((e) => e.id),
		[...ids].sort().slice(0, 50),
	);
	for (const e of b.data) {
		assertEventShape(e);
		assert.equal(e.date_time, '2016-11-08T10:02:07.033000Z');
		assert.deepEqual(e.data, { campaign_id: '0'.repeat(32) });
		if (e.event_type === 'UPD4_FAIL_24') {
			assert.equal(e.event_type_description, 'FAIL');
			assert.equal(e.description, 'Connection lost during download.');
		} else {
			assert.equal(e.event_type_description, 'SUCCESS');
			assert.equal(e.description, 'Device reached desired state.');
		}
	}
}

test('curl -X GET /v3/device-events (the seed command)', () => {
	checkPage(curl('/v3/device-events', d.keys.A.read));
});

test('curl with the trailing slash gives the same page', () => {
	assert.deepEqual(curl('/v3/device-events/', d.keys.A.read).data, curl('/v3/device-events', d.keys.A.read).data);
});

test('curl /v3/devicelog and /v3/devicelog/', () => {
	checkPage(curl('/v3/devicelog', d.keys.A.read));
	checkPage(curl('/v3/devicelog/', d.keys.A.read));
});

test('curl one event, both routes, both slash forms, no redirect', () => {
	for (const p of [`/v3/device-events/${ids[3]}`, `/v3/device-events/${ids[3]}/`, `/v3/devicelog/${ids[3]}`, `/v3/devicelog/${ids[3]}/`]) {
		const out = execFileSync('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${d.port}${p}`, '-H', `Authorization: Bearer ${d.keys.A.read}`], { encoding: 'utf8' });
		assert.equal(out, '200', p);
		const e = curl(p, d.keys.A.read);
		assert.equal(e.id, ids[3]);
		assertEventShape(e);
	}
});

test('curl the seed example with limit=5 (OpenAPI example)', () => {
	const b = curl('/v3/device-events?limit=5', d.keys.A.read);
	assert.equal(b.limit, 5);
	assert.equal(b.data.length, 5);
});

test('curl with the SDK headers: gzip accepted, Connection: close', () => {
	const out = execFileSync(
		'curl',
		['-s', '--compressed', '-H', 'Accept-Encoding: gzip, deflate', '-H', 'Connection: close', `http://127.0.0.1:${d.port}/v3/device-events?limit=2`, '-H', `Authorization: Bearer ${d.keys.A.read}`],
		{ encoding: 'utf8' },
	);
	assert.equal(JSON.parse(out).data.length, 2);
});
