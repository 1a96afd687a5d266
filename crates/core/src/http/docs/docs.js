// The API reference at /docs: reads /api/openapi.json and renders every operation with a form
// that sends the real request from this page (parameters in their place — path, query, header —
// raw bodies as they are, the key as a bearer header), shows the answer as it arrives (SSE
// events one by one while the stream runs) and the equivalent curl command.
//
// The API key stays in this tab: sessionStorage under the console's name (so a console
// sign-in carries over), never a URL, never localStorage, never the curl snippet (which names
// `$OPERATOR_API_KEY` instead). Nothing from the specification or a response is parsed as
// HTML; the page's Content-Security-Policy allows only this origin's scripts.

import { h, rich, clear } from './dom.js';
import {
  operations, deref, refName, typeOf, describeType, bodyExamples, exampleText, isJson,
  securityOf, defaultScheme,
} from './spec.js';
import { buildRequest, parseHeaderLines, curl, SseParser } from './http.js';

const KEY_STORAGE = 'operator.key';
const KEY_VARIABLE = 'OPERATOR_API_KEY';
/** Stands in for a credential while the curl snippet is built: the real one never goes there. */
const CREDENTIAL = '\u0000credential\u0000';
const MAX_TEXT = 2 * 1024 * 1024;
const MAX_EVENTS = 5000;

const keyInput = document.getElementById('key');
const opsRoot = document.getElementById('ops');
const toc = document.getElementById('toc');
const filter = document.getElementById('filter');

let spec = null;
let mainScheme = null;
const built = []; // { entry, refreshCurl } of every operation whose form exists

// ---------------------------------------------------------------- the key

keyInput.value = sessionStorage.getItem(KEY_STORAGE) || '';
keyInput.addEventListener('input', () => {
  const k = keyInput.value.trim();
  if (k) sessionStorage.setItem(KEY_STORAGE, k);
  else sessionStorage.removeItem(KEY_STORAGE);
  for (const b of built) b.refreshCurl();
});
// the field is in a form only so browsers treat it as a password field: it never submits
document.getElementById('keyform').addEventListener('submit', (ev) => ev.preventDefault());
document.getElementById('forget').addEventListener('click', () => {
  keyInput.value = '';
  sessionStorage.removeItem(KEY_STORAGE);
  for (const b of built) b.refreshCurl();
});

function apiKey() {
  return keyInput.value.trim();
}

/** Shell variable for a security scheme: the default one is `$OPERATOR_API_KEY`. */
function variableFor(scheme) {
  if (!scheme || scheme === mainScheme) return KEY_VARIABLE;
  return `OPERATOR_${scheme.replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/[^A-Za-z0-9]+/g, '_').toUpperCase()}`;
}

/** Where a scheme's credential goes: `{ header, prefix }` (bearer by default). */
function placement(scheme) {
  const s = deref(spec, ((spec.components || {}).securitySchemes || {})[scheme] || {});
  if (s.type === 'apiKey' && s.in === 'header' && s.name) return { header: s.name, prefix: '' };
  return { header: 'Authorization', prefix: 'Bearer ' };
}

// ---------------------------------------------------------------- loading

async function load() {
  let res;
  try {
    res = await fetch('/api/openapi.json', { cache: 'no-store' });
  } catch (e) {
    fail(`Could not load /api/openapi.json: ${e.message || e}`);
    return;
  }
  if (!res.ok) {
    fail(`Could not load /api/openapi.json: ${res.status} ${res.statusText}`);
    return;
  }
  spec = await res.json();
  mainScheme = defaultScheme(spec);
  renderIntro();
  renderOperations();
  openFromHash();
  document.body.dataset.ready = 'true';
}

function fail(message) {
  clear(opsRoot).append(h('p', { class: 'api-error', role: 'alert', text: message }));
}

function renderIntro() {
  const info = spec.info || {};
  document.title = `${info.title || 'API'} reference`;
  document.getElementById('title').textContent = info.title || 'API reference';
  document.getElementById('version').textContent = info.version ? `v${info.version} · OpenAPI ${spec.openapi || ''}` : '';
  const intro = clear(document.getElementById('intro'));
  if (info.description) intro.append(rich(info.description));
  intro.append(
    h('p', { class: 'note' },
      'Requests made here go to ', h('code', { text: location.origin }),
      ' with the key from the field above as ', h('code', { text: 'Authorization: Bearer …' }),
      '. The key stays in this browser tab; the curl commands name it ',
      h('code', { text: `$${KEY_VARIABLE}` }), ' — set it with ',
      h('code', { text: `export ${KEY_VARIABLE}=ck_live_…` }), '.'),
  );
}

function renderOperations() {
  const entries = operations(spec);
  const order = [];
  const byTag = new Map();
  for (const t of spec.tags || []) {
    if (t && t.name && !byTag.has(t.name)) {
      byTag.set(t.name, []);
      order.push(t.name);
    }
  }
  for (const e of entries) {
    if (!byTag.has(e.tag)) {
      byTag.set(e.tag, []);
      order.push(e.tag);
    }
    byTag.get(e.tag).push(e);
  }
  clear(opsRoot);
  clear(toc);
  for (const tag of order) {
    const list = byTag.get(tag);
    if (!list.length) continue;
    const tagInfo = (spec.tags || []).find((t) => t && t.name === tag);
    const section = h('section', { class: 'tag', id: `tag-${tag}`, 'aria-label': tag },
      h('h2', { text: tag }),
      tagInfo && tagInfo.description ? h('div', { class: 'tag-desc' }, rich(tagInfo.description)) : null);
    const navList = h('ul');
    toc.append(h('div', { class: 'toc-group', dataset: { tag } }, h('h3', { text: tag }), navList));
    for (const entry of list) {
      const details = renderOperation(entry);
      section.append(details);
      const link = h('a', { href: `#${entry.id}` },
        h('span', { class: `method ${entry.method}`, text: entry.method.toUpperCase() }),
        h('span', { class: 'toc-label', text: entry.op.summary || entry.path }));
      const li = h('li', { dataset: { op: entry.id } }, link);
      navList.append(li);
      entry.search = [entry.method, entry.path, entry.op.summary, entry.op.operationId, tag]
        .filter(Boolean).join(' ').toLowerCase();
      entry.nodes = { details, li };
    }
    opsRoot.append(section);
  }
  filter.addEventListener('input', () => applyFilter(entries, order));
}

function applyFilter(entries, tags) {
  const q = filter.value.trim().toLowerCase();
  for (const e of entries) {
    const show = !q || q.split(/\s+/).every((w) => e.search.includes(w));
    e.nodes.details.hidden = !show;
    e.nodes.li.hidden = !show;
  }
  for (const tag of tags) {
    const sec = document.getElementById(`tag-${tag}`);
    if (sec) sec.hidden = ![...sec.querySelectorAll('details.op')].some((d) => !d.hidden);
    const group = [...toc.children].find((g) => g.dataset.tag === tag);
    if (group) group.hidden = ![...group.querySelectorAll('li')].some((li) => !li.hidden);
  }
}

function openFromHash() {
  const id = decodeURIComponent(location.hash.slice(1));
  if (!id) return;
  const el = document.getElementById(id);
  if (el && el.tagName === 'DETAILS') {
    el.open = true;
    el.scrollIntoView({ block: 'start' });
  }
}
window.addEventListener('hashchange', openFromHash);

// ---------------------------------------------------------------- one operation

function renderOperation(entry) {
  const { method, path, op } = entry;
  const sec = securityOf(spec, op);
  const details = h('details', {
    class: `op${op.deprecated ? ' deprecated' : ''}`,
    id: entry.id,
    dataset: { op: `${method.toUpperCase()} ${path}`, operationId: op.operationId || '' },
  },
  h('summary', {},
    h('span', { class: `method ${method}`, text: method.toUpperCase() }),
    h('code', { class: 'path', text: path }),
    h('span', { class: 'op-summary', text: op.summary || '' }),
    sec.schemes.length && !sec.anonymous ? h('span', { class: 'lock', title: `Needs ${sec.schemes.join(' or ')}`, text: 'key' }) : null));
  details.addEventListener('toggle', () => {
    if (details.open && !details.dataset.built) {
      details.dataset.built = 'true';
      details.append(buildOperation(entry, sec));
    }
  });
  return details;
}

function buildOperation(entry, sec) {
  const { method, path, op, params } = entry;
  const body = h('div', { class: 'op-body' });
  if (op.description && op.description !== op.summary) body.append(h('div', { class: 'desc' }, rich(op.description)));
  body.append(h('p', { class: 'meta' },
    op.operationId ? ['operationId ', h('code', { text: op.operationId })] : null,
    op.deprecated ? h('strong', { text: ' · deprecated' }) : null));

  const form = h('form', { class: 'try', novalidate: true });
  body.append(form);

  // --- authentication
  let tokenInput = null;
  const scheme = sec.schemes[0] || null;
  if (!scheme || sec.anonymous) {
    form.append(h('p', { class: 'auth', text: 'No authentication: the key is not sent.' }));
  } else if (scheme === mainScheme) {
    form.append(h('p', { class: 'auth' }, 'Authenticated with the API key above (', h('code', { text: scheme }), ').'));
  } else {
    const desc = deref(spec, ((spec.components || {}).securitySchemes || {})[scheme] || {}).description;
    tokenInput = h('input', { type: 'password', autocomplete: 'off', spellcheck: 'false', 'aria-label': `${scheme} token` });
    form.append(h('label', { class: 'auth' }, `Token (${scheme}${desc ? `: ${desc}` : ''}) `, tokenInput));
  }

  // --- parameters
  const paramFields = [];
  if (params.length) {
    const table = h('div', { class: 'params' });
    for (const p of params) {
      const schema = deref(spec, p.schema || {});
      const id = `${entry.id}-${p.in}-${p.name}`.replace(/[^A-Za-z0-9_-]/g, '-');
      const label = `${p.name} (${p.in})`;
      let input;
      const type = typeOf(schema);
      const options = Array.isArray(schema.enum) ? schema.enum.filter((v) => v !== null).map(String)
        : type === 'boolean' ? ['true', 'false'] : null;
      if (options) {
        input = h('select', { id, 'aria-label': label },
          h('option', { value: '', text: p.required ? '(choose)' : '(not sent)' }),
          options.map((o) => h('option', { value: o, text: o })));
      } else {
        const ex = p.example !== undefined ? p.example : schema.example !== undefined ? schema.example : schema.default;
        input = h('input', {
          id,
          type: 'text',
          'aria-label': label,
          autocomplete: 'off',
          spellcheck: 'false',
          placeholder: ex !== undefined ? `e.g. ${typeof ex === 'string' ? ex : JSON.stringify(ex)}` : (p.required ? 'required' : 'not sent when empty'),
        });
      }
      if (p.in === 'cookie') input.disabled = true;
      paramFields.push({ p, input, array: type === 'array' });
      table.append(h('div', { class: 'param' },
        h('label', { for: id },
          h('code', { class: 'pname', text: p.name }),
          h('span', { class: `pin ${p.in}`, text: p.in }),
          p.required ? h('span', { class: 'req', text: 'required' }) : null),
        input,
        h('div', { class: 'ptype', text: describeType(spec, p.schema || {}) }),
        p.description ? h('div', { class: 'pdesc' }, rich(p.description)) : null,
        p.in === 'cookie' ? h('div', { class: 'pdesc', text: 'Cookies cannot be set from this page.' }) : null));
    }
    form.append(h('fieldset', {}, h('legend', { text: 'Parameters' }), table));
  }

  // --- request body
  const rb = op.requestBody ? deref(spec, op.requestBody) : null;
  let bodyState = null;
  if (rb && rb.content && Object.keys(rb.content).length) {
    const types = Object.keys(rb.content);
    const typeSelect = h('select', { 'aria-label': 'Content type' }, types.map((t) => h('option', { value: t, text: t })));
    const exampleSelect = h('select', { 'aria-label': 'Example' });
    const textarea = h('textarea', { 'aria-label': 'Request body', rows: 10, spellcheck: 'false', autocomplete: 'off' });
    const file = h('input', { type: 'file', 'aria-label': 'Body from a file' });
    const fileRow = h('label', { class: 'file' }, 'or send a file as the body: ', file);
    const hint = h('div', { class: 'hint', 'aria-live': 'polite' });
    const schemaBox = h('div', { class: 'body-schema' });
    bodyState = { typeSelect, textarea, file, examples: [] };

    const showType = () => {
      const mt = typeSelect.value;
      const media = deref(spec, rb.content[mt] || {});
      const examples = bodyExamples(spec, mt, media);
      bodyState.examples = examples;
      clear(exampleSelect);
      for (const [i, ex] of examples.entries()) exampleSelect.append(h('option', { value: String(i), text: ex.name }));
      exampleSelect.hidden = examples.length < 2;
      textarea.value = examples.length ? exampleText(mt, examples[0].value) : '';
      const schema = deref(spec, media.schema || {});
      const binary = !isJson(mt) && (/octet-stream/.test(mt) || schema.format === 'binary' || !/^text\//.test(mt));
      fileRow.hidden = !binary;
      file.value = '';
      textarea.placeholder = examples.length ? ''
        : isJson(mt) ? 'The specification gives no example for this body: write it from the schema below.'
          : `Raw ${mt} body, sent exactly as typed.`;
      clear(schemaBox);
      if (media.schema) {
        const name = refName(media.schema);
        schemaBox.append(h('details', { class: 'schema-box' },
          h('summary', { text: `Schema${name ? `: ${name}` : ''}` }),
          schemaTree(media.schema)));
      }
      checkJson();
    };
    const checkJson = () => {
      hint.textContent = '';
      if (!isJson(typeSelect.value) || !textarea.value.trim()) return;
      try {
        JSON.parse(textarea.value);
      } catch (e) {
        hint.textContent = `Not valid JSON (${e.message}); it is sent as typed.`;
      }
    };
    typeSelect.addEventListener('change', showType);
    exampleSelect.addEventListener('change', () => {
      const ex = bodyState.examples[Number(exampleSelect.value)];
      if (ex) textarea.value = exampleText(typeSelect.value, ex.value);
      checkJson();
    });
    textarea.addEventListener('input', checkJson);
    typeSelect.hidden = types.length < 2;
    form.append(h('fieldset', { class: 'body' },
      h('legend', {}, 'Request body ', h('code', { class: 'ctype', text: types.length === 1 ? types[0] : '' }),
        rb.required ? h('span', { class: 'req', text: 'required' }) : null),
      rb.description ? h('div', { class: 'pdesc' }, rich(rb.description)) : null,
      typeSelect, exampleSelect, textarea, fileRow, hint, schemaBox));
    showType();
  }

  // --- extra headers
  const extra = h('textarea', {
    'aria-label': 'Extra headers', rows: 2, spellcheck: 'false', autocomplete: 'off',
    placeholder: /^(post|put|patch|delete)$/.test(method) ? 'Idempotency-Key: 5c1f…   (one "Name: value" per line)' : 'Name: value (one per line)',
  });
  form.append(h('details', { class: 'extra' }, h('summary', { text: 'Extra headers' }), extra));

  // --- actions, curl, response
  const sendButton = h('button', { type: 'submit', class: 'send', text: 'Send' });
  const stopButton = h('button', { type: 'button', class: 'stop', text: 'Stop', disabled: true });
  const copyButton = h('button', { type: 'button', class: 'copy', text: 'Copy curl' });
  const problem = h('span', { class: 'problem', role: 'alert' });
  form.append(h('div', { class: 'actions' }, sendButton, stopButton, copyButton, problem));
  const curlPre = h('pre', { class: 'curl', 'aria-label': 'curl' });
  body.append(h('div', { class: 'curl-box' }, h('h4', { text: 'curl' }), curlPre));
  const response = h('section', { class: 'response', 'aria-label': 'Response', hidden: true });
  body.append(response);
  body.append(responsesDoc(op));

  const streams = Object.values(op.responses || {}).some((r) => deref(spec, r).content && 'text/event-stream' in deref(spec, r).content);

  const readForm = (forCurl) => {
    let auth = null;
    if (scheme && !sec.anonymous) {
      const where = placement(scheme);
      const secret = scheme === mainScheme ? apiKey() : tokenInput ? tokenInput.value.trim() : '';
      auth = {
        ...where,
        variable: variableFor(scheme),
        // the curl snippet gets a stand-in, whether or not a key was typed
        value: forCurl ? CREDENTIAL : secret ? where.prefix + secret : '',
      };
    }
    let bodyValue = null;
    let contentType = null;
    if (bodyState) {
      contentType = bodyState.typeSelect.value;
      const f = bodyState.file.files && bodyState.file.files[0];
      bodyValue = f && !bodyState.file.closest('label').hidden ? f : bodyState.textarea.value;
    }
    return {
      method,
      path,
      params: paramFields.map(({ p, input, array }) => ({
        name: p.name, in: p.in, required: !!p.required, array, value: p.in === 'cookie' ? '' : input.value.trim(),
      })),
      body: bodyValue,
      bodyRequired: !!(rb && rb.required),
      contentType,
      extraHeaders: parseHeaderLines(extra.value),
      auth,
    };
  };

  const curlText = () => {
    const f = readForm(true);
    const req = buildRequest(f);
    return curl(req, {
      origin: location.origin,
      auth: f.auth,
      stream: streams,
      secrets: [{ value: apiKey(), variable: KEY_VARIABLE }, tokenInput ? { value: tokenInput.value.trim(), variable: variableFor(scheme) } : null].filter(Boolean),
    });
  };
  const refreshCurl = () => { curlPre.textContent = curlText(); };
  form.addEventListener('input', refreshCurl);
  form.addEventListener('change', refreshCurl);
  refreshCurl();
  built.push({ entry, refreshCurl });

  copyButton.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(curlText());
      copyButton.textContent = 'Copied';
    } catch {
      copyButton.textContent = 'Select and copy the text';
    }
    setTimeout(() => { copyButton.textContent = 'Copy curl'; }, 1500);
  });

  let running = null;
  stopButton.addEventListener('click', () => running && running.abort());
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    problem.textContent = '';
    const f = readForm(false);
    const req = buildRequest(f);
    if (req.missing.length) {
      problem.textContent = `Fill in ${req.missing.join(', ')}.`;
      return;
    }
    if (running) running.abort();
    const ctl = new AbortController();
    running = ctl;
    stopButton.disabled = false;
    try {
      await sendAndShow(req, response, ctl, f.auth && !f.auth.value);
    } finally {
      if (running === ctl) {
        running = null;
        stopButton.disabled = true;
      }
    }
  });

  return body;
}

// ---------------------------------------------------------------- sending and showing

let runs = 0;

/** Sends `req` and shows the answer in `box`; `data-run` numbers the sends, `data-done` is
 * set once the answer (a stream: its end) is all there. */
async function sendAndShow(req, box, ctl, noKey) {
  clear(box).hidden = false;
  runs += 1;
  box.dataset.run = String(runs);
  delete box.dataset.status;
  delete box.dataset.done;
  try {
    await exchange(req, box, ctl, noKey);
  } finally {
    box.dataset.done = 'true';
  }
}

async function exchange(req, box, ctl, noKey) {
  const status = h('div', { class: 'status', role: 'status', text: `${req.method} ${req.url} …` });
  const meta = h('div', { class: 'rmeta' });
  const out = h('div', { class: 'rbody' });
  box.append(h('h4', { text: 'Response' }), status, meta, out);
  if (noKey) meta.append(h('p', { class: 'hint', text: 'No key entered above: expect 401.' }));
  const t0 = performance.now();
  let res;
  try {
    res = await fetch(req.url, {
      method: req.method,
      headers: req.headers,
      body: req.body === null ? undefined : req.body,
      signal: ctl.signal,
      cache: 'no-store',
      credentials: 'omit',
    });
  } catch (e) {
    status.textContent = ctl.signal.aborted ? 'Stopped before an answer.' : `The request failed: ${e.message || e}`;
    status.className = 'status err';
    return;
  }
  const statusLine = `${res.status} ${res.statusText}`.trim();
  status.textContent = statusLine;
  status.className = `status ${res.ok ? 'ok' : 'err'}`;
  box.dataset.status = String(res.status);
  const headerList = h('dl', { class: 'rheaders' });
  for (const [k, v] of res.headers) headerList.append(h('dt', { text: k }), h('dd', { text: v }));
  meta.append(h('details', {}, h('summary', { text: 'Response headers' }), headerList));
  const ct = res.headers.get('content-type') || '';
  try {
    if (/^text\/event-stream/i.test(ct) && res.body) {
      await showStream(res, status, statusLine, out, ctl, t0);
    } else if (/^image\//i.test(ct)) {
      const blob = await res.blob();
      const url = URL.createObjectURL(blob);
      out.append(h('img', { src: url, alt: 'Response image', class: 'rimage' }));
      status.textContent = `${statusLine} · ${ms(t0)} · ${blob.size} bytes`;
    } else {
      const buf = await res.arrayBuffer();
      status.textContent = `${statusLine} · ${ms(t0)} · ${buf.byteLength} bytes`;
      showText(buf, ct, out);
    }
  } catch (e) {
    status.textContent = `${statusLine} · ${ctl.signal.aborted ? 'stopped' : `reading failed: ${e.message || e}`}`;
  }
}

function ms(t0) {
  const d = performance.now() - t0;
  return d < 1000 ? `${Math.round(d)} ms` : `${(d / 1000).toFixed(1)} s`;
}

function showText(buf, ct, out) {
  if (!buf.byteLength) {
    out.append(h('p', { class: 'hint', text: '(empty body)' }));
    return;
  }
  const textual = !ct || /^text\/|json|xml|javascript|x-www-form-urlencoded/i.test(ct);
  if (!textual) {
    const url = URL.createObjectURL(new Blob([buf], { type: ct }));
    out.append(h('p', {}, `${buf.byteLength} bytes of ${ct}: `, h('a', { href: url, download: 'response', text: 'download' })));
    return;
  }
  let text = new TextDecoder().decode(buf.byteLength > MAX_TEXT ? buf.slice(0, MAX_TEXT) : buf);
  let parsed;
  let isJsonBody = false;
  if (isJson(ct) || /^[\s]*[{[]/.test(text)) {
    try {
      parsed = JSON.parse(text);
      isJsonBody = true;
      text = JSON.stringify(parsed, null, 2);
    } catch { /* shown as text */ }
  }
  if (isJsonBody && parsed && parsed.error && typeof parsed.error === 'object') {
    const e = parsed.error;
    const alert = h('div', { class: 'api-error', role: 'alert' },
      h('strong', { class: 'code', text: String(e.code ?? 'error') }), ': ', h('span', { class: 'message', text: String(e.message ?? '') }));
    if (e.details !== undefined) alert.append(h('pre', { class: 'details', text: JSON.stringify(e.details, null, 2) }));
    out.append(alert);
  }
  out.append(h('pre', { class: 'body', 'aria-label': 'Response body', text }));
  if (buf.byteLength > MAX_TEXT) out.append(h('p', { class: 'hint', text: `Shown: the first ${MAX_TEXT} bytes of ${buf.byteLength}.` }));
}

async function showStream(res, status, statusLine, out, ctl, t0) {
  const assembled = h('pre', { class: 'stream-text', 'aria-label': 'Streamed text', hidden: true });
  const events = h('ol', { class: 'events', 'aria-label': 'Events' });
  out.append(h('div', { class: 'stream-label', text: 'Streamed text' }), assembled, events);
  out.firstChild.hidden = true;
  let count = 0;
  const render = (state) => {
    status.textContent = `${statusLine} · ${state} · ${count} event${count === 1 ? '' : 's'} · ${ms(t0)}`;
  };
  status.dataset.stream = 'open';
  render('streaming…');
  const parser = new SseParser((ev) => {
    count += 1;
    let type = ev.event;
    let shown = ev.data;
    if (ev.data === '[DONE]') type = '[DONE]';
    else {
      try {
        const v = JSON.parse(ev.data);
        if (v && typeof v === 'object' && typeof v.type === 'string') type = v.type;
        shown = JSON.stringify(v);
        // the AI SDK UI message stream: assemble the text as it arrives
        if (v && v.type === 'text-delta' && typeof v.delta === 'string') {
          assembled.hidden = false;
          out.firstChild.hidden = false;
          assembled.textContent += v.delta;
        }
      } catch { /* not JSON: shown as sent */ }
    }
    if (count <= MAX_EVENTS) {
      const nearBottom = events.scrollHeight - events.scrollTop - events.clientHeight < 40;
      events.append(h('li', { class: 'event', dataset: { type, id: ev.id ?? '' } },
        h('span', { class: 'ev-id', text: ev.id !== null ? `#${ev.id}` : '' }),
        h('span', { class: 'ev-type', text: type }),
        h('code', { class: 'ev-data', text: shown })));
      if (nearBottom) events.scrollTop = events.scrollHeight;
    }
    render('streaming…');
  });
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      parser.push(value);
    }
    parser.end();
    status.dataset.stream = 'ended';
    render('stream ended');
  } catch (e) {
    status.dataset.stream = ctl.signal.aborted ? 'stopped' : 'failed';
    render(ctl.signal.aborted ? 'stopped' : `stream failed: ${e.message || e}`);
  }
}

// ---------------------------------------------------------------- schemas and responses

function schemaTree(raw, depth = 0, seen = new Set()) {
  const s = deref(spec, raw || {});
  const name = refName(raw);
  const box = h('div', { class: 'schema' }, h('div', { class: 'stype', text: describeType(spec, raw || {}) }));
  if (s.description && depth === 0) box.append(h('div', { class: 'pdesc' }, rich(s.description)));
  if ((name && seen.has(name)) || depth > 6) return box;
  const inner = new Set(seen);
  if (name) inner.add(name);
  for (const key of ['allOf', 'oneOf', 'anyOf']) {
    if (Array.isArray(s[key])) {
      box.append(h('div', { class: 'combo', text: key }),
        h('ul', { class: 'props' }, s[key].map((sub) => h('li', {}, schemaTree(sub, depth + 1, inner)))));
    }
  }
  const t = typeOf(s);
  if (t === 'object' && s.properties) {
    const ul = h('ul', { class: 'props' });
    for (const [pname, praw] of Object.entries(s.properties)) {
      const ps = deref(spec, praw);
      const li = h('li', {},
        h('code', { class: 'prop', text: pname }),
        (s.required || []).includes(pname) ? h('span', { class: 'req', text: 'required' }) : null,
        h('span', { class: 'ptype', text: describeType(spec, praw) }),
        ps.description ? h('div', { class: 'pdesc' }, rich(ps.description)) : null,
        ps.example !== undefined ? h('div', { class: 'pex' }, 'Example: ', h('code', { text: JSON.stringify(ps.example) })) : null);
      const nested = typeOf(ps) === 'array' ? ps.items : praw;
      const ns = deref(spec, nested || {});
      if (nested && (ns.properties || ns.allOf || ns.oneOf || ns.anyOf) && depth < 6) {
        const nname = refName(nested);
        if (!nname || !inner.has(nname)) li.append(schemaTree(nested, depth + 1, inner));
      }
      ul.append(li);
    }
    box.append(ul);
  } else if (t === 'array' && s.items) {
    box.append(schemaTree(s.items, depth + 1, inner));
  }
  if (s.additionalProperties && typeof s.additionalProperties === 'object') {
    box.append(h('div', { class: 'pdesc', text: `Other properties: ${describeType(spec, s.additionalProperties)}` }));
  }
  return box;
}

function responsesDoc(op) {
  const rows = h('div', { class: 'responses' });
  for (const [code, raw] of Object.entries(op.responses || {})) {
    const r = deref(spec, raw);
    const content = r.content || {};
    const row = h('div', { class: 'resp' },
      h('span', { class: `rcode c${String(code)[0]}`, text: code }),
      h('div', { class: 'rdesc' }, r.description ? rich(r.description) : null,
        Object.entries(content).map(([mt, media]) => {
          const m = deref(spec, media);
          return h('div', { class: 'rmedia' }, h('code', { text: mt }),
            m.schema ? h('details', { class: 'schema-box' },
              h('summary', { text: `Schema${refName(m.schema) ? `: ${refName(m.schema)}` : ''}` }),
              schemaTree(m.schema)) : null);
        })));
    rows.append(row);
  }
  return h('div', { class: 'responses-box' }, h('h4', { text: 'Responses' }), rows);
}

load().catch((e) => fail(`The reference could not be built: ${e.message || e}`));
