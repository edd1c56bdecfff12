// The SDK's foundation API (SDK -> foundation() -> deviceEventsRepository()) against devicelog
// over HTTPS: listing, paging both ways, every filter the SDK sends, totalCount() and read().
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import mbed from 'mbed-cloud-sdk';

import { MISSING_ID, N_EVENTS, assertIds, device, startFleet } from './lib.mjs';

const { SDK } = mbed;

let f; // the fleet
let repo; // the SDK's device events repository, with the read key
let ev; // expected events in id order

before(async () => {
	f = await startFleet();
	ev = f.events;
	// The SDK prefixes https:// to a host without a scheme: give it host:port alone.
	const sdk = new SDK({ apiKey: f.keys.read, host: `127.0.0.1:${f.tls.port}` });
	assert.equal(sdk.config.host, `https://127.0.0.1:${f.tls.port}`);
	repo = sdk.foundation().deviceEventsRepository();
});
after(() => f?.cleanup());

async function list(options) {
	const out = [];
	for await (const e of repo.list(options)) out.push(e);
	return out;
}

// Every field the SDK maps, against what was ingested.
function assertEvent(got, exp) {
	assert.equal(got.id, exp.id);
	assert.equal(got.deviceId, exp.deviceId, `deviceId of ${exp.id}`);
	assert.equal(got.eventType, exp.eventType, `eventType of ${exp.id}`);
	// the SDK turns fractional timestamps into Dates (SPEC §1: always 6 fraction digits)
	assert.ok(got.dateTime instanceof Date, `dateTime of ${exp.id} is not a Date: ${got.dateTime}`);
	assert.equal(got.dateTime.getTime(), exp.ms, `dateTime of ${exp.id}`);
	assert.ok(got.createdAt instanceof Date, `createdAt of ${exp.id} is not a Date`);
	assert.equal(got.description, exp.description, `description of ${exp.id}`);
	assert.equal(got.stateChange, exp.stateChange, `stateChange of ${exp.id}`);
	assert.equal(got.eventTypeDescription, exp.eventTypeDescription, `eventTypeDescription of ${exp.id}`);
	assert.equal(typeof got.eventTypeCategory, 'string');
	assert.deepEqual(got.data, exp.data, `data of ${exp.id}`);
	assert.deepEqual(got.changes, {});
}

describe('foundation API over HTTPS', () => {
	test('list() with no options: the first 50 events, oldest first, every field mapped', async () => {
		const got = await list();
		assertIds(got, ev.slice(0, 50), 'list()');
		got.forEach((e, i) => assertEvent(e, ev[i]));
	});

	test('all() with maxResults reads every event', async () => {
		const got = await repo.list({ maxResults: 1000 }).all();
		assertIds(got, ev, 'all()');
		got.forEach((e, i) => assertEvent(e, ev[i]));
	});

	for (const pageSize of [2, 7]) {
		for (const order of ['ASC', 'DESC']) {
			test(`paging: pageSize ${pageSize}, ${order}: every event exactly once, in order`, async () => {
				const got = await list({ pageSize, order, maxResults: 1000 });
				assertIds(got, order === 'ASC' ? ev : [...ev].reverse(), `pageSize ${pageSize} ${order}`);
			});
		}
	}

	for (const order of ['ASC', 'DESC']) {
		test(`paging page by page (pageSize 7, ${order}): full pages, the cursor is the last id`, async () => {
			const p = repo.list({ pageSize: 7, order, maxResults: 1000 });
			const want = order === 'ASC' ? ev : [...ev].reverse();
			const seen = [];
			let pages = 0;
			while (p.hasNextPage()) {
				const page = await p.nextPage();
				assert.ok(page, `page ${pages + 1} missing`);
				pages++;
				const start = seen.length;
				seen.push(...page.data);
				assert.equal(page.data.length, Math.min(7, N_EVENTS - start), `page ${pages} size`);
				if (page.hasMore) assert.equal(page.after, page.data[page.data.length - 1].id);
				else assert.equal(page.after, null);
				assert.ok(pages <= 100, 'paging does not end');
			}
			assert.equal(pages, Math.ceil(N_EVENTS / 7));
			assertIds(seen, want, `pages of 7 ${order}`);
		});
	}

	test('maxResults stops early: 20 events in pages of 7', async () => {
		const got = await list({ pageSize: 7, maxResults: 20 });
		assertIds(got, ev.slice(0, 20), 'maxResults 20');
	});

	describe('filters: every one the SDK sends, vs the ingested set', () => {
		// Picked from the seed so each filter keeps some events and drops others.
		const times = () => ev.map((e) => e.ms).sort((a, b) => a - b);
		const t25 = () => times()[50];
		const t75 = () => times()[150];
		const fractional = () => ev.find((e) => e.ms % 1000 === 125).ms;
		const devA = device(3);
		const devB = device(7);
		const devC = device(11);
		const note = (k) => `maintenance note ${k}`;
		const lost = 'Connection lost during download.';

		const cases = [
			['dateTime lte (a Date)', () => ({ dateTime: { lte: new Date(t75()) } }), (e) => e.ms <= t75()],
			['dateTime gte (a Date)', () => ({ dateTime: { gte: new Date(t25()) } }), (e) => e.ms >= t25()],
			[
				'dateTime gte and lte: a range',
				() => ({ dateTime: { gte: new Date(t25()), lte: new Date(t75()) } }),
				(e) => e.ms >= t25() && e.ms <= t75(),
			],
			[
				'dateTime lte on a fractional instant is inclusive',
				() => ({ dateTime: { lte: new Date(fractional()) } }),
				(e) => e.ms <= fractional(),
			],
			[
				'dateTime in (ISO strings)',
				() => ({ dateTime: { in: [ev[3], ev[99], ev[150]].map((e) => new Date(e.ms).toISOString()) } }),
				(e) => [ev[3], ev[99], ev[150]].some((x) => x.ms === e.ms),
			],
			[
				'dateTime nin (ISO strings)',
				() => ({ dateTime: { nin: [ev[3], ev[99]].map((e) => new Date(e.ms).toISOString()) } }),
				(e) => e.ms !== ev[3].ms && e.ms !== ev[99].ms,
			],
			['deviceId bare value', () => ({ deviceId: devA }), (e) => e.deviceId === devA],
			['deviceId eq', () => ({ deviceId: { eq: devA } }), (e) => e.deviceId === devA],
			['deviceId $eq', () => ({ deviceId: { $eq: devB } }), (e) => e.deviceId === devB],
			['deviceId neq', () => ({ deviceId: { neq: devA } }), (e) => e.deviceId !== devA],
			['deviceId in', () => ({ deviceId: { in: [devA, devB] } }), (e) => [devA, devB].includes(e.deviceId)],
			['deviceId nin', () => ({ deviceId: { nin: [devA, devB, devC] } }), (e) => ![devA, devB, devC].includes(e.deviceId)],
			['eventType eq', () => ({ eventType: { eq: 'UPD4_FAIL_24' } }), (e) => e.eventType === 'UPD4_FAIL_24'],
			['eventType neq', () => ({ eventType: { neq: 'SYS_107' } }), (e) => e.eventType !== 'SYS_107'],
			['eventType in', () => ({ eventType: { in: ['SYS_106', 'SYS_107'] } }), (e) => ['SYS_106', 'SYS_107'].includes(e.eventType)],
			['eventType nin', () => ({ eventType: { nin: ['SYS_106', 'UPD2_OK_18'] } }), (e) => !['SYS_106', 'UPD2_OK_18'].includes(e.eventType)],
			['description eq (producer text)', () => ({ description: { eq: note(1) } }), (e) => e.description === note(1)],
			['description eq (catalog text)', () => ({ description: { eq: lost } }), (e) => e.description === lost],
			['description neq', () => ({ description: { neq: lost } }), (e) => e.description !== lost],
			['description in', () => ({ description: { in: [note(0), note(2), lost] } }), (e) => [note(0), note(2), lost].includes(e.description)],
			['description nin', () => ({ description: { nin: [note(0), lost] } }), (e) => ![note(0), lost].includes(e.description)],
			['id eq', () => ({ id: { eq: ev[77].id } }), (e) => e.id === ev[77].id],
			['id neq', () => ({ id: { neq: ev[77].id } }), (e) => e.id !== ev[77].id],
			['id in', () => ({ id: { in: [ev[5].id, ev[77].id, ev[150].id, MISSING_ID] } }), (e) => [ev[5].id, ev[77].id, ev[150].id].includes(e.id)],
			['id nin', () => ({ id: { nin: [ev[0].id, ev[199].id] } }), (e) => e.id !== ev[0].id && e.id !== ev[199].id],
			['stateChange true (bare)', () => ({ stateChange: true }), (e) => e.stateChange],
			['stateChange eq true', () => ({ stateChange: { eq: true } }), (e) => e.stateChange],
			// The SDK drops a false value (it tests the value's truth), so "false" is sent as neq true.
			['stateChange neq true', () => ({ stateChange: { neq: true } }), (e) => !e.stateChange],
			[
				'everything at once (ANDed)',
				() => ({
					deviceId: { in: [devA, devB, devC] },
					eventType: { neq: 'SYS_107' },
					dateTime: { gte: new Date(t25()) },
					stateChange: true,
				}),
				(e) => [devA, devB, devC].includes(e.deviceId) && e.eventType !== 'SYS_107' && e.ms >= t25() && e.stateChange,
			],
		];

		for (const [name, filter, pred] of cases) {
			test(name, async () => {
				const want = ev.filter(pred);
				assert.ok(want.length > 0 && want.length < N_EVENTS, `${name}: the seed must make this filter choose`);
				// pages of 50 with the filter: paging and filtering together
				const got = await list({ filter: filter(), pageSize: 50, maxResults: 1000 });
				assertIds(got, want, name);
				const desc = await list({ filter: filter(), pageSize: 50, maxResults: 1000, order: 'DESC' });
				assertIds(desc, [...want].reverse(), `${name} DESC`);
			});
		}
	});

	test('totalCount(): every event, and a filtered count', async () => {
		assert.equal(await repo.list().totalCount(), N_EVENTS);
		const filter = { deviceId: { in: [device(1), device(2)] }, stateChange: true };
		const want = ev.filter((e) => [device(1), device(2)].includes(e.deviceId) && e.stateChange).length;
		assert.equal(await repo.list({ filter, pageSize: 2 }).totalCount(), want);
	});

	test('read(id): an existing event', async () => {
		for (const k of [0, 42, N_EVENTS - 1]) assertEvent(await repo.read(ev[k].id), ev[k]);
	});

	test('read(id): a missing event is null', async () => {
		assert.equal(await repo.read(MISSING_ID), null);
	});

	test("another account's key sees none of these events", async () => {
		const other = new SDK({ apiKey: f.keys.other, host: `127.0.0.1:${f.tls.port}` }).foundation().deviceEventsRepository();
		assert.deepEqual(await other.list({ maxResults: 1000 }).all(), []);
		assert.equal(await other.read(ev[0].id), null);
	});

	test('the SDK asks for gzip, and pages over 1 KiB come back compressed', async () => {
		await list({ pageSize: 50, maxResults: 50 });
		assert.ok(
			await f.tls.waitLog(/method=GET path=\/v3\/device-events\/ status=200 bytes=\d+ gzip=1/),
			'no gzip-encoded list page in the daemon log',
		);
	});
});
