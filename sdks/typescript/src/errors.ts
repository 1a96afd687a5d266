// Errors: one class per status the API documents, all carrying the API's error body
// (`{"error": {"code", "message", "details"?}}`), so callers can match by type or by `.code`.
import type { ErrorBody } from './types.js';

/** Per-field problems of a 400 (`{"name": "must be 1-63 characters of [a-z0-9-]"}`). */
export type ErrorDetails = NonNullable<ErrorBody['error']['details']>;

export interface OperatorErrorInit {
  status?: number | undefined;
  code: string;
  message: string;
  details?: ErrorDetails | null | undefined;
  headers?: Headers | undefined;
  cause?: unknown;
}

/** Every error the SDK throws. `status` is undefined when no HTTP response arrived. */
export class OperatorError extends Error {
  override name = 'OperatorError';
  /** HTTP status, or undefined for connection failures and timeouts. */
  readonly status: number | undefined;
  /** Machine-readable code from the API (`not_found`, `conflict`, ...) or the SDK (`connection_error`, `timeout`). */
  readonly code: string;
  /** Per-field problems (400 `invalid_request`), when the API gave them. */
  readonly details: ErrorDetails | undefined;
  /** The response headers, when there was a response. */
  readonly headers: Headers | undefined;

  constructor(init: OperatorErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.status = init.status;
    this.code = init.code;
    this.details = init.details ?? undefined;
    this.headers = init.headers;
  }
}

/** 400: bad JSON or a failed validation; `details` names the fields. */
export class BadRequestError extends OperatorError {
  override name = 'BadRequestError';
}
/** 401: missing, unknown or revoked API key. */
export class AuthenticationError extends OperatorError {
  override name = 'AuthenticationError';
}
/** 402: over the plan's capacity (`capacity_exceeded`). */
export class CapacityExceededError extends OperatorError {
  override name = 'CapacityExceededError';
}
/** 404: no such resource in this account (also another account's resources). */
export class NotFoundError extends OperatorError {
  override name = 'NotFoundError';
}
/** 409: a duplicate name, the wrong state, a reused `Idempotency-Key` with another body. */
export class ConflictError extends OperatorError {
  override name = 'ConflictError';
}
/** 413: the request body is too large. */
export class PayloadTooLargeError extends OperatorError {
  override name = 'PayloadTooLargeError';
}
/** 429: `rate_limited` or `quota_exceeded`; `retryAfter` is the server's `Retry-After` in seconds. */
export class RateLimitError extends OperatorError {
  override name = 'RateLimitError';
  readonly retryAfter: number | undefined;
  constructor(init: OperatorErrorInit & { retryAfter?: number | undefined }) {
    super(init);
    this.retryAfter = init.retryAfter;
  }
}
/** 5xx: the server failed (`llm_unavailable` is a 503). */
export class InternalServerError extends OperatorError {
  override name = 'InternalServerError';
}
/** No response: the connection failed or was reset. */
export class ConnectionError extends OperatorError {
  override name = 'ConnectionError';
}
/** No response within the request's `timeout`. */
export class TimeoutError extends ConnectionError {
  override name = 'TimeoutError';
}

/** Seconds to wait from a `Retry-After` header (delta-seconds or an HTTP date). */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (value == null || value.trim() === '') return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed);
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, (at - now) / 1000);
}

/** The typed error for an HTTP error response, from its status and (maybe JSON) body. */
export function errorFromResponse(status: number, headers: Headers, bodyText: string): OperatorError {
  let code = `http_${status}`;
  let message = bodyText.trim() ? bodyText.trim().slice(0, 500) : `HTTP ${status}`;
  let details: ErrorDetails | undefined;
  try {
    const parsed = JSON.parse(bodyText) as Partial<ErrorBody> | null;
    const err = parsed && typeof parsed === 'object' ? parsed.error : undefined;
    if (err && typeof err === 'object') {
      if (typeof err.code === 'string') code = err.code;
      if (typeof err.message === 'string') message = err.message;
      if (err.details && typeof err.details === 'object') details = err.details;
    }
  } catch {
    // not JSON: keep the text as the message
  }
  const init: OperatorErrorInit = { status, code, message, details, headers };
  switch (status) {
    case 400:
      return new BadRequestError(init);
    case 401:
      return new AuthenticationError(init);
    case 402:
      return new CapacityExceededError(init);
    case 404:
      return new NotFoundError(init);
    case 409:
      return new ConflictError(init);
    case 413:
      return new PayloadTooLargeError(init);
    case 429:
      return new RateLimitError({ ...init, retryAfter: parseRetryAfter(headers.get('retry-after')) });
    default:
      return status >= 500 ? new InternalServerError(init) : new OperatorError(init);
  }
}
