// Secrets, key management over the API, rate limits, /health and /metrics (issue 8 §2, §3, §8),
// against the real daemon over HTTP.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startHDaemon, assertError, metric, HEX32, TS6, sleep } from './lib.mjs';

let d; // default limits
before(async () => {
	d = await startHDaemon({ accounts: { A: ['read', 'write', 'admin'], B: ['admin'] } });
});
after(async () => {
	if (d) await d.cleanup();
});

const json = (o) => JSON.stringify(o);

function storeFiles(dir) {
	return fs.readdirSync(dir).filter((f) => f.startsWith('store.db')).map((f) => path.join(dir, f));
}

describe('access keys over the API (/v3/api-keys)', () => {
	test('create: 201, the key once, its hash only in the store, never in a log line', async () => {
		const A = d.keys.A.admin;
		const r = await d.post('/v3/api-keys/', { name: 'ci pipeline', scope: 'write' }, A);
		assert.equal(r.status, 201, r.text);
		const k = r.body;
		assert.equal(k.object, 'api-key');
		assert.match(k.id, HEX32);
		assert.equal(k.name, 'ci pipeline');
		assert.equal(k.scope, 'write');
		assert.equal(k.status, 'ACTIVE');
		assert.match(k.created_at, TS6);
		assert.equal(k.revoked_at, null);
		// ak_ + 32 hex id + 64 hex = 256 bits from the OS
		assert.match(k.key, /^ak_[0-9a-f]{96}$/);
		assert.equal(k.key.slice(3, 35), k.id);
		const secret = k.key.slice(35);
		// the new key works at once
		const w = await d.post('/v3/device-events/', { device_id: 'sec-1', event_type: 'SYS_106' }, k.key);
		assert.equal(w.status, 201, w.text);
		// shown once: neither the list nor the single view carries it
		const l = await d.get('/v3/api-keys/', A);
		assert.equal(l.status, 200);
		assert.ok(l.body.data.some((x) => x.id === k.id));
		assert.ok(l.body.data.every((x) => !('key' in x)));
		assert.ok(!l.text.includes(secret));
		const one = await d.get(`/v3/api-keys/${k.id}`, A);
		assert.equal(one.status, 200);
		assert.ok(!('key' in one.body));
		// a bad key and a request with the secret in a query string must not log it either
		await d.get(`/v3/device-events/?device_id=${secret}`, 'ak_' + k.id + '0'.repeat(64));
		await d.waitLog(`path=/v3/device-events/`);
		await d.stop();
		// secrets: never in a log line, never in the store file (only their SHA-256)
		assert.ok(!d.stderr.includes(secret), 'the secret appears in the server log');
		assert.ok(!d.stdout.includes(secret), 'the secret appears on stdout');
		for (const f of storeFiles(d.dir)) {
			const bytes = fs.readFileSync(f);
			assert.equal(bytes.indexOf(secret), -1, `the secret is stored in ${f}`);
			assert.equal(bytes.indexOf(k.key), -1, `the key is stored in ${f}`);
		}
		// nor the CLI-made keys
		for (const acct of Object.values(d.keys))
			for (const key of Object.values(acct))
				for (const f of storeFiles(d.dir)) assert.equal(fs.readFileSync(f).indexOf(key.slice(35)), -1);
		await d.start();
	});

	test('revocation takes effect on the next request; the key stays listed INACTIVE', async () => {
		const A = d.keys.A.admin;
		const c = await d.post('/v3/api-keys/', { name: 'to revoke' }, A);
		assert.equal(c.status, 201);
		assert.equal(c.body.scope, 'read', 'scope defaults to the least');
		assert.equal((await d.get('/v3/device-events/?limit=2', c.body.key)).status, 200);
		const del = await d.request('DELETE', `/v3/api-keys/${c.body.id}/`, { key: A });
		assert.equal(del.status, 204, del.text);
		assertError(await d.get('/v3/device-events/?limit=2', c.body.key), 401, 'unauthorized');
		const g = await d.get(`/v3/api-keys/${c.body.id}`, A);
		assert.equal(g.body.status, 'INACTIVE');
		assert.match(g.body.revoked_at, TS6);
		// idempotent
		assert.equal((await d.request('DELETE', `/v3/api-keys/${c.body.id}`, { key: A })).status, 204);
	});

	test('an admin sees and revokes only its own account’s keys', async () => {
		const B = d.keys.B.admin;
		const l = await d.get('/v3/api-keys/?limit=1000', B);
		assert.equal(l.status, 200);
		assert.ok(l.body.data.length >= 1);
		assert.ok(l.body.data.every((k) => k.account === 'B'), l.text);
		const aId = d.keyIds.A.read;
		assertError(await d.get(`/v3/api-keys/${aId}`, B), 404, 'not_found');
		assertError(await d.request('DELETE', `/v3/api-keys/${aId}`, { key: B }), 404, 'not_found');
		assert.equal((await d.get('/v3/device-events/?limit=2', d.keys.A.read)).status, 200, 'A’s key survived');
	});

	test('admin scope needed; /me for any key; validation names the field', async () => {
		assertError(await d.get('/v3/api-keys/', d.keys.A.read), 403, 'forbidden');
		assertError(await d.post('/v3/api-keys/', { name: 'x' }, d.keys.A.write), 403, 'forbidden');
		assertError(await d.get('/v3/api-keys/'), 401, 'unauthorized');
		const me = await d.get('/v3/api-keys/me', d.keys.A.read);
		assert.equal(me.status, 200);
		assert.equal(me.body.id, d.keyIds.A.read);
		assert.equal(me.body.scope, 'read');
		const A = d.keys.A.admin;
		assertError(await d.post('/v3/api-keys/', {}, A), 400, 'validation_error', 'name');
		assertError(await d.post('/v3/api-keys/', { name: '' }, A), 400, 'validation_error', 'name');
		assertError(await d.post('/v3/api-keys/', { name: 'x'.repeat(65) }, A), 400, 'validation_error', 'name');
		// a NUL is refused by the JSON parser itself (jansson without JSON_ALLOW_NUL)
		assertError(await d.post('/v3/api-keys/', { name: 'a\u0000b' }, A), 400, 'validation_error');
		assertError(await d.post('/v3/api-keys/', Buffer.from('{"name":"\xff\xfe"}', 'latin1'), A), 400, 'validation_error');
		assertError(await d.post('/v3/api-keys/', { name: 'x', scope: 'root' }, A), 400, 'validation_error', 'scope');
		assertError(await d.post('/v3/api-keys/', { name: 'x', scope: 'read\u0000admin' }, A), 400, 'validation_error');
		assertError(await d.post('/v3/api-keys/', '[1,2]', A), 400, 'validation_error');
		assertError(await d.post('/v3/api-keys/', 'name=x', A, 'application/x-www-form-urlencoded'), 415);
	});

	test('paging the list by key id', async () => {
		const A = d.keys.A.admin;
		const all = (await d.get('/v3/api-keys/?limit=1000&include=total_count', A)).body;
		assert.equal(all.total_count, all.data.length);
		const seen = [];
		let after = null;
		for (let i = 0; i < 50; i++) {
			const r = await d.get(`/v3/api-keys/?limit=2${after ? '&after=' + after : ''}`, A);
			assert.equal(r.status, 200);
			seen.push(...r.body.data.map((k) => k.id));
			if (!r.body.has_more) break;
			after = r.body.data.at(-1).id;
		}
		assert.deepEqual(seen, all.data.map((k) => k.id));
	});

	test('a malformed or unknown Authorization is 401 without detail, never 500', async () => {
		for (const h of ['Bearer', 'Bearer ', 'Basic Zm9vOmJhcg==', 'Bearer ak_', `Bearer ak_${'z'.repeat(96)}`,
			`Bearer ak_${'0'.repeat(96)}`, `Bearer ${'x'.repeat(5000)}`, 'Bearer ak_\u00ff\u00fe']) {
			const r = await d.request('GET', '/v3/device-events/', { headers: { authorization: h } });
			assertError(r, 401, 'unauthorized');
		}
	});
});

describe('/health and /metrics', () => {
	test('/health: no key, no detail', async () => {
		const r = await d.get('/health');
		assert.equal(r.status, 200);
		assert.equal(r.text, '{"status":"ok"}');
		assert.equal((await d.get('/health/')).status, 200);
		const m = await d.request('POST', '/health', { body: '{}', contentType: 'application/json' });
		assertError(m, 405, 'method_not_supported');
		assert.equal(m.headers.get('allow'), 'GET');
	});

	test('/metrics: admin only on the main listener; counters move', async () => {
		assertError(await d.get('/metrics'), 401);
		assertError(await d.get('/metrics', d.keys.A.read), 403);
		const A = d.keys.A.admin;
		const m0 = await d.get('/metrics', A);
		assert.equal(m0.status, 200);
		assert.match(m0.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
		const before = metric(m0.text, 'devicelog_events_ingested_total');
		const commit = (t) => ['commits', 'commit_requests', 'commit_events']
			.map((k) => metric(t, `devicelog_store_${k}_total`));
		const [g0, r0, e0] = commit(m0.text);
		await d.ingest(Array.from({ length: 7 }, (_, i) => ({ device_id: `m-${i}`, event_type: 'SYS_106' })), d.keys.A.write);
		await d.get('/v3/device-events/?limit=zz', d.keys.A.read);
		await sleep(50); // counted in the completion hook, just after the answer
		const t = (await d.get('/metrics', A)).text;
		assert.equal(metric(t, 'devicelog_events_ingested_total'), before + 7);
		// one request alone: one commit of one request and its 7 events
		assert.deepEqual(commit(t), [g0 + 1, r0 + 1, e0 + 7], t);
		assert.ok(metric(t, 'devicelog_http_requests_total{method="POST",route="/v3/device-events",status="201"}') >= 1, t);
		assert.ok(metric(t, 'devicelog_http_requests_total{method="GET",route="/v3/device-events",status="400"}') >= 1, t);
		for (const s of ['devicelog_http_request_duration_seconds_count', 'devicelog_store_errors_total',
			'devicelog_rate_limited_total{limit="key"}', 'devicelog_rate_limited_total{limit="address"}',
			'devicelog_streams_open', 'devicelog_connections_open', 'devicelog_store_up'])
			assert.notEqual(metric(t, s), undefined, `${s} missing:\n${t}`);
		assert.equal(metric(t, 'devicelog_store_up'), 1);
		// every line is a comment or `name{labels} number`
		for (const line of t.trim().split('\n'))
			assert.match(line, /^(# (HELP|TYPE) .+|[a-z_]+(\{[^}]*\})? [0-9.e+-]+)$/, line);
	});

	test('a client paging at full speed is not throttled by the default limits', async () => {
		const R = d.keys.A.read;
		const t0 = Date.now();
		let n = 0;
		for (; n < 1500; n++) {
			const r = await d.get('/v3/device-events/?limit=2', R);
			assert.equal(r.status, 200, `request ${n}: ${r.status} ${r.text.slice(0, 200)}`);
		}
		const rate = (n / (Date.now() - t0)) * 1000;
		console.log(`# ${n} sequential requests at ${rate.toFixed(0)} req/s, none throttled`);
	});
});

describe('rate limits (small limits configured)', () => {
	let s;
	before(async () => {
		s = await startHDaemon({
			args: ['--rate-key', '5', '--rate-key-burst', '10', '--rate-ip', '2', '--rate-ip-burst', '5',
				'--metrics-listen', '127.0.0.1:0'],
		});
	});
	after(async () => {
		if (s) await s.cleanup();
	});

	test('per key: the burst passes, then 429 rate_limit_exceeded with Retry-After', async () => {
		const R = s.keys.A.read;
		const st = [];
		for (let i = 0; i < 14; i++) st.push((await s.get('/v3/device-events/?limit=2', R)).status);
		assert.deepEqual(st.slice(0, 10), Array(10).fill(200), st.join());
		assert.ok(st.slice(10).includes(429), st.join());
		const r = await s.get('/v3/device-events/?limit=2', R);
		assertError(r, 429, 'rate_limit_exceeded');
		assert.match(r.headers.get('retry-after'), /^[1-9]\d*$/);
		// another key is not affected
		assert.equal((await s.get('/v3/device-events/?limit=2', s.keys.A.write)).status, 200);
		// and the bucket refills: 5/s
		await sleep(1100);
		assert.equal((await s.get('/v3/device-events/?limit=2', R)).status, 200);
	});

	test('per address without a valid key: failed authentications and open routes', async () => {
		const st = [];
		for (let i = 0; i < 8; i++) st.push((await s.get('/v3/device-events/', 'ak_' + 'f'.repeat(96))).status);
		assert.deepEqual(st.slice(0, 5), [401, 401, 401, 401, 401], st.join());
		assert.ok(st.slice(5).includes(429), st.join()); // 2/s refill: a slow run may see one 401 more
		const r = await s.get('/');
		assertError(r, 429, 'rate_limit_exceeded');
		assert.ok(+r.headers.get('retry-after') >= 1);
		// a valid key from the same address is counted on its own bucket
		await sleep(1100); // the key bucket of the test above refills too
		assert.equal((await s.get('/v3/device-events/?limit=2', s.keys.A.admin)).status, 200);
	});

	test('counted in the metrics; the metrics listener needs no key and is not limited', async () => {
		assert.ok(s.metricsBase, `no metrics listener line:\n${s.stderr}`);
		for (let i = 0; i < 20; i++) {
			const r = await fetch(s.metricsBase + '/metrics');
			assert.equal(r.status, 200);
			await r.text();
		}
		const t = await (await fetch(s.metricsBase + '/metrics')).text();
		assert.ok(metric(t, 'devicelog_rate_limited_total{limit="key"}') >= 1, t);
		assert.ok(metric(t, 'devicelog_rate_limited_total{limit="address"}') >= 1, t);
		assert.equal((await fetch(s.metricsBase + '/health')).status, 200);
		const other = await fetch(s.metricsBase + '/v3/device-events/');
		assert.equal(other.status, 404);
		await other.text();
	});
});
