// DOM building without HTML parsing. Everything shown here may come from agents, instances
// or users, so it only ever becomes text nodes or attribute values, never markup:
// `h('a', {href, onclick}, 'text', child)` creates the element, sets attributes, attaches
// listeners for `on*` functions and appends children (strings become text nodes).

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2), v);
    } else if (k === 'class') {
      el.className = v;
    } else if (k === 'dataset') {
      Object.assign(el.dataset, v);
    } else if (k === 'value') {
      el.value = v;
    } else if (k === 'checked' || k === 'disabled' || k === 'selected' || k === 'open') {
      el[k] = Boolean(v);
    } else {
      el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

/// Replaces an element's children.
export function put(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/// SVG elements (the billing chart).
export function s(tag, attrs, ...children) {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  append(el, children);
  return el;
}

let uid = 0;
/// A labelled form control: `field('Name', h('input', {...}))`.
export function field(label, control, hint) {
  const id = control.id || `f${++uid}`;
  control.id = id;
  const parts = [h('label', { for: id }, label), control];
  if (hint) {
    const hid = `${id}-hint`;
    control.setAttribute('aria-describedby', hid);
    parts.push(h('small', { id: hid, class: 'hint' }, hint));
  }
  return h('div', { class: 'field' }, parts);
}

/// A timestamp as local time, or as wall-clock time in `zone` (an IANA name) when given.
export function when(date, zone) {
  if (!date) return '—';
  const d = new Date(date);
  const text = zone
    ? new Intl.DateTimeFormat(undefined, { timeZone: zone, year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', timeZoneName: 'short' }).format(d)
    : d.toLocaleString();
  return h('time', { datetime: d.toISOString(), title: d.toISOString() }, text);
}

export function ago(date) {
  if (!date) return '—';
  const d = new Date(date);
  const secs = Math.round((Date.now() - d.getTime()) / 1000);
  let text;
  if (secs < 60) text = 'just now';
  else if (secs < 3600) text = `${Math.floor(secs / 60)} min ago`;
  else if (secs < 86400) text = `${Math.floor(secs / 3600)} h ago`;
  else text = d.toLocaleDateString();
  return h('time', { datetime: d.toISOString(), title: d.toLocaleString() }, text);
}

export function badge(status) {
  return h('span', { class: `badge ${status}` }, status);
}

/// An error shown as the API's message (role=alert: screen readers announce it).
export function alertBox(err) {
  const msg = err && err.message ? err.message : String(err);
  const box = h('div', { class: 'alert', role: 'alert' }, msg);
  if (err && err.details) {
    box.append(h('ul', {}, Object.entries(err.details).map(([k, v]) => h('li', {}, `${k}: ${v}`))));
  }
  return box;
}

/// A modal dialog built on <dialog>; resolves with the submitted form's values or null.
export function ask(title, fields, submitLabel) {
  return new Promise((resolve) => {
    const form = h('form', { method: 'dialog' });
    const dlg = h('dialog', { 'aria-label': title }, form);
    const err = h('div');
    form.append(
      h('h2', {}, title),
      ...fields.map(([label, control]) => field(label, control)),
      err,
      h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'secondary', onclick: () => dlg.close('cancel') }, 'Cancel'),
        h('button', { type: 'submit', value: 'ok' }, submitLabel)),
    );
    dlg.addEventListener('close', () => {
      const ok = dlg.returnValue === 'ok';
      dlg.remove();
      resolve(ok ? Object.fromEntries(fields.map(([label, c]) => [label, c.type === 'checkbox' ? c.checked : c.value])) : null);
    });
    document.body.append(dlg);
    dlg.showModal();
  });
}

/// Copies text, falling back to selecting it when the clipboard is unavailable (http).
export async function copy(text, button) {
  try {
    await navigator.clipboard.writeText(text);
    flash(button, 'Copied');
  } catch {
    flash(button, 'Select and copy');
  }
}

function flash(button, text) {
  if (!button) return;
  const old = button.textContent;
  button.textContent = text;
  setTimeout(() => { button.textContent = old; }, 1500);
}

export function fmtNumber(n) {
  return new Intl.NumberFormat().format(n);
}

/// Runs `f` every `ms` until `signal` aborts; `f` may return a different delay for the next
/// run, and a failure (shown by the page itself) does not stop the repetition.
export function repeat(signal, ms, f) {
  let t = null;
  const tick = async () => {
    if (signal.aborted) return;
    let next = ms;
    try { next = (await f()) || ms; } catch { /* shown by the page */ }
    if (!signal.aborted) t = setTimeout(tick, next);
  };
  t = setTimeout(tick, ms);
  signal.addEventListener('abort', () => clearTimeout(t));
}
