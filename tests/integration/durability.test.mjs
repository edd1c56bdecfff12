// "Answered only after it is durable" (SPEC §2): kill -9 right after the 201, restart on the same
// store, every acknowledged id is there. Plus a clean SIGTERM.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDaemon, assertSameIds } from './lib/harness.mjs';

let d;

before(async () => {
	d = await startDaemon({ accounts: { A: ['read', 'write'] } });
});

after(async () => {
	if (d) await d.cleanup();
});

const acked = [];

// One cycle: a single event and a batch, kill -9 right after the batch's 201, restart, check.
async function cycle(n, withIds, tag) {
	const batch = Array.from({ length: n }, (_, i) => ({
		device_id: `dur-${i % 50}`,
		event_type: 'UPD4_FAIL_24',
		data: { cycle: tag, i: String(i) },
		...(withIds ? { id: `${tag}-${i}` } : {}),
	}));
	const single = { device_id: 'dur-single', event_type: 'SYS_112', ...(withIds ? { id: `single-${tag}` } : {}) };
	const r1 = await d.post('/v3/device-events/', single, d.keys.A.write);
	assert.equal(r1.status, 201, r1.text);
	acked.push(r1.body.id);
	const r = await d.post('/v3/device-events/', batch, d.keys.A.write);
	assert.equal(r.status, 201, r.text.slice(0, 300));
	await d.kill9(); // the very next thing after the answer
	acked.push(...r.body.ids);
	assert.equal(d.exit.signal, 'SIGKILL');
	await d.start();
	const all = await d.listAll('', d.keys.A.read);
	assertSameIds(
		all.map((e) => e.id),
		acked,
		`after kill -9 (${tag})`,
	);
	if (withIds) {
		// a retry of the killed batch is all duplicates, no second copy
		const again = await d.post('/v3/device-events/', batch.slice(0, 100), d.keys.A.write);
		assert.equal(again.status, 200, again.text.slice(0, 300)); // nothing new stored
		assert.equal(again.body.duplicates, 100, 'idempotency keys survived the crash');
	}
}

test('5 cycles without idempotency keys: ingest, kill -9 at once after the answer, restart: every acked id present', async () => {
	for (let c = 0; c < 5; c++) await cycle(2000, false, `plain${c}`);
});

test('5 cycles with idempotency keys (2,000 per batch): every acked id present, retries are duplicates', async () => {
	if (d.exit) await d.start();
	for (let c = 0; c < 5; c++) await cycle(2000, true, `idem${c}`);
});

test('SIGTERM stops cleanly (exit code 0) and the data stays', async () => {
	if (d.exit) await d.start(); // a crash in the test before must not hide this one
	const r = await d.post('/v3/device-events/', [{ device_id: 'term', event_type: 'SYS_105' }], d.keys.A.write);
	assert.equal(r.status, 201);
	const ex = await d.stop();
	assert.equal(ex.timedOut, undefined, 'stopped within 10 s of SIGTERM');
	assert.equal(ex.code, 0, `exit ${JSON.stringify(ex)}`);
	await d.start();
	const g = await d.get(`/v3/device-events/${r.body.ids[0]}/`, d.keys.A.read);
	assert.equal(g.status, 200);
	assert.equal(g.body.device_id, 'term');
});

test('keys made before the restart still work after it; no second bootstrap admin key', async () => {
	if (d.exit) await d.start();
	assert.equal((await d.get('/v3/device-events/?limit=2', d.keys.A.read)).status, 200);
	assert.ok(!/admin key:/.test(d.stdout), 'a non-empty store prints no admin key');
});
