// Billing (plan, capacity and the rolling token window per instance, as a bar chart) and the
// CLI's browser login: `operator login` opens /auth/cli?session=<uuid>, the signed-in user
// approves it here, and the CLI's poll then receives a new key.

import { h, put, alertBox, s, fmtNumber, when } from './dom.js';
import { get, post } from './api.js';

export async function billingPage(ctx) {
  const [b, { instances }] = await Promise.all([
    get('/api/billing', { signal: ctx.signal }),
    get('/api/instances?limit=200&includeDeleted=true', { signal: ctx.signal }),
  ]);
  const names = new Map(instances.map((i) => [i.id, i.name]));
  const u = b.usage;
  const pct = b.plan.tokenLimit ? Math.min(100, (100 * u.tokens) / b.plan.tokenLimit) : 0;
  put(ctx.main,
    h('h1', {}, 'Billing'),
    h('div', { class: 'cards' },
      h('section', { class: 'card stat', 'aria-label': 'Plan' }, h('h2', {}, 'Plan'), h('p', { class: 'big' }, b.plan.name), h('p', { class: 'muted' }, `status ${b.status}`)),
      h('section', { class: 'card stat', 'aria-label': 'Capacity' }, h('h2', {}, 'Capacity'), h('p', { class: 'big' }, `${b.capacity.used} / ${b.capacity.limit}`), h('p', { class: 'muted' }, 'active and provisioning instances')),
      h('section', { class: 'card stat', 'aria-label': 'Token window' }, h('h2', {}, `Tokens, last ${u.windowHours} h`), h('p', { class: 'big' }, fmtNumber(u.tokens)),
        h('progress', { max: 100, value: pct.toFixed(1), 'aria-label': 'Share of the per-instance limit used by all instances' }),
        h('p', { class: 'muted' }, `limit ${fmtNumber(b.plan.tokenLimit)} per instance (input + 5 × output)`))),
    h('section', { class: 'card' }, h('h2', {}, `Tokens per instance over the last ${u.windowHours} hours`), chart(u.byInstance, names, b.plan.tokenLimit)),
    h('section', { class: 'card' }, h('h2', {}, 'This period'),
      h('dl', { class: 'facts' },
        h('dt', {}, 'Since'), h('dd', {}, when(u.periodStart)),
        h('dt', {}, 'Instance time'), h('dd', {}, `${fmtNumber(Math.round(u.instanceSeconds / 36) / 100)} h`),
        h('dt', {}, 'Chat turns'), h('dd', {}, fmtNumber(u.chatTurns)),
        h('dt', {}, 'Automation runs'), h('dd', {}, fmtNumber(u.automationRuns)),
        h('dt', {}, 'Webhook deliveries'), h('dd', {}, fmtNumber(u.webhookDeliveries)))));
}

/// One horizontal bar per instance against the per-instance limit.
function chart(rows, names, limit) {
  const data = rows.map((r) => ({ name: names.get(r.instanceId) || r.instanceId, tokens: r.tokens }));
  const W = 640;
  const rowH = 30;
  const label = 150;
  const H = data.length ? data.length * rowH + 24 : 32;
  const max = Math.max(limit || 0, ...data.map((d) => d.tokens), 1);
  const x = (v) => label + ((W - label - 70) * v) / max;
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': 'Tokens per instance', class: 'chart', width: '100%' });
  svg.append(s('title', {}, 'Tokens per instance'));
  if (!data.length) {
    svg.append(s('text', { x: 8, y: 20, class: 'muted' }, 'No model usage in the window.'));
  }
  data.forEach((d, n) => {
    const y = n * rowH + 6;
    svg.append(
      s('text', { x: label - 8, y: y + 15, 'text-anchor': 'end' }, d.name.length > 20 ? `${d.name.slice(0, 19)}…` : d.name),
      s('rect', { x: label, y, width: Math.max(1, x(d.tokens) - label), height: rowH - 10, rx: 3, class: d.tokens >= limit ? 'bar over' : 'bar' }, s('title', {}, `${d.name}: ${d.tokens} tokens`)),
      s('text', { x: x(d.tokens) + 6, y: y + 15 }, fmtNumber(d.tokens)));
  });
  if (limit && data.length) {
    svg.append(s('line', { x1: x(limit), x2: x(limit), y1: 0, y2: H - 18, class: 'limit' }),
      s('text', { x: x(limit), y: H - 4, 'text-anchor': 'middle', class: 'muted' }, `limit ${fmtNumber(limit)}`));
  }
  return svg;
}

export async function cliLoginPage(ctx) {
  const session = new URLSearchParams(location.search).get('session') || '';
  const out = h('div');
  const approve = h('button', { type: 'button' }, 'Approve');
  put(ctx.main, h('section', { class: 'card narrow' },
    h('h1', {}, 'Approve CLI login'),
    h('p', {}, 'A command-line client asks to sign in to this account. Approve only if you just ran ', h('code', {}, 'operator login'), ' yourself and the code below matches what it printed.'),
    h('p', {}, 'Session ', h('code', { class: 'session' }, session || '(missing)')),
    h('p', { class: 'muted' }, 'Approving creates a new API key for the CLI; you can revoke it under Keys.'),
    h('div', { class: 'actions' }, approve, h('a', { class: 'button secondary', href: '/chat' }, 'Cancel')),
    out));
  approve.disabled = !session;
  approve.addEventListener('click', async () => {
    put(out);
    approve.disabled = true;
    try {
      await post('/api/cli/approve', { session });
      put(out, h('p', { role: 'status', class: 'ok' }, 'Approved. Return to your terminal: the CLI receives its key now.'));
    } catch (e) {
      approve.disabled = false;
      out.append(alertBox(e));
    }
  });
  if (!session) out.append(alertBox(new Error('This link has no session. Run `operator login` again.')));
}
