// Page helpers the console's browser suites share (suite.mjs, experiments.mjs): accessible-name
// selectors, waits for visible elements and text, typing as a user does, navigation,
// screenshots, and the API called from node (not the page) with the suite's key.

import path from 'node:path';
import { until as waitUntil } from './lib.mjs';

/** The helpers bound to one server (`base`, `key`), screenshot folder and default wait. */
export function pageKit({ base: BASE, key: KEY, shots: SHOTS, short: SHORT }) {
  const until = (what, check, timeout = SHORT) => waitUntil(what, check, timeout);

  /** `::-p-aria` selector for role and accessible name (either may be omitted). */
  function aria(role, name) {
    const parts = [];
    if (name !== undefined) parts.push(`[name=${JSON.stringify(name)}]`);
    if (role) parts.push(`[role=${JSON.stringify(role)}]`);
    return `::-p-aria(${parts.join('')})`;
  }

  /** The visible element matching `selector` (waits for it). */
  async function visible(page, selector, timeout = SHORT, what = selector) {
    try {
      return await page.waitForSelector(selector, { visible: true, timeout });
    } catch (e) {
      throw new Error(`no visible ${what} within ${timeout} ms`);
    }
  }

  async function innerText(handle) {
    return handle.evaluate((e) => e.innerText ?? e.textContent ?? '');
  }

  /** Waits until some element matching `selector` has text containing `text`; returns it. */
  async function withText(page, selector, text, timeout = SHORT, root = page) {
    return until(`${selector} containing ${JSON.stringify(text)}`, async () => {
      for (const h of await root.$$(selector)) {
        const t = await h.evaluate((e) => e.textContent ?? '');
        if (t.includes(text)) return h;
      }
      return null;
    }, timeout);
  }

  /** Replaces a text field's content the way a user does (select all, type). */
  async function fill(page, selector, text) {
    const h = await visible(page, selector);
    await h.click();
    await h.evaluate((e) => e.select?.());
    await page.keyboard.down('Control');
    await page.keyboard.press('KeyA');
    await page.keyboard.up('Control');
    await page.keyboard.press('Backspace');
    if (text) await h.type(text);
    return h;
  }

  async function click(page, role, name, timeout = SHORT) {
    const h = await visible(page, aria(role, name), timeout, `${role} ${JSON.stringify(name)}`);
    await h.click();
    return h;
  }

  async function go(page, p) {
    await page.goto(BASE + p, { waitUntil: 'domcontentloaded' });
  }

  async function h1Is(page, text, timeout = SHORT) {
    await until(`h1 "${text}"`, async () => {
      const h = await page.$('h1');
      return h && (await innerText(h)).trim() === text;
    }, timeout);
  }

  async function shot(page, name) {
    await page.screenshot({ path: path.join(SHOTS, name), fullPage: true });
  }

  async function bodyText(page) {
    return page.evaluate(() => document.body.innerText);
  }

  /** Calls the API from node (not the page): status and parsed body. */
  async function api(method, p, { body, key = KEY, raw = false, headers = {} } = {}) {
    const h = { ...headers };
    if (key) h.authorization = `Bearer ${key}`;
    let payload;
    if (body !== undefined) {
      if (raw) payload = body;
      else {
        payload = JSON.stringify(body);
        h['content-type'] = 'application/json';
      }
    }
    const res = await fetch(BASE + p, { method, headers: h, body: payload, signal: AbortSignal.timeout(SHORT) });
    const text = await res.text();
    let json = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = text;
    }
    return { status: res.status, body: json, headers: res.headers };
  }

  return { aria, visible, innerText, withText, fill, click, go, h1Is, shot, bodyText, api, until };
}
