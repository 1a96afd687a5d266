//! Requests to the API with the key, and the one mapping from an HTTP failure to an exit class
//! and a sentence that says what to do. The API's error message (`{"error": {"code",
//! "message", "details"}}`) is shown as the server wrote it, sanitised for the terminal.

use super::output::clean;
use crate::exit::{Exit, Failure};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde_json::Value;
use std::time::Duration;

/// A request that is not a stream gets this long.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A stream with nothing (not even the server's 15 s keepalive) for this long is dead.
pub const STREAM_IDLE: Duration = Duration::from_secs(60);

/// What a 404 suggests (a resource command names its list instead).
pub const NOT_FOUND_HINT: &str = "Check the id or name.";

pub struct Api {
    http: reqwest::Client,
    pub base: String,
    key: SecretString,
}

impl Api {
    pub fn new(base: &str, key: SecretString) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("operator-cli/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(CONNECT_TIMEOUT)
            .build()?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            key,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request with the key and the default timeout.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.stream_request(method, path).timeout(REQUEST_TIMEOUT)
    }

    /// A request with the key and no overall timeout: streams, which time out when idle for
    /// [`STREAM_IDLE`] (their reader applies it), or a caller's own `.timeout(..)`.
    pub fn stream_request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, self.url(path))
            .bearer_auth(self.key.expose_secret())
    }

    /// Sends; a network failure or a non-2xx answer becomes a [`Failure`].
    pub async fn send(&self, rb: RequestBuilder) -> anyhow::Result<Response> {
        let res = rb
            .send()
            .await
            .map_err(|e| network_failure(&self.base, &e))?;
        if res.status().is_success() {
            Ok(res)
        } else {
            Err(api_failure(res).await.into())
        }
    }

    /// Sends and reads the JSON answer (`null` for an empty body).
    pub async fn json(&self, rb: RequestBuilder) -> anyhow::Result<Value> {
        let res = self.send(rb).await?;
        let bytes = res
            .bytes()
            .await
            .map_err(|e| network_failure(&self.base, &e))?;
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes).map_err(|e| {
            Failure::new(
                Exit::Unexpected,
                format!("the server answered with something that is not JSON ({e})"),
            )
            .hint(format!("Is {} an Operator server?", self.base))
            .into()
        })
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.json(self.request(Method::GET, path)).await
    }

    pub async fn post<T: Serialize + ?Sized>(&self, path: &str, body: &T) -> anyhow::Result<Value> {
        self.json(self.request(Method::POST, path).json(body)).await
    }

    pub async fn post_empty(&self, path: &str) -> anyhow::Result<Value> {
        self.json(self.request(Method::POST, path)).await
    }

    pub async fn put<T: Serialize + ?Sized>(&self, path: &str, body: &T) -> anyhow::Result<Value> {
        self.json(self.request(Method::PUT, path).json(body)).await
    }

    pub async fn delete(&self, path: &str) -> anyhow::Result<Value> {
        self.json(self.request(Method::DELETE, path)).await
    }

    /// A list route, page after page (`nextCursor`), into one answer of the same shape:
    /// `{"<field>": [...], "nextCursor": ...}`. With `limit`, stops after that many items and
    /// keeps the cursor where it stopped; without, follows to the end.
    pub async fn list(
        &self,
        path: &str,
        field: &str,
        limit: Option<usize>,
    ) -> anyhow::Result<Value> {
        let mut items: Vec<Value> = vec![];
        let mut cursor: Option<String> = None;
        loop {
            let want = limit.map(|l| l.saturating_sub(items.len()));
            let page_size = want.map_or(200, |w| w.clamp(1, 200));
            let mut query = vec![("limit", page_size.to_string())];
            if let Some(c) = &cursor {
                query.push(("cursor", c.clone()));
            }
            let page = self
                .json(self.request(Method::GET, path).query(&query))
                .await?;
            let got = page[field].as_array().cloned().unwrap_or_default();
            items.extend(got);
            cursor = page["nextCursor"].as_str().map(str::to_owned);
            let full = limit.is_some_and(|l| items.len() >= l);
            if cursor.is_none() || full {
                if let Some(l) = limit {
                    items.truncate(l);
                }
                let mut out = serde_json::Map::new();
                out.insert(field.to_owned(), Value::Array(items));
                out.insert(
                    "nextCursor".to_owned(),
                    cursor.map_or(Value::Null, Value::String),
                );
                return Ok(Value::Object(out));
            }
        }
    }
}

/// One path segment (an id or a name the user typed), percent-encoded.
pub fn seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The server could not be reached (or the connection broke).
pub fn network_failure(base: &str, e: &reqwest::Error) -> anyhow::Error {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "the connection failed"
    };
    // reqwest's message names the URL, never the key.
    let detail = std::error::Error::source(e)
        .map(|s| format!(": {s}"))
        .unwrap_or_default();
    Failure::new(Exit::Network, format!("{base}: {what}{detail}"))
        .hint("Is the server running and the URL right? Set it with `operator login --url URL` or OPERATOR_URL.")
        .into()
}

/// The class, message and advice for a non-2xx answer.
pub async fn api_failure(res: Response) -> Failure {
    let status = res.status();
    let retry_after = res
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body: Value = res.json().await.unwrap_or(Value::Null);
    failure_of(status, &body, retry_after.as_deref())
}

pub fn failure_of(status: StatusCode, body: &Value, retry_after: Option<&str>) -> Failure {
    let code = body["error"]["code"].as_str().unwrap_or("");
    let message = body["error"]["message"]
        .as_str()
        .map(clean)
        .unwrap_or_else(|| {
            status
                .canonical_reason()
                .unwrap_or("request failed")
                .to_lowercase()
        });
    let mut text = format!(
        "{message} ({}{})",
        status.as_u16(),
        if code.is_empty() {
            String::new()
        } else {
            format!(" {code}")
        }
    );
    if let Some(details) = body["error"]["details"].as_object() {
        for (field, why) in details {
            let why = why
                .as_str()
                .map(clean)
                .unwrap_or_else(|| clean(&why.to_string()));
            if !message.contains(&why) {
                text.push_str(&format!("\n  {}: {why}", clean(field)));
            }
        }
    }
    let (exit, hint) = match status.as_u16() {
        401 => (
            Exit::Usage,
            "The key was refused: run `operator login` (or check OPERATOR_API_KEY).".to_owned(),
        ),
        404 => (Exit::NotFound, NOT_FOUND_HINT.to_owned()),
        402 => (
            Exit::Limited,
            "The plan's capacity is used up: delete an instance (`operator instances rm NAME`) or move to a larger plan (`operator billing`).".to_owned(),
        ),
        429 => (
            Exit::Limited,
            match retry_after {
                Some(s) => format!("Try again in {s} s."),
                None => "Try again later.".to_owned(),
            },
        ),
        503 if code == "llm_unavailable" => (
            Exit::Unexpected,
            "The server has no LLM provider configured; its operator must set OPERATOR_LLM and the provider's key.".to_owned(),
        ),
        400..=499 => (Exit::Invalid, String::new()),
        _ => (
            Exit::Unexpected,
            "The server failed; its log has the details.".to_owned(),
        ),
    };
    let f = Failure::new(exit, text);
    if hint.is_empty() {
        f
    } else {
        f.hint(hint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn statuses_map_to_exit_classes_with_advice() {
        let body = |code: &str| json!({"error": {"code": code, "message": "m"}});
        let cases = [
            (401, "unauthorized", Exit::Usage),
            (404, "not_found", Exit::NotFound),
            (400, "invalid_request", Exit::Invalid),
            (409, "conflict", Exit::Invalid),
            (413, "payload_too_large", Exit::Invalid),
            (402, "capacity_exceeded", Exit::Limited),
            (429, "quota_exceeded", Exit::Limited),
            (503, "llm_unavailable", Exit::Unexpected),
            (500, "internal", Exit::Unexpected),
            (502, "bad_gateway", Exit::Unexpected),
        ];
        for (status, code, exit) in cases {
            let f = failure_of(StatusCode::from_u16(status).unwrap(), &body(code), None);
            assert_eq!(f.exit, exit, "{status}");
            assert!(f.message.contains(code), "{}", f.message);
        }
        let f = failure_of(StatusCode::UNAUTHORIZED, &body("unauthorized"), None);
        assert!(f.hint.unwrap().contains("operator login"));
        let f = failure_of(
            StatusCode::TOO_MANY_REQUESTS,
            &body("rate_limited"),
            Some("7"),
        );
        assert!(f.hint.unwrap().contains("7 s"));
    }

    #[test]
    fn field_details_are_listed_and_escape_sequences_neutralised() {
        let body = json!({"error": {"code": "invalid_request", "message": "bad \u{1b}[31mred",
            "details": {"name": "must be 1-63 characters"}}});
        let f = failure_of(StatusCode::BAD_REQUEST, &body, None);
        assert!(!f.message.contains('\u{1b}'), "{}", f.message);
        assert!(f.message.contains("name: must be 1-63 characters"));
    }

    #[test]
    fn a_body_without_an_error_still_says_what_happened() {
        let f = failure_of(StatusCode::BAD_GATEWAY, &Value::Null, None);
        assert!(f.message.contains("bad gateway (502)"), "{}", f.message);
    }
}
