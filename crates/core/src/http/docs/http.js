// Building a request from a filled-in form, its curl equivalent, and reading an SSE stream.

/**
 * The request a form describes. `form` is
 * `{ method, path, params: [{ name, in, value, array }], body, contentType, extraHeaders,
 *    auth: { header, value, variable } | null }`
 * where `body` is a string, a Blob (an uploaded file) or null. Returns
 * `{ method, url, headers: [[name, value]], body, missing: [param names] }`; `url` is relative.
 */
export function buildRequest(form) {
  const missing = [];
  let url = form.path;
  const query = new URLSearchParams();
  const headers = [];
  for (const p of form.params) {
    const v = p.value;
    if (p.in === 'path') {
      if (v === '') missing.push(p.name);
      url = url.split(`{${p.name}}`).join(encodeURIComponent(v));
    } else if (v === '') {
      if (p.required) missing.push(p.name);
    } else if (p.in === 'query') {
      if (p.array) for (const part of v.split(',')) query.append(p.name, part.trim());
      else query.append(p.name, v);
    } else if (p.in === 'header') {
      headers.push([p.name, v]);
    }
  }
  const qs = query.toString();
  if (qs) url += `?${qs}`;
  if (form.auth && form.auth.value) headers.push([form.auth.header, form.auth.value]);
  const hasBody = form.body !== null && form.body !== undefined && !(typeof form.body === 'string' && form.body === '' && !form.bodyRequired);
  if (hasBody && form.contentType) headers.push(['Content-Type', form.contentType]);
  for (const [k, v] of form.extraHeaders || []) headers.push([k, v]);
  return { method: form.method.toUpperCase(), url, headers, body: hasBody ? form.body : null, missing };
}

/** Parses `Name: value` lines (blank lines and lines without a colon are skipped). */
export function parseHeaderLines(text) {
  const out = [];
  for (const line of (text || '').split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i <= 0) continue;
    const name = line.slice(0, i).trim();
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) continue;
    out.push([name, line.slice(i + 1).trim()]);
  }
  return out;
}

/** Quotes a word for a POSIX shell. */
export function shellQuote(s) {
  return `'${String(s).replace(/'/g, `'\\''`)}'`;
}

/**
 * The curl command for `req` against `origin`. Credentials never appear: the auth header is
 * written with its shell variable (`"Authorization: Bearer $OPERATOR_API_KEY"`), and any
 * occurrence of a secret in `secrets` elsewhere is replaced by that variable too.
 */
export function curl(req, { origin, auth, stream, secrets = [] }) {
  const lines = [`curl${stream ? ' -N' : ''} -X ${req.method} ${shellQuote(origin + req.url)}`];
  for (const [name, value] of req.headers) {
    if (auth && name.toLowerCase() === auth.header.toLowerCase() && value === auth.value) {
      lines.push(`-H "${auth.header}: ${auth.prefix}$${auth.variable}"`);
    } else {
      lines.push(`-H ${shellQuote(`${name}: ${value}`)}`);
    }
  }
  if (req.body !== null) {
    if (typeof req.body === 'string') lines.push(`--data-binary ${shellQuote(req.body)}`);
    else lines.push(`--data-binary ${shellQuote(`@${req.body.name || 'file'}`)}`);
  }
  let text = lines.join(' \\\n  ');
  for (const s of secrets) {
    if (s && s.value && s.value.length >= 8) text = text.split(s.value).join(`$${s.variable}`);
  }
  return text;
}

/**
 * An incremental parser of `text/event-stream` (the WHATWG rules: `data:` lines joined by
 * newlines, `id:`, `event:`, comments, any line ending). `onEvent({ id, event, data })` is
 * called as soon as each event's blank line arrives.
 */
export class SseParser {
  constructor(onEvent) {
    this.onEvent = onEvent;
    this.buffer = '';
    this.data = [];
    this.event = '';
    this.lastId = '';
    this.idSeen = false;
  }

  push(chunk) {
    this.buffer += chunk;
    for (;;) {
      const m = /\r\n|\r|\n/.exec(this.buffer);
      if (!m) break;
      // a lone CR at the very end may be the first half of CRLF: wait for more
      if (m[0] === '\r' && m.index === this.buffer.length - 1) break;
      const line = this.buffer.slice(0, m.index);
      this.buffer = this.buffer.slice(m.index + m[0].length);
      this.line(line);
    }
  }

  end() {
    if (this.buffer) this.line(this.buffer.replace(/\r$/, ''));
    this.buffer = '';
    this.line('');
  }

  line(line) {
    if (line === '') {
      if (this.data.length) {
        this.onEvent({ id: this.idSeen ? this.lastId : null, event: this.event || 'message', data: this.data.join('\n') });
      }
      this.data = [];
      this.event = '';
      this.idSeen = false;
      return;
    }
    if (line.startsWith(':')) return;
    const i = line.indexOf(':');
    const field = i < 0 ? line : line.slice(0, i);
    let value = i < 0 ? '' : line.slice(i + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.data.push(value);
    else if (field === 'event') this.event = value;
    else if (field === 'id' && !value.includes('\0')) {
      this.lastId = value;
      this.idSeen = true;
    }
  }
}
