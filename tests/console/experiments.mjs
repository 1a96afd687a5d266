// The console's Experiments pages in a real browser: Debian's chromium driven by puppeteer-core
// against the real `operator` server whose variants' agents talk to the scripted fake LLM.
//
// tests/e2e/console_experiments.rs makes two active variants, p-v1 and p-v2, each with the
// skill skills/p/SKILL.md, and scripts the model's answers in the order the steps below cause
// them (every experiment runs one answer at a time, concurrency 1):
//   1. "console-exp" (items Q0..Q2 expecting a, b, c; exact) over [p-v1, p-v2]: a, a, b, x, c, x
//      — p-v1 scores 1, p-v2 1/3 — each answer late (the running state is seen);
//   2. evolving it (keep 1, population 2): the mutation of p-v1's skill, then generation 2 over
//      [p-v1, p-gen2-v1]: a, a, b, x, c, c — p-v1 1, p-gen2-v1 2/3;
//   3. "slow-exp" (4 items over p-v1) whose answers take 3 s each: cancelled through the page
//      while its first answers are in flight, then deleted.
// Everything is done through the pages (forms, buttons, dialogs); the page's numbers are
// reported in SUMMARY for the Rust side to compare with the API. Every request leaving the
// server's origin, an API key in a URL, an uncaught page error or a console error fails it.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import { required, Steps, Guard, finish, runMain, launch } from './lib.mjs';
import { pageKit } from './pages.mjs';

const BASE = required('OPERATOR_URL').replace(/\/$/, '');
const KEY = required('OPERATOR_KEY');
const SHOTS = required('SCREENSHOT_DIR');
const ORIGIN = new URL(BASE).origin;

const SHORT = 15_000; // a page reacting to a click or an API answer
const RUN = 90_000; // an experiment (or an evolve, which starts a new variant) to the end

const guards = new Guard(ORIGIN, KEY, SHORT);
const summary = { steps: {} };
const steps = new Steps(SHOTS, summary);
const step = (name, needs, fn, page) => steps.run(name, needs, fn, page);
const { aria, visible, innerText, withText, fill, click, go, h1Is, shot, api, until } =
  pageKit({ base: BASE, key: KEY, shots: SHOTS, short: SHORT });

/** The experiment id in the page's URL (/experiments/exp_…), once there. */
async function experimentInUrl(page, not = null) {
  return until('the URL /experiments/exp_…', async () => {
    const m = new URL(page.url()).pathname.match(/^\/experiments\/(exp_[A-Za-z0-9]+)$/);
    return m && m[1] !== not ? m[1] : null;
  });
}

/** Waits for the page's status badge (next to the h1) to read `status`. */
async function statusIs(page, status, timeout = SHORT) {
  await until(`status "${status}"`, async () => {
    const b = await page.$('.row > .badge');
    return b && (await innerText(b)).trim() === status;
  }, timeout);
}

/** The leaderboard table as [[variant, score, scored, errors], …], best first. */
async function board(page) {
  return page.$$eval('table.leaderboard tbody tr', (rows) => rows.map((r) => {
    const c = [...r.querySelectorAll('td')].map((td) => td.innerText.trim());
    return [c[1], c[2], c[4], c[5]];
  }));
}

/** Clicks `name` inside the open dialog. */
async function inDialog(page, name) {
  const dlg = await visible(page, 'dialog[open]');
  const b = await dlg.waitForSelector(aria('button', name), { visible: true });
  await b.click();
}

async function main() {
  fs.mkdirSync(SHOTS, { recursive: true });
  const browser = await launch();
  let page = null;
  const current = () => page;
  let first = null;
  let evolved = null;
  let slow = null;
  try {
    page = await browser.newPage();
    await page.setViewport({ width: 1360, height: 900 });
    await guards.attach(page, 'main');

    await step('sign-in', [], async () => {
      await go(page, '/experiments');
      await fill(page, aria('textbox', 'API key'), KEY);
      await page.keyboard.press('Enter');
      const nav = await visible(page, aria('navigation', 'Main'));
      assert.ok(await nav.$(aria('link', 'Experiments')), 'nav "Main" has no link "Experiments"');
      await h1Is(page, 'Experiments');
      await withText(page, 'table.list td', 'No experiments yet');
    }, current);

    await step('create-refused', ['sign-in'], async () => {
      await (await visible(page, 'details.new-experiment > summary')).click();
      await fill(page, aria('textbox', 'Name'), 'console-exp');
      // only the chosen scorer's option and dataset source are shown
      const shown = async (role, name) => page.$eval(`::-p-aria([name=${JSON.stringify(name)}][role=${JSON.stringify(role)}])`, (e) => e.checkVisibility()).catch(() => false);
      assert.equal(await shown('textbox', 'Rubric'), false, 'Rubric shown for the exact scorer');
      assert.equal(await shown('textbox', 'URL (JSONL or CSV)'), false, 'URL shown for inline items');
      const scorer = await visible(page, aria('combobox', 'Scorer'));
      await scorer.select('llmJudge');
      await until('Rubric shown for llmJudge', () => shown('textbox', 'Rubric'));
      await scorer.select('exact');
      const source = await visible(page, aria('combobox', 'Dataset'));
      await source.select('url');
      await until('URL shown for a URL dataset', () => shown('textbox', 'URL (JSONL or CSV)'));
      assert.equal(await shown('textbox', 'Items'), false, 'Items shown for a URL dataset');
      await source.select('items');
      // a line that is not JSON is named before anything is sent
      await fill(page, aria('textbox', 'Items'), '{"input": "Q0", "expected": "a"}\nnot json');
      await click(page, 'button', 'Start experiment');
      await withText(page, '[role="alert"]', 'Items line 2 is not JSON.');
      // no variant chosen: the API's own message
      await fill(page, aria('textbox', 'Items'), '{"input": "Q0", "expected": "a"}');
      const expected = (await api('POST', '/api/experiments', { body: { name: 'x', instanceIds: [], dataset: { items: [{ input: 'Q0' }] }, scorer: { type: 'exact' } } })).body.error.message;
      await click(page, 'button', 'Start experiment');
      await withText(page, '[role="alert"]', expected);
      assert.match(new URL(page.url()).pathname, /^\/experiments$/);
    }, current);

    await step('create', ['create-refused'], async () => {
      await fill(page, aria('textbox', 'Items'), ['{"input": "Q0", "expected": "a"}', '{"input": "Q1", "expected": "b"}', '{"input": "Q2", "expected": "c"}'].join('\n'));
      for (const v of ['p-v1', 'p-v2']) await (await visible(page, aria('checkbox', v))).click();
      await fill(page, aria('spinbutton', 'Concurrency'), '1');
      await shot(page, 'experiment-new.png');
      await click(page, 'button', 'Start experiment');
      first = await experimentInUrl(page);
      summary.first = first;
      await h1Is(page, 'console-exp');
    }, current);

    await step('running', ['create'], async () => {
      // the answers come late: the page shows the run in progress with its Cancel button
      await until('status queued or running', async () => {
        const b = await page.$('.row > .badge');
        return b && ['queued', 'running'].includes((await innerText(b)).trim());
      });
      await visible(page, aria('button', 'Cancel experiment'));
      await withText(page, '[role="status"]', 'of 6 answers');
      await shot(page, 'experiment-running.png');
    }, current);

    await step('leaderboard', ['running'], async () => {
      await statusIs(page, 'succeeded', RUN);
      await withText(page, '[role="status"]', '6 of 6 answers (100%)');
      assert.equal(await page.$(aria('button', 'Cancel experiment')), null, 'Cancel shown on a finished experiment');
      const b = await until('two leaderboard rows', async () => { const r = await board(page); return r.length === 2 && r; });
      summary.board = b;
      assert.deepEqual(b, [['p-v1', '1', '3', '0'], ['p-v2', '0.333', '3', '0']]);
      // the chart: a bar per variant, the best marked, the interval as whiskers
      const chart = await visible(page, 'svg.score-chart[role="img"]');
      assert.match(await chart.evaluate((e) => e.getAttribute('aria-label')), /Mean score per variant/);
      assert.equal((await chart.$$('rect.bar')).length, 2);
      assert.equal((await chart.$$('rect.bar.best')).length, 1);
      assert.ok((await chart.$$('line.whisker')).length >= 3, 'no interval whiskers');
      // the results: one row per item, an answer per variant, its score
      const rows = await until('three result rows', async () => { const r = await page.$$('table.results tbody tr[data-item]'); return r.length === 3 && r; });
      const q1 = await rows[1].evaluate((r) => [...r.querySelectorAll('td')].map((td) => td.innerText.trim()));
      assert.equal(q1[1], 'Q1');
      assert.equal(q1[2], 'b');
      assert.match(q1[3], /^b\n1\b/, `p-v1's answer to Q1: ${q1[3]}`);
      assert.match(q1[4], /^x\n0\b/, `p-v2's answer to Q1: ${q1[4]}`);
      await shot(page, 'experiment.png');
    }, current);

    await step('filter', ['leaderboard'], async () => {
      const sel = await visible(page, aria('combobox', 'Variant'));
      const v2 = await sel.$$eval('option', (os) => os.find((o) => o.textContent === 'p-v2').value);
      await sel.select(v2);
      await until('one variant column', async () => (await page.$$('table.results thead th')).length === 4);
      const heads = await page.$$eval('table.results thead th', (ths) => ths.map((t) => t.innerText.trim().toLowerCase()));
      assert.equal(heads[3], 'p-v2');
      await sel.select('');
      await until('both variant columns again', async () => (await page.$$('table.results thead th')).length === 5);
    }, current);

    await step('evolve', ['leaderboard'], async () => {
      await click(page, 'button', 'Evolve…');
      await visible(page, 'dialog[open]');
      await fill(page, aria('spinbutton', 'Keep the best'), '1');
      await fill(page, aria('spinbutton', 'Population size'), '2');
      await fill(page, aria('textbox', 'Instructions (optional)'), 'Focus on the ensemble approach.');
      await inDialog(page, 'Evolve');
      evolved = await until('the next generation\'s page', async () => {
        const m = new URL(page.url()).pathname.match(/^\/experiments\/(exp_[A-Za-z0-9]+)$/);
        return m && m[1] !== first ? m[1] : null;
      }, RUN);
      summary.evolved = evolved;
      await h1Is(page, 'console-exp-gen2');
      await withText(page, 'p.ok[role="status"]', 'Kept the best 1 and made 1 new variant (generation 2)');
      await statusIs(page, 'succeeded', RUN);
      const b = await until('two leaderboard rows', async () => { const r = await board(page); return r.length === 2 && r; });
      summary.evolvedBoard = b;
      assert.deepEqual(b, [['p-v1', '1', '3', '0'], ['p-gen2-v1', '0.667', '3', '0']]);
      await shot(page, 'experiment-evolved.png');
    }, current);

    await step('cancel', ['sign-in'], async () => {
      const items = [0, 1, 2, 3].map((i) => ({ input: `S${i}`, expected: 'never' }));
      const r = await api('POST', '/api/experiments', { body: { name: 'slow-exp', instanceIds: ['p-v1'], dataset: { items }, scorer: { type: 'contains' }, concurrency: 1 } });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      slow = r.body.experiment.id;
      summary.slow = slow;
      await go(page, `/experiments/${slow}`);
      await h1Is(page, 'slow-exp');
      await click(page, 'button', 'Cancel experiment');
      await withText(page, 'dialog[open]', 'Items not yet sent are not sent');
      await inDialog(page, 'Yes, cancel it');
      await statusIs(page, 'cancelled');
      assert.equal(await page.$(aria('button', 'Evolve…')), null, 'Evolve offered on a cancelled experiment');
      await shot(page, 'experiment-cancelled.png');
    }, current);

    await step('delete', ['cancel'], async () => {
      await click(page, 'button', 'Delete');
      await inDialog(page, 'Delete');
      await until('back on /experiments', async () => new URL(page.url()).pathname === '/experiments');
      await h1Is(page, 'Experiments');
      await withText(page, 'table.list td a', 'console-exp-gen2');
      const names = await page.$$eval('table.list tbody td:first-child', (tds) => tds.map((t) => t.innerText.trim()));
      assert.ok(!names.includes('slow-exp'), `deleted, still listed: ${names}`);
      assert.ok(names.includes('console-exp'), `${names}`);
      await shot(page, 'experiments.png');
    }, current);

    await step('phone', ['evolve'], async () => {
      await page.setViewport({ width: 390, height: 844, isMobile: true, hasTouch: true });
      await go(page, `/experiments/${first}`);
      await statusIs(page, 'succeeded');
      await visible(page, 'table.leaderboard');
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 1, `the page scrolls sideways by ${overflow}px at phone width`);
      await shot(page, 'experiment-phone.png');
      await page.setViewport({ width: 1360, height: 900 });
    }, current);

    await step('guards', [], async () => {
      guards.assertClean();
    }, () => null);
  } finally {
    await browser.close().catch(() => {});
  }
  return finish('experiments suite', steps, guards, summary, SHOTS);
}

runMain(main);
