// The HTTP layer every resource uses: base URL and bearer key, JSON in and out, typed errors,
// timeouts, and bounded retries with backoff that honour `Retry-After`. Only web-platform APIs
// (fetch, AbortController, Headers, crypto.randomUUID): it runs in Node >= 20 and in browsers.
import { ConnectionError, OperatorError, RateLimitError, TimeoutError, errorFromResponse, parseRetryAfter } from './errors.js';

export type Fetch = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

/** Options every SDK method takes as its last argument. */
export interface RequestOptions {
  /** Abort the request (and a stream being read). */
  signal?: AbortSignal | undefined;
  /** Milliseconds until the response headers must arrive (JSON calls: until the body is read). */
  timeout?: number | undefined;
  /** Retries on 429, 5xx and connection failures for idempotent requests (default: the client's). */
  maxRetries?: number | undefined;
  /** Extra request headers. */
  headers?: Record<string, string> | undefined;
  /**
   * The `Idempotency-Key` of a POST; the SDK makes one up for every POST it may retry. Pass your own
   * to make a call safe to repeat across processes, or `false` to send none.
   */
  idempotencyKey?: string | false | undefined;
}

export interface ClientConfig {
  apiKey: string;
  baseURL: string;
  timeout: number;
  maxRetries: number;
  fetch: Fetch;
  /** Longest `Retry-After` (seconds) the SDK waits out by itself; a longer one is thrown. */
  maxRetryAfter: number;
}

type Query = Record<string, string | number | boolean | null | undefined>;

/** When an error response may be retried. */
export type RetryPolicy = 'idempotent' | 'rate-limit-only' | 'never';

export interface HttpRequest {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: string;
  query?: Query | undefined;
  /** A JSON body. */
  body?: unknown;
  /** A raw body (sent as is) and its content type. */
  rawBody?: string | Uint8Array | ArrayBuffer | Blob | undefined;
  contentType?: string | undefined;
  accept?: string | undefined;
  /** Send the API key (false for the webhook trigger). */
  auth?: boolean | undefined;
  /** Default: 'idempotent' (GET/PUT/DELETE, and POSTs carrying an Idempotency-Key). */
  retry?: RetryPolicy | undefined;
  options?: RequestOptions | undefined;
}

const RETRY_INITIAL_MS = 500;
const RETRY_MAX_MS = 8_000;

/** A unique key for `Idempotency-Key`. */
export function newIdempotencyKey(): string {
  const c = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto;
  if (c?.randomUUID) return `sdk-${c.randomUUID()}`;
  return `sdk-${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Backoff for attempt n (0-based): exponential with jitter, capped. */
function backoffMs(attempt: number): number {
  const base = Math.min(RETRY_INITIAL_MS * 2 ** attempt, RETRY_MAX_MS);
  return base * (0.75 + Math.random() * 0.25);
}

/** A deadline and the caller's signal joined into one signal, with a way to stop the deadline. */
function deadline(timeoutMs: number, outer: AbortSignal | undefined) {
  const controller = new AbortController();
  let timedOut = false;
  const timer =
    timeoutMs > 0 && Number.isFinite(timeoutMs)
      ? setTimeout(() => {
          timedOut = true;
          controller.abort(new DOMException('timed out', 'TimeoutError'));
        }, timeoutMs)
      : undefined;
  const onAbort = () => controller.abort(outer?.reason);
  if (outer?.aborted) controller.abort(outer.reason);
  else outer?.addEventListener('abort', onAbort, { once: true });
  return {
    signal: controller.signal,
    timedOut: () => timedOut,
    /** Stops the timer; the caller's signal still aborts. */
    clearTimer: () => clearTimeout(timer),
    dispose: () => {
      clearTimeout(timer);
      outer?.removeEventListener('abort', onAbort);
    },
  };
}

/** A sent request's successful response, not yet read. */
export interface Sent {
  response: Response;
  /** Releases the timer and the abort listener: call once the body has been read. */
  done: () => void;
  /** The SDK's error for a failure while reading the body. */
  bodyError: (cause: unknown) => unknown;
}

/** The error for a request that got no (complete) response: the caller's abort reason, a timeout or a connection error. */
function transportError(
  req: HttpRequest,
  signal: AbortSignal | undefined,
  timedOut: boolean,
  timeout: number,
  cause: unknown,
): unknown {
  if (signal?.aborted) return signal.reason ?? cause;
  if (cause instanceof OperatorError) return cause;
  if (timedOut) {
    return new TimeoutError({ code: 'timeout', message: `${req.method} ${req.path}: no response within ${timeout} ms`, cause });
  }
  return new ConnectionError({
    code: 'connection_error',
    message: `${req.method} ${req.path}: ${cause instanceof Error ? cause.message : String(cause)}`,
    cause,
  });
}

export class HttpClient {
  constructor(readonly config: ClientConfig) {}

  url(path: string, query?: Query): string {
    const url = new URL(this.config.baseURL.replace(/\/+$/, '') + path);
    for (const [k, v] of Object.entries(query ?? {})) {
      if (v !== undefined && v !== null) url.searchParams.set(k, String(v));
    }
    return url.toString();
  }

  /** A JSON request; resolves to the parsed body. */
  async json<T>(req: HttpRequest): Promise<T> {
    const { response, done, bodyError } = await this.send({ ...req, accept: req.accept ?? 'application/json' }, false);
    let text: string;
    try {
      text = await response.text();
    } catch (cause) {
      throw bodyError(cause);
    } finally {
      done();
    }
    if (!text) return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch (cause) {
      throw new OperatorError({
        status: response.status,
        code: 'invalid_response',
        message: `${req.method} ${req.path}: the response is not JSON`,
        headers: response.headers,
        cause,
      });
    }
  }

  /** A request whose body is read as bytes (e.g. a PNG). */
  async bytes(req: HttpRequest): Promise<{ data: Uint8Array; contentType: string | null }> {
    const { response, done, bodyError } = await this.send(req, false);
    try {
      return { data: new Uint8Array(await response.arrayBuffer()), contentType: response.headers.get('content-type') };
    } catch (cause) {
      throw bodyError(cause);
    } finally {
      done();
    }
  }

  /** A request whose successful response is handed over unread (a stream); the timeout stops at the headers. */
  async stream(req: HttpRequest): Promise<Sent> {
    return this.send({ ...req, accept: req.accept ?? 'text/event-stream' }, true);
  }

  /**
   * Sends the request with retries. Resolves with a 2xx response; throws the typed error otherwise.
   * `done()` releases the timer and the abort listener once the body has been read;
   * `bodyError(cause)` turns a failure while reading the body into the SDK's error.
   */
  private async send(req: HttpRequest, streaming: boolean): Promise<Sent> {
    const opts = req.options ?? {};
    const maxRetries = Math.max(0, opts.maxRetries ?? this.config.maxRetries);
    const timeout = opts.timeout ?? this.config.timeout;
    const headers = new Headers();
    if (req.auth !== false) headers.set('authorization', `Bearer ${this.config.apiKey}`);
    if (req.accept) headers.set('accept', req.accept);
    let body: BodyInit | undefined;
    if (req.rawBody !== undefined) {
      body = req.rawBody as BodyInit;
      headers.set('content-type', req.contentType ?? 'application/octet-stream');
    } else if (req.body !== undefined) {
      body = JSON.stringify(req.body);
      headers.set('content-type', 'application/json');
    }
    let policy: RetryPolicy = req.retry ?? 'idempotent';
    if (req.method === 'POST' && policy === 'idempotent') {
      const key = opts.idempotencyKey === undefined ? newIdempotencyKey() : opts.idempotencyKey;
      if (key === false) policy = 'rate-limit-only';
      else headers.set('idempotency-key', key);
    } else if (typeof opts.idempotencyKey === 'string') {
      headers.set('idempotency-key', opts.idempotencyKey);
    }
    for (const [k, v] of Object.entries(opts.headers ?? {})) headers.set(k, v);
    const url = this.url(req.path, req.query);

    for (let attempt = 0; ; attempt++) {
      const d = deadline(timeout, opts.signal);
      let response: Response;
      try {
        response = await this.config.fetch(url, { method: req.method, headers, body, signal: d.signal });
      } catch (cause) {
        d.dispose();
        const err = transportError(req, opts.signal, d.timedOut(), timeout, cause);
        if (opts.signal?.aborted) throw err;
        if (policy === 'idempotent' && attempt < maxRetries) {
          await sleep(backoffMs(attempt), opts.signal);
          continue;
        }
        throw err;
      }
      if (response.ok) {
        if (streaming) d.clearTimer();
        return {
          response,
          done: d.dispose,
          bodyError: (cause) => transportError(req, opts.signal, d.timedOut(), timeout, cause),
        };
      }
      let text = '';
      try {
        text = await response.text();
      } catch {
        // the error body could not be read: the status alone decides
      } finally {
        d.dispose();
      }
      const err = errorFromResponse(response.status, response.headers, text);
      const wait = this.retryDelay(response, err, policy, attempt, maxRetries);
      if (wait === undefined) throw err;
      await sleep(wait, opts.signal);
    }
  }

  /** Milliseconds to wait before retrying this error response, or undefined to give up. */
  private retryDelay(
    response: Response,
    err: OperatorError,
    policy: RetryPolicy,
    attempt: number,
    maxRetries: number,
  ): number | undefined {
    if (attempt >= maxRetries || policy === 'never') return undefined;
    const status = response.status;
    const retryable = status === 429 || (policy === 'idempotent' && status >= 500 && status !== 501);
    if (!retryable) return undefined;
    const after = err instanceof RateLimitError ? err.retryAfter : parseRetryAfter(response.headers.get('retry-after'));
    if (after !== undefined) {
      if (after > this.config.maxRetryAfter) return undefined;
      return after * 1000;
    }
    return backoffMs(attempt);
  }
}
