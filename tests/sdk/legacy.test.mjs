// The SDK's legacy API (DeviceDirectoryApi) against devicelog over plain HTTP: it lists through
// the deprecated /v3/devicelog/ with every filter packed into one encoded filter= parameter, and
// pages with after.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import mbed from 'mbed-cloud-sdk';

import { MISSING_ID, N_EVENTS, assertIds, device, startFleet } from './lib.mjs';

const { DeviceDirectoryApi } = mbed;

let f;
let api;
let ev;

before(async () => {
	f = await startFleet();
	ev = f.events;
	// the legacy API takes the host as given: plain http works
	api = new DeviceDirectoryApi({ apiKey: f.keys.read, host: f.plain.url });
});
after(() => f?.cleanup());

// Pages through listDeviceEvents the way a legacy client does: after = last id of the page.
async function listAll(options = {}, limit = 7) {
	const out = [];
	let afterId;
	for (let pages = 0; ; pages++) {
		assert.ok(pages <= N_EVENTS, 'paging does not end');
		const page = await api.listDeviceEvents({ ...options, limit, after: afterId });
		out.push(...page.data);
		if (!page.hasMore) break;
		assert.equal(page.data.length, limit, 'a page before the last is full');
		afterId = page.data[page.data.length - 1].id;
	}
	return out;
}

function assertLegacyEvent(got, exp) {
	assert.equal(got.id, exp.id);
	assert.equal(got.deviceId, exp.deviceId);
	assert.equal(got.type, exp.eventType);
	assert.ok(got.eventDate instanceof Date, `eventDate of ${exp.id} is not a Date`);
	assert.equal(got.eventDate.getTime(), exp.ms);
	assert.equal(got.stateChanged, exp.stateChange);
	assert.equal(got.description, exp.description);
	assert.equal(got.typeDescription, exp.eventTypeDescription);
	assert.deepEqual(got.data, exp.data);
}

describe('legacy API over plain HTTP (/v3/devicelog/, filter=)', () => {
	test('listDeviceEvents() with no options: the first page of 50', async () => {
		const page = await api.listDeviceEvents();
		assert.equal(page.hasMore, true);
		assert.equal(page.pageSize, 50);
		assert.equal(page.order, 'ASC');
		assertIds(page.data, ev.slice(0, 50), 'first page');
		page.data.forEach((e, i) => assertLegacyEvent(e, ev[i]));
	});

	for (const order of ['ASC', 'DESC']) {
		test(`paging with after (limit 7, ${order}): every event exactly once`, async () => {
			const got = await listAll({ order });
			assertIds(got, order === 'ASC' ? ev : [...ev].reverse(), `legacy ${order}`);
		});
	}

	test('the response echoes after', async () => {
		const page = await api.listDeviceEvents({ limit: 3, after: ev[10].id });
		assert.equal(page.after, ev[10].id);
		assertIds(page.data, ev.slice(11, 14), 'after ev[10]');
	});

	const t = (k) => new Date([...ev].sort((a, b) => a.ms - b.ms)[k].ms);
	const devA = device(4);
	const devB = device(9);
	const cases = [
		['deviceId bare', () => ({ deviceId: devA }), (e) => e.deviceId === devA],
		['deviceId $eq', () => ({ deviceId: { $eq: devA } }), (e) => e.deviceId === devA],
		['deviceId $ne', () => ({ deviceId: { $ne: devA } }), (e) => e.deviceId !== devA],
		['deviceId $in', () => ({ deviceId: { $in: [devA, devB] } }), (e) => [devA, devB].includes(e.deviceId)],
		['deviceId $nin', () => ({ deviceId: { $nin: [devA, devB] } }), (e) => ![devA, devB].includes(e.deviceId)],
		['type $eq', () => ({ type: { $eq: 'SYS_106' } }), (e) => e.eventType === 'SYS_106'],
		['type $ne', () => ({ type: { $ne: 'SYS_106' } }), (e) => e.eventType !== 'SYS_106'],
		['type $in', () => ({ type: { $in: ['UPD4_FAIL_24', 'UPD4_FAIL_23'] } }), (e) => e.eventType.startsWith('UPD4_FAIL_')],
		['type $nin', () => ({ type: { $nin: ['SYS_110', 'SYS_112'] } }), (e) => !['SYS_110', 'SYS_112'].includes(e.eventType)],
		['eventDate $gte', () => ({ eventDate: { $gte: t(120) } }), (e) => e.ms >= t(120).getTime()],
		['eventDate $lte', () => ({ eventDate: { $lte: t(30) } }), (e) => e.ms <= t(30).getTime()],
		[
			'deviceId, type and an eventDate range together',
			() => ({
				deviceId: { $in: [devA, devB, device(5)] },
				type: { $ne: 'SYS_107' },
				eventDate: { $gte: t(20), $lte: t(180) },
			}),
			(e) =>
				[devA, devB, device(5)].includes(e.deviceId) &&
				e.eventType !== 'SYS_107' &&
				e.ms >= t(20).getTime() &&
				e.ms <= t(180).getTime(),
		],
	];
	for (const [name, filter, pred] of cases) {
		test(`filter ${name}`, async () => {
			const want = ev.filter(pred);
			assert.ok(want.length > 0 && want.length < N_EVENTS, `${name}: the seed must make this filter choose`);
			assertIds(await listAll({ filter: filter() }), want, name);
			const counted = await api.listDeviceEvents({ filter: filter(), include: ['totalCount'], limit: 2 });
			assert.equal(counted.totalCount, want.length, `${name}: totalCount`);
			// what went on the wire: the deprecated path, the filter packed into filter=
			const meta = await api.getLastApiMetadata();
			const url = new URL(meta.url);
			assert.equal(url.pathname, '/v3/devicelog/');
			assert.deepEqual([...url.searchParams.keys()].sort(), ['filter', 'include', 'limit']);
			assert.match(url.searchParams.get('filter'), /^(device_id|event_type|date_time)/);
			assert.equal(url.searchParams.get('include'), 'total_count');
		});
	}

	test('getDeviceEvent(id): an existing event', async () => {
		for (const k of [0, 99, N_EVENTS - 1]) assertLegacyEvent(await api.getDeviceEvent(ev[k].id), ev[k]);
	});

	test('getDeviceEvent(id): a missing event is null', async () => {
		assert.equal(await api.getDeviceEvent(MISSING_ID), null);
	});

	test('callback style works as well', async () => {
		const page = await new Promise((resolve, reject) =>
			api.listDeviceEvents({ limit: 2 }, (err, data) => (err ? reject(err) : resolve(data))),
		);
		assertIds(page.data, ev.slice(0, 2), 'callback');
	});

	test('the legacy API over HTTPS too', async () => {
		const secure = new DeviceDirectoryApi({ apiKey: f.keys.read, host: f.tls.url });
		const page = await secure.listDeviceEvents({ limit: 5, order: 'DESC' });
		assertIds(page.data, [...ev].reverse().slice(0, 5), 'legacy over HTTPS');
	});
});
