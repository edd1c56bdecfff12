// Integration harness: starts the real devicelog daemon on 127.0.0.1 with a random port and a
// temporary store (a SQLite file, or a fresh PostgreSQL database: DEVICELOG_TEST_STORE_URL_BASE
// below), creates access keys with the real CLI, and speaks plain HTTP to it.
//
// Every test file does:
//   const d = await startDaemon({ accounts: { A: ['read', 'write', 'admin'] } });
//   after(() => d.cleanup());
// and then uses d.get / d.post / d.ingest / d.listAll.

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';

export const BIN = path.resolve(process.env.DEVICELOG_BIN || 'build/devicelog');

export const HEX32 = /^[0-9a-f]{32}$/;
// Timestamps on the wire: always 6 fraction digits and Z (SPEC §1).
export const TS6 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;

// DEVICELOG_TEST_STORE_URL_BASE: the URL of a database on a PostgreSQL server
// (scripts/test-integration-pg.sh passes what scripts/pg.sh prints). Each daemon then gets a fresh
// database of its own on that server, dropped at cleanup, instead of a temporary SQLite file.
export const STORE_URL_BASE = process.env.DEVICELOG_TEST_STORE_URL_BASE || '';
export const ON_PG = STORE_URL_BASE !== '';

function psql(url, sql) {
	const r = spawnSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', url, '-c', sql], { encoding: 'utf8', timeout: 60_000 });
	if (r.error) throw r.error;
	if (r.status !== 0) throw new Error(`psql ${sql}: ${r.stderr}`);
	return r.stdout;
}

// A new empty database on the server of STORE_URL_BASE; returns {url, name}.
export function freshPgStore() {
	const name = 'dlog_it_' + Math.random().toString(16).slice(2, 14);
	psql(STORE_URL_BASE, `CREATE DATABASE ${name}`);
	const m = /^(postgres(?:ql)?:\/\/[^/?]*\/)([^?]*)(.*)$/.exec(STORE_URL_BASE);
	if (!m) throw new Error(`DEVICELOG_TEST_STORE_URL_BASE is not a postgresql:// URL: ${STORE_URL_BASE}`);
	return { url: m[1] + name + m[3], name };
}

export function dropPgStore(name) {
	psql(STORE_URL_BASE, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
}

// A store URL for a test in dir: a file there, or a fresh PostgreSQL database (a Daemon made with
// its pgName drops it at cleanup).
export function storeFor(dir) {
	if (!ON_PG) return { url: 'sqlite:' + path.join(dir, 'store.db'), pgName: null };
	const p = freshPgStore();
	return { url: p.url, pgName: p.name };
}

const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 10_000;

export function sleep(ms) {
	return new Promise((r) => setTimeout(r, ms));
}

// Runs the CLI; returns {status, stdout, stderr}. Never throws on a non-zero exit.
export function cli(args, input) {
	if (!fs.existsSync(BIN)) throw new Error(`devicelog binary not found at ${BIN} (set DEVICELOG_BIN or run make)`);
	const r = spawnSync(BIN, args, { encoding: 'utf8', timeout: 20_000, input });
	if (r.error) throw r.error;
	return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

// `devicelog keys create`: the key alone on stdout, `key id: <32hex>` on stderr.
export function createKey(storeUrl, account, scope, name) {
	const args = ['keys', 'create', '--store', storeUrl, '--account', account, '--scope', scope];
	if (name) args.push('--name', name);
	const r = cli(args);
	assert.equal(r.status, 0, `keys create failed: ${r.stderr}`);
	const key = r.stdout.trim();
	assert.match(key, /^ak_\S{16,}$/, `keys create printed ${JSON.stringify(r.stdout)}`);
	const m = /key id: ([0-9a-f]{32})/.exec(r.stderr);
	return { key, id: m ? m[1] : null };
}

// Micro-seconds since the epoch (a Number: exact below 2^53) from any of the three date forms
// of SPEC §1 or the ingest form (fraction of 0..6 digits).
export function toMicros(s) {
	let m = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?Z$/.exec(s);
	if (!m) m = /^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)()Z$/.exec(s);
	if (!m) throw new Error(`toMicros: unparseable ${s}`);
	const ms = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]);
	const frac = m[7] ? +(m[7] + '000000').slice(0, 6) : 0;
	return ms * 1000 + frac;
}

// Builds a query string from [key, value] pairs (or an object); values are percent-encoded
// except commas, which stay literal list separators.
export function qs(pairs) {
	if (!Array.isArray(pairs)) pairs = Object.entries(pairs);
	return pairs
		.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v)).replace(/%2C/gi, ',')}`)
		.join('&');
}

function parseBody(text) {
	try {
		return JSON.parse(text);
	} catch {
		return undefined;
	}
}

export class Daemon {
	constructor(dir, store, pgName = null) {
		this.dir = dir;
		this.store = store; // "sqlite:/tmp/.../store.db" or a fresh PostgreSQL database's URL
		this.pgName = pgName; // that database's name, dropped at cleanup
		this.serveArgs = []; // more `serve` options, e.g. ['--retention-days', '30']
		this.env = null; // more environment variables for `serve`
		this.startTimeoutMs = START_TIMEOUT_MS;
		this.keys = {}; // keys[account][scope] = "ak_..."
		this.keyIds = {}; // keyIds[account][scope] = 32 hex
		this.proc = null;
		this.base = null;
		this.port = null;
		this.stdout = '';
		this.stderr = '';
		this.exit = null;
		this.starts = 0;
	}

	addKey(account, scope, name) {
		const k = createKey(this.store, account, scope, name);
		(this.keys[account] ??= {})[scope] = k.key;
		(this.keyIds[account] ??= {})[scope] = k.id;
		return k;
	}

	async start() {
		if (!fs.existsSync(BIN)) throw new Error(`devicelog binary not found at ${BIN} (set DEVICELOG_BIN or run make)`);
		this.stdout = '';
		this.stderr = '';
		this.exit = null;
		this.starts++;
		const proc = spawn(BIN, ['serve', '--listen', '127.0.0.1:0', '--store', this.store, ...this.serveArgs], {
			stdio: ['ignore', 'pipe', 'pipe'],
			env: { ...process.env, ...(this.env || {}) },
		});
		this.proc = proc;
		proc.stdout.setEncoding('utf8');
		proc.stderr.setEncoding('utf8');
		proc.stdout.on('data', (s) => {
			if (this.stdout.length < 1 << 20) this.stdout += s;
		});
		proc.stderr.on('data', (s) => {
			// keep the newest 4 MB of the log
			this.stderr += s;
			if (this.stderr.length > 4 << 20) this.stderr = this.stderr.slice(-(2 << 20));
		});
		this.exited = new Promise((resolve) => {
			proc.on('exit', (code, signal) => {
				this.exit = { code, signal };
				resolve(this.exit);
			});
		});
		const deadline = Date.now() + this.startTimeoutMs;
		for (;;) {
			const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(this.stderr);
			if (m) {
				this.port = +m[1];
				this.base = `http://127.0.0.1:${this.port}`;
				this.started();
				break;
			}
			if (this.exit) throw new Error(`devicelog serve exited early ${JSON.stringify(this.exit)}; stderr:\n${this.stderr}`);
			if (Date.now() > deadline) {
				proc.kill('SIGKILL');
				throw new Error(`devicelog serve did not print "listening on" within ${this.startTimeoutMs / 1000} s; stderr:\n${this.stderr}`);
			}
			await sleep(20);
		}
		const ak = /admin key: (ak_\S+)/.exec(this.stdout);
		if (ak) this.bootstrapAdminKey = ak[1];
		return this;
	}

	// Called once the port is known, with this.stderr holding the start-up lines.
	started() {}

	// SIGTERM; resolves with {code, signal}. Falls back to SIGKILL after 10 s (and says so).
	async stop() {
		if (!this.proc || this.exit) return this.exit;
		this.proc.kill('SIGTERM');
		// a cleared timer: a pending one would keep the test process alive for 10 s
		let timer;
		const t = new Promise((resolve) => {
			timer = setTimeout(() => resolve('timeout'), STOP_TIMEOUT_MS);
		});
		const r = await Promise.race([this.exited, t]);
		clearTimeout(timer);
		if (r === 'timeout') {
			this.proc.kill('SIGKILL');
			await this.exited;
			return { code: null, signal: 'SIGKILL', timedOut: true };
		}
		return r;
	}

	async kill9() {
		if (!this.proc || this.exit) return this.exit;
		this.proc.kill('SIGKILL');
		return this.exited;
	}

	async restart() {
		await this.stop();
		return this.start();
	}

	async cleanup() {
		try {
			await this.stop();
		} finally {
			fs.rmSync(this.dir, { recursive: true, force: true });
			if (this.pgName) dropPgStore(this.pgName);
		}
	}

	// One HTTP request. Returns {status, headers, text, body (parsed JSON or undefined)}.
	async request(method, p, { key, body, contentType, headers = {} } = {}) {
		const h = { ...headers };
		if (key) h.authorization = `Bearer ${key}`;
		if (contentType) h['content-type'] = contentType;
		let res, text;
		try {
			res = await fetch(this.base + p, { method, headers: h, body });
			text = await res.text();
		} catch (e) {
			// Say what the daemon did: a crash shows as its exit status and last log lines.
			await sleep(50);
			const tail = this.stderr.split('\n').slice(-8).join('\n');
			throw new Error(`${method} ${p}: ${e.cause?.message || e.message}; daemon exit ${JSON.stringify(this.exit)}; stderr tail:\n${tail}`);
		}
		return { status: res.status, headers: res.headers, text, body: parseBody(text) };
	}

	get(p, key, headers) {
		return this.request('GET', p, { key, headers });
	}

	// body: a string is sent as is, anything else as JSON.
	post(p, body, key, contentType = 'application/json') {
		const b = typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body);
		return this.request('POST', p, { key, body: b, contentType });
	}

	// Ingests events as JSON arrays of up to `batch`; asserts 201 and returns the event ids in
	// input order.
	async ingest(events, key, { batch = 10_000 } = {}) {
		const ids = [];
		for (let i = 0; i < events.length; i += batch) {
			const chunk = events.slice(i, i + batch);
			const r = await this.post('/v3/device-events/', chunk, key);
			assert.equal(r.status, 201, `ingest: ${r.status} ${r.text.slice(0, 500)}`);
			assert.equal(r.body.count, chunk.length);
			assert.equal(r.body.ids.length, chunk.length);
			ids.push(...r.body.ids);
		}
		return ids;
	}

	// Follows `after` paging until has_more is false; returns every item. `query` is a raw query
	// string (already encoded) without limit/after.
	async listAll(query, key, { path: p = '/v3/device-events/', limit = 1000, maxPages = 100_000 } = {}) {
		const items = [];
		let after = null;
		for (let page = 0; ; page++) {
			assert.ok(page < maxPages, 'listAll: too many pages');
			let q = query ? `${query}&limit=${limit}` : `limit=${limit}`;
			if (after) q += `&after=${after}`;
			const r = await this.get(`${p}?${q}`, key);
			assert.equal(r.status, 200, `GET ${p}?${q}: ${r.status} ${r.text.slice(0, 500)}`);
			assert.equal(r.body.object, 'list');
			assert.ok(Array.isArray(r.body.data));
			items.push(...r.body.data);
			if (!r.body.has_more) break;
			assert.ok(r.body.data.length > 0, 'has_more true with an empty page');
			after = r.body.data[r.body.data.length - 1].id;
		}
		return items;
	}

	// Waits until the daemon's stderr contains s (the per-request log line is written when the
	// request completes, which can be just after the client got its answer).
	async waitLog(s, ms = 2000) {
		const deadline = Date.now() + ms;
		while (!this.stderr.includes(s)) {
			if (Date.now() > deadline) return false;
			await sleep(10);
		}
		return true;
	}
}

// Makes a temp dir and store, creates keys with the CLI for accounts {NAME: [scopes]}, and starts
// the daemon. Keys are created before the first start, so the store is not empty then.
export async function startDaemon({ accounts = { A: ['read', 'write', 'admin'] } } = {}) {
	const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'devicelog-it-'));
	const st = storeFor(dir);
	const d = new Daemon(dir, st.url, st.pgName);
	try {
		for (const [acct, scopes] of Object.entries(accounts)) for (const s of scopes) d.addKey(acct, s);
		await d.start();
	} catch (e) {
		await d.cleanup();
		throw e;
	}
	return d;
}

// A raw HTTP/1.1 exchange over a socket, for what fetch will not send (a lying Content-Length,
// raw bytes in the path). Resolves with {status, headers (lower-case keys), body text}.
export function rawRequest(port, text, { timeoutMs = 5000 } = {}) {
	return new Promise((resolve, reject) => {
		const sock = net.connect(port, '127.0.0.1');
		let buf = Buffer.alloc(0);
		const timer = setTimeout(() => {
			sock.destroy();
			finish();
		}, timeoutMs);
		let done = false;
		function finish() {
			if (done) return;
			done = true;
			clearTimeout(timer);
			const s = buf.toString('latin1');
			const i = s.indexOf('\r\n\r\n');
			if (i < 0) return reject(new Error(`rawRequest: no response head: ${JSON.stringify(s.slice(0, 200))}`));
			const lines = s.slice(0, i).split('\r\n');
			const status = +lines[0].split(' ')[1];
			const headers = {};
			for (const l of lines.slice(1)) {
				const c = l.indexOf(':');
				headers[l.slice(0, c).trim().toLowerCase()] = l.slice(c + 1).trim();
			}
			let body = Buffer.from(s.slice(i + 4), 'latin1').toString('utf8');
			if (/chunked/i.test(headers['transfer-encoding'] || '')) {
				let out = '';
				let rest = body;
				for (;;) {
					const j = rest.indexOf('\r\n');
					if (j < 0) break;
					const n = parseInt(rest.slice(0, j), 16);
					if (!n) break;
					out += rest.slice(j + 2, j + 2 + n);
					rest = rest.slice(j + 2 + n + 2);
				}
				body = out;
			}
			resolve({ status, headers, text: body, body: parseBody(body) });
		}
		sock.on('data', (b) => {
			buf = Buffer.concat([buf, b]);
			// Stop as soon as a full response with a Content-Length is in.
			const s = buf.toString('latin1');
			const i = s.indexOf('\r\n\r\n');
			if (i >= 0) {
				const m = /\r\ncontent-length:\s*(\d+)/i.exec(s.slice(0, i + 2));
				if (m && buf.length >= i + 4 + +m[1]) {
					sock.destroy();
					finish();
				}
			}
		});
		sock.on('end', finish);
		sock.on('close', finish);
		sock.on('error', (e) => (buf.length ? finish() : reject(e)));
		sock.write(text);
	});
}

// Asserts the SPEC §1 error body and that X-Request-Id equals request_id.
export function assertError(r, code, type, fieldName) {
	const ctx = `${r.status} ${r.text.slice(0, 400)}`;
	assert.equal(r.status, code, ctx);
	assert.ok(r.body && typeof r.body === 'object', `error body is not JSON: ${ctx}`);
	const ct = r.headers.get ? r.headers.get('content-type') : r.headers['content-type'];
	assert.match(ct || '', /^application\/json/, `content-type ${ct}`);
	assert.equal(r.body.object, 'error', ctx);
	assert.equal(r.body.code, code, ctx);
	if (type) assert.equal(r.body.type, type, ctx);
	else assert.equal(typeof r.body.type, 'string');
	assert.equal(typeof r.body.message, 'string', ctx);
	assert.ok(r.body.message.length > 0, ctx);
	assert.match(r.body.request_id ?? '', HEX32, ctx);
	const hdr = r.headers.get ? r.headers.get('x-request-id') : r.headers['x-request-id'];
	assert.equal(hdr, r.body.request_id, 'X-Request-Id header must equal request_id');
	assert.ok(Array.isArray(r.body.fields), `fields must be an array: ${ctx}`);
	for (const f of r.body.fields) {
		assert.equal(typeof f.name, 'string');
		assert.equal(typeof f.message, 'string');
	}
	if (fieldName !== undefined) {
		const names = r.body.fields.map((f) => f.name);
		assert.ok(names.includes(fieldName), `expected a field named ${JSON.stringify(fieldName)}, got ${JSON.stringify(names)}: ${ctx}`);
	}
}

// Compares two id sets with a readable message (sizes and a few differences).
export function assertSameIds(actual, expected, what) {
	const a = new Set(actual);
	const e = new Set(expected);
	assert.equal(a.size, actual.length, `${what}: duplicate ids in the answer`);
	const missing = [...e].filter((x) => !a.has(x));
	const extra = [...a].filter((x) => !e.has(x));
	if (missing.length || extra.length)
		assert.fail(
			`${what}: got ${a.size}, expected ${e.size}; missing ${missing.length} (${missing.slice(0, 3)}), extra ${extra.length} (${extra.slice(0, 3)})`,
		);
}

// The SPEC §3 message type of each seed code, and the seed's portal text: an independent source
// of the catalog defaults.
export const MTYPE = {};
for (const c of ['SYS_112', 'UPD2_OK_18']) MTYPE[c] = 'SUCCESS';
MTYPE.SYS_110 = 'SKIPPED';
for (const c of ['SYS_101', 'SYS_102', 'SYS_103', 'SYS_104', 'SYS_111']) MTYPE[c] = 'FAIL';
for (let i = 21; i <= 49; i++) MTYPE[`UPD4_FAIL_${i}`] = 'FAIL';
for (const c of ['SYS_100', 'SYS_105', 'SYS_106', 'SYS_107', 'SYS_108', 'SYS_109']) MTYPE[c] = 'INFO';

export const PORTAL_TEXT = {
	SYS_100: 'Service error: Device could not be reached.',
	SYS_101: 'Service error: Device not registered, manifest not sent.',
	SYS_102: 'Service error: Device Vendor ID does not match Manifest Vendor ID.',
	SYS_103: 'Campaign was manually stopped. Device not updated.',
	SYS_104: 'Campaign was manually stopped. Device may still update.',
	SYS_105: 'Device deregistered.',
	SYS_106: 'Device registered.',
	SYS_107: 'Device bootstrapped.',
	SYS_108: 'Device added to campaign.',
	SYS_109: 'Device removed from campaign.',
	SYS_110: 'Device already at desired state.',
	SYS_111: 'Device failed to reach desired state.',
	SYS_112: 'Device reached desired state.',
	UPD2_OK_18: 'Asset update successfully completed.',
	UPD4_FAIL_21: 'FW payload URI in manifest is too long.',
	UPD4_FAIL_22: 'Failure to parse an update manifest.',
	UPD4_FAIL_23: 'Signature verification failed.',
	UPD4_FAIL_24: 'Connection lost during download.',
	UPD4_FAIL_25: 'Payload format specified by manifest is unsupported.',
	UPD4_FAIL_26: 'Payload authenticity check failed.',
	UPD4_FAIL_27: 'FW candidate version is rejected (is older or equal to installed one).',
	UPD4_FAIL_28: 'Manifest schema version unsupported (incompatible manifest-tool version).',
	UPD4_FAIL_29: 'Vendor data specified in the manifest is too big.',
	UPD4_FAIL_30: 'Manifest with wrong Vendor ID.',
	UPD4_FAIL_31: 'Manifest with wrong Class ID.',
	UPD4_FAIL_32: 'Installed FW digest differs from the one specified in the manifest (precursor).',
	UPD4_FAIL_33: 'Insufficient storage on a device for saving update candidate.',
	UPD4_FAIL_34: 'Not enough RAM.',
	UPD4_FAIL_35: 'Storage write error.',
	UPD4_FAIL_36: 'Storage read error.',
	UPD4_FAIL_37: 'Application rejected install authorization request.',
	UPD4_FAIL_38: 'Application rejected download authorization request.',
	UPD4_FAIL_39: 'Component name in manifest targets unknown component.',
	UPD4_FAIL_40: 'Update failed at installation phase.',
	UPD4_FAIL_41: 'Non-specific internal error.',
	UPD4_FAIL_42: 'Non-specific internal error - delta engine.',
	UPD4_FAIL_43: 'Non-specific internal error - crypto engine.',
	UPD4_FAIL_44: 'Expected asset is not found in NVM.',
	UPD4_FAIL_45: 'Multicast abort session.',
	UPD4_FAIL_46: 'Failure to parse a combined package.',
	UPD4_FAIL_47: 'Combined package with wrong number of images.',
	UPD4_FAIL_48: 'Image name specified in the package is too long.',
	UPD4_FAIL_49: 'Vendor data specified in the package descriptor is too long.',
};

// Deterministic PRNG (mulberry32) so fixtures are the same on every run.
export function rng(seed) {
	let a = seed >>> 0;
	return () => {
		a = (a + 0x6d2b79f5) >>> 0;
		let t = a;
		t = Math.imul(t ^ (t >>> 15), t | 1);
		t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
		return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
	};
}

// Shape check of one event object (SPEC §1 + idempotency_key).
export function assertEventShape(e) {
	assert.match(e.id, HEX32);
	assert.equal(e.object, 'device-event');
	assert.equal(typeof e.device_id, 'string');
	assert.match(e.date_time, TS6, `date_time ${e.date_time}`);
	assert.match(e.created_at, TS6, `created_at ${e.created_at}`);
	assert.equal(typeof e.etag, 'string');
	assert.equal(typeof e.event_type, 'string');
	assert.equal(typeof e.event_type_description, 'string');
	assert.equal(typeof e.event_type_category, 'string');
	assert.equal(typeof e.description, 'string');
	assert.equal(typeof e.state_change, 'boolean');
	assert.ok(e.data && typeof e.data === 'object' && !Array.isArray(e.data));
	for (const v of Object.values(e.data)) assert.equal(typeof v, 'string');
	assert.deepEqual(e.changes, {});
	assert.ok(e.idempotency_key === null || typeof e.idempotency_key === 'string', 'idempotency_key string or null');
	assert.equal('device_log_id' in e && e.device_log_id !== e.id, false, 'device_log_id, if present, must equal id');
}
