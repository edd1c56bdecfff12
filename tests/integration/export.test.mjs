// Export (GET /v3/device-events/export, `devicelog export`), the import round trip,
// `devicelog copy` and `devicelog backup`. Runs on the suite's backend (SQLite, or PostgreSQL
// under scripts/test-integration-pg.sh); copy goes from a SQLite store to the suite's backend;
// backup is of a SQLite store of its own (PostgreSQL has its own tools).
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startDaemon, Daemon, cli, createKey, storeFor, assertError, rng, BIN, ON_PG } from './lib/harness.mjs';

const CAMP = ['c'.repeat(32), 'd'.repeat(32)];

// ~1,700 events (more than one export page of 1,000): catalog codes and unknown ones, producer
// texts with commas, quotes and non-ASCII, extra data keys, idempotency keys on some.
function fixture(n, seed) {
	const r = rng(seed);
	const codes = ['SYS_106', 'SYS_107', 'SYS_105', 'UPD4_FAIL_24', 'UPD4_FAIL_33', 'UPD2_OK_18', 'SYS_110', 'SYS_108'];
	const out = [];
	for (let i = 0; i < n; i++) {
		const e = {
			device_id: `dev-${(r() * 60) | 0}`,
			event_type: codes[(r() * codes.length) | 0],
			date_time: new Date(Date.UTC(2026, 9, 1) + ((r() * 40 * 86400e3) | 0)).toISOString().replace('Z', '123Z'),
		};
		if (i % 5 === 0) e.data = { campaign_id: CAMP[i % 2] };
		if (i % 7 === 0) e.data = { ...(e.data || {}), firmware: `v${i}, "beta"`, 'zone/é': 'Zürich' };
		if (i % 11 === 0) e.description = `custom text ${i}, with "quotes", commas; ünïcödé ✓`;
		if (i % 13 === 0) Object.assign(e, { event_type: `VENDOR_${i % 3}`, event_type_description: 'FAIL', event_type_category: 'FAIL_VENDOR' });
		if (i % 17 === 0) e.state_change = !(i % 34 === 0);
		if (i % 3 === 0) e.id = `idem-${seed}-${i}`;
		out.push(e);
	}
	return out;
}

// Events as compared across stores: what a store assigns is left out.
function content(e) {
	const { id, created_at, etag, ...rest } = e;
	return rest;
}

function ndjson(text) {
	return text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l));
}

// RFC 4180: quoted fields, doubled quotes, CRLF records.
function parseCsv(text) {
	const rows = [];
	let row = [], field = '', q = false;
	for (let i = 0; i < text.length; i++) {
		const ch = text[i];
		if (q) {
			if (ch === '"' && text[i + 1] === '"') (field += '"'), i++;
			else if (ch === '"') q = false;
			else field += ch;
		} else if (ch === '"') q = true;
		else if (ch === ',') row.push(field), (field = '');
		else if (ch === '\r' && text[i + 1] === '\n') row.push(field), rows.push(row), (row = []), (field = ''), i++;
		else field += ch;
	}
	assert.equal(field, '', 'CSV ends with CRLF');
	return rows;
}

let d, R, W;
let all;

before(async () => {
	d = await startDaemon({ accounts: { A: ['read', 'write', 'admin'], B: ['read', 'write'] } });
	R = d.keys.A.read;
	W = d.keys.A.write;
	await d.ingest(fixture(1700, 7), W, { batch: 500 });
	await d.ingest([{ device_id: 'other', event_type: 'SYS_106' }], d.keys.B.write);
	all = await d.listAll('', R);
});

after(async () => {
	if (d) await d.cleanup();
});

describe('GET /v3/device-events/export', () => {
	test('NDJSON: every event, as the list shows it, one per line', async () => {
		const r = await d.get('/v3/device-events/export', R);
		assert.equal(r.status, 200, r.text.slice(0, 300));
		assert.match(r.headers.get('content-type'), /^application\/x-ndjson/);
		assert.match(r.headers.get('content-disposition'), /^attachment; filename="device-events\.ndjson"/);
		assert.ok(r.text.endsWith('\n'));
		assert.deepEqual(ndjson(r.text), all);
	});

	test('filters, order and after as the list; limit ignored', async () => {
		const queries = [
			'event_type_description=FAIL',
			'order=DESC',
			`campaign_id=${CAMP[0]}&order=DESC&limit=5`,
			`after=${all[700].id}`,
			`order=DESC&after=${all[1200].id}&device_id__in=dev-1,dev-2,dev-3`,
			'filter=' + encodeURIComponent('event_type__in=UPD4_FAIL_24,VENDOR_1&state_change=true'),
			'date_time__gte=2026-10-20T00:00:00Z&date_time__lte=2026-10-25T00:00:00Z',
			'device_id=nobody',
		];
		for (const q of queries) {
			const want = await d.listAll(q.replace(/&?limit=\d+/, ''), R);
			const r = await d.get(`/v3/device-events/export?format=ndjson&${q}`, R);
			assert.equal(r.status, 200, `${q}: ${r.text.slice(0, 300)}`);
			assert.deepEqual(ndjson(r.text), want, q);
		}
	});

	test('CSV: header, RFC 4180 quoting, the same events and fields', async () => {
		const r = await d.get('/v3/device-events/export?format=csv', R);
		assert.equal(r.status, 200, r.text.slice(0, 300));
		assert.match(r.headers.get('content-type'), /^text\/csv/);
		assert.match(r.headers.get('content-disposition'), /filename="device-events\.csv"/);
		const rows = parseCsv(r.text);
		const head = ['id', 'device_id', 'date_time', 'created_at', 'event_type', 'event_type_description', 'event_type_category', 'description', 'state_change', 'campaign_id', 'data', 'idempotency_key'];
		assert.deepEqual(rows[0], head);
		assert.equal(rows.length, all.length + 1);
		rows.slice(1).forEach((row, i) => {
			const e = all[i];
			const o = Object.fromEntries(head.map((h, j) => [h, row[j]]));
			assert.equal(o.id, e.id);
			assert.equal(o.device_id, e.device_id);
			assert.equal(o.date_time, e.date_time);
			assert.equal(o.created_at, e.created_at);
			assert.equal(o.event_type, e.event_type);
			assert.equal(o.event_type_description, e.event_type_description);
			assert.equal(o.event_type_category, e.event_type_category);
			assert.equal(o.description, e.description);
			assert.equal(o.state_change, String(e.state_change));
			assert.equal(o.campaign_id, e.data.campaign_id ?? '');
			assert.deepEqual(JSON.parse(o.data), e.data);
			assert.equal(o.idempotency_key, e.idempotency_key ?? '');
		});
	});

	test('errors: bad format, bad filter, no key, other account sees only its own', async () => {
		assertError(await d.get('/v3/device-events/export?format=xml', R), 400, 'validation_error', 'format');
		assertError(await d.get('/v3/device-events/export?colour=red', R), 400, 'validation_error');
		assertError(await d.get('/v3/device-events/export'), 401, 'unauthorized');
		const r = await d.get('/v3/device-events/export', d.keys.B.read);
		assert.equal(r.status, 200);
		assert.deepEqual(ndjson(r.text).map((e) => e.device_id), ['other']);
	});

	test('`devicelog export` writes what the route sends, to a file or stdout', async () => {
		const f = path.join(d.dir, 'cli.ndjson');
		const r = cli(['export', '--store', d.store, '--account', 'A', '--quiet', f]);
		assert.equal(r.status, 0, r.stderr);
		assert.deepEqual(ndjson(fs.readFileSync(f, 'utf8')), all);
		const q = 'event_type_description=FAIL&order=DESC';
		const c = cli(['export', '--store', d.store, '--account', 'A', '--format', 'csv', '--filter', q, '--quiet']);
		assert.equal(c.status, 0, c.stderr);
		const h = await d.get(`/v3/device-events/export?format=csv&${q}`, R);
		assert.equal(c.stdout, h.text);
		assert.equal(cli(['export', '--store', d.store, '--account', 'A', '--filter', 'bogus=1']).status, 2);
		assert.notEqual(cli(['export', '--store', d.store, '--account', 'nobody']).status, 0);
	});
});

describe('import round trip and copy', () => {
	test('export -> import into a fresh store -> export: identical but for id, created_at, etag', async () => {
		const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'devicelog-rt-'));
		const st = storeFor(dir);
		const e = new Daemon(dir, st.url, st.pgName);
		try {
			const f = path.join(d.dir, 'rt.ndjson');
			assert.equal(cli(['export', '--store', d.store, '--account', 'A', '--quiet', f]).status, 0);
			const imp = cli(['import', '--store', e.store, '--account', 'A', '--quiet', f]);
			assert.equal(imp.status, 0, imp.stderr);
			const back = cli(['export', '--store', e.store, '--account', 'A', '--quiet']);
			assert.equal(back.status, 0, back.stderr);
			const got = ndjson(back.stdout);
			assert.deepEqual(got.map(content), all.map(content));
			// importing the same file again adds only the events without an idempotency key
			const again = cli(['import', '--store', e.store, '--account', 'A', f]);
			assert.equal(again.status, 0, again.stderr);
			const keyed = all.filter((x) => x.idempotency_key !== null).length;
			assert.match(again.stderr, new RegExp(`accepted ${all.length} \\(${keyed} already present\\)`));
		} finally {
			await e.cleanup();
		}
	});

	test('copy: events, keys (they keep working), groups with members, statistics, idempotent retries', async () => {
		const sdir = fs.mkdtempSync(path.join(os.tmpdir(), 'devicelog-src-'));
		const tdir = fs.mkdtempSync(path.join(os.tmpdir(), 'devicelog-dst-'));
		const src = new Daemon(sdir, 'sqlite:' + path.join(sdir, 'src.db'));
		const st = storeFor(tdir);
		const dst = new Daemon(tdir, st.url, st.pgName);
		try {
			src.addKey('A', 'read');
			src.addKey('A', 'write');
			src.addKey('B', 'read');
			src.addKey('B', 'write');
			const revoked = createKey(src.store, 'A', 'read', 'gone');
			assert.equal(cli(['keys', 'revoke', '--store', src.store, revoked.id]).status, 0);
			await src.start();
			const events = fixture(1300, 9);
			await src.ingest(events, src.keys.A.write, { batch: 400 });
			await src.ingest([{ device_id: 'b-dev', event_type: 'SYS_107' }], src.keys.B.write);
			const g = await src.post('/v3/device-groups/', { name: 'north', description: 'north, "cold"', custom_attributes: { site: 'Oslo' } }, src.keys.A.write);
			assert.equal(g.status, 201, g.text);
			for (const dev of ['dev-1', 'dev-2', 'dev-3']) {
				const a = await src.post(`/v3/device-groups/${g.body.id}/devices/add/`, { device_id: dev }, src.keys.A.write);
				assert.equal(a.status, 204, a.text);
			}
			await src.stop();

			const c = cli(['copy', '--from', src.store, '--to', dst.store]);
			assert.equal(c.status, 0, c.stderr);
			assert.match(c.stderr, /copied 2 accounts, 5 keys, 1 groups, 3 members, 1301 events/);
			// a second copy into the same accounts is refused: they have events now
			assert.notEqual(cli(['copy', '--from', src.store, '--to', dst.store, '--account', 'A']).status, 0);

			await src.start();
			await dst.start();
			// the source's keys answer on the target; the revoked one stays revoked
			const K = src.keys.A.read;
			const sList = await src.listAll('', K);
			const tList = await dst.listAll('', K);
			assert.deepEqual(tList.map(content), sList.map(content));
			assert.equal((await dst.get('/v3/device-events/?limit=2', revoked.key)).status, 401);
			assert.deepEqual((await dst.listAll('', src.keys.B.read)).map(content), (await src.listAll('', src.keys.B.read)).map(content));
			// ids are the target's commit order: increasing, in the source's order
			for (let i = 1; i < tList.length; i++) assert.ok(tList[i].id > tList[i - 1].id);
			// the directory and campaign statistics were rebuilt by the appends: the same
			for (const p of ['/v3/devices/?limit=1000', `/v3/update-campaigns/${CAMP[0]}/statistics`, `/v3/update-campaigns/${CAMP[1]}/statistics/fail/event_types`]) {
				const a = await src.get(p, K), b = await dst.get(p, K);
				assert.equal(a.status, 200, `${p}: ${a.text}`);
				assert.deepEqual(b.body, a.body, p);
			}
			const ga = await src.get(`/v3/device-groups/${g.body.id}/`, K), gb = await dst.get(`/v3/device-groups/${g.body.id}/`, K);
			assert.equal(gb.status, 200, gb.text);
			for (const k of ['id', 'name', 'description', 'custom_attributes', 'devices_count']) assert.deepEqual(gb.body[k], ga.body[k], k);
			const ma = await src.get(`/v3/device-groups/${g.body.id}/devices/`, K), mb = await dst.get(`/v3/device-groups/${g.body.id}/devices/`, K);
			assert.deepEqual(mb.body.data.map((x) => x.id), ma.body.data.map((x) => x.id));
			// a producer's retry after the move is still a repeat, not a conflict
			const retry = await dst.post('/v3/device-events/', events[3], src.keys.A.write);
			assert.equal(retry.status, 200, retry.text);
			assert.equal(retry.body.idempotency_key, events[3].id);
			const clash = await dst.post('/v3/device-events/', { ...events[3], device_id: 'changed' }, src.keys.A.write);
			assert.equal(clash.status, 409, clash.text);
		} finally {
			await src.cleanup();
			await dst.cleanup();
		}
	});
});

// The CLI without blocking the event loop (requests go on while it runs).
function cliAsync(args) {
	return new Promise((resolve, reject) => {
		const p = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
		let stdout = '', stderr = '';
		p.stdout.on('data', (b) => (stdout += b));
		p.stderr.on('data', (b) => (stderr += b));
		p.on('error', reject);
		p.on('exit', (status) => resolve({ status, stdout, stderr }));
	});
}

describe('devicelog backup', () => {
	test('while the service ingests: the copy is a store holding a prefix of the id order; never overwrites', async () => {
		const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'devicelog-bk-'));
		const live = new Daemon(dir, 'sqlite:' + path.join(dir, 'live.db'));
		try {
			live.addKey('A', 'read');
			live.addKey('A', 'write');
			await live.start();
			await live.ingest(fixture(3000, 21), live.keys.A.write, { batch: 1000 });
			// producers keep going while the copy is made
			let stop = false, rounds = 0;
			const feeder = (async () => {
				while (!stop) await live.ingest(fixture(40, 1000 + rounds++), live.keys.A.write);
			})();
			const dest = path.join(dir, 'copy.db');
			const b = await cliAsync(['backup', '--store', live.store, dest]);
			stop = true;
			await feeder;
			assert.equal(b.status, 0, b.stderr);
			assert.match(b.stderr, /wrote .*copy\.db: \d+ bytes/);

			const ids = (store) => {
				const f = path.join(dir, 'ids.ndjson');
				const r = cli(['export', '--store', store, '--account', 'A', '--quiet', f]);
				assert.equal(r.status, 0, r.stderr);
				return ndjson(fs.readFileSync(f, 'utf8')).map((e) => e.id);
			};
			const got = ids('sqlite:' + dest);
			const now = ids(live.store);
			assert.equal(now.length, 3000 + 40 * rounds);
			assert.ok(got.length >= 3000 && got.length <= now.length, `${got.length} of ${now.length}`);
			// one snapshot: every event committed before some point, none after (ids are in commit order)
			assert.deepEqual(got, now.slice(0, got.length));
			// keys came along (the copy is a store a service can run on)
			assert.match(cli(['keys', 'list', '--store', 'sqlite:' + dest]).stdout, new RegExp(live.keyIds.A.read));

			// an existing file is never overwritten
			const before = fs.readFileSync(dest);
			const again = cli(['backup', '--store', live.store, dest]);
			assert.equal(again.status, 1);
			assert.match(again.stderr, /exists/);
			assert.ok(before.equals(fs.readFileSync(dest)));
			assert.equal(cli(['backup', '--store', live.store]).status, 2);
		} finally {
			await live.cleanup();
		}
	});

	test('a PostgreSQL store is not backed up this way', { skip: !ON_PG && 'the suite runs on SQLite' }, () => {
		const dest = path.join(os.tmpdir(), `devicelog-pgbk-${process.pid}.db`);
		const r = cli(['backup', '--store', d.store, dest]);
		assert.equal(r.status, 1);
		assert.match(r.stderr, /pg_dump/);
		assert.equal(fs.existsSync(dest), false);
	});
});
