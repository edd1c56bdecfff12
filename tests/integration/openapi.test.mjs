// docs/openapi.json stays true: every route of the route table (src/http/routes.c, read as C
// text, so a new route fails here until it is documented) is in the document with its method,
// every documented operation is a route, every documented path answers something other than
// 404/405 on the running daemon, every $ref resolves, and the daemon serves the document
// byte for byte at GET /v3/openapi.json without a key.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { startDaemon } from './lib/harness.mjs';

const DOC_TEXT = fs.readFileSync('docs/openapi.json', 'utf8');
const DOC = JSON.parse(DOC_TEXT);
const METHODS = ['get', 'post', 'put', 'delete', 'patch'];

// The rows of `static const struct dlog_route routes[] = { ... };` as {method, pattern}.
function routeTable() {
	const src = fs.readFileSync('src/http/routes.c', 'utf8');
	const m = /static const struct dlog_route routes\[\] = \{([\s\S]*?)\n\};/.exec(src);
	assert.ok(m, 'routes[] table not found in src/http/routes.c');
	const rows = [...m[1].matchAll(/\{\s*"([A-Z]+)",\s*"([^"]*)"/g)].map((r) => ({ method: r[1], pattern: r[2] }));
	assert.ok(rows.length >= 10, `only ${rows.length} routes parsed`);
	return rows;
}

// A documented path in the route table's spelling: {param} segments become *, no trailing /.
function asPattern(p) {
	const s = p.replace(/\{[^}/]+\}/g, '*');
	return s.length > 1 ? s.replace(/\/$/, '') : s;
}

function documented() {
	const out = [];
	for (const [p, item] of Object.entries(DOC.paths)) for (const m of METHODS) if (item[m]) out.push({ method: m.toUpperCase(), pattern: asPattern(p), path: p, op: item[m] });
	return out;
}

test('the document is OpenAPI 3 with info, paths and the access key scheme', () => {
	assert.match(DOC.openapi, /^3\.\d+\.\d+$/);
	assert.ok(DOC.info.title && DOC.info.version);
	assert.equal(DOC.components.securitySchemes.accessKey.scheme, 'bearer');
	assert.deepEqual(DOC.security, [{ accessKey: [] }]);
});

test('every route of routes.c is documented with its method', () => {
	const docs = new Set(documented().map((d) => `${d.method} ${d.pattern}`));
	const missing = routeTable().filter((r) => !docs.has(`${r.method} ${r.pattern}`)).map((r) => `${r.method} ${r.pattern}`);
	assert.deepEqual(missing, [], `routes missing from docs/openapi.json: ${missing.join(', ')}`);
});

test('every documented operation is a route', () => {
	const routes = new Set(routeTable().map((r) => `${r.method} ${r.pattern}`));
	const extra = documented().filter((d) => !routes.has(`${d.method} ${d.pattern}`)).map((d) => `${d.method} ${d.path}`);
	assert.deepEqual(extra, [], `documented but not routed: ${extra.join(', ')}`);
});

test('every operation documents its answers, its errors use the Error schema, ids are unique', () => {
	const ids = new Set();
	for (const d of documented()) {
		assert.ok(d.op.operationId && !ids.has(d.op.operationId), `${d.method} ${d.path}: operationId`);
		ids.add(d.op.operationId);
		assert.ok(Object.keys(d.op.responses).some((c) => /^2/.test(c)), `${d.method} ${d.path}: no 2xx answer`);
		const noAuth = Array.isArray(d.op.security) && d.op.security.length === 0;
		if (!noAuth) assert.ok(d.op.responses['401'], `${d.method} ${d.path}: needs a key but documents no 401`);
	}
});

test('every $ref resolves', () => {
	const bad = [];
	const walk = (v) => {
		if (Array.isArray(v)) return v.forEach(walk);
		if (v && typeof v === 'object') {
			if (typeof v.$ref === 'string') {
				let t = DOC;
				for (const k of v.$ref.replace(/^#\//, '').split('/')) t = t?.[k];
				if (t === undefined) bad.push(v.$ref);
			}
			Object.values(v).forEach(walk);
		}
	};
	walk(DOC);
	assert.deepEqual(bad, []);
});

let d;
const values = {};

before(async () => {
	d = await startDaemon({ accounts: { A: ['read', 'write', 'admin'] } });
	const campaign = 'c'.repeat(32);
	const ids = await d.ingest([
		{ device_id: 'oa-dev-1', event_type: 'SYS_106' },
		{ device_id: 'oa-dev-1', event_type: 'UPD4_FAIL_24', data: { campaign_id: campaign } },
	], d.keys.A.write);
	const g = await d.post('/v3/device-groups/', { name: 'openapi-test' }, d.keys.A.admin);
	Object.assign(values, {
		device_event_id: ids[0],
		code: 'SYS_106',
		device_id: 'oa-dev-1',
		device_group_id: g.body?.id ?? '0'.repeat(32),
		campaign_id: campaign,
		summary_status_id: 'fail',
		event_type_id: 'upd4_fail_24',
		asset: 'index.html',
		api_key_id: d.keyIds.A.read,
	});
});

after(async () => {
	if (d) await d.cleanup();
});

test('GET /v3/openapi.json serves docs/openapi.json without a key', async () => {
	const r = await d.get('/v3/openapi.json');
	assert.equal(r.status, 200);
	assert.match(r.headers.get('content-type'), /^application\/json/);
	assert.equal(r.text, DOC_TEXT, 'the embedded document differs from docs/openapi.json (rebuild)');
});

test('every documented path answers something other than 404 or 405', async () => {
	const wrong = [];
	for (const op of documented()) {
		const p = op.path.replace(/\{([^}]+)\}/g, (_, name) => {
			assert.ok(values[name], `no test value for the path parameter {${name}} of ${op.path}`);
			return encodeURIComponent(values[name]);
		});
		// one method per path is enough to show it is routed; changes are not made twice
		if (op.method === 'DELETE' || op.method === 'PUT') continue;
		const ctl = new AbortController();
		const init = { method: op.method, headers: { authorization: `Bearer ${d.keys.A.admin}` }, signal: ctl.signal };
		if (op.method === 'POST') {
			init.headers['content-type'] = 'application/json';
			init.body = '{}';
		}
		const res = await fetch(d.base + p, init);
		ctl.abort(); // the stream never ends: its status line is the answer
		if (res.status === 404 || res.status === 405) wrong.push(`${op.method} ${p}: ${res.status}`);
	}
	assert.deepEqual(wrong, []);
});
