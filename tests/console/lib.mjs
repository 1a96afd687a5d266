// What the browser suites (suite.mjs: the console; docs.mjs: the API reference) share:
// environment, condition waits with deadlines, the CSP's script sources, and named steps
// that depend on earlier ones and leave a screenshot and the page's text when they fail.

import assert from 'node:assert/strict';
import path from 'node:path';
import puppeteer from 'puppeteer-core';

/** An environment variable the Rust side sets; exits with a clear message without it. */
export function required(name) {
  const v = process.env[name];
  if (!v) {
    console.error(`${name} is not set (tests/e2e/console.rs and docs_ui.rs set it)`);
    process.exit(2);
  }
  return v;
}

/** Polls `check` until it returns something truthy; throws after `timeout` ms, naming `what`. */
export async function until(what, check, timeout) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeout} ms waiting for ${what}${last ? ` (last error: ${last.message})` : ''}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The `script-src` sources of a Content-Security-Policy (or `default-src`'s). */
export function scriptSrc(csp) {
  const dirs = Object.fromEntries(
    csp.split(';').map((d) => d.trim()).filter(Boolean).map((d) => {
      const [k, ...v] = d.split(/\s+/);
      return [k.toLowerCase(), v];
    }),
  );
  return dirs['script-src'] ?? dirs['default-src'] ?? null;
}

/** Named steps: one whose `needs` did not pass is skipped; a failure is reported with a
 *  screenshot and the page's visible text, and the run goes on. */
export class Steps {
  constructor(shots, summary) {
    this.shots = shots;
    this.summary = summary;
    this.results = [];
  }

  /** `page`: the page to report on a failure, or a function returning it. */
  async run(name, needs, fn, page) {
    const failedDep = needs.find((n) => !this.results.some((r) => r.name === n && r.ok));
    if (failedDep) {
      this.results.push({ name, ok: false, skipped: true });
      console.log(`skip ${name} (needs ${failedDep})`);
      return;
    }
    const t0 = Date.now();
    try {
      await fn();
      this.results.push({ name, ok: true });
      this.summary.steps[name] = 'ok';
      console.log(`ok   ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    } catch (e) {
      this.results.push({ name, ok: false });
      this.summary.steps[name] = 'failed';
      console.log(`FAIL ${name}: ${e.stack || e}`);
      const p = typeof page === 'function' ? page() : page;
      if (p) await this.report(name, p);
    }
  }

  async report(name, p) {
    const file = path.join(this.shots, `failure-${name}.png`);
    try {
      await p.screenshot({ path: file, fullPage: true });
      console.log(`  screenshot: ${file}`);
    } catch (se) {
      console.log(`  (no screenshot: ${se.message})`);
    }
    try {
      const text = await p.evaluate(() => document.body.innerText);
      console.log(`  url: ${p.url()}`);
      console.log(`  visible text:\n    ${text.slice(0, 3000).replace(/\n/g, '\n    ')}`);
    } catch (te) {
      console.log(`  (no page text: ${te.message})`);
    }
  }

  /** Passed, skipped and failed counts. */
  counts() {
    const passed = this.results.filter((r) => r.ok).length;
    const skipped = this.results.filter((r) => r.skipped).length;
    return { passed, skipped, failed: this.results.length - passed - skipped };
  }
}

/** Watches pages: every request leaving `origin` is aborted and recorded, so are URLs that
 *  carry an API key, uncaught page errors and console errors (a failed load of a 4xx the
 *  suite provoked is only noted). `onRequest(req, url)` sees every same-origin request. */
export class Guard {
  constructor(origin, key, timeout) {
    Object.assign(this, { origin, key, timeout });
    this.offOrigin = [];
    this.keyInUrl = [];
    this.pageErrors = [];
    this.consoleErrors = [];
    this.failedLoads = [];
  }

  async attach(page, label, onRequest = () => {}) {
    await page.setRequestInterception(true);
    page.on('request', (req) => {
      const url = req.url();
      if (url.startsWith('data:') || url.startsWith('blob:')) return req.continue();
      let origin = null;
      try {
        origin = new URL(url).origin;
      } catch {
        origin = null;
      }
      if (origin !== this.origin) {
        this.offOrigin.push(`${label}: ${req.method()} ${url}`);
        return req.abort('blockedbyclient');
      }
      if (url.includes(this.key) || /ck_live_/.test(url)) this.keyInUrl.push(`${label}: ${req.method()} ${url}`);
      onRequest(req, url);
      return req.continue();
    });
    page.on('pageerror', (err) => this.pageErrors.push(`${label}: ${err.message || err}`));
    page.on('console', (msg) => {
      if (msg.type() !== 'error') return;
      const text = msg.text();
      if (/^Failed to load resource: the server responded with a status of 4\d\d/.test(text)) {
        this.failedLoads.push(`${label}: ${text} (${msg.location()?.url ?? '?'})`);
      } else {
        this.consoleErrors.push(`${label}: ${text}`);
      }
    });
    page.setDefaultTimeout(this.timeout);
    page.setDefaultNavigationTimeout(this.timeout);
  }

  /** Nothing left the origin, no key in a URL, no page or console error. */
  assertClean() {
    assert.deepEqual(this.offOrigin, [], 'requests left the server\'s origin');
    assert.deepEqual(this.keyInUrl, [], 'an API key in a request URL');
    assert.deepEqual(this.pageErrors, [], 'uncaught errors in the page');
    assert.deepEqual(this.consoleErrors, [], 'errors on the browser console');
  }
}

/** The end of a suite: the provoked failed loads, the counts, the SUMMARY line the Rust side
 *  reads; true when every step passed. */
export function finish(label, steps, guards, summary, shots) {
  if (guards.failedLoads.length) {
    console.log(`failed loads (expected from the negative steps):\n  ${guards.failedLoads.slice(0, 30).join('\n  ')}`);
  }
  const { passed, skipped, failed } = steps.counts();
  console.log(`${label}: ${passed} passed, ${failed} failed, ${skipped} skipped; screenshots in ${shots}`);
  console.log(`SUMMARY ${JSON.stringify(summary)}`);
  return failed + skipped === 0;
}

/** Runs a suite's `main` and exits 0 only when it returned true. */
export function runMain(main) {
  main().then(
    (ok) => process.exit(ok ? 0 : 1),
    (e) => {
      console.log(`suite crashed: ${e.stack || e}`);
      process.exit(1);
    },
  );
}

/** Debian's chromium, headless, as every suite drives it (CHROMIUM overrides the path). */
export function launch() {
  return puppeteer.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--no-first-run', '--no-default-browser-check'],
    protocolTimeout: 60_000,
  });
}
