// Instances: create, the list with live status badges (polled, faster while any instance is
// provisioning or restarting), and restart / clone / delete.

import { h, put, alertBox, badge, ago, ask, field } from './dom.js';
import { get, post, del, enc } from './api.js';

const MOVING = ['provisioning', 'restarting'];

export async function instancesPage(ctx) {
  const errors = h('div');
  const tbody = h('tbody');
  const name = h('input', { name: 'name', required: true, pattern: '[\\-a-z0-9]{1,63}', maxlength: 63, autocomplete: 'off', placeholder: 'weather-desk' });
  const kind = h('select', { name: 'kind' }, h('option', { value: 'prebuilt' }, 'prebuilt'), h('option', { value: 'blank' }, 'blank'), h('option', { value: 'openclaw' }, 'openclaw'));
  const capacity = h('p', { class: 'muted' });
  const form = h('form', { class: 'card inline-form', 'aria-label': 'New instance' },
    field('Name', name, 'lowercase letters, digits and dashes'),
    field('Kind', kind),
    h('button', { type: 'submit' }, 'Create instance'));
  put(ctx.main,
    h('div', { class: 'row' }, h('h1', {}, 'Instances'), capacity),
    form, errors,
    h('div', { class: 'table-wrap' }, h('table', { class: 'list' },
      h('thead', {}, h('tr', {}, h('th', {}, 'Name'), h('th', {}, 'Status'), h('th', { class: 'wide' }, 'Kind'), h('th', { class: 'wide' }, 'Created'), h('th', {}, h('span', { class: 'sr-only' }, 'Actions')))),
      tbody)));

  const act = async (f) => {
    put(errors);
    try { await f(); } catch (e) { errors.append(alertBox(e)); }
    await refresh();
  };

  const row = (i) => h('tr', { 'data-instance-id': i.id },
    h('td', {}, h('a', { href: `/instances/${enc(i.id)}` }, i.name)),
    h('td', {}, badge(i.status), MOVING.includes(i.status) ? h('span', { class: 'spinner', 'aria-hidden': 'true' }) : null,
      i.statusReason ? h('div', { class: 'muted small' }, i.statusReason) : null),
    h('td', { class: 'wide' }, i.kind),
    h('td', { class: 'wide' }, ago(i.createdAt)),
    h('td', { class: 'row-actions' },
      h('button', { type: 'button', class: 'secondary small', 'aria-label': `Restart ${i.name}`, disabled: i.status !== 'active' && i.status !== 'failed', onclick: () => act(() => post(`/api/instances/${enc(i.id)}/restart`)) }, 'Restart'),
      h('button', { type: 'button', class: 'secondary small', 'aria-label': `Clone ${i.name}`, onclick: () => act(async () => {
        const v = await ask(`Clone ${i.name}`, [['New name', h('input', { required: true, pattern: '[\\-a-z0-9]{1,63}', value: `${i.name}-copy`.slice(0, 63) })]], 'Clone');
        if (v) await post(`/api/instances/${enc(i.id)}/clone`, { name: v['New name'] });
      }) }, 'Clone'),
      h('button', { type: 'button', class: 'danger small', 'aria-label': `Delete ${i.name}`, onclick: () => act(async () => {
        const v = await ask(`Delete ${i.name}? Its container stops and the instance becomes inactive.`, [], 'Delete');
        if (v) await del(`/api/instances/${enc(i.id)}`);
      }) }, 'Delete')));

  const refresh = async () => {
    const [{ instances }, billing] = await Promise.all([
      get('/api/instances?limit=200', { signal: ctx.signal }),
      get('/api/billing', { signal: ctx.signal }).catch(() => null),
    ]);
    put(tbody, instances.length ? instances.map(row) : h('tr', {}, h('td', { colspan: 5, class: 'muted' }, 'No instances yet. Create one above, or ask the Operator in Chat.')));
    if (billing) put(capacity, `Capacity ${billing.capacity.used} / ${billing.capacity.limit} (${billing.plan.name})`);
    return instances.some((i) => MOVING.includes(i.status)) ? 1000 : 4000;
  };

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    act(async () => {
      await post('/api/instances', { name: name.value.trim(), kind: kind.value });
      name.value = '';
    });
  });
  await refresh();
  ctx.every(4000, refresh);
}
