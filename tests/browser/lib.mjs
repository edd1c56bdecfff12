// Browser-test harness: the real daemon on 127.0.0.1 (random port, temporary SQLite store with a
// demo fleet) and Debian's chromium driven by playwright-core. Nothing is downloaded at run time.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(HERE, '../..');
export const BIN = path.resolve(process.env.DEVICELOG_BIN || path.join(ROOT, 'build/devicelog'));
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const SCREENSHOTS = path.join(ROOT, 'docs/screenshots');
export const DAY_MS = 86400000;

const START_TIMEOUT_MS = 15000;

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function cli(args) {
	const r = spawnSync(BIN, args, { encoding: 'utf8', timeout: 120000 });
	if (r.error) throw r.error;
	if (r.status !== 0) throw new Error(`devicelog ${args.join(' ')}: exit ${r.status}: ${r.stderr}`);
	return r;
}

// Query string with literal commas (list separators), like the portal sends.
export function qs(pairs) {
	return pairs.filter(([, v]) => v !== undefined && v !== null && v !== '')
		.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v)).replace(/%2C/gi, ',')}`)
		.join('&');
}

// Starts `devicelog serve` on a fresh store holding a demo fleet; returns helpers.
export async function startDaemon({ devices = 200, days = 40 } = {}) {
	if (!fs.existsSync(BIN)) throw new Error(`no daemon binary at ${BIN}: run make first`);
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'devicelog-browser-'));
	const store = `sqlite:${path.join(dir, 'store.db')}`;
	cli(['demo', '--store', store, '--devices', String(devices), '--days', String(days)]);
	const mkKey = (scope) => {
		const r = cli(['keys', 'create', '--store', store, '--account', 'default', '--scope', scope]);
		const id = /key id: ([0-9a-f]{32})/.exec(r.stderr);
		return { key: r.stdout.trim(), id: id ? id[1] : null };
	};
	const write = mkKey('write');
	const proc = spawn(BIN, ['serve', '--listen', '127.0.0.1:0', '--store', store],
		{ stdio: ['ignore', 'ignore', 'pipe'] });
	let log = '';
	const port = await new Promise((resolve, reject) => {
		const timer = setTimeout(() => reject(new Error(`daemon did not start:\n${log}`)), START_TIMEOUT_MS);
		proc.stderr.setEncoding('utf8');
		proc.stderr.on('data', (chunk) => {
			log = (log + chunk).slice(-20000);
			const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(log);
			if (m) {
				clearTimeout(timer);
				resolve(Number(m[1]));
			}
		});
		proc.on('exit', (code) => reject(new Error(`daemon exited (${code}):\n${log}`)));
	});
	const base = `http://127.0.0.1:${port}`;
	const d = {
		dir, store, base, key: write.key, mkKey,
		log: () => log,
		revoke: (id) => cli(['keys', 'revoke', '--store', store, id]),
		async get(p, pairs = []) {
			const q = qs(pairs);
			const res = await fetch(`${base}${p}${q ? '?' + q : ''}`,
				{ headers: { Authorization: `Bearer ${write.key}` } });
			const body = await res.json();
			if (!res.ok) throw new Error(`GET ${p}: ${res.status} ${JSON.stringify(body)}`);
			return body;
		},
		async post(p, body) {
			const res = await fetch(`${base}${p}`, { method: 'POST', body: JSON.stringify(body),
				headers: { Authorization: `Bearer ${write.key}`, 'Content-Type': 'application/json' } });
			const out = await res.json();
			if (!res.ok) throw new Error(`POST ${p}: ${res.status} ${JSON.stringify(out)}`);
			return out;
		},
		// Every event of a query, page after page (the test checks the portal against this).
		async pages(pairs, n) {
			const out = [];
			let after = null;
			for (let i = 0; i < n; i++) {
				const page = await d.get('/v3/device-events/', [...pairs, ['limit', 50], ['after', after]]);
				out.push(...page.data);
				if (!page.has_more) break;
				after = page.data[page.data.length - 1].id;
			}
			return out;
		},
		async stop() {
			if (proc.exitCode === null) {
				const gone = new Promise((r) => proc.once('exit', r));
				proc.kill('SIGTERM');
				await Promise.race([gone, sleep(5000)]);
				if (proc.exitCode === null) proc.kill('SIGKILL');
			}
			fs.rmSync(dir, { recursive: true, force: true });
		},
	};
	return d;
}

// Chromium with a fresh profile; errors of the page are collected in `errors`.
export async function startBrowser() {
	const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'devicelog-chromium-'));
	const context = await chromium.launchPersistentContext(profile, {
		executablePath: CHROMIUM,
		headless: true,
		args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
			'--disable-background-networking', '--disable-component-update', '--disable-sync'],
		viewport: { width: 1440, height: 900 },
		timezoneId: process.env.TEST_TZ || 'Europe/Berlin',
		locale: 'en-GB',
	});
	const page = context.pages()[0] || await context.newPage();
	const errors = [];
	page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`); });
	page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
	return {
		context, page, errors,
		async close() {
			await context.close();
			fs.rmSync(profile, { recursive: true, force: true });
		},
	};
}

export async function screenshot(page, name, opts = {}) {
	if (process.env.UPDATE_SCREENSHOTS !== '1') return;
	fs.mkdirSync(SCREENSHOTS, { recursive: true });
	await page.mouse.move(0, 0);
	await page.screenshot({ path: path.join(SCREENSHOTS, name), ...opts });
}
