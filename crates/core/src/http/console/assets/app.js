// The console shell: sign-in, navigation and a router over `location.pathname` (the server
// serves index.html at every page path, so reloads and shared links work).

import { h, put, alertBox, repeat } from './dom.js';
import { key, get, whenUnauthorized } from './api.js';
import { chatPage } from './chat.js';
import { instancesPage } from './instances.js';
import { instancePage } from './instance.js';
import { secretsPage, automationsPage, webhooksPage, keysPage } from './resources.js';
import { billingPage, cliLoginPage } from './billing.js';
import { experimentsPage, experimentPage } from './experiments.js';

const NAV = [
  ['Chat', '/chat'],
  ['Instances', '/instances'],
  ['Experiments', '/experiments'],
  ['Secrets', '/secrets'],
  ['Automations', '/automations'],
  ['Webhooks', '/webhooks'],
  ['Keys', '/keys'],
  ['Billing', '/billing'],
];

const ROUTES = [
  [/^\/(?:chat)?$/, chatPage],
  [/^\/chat\/([^/]+)$/, chatPage],
  [/^\/instances$/, instancesPage],
  [/^\/instances\/([^/]+)$/, instancePage],
  [/^\/experiments$/, experimentsPage],
  [/^\/experiments\/([^/]+)$/, experimentPage],
  [/^\/secrets$/, secretsPage],
  [/^\/automations$/, automationsPage],
  [/^\/webhooks$/, webhooksPage],
  [/^\/keys$/, keysPage],
  [/^\/billing$/, billingPage],
  [/^\/auth\/cli$/, cliLoginPage],
];

const app = document.getElementById('app');
let current = null; // the running page's AbortController
let account = null;

/// Navigates inside the console without a reload.
export function go(path, replace = false) {
  if (replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  render();
}

/// What a page gets: where to draw, the route's parameters, and a signal aborted when the
/// user leaves the page (stops polls and streams).
function context(main, params, ctl) {
  return {
    main,
    params,
    signal: ctl.signal,
    account,
    go,
    /// Runs `f` every `ms` until the page is left; `f` may return a different delay.
    every: (ms, f) => repeat(ctl.signal, ms, f),
  };
}

async function render() {
  if (current) current.abort();
  current = new AbortController();
  if (!key.get()) return signIn();
  if (!account) {
    try {
      account = await get('/api/cli/health');
    } catch (e) {
      if (e.status === 401) return signIn(e);
      return put(app, h('main', { class: 'page' }, alertBox(e)));
    }
  }
  const path = location.pathname;
  const main = h('main', { id: 'content', class: 'page', tabindex: '-1' });
  put(app, shell(path), main);
  for (const [re, page] of ROUTES) {
    const m = path.match(re);
    if (m) {
      try {
        await page(context(main, m.slice(1).filter(Boolean).map(decodeURIComponent), current));
      } catch (e) {
        if (e.name !== 'AbortError') main.append(alertBox(e));
      }
      return;
    }
  }
  put(main, h('h1', {}, 'Not found'), h('p', {}, 'No console page at ', h('code', {}, path), '.'));
}

function shell(path) {
  const links = NAV.map(([name, href]) => {
    const active = path === href || path.startsWith(`${href}/`) || (href === '/chat' && path === '/');
    return h('li', {}, h('a', { href, 'aria-current': active ? 'page' : null }, name));
  });
  return h('header', { class: 'top' },
    h('a', { class: 'skip', href: '#content' }, 'Skip to content'),
    h('a', { class: 'brand', href: '/chat' }, h('img', { src: '/console/favicon.svg', alt: '', width: 22, height: 22 }), 'Operator'),
    h('nav', { 'aria-label': 'Main' }, h('ul', {}, links)),
    h('div', { class: 'who' },
      account && account.planSlug ? h('span', { class: 'plan' }, account.planSlug) : null,
      h('button', { type: 'button', class: 'secondary', onclick: signOut }, 'Sign out')));
}

function signOut() {
  key.clear();
  account = null;
  render();
}

function signIn(err) {
  const input = h('input', { type: 'password', id: 'api-key', name: 'key', autocomplete: 'off', required: true, placeholder: 'ck_live_…', spellcheck: 'false' });
  const errors = h('div', {}, err && err.status !== 401 ? alertBox(err) : null);
  const form = h('form', { class: 'card signin', 'aria-labelledby': 'signin-title' },
    h('h1', { id: 'signin-title' }, 'Sign in to Operator'),
    h('p', { class: 'muted' }, 'Paste an API key of this server. It is kept in this tab only (session storage) and sent as a bearer header.'),
    h('div', { class: 'field' }, h('label', { for: 'api-key' }, 'API key'), input),
    errors,
    h('button', { type: 'submit' }, 'Sign in'),
    h('p', { class: 'muted small' }, 'No key yet? Run ', h('code', {}, 'operator keys create'), ' on the server, or see ', h('a', { href: '/docs' }, 'the API reference'), '.'));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const k = input.value.trim();
    if (!k) return;
    key.set(k);
    try {
      account = await get('/api/cli/health');
    } catch (e) {
      key.clear();
      put(errors, alertBox(e));
      input.focus();
      return;
    }
    render();
  });
  put(app, h('main', { class: 'center' }, form));
  input.focus();
}

whenUnauthorized(() => {
  key.clear();
  account = null;
});

// Same-origin links navigate inside the console; /docs and /api are real pages.
document.addEventListener('click', (ev) => {
  const a = ev.target.closest('a[href]');
  if (!a || ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || a.target) return;
  const url = new URL(a.href);
  if (url.origin !== location.origin || url.pathname.startsWith('/api') || url.pathname.startsWith('/docs') || url.hash && url.pathname === location.pathname) return;
  ev.preventDefault();
  go(url.pathname + url.search);
});
window.addEventListener('popstate', render);

render();
