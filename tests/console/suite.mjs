// The web console's browser suite: Debian's chromium driven by puppeteer-core against the real
// `operator` server (embedded) whose Operator agent talks to the scripted fake LLM.
//
// tests/e2e/console.rs starts both and runs this file with OPERATOR_URL, OPERATOR_KEY and
// SCREENSHOT_DIR; the fake LLM's script there must match the model calls below, in order:
//   1. chat "Create an instance called weather-desk." → create_instance, then
//      "Created weather-desk. …" (streamed slowly: the turn's progress status is seen, and a
//      reload in the middle of it re-attaches to the running turn);
//   2. chat "Read notes.md of weather-desk." → read_file (notes.md holds injected HTML), then a
//      reply holding markdown and injected HTML;
//   3. a message to docs-desk's own agent (step "activity") → "Hello from docs-desk.".
// Selectors are accessible names (puppeteer's `::-p-aria`) as the pages in
// crates/core/src/http/console/assets/ give them.
//
// Every request that leaves the server's origin is aborted and fails the suite; so do an API
// key in a request URL, an uncaught page error and any browser console error other than the
// failed loads of 4xx answers the suite provokes. Steps run in order, each named; a step whose
// prerequisite failed is skipped. One line per step; on a failure, a screenshot
// `failure-<step>.png` and the page's visible text. The last stdout line is `SUMMARY {json}`
// for the Rust side.

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { required, until as waitUntil, scriptSrc, Steps, Guard, finish, runMain, launch } from './lib.mjs';
import { pageKit } from './pages.mjs';

const BASE = required('OPERATOR_URL').replace(/\/$/, '');
const KEY = required('OPERATOR_KEY');
const SHOTS = required('SCREENSHOT_DIR');
const ORIGIN = new URL(BASE).origin;

const SHORT = 15_000; // a page reacting to a click or an API answer
const TURN = 45_000; // a chat turn through the agent and the fake LLM
const PROVISION = 60_000; // an instance from provisioning to active

const INJECTED_FILE = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">';
const UPLOAD_MARKER = `uploaded-through-the-console-${randomUUID()}`;
const SECRET_VALUE = 's3cr3t-value-123';


// ---------------------------------------------------------------- guards and bookkeeping

const requestsToX = []; // same-origin loads of the injected `<img src=x>`
const guards = new Guard(ORIGIN, KEY, SHORT);
const summary = { steps: {} };

/** Aborts and records every request of `page` that is not to the server's origin. */
async function guard(page, label) {
  await guards.attach(page, label, (req, url) => {
    if (/\/x(\?|$)/.test(new URL(url).pathname)) requestsToX.push(url);
  });
}

// ---------------------------------------------------------------- helpers

const { aria, visible, innerText, withText, fill, click, go, h1Is, shot, bodyText, api } =
  pageKit({ base: BASE, key: KEY, shots: SHOTS, short: SHORT });

async function instanceActive(name, timeout = PROVISION) {
  return until(`instance ${name} active (REST)`, async () => {
    const r = await api('GET', `/api/instances/${name}`);
    return r.status === 200 && r.body.instance.status === 'active' ? r.body.instance : null;
  }, timeout);
}

/** The `pre` inside a tool card that is labelled `label` ("Input"/"Output"); opens the card. */
async function toolPre(page, details, label) {
  const open = await details.evaluate((d) => d.open);
  if (!open) await (await details.$('summary')).click();
  await until('the tool card to open', () => details.evaluate((d) => d.open));
  const h = await until(`a ${label} block in the tool card`, async () => details.$(aria(undefined, label)));
  const isPre = await h.evaluate((e) => e.tagName === 'PRE');
  if (isPre) return h;
  const inner = await h.$('pre');
  assert.ok(inner, `the element named "${label}" in the tool card is not a pre and holds none`);
  return inner;
}

/** The tool card whose summary names `tool` once it says "done". */
async function doneTool(page, tool, timeout = TURN) {
  return until(`details.tool for ${tool} with status "done"`, async () => {
    for (const d of await page.$$('details.tool')) {
      const s = await d.$eval('summary', (e) => e.textContent ?? '');
      if (s.includes(tool) && s.includes('done')) return d;
    }
    return null;
  }, timeout);
}

/** The reply's injected tags are shown as text, exactly as written (`__` inside
 * `window.__pwned` is no emphasis: CommonMark opens none intraword after punctuation here). */
function assertLiteralTags(text) {
  assert.ok(text.includes('<script>window.__pwned=3</script>'), `the reply's script tag is not literal text: ${text}`);
  assert.ok(text.includes('<img src=x onerror="window.__pwned=4">'), `the reply's img tag is not literal text: ${text}`);
}

/** The page holds nothing executable or loading from injected content. */
async function assertInert(page) {
  const state = await page.evaluate(() => ({
    pwned: typeof window.__pwned === 'undefined' ? null : String(window.__pwned),
    bodyScripts: document.body.querySelectorAll('script').length,
    foreignScripts: [...document.querySelectorAll('script')]
      .filter((s) => !(s.getAttribute('src') || '').startsWith('/console/'))
      .map((s) => s.outerHTML.slice(0, 200)),
    handlers: [...document.querySelectorAll('*')]
      .filter((e) => [...e.attributes].some((a) => a.name.toLowerCase().startsWith('on')))
      .map((e) => e.outerHTML.slice(0, 200)),
    scriptLinks: [...document.querySelectorAll('a[href]')]
      .filter((a) => /^\s*(javascript|data|vbscript):/i.test(a.getAttribute('href')))
      .map((a) => a.outerHTML.slice(0, 200)),
    imgsToX: [...document.querySelectorAll('img')]
      .filter((i) => /\/x$/.test(new URL(i.getAttribute('src') || '', location.href).pathname))
      .map((i) => i.outerHTML.slice(0, 200)),
  }));
  assert.equal(state.pwned, null, 'window.__pwned was set: injected code ran');
  assert.equal(state.bodyScripts, 0, 'a script element is inside the page body');
  assert.deepEqual(state.foreignScripts, [], 'script elements other than the console\'s own');
  assert.deepEqual(state.handlers, [], 'elements with inline event-handler attributes');
  assert.deepEqual(state.scriptLinks, [], 'links with a script URL');
  assert.deepEqual(state.imgsToX, [], 'an img element was built from injected HTML');
  assert.deepEqual(requestsToX, [], 'the injected <img src=x> was requested');
}

// ---------------------------------------------------------------- steps

const steps = new Steps(SHOTS, summary);
const step = (name, needs, fn, page) => steps.run(name, needs, fn, page);
const until = (what, check, timeout = SHORT) => waitUntil(what, check, timeout);


async function main() {
  fs.mkdirSync(SHOTS, { recursive: true });
  const browser = await launch();
  let page = null;
  const current = () => page;
  try {
    page = await browser.newPage();
    await page.setViewport({ width: 1360, height: 900 });
    await guard(page, 'main');

    let chatUrl = null;
    let ciKey = null; // the key created on /keys, revoked on /keys later

    await step('csp', [], async () => {
      const pages = ['/', '/chat', '/instances', '/experiments', '/secrets', '/automations', '/webhooks', '/keys', '/billing', '/auth/cli?session=x'];
      for (const p of [...pages, '/console/app.js', '/console/app.css']) {
        const r = await fetch(BASE + p, { signal: AbortSignal.timeout(SHORT) });
        assert.equal(r.status, 200, `GET ${p}`);
        const csp = r.headers.get('content-security-policy');
        assert.ok(csp, `GET ${p} has no Content-Security-Policy`);
        const src = scriptSrc(csp);
        assert.ok(src, `GET ${p}: CSP has neither script-src nor default-src: ${csp}`);
        assert.ok(src.includes("'self'"), `GET ${p}: script-src lacks 'self': ${csp}`);
        assert.ok(!src.includes("'unsafe-inline'"), `GET ${p}: script-src allows 'unsafe-inline': ${csp}`);
        assert.ok(!src.includes("'unsafe-eval'"), `GET ${p}: script-src allows 'unsafe-eval': ${csp}`);
        assert.ok(!src.includes('*'), `GET ${p}: script-src allows a wildcard: ${csp}`);
      }
      const index = await (await fetch(BASE + '/', { signal: AbortSignal.timeout(SHORT) })).text();
      assert.ok(!/<script(?![^>]*\bsrc=)[^>]*>/i.test(index), 'index.html has an inline script');
    }, current);

    await step('sign-in', [], async () => {
      await go(page, '/');
      await visible(page, aria('textbox', 'API key'));
      const type = await page.$eval('input[type=password]', (e) => e.type).catch(() => null);
      assert.equal(type, 'password', 'the "API key" field is not type=password');
      await shot(page, 'signin.png');
      // a wrong key: the API's own message in an alert
      const wrong = 'ck_live_wrongwrongwrongwrongwrongwrong';
      const expected = (await api('GET', '/api/cli/health', { key: wrong })).body.error.message;
      await fill(page, aria('textbox', 'API key'), wrong);
      await click(page, 'button', 'Sign in');
      await withText(page, aria('alert'), expected);
      assert.equal(await page.evaluate(() => sessionStorage.getItem('operator.key')), null, 'a wrong key was kept');
      // the right key
      await fill(page, aria('textbox', 'API key'), KEY);
      await page.keyboard.press('Enter');
      const nav = await visible(page, aria('navigation', 'Main'));
      for (const name of ['Chat', 'Instances', 'Experiments', 'Secrets', 'Automations', 'Webhooks', 'Keys', 'Billing']) {
        assert.ok(await nav.$(aria('link', name)), `nav "Main" has no link "${name}"`);
      }
      await visible(page, aria('button', 'Sign out'));
      assert.equal(await page.evaluate(() => sessionStorage.getItem('operator.key')), KEY);
      assert.ok(!page.url().includes(KEY), 'the key is in the URL');
    }, current);

    await step('chat', ['sign-in'], async () => {
      await go(page, '/chat');
      await h1Is(page, 'Chat');
      // "New chat" navigates to /chat: a link is as good as a button for it
      await until('a button or link "New chat"', async () =>
        (await page.$(aria('button', 'New chat'))) || (await page.$(aria('link', 'New chat'))));
      await visible(page, aria('button', 'Send'));
      const box = await visible(page, aria('textbox', 'Message'));
      assert.equal(await box.evaluate((e) => e.tagName), 'TEXTAREA', '"Message" is not a textarea');
      await box.type('Create an instance called weather-desk.');
      await page.keyboard.press('Enter');
      await withText(page, 'article.msg.user', 'Create an instance called weather-desk.', TURN);
      // a running turn shows its progress (the fake model streams this answer slowly)
      await withText(page, aria('status'), 'Working', TURN);
      await doneTool(page, 'create_instance');
      await until('the URL /chat/chat_…', async () => /\/chat\/chat_[A-Za-z0-9_-]+$/.test(new URL(page.url()).pathname));
      // reload while the answer is still streaming: the page re-attaches to the running turn
      // (replayed from its start, then live) and still shows its progress
      await page.reload({ waitUntil: 'domcontentloaded' });
      await withText(page, 'article.msg.user', 'Create an instance called weather-desk.');
      await withText(page, aria('status'), 'Working', SHORT);
      const card = await doneTool(page, 'create_instance');
      const input = await toolPre(page, card, 'Input');
      assert.ok((await innerText(input)).includes('weather-desk'), 'the tool card\'s Input lacks the name');
      const output = await toolPre(page, card, 'Output');
      assert.ok((await innerText(output)).includes('weather-desk'), 'the tool card\'s Output lacks the instance');
      await withText(page, 'article.msg.assistant', 'will be active in a moment.', TURN);
      await until('the "Working…" status to go away', async () => {
        for (const s of await page.$$(aria('status'))) {
          if ((await innerText(s)).includes('Working')) return false;
        }
        return true;
      }, TURN);
      await until('the URL /chat/chat_…', async () => /\/chat\/chat_[A-Za-z0-9_-]+$/.test(new URL(page.url()).pathname));
      chatUrl = new URL(page.url()).pathname;
      const history = await visible(page, aria('list', 'Chat history'), SHORT, 'list "Chat history"');
      await until('a link in "Chat history" to this chat', async () => {
        for (const a of await history.$$('a')) {
          if ((await a.evaluate((e) => e.getAttribute('href'))) === chatUrl) return true;
        }
        return false;
      });
      // reload: the conversation is re-attached from the server
      await page.reload({ waitUntil: 'domcontentloaded' });
      await withText(page, 'article.msg.user', 'Create an instance called weather-desk.');
      await withText(page, 'article.msg.assistant', 'Created weather-desk.');
      const again = await doneTool(page, 'create_instance', SHORT);
      assert.ok((await innerText(await toolPre(page, again, 'Output'))).includes('weather-desk'), 'Output after reload');
      await shot(page, 'chat.png');
      summary.chatPath = chatUrl;
    }, current);

    await step('prompt-injection', ['chat'], async () => {
      await instanceActive('weather-desk');
      const put = await api('PUT', '/api/instances/weather-desk/files?path=notes.md', {
        body: INJECTED_FILE, raw: true, headers: { 'content-type': 'text/plain' },
      });
      assert.ok(put.status === 200 || put.status === 201, `PUT notes.md: ${put.status} ${JSON.stringify(put.body)}`);
      await go(page, chatUrl);
      await withText(page, 'article.msg.assistant', 'Created weather-desk.');
      const box = await visible(page, aria('textbox', 'Message'));
      await box.type('Read notes.md of weather-desk.');
      await page.keyboard.press('Enter');
      const card = await doneTool(page, 'read_file');
      const out = await innerText(await toolPre(page, card, 'Output'));
      assert.ok(out.includes('<script>window.__pwned=1</script>'), `the tool output is not shown as text: ${out}`);
      assert.ok(out.includes('<img src=x onerror='), `the tool output's img is not shown as text: ${out}`);
      const reply = await withText(page, 'article.msg.assistant', 'Here is what the file says', TURN);
      const text = await innerText(reply);
      assertLiteralTags(text);
      assert.ok(text.includes('[click me](javascript:alert(1))'), `the javascript: link is not literal text: ${text}`);
      const bold = await reply.$$eval('strong', (s) => s.map((e) => e.textContent));
      assert.ok(bold.includes('bold'), `markdown **bold** is not a <strong>: ${JSON.stringify(bold)}`);
      await assertInert(page);
      // and the same after a reload (history is rendered by another path than the stream)
      await page.reload({ waitUntil: 'domcontentloaded' });
      const again = await withText(page, 'article.msg.assistant', 'Here is what the file says');
      assertLiteralTags(await innerText(again));
      await doneTool(page, 'read_file', SHORT);
      await assertInert(page);
      await shot(page, 'chat-injection.png');
    }, current);

    await step('instances', ['sign-in'], async () => {
      await click(page, 'link', 'Instances');
      await h1Is(page, 'Instances');
      assert.equal(new URL(page.url()).pathname, '/instances');
      await fill(page, aria('textbox', 'Name'), 'docs-desk');
      const kind = await visible(page, aria('combobox', 'Kind'), SHORT, 'select "Kind"');
      const values = await kind.$$eval('option', (os) => os.map((o) => o.value));
      assert.ok(values.includes('blank') && values.includes('prebuilt'), `Kind options: ${values}`);
      await kind.select('blank');
      await click(page, 'button', 'Create instance');
      const row = await until('a row for docs-desk', async () => {
        for (const r of await page.$$('tr[data-instance-id]')) {
          if (await r.$(aria('link', 'docs-desk'))) return r;
        }
        return null;
      });
      const id = await row.evaluate((r) => r.dataset.instanceId);
      assert.match(id, /^inst_/);
      // the badge follows the status without a reload
      await until('the docs-desk badge to read "active"', async () => {
        const r = await page.$(`tr[data-instance-id="${id}"] span.badge`);
        return r && (await innerText(r)).trim() === 'active';
      }, PROVISION);
      for (const b of ['Restart docs-desk', 'Clone docs-desk', 'Delete docs-desk']) {
        await visible(page, aria('button', b));
      }
      await until('a row for weather-desk', async () => page.$(aria('link', 'weather-desk')));
      await shot(page, 'instances.png');
      summary.docsDeskId = id;
    }, current);

    await step('instance-detail', ['instances'], async () => {
      await click(page, 'link', 'docs-desk');
      await h1Is(page, 'docs-desk');
      await until('the URL /instances/…', async () => /^\/instances\/[^/]+$/.test(new URL(page.url()).pathname));
      for (const t of ['Files', 'Activity', 'Terminal', 'Browser', 'Secrets']) {
        await visible(page, aria('tab', t), SHORT, `tab "${t}"`);
      }
      await click(page, 'tab', 'Files');
      const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'console-'));
      const file = path.join(tmp, 'hello.txt');
      fs.writeFileSync(file, `${UPLOAD_MARKER}\n`);
      const input = await until('a file input "Upload file"', async () => {
        const h = await page.evaluateHandle(() => [...document.querySelectorAll('input[type=file]')].find((i) => {
          const names = [i.getAttribute('aria-label'), i.title, ...[...(i.labels || [])].map((l) => l.textContent)];
          const by = i.getAttribute('aria-labelledby');
          if (by) names.push(...by.split(/\s+/).map((id) => document.getElementById(id)?.textContent));
          return names.some((n) => (n || '').trim() === 'Upload file');
        }) || null);
        return (await h.evaluate((e) => e !== null)) ? h.asElement() : null;
      });
      await input.uploadFile(file);
      const entry = await until('an entry hello.txt in the file list', async () =>
        (await page.$(aria('link', 'hello.txt'))) || (await page.$(aria('button', 'hello.txt'))));
      await entry.click();
      await withText(page, aria(undefined, 'File content'), UPLOAD_MARKER);
      fs.rmSync(tmp, { recursive: true, force: true });

      await click(page, 'tab', 'Activity');
      await visible(page, aria(undefined, 'Activity log'), SHORT, '"Activity log"');

      await click(page, 'tab', 'Terminal');
      await fill(page, aria('textbox', 'Command'), 'echo hi-from-terminal');
      await click(page, 'button', 'Run');
      await withText(page, aria(undefined, 'Terminal output'), 'hi-from-terminal', 30_000);
      await shot(page, 'instance.png');

      // the instance's own headless browser (server side) opens a page; the console shows
      // its title and a screenshot fetched with the key (a blob: image, no URL with a key)
      await click(page, 'tab', 'Browser');
      await fill(page, aria('textbox', 'URL'), `${BASE}/docs`);
      await click(page, 'button', 'Open');
      const img = await visible(page, 'img[alt="Browser screenshot"]', PROVISION, 'the browser screenshot');
      await until('the screenshot decoded', async () => img.evaluate((e) => e.complete && e.naturalWidth > 100));
      assert.ok((await img.evaluate((e) => e.src)).startsWith('blob:'), 'the screenshot is not a blob: image');
      await shot(page, 'instance-browser.png');
      summary.uploadMarker = UPLOAD_MARKER;
    }, current);

    // needs the chat turns done: the fake model's replies are consumed in order
    await step('activity', ['instance-detail', 'prompt-injection'], async () => {
      // the activity log follows new lines: a message to the instance's agent (its model call
      // goes through the gateway to the fake model) shows up without a reload
      await go(page, `/instances/${summary.docsDeskId}`);
      await h1Is(page, 'docs-desk');
      await click(page, 'tab', 'Activity');
      await visible(page, aria(undefined, 'Activity log'), SHORT, '"Activity log"');
      const said = await api('POST', '/api/instances/docs-desk/messages', { body: { text: 'Say hello.' } });
      assert.equal(said.status, 200, `message to docs-desk: ${JSON.stringify(said.body)}`);
      assert.equal(said.body.text, 'Hello from docs-desk.');
      await withText(page, aria(undefined, 'Activity log'), 'Hello from docs-desk.', 30_000);
      await shot(page, 'instance-activity.png');
      summary.instanceMessaged = true;
    }, current);

    await step('secrets', ['sign-in'], async () => {
      await click(page, 'link', 'Secrets');
      await h1Is(page, 'Secrets');
      await fill(page, aria('textbox', 'Name'), 'API_TOKEN');
      const value = await fill(page, aria('textbox', 'Value'), SECRET_VALUE);
      assert.equal(await value.evaluate((e) => e.type), 'password', '"Value" is not type=password');
      await fill(page, aria('textbox', 'Description'), 'token for the docs API');
      await visible(page, aria('checkbox', 'Global'));
      await click(page, 'button', 'Create secret');
      const region = await visible(page, aria('region', 'New secret value'), SHORT, 'region "New secret value"');
      await until('the value and "shown only once" in the region', async () => {
        const t = await region.evaluate((e) => e.innerText);
        return t.includes(SECRET_VALUE) && t.includes('shown only once');
      });
      await click(page, 'button', 'Done');
      await until('the region to go away', async () => (await page.$(aria('region', 'New secret value'))) === null);
      await withText(page, 'table', 'API_TOKEN');
      const noValue = async () => page.evaluate((v) => {
        const fields = [...document.querySelectorAll('input, textarea')].map((e) => e.value);
        return !document.body.innerText.includes(v) && !document.body.textContent.includes(v) && !fields.includes(v);
      }, SECRET_VALUE);
      assert.ok(await noValue(), 'the secret value is still in the page after "Done"');
      await page.reload({ waitUntil: 'domcontentloaded' });
      await h1Is(page, 'Secrets');
      await withText(page, 'table', 'API_TOKEN');
      assert.ok(await noValue(), 'the secret value is in the page after a reload');
      for (const b of ['Rotate API_TOKEN', 'Grant API_TOKEN', 'Delete API_TOKEN']) await visible(page, aria('button', b));
      await shot(page, 'secrets.png');
    }, current);

    await step('automations', ['sign-in'], async () => {
      await click(page, 'link', 'Automations');
      await h1Is(page, 'Automations');
      await fill(page, aria('textbox', 'Name'), 'weekday-report');
      await fill(page, aria('textbox', 'Prompt'), 'Summarise the weather desk.');
      // a text field with suggestions (datalist) is a combobox; a plain one a textbox
      const zone = (await page.$(aria('combobox', 'Timezone'))) ? aria('combobox', 'Timezone') : aria('textbox', 'Timezone');
      await fill(page, zone, 'America/New_York');
      await fill(page, aria('textbox', 'Cron expression'), '0 9 * * 1-5');
      const runs = await until('5 items in "Next runs"', async () => {
        const l = await page.$(aria('list', 'Next runs'));
        if (!l) return null;
        const items = await l.$$eval('li', (ls) => ls.map((e) => e.textContent.trim()));
        return items.length === 5 ? items : null;
      });
      for (const r of runs) assert.match(r, /\b0?9[:.h]00\b/, `a next run not at 9:00 in the zone: ${r}`);
      // an invalid expression: the API's reason, as an alert
      const bad = '61 * * * *';
      const q = new URLSearchParams({ cronExpression: bad, timezone: 'America/New_York', count: '5' });
      const reason = await api('GET', `/api/automations/next-runs?${q}`);
      assert.equal(reason.status, 400, JSON.stringify(reason.body));
      await fill(page, aria('textbox', 'Cron expression'), bad);
      await withText(page, aria('alert'), reason.body.error.message);
      await fill(page, aria('textbox', 'Cron expression'), '0 9 * * 1-5');
      await until('"Next runs" back with 5 items', async () => {
        const l = await page.$(aria('list', 'Next runs'));
        return l && (await l.$$('li')).length === 5;
      });
      await click(page, 'button', 'Create automation');
      await visible(page, aria('button', 'Run weekday-report now'));
      for (const b of ['Runs of weekday-report', 'Delete weekday-report']) await visible(page, aria('button', b));
      await visible(page, aria('checkbox', 'Enabled weekday-report'));
      await shot(page, 'automations.png');
    }, current);

    await step('webhooks', ['sign-in'], async () => {
      await click(page, 'link', 'Webhooks');
      await h1Is(page, 'Webhooks');
      await fill(page, aria('textbox', 'Name'), 'deploy-hook');
      await fill(page, aria('textbox', 'Prompt template'), 'A deploy happened: {{payload}}');
      await click(page, 'button', 'Create webhook');
      await visible(page, aria('button', 'Copy URL of deploy-hook'));
      await withText(page, 'body', '/api/webhooks/trigger/');
      for (const b of ['Rotate token of deploy-hook', 'Deliveries of deploy-hook', 'Delete deploy-hook']) {
        await visible(page, aria('button', b));
      }
      await visible(page, aria('checkbox', 'Enabled deploy-hook'));
      await shot(page, 'webhooks.png');
    }, current);

    await step('keys', ['sign-in'], async () => {
      await click(page, 'link', 'Keys');
      await h1Is(page, 'Keys');
      await fill(page, aria('textbox', 'Key name'), 'ci-key');
      await click(page, 'button', 'Create key');
      const region = await visible(page, aria('region', 'New API key'), SHORT, 'region "New API key"');
      const key = await until('a ck_live_ key in the region', async () =>
        (await region.evaluate((e) => e.innerText)).match(/ck_live_[A-Za-z0-9]+/)?.[0]);
      const health = await api('GET', '/api/cli/health', { key });
      assert.equal(health.status, 200, 'the key shown by the console does not work');
      ciKey = key;
      await withText(page, 'table', 'ci-key');
      await visible(page, aria('button', 'Revoke ci-key'));
      await shot(page, 'keys.png');
    }, current);

    await step('instance-actions', ['instances'], async () => {
      await go(page, '/instances');
      await h1Is(page, 'Instances');
      // clone: a dialog asks the new name
      await click(page, 'button', 'Clone docs-desk');
      await fill(page, aria('textbox', 'New name'), 'docs-desk-copy');
      await click(page, 'button', 'Clone');
      const copy = await until('docs-desk-copy over REST', async () => {
        const r = await api('GET', '/api/instances/docs-desk-copy');
        return r.status === 200 ? r.body.instance : null;
      });
      await until('the docs-desk-copy badge to read "active"', async () => {
        const b = await page.$(`tr[data-instance-id="${copy.id}"] span.badge`);
        return b && (await innerText(b)).trim() === 'active';
      }, PROVISION);
      // restart: the instance goes through restarting back to active
      const before = (await api('GET', '/api/instances/weather-desk')).body.instance;
      await click(page, 'button', 'Restart weather-desk');
      await until('weather-desk restarted (updatedAt moved, active again)', async () => {
        const i = (await api('GET', '/api/instances/weather-desk')).body.instance;
        return i.updatedAt !== before.updatedAt && i.status === 'active';
      }, PROVISION);
      await until('the weather-desk badge to read "active"', async () => {
        const b = await page.$(`tr[data-instance-id="${before.id}"] span.badge`);
        return b && (await innerText(b)).trim() === 'active';
      }, PROVISION);
      // delete: confirmed in a dialog; the instance becomes inactive
      await click(page, 'button', 'Delete docs-desk-copy');
      await click(page, 'button', 'Delete');
      await until('docs-desk-copy inactive over REST', async () => {
        const r = await api('GET', `/api/instances/${copy.id}`);
        return r.status === 404 || r.body.instance.status === 'inactive';
      });
      await until('the docs-desk-copy row to show inactive or go', async () => {
        const b = await page.$(`tr[data-instance-id="${copy.id}"] span.badge`);
        return !b || (await innerText(b)).trim() === 'inactive';
      });
      assert.equal(await page.$(aria('alert')), null, 'an alert after the instance actions');
    }, current);

    await step('secret-actions', ['secrets', 'instances'], async () => {
      await go(page, '/secrets');
      await h1Is(page, 'Secrets');
      const docs = (await api('GET', '/api/instances/docs-desk')).body.instance;
      const secretOf = async () => (await api('GET', '/api/secrets')).body.secrets.find((x) => x.name === 'API_TOKEN');
      // grant to docs-desk
      await click(page, 'button', 'Grant API_TOKEN');
      const choice = await visible(page, aria('combobox', 'Instance'), SHORT, 'select "Instance"');
      await choice.select(docs.id);
      await click(page, 'button', 'Grant');
      await visible(page, aria('button', 'Revoke API_TOKEN from docs-desk'));
      assert.deepEqual((await secretOf()).grants, [docs.id]);
      // rotate: the new value is sent, never shown
      const rotated = 'r0tated-value-456';
      const updated = (await secretOf()).updatedAt;
      await click(page, 'button', 'Rotate API_TOKEN');
      const nv = await fill(page, aria('textbox', 'New value'), rotated);
      assert.equal(await nv.evaluate((e) => e.type), 'password', '"New value" is not type=password');
      await click(page, 'button', 'Rotate');
      await until('the secret rotated over REST', async () => (await secretOf()).updatedAt !== updated);
      assert.ok(!(await bodyText(page)).includes(rotated), 'the rotated value is shown');
      // the instance page lists the grant
      await go(page, `/instances/${docs.id}`);
      await h1Is(page, 'docs-desk');
      await click(page, 'tab', 'Secrets');
      await until('API_TOKEN on the instance\'s Secrets tab', async () => {
        const panel = await page.$('[role="tabpanel"]:not([hidden])');
        return (await innerText(panel ?? (await page.$('body')))).includes('API_TOKEN');
      });
      // revoke
      await go(page, '/secrets');
      await click(page, 'button', 'Revoke API_TOKEN from docs-desk');
      await until('the grant gone over REST', async () => (await secretOf()).grants.length === 0);
      await until('the revoke button gone', async () => (await page.$(aria('button', 'Revoke API_TOKEN from docs-desk'))) === null);
    }, current);

    await step('automation-actions', ['automations'], async () => {
      await go(page, '/automations');
      await h1Is(page, 'Automations');
      const box = await visible(page, aria('checkbox', 'Enabled weekday-report'));
      assert.equal(await box.evaluate((e) => e.checked), true);
      await box.click();
      await until('weekday-report disabled over REST', async () =>
        (await api('GET', '/api/automations')).body.automations.find((a) => a.name === 'weekday-report')?.enabled === false);
      await click(page, 'button', 'Runs of weekday-report');
      await withText(page, 'body', 'Runs of weekday-report');
    }, current);

    await step('webhook-actions', ['webhooks'], async () => {
      await go(page, '/webhooks');
      await h1Is(page, 'Webhooks');
      const hookOf = async () => (await api('GET', '/api/webhooks')).body.webhooks.find((w) => w.name === 'deploy-hook');
      const first = await hookOf();
      await withText(page, 'body', first.url);
      await click(page, 'button', 'Rotate token of deploy-hook');
      await click(page, 'button', 'Rotate');
      const second = await until('a new token over REST', async () => {
        const w = await hookOf();
        return w.token !== first.token ? w : null;
      });
      await withText(page, 'body', second.url);
      assert.ok(!(await page.evaluate(() => document.body.textContent)).includes(first.url), 'the old URL is still shown');
      await click(page, 'checkbox', 'Enabled deploy-hook');
      await until('deploy-hook disabled over REST', async () => (await hookOf()).enabled === false);
      await click(page, 'button', 'Deliveries of deploy-hook');
      await withText(page, 'body', 'Deliveries of deploy-hook');
    }, current);

    await step('key-actions', ['keys'], async () => {
      await go(page, '/keys');
      await h1Is(page, 'Keys');
      const key = (await api('GET', '/api/chat-keys')).body.keys.find((k) => k.name === 'ci-key');
      await click(page, 'button', 'Revoke ci-key');
      await click(page, 'button', 'Revoke');
      await until('ci-key gone over REST', async () =>
        !(await api('GET', '/api/chat-keys')).body.keys.some((k) => k.id === key.id));
      await until('the ci-key row gone', async () => (await page.$(aria('button', 'Revoke ci-key'))) === null);
      assert.equal((await api('GET', '/api/cli/health', { key: ciKey })).status, 401, 'the revoked key still works');
    }, current);

    await step('billing', ['sign-in'], async () => {
      await click(page, 'link', 'Billing');
      await h1Is(page, 'Billing');
      const billing = (await api('GET', '/api/billing')).body;
      await withText(page, 'body', billing.plan.name);
      const { used, limit } = billing.capacity;
      await until(`capacity "${used} / ${limit}"`, async () =>
        new RegExp(`\\b${used}\\s*/\\s*${limit}\\b`).test(await bodyText(page)));
      const charts = await visible(page, aria(undefined, 'Tokens per instance'), SHORT, 'the "Tokens per instance" section');
      // one chart per instance with usage in the window (docs-desk's agent used the model),
      // each an svg of one bar per bucket of the window
      const withUsage = billing.usage.byInstance.length;
      if (summary.instanceMessaged) assert.ok(withUsage >= 1, `no instance usage in /api/billing: ${JSON.stringify(billing.usage)}`);
      const svgs = await charts.$$eval('svg[role="img"]', (ss) => ss.map((x) => ({ label: x.getAttribute('aria-label'), bars: x.querySelectorAll('rect').length })));
      assert.equal(svgs.length, withUsage, `charts ${JSON.stringify(svgs)} for byInstance ${JSON.stringify(billing.usage.byInstance)}`);
      const buckets = (billing.usage.windowHours * 60) / billing.usage.bucketMinutes;
      for (const c of svgs) assert.equal(c.bars, buckets, `${c.label}: ${c.bars} bars, want ${buckets}`);
      if (summary.instanceMessaged) assert.ok(svgs.some((c) => c.label === `Tokens of docs-desk over the last ${billing.usage.windowHours} hours`), `no chart for docs-desk: ${JSON.stringify(svgs)}`);
      await shot(page, 'billing.png');
    }, current);

    await step('cli-login', ['sign-in'], async () => {
      const session = randomUUID();
      const before = await api('GET', `/api/cli/poll?session=${session}`, { key: null });
      assert.equal(before.status, 404, `poll before approval: ${JSON.stringify(before.body)}`);
      await go(page, `/auth/cli?session=${session}`);
      await h1Is(page, 'Approve CLI login');
      await withText(page, 'body', session);
      await click(page, 'button', 'Approve');
      await withText(page, aria('status'), 'Approved');
      await shot(page, 'cli-login.png');
      // approving it again before the CLI polled: the API's conflict, as an alert
      const again = await api('POST', '/api/cli/approve', { body: { session } });
      assert.equal(again.status, 409, JSON.stringify(again.body));
      await page.reload({ waitUntil: 'domcontentloaded' });
      await h1Is(page, 'Approve CLI login');
      await click(page, 'button', 'Approve');
      await withText(page, aria('alert'), again.body.error.message);
      const poll = await api('GET', `/api/cli/poll?session=${session}`, { key: null });
      assert.equal(poll.status, 200, `poll after approval: ${JSON.stringify(poll.body)}`);
      const key = poll.body.operatorApiKey;
      assert.match(key, /^ck_live_/);
      const health = await api('GET', '/api/cli/health', { key });
      assert.equal(health.status, 200, 'the CLI key does not work');
      const after = await api('GET', `/api/cli/poll?session=${session}`, { key: null });
      assert.equal(after.status, 404, 'a second poll handed out a key again');
      Object.assign(summary, { cliSession: session, cliKey: key, pollBefore: before.status, pollAfter: after.status });
    }, current);

    await step('cli-login-signed-out', ['cli-login'], async () => {
      // a fresh browser profile: the sign-in form first, and the session survives the sign-in
      const ctx = await browser.createBrowserContext();
      const p2 = await ctx.newPage();
      try {
        await p2.setViewport({ width: 1360, height: 900 });
        await guard(p2, 'signed-out');
        const session = randomUUID();
        await p2.goto(`${BASE}/auth/cli?session=${session}`, { waitUntil: 'domcontentloaded' });
        await fill(p2, aria('textbox', 'API key'), KEY);
        await click(p2, 'button', 'Sign in');
        await h1Is(p2, 'Approve CLI login');
        await withText(p2, 'body', session);
        await click(p2, 'button', 'Approve');
        await withText(p2, aria('status'), 'Approved');
        const poll = await api('GET', `/api/cli/poll?session=${session}`, { key: null });
        assert.equal(poll.status, 200, `poll after approval: ${JSON.stringify(poll.body)}`);
      } finally {
        await ctx.close();
      }
    }, current);

    await step('keyboard', ['sign-in'], async () => {
      // Tab alone reaches the navigation and the page's form, in that order
      await go(page, '/instances');
      await h1Is(page, 'Instances');
      await page.evaluate(() => { document.activeElement?.blur?.(); window.scrollTo(0, 0); });
      const targets = [
        ['link "Chat"', await visible(page, aria('link', 'Chat'))],
        ['textbox "Name"', await visible(page, aria('textbox', 'Name'))],
        ['button "Create instance"', await visible(page, aria('button', 'Create instance'))],
      ];
      const reached = [];
      for (let n = 0; n < 60 && reached.length < targets.length; n++) {
        await page.keyboard.press('Tab');
        const [label, want] = targets[reached.length];
        if (await page.evaluate((e) => e === document.activeElement, want)) reached.push(label);
      }
      assert.deepEqual(reached, targets.map(([l]) => l), 'not reachable in order with Tab');
      // a focused control is visibly marked
      const ring = await page.evaluate(() => {
        const st = getComputedStyle(document.activeElement);
        return (st.outlineStyle !== 'none' && parseFloat(st.outlineWidth) > 0) || st.boxShadow !== 'none';
      });
      assert.ok(ring, 'the focused "Create instance" button shows no focus ring');
    }, current);

    await step('phone', ['sign-in'], async () => {
      await page.setViewport({ width: 390, height: 844 });
      const noHorizontalScroll = async (where) => {
        const [sw, iw] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
        assert.ok(sw <= iw + 1, `${where}: horizontal scroll at 390 px (scrollWidth ${sw} > innerWidth ${iw})`);
      };
      await go(page, chatUrl || '/chat');
      // the h1 of /chat/{id} may be the chat's title
      await until('an h1', async () => (await page.$('h1')) && (await innerText(await page.$('h1'))).trim());
      await visible(page, aria('textbox', 'Message'));
      if (chatUrl) await withText(page, 'article.msg.assistant', 'Created weather-desk.');
      await shot(page, 'chat-phone.png');
      await noHorizontalScroll('chat');
      await go(page, '/instances');
      await h1Is(page, 'Instances');
      await until('instance rows', async () => (await page.$$('tr[data-instance-id]')).length > 0);
      await shot(page, 'instances-phone.png');
      await noHorizontalScroll('instances');
      await page.setViewport({ width: 1360, height: 900 });
    }, current);

    await step('sign-out', ['sign-in'], async () => {
      await go(page, '/chat');
      await click(page, 'button', 'Sign out');
      await visible(page, aria('textbox', 'API key'));
      const n = await page.evaluate(() => sessionStorage.length);
      assert.equal(n, 0, 'sessionStorage is not empty after sign-out');
      assert.equal(await page.$(aria('navigation', 'Main')), null, 'nav "Main" still shown after sign-out');
    }, current);

    await step('guards', [], async () => {
      guards.assertClean();
    }, () => null);
  } finally {
    await browser.close().catch(() => {});
  }

  return finish('console suite', steps, guards, summary, SHOTS);
}

runMain(main);
