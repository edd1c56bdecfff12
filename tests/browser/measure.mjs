// Measures how fast the portal's views render on a given store (not part of `make test`).
//   node tests/browser/measure.mjs sqlite:/path/to/big.db [runs]
// Starts `devicelog serve` on that store with a fresh read key, opens each view in chromium with
// a cold page load, and prints the median time from navigation start to the view drawn.
import { spawn } from 'node:child_process';
import { BIN, cli, sleep, startBrowser } from './lib.mjs';

const store = process.argv[2];
const runs = Number(process.argv[3] || 5);
if (!store) {
	console.error('usage: node measure.mjs sqlite:PATH [runs]');
	process.exit(2);
}
const key = cli(['keys', 'create', '--store', store, '--account', 'default', '--scope', 'read'])
	.stdout.trim();
const proc = spawn(BIN, ['serve', '--listen', '127.0.0.1:0', '--store', store],
	{ stdio: ['ignore', 'ignore', 'pipe'] });
let log = '';
const port = await new Promise((resolve, reject) => {
	proc.stderr.setEncoding('utf8');
	proc.stderr.on('data', (c) => {
		log += c;
		const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(log);
		if (m) resolve(Number(m[1]));
	});
	proc.on('exit', (code) => reject(new Error(`daemon exited ${code}: ${log}`)));
});
const base = `http://127.0.0.1:${port}`;
const b = await startBrowser();
await b.context.addInitScript((k) => {
	if (location.protocol === 'http:') sessionStorage.setItem('devicelog.key', k);
}, key);
const page = b.page;

const count = await (await fetch(`${base}/v3/device-events/?limit=2&include=total_count`,
	{ headers: { Authorization: `Bearer ${key}` } })).json();
console.log(`store: ${store}, ${count.total_count} events`);

// Cold load of url, then wait for ready(); returns ms from navigation start.
async function time(url, ready) {
	await page.goto('about:blank');
	await page.goto(url);
	await page.waitForFunction(ready, null, { timeout: 60000 });
	const t = await page.evaluate(() => performance.now());
	// let requests still running on the server (the total count) finish before the next run,
	// so that one run does not queue behind the last
	await sleep(1500);
	return t;
}

const views = [
	['events page, first 50 of the month', '/#/events',
		() => document.querySelectorAll('#events-table tbody tr').length > 0],
	['events page, rows and the month\'s total count', '/#/events', () => !!document.body.dataset.eventsLoaded],
	['events filtered by FAIL', '/#/events?event_type_description=FAIL',
		() => document.querySelectorAll('#events-table tbody tr').length > 0],
	['summary of 30 days', '/#/summary', () => !!document.body.dataset.summaryLoaded],
];
const median = (xs) => xs.slice().sort((a, c) => a - c)[Math.floor(xs.length / 2)];
for (const [name, url, ready] of views) {
	const t = [];
	for (let i = 0; i < runs; i++) t.push(await time(base + url, ready));
	console.log(`${name}: median ${median(t).toFixed(0)} ms (runs: ${t.map((x) => x.toFixed(0)).join(', ')})`);
}
// the device pane: open the first row's device
{
	const t = [];
	for (let i = 0; i < runs; i++) {
		await time(`${base}/#/events`, views[0][2]);
		const dev = await page.getAttribute('#events-table tbody tr:first-child', 'data-device');
		const t0 = await page.evaluate(() => performance.now());
		await page.click('#events-table tbody tr:first-child button.device');
		await page.waitForSelector('#log-table tbody tr');
		t.push((await page.evaluate(() => performance.now())) - t0);
		await sleep(1500);
		await page.keyboard.press('Escape');
	}
	console.log(`device pane, first rows of the event log: median ${median(t).toFixed(0)} ms (runs: ${t.map((x) => x.toFixed(0)).join(', ')})`);
}
if (b.errors.length) console.log('page errors:', b.errors);
await b.close();
proc.kill('SIGTERM');
await sleep(200);
