// One instance: status (live), and tabs for its workspace files (browse, view, upload), its
// agent's activity log (followed as it grows), a terminal (exec), the headless browser
// (open a page, take a screenshot) and the secrets granted to it.

import { h, put, alertBox, badge, ago, field, ask, repeat } from './dom.js';
import { get, post, del, api, enc } from './api.js';

const TABS = ['Files', 'Activity', 'Terminal', 'Browser', 'Secrets'];

export async function instancePage(ctx) {
  const ref = ctx.params[0];
  const base = `/api/instances/${enc(ref)}`;
  let inst = (await get(base, { signal: ctx.signal })).instance;
  const head = h('div', { class: 'instance-head' });
  const drawHead = () => put(head,
    h('p', { class: 'crumbs' }, h('a', { href: '/instances' }, 'Instances'), ' / '),
    h('div', { class: 'row' }, h('h1', {}, inst.name), badge(inst.status),
      ['provisioning', 'restarting'].includes(inst.status) ? h('span', { role: 'status', class: 'working' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), `${inst.status}…`) : null),
    inst.statusReason ? h('div', { class: 'alert', role: 'alert' }, inst.statusReason) : null,
    h('dl', { class: 'facts' },
      h('dt', {}, 'Id'), h('dd', {}, h('code', {}, inst.id)),
      h('dt', {}, 'Kind'), h('dd', {}, inst.kind),
      h('dt', {}, 'Image'), h('dd', {}, inst.imageTag),
      inst.fqdn ? [h('dt', {}, 'Address'), h('dd', {}, inst.fqdn)] : null,
      h('dt', {}, 'Created'), h('dd', {}, ago(inst.createdAt))));
  drawHead();

  const tablist = h('div', { role: 'tablist', 'aria-label': 'Instance' });
  const panel = h('div', { role: 'tabpanel', class: 'card panel' });
  const tabs = TABS.map((name, n) => h('button', {
    type: 'button', role: 'tab', id: `tab-${n}`, 'aria-controls': 'panel', 'aria-selected': 'false', tabindex: '-1',
    onclick: () => select(n),
    onkeydown: (ev) => {
      const d = ev.key === 'ArrowRight' ? 1 : ev.key === 'ArrowLeft' ? -1 : 0;
      if (d) { const m = (n + d + TABS.length) % TABS.length; select(m); tabs[m].focus(); }
    },
  }, name));
  tablist.append(...tabs);
  panel.id = 'panel';
  put(ctx.main, head, tablist, panel);

  let tabCtl = null;
  const select = (n) => {
    tabs.forEach((t, m) => { t.setAttribute('aria-selected', String(m === n)); t.tabIndex = m === n ? 0 : -1; });
    panel.setAttribute('aria-labelledby', `tab-${n}`);
    if (tabCtl) tabCtl.abort();
    tabCtl = new AbortController();
    ctx.signal.addEventListener('abort', () => tabCtl.abort());
    const sub = { ...ctx, signal: tabCtl.signal, base, inst: () => inst };
    sub.every = (ms, f) => repeat(sub.signal, ms, f);
    put(panel);
    [files, activity, terminal, browser, secrets][n](panel, sub).catch((e) => { if (e.name !== 'AbortError') panel.append(alertBox(e)); });
  };
  select(0);

  ctx.every(2000, async () => {
    const before = inst.status;
    inst = (await get(base, { signal: ctx.signal })).instance;
    drawHead();
    // Became usable: redraw the open tab (it may have said "not active").
    if (before !== inst.status && inst.status === 'active') select(tabs.findIndex((t) => t.getAttribute('aria-selected') === 'true'));
    return ['provisioning', 'restarting'].includes(inst.status) ? 1000 : 3000;
  });
}

function notActive(panel, ctx) {
  if (ctx.inst().status === 'active') return false;
  panel.append(h('p', { class: 'muted' }, `The workspace is available once the instance is active (now ${ctx.inst().status}).`));
  return true;
}

async function files(panel, ctx) {
  if (notActive(panel, ctx)) return;
  let dir = '';
  const crumbs = h('nav', { class: 'crumbs', 'aria-label': 'Folder' });
  const list = h('ul', { class: 'files', 'aria-label': 'Files' });
  const viewer = h('div', { class: 'viewer' });
  const errors = h('div');
  const upload = h('input', { type: 'file', multiple: true });
  panel.append(
    h('div', { class: 'row' }, crumbs, field('Upload file', upload)),
    errors, h('div', { class: 'split' }, list, viewer));

  const show = async (path) => {
    put(errors);
    let node;
    try { node = await get(`${ctx.base}/files?path=${enc(path)}`, { signal: ctx.signal }); } catch (e) { errors.append(alertBox(e)); return; }
    if (node.type === 'directory') {
      dir = node.path;
      const parts = dir ? dir.split('/') : [];
      put(crumbs, h('button', { type: 'button', class: 'link', onclick: () => show('') }, 'workspace'),
        parts.map((p, n) => ['/', h('button', { type: 'button', class: 'link', onclick: () => show(parts.slice(0, n + 1).join('/')) }, p)]));
      const entries = [...node.entries].sort((a, b) => (a.type === 'directory' ? 0 : 1) - (b.type === 'directory' ? 0 : 1) || a.name.localeCompare(b.name));
      put(list, entries.length ? entries.map((e) => h('li', {},
        h('button', { type: 'button', class: `link entry ${e.type}`, onclick: () => show(dir ? `${dir}/${e.name}` : e.name) }, e.type === 'directory' ? `${e.name}/` : e.name),
        e.type === 'file' ? h('small', { class: 'muted' }, ` ${size(e.size)}`) : null)) : h('li', { class: 'muted' }, 'Empty folder.'));
    } else {
      const content = node.encoding === 'base64'
        ? h('p', { class: 'muted' }, `Binary file, ${size(node.size)}.`)
        : h('pre', { 'aria-label': 'File content', class: 'file-content' }, node.content);
      put(viewer, h('div', { class: 'row' }, h('h3', {}, node.path), h('small', { class: 'muted' }, size(node.size)),
        h('button', { type: 'button', class: 'danger small', 'aria-label': `Delete file ${node.path}`, onclick: async () => {
          if (!(await ask(`Delete ${node.path}?`, [], 'Delete'))) return;
          try { await del(`${ctx.base}/files?path=${enc(node.path)}`); put(viewer); show(dir); } catch (e) { errors.append(alertBox(e)); }
        } }, 'Delete')), content);
    }
  };
  upload.addEventListener('change', async () => {
    put(errors);
    for (const f of upload.files) {
      const path = dir ? `${dir}/${f.name}` : f.name;
      try {
        await api('PUT', `${ctx.base}/files?path=${enc(path)}`, f, { contentType: f.type || 'application/octet-stream' });
      } catch (e) { errors.append(alertBox(e)); }
    }
    upload.value = '';
    await show(dir);
  });
  await show('');
}

async function activity(panel, ctx) {
  if (notActive(panel, ctx)) return;
  const session = h('select', {});
  const log = h('ol', { class: 'activity', 'aria-label': 'Activity log' });
  const count = h('span', { class: 'muted' });
  panel.append(h('div', { class: 'row' }, field('Session', session), count, h('span', { class: 'live' }, '● following')), log);
  let cursor = null;
  let sessionId = null;
  const load = async () => {
    const q = new URLSearchParams();
    if (cursor) q.set('cursor', cursor);
    if (sessionId) q.set('sessionId', sessionId);
    const a = await get(`${ctx.base}/activity?${q}`, { signal: ctx.signal });
    if (a.sessionChanged) put(log);
    const chosen = a.selectedSession ? a.selectedSession.id : '';
    put(session, a.sessions.length ? a.sessions.map((s) => h('option', { value: s.id, selected: s.id === chosen }, s.title || s.id)) : h('option', { value: '' }, 'no sessions yet'));
    const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
    for (const line of a.lines) log.append(activityLine(line));
    if (atBottom) log.scrollTop = log.scrollHeight;
    put(count, `${a.lineCount} lines`);
    cursor = a.cursor || cursor;
    if (!log.childNodes.length) put(log, h('li', { class: 'muted empty' }, 'No activity yet.'));
    else log.querySelectorAll('.empty').forEach((e) => e.remove());
  };
  session.addEventListener('change', () => { sessionId = session.value || null; cursor = null; put(log); load(); });
  await load();
  ctx.every(2000, load);
}

function activityLine(line) {
  let v = null;
  try { v = JSON.parse(line); } catch { /* raw */ }
  if (v && v.type === 'session') {
    return h('li', { class: 'session-start' }, h('span', { class: 'actor' }, 'session'), ' ', `${v.title || v.id} started `, v.createdAt ? new Date(v.createdAt).toLocaleString() : '');
  }
  if (v && typeof v === 'object') {
    const who = v.role || v.type || (v.message && v.message.role) || 'event';
    const calls = Array.isArray(v.tool_calls) ? v.tool_calls.map((c) => `→ ${c.function ? c.function.name : 'tool'}(${c.function ? c.function.arguments : ''})`).join('\n') : '';
    const content = v.text ?? v.content ?? (v.message && v.message.content) ?? (calls ? '' : v);
    // OpenClaw's transcript messages carry their text as parts: show the text parts.
    const parts = Array.isArray(content) && content.every((p) => p && typeof p.text === 'string')
      ? content.map((p) => p.text).join('\n') : null;
    const said = parts ?? (typeof content === 'string' ? content : JSON.stringify(content));
    const text = [said, calls].filter(Boolean).join('\n');
    return h('li', {}, h('span', { class: `actor role-${String(who).replace(/[^a-z]/gi, '')}` }, who), ' ', text.length > 4000 ? `${text.slice(0, 4000)}…` : text);
  }
  return h('li', {}, line);
}

async function terminal(panel, ctx) {
  if (notActive(panel, ctx)) return;
  const cmd = h('input', { autocomplete: 'off', spellcheck: 'false', placeholder: 'ls -la', class: 'mono' });
  const out = h('pre', { class: 'terminal', 'aria-label': 'Terminal output', 'aria-live': 'polite' });
  const run = h('button', { type: 'submit' }, 'Run');
  const form = h('form', { class: 'row wide-input' }, field('Command', cmd), run);
  panel.append(form, out);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const command = cmd.value;
    if (!command.trim()) return;
    run.disabled = true;
    out.append(h('span', { class: 'prompt' }, `$ ${command}\n`));
    try {
      const r = await post(`${ctx.base}/exec`, { command }, { signal: ctx.signal });
      if (r.stdout) out.append(r.stdout.endsWith('\n') ? r.stdout : `${r.stdout}\n`);
      if (r.stderr) out.append(h('span', { class: 'stderr' }, r.stderr.endsWith('\n') ? r.stderr : `${r.stderr}\n`));
      out.append(h('span', { class: 'meta' }, `[exit ${r.exitCode ?? '—'}${r.timedOut ? ', timed out' : ''}${r.truncated ? ', output truncated' : ''}, ${r.durationMs} ms]\n`));
    } catch (e) {
      out.append(h('span', { class: 'stderr' }, `${e.message}\n`));
    } finally {
      run.disabled = false;
      cmd.select();
      out.scrollTop = out.scrollHeight;
    }
  });
}

async function browser(panel, ctx) {
  if (notActive(panel, ctx)) return;
  const url = h('input', { type: 'url', placeholder: 'https://example.com', required: true });
  const info = h('div', {});
  const shot = h('div', { class: 'shot' });
  const errors = h('div');
  const form = h('form', { class: 'row wide-input' }, field('URL', url), h('button', { type: 'submit' }, 'Open'),
    h('button', { type: 'button', class: 'secondary', onclick: () => screenshot() }, 'Screenshot'));
  panel.append(h('p', { class: 'muted' }, "The instance's headless browser: open a page, then take a screenshot of what it shows."), form, errors, info, shot);
  let objectUrl = null;
  ctx.signal.addEventListener('abort', () => objectUrl && URL.revokeObjectURL(objectUrl));
  const screenshot = async () => {
    put(errors);
    try {
      const res = await api('GET', `${ctx.base}/browser/screenshot`, undefined, { raw: true, signal: ctx.signal });
      const blob = await res.blob();
      if (objectUrl) URL.revokeObjectURL(objectUrl);
      objectUrl = URL.createObjectURL(blob);
      put(shot, h('img', { src: objectUrl, alt: 'Browser screenshot' }));
    } catch (e) { if (e.name !== 'AbortError') errors.append(alertBox(e)); }
  };
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    put(errors);
    put(info, h('p', { role: 'status' }, 'Loading…'));
    try {
      const p = await post(`${ctx.base}/browser/open`, { url: url.value }, { signal: ctx.signal });
      put(info, h('h3', {}, p.title || p.url), h('p', { class: 'muted' }, p.url), h('pre', { class: 'page-text' }, (p.text || '').slice(0, 3000)));
      await screenshot();
    } catch (e) { put(info); if (e.name !== 'AbortError') errors.append(alertBox(e)); }
  });
}

async function secrets(panel, ctx) {
  const errors = h('div');
  const list = h('ul', { class: 'granted', 'aria-label': 'Granted secrets' });
  const choice = h('select', {});
  const form = h('form', { class: 'row wide-input' }, field('Secret to grant', choice), h('button', { type: 'submit' }, 'Grant'));
  panel.append(h('p', { class: 'muted' }, 'Secrets this instance can read (granted, or global). Values are never shown here.'), list, form, errors);
  const id = ctx.inst().id;
  const load = async () => {
    const { secrets: all } = await get('/api/secrets?limit=200', { signal: ctx.signal });
    const mine = all.filter((s) => s.isGlobal || s.grants.includes(id));
    put(list, mine.length ? mine.map((s) => h('li', {}, h('code', {}, s.name), s.isGlobal ? h('span', { class: 'badge' }, 'global') : null,
      s.grants.includes(id) ? h('button', { type: 'button', class: 'secondary small', 'aria-label': `Revoke ${s.name}`, onclick: async () => {
        try { await del(`/api/secrets/${enc(s.id)}/grants/${enc(id)}`); } catch (e) { errors.append(alertBox(e)); }
        load();
      } }, 'Revoke') : null)) : h('li', { class: 'muted' }, 'No secrets granted.'));
    const others = all.filter((s) => !s.isGlobal && !s.grants.includes(id));
    put(choice, others.map((s) => h('option', { value: s.id }, s.name)));
    form.hidden = !others.length;
  };
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    put(errors);
    try { await post(`/api/secrets/${enc(choice.value)}/grants`, { instanceId: id }); } catch (e) { errors.append(alertBox(e)); }
    load();
  });
  await load();
}

function size(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}


