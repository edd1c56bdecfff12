// Faults (issue 8 §6): kill -9 during sustained ingest, a full disk, a read-only store, a
// PostgreSQL restart under load, a corrupt or foreign SQLite file. Nothing acknowledged may be
// lost, no request may be half stored, and the daemon must say what is wrong and recover.
// Needs root for the tmpfs mounts (skipped otherwise); every loop is bounded in count and time.
import { test, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HDaemon, startHDaemon, assertError, cli, sleep, BIN } from '../abuse/lib.mjs';

const ROOT = process.getuid() === 0;
const cleanups = [];
after(async () => {
	for (const c of cleanups.reverse()) await c().catch(() => {});
});

// Posts batches of `size` events whose producer ids say poster/batch/index, until stop() or a
// bound. Returns {acked: [batch names answered 201/200], errors: {status: n}}.
function poster(d, key, tag, size, { maxBatches = 100_000, pauseMs = 0 } = {}) {
	let stop = false;
	const acked = [];
	const errors = {};
	const done = (async () => {
		for (let b = 0; b < maxBatches && !stop; b++) {
			const name = `${tag}-b${b}`;
			const evs = Array.from({ length: size }, (_, i) => ({ device_id: `${tag}-d${i % 7}`, event_type: 'UPD4_FAIL_24',
				id: `${name}-e${i}`, description: name }));
			try {
				const r = await d.post('/v3/device-events/', evs, key);
				if (r.status === 201 || r.status === 200) acked.push(name);
				else errors[r.status] = (errors[r.status] || 0) + 1;
				if (r.status >= 500) errors.last = r.body;
			} catch {
				errors.conn = (errors.conn || 0) + 1; // killed under us: not acknowledged
				if (!d.exit) await sleep(20);
				else break;
			}
			if (pauseMs) await sleep(pauseMs);
		}
	})();
	return { acked, errors, stop: () => ((stop = true), done), done };
}

// Every stored event grouped by its batch (the producer id minus the event index).
async function batches(d, key) {
	const all = await d.listAll('', key);
	const by = new Map();
	const keys = new Set();
	for (const e of all) {
		assert.ok(!keys.has(e.idempotency_key), `idempotency key ${e.idempotency_key} stored twice`);
		keys.add(e.idempotency_key);
		const b = e.idempotency_key.replace(/-e\d+$/, '');
		by.set(b, (by.get(b) || 0) + 1);
	}
	return { by, n: all.length };
}

function checkBatches(by, acked, size, what) {
	for (const [b, n] of by) assert.equal(n, size, `${what}: batch ${b} is partial (${n} of ${size})`);
	const lost = acked.filter((b) => by.get(b) !== size);
	assert.deepEqual(lost, [], `${what}: acknowledged batches lost`);
}

describe('kill -9 during sustained ingest', () => {
	test('20 cycles, 4 concurrent posters: no acknowledged event lost, no partial batch', async () => {
		const CYCLES = 20, POSTERS = 4, SIZE = 25;
		const d = await startHDaemon({ accounts: { A: ['read', 'write'] } });
		cleanups.push(() => d.cleanup());
		const W = d.keys.A.write;
		const acked = [];
		let killedMidway = 0;
		for (let c = 0; c < CYCLES; c++) {
			if (c > 0) await d.start();
			const ps = Array.from({ length: POSTERS }, (_, p) => poster(d, W, `c${c}-p${p}`, SIZE));
			await sleep(150 + ((c * 37) % 250)); // kill at a different moment each cycle
			await d.kill9();
			for (const p of ps) {
				await p.stop();
				acked.push(...p.acked);
				if (p.errors.conn) killedMidway++;
			}
		}
		await d.start();
		const { by, n } = await batches(d, d.keys.A.read);
		checkBatches(by, acked, SIZE, 'after kill -9');
		console.log(`# ${CYCLES} kill -9 cycles: ${acked.length} batches acknowledged, ${by.size} stored (${n} events), ` +
			`${killedMidway} requests cut by the kill; none lost, none partial`);
		assert.ok(acked.length >= CYCLES, 'too few batches acknowledged to mean anything');
		assert.ok(killedMidway > 0, 'no request was in flight at a kill');
		await d.stop();
	});
});

function mountTmpfs(size) {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'devicelog-fault-'));
	execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]);
	cleanups.push(async () => {
		spawnSync('umount', ['-l', dir]);
		fs.rmSync(dir, { recursive: true, force: true });
	});
	return dir;
}

describe('the disk', { skip: !ROOT && 'needs root for a tmpfs mount' }, () => {
	test('full: 503 with a clear message, reads still served, recovery when space returns', async () => {
		const dir = mountTmpfs('2m');
		const d = new HDaemon(dir, 'sqlite:' + path.join(dir, 'store.db'));
		d.addKey('A', 'write');
		d.addKey('A', 'read');
		await d.start();
		cleanups.push(() => d.stop());
		const W = d.keys.A.write;
		const p = poster(d, W, 'full', 200, { maxBatches: 300 });
		await p.done;
		assert.ok(p.errors[503] >= 1, `no 503 after ${p.acked.length} batches: ${JSON.stringify(p.errors)}`);
		const r = { status: 503, body: p.errors.last };
		assert.equal(r.body.type, 'system_unavailable');
		assert.match(r.body.message, /full|space/i, r.body.message);
		console.log(`# disk full after ${p.acked.length} batches: 503 "${r.body.message}"`);
		assert.equal((await d.get('/health')).status, 200, 'reads still work on a full disk');
		assert.equal((await d.get('/v3/device-events/?limit=2', d.keys.A.read)).status, 200);
		execFileSync('mount', ['-o', 'remount,size=64m', dir]);
		const again = await d.post('/v3/device-events/', [{ device_id: 'x', event_type: 'SYS_106', id: 'after-1' }], W);
		assert.equal(again.status, 201, again.text);
		const { by } = await batches(d, d.keys.A.read);
		by.delete('after-1');
		checkBatches(by, p.acked, 200, 'disk full');
		await d.stop();
		assert.equal(d.exit.code, 0);
	});

	// A file system cannot be remounted read-only under a process with files open for writing
	// (EBUSY), so a running store is made read-only with the immutable attribute on an ext4 image
	// (writes then fail with EPERM, as on a read-only mount). The WAL index (-shm) is left alone:
	// SQLite maps it, and a mapping that cannot be written is a SIGBUS (docs/SECURITY.md).
	const loop = spawnSync('losetup', ['-f']).status === 0 && spawnSync('mkfs.ext4', ['-V']).status === 0 &&
		spawnSync('chattr', ['--help']).status !== null;
	test('read-only while running: 503, reads served, recovery when writable again', { skip: !loop && 'no loop device or e2fsprogs' }, async () => {
		const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'devicelog-fault-'));
		const img = dir + '.img';
		fs.writeFileSync(img, '');
		fs.truncateSync(img, 64 << 20);
		execFileSync('mkfs.ext4', ['-q', '-F', img]);
		execFileSync('mount', ['-o', 'loop', img, dir]);
		const db = path.join(dir, 'store.db');
		cleanups.push(async () => {
			spawnSync('chattr', ['-i', db, db + '-wal']);
			spawnSync('umount', ['-l', dir]);
			fs.rmSync(dir, { recursive: true, force: true });
			fs.rmSync(img, { force: true });
		});
		const d = new HDaemon(dir, 'sqlite:' + db);
		d.addKey('A', 'write');
		d.addKey('A', 'read');
		await d.start();
		cleanups.push(() => d.stop());
		const W = d.keys.A.write;
		const ev = (id) => [{ device_id: 'ro', event_type: 'SYS_106', id }];
		assert.equal((await d.post('/v3/device-events/', ev('ro-1'), W)).status, 201);
		execFileSync('chattr', ['+i', db, db + '-wal']);
		const r = await d.post('/v3/device-events/', ev('ro-2'), W);
		assertError(r, 503, 'system_unavailable');
		assert.match(r.body.message, /I\/O|read-?only|permi/i, r.body.message);
		console.log(`# store read-only while running: 503 "${r.body.message}"`);
		assert.equal((await d.get('/health')).status, 200);
		assert.equal((await d.get('/v3/device-events/?limit=2', d.keys.A.read)).status, 200);
		execFileSync('chattr', ['-i', db, db + '-wal']);
		const ok = await d.post('/v3/device-events/', ev('ro-3'), W);
		assert.equal(ok.status, 201, ok.text);
		const ids = (await d.listAll('', d.keys.A.read)).map((e) => e.idempotency_key).sort();
		assert.deepEqual(ids, ['ro-1', 'ro-3']);
		await d.stop();
		assert.equal(d.exit.code, 0);
	});

	// A store that is read-only when the daemon starts is refused at start.
	test('read-only at start: refused with a message naming the file; serves once writable', async () => {
		const dir = mountTmpfs('16m');
		const store = 'sqlite:' + path.join(dir, 'store.db');
		assert.equal(cli(['keys', 'create', '--store', store, '--account', 'A', '--scope', 'write']).status, 0);
		execFileSync('mount', ['-o', 'remount,ro', dir]);
		const r = spawnSync(BIN, ['serve', '--listen', '127.0.0.1:0', '--store', store], { encoding: 'utf8', timeout: 10_000 });
		assert.notEqual(r.status, 0);
		assert.ok(r.stderr.includes(path.join(dir, 'store.db')), r.stderr);
		console.log(`# read-only store at start: exit ${r.status}, "${r.stderr.trim().split('\n').pop()}"`);
		execFileSync('mount', ['-o', 'remount,rw', dir]);
		const d = new HDaemon(dir, store);
		d.addKey('A', 'write');
		await d.start();
		cleanups.push(() => d.stop());
		assert.equal((await d.post('/v3/device-events/', [{ device_id: 'ro', event_type: 'SYS_106' }], d.keys.A.write)).status, 201);
		await d.stop();
	});
});

describe('a store that is not ours', () => {
	function refused(file, what) {
		const r = spawnSync(BIN, ['serve', '--listen', '127.0.0.1:0', '--store', 'sqlite:' + file], { encoding: 'utf8', timeout: 10_000 });
		assert.notEqual(r.status, 0, `${what}: serve started`);
		assert.match(r.stderr, /not a devicelog|foreign|not a database|corrupt|schema/i, `${what}: ${r.stderr}`);
		console.log(`# ${what}: exit ${r.status}, "${r.stderr.trim().split('\n').pop()}"`);
	}

	test('a corrupt or foreign SQLite file is refused at start with a clear error', () => {
		const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'devicelog-foreign-'));
		cleanups.push(async () => fs.rmSync(dir, { recursive: true, force: true }));
		const junk = path.join(dir, 'junk.db');
		fs.writeFileSync(junk, Buffer.from(Array.from({ length: 8192 }, (_, i) => (i * 7919) & 255)));
		refused(junk, 'random bytes');
		const foreign = path.join(dir, 'foreign.db');
		execFileSync('python3', ['-c', `import sqlite3; c=sqlite3.connect(${JSON.stringify(foreign)}); c.execute("create table events(x)"); c.execute("create table users(name)"); c.commit()`]);
		refused(foreign, 'a foreign SQLite database');
		// a devicelog store with its header smashed
		const real = path.join(dir, 'real.db');
		assert.equal(cli(['keys', 'create', '--store', 'sqlite:' + real, '--account', 'A', '--scope', 'read']).status, 0);
		const fd = fs.openSync(real, 'r+');
		fs.writeSync(fd, Buffer.alloc(100, 0xee), 0, 100, 0);
		fs.closeSync(fd);
		refused(real, 'a smashed header');
	});
});

const PG = fs.existsSync('/usr/lib/postgresql') && ROOT;
describe('PostgreSQL restarting under load', { skip: !PG && 'needs a PostgreSQL server and root' }, () => {
	test('503s while it is down, then recovery; nothing acknowledged lost', async () => {
		const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'devicelog-pgf-'));
		const url = execFileSync('scripts/pg.sh', ['start', dir], { encoding: 'utf8' }).trim();
		cleanups.push(async () => spawnSync('scripts/pg.sh', ['stop', dir]));
		const d = await startHDaemon({ store: url, accounts: { A: ['read', 'write'] } });
		cleanups.push(() => d.cleanup());
		const W = d.keys.A.write;
		const ps = Array.from({ length: 3 }, (_, i) => poster(d, W, `pg${i}`, 20, { pauseMs: 5 }));
		await sleep(700);
		const bin = path.dirname(fs.readdirSync('/usr/lib/postgresql').sort().map((v) => `/usr/lib/postgresql/${v}/bin/pg_ctl`).pop());
		spawnSync('runuser', ['-u', 'postgres', '--', `${bin}/pg_ctl`, '-D', `${dir}/data`, '-m', 'fast', '-w', 'stop']);
		await sleep(1000);
		const down = await d.post('/v3/device-events/', [{ device_id: 'x', event_type: 'SYS_106' }], W);
		const health = await d.get('/health');
		spawnSync('runuser', ['-u', 'postgres', '--', `${bin}/pg_ctl`, '-D', `${dir}/data`, '-l', `${dir}/server.log`, '-w',
			'-o', `-c listen_addresses='' -c unix_socket_directories='${dir}' -p 5432`, 'start']);
		await sleep(1500);
		const acked = [];
		const errors = {};
		for (const p of ps) {
			await p.stop();
			acked.push(...p.acked);
			for (const [k, v] of Object.entries(p.errors)) if (k !== 'last') errors[k] = (errors[k] || 0) + v;
		}
		assertError(down, 503, 'system_unavailable');
		assert.equal(health.status, 503, 'health says the store is down');
		assert.equal((await d.get('/health')).status, 200, 'health recovers');
		const after = await d.post('/v3/device-events/', [{ device_id: 'x', event_type: 'SYS_106', id: 'after' }], W);
		assert.equal(after.status, 201, after.text);
		const { by } = await batches(d, d.keys.A.read);
		by.delete('after');
		checkBatches(by, acked, 20, 'PostgreSQL restart');
		console.log(`# PostgreSQL stopped for ~1.5 s under 3 posters: ${acked.length} batches acknowledged, ` +
			`errors ${JSON.stringify(errors)}, "${down.body.message}"; none lost, none partial`);
		assert.ok(!errors[500], `500s during the outage: ${JSON.stringify(errors)}`);
	});
});
