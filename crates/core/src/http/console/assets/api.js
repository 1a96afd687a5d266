// The console's only way to the platform: this origin's /api with the signed-in key as a
// bearer header. The key lives in sessionStorage (gone when the tab closes, never in a URL).

const KEY = 'operator.key';

export const key = {
  get: () => sessionStorage.getItem(KEY),
  set: (k) => sessionStorage.setItem(KEY, k),
  clear: () => sessionStorage.removeItem(KEY),
};

/// An API error: `message` is the API's own `error.message`.
export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

let onUnauthorized = () => {};
/// Called when the key stops working (revoked): the app signs out.
export function whenUnauthorized(f) { onUnauthorized = f; }

function headers(extra) {
  const h = { ...extra };
  const k = key.get();
  if (k) h.Authorization = `Bearer ${k}`;
  return h;
}

async function fail(res) {
  let body = null;
  try { body = await res.json(); } catch { /* not JSON */ }
  const e = body && body.error;
  const err = e
    ? new ApiError(res.status, e.code, e.message, e.details)
    : new ApiError(res.status, 'http_error', `${res.status} ${res.statusText}`);
  if (res.status === 401) onUnauthorized(err);
  return err;
}

/// fetch, with an unreachable server and a non-2xx answer as ApiErrors.
async function send(path, init) {
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network', 'The server cannot be reached. Check that it is running.');
  }
  if (!res.ok) throw await fail(res);
  return res;
}

/// `api('GET', '/api/instances')` → the parsed JSON body, or throws an ApiError.
export async function api(method, path, body, opts = {}) {
  const init = { method, headers: headers(opts.headers), signal: opts.signal };
  if (body !== undefined) {
    if (body instanceof Blob || body instanceof ArrayBuffer || typeof body === 'string') {
      init.body = body;
      init.headers['Content-Type'] = opts.contentType || 'application/octet-stream';
    } else {
      init.body = JSON.stringify(body);
      init.headers['Content-Type'] = 'application/json';
    }
  }
  const res = await send(path, init);
  if (opts.raw) return res;
  const type = res.headers.get('content-type') || '';
  return type.includes('json') ? res.json() : res.text();
}

export const get = (p, o) => api('GET', p, undefined, o);
export const post = (p, b, o) => api('POST', p, b === undefined ? {} : b, o);
export const put = (p, b, o) => api('PUT', p, b, o);
export const del = (p, o) => api('DELETE', p, undefined, o);

export const enc = encodeURIComponent;

/// POSTs (or GETs when `body` is undefined) and reads a `text/event-stream` answer: calls
/// `onEvent(json, id)` per `data:` event until `[DONE]` or the end. EventSource cannot send
/// an Authorization header, so the stream is read from fetch.
export async function stream(path, body, onEvent, signal) {
  const init = { method: body === undefined ? 'GET' : 'POST', headers: headers({ Accept: 'text/event-stream' }), signal };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers['Content-Type'] = 'application/json';
  }
  const res = await send(path, init);
  // 204: re-attached after the turn ended, nothing to follow.
  if (res.status === 204 || !res.body) return;
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += value;
    let end;
    while ((end = buf.search(/\r?\n\r?\n/)) >= 0) {
      const block = buf.slice(0, end);
      buf = buf.slice(end).replace(/^\r?\n\r?\n/, '');
      let id = null;
      const data = [];
      for (const line of block.split(/\r?\n/)) {
        if (line.startsWith('id:')) id = line.slice(3).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
      }
      if (!data.length) continue;
      const text = data.join('\n');
      if (text === '[DONE]') return;
      let event;
      try { event = JSON.parse(text); } catch { continue; }
      onEvent(event, id);
    }
  }
}
