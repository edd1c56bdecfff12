// Retention (`serve --retention-days N`): events created more than N days ago go, on both
// backends; the device directory and campaign statistics keep their lifetime counts; the
// idempotency keys of removed events go with them. Events cannot be created in the past through
// the API, so the test ages some rows in the database itself (sqlite3 / psql), as time would.
// On PostgreSQL, the oldest rows are moved into a month partition of their own, which retention
// must drop whole; the others land in the default partition and are deleted row by row.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { startDaemon, ON_PG, sleep } from './lib/harness.mjs';

const DAY = 86400e6;
const CAMP = 'e'.repeat(32);
const haveTool = spawnSync(ON_PG ? 'psql' : 'sqlite3', ['--version']).status === 0;

function sql(store, text) {
	const r = ON_PG
		? spawnSync('psql', ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', store, '-c', text], { encoding: 'utf8' })
		: spawnSync('sqlite3', [store.replace(/^sqlite:/, ''), text], { encoding: 'utf8' });
	assert.equal(r.status, 0, `${text}: ${r.stderr}`);
	return r.stdout.trim();
}

// Month partition name and bounds (µs) of the UTC month holding t (µs).
function month(t) {
	const d = new Date(t / 1000);
	const lo = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1) * 1000;
	const hi = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1) * 1000;
	const name = `events_p${d.getUTCFullYear()}${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
	return { name, lo, hi };
}

let d;

before(async () => {
	if (haveTool) d = await startDaemon({ accounts: { A: ['read', 'write'] } });
});

after(async () => {
	if (d) await d.cleanup();
});

test('retention removes what is older than N days, keeps the rest and the lifetime counters', { skip: !haveTool && `no ${ON_PG ? 'psql' : 'sqlite3'}` }, async () => {
	const W = d.keys.A.write, R = d.keys.A.read;
	const mk = (tag, n) =>
		Array.from({ length: n }, (_, i) => ({ id: `${tag}-${i}`, device_id: `dev-${i % 7}`, event_type: i % 3 ? 'UPD4_FAIL_24' : 'SYS_108', data: { campaign_id: CAMP } }));
	// three ingests, in this order: "100 days old", "31 days old", "new"
	const oldest = await d.ingest(mk('old', 120), W);
	const older = await d.ingest(mk('mid', 80), W);
	await d.ingest(mk('new', 50), W);
	const before = {
		devices: (await d.get('/v3/devices/?limit=1000', R)).body,
		stats: (await d.get(`/v3/update-campaigns/${CAMP}/statistics`, R)).body,
	};
	await d.stop();

	const seqOf = (id) => BigInt('0x' + id.slice(0, 16)).toString();
	const lastOld = seqOf(oldest[oldest.length - 1]), lastMid = seqOf(older[older.length - 1]);
	if (ON_PG) {
		const now = Date.now() * 1000;
		const m = month(now - 100 * DAY);
		sql(d.store, `CREATE TABLE ${m.name} PARTITION OF events FOR VALUES FROM (${m.lo}) TO (${m.hi})`);
		sql(d.store, `UPDATE events SET created = ${now - 100 * DAY} WHERE seq <= ${lastOld}`);
		sql(d.store, `UPDATE events SET created = ${now - 31 * DAY} WHERE seq > ${lastOld} AND seq <= ${lastMid}`);
		sql(d.store, `UPDATE idem_keys SET created = e.created FROM events e WHERE e.seq = idem_keys.seq`);
		assert.equal(sql(d.store, `SELECT count(*) FROM ${m.name}`), '120');
	} else {
		sql(d.store, `UPDATE events SET created = created - ${100 * DAY} WHERE seq <= ${lastOld};` + `UPDATE events SET created = created - ${31 * DAY} WHERE seq > ${lastOld} AND seq <= ${lastMid};`);
	}

	d.serveArgs = ['--retention-days', '30'];
	await d.start();
	assert.ok(await d.waitLog('retention: removed 200 events', 10_000), `no retention log line:\n${d.stderr}`);

	const left = await d.listAll('', R);
	assert.deepEqual(left.map((e) => e.idempotency_key), mk('new', 50).map((e) => e.id));
	// the account's total (maintained, not counted, on SQLite) follows the removal
	assert.equal((await d.get('/v3/device-events/?include=total_count&limit=2', R)).body.total_count, 50);
	if (ON_PG) assert.equal(sql(d.store, `SELECT count(*) FROM pg_class WHERE relname = '${month(Date.now() * 1000 - 100 * DAY).name}'`), '0', 'the old month partition was dropped');
	// lifetime counts: the directory and the statistics did not move
	assert.deepEqual((await d.get('/v3/devices/?limit=1000', R)).body, before.devices);
	assert.deepEqual((await d.get(`/v3/update-campaigns/${CAMP}/statistics`, R)).body, before.stats);
	// a removed event's idempotency key is free again; a kept one still answers as a repeat
	const again = await d.post('/v3/device-events/', mk('old', 1)[0], W);
	assert.equal(again.status, 201, again.text);
	const kept = await d.post('/v3/device-events/', mk('new', 1)[0], W);
	assert.equal(kept.status, 200, kept.text);
	// ingest goes on as before
	await d.ingest(mk('later', 30), W);
	await sleep(10);
	assert.equal((await d.listAll('', R)).length, 50 + 1 + 30);
	assert.equal((await d.get('/v3/device-events/?include=total_count&limit=2', R)).body.total_count, 50 + 1 + 30);
});
