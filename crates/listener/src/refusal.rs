//! The listener's own refusals, in API.md's error shape.
//!
//! Everything the listener answers by itself (a stalled body, a full server, a request hyper
//! could not parse) says so as `{"error": {"code", "message"}}`, like every other error of
//! the API. The codes beyond API.md's list: `request_timeout` (408), `uri_too_long` (414),
//! `headers_too_large` (431) and `overloaded` (503).

use axum::body::Body;
use axum::http::{header, HeaderValue, Response, StatusCode};

/// One refusal the listener can give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A request body stopped arriving.
    BodyTimeout,
    /// The connection cap is reached.
    Overloaded,
    /// hyper could not parse the request (bad syntax, bad `Content-Length`, ...).
    Malformed,
    UriTooLong,
    HeadersTooLarge,
}

impl Refusal {
    /// The refusal behind one of hyper's automatic error statuses.
    pub fn from_status(status: u16) -> Self {
        match status {
            414 => Self::UriTooLong,
            431 => Self::HeadersTooLarge,
            _ => Self::Malformed,
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            Self::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
            Self::Malformed => StatusCode::BAD_REQUEST,
            Self::UriTooLong => StatusCode::URI_TOO_LONG,
            Self::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Self::BodyTimeout => "request_timeout",
            Self::Overloaded => "overloaded",
            Self::Malformed => "invalid_request",
            Self::UriTooLong => "uri_too_long",
            Self::HeadersTooLarge => "headers_too_large",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Self::BodyTimeout => "the request body stopped arriving; send it without pauses",
            Self::Overloaded => "the server has too many open connections; retry shortly",
            Self::Malformed => {
                "the request is not valid HTTP (request line, header syntax or Content-Length)"
            }
            Self::UriTooLong => "the request URI is too long",
            Self::HeadersTooLarge => "the request headers are too large or too many",
        }
    }

    /// API.md's error body.
    pub fn body(self) -> String {
        serde_json::json!({"error": {"code": self.code(), "message": self.message()}}).to_string()
    }

    /// As a response from the service (the connection closes after it).
    pub fn response(self) -> Response<Body> {
        let mut res = Response::new(Body::from(self.body()));
        *res.status_mut() = self.status();
        let headers = res.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        if self == Self::Overloaded {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        res
    }

    /// As raw HTTP/1.1 bytes, for places below hyper (the connection closes after it).
    pub fn wire(self) -> Vec<u8> {
        let body = self.body();
        let status = self.status();
        let retry = if self == Self::Overloaded {
            "retry-after: 1\r\n"
        } else {
            ""
        };
        format!(
            "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{retry}connection: close\r\n\r\n{body}",
            status.as_u16(),
            status.canonical_reason().unwrap_or(""),
            body.len(),
        )
        .into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_form_is_a_complete_json_response() {
        // GIVEN each refusal WHEN rendered for the wire THEN it is a framed JSON response.
        for r in [
            Refusal::BodyTimeout,
            Refusal::Overloaded,
            Refusal::Malformed,
            Refusal::UriTooLong,
            Refusal::HeadersTooLarge,
        ] {
            let wire = String::from_utf8(r.wire()).unwrap();
            let (head, body) = wire.split_once("\r\n\r\n").unwrap();
            assert!(head.starts_with(&format!("HTTP/1.1 {} ", r.status().as_u16())));
            assert!(head.contains(&format!("content-length: {}", body.len())));
            let v: serde_json::Value = serde_json::from_str(body).unwrap();
            assert_eq!(v["error"]["code"], r.code());
        }
    }
}
