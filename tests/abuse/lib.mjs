// Helpers shared by the hardening tests (tests/abuse, tests/faults): the integration harness's
// Daemon, started with extra `serve` options, and a few raw-socket tools.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Daemon } from '../integration/lib/harness.mjs';

export * from '../integration/lib/harness.mjs';

// A Daemon whose `serve` gets extra arguments (rate limits, --metrics-listen, another store)
// and which finds the metrics listener's address in the start-up lines.
export class HDaemon extends Daemon {
	constructor(dir, store, args = []) {
		super(dir, store);
		this.serveArgs = args;
		this.metricsBase = null;
		this.startTimeoutMs = 15_000; // sanitizer builds start slower
	}

	started() {
		const mm = /without a key on http:\/\/127\.0\.0\.1:(\d+)/.exec(this.stderr);
		if (mm) this.metricsBase = `http://127.0.0.1:${mm[1]}`;
	}
}

// A temp dir with a SQLite store, keys made by the CLI, and a started HDaemon.
export async function startHDaemon({ accounts = { A: ['read', 'write', 'admin'] }, args = [], store, env } = {}) {
	const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'devicelog-hard-'));
	const d = new HDaemon(dir, store || 'sqlite:' + path.join(dir, 'store.db'), args);
	d.env = env;
	try {
		for (const [acct, scopes] of Object.entries(accounts)) for (const s of scopes) d.addKey(acct, s);
		await d.start();
	} catch (e) {
		await d.cleanup();
		throw e;
	}
	return d;
}

// Opens a socket (optionally from another loopback address) and resolves once connected.
export function connect(port, { localAddress } = {}) {
	return new Promise((resolve, reject) => {
		const s = net.connect({ port, host: '127.0.0.1', localAddress });
		s.once('connect', () => resolve(s));
		s.once('error', reject);
	});
}

// Sends bytes and collects what comes back until the peer closes or ms pass.
export function exchange(port, bytes, ms = 3000) {
	return new Promise((resolve) => {
		const s = net.connect(port, '127.0.0.1');
		const chunks = [];
		let closed = false;
		const t = setTimeout(() => {
			s.destroy();
			done();
		}, ms);
		function done() {
			if (closed) return;
			closed = true;
			clearTimeout(t);
			resolve(Buffer.concat(chunks).toString('latin1'));
		}
		s.on('data', (b) => chunks.push(b));
		s.on('close', done);
		s.on('error', done);
		s.write(bytes);
	});
}

// The value of one sample of a Prometheus text page (the first line starting with `series`).
export function metric(text, series) {
	for (const line of text.split('\n')) if (line.startsWith(series + ' ')) return Number(line.slice(series.length + 1));
	return undefined;
}
