// Abuse against the running daemon (issue 8 §7): slow and idle clients, 10,000 idle
// connections, pipelined garbage, invalid UTF-8 and NUL bytes everywhere, SQL-looking filters,
// huge limit/after, portal path traversal, wrong methods, oversize requests. After each part the
// daemon must still be up and answer well-formed errors. Every loop is bounded in count and time.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import { startHDaemon, assertError, rawRequest, exchange, connect, metric, sleep } from './lib.mjs';

let d, R, W;
let idle; // one connection that never sends a byte: the server must close it (idle timeout)
let idleClosedAt = null;
const t0 = Date.now();

before(async () => {
	// four daemon threads: 16,384 connections in all, so 10,000 idle ones leave room to serve;
	// no per-address request limit (the flood of bad requests below all comes from 127.0.0.1;
	// the limiter has its own tests in security.test.mjs)
	d = await startHDaemon({ args: ['--threads', '4', '--rate-ip', '0', '--metrics-listen', '127.0.0.1:0'] });
	R = d.keys.A.read;
	W = d.keys.A.write;
	await d.ingest(
		Array.from({ length: 20 }, (_, i) => ({ device_id: `ab-${i % 4}`, event_type: i % 2 ? 'SYS_106' : 'UPD4_FAIL_24',
			data: { campaign_id: 'c'.repeat(32) } })),
		W,
	);
	idle = await connect(d.port, { localAddress: '127.0.0.254' });
	idle.on('close', () => (idleClosedAt = Date.now()));
	idle.on('error', () => {});
});

after(async () => {
	if (d) await d.cleanup();
});

async function alive() {
	assert.equal(d.exit, null, `the daemon exited: ${JSON.stringify(d.exit)}\n${d.stderr.slice(-2000)}`);
	const r = await d.get('/health');
	assert.equal(r.status, 200);
}

async function total() {
	const r = await d.get('/v3/device-events/?include=total_count&limit=2', R);
	assert.equal(r.status, 200, r.text);
	return r.body.total_count;
}

const STRING_FIELDS = ['device_id', 'event_type', 'description', 'event_type_description', 'event_type_category',
	'campaign_id', 'device_group_id'];
const TYPED_FIELDS = ['id', 'date_time', 'created_at__gte', 'state_change'];

describe('invalid UTF-8 and NUL bytes', () => {
	const BAD = ['%FF', '%00', 'a%00b', '%C3%28', '%ED%A0%80', '%F4%90%80%80', '%C0%AF', '%1F', '%E2%82'];

	test('in every filter value, on both list routes and in filter=: 400 naming the parameter', async () => {
		for (const f of [...STRING_FIELDS, ...TYPED_FIELDS])
			for (const v of BAD) {
				for (const p of ['/v3/device-events/', '/v3/devicelog/', '/v3/device-events/summary'])
					assertError(await d.get(`${p}?${f}=${v}`, R), 400, 'validation_error');
				assertError(await d.get(`/v3/devicelog/?filter=${encodeURIComponent(f + '=')}${encodeURIComponent(v)}`, R), 400);
			}
	});

	test('in parameter names, control parameters, the path and headers', async () => {
		for (const v of BAD) {
			assertError(await d.get(`/v3/device-events/?${v}=1`, R), 400);
			for (const k of ['limit', 'order', 'after', 'include'])
				if (k !== 'include') assertError(await d.get(`/v3/device-events/?${k}=${v}`, R), 400, 'validation_error', k);
			const g = await d.get(`/v3/device-events/${v}`, R);
			assert.ok([400, 404].includes(g.status), `${v}: ${g.status}`);
			assertError(g, g.status);
		}
		// raw bytes (not escapes) in the request line and headers
		for (const bytes of ['\xff\xfe', '\x00', '\x01']) {
			const r = await exchange(d.port, Buffer.from(`GET /v3/device-events/?device_id=${bytes} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${R}\r\nConnection: close\r\n\r\n`, 'latin1'));
			// a raw NUL ends the request target for libmicrohttpd (a C string): the request is then
			// the part before it, answered normally (docs/SECURITY.md, known limits)
			assert.match(r, bytes === '\x00' ? /^HTTP\/1\.1 (200|400|404) / : /^HTTP\/1\.1 (400|404) /, JSON.stringify(r.slice(0, 200)));
			const h = await exchange(d.port, Buffer.from(`GET /v3/device-events/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${R}\r\nLast-Event-ID: a${bytes}b\r\nConnection: close\r\n\r\n`, 'latin1'));
			assert.match(h, /^HTTP\/1\.1 400 /, JSON.stringify(h.slice(0, 200)));
		}
		await alive();
	});

	test('in every ingest field (raw bytes and \\u0000): 400 naming index and field, nothing stored', async () => {
		const n0 = await total();
		const base = { device_id: 'u-1', event_type: 'X_CUSTOM', event_type_description: 'INFO', event_type_category: 'INFO_X',
			description: 'ok', id: 'idem-1', date_time: '2026-11-08T10:02:07Z' };
		for (const field of Object.keys(base).concat(['data.key', 'data.value']))
			for (const bad of ['\xff', '\xc3\x28', '\xed\xa0\x80', '\x00', '\x1f', '\\u0000', '\\u001f', '\\ud800']) {
				const ev = { ...base, data: { k: 'v' } };
				const marker = 'BADBADBAD';
				if (field === 'data.key') ev.data = { [marker]: 'v' };
				else if (field === 'data.value') ev.data = { k: marker };
				else ev[field] = marker;
				const text = JSON.stringify([{ device_id: 'fine', event_type: 'SYS_106' }, ev]).replace(marker, `a${bad}b`);
				const r = await d.post('/v3/device-events/', Buffer.from(text, 'latin1'), W);
				assertError(r, 400, 'validation_error');
				assert.match(r.body.message, /\[1\]|invalid JSON|body/, `${field} ${JSON.stringify(bad)}: ${r.body.message}`);
				const nd = await d.post('/v3/device-events/', Buffer.from(text.slice(1, -1).replace('},{', '}\n{'), 'latin1'), W, 'application/x-ndjson');
				assertError(nd, 400, 'validation_error');
			}
		assert.equal(await total(), n0, 'a rejected request stored something');
	});
});

describe('SQL-looking strings, huge values', () => {
	const SQL = ["' OR '1'='1", "'; DROP TABLE events; --", '" OR ""="', "1); DELETE FROM api_keys; --", "%' --",
		"' UNION SELECT key_hash FROM api_keys --", '\\', "'", 'a\'\'b', '*/ /*', '?', '$1', ':name', '@p'];

	test('in every string filter: an empty answer, nothing changed; typed filters: 400', async () => {
		const n0 = await total();
		for (const f of STRING_FIELDS)
			for (const v of SQL)
				for (const op of ['', '__neq', '__in', '__nin']) {
					if (f === 'device_group_id' && op && op !== '__in') continue;
					const r = await d.get(`/v3/device-events/?${f}${op}=${encodeURIComponent(v)}`, R);
					assert.equal(r.status, 200, `${f}${op}=${v}: ${r.text.slice(0, 300)}`);
					if (!op.includes('n')) assert.equal(r.body.data.length, 0, `${f}${op}=${v} matched`);
				}
		for (const f of TYPED_FIELDS)
			for (const v of SQL) assertError(await d.get(`/v3/device-events/?${f}=${encodeURIComponent(v)}`, R), 400);
		for (const v of SQL) {
			assertError(await d.get(`/v3/device-events/?order=${encodeURIComponent(v)}`, R), 400, 'validation_error', 'order');
			assertError(await d.get(`/v3/device-events/?limit=${encodeURIComponent(v)}`, R), 400, 'validation_error', 'limit');
			const g = await d.get(`/v3/device-events/${encodeURIComponent(v)}`, R);
			assert.ok([400, 404].includes(g.status));
		}
		assert.equal(await total(), n0);
		// the keys table is intact: every key still works
		for (const k of Object.values(d.keys.A)) assert.equal((await d.get('/v3/device-events/?limit=2', k)).status, 200);
	});

	test('huge limit and after: clamped or 400/414, never 500', async () => {
		const cases = ['limit=99999999999999999999999999', 'limit=-99999999999999999999', 'limit=1e9', 'limit=0x10',
			`limit=${'9'.repeat(5000)}`, 'limit=-1', 'limit=1000000', `after=${'f'.repeat(33)}`, `after=${'F'.repeat(32)}`,
			`after=${'0'.repeat(10000)}`, `after=${'a'.repeat(70000)}`, `device_id__in=${Array(1001).fill('x').join(',')}`,
			Array.from({ length: 40 }, (_, i) => `device_id__neq=x${i}`).join('&'), `device_id=${'x'.repeat(2000)}`];
		for (const q of cases) {
			const r = await d.get(`/v3/device-events/?${q}`, R);
			assert.ok([200, 400, 414].includes(r.status), `${q.slice(0, 60)}: ${r.status}`);
			if (r.status === 200) assert.ok(r.body.limit >= 2 && r.body.limit <= 1000);
			else assertError(r, r.status);
		}
		await alive();
	});
});

describe('requests that break the rules', () => {
	test('portal path traversal: 404, never a file from outside', async () => {
		const paths = ['/../../etc/passwd', '/%2e%2e/%2e%2e/etc/passwd', '/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd',
			'/..%2f..%2fetc%2fpasswd', '/index.html/../../../etc/passwd', '//etc/passwd', '/.%2e/.%2e/etc/passwd',
			'/..\\..\\etc\\passwd', '/%252e%252e/etc/passwd', '/%c0%ae%c0%ae/etc/passwd', '/app.js%00.html', '/./index.html',
			'/etc/passwd', '/proc/self/environ', '/.git/config', '/../src/http/server.c', '/index.html%00', '/%00'];
		for (const p of paths) {
			const r = await rawRequest(d.port, `GET ${p} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
			assert.ok([400, 404].includes(r.status), `${p}: ${r.status}`);
			assert.ok(!/root:|PATH=|\[core\]|#include/.test(r.text), `${p} leaked a file`);
			if (r.status === 404) assertError({ ...r, headers: r.headers }, 404, 'not_found');
		}
		await alive();
	});

	test('wrong methods: 405 with Allow', async () => {
		const cases = [
			['PUT', '/v3/device-events/', /^GET, POST$/],
			['DELETE', '/v3/device-events/', /^GET, POST$/],
			['PATCH', '/v3/device-events/00000000000000010006614c99c5ddd4', /^GET$/],
			['POST', '/v3/devicelog/', /^GET$/],
			['POST', '/v3/device-event-codes/SYS_106', /^GET$/],
			['PUT', '/v3/api-keys/', /^GET, POST$/],
			['POST', '/health', /^GET$/],
			['DELETE', '/', /^GET$/],
			['POST', '/index.html', /^GET$/],
			['OPTIONS', '/v3/device-events/', /GET/],
			['FOO', '/v3/device-events/', /GET/],
		];
		for (const [m, p, allow] of cases) {
			const r = await d.request(m, p, { key: W });
			assertError(r, 405, 'method_not_supported');
			assert.match(r.headers.get('allow') || '', allow, `${m} ${p}`);
		}
	});

	test('oversize: 414 URL, 431 headers, 413 before the body is read, 415 type', async () => {
		assertError(await d.get(`/v3/device-events/?device_id=${'x'.repeat(70 * 1024)}`, R), 414);
		// before authentication the caps are tighter (a portal URL or /health needs no 64 KiB)
		assertError(await d.get(`/?q=${'x'.repeat(5000)}`), 414);
		assert.equal((await d.get(`/v3/device-events/?device_id=${'x'.repeat(1000)}&limit=2&description__neq=${'y'.repeat(1000)}&event_type__nin=${Array(200).fill('z'.repeat(10)).join(',')}`, R)).status, 200);
		assertError(await d.request('GET', '/v3/device-events/', { key: R, headers: { 'x-pad': 'p'.repeat(20 * 1024) } }), 431);
		assertError(await d.request('GET', '/health', { headers: { 'x-pad': 'p'.repeat(9 * 1024) } }), 431);
		// 1 GB announced, nothing sent: the answer comes at once
		const t = Date.now();
		const r = await rawRequest(d.port, `POST /v3/device-events/ HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${W}\r\nContent-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n`);
		assert.equal(r.status, 413);
		assert.ok(Date.now() - t < 2000);
		assertError(await d.post('/v3/device-events/', '<xml/>', W, 'text/xml'), 415);
		assertError(await d.post('/v3/device-events/', '{}', W, 'application/json-seq'), 415);
		// deep JSON
		assertError(await d.post('/v3/device-events/', '['.repeat(100000) + ']'.repeat(100000), W), 400);
		await alive();
	});

	test('JSON that would blow up in the parser is refused before parsing; the largest valid batch passes', async () => {
		const n0 = await total();
		// 4 MiB of empty arrays: 1.4M values (unchecked, 16 MiB of them took 770 MB to parse)
		const t = Date.now();
		const r = await d.post('/v3/device-events/', '[' + Array(1_400_000).fill('[]').join(',') + ']', W);
		assertError(r, 400, 'validation_error', 'body');
		assert.match(r.body.message, /JSON values/);
		assert.ok(Date.now() - t < 3000);
		const deep = [{ device_id: 'x', event_type: 'SYS_106', data: { a: 'b' } }];
		let text = JSON.stringify(deep).replace('"b"', '[[[[[[["b"]]]]]]]');
		assertError(await d.post('/v3/device-events/', text, W), 400, 'validation_error', 'body');
		text = JSON.stringify(deep).replace('"b"', '[[[["b"]]]]'); // within the depth: the validator says why
		assertError(await d.post('/v3/device-events/', text, W), 400, 'validation_error');
		assertError(await d.post('/v3/device-groups/', '{"name":"g","custom_attributes":' + '{"a":'.repeat(9) + '1' + '}'.repeat(10), W), 400, 'validation_error', 'body');
		// 10,000 events with every field and 32 data keys: the largest valid batch
		const data = Object.fromEntries(Array.from({ length: 32 }, (_, j) => [`k${j}`, 'v'.repeat(8)]));
		const big = Array.from({ length: 10_000 }, (_, i) => ({ device_id: `big-${i % 50}`, event_type: 'UPD4_FAIL_24',
			date_time: '2026-11-08T10:02:07Z', description: 'd', event_type_category: 'FAIL_NETWORK', state_change: false,
			id: `big-${i}`, data }));
		const ok = await d.post('/v3/device-events/', big, W);
		assert.equal(ok.status, 201, ok.text.slice(0, 300));
		assert.equal(await total(), n0 + 10_000);
	});

	test('pipelined requests and garbage', async () => {
		// 100 requests in one write: 100 answers, in order
		const one = `GET /health HTTP/1.1\r\nHost: x\r\n\r\n`;
		const out = await exchange(d.port, one.repeat(99) + one.replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n'), 5000);
		assert.equal((out.match(/HTTP\/1\.1 200 OK/g) || []).length, 100);
		// a good request followed by garbage: the good one is answered, the rest is refused
		const g = await exchange(d.port, one + '\x00\x01\x02garbage\r\n\r\n' + 'A'.repeat(5000) + '\r\n\r\n', 3000);
		assert.match(g, /^HTTP\/1\.1 200 OK/);
		for (const junk of ['\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03', 'GET\r\n\r\n', 'GET / HTTP/9.9\r\n\r\n',
			'POST /v3/device-events/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\nzzzz\r\n\r\n',
			'GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n', 'GET / HTTP/1.1\r\n' + 'X: y\r\n'.repeat(20000) + '\r\n',
			'\r\n'.repeat(1000), Buffer.alloc(70000, 0x41).toString('latin1')]) {
			const r = await exchange(d.port, Buffer.from(junk, 'latin1'), 3000);
			assert.ok(r === '' || /^HTTP\/1\.[01] [45]\d\d /.test(r), JSON.stringify(r.slice(0, 120)));
		}
		await alive();
	});
});

describe('slow and idle clients', () => {
	// normal requests while a bad client is at work: all answered, none slow
	async function serveWhile(work) {
		const lat = [];
		let stop = false;
		const normal = (async () => {
			while (!stop) {
				const t = Date.now();
				const r = await d.get('/v3/device-events/?limit=2', R);
				assert.equal(r.status, 200);
				lat.push(Date.now() - t);
				await sleep(20);
			}
		})();
		await work();
		stop = true;
		await normal;
		lat.sort((a, b) => a - b);
		return { n: lat.length, max: lat.at(-1), p50: lat[lat.length >> 1] };
	}

	test('slow-header and slow-body clients do not slow anyone else', async () => {
		const s = await serveWhile(async () => {
			const socks = [];
			for (let i = 0; i < 50; i++) socks.push(await connect(d.port, { localAddress: '127.0.0.2' }));
			const head = `POST /v3/device-events/ HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${W}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n`;
			// half trickle their headers, half their body, one byte per 200 ms for 3 s
			for (let k = 0; k < 15; k++) {
				for (const [i, so] of socks.entries()) so.write(i % 2 ? head.slice(k, k + 1) : (k === 0 ? head : '['));
				await sleep(200);
			}
			for (const so of socks) so.destroy();
		});
		console.log(`# during 50 slow clients: ${s.n} requests, p50 ${s.p50} ms, max ${s.max} ms`);
		assert.ok(s.n >= 20 && s.max < 1000, JSON.stringify(s));
		await alive();
	});

	test('10,000 idle connections: bounded, the server keeps serving, and lets them go', async () => {
		const N = 10_000;
		const socks = [];
		const rss = () => +/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${d.proc.pid}/status`, 'utf8'))[1];
		const rss0 = rss();
		const t = Date.now();
		let failed = 0;
		// 20 source addresses x 500: under the per-address cap of 512
		for (let a = 0; a < 20 && Date.now() - t < 60_000; a++) {
			const batch = await Promise.allSettled(Array.from({ length: N / 20 }, () => connect(d.port, { localAddress: `127.0.1.${a + 1}` })));
			for (const b of batch) {
				if (b.status === 'fulfilled') {
					b.value.on('error', () => {});
					socks.push(b.value);
				} else failed++;
			}
		}
		const opened = Date.now() - t;
		await sleep(300);
		const during = Date.now();
		const h = await d.get('/health');
		const served = Date.now() - during;
		const m = await fetch(d.metricsBase + '/metrics').then((r) => r.text());
		const open = metric(m, 'devicelog_connections_open');
		const grown = rss() - rss0;
		const alive2 = socks.filter((s) => !s.destroyed).length;
		console.log(`# ${socks.length} idle connections opened in ${opened} ms (${failed} failed); server holds ${open}; ` +
			`a request among them took ${served} ms; RSS +${(grown / 1024).toFixed(1)} MiB`);
		assert.equal(h.status, 200);
		assert.ok(served < 2000, `a request took ${served} ms among ${open} idle connections`);
		assert.ok(open >= alive2 - 50 && open <= 4 * 4096 + 10, `connections_open ${open}`);
		assert.ok(grown < 1024 * 1024, `RSS grew by ${grown} KiB`); // libmicrohttpd pools are lazy
		for (const s of socks) s.destroy();
		// the server notices the closes and its count falls back: within a second as a rule
		// (the count is logged). Once, in a full `make test` on a loaded machine, 129 were
		// still counted after 10 s (libmicrohttpd 0.9.75 takes epoll events 128 at a time,
		// which may be related; not explained); the idle timeout (30 s) reaps any connection
		// it missed, so that timeout is the bound here
		const closed = Date.now();
		const deadline = closed + 40_000;
		let now;
		do {
			await sleep(200);
			now = metric(await fetch(d.metricsBase + '/metrics').then((r) => r.text()), 'devicelog_connections_open');
		} while (now > 10 && Date.now() < deadline);
		console.log(`# the count fell to ${now} in ${Date.now() - closed} ms`);
		assert.ok(now <= 10, `still ${now} connections after the clients left`);
		await alive();
	});

	test('an idle connection is closed by the server after the idle timeout (30 s)', async () => {
		// opened in before(); wait at most until 40 s after that
		while (idleClosedAt === null && Date.now() - t0 < 40_000) await sleep(250);
		assert.ok(idleClosedAt !== null, 'the idle connection is still open after 40 s');
		const held = (idleClosedAt - t0) / 1000;
		console.log(`# idle connection closed by the server after ~${held.toFixed(1)} s`);
		assert.ok(held >= 25, `closed too early (${held} s)`);
		await alive();
	});
});
