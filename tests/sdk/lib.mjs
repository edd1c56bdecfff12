// Shared set-up of the SDK tests: a throwaway self-signed certificate, the real daemon serving
// HTTPS (and a second one on the same store serving plain HTTP, for the legacy API), and a
// deterministic set of events ingested with a write key. Tests compare what the SDK returns with
// sets computed here from what was ingested.
//
//   const f = await startFleet();   // in before()
//   after(() => f.cleanup());

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
export const BIN = path.resolve(process.env.DEVICELOG_BIN || path.join(HERE, '../../build/devicelog'));

// ---- the seed: 200 events, 13 devices, 8 codes, unique date-times not in id order ----

export const N_EVENTS = 200;
const CODES = ['SYS_107', 'SYS_106', 'UPD4_FAIL_24', 'UPD2_OK_18', 'SYS_110', 'SYS_112', 'UPD4_FAIL_23', 'SYS_105'];
// The catalog's text and message type for these codes (seed tables, SPEC §3): the default
// description and event_type_description of an event that brings none.
const TEXT = {
	SYS_105: 'Device deregistered.',
	SYS_106: 'Device registered.',
	SYS_107: 'Device bootstrapped.',
	SYS_110: 'Device already at desired state.',
	SYS_112: 'Device reached desired state.',
	UPD2_OK_18: 'Asset update successfully completed.',
	UPD4_FAIL_23: 'Signature verification failed.',
	UPD4_FAIL_24: 'Connection lost during download.',
};
const MTYPE = {
	SYS_105: 'INFO',
	SYS_106: 'INFO',
	SYS_107: 'INFO',
	SYS_110: 'SKIPPED',
	SYS_112: 'SUCCESS',
	UPD2_OK_18: 'SUCCESS',
	UPD4_FAIL_23: 'FAIL',
	UPD4_FAIL_24: 'FAIL',
};
export const BASE_MS = Date.UTC(2026, 2, 1, 0, 0, 0);

export const device = (i) => `sdk-dev-${String(i % 13).padStart(3, '0')}`;

// The i-th event as sent, and as it must come back (ms since the epoch for date_time).
function seedEvent(i) {
	const code = CODES[(i * 5 + (i >> 3)) % CODES.length];
	// (i * 61) % 200 is a permutation of 0..199: unique minutes, shuffled against id order;
	// the millisecond part makes some timestamps fractional.
	const ms = BASE_MS + ((i * 61) % N_EVENTS) * 90_000 + (i % 4) * 125;
	const sent = { device_id: device(i), event_type: code, date_time: new Date(ms).toISOString() };
	// always sent: a code's catalog entry has its own default (state changes of lifecycle codes)
	sent.state_change = i % 3 === 0;
	if (i % 10 === 4) sent.description = `maintenance note ${i % 3}`;
	if (i % 5 === 0) sent.data = { campaign_id: `camp-${i % 2}` };
	const expect = {
		deviceId: sent.device_id,
		eventType: code,
		ms,
		stateChange: i % 3 === 0,
		description: sent.description ?? TEXT[code],
		eventTypeDescription: MTYPE[code],
		data: sent.data ?? {},
	};
	return { sent, expect };
}

// ---- certificate ----

function run(cmd, args) {
	const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 30_000 });
	return !r.error && r.status === 0;
}

function have(cmd) {
	return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

// A self-signed certificate for 127.0.0.1, with certtool (gnutls-bin) or openssl.
export function makeCert(dir) {
	const cert = path.join(dir, 'cert.pem');
	const key = path.join(dir, 'key.pem');
	let ok = false;
	if (have('certtool')) {
		const tmpl = path.join(dir, 'cert.tmpl');
		fs.writeFileSync(
			tmpl,
			'cn = "127.0.0.1"\nip_address = "127.0.0.1"\ndns_name = "localhost"\nexpiration_days = 2\n' +
				'tls_www_server\nca\ncert_signing_key\n',
		);
		ok =
			run('certtool', ['--generate-privkey', '--key-type=ecdsa', '--outfile', key]) &&
			run('certtool', ['--generate-self-signed', '--load-privkey', key, '--template', tmpl, '--outfile', cert]);
	} else if (have('openssl')) {
		ok = run('openssl', [
			'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2',
			'-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
			'-keyout', key, '-out', cert,
		]);
	}
	if (!ok) throw new Error('cannot make a test certificate: install gnutls-bin (certtool) or openssl');
	return { cert, key };
}

// The SDK has no CA option, and its HTTP client (superagent 3) gives every request a fresh
// agent, so neither the SDK's config nor node's global agent can carry the test CA. Operators
// use NODE_EXTRA_CA_CERTS (docs/SDK.md; tested in a child process), which node reads only at
// start-up. In this process the CA is given to superagent's requests the way its own .ca()
// would: certificate verification stays on (NODE_TLS_REJECT_UNAUTHORIZED=0 would hide a wrong
// certificate).
function trustInProcess(ca) {
	const superagent = createRequire(require.resolve('mbed-cloud-sdk'))('superagent');
	assert.equal(typeof superagent.Request?.prototype?.ca, 'function', 'superagent.Request not found');
	superagent.Request.prototype._ca = ca;
}

// ---- the daemon ----

function cli(args) {
	const r = spawnSync(BIN, args, { encoding: 'utf8', timeout: 20_000 });
	if (r.error) throw r.error;
	assert.equal(r.status, 0, `devicelog ${args.join(' ')}: ${r.stderr}`);
	return r.stdout.trim();
}

class Daemon {
	constructor(args) {
		this.args = args;
		this.stderr = '';
		this.exit = null;
	}

	async start() {
		const proc = spawn(BIN, ['serve', '--listen', '127.0.0.1:0', ...this.args], {
			stdio: ['ignore', 'ignore', 'pipe'],
		});
		this.proc = proc;
		proc.stderr.setEncoding('utf8');
		proc.stderr.on('data', (s) => {
			this.stderr += s;
			if (this.stderr.length > 4 << 20) this.stderr = this.stderr.slice(-(2 << 20));
		});
		this.exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve((this.exit = { code, signal }))));
		const deadline = Date.now() + 10_000;
		for (;;) {
			const m = /listening on (https?):\/\/127\.0\.0\.1:(\d+)/.exec(this.stderr);
			if (m) {
				this.port = +m[2];
				this.url = `${m[1]}://127.0.0.1:${this.port}`;
				return this;
			}
			if (this.exit) throw new Error(`devicelog serve exited: ${JSON.stringify(this.exit)}\n${this.stderr}`);
			if (Date.now() > deadline) throw new Error(`devicelog serve did not start:\n${this.stderr}`);
			await new Promise((r) => setTimeout(r, 20));
		}
	}

	async stop() {
		if (!this.proc || this.exit) return;
		this.proc.kill('SIGTERM');
		const t = setTimeout(() => this.proc.kill('SIGKILL'), 10_000);
		await this.exited;
		clearTimeout(t);
	}

	// Waits for s in the log: a request's line is written as it completes, maybe just after the
	// client got its answer.
	async waitLog(re, ms = 2000) {
		const deadline = Date.now() + ms;
		while (!re.test(this.stderr)) {
			if (Date.now() > deadline) return false;
			await new Promise((r) => setTimeout(r, 10));
		}
		return true;
	}
}

// One HTTPS request with node's own client (not the SDK's), trusting the test certificate.
export function httpsRequest(url, { method = 'GET', headers = {}, body, ca } = {}) {
	return new Promise((resolve, reject) => {
		const req = https.request(url, { method, headers, ca }, (res) => {
			const chunks = [];
			res.on('data', (c) => chunks.push(c));
			res.on('end', () => {
				const text = Buffer.concat(chunks).toString('utf8');
				let json;
				try {
					json = JSON.parse(text);
				} catch {
					json = undefined;
				}
				resolve({ status: res.statusCode, headers: res.headers, text, body: json });
			});
		});
		req.on('error', reject);
		if (body !== undefined) req.write(body);
		req.end();
	});
}

// Starts the fleet: certificate, keys, TLS daemon, the seed ingested over HTTPS, and a plain
// HTTP daemon on the same store. Returns {tls, plain, keys, ca (PEM), cert (its file), events,
// cleanup}; events[k] is the expectation of the k-th event in id order, with its id.
export async function startFleet() {
	const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'devicelog-sdk-'));
	const store = 'sqlite:' + path.join(dir, 'store.db');
	const daemons = [];
	const cleanup = async () => {
		for (const d of daemons) await d.stop();
		fs.rmSync(dir, { recursive: true, force: true });
	};
	try {
		const { cert, key } = makeCert(dir);
		const ca = fs.readFileSync(cert);
		trustInProcess(ca);
		const keys = {
			read: cli(['keys', 'create', '--store', store, '--account', 'sdk', '--scope', 'read']),
			write: cli(['keys', 'create', '--store', store, '--account', 'sdk', '--scope', 'write']),
			other: cli(['keys', 'create', '--store', store, '--account', 'other', '--scope', 'read']),
		};
		const tls = new Daemon(['--store', store, '--tls-cert', cert, '--tls-key', key]);
		daemons.push(tls);
		await tls.start();
		const seed = Array.from({ length: N_EVENTS }, (_, i) => seedEvent(i));
		const ids = [];
		for (let i = 0; i < N_EVENTS; i += 50) {
			const r = await httpsRequest(`${tls.url}/v3/device-events/`, {
				method: 'POST',
				headers: { authorization: `Bearer ${keys.write}`, 'content-type': 'application/json' },
				body: JSON.stringify(seed.slice(i, i + 50).map((e) => e.sent)),
				ca,
			});
			assert.equal(r.status, 201, `ingest: ${r.status} ${r.text.slice(0, 300)}`);
			ids.push(...r.body.ids);
		}
		const events = seed.map((e, i) => ({ id: ids[i], ...e.expect }));
		// SPEC §2: ids are assigned in commit order; the id order is the paging order.
		events.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
		assert.equal(new Set(ids).size, N_EVENTS, 'ingest returned duplicate ids');
		const plain = new Daemon(['--store', store]);
		daemons.push(plain);
		await plain.start();
		return { tls, plain, keys, ca, cert, events, cleanup };
	} catch (e) {
		await cleanup();
		throw e;
	}
}

// ---- comparisons ----

// An id that no event has: well-formed, far past every assigned id.
export const MISSING_ID = 'ffffffffffffffff0000000000000000';

// The ids in order, with a readable message on a mismatch (both orders matter in paging).
export function assertIds(actual, expected, what) {
	const a = actual.map((e) => (typeof e === 'string' ? e : e.id));
	const e = expected.map((x) => (typeof x === 'string' ? x : x.id));
	assert.equal(new Set(a).size, a.length, `${what}: an event came twice`);
	if (a.length !== e.length || a.some((x, i) => x !== e[i])) {
		const sa = new Set(a);
		const se = new Set(e);
		const missing = e.filter((x) => !sa.has(x));
		const extra = a.filter((x) => !se.has(x));
		assert.fail(
			`${what}: got ${a.length} events, expected ${e.length}; missing ${missing.length}, extra ${extra.length}` +
				(missing.length || extra.length ? '' : ' (same set, other order)'),
		);
	}
}
