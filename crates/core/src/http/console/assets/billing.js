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
  const top = [...u.byInstance].sort((x, y) => y.tokens - x.tokens)[0];
  const busiest = top && { name: names.get(top.instanceId) || top.instanceId, tokens: top.tokens };
  const pct = busiest && b.plan.tokenLimit ? (100 * busiest.tokens) / b.plan.tokenLimit : 0;
  put(ctx.main,
    h('h1', {}, 'Billing'),
    h('div', { class: 'cards' },
      h('section', { class: 'card stat', 'aria-label': 'Plan' }, h('h2', {}, 'Plan'), h('p', { class: 'big' }, b.plan.name), h('p', { class: 'muted' }, `status ${b.status}`)),
      h('section', { class: 'card stat', 'aria-label': 'Capacity' }, h('h2', {}, 'Capacity'), h('p', { class: 'big' }, `${b.capacity.used} / ${b.capacity.limit}`), h('p', { class: 'muted' }, 'active and provisioning instances')),
      h('section', { class: 'card stat', 'aria-label': 'Token window' }, h('h2', {}, `Tokens, last ${u.windowHours} h`), h('p', { class: 'big' }, fmtNumber(u.tokens)),
        h('p', { class: 'muted' }, busiest ? `busiest: ${busiest.name}, ${percent(pct)} of its limit` : 'no model calls in the window'),
        h('p', { class: 'muted' }, `limit ${fmtNumber(b.plan.tokenLimit)} per instance (input + 5 × output)`))),
    h('section', { class: 'card', 'aria-label': 'Tokens per instance' },
      h('h2', {}, `Tokens per instance over the last ${u.windowHours} hours`),
      h('p', { class: 'muted small' }, `Each bar is ${u.bucketMinutes} minutes; the window rolls, so the oldest bar drops off as time passes. Over ${fmtNumber(b.plan.tokenLimit)} in the window, an instance's model calls get 429.`),
      u.byInstance.length
        ? h('div', { class: 'charts' }, [...u.byInstance].sort((x, y) => y.tokens - x.tokens).map((r) => instanceChart(r, names.get(r.instanceId) || r.instanceId, b.plan.tokenLimit, u)))
        : h('p', { class: 'muted' }, 'No model usage in the window.')),
    h('section', { class: 'card' }, h('h2', {}, 'This period'),
      h('dl', { class: 'facts' },
        h('dt', {}, 'Since'), h('dd', {}, when(u.periodStart)),
        h('dt', {}, 'Instance time'), h('dd', {}, `${fmtNumber(Math.round(u.instanceSeconds / 36) / 100)} h`),
        h('dt', {}, 'Chat turns'), h('dd', {}, fmtNumber(u.chatTurns)),
        h('dt', {}, 'Automation runs'), h('dd', {}, fmtNumber(u.automationRuns)),
        h('dt', {}, 'Webhook deliveries'), h('dd', {}, fmtNumber(u.webhookDeliveries)),
        h('dt', {}, 'Experiment items'), h('dd', {}, fmtNumber(u.experimentItems)))));
}

/// One instance's tokens across the window: a bar per bucket (oldest left, now right), its
/// total and its share of the limit.
function instanceChart(row, name, limit, u) {
  const W = 480;
  const H = 90;
  const n = row.series.length || 1;
  const max = Math.max(...row.series, 1);
  const bw = W / n;
  const label = `Tokens of ${name} over the last ${u.windowHours} hours`;
  const svg = s('svg', { viewBox: `0 0 ${W} ${H + 16}`, role: 'img', 'aria-label': label, class: 'chart' });
  svg.append(s('title', {}, `${label}: ${row.tokens} tokens`));
  const end = Date.now();
  row.series.forEach((t, i) => {
    const hgt = t ? Math.max(2, (H * t) / max) : 0;
    const from = new Date(end - (n - i) * u.bucketMinutes * 60000);
    const tip = `${from.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}: ${t} tokens`;
    svg.append(s('rect', { x: i * bw + 1, y: H - hgt, width: bw - 2, height: hgt, rx: 2, class: 'bar' }, s('title', {}, tip)));
  });
  svg.append(s('line', { x1: 0, x2: W, y1: H + 0.5, y2: H + 0.5, class: 'axis' }),
    s('text', { x: 0, y: H + 13, class: 'muted' }, `${u.windowHours} h ago`),
    s('text', { x: W, y: H + 13, 'text-anchor': 'end', class: 'muted' }, 'now'));
  const share = limit ? (100 * row.tokens) / limit : 0;
  return h('figure', { class: 'instance-chart' },
    h('figcaption', {}, h('strong', {}, name), ' ', h('span', { class: 'muted' }, `${fmtNumber(row.tokens)} tokens · ${percent(share)} of the limit`)),
    svg,
    h('progress', { max: 100, value: Math.min(100, share).toFixed(2), 'aria-label': `${name}: share of the token limit used` }));
}

function percent(p) {
  return p > 0 && p < 0.01 ? '<0.01%' : `${p.toFixed(2)}%`;
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
