//! Extractors whose rejections are API.md error bodies: bad JSON is a 400 naming the field,
//! a wrong content type a 415, an oversized body a 413 — never axum's plain-text defaults.

use super::error::ApiError;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;

/// Largest JSON body any route accepts.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A JSON body. An empty body is read as `{}` so that routes whose fields are all optional
/// (`POST .../restart`) need no body at all.
pub struct ApiJson<T>(pub T);

/// The raw body, with the size limit reported as API.md's 413.
pub struct RawBody(pub Bytes);

/// Bodies up to this size are read to the end even when over the limit, so the client
/// receives the 413 instead of a connection reset mid-upload.
const DRAIN_LIMIT: usize = 16 * 1024 * 1024;

pub(crate) async fn read_body_limited(
    body: axum::body::Body,
    limit: usize,
) -> Result<Bytes, ApiError> {
    use http_body_util::BodyExt;
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("request body exceeds {limit} bytes"),
        )
    };
    let mut body = body;
    let mut buf = bytes::BytesMut::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| ApiError::bad_request("could not read the request body"))?;
        if let Ok(data) = frame.into_data() {
            seen += data.len();
            if seen <= limit {
                buf.extend_from_slice(&data);
            } else if seen > DRAIN_LIMIT {
                return Err(too_large());
            }
        }
    }
    if seen > limit {
        return Err(too_large());
    }
    Ok(buf.freeze())
}

async fn read_body(req: Request) -> Result<Bytes, ApiError> {
    read_body_limited(req.into_body(), MAX_BODY_BYTES).await
}

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        read_body(req).await.map(RawBody)
    }
}

fn is_json(content_type: Option<&header::HeaderValue>) -> bool {
    content_type
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime == "application/json"
                || (mime.starts_with("application/") && mime.ends_with("+json"))
        })
        .unwrap_or(false)
}

/// Parses JSON, naming the offending field (`env.FOO`, `name`) in `details`.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        bytes
    };
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            return ApiError::bad_request(format!("request body is not valid JSON: {inner}"));
        }
        let msg = inner.to_string();
        let field = crate::error::failing_field(&path, &msg, "body");
        let clean = msg.split(" at line ").next().unwrap_or(&msg).to_owned();
        let mut details = crate::error::FieldErrors::new();
        details.insert(field.clone(), clean.clone());
        ApiError::bad_request(format!("{field}: {clean}")).with_details(details)
    })
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let json_type = is_json(req.headers().get(header::CONTENT_TYPE));
        let has_type = req.headers().contains_key(header::CONTENT_TYPE);
        let bytes = read_body(req).await?;
        let empty = bytes.iter().all(u8::is_ascii_whitespace);
        if !json_type && (!empty || has_type) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "expected Content-Type: application/json",
            ));
        }
        parse_json(&bytes).map(ApiJson)
    }
}

/// Query parameters, with parse failures as 400 naming the parameter.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded_de(query)?;
        Ok(ApiQuery(de))
    }
}

fn serde_urlencoded_de<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    axum::extract::Query::<T>::try_from_uri(
        &format!("/?{query}")
            .parse()
            .map_err(|_| ApiError::bad_request("malformed query string"))?,
    )
    .map(|q| q.0)
    .map_err(|e| {
        let text = e.body_text();
        // A missing parameter is named in `details`, as a missing body field is.
        match text.split("missing field `").nth(1) {
            Some(rest) => {
                let field = rest.split('`').next().unwrap_or_default().to_owned();
                let mut details = crate::error::FieldErrors::new();
                details.insert(field.clone(), "is required".to_owned());
                ApiError::bad_request(format!("{field}: is required")).with_details(details)
            }
            None => ApiError::bad_request(format!("invalid query parameters: {text}")),
        }
    })
}

/// Path parameters; axum's rejection (e.g. bad percent-encoding) becomes a 400 body.
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|e| ApiError::bad_request(format!("invalid path: {}", e.body_text())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        env: Option<std::collections::BTreeMap<String, String>>,
    }

    #[test]
    fn json_errors_name_the_field() {
        let e = parse_json::<Body>(br#"{}"#).unwrap_err();
        assert!(e.details.unwrap().contains_key("name"));
        let e = parse_json::<Body>(br#"{"name": 5}"#).unwrap_err();
        assert!(e.details.unwrap().contains_key("name"));
        let e = parse_json::<Body>(br#"{"name": "x", "env": {"A": 1}}"#).unwrap_err();
        assert!(e.details.unwrap().contains_key("env.A"));
        let e = parse_json::<Body>(b"{not json").unwrap_err();
        assert_eq!(e.code, "invalid_request");
    }
}
