// Several instances over one PostgreSQL database (SPEC §2: ids in commit order, whoever
// commits): two `devicelog serve` processes share a fresh database; events ingested through
// either are listed by both, ids never collide and follow commit order, the live stream of one
// delivers what was ingested through the other, and campaign statistics stay exact under
// concurrent ingest through both. Only under scripts/test-integration-pg.sh (PostgreSQL).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Daemon, ON_PG, storeFor, rng, MTYPE } from './lib/harness.mjs';

const CAMPS = ['1'.repeat(32), '2'.repeat(32), '3'.repeat(32)];
const CODES = ['SYS_108', 'UPD4_FAIL_24', 'UPD4_FAIL_33', 'UPD2_OK_18', 'SYS_110', 'SYS_112', 'SYS_111'];
const STATUS = { FAIL: 'fail', SUCCESS: 'success', INFO: 'info', SKIPPED: 'skipped' };

let a, b;

before(async () => {
	if (!ON_PG) return;
	const da = fs.mkdtempSync(path.join(os.tmpdir(), 'devicelog-inst-a-'));
	const db = fs.mkdtempSync(path.join(os.tmpdir(), 'devicelog-inst-b-'));
	const st = storeFor(da);
	a = new Daemon(da, st.url, st.pgName);
	b = new Daemon(db, st.url); // the same database; a drops it at cleanup
	a.addKey('A', 'read');
	a.addKey('A', 'write');
	b.keys = a.keys;
	await a.start();
	await b.start();
});

after(async () => {
	if (b) await b.cleanup();
	if (a) await a.cleanup();
});

// Reads an SSE stream until `want` device-event messages arrived (or ms passed); returns their
// parsed data in arrival order.
async function follow(d, key, want, ms, ready) {
	const ctl = new AbortController();
	const timer = setTimeout(() => ctl.abort(), ms);
	const got = [];
	try {
		const res = await fetch(`${d.base}/v3/device-events/stream`, { headers: { authorization: `Bearer ${key}` }, signal: ctl.signal });
		assert.equal(res.status, 200);
		ready();
		const dec = new TextDecoder();
		let buf = '';
		for await (const chunk of res.body) {
			buf += dec.decode(chunk, { stream: true });
			let i;
			while ((i = buf.indexOf('\n\n')) >= 0) {
				const msg = buf.slice(0, i);
				buf = buf.slice(i + 2);
				const data = msg.split('\n').find((l) => l.startsWith('data: '));
				if (data) got.push(JSON.parse(data.slice(6)));
			}
			if (got.length >= want) break;
		}
	} catch (e) {
		if (e.name !== 'AbortError') throw e;
	} finally {
		clearTimeout(timer);
		ctl.abort();
	}
	return got;
}

// The statistics the API must show, computed from the events: per campaign and message type,
// events, and devices counted under their latest event in the campaign (date_time, then id).
function expectedStats(events) {
	const out = {};
	for (const c of CAMPS) {
		const evs = events.filter((e) => e.data.campaign_id === c);
		const latest = new Map();
		for (const e of evs) {
			const l = latest.get(e.device_id);
			if (!l || e.date_time > l.date_time || (e.date_time === l.date_time && e.id > l.id)) latest.set(e.device_id, e);
		}
		const s = {};
		for (const [mt, id] of Object.entries(STATUS)) {
			s[id] = {
				events_count: evs.filter((e) => e.event_type_description === mt).length,
				count: [...latest.values()].filter((e) => e.event_type_description === mt).length,
			};
		}
		out[c] = s;
	}
	return out;
}

test('two instances, one database: one list, one id order, one stream, exact statistics', { skip: !ON_PG && 'PostgreSQL only (scripts/test-integration-pg.sh)', timeout: 120_000 }, async () => {
	const W = a.keys.A.write, R = a.keys.A.read;
	const r = rng(42);
	const PER = 30, BATCHES = 24; // per instance: 24 requests of 30 events, all in flight at once
	const mk = (tag) =>
		Array.from({ length: PER }, (_, i) => ({
			device_id: `dev-${(r() * 40) | 0}`,
			event_type: CODES[(r() * CODES.length) | 0],
			date_time: new Date(Date.UTC(2026, 10, 1) + ((r() * 5 * 86400e3) | 0)).toISOString(),
			data: { campaign_id: CAMPS[(r() * CAMPS.length) | 0], batch: `${tag}-${i}` },
		}));
	const total = 2 * PER * BATCHES;

	// streams on both instances, open before anything is ingested
	let readyA, readyB;
	const pa = new Promise((res) => (readyA = res)), pb = new Promise((res) => (readyB = res));
	const streamA = follow(a, R, total, 60_000, readyA);
	const streamB = follow(b, R, total, 60_000, readyB);
	await Promise.all([pa, pb]);
	await new Promise((res) => setTimeout(res, 300)); // the streams hold their start position

	const posts = [];
	for (let i = 0; i < BATCHES; i++) {
		posts.push(a.post('/v3/device-events/', mk(`a${i}`), W));
		posts.push(b.post('/v3/device-events/', mk(`b${i}`), W));
	}
	const answers = await Promise.all(posts);
	const acked = [];
	for (const x of answers) {
		assert.equal(x.status, 201, x.text);
		// one request's events commit together: their ids increase in input order
		for (let i = 1; i < x.body.ids.length; i++) assert.ok(x.body.ids[i] > x.body.ids[i - 1]);
		acked.push(...x.body.ids);
	}
	assert.equal(new Set(acked).size, total, 'ids never collide across instances');

	const la = await a.listAll('', R), lb = await b.listAll('', R);
	assert.deepEqual(la, lb, 'both instances list the same events');
	assert.equal(la.length, total);
	assert.deepEqual(la.map((e) => e.id), [...acked].sort(), 'the list is every acknowledged id, in id order');
	// commit order: created_at (the commit's time) never decreases along the id order
	for (let i = 1; i < la.length; i++) assert.ok(la[i].created_at >= la[i - 1].created_at, `created_at order at ${i}`);

	// each stream saw everything, whichever instance ingested it, in id order, nothing twice
	const [sa, sb] = await Promise.all([streamA, streamB]);
	assert.deepEqual(sa.map((e) => e.id), la.map((e) => e.id), 'stream on instance a');
	assert.deepEqual(sb.map((e) => e.id), la.map((e) => e.id), 'stream on instance b');

	// statistics from the maintained counters equal what the events say, on both instances
	const want = expectedStats(la);
	for (const d of [a, b]) {
		for (const c of CAMPS) {
			const s = await d.get(`/v3/update-campaigns/${c}/statistics`, R);
			assert.equal(s.status, 200, s.text);
			for (const row of s.body.data) {
				assert.equal(row.events_count, want[c][row.id].events_count, `${c} ${row.id} events_count`);
				assert.equal(row.count, want[c][row.id].count, `${c} ${row.id} count (devices)`);
			}
			const fails = await d.get(`/v3/update-campaigns/${c}/statistics/fail/event_types`, R);
			assert.equal(fails.status, 200, fails.text);
			for (const row of fails.body.data) {
				const n = la.filter((e) => e.data.campaign_id === c && e.event_type === row.event_type).length;
				assert.equal(row.events_count, n, `${c} ${row.event_type} events_count`);
				assert.equal(MTYPE[row.event_type], 'FAIL');
			}
		}
	}
});
