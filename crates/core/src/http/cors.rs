//! Cross-origin calls from browser apps on other origins: the origins listed in
//! `OPERATOR_CORS_ORIGINS` (none by default) get their preflight answered with the methods and
//! headers the API uses, and their responses carry `Access-Control-Allow-Origin` naming them
//! (never `*`: the API takes credentials, in `Authorization`). Requests without an `Origin`
//! (servers, the CLI) and same-origin ones (the console) are untouched; a preflight from an
//! origin that is not listed is refused with a 403 that says how to allow it.

use super::error::ApiError;
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// What a listed origin may send.
const METHODS: &str = "GET, POST, PUT, DELETE";
const HEADERS: &str = "authorization, content-type, idempotency-key, x-response-format, last-event-id, mcp-session-id, mcp-protocol-version, x-request-id";
/// Response headers a listed origin's scripts may read.
const EXPOSED: &str = "x-vercel-ai-ui-message-stream, x-operator-chat-id, retry-after, idempotent-replayed, mcp-session-id, x-request-id";
/// How long a browser may reuse a preflight answer (seconds).
const MAX_AGE: &str = "600";

/// The origins allowed to call the API from a browser.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Cors {
    origins: Vec<String>,
}

impl Cors {
    /// None allowed: the default.
    pub fn none() -> Self {
        Self::default()
    }

    /// `OPERATOR_CORS_ORIGINS`: a comma-separated list of origins (`https://app.example.com`).
    pub fn from_env() -> anyhow::Result<Self> {
        match std::env::var("OPERATOR_CORS_ORIGINS") {
            Ok(v) => Self::parse(&v).map_err(|e| anyhow::anyhow!("OPERATOR_CORS_ORIGINS: {e}")),
            Err(std::env::VarError::NotPresent) => Ok(Self::none()),
            Err(e) => anyhow::bail!("OPERATOR_CORS_ORIGINS: {e}"),
        }
    }

    /// Parses a comma-separated list of origins: `scheme://host[:port]`, nothing after (one
    /// trailing `/` is dropped); `*` and `null` are refused.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut origins = vec![];
        for raw in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if raw == "*" {
                return Err("`*` is not accepted: the API takes credentials (Authorization), so list each origin, e.g. https://app.example.com".into());
            }
            let origin = raw.strip_suffix('/').unwrap_or(raw).to_ascii_lowercase();
            let rest = origin
                .strip_prefix("https://")
                .or_else(|| origin.strip_prefix("http://"));
            let valid = rest.is_some_and(|hostport| {
                let (host, port) = hostport.rsplit_once(':').unwrap_or((hostport, ""));
                !host.is_empty()
                    && host.chars().all(|c| {
                        c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '[' | ']' | ':')
                    })
                    && port.chars().all(|c| c.is_ascii_digit())
            });
            if !valid {
                return Err(format!(
                    "{raw:?} is not an origin: write scheme://host[:port], e.g. https://app.example.com"
                ));
            }
            origins.push(origin);
        }
        Ok(Self { origins })
    }

    /// Whether browser apps on `origin` may call the API.
    pub fn allows(&self, origin: &str) -> bool {
        self.origins.iter().any(|o| o.eq_ignore_ascii_case(origin))
    }
}

/// The middleware (in the outermost layer, so a preflight never reaches routing). It also
/// hands the list to the handlers (a request extension) for checks of their own (`/mcp`'s
/// Origin guard).
pub async fn layer(cors: Arc<Cors>, mut req: Request, next: Next) -> Response {
    req.extensions_mut().insert(cors.clone());
    let Some(origin) = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .map(str::to_owned)
    else {
        return next.run(req).await;
    };
    let preflight = req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let allowed = cors.allows(&origin);
    if preflight {
        if !allowed {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "cors_origin_refused",
                format!("origin {origin} may not call this API from a browser: add it to OPERATOR_CORS_ORIGINS"),
            )
            .into_response();
        }
        let mut res = StatusCode::NO_CONTENT.into_response();
        let h = res.headers_mut();
        allow(h, &origin);
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(METHODS),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(HEADERS),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static(MAX_AGE),
        );
        return res;
    }
    let mut res = next.run(req).await;
    if allowed {
        let h = res.headers_mut();
        allow(h, &origin);
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSED),
        );
    }
    res
}

fn allow(h: &mut HeaderMap, origin: &str) {
    if let Ok(v) = HeaderValue::from_str(origin) {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
    }
    h.append(header::VARY, HeaderValue::from_static("Origin"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_parse_and_wildcards_are_refused() {
        let c = Cors::parse(" https://App.example.com/ ,http://localhost:5173").unwrap();
        assert!(c.allows("https://app.example.com"));
        assert!(c.allows("http://localhost:5173"));
        assert!(!c.allows("http://localhost:5174"));
        assert_eq!(Cors::parse("").unwrap(), Cors::none());
        for bad in [
            "*",
            "app.example.com",
            "https://a.example.com/path",
            "null",
            "ftp://x",
            "https://",
        ] {
            assert!(Cors::parse(bad).is_err(), "{bad} was accepted");
        }
    }
}
