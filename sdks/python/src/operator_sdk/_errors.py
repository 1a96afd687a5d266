"""Exceptions raised by the SDK: one class per error status of the API (see ``docs/api.md``).

Every API error carries the error body's ``code``, ``message`` and ``details`` (per-field
problems of a 400) and the HTTP ``status``.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional

import httpx

__all__ = [
    "OperatorError",
    "APIStatusError",
    "BadRequestError",
    "AuthenticationError",
    "CapacityError",
    "NotFoundError",
    "ConflictError",
    "PayloadTooLargeError",
    "RateLimitError",
    "ServiceUnavailableError",
    "ServerError",
    "APIConnectionError",
    "APITimeoutError",
    "APIResponseValidationError",
    "ConfigurationError",
    "StreamError",
]


class OperatorError(Exception):
    """Base of every exception the SDK raises."""

    status: Optional[int] = None
    code: Optional[str] = None
    message: str = ""
    details: Optional[Dict[str, Any]] = None

    def __init__(
        self,
        message: str,
        *,
        status: Optional[int] = None,
        code: Optional[str] = None,
        details: Optional[Dict[str, Any]] = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.details = details

    def __str__(self) -> str:
        parts = []
        if self.status is not None:
            parts.append(str(self.status))
        if self.code:
            parts.append(self.code)
        head = " ".join(parts)
        text = f"{head}: {self.message}" if head else self.message
        if self.details:
            text += " " + ", ".join(f"{k}: {v}" for k, v in sorted(self.details.items()))
        return text


class ConfigurationError(OperatorError):
    """The client could not be configured (no API key found, bad base URL)."""


class APIConnectionError(OperatorError):
    """The request never got an HTTP answer (refused, reset, DNS, TLS)."""


class APITimeoutError(APIConnectionError):
    """The request timed out."""


class APIResponseValidationError(OperatorError):
    """A success response whose body does not match the expected model."""


class StreamError(OperatorError):
    """A chat stream reported an ``error`` event (``.message`` is its ``errorText``)."""


class APIStatusError(OperatorError):
    """The API answered with an error status; ``response`` is the raw ``httpx.Response``."""

    response: httpx.Response

    def __init__(
        self,
        message: str,
        *,
        response: httpx.Response,
        code: Optional[str] = None,
        details: Optional[Dict[str, Any]] = None,
    ) -> None:
        super().__init__(message, status=response.status_code, code=code, details=details)
        self.response = response


class BadRequestError(APIStatusError):
    """400: bad JSON or a validation failure (``details`` names the fields)."""


class AuthenticationError(APIStatusError):
    """401: missing, unknown or revoked API key."""


class CapacityError(APIStatusError):
    """402: the plan's instance capacity is used up (``capacity_exceeded``)."""


class NotFoundError(APIStatusError):
    """404: no such resource in this account."""


class ConflictError(APIStatusError):
    """409: duplicate name, wrong state, or an ``Idempotency-Key`` reused for another request."""


class PayloadTooLargeError(APIStatusError):
    """413: the body is over the route's limit."""


class RateLimitError(APIStatusError):
    """429: ``rate_limited`` or ``quota_exceeded``; ``retry_after`` is in seconds when sent."""

    def __init__(self, message: str, *, response: httpx.Response, **kw: Any) -> None:
        super().__init__(message, response=response, **kw)
        self.retry_after: Optional[float] = parse_retry_after(response.headers)


class ServerError(APIStatusError):
    """Any 5xx."""


class ServiceUnavailableError(ServerError):
    """503: e.g. ``llm_unavailable`` (no model provider configured)."""


_BY_STATUS = {
    400: BadRequestError,
    401: AuthenticationError,
    402: CapacityError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    429: RateLimitError,
    503: ServiceUnavailableError,
}


def parse_retry_after(headers: Mapping[str, str]) -> Optional[float]:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date), if any."""
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime
    import datetime as _dt

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=_dt.timezone.utc)
    return max(0.0, (when - _dt.datetime.now(_dt.timezone.utc)).total_seconds())


def error_from_response(response: httpx.Response) -> APIStatusError:
    """The exception for an error response (its body must already be read)."""
    code: Optional[str] = None
    message = response.reason_phrase or f"HTTP {response.status_code}"
    details: Optional[Dict[str, Any]] = None
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        err = body["error"]
        code = err.get("code") if isinstance(err.get("code"), str) else None
        if isinstance(err.get("message"), str):
            message = err["message"]
        if isinstance(err.get("details"), dict):
            details = err["details"]
    elif response.text:
        message = response.text[:500]
    status = response.status_code
    cls = _BY_STATUS.get(status)
    if cls is None:
        cls = ServerError if status >= 500 else APIStatusError
    return cls(message, response=response, code=code, details=details)
