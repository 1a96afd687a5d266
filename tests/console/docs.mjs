// The API reference at /docs in a real browser: Debian's chromium driven by puppeteer-core
// against the real `operator` server whose Operator agent talks to the scripted fake LLM.
//
// tests/e2e/docs_ui.rs starts both and runs this file with OPERATOR_URL, OPERATOR_KEY,
// SCREENSHOT_DIR, DOCS_MARKER (goes into the uploaded file), DOCS_JSON_REPLY and
// DOCS_SLOW_REPLY (the fake model's two replies, in this order: the `x-response-format: json`
// chat, then the streamed chat, whose words arrive slowly).
//
// Everything is done through the page's own forms, as a reader would: enter the key, create an
// instance with the pre-filled example body (JSON), upload a file (raw text body) and read it
// back, chat with `x-response-format: json` (a header parameter), chat again streamed (events
// must show while the turn still runs), re-attach with `Last-Event-ID` (a header), get a 404
// with the API's error message. The requests the page makes are recorded at the browser's
// network layer to check where each parameter went. Every request that leaves the server's
// origin is aborted and fails the suite; so do an API key in a URL, in a curl snippet or in
// the page's text, localStorage use, uncaught page errors and console errors other than the
// failed loads of the 4xx answers the suite provokes. The last stdout line is
// `SUMMARY {json}` for the Rust side.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { required, until as waitUntil, scriptSrc, Steps, Guard, finish, runMain, launch } from './lib.mjs';

const BASE = required('OPERATOR_URL').replace(/\/$/, '');
const KEY = required('OPERATOR_KEY');
const SHOTS = required('SCREENSHOT_DIR');
const MARKER = required('DOCS_MARKER');
const JSON_REPLY = required('DOCS_JSON_REPLY');
const SLOW_REPLY = required('DOCS_SLOW_REPLY');
const ORIGIN = new URL(BASE).origin;

const SHORT = 15_000; // the page reacting to a click or an API answer
const TURN = 45_000; // a chat turn through the agent and the fake LLM
const PROVISION = 60_000; // an instance from provisioning to active

const FILE_PATH = 'notes/from-the-docs page.txt';
const FILE_CONTENT = `first line ${MARKER}\nünïcødé ✓ — <b>not html</b> 'single' "double" $HOME \\ back\n\n  indented, no newline at the end`;


// ---------------------------------------------------------------- guards and bookkeeping

const guards = new Guard(ORIGIN, KEY, SHORT);
const apiRequests = []; // { method, url, headers, body } of every /api request the page made
const summary = { steps: {} };

async function guard(page) {
  await guards.attach(page, 'docs', (req, url) => {
    if (new URL(url).pathname.startsWith('/api/')) {
      apiRequests.push({ method: req.method(), url, headers: req.headers(), body: req.postData() ?? null });
    }
  });
}

// ---------------------------------------------------------------- helpers


async function api(method, p, { body, headers = {} } = {}) {
  const h = { authorization: `Bearer ${KEY}`, ...headers };
  if (body !== undefined) h['content-type'] = 'application/json';
  const res = await fetch(BASE + p, {
    method, headers: h, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(SHORT),
  });
  const text = await res.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = text;
  }
  return { status: res.status, body: json };
}

/** Opens the operation `sig` ("POST /api/instances") and returns its `details` element. */
async function openOp(page, sig) {
  const d = await page.waitForSelector(`details.op[data-op="${sig}"]`, { visible: true });
  if (!(await d.evaluate((e) => e.open))) {
    // centred first: at the top edge the sticky header would take the click
    await d.evaluate((e) => e.scrollIntoView({ block: 'center' }));
    await (await d.$('summary')).click();
  }
  await until(`the form of ${sig}`, () => d.$('form.try'));
  await d.evaluate((e) => e.scrollIntoView({ block: 'start' }));
  return d;
}

/** The field labelled `label` inside `root`. */
async function field(root, label) {
  const f = await root.$(`[aria-label="${label}"]`);
  assert.ok(f, `no field labelled "${label}"`);
  return f;
}

/** Replaces a text field's content the way a user does (select all, type). */
async function fill(page, root, label, text) {
  const f = await field(root, label);
  await f.click();
  await page.keyboard.down('Control');
  await page.keyboard.press('KeyA');
  await page.keyboard.up('Control');
  await page.keyboard.press('Backspace');
  if (text) await f.type(text);
  assert.equal(await f.evaluate((e) => e.value), text, `field "${label}" holds what was typed`);
  return f;
}

async function curlOf(d) {
  return d.$eval('pre.curl', (e) => e.textContent);
}

/** Clicks Send in `d` and returns the index of the first /api request it made. */
async function send(d) {
  const before = await d.$eval('section.response', (e) => Number(e.dataset.run || 0));
  const firstRequest = apiRequests.length;
  await (await d.$('button.send')).click();
  await until('the send to start', () => d.$eval('section.response', (e, b) => Number(e.dataset.run || 0) > b, before));
  return firstRequest;
}

/** Waits for the answer in `d` to be complete: `{ status, statusLine, body, error }`. */
async function answer(d, timeout = SHORT) {
  await until('the response to be complete', () => d.$eval('section.response', (e) => e.dataset.done === 'true'), timeout);
  return d.$eval('section.response', (e) => ({
    status: Number(e.dataset.status || 0),
    statusLine: e.querySelector('.status')?.textContent ?? '',
    body: e.querySelector('pre.body')?.textContent ?? null,
    error: e.querySelector('.api-error')?.textContent ?? null,
  }));
}

/** The one /api request made since index `from` whose path is `p` (and method). */
function requestSince(from, method, p) {
  const found = apiRequests.slice(from).filter((r) => r.method === method && new URL(r.url).pathname === p);
  assert.equal(found.length, 1, `expected one ${method} ${p} from the page, saw: ${JSON.stringify(apiRequests.slice(from).map((r) => `${r.method} ${r.url}`))}`);
  return found[0];
}

function assertCurl(text, { method, url, headers = [], auth = true }) {
  assert.ok(text.includes(`-X ${method} '${url}'`), `curl lacks "-X ${method} '${url}'":\n${text}`);
  if (auth) assert.ok(text.includes('-H "Authorization: Bearer $OPERATOR_API_KEY"'), `curl lacks the key variable:\n${text}`);
  for (const hd of headers) assert.ok(text.includes(`-H '${hd}'`), `curl lacks -H '${hd}':\n${text}`);
  assert.ok(!text.includes(KEY), `curl holds the real key:\n${text}`);
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(SHOTS, name) });
}

// ---------------------------------------------------------------- steps

const steps = new Steps(SHOTS, summary);
const step = (name, needs, fn, page) => steps.run(name, needs, fn, page);
const until = (what, check, timeout = SHORT) => waitUntil(what, check, timeout);


async function main() {
  fs.mkdirSync(SHOTS, { recursive: true });
  const spec = await (await fetch(`${BASE}/api/openapi.json`, { signal: AbortSignal.timeout(SHORT) })).json();
  const browser = await launch();
  const page = await browser.newPage();
  await page.setViewport({ width: 1360, height: 900 });
  await guard(page);
  let instance = null;
  let streamChatId = null;
  try {
    await step('csp', [], async () => {
      const html = await (await fetch(`${BASE}/docs`)).text();
      const assets = [...html.matchAll(/(?:src|href)="(\/docs\/[^"]+)"/g)].map((m) => m[1]);
      assert.ok(assets.some((a) => a.endsWith('.js')), `/docs loads no script of its own: ${html}`);
      for (const p of ['/docs', ...assets, '/docs/spec.js', '/docs/http.js', '/docs/dom.js']) {
        const r = await fetch(BASE + p, { signal: AbortSignal.timeout(SHORT) });
        assert.equal(r.status, 200, `GET ${p}`);
        const csp = r.headers.get('content-security-policy');
        assert.ok(csp, `GET ${p} has no Content-Security-Policy`);
        const src = scriptSrc(csp);
        assert.ok(src && src.includes("'self'"), `GET ${p}: script-src lacks 'self': ${csp}`);
        for (const bad of ["'unsafe-inline'", "'unsafe-eval'", '*', 'http:', 'https:']) {
          assert.ok(!src.includes(bad), `GET ${p}: script-src allows ${bad}: ${csp}`);
        }
        assert.ok(/connect-src 'self'/.test(csp), `GET ${p}: connect-src is not 'self': ${csp}`);
        assert.equal(r.headers.get('x-content-type-options'), 'nosniff', `GET ${p}`);
        const body = await r.text();
        assert.ok(!/https?:\/\/(?!127\.0\.0\.1|localhost)/.test(body.replace(/https?:\/\/(spec\.openapis\.org|json-schema\.org)\S*/g, '')), `GET ${p} names another origin`);
        if (p.endsWith('.js')) {
          assert.ok(!/\.innerHTML\b|outerHTML\s*=|insertAdjacentHTML|document\.write|\beval\(|new Function\(/.test(body), `GET ${p} parses HTML or code from strings`);
        }
      }
      assert.ok(!/<script(?![^>]*\bsrc=)[^>]*>/i.test(html), 'docs.html has an inline script');
      assert.ok(!/\sstyle=|<style/i.test(html), 'docs.html has inline style');
      assert.ok(!/\son[a-z]+=/i.test(html), 'docs.html has an inline event handler');
    }, null);

    await step('modules', [], async () => {
      // the page's pure modules as the server serves them: SSE parsing, curl, examples
      const load = async (name) => import(`data:text/javascript;base64,${Buffer.from(await (await fetch(`${BASE}/docs/${name}`)).text()).toString('base64')}`);
      const { SseParser, curl, shellQuote, buildRequest } = await load('http.js');
      const { exampleOf, bodyExamples } = await load('spec.js');
      const got = [];
      const parser = new SseParser((e) => got.push(e));
      // split mid-line and mid-CRLF, a comment, multi-line data, an event name, no trailing blank line
      for (const chunk of ['id: 1\r', '\ndata: {"a"', ':1}\r\n\r\n: keep-alive\n\nid: 2\nevent: note\ndata: one\ndata: two\n\n', 'data: [DONE]']) parser.push(chunk);
      parser.end();
      assert.deepEqual(got, [
        { id: '1', event: 'message', data: '{"a":1}' },
        { id: '2', event: 'note', data: 'one\ntwo' },
        { id: null, event: 'message', data: '[DONE]' },
      ]);
      assert.equal(shellQuote("it's"), `'it'\\''s'`);
      const secret = 'ck_live_0123456789abcdefghij';
      const req = buildRequest({
        method: 'put', path: '/api/instances/{id}/files',
        params: [{ name: 'id', in: 'path', value: 'a b' }, { name: 'path', in: 'query', value: 'x/y z.txt' }, { name: 'X-Trace', in: 'header', value: 't1' }],
        body: "it's raw", contentType: 'text/plain', extraHeaders: [['X-Echo', secret]],
        auth: { header: 'Authorization', prefix: 'Bearer ', variable: 'OPERATOR_API_KEY', value: 'CRED' },
      });
      assert.equal(req.url, '/api/instances/a%20b/files?path=x%2Fy+z.txt');
      assert.deepEqual(req.headers.map(([k]) => k), ['X-Trace', 'Authorization', 'Content-Type', 'X-Echo']);
      const c = curl(req, { origin: 'http://h', auth: { header: 'Authorization', prefix: 'Bearer ', variable: 'OPERATOR_API_KEY', value: 'CRED' }, secrets: [{ value: secret, variable: 'OPERATOR_API_KEY' }] });
      assert.ok(c.includes('-H "Authorization: Bearer $OPERATOR_API_KEY"') && !c.includes('CRED') && !c.includes(secret), c);
      assert.ok(c.includes(`--data-binary 'it'\\''s raw'`), c);
      assert.deepEqual(buildRequest({ method: 'get', path: '/a/{id}', params: [{ name: 'id', in: 'path', value: '' }], body: null }).missing, ['id']);
      // examples: only what the spec gives; a required value it does not give means no example
      const sp = { components: { schemas: { N: { type: 'string', example: 'n-1' } } } };
      assert.deepEqual(exampleOf(sp, { type: 'object', required: ['name'], properties: { name: { $ref: '#/components/schemas/N' }, note: { type: 'string', example: 'x' } } }), { value: { name: 'n-1' } });
      assert.equal(exampleOf(sp, { type: 'object', required: ['value'], properties: { value: { type: 'string' } } }), null);
      assert.equal(exampleOf(sp, { type: 'array', items: { type: 'object' } }), null);
      assert.deepEqual(bodyExamples(sp, 'application/json', { examples: { first: { value: { a: 1 } } }, schema: { type: 'string' } }), [{ name: 'first', value: { a: 1 } }]);
    }, null);

    await step('load', [], async () => {
      await page.goto(`${BASE}/docs`, { waitUntil: 'domcontentloaded' });
      await page.waitForSelector('body[data-ready="true"]');
      const methods = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'];
      const expected = Object.values(spec.paths).reduce((n, item) => n + methods.filter((m) => item[m]).length, 0);
      const shown = await page.$$eval('details.op', (l) => l.length);
      assert.equal(shown, expected, 'every operation of the spec is on the page');
      const links = await page.$$eval('#toc a', (l) => l.length);
      assert.equal(links, expected, 'every operation is in the navigation');
      const h1 = await page.$eval('h1', (e) => e.textContent);
      assert.equal(h1, spec.info.title);
      // the filter narrows the list
      await (await page.$('#filter')).type('files');
      await until('the filter to apply', async () => (await page.$$eval('details.op:not([hidden])', (l) => l.length)) < expected);
      const left = await page.$$eval('details.op:not([hidden])', (l) => l.map((d) => d.dataset.op));
      assert.ok(left.length > 0 && left.every((s) => s.includes('files')), `filter "files" left ${left}`);
      await fill(page, page, 'Filter operations', '');
      await until('the filter to clear', async () => (await page.$$eval('details.op:not([hidden])', (l) => l.length)) === expected);
    }, page);

    await step('key', ['load'], async () => {
      const keyField = await page.$('#key');
      assert.equal(await keyField.evaluate((e) => e.type), 'password', 'the key field masks the key');
      await keyField.type(KEY);
      const stored = await page.evaluate(() => ({ local: localStorage.length, session: sessionStorage.getItem('operator.key'), cookie: document.cookie }));
      assert.equal(stored.local, 0, 'localStorage is used');
      assert.equal(stored.cookie, '', 'a cookie is set');
      assert.ok(stored.session === null || stored.session === KEY, 'sessionStorage holds something other than the key');
      assert.ok(!page.url().includes(KEY), 'the key is in the page URL');
    }, page);

    await step('json-request', ['key'], async () => {
      const d = await openOp(page, 'POST /api/instances');
      const prefilled = await (await field(d, 'Request body')).evaluate((e) => e.value);
      assert.ok(prefilled.trim(), 'the create-instance body is not pre-filled from the spec\'s example');
      const body = JSON.parse(prefilled);
      assert.equal(typeof body.name, 'string', `pre-filled body: ${prefilled}`);
      assertCurl(await curlOf(d), {
        method: 'POST', url: `${BASE}/api/instances`, headers: ['Content-Type: application/json'],
      });
      assert.ok((await curlOf(d)).includes('--data-binary'), 'curl sends no body');
      // the example, sent as is, is accepted
      const from = await send(d);
      const a = await answer(d);
      assert.equal(a.status, 201, `${a.statusLine}\n${a.body}`);
      assert.match(a.statusLine, /^201 /);
      const created = JSON.parse(a.body);
      assert.equal(created.instance.name, body.name, a.body);
      assert.match(created.instance.id, /^inst_/);
      instance = created.instance;
      summary.instanceName = instance.name;
      const req = requestSince(from, 'POST', '/api/instances');
      assert.equal(req.headers.authorization, `Bearer ${KEY}`, 'the key goes as a bearer header');
      assert.match(req.headers['content-type'] || '', /^application\/json/);
      assert.equal(req.body, prefilled, 'the body goes as typed');
      await shot(page, 'docs.png');
    }, page);

    await step('instance-active', ['json-request'], async () => {
      await until(`instance ${instance.name} active`, async () => {
        const r = await api('GET', `/api/instances/${instance.id}`);
        return r.status === 200 && r.body.instance.status === 'active';
      }, PROVISION);
    }, page);

    await step('raw-body', ['instance-active'], async () => {
      const put = await openOp(page, 'PUT /api/instances/{id}/files');
      await fill(page, put, 'id (path)', instance.name);
      await fill(page, put, 'path (query)', FILE_PATH);
      const types = await (await field(put, 'Content type')).evaluate((e) => [...e.options].map((o) => o.value));
      const ct = types.find((t) => /^text\/plain|octet-stream/.test(t));
      assert.ok(ct, `PUT files offers no raw content type: ${types}`);
      await (await field(put, 'Content type')).select(ct);
      await fill(page, put, 'Request body', FILE_CONTENT);
      const encodedPath = new URLSearchParams({ path: FILE_PATH }).toString();
      const putUrl = `${BASE}/api/instances/${instance.name}/files?${encodedPath}`;
      const c = await curlOf(put);
      assertCurl(c, { method: 'PUT', url: putUrl, headers: [`Content-Type: ${ct}`] });
      assert.ok(c.includes('--data-binary'), c);
      let from = await send(put);
      let a = await answer(put);
      assert.equal(a.status, 200, `${a.statusLine}\n${a.body}`);
      let req = requestSince(from, 'PUT', `/api/instances/${instance.name}/files`);
      assert.equal(req.url, putUrl);
      assert.equal(req.body, FILE_CONTENT, 'the raw body goes byte for byte');
      assert.equal(req.headers['content-type'], ct);
      const written = JSON.parse(a.body);
      assert.equal(written.size ?? written.file?.size, Buffer.byteLength(FILE_CONTENT), a.body);

      // read it back through the page
      const get = await openOp(page, 'GET /api/instances/{id}/files');
      await fill(page, get, 'id (path)', instance.name);
      await fill(page, get, 'path (query)', FILE_PATH);
      from = await send(get);
      a = await answer(get);
      assert.equal(a.status, 200, `${a.statusLine}\n${a.body}`);
      req = requestSince(from, 'GET', `/api/instances/${instance.name}/files`);
      assert.equal(req.url, putUrl);
      const file = JSON.parse(a.body);
      const content = file.encoding === 'base64' ? Buffer.from(file.content, 'base64').toString('utf8') : file.content;
      assert.equal(content, FILE_CONTENT, 'the file read back through the page is what was sent');
      summary.filePath = FILE_PATH;
      summary.fileContent = FILE_CONTENT;
    }, page);

    await step('examples-accepted', ['instance-active'], async () => {
      // Every body the page pre-fills from the spec's examples, sent unchanged on this fresh
      // account, is accepted. (POST /api/cli/approve is left out: its example session cannot
      // exist; the chat and raw bodies are covered by their own steps.)
      const ids = {};
      const plan = [
        ['POST /api/secrets', {}, 'secret'],
        ['POST /api/automations', {}, 'automation'],
        ['POST /api/webhooks', {}, 'webhook'],
        ['POST /api/chat-keys', {}, 'key'],
        ['PUT /api/secrets/{id}', { id: () => ids.secret }],
        ['PUT /api/automations/{id}', { id: () => ids.automation }],
        ['PUT /api/webhooks/{id}', { id: () => ids.webhook }],
        ['PUT /api/instances/{id}', { id: () => instance.name }],
        ['POST /api/instances/{id}/clone', { id: () => instance.name }, 'clone'],
      ];
      const sent = [];
      for (const [sig, params, keep] of plan) {
        if (!(await page.$(`details.op[data-op="${sig}"]`))) continue;
        const d = await openOp(page, sig);
        const body = await (await field(d, 'Request body')).evaluate((e) => e.value);
        if (!body.trim()) continue;
        for (const [name, value] of Object.entries(params)) {
          const v = value();
          assert.ok(v, `${sig}: no ${name} to fill in (an earlier create failed?)`);
          await fill(page, d, `${name} (path)`, v);
        }
        const from = await send(d);
        const a = await answer(d);
        assert.ok(a.status >= 200 && a.status < 300, `${sig} with its pre-filled body ${body} → ${a.statusLine}\n${a.body}`);
        const [, method, p] = sig.match(/^(\S+) (.*)$/);
        const pathRe = new RegExp(`^${p.replace(/\{[^}]+\}/g, '[^/]+')}$`);
        const req = apiRequests.slice(from).find((r) => r.method === method && pathRe.test(new URL(r.url).pathname));
        assert.ok(req, `${sig}: no request seen`);
        assert.equal(req.body, body, `${sig}: the body sent is not the one shown`);
        if (keep) {
          const v = JSON.parse(a.body);
          const obj = typeof v.id === 'string' ? v : Object.values(v).find((x) => x && typeof x === 'object' && typeof x.id === 'string');
          assert.ok(obj, `${sig}: no object with an id in ${a.body}`);
          ids[keep] = obj.id;
        }
        sent.push(sig);
      }
      assert.ok(sent.length >= 3, `only ${sent.length} operations had a pre-filled example: ${sent}`);
      summary.examplesSent = sent;
      summary.exampleIds = ids;
    }, page);

    const chatBody = (text) => JSON.stringify({ messages: [{ role: 'user', parts: [{ type: 'text', text }] }] }, null, 2);

    await step('header-param', ['key'], async () => {
      const d = await openOp(page, 'POST /api/chat');
      await fill(page, d, 'x-response-format (header)', 'json');
      await fill(page, d, 'Request body', chatBody('Say hello to the docs page.'));
      assertCurl(await curlOf(d), {
        method: 'POST', url: `${BASE}/api/chat`, headers: ['x-response-format: json', 'Content-Type: application/json'],
      });
      const from = await send(d);
      const a = await answer(d, TURN);
      assert.equal(a.status, 200, `${a.statusLine}\n${a.body}`);
      const v = JSON.parse(a.body);
      assert.match(v.chatId, /^chat_/, a.body);
      assert.equal(v.text, JSON_REPLY, a.body);
      const req = requestSince(from, 'POST', '/api/chat');
      assert.equal(req.url, `${BASE}/api/chat`, 'a header parameter went into the URL');
      assert.equal(req.headers['x-response-format'], 'json', 'x-response-format is not sent as a header');
      summary.jsonChatId = v.chatId;
    }, page);

    await step('stream', ['header-param'], async () => {
      const d = await openOp(page, 'POST /api/chat');
      await fill(page, d, 'x-response-format (header)', '');
      await fill(page, d, 'Request body', chatBody('Tell me slowly about the docs page.'));
      const c = await curlOf(d);
      assert.ok(!c.includes('x-response-format'), `curl still sends x-response-format:\n${c}`);
      assert.ok(c.startsWith('curl -N '), `curl of a streaming operation lacks -N:\n${c}`);
      const from = await send(d);
      // an early event shows while the turn is still running
      const early = await until('a text-delta event on the page', () => d.$('li.event[data-type="text-delta"]'), TURN);
      const firstSeen = Date.now();
      const during = await d.evaluate((e) => ({
        stream: e.querySelector('.status')?.dataset.stream,
        status: e.querySelector('.status')?.textContent,
        finished: !!e.querySelector('li.event[data-type="finish"]'),
        done: e.querySelector('section.response')?.dataset.done === 'true',
        text: e.querySelector('pre.stream-text')?.textContent ?? '',
      }));
      assert.equal(during.stream, 'open', `the stream is not open when its first text shows: ${JSON.stringify(during)}`);
      assert.ok(!during.finished && !during.done, `the first text showed only after the end: ${JSON.stringify(during)}`);
      assert.match(during.status, /^200 .*streaming/, during.status);
      assert.ok(during.text.length > 0 && during.text.length < SLOW_REPLY.length, `text so far: ${JSON.stringify(during.text)}`);
      assert.ok(await early.evaluate((e) => e.querySelector('.ev-type')?.textContent === 'text-delta'));
      const a = await answer(d, TURN);
      const ended = Date.now();
      assert.equal(a.status, 200, a.statusLine);
      assert.match(a.statusLine, /stream ended/);
      assert.ok(ended - firstSeen >= 1000, `the stream ended ${ended - firstSeen} ms after its first text showed: it was not live`);
      const after = await d.evaluate((e) => ({
        text: e.querySelector('pre.stream-text')?.textContent ?? '',
        types: [...e.querySelectorAll('li.event')].map((li) => li.dataset.type),
        ids: [...e.querySelectorAll('li.event')].map((li) => li.dataset.id),
        start: [...e.querySelectorAll('li.event[data-type="start"] .ev-data')].map((c) => c.textContent)[0] ?? null,
      }));
      assert.equal(after.text.trim(), SLOW_REPLY, 'the streamed text assembled on the page');
      for (const t of ['start', 'text-start', 'text-delta', 'text-end', 'finish', '[DONE]']) {
        assert.ok(after.types.includes(t), `no ${t} event: ${after.types}`);
      }
      assert.ok(after.types.filter((t) => t === 'text-delta').length >= 3, `the text came in one piece: ${after.types}`);
      streamChatId = JSON.parse(after.start).messageMetadata.chatId;
      assert.match(streamChatId, /^chat_/);
      const req = requestSince(from, 'POST', '/api/chat');
      assert.equal(req.headers['x-response-format'], undefined, 'an emptied header parameter is still sent');
      summary.streamChatId = streamChatId;
      summary.streamedText = after.text.trim();
      summary.streamEventIds = after.ids;
      // the whole operation: its form, curl, the assembled text and every event
      await d.screenshot({ path: path.join(SHOTS, 'docs-chat.png') });
    }, page);

    await step('last-event-id', ['stream'], async () => {
      const d = await openOp(page, 'GET /api/chat/{id}/stream');
      await fill(page, d, 'id (path)', streamChatId);
      await fill(page, d, 'Last-Event-ID (header)', '3');
      assertCurl(await curlOf(d), {
        method: 'GET', url: `${BASE}/api/chat/${streamChatId}/stream`, headers: ['Last-Event-ID: 3'],
      });
      const from = await send(d);
      const a = await answer(d, TURN);
      assert.equal(a.status, 200, a.statusLine);
      const ids = await d.$$eval('li.event', (l) => l.map((li) => li.dataset.id).filter(Boolean).map(Number));
      assert.ok(ids.length > 0, 'no events replayed');
      assert.ok(ids[0] > 3, `Last-Event-ID 3 was not honoured: first id ${ids[0]}`);
      const req = requestSince(from, 'GET', `/api/chat/${streamChatId}/stream`);
      assert.equal(req.url, `${BASE}/api/chat/${streamChatId}/stream`, 'a header parameter went into the URL');
      assert.equal(req.headers['last-event-id'], '3', 'Last-Event-ID is not sent as a header');
    }, page);

    await step('extra-header', ['key'], async () => {
      // a header the operation does not list (Idempotency-Key) goes as a header too: the
      // second send with the same key replays the first answer
      const d = await openOp(page, 'POST /api/chat-keys');
      await fill(page, d, 'Request body', JSON.stringify({ name: 'docs-idempotent' }));
      await (await d.$('details.extra > summary')).click();
      const idem = `docs-${MARKER}`;
      await fill(page, d, 'Extra headers', `Idempotency-Key: ${idem}`);
      assert.ok((await curlOf(d)).includes(`-H 'Idempotency-Key: ${idem}'`), await curlOf(d));
      const ids = [];
      for (let i = 0; i < 2; i += 1) {
        const from = await send(d);
        const a = await answer(d);
        assert.equal(a.status, 201, `${a.statusLine}\n${a.body}`);
        ids.push(JSON.parse(a.body).id);
        const req = requestSince(from, 'POST', '/api/chat-keys');
        assert.equal(req.headers['idempotency-key'], idem, 'Idempotency-Key is not sent as a header');
      }
      assert.equal(ids[0], ids[1], 'the same Idempotency-Key created two keys');
      summary.idempotentKeyId = ids[0];
    }, page);

    await step('anonymous-operation', ['key'], async () => {
      const d = await openOp(page, 'GET /api/health');
      assert.ok(!(await curlOf(d)).includes('Authorization'), `the curl of a public route sends a key: ${await curlOf(d)}`);
      const from = await send(d);
      const a = await answer(d);
      assert.equal(a.status, 200, a.statusLine);
      assert.equal(JSON.parse(a.body).ok, true, a.body);
      const req = requestSince(from, 'GET', '/api/health');
      assert.equal(req.headers.authorization, undefined, 'the key went to a public route');
    }, page);

    await step('not-found', ['key'], async () => {
      const d = await openOp(page, 'GET /api/instances/{id}');
      await fill(page, d, 'id (path)', 'no-such-instance');
      await send(d);
      const a = await answer(d);
      assert.equal(a.status, 404, a.statusLine);
      const direct = await api('GET', '/api/instances/no-such-instance');
      assert.equal(direct.status, 404);
      const { code, message } = direct.body.error;
      assert.ok(a.error && a.error.includes(code) && a.error.includes(message), `the page shows ${JSON.stringify(a.error)}, the API says ${code}: ${message}`);
      assert.deepEqual(JSON.parse(a.body), direct.body, 'the error body is shown as the API sent it');
    }, page);

    await step('missing-path-param', ['load'], async () => {
      const d = await openOp(page, 'DELETE /api/instances/{id}');
      await fill(page, d, 'id (path)', '');
      const from = apiRequests.length;
      await (await d.$('button.send')).click();
      await until('a hint about the missing id', () => d.$eval('.problem', (e) => e.textContent.includes('id')));
      assert.equal(apiRequests.length, from, 'a request went out without its path parameter');
    }, page);

    await step('key-stays-in-the-page', ['key'], async () => {
      const state = await page.evaluate(() => ({
        local: localStorage.length,
        text: document.body.innerText,
        curls: [...document.querySelectorAll('pre.curl')].map((p) => p.textContent),
      }));
      assert.equal(state.local, 0, 'localStorage is used');
      assert.ok(!state.text.includes(KEY), 'the key is shown in the page');
      assert.ok(state.curls.length >= 5, `only ${state.curls.length} curl snippets built`);
      for (const c of state.curls) assert.ok(!c.includes(KEY), `a curl snippet holds the key: ${c}`);
      // the page's API requests carried the key only in the Authorization header
      for (const r of apiRequests) {
        assert.ok(!r.url.includes(KEY), `key in URL ${r.url}`);
        for (const [k, v] of Object.entries(r.headers)) {
          if (k !== 'authorization') assert.ok(!String(v).includes(KEY), `key in header ${k} of ${r.url}`);
        }
      }
      // Forget key empties the field and the tab's storage
      await (await page.$('#forget')).click();
      const after = await page.evaluate(() => ({ v: document.getElementById('key').value, s: sessionStorage.getItem('operator.key') }));
      assert.deepEqual(after, { v: '', s: null });
    }, page);

    await step('guards', [], async () => {
      guards.assertClean();
    }, null);
  } finally {
    await browser.close().catch(() => {});
  }

  return finish('docs suite', steps, guards, summary, SHOTS);
}

runMain(main);
