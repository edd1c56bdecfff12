// The portal's directory pages in a real browser against the real daemon: Devices (filters,
// paging, the device pane's Device tab), Groups (create, add a device, its events, a read key's
// refusal, remove, delete) and Campaigns (statistics and codes equal to the API's).
// UPDATE_SCREENSHOTS=1 also writes docs/screenshots/{devices,groups,campaigns}.png.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { screenshot, startBrowser, startDaemon } from './lib.mjs';

let d;
let b;
let page;

async function signIn(key) {
	await page.fill('#signin-key', key);
	await page.click('#signin-form button[type=submit]');
	await page.waitForSelector('#nav:not([hidden])');
}

async function signOut() {
	await page.click('#signout');
	await page.waitForSelector('#signin-form');
}

// Run action, then wait until the table has (re)loaded: its data-loaded changes.
async function reloaded(table, action) {
	const before = await page.getAttribute(table, 'data-loaded');
	await action();
	await page.waitForFunction(([sel, was]) => {
		const el = document.querySelector(sel);
		return el && el.dataset.loaded && el.dataset.loaded !== was && !el.hasAttribute('aria-busy');
	}, [table, before]);
}

// The marker is cleared first, so a new document (page.goto) is waited for too.
async function eventsLoaded(action) {
	await page.evaluate(() => { delete document.body.dataset.eventsLoaded; });
	await action();
	await page.waitForFunction(() => !!document.body.dataset.eventsLoaded);
}

async function deviceRows(table) {
	return page.$$eval(`${table} tbody tr[data-device]`, (trs) => trs.map((tr) => ({
		id: tr.dataset.device,
		state: tr.dataset.state,
		counts: Object.fromEntries([...tr.querySelectorAll('td[data-type]')]
			.map((td) => [td.dataset.type, Number(td.textContent.replace(/\D/g, ''))])),
	})));
}

// Console errors the test causes on purpose: a refused write is logged by the browser.
function dropExpected(status) {
	for (let i = b.errors.length - 1; i >= 0; i--)
		if (new RegExp(`status of ${status}`).test(b.errors[i])) b.errors.splice(i, 1);
}

describe('portal: devices, groups, campaigns', () => {
	let groupId;
	let member;

	before(async () => {
		d = await startDaemon({ devices: 200, days: 40 });
		b = await startBrowser();
		page = b.page;
		page.setDefaultTimeout(10000);
		await page.goto(`${d.base}/`);
		await page.waitForSelector('#signin-form');
		await signIn(d.key);
	});

	after(async () => {
		await b?.close();
		await d?.stop();
	});

	test('the Devices page lists the directory like GET /v3/devices/', async () => {
		await reloaded('#devices-table', () => page.click('#nav a[data-view=devices]'));
		assert.match(page.url(), /#\/devices$/);
		const api = await d.get('/v3/devices/', [['limit', 50], ['include', 'total_count']]);
		const rows = await deviceRows('#devices-table');
		assert.equal(rows.length, 50);
		assert.deepEqual(rows.map((r) => r.id), api.data.map((x) => x.id), 'same devices, same order');
		assert.deepEqual(rows.map((r) => r.state), api.data.map((x) => x.state), 'the API\'s states');
		for (const [i, r] of rows.entries())
			for (const t of ['SUCCESS', 'FAIL', 'SKIPPED', 'INFO'])
				assert.equal(r.counts[t], api.data[i].event_counts[t] ?? 0, `${r.id} ${t} count`);
		assert.equal(Number(await page.getAttribute('#devices-count', 'data-total')), api.total_count);
		assert.ok(new Set(rows.map((r) => r.state)).size >= 2, 'more than one state in the demo fleet');
		await screenshot(page, 'devices.png');

		// Load more: the next 50 by cursor, none twice
		await reloaded('#devices-table', () => page.click('#devices-more'));
		const two = await deviceRows('#devices-table');
		const next = await d.get('/v3/devices/', [['limit', 50], ['after', api.data[49].id]]);
		assert.deepEqual(two.slice(50).map((r) => r.id), next.data.map((x) => x.id));
		assert.equal(new Set(two.map((r) => r.id)).size, two.length);
	});

	test('filtering by state=deregistered shows only such devices, and survives a reload', async () => {
		await reloaded('#devices-table', () => page.selectOption('#d-state', 'deregistered'));
		assert.match(page.url(), /#\/devices\?state=deregistered/);
		const rows = await deviceRows('#devices-table');
		const api = await d.get('/v3/devices/', [['state', 'deregistered'], ['limit', 50],
			['include', 'total_count']]);
		assert.ok(api.total_count > 0, 'the demo fleet has deregistered devices');
		assert.ok(rows.length > 0);
		assert.ok(rows.every((r) => r.state === 'deregistered'));
		assert.deepEqual(rows.map((r) => r.id), api.data.map((x) => x.id));
		assert.equal(Number(await page.getAttribute('#devices-count', 'data-total')), api.total_count);

		await reloaded('#devices-table', () => page.reload());
		assert.equal(await page.inputValue('#d-state'), 'deregistered');
		assert.deepEqual((await deviceRows('#devices-table')).map((r) => r.id), rows.map((r) => r.id));
	});

	test('a device row opens the pane; its Device tab shows GET /v3/devices/{id}/', async () => {
		const id = (await deviceRows('#devices-table'))[0].id;
		await page.click(`#devices-table tbody tr[data-device="${id}"] td:nth-child(5)`);
		await page.waitForSelector(`#pane[data-loaded="${id}"]`);
		assert.match(page.url(), new RegExp(`#/devices\\?state=deregistered&device=${id}`));
		await page.click('#tab-device');
		await page.waitForSelector('#device-facts[data-state]');
		const dev = await d.get(`/v3/devices/${id}/`);
		assert.equal(await page.getAttribute('#device-facts', 'data-state'), dev.state);
		const firstSeen = await page.locator('#device-facts dt:text("First seen") + dd time').getAttribute('datetime');
		assert.equal(firstSeen, dev.created_at);
		const counts = await page.locator('#device-facts dt:text("Events by message type") + dd').textContent();
		for (const t of ['SUCCESS', 'FAIL', 'SKIPPED', 'INFO'])
			assert.match(counts, new RegExp(`${t}\\s*${dev.event_counts[t] ?? 0}\\b`));
		await page.keyboard.press('Escape');
		await page.waitForSelector('#pane', { state: 'hidden' });
		await reloaded('#devices-table', () => page.click('#d-reset'));
	});

	test('a group created in the UI appears; a device added shows in it', async () => {
		await reloaded('#groups-table', () => page.click('#nav a[data-view=groups]'));
		const name = `Rollout wave ${Date.now()}`;
		await page.fill('#gc-name', name);
		await page.fill('#gc-desc', 'Devices of the first rollout wave');
		await page.click('#group-create button[type=submit]');
		await page.waitForFunction((n) => document.querySelector('#group-name').textContent === n, name);
		groupId = (/[?&]group=([0-9a-f]{32})/.exec(page.url()) || [])[1];
		assert.ok(groupId, `the group's id is in the URL: ${page.url()}`);
		assert.match(await page.textContent('#groups-status'), /created/);
		const groups = await d.get('/v3/device-groups/', [['limit', 1000]]);
		assert.ok(groups.data.some((g) => g.id === groupId && g.name === name), 'the API has the group');

		// the list shows it
		await reloaded('#groups-table', () => page.click('#group-detail a[href="#/groups"]'));
		assert.equal(await page.textContent(`#groups-table tr[data-group="${groupId}"] th a`), name);

		// open it and add a device by id
		await reloaded('#group-devices-table', () =>
			page.click(`#groups-table tr[data-group="${groupId}"] th a`));
		assert.match(await page.textContent('#group-devices-count'), /no devices yet/);
		const devices = await d.get('/v3/devices/', [['state', 'registered'], ['limit', 5]]);
		member = devices.data[0].id;
		await page.fill('#ga-device', member);
		await reloaded('#group-devices-table', () => page.press('#ga-device', 'Enter'));
		const rows = await deviceRows('#group-devices-table');
		assert.deepEqual(rows.map((r) => r.id), [member]);
		const api = await d.get(`/v3/device-groups/${groupId}/devices/`);
		assert.deepEqual(api.data.map((x) => x.id), [member]);
		await page.waitForFunction(() => document.querySelector('#group-detail').dataset.devices === '1');
		await screenshot(page, 'groups.png');

		// an unknown device: the API's message
		await page.fill('#ga-device', 'no-such-device');
		await page.click('#group-add button[type=submit]');
		await page.waitForSelector('#group-error:not(:empty)');
		assert.match(await page.textContent('#group-error'), /no device 'no-such-device'/);
		dropExpected(404);
	});

	test('"Events of this group" shows only its devices\' events, like the API', async () => {
		await eventsLoaded(() => page.click('#group-events-link'));
		assert.match(page.url(), new RegExp(`#/events\\?device_group_id=${groupId}`));
		assert.equal(await page.inputValue('#f-group'), groupId);
		const shown = await page.$$eval('#events-table tbody tr', (trs) =>
			trs.map((tr) => ({ id: tr.dataset.id, device: tr.dataset.device })));
		assert.ok(shown.length > 0);
		assert.ok(shown.every((r) => r.device === member), 'only the member\'s events');
		const since = await page.getAttribute('#events-count', 'data-since');
		const api = await d.get('/v3/device-events/', [['device_group_id', groupId],
			['date_time__gte', since], ['order', 'DESC'], ['limit', 50], ['include', 'total_count']]);
		assert.deepEqual(shown.map((r) => r.id), api.data.map((x) => x.id));
		assert.equal(Number(await page.getAttribute('#events-count', 'data-total')), api.total_count);
		// the group's name is in the filter
		await page.waitForFunction(() =>
			/Rollout wave/.test(document.querySelector('#f-group option:checked')?.textContent || ''));
	});

	test('a read key cannot change a group: the API\'s message is shown', async () => {
		const read = d.mkKey('read');
		await signOut();
		await signIn(read.key);
		await page.goto(`${d.base}/#/groups?group=${groupId}`);
		await page.waitForFunction(() => document.querySelector('#group-devices-table').dataset.loaded);
		await page.fill('#ga-device', member);
		await page.click('#group-add button[type=submit]');
		await page.waitForSelector('#group-error:not(:empty)');
		const msg = await page.textContent('#group-error');
		assert.match(msg, /does not allow it \(needs 'write'\)/);
		assert.match(msg, /write scope/);
		await page.fill('#ge-name', 'renamed by a reader');
		await page.click('#group-edit button[type=submit]');
		await page.waitForFunction(() => /needs 'write'/.test(document.querySelector('#group-error').textContent));
		const g = await d.get(`/v3/device-groups/${groupId}/`);
		assert.match(g.name, /^Rollout wave/, 'nothing changed');
		dropExpected(403);
		await signOut();
		await signIn(d.key);
	});

	test('rename, remove the device, delete the group', async () => {
		await page.goto(`${d.base}/#/groups?group=${groupId}`);
		await page.waitForSelector(`#group-devices-table tbody tr[data-device="${member}"]`);
		await page.fill('#ge-name', 'Wave one');
		await page.click('#group-edit button[type=submit]');
		await page.waitForFunction(() => document.querySelector('#group-name').textContent === 'Wave one');
		assert.equal((await d.get(`/v3/device-groups/${groupId}/`)).name, 'Wave one');

		await reloaded('#group-devices-table', () =>
			page.click(`#group-devices-table tr[data-device="${member}"] button.remove`));
		assert.equal(await page.locator('#group-devices-table tbody tr[data-device]').count(), 0);
		assert.equal((await d.get(`/v3/device-groups/${groupId}/devices/`)).data.length, 0);

		await page.click('#group-delete');
		assert.equal(await page.evaluate(() => document.activeElement.id), 'group-delete-no');
		await reloaded('#groups-table', () => page.click('#group-delete-yes'));
		assert.match(page.url(), /#\/groups$/);
		assert.match(await page.textContent('#groups-status'), /deleted/);
		assert.equal(await page.locator(`#groups-table tr[data-group="${groupId}"]`).count(), 0);
		const groups = await d.get('/v3/device-groups/', [['limit', 1000]]);
		assert.ok(!groups.data.some((g) => g.id === groupId));
	});

	test('the Campaigns page shows the API\'s counts for a demo campaign', async () => {
		// reach it from the campaign column of the events page
		await eventsLoaded(() => page.goto(`${d.base}/#/events?event_type_description=FAIL`));
		const link = page.locator('#events-table tbody tr td.c-camp a').first();
		const campaign = (await link.textContent()).trim();
		await link.click();
		await page.waitForFunction((c) => document.querySelector('#campaign-codes').dataset.loaded === `${c}/fail`,
			campaign);
		assert.match(page.url(), new RegExp(`#/campaigns\\?campaign=${campaign}`));
		assert.match(await page.textContent('#campaign-note'), /each device once.*every event/);

		const stats = await d.get(`/v3/update-campaigns/${campaign}/statistics`);
		assert.equal(stats.data.length, 4);
		for (const s of stats.data) {
			const row = page.locator(`#campaign-table tbody tr[data-type="${s.summary_status}"]`);
			assert.equal(Number(await row.getAttribute('data-devices')), s.count, `${s.summary_status} devices`);
			assert.equal(Number(await row.getAttribute('data-events')), s.events_count, `${s.summary_status} events`);
			assert.equal((await row.locator('td.c-devices').textContent()).replace(/\D/g, ''), String(s.count));
			const bar = page.locator(`#cchart svg a.bar[data-type="${s.summary_status}"]`);
			assert.equal(Number(await bar.getAttribute('data-devices')), s.count);
			assert.match(await bar.locator('title').textContent(),
				new RegExp(`${s.summary_status}: ${s.count.toLocaleString('en-GB')} devices?, ${s.events_count.toLocaleString('en-GB')} events?`));
		}
		const codes = await d.get(`/v3/update-campaigns/${campaign}/statistics/fail/event_types`);
		const shown = await page.$$eval('#campaign-codes tbody tr[data-code]', (trs) => trs.map((tr) =>
			({ code: tr.dataset.code, count: Number(tr.dataset.devices), events: Number(tr.dataset.events),
				text: tr.textContent })));
		assert.deepEqual(shown.map(({ code, count, events }) => ({ code, count, events })),
			codes.data.map((c) => ({ code: c.event_type, count: c.count, events: c.events_count })));
		for (const [i, c] of codes.data.entries()) {
			assert.ok(shown[i].text.includes(c.description), `${c.event_type} description`);
			if (c.corrective_action) assert.ok(shown[i].text.includes(c.corrective_action));
		}
		await screenshot(page, 'campaigns.png',
			{ fullPage: true, clip: { x: 0, y: 0, width: 1440, height: 1250 } });

		// another type's codes by its bar
		await page.click('#cchart svg a.bar[data-type="SUCCESS"]');
		await page.waitForFunction((c) => document.querySelector('#campaign-codes').dataset.loaded === `${c}/success`,
			campaign);
		const ok = await d.get(`/v3/update-campaigns/${campaign}/statistics/success/event_types`);
		assert.deepEqual(await page.$$eval('#campaign-codes tbody tr[data-code]', (trs) =>
			trs.map((tr) => tr.dataset.code)), ok.data.map((c) => c.event_type));

		// the recent campaigns to pick from include it; an unknown id gets the API's message
		await page.waitForSelector('#c-recent:not([hidden]) li');
		const recent = await page.$$eval('#c-recent li a', (as) => as.map((a) => a.textContent.trim()));
		assert.ok(recent.includes(campaign), 'listed under recent campaigns');
		await page.fill('#c-id', 'ffffffffffffffffffffffffffffffff');
		await page.press('#c-id', 'Enter');
		await page.waitForSelector('#campaign-error:not(:empty)');
		assert.match(await page.textContent('#campaign-error'), /no events of update campaign/);
		assert.equal(await page.isVisible('#campaign-detail'), false);
		dropExpected(404);
	});

	test('no console errors', () => {
		assert.deepEqual(b.errors, []);
	});
});
