// Secrets, automations, webhooks and API keys: each a create form and a table with the
// per-row actions API.md offers. One-time values (a new secret's value, a new key) are shown
// in a panel until dismissed and never again.

import { h, put, alertBox, ago, when, ask, field, copy, badge } from './dom.js';
import { get, post, put as update, del, enc } from './api.js';

/// A page skeleton: title, intro, create form, errors, one-time panel and a table.
function scaffold(ctx, title, intro, form, headings) {
  const errors = h('div');
  const once = h('div');
  const tbody = h('tbody');
  put(ctx.main, h('h1', {}, title), h('p', { class: 'muted' }, intro), form, errors, once,
    h('div', { class: 'table-wrap' }, h('table', { class: 'list' },
      h('thead', {}, h('tr', {}, headings.map(([t, cls]) => h('th', { class: cls }, t)), h('th', {}, h('span', { class: 'sr-only' }, 'Actions')))),
      tbody)));
  const act = async (f, reload) => {
    put(errors);
    try { await f(); } catch (e) { errors.append(alertBox(e)); }
    await reload();
  };
  return { errors, once, tbody, act };
}

/// A destructive row action: asks first (a dialog whose button is `verb`), then runs `f`
/// and reloads the table.
function confirmed(p, reload, label, question, f, verb = 'Delete') {
  return h('button', {
    type: 'button', class: 'danger small', 'aria-label': label,
    onclick: () => p.act(async () => { if (await ask(question, [], verb)) await f(); }, reload),
  }, verb);
}

function empty(tbody, cols, text) {
  put(tbody, h('tr', {}, h('td', { colspan: cols + 1, class: 'muted' }, text)));
}

function oneTime(once, label, value, note) {
  put(once, h('section', { class: 'card once', 'aria-label': label },
    h('h2', {}, label),
    h('p', {}, note, ' It is ', h('strong', {}, 'shown only once'), ': copy it now.'),
    h('div', { class: 'row' }, h('code', { class: 'secret' }, value),
      h('button', { type: 'button', class: 'secondary small', onclick: (ev) => copy(value, ev.currentTarget) }, 'Copy'),
      h('button', { type: 'button', onclick: () => put(once) }, 'Done'))));
}

export async function secretsPage(ctx) {
  const name = h('input', { required: true, pattern: '[A-Z_][A-Z0-9_]*', autocomplete: 'off', placeholder: 'GITHUB_TOKEN', class: 'mono' });
  const value = h('input', { type: 'password', required: true, autocomplete: 'new-password' });
  const description = h('input', { autocomplete: 'off' });
  const global = h('input', { type: 'checkbox' });
  const form = h('form', { class: 'card inline-form', 'aria-label': 'New secret' },
    field('Name', name, 'an environment-variable name'), field('Value', value), field('Description', description),
    h('div', { class: 'field check' }, global, h('label', { for: global.id = 'secret-global' }, 'Global')),
    h('button', { type: 'submit' }, 'Create secret'));
  const p = scaffold(ctx, 'Secrets', 'Encrypted at rest; instances read only what is granted to them (or global secrets). Values are never shown after creation, and never to the Operator agent.', form,
    [['Name'], ['Description', 'wide'], ['Granted to'], ['Updated', 'wide']]);
  let names = new Map();
  const load = async () => {
    const [{ secrets }, { instances }] = await Promise.all([get('/api/secrets?limit=200', { signal: ctx.signal }), get('/api/instances?limit=200', { signal: ctx.signal })]);
    names = new Map(instances.map((i) => [i.id, i.name]));
    if (!secrets.length) return empty(p.tbody, 4, 'No secrets yet.');
    put(p.tbody, secrets.map((s) => h('tr', { 'data-secret-id': s.id },
      h('td', {}, h('code', {}, s.name)),
      h('td', { class: 'wide' }, s.description || ''),
      h('td', {}, s.isGlobal ? badge('global') : null, s.grants.map((g) => h('span', { class: 'chip' }, names.get(g) || g,
        h('button', { type: 'button', class: 'chip-x', 'aria-label': `Revoke ${s.name} from ${names.get(g) || g}`, onclick: () => p.act(() => del(`/api/secrets/${enc(s.id)}/grants/${enc(g)}`), load) }, '×')))),
      h('td', { class: 'wide' }, ago(s.updatedAt)),
      h('td', { class: 'row-actions' },
        h('button', { type: 'button', class: 'secondary small', 'aria-label': `Rotate ${s.name}`, onclick: () => p.act(async () => {
          const v = await ask(`Rotate ${s.name}`, [['New value', h('input', { type: 'password', required: true, autocomplete: 'new-password' })]], 'Rotate');
          if (v) await update(`/api/secrets/${enc(s.id)}`, { value: v['New value'] });
        }, load) }, 'Rotate'),
        h('button', { type: 'button', class: 'secondary small', 'aria-label': `Grant ${s.name}`, disabled: !instances.length, onclick: () => p.act(async () => {
          const v = await ask(`Grant ${s.name} to an instance`, [['Instance', h('select', {}, instances.filter((i) => !s.grants.includes(i.id)).map((i) => h('option', { value: i.id }, i.name)))]], 'Grant');
          if (v && v.Instance) await post(`/api/secrets/${enc(s.id)}/grants`, { instanceId: v.Instance });
        }, load) }, 'Grant'),
        confirmed(p, load, `Delete ${s.name}`, `Delete ${s.name}? Instances lose access at once.`, () => del(`/api/secrets/${enc(s.id)}`))))));
  };
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    p.act(async () => {
      const body = { name: name.value.trim(), value: value.value, isGlobal: global.checked };
      if (description.value.trim()) body.description = description.value.trim();
      const { secret } = await post('/api/secrets', body);
      value.value = '';
      name.value = '';
      description.value = '';
      oneTime(p.once, 'New secret value', secret.value, `${secret.name} was created.`);
    }, load);
  });
  await load();
}

export async function automationsPage(ctx) {
  const name = h('input', { required: true, autocomplete: 'off', placeholder: 'morning-brief' });
  const prompt = h('textarea', { required: true, rows: 2, placeholder: 'Summarise what every instance did overnight.' });
  const cron = h('input', { required: true, value: '0 9 * * 1-5', class: 'mono', autocomplete: 'off' });
  const zone = h('input', { value: Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC', autocomplete: 'off', list: 'zones' });
  const zones = h('datalist', { id: 'zones' }, (Intl.supportedValuesOf ? Intl.supportedValuesOf('timeZone') : ['UTC']).map((z) => h('option', { value: z })));
  const preview = h('div', { class: 'preview' });
  const form = h('form', { class: 'card', 'aria-label': 'New automation' },
    h('div', { class: 'inline-form' }, field('Name', name), field('Cron expression', cron, 'minute hour day-of-month month day-of-week'), field('Timezone', zone)),
    field('Prompt', prompt), zones, preview,
    h('button', { type: 'submit' }, 'Create automation'));
  const p = scaffold(ctx, 'Automations', 'Prompts the Operator agent runs on a schedule, each in its own chat thread.', form,
    [['Name'], ['Schedule'], ['Next run', 'wide'], ['Enabled']]);
  const runs = h('div');
  ctx.main.append(runs);

  let seq = 0;
  const showPreview = async () => {
    const mine = ++seq;
    const q = new URLSearchParams({ cronExpression: cron.value, count: '5' });
    if (zone.value.trim()) q.set('timezone', zone.value.trim());
    try {
      const r = await get(`/api/automations/next-runs?${q}`, { signal: ctx.signal });
      if (mine !== seq) return;
      const fmt = new Intl.DateTimeFormat(undefined, { timeZone: r.timezone, weekday: 'short', year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', timeZoneName: 'short' });
      put(preview, h('h3', {}, `Next runs (${r.timezone})`),
        h('ol', { 'aria-label': 'Next runs' }, r.nextRuns.map((t) => h('li', {}, h('time', { datetime: t }, fmt.format(new Date(t)))))));
    } catch (e) {
      if (mine === seq && e.name !== 'AbortError') put(preview, alertBox(e));
    }
  };
  let timer = null;
  for (const el of [cron, zone]) el.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(showPreview, 250); });
  showPreview();

  const showRuns = async (a) => {
    const { runs: rs } = await get(`/api/automations/${enc(a.id)}/runs?limit=20`, { signal: ctx.signal });
    put(runs, h('section', { class: 'card', 'aria-label': `Runs of ${a.name}` }, h('h2', {}, `Runs of ${a.name}`),
      rs.length ? h('div', { class: 'table-wrap' }, h('table', { class: 'list' }, h('thead', {}, h('tr', {}, ['Status', 'Trigger', 'Scheduled for', 'Finished', 'Chat', 'Error'].map((t) => h('th', {}, t)))),
        h('tbody', {}, rs.map((r) => h('tr', {}, h('td', {}, badge(r.status)), h('td', {}, r.trigger), h('td', {}, when(r.scheduledFor)), h('td', {}, when(r.finishedAt)),
          h('td', {}, r.chatId ? h('a', { href: `/chat/${enc(r.chatId)}` }, 'open') : '—'), h('td', {}, r.error || '')))))) : h('p', { class: 'muted' }, 'No runs yet.')));
  };
  const load = async () => {
    const { automations } = await get('/api/automations?limit=200', { signal: ctx.signal });
    if (!automations.length) return empty(p.tbody, 4, 'No automations yet.');
    put(p.tbody, automations.map((a) => h('tr', { 'data-automation-id': a.id },
      h('td', {}, h('strong', {}, a.name), h('div', { class: 'muted small clip' }, a.prompt)),
      h('td', {}, h('code', {}, a.cronExpression), h('div', { class: 'muted small' }, a.timezone)),
      h('td', { class: 'wide' }, a.enabled ? when(a.nextRunAt, a.timezone) : '—'),
      h('td', {}, h('input', { type: 'checkbox', checked: a.enabled, 'aria-label': `Enabled ${a.name}`, onchange: (ev) => p.act(() => update(`/api/automations/${enc(a.id)}`, { enabled: ev.target.checked }), load) })),
      h('td', { class: 'row-actions' },
        h('button', { type: 'button', class: 'secondary small', 'aria-label': `Run ${a.name} now`, onclick: () => p.act(async () => { await post(`/api/automations/${enc(a.id)}/run`); await showRuns(a); }, load) }, 'Run now'),
        h('button', { type: 'button', class: 'secondary small', 'aria-label': `Runs of ${a.name}`, onclick: () => p.act(() => showRuns(a), load) }, 'Runs'),
        confirmed(p, load, `Delete ${a.name}`, `Delete ${a.name}?`, () => del(`/api/automations/${enc(a.id)}`))))));
  };
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    p.act(async () => {
      const body = { name: name.value.trim(), prompt: prompt.value, cronExpression: cron.value };
      if (zone.value.trim()) body.timezone = zone.value.trim();
      await post('/api/automations', body);
      name.value = '';
      prompt.value = '';
    }, load);
  });
  await load();
}

export async function webhooksPage(ctx) {
  const name = h('input', { required: true, autocomplete: 'off', placeholder: 'github-push' });
  const template = h('textarea', { required: true, rows: 2, value: 'A GitHub push arrived: {{payload}}. Summarise it.' });
  const form = h('form', { class: 'card', 'aria-label': 'New webhook' },
    field('Name', name), field('Prompt template', template, 'must contain {{payload}} — replaced by the request body'),
    h('button', { type: 'submit' }, 'Create webhook'));
  const p = scaffold(ctx, 'Webhooks', 'Inbound HTTP calls that prompt the Operator agent. The URL carries the token: anyone with it can trigger the webhook.', form,
    [['Name'], ['URL'], ['Enabled']]);
  const deliveries = h('div');
  ctx.main.append(deliveries);
  const showDeliveries = async (w) => {
    const { deliveries: ds } = await get(`/api/webhooks/${enc(w.id)}/deliveries?limit=20`, { signal: ctx.signal });
    put(deliveries, h('section', { class: 'card', 'aria-label': `Deliveries of ${w.name}` }, h('h2', {}, `Deliveries of ${w.name}`),
      ds.length ? h('div', { class: 'table-wrap' }, h('table', { class: 'list' }, h('thead', {}, h('tr', {}, ['Status', 'Received', 'Chat', 'Error'].map((t) => h('th', {}, t)))),
        h('tbody', {}, ds.map((d) => h('tr', {}, h('td', {}, badge(d.status)), h('td', {}, when(d.receivedAt)),
          h('td', {}, d.chatId ? h('a', { href: `/chat/${enc(d.chatId)}` }, 'open') : '—'), h('td', {}, d.error || '')))))) : h('p', { class: 'muted' }, 'No deliveries yet.')));
  };
  const load = async () => {
    const { webhooks } = await get('/api/webhooks?limit=200', { signal: ctx.signal });
    if (!webhooks.length) return empty(p.tbody, 3, 'No webhooks yet.');
    put(p.tbody, webhooks.map((w) => h('tr', { 'data-webhook-id': w.id },
      h('td', {}, h('strong', {}, w.name), h('div', { class: 'muted small clip' }, w.promptTemplate)),
      h('td', {}, h('code', { class: 'url' }, w.url), ' ',
        h('button', { type: 'button', class: 'secondary small', 'aria-label': `Copy URL of ${w.name}`, onclick: (ev) => copy(w.url, ev.currentTarget) }, 'Copy')),
      h('td', {}, h('input', { type: 'checkbox', checked: w.enabled, 'aria-label': `Enabled ${w.name}`, onchange: (ev) => p.act(() => update(`/api/webhooks/${enc(w.id)}`, { enabled: ev.target.checked }), load) })),
      h('td', { class: 'row-actions' },
        h('button', { type: 'button', class: 'secondary small', 'aria-label': `Deliveries of ${w.name}`, onclick: () => p.act(() => showDeliveries(w), load) }, 'Deliveries'),
        h('button', { type: 'button', class: 'secondary small', 'aria-label': `Rotate token of ${w.name}`, onclick: () => p.act(async () => {
          if (await ask(`Rotate the token of ${w.name}? The old URL stops working at once.`, [], 'Rotate')) await update(`/api/webhooks/${enc(w.id)}`, { regenerateToken: true });
        }, load) }, 'Rotate token'),
        confirmed(p, load, `Delete ${w.name}`, `Delete ${w.name}?`, () => del(`/api/webhooks/${enc(w.id)}`))))));
  };
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    p.act(async () => {
      await post('/api/webhooks', { name: name.value.trim(), promptTemplate: template.value });
      name.value = '';
    }, load);
  });
  await load();
}

export async function keysPage(ctx) {
  const name = h('input', { autocomplete: 'off', placeholder: 'laptop' });
  const form = h('form', { class: 'card inline-form', 'aria-label': 'New API key' },
    field('Key name', name), h('button', { type: 'submit' }, 'Create key'));
  const p = scaffold(ctx, 'Keys', 'API keys have full access to this account. Revoking one takes effect on its very next use.', form,
    [['Name'], ['Prefix'], ['Created', 'wide'], ['Last used']]);
  const load = async () => {
    const { keys } = await get('/api/chat-keys', { signal: ctx.signal });
    put(p.tbody, keys.map((k) => h('tr', { 'data-key-id': k.id },
      h('td', {}, k.name || h('span', { class: 'muted' }, 'unnamed')),
      h('td', {}, h('code', {}, `${k.prefix}…`)),
      h('td', { class: 'wide' }, ago(k.createdAt)),
      h('td', {}, ago(k.lastUsedAt)),
      h('td', { class: 'row-actions' },
        confirmed(p, load, `Revoke ${k.name || k.prefix}`, `Revoke ${k.name || k.prefix}? Clients using it get 401 at once.`, () => del(`/api/chat-keys/${enc(k.id)}`), 'Revoke')))));
  };
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    p.act(async () => {
      const body = name.value.trim() ? { name: name.value.trim() } : {};
      const k = await post('/api/chat-keys', body);
      name.value = '';
      oneTime(p.once, 'New API key', k.key, 'The key was created.');
    }, load);
  });
  await load();
}
