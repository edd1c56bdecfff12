// What the SDK shows when devicelog says no, the SDK's dateTime.in quirk, and the documented
// way to trust a private certificate (NODE_EXTRA_CA_CERTS, docs/SDK.md).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import mbed from 'mbed-cloud-sdk';

import { N_EVENTS, httpsRequest, startFleet } from './lib.mjs';

const { SDK, DeviceDirectoryApi } = mbed;
const HERE = path.dirname(fileURLToPath(import.meta.url));
const WRONG_KEY = 'ak_' + 'x'.repeat(64);

let f;
let ev;
const repoWith = (apiKey) => new SDK({ apiKey, host: `127.0.0.1:${f.tls.port}` }).foundation().deviceEventsRepository();

before(async () => {
	f = await startFleet();
	ev = f.events;
});
after(() => f?.cleanup());

// The API's own answer to a request, for comparing with what the SDK makes of it.
async function apiAnswer(pathAndQuery, key) {
	const r = await httpsRequest(f.tls.url + pathAndQuery, { headers: { authorization: `Bearer ${key}` }, ca: f.ca });
	assert.equal(r.body?.object, 'error', r.text);
	return r.body;
}

describe('errors through the SDK', () => {
	test("a wrong key: the SDK's error message is the API's message", async () => {
		const want = await apiAnswer('/v3/device-events/', WRONG_KEY);
		assert.equal(want.code, 401);
		await assert.rejects(repoWith(WRONG_KEY).list().all(), (err) => {
			assert.equal(err.message, want.message);
			assert.equal(err.code, 401);
			return true;
		});
		// read() turns only a 404 into null: a 401 is an error
		await assert.rejects(repoWith(WRONG_KEY).read(ev[0].id), (err) => err.message === want.message);
	});

	test('a wrong key through the legacy API', async () => {
		const want = await apiAnswer('/v3/devicelog/', WRONG_KEY);
		const legacy = new DeviceDirectoryApi({ apiKey: WRONG_KEY, host: f.plain.url });
		await assert.rejects(legacy.listDeviceEvents(), (err) => {
			assert.equal(err.message, want.message);
			assert.equal(err.code, 401);
			return true;
		});
	});

	for (const op of ['in', 'nin']) {
		test(`dateTime.${op} with Dates (sent as Date.toString() text): 400, clear message, server stays up`, async () => {
			const dates = [new Date(ev[0].ms), new Date(ev[1].ms)];
			const repo = repoWith(f.keys.read);
			await assert.rejects(repo.list({ filter: { dateTime: { [op]: dates } } }).all(), (err) => {
				assert.equal(err.code, 400);
				// the message alone (all the SDK shows) names the parameter and the cure
				assert.match(err.message, new RegExp(`^date_time__${op}: `));
				assert.match(err.message, /is not a date-time/);
				assert.match(err.message, /2016-11-30T16:25:12/);
				assert.equal(err.details?.fields?.[0]?.name, `date_time__${op}`);
				return true;
			});
			assert.equal(f.tls.exit, null, 'the daemon exited');
			// the next request works, and the same dates as ISO text are fine
			assert.equal((await repo.list({ maxResults: 5 }).all()).length, 5);
			const iso = dates.map((d) => d.toISOString());
			const got = await repo.list({ filter: { dateTime: { [op]: iso } }, maxResults: 1000 }).all();
			assert.equal(got.length, op === 'in' ? 2 : N_EVENTS - 2);
		});
	}

	test('read() of a malformed id: 404, so null, and the daemon stays up', async () => {
		const repo = repoWith(f.keys.read);
		assert.equal(await repo.read('not-an-id'), null);
		assert.equal(await repo.read('%2e%2e'), null);
		assert.equal(f.tls.exit, null);
		assert.equal((await repo.read(ev[0].id)).id, ev[0].id);
	});
});

describe('trusting a private certificate the documented way', () => {
	test("NODE_EXTRA_CA_CERTS: the SDK verifies devicelog's certificate", () => {
		const script = `
			const { SDK } = require('mbed-cloud-sdk');
			const repo = new SDK({ apiKey: process.env.KEY, host: process.env.HOST }).foundation().deviceEventsRepository();
			repo.list().totalCount().then((n) => console.log('count', n), (e) => { console.log('error', e.message); process.exit(1); });
		`;
		const env = { ...process.env, KEY: f.keys.read, HOST: `127.0.0.1:${f.tls.port}` };
		delete env.NODE_TLS_REJECT_UNAUTHORIZED;
		const run = (extra) =>
			spawnSync(process.execPath, ['-e', script], { cwd: HERE, env: { ...env, ...extra }, encoding: 'utf8', timeout: 20_000 });
		const without = run({});
		assert.notEqual(without.status, 0, 'an unknown certificate must be refused');
		assert.match(without.stdout, /error .*certificate/i);
		const withCa = run({ NODE_EXTRA_CA_CERTS: f.cert });
		assert.equal(withCa.status, 0, withCa.stdout + withCa.stderr);
		assert.equal(withCa.stdout.trim(), `count ${N_EVENTS}`);
	});
});
